//! User namespaces: uid and gid maps.
//!
//! A new user namespace starts with no ids at all; `/proc/<pid>/uid_map` and `gid_map` say which host ids
//! appear inside, as lines of `inside-start host-start count`. Each file can be written exactly once, and
//! only from outside (by the parent, after `clone3`, before the child does anything that needs an id).
//! `setgroups` must be set to `deny` before an unprivileged process may write `gid_map` (otherwise dropping
//! groups could grant access, see `man 7 user_namespaces`). Root in the container is then an ordinary,
//! unprivileged uid on the host.

use std::path::PathBuf;

use nix::unistd::Pid;

use crate::plan::IdMap;

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path} ({content:?})")]
pub struct MappingError {
    pub path: PathBuf,
    pub content: String,
    #[source]
    pub source: std::io::Error,
}

/// The text of a `uid_map` / `gid_map` file.
pub fn map_text(maps: &[IdMap]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size)).collect()
}

/// Write the child's id maps (the parent's job). `deny_setgroups` for unprivileged callers.
pub fn write_id_maps(
    child: Pid,
    uid_maps: &[IdMap],
    gid_maps: &[IdMap],
    deny_setgroups: bool,
) -> Result<(), MappingError> {
    let dir = PathBuf::from(format!("/proc/{child}"));
    let mut writes = Vec::new();
    if deny_setgroups {
        writes.push((dir.join("setgroups"), "deny".to_string()));
    }
    writes.push((dir.join("uid_map"), map_text(uid_maps)));
    writes.push((dir.join("gid_map"), map_text(gid_maps)));
    for (path, content) in writes {
        crate::explain!(
            format!("map ids: {}", content.trim().replace('\n', "; ")),
            format!("write {}", path.display()),
            "a new user namespace has no ids until its parent maps some; root inside is this host id outside"
        );
        std::fs::write(&path, &content).map_err(|source| MappingError { path, content, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_text_has_one_line_per_range() {
        let maps = [
            IdMap { container_id: 0, host_id: 100000, size: 1 },
            IdMap { container_id: 1, host_id: 200001, size: 65535 },
        ];
        assert_eq!(map_text(&maps), "0 100000 1\n1 200001 65535\n");
    }
}
