//! The container's side: everything between `clone3` and `execve`, in order. Start reading here.
//!
//! This code runs in the cloned child, already inside its new namespaces, as a copy of the parent's memory
//! (no re-exec). It waits until the parent has mapped its ids, then builds the container from the inside.
//! Each step is one call into the module of its mechanism, numbered as in `steps.rs` (and `--explain`, and
//! docs/architecture.md), and each needs the ones before it: mounts need the mount namespace, masking needs the
//! pivot, sysctls need the container's `/proc` and must come before `/proc/sys` is sealed, dropping capabilities
//! waits until everything that needs them (mounts, `setgroups`, `setuid`) is done, and the seccomp filter comes
//! last of all — or, without `no_new_privs`, just before the capabilities go, since loading it then needs them.
//! Any error is sent to the parent as text and the child exits; the parent prints it and cleans up.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};

use super::hooks;
use super::spawn::ChildEnd;
use super::state::Status;
use super::steps::begin;
use super::sync::{Message, recv_message, send_message};
use crate::plan::{Hook, Namespace, NamespaceSpec, Plan, Process};
use crate::{capabilities, cgroups, lsm, namespaces, process, rootfs, seccomp, sys, sysctl};

/// Everything the child needs, prepared by the parent before `clone3`.
pub struct ChildContext<'a> {
    pub plan: &'a Plan,
    /// The namespaces as they are entered: the Plan's, with `container:ID` networking resolved to the other
    /// container's namespace (a host-side fact the Plan itself never holds).
    pub namespaces: Vec<NamespaceSpec>,
    pub mounts: rootfs::MountPlan,
    pub rootfs: PathBuf,
    pub joined: Vec<(Namespace, PathBuf, File)>,
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
pub fn child_main(ctx: ChildContext, end: ChildEnd) -> ! {
    // The sealed view's mount (`sealed_exe.rs`) opens the directory containy lives in: the container's init
    // must not hold it while the container's processes could look at its descriptors.
    drop(super::sealed_exe::inherited_view());
    let sync = end.sync.try_clone();
    finish(sync.ok(), setup_and_exec(ctx, end))
}

/// Only reached when setup or `execve` failed: tell the parent why, and exit.
pub(super) fn finish(sync: Option<OwnedFd>, result: Result<std::convert::Infallible, Failure>) -> ! {
    let (message, code) = match result {
        Err(Failure::Setup(text)) => (Message::Error(text), 1),
        Err(Failure::Exec(code, text)) => (Message::Exec(code, text), code as i32),
    };
    if let Some(sync) = sync {
        let _ = send_message(&sync, &message);
    }
    sys::exit_now(code)
}

pub(super) enum Failure {
    Setup(String),
    Exec(u8, String),
}

impl<E: std::error::Error + 'static> From<E> for Failure {
    /// The whole chain, `outer: inner: innermost`, each cause once.
    fn from(e: E) -> Self {
        Failure::Setup(crate::error::chain(&e))
    }
}

/// A program that cannot be executed keeps its exit code (126/127) on the way to the parent.
fn from_process(e: process::ProcessError) -> Failure {
    match e {
        process::ProcessError::NotExecutable { code, message } => Failure::Exec(code, message),
        other => Failure::from(other),
    }
}

pub(super) fn setup_failed(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::Setup(format!("{what}: {e}"))
}

