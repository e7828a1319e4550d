/* `threads N`: start N POSIX threads, join them, print `threads ok SUM`. glibc's pthread_create tries clone3
 * first and falls back to clone only if clone3 fails with ENOSYS: this is the program that shows the default
 * seccomp profile answers ENOSYS, not EPERM, to what it does not allow. Built static at test time. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *work(void *arg) {
    long n = (long)arg;
    return (void *)(n * n);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 0) : 4;
    pthread_t threads[64];
    if (n < 1 || n > 64)
        return 2;
    for (long i = 0; i < n; i++) {
        int err = pthread_create(&threads[i], NULL, work, (void *)i);
        if (err) {
            fprintf(stderr, "pthread_create: error %d\n", err);
            return 1;
        }
    }
    long sum = 0;
    for (long i = 0; i < n; i++) {
        void *result;
        pthread_join(threads[i], &result);
        sum += (long)result;
    }
    printf("threads ok %ld\n", sum);
    return 0;
}
