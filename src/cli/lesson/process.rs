//! Lesson `process`: a container is a process — PID 1 inside its PID namespace, an ordinary pid outside.

use anyhow::Result;

use super::Lesson;

pub fn run(l: &mut Lesson) -> Result<()> {
    l.title("a container is a process");
    l.say("There is no container object in the kernel: containy clones ONE process into new namespaces,");
    l.say("puts it in a cgroup and execs your command. Let us find that process from both sides.");

    l.step("Start a container in the background; --pid-file asks containy for the pid the HOST gives it.");
    let (container, _) = l.start("configy.toml")?;
    l.look("inside, the shell is PID 1 and the only processes are its own: a new PID namespace.");

    l.step("The same process, seen from the host.");
    l.host(&format!("cat {}", container.pid_file.display()))?;
    let pid = container.pid;
    l.host(&format!("ps -o pid,ppid,user,comm -p {},{pid}", container.containy_pid()))?;
    l.look(&format!(
        "an ordinary pid, {pid}; its parent ({}) is the containy you started — no daemon in between.",
        container.containy_pid()
    ));

    l.step("The kernel keeps both numbers in the process's status file.");
    l.host(&format!("grep -E '^(Name|PPid|NSpid)' /proc/{pid}/status"))?;
    l.look(&format!("NSpid lists its pid in each PID namespace it is in: {pid} on the host, 1 in the container."));

    l.step("Its namespaces are properties of the process too: one link per kind in /proc/PID/ns.");
    l.host(&format!("readlink /proc/{pid}/ns/pid /proc/self/ns/pid"))?;
    l.look("different inode numbers: the container's PID namespace is not the host's (next lesson: namespaces).");

    l.step("End the process and the container is gone with it.");
    let status = container.stop()?;
    l.say(&format!("containy exited: {status}"));
    l.host(&format!("ls -d /proc/{pid}"))?;
    l.look("no such process: nothing of the container is left running.");
    Ok(())
}
