//! What a container used, read from its cgroup, and the kill that ends it — for the limits of untrusted code.
//!
//! CPU time is the cgroup's own accounting (v1 `cpuacct.usage`, `cpuacct.usage_user`/`_sys`; v2 `cpu.stat`
//! `usage_usec`, `user_usec`, `system_usec`): every process of the container counts, also those that forked
//! away or changed their session, and nothing else does. Peaks are the kernel's high-water marks (v1
//! `memory.max_usage_in_bytes`, v2 `memory.peak`, `pids.peak` where the kernel has them).
//!
//! The CPU brake is the scheduler's bandwidth control (v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`, v2
//! `cpu.max`) used as a budget: a quota of the remaining CPU time per period of a second lets the container
//! use what it has left and then stops it (throttled) at the next scheduler tick — whether or not its
//! supervisor is awake to notice. A throttled task cannot even run its way to death, so the kill lifts the
//! quota again, but only *after* every process has SIGKILL pending: none of them returns to user space.
//!
//! [`Cgroup::kill_and_wait`] kills without the freezer: v2 writes `cgroup.kill` (the kernel kills every task,
//! forking or not) and waits for `populated 0` in `cgroup.events`; v1 sends SIGKILL through a pidfd to every
//! pid in `cgroup.procs`, round after round, and waits on the pidfds. A process with a fatal signal pending
//! cannot complete a `fork`, so every round leaves only children born before it, and the rounds end. Each
//! pid is checked to still be in the cgroup *after* its pidfd is opened: a pid reused by someone else in
//! between is never signalled.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::{Cgroup, Layout, keyed_value, procs};

/// CPU time of every process that ran in the cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuUsage {
    pub total: Duration,
    pub user: Duration,
    pub system: Duration,
}

/// A cgroup's CPU bandwidth: `quota` µs of CPU time per `period` µs (`None`: no quota).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth {
    pub quota_us: Option<u64>,
    pub period_us: u64,
}

impl CpuUsage {
    /// What was used since `earlier` (a reading of the same cgroup).
    /// The exact total is subtracted; the user/system split (sampled at ticks on v1) is shared out over it,
    /// so user + system is always the total.
    pub fn since(self, earlier: CpuUsage) -> CpuUsage {
        let total = self.total.saturating_sub(earlier.total);
        let (user, system) = (self.user.saturating_sub(earlier.user), self.system.saturating_sub(earlier.system));
        let share = match (user + system).as_nanos() {
            0 => 1.0,
            both => user.as_nanos() as f64 / both as f64,
        };
        let user = total.mul_f64(share);
        CpuUsage { total, user, system: total - user }
    }
}

fn read_text(dir: &Path, file: &str) -> Option<String> {
    crate::sys::read_kernel_file(dir.join(file)).ok()
}

fn read_number(dir: &Path, file: &str) -> Option<u64> {
    read_text(dir, file)?.trim().parse().ok()
}

impl Cgroup {
    fn dir_for(&self, controller: &str) -> Option<&PathBuf> {
        match self.layout {
            Layout::V2 => self.dirs.first().map(|(_, d)| d),
            Layout::V1 { .. } => self.dirs.iter().find(|(c, _)| c == controller).map(|(_, d)| d),
        }
    }

    /// Total CPU time so far: one small read, cheap enough for every check of a CPU limit.
    pub fn cpu_total(&self) -> Option<Duration> {
        match self.layout {
            Layout::V2 => {
                let stat = read_text(self.dir_for("cpu")?, "cpu.stat")?;
                keyed_value(&stat, "usage_usec").map(Duration::from_micros)
            }
            Layout::V1 { .. } => read_number(self.dir_for("cpuacct")?, "cpuacct.usage").map(Duration::from_nanos),
        }
    }

    /// Total, user and system CPU time.
    pub fn cpu_usage(&self) -> Option<CpuUsage> {
        match self.layout {
            Layout::V2 => {
                let stat = read_text(self.dir_for("cpu")?, "cpu.stat")?;
                let usec = |key| keyed_value(&stat, key).map(Duration::from_micros);
                Some(CpuUsage { total: usec("usage_usec")?, user: usec("user_usec")?, system: usec("system_usec")? })
            }
            Layout::V1 { .. } => {
                // cpuacct.usage is exact (ns); the user/system split is only sampled at ticks (cpuacct.stat),
                // and cpuacct.usage_user/_sys do not add up to the total: split the exact total by the ticks.
                let dir = self.dir_for("cpuacct")?;
                let total = Duration::from_nanos(read_number(dir, "cpuacct.usage")?);
                let stat = read_text(dir, "cpuacct.stat").unwrap_or_default();
                let (user, system) =
                    (keyed_value(&stat, "user").unwrap_or(0), keyed_value(&stat, "system").unwrap_or(0));
                let user_share = if user + system == 0 { 1.0 } else { user as f64 / (user + system) as f64 };
                let user = total.mul_f64(user_share);
                Some(CpuUsage { total, user, system: total - user })
            }
        }
    }

