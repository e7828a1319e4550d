//! The host side of `run`: prepare everything that can fail before cloning (including compiling the seccomp
//! filter), clone, finish the child's setup from outside (id maps, cgroup), then supervise it and clean up —
//! whatever happens.
//!
//! Everything the container takes is owned by a [`Resources`] guard whose `Drop` gives it back (cgroup
//! directories, the state directory with the rootfs mount point and upper dir), so an error at any step,
//! a child that fails halfway, or a signal to containy all end in the same cleanup.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::init::{ChildContext, child_main};
use super::limits::{self, Limiter, OutputPipes};
use super::spawn::{self, Spawned};
use super::state::{self, State, Status};
use super::steps::begin;
use super::sync::{Message, send_message};
use super::{Exit, RunOptions, RuntimeError};
use super::{hooks, io, result};
use crate::cgroups::{self, Cgroup, Layout};
use crate::network;
use crate::plan::{Mount, Namespace, NamespaceSpec, Network, Plan, PortMapping, RootfsMode, RootfsSource, ValidPlan};
use crate::rootfs::{self, CgroupMount, RootPaths};
use crate::{capabilities, image, namespaces, seccomp};

/// What a running container holds on the host; dropping it gives everything back.
struct Resources {
    state_dir: PathBuf,
    cgroup: Option<Cgroup>,
    child: Option<Pid>,
    /// Set once `create` has handed the container over: from then on `delete` gives everything back.
    keep: bool,
    /// The state the poststop hooks read once everything is given back (`None`: no hooks, or not yet).
    poststop: Option<State>,
}

impl Drop for Resources {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Some(pid) = self.child.take() {
            // Only reached on an error path: the child must not outlive containy.
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        if let Err(e) = super::container::teardown(&self.state_dir, self.cgroup.take(), self.poststop.as_ref()) {
            eprintln!("containy: warning: {}", crate::error::chain(&e));
        }
    }
}

/// A container whose process exists, sits in its cgroup, is fully set up and waits: either to `execve`
/// at once (`run`) or on its exec FIFO until `start` (`create`).
struct Prepared {
    spawned: Spawned,
    held: Resources,
    state: State,
    pty_master: Option<OwnedFd>,
    /// The container's stdout/stderr pipes, when its output is capped (`limits.rs`).
    output: Option<OutputPipes>,
}

/// Run a container to completion and return how it ended; with `opts.result`, a failure is recorded too.
pub fn run(plan: &ValidPlan, opts: &RunOptions) -> Result<Exit, RuntimeError> {
    let exit = run_supervised(plan, opts);
    if let (Err(e), Some(path)) = (&exit, &opts.result) {
        result::write_failure(path, e);
    }
    exit
}

fn run_supervised(plan: &ValidPlan, opts: &RunOptions) -> Result<Exit, RuntimeError> {
    let Prepared { spawned, mut held, state, pty_master, output } = prepare(plan, opts, false)?;
    // The sealed view's mount, if our previous image left it to us: closed now, while the program runs.
    drop(super::sealed_exe::inherited_view());
    // 26. Running: the limits' clocks start with the program; record it, run the poststart hooks, supervise
    // (terminal, signals, limits) until the end.
    let watched = !plan.limits.is_empty() || opts.result.is_some();
    let mut limiter = match &held.cgroup {
        Some(cgroup) if watched => Some(Limiter::start(&plan.limits, cgroup, output)?),
        _ => None,
    };
    let state = State { status: Status::Running, ..state };
    record(&state, &held.state_dir, opts)?;
    hooks::run_warning_only("poststart", &plan.hooks.poststart, &state.hook_input(Status::Running));
    let Spawned { pid: child, sync, handled, mask: _restore } = spawned;
    let outcome = io::supervise_limited(child, child, &handled, sync, pty_master, limiter.as_mut())?;
    held.child = None;
    let oom = held.cgroup.as_ref().filter(|c| c.oom_kills() > 0).map(Cgroup::memory_limit);
    if let (Some(limiter), Some(cgroup), None) = (&limiter, &held.cgroup, &outcome.exec_error) {
        result::conclude(plan, opts.result.as_deref(), &outcome.status, limiter.observed(), cgroup)?;
    }
    drop(limiter);
    drop(held);
    if let Some((code, text)) = outcome.exec_error {
        return Err(RuntimeError::Exec { code, text });
    }
    Ok(Exit::from_wait(outcome.status, oom))
}

