//! The container's side: everything between `clone3` and `execve`, in order. Start reading here.
//!
//! This code runs in the cloned child, already inside its new namespaces, as a copy of the parent's memory
//! (no re-exec). It waits until the parent has mapped its ids and placed it in its cgroup, then builds the
//! container from the inside: session and terminal, namespaces to join, hostname, loopback, the root
//! filesystem and `pivot_root`, limits, working directory, identity, capabilities, the seccomp filter — and
//! finally `execve`. Each step needs the ones before it: mounts need the mount namespace, masking needs the
//! pivot, dropping capabilities must wait until everything that needs them (mounts, `setgroups`, `setuid`) is
//! done, and the seccomp filter comes last of all, or just before the capabilities go when it needs them.
//! Any error is sent to the parent as text and the child exits; the parent prints it and cleans up.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::unistd::{Gid, Uid};

use super::hooks;
use super::state::Status;
use super::sync::{Message, recv_message, send_message};
use crate::plan::{Hook, Namespace, Plan, Process};
use crate::{capabilities, lsm, namespaces, rootfs, seccomp, sys};

/// Everything the child needs, prepared by the parent before `clone3`.
pub struct ChildContext<'a> {
    pub plan: &'a Plan,
    pub sync: OwnedFd,
    pub mounts: Vec<rootfs::MountOp>,
    pub rootfs: PathBuf,
    pub joined: Vec<(Namespace, PathBuf, File)>,
    /// The signal mask to restore right before `execve` (the parent blocked signals before cloning).
    pub old_mask: SigSet,
    /// The seccomp filter, compiled by the parent; `None`: unconfined.
    pub seccomp: Option<seccomp::CompiledFilter>,
    /// Descriptors 3..3+N stay open across `execve` (`--preserve-fds`).
    pub preserve_fds: u32,
    /// v1: the `tasks` files of the container's cgroups, opened by the parent; the child joins first thing.
    pub cgroup_tasks: Vec<File>,
    /// `create`: the exec FIFO (an `O_PATH` fd) to block on until `start`; `run`: `None`.
    pub exec_fifo: Option<OwnedFd>,
}

/// Run the child to its `execve`; never returns.
pub fn child_main(ctx: ChildContext) -> ! {
    crate::narrate::mark_child();
    let sync = ctx.sync.try_clone();
    finish(sync.ok(), setup_and_exec(ctx))
}

/// Only reached when setup or `execve` failed: tell the parent why, and exit.
pub(super) fn finish(sync: Option<OwnedFd>, result: Result<std::convert::Infallible, Failure>) -> ! {
    let message = match result {
        Err(Failure::Setup(text)) => (Message::Error(text), 1),
        Err(Failure::Exec(code, text)) => (Message::Exec(code, text.clone()), code as i32),
    };
    if let Some(sync) = sync {
        let _ = send_message(&sync, &message.0);
    }
    sys::exit_now(message.1)
}

pub(super) enum Failure {
    Setup(String),
    Exec(u8, String),
}

impl<E: std::error::Error> From<E> for Failure {
    /// The whole chain, `outer: inner: innermost`, without repeating what an outer message already says.
    fn from(e: E) -> Self {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            let s_text = s.to_string();
            if !text.contains(&s_text) {
                text = format!("{text}: {s_text}");
            }
            source = s.source();
        }
        Failure::Setup(text)
    }
}

pub(super) fn setup_failed(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::Setup(format!("{what}: {e}"))
}

