//! `pivot_root(2)`, and the steps that need container paths: masking and read-only remounts.
//!
//! `pivot_root(".", ".")` (from inside the new root) stacks the old root *under* the new one at the same
//! place; `umount2(".", MNT_DETACH)` then drops it. After this, no path leads back to the host — unlike
//! `chroot`, which only changes where path lookup starts and is escaped with a second chroot and `..`.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, umount2};

use super::RootfsError;
use super::resolve::fd_path;

fn sys<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> RootfsError + 'a {
    move |source| RootfsError::Sys { op, path: path.to_path_buf(), source }
}

pub fn pivot_root(rootfs: &Path) -> Result<(), RootfsError> {
    crate::explain!(
        "switch the root filesystem",
        format!("chdir({}); pivot_root(\".\", \".\"); umount2(\".\", MNT_DETACH)", rootfs.display()),
        "the old root is detached, so no path in the container leads back to the host (chroot could be climbed out of)"
    );
    nix::unistd::chdir(rootfs).map_err(sys("chdir", rootfs))?;
    nix::unistd::pivot_root(".", ".").map_err(sys("pivot_root", rootfs))?;
    // The old root now sits on top of the new one at "/": make it a slave so its detach cannot
    // propagate anywhere, then detach it.
    nix::mount::mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .map_err(sys("mount(MS_SLAVE)", Path::new("/")))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(sys("umount2", Path::new("/")))?;
    nix::unistd::chdir("/").map_err(sys("chdir", Path::new("/")))?;
    Ok(())
}

/// Without a mount namespace there is no `pivot_root` (it would pivot the host): `chroot` is all that is
/// left. The container shares the host's mount table, so a process with CAP_SYS_CHROOT could climb out;
/// that is what a config without a mount namespace asks for, and why runc and crun do the same.
pub(super) fn chroot(dir: &Path) -> Result<(), RootfsError> {
    crate::explain!(
        "enter the root filesystem (no mount namespace)",
        format!("chdir({}); chroot(\".\")", dir.display()),
        "without a mount namespace of its own the container must not mount anything, not even its root"
    );
    nix::unistd::chdir(dir).map_err(sys("chdir", dir))?;
    nix::unistd::chroot(".").map_err(sys("chroot", dir))?;
    nix::unistd::chdir("/").map_err(sys("chdir", Path::new("/")))?;
    Ok(())
}

/// The container's `/dev/null`, verified to *be* the null device (character device 1:3): with no `/dev`
/// tmpfs of ours it comes from the image, and a regular file or a symlink there must not become the
/// source of every mask.
pub(super) fn open_null() -> Result<OwnedFd, RootfsError> {
    let path = Path::new("/dev/null");
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open", path))?;
    let st = nix::sys::stat::fstat(&fd).map_err(sys("fstat", path))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != nix::sys::stat::makedev(1, 3) {
        return Err(RootfsError::Sys { op: "mask paths with", path: path.to_path_buf(), source: Errno::ENODEV });
    }
    Ok(fd)
}

/// An `O_PATH` fd of a container path (after the pivot, so `/` is the container's), not following a
/// final symlink; `None` if nothing is there.
fn open_path(path: &Path) -> Result<Option<OwnedFd>, RootfsError> {
    use nix::fcntl::OFlag;
    match nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(sys("open", path)(e)),
    }
}

/// Hide `path`: a directory gets an empty read-only tmpfs, anything else the null device.
/// Paths that don't exist need no hiding.
pub(super) fn mask(path: &Path, null: &OwnedFd) -> Result<(), RootfsError> {
    let Some(target) = open_path(path)? else {
        return Ok(()); // nothing there, nothing to protect
    };
    let is_dir = nix::sys::stat::fstat(&target)
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .map_err(sys("fstat", path))?;
    crate::explain!(
        format!("mask {}", path.display()),
        if is_dir { "mount an empty read-only tmpfs over it" } else { "bind the null device over it" },
        "a kernel interface a container has no business reading"
    );
    let target_path = fd_path(&target);
    let result = if is_dir {
        nix::mount::mount(Some("tmpfs"), &target_path, Some("tmpfs"), MsFlags::MS_RDONLY, Some("size=0"))
    } else {
        nix::mount::mount(Some(&fd_path(null)), &target_path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
    };
    result.map_err(sys("mask (mount)", path))
}

/// Bind `path` onto itself and remount it read-only.
pub(super) fn readonly(path: &Path) -> Result<(), RootfsError> {
    let Some(target) = open_path(path)? else {
        return Ok(()); // nothing there, nothing to protect
    };
    crate::explain!(
        format!("make {} read-only", path.display()),
        "mount(path, path, MS_BIND|MS_REC) + mount(MS_REMOUNT|MS_BIND|MS_RDONLY)",
        "a kernel knob the container may read but must not turn"
    );
    let target_path = fd_path(&target);
    nix::mount::mount(Some(&target_path), &target_path, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(sys("bind", path))?;
    // Reopen: the fd still points below the new bind mount.
    let again = open_path(path)?.ok_or_else(|| sys("open", path)(Errno::ENOENT))?;
    super::remount_bind(
        &fd_path(&again),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
    )
}

/// `chdir` into the working directory (creating it, as runc does) and make sure it is inside the root:
/// `getcwd` reports `(unreachable)` for a directory outside it (e.g. through a leaked fd).
pub fn enter_cwd(cwd: &Path) -> Result<(), RootfsError> {
    crate::explain!(
        format!("change to {}", cwd.display()),
        "chdir(2), then getcwd(2) to verify",
        "the working directory must be inside the new root, never a leaked host directory"
    );
    if let Err(Errno::ENOENT) = nix::unistd::chdir(cwd) {
        std::fs::create_dir_all(cwd)
            .map_err(|e| RootfsError::Io(crate::error::IoError::new("mkdir (the working directory)", cwd, e)))?;
    }
    nix::unistd::chdir(cwd).map_err(sys("chdir (the working directory)", cwd))?;
    let now = nix::unistd::getcwd().map_err(sys("getcwd", cwd))?;
    if !now.is_absolute() {
        return Err(RootfsError::CwdOutside { path: cwd.to_path_buf() });
    }
    Ok(())
}
