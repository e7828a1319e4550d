//! Streaming, root-confined tar extraction (`man 5 tar`), done by containy itself rather than by the `tar` binary.
//!
//! Every entry's parent directory comes from [`Root::dir`] (resolved with `RESOLVE_IN_ROOT`), and its last
//! component is created relative to that fd with calls that never follow a final symlink: `openat(O_CREAT|O_EXCL|
//! O_NOFOLLOW)`, `mkdirat`, `symlinkat`, `linkat` (whose source is resolved in the root as well). Whatever was at
//! that name before is unlinked, not written through — a planted symlink or hard link is replaced, never followed.
//!
//! Order: a file's owner is set before its mode, because `chown` clears setuid/setgid. Directories are created
//! `0700` and get their real owner, mode and mtime only at the end, children first — so a read-only directory in
//! the archive does not block its own contents, and creating those contents does not bump its mtime. Device
//! nodes and fifos are skipped (the container gets its own `/dev`). A regular file's PAX xattrs are restored
//! when they are `user.*` or `security.capability` (after chown, which would clear a capability); overlay's
//! `trusted.*` and security labels never come from an archive. With [`Options::layer`], `.wh.` entries become
//! overlay whiteouts (`whiteout.rs`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, UtimensatFlags, fchmod, fstatat, futimens, mkdirat, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};
use tar::EntryType;

use super::resolve::{Failed, Root, normalise, split_parent};
use super::{BUF_SIZE, ImageError};

/// What one extraction did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExtractStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Device nodes, fifos, unknown entry types, and names that are empty (`.`) or contain NUL.
    pub skipped: u64,
    /// Bytes of file content written.
    pub bytes: u64,
}

impl ExtractStats {
    pub fn entries(&self) -> u64 {
        self.files + self.dirs + self.symlinks + self.hardlinks + self.skipped
    }
}

/// How an archive is read: a whole root filesystem, or one layer of an image.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The archive is an image layer: `.wh.NAME` and `.wh..wh..opq` entries become overlay whiteouts
    /// (see `whiteout.rs`) instead of files.
    pub layer: bool,
}

/// Safely extract a tar stream into `target` (an existing, empty directory). Returns counts.
pub fn extract<R: Read>(archive: R, target: &Path) -> Result<ExtractStats, ImageError> {
    extract_with(archive, target, Options::default())
}

/// [`extract`], for a root filesystem or an image layer.
pub fn extract_with<R: Read>(archive: R, target: &Path, options: Options) -> Result<ExtractStats, ImageError> {
    let root =
        Root::open(target).map_err(|errno| ImageError::Target { path: target.to_path_buf(), source: errno.into() })?;
    crate::explain!(
        format!("extract into {}", target.display()),
        "openat2(RESOLVE_IN_ROOT) per parent dir; openat(O_EXCL|O_NOFOLLOW), mkdirat, symlinkat, linkat",
        "every name and symlink in the archive is resolved as if the target were /, so none can reach outside it"
    );
    let mut extractor = Extractor {
        root,
        path: Vec::new(),
        link: Vec::new(),
        buf: vec![0; BUF_SIZE],
        chown: nix::unistd::geteuid().is_root(),
        dirs: Vec::new(),
        stats: ExtractStats::default(),
        options,
    };
    let mut archive = tar::Archive::new(archive);
    // An entry's error names the directory it went into: "write … No space left on device" says where.
    let into_target = |e: ImageError| match e {
        ImageError::Entry { entry, op, source, .. } => {
            ImageError::Entry { entry, op, target: target.to_path_buf(), source }
        }
        other => other,
    };
    for entry in archive.entries().map_err(corrupt)? {
        extractor.entry(&mut entry.map_err(corrupt)?).map_err(into_target)?;
    }
    extractor.finish_dirs().map_err(into_target)?;
    Ok(extractor.stats)
}

fn corrupt(source: std::io::Error) -> ImageError {
    ImageError::Corrupt { source }
}

/// A directory's metadata, applied after its contents exist.
struct DirMeta {
    path: Vec<u8>,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
}

