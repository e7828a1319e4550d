//! The root filesystem: what the container sees at `/`, and how it is built in the mount namespace.
//!
//! Inside its own mount namespace the container gets a new tree: first `/` is made private (so nothing we
//! mount propagates back to the host), then the root itself is assembled — an **overlay** (the read-only
//! base as `lowerdir`, a per-container `upperdir` catching writes), a **split** root (small editable parts
//! copied, the rest bind-mounted read-only) or a **direct** bind of a directory. Then `/proc`, `/sys`, `/dev`
//! and the config's mounts go on top, each destination resolved *inside* the new root. Then `pivot_root(2)`
//! swaps the root and the old one is detached: unlike `chroot`, nothing of the host stays reachable. Only
//! after the pivot are paths container paths, so masking and read-only remounts come last.
//!
//! The sequence is data — a [`MountPlan`] computed by [`plan_mounts`], in two parts, before and after the
//! pivot — and [`apply`] is a plain loop over either part; [`pivot_root`] is the step between them. See `man 7 mount_namespaces`, `man 2 pivot_root`, `Documentation/filesystems/overlayfs.rst`.

mod copyup;
pub mod devices;
mod pivot;
pub use pivot::{enter_cwd, pivot_root};
pub mod resolve;
pub mod split;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::sys::stat::Mode;

use crate::error::IoError;
use crate::plan::{Mount, Plan, RootfsMode};
use resolve::{Leaf, ensure_in_root, fd_path};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("mount {what} on {target}{hint}")]
    Mount { what: String, target: PathBuf, source: Errno, hint: &'static str },
    #[error("cannot resolve {path} inside the container's root ({op})")]
    Resolve { path: PathBuf, op: &'static str, source: Errno },
    #[error("{path} must be mounted on an ordinary directory, but it is a symlink in the image")]
    SymlinkTarget { path: PathBuf },
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    #[error("{op} {path}")]
    Sys { op: &'static str, path: PathBuf, source: Errno },
    #[error(
        "{count} image layers do not fit in overlay's mount options ({bytes} bytes, one page at most): squash the \
         image into fewer layers"
    )]
    TooManyLayers { count: usize, bytes: usize },
    #[error("cwd {} is outside the container's root filesystem", path.display())]
    CwdOutside { path: PathBuf },
}

/// The host-side directories one container's root is built from.
#[derive(Debug, Clone)]
pub struct RootPaths {
    /// The directory the base image lives in (the overlay's lowerdir, the split's read-only part, or the
    /// directory used as is).
    pub base: PathBuf,
    /// overlay only: the read-only layers, top first; empty means `[base]`.
    pub layers: Vec<PathBuf>,
    /// The mount point that becomes `/` (under the state dir, or `base` itself in direct mode).
    pub rootfs: PathBuf,
    /// overlay only: where writes go, and overlay's scratch dir (same filesystem as upper).
    pub upper: PathBuf,
    pub work: PathBuf,
}

/// How `/sys/fs/cgroup` is mounted inside: the v2 tree, or each v1 hierarchy (`cpu`, `memory`, …).
#[derive(Debug, Clone, PartialEq)]
pub enum CgroupMount {
    /// The unified tree. `host_dir` is the container's own cgroup directory on the host, bind-mounted
    /// instead when the kernel refuses a cgroup2 mount (see `mount_cgroup`).
    V2 {
        host_dir: Option<PathBuf>,
    },
    V1(Vec<V1Hierarchy>),
}

/// One v1 hierarchy as the container sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct V1Hierarchy {
    /// The directory name under `/sys/fs/cgroup` (`memory`, `cpu,cpuacct`).
    pub name: String,
    /// The controllers, as the `cgroup` filesystem's mount options.
    pub controllers: String,
    /// The container's own cgroup directory on the host, if it has one in this hierarchy. Inside a user
    /// namespace v1 hierarchies cannot be mounted, so this directory is bind-mounted instead.
    pub host_dir: Option<PathBuf>,
}

