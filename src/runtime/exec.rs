//! `exec`: start another process inside a running container.
//!
//! Joining is the mirror of creating: instead of `clone3(CLONE_NEW*)`, `setns(2)` on a pidfd of the
//! container's init enters all of its namespaces in one call (the kernel orders them, user first). Entering
//! a PID namespace only moves the *children* of the caller, so containy first sets its own "PID namespace
//! for children" (`setns(pidfd, CLONE_NEWPID)`: containy itself stays where it is) and clones the process
//! straight into it:
//!
//! ```text
//!  containy exec (host): setns(pidfd, NEWPID) ── clone3 ──▶ process: in the container's cgroup,
//!        ◀── Pty / Ready / EOF on execve ───────────────────  setns(pidfd, the others), … execve
//! ```
//!
//! Rootless, containy has no `CAP_SYS_ADMIN` over its own user namespace and may not do that; then a
//! middle process joins everything and clones the process (as runc and crun always do):
//!
//! ```text
//!  containy exec (host) ── clone3 ──▶ middle: in the container's cgroup, setns(pidfd, all) ── clone3 ──▶ process
//!        ◀── Pid(host pid) ────────────────┘  waits, exits with the process's status        │
//!        ◀── Pty / Ready / EOF on execve ────────────────────────────────────────────────────┘
//! ```
//!
//! containy marks itself non-dumpable before the clone, and the flag is inherited: whatever containy
//! process the container can see is non-dumpable until its `execve`, and processes of the container cannot
//! open its `/proc/<pid>/exe`, the way CVE-2019-5736 overwrote the runtime's binary on the host (and containy
//! runs from a sealed view of itself anyway: `sealed_exe.rs`). The process then takes
//! the same final steps as a container's init (`init::become_process`): cwd, identity, capabilities,
//! no_new_privs, seccomp, fds, `execve`.

use std::os::fd::{AsFd, OwnedFd};

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;

use super::container::Container;
use super::init::{Failure, StartHooks, become_process, finish, setup_failed, wait_for_go};
use super::spawn::{self, ChildEnd, Spawned};
use super::steps::begin;
use super::sync::{Message, send_message};
use super::{Exit, RuntimeError, io};
use crate::cgroups::{self, Cgroup, Layout};
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
    crate::plan::check_process(&opts.process, "process").map_err(|e| RuntimeError::Invalid(e.to_string()))?;
    // The sealed view's mount, if our previous image left it to us: closed once the process is ready.
    let view = super::sealed_exe::inherited_view();
    begin(1)?;
    let seccomp_filter =
        opts.process.seccomp.as_ref().map(|s| seccomp::compile_cached(s, opts.seccomp_cache)).transpose()?;
    let pid = container.state.pid;
    let pidfd = sys::pidfd_open(nix::unistd::Pid::from_raw(pid))
        .map_err(|e| RuntimeError::Io(crate::error::IoError::new("pidfd_open", format!("/proc/{pid}"), e)))?;
    let join = namespaces_to_join(pid);
    // A container without a mount namespace of its own is only chroot-ed: its root is entered by path.
    let chroot_dir = if join.contains(CloneFlags::CLONE_NEWNS) {
        None
    } else {
        let path = std::path::PathBuf::from(format!("/proc/{pid}/root"));
        Some(std::fs::File::open(&path).map_err(|e| RuntimeError::io("open", &path, e))?)
    };
    // Joining the recorded directories needs the version only, not the v1 mount table.
    let layout = if cgroups::is_v2() { Layout::V2 } else { Layout::V1 { hierarchies: Vec::new() } };
    let cgroup = Cgroup::reopen(&layout, container.state.cgroups.clone());
    let cgroup_dir = cgroup.open_dir();
    let cgroup_tasks = cgroup.open_tasks()?;

    // As root containy may set its own PID namespace for children; rootless it may not (EPERM), and a
    // middle process does the joining. A container in our PID namespace needs neither.
    let direct = !join.contains(CloneFlags::CLONE_NEWPID) || enter_pid_namespace_for_children(&pidfd).is_ok();
    let joining = Joining {
        pidfd: &pidfd,
        join: if direct { join - CloneFlags::CLONE_NEWPID } else { join },
        chroot_dir: chroot_dir.as_ref(),
        cgroup_tasks: &cgroup_tasks,
    };

    // The process is born in the container's PID namespace, where the container's processes see it: it is
    // non-dumpable from its first instruction, because the flag is inherited across fork (execve resets it).
    nix::sys::prctl::set_dumpable(false).map_err(|e| RuntimeError::sys("prctl(PR_SET_DUMPABLE, 0)", e))?;

    begin(7)?;
    let spawned = spawn::spawn(CloneFlags::empty(), cgroup_dir.as_ref().map(|f| f.as_fd()), |end| {
        // Our copy goes first, so that the parent's close is the last one (see `inherited_view`).
        if let Some(view) = &view {
            sys::close_copy(view.as_fd());
        }
        let sync = end.sync.try_clone().ok();
        finish(sync, joining_main(joining, end, &opts, seccomp_filter.as_ref(), direct))
    })?;
    drop(cgroup_dir);
    drop(cgroup_tasks);
    let child = spawned.pid;
    let kill_child = |e: RuntimeError| {
        let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
        let _ = waitpid(child, None);
        e
    };
    spawn::go(&spawned.sync).map_err(kill_child)?;
    let speakers = if direct { spawn::Speakers::Process } else { spawn::Speakers::MiddleAndProcess };
    let ready = spawn::await_ready(&spawned.sync, speakers, || Ok(())).map_err(kill_child)?;
    // The process runs on while the kernel dissolves the view's mount namespace.
    drop(view);
    let target = match (direct, ready.pid) {
        (true, _) => child,
        (false, Some(pid)) => pid,
        (false, None) => {
            return Err(kill_child(RuntimeError::Child("the middle process did not say the process's pid".into())));
        }
    };

    begin(26).map_err(|e| kill_child(e.into()))?;
    if let Some(pid_file) = opts.pid_file {
        std::fs::write(pid_file, target.to_string()).map_err(|e| kill_child(RuntimeError::io("write", pid_file, e)))?;
    }
    if opts.detach {
        if let (Some(master), Some(socket)) = (ready.pty_master, opts.console_socket) {
            io::send_console(socket, master)?;
        }
        return Ok(Exit::Code(0));
    }
    let Spawned { sync, handled, mask: _restore, .. } = spawned;
    let outcome = io::supervise(child, target, &handled, sync, ready.pty_master)?;
    if let Some((code, text)) = outcome.exec_error {
        return Err(RuntimeError::Exec { code, text });
    }
    Ok(Exit::from_wait(outcome.status, None))
}

