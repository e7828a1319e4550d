//! Base images: a root filesystem shipped as a (gzip-compressed) tarball, extracted once into a cache keyed by the
//! tarball's sha256, then used read-only as the lower layer of every container's overlay.
//!
//! A tarball is untrusted input: its entry names and link targets are only *suggestions* of where to write. The
//! whole defense against tar-slip lives in `resolve.rs`: the target directory is opened once, and every path an
//! entry names — its parent directory, a hard link's source — is resolved with `openat2(RESOLVE_IN_ROOT)`, so `..`,
//! absolute names and symlinks (even ones the archive planted a moment earlier) are all clamped to the target as if
//! it were `/`. The final component is then created relative to that resolved directory fd with `*at()` calls that
//! never follow a final symlink. Order matters twice: ownership before mode (`chown` clears setuid bits), and a
//! directory's mode and mtime only after everything inside it was written (see [`extract`]).
//!
//! [`ensure_base`] adds the cache: one streaming pass reads the file, hashes it and extracts it into a private
//! `tmp-*` directory, which is then `rename`d to `<cache>/<sha256>` — atomic, so a crash or a concurrent containy
//! never leaves a half-extracted base where a container could use it.

pub(crate) mod archive;
mod base;
pub mod build;
mod busybox;
mod export;
mod extract;
mod import;
mod progress;
pub mod registry;
mod resolve;
pub mod runconf;
#[cfg(test)]
mod slip_tests;
pub mod store;
pub mod whiteout;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

pub use base::{DEFAULT_CACHE, ensure_base};
pub use busybox::make_busybox_base;
pub use export::export;
pub use extract::{ExtractStats, Options, extract, extract_with};
pub use import::{Imported, import};
pub use store::{DEFAULT_STORE, Image, ImageConfig, ImageRecord, Store};

/// Large reads keep the syscall count low; the gzip decoder inflates straight out of this buffer.
pub(crate) const BUF_SIZE: usize = 256 * 1024;

/// Create `dir` if missing and make sure it is 0700: the base cache and the store are root's alone. On
/// failure, the operation that failed, for the caller's own error.
pub(crate) fn private_dir(dir: &Path) -> Result<(), (&'static str, std::io::Error)> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        other => other.map_err(|e| ("mkdir", e))?,
    }
    let meta = std::fs::metadata(dir).map_err(|e| ("stat", e))?;
    if meta.permissions().mode() & 0o7777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| ("chmod 0700", e))?;
    }
    Ok(())
}

/// What can go wrong while opening, hashing, extracting or caching a base image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot open tarball {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot read the archive, it is corrupt or truncated (gzip or tar stream)")]
    Corrupt {
        #[source]
        source: std::io::Error,
    },

    #[error("cannot open extraction target {}", path.display())]
    Target {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("entry {entry:?}: {op} in {}", target.display())]
    Entry {
        entry: String,
        op: &'static str,
        /// The directory extracted into (filled in by `extract_with`, for every entry's error).
        target: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot extract {}", tarball.display())]
    Tarball {
        tarball: PathBuf,
        #[source]
        source: Box<ImageError>,
    },

    #[error("image store: cannot {op} {}", path.display())]
    Store {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("no image {name:?} in the store {}: import it with 'containy image import {name} FILE', or see \
             'containy image ls'", store.display())]
    NoImage { name: String, store: PathBuf },

    #[error(
        "{name:?} is not an image name: use lowercase letters, digits and ._-/ with an optional :tag, e.g. \
             debian:bookworm"
    )]
    BadName { name: String },

    #[error("the store is damaged: {what} is missing; import the image again")]
    Missing { what: String },

    #[error("{what}: {message}")]
    Format { what: String, message: String },

    #[error("{what}: digest mismatch: expected sha256:{expected}, the content is sha256:{actual}")]
    Digest { what: String, expected: String, actual: String },

    #[error("{0}")]
    Usage(String),

    #[error("{}:{line}: {instruction}: {message}", file.display())]
    Build { file: PathBuf, line: usize, instruction: String, message: String },

    #[error(transparent)]
    Io(#[from] crate::error::IoError),

    #[error(transparent)]
    Fault(#[from] crate::fault::Injected),

    #[error("base image cache: cannot {op} {}", path.display())]
    Cache {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Open a tarball, sniffing gzip by magic bytes (1f 8b); plain tar otherwise. Buffered.
pub fn open_tarball(path: &Path) -> Result<Box<dyn Read>, ImageError> {
    let open_error = |source| ImageError::Open { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(open_error)?;
    decompressed(BufReader::with_capacity(BUF_SIZE, file)).map_err(open_error)
}

/// Wrap `input` in a gzip or zstd decoder if it starts with that format's magic. `MultiGzDecoder`, because
/// `gzip -d` (what `tar -xzf` runs) accepts concatenated members too.
pub(crate) fn decompressed<'a, R: BufRead + 'a>(mut input: R) -> std::io::Result<Box<dyn Read + 'a>> {
    let head = input.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(input)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(input)?))
    } else {
        Ok(Box::new(input))
    }
}

