//! Operations on a container that is already running, found by id through its state directory:
//! `stats`, `pause`, `resume`, `update`. They act on the cgroup recorded in `state.json`.

use std::path::Path;

use super::RuntimeError;
use super::state::{State, Status};
use crate::cgroups::{self, Cgroup, Stats};
use crate::plan::Resources;

pub struct Container {
    pub state: State,
}

impl Container {
    /// The container `id` under the state root; an error if it does not exist or is not running.
    pub fn running(root: &Path, id: &str) -> Result<Container, RuntimeError> {
        super::state::validate_id(id)?;
        let dir = root.join(id);
        if !dir.join("state.json").exists() {
            return Err(RuntimeError::NotFound { id: id.to_string(), root: root.to_path_buf() });
        }
        let state = State::read(&dir)?;
        let alive = state.pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(state.pid), None).is_ok();
        if state.status != Status::Running || !alive {
            return Err(RuntimeError::NotRunning { id: id.to_string() });
        }
        Ok(Container { state })
    }

    fn cgroup(&self) -> Cgroup {
        Cgroup::reopen(&cgroups::detect(), self.state.cgroups.clone())
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
