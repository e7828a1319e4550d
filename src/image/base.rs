//! The base-image cache: `<cache>/<sha256 of the tarball>/rootfs`, extracted at most once per content.
//!
//! Layout (every directory `0700`: the trees keep their setuid files, which must not be reachable from the host):
//! - `<cache>/<digest>/rootfs` — the extracted tree, used read-only as an overlay lower dir; `<digest>/digest`.
//! - `<cache>/by-stat/<key>` — a memo holding the digest of the file with that canonical path, device, inode,
//!   size, mtime and ctime, so the hot path is a few `stat`s instead of hashing ~100 MB on every run.
//! - `<cache>/tmp-*` — work in progress. A miss hashes and extracts in one streaming pass into a fresh tmp dir,
//!   then `rename(2)`s it to `<digest>`: the rename is the commit point, so a `kill -9` at any moment leaves
//!   either a complete tree or a `tmp-*` that is never looked at (and removed once it is an hour old). If the
//!   rename finds the digest already there, another containy (or another copy of the file) won: ours is dropped.

use std::fs::{self, DirBuilder, File};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::{BUF_SIZE, ImageError, decompressed, extract};

pub const DEFAULT_CACHE: &str = "/var/lib/containy/base";

/// A `tmp-*` dir this old belongs to a crashed run (an extraction takes seconds).
const STALE_TMP: Duration = Duration::from_secs(3600);

/// Make sure `tarball` is extracted under `cache` and return the directory holding its root filesystem:
/// `<cache>/<sha256-hex>/rootfs`. Extracts at most once per content.
pub fn ensure_base(tarball: &Path, cache: &Path) -> Result<PathBuf, ImageError> {
    let open_error = |source| ImageError::Open { path: tarball.to_path_buf(), source };
    let canonical = fs::canonicalize(tarball).map_err(open_error)?;
    let meta = fs::metadata(&canonical).map_err(open_error)?;
    let memo = cache.join("by-stat").join(stat_key(&canonical, &meta));
    if let Some(rootfs) = memo_hit(&memo, cache) {
        crate::explain!(
            format!("base image cached at {}", rootfs.display()),
            format!("stat(2) {}, read {}", canonical.display(), memo.display()),
            "the tarball's path, inode, size and times are unchanged since it was hashed, so it is not read again"
        );
        return Ok(rootfs);
    }

    if let Some(parent) = cache.parent() {
        fs::create_dir_all(parent).map_err(cache_error(parent, "mkdir"))?;
    }
    for dir in [cache.to_path_buf(), cache.join("by-stat")] {
        super::private_dir(&dir).map_err(|(op, e)| cache_error(&dir, op)(e))?;
    }
    let digest = populate(tarball, cache)?;
    crate::explain!(
        "remember the digest",
        format!("write {}", memo.display()),
        "the next run finds the base from a stat(2) of the tarball instead of hashing it"
    );
    // Only an optimisation: without the memo, the next run hashes the file again.
    let _ = write_atomically(&memo, &digest);
    Ok(cache.join(digest).join("rootfs"))
}

