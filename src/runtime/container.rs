//! Operations on an existing container, found by id through its state directory: the OCI lifecycle verbs
//! `state`, `kill`, `delete`, `list`, `ps`, and the cgroup ones `stats`, `pause`, `resume`, `update`.
//!
//! The status is never trusted from the file alone: a container is `running` only while its recorded pid
//! is alive *and* has the recorded start time (pids are reused), `created` while it also still waits on
//! its exec FIFO, and `stopped` otherwise.

use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::RuntimeError;
use super::state::{State, StateError, Status, process_stat, validate_id};
use crate::cgroups::{self, Cgroup, Stats};
use crate::plan::Resources;

/// The FIFO a created container's process blocks on until `start` opens it.
pub const EXEC_FIFO: &str = "exec.fifo";

pub struct Container {
    pub state: State,
    pub dir: PathBuf,
}

impl Container {
    /// The container `id` under the state root, whatever its status.
    pub fn load(root: &Path, id: &str) -> Result<Container, RuntimeError> {
        validate_id(id)?;
        let dir = root.join(id);
        // Read, then judge: a check for the file first would race a concurrent `delete` removing it between
        // the check and the read (50 concurrent `delete --force` saw "cannot read …/state.json: ENOENT").
        match State::read(&dir) {
            Ok(state) => Ok(Container { state, dir }),
            Err(StateError::Io(e)) if e.source.kind() == std::io::ErrorKind::NotFound => {
                Err(RuntimeError::NotFound { id: id.to_string(), root: root.to_path_buf() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The container `id`, which must be running (or created: its process exists).
    pub fn running(root: &Path, id: &str) -> Result<Container, RuntimeError> {
        let c = Container::load(root, id)?;
        match c.status() {
            Status::Running | Status::Created => Ok(c),
            _ => Err(RuntimeError::NotRunning { id: id.to_string() }),
        }
    }

    /// The finished Plan the container was created with (stored next to its state).
    pub fn plan(&self) -> Result<crate::plan::ValidPlan, RuntimeError> {
        Ok(super::state::read_plan(&self.dir)?)
    }

    /// The container's root filesystem as the host reaches it: through its init process, so a path read
    /// there resolves in the container's own mount namespace.
    pub fn root_dir(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.state.pid))
    }

    /// Is the recorded process still the container's, and not a zombie waiting to be reaped?
    pub fn alive(&self) -> bool {
        self.state.pid > 0
            && match process_stat(self.state.pid) {
                Some((state, start)) => state != 'Z' && (self.state.start_time == 0 || start == self.state.start_time),
                None => false,
            }
    }

    /// The status as it is now, not as it was written.
    pub fn status(&self) -> Status {
        match self.state.status {
            Status::Creating => Status::Creating,
            _ if !self.alive() => Status::Stopped,
            Status::Created if self.dir.join(EXEC_FIFO).exists() => Status::Created,
            Status::Stopped => Status::Stopped,
            _ => Status::Running,
        }
    }

    /// The OCI state JSON (`runc state`).
    pub fn oci_state(&self) -> serde_json::Value {
        let status = self.status();
        let pid = if status == Status::Stopped { 0 } else { self.state.pid };
        // After the end, what ended it: the cgroup's OOM counter survives until `delete`.
        let oom_killed = status == Status::Stopped && self.cgroup().oom_kills() > 0;
        serde_json::json!({
            "oomKilled": oom_killed,
            "ociVersion": self.state.oci_version,
            "id": self.state.id,
            "status": status,
            "pid": pid,
            "bundle": self.state.bundle,
            "rootfs": self.state.rootfs,
            "created": self.state.created,
            "annotations": self.state.annotations,
        })
    }

    /// `start`: let a created container `execve` its program. Opening the FIFO for reading unblocks the
    /// process's `open` for writing; its one byte says it is on its way.
    pub fn start(&self) -> Result<(), RuntimeError> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        if self.status() != Status::Created {
            return Err(RuntimeError::NotCreated { id: self.state.id.clone(), status: self.status() });
        }
        let path = self.dir.join(EXEC_FIFO);
        crate::explain!(
            "start the container",
            format!("open({}, O_RDONLY) and read one byte", path.display()),
            "the waiting process unblocks, writes a byte and execs the program"
        );
        // Non-blocking open succeeds at once; then wait (in short polls) for the byte, giving up if the
        // process died meanwhile instead of hanging forever.
        let mut fifo = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| RuntimeError::io("open", &path, e))?;
        let mut byte = [0u8; 1];
        loop {
            let mut pfd = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&fifo), nix::poll::PollFlags::POLLIN)];
            let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(100u16));
            match fifo.read(&mut byte) {
                Ok(1) => break,
                Ok(_) | Err(_) if !self.alive() => {
                    return Err(RuntimeError::NotRunning { id: self.state.id.clone() });
                }
                _ => {}
            }
        }
        let _ = std::fs::remove_file(&path);
        let state = State { status: Status::Running, ..self.state.clone() };
        state.write(&self.dir)?;
        super::hooks::run_warning_only("poststart", &state.hooks.poststart, &state.hook_input(Status::Running));
        Ok(())
    }

    /// The container's cgroup, reopened from its state.
    pub fn cgroup(&self) -> Cgroup {
        let layout = cgroups::detect();
        let cgroup = match (&self.state.cgroup_path, self.state.cgroups.is_empty()) {
            (Some(rel), true) => Cgroup::find(&layout, rel),
            _ => Cgroup::reopen(&layout, self.state.cgroups.clone()),
        };
        cgroup.with_existing(self.state.cgroups_existing.clone())
    }

    /// Every process of the container (from its cgroup), as host pids.
    pub fn pids(&self) -> Vec<i32> {
        self.cgroup().procs().into_iter().map(|p| p.as_raw()).collect()
    }

    /// Send `signal` to the container's init, or with `all` to every process in its cgroup.
    /// With `all` a stopped container is no error (as in runc): engines send `kill --all` after its init
    /// ended, to reach what it left behind in the cgroup — if anything.
    pub fn kill(&self, signal: Signal, all: bool) -> Result<(), RuntimeError> {
        if !self.alive() && !all {
            return Err(RuntimeError::NotRunning { id: self.state.id.clone() });
        }
        crate::explain!(
            format!("send {signal} to the container"),
            if all { "kill(2) every pid in cgroup.procs" } else { "kill(2) its init process" },
            "from the host the container's processes are ordinary processes with host pids"
        );
        let targets = if all { self.pids() } else { vec![self.state.pid] };
        for pid in targets {
            match kill(Pid::from_raw(pid), signal) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(source) => return Err(RuntimeError::Sys { op: "kill", source }),
            }
        }
        Ok(())
    }

    /// Remove the container: its processes (with `force`, even if running), cgroup and state directory.
    pub fn delete(self, force: bool) -> Result<(), RuntimeError> {
        let status = self.status();
        if matches!(status, Status::Running | Status::Created) && !force {
            return Err(RuntimeError::StillRunning { id: self.state.id.clone() });
        }
        if self.alive() {
            let pidfd = crate::sys::pidfd_open(Pid::from_raw(self.state.pid)).ok();
            let _ = kill(Pid::from_raw(self.state.pid), Signal::SIGKILL);
            if let Some(pidfd) = pidfd {
                super::rootless::wait_for_init(&pidfd);
            }
        }
        let cgroup = self.cgroup();
        teardown(&self.dir, Some(cgroup), Some(&self.state))
    }

    pub fn stats(&self) -> Stats {
        self.cgroup().stats()
    }

    pub fn pause(&self) -> Result<(), RuntimeError> {
        Ok(self.cgroup().set_frozen(true)?)
    }

    pub fn resume(&self) -> Result<(), RuntimeError> {
        Ok(self.cgroup().set_frozen(false)?)
    }

    pub fn update(&self, resources: &Resources) -> Result<(), RuntimeError> {
        Ok(self.cgroup().update(resources)?)
    }
}

