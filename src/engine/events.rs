//! Container lifecycle events (`create`, `start`, `die`, `oom`, `kill`, `pause`, `unpause`, `destroy`), one
//! JSON line each in `<store>/containers/events.log`, appended with `O_APPEND` by whichever process saw it
//! happen (the daemon, the CLI, a monitor) — so `docker events` and docker-compose see the same history
//! whoever ran what, and nothing is lost while no daemon runs.

use std::io::Write;

use serde_json::{Value, json};

use super::Engine;
use super::record::Record;

pub fn path(engine: &Engine) -> std::path::PathBuf {
    engine.containers_dir().join("events.log")
}

/// Record `action` on container `rec`, with extra attributes (`exitCode`, `signal`).
pub fn emit(engine: &Engine, rec: &Record, action: &str, extra: &[(&str, String)]) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut attributes = json!({"name": rec.name, "image": rec.request.image});
    for (k, v) in extra {
        attributes[*k] = Value::String(v.clone());
    }
    for (k, v) in rec.request.labels.iter().flatten() {
        attributes[k.as_str()] = Value::String(v.clone());
    }
    let event = json!({
        "status": action, "id": rec.id, "from": rec.request.image,
        "Type": "container", "Action": action,
        "Actor": {"ID": rec.id, "Attributes": attributes},
        "scope": "local", "time": now.as_secs(), "timeNano": now.as_nanos() as u64,
    });
    let mut line = event.to_string().into_bytes();
    line.push(b'\n');
    let _ = std::fs::create_dir_all(engine.containers_dir());
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path(engine)) {
        let _ = f.write_all(&line);
    }
}
