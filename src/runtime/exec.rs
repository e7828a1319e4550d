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
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;

use super::container::Container;
use super::init::{Failure, StartHooks, become_process, finish, setup_failed, wait_for_go};
use super::spawn::{self, ChildEnd, Spawned};
use super::steps::begin;
use super::sync::{Message, send_message};
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
    crate::plan::check_process(&opts.process, "process").map_err(|e| RuntimeError::Invalid(e.to_string()))?;
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
    let cgroup = Cgroup::reopen(&cgroups::detect(), container.state.cgroups.clone());
    let cgroup_dir = cgroup.open_dir();
    let cgroup_tasks = cgroup.open_tasks()?;

    begin(7)?;
    let spawned = spawn::spawn(CloneFlags::empty(), cgroup_dir.as_ref().map(|f| f.as_fd()), |end| {
        let sync = end.sync.try_clone().ok();
        let joining = Joining { pidfd: &pidfd, join, chroot_dir: chroot_dir.as_ref(), cgroup_tasks: &cgroup_tasks };
        finish(sync, middle_main(joining, end, &opts, seccomp_filter.as_ref()))
    })?;
    drop(cgroup_dir);
    drop(cgroup_tasks);
    let middle = spawned.pid;
    let kill_middle = |e: RuntimeError| {
        let _ = nix::sys::signal::kill(middle, Signal::SIGKILL);
        let _ = waitpid(middle, None);
        e
    };
    spawn::go(&spawned.sync).map_err(kill_middle)?;
    let ready = spawn::await_ready(&spawned.sync, spawn::Speakers::MiddleAndProcess, || Ok(())).map_err(kill_middle)?;
    let Some(target) = ready.pid else {
        return Err(kill_middle(RuntimeError::Child("the middle process did not say the process's pid".into())));
    };

    begin(26).map_err(|e| kill_middle(e.into()))?;
    if let Some(pid_file) = opts.pid_file {
        std::fs::write(pid_file, target.to_string())
            .map_err(|e| kill_middle(RuntimeError::io("write", pid_file, e)))?;
    }
    if opts.detach {
        if let (Some(master), Some(socket)) = (ready.pty_master, opts.console_socket) {
            io::send_console(socket, master)?;
        }
        return Ok(Exit::Code(0));
    }
    let Spawned { sync, handled, mask: _restore, .. } = spawned;
    let outcome = io::supervise(middle, target, &handled, sync, ready.pty_master)?;
    if let Some((code, text)) = outcome.exec_error {
        return Err(RuntimeError::Exec { code, text });
    }
    Ok(Exit::from_wait(outcome.status, None))
}

/// The middle process: join, clone the real process, report its pid, then (unless detached) wait for it
/// and exit like it.
#[allow(clippy::too_many_arguments)] // what the middle process holds from before the clone, each used once
/// What the middle process joins, opened by the parent: the container's init as a pidfd (its namespaces), the
/// namespaces that differ from ours, its root when it has no mount namespace to join, its v1 `tasks` files.
struct Joining<'a> {
    pidfd: &'a OwnedFd,
    join: CloneFlags,
    chroot_dir: Option<&'a std::fs::File>,
    cgroup_tasks: &'a [std::fs::File],
}

fn middle_main(
    joining: Joining,
    end: ChildEnd,
    opts: &ExecOptions,
    seccomp_filter: Option<&seccomp::CompiledFilter>,
) -> Result<std::convert::Infallible, Failure> {
    let Joining { pidfd, join, chroot_dir, cgroup_tasks } = joining;
    let ChildEnd { sync, old_mask } = end;
    wait_for_go(&sync)?;
    begin(9)?;
    cgroups::enter_tasks(cgroup_tasks)?;
    nix::sys::prctl::set_dumpable(false).map_err(|e| setup_failed("prctl(PR_SET_DUMPABLE, 0)", e))?;

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
    nix::sched::setns(pidfd, join).map_err(|e| setup_failed(&format!("setns(pidfd, {join:?})"), e))?;
    nix::unistd::chdir("/").map_err(|e| setup_failed("chdir /", e))?;
    // Entering a PID namespace moves only our children: the process itself is one.
    let process = match sys::clone3(0, None).map_err(|e| setup_failed("clone3", e))? {
        sys::Forked::Child => {
            let setup = (|| {
                nix::unistd::setsid().map_err(|e| setup_failed("setsid", e))?;
                let no_hooks = StartHooks { hooks: &[], state: None };
                become_process(&opts.process, &sync, seccomp_filter, opts.preserve_fds, None, &old_mask, no_hooks)
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
        Ok(status) => Exit::from_wait(status, None).code(),
        Err(_) => 1,
    };
    sys::exit_now(code)
}
