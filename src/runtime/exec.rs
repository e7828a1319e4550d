//! `exec`: start another process inside a running container.
//!
//! Joining is the mirror of creating: instead of `clone3(CLONE_NEW*)`, `setns(2)` on a pidfd of the
//! container's init enters all of its namespaces in one call (the kernel orders them, user first). Entering
//! a PID namespace only moves the *children* of the caller, so three processes take part:
//!
//! ```text
//!  containy exec (host) ── clone3 ──▶ middle: in the container's cgroup, setns(pidfd, all) ── clone3 ──▶ process
//!        ◀── Pid(host pid) ────────────────┘  waits, exits with the process's status        │
//!        ◀── Pty / Ready / EOF on execve ────────────────────────────────────────────────────┘
//! ```
//!
//! The middle process marks itself non-dumpable before it joins, and so does the process until `execve`:
//! processes of the container cannot open `/proc/<pid>/exe` of either, the way CVE-2019-5736 overwrote the
//! runtime's binary on the host. The process then takes the same final steps as a container's init
//! (`init::become_process`): cwd, identity, capabilities, no_new_privs, seccomp, fds, `execve`.

use std::os::fd::{AsFd, OwnedFd};

use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use super::container::Container;
use super::init::{Failure, StartHooks, become_process, finish, setup_failed};
use super::sync::{Message, recv_message, send_message};
use super::{Exit, RuntimeError, io};
use crate::cgroups::{self, Cgroup};
use crate::plan::{Namespace, Process};
use crate::{namespaces, seccomp, sys};

pub struct ExecOptions<'a> {
    pub process: Process,
    /// Return once the process runs (`exec -d`) instead of waiting for it.
    pub detach: bool,
    pub pid_file: Option<&'a std::path::Path>,
    pub console_socket: Option<&'a std::path::Path>,
    pub preserve_fds: u32,
    pub seccomp_cache: &'a std::path::Path,
}

/// The namespaces of `pid` that differ from ours: those are the ones to join.
fn namespaces_to_join(pid: i32) -> CloneFlags {
    let kinds = [
        Namespace::User,
        Namespace::Pid,
        Namespace::Network,
        Namespace::Ipc,
        Namespace::Uts,
        Namespace::Cgroup,
        Namespace::Mount,
        Namespace::Time,
    ];
    kinds
        .into_iter()
        .filter(|kind| {
            let theirs = std::fs::read_link(namespaces::proc_path(pid, *kind));
            let ours = std::fs::read_link(format!("/proc/self/ns/{}", kind.proc_name()));
            matches!((theirs, ours), (Ok(a), Ok(b)) if a != b)
        })
        .fold(CloneFlags::empty(), |flags, kind| flags | kind.clone_flag())
}

/// Run `opts.process` in the running container `container`; returns how it ended (or, detached, at once).
pub fn exec(container: &Container, opts: ExecOptions) -> Result<Exit, RuntimeError> {
    if opts.process.terminal && opts.detach && opts.console_socket.is_none() {
        return Err(RuntimeError::Usage("a detached exec with a terminal needs --console-socket"));
    }
    let seccomp_filter =
        opts.process.seccomp.as_ref().map(|s| seccomp::compile_cached(s, opts.seccomp_cache)).transpose()?;
    let pidfd = sys::pidfd_open(Pid::from_raw(container.state.pid)).map_err(|e| RuntimeError::Io {
        op: "pidfd_open",
        path: format!("/proc/{}", container.state.pid).into(),
        source: e,
    })?;
    let join = namespaces_to_join(container.state.pid);
    // A container without a mount namespace of its own is only chroot-ed: its root is entered by path.
    let chroot_dir = if join.contains(CloneFlags::CLONE_NEWNS) {
        None
    } else {
        let path = std::path::PathBuf::from(format!("/proc/{}/root", container.state.pid));
        Some(std::fs::File::open(&path).map_err(|e| RuntimeError::io("open", &path, e))?)
    };
    let cgroup = Cgroup::reopen(&cgroups::detect(), container.state.cgroups.clone());

    let (handled, old_mask) = io::block_handled_signals()?;
    let (parent_sock, child_sock) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| RuntimeError::sys("socketpair", e))?;

    let cgroup_dir = cgroup.open_dir();
    let cgroup_tasks = cgroup.open_tasks()?;
    crate::explain!(
        "clone the process that joins the container",
        format!("clone3({})", if cgroup_dir.is_some() { "CLONE_INTO_CGROUP" } else { "" }),
        "it must sit in the container's cgroup before it runs anything there"
    );
    let middle = match sys::clone3(0, cgroup_dir.as_ref().map(|f| f.as_fd()))
        .map_err(|e| RuntimeError::Clone { flags: "0".into(), source: e })?
    {
        sys::Forked::Child => {
            crate::narrate::mark_child();
            drop(parent_sock);
            let sync = child_sock.try_clone().ok();
            finish(
                sync,
                middle_main(
                    &pidfd,
                    join,
                    chroot_dir.as_ref(),
                    &cgroup_tasks,
                    child_sock,
                    &opts,
                    seccomp_filter.as_ref(),
                    &old_mask,
                ),
            )
        }
        sys::Forked::Parent(pid) => pid,
    };
    drop(child_sock);
    drop(cgroup_dir);
    drop(cgroup_tasks);
    let restore = || {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    };
    let result = supervise_exec(middle, &handled, parent_sock, &opts);
    restore();
    result
}