/// `create`: set the container up and leave its process waiting on the exec FIFO; containy exits and the
/// process lives on (an engine's subreaper, such as conmon, becomes its parent). With a terminal the pty's
/// master side is sent to `console_socket`.
pub fn create(plan: &ValidPlan, opts: &RunOptions, console_socket: Option<&Path>) -> Result<(), RuntimeError> {
    if plan.process.terminal && console_socket.is_none() {
        return Err(RuntimeError::Usage(
            "the container has a terminal but nobody to hand it to: pass --console-socket, or set terminal to false",
        ));
    }
    let Prepared { mut held, state, pty_master, .. } = prepare(plan, opts, true)?;
    // 26. Created: the process waits on its exec FIFO; `start` lets it go.
    if let (Some(master), Some(socket)) = (pty_master, console_socket) {
        io::send_console(socket, master)?;
    }
    record(&state, &held.state_dir, opts)?;
    held.keep = true;
    Ok(())
}

/// Steps 1–8 and the parent's side of 9–25: everything up to a container process that is ready, with its
/// state (and its Plan) written.
fn prepare(plan: &ValidPlan, opts: &RunOptions, detached: bool) -> Result<Prepared, RuntimeError> {
    begin(1)?;
    super::sealed_exe::require_sealed()?;
    capabilities::validate(&plan.process.capabilities)?;
    limits::check(plan, detached && !opts.supervisor)?;
    // The seccomp filter is compiled here, before clone: the child only hands the program to the kernel.
    let seccomp_filter =
        plan.process.seccomp.as_ref().map(|s| seccomp::compile_cached(s, &opts.seccomp_cache)).transpose()?;
    // An image's layers cannot be pruned from under the container between this check and its mounts (a prune
    // waits for the store's lock, then finds the layers mounted).
    let layers_held = match &plan.rootfs.source {
        RootfsSource::Layers(layers) => image::store::hold_layers(layers),
        _ => None,
    };
    let (base, layers) = resolve_base(plan, opts)?;
    let rel = cgroups::relative_path(plan.cgroups_path.as_deref(), &opts.id)?;

    begin(2)?;
    let state_dir = state::create_dir(&opts.root, &opts.id)?;
    crate::explain!(
        format!("create the state directory for {:?}", opts.id),
        format!("mkdir {}", state_dir.display()),
        "one atomic mkdir: of two runs with the same id, exactly one wins"
    );
    let mut held = Resources { state_dir: state_dir.clone(), cgroup: None, child: None, keep: false, poststop: None };
    // The state (status creating) is the record everything taken later is added to, so it comes first — with
    // the cgroup's path, so that if containy dies while making its directories `delete` still finds them.
    let state = State {
        oci_version: super::OCI_VERSION.into(),
        id: opts.id.clone(),
        status: Status::Creating,
        pid: 0,
        bundle: plan.bundle.clone(),
        rootfs: state_dir.join("rootfs"),
        cgroups: Vec::new(),
        cgroups_existing: Vec::new(),
        cgroup_path: Some(rel.clone()),
        start_time: 0,
        created: state::now_rfc3339(),
        annotations: plan.annotations.clone(),
        hooks: plan.hooks.clone(),
    };
    state.write(&state_dir)?;
    state::write_plan(&state_dir, plan)?;

    begin(3)?;
    let paths = root_paths(plan, &base, layers, &state_dir)?;
    if let RootfsMode::Split { editable } = &plan.rootfs.mode {
        rootfs::split::prepare(&base, &paths.rootfs, editable)?;
    }

    begin(4)?;
    let layout = cgroups::detect();
    crate::explain!(
        format!("create the cgroup {}", rel.display()),
        match &layout {
            Layout::V2 => "mkdir in /sys/fs/cgroup (v2, unified)".to_string(),
            Layout::V1 { .. } => "mkdir in each v1 hierarchy it needs".to_string(),
        },
        "limits are written before the process exists, so it never runs unlimited"
    );
    let cgroup = super::rootless::create_cgroup(&layout, &rel, &limits::cgroup_resources(plan), opts.strict_limits)?;
    if cgroup.is_none() {
        limits::check_without_cgroup(plan)?;
    }
    let state = State {
        cgroups: cgroup.as_ref().map(|c| c.dirs().to_vec()).unwrap_or_default(),
        cgroups_existing: cgroup.as_ref().map(|c| c.existing().to_vec()).unwrap_or_default(),
        ..state
    };
    held.cgroup = cgroup;
    state.write(&state_dir)?;

    // After state.json exists, so `delete --force` finds the container (and its network.json) whenever
    // containy dies from here on.
    begin(5)?;
    let host = prepare_network(plan, opts, &base, &mut held)?;

    begin(6)?;
    let cgroup_mount = cgroup_mount(&layout, held.cgroup.as_ref());
    let mounts = rootfs::plan_mounts(plan, &host.etc_mounts, &paths, &cgroup_mount);
    let joined = namespaces::open_joined(&host.namespaces)?;
    let exec_fifo = if detached { Some(make_exec_fifo(&state_dir)?) } else { None };

    begin(7)?;
    // A created container's output is its caller's (a supervisor caps it where it reads it).
    let mut output = if detached { None } else { OutputPipes::new(&plan.limits)? };
    // The cgroup namespace is created by the child once it is in its cgroup (v1 can only place it after the
    // clone); a time namespace's clocks can be shifted only before a process is in it, so the child unshares
    // it and writes the offsets itself. Neither is among the clone flags.
    let mut flags = namespaces::clone_flags(&host.namespaces);
    flags.remove(nix::sched::CloneFlags::CLONE_NEWCGROUP);
    flags.remove(nix::sched::CloneFlags::from_bits_retain(libc::CLONE_NEWTIME));
    let cgroup_dir = held.cgroup.as_ref().and_then(Cgroup::open_dir);
    let cgroup_tasks = match &held.cgroup {
        Some(cgroup) => cgroup.open_tasks()?,
        None => Vec::new(),
    };
    let context = ChildContext {
        plan,
        namespaces: host.namespaces.clone(),
        mounts,
        rootfs: paths.rootfs.clone(),
        joined,
        seccomp: seccomp_filter,
        exec_fifo,
        preserve_fds: opts.preserve_fds,
        cgroup_tasks,
    };
    let pipes = output.as_ref();
    // A PID or time namespace given by path holds only the *children* of whoever enters it: enter it here, so
    // the clone is born inside, and step back out right after.
    let for_children = namespaces::enter_for_children(&context.joined)?;
    let spawned = spawn::spawn(flags, cgroup_dir.as_ref().map(|f| f.as_fd()), |end| {
        if let Some(pipes) = pipes {
            pipes.attach_in_child();
        }
        child_main(context, end)
    });
    namespaces::leave_for_children(for_children)?;
    let spawned = spawned?;
    let child = spawned.pid;
    held.child = Some(child);
    if let Some(pipes) = &mut output {
        pipes.close_write_ends();
    }
    drop(cgroup_dir);

    begin(8)?;
    if namespaces::creates(&host.namespaces, Namespace::User) {
        super::rootless::write_id_maps(child, plan)?;
    }
    // The child's network namespace exists now; it waits for Go, so it never sees a half-made network.
    if let Some((attachment, ports)) = &host.attachment {
        network::connect(attachment, child.as_raw(), ports)?;
    }
    if let Network::Pasta { ports } = &plan.network {
        network::pasta::start(child.as_raw(), ports, &state_dir)?;
    }
    if !plan.net_devices.is_empty() {
        network::move_devices(&plan.net_devices, child.as_raw())?;
    }
    let state = State { pid: child.as_raw(), ..state };
    if !plan.hooks.poststop.is_empty() {
        held.poststop = Some(state.clone());
    }
    if !plan.hooks.create_container.is_empty() || !plan.hooks.start_container.is_empty() {
        let json = state.hook_input(Status::Created).to_string();
        send_message(&spawned.sync, &Message::State(json)).map_err(|e| RuntimeError::sys("send the state", e))?;
    }
    spawn::go(&spawned.sync)?;

    // 9–24 happen in the child; the parent answers its requests (13: the runtime-namespace hooks) until Ready.
    let ready = spawn::await_ready(&spawned.sync, spawn::Speakers::Process, || {
        // The spec's "created": the create operation's environment exists (runtime.md, lifecycle).
        let input = state.hook_input(Status::Created);
        hooks::run("prestart", &plan.hooks.prestart, &input)?;
        hooks::run("createRuntime", &plan.hooks.create_runtime, &input)?;
        Ok(())
    })?;
    drop(layers_held);

    // 26. The caller records the state it leaves the container in: `create` created, `run` running (one
    // write, not a `created` overwritten at once).
    begin(26)?;
    let state =
        State { status: Status::Created, start_time: state::process_start_time(child.as_raw()).unwrap_or(0), ..state };
    Ok(Prepared { spawned, held, state, pty_master: ready.pty_master, output })
}

