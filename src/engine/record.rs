//! A container's record on disk, under `<store>/containers/`:
//! - `<id>/config.json` — what it was made from (the request, name, image id), written once by whoever
//!   creates it (the daemon or the CLI), by temp file + rename;
//! - `<id>/state.json` — how it is doing (created, running, exited; pid, times, exit code, OOM), written only
//!   by its monitor, also by rename, so a reader never sees half a file;
//! - `names/<name>` — a symlink to the id: making it is how a name is claimed, atomically (`symlink(2)` fails
//!   with `EEXIST` for the second of two racing creates — the 409 of docker).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::request::CreateRequest;
use super::{Engine, EngineError, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Without docker's leading `/`.
    pub name: String,
    pub created: String,
    pub image_id: String,
    pub request: CreateRequest,
    /// The program and its arguments, as the Plan resolved them (for `ps` and `inspect`).
    pub path: String,
    pub args: Vec<String>,
}

/// What the monitor last wrote.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunState {
    /// `created`, `running` or `exited`.
    pub status: String,
    pub pid: i32,
    pub started_at: String,
    pub finished_at: String,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub error: String,
    /// The monitor's pid, so a reader can tell a live record from one whose monitor died.
    pub monitor_pid: i32,
    /// The result record (`runtime/result.rs`) once the container has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

pub const NEVER: &str = "0001-01-01T00:00:00Z";

impl Record {
    pub fn dir(&self, engine: &Engine) -> PathBuf {
        engine.record_dir(&self.id)
    }

    pub fn load(engine: &Engine, id: &str) -> Result<Record> {
        let path = engine.record_dir(id).join("config.json");
        let text = std::fs::read(&path).map_err(|_| EngineError::not_found(format!("No such container: {id}")))?;
        serde_json::from_slice(&text).map_err(|e| EngineError::internal(format!("{}: {e}", path.display())))
    }

    pub fn state(&self, engine: &Engine) -> RunState {
        read_state(&self.dir(engine)).unwrap_or_else(|| RunState {
            status: "created".into(),
            started_at: NEVER.into(),
            finished_at: NEVER.into(),
            ..RunState::default()
        })
    }
}

pub fn read_state(dir: &Path) -> Option<RunState> {
    serde_json::from_slice(&std::fs::read(dir.join("state.json")).ok()?).ok()
}

/// Write `value` as JSON to `dir/name` by temp file + rename.
pub fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<()> {
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let bytes = serde_json::to_vec(value).map_err(|e| EngineError::internal(e.to_string()))?;
    // A write that fails (a full disk) takes its temp file with it: the record keeps its last whole state.
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, dir.join(name)))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .map_err(|e| EngineError::io("write", &dir.join(name), e))
}

/// Docker's rule for container names: `/?[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = name.len() >= 2
        && name.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(EngineError::bad(format!("Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")))
    }
}

fn names_dir(engine: &Engine) -> PathBuf {
    engine.containers_dir().join("names")
}

/// Claim `name` for `id`: 409 when another container has it.
pub fn claim_name(engine: &Engine, name: &str, id: &str) -> Result<()> {
    let dir = names_dir(engine);
    std::fs::create_dir_all(&dir).map_err(|e| EngineError::io("mkdir", &dir, e))?;
    match std::os::unix::fs::symlink(id, dir.join(name)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let owner = std::fs::read_link(dir.join(name)).map(|p| p.display().to_string()).unwrap_or_default();
            Err(EngineError::conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{owner}\". You have to \
                 remove (or rename) that container to be able to reuse that name."
            )))
        }
        Err(e) => Err(EngineError::io("symlink", &dir.join(name), e)),
    }
}

pub fn release_name(engine: &Engine, name: &str, id: &str) {
    let link = names_dir(engine).join(name);
    if std::fs::read_link(&link).is_ok_and(|target| target == Path::new(id)) {
        let _ = std::fs::remove_file(link);
    }
}

/// A fresh name for a container created without one (`adjective_noun`, as docker's); `claim_generated`
/// adds part of the id when another container has it.
pub fn generate_name(id: &str) -> String {
    const ADJ: &[&str] = &["brave", "calm", "eager", "fond", "keen", "lucid", "merry", "quiet", "sharp", "wise"];
    const NOUN: &[&str] = &["hopper", "lovelace", "ritchie", "thompson", "torvalds", "turing", "knuth", "liskov"];
    let seed = u64::from_str_radix(&id[..12.min(id.len())], 16).unwrap_or(0);
    let base =
        format!("{}_{}", ADJ[(seed % ADJ.len() as u64) as usize], NOUN[(seed / 16 % NOUN.len() as u64) as usize]);
    base
}

/// Claim `name` (generated), or `name_<id prefix>` when it is taken: two creates racing for the same
/// generated name both succeed.
pub fn claim_generated(engine: &Engine, name: &str, id: &str) -> Result<String> {
    match claim_name(engine, name, id) {
        Ok(()) => Ok(name.to_string()),
        Err(e) if e.kind == super::Kind::Conflict => {
            let unique = format!("{name}_{}", &id[..12.min(id.len())]);
            claim_name(engine, &unique, id).map(|()| unique)
        }
        Err(e) => Err(e),
    }
}

/// Find a container by full id, name (with or without `/`) or unique id prefix.
pub fn find(engine: &Engine, reference: &str) -> Result<Record> {
    let reference = reference.strip_prefix('/').unwrap_or(reference);
    let not_found = || EngineError::not_found(format!("No such container: {reference}"));
    if reference.is_empty() || reference.contains('/') || reference.starts_with('.') {
        return Err(not_found());
    }
    if engine.record_dir(reference).join("config.json").exists() {
        return Record::load(engine, reference);
    }
    if let Ok(id) = std::fs::read_link(names_dir(engine).join(reference)) {
        return Record::load(engine, &id.display().to_string()).map_err(|_| not_found());
    }
    let matches: Vec<String> = ids(engine).into_iter().filter(|id| id.starts_with(reference)).collect();
    match matches.as_slice() {
        [one] => Record::load(engine, one),
        [] => Err(not_found()),
        _ => Err(EngineError::not_found(format!("multiple IDs found with provided prefix: {reference}"))),
    }
}

/// Every container id with a record.
pub fn ids(engine: &Engine) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(engine.containers_dir()) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|id| id.len() == 64 && engine.record_dir(id).join("config.json").exists())
        .collect()
}

pub fn all(engine: &Engine) -> Vec<Record> {
    let mut records: Vec<Record> = ids(engine).iter().filter_map(|id| Record::load(engine, id).ok()).collect();
    records.sort_by(|a, b| b.created.cmp(&a.created));
    records
}
