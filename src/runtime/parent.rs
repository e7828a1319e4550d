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
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use super::init::{ChildContext, child_main};
use super::state::{self, State, Status};
use super::sync::{Message, recv_message, send_message};
use super::{Exit, RunOptions, RuntimeError};
use super::{hooks, io};
use crate::cgroups::{self, Cgroup, Layout};
use crate::network;
use crate::plan::{Mount, Namespace, Network, Plan, PortMapping, RootfsMode, RootfsSource};
use crate::rootfs::{self, CgroupMount, RootPaths};
use crate::{capabilities, image, namespaces, seccomp, sys, user_mapping};

/// What a running container holds on the host; dropping it gives everything back.
struct Resources {
    root: PathBuf,
    state_dir: PathBuf,
    /// The container may hold a network attachment (recorded in the state dir): release it.
    network: bool,
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
        if let Some(mut cgroup) = self.cgroup.take() {
            crate::explain!(
                "remove the cgroup",
                "kill what is left in cgroup.procs, then rmdir",
                "a container's processes and limits must not outlive it"
            );
            cgroup.kill_all();
            if let Err(e) = cgroup.remove() {
                eprintln!("containy: warning: {e}");
            }
        }
        if self.network
            && let Err(e) = crate::network::release(&self.root, &self.state_dir)
        {
            eprintln!("containy: warning: {e}");
        }
        crate::explain!(
            "remove the state directory",
            format!("rm -r {}", self.state_dir.display()),
            "the upper dir (the container's writes) and the rootfs mount point go with it"
        );
        if let Err(e) = std::fs::remove_dir_all(&self.state_dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("containy: warning: cannot remove {}: {e}", self.state_dir.display());
        }
        if let Some(state) = self.poststop.take() {
            hooks::run_warning_only("poststop", &state.hooks.poststop, &state.hook_input(Status::Stopped));
        }
    }
}

/// A container whose process exists, sits in its cgroup, is fully set up and waits: either to `execve`
/// at once (`run`) or on its exec FIFO until `start` (`create`).
struct Prepared {
    child: Pid,
    held: Resources,
    state: State,
    sync: OwnedFd,
    pty_master: Option<OwnedFd>,
    handled: SigSet,
    _restore: RestoreMask,
}

/// Run a container to completion and return how it ended.
pub fn run(plan: &Plan, opts: &RunOptions) -> Result<Exit, RuntimeError> {
    let Prepared { child, mut held, state, sync, pty_master, handled, _restore } = prepare(plan, opts, false)?;
    let state = State { status: Status::Running, ..state };
    state.write(&held.state_dir)?;
    hooks::run_warning_only("poststart", &plan.hooks.poststart, &state.hook_input(Status::Running));

    // Supervise: relay the terminal, forward signals, wait.
    let outcome = io::supervise(child, child, &handled, sync, pty_master)?;
    held.child = None;
    let oom_kills = held.cgroup.as_ref().map_or(0, Cgroup::oom_kills);
    let memory_limit = held.cgroup.as_ref().and_then(Cgroup::memory_limit);
    drop(held);

    if let Some((code, text)) = outcome.exec_error {
        return Err(RuntimeError::Exec { code, text });
    }
    Ok(match outcome.status {
        WaitStatus::Exited(_, code) => Exit::Code(code),
        WaitStatus::Signaled(_, sig, _) if sig == Signal::SIGKILL && oom_kills > 0 => {
            Exit::OomKilled { limit: memory_limit }
        }
        WaitStatus::Signaled(_, sig, _) => Exit::Signal(sig as i32),
        _ => Exit::Code(1),
    })
}