/// Write the container's state, then the pid file: an engine that reads the pid file finds the state too.
fn record(state: &State, state_dir: &Path, opts: &RunOptions) -> Result<(), RuntimeError> {
    state.write(state_dir)?;
    match &opts.pid_file {
        Some(pid_file) => write_pid_file(pid_file, Pid::from_raw(state.pid)),
        None => Ok(()),
    }
}

/// How the cgroup filesystem appears inside: the v2 tree, or each v1 hierarchy with the container's dir in it.
fn cgroup_mount(layout: &Layout, cgroup: Option<&Cgroup>) -> CgroupMount {
    let dirs = cgroup.map(Cgroup::dirs).unwrap_or_default();
    match layout {
        Layout::V2 => CgroupMount::V2 { host_dir: dirs.first().map(|(_, d)| d.clone()) },
        Layout::V1 { hierarchies } => CgroupMount::V1(
            hierarchies
                .iter()
                .filter_map(|h| {
                    let host_dir = dirs.iter().find(|(_, d)| d.starts_with(&h.mount_point)).map(|(_, d)| d.clone());
                    Some(rootfs::V1Hierarchy {
                        name: h.mount_point.file_name()?.to_string_lossy().into_owned(),
                        controllers: h.controllers.join(","),
                        host_dir,
                    })
                })
                .collect(),
        ),
    }
}

