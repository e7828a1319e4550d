//! `docker cp`: files in and out of a container, confined to its root filesystem.
//!
//! A running (or created) container's root is reached through `/proc/<pid>/root`; a stopped one's is its
//! writable layer (kept until `rm`) over its image's layers, mounted for the one request as a detached
//! overlay (`fsmount`: in no namespace, gone when its descriptor closes). Every path in it is opened with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` on that directory: `..` and absolute symlinks resolve
//! as if the container's root were `/`, so a path (or a symlink the container planted) cannot reach the
//! host. The opened object is then named `/proc/self/fd/N` for the tar writer, and the archive coming in
//! is unpacked by `image::extract`, which resolves every entry the same way.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::Mode;

use super::{Engine, EngineError, Result, ops, record};

/// What docker's `X-Docker-Container-Path-Stat` header says about a path (Go's `os.FileMode` bits).
#[derive(Debug, serde::Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: u64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// An opened path in a container's root, and what keeps that root alive (a stopped container's layers,
/// mounted for this request only).
struct Opened {
    fd: OwnedFd,
    _root: OwnedFd,
}

/// Open `path` inside the root of container `reference` (`O_PATH`, final symlink followed): a container
/// with a process is reached through `/proc/<pid>/root`; an exited one (or one whose process is gone)
/// through its writable layer over its image's layers, mounted for this request (`writable` for `cp` in).
fn open_in_container(engine: &Engine, reference: &str, path: &str, writable: bool) -> Result<Opened> {
    let rec = record::find(engine, reference)?;
    let state = ops::status(engine, &rec);
    let live = matches!(state.status.as_str(), "running" | "paused" | "created") && state.pid > 0;
    let root = if live {
        let root_path = format!("/proc/{}/root", state.pid);
        nix::fcntl::open(root_path.as_str(), OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| EngineError::internal(format!("open {root_path}: {e}")))?
    } else {
        stopped_root(engine, &rec, writable)?
    };
    let relative = path.trim_start_matches('/');
    let relative = if relative.is_empty() { "." } else { relative };
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(&root, relative, how).map_err(|e| match e {
        nix::errno::Errno::ENOENT => {
            EngineError::not_found(format!("Could not find the file {path} in container {reference}"))
        }
        e => EngineError::bad(format!("{path}: {e}")),
    })?;
    Ok(Opened { fd, _root: root })
}

/// The root filesystem of a container without a process: an overlay of its writable layer (kept in the
/// record until `rm`) over its image's layers, as a detached mount (gone when the descriptor closes).
/// Read-only, the writable layer is just the top lower layer; `writable`, it is the upper dir again.
fn stopped_root(engine: &Engine, rec: &record::Record, writable: bool) -> Result<OwnedFd> {
    let changes = engine.changes_dir(&rec.id);
    let (upper, work) = (changes.join("upper"), changes.join("work"));
    if !upper.is_dir() {
        return Err(EngineError::conflict(format!(
            "container {} has no filesystem to copy from or to ({} is missing)",
            rec.id,
            upper.display()
        )));
    }
    let store = crate::image::store::Store::open(&engine.store)?;
    let image = store.find(&rec.image_id)?;
    let text = |p: &Path| {
        p.to_str().map(str::to_string).ok_or_else(|| EngineError::internal(format!("{}: not UTF-8", p.display())))
    };
    let mut options = Vec::new();
    if writable {
        options.push(("upperdir", text(&upper)?));
        options.push(("workdir", text(&work)?));
    } else {
        options.push(("lowerdir+", text(&upper)?));
    }
    for layer in store.lowerdirs(&image) {
        options.push(("lowerdir+", text(&layer)?));
    }
    let options: Vec<(&str, &str)> = options.iter().map(|(k, v)| (*k, v.as_str())).collect();
    crate::sys::detached_mount("overlay", &options, if writable { 0 } else { libc::MOUNT_ATTR_RDONLY })
        .map_err(|e| EngineError::internal(format!("mount the layers of container {}: {e}", rec.id)))
}

fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

pub fn stat(engine: &Engine, reference: &str, path: &str) -> Result<PathStat> {
    let opened = open_in_container(engine, reference, path, false)?;
    let st = nix::sys::stat::fstat(&opened.fd).map_err(|e| EngineError::internal(format!("stat {path}: {e}")))?;
    let kind = st.st_mode & libc::S_IFMT;
    let mut mode = st.st_mode & 0o777;
    if kind == libc::S_IFDIR {
        mode |= 1 << 31;
    }
    let name = Path::new(path).file_name().map_or("/".into(), |n| n.to_string_lossy().into_owned());
    Ok(PathStat { name, size: st.st_size as u64, mode, mtime: crate::clock::now_rfc3339(), link_target: String::new() })
}

/// Write `path` (a file or a whole directory) as a tar archive to `out`, named by its last component.
pub fn get<W: Write>(engine: &Engine, reference: &str, path: &str, out: W) -> Result<()> {
    let opened = open_in_container(engine, reference, path, false)?;
    let source = fd_path(&opened.fd);
    let name = Path::new(path).file_name().map_or(".".into(), |n| n.to_string_lossy().into_owned());
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let fail = |e: std::io::Error| EngineError::internal(format!("archive {path}: {e}"));
    if source.is_dir() {
        tar.append_dir_all(&name, &source).map_err(fail)?;
    } else {
        // Read through the fd (not by the path: `/proc/self/fd/N` is itself a symlink, to a host path).
        let mut file = std::fs::File::open(&source).map_err(fail)?;
        let meta = file.metadata().map_err(fail)?;
        if !meta.is_file() {
            return Err(EngineError::bad(format!("{path}: only regular files and directories can be copied")));
        }
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&meta);
        tar.append_data(&mut header, &name, &mut file).map_err(fail)?;
    }
    tar.into_inner().map_err(fail)?.flush().map_err(fail)
}

/// Unpack the tar archive `input` into directory `dir` of the container.
pub fn put<R: Read>(engine: &Engine, reference: &str, dir: &str, input: R) -> Result<()> {
    let opened = open_in_container(engine, reference, dir, true)?;
    let target = fd_path(&opened.fd);
    if !target.is_dir() {
        return Err(EngineError::bad(format!("extraction point is not a directory: {dir}")));
    }
    crate::image::extract(input, &target)?;
    Ok(())
}

/// Standard base64 (for the stat header).
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_pads() {
        assert_eq!(super::base64(b"hi"), "aGk=");
        assert_eq!(super::base64(b"abc"), "YWJj");
        assert_eq!(super::base64(b"a"), "YQ==");
    }
}
