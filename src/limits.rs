//! Limits for untrusted code (graders, judges): what a run may use before the supervisor ends it.
//!
//! A cgroup limit (`memory`, `pids.max`) or an rlimit is enforced by the kernel alone; the limits here need
//! someone who watches: CPU time (read from the cgroup's accounting, because a kernel `RLIMIT_CPU` counts one
//! process, not a container), wall time, and a cap on output. That someone is the process that already waits
//! for the container and owns its output — for `containy run` the parent (`runtime/limits.rs`). The rest are
//! translated to kernel limits: `file_size` to `RLIMIT_FSIZE`, `open_files` to `RLIMIT_NOFILE`, `processes` to
//! `pids.max`, `disk` to a size-limited tmpfs under the writable layer.
//!
//! This module is only the plain data and its checks; reading the values from a config, an annotation or a
//! flag is `config::limits`. Every check names the field, because a grader's configuration is written once
//! and read by nobody until a limit misbehaves.

use std::time::Duration;

/// The limits of one run; `None`/`false`: not limited.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// CPU time of the whole container (user + system, every process), from the cgroup's accounting.
    pub cpu_time: Option<Duration>,
    /// Grace after `cpu_time` before the container is killed (isolate's `--extra-time`): a run that ends
    /// within it is still reported as over its limit, with its real time.
    pub extra_time: Option<Duration>,
    /// Time from the start of the program to its end, by the monotonic clock.
    pub wall_time: Option<Duration>,
    /// Bytes of stdout + stderr passed through; the beginning is kept, the rest dropped and counted.
    pub output: Option<u64>,
    /// Kill the container (status OL) once it writes more than `output`, instead of dropping the rest.
    pub output_kill: bool,
    /// `RLIMIT_FSIZE`: the largest file the program may write (its stdout pipe is not a file).
    pub file_size: Option<u64>,
    /// Size of the tmpfs that holds the writable layer (overlay's upper dir).
    pub disk: Option<u64>,
    /// `pids.max`: processes and threads at once.
    pub processes: Option<u64>,
    /// `RLIMIT_NOFILE`: open file descriptors per process.
    pub open_files: Option<u64>,
}

/// The fields, as `[limits]` keys, `containy.limits.*` annotations and (with `-` for `_`) `run` flags.
pub const FIELDS: &[&str] =
    &["cpu_time", "extra_time", "wall_time", "output", "output_kill", "file_size", "disk", "processes", "open_files"];

/// The shortest time limit: a container needs milliseconds to start (a clone, mounts, an execve), so a
/// limit below this would end runs before the program did anything.
pub const MIN_TIME: Duration = Duration::from_millis(50);
/// The longest time limit (a day): anything above is a unit mistake, not a grader's limit.
pub const MAX_TIME: Duration = Duration::from_secs(24 * 3600);
/// The largest size limit (1 TiB): the same for sizes.
pub const MAX_SIZE: u64 = 1 << 40;
/// The smallest tmpfs the writable layer can live on (overlay's work dir and a few files).
pub const MIN_DISK: u64 = 1 << 20;
/// `RLIMIT_NOFILE` below this leaves a program no descriptor to open its own libraries with.
pub const MIN_OPEN_FILES: u64 = 8;
/// `fs.nr_open`'s default: the kernel refuses a higher `RLIMIT_NOFILE`.
pub const MAX_OPEN_FILES: u64 = 1 << 20;
/// `PID_MAX_LIMIT` on 64-bit kernels.
pub const MAX_PROCESSES: u64 = 1 << 22;

/// A limit that is out of range or contradicts another: the field (a [`FIELDS`] name) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limits.{field}: {message}")]
pub struct LimitError {
    pub field: &'static str,
    pub message: String,
}

fn error<T>(field: &'static str, message: impl Into<String>) -> Result<T, LimitError> {
    Err(LimitError { field, message: message.into() })
}

