//! Container state on disk: `<root>/<id>/state.json`, written atomically (temp file + rename).
//!
//! The state directory is created with one `mkdir`: of two containy processes racing for the same id,
//! exactly one wins, with no check-then-create window. Everything a container takes (its cgroup dirs, its
//! rootfs mount point, its upper dir) is recorded here *before* it is taken, so a later cleanup can undo it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::{Hooks, ValidPlan};

/// `ociVersion`, `id`, `status`, `pid`, `bundle` are the OCI state; the rest is containy's own record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    #[serde(default)]
    pub pid: i32,
    pub bundle: PathBuf,
    /// The rootfs mount point (inside the state dir).
    pub rootfs: PathBuf,
    /// cgroup directories by controller: one per v1 hierarchy, or the v2 one (named "unified").
    #[serde(default)]
    pub cgroups: Vec<(String, PathBuf)>,
    /// The cgroup's path relative to each hierarchy, recorded before its directories are made: if containy
    /// dies while making them, `delete` still finds them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_path: Option<PathBuf>,
    /// Those of `cgroups` that existed before the container (joined, not created): `delete` leaves them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroups_existing: Vec<PathBuf>,
    /// The process's start time (clock ticks since boot, `/proc/<pid>/stat` field 22): a pid is only
    /// this container's while its start time matches, so a reused pid is never signalled.
    #[serde(default)]
    pub start_time: u64,
    /// When the container was created (RFC 3339), for `list`.
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The OCI hooks, kept for the verbs that run the later ones (`start`: poststart, `delete`: poststop).
    #[serde(default, skip_serializing_if = "Hooks::is_empty")]
    pub hooks: Hooks,
}

impl State {
    /// What a hook reads on stdin: the OCI state of the container, with `status` as of the hook's point.
    pub fn hook_input(&self, status: Status) -> serde_json::Value {
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": status,
            "pid": self.pid,
            "bundle": self.bundle,
            "annotations": self.annotations,
        })
    }
}

pub use crate::clock::now_rfc3339;

/// Field 22 of `/proc/<pid>/stat` (after the parenthesised command, which may hold spaces).
pub fn process_start_time(pid: i32) -> Option<u64> {
    process_stat(pid).map(|(_, start)| start)
}

/// The state letter (`R`, `S`, `Z`, …) and start time of a process, from `/proc/<pid>/stat`.
pub fn process_stat(pid: i32) -> Option<(char, u64)> {
    let stat = crate::sys::read_kernel_file(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 2..].split(' ');
    let state = fields.next()?.chars().next()?;
    Some((state, fields.nth(18)?.parse().ok()?))
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container {id:?} already exists (its state is in {dir}); pick another id or delete it")]
    Exists { id: String, dir: PathBuf },
    #[error(
        "invalid container id {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit (at most 64)"
    )]
    BadId(String),
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError + use<> {
    let path = path.to_path_buf();
    move |source| StateError::Io(crate::error::IoError { op, path, source })
}

/// A container id may become a directory name: no `/`, no `..`, no surprises.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && id.len() <= 64 { Ok(()) } else { Err(StateError::BadId(id.to_string())) }
}

/// A fresh random id (12 hex digits), for `run` without one.
pub fn generate_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 6];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        bytes[..4].copy_from_slice(&nanos.to_le_bytes());
        bytes[4..].copy_from_slice(&(std::process::id() as u16).to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Create `<root>/<id>` atomically (mode 0700). Fails if it exists.
pub fn create_dir(root: &Path, id: &str) -> Result<PathBuf, StateError> {
    validate_id(id)?;
    std::fs::create_dir_all(root).map_err(io("mkdir", root))?;
    let dir = root.join(id);
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(StateError::Exists { id: id.to_string(), dir }),
        Err(e) => Err(io("mkdir", &dir)(e)),
    }
}

impl State {
    pub fn write(&self, dir: &Path) -> Result<(), StateError> {
        let path = dir.join("state.json");
        let tmp = dir.join(".state.json.tmp");
        let json = serde_json::to_vec_pretty(self).map_err(|e| io("serialize", &path)(e.into()))?;
        std::fs::write(&tmp, json).map_err(io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("rename", &path))
    }

    pub fn read(dir: &Path) -> Result<State, StateError> {
        read_json(&dir.join("state.json"))
    }
}