/// Lowercase hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A Read adapter feeding every byte it passes on into sha256.
pub(crate) struct Hashing<R> {
    pub inner: R,
    pub hasher: sha2::Sha256,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Self {
        use sha2::Digest;
        Hashing { inner, hasher: sha2::Sha256::new() }
    }
    pub fn hex(&self) -> String {
        use sha2::Digest;
        hex(&self.hasher.clone().finalize())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn one_file_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "hello.txt", &b"hello"[..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn open_tarball_sniffs_gzip_and_plain_tar() {
        let dir = tempfile::tempdir().unwrap();
        let plain = one_file_tar();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);

        // The names lie on purpose: detection must look at the bytes, not the suffix.
        for (name, bytes) in [("a.tar", &gz), ("b.tar.gz", &plain)] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let target = dir.path().join(format!("out-{name}"));
            std::fs::create_dir(&target).unwrap();
            let stats = extract(open_tarball(&path).unwrap(), &target).unwrap();
            assert_eq!(stats.files, 1);
            assert_eq!(std::fs::read(target.join("hello.txt")).unwrap(), b"hello");
        }
    }

    #[test]
    fn zstd_is_recognised_by_its_magic() {
        let dir = tempfile::tempdir().unwrap();
        let zst = zstd::stream::encode_all(&one_file_tar()[..], 3).unwrap();
        assert_eq!(&zst[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
        let path = dir.path().join("rootfs.tar.zst");
        std::fs::write(&path, zst).unwrap();
        let target = dir.path().join("out");
        std::fs::create_dir(&target).unwrap();
        extract(open_tarball(&path).unwrap(), &target).unwrap();
        assert_eq!(std::fs::read(target.join("hello.txt")).unwrap(), b"hello");
    }

    #[test]
    fn corrupt_gzip_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&one_file_tar()).unwrap();
        let mut gz = gz.finish().unwrap();
        let mid = gz.len() / 2;
        gz[mid..].iter_mut().for_each(|b| *b = !*b);
        let path = dir.path().join("bad.tar.gz");
        std::fs::write(&path, gz).unwrap();
        let target = dir.path().join("out");
        std::fs::create_dir(&target).unwrap();
        let mut stream = open_tarball(&path).unwrap();
        let result = extract(&mut stream, &target).and_then(|_| {
            std::io::copy(&mut stream, &mut std::io::sink()).map_err(|source| ImageError::Corrupt { source })
        });
        let err = result.unwrap_err();
        assert!(matches!(err, ImageError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("corrupt"), "{err}");
    }

    #[test]
    fn missing_tarball_names_the_path() {
        let err = open_tarball(Path::new("/nonexistent/debian.tar.gz")).err().unwrap();
        assert!(err.to_string().contains("/nonexistent/debian.tar.gz"), "{err}");
    }
}
