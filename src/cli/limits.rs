//! The limit flags of `containy run` (`--cpu-time 2s --wall-time 5s --output 64K …`) and `--result FILE`:
//! each flag overrides the same field of the config's `[limits]` (or the OCI config's `containy.limits.*`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::config::limits::set_field;

/// Limits for untrusted code (graders, judges); see "Running untrusted code" in the README.
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

/// Apply the flags over the plan's limits and check the result as a whole.
pub(super) fn apply_limit_args(plan: &mut crate::plan::Plan, args: &LimitArgs, detached: bool) -> Result<()> {
    let flags = [
        ("cpu-time", &args.cpu_time),
        ("extra-time", &args.extra_time),
        ("wall-time", &args.wall_time),
        ("output", &args.output),
        ("file-size", &args.file_size),
        ("disk", &args.disk),
        ("processes", &args.processes),
        ("open-files", &args.open_files),
    ];
    for (flag, value) in flags {
        if let Some(value) = value {
            set_field(&mut plan.limits, flag, value).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))?;
        }
    }
    if args.output_kill {
        plan.limits.output_kill = true;
    }
    plan.limits.validate()?;
    if detached && args.result.is_some() {
        anyhow::bail!("--result needs containy to wait for the container: drop --detach");
    }
    Ok(())
}
