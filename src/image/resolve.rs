//! Paths inside an extraction target, resolved as if the target were `/`.
//!
//! Two layers, both needed. [`normalise`] turns an archive name into clean relative components (`/abs` → `abs`,
//! `a/../../x` → `x`): that stops lexical escapes. It cannot stop *symlink* escapes — `evil -> /etc` followed by
//! `evil/passwd` is lexically harmless — so every lookup then goes through `openat2(2)` with `RESOLVE_IN_ROOT` on
//! an fd of the target: the kernel resolves each symlink's target (absolute or `..`) against the target directory,
//! and never past it. Missing parent directories are made one component at a time with `mkdirat` on the parent
//! the kernel just resolved, so even the directories containy creates itself are created inside the root.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, mkdirat};

/// A failed step: the syscall (or what it was for) and the errno. The caller adds the entry's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Failed(pub &'static str, pub Errno);

/// Clean `raw` into `out` as `a/b/c` (no leading, trailing or doubled `/`, no `.`, `..` clamped at the root).
/// Returns false for names that must be skipped: containing NUL, or naming the root itself.
pub(super) fn normalise(raw: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    if raw.contains(&0) {
        return false;
    }
    for component in raw.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                let keep = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(keep);
            }
            name => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(name);
            }
        }
    }
    !out.is_empty()
}