/// `create`: set the container up and leave its process waiting on the exec FIFO; containy exits and the
/// process lives on (an engine's subreaper, such as conmon, becomes its parent). With a terminal the pty's
/// master side is sent to `console_socket`.
pub fn create(plan: &Plan, opts: &RunOptions, console_socket: Option<&Path>) -> Result<(), RuntimeError> {
    if plan.process.terminal && console_socket.is_none() {
        return Err(RuntimeError::Usage(
            "the container has a terminal but nobody to hand it to: pass --console-socket, or set terminal to false",
        ));
    }
    let Prepared { mut held, state, pty_master, .. } = prepare(plan, opts, true)?;
    if let (Some(master), Some(socket)) = (pty_master, console_socket) {
        io::send_console(socket, master)?;
    }
    State { status: Status::Created, ..state }.write(&held.state_dir)?;
    held.keep = true;
    Ok(())
}

/// Steps 1–8: everything up to a container process that is ready, with its state written.
fn prepare(plan: &Plan, opts: &RunOptions, detached: bool) -> Result<Prepared, RuntimeError> {
    // 1. Everything that can be checked before any resource is taken.
    capabilities::validate(&plan.process.capabilities)?;
    // The seccomp filter is compiled here, before clone: the child only hands the program to the kernel.
    let seccomp_filter =
        plan.process.seccomp.as_ref().map(|s| seccomp::compile_cached(s, &opts.seccomp_cache)).transpose()?;
    let (base, layers) = resolve_base(plan, opts)?;

    let state_dir = state::create_dir(&opts.root, &opts.id)?;
    crate::explain!(
        format!("create the state directory for {:?}", opts.id),
        format!("mkdir {}", state_dir.display()),
        "one atomic mkdir: of two runs with the same id, exactly one wins"
    );
    let mut held = Resources {
        root: opts.root.clone(),
        state_dir: state_dir.clone(),
        network: false,
        cgroup: None,
        child: None,
        keep: false,
        poststop: None,
    };

    // 2. The root filesystem's host-side directories.
    let paths = root_paths(plan, &base, layers, &state_dir)?;
    if let RootfsMode::Split { editable } = &plan.rootfs.mode {
        rootfs::split::prepare(&base, &paths.rootfs, editable)?;
    }

    // 3. The cgroup, with every limit written before the container exists.
    let layout = cgroups::detect();
    let rel = cgroups::relative_path(plan.cgroups_path.as_deref(), &opts.id)?;
    crate::explain!(
        format!("create the cgroup {}", rel.display()),
        match &layout {
            Layout::V2 => "mkdir in /sys/fs/cgroup (v2, unified)".to_string(),
            Layout::V1 { .. } => "mkdir in each v1 hierarchy it needs".to_string(),
        },
        "limits are written before the process exists, so it never runs unlimited"
    );
    let cgroup = Cgroup::create(&layout, &rel, &plan.resources)?;
    let state = State {
        oci_version: super::OCI_VERSION.into(),
        id: opts.id.clone(),
        status: Status::Creating,
        pid: 0,
        bundle: plan.bundle.clone(),
        rootfs: paths.rootfs.clone(),
        cgroups: cgroup.dirs().to_vec(),
        cgroups_existing: cgroup.existing().to_vec(),
        start_time: 0,
        created: state::now_rfc3339(),
        annotations: plan.annotations.clone(),
        hooks: plan.hooks.clone(),
    };
    held.cgroup = Some(cgroup);
    state.write(&state_dir)?;

    // 3b. The network's host side: a lease and the container's /etc files (which become mounts), and for
    // `container:ID` the namespace to join. After state.json exists, so `delete --force` finds the container
    // (and its network.json) whenever containy dies from here on.
    let mut adjusted = plan.clone();
    let attachment = prepare_network(&mut adjusted, opts, &base, &mut held)?;
    let plan = &adjusted;

    // 4. The mount sequence, as data, and the namespaces to join, opened while paths are the host's.
    let cgroup_mount = match &layout {
        Layout::V2 => {
            CgroupMount::V2 { host_dir: held.cgroup.as_ref().and_then(|c| c.dirs().first()).map(|(_, d)| d.clone()) }
        }
        Layout::V1 { hierarchies } => CgroupMount::V1(
            hierarchies
                .iter()
                .filter_map(|h| {
                    let host_dir = held
                        .cgroup
                        .as_ref()
                        .and_then(|c| c.dirs().iter().find(|(_, d)| d.starts_with(&h.mount_point)))
                        .map(|(_, d)| d.clone());
                    Some(rootfs::V1Hierarchy {
                        name: h.mount_point.file_name()?.to_string_lossy().into_owned(),
                        controllers: h.controllers.join(","),
                        host_dir,
                    })
                })
                .collect(),
        ),
    };
    let mounts = rootfs::plan_mounts(plan, &paths, &cgroup_mount);
    let joined = namespaces::open_joined(&plan.namespaces)?;
    let exec_fifo = if detached { Some(make_exec_fifo(&state_dir)?) } else { None };

    // 5. Block the signals we handle *before* cloning: a fast child's SIGCHLD must not be lost.
    let (handled, old_mask) = io::block_handled_signals()?;
    let restore = RestoreMask(old_mask);

    let (parent_sock, child_sock) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| RuntimeError::sys("socketpair", e))?;

    // 6. Clone. The cgroup namespace is created by the child once it is in its cgroup (v1 can only place
    // it after the clone), so it is not among the clone flags.
    let mut flags = namespaces::clone_flags(&plan.namespaces);
    flags.remove(nix::sched::CloneFlags::CLONE_NEWCGROUP);
    if !plan.time_offsets.is_empty() {
        // A time namespace's clocks can be shifted only before a process is in it: the child unshares it
        // and writes the offsets itself, then steps into it with setns.
        flags.remove(nix::sched::CloneFlags::from_bits_retain(libc::CLONE_NEWTIME));
    }
    debug_assert_eq!(sys::thread_count(), Some(1), "containy must be single-threaded when it clones");
    let cgroup_dir = held.cgroup.as_ref().and_then(Cgroup::open_dir);
    let cgroup_tasks = match &held.cgroup {
        Some(cgroup) => cgroup.open_tasks()?,
        None => Vec::new(),
    };
    crate::explain!(
        "clone the container process",
        format!(
            "clone3({}{})",
            flags.iter_names().map(|(name, _)| name).collect::<Vec<_>>().join(" | "),
            if cgroup_dir.is_some() { " | CLONE_INTO_CGROUP" } else { "" }
        ),
        "one syscall creates the process and all its new namespaces at once"
    );
    // A PID or time namespace given by path holds only the *children* of whoever enters it: enter it here,
    // so the clone is born inside, and step back out right after.
    let for_children = namespaces::enter_for_children(&joined)?;
    let forked = sys::clone3(flags.bits() as u64, cgroup_dir.as_ref().map(|f| f.as_fd()))
        .map_err(|e| RuntimeError::Clone { flags: format!("{flags:?}"), source: e });
    if !matches!(forked, Ok(sys::Forked::Child)) {
        namespaces::leave_for_children(for_children)?;
    }
    let forked = forked?;
    let child = match forked {
        sys::Forked::Child => {
            drop(parent_sock);
            child_main(ChildContext {
                plan,
                sync: child_sock,
                mounts,
                rootfs: paths.rootfs.clone(),
                joined,
                old_mask,
                seccomp: seccomp_filter,
                exec_fifo,
                preserve_fds: opts.preserve_fds,
                cgroup_tasks,
            })
        }
        sys::Forked::Parent(pid) => pid,
    };
    held.child = Some(child);
    drop(child_sock);
    drop(joined);
    drop(exec_fifo);
    drop(cgroup_dir);
    drop(cgroup_tasks);

    // 7. Finish the child's setup from outside: its id maps.
    if namespaces::creates(&plan.namespaces, Namespace::User) {
        let deny_setgroups = !nix::unistd::geteuid().is_root();
        user_mapping::write_id_maps(child, &plan.uid_mappings, &plan.gid_mappings, deny_setgroups)?;
    }
    // The child's network namespace exists now; it waits for Go, so it never sees a half-made network.
    if let Some((attachment, ports)) = &attachment {
        network::connect(attachment, child.as_raw(), ports)?;
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
        send_message(&parent_sock, &Message::State(json)).map_err(|e| RuntimeError::sys("send the state", e))?;
    }
    send_message(&parent_sock, &Message::Go).map_err(|e| RuntimeError::sys("send Go to the child", e))?;

    // 8. Wait for the child to be ready (or to fail); with a terminal, its master side comes first.
    let mut pty_master = None;
    loop {
        match recv_message(&parent_sock).map_err(|e| RuntimeError::sys("recv from the child", e))? {
            Some(Message::Ready) => break,
            Some(Message::Hooks) => {
                // Mounts are made, pivot_root is next: the runtime-namespace hooks of the create step.
                // The spec's "created": the create operation's environment exists (runtime.md, lifecycle).
                let input = state.hook_input(Status::Created);
                hooks::run("prestart", &plan.hooks.prestart, &input)?;
                hooks::run("createRuntime", &plan.hooks.create_runtime, &input)?;
                send_message(&parent_sock, &Message::Go).map_err(|e| RuntimeError::sys("send Go to the child", e))?;
            }
            Some(Message::Pty(master)) => pty_master = Some(io::adopt_terminal(master)),
            Some(Message::Error(text)) => return Err(RuntimeError::Child(text)),
            Some(Message::Exec(code, text)) => return Err(RuntimeError::Exec { code, text }),
            other => {
                let status = nix::sys::wait::waitpid(child, None).ok();
                held.child = None;
                return Err(RuntimeError::Child(format!(
                    "the container process ended during setup ({status:?}, {other:?})"
                )));
            }
        }
    }
    let state =
        State { status: Status::Created, start_time: state::process_start_time(child.as_raw()).unwrap_or(0), ..state };
    state.write(&state_dir)?;
    if let Some(pid_file) = &opts.pid_file {
        write_pid_file(pid_file, child)?;
    }
    Ok(Prepared { child, held, state, sync: parent_sock, pty_master, handled, _restore: restore })
}

