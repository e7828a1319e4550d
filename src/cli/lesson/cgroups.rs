//! Lesson `cgroups`: limits are files. The three examples of `cgroups_example/` run one after the other —
//! a fork limit, a memory limit, a CPU quota — each container printing the limit file it runs under and
//! then running into it.

use std::path::Path;

use anyhow::{Context, Result};

use super::Lesson;

pub fn run(l: &mut Lesson, examples: &Path, config: &str) -> Result<()> {
    let examples = examples.canonicalize().with_context(|| format!("the cgroups examples {}", examples.display()))?;
    l.title("cgroups: limits are files");
    l.say("A cgroup is a directory in /sys/fs/cgroup; a limit is a number containy writes to a file in it before");
    l.say("the container's process exists. Each container below prints its limit file, then runs into it.");

    l.step("pids.max = 10: the cgroup may hold ten tasks, the container's first process included.");
    let (_, status) = l.run_in(&examples.join("forks"), config, &[])?;
    l.look("the fork that would have made an eleventh task failed (\"can't fork\", \"Resource temporarily");
    l.look(&format!("unavailable\"): the kernel refused it, nothing else noticed. containy exited: {status}."));

    l.step("A memory limit: past it, the kernel's OOM killer ends the container.");
    let (_, status) = l.run_in(&examples.join("memory"), config, &[])?;
    l.look(&format!(
        "the allocations stop at the limit; containy names the OOM kill and exits 137 ({status}), like docker."
    ));

    l.step("cpu = 0.5: the cgroup may run 50 ms of every 100 ms period; a busy loop wants all of it.");
    let (_, status) = l.run_in(&examples.join("cpu"), config, &[])?;
    l.look("nr_throttled in cpu.stat: the periods in which the kernel stopped the loop because its quota was");
    l.look(&format!(
        "used up, and throttled_time (v1, ns) or throttled_usec (v2) how long. containy exited: {status}."
    ));
    l.say("containy inspect ID shows a running container's cgroup directories, limits and usage.");
    Ok(())
}
