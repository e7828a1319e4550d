//! The result record: one JSON object saying how a run ended and what it used, written by `run --result FILE`
//! when the container is over (isolate's meta file, as JSON), and a one-line summary for a person.
//!
//! The status is decided in this order, so a run that hit several limits gets the one that ended it:
//! `XX` containy itself failed (the program's fate is unknown) · `TO` a time limit was exceeded (`limit` says
//! `cpu_time` or `wall_time`; also when the program ended within `extra_time`) · `OL` killed for its output ·
//! `ML` the OOM killer struck · `SG` ended by a signal · `RE` a non-zero exit · `OK`. The numbers are the
//! kernel's: CPU time from the cgroup's accounting, peaks from its high-water marks, wall time from the
//! monotonic clock between the program's start and the reaping of its first process.

use std::path::Path;
use std::time::Duration;

use nix::sys::wait::WaitStatus;
use serde::Serialize;

use super::RuntimeError;
use super::limits::{Hit, Observed};
use crate::cgroups::CpuUsage;
use crate::limits::Limits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    OK,
    RE,
    SG,
    TO,
    ML,
    OL,
    XX,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Seconds {
    pub user: f64,
    pub sys: f64,
    pub total: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputBytes {
    pub kept: u64,
    pub dropped: u64,
}

/// The record, field by field as it is written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub status: Status,
    /// Which limit: `cpu_time`, `wall_time` (TO), `output` (OL), `memory` (ML); `null` otherwise.
    pub limit: Option<&'static str>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Seconds of CPU (user, system, total) of every process of the container.
    pub cpu_time: Option<Seconds>,
    /// Seconds from the program's start to its end.
    pub wall_time: Option<f64>,
    /// Bytes: the cgroup's memory high-water mark (`null` where the kernel keeps none).
    pub memory_peak: Option<u64>,
    pub oom_killed: bool,
    /// Bytes of stdout+stderr passed on and dropped (`null` when the output was not capped).
    pub output_bytes: Option<OutputBytes>,
    /// The most processes at once (`pids.peak`; `null` where the kernel keeps none).
    pub processes_peak: Option<u64>,
    /// What went wrong, for XX.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Everything the supervisor learned about a run that reached its program.
pub struct Ending<'a> {
    pub status: &'a WaitStatus,
    pub limits: &'a Limits,
    pub observed: Option<Observed>,
    pub cpu: Option<CpuUsage>,
    pub memory_peak: Option<u64>,
    pub processes_peak: Option<u64>,
    pub oom_kills: u64,
}

fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e6
}

impl Record {
    pub fn from_ending(e: &Ending<'_>) -> Record {
        let (exit_code, signal) = match *e.status {
            WaitStatus::Exited(_, code) => (Some(code), None),
            WaitStatus::Signaled(_, sig, _) => (None, Some(sig as i32)),
            _ => (None, None),
        };
        let hit = e.observed.and_then(|o| o.hit);
        let over_cpu = match (e.limits.cpu_time, e.cpu) {
            (Some(limit), Some(used)) => used.total > limit,
            _ => false,
        };
        let wall = e.observed.map(|o| o.wall_time);
        let over_wall = matches!((e.limits.wall_time, wall), (Some(limit), Some(w)) if w > limit);
        let oom = e.oom_kills > 0;
        let (status, limit) = if hit == Some(Hit::CpuTime) || (hit.is_none() && over_cpu) {
            (Status::TO, Some("cpu_time"))
        } else if hit == Some(Hit::WallTime) || (hit.is_none() && over_wall) {
            (Status::TO, Some("wall_time"))
        } else if hit == Some(Hit::Output) {
            (Status::OL, Some("output"))
        } else if oom && exit_code != Some(0) {
            (Status::ML, Some("memory"))
        } else if signal.is_some() {
            (Status::SG, None)
        } else if exit_code != Some(0) {
            (Status::RE, None)
        } else {
            (Status::OK, None)
        };
        Record {
            status,
            limit,
            exit_code,
            signal,
            cpu_time: e.cpu.map(|c| Seconds { user: seconds(c.user), sys: seconds(c.system), total: seconds(c.total) }),
            wall_time: wall.map(seconds),
            memory_peak: e.memory_peak,
            oom_killed: oom,
            output_bytes: e.observed.and_then(|o| o.output).map(|(kept, dropped)| OutputBytes { kept, dropped }),
            processes_peak: e.processes_peak,
            message: None,
        }
    }

    /// containy failed before or while running the program.
    pub fn failed(message: String) -> Record {
        Record {
            status: Status::XX,
            limit: None,
            exit_code: None,
            signal: None,
            cpu_time: None,
            wall_time: None,
            memory_peak: None,
            oom_killed: false,
            output_bytes: None,
            processes_peak: None,
            message: Some(message),
        }
    }

