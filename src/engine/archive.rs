//! `docker cp`: files in and out of a running container, confined to its root filesystem.
//!
//! The container's root is reached through `/proc/<pid>/root`, and every path in it is opened with
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

/// Open `path` inside the root of running container `reference` (`O_PATH`, final symlink followed).
fn open_in_container(engine: &Engine, reference: &str, path: &str) -> Result<OwnedFd> {
    let rec = record::find(engine, reference)?;
    let state = ops::status(engine, &rec);
    if state.status != "running" && state.status != "paused" {
        return Err(EngineError::conflict(format!(
            "container {} is not running: containy copies files only while a container runs",
            rec.id
        )));
    }
    let root_path = format!("/proc/{}/root", state.pid);
    let root =
        nix::fcntl::open(root_path.as_str(), OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| EngineError::internal(format!("open {root_path}: {e}")))?;
    let relative = path.trim_start_matches('/');
    let relative = if relative.is_empty() { "." } else { relative };
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(&root, relative, how).map_err(|e| match e {
        nix::errno::Errno::ENOENT => {
            EngineError::not_found(format!("Could not find the file {path} in container {reference}"))
        }
        e => EngineError::bad(format!("{path}: {e}")),
    })
}

fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

pub fn stat(engine: &Engine, reference: &str, path: &str) -> Result<PathStat> {
    let fd = open_in_container(engine, reference, path)?;
    let st = nix::sys::stat::fstat(&fd).map_err(|e| EngineError::internal(format!("stat {path}: {e}")))?;
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
    let fd = open_in_container(engine, reference, path)?;
    let source = fd_path(&fd);
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
    let fd = open_in_container(engine, reference, dir)?;
    let target = fd_path(&fd);
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