/// Split a normalised path into its parent (`""` for the root) and its last component.
pub(super) fn split_parent(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

fn in_root(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

/// The extraction target, opened once, plus the last parent directory looked up (archives list a directory's
/// entries together, so most lookups hit it).
pub(super) struct Root {
    root: OwnedFd,
    cached_path: Vec<u8>,
    cached_fd: Option<OwnedFd>,
}

impl Root {
    pub(super) fn open(target: &Path) -> nix::Result<Self> {
        let root = nix::fcntl::open(target, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
        Ok(Root { root, cached_path: Vec::new(), cached_fd: None })
    }

    /// Open `path` (normalised, relative) inside the root. `flags` decide whether a final symlink is followed.
    pub(super) fn open_in_root(&self, path: &[u8], flags: OFlag) -> nix::Result<OwnedFd> {
        if path.is_empty() {
            return openat2(&self.root, ".", in_root(flags));
        }
        openat2(&self.root, path, in_root(flags))
    }

    /// Something under the root was removed or replaced: a cached directory fd may no longer be what its path
    /// names (it could even be a deleted directory), so look it up again next time.
    pub(super) fn forget(&mut self) {
        self.cached_fd = None;
    }

    /// The directory `parent` (normalised, relative; `""` is the root), created with its missing ancestors.
    pub(super) fn dir(&mut self, parent: &[u8]) -> Result<BorrowedFd<'_>, Failed> {
        if parent.is_empty() {
            return Ok(self.root.as_fd());
        }
        if self.cached_fd.is_none() || self.cached_path != parent {
            let fd = match self.open_in_root(parent, OFlag::O_PATH | OFlag::O_DIRECTORY) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => self.create_dirs(parent)?,
                Err(errno) => return Err(Failed("openat2 parent directory", errno)),
            };
            self.cached_path.clear();
            self.cached_path.extend_from_slice(parent);
            self.cached_fd = Some(fd);
        }
        match &self.cached_fd {
            Some(fd) => Ok(fd.as_fd()),
            None => Err(Failed("openat2 parent directory", Errno::ENOENT)),
        }
    }

    /// Walk `parent` one component at a time from the root, making each missing one with `mkdirat` in the
    /// directory the kernel resolved for its prefix — never in a directory computed by string manipulation.
    fn create_dirs(&self, parent: &[u8]) -> Result<OwnedFd, Failed> {
        let mut current: Option<OwnedFd> = None;
        let mut start = 0;
        for end in (0..=parent.len()).filter(|&i| i == parent.len() || parent[i] == b'/') {
            let prefix = &parent[..end];
            let name = &parent[start..end];
            start = end + 1;
            let fd = match self.open_in_root(prefix, OFlag::O_PATH | OFlag::O_DIRECTORY) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => {
                    let at = current.as_ref().map_or(self.root.as_fd(), |fd| fd.as_fd());
                    match mkdirat(at, name, Mode::from_bits_truncate(0o755)) {
                        // EEXIST after ENOENT: the name is a dangling symlink. Following it would mean
                        // re-implementing the kernel's resolution; a real rootfs never needs it, so refuse.
                        Err(Errno::EEXIST) => {
                            return Err(Failed("mkdirat parent (a dangling symlink is in the way)", Errno::EEXIST));
                        }
                        Err(errno) => return Err(Failed("mkdirat parent directory", errno)),
                        Ok(()) => {}
                    }
                    let how = OpenHow::new()
                        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
                        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
                    openat2(at, name, how).map_err(|errno| Failed("openat2 new parent directory", errno))?
                }
                Err(errno) => return Err(Failed("openat2 parent directory", errno)),
            };
            current = Some(fd);
        }
        current.ok_or(Failed("openat2 parent directory", Errno::ENOENT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> Option<String> {
        let mut out = Vec::new();
        normalise(raw.as_bytes(), &mut out).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn names_are_clamped_to_the_root() {
        assert_eq!(norm("usr/bin/ls").as_deref(), Some("usr/bin/ls"));
        assert_eq!(norm("./usr//bin/./ls/").as_deref(), Some("usr/bin/ls"));
        assert_eq!(norm("/etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(norm("../evil").as_deref(), Some("evil"));
        assert_eq!(norm("a/../../evil").as_deref(), Some("evil"));
        assert_eq!(norm("a/b/../c").as_deref(), Some("a/c"));
        assert_eq!(norm("../../../../etc/shadow").as_deref(), Some("etc/shadow"));
        assert_eq!(norm("."), None);
        assert_eq!(norm("./"), None);
        assert_eq!(norm("/"), None);
        assert_eq!(norm("a/.."), None);
        assert_eq!(norm(""), None);
        assert_eq!(norm("a\0b"), None);
    }

    #[test]
    fn split_parent_handles_top_level_names() {
        assert_eq!(split_parent(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split_parent(b"c"), (&b""[..], &b"c"[..]));
    }

    #[test]
    fn parents_through_symlinks_stay_inside_the_root() {
        // Every symlink points at a real host directory (`base`, or `outside` in it), so a resolution that is
        // not confined would show up there, and only there — never in the host's /.
        let base = tempfile::tempdir().unwrap();
        let outside = base.path().join("outside");
        let target = base.path().join("t");
        std::fs::create_dir(&outside).unwrap();
        std::fs::create_dir(&target).unwrap();
        let base_in_target = target.join(base.path().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&base_in_target).unwrap();
        std::os::unix::fs::symlink(base.path(), target.join("abs")).unwrap();
        std::os::unix::fs::symlink("..", target.join("up")).unwrap();
        std::os::unix::fs::symlink(&outside, target.join("dangling")).unwrap();
        let mut root = Root::open(&target).unwrap();

        // `abs -> <base>` means <target>/<base>, and `up -> ..` means the target itself.
        let fd = root.dir(b"abs").unwrap();
        nix::sys::stat::mkdirat(fd, "marker", Mode::from_bits_truncate(0o755)).unwrap();
        assert!(base_in_target.join("marker").is_dir());
        let fd = root.dir(b"up").unwrap();
        nix::sys::stat::mkdirat(fd, "top", Mode::from_bits_truncate(0o755)).unwrap();
        assert!(target.join("top").is_dir());
        assert!(!base.path().join("marker").exists() && !base.path().join("top").exists());

        // `outside` exists on the host but not inside the root: refused, nothing created outside.
        let err = root.dir(b"dangling/sub").unwrap_err();
        assert_eq!(err.1, Errno::EEXIST, "{err:?}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn missing_parents_are_created_component_by_component() {
        let target = tempfile::tempdir().unwrap();
        std::fs::create_dir(target.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", target.path().join("link")).unwrap();
        let mut root = Root::open(target.path()).unwrap();
        root.dir(b"link/a/b").unwrap();
        assert!(target.path().join("real/a/b").is_dir());
        assert!(target.path().join("link").is_symlink());
    }
}