/// One step of building the container's filesystem.
#[derive(Debug, Clone, PartialEq)]
pub enum MountOp {
    /// `mount("", "/", MS_REC|MS_PRIVATE)` (or `MS_SLAVE`): cut propagation to the host.
    RootPropagation(u64),
    /// Mount the overlay at the rootfs mount point.
    /// Mount the overlay at the rootfs mount point; `lower` is top first (overlay's own order).
    Overlay { lower: Vec<PathBuf>, upper: PathBuf, work: PathBuf, target: PathBuf },
    /// `limits.disk`: a tmpfs of `size` bytes at `target` (in the container's mount namespace only), with the
    /// overlay's `upper` and `work` directories made in it, so the writable layer cannot outgrow it.
    WritableTmpfs { target: PathBuf, size: u64 },
    /// Bind a directory (recursively) at a host path; optionally read-only.
    BindHost { source: PathBuf, target: PathBuf, readonly: bool },
    /// A mount inside the new root (destination resolved inside it).
    Inside(Mount),
    /// `/sys/fs/cgroup` as a read-only tmpfs holding each v1 hierarchy, or the v2 tree.
    Cgroup { destination: PathBuf, cgroups: CgroupMount, flags: u64 },
    /// Populate the tmpfs at `/dev`: device nodes and the standard symlinks.
    Devices,
    /// A device node the config asked for (`linux.devices`), made after every mount is in place.
    Device(crate::plan::Device),
    /// After the pivot: hide a path (`/dev/null` over files, an empty read-only tmpfs over directories).
    Mask(PathBuf),
    /// After the pivot: bind a path onto itself read-only.
    ReadOnly(PathBuf),
    /// After the pivot: remount `/` read-only.
    ReadOnlyRoot,
}

/// The whole mount sequence for a plan, as data. `user_ns`: inside a user namespace devices can't be
/// created with `mknod` and are bind-mounted instead.
pub fn plan_mounts(plan: &Plan, host_mounts: &[Mount], paths: &RootPaths, cgroups: &CgroupMount) -> MountPlan {
    if !plan.namespaces.iter().any(|ns| ns.kind == crate::plan::Namespace::Mount) {
        return MountPlan {
            before_pivot: Vec::new(),
            switch: RootSwitch::Chroot(paths.base.clone()),
            after_pivot: Vec::new(),
        };
    }
    // `shared` and `unbindable` are for the container's `/` only: until then every mount is a slave, so
    // nothing the container mounts reaches the host, and an unbindable `/` could not be bound to the rootfs.
    let late_propagation = plan.root_propagation & (libc::MS_SHARED | libc::MS_UNBINDABLE) != 0;
    let early = if late_propagation { libc::MS_REC | libc::MS_SLAVE } else { plan.root_propagation };
    let mut ops = vec![MountOp::RootPropagation(early)];
    match &plan.rootfs.mode {
        RootfsMode::Overlay => {
            let (upper, work) = match plan.limits.disk {
                Some(size) => {
                    ops.push(MountOp::WritableTmpfs { target: paths.upper.clone(), size });
                    (paths.upper.join("upper"), paths.upper.join("work"))
                }
                None => (paths.upper.clone(), paths.work.clone()),
            };
            ops.push(MountOp::Overlay {
                lower: if paths.layers.is_empty() { vec![paths.base.clone()] } else { paths.layers.clone() },
                upper,
                work,
                target: paths.rootfs.clone(),
            })
        }
        RootfsMode::Direct => {
            ops.push(MountOp::BindHost { source: paths.base.clone(), target: paths.rootfs.clone(), readonly: false })
        }
        RootfsMode::Split { editable } => {
            // The copies already sit in the rootfs dir; make it a mount point, then lay the read-only rest in.
            ops.push(MountOp::BindHost { source: paths.rootfs.clone(), target: paths.rootfs.clone(), readonly: false });
            for name in split::shared_entries(&paths.base, editable) {
                ops.push(MountOp::BindHost {
                    source: paths.base.join(&name),
                    target: paths.rootfs.join(&name),
                    readonly: true,
                });
            }
        }
    }
    for m in plan.mounts.iter().chain(host_mounts) {
        if m.fstype == "cgroup" || m.fstype == "cgroup2" {
            ops.push(MountOp::Cgroup { destination: m.destination.clone(), cgroups: cgroups.clone(), flags: m.flags });
            continue;
        }
        ops.push(MountOp::Inside(with_mount_label(m, plan.mount_label.as_deref())));
        if m.destination == Path::new("/dev") && m.fstype == "tmpfs" {
            ops.push(MountOp::Devices);
        }
    }
    ops.extend(plan.devices.iter().cloned().map(MountOp::Device));
    let mut after_pivot: Vec<MountOp> = plan.masked_paths.iter().cloned().map(MountOp::Mask).collect();
    after_pivot.extend(plan.readonly_paths.iter().cloned().map(MountOp::ReadOnly));
    if plan.rootfs.readonly {
        after_pivot.push(MountOp::ReadOnlyRoot);
    }
    if late_propagation {
        after_pivot.push(MountOp::RootPropagation(plan.root_propagation));
    }
    MountPlan { before_pivot: ops, switch: RootSwitch::PivotRoot, after_pivot }
}