fn setup_and_exec(ctx: ChildContext, end: ChildEnd) -> Result<std::convert::Infallible, Failure> {
    let plan = ctx.plan;
    let sync = &end.sync;

    // Until the parent has written our id maps we are nobody: wait for Go (and the state our hooks read).
    let hook_state = wait_for_go(sync)?;

    begin(9)?;
    cgroups::enter_tasks(&ctx.cgroup_tasks)?;
    if namespaces::creates(&ctx.namespaces, Namespace::User) {
        process::become_namespace_root().map_err(from_process)?;
    }
    process::new_session().map_err(from_process)?;

    begin(10)?;
    namespaces::join(ctx.joined)?;
    if namespaces::creates(&ctx.namespaces, Namespace::Cgroup) {
        namespaces::create_cgroup_namespace()?;
    }
    if !plan.time_offsets.is_empty() {
        namespaces::enter_time_namespace(&plan.time_offsets)?;
    }

    begin(11)?;
    namespaces::set_names(plan.hostname.as_deref(), plan.domainname.as_deref())?;
    if namespaces::creates(&ctx.namespaces, Namespace::Network) {
        namespaces::bring_loopback_up()?;
    }

    begin(12)?;
    let mount_ctx = rootfs::Context {
        rootfs: &ctx.rootfs,
        // A new one, or one containy already runs in (rootless build, podman rootless).
        user_ns: ctx.namespaces.iter().any(|n| n.kind == Namespace::User) || !crate::sys::in_initial_user_namespace(),
        cgroup_ns: ctx.namespaces.iter().any(|n| n.kind == Namespace::Cgroup),
    };
    rootfs::apply(&ctx.mounts.before_pivot, &mount_ctx)?;

    begin(13)?;
    run_create_hooks(plan, sync, hook_state.as_deref())?;

    begin(14)?;
    ctx.mounts.switch.apply(&ctx.rootfs)?;

    begin(15)?;
    sysctl::write_all(&plan.sysctl)?;

    begin(16)?;
    rootfs::apply(&ctx.mounts.after_pivot, &mount_ctx)?;

    begin(17)?;
    if let Some(domain) = plan.personality {
        process::set_personality(domain).map_err(from_process)?;
    }
    if let Some(adj) = plan.process.oom_score_adj {
        process::set_oom_score_adj(adj).map_err(from_process)?;
    }
    // limits.file_size and limits.open_files (runtime/limits.rs checked they do not clash with process.rlimits).
    let limit_rlimits: Vec<crate::plan::Rlimit> = plan
        .limits
        .rlimits()
        .into_iter()
        .map(|(kind, value)| crate::plan::Rlimit { kind: kind.to_string(), soft: value, hard: value })
        .collect();
    process::set_rlimits(&limit_rlimits).map_err(from_process)?;
    let start_hooks = StartHooks { hooks: &plan.hooks.start_container, state: hook_state.as_deref() };
    become_process(
        &plan.process,
        sync,
        ctx.seccomp.as_ref(),
        ctx.preserve_fds,
        ctx.exec_fifo.as_ref(),
        &end.old_mask,
        start_hooks,
    )
}

/// Block until the parent says Go; before it, it may send the state JSON the container's own hooks read.
pub(super) fn wait_for_go(sync: &OwnedFd) -> Result<Option<String>, Failure> {
    let mut hook_state = None;
    loop {
        match recv_message(sync).map_err(|e| setup_failed("waiting for the parent", e))? {
            Some(Message::State(json)) => hook_state = Some(json),
            Some(Message::Go) => return Ok(hook_state),
            other => return Err(Failure::Setup(format!("unexpected message from the parent: {other:?}"))),
        }
    }
}