fn setup_and_exec(ctx: ChildContext) -> Result<std::convert::Infallible, Failure> {
    let plan = ctx.plan;

    // 1. Wait for the parent: until it has written our id maps and cgroup, we are nobody, nowhere.
    let mut hook_state = None;
    loop {
        match recv_message(&ctx.sync).map_err(|e| setup_failed("waiting for the parent", e))? {
            Some(Message::State(json)) => hook_state = Some(json),
            Some(Message::Go) => break,
            other => return Err(Failure::Setup(format!("unexpected message from the parent: {other:?}"))),
        }
    }
    // v1: step into the cgroup before anything else (v2 did it at clone, CLONE_INTO_CGROUP).
    if !ctx.cgroup_tasks.is_empty() {
        crate::explain!(
            "join the container's cgroup",
            "write \"0\" to tasks in each v1 hierarchy (files the parent opened)",
            "from here on every instruction runs inside the container's limits"
        );
    }
    for mut tasks in &ctx.cgroup_tasks {
        use std::io::Write;
        tasks.write_all(b"0").map_err(|e| setup_failed("join the cgroup (write 0 to tasks)", e))?;
    }
    if namespaces::creates(&plan.namespaces, Namespace::User) {
        // Become root of the new user namespace (uid 0 is mapped now).
        nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .map_err(|e| setup_failed("setresgid(0) in the user namespace", e))?;
        nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .map_err(|e| setup_failed("setresuid(0) in the user namespace", e))?;
    }

    // 2. A new session: the container's processes are not in containy's process group or terminal.
    crate::explain!(
        "start a new session",
        "setsid()",
        "the container must not share containy's controlling terminal or process group"
    );
    nix::unistd::setsid().map_err(|e| setup_failed("setsid", e))?;

    // 3. Namespaces given by path are joined; the cgroup namespace is made now that we sit in our cgroup.
    namespaces::join(ctx.joined)?;
    if namespaces::creates(&plan.namespaces, Namespace::Cgroup) {
        crate::explain!(
            "create the cgroup namespace",
            "unshare(CLONE_NEWCGROUP)",
            "done after the parent placed us in our cgroup, so that cgroup becomes the container's '/'"
        );
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|e| setup_failed("unshare(CLONE_NEWCGROUP)", e))?;
    }

    if !plan.time_offsets.is_empty() {
        enter_time_namespace(&plan.time_offsets)?;
    }

    // 4. Names and network.
    if namespaces::creates(&plan.namespaces, Namespace::Uts) {
        if let Some(hostname) = &plan.hostname {
            crate::explain!(
                format!("set the hostname to {hostname:?}"),
                "sethostname(2)",
                "the new UTS namespace has its own hostname; the host's is untouched"
            );
            nix::unistd::sethostname(hostname).map_err(|e| setup_failed("sethostname", e))?;
        }
        if let Some(domain) = &plan.domainname {
            set_domainname(domain)?;
        }
    }
    if namespaces::creates(&plan.namespaces, Namespace::Network) {
        crate::explain!(
            "bring up the loopback interface",
            "ioctl(SIOCSIFFLAGS, \"lo\", IFF_UP)",
            "a new network namespace has only `lo`, and it starts down"
        );
        sys::loopback_up().map_err(|e| setup_failed("bringing lo up", e))?;
    }

    // 5. The root filesystem and pivot_root; then sysctls, while /proc/sys is still writable; then the
    // masked and read-only paths seal it.
    let mount_ctx = rootfs::Context {
        rootfs: &ctx.rootfs,
        user_ns: plan.namespaces.iter().any(|n| n.kind == Namespace::User),
        cgroup_ns: plan.namespaces.iter().any(|n| n.kind == Namespace::Cgroup),
    };
    let pivot = ctx.mounts.iter().position(rootfs::MountOp::switches_root).unwrap_or(ctx.mounts.len());
    let after_pivot = (pivot + 1).min(ctx.mounts.len());
    rootfs::apply(&ctx.mounts[..pivot], &mount_ctx)?;
    run_create_hooks(plan, &ctx.sync, hook_state.as_deref())?;
    rootfs::apply(&ctx.mounts[pivot..after_pivot], &mount_ctx)?;
    write_sysctls(&plan.sysctl)?;
    rootfs::apply(&ctx.mounts[after_pivot..], &mount_ctx)?;

    // 6. Limits that belong to the container rather than to one process in it.
    if let Some(domain) = plan.personality {
        crate::explain!(
            format!("set the execution domain to {domain:#x}"),
            "personality(2)",
            "it survives execve: a PER_LINUX32 container sees a 32-bit machine in uname"
        );
        let persona = nix::sys::personality::Persona::from_bits_retain(domain as libc::c_int);
        nix::sys::personality::set(persona).map_err(|e| setup_failed("personality", e))?;
    }
    if let Some(adj) = plan.process.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| setup_failed("write /proc/self/oom_score_adj", e))?;
    }
    become_process(
        &plan.process,
        &ctx.sync,
        ctx.seccomp.as_ref(),
        ctx.preserve_fds,
        ctx.exec_fifo.as_ref(),
        &ctx.old_mask,
        StartHooks { hooks: &plan.hooks.start_container, state: hook_state.as_deref() },
    )
}

