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

/// `POST /exec/{id}/resize`: the exec's terminal is held by its `containy exec` process, which relays it to the
/// daemon's pipes; its size is set on the terminal's other side, fd 0 of the exec's program — a descendant of
/// that process, found through `/proc/*/stat` (the terminal lives in the container's devpts, and reopening the
/// slave through `/proc/PID/fd/0` reaches that same terminal). `TIOCSWINSZ` on it sets the one window size and
/// sends SIGWINCH to the program's process group, as a resize of the master would. An exec without a tty has
/// nothing to resize (docker answers 200 too); one whose program is not there yet answers 409, and clients
/// retry (docker's CLI does, five times). The program chooses its fd 0: only a terminal is touched, opened
/// `O_NOCTTY | O_NONBLOCK` (a FIFO or file there is opened without blocking and left alone, a socket cannot
/// be opened), and the one call made on it is `TIOCSWINSZ`.
pub fn resize(exec: &ExecRecord, height: u16, width: u16) -> Result<()> {
    use std::io::IsTerminal;
    use std::os::fd::AsFd;
    use std::os::unix::fs::OpenOptionsExt;
    if !exec.request.tty {
        return Ok(());
    }
    let not_running = || EngineError::conflict(format!("Exec {} is not running (or has no terminal yet)", exec.id));
    if !exec.running || exec.pid <= 0 {
        return Err(not_running());
    }
    let ws = libc::winsize { ws_row: height, ws_col: width, ws_xpixel: 0, ws_ypixel: 0 };
    for pid in descendants(exec.pid) {
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(format!("/proc/{pid}/fd/0"));
        if let Ok(tty) = opened
            && tty.is_terminal()
        {
            return crate::sys::set_window_size(tty.as_fd(), &ws)
                .map_err(|e| EngineError::internal(format!("resize the terminal of exec {}: {e}", exec.id)));
        }
    }
    Err(not_running())
}

/// Every process below `root` (children, their children, …), parents before children.
fn descendants(root: i32) -> Vec<i32> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so read after the last `)`.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == parent).map(|(pid, _)| *pid));
        i += 1;
    }
    found.remove(0);
    found
}
