//! The runtime: the only module that calls every mechanism, in the order a container needs them.
//!
//! `parent.rs` is the host side (state dir, cgroup, clone, id maps, supervise, cleanup); `init.rs` is the
//! child side (everything between `clone3` and `execve` — read it first); `sync.rs` is the exchange
//! between them; `state.rs` is what is written to disk; `io.rs` relays the terminal and signals; `inspect.rs`
//! reads a running container back from `/proc`.

pub mod container;
pub mod events;
pub mod exec;
pub mod hooks;
mod init;
pub mod inspect;
mod io;
pub mod limits;
mod parent;
pub mod result;
pub mod rootless;
pub mod sealed_exe;
mod spawn;
pub mod state;
pub mod steps;
pub mod sync;

use std::path::{Path, PathBuf};

pub use crate::cgroups::Stats;
pub use parent::{create, run};
pub use result::write_failure_text as write_failure_record;

/// Where compiled seccomp filters are kept unless a caller says otherwise.
pub const SECCOMP_CACHE: &str = crate::seccomp::DEFAULT_CACHE;

/// The OCI runtime-spec version containy writes in state.json.
pub const OCI_VERSION: &str = "1.2.0";

/// Where containers' state lives unless `--root` says otherwise.
pub const DEFAULT_ROOT: &str = "/run/containy";

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub id: String,
    /// The state root (`/run/containy`).
    pub root: PathBuf,
    /// Where base tarballs are extracted (`/var/lib/containy/base`).
    pub base_cache: PathBuf,
    pub pid_file: Option<PathBuf>,
    /// Where compiled seccomp filters are kept (`/var/lib/containy/seccomp`).
    pub seccomp_cache: PathBuf,
    /// Pass fds 3..3+N on to the container (`--preserve-fds`, as engines use it).
    pub preserve_fds: u32,
    /// `run`: write the result record (`result.rs`) here when the container ends.
    pub result: Option<PathBuf>,
    /// Rootless without a writable cgroup: refuse a config that asks for limits instead of warning.
    pub strict_limits: bool,
    /// `create`: the caller stays with the container and enforces its CPU, wall and output limits itself
    /// (the engine's monitor, with `limits::Limiter`), so `create` does not refuse them.
    pub supervisor: bool,
}

impl RunOptions {
    /// The options every container needs; `pid_file` and `preserve_fds` are what engines add.
    pub fn new(id: String, root: &Path, base_cache: PathBuf) -> RunOptions {
        RunOptions {
            id,
            root: root.to_path_buf(),
            base_cache,
            pid_file: None,
            seccomp_cache: crate::paths::seccomp_cache(),
            preserve_fds: 0,
            result: None,
            strict_limits: false,
            supervisor: false,
        }
    }
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Killed by the kernel's OOM killer (the cgroup's `oom_kill` counter went up).
    OomKilled {
        limit: Option<u64>,
    },
}

impl Exit {
    /// How a wait status reads as a container's end. `oom`: the cgroup's OOM-kill count went up, with the
    /// memory limit that was hit (a SIGKILL is then the OOM killer's).
    pub fn from_wait(status: nix::sys::wait::WaitStatus, oom: Option<Option<u64>>) -> Exit {
        use nix::sys::wait::WaitStatus;
        match (status, oom) {
            (WaitStatus::Exited(_, code), _) => Exit::Code(code),
            (WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _), Some(limit)) => Exit::OomKilled { limit },
            (WaitStatus::Signaled(_, sig, _), _) => Exit::Signal(sig as i32),
            _ => Exit::Code(1),
        }
    }

    /// The shell convention: the exit code, or 128 + the signal number.
    pub fn code(&self) -> i32 {
        match self {
            Exit::Code(c) => *c,
            Exit::Signal(s) => 128 + s,
            Exit::OomKilled { .. } => 128 + libc::SIGKILL,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error(transparent)]
    Namespace(#[from] crate::namespaces::NamespaceError),
    #[error(transparent)]
    Mapping(#[from] crate::user_mapping::MappingError),
    #[error(transparent)]
    Capability(#[from] crate::capabilities::CapabilityError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error(transparent)]
    Fault(#[from] steps::Fault),
    #[error(transparent)]
    Limit(#[from] crate::limits::LimitError),
    #[error("container {id:?} does not exist (no state in {root})")]
    NotFound { id: String, root: PathBuf },
    #[error("{0}")]
    Usage(&'static str),
    /// Something a rootless container cannot have, or a helper it needs failed; says what to do.
    #[error("{0}")]
    Rootless(String),
    #[error("container {id:?} cannot be started: it is {status:?}, not created")]
    NotCreated { id: String, status: state::Status },
    #[error("container {id:?} is not running")]
    NotRunning { id: String },
    #[error("container {id:?} is still running: stop it first, or delete it with --force")]
    StillRunning { id: String },
    #[error("rootfs {path} does not exist: {hint}")]
    NoRootfs { path: PathBuf, hint: &'static str },
    #[error("clone3({flags})")]
    Clone {
        flags: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{op}")]
    Sys {
        op: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    /// A Plan (or exec's process) failed validation.
    #[error("{0}")]
    Invalid(String),
    /// Setup failed inside the container process; the text came over the sync socket.
    #[error("container setup failed: {0}")]
    Child(String),
    /// The container's program could not be executed (127: not found, 126: not executable).
    #[error("{text}")]
    Exec { code: u8, text: String },
}

impl RuntimeError {
    pub(crate) fn sys(op: &'static str, source: nix::Error) -> Self {
        RuntimeError::Sys { op, source }
    }

    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        RuntimeError::Io(crate::error::IoError::new(op, path, source))
    }
}