fn supervise_exec(middle: Pid, handled: &SigSet, sync: OwnedFd, opts: &ExecOptions) -> Result<Exit, RuntimeError> {
    let fail = |e: RuntimeError| {
        let _ = nix::sys::signal::kill(middle, Signal::SIGKILL);
        let _ = waitpid(middle, None);
        e
    };
    send_message(&sync, &Message::Go).map_err(|e| fail(RuntimeError::sys("send Go", e)))?;
    let mut target = middle;
    let mut pty_master = None;
    loop {
        match recv_message(&sync).map_err(|e| fail(RuntimeError::sys("recv from the exec process", e)))? {
            Some(Message::Pid(pid)) => target = Pid::from_raw(pid),
            Some(Message::Pty(master)) => pty_master = Some(io::adopt_terminal(master)),
            Some(Message::Ready) => break,
            Some(Message::Error(text)) => return Err(fail(RuntimeError::Child(text))),
            Some(Message::Exec(code, text)) => return Err(fail(RuntimeError::Exec { code, text })),
            other => return Err(fail(RuntimeError::Child(format!("the exec process ended early ({other:?})")))),
        }
    }
    if let Some(pid_file) = opts.pid_file {
        std::fs::write(pid_file, target.to_string()).map_err(|e| fail(RuntimeError::io("write", pid_file, e)))?;
    }
    if opts.detach {
        if let (Some(master), Some(socket)) = (pty_master, opts.console_socket) {
            io::send_console(socket, master)?;
        }
        return Ok(Exit::Code(0));
    }
    let outcome = io::supervise(middle, target, handled, sync, pty_master)?;
    if let Some((code, text)) = outcome.exec_error {
        return Err(RuntimeError::Exec { code, text });
    }
    Ok(match outcome.status {
        WaitStatus::Exited(_, code) => Exit::Code(code),
        WaitStatus::Signaled(_, sig, _) => Exit::Signal(sig as i32),
        _ => Exit::Code(1),
    })
}