/// The header fields every entry kind applies.
#[derive(Clone, Copy)]
struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
}

struct Extractor {
    root: Root,
    /// The current entry's normalised name, reused to avoid an allocation per entry.
    path: Vec<u8>,
    link: Vec<u8>,
    buf: Vec<u8>,
    /// Owners are restored as root; an unprivileged run keeps its own uid after the first EPERM.
    chown: bool,
    dirs: Vec<DirMeta>,
    stats: ExtractStats,
    options: Options,
}

impl Extractor {
    /// The first chown the kernel refuses ends restoring owners: EPERM, not root; EINVAL, root of a user
    /// namespace in which that id is not mapped (a rootless user without a subuid range). Said once.
    fn owners_lost(chown: &mut bool, path: &[u8], errno: Errno, uid: u64, gid: u64) {
        *chown = false;
        if errno == Errno::EINVAL {
            eprintln!(
                "containy: warning: {}: owner {uid}:{gid} is not mapped in this user namespace (no range in \
                 /etc/subuid and /etc/subgid, or one too small for this id), so this and the following files are \
                 owned by root of the container",
                String::from_utf8_lossy(path)
            );
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), ImageError> {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let xattrs =
            if matches!(kind, EntryType::Regular | EntryType::Continuous) { pax_xattrs(entry) } else { Vec::new() };
        let raw = entry.path_bytes();
        let named = normalise(&raw, &mut self.path);
        let failed = |Failed(op, errno): Failed| ImageError::Entry {
            entry: String::from_utf8_lossy(&raw).into_owned(),
            op,
            target: Default::default(),
            source: errno.into(),
        };
        if !named {
            self.stats.skipped += 1;
            return Ok(());
        }
        if self.options.layer
            && let Some(result) = super::whiteout::apply(&mut self.root, &self.path, &mut self.stats)
        {
            return result.map_err(failed);
        }
        let meta = header_meta(entry.header());
        let result = match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                // The data is read inside; only its read errors are the archive's fault.
                let raw_name = String::from_utf8_lossy(&raw).into_owned();
                return self.file(entry, meta, &xattrs).map_err(|e| match e {
                    FileError::Read(source) => ImageError::Corrupt { source },
                    FileError::Step(f) => {
                        ImageError::Entry { entry: raw_name, op: f.0, target: Default::default(), source: f.1.into() }
                    }
                });
            }
            EntryType::Directory => self.dir(meta),
            EntryType::Symlink => match entry.link_name_bytes() {
                Some(target) if !target.is_empty() && !target.contains(&0) => self.symlink(&target, meta),
                _ => Err(Failed("symlink without a usable target", Errno::EINVAL)),
            },
            EntryType::Link => match entry.link_name_bytes() {
                Some(target) if normalise(&target, &mut self.link) => self.hardlink(),
                _ => Err(Failed("hard link without a usable target", Errno::EINVAL)),
            },
            _ => {
                self.stats.skipped += 1;
                Ok(())
            }
        };
        result.map_err(failed)
    }

    fn file<R: Read>(&mut self, data: &mut R, meta: Meta, xattrs: &[(String, Vec<u8>)]) -> Result<(), FileError> {
        let (parent, name) = split_parent(&self.path);
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let private = Mode::from_bits_truncate(0o600);
        let dir = self.root.dir(parent)?;
        let fd = match openat(dir, name, flags, private) {
            Err(Errno::EEXIST) => {
                remove(dir, name)?;
                self.root.forget();
                let dir = self.root.dir(parent)?;
                openat(dir, name, flags, private)
            }
            other => other,
        }
        .map_err(|errno| Failed("openat", errno))?;
        let mut file = File::from(fd);
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(FileError::Read(e)),
            };
            file.write_all(&self.buf[..n]).map_err(|e| Failed("write", errno_of(&e)))?;
            self.stats.bytes += n as u64;
        }
        if self.chown {
            match fchown(&file, Some(uid(meta.uid)), Some(gid(meta.gid))) {
                Err(errno @ (Errno::EPERM | Errno::EINVAL)) => {
                    Self::owners_lost(&mut self.chown, &self.path, errno, meta.uid, meta.gid)
                }
                other => other.map_err(|errno| Failed("fchown", errno))?,
            }
        }
        fchmod(&file, Mode::from_bits_truncate(meta.mode & 0o7777)).map_err(|errno| Failed("fchmod", errno))?;
        // After chown (which would clear a file capability) and chmod. Where the kernel or filesystem does not
        // permit one (EPERM, ENOTSUP), the file is kept without it, as GNU tar does.
        for (name, value) in xattrs {
            let _ = crate::sys::fsetxattr(file.as_fd(), name, value);
        }
        let mtime = TimeSpec::new(meta.mtime as i64, 0);
        futimens(&file, &mtime, &mtime).map_err(|errno| Failed("futimens", errno))?;
        self.stats.files += 1;
        Ok(())
    }

    fn dir(&mut self, meta: Meta) -> Result<(), Failed> {
        let (parent, name) = split_parent(&self.path);
        let dir = self.root.dir(parent)?;
        match mkdirat(dir, name, Mode::from_bits_truncate(0o700)) {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                let existing =
                    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(|errno| Failed("fstatat", errno))?;
                // An existing directory is merged into; anything else (a planted symlink!) is replaced.
                if existing.st_mode & libc::S_IFMT != libc::S_IFDIR {
                    remove(dir, name)?;
                    self.root.forget();
                    let dir = self.root.dir(parent)?;
                    mkdirat(dir, name, Mode::from_bits_truncate(0o700)).map_err(|errno| Failed("mkdirat", errno))?;
                }
            }
            Err(errno) => return Err(Failed("mkdirat", errno)),
        }
        self.dirs.push(DirMeta {
            path: self.path.clone(),
            mode: meta.mode,
            uid: meta.uid,
            gid: meta.gid,
            mtime: meta.mtime,
        });
        self.stats.dirs += 1;
        Ok(())
    }

    fn symlink(&mut self, target: &[u8], meta: Meta) -> Result<(), Failed> {
        let (parent, name) = split_parent(&self.path);
        let dir = self.root.dir(parent)?;
        // The target is stored verbatim: it is only ever resolved inside a root (here, or in the container).
        match symlinkat(target, dir, name) {
            Err(Errno::EEXIST) => {
                remove(dir, name)?;
                self.root.forget();
                let dir = self.root.dir(parent)?;
                symlinkat(target, dir, name)
            }
            other => other,
        }
        .map_err(|errno| Failed("symlinkat", errno))?;
        let dir = self.root.dir(parent)?;
        if self.chown {
            let owner = (Some(uid(meta.uid)), Some(gid(meta.gid)));
            match fchownat(dir, name, owner.0, owner.1, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Err(errno @ (Errno::EPERM | Errno::EINVAL)) => {
                    Self::owners_lost(&mut self.chown, &self.path, errno, meta.uid, meta.gid)
                }
                other => other.map_err(|errno| Failed("fchownat", errno))?,
            }
        }
        let mtime = TimeSpec::new(meta.mtime as i64, 0);
        utimensat(dir, name, &mtime, &mtime, UtimensatFlags::NoFollowSymlink)
            .map_err(|errno| Failed("utimensat", errno))?;
        self.stats.symlinks += 1;
        Ok(())
    }

    /// Link to an earlier entry. The source is resolved in the root too and opened `O_PATH|O_NOFOLLOW`, so a
    /// name like `/etc/shadow` or `evil/shadow` (through `evil -> /etc`) means the file *inside* the target.
    fn hardlink(&mut self) -> Result<(), Failed> {
        if self.link == self.path {
            self.stats.hardlinks += 1;
            return Ok(());
        }
        let source = self
            .root
            .open_in_root(&self.link, OFlag::O_PATH | OFlag::O_NOFOLLOW)
            .map_err(|errno| Failed("openat2 hard link source", errno))?;
        let (parent, name) = split_parent(&self.path);
        let dir = self.root.dir(parent)?;
        let result = match link_fd(source.as_fd(), dir, name) {
            Err(Errno::EEXIST) => {
                remove(dir, name)?;
                self.root.forget();
                let dir = self.root.dir(parent)?;
                link_fd(source.as_fd(), dir, name)
            }
            other => other,
        };
        result.map_err(|errno| Failed("linkat", errno))?;
        self.stats.hardlinks += 1;
        Ok(())
    }

    /// Apply directories' owner, mode and mtime, deepest (latest) first. Each is looked up again in the root
    /// with `O_NOFOLLOW`: if a later entry replaced it with a symlink, it is skipped, never followed.
    fn finish_dirs(&mut self) -> Result<(), ImageError> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
        while let Some(d) = self.dirs.pop() {
            let failed = |op, errno: Errno| ImageError::Entry {
                entry: String::from_utf8_lossy(&d.path).into_owned(),
                op,
                target: Default::default(),
                source: errno.into(),
            };
            let fd = match self.root.open_in_root(&d.path, flags) {
                Ok(fd) => fd,
                Err(Errno::ELOOP | Errno::ENOTDIR | Errno::ENOENT) => continue,
                Err(errno) => return Err(failed("openat2 directory", errno)),
            };
            if self.chown {
                match fchown(&fd, Some(uid(d.uid)), Some(gid(d.gid))) {
                    Err(errno @ (Errno::EPERM | Errno::EINVAL)) => {
                        Self::owners_lost(&mut self.chown, &d.path, errno, d.uid, d.gid)
                    }
                    other => other.map_err(|errno| failed("fchown", errno))?,
                }
            }
            fchmod(&fd, Mode::from_bits_truncate(d.mode & 0o7777)).map_err(|errno| failed("fchmod", errno))?;
            let mtime = TimeSpec::new(d.mtime as i64, 0);
            futimens(&fd, &mtime, &mtime).map_err(|errno| failed("futimens", errno))?;
        }
        Ok(())
    }
}

