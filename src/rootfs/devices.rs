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