/// Set the PID namespace our children are born in to the container's (`setns` with `CLONE_NEWPID` alone
/// changes nothing else of ours). Needs `CAP_SYS_ADMIN` in our own user namespace.
fn enter_pid_namespace_for_children(pidfd: &OwnedFd) -> nix::Result<()> {
    nix::sched::setns(pidfd, CloneFlags::CLONE_NEWPID)?;
    crate::explain!(
        "enter the container's PID namespace for children",
        "setns(pidfd, CLONE_NEWPID)",
        "only processes cloned after it are born in the container's PID namespace; containy stays in its own"
    );
    Ok(())
}

/// What the joining process holds from the parent: the container's init as a pidfd (its namespaces), the
/// namespaces to join, its root when it has no mount namespace to join, its v1 `tasks` files.
struct Joining<'a> {
    pidfd: &'a OwnedFd,
    join: CloneFlags,
    chroot_dir: Option<&'a std::fs::File>,
    cgroup_tasks: &'a [std::fs::File],
}

/// Wait for Go, then enter the container's cgroup and namespaces (non-dumpable since the clone).
fn join(joining: Joining, sync: &OwnedFd) -> Result<(), Failure> {
    let Joining { pidfd, join, chroot_dir, cgroup_tasks } = joining;
    wait_for_go(sync)?;
    begin(9)?;
    cgroups::enter_tasks(cgroup_tasks)?;

    begin(10)?;
    crate::explain!(
        "join the container's namespaces",
        format!("setns(pidfd, {join:?})"),
        "one call enters all of them, in the order the kernel needs (user first)"
    );
    if let Some(dir) = chroot_dir {
        nix::unistd::fchdir(dir).map_err(|e| setup_failed("fchdir to the container's root", e))?;
        nix::unistd::chroot(".").map_err(|e| setup_failed("chroot to the container's root", e))?;
    }
    if !join.is_empty() {
        nix::sched::setns(pidfd, join).map_err(|e| setup_failed(&format!("setns(pidfd, {join:?})"), e))?;
    }
    nix::unistd::chdir("/").map_err(|e| setup_failed("chdir /", e))
}

/// The cloned child: join, then become the Plan's process (as root: `direct`, born in the container's PID
/// namespace), or, as the middle process (rootless), clone that process, report its pid and (unless
/// detached) wait for it and exit like it.
fn joining_main(
    joining: Joining,
    end: ChildEnd,
    opts: &ExecOptions,
    seccomp_filter: Option<&seccomp::CompiledFilter>,
    direct: bool,
) -> Result<std::convert::Infallible, Failure> {
    let ChildEnd { sync, old_mask } = end;
    join(joining, &sync)?;
    if direct {
        return become_exec_process(opts, &sync, seccomp_filter, &old_mask);
    }
    // Entering a PID namespace moves only our children: the process itself is one.
    let process = match sys::clone3(0, None).map_err(|e| setup_failed("clone3", e))? {
        sys::Forked::Child => {
            let setup = become_exec_process(opts, &sync, seccomp_filter, &old_mask);
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
        Ok(status) => Exit::from_wait(status, None).code(),
        Err(_) => 1,
    };
    sys::exit_now(code)
}

/// A session of its own, then the final steps every container process takes.
fn become_exec_process(
    opts: &ExecOptions,
    sync: &OwnedFd,
    seccomp_filter: Option<&seccomp::CompiledFilter>,
    old_mask: &nix::sys::signal::SigSet,
) -> Result<std::convert::Infallible, Failure> {
    nix::unistd::setsid().map_err(|e| setup_failed("setsid", e))?;
    let no_hooks = StartHooks { hooks: &[], state: None };
    become_process(&opts.process, sync, seccomp_filter, opts.preserve_fds, None, old_mask, no_hooks)
}