/// The hooks of the create step, at the one moment the spec gives them: the container's mounts exist,
/// `pivot_root` has not happened (so host paths still resolve). prestart/createRuntime run in the parent,
/// in the runtime's namespaces: ask for them and wait. createContainer runs here, in ours.
fn run_create_hooks(plan: &Plan, sync: &OwnedFd, state: Option<&str>) -> Result<(), Failure> {
    let hooks = &plan.hooks;
    if !hooks.prestart.is_empty() || !hooks.create_runtime.is_empty() {
        send_message(sync, &Message::Hooks).map_err(|e| setup_failed("asking the parent to run hooks", e))?;
        wait_for_go(sync)?;
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

/// Steps 17–25, shared with `exec`: from a process inside the container's namespaces and root to the
/// configured program.
pub(super) fn become_process(
    p: &Process,
    sync: &OwnedFd,
    seccomp_filter: Option<&seccomp::CompiledFilter>,
    preserve_fds: u32,
    exec_fifo: Option<&OwnedFd>,
    old_mask: &SigSet,
    start_hooks: StartHooks,
) -> Result<std::convert::Infallible, Failure> {
    begin(17)?;
    process::set_rlimits(&p.rlimits).map_err(from_process)?;

    begin(18)?;
    rootfs::enter_cwd(&p.cwd)?;

    if p.terminal {
        begin(19)?;
        let master = process::open_terminal().map_err(from_process)?;
        send_message(sync, &Message::Pty(master)).map_err(|e| setup_failed("send the terminal to the parent", e))?;
    }

    begin(20)?;
    let program = process::find_executable(&p.args[0], &p.env).map_err(from_process)?;
    // Built now: after the seccomp filter nothing but execve (and the one FIFO write after `create`) may run.
    let program = process::Program::prepare(&program, &p.args, &p.env).map_err(from_process)?;

    // What needs no privilege to undo comes before any filter, so a profile never sees it: exec-time LSM labels,
    // the bounding set (CAP_SYS_ADMIN stays effective until the ids change) and every inherited fd marked
    // close-on-exec (CVE-2024-21626: a leaked host fd is a way out).
    begin(21)?;
    // Rust ignores SIGPIPE, and an ignored signal stays ignored across execve: the program gets the default
    // back (`yes | head` must end), before any filter could refuse the rt_sigaction.
    crate::sys::default_sigpipe().map_err(|e| setup_failed("signal(SIGPIPE, SIG_DFL)", e))?;
    lsm::set_exec_labels(p.apparmor_profile.as_deref(), p.selinux_label.as_deref())?;
    capabilities::drop_bounding(&p.capabilities)?;

    begin(22)?;
    crate::explain!(
        "close inherited file descriptors",
        "close_range(3, ~0, CLOSE_RANGE_CLOEXEC)",
        "a leaked host fd is a way out of the container (CVE-2024-21626)"
    );
    sys::cloexec_from(3 + preserve_fds as i32).map_err(|e| setup_failed("close_range(CLOSE_RANGE_CLOEXEC)", e))?;

    // Without no_new_privs the kernel installs a seccomp filter only for a holder of CAP_SYS_ADMIN, so then the
    // filter goes in now, while it is held — and the profile must allow what applying the user and capabilities
    // takes (prctl, setgroups, setresgid, setresuid, capget, capset), the Ready message (sendmsg), the signal
    // mask (rt_sigprocmask) and execve, as with runc.
    begin(23)?;
    let nnp = p.no_new_privileges;
    if let Some(filter) = seccomp_filter.filter(|_| !nnp) {
        seccomp::load(filter)?;
    }
    process::set_identity(p).map_err(from_process)?;
    capabilities::set_sets(&p.capabilities)?;
    if nnp {
        capabilities::set_no_new_privs()?;
    }

    begin(24)?;
    send_message(sync, &Message::Ready).map_err(|e| setup_failed("tell the parent we are ready", e))?;
    let started = exec_fifo.map(wait_for_start).transpose()?;
    // Between start's open and our byte: `start` (and its poststart hooks) waits for these to finish.
    if !start_hooks.hooks.is_empty() {
        hooks::run("startContainer", start_hooks.hooks, &hook_input(start_hooks.state, Status::Created))?;
    }

    begin(25)?;
    crate::explain!(
        format!("execute {}", p.args.join(" ")),
        format!("execve({})", program.path().display()),
        "the process keeps its pid, namespaces, cgroup and root: it *is* the container now"
    );
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(old_mask), None).map_err(|e| setup_failed("sigprocmask", e))?;
    // With no_new_privs any process may install a filter: last of all, so the profile sees nothing of ours but
    // execve (and, after `create`, the one write that tells `start` we go).
    if let Some(filter) = seccomp_filter.filter(|_| nnp) {
        seccomp::load(filter)?;
    }
    if let Some(mut started) = started {
        use std::io::Write;
        started.write_all(b"0").map_err(|e| setup_failed("write the exec FIFO", e))?;
        // Not closed: it is close-on-exec, and a close would be one more call for the profile to allow.
        std::mem::forget(started);
    }
    Err(from_process(program.execute()))
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