    /// Write the record as one JSON object (write-temp + rename: a reader never sees half of it).
    pub fn write(&self, path: &Path) -> Result<(), RuntimeError> {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into());
        text.push('\n');
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.containy-tmp"));
        std::fs::write(&tmp, text).map_err(|e| RuntimeError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            RuntimeError::io("rename", path, e)
        })
    }

    /// `TO (cpu_time) · exit -, signal 9 · cpu 1.001 s (user 0.998, sys 0.003) · wall 1.04 s · memory 1.2 MiB …`
    pub fn summary(&self) -> String {
        let mut parts = vec![match self.limit {
            Some(limit) => format!("{:?} ({limit})", self.status),
            None => format!("{:?}", self.status),
        }];
        match (self.exit_code, self.signal) {
            (Some(code), _) => parts.push(format!("exit {code}")),
            (_, Some(sig)) => parts.push(format!("signal {sig}")),
            _ => {}
        }
        if let Some(c) = &self.cpu_time {
            parts.push(format!("cpu {:.3} s (user {:.3}, sys {:.3})", c.total, c.user, c.sys));
        }
        if let Some(w) = self.wall_time {
            parts.push(format!("wall {w:.3} s"));
        }
        if let Some(m) = self.memory_peak {
            parts.push(format!("memory peak {:.1} MiB", m as f64 / (1 << 20) as f64));
        }
        if let Some(o) = &self.output_bytes {
            parts.push(format!("output {} B kept, {} B dropped", o.kept, o.dropped));
        }
        if let Some(p) = self.processes_peak {
            parts.push(format!("{p} processes at most"));
        }
        if let Some(m) = &self.message {
            parts.push(m.clone());
        }
        parts.join(" · ")
    }
}

/// The record of a run that has ended, from what its supervisor saw and what its cgroup kept (read it
/// before the cgroup is removed).
pub fn record(limits: &Limits, status: &WaitStatus, observed: Observed, cgroup: &crate::cgroups::Cgroup) -> Record {
    Record::from_ending(&Ending {
        status,
        limits,
        observed: Some(observed),
        cpu: cgroup.cpu_usage().map(|used| used.since(observed.cpu_baseline)),
        memory_peak: cgroup.memory_peak(),
        processes_peak: cgroup.pids_peak(),
        oom_kills: cgroup.oom_kills(),
    })
}

/// After the run: read what the cgroup kept, write the record if asked, and say it in one line on a terminal.
pub fn conclude(
    plan: &crate::plan::Plan,
    path: Option<&Path>,
    status: &WaitStatus,
    observed: Observed,
    cgroup: &crate::cgroups::Cgroup,
) -> Result<(), RuntimeError> {
    let record = record(&plan.limits, status, observed, cgroup);
    if let Some(path) = path {
        record.write(path)?;
    }
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!("containy: {}", record.summary());
    }
    Ok(())
}

/// containy failed: the record says XX and why (a warning if even that cannot be written).
pub fn write_failure(path: &Path, error: &RuntimeError) {
    write_failure_text(path, error.to_string());
}

/// [`write_failure`] for errors found before the runtime was reached (a config that does not parse).
pub fn write_failure_text(path: &Path, message: String) {
    if let Err(e) = Record::failed(message).write(path) {
        eprintln!("containy: warning: cannot write the result record: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    fn ending<'a>(status: &'a WaitStatus, limits: &'a Limits, hit: Option<Hit>, cpu_ms: u64, oom: u64) -> Ending<'a> {
        let cpu = Duration::from_millis(cpu_ms);
        Ending {
            status,
            limits,
            observed: Some(Observed {
                hit,
                wall_time: Duration::from_millis(1500),
                output: Some((10, 5)),
                cpu_baseline: CpuUsage::default(),
            }),
            cpu: Some(CpuUsage { total: cpu, user: cpu, system: Duration::ZERO }),
            memory_peak: Some(1 << 20),
            processes_peak: Some(3),
            oom_kills: oom,
        }
    }

    #[test]
    fn the_status_follows_what_ended_the_run() {
        let pid = Pid::from_raw(1);
        let killed = WaitStatus::Signaled(pid, Signal::SIGKILL, false);
        let exited = |code| WaitStatus::Exited(pid, code);
        let limits = Limits { cpu_time: Some(Duration::from_secs(1)), ..Default::default() };
        let status = |e: Ending<'_>| {
            let r = Record::from_ending(&e);
            (r.status, r.limit)
        };
        assert_eq!(status(ending(&killed, &limits, Some(Hit::CpuTime), 1001, 0)), (Status::TO, Some("cpu_time")));
        assert_eq!(status(ending(&killed, &limits, Some(Hit::WallTime), 10, 0)), (Status::TO, Some("wall_time")));
        assert_eq!(status(ending(&killed, &limits, Some(Hit::Output), 10, 0)), (Status::OL, Some("output")));
        // Within the grace: ended by itself, still over the limit.
        assert_eq!(status(ending(&exited(0), &limits, None, 1200, 0)), (Status::TO, Some("cpu_time")));
        assert_eq!(status(ending(&killed, &limits, None, 10, 1)), (Status::ML, Some("memory")));
        let segv = WaitStatus::Signaled(pid, Signal::SIGSEGV, false);
        assert_eq!(status(ending(&segv, &limits, None, 10, 0)), (Status::SG, None));
        assert_eq!(status(ending(&exited(3), &limits, None, 10, 0)), (Status::RE, None));
        assert_eq!(status(ending(&exited(0), &limits, None, 10, 0)), (Status::OK, None));
    }

    #[test]
    fn the_record_is_written_as_json_and_summarised() {
        let pid = Pid::from_raw(1);
        let exited = WaitStatus::Exited(pid, 3);
        let limits = Limits::default();
        let record = Record::from_ending(&ending(&exited, &limits, None, 20, 0));
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("result.json");
        record.write(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["status"], "RE");
        assert_eq!(json["exit_code"], 3);
        assert_eq!(json["signal"], serde_json::Value::Null);
        assert_eq!(json["cpu_time"]["user"], 0.02);
        assert_eq!(json["output_bytes"]["dropped"], 5);
        assert!(json.get("message").is_none());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "no temporary file is left");
        let summary = record.summary();
        assert!(summary.starts_with("RE · exit 3 · cpu 0.020 s"), "{summary}");
        let failed = Record::failed("no such image".into());
        assert_eq!(failed.status, Status::XX);
        assert!(failed.summary().ends_with("no such image"));
    }
}
