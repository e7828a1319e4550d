//! A container's record on disk, under `<store>/containers/`:
//! - `<id>/config.json` — what it was made from (the request, name, image id), written once by whoever
//!   creates it (the daemon or the CLI), by temp file + rename;
//! - `<id>/state.json` — how it is doing (created, running, exited; pid, times, exit code, OOM), written only
//!   by its monitor, also by rename, so a reader never sees half a file;
//! - `names/<name>` — a symlink to the id: making it is how a name is claimed, atomically (`symlink(2)` fails
//!   with `EEXIST` for the second of two racing creates — the 409 of docker).
//!
//! A record exists whole or not at all: it is written in a private dir (`.new-<pid>-<id>/`) and published by
//! one `rename(2)` to `<id>/`, and unpublished the same way (`<id>/` → `.gone-<pid>-<id>/`) before it is
//! deleted. So a create or an `rm` killed at any moment leaves either a record `rm -f` finds, or a private
//! dir of a dead process that [`sweep`] removes; never a record dir without `config.json` that nothing lists.
//! A name is claimed only after its record is published, so a name whose record is gone is stale: the next
//! claim of it, and [`sweep`], remove it.

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

/// Publish the record `rec` (nothing of it existed before): written in a private dir, then renamed into place.
pub fn publish(engine: &Engine, rec: &Record) -> Result<()> {
    let containers = engine.containers_dir();
    std::fs::create_dir_all(&containers).map_err(|e| EngineError::io("mkdir", &containers, e))?;
    let private = containers.join(format!(".new-{}-{}", std::process::id(), rec.id));
    std::fs::create_dir(&private).map_err(|e| EngineError::io("mkdir", &private, e))?;
    let published =
        write_json(&private, "config.json", rec).and_then(|()| Ok(crate::fault::at("create.1")?)).and_then(|()| {
            let dir = engine.record_dir(&rec.id);
            std::fs::rename(&private, &dir).map_err(|e| EngineError::io("rename", &dir, e))
        });
    if published.is_err() {
        let _ = std::fs::remove_dir_all(&private);
    }
    published
}

/// Held while a container's monitor is checked and started (`flock` of its record dir), so two `start`s of
/// one container do not both start one.
pub fn lock(engine: &Engine, id: &str) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let dir = engine.record_dir(id);
    let file = std::fs::File::open(&dir).map_err(|e| EngineError::io("open", &dir, e))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| EngineError::io("flock", &dir, e.into()))
}

/// Remove the record of `id` and its name: unpublished first (one rename; from then on nothing finds it),
/// then deleted. `Ok(false)`: there was no record.
pub fn remove(engine: &Engine, id: &str, name: &str) -> Result<bool> {
    let dir = engine.record_dir(id);
    let gone = engine.containers_dir().join(format!(".gone-{}-{id}", std::process::id()));
    match std::fs::rename(&dir, &gone) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(EngineError::io("rename", &dir, e)),
        Ok(()) => {}
    }
    crate::fault::at("rm.3")?;
    release_name(engine, name, id);
    std::fs::remove_dir_all(&gone).map_err(|e| EngineError::io("remove", &gone, e))?;
    Ok(true)
}

/// What killed creates and removals left: private record dirs of processes that are gone, and names whose
/// record does not exist.
pub fn sweep(engine: &Engine) {
    let containers = engine.containers_dir();
    for entry in std::fs::read_dir(&containers).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".new-").or_else(|| name.strip_prefix(".gone-")) else { continue };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_none_or(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let _lock = names_lock(engine);
    for entry in std::fs::read_dir(names_dir(engine)).into_iter().flatten().flatten() {
        if stale(engine, &entry.path()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A name whose record does not exist (claims come after publishing, so it never will).
fn stale(engine: &Engine, link: &Path) -> bool {
    std::fs::read_link(link).is_ok_and(|id| {
        let id = id.display().to_string();
        !id.contains('/') && !engine.record_dir(&id).join("config.json").exists()
    })
}

/// Held while a name's link is checked for staleness and replaced, so two claims cannot both replace it
/// (an `flock` of the names directory itself: no lock file among the names).
fn names_lock(engine: &Engine) -> Option<nix::fcntl::Flock<std::fs::File>> {
    let dir = names_dir(engine);
    std::fs::create_dir_all(&dir).ok()?;
    let file = std::fs::File::open(&dir).ok()?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).ok()
}

/// Claim `name` for `id`: 409 when another container has it.
pub fn claim_name(engine: &Engine, name: &str, id: &str) -> Result<()> {
    let dir = names_dir(engine);
    std::fs::create_dir_all(&dir).map_err(|e| EngineError::io("mkdir", &dir, e))?;
    let mut claimed = std::os::unix::fs::symlink(id, dir.join(name));
    if claimed.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::AlreadyExists) {
        let _lock = names_lock(engine);
        if stale(engine, &dir.join(name)) {
            let _ = std::fs::remove_file(dir.join(name));
            claimed = std::os::unix::fs::symlink(id, dir.join(name));
        }
    }
    match claimed {
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
    // A record whose name was never claimed (its create was killed in between) is still found by that name.
    if let Some(rec) = all(engine).into_iter().find(|r| r.name == reference) {
        return Ok(rec);
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