/// What the host adds for one container, learned while it is set up — never written back into its Plan.
struct HostSetup {
    /// The namespaces as entered: the Plan's, with `container:ID` resolved to the other container's netns.
    namespaces: Vec<NamespaceSpec>,
    /// Bind mounts of the generated `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`.
    etc_mounts: Vec<Mount>,
    /// Bridge networking: the attachment to connect after clone, and the ports to publish.
    attachment: Option<(network::Attachment, Vec<PortMapping>)>,
}

/// Network steps before clone. Bridge: record + lease + `/etc` files (the attachment is returned for
/// `connect` after clone). `container:ID`: the namespace to join, found through the other container's state.
/// Every mode with generated files gets them bind-mounted over the image's `/etc/hosts`, `hostname` and
/// `resolv.conf` (where the container has no /etc of its own to make mount points in, only over those the image has).
fn prepare_network(
    plan: &Plan,
    opts: &RunOptions,
    base: &Path,
    held: &mut Resources,
) -> Result<HostSetup, RuntimeError> {
    let hostname = plan.hostname.clone().unwrap_or_else(|| opts.id.clone());
    let mut attachment = None;
    let mut namespaces = plan.namespaces.clone();
    let files = match plan.network.clone() {
        Network::Host => {
            crate::explain!(
                "share the host's network (network = \"host\")",
                "no CLONE_NEWNET: the container stays in containy's network namespace",
                "WARNING: the container sees every host interface, address, route and firewall rule; it can bind \
                 any free host port, reach every service listening on the host's 127.0.0.1 and abstract Unix \
                 sockets, and with CAP_NET_ADMIN or CAP_NET_RAW reconfigure or sniff the host's network"
            );
            plan.etc_files.then(|| network::etc_files(&held.state_dir, &hostname, false)).transpose()?
        }
        Network::None | Network::Pasta { .. } => {
            plan.etc_files.then(|| network::etc_files(&held.state_dir, &hostname, true)).transpose()?
        }
        Network::Bridge { network: name, ports } => {
            let (att, files) = network::prepare_bridge(&opts.root, &held.state_dir, &opts.id, &hostname, &name)?;
            attachment = Some((att, ports));
            plan.etc_files.then_some(files)
        }
        Network::Container(other) => {
            let target = super::container::Container::running(&opts.root, &other)?;
            let path = PathBuf::from(format!("/proc/{}/ns/net", target.state.pid));
            crate::explain!(
                format!("join the network namespace of container {other}"),
                format!("setns({}, CLONE_NEWNET)", path.display()),
                "containers of a pod share one network: the same interfaces, addresses and ports"
            );
            namespaces.retain(|ns| ns.kind != Namespace::Network);
            namespaces.push(NamespaceSpec { kind: Namespace::Network, path: Some(path) });
            namespaces.sort_by_key(|ns| ns.kind);
            // Its neighbours and name servers are the other container's.
            let mut files = network::etc_files(&held.state_dir, &hostname, true)?;
            for (host, inside) in &mut files {
                let theirs = target.dir.join("etc").join(host.file_name().unwrap_or_default());
                if inside.ends_with("hostname") || !theirs.exists() {
                    continue;
                }
                *host = theirs;
            }
            plan.etc_files.then_some(files)
        }
    };
    // A missing file needs a mount point made in the container's /etc. That is only allowed where the write
    // lands in the container's own copy (overlay upper dir, or an editable /etc in split mode) and root may
    // write there (in a user namespace host root owns the image's /etc): otherwise only the files the image
    // already has are covered, and the image is never written.
    let own_etc = match &plan.rootfs.mode {
        RootfsMode::Overlay => true,
        RootfsMode::Split { editable } => editable.iter().any(|e| e == "etc"),
        RootfsMode::Direct => false,
    };
    let may_create = own_etc && mapped_root(plan).is_none();
    let mut etc_mounts = Vec::new();
    for (source, destination) in files.into_iter().flatten() {
        let in_image = destination.strip_prefix("/").map(|rel| base.join(rel).symlink_metadata().is_ok());
        if !may_create && in_image != Ok(true) {
            continue;
        }
        etc_mounts.push(Mount {
            destination,
            fstype: "bind".into(),
            source,
            flags: libc::MS_BIND,
            propagation: Vec::new(),
            data: String::new(),
            copy_up: false,
            recursive: Default::default(),
        });
    }
    Ok(HostSetup { namespaces, etc_mounts, attachment })
}