    /// The most memory the cgroup held at once (`None`: this kernel does not keep the peak).
    pub fn memory_peak(&self) -> Option<u64> {
        match self.layout {
            Layout::V2 => read_number(self.dir_for("memory")?, "memory.peak"),
            Layout::V1 { .. } => read_number(self.dir_for("memory")?, "memory.max_usage_in_bytes"),
        }
    }

    /// The most tasks the cgroup held at once (`pids.peak`, kernels since 6.13 or so; `None` before).
    pub fn pids_peak(&self) -> Option<u64> {
        read_number(self.dir_for("pids")?, "pids.peak")
    }

    /// The CPU bandwidth now set (`None`: no cpu controller here).
    pub fn cpu_bandwidth(&self) -> Option<Bandwidth> {
        let dir = self.dir_for("cpu")?;
        match self.layout {
            Layout::V2 => {
                let text = read_text(dir, "cpu.max")?;
                let mut words = text.split_whitespace();
                let quota_us = words.next()?.parse().ok(); // "max": no quota
                Some(Bandwidth { quota_us, period_us: words.next()?.parse().ok()? })
            }
            Layout::V1 { .. } => {
                let quota: i64 = read_text(dir, "cpu.cfs_quota_us")?.trim().parse().ok()?;
                Some(Bandwidth {
                    quota_us: u64::try_from(quota).ok(),
                    period_us: read_number(dir, "cpu.cfs_period_us")?,
                })
            }
        }
    }

    /// Set the CPU bandwidth (`was`: what is set now, so v1's period is written only when it changes).
    /// The kernel takes a new quota at once, with a full quota to spend until its next period.
    pub fn set_cpu_bandwidth(&self, to: Bandwidth, was: Bandwidth) -> bool {
        let Some(dir) = self.dir_for("cpu") else { return false };
        let quota = to.quota_us.map_or_else(|| "max".to_string(), |q| q.to_string());
        match self.layout {
            Layout::V2 => std::fs::write(dir.join("cpu.max"), format!("{quota} {}", to.period_us)).is_ok(),
            Layout::V1 { .. } => {
                let quota = if to.quota_us.is_none() { "-1".to_string() } else { quota };
                (to.period_us == was.period_us
                    || std::fs::write(dir.join("cpu.cfs_period_us"), to.period_us.to_string()).is_ok())
                    && std::fs::write(dir.join("cpu.cfs_quota_us"), quota).is_ok()
            }
        }
    }

    /// No CPU quota any more: for processes that are being killed (a throttled task cannot run to its end).
    fn lift_cpu_quota(&self) {
        let Some(dir) = self.dir_for("cpu") else { return };
        let _ = match self.layout {
            Layout::V2 => std::fs::write(dir.join("cpu.max"), "max"),
            Layout::V1 { .. } => std::fs::write(dir.join("cpu.cfs_quota_us"), "-1"),
        };
    }

    /// Kill every process in the cgroup and wait until none is left (or `timeout` passed: `false`).
    /// A CPU quota (the brake, or the container's own) is lifted once all of them have SIGKILL pending.
    pub fn kill_and_wait(&self, timeout: Duration) -> bool {
        crate::explain!(
            "kill the whole container",
            match self.layout {
                Layout::V2 => "write 1 to cgroup.kill, wait for populated 0 in cgroup.events",
                Layout::V1 { .. } => "pidfd_send_signal(SIGKILL) to every pid in cgroup.procs, until it is empty",
            },
            "a limit ends every process of the container, also those that forked away or left its session"
        );
        let deadline = Instant::now() + timeout;
        let lift = || self.lift_cpu_quota();
        match self.layout {
            Layout::V2 => self.dir_for("pids").is_some_and(|dir| kill_v2(dir, deadline, &lift)),
            Layout::V1 { .. } => self.dir_for("pids").is_some_and(|dir| kill_v1(dir, deadline, &lift)),
        }
    }
}

fn remaining(deadline: Instant) -> Option<PollTimeout> {
    let left = deadline.checked_duration_since(Instant::now())?;
    Some(PollTimeout::try_from(left.as_millis().clamp(1, 60_000) as i32).unwrap_or(PollTimeout::MAX))
}

/// `cgroup.kill`, then sleep in `poll` on `cgroup.events` (it signals POLLPRI on every change) until the
/// cgroup is no longer populated.
fn kill_v2(dir: &Path, deadline: Instant, signalled: &dyn Fn()) -> bool {
    if std::fs::write(dir.join("cgroup.kill"), "1").is_err() {
        return procs(dir).is_empty();
    }
    signalled();
    let Ok(events) = std::fs::File::open(dir.join("cgroup.events")) else { return procs(dir).is_empty() };
    loop {
        let text = read_text(dir, "cgroup.events").unwrap_or_default();
        if keyed_value(&text, "populated") == Some(0) {
            return true;
        }
        let Some(timeout) = remaining(deadline) else { return false };
        let mut fds = [PollFd::new(events.as_fd(), PollFlags::POLLPRI)];
        if poll(&mut fds, timeout).is_err() {
            return procs(dir).is_empty();
        }
    }
}