/// The mount sequence in its two parts — what is built under the new root while host paths still resolve, and
/// what seals it once it is `/` (masks and read-only remounts name container paths) — and how the root is
/// switched between them.
#[derive(Debug, Clone, PartialEq)]
pub struct MountPlan {
    pub before_pivot: Vec<MountOp>,
    pub switch: RootSwitch,
    pub after_pivot: Vec<MountOp>,
}

/// OCI `linux.mountLabel` as the `context=` option of a mount that makes a new filesystem (tmpfs, devpts,
/// mqueue, …), where SELinux is enabled; a bind mount keeps the label of what it shows, and proc and
/// sysfs take none. Without SELinux there is nothing to label (as crun does).
fn with_mount_label(m: &crate::plan::Mount, label: Option<&str>) -> crate::plan::Mount {
    let labelled = !m.is_bind() && !matches!(m.fstype.as_str(), "proc" | "sysfs" | "cgroup" | "cgroup2");
    match label {
        Some(label) if labelled && crate::lsm::selinux_enabled() && !m.data.contains("context=") => {
            let mut m = m.clone();
            let option = format!("context=\"{label}\"");
            m.data = if m.data.is_empty() { option } else { format!("{},{option}", m.data) };
            m
        }
        _ => m.clone(),
    }
}

/// How the container's root becomes `/`: `pivot_root` in its own mount namespace; without one (an OCI config
/// may share the host's mount table, as runc allows) only `chroot`, since pivoting would change the host's root —
/// and then no mount at all is made.
#[derive(Debug, Clone, PartialEq)]
pub enum RootSwitch {
    PivotRoot,
    Chroot(PathBuf),
}

impl RootSwitch {
    /// Step 14: make the root `/` (`rootfs` is the mount point the overlay or bind went to).
    pub fn apply(&self, rootfs: &Path) -> Result<(), RootfsError> {
        match self {
            RootSwitch::PivotRoot => pivot::pivot_root(rootfs),
            RootSwitch::Chroot(dir) => pivot::chroot(dir),
        }
    }
}

/// What the mount loop needs besides the ops themselves.
pub struct Context<'a> {
    pub rootfs: &'a Path,
    /// Inside a user namespace `mknod` is not allowed: device nodes are bind-mounted from the host.
    pub user_ns: bool,
    /// Without a cgroup namespace a cgroup mount would show the host's whole tree: the container's own
    /// cgroup directories are bind-mounted instead (as runc does).
    pub cgroup_ns: bool,
}

