//! Lesson `privileges`: what root in a container cannot do — capabilities, seccomp, masked `/proc` files.

use anyhow::Result;

use super::Lesson;

pub fn run(l: &mut Lesson) -> Result<()> {
    l.title("privileges: capabilities, seccomp, masked /proc files");
    l.say("uid 0 is not what makes root powerful: the kernel checks capabilities, ~41 separate rights.");
    l.say("containy keeps 11 of them, sets no_new_privs, hides kernel files in /proc and filters system calls.");

    l.step("A container tries what root on a host may do.");
    let (container, _) = l.start("configy.toml")?;
    l.look("uid 0, and yet refused: `ip link set` needs CAP_NET_ADMIN, mount and hostname CAP_SYS_ADMIN, `date -s`");
    l.look("CAP_SYS_TIME — none is among the container's 11. (mount, sethostname and setting the clock are also on");
    l.look("the default seccomp profile's deny list: two walls, see step 4.)");
    l.look("masked files (/proc/keys, /proc/timer_list, /proc/kcore where the kernel has it) read as 0 bytes: ");
    l.look("/dev/null is bind-mounted over them. /proc/sys and /proc/sysrq-trigger are read-only mounts.");

    l.step("The host's side of the same files.");
    l.host("for f in /proc/keys /proc/timer_list; do echo \"$f has $(head -c 65536 $f | wc -c) bytes\"; done")?;
    l.host("ls -l /proc/kcore 2>/dev/null || echo 'this kernel has no /proc/kcore'")?;

    l.step("containy inspect decodes the capability masks and shows the masking mounts.");
    l.inspect(&container.id)?;
    l.look("effective: the 11 kept capabilities, by name; bounding the same: no execve can get more back.");
    l.look("mounts marked `masked` and `read-only` are the /proc and /sys paths of the OCI defaults.");
    container.stop()?;

    l.step("seccomp: a filter on system calls themselves, for what no capability guards.");
    l.compile("syscalls.c", "syscalls")?;
    let (filtered, _) = l.run("seccomp.toml")?;
    l.say("The same program with process.seccomp = \"unconfined\": no filter at all.");
    l.run("unconfined.toml")?;
    if filtered.contains("Seccomp:\t2") {
        l.look("with the default profile (Seccomp: 2) unshare and keyctl fail with EPERM — refused on purpose —");
        l.look("and get_mempolicy with ENOSYS: not on the profile's list, so libraries act as if it did not exist.");
        l.look("unconfined, all three reach the kernel and succeed: creating a user namespace needs no capability,");
        l.look("so only the filter stood in the way.");
    } else {
        l.look("Seccomp: 0 — this containy loaded no filter, so the calls reach the kernel in both runs. With the");
        l.look("default profile loaded (Seccomp: 2) unshare and keyctl fail with EPERM and get_mempolicy with ENOSYS.");
    }
    Ok(())
}
