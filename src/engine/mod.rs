//! The engine: named containers that outlive the command that made them, on disk.
//!
//! A container of the engine is a *record* (`<store>/containers/<id>/`: the request it was made from, the
//! state its monitor writes, its json-file log) plus, while it exists as a process, a *monitor*
//! (`containy monitor ID`, see `monitor.rs`) that owns it. Nothing else holds state: the daemon
//! (`api/`) and the CLI read the records and talk to the monitors' sockets, so either can die and come back
//! without a container noticing. The order of a container's life: the request becomes a record (name
//! claimed atomically, 409 on conflict) → a Plan, in one function (`plan.rs`) → a monitor creates it through
//! the runtime → `start` → the monitor reaps it, records how it ended and, for `--rm`, removes the record.

pub mod archive;
pub mod attached;
pub mod client;
pub mod events;
pub mod exec;
pub mod flags;
pub mod logs;
pub mod monitor;
pub mod ops;
pub mod plan;
pub mod record;
pub mod request;

use std::path::{Path, PathBuf};

pub use request::CreateRequest;

/// What went wrong, in the kinds the Docker API tells apart (400, 404, 408, 409, 413, 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BadRequest,
    NotFound,
    Conflict,
    /// A request body over the daemon's cap (413).
    TooLarge,
    /// A client that stopped sending its request halfway (408).
    Timeout,
    Internal,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    pub kind: Kind,
    pub message: String,
}

impl EngineError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        EngineError { kind, message: message.into() }
    }
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(Kind::BadRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(Kind::Conflict, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, message)
    }
    /// An I/O error on `path`, as a 500 that names it.
    pub fn io(op: &str, path: &Path, e: std::io::Error) -> Self {
        Self::internal(format!("{op} {}: {e}", path.display()))
    }
}

impl From<crate::image::ImageError> for EngineError {
    fn from(e: crate::image::ImageError) -> Self {
        use crate::image::ImageError;
        let kind = match &e {
            ImageError::NoImage { .. } => Kind::NotFound,
            ImageError::Usage(_) | ImageError::BadName { .. } => Kind::BadRequest,
            _ => Kind::Internal,
        };
        // With its causes: "cannot extract …: No space left on device", not just "cannot extract …".
        EngineError::new(kind, crate::error::chain(&e))
    }
}

impl From<crate::fault::Injected> for EngineError {
    fn from(e: crate::fault::Injected) -> Self {
        EngineError::internal(e.to_string())
    }
}

impl From<crate::runtime::RuntimeError> for EngineError {
    fn from(e: crate::runtime::RuntimeError) -> Self {
        use crate::runtime::RuntimeError;
        let kind = match &e {
            RuntimeError::NotFound { .. } => Kind::NotFound,
            RuntimeError::NotRunning { .. } | RuntimeError::StillRunning { .. } => Kind::Conflict,
            _ => Kind::Internal,
        };
        EngineError::new(kind, crate::error::chain(&e))
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;

/// Where an engine keeps things: the same roots as the rest of containy.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The runtime's state root (`/run/containy`): containers' runtime state, and `engine/<id>/` for monitors.
    pub state_root: PathBuf,
    /// The image store (`/var/lib/containy`); container records live in its `containers/`.
    pub store: PathBuf,
    /// Where base tarballs are extracted (only used by plans that name one).
    pub base_cache: PathBuf,
    /// This program, to start monitors and exec helpers as fresh processes.
    pub exe: PathBuf,
    /// The network a container joins when its request names `default` or `bridge`: a bridge network's name, or
    /// `none`.
    pub default_network: String,
}

impl Engine {
    pub fn containers_dir(&self) -> PathBuf {
        self.store.join("containers")
    }
    pub fn record_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }
    /// The container's writable layer (`upper/`, `work/`): the runtime's `<bundle>/changes` for `keep_changes`,
    /// with the record as the bundle (see `plan.rs`), so it lives until `rm` removes the record.
    pub fn changes_dir(&self, id: &str) -> PathBuf {
        self.record_dir(id).join("changes")
    }
    /// The monitor's own directory (its attach socket): runtime state, gone at reboot like the containers.
    /// Named by the id's first 20 digits (80 random bits): a socket path must fit in 108 bytes.
    pub fn monitor_dir(&self, id: &str) -> PathBuf {
        self.state_root.join("engine").join(&id[..id.len().min(20)])
    }
    pub fn monitor_socket(&self, id: &str) -> PathBuf {
        self.monitor_dir(id).join("attach.sock")
    }
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.record_dir(id).join(format!("{id}-json.log"))
    }
}

/// A random 64-hex-digit id, as docker's.
pub fn generate_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let seed = nanos.as_nanos() ^ u128::from(std::process::id());
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8 ^ i as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