/// Execute the mount sequence. Runs in the child, in its new mount namespace.
pub fn apply(ops: &[MountOp], ctx: &Context) -> Result<(), RootfsError> {
    let mut root: Option<OwnedFd> = None;
    let mut null: Option<OwnedFd> = None;
    for op in ops {
        match op {
            MountOp::RootPropagation(flags) => {
                let (what, how) = match *flags & !libc::MS_REC {
                    libc::MS_SLAVE => ("make every mount a slave of the host's", "MS_SLAVE"),
                    libc::MS_SHARED => ("make the container's / shared", "MS_SHARED"),
                    libc::MS_UNBINDABLE => ("make the container's / unbindable", "MS_UNBINDABLE"),
                    _ => ("make every mount private", "MS_PRIVATE"),
                };
                let rec = if flags & libc::MS_REC != 0 { "MS_REC|" } else { "" };
                crate::explain!(
                    what,
                    format!("mount(\"\", \"/\", {rec}{how})"),
                    "mounts made in the container must not propagate to the host's mount table"
                );
                do_mount(None, Path::new("/"), None, MsFlags::from_bits_retain(*flags), None, "propagation")?;
            }
            MountOp::WritableTmpfs { target, size } => {
                let data = format!("size={size},mode=755");
                crate::explain!(
                    format!("put the writable layer on a tmpfs of {size} bytes (limits.disk)"),
                    format!("mount(\"tmpfs\", {}, \"tmpfs\", {data})", target.display()),
                    "a full disk inside the container is this tmpfs being full, never the host's filesystem"
                );
                do_mount(Some(Path::new("tmpfs")), target, Some("tmpfs"), MsFlags::MS_NOSUID, Some(&data), "tmpfs")?;
                for dir in [target.join("upper"), target.join("work")] {
                    std::fs::create_dir(&dir)
                        .map_err(|e| RootfsError::Io(crate::error::IoError::new("mkdir", dir, e)))?;
                }
            }
            MountOp::Overlay { lower, upper, work, target } => {
                let (mut data, cwd) = overlay_data(lower, upper, work)?;
                if !crate::sys::in_initial_user_namespace() {
                    // In a user namespace overlay may not use trusted.* xattrs: it keeps its metadata (opaque
                    // dirs, redirects) in user.overlay.* instead (Linux 5.11).
                    data.push_str(",userxattr");
                }
                crate::explain!(
                    "stack the root filesystem",
                    format!("mount(\"overlay\", {}, \"overlay\", {data})", target.display()),
                    "reads come from the shared base layers (top first); writes land in this container's upper dir only"
                );
                if let Some(dir) = &cwd {
                    // Relative lowerdirs are resolved by the kernel against the caller's cwd.
                    std::env::set_current_dir(dir).map_err(IoError::on("chdir", dir))?;
                }
                do_mount(Some(Path::new("overlay")), target, Some("overlay"), MsFlags::empty(), Some(&data), "overlay")
                    .map_err(|e| {
                        with_hint(
                            e,
                            " (is the base extracted and the state dir on a filesystem overlay accepts as upper?)",
                        )
                    })?;
            }
            MountOp::BindHost { source, target, readonly } => {
                crate::explain!(
                    format!("bind {}", source.display()),
                    format!("mount({}, {}, MS_BIND|MS_REC)", source.display(), target.display()),
                    "a bind mount shows one directory at a second place"
                );
                if !target.exists() {
                    std::fs::create_dir_all(target).map_err(IoError::on("mkdir", target))?;
                }
                do_mount(Some(source), target, None, MsFlags::MS_BIND | MsFlags::MS_REC, None, "bind")?;
                if *readonly {
                    remount_bind(target, MsFlags::MS_RDONLY)?;
                }
            }
            MountOp::Inside(m) => {
                let root = root_fd(&mut root, ctx.rootfs)?;
                mount_inside(root, m)?;
            }
            MountOp::Cgroup { destination, cgroups, flags } => {
                let root = root_fd(&mut root, ctx.rootfs)?;
                mount_cgroup(root, destination, cgroups, *flags, ctx.user_ns || !ctx.cgroup_ns)?;
            }
            MountOp::Devices => {
                let root = root_fd(&mut root, ctx.rootfs)?;
                devices::populate(root, ctx.user_ns)?;
            }
            MountOp::Device(device) => {
                let root = root_fd(&mut root, ctx.rootfs)?;
                devices::create(root, device, ctx.user_ns)?;
            }
            MountOp::Mask(path) => {
                if null.is_none() {
                    null = Some(pivot::open_null()?);
                }
                if let Some(null) = &null {
                    pivot::mask(path, null)?;
                }
            }
            MountOp::ReadOnly(path) => pivot::readonly(path)?,
            MountOp::ReadOnlyRoot => {
                crate::explain!(
                    "make / read-only",
                    "mount(\"\", \"/\", MS_BIND|MS_REMOUNT|MS_RDONLY)",
                    "the config asked for a read-only root; mounts on top keep their own flags"
                );
                remount_bind(Path::new("/"), MsFlags::MS_RDONLY)?;
            }
        }
    }
    Ok(())
}

/// The mount data must fit in one page (the kernel copies at most `PAGE_SIZE` bytes of it). With many
/// layers the absolute paths may not: when they all sit in one directory (the image store's `layers/`), name
/// them relative to it and return that directory to `chdir` into first, as podman does with its `l/` links.
pub fn overlay_data(lower: &[PathBuf], upper: &Path, work: &Path) -> Result<(String, Option<PathBuf>), RootfsError> {
    const LIMIT: usize = 4095;
    let join = |paths: &mut dyn Iterator<Item = String>| paths.collect::<Vec<_>>().join(":");
    let tail = format!(",upperdir={},workdir={}", upper.display(), work.display());
    let data = format!("lowerdir={}{tail}", join(&mut lower.iter().map(|p| p.display().to_string())));
    if data.len() <= LIMIT {
        return Ok((data, None));
    }
    let common = lower.first().and_then(|p| p.parent()).and_then(|p| p.parent()).map(Path::to_path_buf);
    if let Some(common) = common
        && lower.iter().all(|p| p.starts_with(&common))
    {
        let rel = join(&mut lower.iter().filter_map(|p| p.strip_prefix(&common).ok()).map(|p| p.display().to_string()));
        let data = format!("lowerdir={rel}{tail}");
        if data.len() <= LIMIT {
            return Ok((data, Some(common)));
        }
    }
    Err(RootfsError::TooManyLayers { count: lower.len(), bytes: data.len() })
}

fn root_fd<'a>(root: &'a mut Option<OwnedFd>, path: &Path) -> Result<&'a OwnedFd, RootfsError> {
    if root.is_none() {
        let fd = nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|source| RootfsError::Sys { op: "open", path: path.to_path_buf(), source })?;
        *root = Some(fd);
    }
    root.as_ref().ok_or_else(|| RootfsError::Sys { op: "open", path: path.to_path_buf(), source: Errno::EBADF })
}

