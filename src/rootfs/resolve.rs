//! Resolving container paths *inside* the root filesystem.
//!
//! The image is untrusted: any directory in it may be a symlink (`/etc -> /host/etc`, `/proc -> ..`). A
//! path from the config such as `/data` must therefore be resolved as the container will see it, never as
//! the host sees it. `openat2(2)` with `RESOLVE_IN_ROOT` does exactly that: it treats the rootfs directory fd
//! as `/` for every component, `..` and absolute symlinks included, and `RESOLVE_NO_MAGICLINKS` refuses
//! `/proc/self/fd/N`-style jumps. Missing directories are created one component at a time, each created
//! relative to the fd of its (already resolved) parent. The result is an `O_PATH` fd; mounts then target
//! `/proc/self/fd/N`, so the path is never resolved a second time (no window for a swap).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, readlinkat};
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, fstatat, mkdirat};

use super::RootfsError;

/// What to create at the end of the path when it does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    Directory,
    File,
}

fn how(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

/// Open `path` (a container path) inside `root`, following symlinks only within the root.
pub fn open_in_root(root: &OwnedFd, path: &Path) -> Result<OwnedFd, Errno> {
    openat2(root, relative(path), how(OFlag::O_PATH))
}

/// The path relative to the root fd: without its leading `/`, and `.` for the root itself.
fn relative(path: &Path) -> &Path {
    match path.strip_prefix("/") {
        Ok(p) if p.as_os_str().is_empty() => Path::new("."),
        Ok(p) => p,
        Err(_) if path.as_os_str().is_empty() => Path::new("."),
        Err(_) => path,
    }
}

/// Symlinks followed while resolving one path, as the kernel's own limit (`ELOOP`).
const MAX_SYMLINKS: usize = 40;

/// Resolve `path` inside `root`, creating what is missing (directories on the way, then `leaf`).
/// Returns an `O_PATH` fd of the final object.
///
/// Symlinks are followed by hand, so that a dangling one (`/data -> /host/data` in the image) leads to a
/// directory created *inside* the root at its target; every open still goes through `RESOLVE_IN_ROOT`, so
/// even a swap racing with us cannot lead outside.
pub fn ensure_in_root(root: &OwnedFd, path: &Path, leaf: Leaf) -> Result<OwnedFd, RootfsError> {
    let err = |source: Errno, op: &'static str| RootfsError::Resolve { path: path.to_path_buf(), op, source };
    match open_in_root(root, path) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(err(e, "openat2")),
    }
    // Mostly only the last component is missing (`/dev/pts`, `/sys/fs/cgroup/memory`): make it in its parent,
    // which resolves inside the root like every other open here, and open what was made by its one name,
    // following no symlink — four syscalls instead of a walk from the root (three per component). A missing
    // parent, a `..`, or a name that exists after all (a dangling symlink as the last component, or a
    // concurrent maker) take the walk below.
    let mut remaining = components(path);
    if let (Some(parent), Some(name)) = (path.parent(), remaining.back())
        && !remaining.iter().any(|c| c == "..")
        && let Ok(dir) = open_in_root(root, parent)
        && create_new(&dir, name, leaf).map_err(|(e, op)| err(e, op))?
    {
        return match open_beneath(&dir, name) {
            Ok(fd) => Ok(fd),
            Err(_) => open_in_root(root, path).map_err(|e| err(e, "openat2")),
        };
    }
    let mut resolved = PathBuf::from("/");
    let mut symlinks = 0;
    while let Some(name) = remaining.pop_front() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let dir = open_in_root(root, &resolved).map_err(|e| err(e, "openat2"))?;
        match fstatat(&dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                symlinks += 1;
                if symlinks > MAX_SYMLINKS {
                    return Err(err(Errno::ELOOP, "readlinkat"));
                }
                let target = PathBuf::from(readlinkat(&dir, name.as_os_str()).map_err(|e| err(e, "readlinkat"))?);
                if target.is_absolute() {
                    resolved = PathBuf::from("/");
                }
                for part in components(&target).into_iter().rev() {
                    remaining.push_front(part);
                }
            }
            Ok(_) => resolved.push(&name),
            Err(Errno::ENOENT) => {
                let what = if remaining.is_empty() { leaf } else { Leaf::Directory };
                // One made meanwhile is fine: the open at the end resolves it inside the root.
                create_new(&dir, &name, what).map_err(|(e, op)| err(e, op))?;
                resolved.push(&name);
            }
            Err(e) => return Err(err(e, "fstatat")),
        }
    }
    open_in_root(root, &resolved).map_err(|e| err(e, "openat2"))
}

