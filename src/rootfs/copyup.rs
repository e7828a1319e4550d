//! `tmpcopyup`: a tmpfs that starts as a copy of the directory it covers.
//!
//! With `podman run --read-only` the root is read-only but `/run`, `/tmp` and `/var/tmp` must stay writable,
//! so they get a tmpfs each — and an empty tmpfs would hide what the image keeps there (`/run/lock`, a
//! `/var/tmp` the program expects). The trick that makes the copy possible: a directory fd opened *before*
//! the mount still names the covered directory afterwards (an fd pins a mount and a dentry, not a path), so
//! `/proc/self/fd/N` reads the image's files while the path itself now leads into the new tmpfs. The tmpfs
//! root also takes the covered directory's mode and owner, as runc does, so `/tmp` stays 1777.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::RootfsError;
use super::resolve::fd_path;
use super::split::copy_tree;

/// Open the directory about to be covered, readably (the O_PATH fd the resolver returns cannot list it).
pub fn open_covered(target: &impl AsFd, shown: &Path) -> Result<OwnedFd, RootfsError> {
    let path = fd_path(target);
    nix::fcntl::open(&path, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|source| RootfsError::Sys { op: "open (tmpcopyup)", path: shown.to_path_buf(), source })
}

/// Copy every entry of `covered` into the freshly mounted `mounted`, then give `mounted` the covered
/// directory's mode and owner.
pub fn copy_up(covered: &OwnedFd, mounted: &impl AsFd, shown: &Path) -> Result<(), RootfsError> {
    let from = fd_path(covered);
    let to = fd_path(mounted);
    crate::explain!(
        format!("copy the image's {} into its new tmpfs", shown.display()),
        format!("copy {} -> {}", from.display(), to.display()),
        "tmpcopyup: the fd opened before the mount still reads the directory the tmpfs now covers"
    );
    let io = |op: &'static str| move |source| RootfsError::Io(crate::error::IoError::new(op, shown, source));
    for entry in std::fs::read_dir(&from).map_err(io("read_dir (tmpcopyup)"))? {
        let entry = entry.map_err(io("read_dir (tmpcopyup)"))?;
        copy_tree(&entry.path(), &to.join(entry.file_name()))?;
    }
    let meta = std::fs::metadata(&from).map_err(io("stat (tmpcopyup)"))?;
    std::os::unix::fs::chown(&to, Some(meta.uid()), Some(meta.gid())).map_err(io("chown (tmpcopyup)"))?;
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io("chmod (tmpcopyup)"))
}
