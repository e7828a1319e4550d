//! Where containy keeps things, for root and for an ordinary user.
//!
//! Root keeps container state in `/run/containy` (a tmpfs: state must not survive a reboot, when every
//! container is gone) and images, base trees and compiled seccomp filters in `/var/lib/containy`. A user
//! without root cannot write there, so a rootless containy uses the same layout in the user's own places
//! (the XDG base directories, as podman does): state in `$XDG_RUNTIME_DIR/containy` (the per-user tmpfs
//! systemd makes, `/run/user/UID`), the rest in `${XDG_DATA_HOME:-~/.local/share}/containy`. Nothing else
//! changes: "rootless is the same engine with different roots".
//!
//! "Rootless" means containy holds no privilege on the host: its effective uid is not 0, or it is root only
//! inside a user namespace that is not the host's (an engine such as podman runs its OCI runtime there).
//! The command line's defaults are decided here, once, before anything else runs.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const ROOT_STATE: &str = "/run/containy";
const ROOT_DATA: &str = "/var/lib/containy";

/// The state root given when `$XDG_RUNTIME_DIR` is unset: never used as a directory, only recognised by
/// [`check_state_root`], which then says what to do.
const NO_RUNTIME_DIR: &str = "<$XDG_RUNTIME_DIR is not set>";

#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error(
        "XDG_RUNTIME_DIR is not set: a rootless containy keeps container state in $XDG_RUNTIME_DIR/containy — \
         set it to a directory you own with mode 0700 (e.g. export XDG_RUNTIME_DIR=/run/user/{uid}), or give --root DIR"
    )]
    NoRuntimeDir { uid: u32 },
    #[error(
        "XDG_RUNTIME_DIR={dir} is {problem}: a rootless containy keeps container state there, and it must be a \
         directory only you can write (owned by uid {uid}, mode 0700) — fix it, or give --root DIR"
    )]
    BadRuntimeDir { dir: PathBuf, problem: String, uid: u32 },
}

/// Does containy run without privilege on the host (not root, or root only in a user namespace of its own)?
pub fn rootless() -> bool {
    // Asked by every default of the command line: read /proc once.
    static ROOTLESS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOTLESS.get_or_init(|| !nix::unistd::geteuid().is_root() || !crate::sys::in_initial_user_namespace())
}

/// Where containers' state lives unless `--root` says otherwise.
pub fn state_root() -> PathBuf {
    if !rootless() {
        return PathBuf::from(ROOT_STATE);
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("containy"),
        None => PathBuf::from(NO_RUNTIME_DIR),
    }
}

/// Where images, base trees and the seccomp cache live: `/var/lib/containy`, or
/// `${XDG_DATA_HOME:-~/.local/share}/containy` for a rootless user.
pub fn data_dir() -> PathBuf {
    if !rootless() {
        return PathBuf::from(ROOT_DATA);
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("containy");
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| crate::accounts::user_by_uid(nix::unistd::getuid().as_raw()).map(|u| u.home));
    home.unwrap_or_else(|| PathBuf::from("/nonexistent")).join(".local/share/containy")
}

/// The image store.
pub fn store() -> PathBuf {
    data_dir()
}

/// Where base tarballs are extracted.
pub fn base_cache() -> PathBuf {
    data_dir().join("base")
}

/// Where compiled seccomp filters are kept.
pub fn seccomp_cache() -> PathBuf {
    data_dir().join("seccomp")
}

/// Refuse a rootless state root that cannot be right: `$XDG_RUNTIME_DIR` unset (when the default is used),
/// or a runtime directory someone else owns or may write (state and the exec FIFO would be theirs to
/// change). An explicit `--root` elsewhere is the caller's choice.
pub fn check_state_root(root: &Path) -> Result<(), PathsError> {
    let uid = nix::unistd::geteuid().as_raw();
    if root == Path::new(NO_RUNTIME_DIR) {
        return Err(PathsError::NoRuntimeDir { uid: nix::unistd::getuid().as_raw() });
    }
    if !rootless() {
        return Ok(());
    }
    let Some(runtime_dir) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) else { return Ok(()) };
    if !root.starts_with(&runtime_dir) {
        return Ok(());
    }
    let bad = |problem: String| PathsError::BadRuntimeDir { dir: runtime_dir.clone(), problem, uid };
    let meta = std::fs::metadata(&runtime_dir).map_err(|e| bad(format!("not usable ({e})")))?;
    if !meta.is_dir() {
        return Err(bad("not a directory".into()));
    }
    if meta.uid() != uid {
        return Err(bad(format!("owned by uid {}, not by you", meta.uid())));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(bad(format!("writable by others (mode {:o})", meta.mode() & 0o7777)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unset_runtime_dir_is_refused_with_what_to_do() {
        let err = check_state_root(Path::new(NO_RUNTIME_DIR)).unwrap_err().to_string();
        assert!(err.contains("XDG_RUNTIME_DIR is not set") && err.contains("--root"), "{err}");
    }

    #[test]
    fn root_keeps_the_system_directories() {
        if rootless() {
            return;
        }
        assert_eq!(state_root(), Path::new("/run/containy"));
        assert_eq!(store(), Path::new("/var/lib/containy"));
        assert_eq!(base_cache(), Path::new("/var/lib/containy/base"));
        assert_eq!(seccomp_cache(), Path::new("/var/lib/containy/seccomp"));
    }
}