/// Hash and extract into a tmp dir, then publish it by rename. Returns the digest.
fn populate(tarball: &Path, cache: &Path) -> Result<String, ImageError> {
    remove_stale_tmp(cache);
    let tmp_path = cache.join(format!("tmp-{}", unique()));
    DirBuilder::new().mode(0o700).create(&tmp_path).map_err(cache_error(&tmp_path, "mkdir"))?;
    let tmp = TmpDir { path: tmp_path.clone(), published: false };
    let rootfs = tmp_path.join("rootfs");
    // The container sees this as `/`: the usual 0755, whatever the umask.
    fs::create_dir(&rootfs).map_err(cache_error(&rootfs, "mkdir"))?;
    fs::set_permissions(&rootfs, fs::Permissions::from_mode(0o755)).map_err(cache_error(&rootfs, "chmod"))?;

    crate::explain!(
        format!("hash and extract {}", tarball.display()),
        format!("read(2) + sha256 + gunzip + tar, into {}", rootfs.display()),
        "one streaming pass: the digest names the cache entry, and the archive is never copied or read twice"
    );
    let file = File::open(tarball).map_err(|source| ImageError::Open { path: tarball.to_path_buf(), source })?;
    let mut hashing = Hashing { inner: file, hasher: Sha256::new() };
    let in_tarball =
        |source: ImageError| ImageError::Tarball { tarball: tarball.to_path_buf(), source: Box::new(source) };
    let corrupt = |source| in_tarball(ImageError::Corrupt { source });
    let stats = {
        let mut stream = decompressed(BufReader::with_capacity(BUF_SIZE, &mut hashing)).map_err(corrupt)?;
        let stats = extract(&mut stream, &rootfs).map_err(in_tarball)?;
        // Past the tar end marker: padding and the gzip trailer, whose CRC check catches a corrupt tail.
        io::copy(&mut stream, &mut io::sink()).map_err(corrupt)?;
        stats
    };
    // Whatever follows the gzip stream is part of the file, so it is part of the digest too.
    io::copy(&mut hashing, &mut io::sink()).map_err(corrupt)?;
    let digest = hex(&hashing.hasher.finalize());
    crate::explain!(
        format!("extracted {} entries ({} files, {} bytes)", stats.entries(), stats.files, stats.bytes),
        format!("sha256 {digest}"),
        format!("{} device nodes, fifos or unnamed entries skipped: the container gets its own /dev", stats.skipped)
    );
    let digest_file = tmp_path.join("digest");
    fs::write(&digest_file, format!("{digest}\n")).map_err(cache_error(&digest_file, "write"))?;

    let dest = cache.join(&digest);
    crate::explain!(
        "publish the base image",
        format!("rename(2) {} -> {}", tmp_path.display(), dest.display()),
        "atomic: other containy processes see either no base or a complete one, never a half-extracted tree"
    );
    match fs::rename(&tmp_path, &dest) {
        Ok(()) => tmp.publish(),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => {
            if dest.join("rootfs").is_dir() {
                crate::explain!(
                    "base image already present",
                    format!("rmdir -r {}", tmp_path.display()),
                    "another containy, or another copy of this tarball, published the same content first"
                );
            } else {
                // A digest dir without a rootfs was damaged by hand: move it aside, publish ours.
                let aside = cache.join(format!("tmp-damaged-{}", unique()));
                fs::rename(&dest, &aside).map_err(cache_error(&dest, "move aside the damaged entry"))?;
                let _ = fs::remove_dir_all(&aside);
                fs::rename(&tmp_path, &dest).map_err(cache_error(&dest, "rename"))?;
                tmp.publish();
            }
        }
        Err(e) => return Err(cache_error(&dest, "rename")(e)),
    }
    Ok(digest)
}

/// A Read adapter feeding every byte it passes on into sha256.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Removes the tmp dir when dropped (any error, or the race was lost), unless it was published.
struct TmpDir {
    path: PathBuf,
    published: bool,
}