impl Limits {
    /// No limit is set: the run is supervised as before (no pipes, no timers).
    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }

    /// Limits that need the supervisor to stay alive while the container runs (`create` cannot honour them).
    pub fn supervised(&self) -> Option<&'static str> {
        [
            (self.cpu_time.is_some(), "cpu_time"),
            (self.wall_time.is_some(), "wall_time"),
            (self.output.is_some(), "output"),
        ]
        .into_iter()
        .find_map(|(set, name)| set.then_some(name))
    }

    /// Every value in range, and the fields that depend on another have it.
    pub fn validate(&self) -> Result<(), LimitError> {
        for (field, value) in [("cpu_time", self.cpu_time), ("wall_time", self.wall_time)] {
            let Some(value) = value else { continue };
            if value < MIN_TIME {
                return error(
                    field,
                    format!(
                        "{} is shorter than a container's start-up; give at least {} ms",
                        show_duration(value),
                        MIN_TIME.as_millis()
                    ),
                );
            }
            if value > MAX_TIME {
                return error(
                    field,
                    format!("{} is more than a day: check the unit (s, ms, m, h)", show_duration(value)),
                );
            }
        }
        if let Some(extra) = self.extra_time {
            if self.cpu_time.is_none() {
                return error("extra_time", "is a grace period after cpu_time: set cpu_time too");
            }
            if extra > MAX_TIME {
                return error("extra_time", format!("{} is more than a day", show_duration(extra)));
            }
        }
        let sizes = [("output", self.output, 1), ("file_size", self.file_size, 1), ("disk", self.disk, MIN_DISK)];
        for (field, value, min) in sizes {
            let Some(value) = value else { continue };
            if value < min {
                return error(field, format!("{value} bytes is too small: give at least {min} bytes"));
            }
            if value > MAX_SIZE {
                return error(field, format!("{value} bytes is more than 1T: check the unit (K, M, G)"));
            }
        }
        if self.output_kill && self.output.is_none() {
            return error("output_kill", "kills when the output passes limits.output: set output too");
        }
        if let Some(n) = self.processes
            && !(1..=MAX_PROCESSES).contains(&n)
        {
            return error("processes", format!("{n} is out of range: give 1 to {MAX_PROCESSES}"));
        }
        if let Some(n) = self.open_files
            && !(MIN_OPEN_FILES..=MAX_OPEN_FILES).contains(&n)
        {
            return error(
                "open_files",
                format!("{n} is out of range: give {MIN_OPEN_FILES} (stdio and a few libraries) to {MAX_OPEN_FILES}"),
            );
        }
        Ok(())
    }

    /// When the supervisor kills for CPU time: the limit plus the grace.
    pub fn cpu_kill_at(&self) -> Option<Duration> {
        self.cpu_time.map(|t| t + self.extra_time.unwrap_or_default())
    }

    /// The rlimits these limits add, as `(OCI name, value)`; soft and hard are the same, so the program
    /// cannot raise them again.
    pub fn rlimits(&self) -> Vec<(&'static str, u64)> {
        let mut r = Vec::new();
        if let Some(size) = self.file_size {
            r.push(("RLIMIT_FSIZE", size));
        }
        if let Some(n) = self.open_files {
            r.push(("RLIMIT_NOFILE", n));
        }
        r
    }
}

/// `1.5 s`, `250 ms`: a duration as the messages and the summary show it.
pub fn show_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", trim_float(d.as_secs_f64()))
    }
}

fn trim_float(x: f64) -> String {
    let text = format!("{x:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(limits: Limits) -> String {
        limits.validate().unwrap_err().to_string()
    }

    #[test]
    fn ranges_are_checked_by_field() {
        let ms = Duration::from_millis;
        assert!(Limits::default().validate().is_ok());
        assert!(Limits { cpu_time: Some(ms(1000)), extra_time: Some(ms(0)), ..Default::default() }.validate().is_ok());
        let err = message(Limits { wall_time: Some(ms(5)), ..Default::default() });
        assert!(err.starts_with("limits.wall_time: 5 ms is shorter than a container's start-up"), "{err}");
        let err = message(Limits { cpu_time: Some(Duration::from_secs(100_000)), ..Default::default() });
        assert!(err.starts_with("limits.cpu_time:") && err.contains("more than a day"), "{err}");
        assert!(message(Limits { extra_time: Some(ms(100)), ..Default::default() }).contains("set cpu_time too"));
        assert!(message(Limits { output: Some(0), ..Default::default() }).starts_with("limits.output: 0 bytes"));
        assert!(message(Limits { disk: Some(4096), ..Default::default() }).starts_with("limits.disk:"));
        assert!(message(Limits { output_kill: true, ..Default::default() }).contains("set output too"));
        assert!(message(Limits { processes: Some(0), ..Default::default() }).starts_with("limits.processes:"));
        assert!(message(Limits { open_files: Some(2), ..Default::default() }).starts_with("limits.open_files:"));
        assert!(message(Limits { file_size: Some(1 << 50), ..Default::default() }).contains("check the unit"));
    }

    #[test]
    fn kill_time_rlimits_and_supervision() {
        let l = Limits {
            cpu_time: Some(Duration::from_secs(1)),
            extra_time: Some(Duration::from_millis(500)),
            file_size: Some(1024),
            open_files: Some(64),
            ..Default::default()
        };
        assert_eq!(l.cpu_kill_at(), Some(Duration::from_millis(1500)));
        assert_eq!(l.rlimits(), vec![("RLIMIT_FSIZE", 1024), ("RLIMIT_NOFILE", 64)]);
        assert_eq!(l.supervised(), Some("cpu_time"));
        assert_eq!(Limits { disk: Some(1 << 30), ..Default::default() }.supervised(), None);
        assert_eq!(show_duration(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(show_duration(Duration::from_millis(20)), "20 ms");
    }
}