/// Rounds of SIGKILL through pidfds until `cgroup.procs` is empty.
fn kill_v1(dir: &Path, deadline: Instant, signalled: &dyn Fn()) -> bool {
    let tasks = procs_path_in(dir);
    loop {
        let pids = procs(dir);
        if pids.is_empty() {
            return true;
        }
        let mut pidfds: Vec<OwnedFd> = Vec::new();
        for pid in pids {
            let Ok(pidfd) = crate::sys::pidfd_open(pid) else { continue }; // already gone
            if !still_in(pid.as_raw(), tasks.as_deref()) {
                continue;
            }
            if crate::sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL).is_ok() {
                pidfds.push(pidfd);
            }
        }
        signalled();
        // A pidfd becomes readable when its process has exited.
        for pidfd in &pidfds {
            loop {
                let Some(timeout) = remaining(deadline) else { return false };
                let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, timeout) {
                    Ok(n) if n > 0 => break,
                    Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break,
                }
            }
        }
        if remaining(deadline).is_none() {
            return procs(dir).is_empty();
        }
    }
}

/// The cgroup path as `/proc/<pid>/cgroup` shows it for the pids hierarchy (`/containy/<id>`).
fn procs_path_in(dir: &Path) -> Option<String> {
    let mut parts = dir.strip_prefix(super::CGROUP_ROOT).ok()?.components();
    parts.next()?; // the hierarchy's directory (`pids`)
    Some(format!("/{}", parts.as_path().display()))
}

/// Whether `/proc/<pid>/cgroup` still places the process in the cgroup at `path` of the pids hierarchy.
fn still_in(pid: i32, path: Option<&str>) -> bool {
    let Some(path) = path else { return true };
    let Ok(text) = crate::sys::read_kernel_file(format!("/proc/{pid}/cgroup")) else { return false };
    text.lines().any(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, p) = (fields.next(), fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        controllers.split(',').any(|c| c == "pids") && p == path
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pids_path_is_relative_to_its_hierarchy() {
        let dir = Path::new("/sys/fs/cgroup/pids/containy/abc");
        assert_eq!(procs_path_in(dir).as_deref(), Some("/containy/abc"));
        assert_eq!(procs_path_in(Path::new("/elsewhere/x")), None);
    }

    #[test]
    fn a_process_outside_the_cgroup_is_not_signalled() {
        let me = std::process::id() as i32;
        assert!(!still_in(me, Some("/containy/surely-not-this-one")));
        assert!(!still_in(i32::MAX, Some("/containy/x")));
    }

    #[test]
    fn v1_usage_is_read_from_cpuacct_and_memory() {
        let tmp = tempfile::tempdir().unwrap();
        let (cpu, mem, pids) = (tmp.path().join("cpuacct"), tmp.path().join("memory"), tmp.path().join("pids"));
        for d in [&cpu, &mem, &pids] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(cpu.join("cpuacct.usage"), "1500000000\n").unwrap();
        std::fs::write(cpu.join("cpuacct.stat"), "user 100\nsystem 50\n").unwrap();
        std::fs::write(mem.join("memory.max_usage_in_bytes"), "4096\n").unwrap();
        std::fs::write(pids.join("pids.peak"), "7\n").unwrap();
        let cgroup = Cgroup::reopen(
            &Layout::V1 { hierarchies: Vec::new() },
            vec![("cpuacct".into(), cpu), ("memory".into(), mem), ("pids".into(), pids)],
        );
        let usage = cgroup.cpu_usage().unwrap();
        assert_eq!(usage.total, Duration::from_millis(1500));
        assert_eq!((usage.user, usage.system), (Duration::from_secs(1), Duration::from_millis(500)));
        assert_eq!(cgroup.cpu_total(), Some(Duration::from_millis(1500)));
        assert_eq!((cgroup.memory_peak(), cgroup.pids_peak()), (Some(4096), Some(7)));
    }

    #[test]
    fn usage_since_a_reading_keeps_user_plus_system_at_the_total() {
        let ms = Duration::from_millis;
        let before = CpuUsage { total: ms(100), user: ms(0), system: ms(100) };
        let after = CpuUsage { total: ms(1100), user: ms(1000), system: ms(100) };
        assert_eq!(after.since(before), CpuUsage { total: ms(1000), user: ms(1000), system: ms(0) });
        let ticks_lag = CpuUsage { total: ms(1100), user: ms(0), system: ms(100) };
        assert_eq!(ticks_lag.since(before), CpuUsage { total: ms(1000), user: ms(1000), system: ms(0) });
    }

    #[test]
    fn v2_usage_is_read_from_cpu_stat() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("cpu.stat"), "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\n").unwrap();
        let cgroup = Cgroup::reopen(&Layout::V2, vec![("unified".into(), tmp.path().to_path_buf())]);
        assert_eq!(cgroup.cpu_total(), Some(Duration::from_millis(2)));
        assert_eq!(cgroup.cpu_usage().unwrap().user, Duration::from_micros(1500));
        assert_eq!(cgroup.memory_peak(), None);
    }
}