impl TmpDir {
    fn publish(mut self) {
        self.published = true;
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        if !self.published {
            // remove_dir_all does not follow symlinks, so the extracted tree's links are harmless here.
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

fn memo_hit(memo: &Path, cache: &Path) -> Option<PathBuf> {
    let text = fs::read_to_string(memo).ok()?;
    let digest = text.trim();
    let valid = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let rootfs = cache.join(digest).join("rootfs");
    (valid && rootfs.is_dir()).then_some(rootfs)
}

/// The file's identity and version, as the memo's name: any change to the file changes its ctime.
fn stat_key(canonical: &Path, meta: &fs::Metadata) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut h = Sha256::new();
    h.update(canonical.as_os_str().as_bytes());
    h.update([0]);
    for n in [meta.dev(), meta.ino(), meta.size()] {
        h.update(n.to_le_bytes());
    }
    for (s, ns) in [(meta.mtime(), meta.mtime_nsec()), (meta.ctime(), meta.ctime_nsec())] {
        h.update(s.to_le_bytes());
        h.update(ns.to_le_bytes());
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unique() -> String {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

fn write_atomically(path: &Path, contents: &str) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", unique()));
    fs::write(&tmp, contents)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Best effort: a crashed run's tmp dir is garbage once it is old; a young one may be a concurrent run's.
fn remove_stale_tmp(cache: &Path) {
    let Ok(entries) = fs::read_dir(cache) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let stale = entry.file_name().as_encoded_bytes().starts_with(b"tmp-")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_TMP));
        if stale {
            crate::explain!(
                "remove a stale tmp dir",
                format!("rmdir -r {}", entry.path().display()),
                "left behind by a containy that was killed while extracting"
            );
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn cache_error<'a>(path: &'a Path, op: &'static str) -> impl Fn(io::Error) -> ImageError + 'a {
    move |source| ImageError::Cache { path: path.to_path_buf(), op, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz_tarball(dir: &Path, name: &str, body: &str) -> PathBuf {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o4755);
        b.append_data(&mut h, "bin/hello", body.as_bytes()).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&b.into_inner().unwrap()).unwrap();
        let path = dir.join(name);
        fs::write(&path, gz.finish().unwrap()).unwrap();
        path
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    }

    fn mtime_ns(path: &Path) -> (i64, i64) {
        let m = fs::metadata(path).unwrap();
        (m.mtime(), m.mtime_nsec())
    }

    #[test]
    fn extracts_once_then_hits_the_memo() {
        let dir = tempfile::tempdir().unwrap();
        let tarball = gz_tarball(dir.path(), "base.tar.gz", "hi");
        let cache = dir.path().join("cache");
        let rootfs = ensure_base(&tarball, &cache).unwrap();

        let digest = hex(&Sha256::digest(fs::read(&tarball).unwrap()));
        assert_eq!(rootfs, cache.join(&digest).join("rootfs"));
        assert_eq!(fs::read_to_string(cache.join(&digest).join("digest")).unwrap().trim(), digest);
        assert_eq!(fs::read(rootfs.join("bin/hello")).unwrap(), b"hi");
        assert_eq!(fs::metadata(rootfs.join("bin/hello")).unwrap().mode() & 0o7777, 0o4755);
        assert_eq!(fs::metadata(&cache).unwrap().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(&rootfs).unwrap().mode() & 0o777, 0o755);
        let mut expected = vec![digest.clone(), "by-stat".to_string()];
        expected.sort();
        assert_eq!(names(&cache), expected);
        if let Ok(out) = std::process::Command::new("sha256sum").arg(&tarball).output() {
            assert!(String::from_utf8_lossy(&out.stdout).starts_with(&digest));
        }

        // A memo hit creates nothing in the cache (a tmp dir, even removed again, would change its mtime).
        let before = mtime_ns(&cache);
        assert_eq!(ensure_base(&tarball, &cache).unwrap(), rootfs);
        assert_eq!(mtime_ns(&cache), before);
        assert_eq!(names(&cache).len(), 2);
    }

    #[test]
    fn same_content_shares_one_entry_and_new_content_gets_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let a = gz_tarball(dir.path(), "a.tar.gz", "same");
        let b = dir.path().join("b.tar.gz");
        fs::copy(&a, &b).unwrap();
        let ra = ensure_base(&a, &cache).unwrap();
        assert_eq!(ensure_base(&b, &cache).unwrap(), ra);
        assert_eq!(names(&cache).iter().filter(|n| n.starts_with("tmp-")).count(), 0);

        gz_tarball(dir.path(), "a.tar.gz", "changed content");
        let changed = ensure_base(&a, &cache).unwrap();
        assert_ne!(changed, ra);
        assert_eq!(fs::read(changed.join("bin/hello")).unwrap(), b"changed content");
    }

    #[test]
    fn leftovers_from_a_crash_do_not_confuse_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let tarball = gz_tarball(dir.path(), "base.tar.gz", "hi");
        let digest = hex(&Sha256::digest(fs::read(&tarball).unwrap()));
        // A stale tmp dir (two hours old), a young one (maybe a concurrent run), and a damaged digest dir.
        for d in ["tmp-123/rootfs/bin", "tmp-456/rootfs", &format!("{digest}/junk")] {
            fs::create_dir_all(cache.join(d)).unwrap();
        }
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        let secs = two_hours_ago.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
        let t = nix::sys::time::TimeSpec::new(secs, 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &cache.join("tmp-123"),
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();

        let rootfs = ensure_base(&tarball, &cache).unwrap();
        assert_eq!(fs::read(rootfs.join("bin/hello")).unwrap(), b"hi");
        let left = names(&cache);
        assert!(!left.contains(&"tmp-123".to_string()), "{left:?}");
        assert!(left.contains(&"tmp-456".to_string()), "{left:?}");
        assert_eq!(left.iter().filter(|n| n.starts_with("tmp-")).count(), 1, "{left:?}");
    }

    #[test]
    fn a_corrupt_tarball_names_the_file_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let tarball = gz_tarball(dir.path(), "broken.tar.gz", &"x".repeat(10_000));
        let mut bytes = fs::read(&tarball).unwrap();
        let len = bytes.len();
        bytes.truncate(len - 12);
        fs::write(&tarball, bytes).unwrap();
        let err = ensure_base(&tarball, &cache).unwrap_err();
        let text = crate::error::chain(&err);
        assert!(text.contains("broken.tar.gz") && text.contains("corrupt"), "{text}");
        assert_eq!(names(&cache), vec!["by-stat".to_string()]);
    }
}