/// The finished Plan the container was created with, kept next to its state: `exec`, `inspect` and `update`
/// read it instead of the bundle (which may have changed, or — for `run --image` — never existed).
pub fn write_plan(dir: &Path, plan: &ValidPlan) -> Result<(), StateError> {
    let path = dir.join(PLAN_FILE);
    let tmp = dir.join(".plan.json.tmp");
    let json = serde_json::to_vec(plan).map_err(|e| io("serialize", &path)(e.into()))?;
    std::fs::write(&tmp, json).map_err(io("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io("rename", &path))
}

/// Read the stored Plan back (it is validated again on the way in).
pub fn read_plan(dir: &Path) -> Result<ValidPlan, StateError> {
    read_json(&dir.join(PLAN_FILE))
}

/// Where the finished Plan is kept in the state directory.
pub const PLAN_FILE: &str = "plan.json";

/// Remove a state directory that holds what every container's holds — its state, its Plan and the rootfs
/// mount point — by those names: four `rmdir`/`unlink`s, where a walk of the directory costs ≈ 18 syscalls
/// and two 32 KiB buffers. `false` when anything else is there (an overlay's upper dir, a network record) or
/// anything fails: the caller's walk removes the rest (and should that fail too, `delete --force` removes a
/// directory left without its state).
pub fn remove_usual(dir: &Path) -> bool {
    let gone = |r: std::io::Result<()>| r.is_ok() || r.is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
    // The mount point first: still busy, it stops the removal before anything is gone.
    gone(std::fs::remove_dir(dir.join("rootfs")))
        && gone(std::fs::remove_file(dir.join(PLAN_FILE)))
        && gone(std::fs::remove_file(dir.join("state.json")))
        && std::fs::remove_dir(dir).is_ok()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, StateError> {
    let text = std::fs::read(path).map_err(io("read", path))?;
    serde_json::from_slice(&text).map_err(|e| io("parse", path)(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_state_directory_is_removed_by_name_and_anything_more_is_left_to_the_walk() {
        let root = tempfile::tempdir().unwrap();
        let usual = root.path().join("a");
        std::fs::create_dir_all(usual.join("rootfs")).unwrap();
        std::fs::write(usual.join("state.json"), "{}").unwrap();
        std::fs::write(usual.join(PLAN_FILE), "{}").unwrap();
        assert!(remove_usual(&usual));
        assert!(!usual.exists());

        let more = root.path().join("b");
        std::fs::create_dir_all(more.join("upper/etc")).unwrap();
        std::fs::write(more.join("state.json"), "{}").unwrap();
        assert!(!remove_usual(&more));
        assert!(more.join("upper/etc").is_dir());
        crate::runtime::rootless::remove_state_dir(&more).unwrap();
        assert!(!more.exists());
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z') && &t[10..11] == "T", "{t}");
    }

    #[test]
    fn start_time_is_read_from_proc() {
        let me = std::process::id() as i32;
        let t = process_start_time(me).unwrap();
        assert!(t > 0);
        assert_eq!(process_start_time(me), Some(t));
        assert_eq!(process_start_time(-1), None);
    }

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("web-1.test_2").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "-x", &"a".repeat(65)] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
        let id = generate_id();
        assert_eq!(id.len(), 12);
        assert!(validate_id(&id).is_ok());
    }

    #[test]
    fn the_state_dir_is_created_once() {
        let root = tempfile::tempdir().unwrap();
        let dir = create_dir(root.path(), "a").unwrap();
        assert!(matches!(create_dir(root.path(), "a"), Err(StateError::Exists { .. })));
        let state = State {
            oci_version: "1.2.0".into(),
            id: "a".into(),
            status: Status::Running,
            pid: 42,
            bundle: "/b".into(),
            rootfs: dir.join("rootfs"),
            cgroups: vec![],
            cgroup_path: None,
            cgroups_existing: vec![],
            start_time: 0,
            created: String::new(),
            annotations: Default::default(),
            hooks: Default::default(),
        };
        state.write(&dir).unwrap();
        assert_eq!(State::read(&dir).unwrap(), state);
        let json = std::fs::read_to_string(dir.join("state.json")).unwrap();
        assert!(json.contains("\"ociVersion\"") && json.contains("\"running\""), "{json}");
    }
}