enum FileError {
    /// Reading the entry's data failed: the archive is corrupt or truncated.
    Read(std::io::Error),
    Step(Failed),
}

impl From<Failed> for FileError {
    fn from(f: Failed) -> Self {
        FileError::Step(f)
    }
}

/// The extended attributes a PAX header carries (`SCHILY.xattr.NAME`) that an image may set on a file: `user.*`
/// (but `user.overlay.*`) and file capabilities. `trusted.*` (overlay's own metadata: an archive must not plant redirects or
/// opaque marks) and `security.*` labels are never taken from an archive.
fn pax_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Vec<(String, Vec<u8>)> {
    let Ok(Some(extensions)) = entry.pax_extensions() else {
        return Vec::new();
    };
    extensions
        .flatten()
        .filter_map(|ext| {
            let name = ext.key().ok()?.strip_prefix("SCHILY.xattr.")?;
            // `user.overlay.*` is overlay's own metadata in a user namespace (`userxattr`): never an archive's.
            let allowed =
                (name.starts_with("user.") && !name.starts_with("user.overlay.")) || name == "security.capability";
            (allowed && !name.contains('\0')).then(|| (name.to_string(), ext.value_bytes().to_vec()))
        })
        .collect()
}

/// Fields that are empty or garbled (some writers leave them all-NUL) fall back to what GNU tar would use.
fn header_meta(header: &tar::Header) -> Meta {
    let default_mode = if header.entry_type().is_dir() { 0o755 } else { 0o644 };
    Meta {
        mode: header.mode().unwrap_or(default_mode),
        uid: header.uid().unwrap_or(0),
        gid: header.gid().unwrap_or(0),
        mtime: header.mtime().unwrap_or(0),
    }
}

