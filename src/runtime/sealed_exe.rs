//! Run `exec` from a copy of containy that a container cannot write (CVE-2019-5736).
//!
//! `exec` enters a running container, and the container may be hostile. A binary in it replaced by a script
//! starting `#!/proc/self/exe` makes the kernel execute the *runtime's own binary* inside the container; a
//! container process then holds `/proc/<pid>/exe` — the host file — and writes it once the runtime has
//! exited, and the next containy started on the host is the attacker's. So before it touches the container,
//! `exec` re-executes itself (same arguments) from a file no write can reach:
//!
//! 1. **A read-only overlay view** (runc ≥ 1.2 does the same): `fsopen("overlay")` with the binary's
//!    directory as the upper of two lower layers, `fsmount` read-only, attached nowhere. Opening the binary
//!    through it for writing is `EROFS`, and there is no way to "unwrap" an overlay to its layer (unlike a
//!    read-only bind mount). Nothing is copied: the overlay shares the page cache of the file itself, so the
//!    re-exec costs one `execve` and a few syscalls. Needs `CAP_SYS_ADMIN` over the host's mounts.
//! 2. **A sealed memfd copy** where that fails (rootless, no overlayfs, the binary on an overlay already):
//!    the whole binary copied into memory sealed against writes and resizing — several MiB per `exec`.
//!
//! The re-executed process finds `CONTAINY_SEALED_EXE` in its environment and its own executable on an
//! overlay or a memfd, and goes on. The variable never reaches the container: its environment is the
//! Plan's alone. `run` does not enter a running container and does not pay for any of this.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;
use nix::sys::statfs::{OVERLAYFS_SUPER_MAGIC, TMPFS_MAGIC, statfs};

use super::RuntimeError;
use crate::sys;

/// Set, with the method's name as value, in the environment of the re-executed containy.
const MARK: &str = "CONTAINY_SEALED_EXE";

/// Re-execute this process from a sealed view of its own binary, unless it already runs from one.
/// `scratch` is any directory that does not contain the binary's (the state root): overlayfs needs a
/// second lower layer, and nothing of it is ever read.
pub fn reexec_sealed(scratch: &Path) -> Result<(), RuntimeError> {
    if std::env::var_os(MARK).is_some() && runs_sealed() {
        return Ok(());
    }
    let exe =
        std::fs::read_link("/proc/self/exe").map_err(|e| RuntimeError::io("readlink", "/proc/self/exe".as_ref(), e))?;
    let (file, method) = match overlay_view(&exe, scratch) {
        Ok(file) => {
            crate::explain!(
                "run from a read-only view of containy",
                "fsopen(overlay) + fsconfig(lowerdir) + fsmount(RDONLY) + openat + fexecve",
                "a container must never reach the runtime's binary on the host (CVE-2019-5736)"
            );
            (file, "overlay")
        }
        Err(reason) => {
            crate::explain!(
                "run from a sealed copy of containy",
                format!("memfd_create + copy + F_ADD_SEALS + fexecve (no overlay view: {reason})"),
                "a container must never reach the runtime's binary on the host (CVE-2019-5736)"
            );
            (memfd_copy(&exe)?, "memfd")
        }
    };
    let cstrings = |items: Vec<std::ffi::OsString>| -> Vec<CString> {
        items.into_iter().filter_map(|s| CString::new(s.as_bytes()).ok()).collect()
    };
    let args = cstrings(std::env::args_os().collect());
    let mut env = cstrings(std::env::vars_os().map(|(k, v)| [k, "=".into(), v].into_iter().collect()).collect());
    env.extend(CString::new(format!("{MARK}={method}")));
    let Err(err) = nix::unistd::fexecve(file.as_fd(), &args, &env);
    Err(RuntimeError::sys("fexecve of the sealed containy", err))
}

/// Is this process's executable on an overlay or in a memfd (tmpfs), where `reexec_sealed` puts it?
fn runs_sealed() -> bool {
    statfs("/proc/self/exe").is_ok_and(|fs| matches!(fs.filesystem_type(), OVERLAYFS_SUPER_MAGIC | TMPFS_MAGIC))
}

/// The binary opened through a detached read-only overlay of its directory (over `scratch`).
fn overlay_view(exe: &Path, scratch: &Path) -> std::io::Result<OwnedFd> {
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    };
    // `:` separates layers and `\` escapes: a path holding either is escaped for the option.
    let escape = |p: &Path| p.to_string_lossy().replace('\\', "\\\\").replace(':', "\\:");
    // The binary's directory on top, so that a file of the same name in `scratch` cannot hide it. `xino`
    // off only keeps a kernel log line quiet when the two layers are on different filesystems.
    let lower = format!("{}:{}", escape(dir), escape(scratch));
    let attrs = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOSUID;
    let mount = sys::detached_mount("overlay", &[("lowerdir", &lower), ("xino", "off")], attrs)?;
    Ok(openat(mount.as_fd(), name, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())?)
}

/// A copy of the binary in a memfd, sealed against writes, growing, shrinking and further seals.
fn memfd_copy(exe: &Path) -> Result<OwnedFd, RuntimeError> {
    use nix::fcntl::{FcntlArg, SealFlag, fcntl};
    use nix::sys::memfd::{MFdFlags, memfd_create};

    let memfd = memfd_create(c"containy", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)
        .map_err(|e| RuntimeError::sys("memfd_create", e))?;
    let mut copy = std::fs::File::from(memfd);
    let mut original = std::fs::File::open("/proc/self/exe").map_err(|e| RuntimeError::io("open", exe, e))?;
    std::io::copy(&mut original, &mut copy).map_err(|e| RuntimeError::io("copy", exe, e))?;
    let seals = SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE;
    fcntl(&copy, FcntlArg::F_ADD_SEALS(seals)).map_err(|e| RuntimeError::sys("fcntl(F_ADD_SEALS)", e))?;
    Ok(copy.into())
}