/// One mount inside the new root: resolve the destination inside it, mount through the fd, then apply
/// read-only / propagation changes.
fn mount_inside(root: &OwnedFd, m: &Mount) -> Result<(), RootfsError> {
    let target = if matches!(m.fstype.as_str(), "proc" | "sysfs") {
        // One open that is also the check: a directory, not a symlink as the last component.
        match resolve::open_dir_in_root_nofollow(root, &m.destination) {
            Ok(fd) => fd,
            Err(_) if resolve::is_symlink_in_root(root, &m.destination) => {
                return Err(RootfsError::SymlinkTarget { path: m.destination.clone() });
            }
            Err(_) => ensure_in_root(root, &m.destination, Leaf::Directory)?,
        }
    } else {
        let leaf = if m.is_bind() && !m.source.is_dir() { Leaf::File } else { Leaf::Directory };
        ensure_in_root(root, &m.destination, leaf)?
    };
    let target_path = fd_path(&target);
    let flags = MsFlags::from_bits_retain(m.flags);
    crate::explain!(
        format!("mount {} on {}", m.fstype, m.destination.display()),
        format!(
            "mount({}, {}, {:?}{})",
            m.source.display(),
            m.destination.display(),
            m.fstype,
            if m.data.is_empty() { String::new() } else { format!(", {}", m.data) }
        ),
        mount_reason(m)
    );
    let shown = m.destination.clone();
    let extra = flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
    if m.is_bind() {
        do_mount(Some(&m.source), &target_path, None, flags & (MsFlags::MS_BIND | MsFlags::MS_REC), None, "bind")
            .map_err(|e| rename_target(e, &shown))?;
    } else {
        let covered = if m.copy_up { Some(copyup::open_covered(&target, &shown)?) } else { None };
        let data = (!m.data.is_empty()).then_some(m.data.as_str());
        do_mount(Some(&m.source), &target_path, Some(&m.fstype), flags, data, "filesystem")
            .map_err(|e| rename_target(e, &shown))?;
        if let Some(covered) = covered {
            let mounted = resolve::open_in_root(root, &m.destination).map_err(|source| RootfsError::Resolve {
                path: shown.clone(),
                op: "openat2",
                source,
            })?;
            copyup::copy_up(&covered, &mounted, &shown)?;
        }
    }
    let recursive = m.recursive != crate::plan::RecursiveAttr::default();
    if (m.is_bind() && !extra.is_empty()) || !m.propagation.is_empty() || recursive {
        // The fd still names the directory *under* the new mount: open the mount itself.
        let mounted = resolve::open_in_root(root, &m.destination).map_err(|source| RootfsError::Resolve {
            path: shown.clone(),
            op: "openat2",
            source,
        })?;
        let mounted_path = fd_path(&mounted);
        if m.is_bind() && !extra.is_empty() {
            remount_bind(&mounted_path, extra).map_err(|e| rename_target(e, &shown))?;
        }
        for p in &m.propagation {
            do_mount(None, &mounted_path, None, MsFlags::from_bits_retain(*p), None, "propagation")
                .map_err(|e| rename_target(e, &shown))?;
        }
        if recursive {
            crate::explain!(
                format!("set attributes on {} and every mount below it", shown.display()),
                format!("mount_setattr(AT_RECURSIVE, set={:#x}, clear={:#x})", m.recursive.set, m.recursive.clear),
                "a remount changes one mount; rro & co. must reach the submounts of an rbind too"
            );
            crate::sys::mount_setattr_recursive(std::os::fd::AsFd::as_fd(&mounted), m.recursive.set, m.recursive.clear)
                .map_err(|source| RootfsError::Sys { op: "mount_setattr", path: shown.clone(), source })?;
        }
    }
    Ok(())
}

fn mount_reason(m: &Mount) -> &'static str {
    match m.fstype.as_str() {
        "proc" => "a procfs of the new PID namespace: ps shows only the container's processes",
        "sysfs" => "the kernel's device tree, read-only",
        "devpts" => "a private pty instance, so the container's terminals are its own",
        "mqueue" => "POSIX message queues of the new IPC namespace",
        "tmpfs" => "a memory-backed filesystem private to this container",
        _ if m.is_bind() => "a bind mount shows a host directory inside the container",
        _ => "a filesystem the config asked for",
    }
}

