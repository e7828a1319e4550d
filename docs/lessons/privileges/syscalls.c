/* syscalls.c: three system calls a container's root may make unless a seccomp filter says no, for
 * `containy lesson privileges`.
 *
 * unshare(CLONE_NEWUSER) needs no capability at all (user namespaces are for unprivileged users), and a new
 * user namespace is where many kernel exploits start; keyctl(2) reaches the kernel keyring, which is not
 * namespaced; get_mempolicy(2) is harmless but not on the default profile's list. A seccomp filter is a BPF
 * program the kernel runs on every system call: it answers "allow" or "fail with this errno" before the
 * kernel does any work. containy's default profile refuses named dangerous calls with EPERM and anything it
 * does not know with ENOSYS ("no such call", so libraries fall back).
 *
 * Built static (cc -static) so it runs in any root filesystem.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void try(const char *call, long result) {
    if (result >= 0)
        printf("  %-44s = %ld: allowed\n", call, result);
    else
        printf("  %-44s = -1 %s (%s)\n", call, strerrorname_np(errno), strerror(errno));
}

int main(void) {
    char line[256];
    FILE *status = fopen("/proc/self/status", "r");

    setvbuf(stdout, NULL, _IOLBF, 0);
    while (status && fgets(line, sizeof line, status))
        if (strncmp(line, "Seccomp:", 8) == 0)
            printf("syscalls: my %s", line);
    try("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
    try("keyctl(KEYCTL_GET_KEYRING_ID, SESSION, 0)", syscall(SYS_keyctl, 0, -3, 0));
    try("get_mempolicy(NULL, NULL, 0, NULL, 0)", syscall(SYS_get_mempolicy, NULL, NULL, 0, NULL, 0));
    return 0;
}
