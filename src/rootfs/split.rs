//! The split root (Contingious' idea): copy the small part of an image a container is expected to change,
//! bind-mount the rest read-only.
//!
//! Writes to the copied part (`/etc`, `/tmp`, `/var`, …) go at native speed with no overlay copy-up, and the
//! big read-only part (`/usr`, `/lib`) costs one bind mount however large it is. Top-level symlinks and files
//! (`/bin -> usr/bin` on merged-/usr systems) are copied as they are. The copy is made by the parent, on the
//! host side, before the container exists; the binds are made by the child in its mount namespace.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::RootfsError;

/// The top-level names the split mode copies when the config does not say.
pub const DEFAULT_EDITABLE: &[&str] = &["etc", "home", "root", "run", "tmp", "var"];

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> RootfsError + 'a {
    move |source| RootfsError::Io(crate::error::IoError::new(op, path, source))
}

/// Top-level directories of `base` that are bind-mounted read-only (not editable).
pub fn shared_entries(base: &Path, editable: &[String]) -> Vec<String> {
    let Ok(entries) = fs::read_dir(base) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !editable.contains(name))
        .collect();
    names.sort();
    names
}

/// Build the per-container part of a split root in `rootfs`: copies of the editable entries and of every
/// top-level non-directory, and empty directories where the shared entries will be mounted.
pub fn prepare(base: &Path, rootfs: &Path, editable: &[String]) -> Result<(), RootfsError> {
    crate::explain!(
        format!("copy the editable part ({}) of the base", editable.join(", ")),
        format!("copy {} -> {}", base.display(), rootfs.display()),
        "only this small part is private and writable; the rest is shared read-only"
    );
    for entry in fs::read_dir(base).map_err(io("read_dir", base))? {
        let entry = entry.map_err(io("read_dir", base))?;
        let name = entry.file_name();
        let src = entry.path();
        let dst = rootfs.join(&name);
        let is_dir = entry.file_type().map_err(io("stat", &src))?.is_dir();
        if is_dir && !editable.iter().any(|e| name == e.as_str()) {
            fs::create_dir(&dst).map_err(io("mkdir", &dst))?;
        } else {
            copy_tree(&src, &dst)?;
        }
    }
    Ok(())
}

/// Copy a tree, keeping modes, owners and symlinks (not following them). Device nodes and sockets are
/// skipped: the container's `/dev` is its own.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<(), RootfsError> {
    let meta = fs::symlink_metadata(src).map_err(io("lstat", src))?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target = fs::read_link(src).map_err(io("readlink", src))?;
        std::os::unix::fs::symlink(&target, dst).map_err(io("symlink", dst))?;
    } else if kind.is_dir() {
        fs::create_dir(dst).map_err(io("mkdir", dst))?;
        let mut children: Vec<PathBuf> = Vec::new();
        for entry in fs::read_dir(src).map_err(io("read_dir", src))? {
            children.push(entry.map_err(io("read_dir", src))?.path());
        }
        for child in children {
            if let Some(name) = child.file_name() {
                copy_tree(&child, &dst.join(name))?;
            }
        }
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777)).map_err(io("chmod", dst))?;
    } else if kind.is_file() {
        fs::copy(src, dst).map_err(io("copy", src))?;
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777)).map_err(io("chmod", dst))?;
    } else {
        return Ok(());
    }
    // Owner last: chown clears setuid bits on some filesystems; then restore the mode for regular files.
    std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid())).map_err(io("lchown", dst))?;
    if kind.is_file() && meta.mode() & 0o6000 != 0 {
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777)).map_err(io("chmod", dst))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editable_parts_are_copied_and_the_rest_left_for_binds() {
        let base = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(base.path().join("etc/sub")).unwrap();
        fs::write(base.path().join("etc/sub/hosts"), "x").unwrap();
        fs::create_dir_all(base.path().join("usr/bin")).unwrap();
        fs::write(base.path().join("usr/bin/tool"), "y").unwrap();
        std::os::unix::fs::symlink("usr/bin", base.path().join("bin")).unwrap();
        let editable = vec!["etc".to_string()];
        prepare(base.path(), root.path(), &editable).unwrap();
        assert_eq!(fs::read_to_string(root.path().join("etc/sub/hosts")).unwrap(), "x");
        assert!(root.path().join("usr").is_dir());
        assert!(!root.path().join("usr/bin").exists(), "shared parts are mount points, not copies");
        assert_eq!(fs::read_link(root.path().join("bin")).unwrap(), Path::new("usr/bin"));
        assert_eq!(shared_entries(base.path(), &editable), vec!["usr".to_string()]);
    }
}