/// Make `name` in `dir` — an empty file for a file leaf, else a directory — where nothing has that name,
/// never through a symlink: `false` when something already does (a dangling symlink the open before could
/// not follow, or one made meanwhile), for the caller to look closer.
fn create_new(dir: &OwnedFd, name: &OsString, leaf: Leaf) -> Result<bool, (Errno, &'static str)> {
    let made = if leaf == Leaf::File {
        let how = how(OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY).mode(Mode::from_bits_truncate(0o644));
        openat2(dir, name.as_os_str(), how).map(drop).map_err(|e| (e, "openat2(O_CREAT)"))
    } else {
        mkdirat(dir, name.as_os_str(), Mode::from_bits_truncate(0o755)).map_err(|e| (e, "mkdirat"))
    };
    match made {
        Ok(()) => Ok(true),
        Err((Errno::EEXIST, _)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Open `name` right in `dir`, refusing any symlink and any step out of `dir`: one lookup for a name just
/// made there.
fn open_beneath(dir: &OwnedFd, name: &OsString) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(dir, name.as_os_str(), how)
}

/// Open the directory `path` inside `root` as `open_in_root` does, but refuse a symlink as its last
/// component (`ENOTDIR`/`ELOOP`): for `/proc` and `/sys`, which must be mounted on an ordinary directory.
/// The check and the open are one call, so nothing can swap the directory for a symlink between them.
pub fn open_dir_in_root_nofollow(root: &OwnedFd, path: &Path) -> Result<OwnedFd, Errno> {
    openat2(root, relative(path), how(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW))
}

/// The normal and `..` components of a path (`/` and `.` change nothing here).
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

/// The magic-link path through which `mount(2)` reaches the object behind `fd`.
pub fn fd_path(fd: &impl AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

/// Is the last component of `path` (inside `root`) a symlink? `/proc` or `/sys` as a symlink in an image is
/// an attack (CVE-2019-19921 class): they must be mounted on an ordinary directory.
pub fn is_symlink_in_root(root: &OwnedFd, path: &Path) -> bool {
    let Some(parent) = path.parent() else {
        return false;
    };
    let Some(name) = path.file_name() else {
        return false;
    };
    let Ok(dir) = open_in_root(root, parent) else {
        return false;
    };
    fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root_fd(dir: &Path) -> OwnedFd {
        nix::fcntl::open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).unwrap()
    }

    fn real_path(fd: &OwnedFd) -> PathBuf {
        std::fs::read_link(fd_path(fd)).unwrap()
    }

    #[test]
    fn absolute_symlinks_resolve_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        symlink(outside.path(), root.path().join("evil")).unwrap();
        let fd = ensure_in_root(&root_fd(root.path()), Path::new("/evil/data"), Leaf::Directory).unwrap();
        let got = real_path(&fd);
        assert!(got.starts_with(root.path()), "{got:?} escaped");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn dotdot_symlinks_cannot_climb_out() {
        let root = tempfile::tempdir().unwrap();
        symlink("../../../../..", root.path().join("up")).unwrap();
        let fd = ensure_in_root(&root_fd(root.path()), Path::new("/up/etc/x"), Leaf::File).unwrap();
        let got = real_path(&fd);
        assert_eq!(got, root.path().join("etc/x"));
    }

    #[test]
    fn dangling_absolute_symlinks_are_created_inside() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let target = outside.path().join("sub");
        symlink(&target, root.path().join("data")).unwrap();
        let fd = ensure_in_root(&root_fd(root.path()), Path::new("/data/mnt"), Leaf::Directory).unwrap();
        let got = real_path(&fd);
        assert_eq!(got, root.path().join(target.strip_prefix("/").unwrap()).join("mnt"));
        assert!(!target.exists());
    }

    #[test]
    fn a_missing_last_component_is_made_in_its_parent() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("b/etc")).unwrap();
        symlink("/b", root.path().join("a")).unwrap();
        let fd = root_fd(root.path());
        let dir = ensure_in_root(&fd, Path::new("/a/mnt"), Leaf::Directory).unwrap();
        assert_eq!(real_path(&dir), root.path().join("b/mnt"));
        let file = ensure_in_root(&fd, Path::new("b/etc/hostname"), Leaf::File).unwrap();
        assert_eq!(real_path(&file), root.path().join("b/etc/hostname"));
        assert!(root.path().join("b/etc/hostname").is_file());
        let top = ensure_in_root(&fd, Path::new("proc"), Leaf::Directory).unwrap();
        assert_eq!(real_path(&top), root.path().join("proc"));
    }

    #[test]
    fn a_dangling_symlink_as_the_last_component_is_followed_inside() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let target = outside.path().join("sub");
        symlink(&target, root.path().join("data")).unwrap();
        let fd = ensure_in_root(&root_fd(root.path()), Path::new("/data"), Leaf::Directory).unwrap();
        assert_eq!(real_path(&fd), root.path().join(target.strip_prefix("/").unwrap()));
        assert!(!target.exists());
    }

    #[test]
    fn symlinked_proc_is_detected() {
        let root = tempfile::tempdir().unwrap();
        symlink("/", root.path().join("proc")).unwrap();
        std::fs::create_dir(root.path().join("sys")).unwrap();
        let fd = root_fd(root.path());
        assert!(is_symlink_in_root(&fd, Path::new("/proc")));
        assert!(!is_symlink_in_root(&fd, Path::new("/sys")));
    }

    #[test]
    fn the_no_follow_open_refuses_a_symlink_as_the_last_component_only() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("b/sys")).unwrap();
        symlink("/b/sys", root.path().join("proc")).unwrap();
        symlink("/b", root.path().join("a")).unwrap();
        std::fs::write(root.path().join("file"), "").unwrap();
        let fd = root_fd(root.path());
        assert_eq!(open_dir_in_root_nofollow(&fd, Path::new("/proc")).unwrap_err(), Errno::ENOTDIR);
        assert_eq!(open_dir_in_root_nofollow(&fd, Path::new("/file")).unwrap_err(), Errno::ENOTDIR);
        assert_eq!(open_dir_in_root_nofollow(&fd, Path::new("/none")).unwrap_err(), Errno::ENOENT);
        let sys = open_dir_in_root_nofollow(&fd, Path::new("/a/sys")).unwrap();
        assert_eq!(real_path(&sys), root.path().join("b/sys"));
    }
}
