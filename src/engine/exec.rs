//! `exec` in an engine container: the request is recorded (`<record>/exec/<exec-id>.json`), and started as
//! `containy exec --process FILE ID` — a fresh process of containy's own binary, single-threaded, joining
//! the container's namespaces the runtime's way. Its process is the container's (env, capabilities, user)
//! with the exec's command, env, user and working dir over it. The exit code is written back to the record.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::record::{self, Record};
use super::{Engine, EngineError, Result};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecRequest {
    pub cmd: Vec<String>,
    pub env: Option<Vec<String>>,
    pub user: String,
    pub working_dir: String,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub privileged: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecRecord {
    pub id: String,
    pub container_id: String,
    pub request: ExecRequest,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: i32,
}

fn dir(engine: &Engine, container: &str) -> PathBuf {
    engine.record_dir(container).join("exec")
}

pub fn create(engine: &Engine, reference: &str, request: ExecRequest) -> Result<ExecRecord> {
    let rec = record::find(engine, reference)?;
    if super::ops::status(engine, &rec).status != "running" {
        return Err(EngineError::conflict(format!("Container {} is not running", rec.id)));
    }
    if request.cmd.is_empty() {
        return Err(EngineError::bad("exec: Cmd: give a command"));
    }
    let exec = ExecRecord { id: super::generate_id(), container_id: rec.id.clone(), request, ..Default::default() };
    save(engine, &exec)?;
    Ok(exec)
}

pub fn save(engine: &Engine, exec: &ExecRecord) -> Result<()> {
    let dir = dir(engine, &exec.container_id);
    std::fs::create_dir_all(&dir).map_err(|e| EngineError::io("mkdir", &dir, e))?;
    record::write_json(&dir, &format!("{}.json", exec.id), exec)
}

/// Find an exec by id (in any container's record).
pub fn find(engine: &Engine, id: &str) -> Result<ExecRecord> {
    let not_found = || EngineError::not_found(format!("No such exec instance: {id}"));
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    for container in record::ids(engine) {
        if let Ok(bytes) = std::fs::read(dir(engine, &container).join(format!("{id}.json"))) {
            return serde_json::from_slice(&bytes).map_err(|e| EngineError::internal(e.to_string()));
        }
    }
    Err(not_found())
}

/// Write the exec's process (OCI `process` JSON) for `containy exec --process`; returns its path.
pub fn process_file(engine: &Engine, exec: &ExecRecord) -> Result<PathBuf> {
    let rec = Record::load(engine, &exec.container_id)?;
    let plan = super::plan::make_plan(engine, &rec.id, &rec.request)?;
    let mut p = plan.process.clone();
    let req = &exec.request;
    p.args = req.cmd.clone();
    for var in req.env.iter().flatten() {
        crate::image::runconf::set_env(&mut p.env, var);
    }
    if !req.working_dir.is_empty() {
        p.cwd = PathBuf::from(&req.working_dir);
    }
    if !req.user.is_empty() {
        let store = crate::image::store::Store::open(&engine.store)?;
        let layers = store.lowerdirs_of(&store.record(&rec.image_id)?.layers);
        let read = |path: &str| crate::image::runconf::read_in_layers(&layers, path);
        (p.uid, p.gid) = crate::image::runconf::resolve_user(&req.user, &read)?;
    }
    let caps = &p.capabilities;
    let process = json!({
        "terminal": req.tty,
        "user": {"uid": p.uid, "gid": p.gid, "additionalGids": p.additional_gids},
        "args": p.args,
        "env": p.env,
        "cwd": p.cwd,
        "noNewPrivileges": p.no_new_privileges,
        "capabilities": {"bounding": caps.bounding, "effective": caps.effective, "permitted": caps.permitted,
            "inheritable": caps.inheritable, "ambient": caps.ambient},
    });
    let path = dir(engine, &exec.container_id).join(format!("{}.process.json", exec.id));
    std::fs::write(&path, process.to_string()).map_err(|e| EngineError::io("write", &path, e))?;
    Ok(path)
}
