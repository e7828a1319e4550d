/* `syscall NR [ARG...]`: make raw system call NR with up to six integer arguments and print what the kernel
 * answered, as `ret=R errno=E`. Busybox has no such tool; the seccomp tests need one to call syscalls that
 * no busybox applet makes (get_mempolicy, keyctl, unshare, ...). Built static at test time with `cc -static`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2 || argc > 8) {
        fprintf(stderr, "usage: syscall NR [ARG...]\n");
        return 2;
    }
    long nr = strtol(argv[1], NULL, 0);
    long a[6] = {0};
    for (int i = 2; i < argc; i++)
        a[i - 2] = strtol(argv[i], NULL, 0);
    errno = 0;
    long ret = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    printf("ret=%ld errno=%d\n", ret, ret == -1 ? errno : 0);
    return 0;
}