/// `delete --force ID` of whatever is there: a container, or a state directory that containy left before it
/// could write the container's state (nothing is taken before it is recorded, so the directory is all there is).
pub fn delete_forced(root: &Path, id: &str) -> Result<(), RuntimeError> {
    match Container::load(root, id) {
        Ok(container) => container.delete(true),
        Err(RuntimeError::NotFound { .. }) => {
            let dir = root.join(id);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(RuntimeError::io("remove", &dir, e)),
            }
        }
        Err(e) => Err(e),
    }
}

/// Give back everything a container holds (steps 27–30), in the order it must go: its processes (every pid in
/// its cgroup: also those that made a new session or escaped their parent), the cgroup, the network as it was
/// recorded before it was taken (after a crash of containy this is the only cleanup there is), and the state
/// directory with the rootfs mount point and upper dir; then the poststop hooks. The same for a `delete`, a
/// `run` that ended and a setup that failed halfway. A failure is returned after everything else was tried.
pub(super) fn teardown(dir: &Path, cgroup: Option<Cgroup>, hooks: Option<&State>) -> Result<(), RuntimeError> {
    super::steps::begin(27)?;
    let mut first_error: Option<RuntimeError> = None;
    if let Some(mut cgroup) = cgroup {
        crate::explain!(
            "stop what is left of the container",
            "kill(2) every pid in cgroup.procs",
            "a container's processes must not outlive it, wherever they went"
        );
        cgroup.kill_all();
        super::steps::begin(28)?;
        crate::explain!("remove the cgroup", "rmdir", "a container's limits must not outlive it");
        if let Err(e) = cgroup.remove() {
            first_error.get_or_insert(e.into());
        }
    }
    super::steps::begin(29)?;
    if let Some(root) = dir.parent()
        && let Err(e) = crate::network::release(root, dir)
    {
        first_error.get_or_insert(e.into());
    }
    // A rootless container's user-mode network (pasta) goes with it.
    crate::network::pasta::stop(dir);
    super::steps::begin(30)?;
    crate::explain!(
        "remove the state directory",
        format!("rm -r {}", dir.display()),
        "the upper dir and the rootfs mount point go with it; the mounts went with the mount namespace"
    );
    // Rootless, it may hold files of subordinate ids: removed as root of a user namespace with the same maps.
    match super::rootless::remove_state_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            first_error.get_or_insert(RuntimeError::io("remove", dir, e));
        }
    }
    if let Some(state) = hooks {
        super::hooks::run_warning_only("poststop", &state.hooks.poststop, &state.hook_input(Status::Stopped));
    }
    first_error.map_or(Ok(()), Err)
}

/// Every container under the state root (those whose state can be read), sorted by id.
pub fn list(root: &Path) -> Vec<Container> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut all: Vec<Container> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|id| Container::load(root, &id).ok())
        .collect();
    all.sort_by(|a, b| a.state.id.cmp(&b.state.id));
    all
}