/// The directory holding the base root filesystem: a directory as is, or a tarball extracted once; for an
/// image, its layers (top first) too.
fn resolve_base(plan: &Plan, opts: &RunOptions) -> Result<(PathBuf, Vec<PathBuf>), RuntimeError> {
    let base = match &plan.rootfs.source {
        RootfsSource::Directory(dir) => dir.clone(),
        RootfsSource::Image(name) => {
            return Err(RuntimeError::NoRootfs {
                path: PathBuf::from(name),
                hint: "the image was not looked up in the store (containy resolves rootfs.image before running)",
            });
        }
        RootfsSource::Layers(layers) => {
            if let Some(missing) = layers.iter().find(|l| !l.is_dir()) {
                return Err(RuntimeError::NoRootfs {
                    path: missing.clone(),
                    hint: "an image layer is missing from the store: import the image again",
                });
            }
            let Some(top) = layers.first() else {
                return Err(RuntimeError::Usage(
                    "an image's rootfs needs at least one layer (the store gives an empty one)",
                ));
            };
            return Ok((top.clone(), layers.clone()));
        }
        RootfsSource::Tarball(tarball) => {
            if !tarball.exists() {
                return Err(RuntimeError::NoRootfs {
                    path: tarball.clone(),
                    hint: "run 'make extract' to make the Debian base, or point rootfs.tarball at one",
                });
            }
            image::ensure_base(tarball, &opts.base_cache)?
        }
    };
    if !base.is_dir() {
        return Err(RuntimeError::NoRootfs {
            path: base,
            hint: "the rootfs must be a directory holding a root filesystem (run 'make extract' for the default bundle)",
        });
    }
    Ok((base, Vec::new()))
}

