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
    let line = child.stdout.take().map(read_report).unwrap_or_default();
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

/// The monitor's report: its first line is `pid N` (written before it makes anything), then one JSON line.
/// End of file is not enough to tell that it died: a created container inherits the pipe (it keeps every fd
/// of the monitor until its `execve`), so a monitor killed after creating it would leave this read waiting
/// for as long as the container lives. So the report is awaited together with the monitor's pidfd; once the
/// monitor is gone, what it wrote is in the pipe or never will be.
fn read_report(out: std::process::ChildStdout) -> String {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::io::Read;
    use std::os::fd::AsFd;
    let mut reader = BufReader::new(out);
    let mut first = String::new();
    let _ = reader.read_line(&mut first);
    let Some(pid) = first.trim().strip_prefix("pid ").and_then(|p| p.parse::<i32>().ok()) else {
        return first;
    };
    let pidfd = crate::sys::pidfd_open(nix::unistd::Pid::from_raw(pid)).ok();
    let mut line = reader.buffer().to_vec();
    let mut pipe = reader.into_inner();
    let mut buf = [0u8; 4096];
    while !line.contains(&b'\n') {
        let mut fds = vec![PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
        if let Some(p) = &pidfd {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
        }
        // Without a pidfd the monitor is gone already: only what is in the pipe now counts.
        let timeout = if pidfd.is_some() { PollTimeout::NONE } else { PollTimeout::ZERO };
        match poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
            Ok(_) => {}
        }
        let ready = |i: usize| fds.get(i).and_then(PollFd::revents).is_some_and(|r| !r.is_empty());
        let (readable, gone) = (ready(0), pidfd.is_none() || ready(1));
        drop(fds);
        if readable {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => line.extend_from_slice(&buf[..n]),
            }
        } else if gone {
            break;
        }
    }
    String::from_utf8_lossy(&line).lines().next().unwrap_or_default().to_string()
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
