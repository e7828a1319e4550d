//! Lesson `namespaces`: pid, net, uts, mount, ipc and user namespaces, each seen from inside and outside.

use anyhow::{Context, Result};

use super::Lesson;

/// A System V message queue made on the host for the lesson, removed when the lesson is done with it.
struct HostQueue(Option<String>);

impl Drop for HostQueue {
    fn drop(&mut self) {
        if let Some(id) = self.0.take() {
            let _ = std::process::Command::new("ipcrm").args(["-q", &id]).status();
        }
    }
}

pub fn run(l: &mut Lesson) -> Result<()> {
    l.title("namespaces: what the container sees of the machine");
    l.say("A namespace gives a process its own copy of one global thing: process ids (pid), network stack");
    l.say("(net), hostname (uts), mount table (mnt), System V IPC (ipc), user ids (user). containy creates");
    l.say("them all in one clone3(CLONE_NEWPID|CLONE_NEWNET|CLONE_NEWUTS|CLONE_NEWNS|CLONE_NEWIPC, ...).");

    l.step("On the host, make a System V message queue, to look for it from inside later.");
    let made = l.host("ipcmk -Q")?;
    let id = made.rsplit(':').next().map(str::trim).filter(|id| !id.is_empty()).context("ipcmk printed no id")?;
    let mut queue = HostQueue(Some(id.to_string()));
    l.host("cut -c 1-40 /proc/sysvipc/msg")?;

    l.step("Start a container that reports what it sees, then waits.");
    let (container, _) = l.start("configy.toml")?;

    l.step("The same questions, asked on the host.");
    l.host("hostname")?;
    l.host("echo \"processes: $(ps -e -o pid= | wc -l)\"")?;
    l.host("ls /sys/class/net | tr '\\n' ' '; echo")?;
    // containy mounted the container's root (an overlay over <state root>/<id>/rootfs), its /proc, /dev, …
    // from inside the new mount namespace: the container's table has them, the host's none.
    let state = l.state_root().join(&container.id);
    l.host(&format!("grep -c {} /proc/{}/mountinfo", state.display(), container.pid))?;
    l.host(&format!("grep -c {} /proc/self/mountinfo", state.display()))?;
    l.look("uts: the container's hostname changed, the host's did not.");
    l.look("pid: the container sees its own few processes; the host sees them all.");
    l.look("net: the container has only `lo`, the host its real interfaces.");
    l.look("mnt: the container's root is an overlay containy mounted from its state directory; that mount");
    l.look("(and /proc, /dev, ... on it) is in the container's mount table (/proc/PID/mountinfo), none on the host's.");
    l.look("ipc: the host's message queue is not in the container's /proc/sysvipc/msg.");

    l.step("containy inspect puts the namespaces side by side (readlink /proc/PID/ns/* against its own).");
    l.inspect(&container.id)?;
    if crate::paths::rootless() {
        l.look("every kind containy created has an inode of its own — user too: rootless, containy always makes");
        l.look("a user namespace (an ordinary user may create the others only inside one it owns); time is shared.");
    } else {
        l.look("every kind containy created has an inode of its own; user and time are shared with the host.");
    }
    if crate::paths::rootless() {
        // Part two's container maps uid 100000, which only root may grant: show this container's maps instead.
        l.step("A user namespace: you are not root, so this container already runs in one.");
        let pid = container.pid;
        l.host(&format!("ps -o pid,user,comm -p {pid}"))?;
        l.host(&format!("cat /proc/{pid}/uid_map"))?;
        l.host(&format!("readlink /proc/{pid}/ns/user /proc/self/ns/user"))?;
        l.look("uid_map: container uid 0 is YOUR uid on the host (and, with a range in /etc/subuid, container uids");
        l.look("1.. are your subordinate ids): root inside can do nothing on the host that you could not.");
        container.stop()?;
        if let Some(id) = queue.0.take() {
            l.host(&format!("ipcrm -q {id}"))?;
        }
        return Ok(());
    }
    container.stop()?;
    if let Some(id) = queue.0.take() {
        l.host(&format!("ipcrm -q {id}"))?;
    }

    l.step("A user namespace: root inside, an unprivileged uid outside ([user_namespace] uid = 100000).");
    l.say("Root of a user namespace is an ordinary user on the host: it cannot even enter containy's base cache");
    l.say("(/var/lib/containy/base is root's, mode 0700). So this container runs on a copy anyone may read.");
    let base = l.world_readable_base()?;
    let (user, _) = l.start_on("user.toml", base.as_deref())?;
    let pid = user.pid;
    l.host(&format!("ps -o pid,user,comm -p {pid}"))?;
    l.host(&format!("grep -E '^(Uid|Gid)' /proc/{pid}/status"))?;
    l.host(&format!("readlink /proc/{pid}/ns/user /proc/self/ns/user"))?;
    l.look("uid 0 inside is uid 100000 on the host: whatever root in the container does, the host sees");
    l.look("an ordinary user do it. The host's root is not mapped inside, so its files show as 65534 (nobody).");
    user.stop()?;
    Ok(())
}