/// Where the root is assembled. Overlay writes go to the state dir (gone after exit) or, to keep them,
/// to `<bundle>/changes/`.
fn root_paths(plan: &Plan, base: &Path, layers: Vec<PathBuf>, state_dir: &Path) -> Result<RootPaths, RuntimeError> {
    let changes = if plan.rootfs.keep_changes && plan.rootfs.mode == RootfsMode::Overlay {
        plan.bundle.join("changes")
    } else {
        state_dir.to_path_buf()
    };
    let paths = RootPaths {
        base: base.to_path_buf(),
        layers,
        rootfs: state_dir.join("rootfs"),
        upper: changes.join("upper"),
        work: changes.join("work"),
    };
    let mut dirs = vec![&paths.rootfs];
    if plan.rootfs.mode == RootfsMode::Overlay {
        dirs.extend([&paths.upper, &paths.work]);
    }
    for dir in dirs {
        std::fs::create_dir_all(dir).map_err(|e| RuntimeError::io("mkdir", dir, e))?;
    }
    if let Some((uid, gid)) = mapped_root(plan) {
        // Root of a user namespace is an ordinary uid on the host: it must be able to reach its mount point
        // and write its upper dir.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(state_dir, std::fs::Permissions::from_mode(0o711))
            .map_err(|e| RuntimeError::io("chmod", state_dir, e))?;
        for dir in [&paths.rootfs, &paths.upper, &paths.work] {
            if dir.exists() {
                std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|e| RuntimeError::io("chown", dir, e))?;
            }
        }
    }
    Ok(paths)
}

/// The host uid and gid that root inside a new user namespace maps to, if the plan creates one.
fn mapped_root(plan: &Plan) -> Option<(u32, u32)> {
    if !namespaces::creates(&plan.namespaces, Namespace::User) {
        return None;
    }
    let host = |maps: &[crate::plan::IdMap]| maps.iter().find(|m| m.container_id == 0).map(|m| m.host_id);
    Some((host(&plan.uid_mappings)?, host(&plan.gid_mappings)?))
}

/// `<state>/exec.fifo`, and an `O_PATH` descriptor of it for the child: it reopens the FIFO for writing
/// from inside the container, which blocks until `start` opens it for reading.
fn make_exec_fifo(state_dir: &Path) -> Result<OwnedFd, RuntimeError> {
    let path = state_dir.join(super::container::EXEC_FIFO);
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .map_err(|e| RuntimeError::io("mkfifo", &path, e.into()))?;
    // The child reopens it after it became the configured user (uid 1000, say): the FIFO must be writable
    // for anyone (mode 0622, as runc makes it, despite the umask); the state directory stays closed, and
    // the child reaches the FIFO only through its own descriptor.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o622))
        .map_err(|e| RuntimeError::io("chmod", &path, e))?;
    nix::fcntl::open(&path, OFlag::O_PATH | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .map_err(|e| RuntimeError::io("open", &path, e.into()))
}

fn write_pid_file(path: &Path, pid: Pid) -> Result<(), RuntimeError> {
    let tmp = path.with_extension("containy-tmp");
    std::fs::write(&tmp, pid.to_string()).map_err(|e| RuntimeError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| RuntimeError::io("rename", path, e))
}