/// `/sys/fs/cgroup` inside: v2 is one mount; v1 is a tmpfs with one cgroup mount per hierarchy.
fn mount_cgroup(
    root: &OwnedFd,
    destination: &Path,
    cgroups: &CgroupMount,
    flags: u64,
    bind_own: bool,
) -> Result<(), RootfsError> {
    let flags = MsFlags::from_bits_retain(flags);
    let target = ensure_in_root(root, destination, Leaf::Directory)?;
    let target_path = fd_path(&target);
    match cgroups {
        CgroupMount::V2 { host_dir } => {
            if !(bind_own && host_dir.is_some()) {
                crate::explain!(
                    "mount the cgroup2 tree",
                    format!("mount(\"cgroup\", {}, \"cgroup2\")", destination.display()),
                    "in its cgroup namespace the container sees its own cgroup as the root"
                );
                match do_mount(Some(Path::new("cgroup")), &target_path, Some("cgroup2"), flags, None, "cgroup2") {
                    // The kernel refuses cgroup2 here when the destination already is the root of a cgroup2
                    // mount (a `/sys` bind-mounted from the host, as rootless specs do, brings the host's
                    // along, and there is only one cgroup2 superblock: EBUSY), or to a user namespace that
                    // does not own the cgroup namespace (EPERM). Then, as runc does, bind the container's own.
                    Err(RootfsError::Mount { source: Errno::EPERM | Errno::EBUSY, .. }) => {}
                    other => return other,
                }
            }
            let Some(host_dir) = host_dir else { return Ok(()) };
            crate::explain!(
                "bind the container's own cgroup",
                format!("mount({}, {}, MS_BIND)", host_dir.display(), destination.display()),
                "without a cgroup namespace of its own a cgroup2 mount would show the host's whole tree"
            );
            do_mount(Some(host_dir), &target_path, None, MsFlags::MS_BIND, None, "bind")?;
            let mounted = ensure_in_root(root, destination, Leaf::Directory)?;
            remount_bind(&fd_path(&mounted), flags - MsFlags::MS_RELATIME)
        }
        CgroupMount::V1(hierarchies) => {
            crate::explain!(
                "mount the cgroup v1 hierarchies",
                format!("mount tmpfs on {}, then one \"cgroup\" mount per controller", destination.display()),
                "v1 has one tree per controller; in its cgroup namespace the container sees only its own"
            );
            let rw = flags - MsFlags::MS_RDONLY;
            do_mount(Some(Path::new("tmpfs")), &target_path, Some("tmpfs"), rw, Some("mode=755"), "tmpfs")?;
            let mut binds = Vec::new();
            for h in hierarchies {
                if bind_own && h.host_dir.is_none() {
                    continue;
                }
                let sub = ensure_in_root(root, &destination.join(&h.name), Leaf::Directory)?;
                match (&h.host_dir, bind_own) {
                    (Some(host_dir), true) => {
                        do_mount(Some(host_dir), &fd_path(&sub), None, MsFlags::MS_BIND, None, "bind")?;
                        binds.push(&h.name);
                    }
                    _ => do_mount(
                        Some(Path::new("cgroup")),
                        &fd_path(&sub),
                        Some("cgroup"),
                        flags,
                        Some(&h.controllers),
                        "cgroup",
                    )?,
                }
            }
            // A bind takes no flags of its own, and the tmpfs was writable for the mkdirs: one mount_setattr
            // over the tmpfs and every mount below it makes them all read-only, nosuid, … (a remount each was
            // 12 more syscalls per container here). A kernel before 5.12 has only the remounts.
            let tree = ensure_in_root(root, destination, Leaf::Directory)?;
            match crate::sys::mount_setattr_recursive(std::os::fd::AsFd::as_fd(&tree), mount_attrs(flags), 0) {
                Ok(()) => return Ok(()),
                Err(Errno::ENOSYS) => {}
                Err(source) => {
                    return Err(RootfsError::Sys { op: "mount_setattr", path: destination.to_path_buf(), source });
                }
            }
            for name in binds {
                let mounted = ensure_in_root(root, &destination.join(name), Leaf::Directory)?;
                remount_bind(&fd_path(&mounted), flags - MsFlags::MS_RELATIME)?;
            }
            if flags.contains(MsFlags::MS_RDONLY) {
                do_mount(None, &fd_path(&tree), None, MsFlags::MS_REMOUNT | flags, Some("mode=755"), "remount")?;
            }
            Ok(())
        }
    }
}

/// The `MOUNT_ATTR_*` bits of a mount's flags that a bind does not take at mount time.
fn mount_attrs(flags: MsFlags) -> u64 {
    [
        (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
    ]
    .into_iter()
    .filter(|(flag, _)| flags.contains(*flag))
    .fold(0, |attrs, (_, attr)| attrs | attr)
}

/// Remount an existing bind mount with extra flags (read-only, nosuid, …). Flags the kernel has locked on
/// the source (inside a user namespace: nosuid/nodev/noexec of the original) must be kept, or it refuses.
fn remount_bind(target: &Path, extra: MsFlags) -> Result<(), RootfsError> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra;
    match do_mount(None, target, None, flags, None, "remount") {
        Err(RootfsError::Mount { source: Errno::EPERM, .. }) => {
            let locked =
                nix::sys::statvfs::statvfs(target).map(|st| statvfs_to_ms(st.flags())).unwrap_or(MsFlags::empty());
            do_mount(None, target, None, flags | locked, None, "remount")
        }
        other => other,
    }
}

