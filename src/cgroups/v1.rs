//! cgroup v1: one hierarchy per controller. The container gets a directory in each hierarchy it needs
//! (`pids/containy/<id>`, `memory/containy/<id>`, …), and its pid is written into every one of them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};

use super::{Cgroup, CgroupError, Hierarchy, Write, device_rule_text, make_dirs, procs, write_file};
use crate::plan::Resources;

const CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
    "misc",
];

/// The v1 hierarchies mounted under `/sys/fs/cgroup`, from `/proc/self/mountinfo`
/// (`… /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory`).
pub(super) fn hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            if right.next()? != "cgroup" || !mount_point.starts_with(super::CGROUP_ROOT) {
                return None;
            }
            let options = right.nth(1)?;
            let controllers: Vec<String> =
                options.split(',').filter(|o| CONTROLLERS.contains(o)).map(str::to_string).collect();
            (!controllers.is_empty()).then(|| Hierarchy { mount_point: PathBuf::from(mount_point), controllers })
        })
        .collect()
}

/// The controllers every container gets a directory in: `pids` (it lists the container's processes and
/// limits their number), `devices` (deny by default), `freezer` (pause, and stopping everything before the
/// final kill so nothing forks away), `memory` and `cpu`/`cpuacct` (limits, `containy stats`, and `update`
/// of a running container, which cannot move processes into a hierarchy later).
const NEEDED: &[&str] = &["pids", "devices", "freezer", "memory", "cpu", "cpuacct"];

/// Every file write for these resources, in the order the kernel accepts them. `update`: only what is
/// set (a running container's limits change; its device rules stay).
pub(super) fn writes(resources: &Resources, memsw: bool, update: bool) -> Vec<Write> {
    let mut w: Vec<Write> = Vec::new();
    if let Some(limit) = resources.memory {
        w.push(("memory", "memory.limit_in_bytes", limit.to_string()));
        // Without a swap limit a container could page its whole limit out to swap.
        if memsw {
            let swap = resources.memory_swap.unwrap_or(limit as i64);
            w.push(("memory", "memory.memsw.limit_in_bytes", swap.to_string()));
        }
    }
    match resources.pids {
        Some(max) if max < 0 => w.push(("pids", "pids.max", "max".into())),
        Some(max) => w.push(("pids", "pids.max", max.to_string())),
        None if !update => w.push(("pids", "pids.max", "max".into())),
        None => {}
    }
    if let Some(period) = resources.cpu_period {
        w.push(("cpu", "cpu.cfs_period_us", period.to_string()));
    }
    if let Some(quota) = resources.cpu_quota {
        w.push(("cpu", "cpu.cfs_quota_us", quota.to_string()));
    }
    if let Some(shares) = resources.cpu_shares {
        w.push(("cpu", "cpu.shares", shares.to_string()));
    }
    if update {
        return w;
    }
    for rule in super::default_device_rules()
        .iter()
        .take(1)
        .chain(&resources.devices)
        .chain(super::default_device_rules().iter().skip(1))
    {
        let file = if rule.allow { "devices.allow" } else { "devices.deny" };
        w.push(("devices", file, device_rule_text(rule)));
    }
    w
}

pub(super) fn create(
    cgroup: &mut Cgroup,
    hierarchies: &[Hierarchy],
    rel: &Path,
    resources: &Resources,
) -> Result<(), CgroupError> {
    for controller in NEEDED.iter().copied() {
        let Some(h) = hierarchies.iter().find(|h| h.controllers.iter().any(|c| c == controller)) else {
            continue; // a controller this kernel does not mount cannot limit anything
        };
        if cgroup.dirs.iter().any(|(_, d)| d.starts_with(&h.mount_point)) {
            continue; // co-mounted (cpu,cpuacct): one directory serves both
        }
        let dir = make_dirs(&h.mount_point, rel, &mut cgroup.parents)?;
        cgroup.dirs.push((controller.to_string(), dir));
    }
    let memsw = dir_of(cgroup, "memory").is_some_and(|d| d.join("memory.memsw.limit_in_bytes").exists());
    apply(cgroup, resources, memsw, false)
}

fn apply(cgroup: &Cgroup, resources: &Resources, memsw: bool, update: bool) -> Result<(), CgroupError> {
    for (controller, file, value) in writes(resources, memsw, update) {
        if let Some(dir) = dir_of(cgroup, controller) {
            write_file(&dir.join(file), &value)?;
        }
    }
    Ok(())
}

pub(super) fn update(cgroup: &Cgroup, resources: &Resources) -> Result<(), CgroupError> {
    let memsw = dir_of(cgroup, "memory").is_some_and(|d| d.join("memory.memsw.limit_in_bytes").exists());
    apply(cgroup, resources, memsw, true)
}

fn read_u64(dir: Option<&PathBuf>, file: &str) -> Option<u64> {
    std::fs::read_to_string(dir?.join(file)).ok()?.trim().parse().ok()
}