/// The hooks of the create step, at the one moment the spec gives them: the container's mounts exist,
/// `pivot_root` has not happened (so host paths still resolve). prestart/createRuntime run in the parent,
/// in the runtime's namespaces: ask for them and wait. createContainer runs here, in ours.
fn run_create_hooks(plan: &Plan, sync: &OwnedFd, state: Option<&str>) -> Result<(), Failure> {
    let hooks = &plan.hooks;
    if !hooks.prestart.is_empty() || !hooks.create_runtime.is_empty() {
        send_message(sync, &Message::Hooks).map_err(|e| setup_failed("asking the parent to run hooks", e))?;
        match recv_message(sync).map_err(|e| setup_failed("waiting for the createRuntime hooks", e))? {
            Some(Message::Go) => {}
            other => return Err(Failure::Setup(format!("unexpected message from the parent: {other:?}"))),
        }
    }
    if !hooks.create_container.is_empty() {
        hooks::run("createContainer", &hooks.create_container, &hook_input(state, Status::Created))?;
    }
    Ok(())
}

/// The startContainer hooks and the state they read: run after `start`, just before `execve`.
pub(super) struct StartHooks<'a> {
    pub hooks: &'a [Hook],
    pub state: Option<&'a str>,
}

/// The state JSON the parent sent, with the status of this moment.
fn hook_input(state: Option<&str>, status: Status) -> serde_json::Value {
    let mut value = state.and_then(|s| serde_json::from_str(s).ok()).unwrap_or_else(|| serde_json::json!({}));
    value["status"] = serde_json::json!(status);
    value
}