fn statvfs_to_ms(f: nix::sys::statvfs::FsFlags) -> MsFlags {
    use nix::sys::statvfs::FsFlags as F;
    // `ST_RELATIME` by value (<sys/statvfs.h>): nix names it on glibc only, and the runtime binary is musl's.
    const ST_RELATIME: F = F::from_bits_retain(0x1000);
    let table = [
        (F::ST_NOSUID, MsFlags::MS_NOSUID),
        (F::ST_NODEV, MsFlags::MS_NODEV),
        (F::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (F::ST_RDONLY, MsFlags::MS_RDONLY),
        (F::ST_NOATIME, MsFlags::MS_NOATIME),
        (F::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    table.iter().filter(|(s, _)| f.contains(*s)).fold(MsFlags::empty(), |acc, (_, m)| acc | *m)
}

fn do_mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    what: &str,
) -> Result<(), RootfsError> {
    mount(source, target, fstype, flags, data).map_err(|source_err| RootfsError::Mount {
        what: match source {
            Some(s) => format!("{what} {}", s.display()),
            None => what.to_string(),
        },
        target: target.to_path_buf(),
        source: source_err,
        hint: "",
    })
}

fn with_hint(e: RootfsError, hint: &'static str) -> RootfsError {
    match e {
        RootfsError::Mount { what, target, source, .. } => {
            RootfsError::Mount { what, target, source, hint: if hint.is_empty() { "" } else { hint } }
        }
        other => other,
    }
}

/// Errors on `/proc/self/fd/N` name the container path instead, which is what the user wrote.
fn rename_target(e: RootfsError, shown: &Path) -> RootfsError {
    match e {
        RootfsError::Mount { what, source, hint, .. } => {
            RootfsError::Mount { what, target: shown.to_path_buf(), source, hint }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Rootfs, RootfsSource};

    #[test]
    fn a_cgroup_mounts_flags_become_the_attributes_set_on_its_tree() {
        let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let all = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOEXEC;
        assert_eq!(mount_attrs(flags | MsFlags::MS_RELATIME), all);
        assert_eq!(mount_attrs(MsFlags::MS_NOSUID), libc::MOUNT_ATTR_NOSUID);
        assert_eq!(mount_attrs(MsFlags::empty()), 0);
    }

    fn paths() -> RootPaths {
        RootPaths {
            base: "/base".into(),
            layers: vec![],
            rootfs: "/state/rootfs".into(),
            upper: "/state/upper".into(),
            work: "/state/work".into(),
        }
    }

    pub(crate) fn plan_with(mode: RootfsMode, readonly: bool) -> Plan {
        Plan {
            bundle: "/b".into(),
            process: crate::plan::Process {
                args: vec!["sh".into()],
                env: vec![],
                cwd: "/".into(),
                uid: 0,
                gid: 0,
                additional_gids: vec![],
                umask: None,
                terminal: false,
                no_new_privileges: true,
                capabilities: Default::default(),
                rlimits: vec![],
                oom_score_adj: None,
                seccomp: None,
                apparmor_profile: None,
                selinux_label: None,
            },
            hostname: None,
            domainname: None,
            namespaces: vec![crate::plan::NamespaceSpec { kind: crate::plan::Namespace::Mount, path: None }],
            uid_mappings: vec![],
            gid_mappings: vec![],
            rootfs: Rootfs { source: RootfsSource::Directory("/base".into()), mode, readonly, keep_changes: false },
            mounts: crate::plan::default_mounts(),
            masked_paths: vec!["/proc/kcore".into()],
            readonly_paths: vec!["/proc/sys".into()],
            resources: Default::default(),
            cgroups_path: None,
            sysctl: vec![],
            network: crate::plan::Network::None,
            etc_files: false,
            net_devices: vec![],
            hooks: Default::default(),
            annotations: Default::default(),
            personality: None,
            devices: Vec::new(),
            root_propagation: libc::MS_REC | libc::MS_PRIVATE,
            mount_label: None,
            time_offsets: Vec::new(),
            limits: Default::default(),
        }
    }

    #[test]
    fn overlay_sequence_is_private_then_root_then_mounts_then_pivot_then_masks() {
        let MountPlan { before_pivot: ops, after_pivot, .. } =
            plan_mounts(&plan_with(RootfsMode::Overlay, true), &[], &paths(), &CgroupMount::V2 { host_dir: None });
        assert_eq!(ops[0], MountOp::RootPropagation(libc::MS_REC | libc::MS_PRIVATE));
        assert!(matches!(&ops[1], MountOp::Overlay { lower, .. } if lower == &[PathBuf::from("/base")]));
        // limits.disk: the upper and work dirs move into a tmpfs mounted over the upper dir first.
        let mut limited = plan_with(RootfsMode::Overlay, true);
        limited.limits.disk = Some(64 << 20);
        let ops = plan_mounts(&limited, &[], &paths(), &CgroupMount::V2 { host_dir: None }).before_pivot;
        assert_eq!(ops[1], MountOp::WritableTmpfs { target: "/state/upper".into(), size: 64 << 20 });
        assert!(matches!(&ops[2], MountOp::Overlay { upper, work, .. }
            if upper == Path::new("/state/upper/upper") && work == Path::new("/state/upper/work")));
        let pos = |pred: &dyn Fn(&MountOp) -> bool| ops.iter().position(pred).unwrap();
        let dev = pos(&|o| matches!(o, MountOp::Inside(m) if m.destination == Path::new("/dev")));
        assert_eq!(ops[dev + 1], MountOp::Devices);
        assert!(ops.iter().any(|o| matches!(o, MountOp::Cgroup { .. })));
        assert!(!ops.iter().any(|o| matches!(o, MountOp::Mask(_) | MountOp::ReadOnly(_) | MountOp::ReadOnlyRoot)));
        assert!(matches!(after_pivot[0], MountOp::Mask(_)));
        assert_eq!(after_pivot.last(), Some(&MountOp::ReadOnlyRoot));
    }

    #[test]
    fn shared_and_unbindable_roots_are_made_after_everything_else() {
        for flags in [libc::MS_SHARED, libc::MS_REC | libc::MS_UNBINDABLE] {
            let plan = Plan { root_propagation: flags, ..plan_with(RootfsMode::Overlay, true) };
            let mounts = plan_mounts(&plan, &[], &paths(), &CgroupMount::V2 { host_dir: None });
            assert_eq!(mounts.before_pivot[0], MountOp::RootPropagation(libc::MS_REC | libc::MS_SLAVE));
            assert_eq!(mounts.after_pivot.last(), Some(&MountOp::RootPropagation(flags)));
        }
    }

    #[test]
    fn without_a_mount_namespace_there_is_only_a_chroot() {
        let plan = Plan { namespaces: vec![], ..plan_with(RootfsMode::Direct, false) };
        let mounts = plan_mounts(&plan, &[], &paths(), &CgroupMount::V2 { host_dir: None });
        assert_eq!(mounts.switch, RootSwitch::Chroot(PathBuf::from("/base")));
        assert!(mounts.before_pivot.is_empty() && mounts.after_pivot.is_empty());
    }

    #[test]
    fn direct_mode_binds_the_directory_onto_the_mount_point() {
        let mounts =
            plan_mounts(&plan_with(RootfsMode::Direct, false), &[], &paths(), &CgroupMount::V2 { host_dir: None });
        let ops = &mounts.before_pivot;
        assert!(matches!(&ops[1], MountOp::BindHost { source, readonly: false, .. } if source == Path::new("/base")));
        assert!(!mounts.after_pivot.contains(&MountOp::ReadOnlyRoot));
    }

    #[test]
    fn many_layers_are_named_relative_to_the_store_when_absolute_paths_overflow_a_page() {
        let few: Vec<PathBuf> = (0..3).map(|i| PathBuf::from(format!("/store/layers/{i:064x}/diff"))).collect();
        let (data, cwd) = overlay_data(&few, Path::new("/s/upper"), Path::new("/s/work")).unwrap();
        assert!(data.starts_with(&format!("lowerdir=/store/layers/{:064x}/diff:", 0)), "{data}");
        assert_eq!(cwd, None);
        let many: Vec<PathBuf> = (0..50).map(|i| PathBuf::from(format!("/store/layers/{i:064x}/diff"))).collect();
        let (data, cwd) = overlay_data(&many, Path::new("/s/upper"), Path::new("/s/work")).unwrap();
        assert_eq!(cwd, Some(PathBuf::from("/store/layers")));
        assert!(data.starts_with(&format!("lowerdir={:064x}/diff:", 0)) && data.len() < 4096, "{data}");
        let too_many: Vec<PathBuf> = (0..80).map(|i| PathBuf::from(format!("/x{i}/{i:064x}/diff"))).collect();
        let err = overlay_data(&too_many, Path::new("/u"), Path::new("/w")).unwrap_err();
        assert!(err.to_string().contains("80 image layers"), "{err}");
    }
}