pub(super) fn stats(cgroup: &Cgroup) -> super::Stats {
    let memory = dir_of(cgroup, "memory");
    let pids = dir_of(cgroup, "pids");
    let limit = read_u64(memory, "memory.limit_in_bytes").filter(|l| *l < (1u64 << 62));
    super::Stats {
        memory_usage: read_u64(memory, "memory.usage_in_bytes"),
        memory_peak: read_u64(memory, "memory.max_usage_in_bytes"),
        memory_limit: limit,
        cpu_usage_ns: read_u64(dir_of(cgroup, "cpuacct"), "cpuacct.usage"),
        // -1 (unlimited) does not parse as u64: None.
        cpu_quota_us: read_u64(dir_of(cgroup, "cpu"), "cpu.cfs_quota_us"),
        cpu_period_us: read_u64(dir_of(cgroup, "cpu"), "cpu.cfs_period_us"),
        pids_current: read_u64(pids, "pids.current"),
        pids_max: read_u64(pids, "pids.max"),
        oom_kills: oom_kills(cgroup),
        frozen: dir_of(cgroup, "freezer")
            .and_then(|d| std::fs::read_to_string(d.join("freezer.state")).ok())
            .is_some_and(|s| s.trim() == "FROZEN"),
    }
}

/// `freezer.state`: FROZEN stops every task in the cgroup (they can't even notice), THAWED lets them go.
pub(super) fn set_frozen(cgroup: &Cgroup, frozen: bool) -> Result<(), CgroupError> {
    let Some(dir) = dir_of(cgroup, "freezer") else {
        return Ok(());
    };
    let want = if frozen { "FROZEN" } else { "THAWED" };
    write_file(&dir.join("freezer.state"), want)?;
    for _ in 0..1000 {
        if std::fs::read_to_string(dir.join("freezer.state")).is_ok_and(|s| s.trim() == want) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(CgroupError::Write {
        path: dir.join("freezer.state"),
        value: want.into(),
        source: std::io::Error::from_raw_os_error(libc::EBUSY),
    })
}

fn dir_of<'a>(cgroup: &'a Cgroup, controller: &str) -> Option<&'a PathBuf> {
    cgroup.dirs.iter().find(|(c, _)| c == controller).map(|(_, d)| d)
}

pub(super) fn oom_kills(cgroup: &Cgroup) -> u64 {
    dir_of(cgroup, "memory")
        .and_then(|d| std::fs::read_to_string(d.join("memory.oom_control")).ok())
        .and_then(|text| super::keyed_value(&text, "oom_kill"))
        .unwrap_or(0)
}

/// Freeze, kill, thaw — until empty. Frozen processes cannot fork, so one pass over `cgroup.procs`
/// catches them all; SIGKILL is delivered once they are thawed.
pub(super) fn kill_all(cgroup: &Cgroup) {
    let Some(pids_dir) = dir_of(cgroup, "pids") else {
        return;
    };
    let freezer = dir_of(cgroup, "freezer");
    for _ in 0..50 {
        if procs(pids_dir).is_empty() {
            return;
        }
        if let Some(f) = freezer {
            let _ = std::fs::write(f.join("freezer.state"), "FROZEN");
            for _ in 0..100 {
                match std::fs::read_to_string(f.join("freezer.state")) {
                    Ok(s) if s.trim() == "FROZEN" => break,
                    Ok(_) => std::thread::sleep(Duration::from_micros(500)),
                    Err(_) => break,
                }
            }
        }
        for pid in procs(pids_dir) {
            let _ = kill(pid, Signal::SIGKILL);
        }
        if let Some(f) = freezer {
            let _ = std::fs::write(f.join("freezer.state"), "THAWED");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_gives_the_hierarchies() {
        let mi = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                  32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
                  35 31 0:31 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n\
                  36 31 0:32 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        let h = hierarchies(mi);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(h[0].controllers, vec!["cpu", "cpuacct"]);
    }

    #[test]
    fn writes_set_limit_before_swap_and_deny_devices_first() {
        let r = Resources {
            memory: Some(64 << 20),
            pids: Some(10),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            ..Resources::default()
        };
        let w = writes(&r, true, false);
        let files: Vec<_> = w.iter().map(|(_, f, _)| *f).collect();
        let pos = |name| files.iter().position(|f| *f == name).unwrap();
        assert!(pos("memory.limit_in_bytes") < pos("memory.memsw.limit_in_bytes"));
        assert!(pos("cpu.cfs_period_us") < pos("cpu.cfs_quota_us"));
        assert!(w.contains(&("pids", "pids.max", "10".into())));
        assert!(w.contains(&("memory", "memory.memsw.limit_in_bytes", (64u64 << 20).to_string())));
        let first_device = w.iter().find(|(c, _, _)| *c == "devices").unwrap();
        assert_eq!(first_device, &("devices", "devices.deny", "a *:* rwm".to_string()));
    }

    #[test]
    fn an_update_writes_only_what_is_set() {
        let r = Resources { pids: Some(100), ..Resources::default() };
        assert_eq!(writes(&r, true, true), vec![("pids", "pids.max", "100".to_string())]);
    }
}
