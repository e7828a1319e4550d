//! The one way a process of a container is started, for `create`/`run` and for `exec` alike: block the
//! signals the supervisor reads, make the sync socket, `clone3`, and then listen to the new process until it
//! is ready (or says why it is not).
//!
//! `create` clones the container's init with `CLONE_NEW*` flags (see `parent.rs`); `exec` clones the process
//! (rootless: a middle process) into the container's cgroup, which joins its namespaces (see `exec.rs`).
//! Everything after the clone — what the child says and in which order, how a wait status becomes an exit
//! code — is the same, and lives here once. The exchange itself is drawn in `sync.rs`.

use std::os::fd::{BorrowedFd, OwnedFd};

use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::unistd::Pid;

use super::sync::{Message, recv_message, send_message};
use super::{RuntimeError, io};
use crate::sys;

/// A process just cloned, and the parent's end of the exchange with it.
pub(super) struct Spawned {
    pub pid: Pid,
    pub sync: OwnedFd,
    /// The signals the supervisor reads from a signalfd; blocked until `mask` is dropped.
    pub handled: SigSet,
    pub mask: RestoreMask,
}

/// Restores the signal mask the spawn found, when dropped.
pub(super) struct RestoreMask(SigSet);

impl Drop for RestoreMask {
    fn drop(&mut self) {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.0), None);
    }
}

/// Everything the child needs from the spawn itself: its end of the socket and the signal mask to restore
/// right before `execve`.
pub(super) struct ChildEnd {
    pub sync: OwnedFd,
    pub old_mask: SigSet,
}

/// Block the supervisor's signals (a fast child's SIGCHLD must not be lost), make the socketpair, and
/// `clone3` with `flags` (into `cgroup` on v2). The child runs `child`, which ends in `execve` or an exit.
pub(super) fn spawn(
    flags: CloneFlags,
    cgroup: Option<BorrowedFd>,
    child: impl FnOnce(ChildEnd),
) -> Result<Spawned, RuntimeError> {
    let (handled, old_mask) = io::block_handled_signals()?;
    // From here on a failure restores the mask through `Spawned`'s drop, or here.
    let restore = |e: RuntimeError| {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
        e
    };
    let (parent_sock, child_sock) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| restore(RuntimeError::sys("socketpair", e)))?;
    debug_assert_eq!(sys::thread_count(), Some(1), "containy must be single-threaded when it clones");
    crate::explain!(
        "clone the container process",
        format!(
            "clone3({}{})",
            flags.iter_names().map(|(name, _)| name).collect::<Vec<_>>().join(" | "),
            if cgroup.is_some() { " | CLONE_INTO_CGROUP" } else { "" }
        ),
        "one syscall creates the process, in its cgroup, with all its new namespaces"
    );
    match sys::clone3(flags.bits() as u64, cgroup)
        .map_err(|e| restore(RuntimeError::Clone { flags: format!("{flags:?}"), source: e }))?
    {
        sys::Forked::Child => {
            crate::narrate::mark_child();
            drop(parent_sock);
            child(ChildEnd { sync: child_sock, old_mask });
            // `child` ends in execve or exits; a child must never return into the parent's code.
            sys::exit_now(1)
        }
        sys::Forked::Parent(pid) => Ok(Spawned { pid, sync: parent_sock, handled, mask: RestoreMask(old_mask) }),
    }
}

/// What the child handed over on its way to Ready.
#[derive(Default)]
pub(super) struct Ready {
    /// The master side of the terminal it made in its own devpts.
    pub pty_master: Option<OwnedFd>,
    /// `exec` (rootless): the host pid of the process the middle process started in the container.
    pub pid: Option<Pid>,
}

/// Who speaks on the sync socket, so what "ready" means.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Speakers {
    /// `create`, and `exec` as root: the process alone (the container's init, or the exec'd process cloned
    /// straight into the container's PID namespace); its `Ready` is the end.
    Process,
    /// `exec` rootless: the middle process sends `Pid`, the process it cloned sends `Ready`. Two writers on one socket
    /// are not ordered: the process may say `Ready` before the middle process has sent its `Pid`, and both
    /// are needed (the pid is what `--pid-file` names and what an engine's conmon waits for).
    MiddleAndProcess,
}

/// The parent's one receive loop: everything the child may say until it is Ready. `on_hooks` runs when the
/// child asks for the runtime-namespace hooks of the create step (the child waits for Go after it).
pub(super) fn await_ready(
    sync: &OwnedFd,
    speakers: Speakers,
    mut on_hooks: impl FnMut() -> Result<(), RuntimeError>,
) -> Result<Ready, RuntimeError> {
    let mut ready = Ready::default();
    let mut said_ready = false;
    loop {
        match recv_message(sync).map_err(|e| RuntimeError::sys("recv from the container process", e))? {
            Some(Message::Ready) => said_ready = true,
            Some(Message::Pty(master)) => ready.pty_master = Some(io::adopt_terminal(master)),
            Some(Message::Pid(pid)) => ready.pid = Some(Pid::from_raw(pid)),
            Some(Message::Hooks) => {
                on_hooks()?;
                go(sync)?;
            }
            Some(Message::Error(text)) => return Err(RuntimeError::Child(text)),
            Some(Message::Exec(code, text)) => return Err(RuntimeError::Exec { code, text }),
            other => {
                return Err(RuntimeError::Child(format!(
                    "the container process ended during setup (it sent {other:?})"
                )));
            }
        }
        if said_ready && (speakers == Speakers::Process || ready.pid.is_some()) {
            return Ok(ready);
        }
    }
}

/// Tell the child to go on.
pub(super) fn go(sync: &OwnedFd) -> Result<(), RuntimeError> {
    send_message(sync, &Message::Go).map_err(|e| RuntimeError::sys("send Go to the container process", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).unwrap()
    }

    /// The process's `Ready` overtaking the middle process's `Pid` (seen under load: `exec --pid-file` then
    /// named the middle process, and podman's conmon reported its exit 0 and lost the output).
    #[test]
    fn exec_waits_for_the_pid_when_ready_comes_first() {
        let (parent, child) = pair();
        send_message(&child, &Message::Ready).unwrap();
        send_message(&child, &Message::Pid(4242)).unwrap();
        let ready = await_ready(&parent, Speakers::MiddleAndProcess, || Ok(())).unwrap();
        assert_eq!(ready.pid, Some(Pid::from_raw(4242)));

        send_message(&child, &Message::Pid(7)).unwrap();
        send_message(&child, &Message::Ready).unwrap();
        let ready = await_ready(&parent, Speakers::MiddleAndProcess, || Ok(())).unwrap();
        assert_eq!(ready.pid, Some(Pid::from_raw(7)));
    }

    #[test]
    fn exec_without_a_pid_is_an_error_and_create_needs_none() {
        let (parent, child) = pair();
        send_message(&child, &Message::Ready).unwrap();
        drop(child);
        let err = await_ready(&parent, Speakers::MiddleAndProcess, || Ok(())).err().unwrap();
        assert!(err.to_string().contains("ended during setup"), "{err}");

        let (parent, child) = pair();
        send_message(&child, &Message::Ready).unwrap();
        assert!(await_ready(&parent, Speakers::Process, || Ok(())).unwrap().pid.is_none());
    }
}