/// Network steps before clone. Bridge: record + lease + `/etc` files (the attachment is returned for
/// `connect` after clone). `container:ID`: the namespace to join, found through the other container's state.
/// Every mode with generated files gets them bind-mounted over the image's `/etc/hosts`, `hostname` and
/// `resolv.conf` (where the container has no /etc of its own to make mount points in, only over those the image has).
fn prepare_network(
    plan: &mut Plan,
    opts: &RunOptions,
    base: &Path,
    held: &mut Resources,
) -> Result<Option<(network::Attachment, Vec<PortMapping>)>, RuntimeError> {
    let hostname = plan.hostname.clone().unwrap_or_else(|| opts.id.clone());
    let mut attachment = None;
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
        Network::None => plan.etc_files.then(|| network::etc_files(&held.state_dir, &hostname, true)).transpose()?,
        Network::Bridge { network: name, ports } => {
            held.network = true;
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
            plan.namespaces.retain(|ns| ns.kind != Namespace::Network);
            plan.namespaces.push(crate::plan::NamespaceSpec { kind: Namespace::Network, path: Some(path) });
            plan.namespaces.sort_by_key(|ns| ns.kind);
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
    for (source, destination) in files.into_iter().flatten() {
        let in_image = destination.strip_prefix("/").map(|rel| base.join(rel).symlink_metadata().is_ok());
        if !may_create && in_image != Ok(true) {
            continue;
        }
        plan.mounts.push(Mount {
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
    Ok(attachment)
}

struct RestoreMask(SigSet);

impl Drop for RestoreMask {
    fn drop(&mut self) {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.0), None);
    }
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
            if plan.rootfs.mode != RootfsMode::Overlay {
                return Err(RuntimeError::Usage("an image's layers can only be used with rootfs mode = \"overlay\""));
            }
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
