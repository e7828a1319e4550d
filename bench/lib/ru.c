/* ru: run one command and print what the kernel accounted for it, like /usr/bin/time but at microsecond
 * resolution: "wall_s user_s sys_s maxrss_kib exit" on fd 3 (or stderr if fd 3 is not open).
 *
 * Why a helper and not python's os.posix_spawn + os.wait4: a vfork()ed child shares the launcher's
 * address space, and at execve the kernel folds that address space's high-water RSS into the child's
 * ru_maxrss -- a 15 MiB python would be reported as every runtime's peak RSS. A small fork()ing helper
 * (what /usr/bin/time is) keeps that floor under 1 MiB: the measured program's own pages dominate.
 * Build: cc -O2 -static -o ru ru.c   (bench/run.sh does it). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: ru COMMAND [ARG...]\n");
        return 2;
    }
    FILE *report = fcntl(3, F_GETFD) == -1 ? stderr : fdopen(3, "w");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("ru: fork");
        return 2;
    }
    if (pid == 0) {
        if (report != stderr) close(3);
        execvp(argv[1], argv + 1);
        fprintf(stderr, "ru: exec %s: %s\n", argv[1], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("ru: wait4");
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(report, "%.6f %.6f %.6f %ld %d\n", wall, ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
            ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss, code);
    fflush(report);
    return code;
}