/// Steps 7–13, shared with `exec`: from a process inside the container's namespaces and root to the
/// configured program — rlimits, cwd, terminal, identity, capabilities, no_new_privs, seccomp, fds, execve.
pub(super) fn become_process(
    process: &Process,
    sync: &OwnedFd,
    seccomp_filter: Option<&seccomp::CompiledFilter>,
    preserve_fds: u32,
    exec_fifo: Option<&OwnedFd>,
    old_mask: &SigSet,
    start_hooks: StartHooks,
) -> Result<std::convert::Infallible, Failure> {
    for rlimit in &process.rlimits {
        set_rlimit(&rlimit.kind, rlimit.soft, rlimit.hard)?;
    }

    // 7. Working directory, checked to be inside the new root.
    enter_cwd(&process.cwd)?;

    // 8. The terminal, if any: made in the container's own devpts, its master side sent to the parent.
    if process.terminal {
        attach_terminal(sync)?;
    }

    // 9. Find the program now, inside the container, so a typo is reported as such.
    let program = find_executable(&process.args[0], &process.env)?;

    // 10. What needs no privilege to undo comes before any filter: exec-time LSM labels, the bounding set
    // (CAP_SYS_ADMIN stays effective until the ids change) and marking every inherited fd close-on-exec
    // (CVE-2024-21626: a leaked host fd is a way out). A profile then never sees these calls.
    lsm::set_exec_labels(process.apparmor_profile.as_deref(), process.selinux_label.as_deref())?;
    capabilities::drop_bounding(&process.capabilities)?;
    crate::explain!(
        "close inherited file descriptors",
        "close_range(3, ~0, CLOSE_RANGE_CLOEXEC)",
        "a leaked host fd is a way out of the container (CVE-2024-21626)"
    );
    sys::cloexec_from(3 + preserve_fds as i32).map_err(|e| setup_failed("close_range", e))?;

    // 11. Without no_new_privs the kernel installs a seccomp filter only for a holder of CAP_SYS_ADMIN, so
    // then the filter goes in now, while we hold it — and the profile must allow what applying the
    // process's user and capabilities takes (prctl, setgroups, setresgid, setresuid, capget, capset),
    // the ready message (sendmsg), the signal mask (rt_sigprocmask) and execve, as with runc.
    let nnp = process.no_new_privileges;
    if let Some(filter) = seccomp_filter.filter(|_| !nnp) {
        seccomp::load(filter)?;
    }
    set_identity(process)?;
    if let Some(mask) = process.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    capabilities::set_sets(&process.capabilities)?;
    if nnp {
        crate::explain!(
            "forbid gaining privileges",
            "prctl(PR_SET_NO_NEW_PRIVS, 1)",
            "setuid binaries and file capabilities can no longer raise privileges after execve"
        );
        nix::sys::prctl::set_no_new_privs().map_err(|e| setup_failed("prctl(PR_SET_NO_NEW_PRIVS)", e))?;
    }

    // 12. Tell the parent we are ready, restore the signal mask, and become the container's program.
    send_message(sync, &Message::Ready).map_err(|e| setup_failed("telling the parent we are ready", e))?;
    let started = exec_fifo.map(wait_for_start).transpose()?;
    // Between start's open and our byte: `start` (and its poststart hooks) waits for these to finish.
    if !start_hooks.hooks.is_empty() {
        hooks::run("startContainer", start_hooks.hooks, &hook_input(start_hooks.state, Status::Created))?;
    }
    crate::explain!(
        format!("execute {}", process.args.join(" ")),
        format!("execve({})", program.display()),
        "the process keeps its pid, namespaces, cgroup and root: it *is* the container now"
    );
    let exec_args = ExecArgs::new(&program, &process.args, &process.env)?;
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(old_mask), None).map_err(|e| setup_failed("sigprocmask", e))?;
    // With no_new_privs any process may install a filter: last of all, so that the profile sees nothing of
    // ours but execve (and, after `create`, the one write that tells `start` we go).
    if let Some(filter) = seccomp_filter.filter(|_| nnp) {
        seccomp::load(filter)?;
    }
    if let Some(mut started) = started {
        use std::io::Write;
        started.write_all(b"0").map_err(|e| setup_failed("write the exec FIFO", e))?;
        // Not closed: it is close-on-exec, and a close would be one more call for the profile to allow.
        std::mem::forget(started);
    }
    exec_args.exec()
}

/// The create/start split: reopen the exec FIFO for writing — `open(2)` blocks until `containy start` opens
/// it for reading. The caller then writes one byte, start's signal that we are about to `execve`. A process
/// waiting here costs nothing: no polling, no timer.
fn wait_for_start(fifo: &OwnedFd) -> Result<File, Failure> {
    crate::explain!(
        "wait for `containy start`",
        "open(exec.fifo, O_WRONLY) blocks until a reader opens it",
        "create sets everything up; the program itself runs only when someone asks"
    );
    let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fifo));
    std::fs::OpenOptions::new().write(true).open(&path).map_err(|e| setup_failed("open the exec FIFO", e))
}

/// Open a new pty in the container's `/dev/pts` (through `/dev/ptmx`), pass the master to the parent
/// with `SCM_RIGHTS`, and make the subordinate side our stdin/stdout/stderr and controlling terminal.
fn attach_terminal(sync: &OwnedFd) -> Result<(), Failure> {
    use nix::fcntl::OFlag;
    crate::explain!(
        "create the container's terminal",
        "open(/dev/ptmx) in its devpts; sendmsg(SCM_RIGHTS, master); dup2(pty, 0/1/2); ioctl(TIOCSCTTY)",
        "the shell gets a real terminal (job control, line editing) that exists inside the container; containy relays it"
    );
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| setup_failed("open /dev/ptmx", e))?;
    nix::pty::grantpt(&master).map_err(|e| setup_failed("grantpt", e))?;
    nix::pty::unlockpt(&master).map_err(|e| setup_failed("unlockpt", e))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| setup_failed("ptsname", e))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| setup_failed(&format!("open {name}"), e))?;
    let master: OwnedFd = master.into();
    send_message(sync, &Message::Pty(master)).map_err(|e| setup_failed("sending the terminal to the parent", e))?;
    nix::unistd::dup2_stdin(&slave).map_err(|e| setup_failed("dup2 of the terminal", e))?;
    nix::unistd::dup2_stdout(&slave).map_err(|e| setup_failed("dup2 of the terminal", e))?;
    nix::unistd::dup2_stderr(&slave).map_err(|e| setup_failed("dup2 of the terminal", e))?;
    sys::set_controlling_terminal(slave.as_fd()).map_err(|e| setup_failed("TIOCSCTTY", e))
}