/// The middle process: join, clone the real process, report its pid, then (unless detached) wait for it
/// and exit like it.
#[allow(clippy::too_many_arguments)] // what the middle process holds from before the clone, each used once
fn middle_main(
    pidfd: &OwnedFd,
    join: CloneFlags,
    chroot_dir: Option<&std::fs::File>,
    cgroup_tasks: &[std::fs::File],
    sync: OwnedFd,
    opts: &ExecOptions,
    seccomp_filter: Option<&seccomp::CompiledFilter>,
    old_mask: &SigSet,
) -> Result<std::convert::Infallible, Failure> {
    match recv_message(&sync).map_err(|e| setup_failed("waiting for the parent", e))? {
        Some(Message::Go) => {}
        other => return Err(Failure::Setup(format!("unexpected message from the parent: {other:?}"))),
    }
    // v1: into the container's cgroup first (v2 was cloned into it).
    for mut tasks in cgroup_tasks {
        use std::io::Write;
        tasks.write_all(b"0").map_err(|e| setup_failed("join the cgroup (write 0 to tasks)", e))?;
    }
    nix::sys::prctl::set_dumpable(false).map_err(|e| setup_failed("prctl(PR_SET_DUMPABLE, 0)", e))?;
    crate::explain!(
        "join the container's namespaces",
        format!("setns(pidfd, {join:?})"),
        "one call enters all of them, in the order the kernel needs (user first)"
    );
    if let Some(dir) = chroot_dir {
        nix::unistd::fchdir(dir).map_err(|e| setup_failed("fchdir to the container's root", e))?;
        nix::unistd::chroot(".").map_err(|e| setup_failed("chroot to the container's root", e))?;
    }
    nix::sched::setns(pidfd, join).map_err(|e| setup_failed(&format!("setns(pidfd, {join:?})"), e))?;
    nix::unistd::chdir("/").map_err(|e| setup_failed("chdir /", e))?;
    let process = match sys::clone3(0, None).map_err(|e| setup_failed("clone3", e))? {
        sys::Forked::Child => {
            let setup = (|| {
                nix::unistd::setsid().map_err(|e| setup_failed("setsid", e))?;
                let no_hooks = StartHooks { hooks: &[], state: None };
                become_process(&opts.process, &sync, seccomp_filter, opts.preserve_fds, None, old_mask, no_hooks)
            })();
            finish(sync.try_clone().ok(), setup)
        }
        sys::Forked::Parent(pid) => pid,
    };
    send_message(&sync, &Message::Pid(process.as_raw())).map_err(|e| setup_failed("send the pid", e))?;
    // Our copy of the socket must go: the parent learns that execve succeeded from end-of-file.
    drop(sync);
    if opts.detach {
        // Detached, the process must not stay our child: once we are gone it is reparented to the
        // nearest subreaper (an engine's conmon), which waits for it and reads its exit status.
        sys::exit_now(0);
    }
    let code = match waitpid(process, None) {
        Ok(WaitStatus::Exited(_, code)) => code,
        Ok(WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
        _ => 1,
    };
    sys::exit_now(code)
}

/// Make sure this process runs from a sealed in-memory copy of containy, not from the file on the host.
///
/// CVE-2019-5736: a binary in the container replaced by a script starting `#!/proc/self/exe` makes the
/// kernel execute the *runtime's own binary* inside the container when `exec` runs it; a container process
/// then holds `/proc/<pid>/exe` — the host file — and writes it once the runtime has exited. Running from a
/// `memfd` sealed against writes and resizing means that file is never the host's: the worst the trick can
/// reach is the sealed copy. The copy is made once per `exec` (a few milliseconds for a ~5 MiB binary) and
/// the process re-executes itself from it with the same arguments; `run` does not enter a running container,
/// and does not pay for it.
pub fn reexec_sealed() -> Result<(), RuntimeError> {
    use nix::fcntl::{FcntlArg, SealFlag, fcntl};
    use nix::sys::memfd::{MFdFlags, memfd_create};
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    let exe =
        std::fs::read_link("/proc/self/exe").map_err(|e| RuntimeError::io("readlink", "/proc/self/exe".as_ref(), e))?;
    if exe.as_os_str().as_bytes().starts_with(b"/memfd:containy") {
        return Ok(()); // already the sealed copy
    }
    crate::explain!(
        "run from a sealed copy of containy",
        "memfd_create + copy /proc/self/exe + F_ADD_SEALS(write, grow, shrink, seal) + fexecve",
        "a container must never reach the runtime's binary on the host (CVE-2019-5736)"
    );
    let memfd = memfd_create(c"containy", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)
        .map_err(|e| RuntimeError::sys("memfd_create", e))?;
    let mut copy = std::fs::File::from(memfd);
    let mut original = std::fs::File::open("/proc/self/exe").map_err(|e| RuntimeError::io("open", &exe, e))?;
    std::io::copy(&mut original, &mut copy).map_err(|e| RuntimeError::io("copy", &exe, e))?;
    let seals = SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE;
    fcntl(&copy, FcntlArg::F_ADD_SEALS(seals)).map_err(|e| RuntimeError::sys("fcntl(F_ADD_SEALS)", e))?;
    let cstrings = |items: Vec<std::ffi::OsString>| -> Vec<CString> {
        items.into_iter().filter_map(|s| CString::new(s.as_bytes()).ok()).collect()
    };
    let args = cstrings(std::env::args_os().collect());
    let env = cstrings(std::env::vars_os().map(|(k, v)| [k, "=".into(), v].into_iter().collect()).collect());
    let err = nix::unistd::fexecve(&copy, &args, &env).unwrap_err();
    Err(RuntimeError::sys("fexecve of the sealed copy", err))
}