fn uid(id: u64) -> Uid {
    Uid::from_raw(u32::try_from(id).unwrap_or(u32::MAX))
}

fn gid(id: u64) -> Gid {
    Gid::from_raw(u32::try_from(id).unwrap_or(u32::MAX))
}

fn errno_of(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// Make room for a new entry: unlink whatever is there (a directory only if empty — GNU tar does the same).
fn remove(dir: BorrowedFd<'_>, name: &[u8]) -> Result<(), Failed> {
    match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Err(Errno::EISDIR) => unlinkat(dir, name, UnlinkatFlags::RemoveDir)
            .map_err(|errno| Failed("rmdir (a directory is in the way)", errno)),
        other => other.map_err(|errno| Failed("unlinkat", errno)),
    }
}

/// `linkat(fd, "", AT_EMPTY_PATH)` links exactly the inode we resolved. It needs CAP_DAC_READ_SEARCH; without
/// it (ENOENT), go through the fd's magic link in /proc, which names the same inode.
fn link_fd(source: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &[u8]) -> nix::Result<()> {
    match linkat(source, "", dir, name, AtFlags::AT_EMPTY_PATH) {
        Err(Errno::ENOENT) => {
            use std::os::fd::AsRawFd;
            let proc_path = format!("/proc/self/fd/{}", source.as_raw_fd());
            linkat(AT_FDCWD, proc_path.as_str(), dir, name, AtFlags::AT_SYMLINK_FOLLOW)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::slip_tests::{Archive, mode, run, setup};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn extracts_a_normal_tree_with_its_metadata() {
        let (_base, t) = setup();
        let mut a = Archive::new();
        a.dir("./")
            .dir("usr/")
            .raw(EntryType::Directory, "usr/bin/", "", b"", 0o750)
            .raw(EntryType::Regular, "usr/bin/su", "", b"#!su", 0o4755)
            .raw(EntryType::Regular, "usr/bin/wall", "", b"wall", 0o2755)
            .file("usr/bin/ls", "ls-binary")
            .hardlink("usr/bin/dir", "usr/bin/ls")
            .symlink("bin", "usr/bin")
            .raw(EntryType::Directory, "ro/", "", b"", 0o555)
            .file("ro/inside", "x");
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o600);
        h.set_uid(1234);
        h.set_gid(5678);
        h.set_mtime(1_234_567_890);
        h.set_entry_type(EntryType::Regular);
        a.0.append_data(&mut h, "home/owned", &b"me"[..]).unwrap();

        let stats = run(&mut a, &t).unwrap();
        assert_eq!((stats.files, stats.dirs, stats.symlinks, stats.hardlinks), (5, 3, 1, 1));
        assert_eq!(stats.skipped, 1, "the ./ entry");
        assert_eq!(stats.bytes, 4 + 4 + 9 + 1 + 2);
        assert_eq!(std::fs::read(t.join("usr/bin/ls")).unwrap(), b"ls-binary");
        assert_eq!(mode(&t.join("usr/bin/su")), 0o4755);
        assert_eq!(mode(&t.join("usr/bin/wall")), 0o2755);
        assert_eq!(mode(&t.join("usr/bin")), 0o750);
        assert_eq!(mode(&t.join("ro")), 0o555);
        assert_eq!(std::fs::read(t.join("ro/inside")).unwrap(), b"x");
        let ls = std::fs::metadata(t.join("usr/bin/ls")).unwrap();
        let dir = std::fs::metadata(t.join("usr/bin/dir")).unwrap();
        assert_eq!((ls.ino(), ls.nlink()), (dir.ino(), 2));
        assert_eq!(std::fs::read_link(t.join("bin")).unwrap(), Path::new("usr/bin"));
        let owned = std::fs::metadata(t.join("home/owned")).unwrap();
        assert_eq!((owned.uid(), owned.gid(), owned.mtime()), (1234, 5678, 1_234_567_890));
        // Directory mtimes survive the files created in them afterwards.
        assert_eq!(std::fs::metadata(t.join("usr/bin")).unwrap().mtime(), 1_000_000_000);
        // `home/` had no entry of its own: made on demand, 0755.
        assert_eq!(mode(&t.join("home")), 0o755);
    }

    #[test]
    fn devices_fifos_and_bad_names_are_skipped() {
        let (_base, t) = setup();
        let mut a = Archive::new();
        a.raw(EntryType::Char, "dev/null", "", b"", 0o666).raw(EntryType::Block, "dev/sda", "", b"", 0o660).raw(
            EntryType::Fifo,
            "run/fifo",
            "",
            b"",
            0o600,
        );
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        a.0.append_pax_extensions([("path", &b"a\0b"[..])]).unwrap();
        a.0.append_data(&mut h, "placeholder", &b"x"[..]).unwrap();
        let stats = run(&mut a, &t).unwrap();
        assert_eq!(stats.skipped, 4);
        assert_eq!(std::fs::read_dir(&t).unwrap().count(), 0);
    }

    #[test]
    fn user_xattrs_are_restored_and_overlay_ones_never() {
        let (_base, t) = setup();
        let mut a = Archive::new();
        a.0.append_pax_extensions([
            ("SCHILY.xattr.user.origin", &b"image"[..]),
            ("SCHILY.xattr.trusted.overlay.redirect", &b"/etc"[..]),
            ("SCHILY.xattr.security.selinux", &b"system_u:object_r:shadow_t"[..]),
        ])
        .unwrap();
        a.file("f", "x");
        run(&mut a, &t).unwrap();
        let get = |name| crate::sys::lgetxattr(&t.join("f"), name).unwrap();
        if get("user.origin").is_none() {
            eprintln!("skipped: {} has no user xattrs", t.display());
            return;
        }
        assert_eq!(get("user.origin").as_deref(), Some(&b"image"[..]));
        assert_eq!(get("trusted.overlay.redirect"), None);
        assert_ne!(get("security.selinux").as_deref(), Some(&b"system_u:object_r:shadow_t"[..]));
    }

    #[test]
    fn gnu_and_pax_long_names_work() {
        let (_base, t) = setup();
        let long = format!("{}/{}", "d".repeat(150), "f".repeat(120));
        let mut a = Archive::new();
        let mut h = tar::Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o644);
        a.0.append_data(&mut h, &long, &b"gnu!"[..]).unwrap();
        let pax_name = format!("{}/pax-file", "p".repeat(200));
        a.0.append_pax_extensions([("path", pax_name.as_bytes())]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(4);
        h.set_mode(0o644);
        a.0.append_data(&mut h, "short", &b"pax!"[..]).unwrap();
        let long_link = format!("{}/target", "l".repeat(150));
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_entry_type(EntryType::Symlink);
        h.set_mode(0o777);
        a.0.append_link(&mut h, "longlink", &long_link).unwrap();
        run(&mut a, &t).unwrap();
        assert_eq!(std::fs::read(t.join(&long)).unwrap(), b"gnu!");
        assert_eq!(std::fs::read(t.join(&pax_name)).unwrap(), b"pax!");
        assert_eq!(std::fs::read_link(t.join("longlink")).unwrap(), Path::new(&long_link));
    }

    #[test]
    fn errors_name_the_entry_and_the_operation() {
        let (_base, t) = setup();
        let err = run(Archive::new().file("f", "x").file("f/x", "y"), &t).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("entry \"f/x\"") && text.contains("openat2"), "{text}");

        let mut bad = Archive::new().file("a", "x").bytes();
        bad[148] ^= 1; // the checksum field
        let err = extract(&bad[..], &t).unwrap_err();
        assert!(matches!(err, ImageError::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn a_big_archive_extracts_completely() {
        let (_base, t) = setup();
        let mut a = Archive::new();
        for d in 0..40 {
            a.dir(&format!("dir{d}/"));
            for f in 0..50 {
                let body = format!("{d}-{f}-").repeat(f * 13 + 1);
                a.file(&format!("dir{d}/file{f}"), &body);
            }
        }
        let stats = run(&mut a, &t).unwrap();
        assert_eq!((stats.dirs, stats.files), (40, 2000));
        for d in 0..40 {
            assert_eq!(std::fs::read_dir(t.join(format!("dir{d}"))).unwrap().count(), 50);
            for f in [0, 17, 49] {
                let body = std::fs::read_to_string(t.join(format!("dir{d}/file{f}"))).unwrap();
                assert_eq!(body, format!("{d}-{f}-").repeat(f * 13 + 1));
            }
        }
    }
}