/// A time namespace with shifted clocks: `unshare(CLONE_NEWTIME)` makes one for our *children*, its offsets can
/// be written only until a process is in it — so now — and then we step into it ourselves with `setns`.
fn enter_time_namespace(offsets: &[crate::plan::TimeOffset]) -> Result<(), Failure> {
    let text: String = offsets.iter().map(|o| format!("{} {} {}\n", o.clock, o.secs, o.nanos)).collect();
    crate::explain!(
        "create the time namespace and shift its clocks",
        format!("unshare(CLONE_NEWTIME); write {:?} to /proc/self/timens_offsets", text.trim_end()),
        "CLOCK_MONOTONIC and CLOCK_BOOTTIME read differently inside; then setns(time_for_children) steps in"
    );
    let time = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
    nix::sched::unshare(time).map_err(|e| setup_failed("unshare(CLONE_NEWTIME)", e))?;
    std::fs::write("/proc/self/timens_offsets", text)
        .map_err(|e| setup_failed("write /proc/self/timens_offsets", e))?;
    // Not every kernel moves an execve into time_for_children (Debian's 6.1 does not): enter it now.
    let ns = File::open("/proc/self/ns/time_for_children")
        .map_err(|e| setup_failed("open /proc/self/ns/time_for_children", e))?;
    nix::sched::setns(ns, time).map_err(|e| setup_failed("setns(time_for_children)", e))
}

/// `net.ipv4.ip_forward = 1` is a write of `1` to `/proc/sys/net/ipv4/ip_forward` — of the container's own
/// namespace, since the plan only holds namespaced keys.
fn write_sysctls(sysctl: &[(String, String)]) -> Result<(), Failure> {
    for (key, value) in sysctl {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        crate::explain!(
            format!("sysctl {key} = {value}"),
            format!("write {path}"),
            "a kernel parameter of one of the container's own namespaces"
        );
        std::fs::write(&path, value).map_err(|e| setup_failed(&format!("sysctl {key} (write {path})"), e))?;
    }
    Ok(())
}

fn set_domainname(domain: &str) -> Result<(), Failure> {
    crate::explain!(
        format!("set the NIS domain name to {domain:?}"),
        "write /proc/sys/kernel/domainname",
        "the domain name lives in the UTS namespace too"
    );
    std::fs::write("/proc/sys/kernel/domainname", domain).map_err(|e| setup_failed("setdomainname", e))
}

fn set_rlimit(kind: &str, soft: u64, hard: u64) -> Result<(), Failure> {
    use nix::sys::resource::{Resource, setrlimit};
    let resource = match kind {
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        other => return Err(Failure::Setup(format!("unknown rlimit {other}"))),
    };
    crate::explain!(
        format!("{kind} = {soft}/{hard}"),
        "setrlimit(2)",
        "a per-process limit, inherited by everything the container starts"
    );
    setrlimit(resource, soft, hard).map_err(|e| {
        let hint = if e == nix::errno::Errno::EPERM {
            " (raising a hard limit above containy's own needs CAP_SYS_RESOURCE)"
        } else {
            ""
        };
        Failure::Setup(format!("setrlimit({kind}, {soft}, {hard}): {e}{hint}"))
    })
}

