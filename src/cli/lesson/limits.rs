//! Lesson `limits`: what a grader needs from a container — every way an untrusted program can end, each
//! from a one-line program, and the result record that says which one it was.

use anyhow::{Context, Result};

use super::Lesson;

/// Config, what the program is, and what the record will say.
const PROGRAMS: &[(&str, &str, &str)] = &[
    ("ok.toml", "echo hello", "OK: it ended by itself with exit code 0"),
    ("exit.toml", "exit 3", "RE: a runtime error, a non-zero exit_code"),
    ("segfault.toml", "kill -SEGV $$", "SG: killed by signal 11"),
    ("cpu.toml", "while :; do :; done", "TO (cpu_time): the cgroup used its 1 s of CPU, measured by the kernel"),
    ("wall.toml", "sleep 60", "TO (wall_time): no CPU used at all, the clock ended it"),
    ("memory.toml", "tail /dev/zero", "ML: the OOM killer ended it at the 32M memory limit; see memory_peak"),
    ("forks.toml", "b() { b | b & }; b", "TO (wall_time) with processes_peak 20: pids.max held the bomb"),
    ("flood.toml", "yes flood", "OL: 60 bytes passed on (output_bytes.kept), then the kill"),
];

pub fn run(l: &mut Lesson) -> Result<()> {
    l.title("limits for untrusted code: how did the program end?");
    l.say("A grader runs programs it does not trust and must say what happened: finished, failed, crashed, too");
    l.say("slow, too big, too chatty. containy run enforces the limits itself (CPU time read from the cgroup,");
    l.say("a timerfd for the wall clock, the container's output through its own pipes) and, with --result FILE,");
    l.say("writes one JSON record when the container is over. Each step is one line of shell under one limit.");

    for (config, program, expect) in PROGRAMS {
        l.step(&format!("{program}   ({config})"));
        let record = l.scratch.path().join(config.replace(".toml", ".json"));
        let record_arg = record.display().to_string();
        l.run_with(config, &["--result", &record_arg])?;
        let text = std::fs::read_to_string(&record).with_context(|| format!("no record in {record_arg}"))?;
        let value: serde_json::Value = serde_json::from_str(&text)?;
        let line = serde_json::json!({
            "status": value["status"], "limit": value["limit"], "exit_code": value["exit_code"],
            "signal": value["signal"], "cpu": value["cpu_time"]["total"], "wall": value["wall_time"],
        });
        l.say(&format!("{record_arg}: {line}"));
        if config.starts_with("memory") || config.starts_with("forks") || config.starts_with("flood") {
            l.say(&format!(
                "  memory_peak {} · processes_peak {} · output_bytes {}",
                value["memory_peak"], value["processes_peak"], value["output_bytes"]
            ));
        }
        l.look(expect);
    }

    l.step("The whole record of the last run.");
    l.host(&format!("cat {}", l.scratch.path().join("flood.json").display()))?;
    l.look("cpu_time is user+sys of EVERY process of the container; wall_time runs from the program's start.");
    l.say("Timing is only reproducible on a quiet machine: pin cpus (resources.cpus), mind CPU frequency");
    l.say("scaling and SMT siblings, and see the README section \"Running untrusted code (graders)\".");
    Ok(())
}
