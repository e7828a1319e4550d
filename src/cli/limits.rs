//! The limit flags of `containy run` (`--cpu-time 2s --wall-time 5s --output 64K …`) and `--result FILE`:
//! each flag overrides the same field of the config's `[limits]` (or the OCI config's `containy.limits.*`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

// Limits for untrusted code (graders, judges); see "Running untrusted code" in the README.
// (A plain comment, not a doc comment: clap would make a flattened struct's doc the verb's about.)
#[derive(Debug, Args, Default)]
pub struct LimitArgs {
    /// CPU time of the whole container (user+sys, all processes), e.g. 2s or 500ms; then it is killed (TO).
    #[arg(long, value_name = "TIME", help_heading = "Limits", allow_hyphen_values = true)]
    pub cpu_time: Option<String>,
    /// Grace after --cpu-time before the kill; the run is still reported as over its limit.
    #[arg(long, value_name = "TIME", help_heading = "Limits", allow_hyphen_values = true)]
    pub extra_time: Option<String>,
    /// Wall-clock time from the program's start; then it is killed (TO).
    #[arg(long, value_name = "TIME", help_heading = "Limits", allow_hyphen_values = true)]
    pub wall_time: Option<String>,
    /// Pass the first SIZE bytes of stdout+stderr through; drop and count the rest.
    #[arg(long, value_name = "SIZE", help_heading = "Limits", allow_hyphen_values = true)]
    pub output: Option<String>,
    /// Kill the container (OL) when its output passes --output, instead of dropping the rest.
    #[arg(long, help_heading = "Limits")]
    pub output_kill: bool,
    /// The largest file the program may write (RLIMIT_FSIZE).
    #[arg(long, value_name = "SIZE", help_heading = "Limits", allow_hyphen_values = true)]
    pub file_size: Option<String>,
    /// Size of the writable layer (a tmpfs under overlay's upper dir).
    #[arg(long, value_name = "SIZE", help_heading = "Limits", allow_hyphen_values = true)]
    pub disk: Option<String>,
    /// Processes and threads at once (pids.max).
    #[arg(long, value_name = "N", help_heading = "Limits", allow_hyphen_values = true)]
    pub processes: Option<String>,
    /// Open file descriptors per process (RLIMIT_NOFILE).
    #[arg(long, value_name = "N", help_heading = "Limits", allow_hyphen_values = true)]
    pub open_files: Option<String>,
    /// Write a JSON record of how the run ended (status, times, memory peak, output) to FILE.
    #[arg(long, value_name = "FILE", help_heading = "Limits")]
    pub result: Option<PathBuf>,
}

/// `--result FILE` around a whole `run`: a record left by an earlier run is removed first, and a run that
/// fails before the runtime could write its own record (a config that does not parse, a bad flag) leaves an
/// `XX` record with the error — a grader always finds a record that belongs to this run.
pub(super) struct ResultFile(Option<PathBuf>);

impl ResultFile {
    pub(super) fn take(path: Option<PathBuf>) -> ResultFile {
        if let Some(path) = &path {
            let _ = std::fs::remove_file(path);
        }
        ResultFile(path)
    }

    pub(super) fn finish(self, outcome: Result<i32>) -> Result<i32> {
        if let (Err(e), Some(path)) = (&outcome, &self.0)
            && !path.exists()
        {
            crate::runtime::write_failure_record(path, format!("{e:#}"));
        }
        outcome
    }
}

impl LimitArgs {
    /// The flags given, as `(field, value)` pairs for `request::Overrides::limits` (applied over the config's
    /// `[limits]` before the Plan is validated).
    pub(super) fn flags(&self) -> Vec<(String, String)> {
        let mut flags: Vec<(String, String)> = [
            ("cpu_time", &self.cpu_time),
            ("extra_time", &self.extra_time),
            ("wall_time", &self.wall_time),
            ("output", &self.output),
            ("file_size", &self.file_size),
            ("disk", &self.disk),
            ("processes", &self.processes),
            ("open_files", &self.open_files),
        ]
        .into_iter()
        .filter_map(|(field, value)| Some((field.to_string(), value.clone()?)))
        .collect();
        if self.output_kill {
            flags.push(("output_kill".into(), "true".into()));
        }
        flags
    }
}