/// `chdir` into the configured directory (creating it, as runc does) and make sure it is inside the root:
/// `getcwd` reports `(unreachable)` for a directory outside it (e.g. through a leaked fd).
fn enter_cwd(cwd: &Path) -> Result<(), Failure> {
    crate::explain!(
        format!("change to {}", cwd.display()),
        "chdir(2), then getcwd(2) to verify",
        "the working directory must be inside the new root, never a leaked host directory"
    );
    if let Err(nix::errno::Errno::ENOENT) = nix::unistd::chdir(cwd) {
        std::fs::create_dir_all(cwd).map_err(|e| setup_failed(&format!("mkdir cwd {}", cwd.display()), e))?;
    }
    nix::unistd::chdir(cwd).map_err(|e| setup_failed(&format!("chdir to cwd {}", cwd.display()), e))?;
    let now = nix::unistd::getcwd().map_err(|e| setup_failed(&format!("cwd {}", cwd.display()), e))?;
    if !now.is_absolute() {
        return Err(Failure::Setup(format!("cwd {} is outside the container's root filesystem", cwd.display())));
    }
    Ok(())
}

fn set_identity(p: &Process) -> Result<(), Failure> {
    crate::explain!(
        format!("become uid {} gid {} (groups {:?})", p.uid, p.gid, p.additional_gids),
        "setgroups(2), setresgid(2), setresuid(2) with PR_SET_KEEPCAPS",
        "ids change before the capability sets are final, keeping the permitted set across setuid"
    );
    nix::sys::prctl::set_keepcaps(true).map_err(|e| setup_failed("prctl(PR_SET_KEEPCAPS)", e))?;
    let groups: Vec<Gid> = p.additional_gids.iter().map(|g| Gid::from_raw(*g)).collect();
    // Inside a user namespace with setgroups denied this fails; then there are no groups to drop anyway.
    if let Err(e) = nix::unistd::setgroups(&groups)
        && !(e == nix::errno::Errno::EPERM && groups.is_empty())
    {
        return Err(setup_failed("setgroups", e));
    }
    let gid = Gid::from_raw(p.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| setup_failed(&format!("setresgid({})", p.gid), e))?;
    let uid = Uid::from_raw(p.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| setup_failed(&format!("setresuid({})", p.uid), e))?;
    nix::sys::prctl::set_keepcaps(false).map_err(|e| setup_failed("prctl(PR_SET_KEEPCAPS)", e))?;
    Ok(())
}

/// `PATH` lookup the way `execvp` does it, but with the container's environment and reported errors.
fn find_executable(name: &str, env: &[String]) -> Result<PathBuf, Failure> {
    let is_exec = |p: &Path| {
        nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok() && p.metadata().is_ok_and(|m| m.is_file())
    };
    if name.contains('/') {
        let path = PathBuf::from(name);
        return match path.metadata() {
            Err(_) => Err(Failure::Exec(127, format!("exec {name:?}: no such file or directory"))),
            Ok(m) if m.is_dir() => Err(Failure::Exec(126, format!("exec {name:?}: is a directory"))),
            Ok(_) if !is_exec(&path) => Err(Failure::Exec(126, format!("exec {name:?}: permission denied"))),
            Ok(_) => Ok(path),
        };
    }
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path_var
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(name))
        .find(|p| is_exec(p))
        .ok_or_else(|| Failure::Exec(127, format!("exec {name:?}: executable file not found in $PATH")))
}

/// The `execve` arguments, built (allocated) before the seccomp filter goes in: after it, nothing but
/// the call itself should run.
struct ExecArgs {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl ExecArgs {
    fn new(program: &Path, args: &[String], env: &[String]) -> Result<ExecArgs, Failure> {
        let cstr = |s: &[u8]| CString::new(s).map_err(|_| Failure::Setup("argument contains a NUL byte".into()));
        Ok(ExecArgs {
            path: cstr(program.as_os_str().as_bytes())?,
            argv: args.iter().map(|a| cstr(a.as_bytes())).collect::<Result<Vec<_>, _>>()?,
            envp: env.iter().map(|e| cstr(e.as_bytes())).collect::<Result<Vec<_>, _>>()?,
        })
    }

    fn exec(&self) -> Result<std::convert::Infallible, Failure> {
        let err = nix::unistd::execve(&self.path, &self.argv, &self.envp).unwrap_err();
        let code = if err == nix::errno::Errno::ENOENT { 127 } else { 126 };
        Err(Failure::Exec(code, format!("exec {:?}: {}", self.path, err.desc().to_lowercase())))
    }
}
