//! `/dev` inside the container: a fresh tmpfs holding only the standard devices.
//!
//! The host's `/dev` holds disks, consoles and kernel memory; the container gets a new tmpfs with just
//! `null`, `zero`, `full`, `random`, `urandom` and `tty` (created with `mknod`, or — inside a user namespace,
//! where `mknod` is forbidden — bind-mounted from the host), plus the symlinks programs expect: `/dev/fd`,
//! `stdin`/`stdout`/`stderr`, and `ptmx` pointing at the container's own devpts instance. The devices cgroup
//! (or eBPF program on v2) decides what may actually be opened.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag, makedev, mknodat};

use super::RootfsError;
use super::resolve::{Leaf, ensure_in_root, fd_path};

/// (name, major, minor): the character devices every container gets.
pub const DEVICES: &[(&str, u64, u64)] =
    &[("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

/// (link, target): the symlinks under `/dev`.
pub const LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

pub(super) fn populate(root: &OwnedFd, user_ns: bool) -> Result<(), RootfsError> {
    let dev = ensure_in_root(root, Path::new("/dev"), Leaf::Directory)?;
    let sys = |op: &'static str, name: &str| {
        let path = Path::new("/dev").join(name);
        move |source: Errno| RootfsError::Sys { op, path, source }
    };
    crate::explain!(
        "create the standard devices in /dev",
        if user_ns {
            "bind-mount /dev/{null,zero,full,random,urandom,tty} from the host (mknod is not allowed in a user namespace)"
        } else {
            "mknod(/dev/{null,zero,full,random,urandom,tty}, S_IFCHR|0666)"
        },
        "the container's /dev is a fresh tmpfs: only these devices exist in it"
    );
    for (name, major, minor) in DEVICES {
        let created = !user_ns
            && match mknodat(&dev, *name, SFlag::S_IFCHR, Mode::from_bits_truncate(0o666), makedev(*major, *minor)) {
                Ok(()) => true,
                Err(Errno::EPERM) => false,
                Err(e) => return Err(sys("mknodat", name)(e)),
            };
        if created {
            // mknod applied the umask; devices must be world-usable.
            nix::sys::stat::fchmodat(
                &dev,
                *name,
                Mode::from_bits_truncate(0o666),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .map_err(sys("fchmodat", name))?;
        } else {
            let target = ensure_in_root(root, &Path::new("/dev").join(name), Leaf::File)?;
            let host = Path::new("/dev").join(name);
            nix::mount::mount(Some(&host), &fd_path(&target), None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .map_err(sys("bind", name))?;
        }
    }
    for (link, target) in LINKS {
        match nix::unistd::symlinkat(*target, &dev, *link) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(sys("symlinkat", link)(e)),
        }
    }
    Ok(())
}

/// One device node the config asked for, at its path inside the root. Inside a user namespace `mknod` of
/// a device is forbidden, so the host's node at the same path is bind-mounted instead (as runc does).
pub(super) fn create(root: &OwnedFd, device: &crate::plan::Device, user_ns: bool) -> Result<(), RootfsError> {
    let name = device.path.file_name().ok_or_else(|| RootfsError::Sys {
        op: "mknod",
        path: device.path.clone(),
        source: Errno::EINVAL,
    })?;
    let parent = device.path.parent().unwrap_or(Path::new("/"));
    let dir = ensure_in_root(root, parent, Leaf::Directory)?;
    let sys = |op: &'static str| {
        let path = device.path.clone();
        move |source: Errno| RootfsError::Sys { op, path, source }
    };
    let kind = match device.kind {
        'b' => SFlag::S_IFBLK,
        'p' => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    if user_ns && device.kind != 'p' {
        crate::explain!(
            format!("bind {} from the host", device.path.display()),
            format!("mount({0}, {0}, MS_BIND)", device.path.display()),
            "mknod of a device is not allowed in a user namespace"
        );
        let target = ensure_in_root(root, &device.path, Leaf::File)?;
        return nix::mount::mount(Some(&device.path), &fd_path(&target), None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(sys("bind"));
    }
    crate::explain!(
        format!("create the device {}", device.path.display()),
        format!("mknod({}, {:?}|{:o}, {}:{})", device.path.display(), kind, device.mode, device.major, device.minor),
        "the config asked for it; the devices cgroup was told to allow it"
    );
    match nix::unistd::unlinkat(&dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(sys("unlinkat")(e)),
    }
    let mode = Mode::from_bits_truncate(device.mode);
    mknodat(&dir, name, kind, mode, makedev(device.major, device.minor)).map_err(sys("mknodat"))?;
    // mknod applied the umask: set the exact mode, then the owner the config gave.
    // (The name was made a moment ago by us, in a container with no process running yet: not a symlink.)
    nix::sys::stat::fchmodat(&dir, name, mode, nix::sys::stat::FchmodatFlags::FollowSymlink)
        .map_err(sys("fchmodat"))?;
    nix::unistd::fchownat(
        &dir,
        name,
        Some(nix::unistd::Uid::from_raw(device.uid)),
        Some(nix::unistd::Gid::from_raw(device.gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(sys("fchownat"))
}
