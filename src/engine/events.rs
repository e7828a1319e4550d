//! Container lifecycle events (`create`, `start`, `die`, `oom`, `kill`, `pause`, `unpause`, `destroy`), one
//! JSON line each in `<store>/containers/events.log`, appended with `O_APPEND` by whichever process saw it
//! happen (the daemon, the CLI, a monitor) — so `docker events` and docker-compose see the same history
//! whoever ran what, and nothing is lost while no daemon runs.
//!
//! The log is bounded: a line that takes it past [`MAX_BYTES`] makes it `events.log.1` (a `rename`, which
//! replaces the one before), so the history on disk is at most about twice that however many containers
//! come and go (podman's file events logger does the same with its `events_logfile_max_size`, 1 MB). Readers
//! take `events.log.1` before `events.log`, and a follower notices the rename by the inode (`rotated`).
//! Whoever rotates holds `flock` on the full file and renames only if the path still names it, so two
//! processes that both see it full rename it once.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde_json::{Value, json};

use super::Engine;
use super::record::Record;

/// The size past which the log is rotated.
pub const MAX_BYTES: u64 = 1 << 20;

pub fn path(engine: &Engine) -> PathBuf {
    engine.containers_dir().join("events.log")
}

/// The rotated history, older than everything in [`path`].
pub fn previous(engine: &Engine) -> PathBuf {
    engine.containers_dir().join("events.log.1")
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
    append(&path(engine), &previous(engine), &line, MAX_BYTES);
}

/// Append `line` to `log`; when that takes it past `max` bytes, rotate it to `old`. Best effort: an event
/// that cannot be written is not worth failing the operation it describes.
fn append(log: &Path, old: &Path, line: &[u8], max: u64) {
    let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) else { return };
    if f.write_all(line).is_err() || f.metadata().map_or(true, |m| m.len() <= max) {
        return;
    }
    let Ok(locked) = Flock::lock(f, FlockArg::LockExclusive) else { return };
    // Another process may have rotated it while we waited for the lock: rename only the file we hold.
    if locked.metadata().is_ok_and(|ours| std::fs::metadata(log).is_ok_and(|now| same_file(&ours, &now))) {
        let _ = std::fs::rename(log, old);
    }
}

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Has the log a follower holds open been rotated away (the path names another file, or none)?
pub fn rotated(open: &std::fs::Metadata, log: &Path) -> bool {
    !std::fs::metadata(log).is_ok_and(|now| same_file(open, &now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_rotated_past_its_bound_and_keeps_one_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let (log, old) = (dir.path().join("events.log"), dir.path().join("events.log.1"));
        let line = [b'x'; 99].iter().copied().chain([b'\n']).collect::<Vec<u8>>();
        for _ in 0..10 {
            append(&log, &old, &line, 1000);
        }
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 1000, "at the bound, not past it: not rotated");
        assert!(!old.exists());
        let before = std::fs::metadata(&log).unwrap();
        append(&log, &old, &line, 1000);
        assert!(!log.exists(), "rotated");
        assert_eq!(std::fs::metadata(&old).unwrap().len(), 1100);
        assert!(rotated(&before, &log));
        for _ in 0..25 {
            append(&log, &old, &line, 1000);
        }
        // 11 lines rotated again after the 11th; the rest is in the new log: never more than twice the bound.
        assert_eq!(std::fs::metadata(&old).unwrap().len(), 1100);
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 300);
        let now = std::fs::metadata(&log).unwrap();
        assert!(!rotated(&now, &log));
    }
}
