//! Talking to a container's monitor from blocking code (the CLI, and the daemon's blocking tasks): start
//! one, and send it a one-line request. The protocol is described in `monitor.rs`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

use super::monitor::Report;
use super::{Engine, EngineError, Kind, Result};

/// Connect to the monitor of `id`; `None` when there is none (the container is not created or has ended).
pub fn connect(engine: &Engine, id: &str) -> Option<UnixStream> {
    UnixStream::connect(engine.monitor_socket(id)).ok()
}

/// Start the monitor of `id` as a fresh process (`containy monitor`), and wait for its report: the container
/// exists (created, waiting to start) or the reason it does not.
pub fn spawn_monitor(engine: &Engine, id: &str) -> Result<()> {
    let log_path = engine.record_dir(id).join("monitor.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| EngineError::io("open", &log_path, e))?;
    let mut child = Command::new(&engine.exe)
        .arg("--root")
        .arg(&engine.state_root)
        .arg("monitor")
        .arg("--store")
        .arg(&engine.store)
        .arg("--cache")
        .arg(&engine.base_cache)
        .arg("--default-network")
        .arg(&engine.default_network)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| EngineError::io("start monitor", &engine.exe, e))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    // The monitor's first half exits as soon as it has forked: this does not wait for the container.
    let _ = child.wait();
    let report: Report = serde_json::from_str(&line).map_err(|_| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        EngineError::internal(format!("the monitor of {id} ended without a report: {}", log.trim()))
    })?;
    if report.ok {
        return Ok(());
    }
    let kind = if report.code == 400 { Kind::BadRequest } else { Kind::Internal };
    Err(EngineError::new(kind, report.error))
}

/// Send one request line and read the one-line answer (`start`, `resize H W`).
pub fn request(engine: &Engine, id: &str, line: &str) -> Result<String> {
    let mut sock =
        connect(engine, id).ok_or_else(|| EngineError::conflict(format!("Container {id} is not running")))?;
    sock.write_all(format!("{line}\n").as_bytes()).map_err(|e| EngineError::internal(format!("monitor: {e}")))?;
    let mut answer = String::new();
    let _ = BufReader::new(sock).read_line(&mut answer);
    match answer.trim_end().split_once(' ') {
        Some(("error", msg)) => Err(EngineError::internal(msg.to_string())),
        // It closes without a word only when its container has just ended.
        _ if answer.is_empty() => Err(EngineError::conflict(format!("Container {id} is not running"))),
        _ => Ok(answer.trim_end().to_string()),
    }
}

/// Block until the monitor of `id` is gone (the container has ended and been cleaned up).
pub fn wait_gone(engine: &Engine, id: &str) {
    if let Some(mut sock) = connect(engine, id)
        && sock.write_all(b"wait\n").is_ok()
    {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut sock, &mut sink);
    }
}
