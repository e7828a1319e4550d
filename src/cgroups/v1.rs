//! cgroup v1: one hierarchy per controller. The container gets a directory in each hierarchy it needs
//! (`pids/containy-<id>`, `memory/containy-<id>`, …), and its pid is written into every one of them.
//! `cpuset`, `blkio` and `hugetlb` directories are made only when the plan limits them; a new cpuset directory
//! is filled from its parent first (it refuses tasks while empty). What this machine's hierarchies cannot
//! apply (no hugetlb hierarchy, no I/O weight file, v2-only settings) is refused before any directory exists.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};

use super::{Cgroup, CgroupError, FileWriter, Hierarchy, Write, device_rule_text, make_dirs, procs, write_file};
use crate::plan::{IoRate, Resources};

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

/// Controllers used only when the plan asks for them: a fresh `cpuset` directory has empty `cpuset.cpus`
/// and `cpuset.mems` and refuses tasks until both are filled, and `blkio`/`hugetlb` directories cost a
/// hierarchy walk for nothing when no limit is set.
fn wanted(resources: &Resources) -> Vec<&'static str> {
    let mut wanted = NEEDED.to_vec();
    if resources.cpuset_cpus.is_some() || resources.cpuset_mems.is_some() {
        wanted.push("cpuset");
    }
    if resources.io_weight.is_some() || !resources.io_throttles.is_empty() {
        wanted.push("blkio");
    }
    if !resources.hugetlb.is_empty() {
        wanted.push("hugetlb");
    }
    if resources.io_leaf_weight.is_some() || !resources.io_weight_devices.is_empty() {
        wanted.push("blkio");
    }
    if resources.net_class_id.is_some() {
        wanted.push("net_cls");
    }
    if !resources.net_priorities.is_empty() {
        wanted.push("net_prio");
    }
    if !resources.rdma.is_empty() {
        wanted.push("rdma");
    }
    wanted.dedup();
    wanted
}

/// Files a kernel may lack (no `CONFIG_RT_GROUP_SCHED`, no CFS burst before 5.14): a missing one is
/// skipped with a warning rather than failing the container, as runc does.
const OPTIONAL_FILES: &[&str] = &["cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.cfs_burst_us", "memory.use_hierarchy"];

/// The controllers whose settings are applied where mounted and warned about where not.
const OPTIONAL_CONTROLLERS: &[&str] = &["hugetlb", "blkio", "net_cls", "net_prio", "rdma"];

/// What this kernel's v1 hierarchies offer, looked up once: the swap limit file exists only with swap
/// accounting, the weight file only with the CFQ or BFQ I/O scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct Features {
    pub memsw: bool,
    /// `blkio.weight` (CFQ) or `blkio.bfq.weight` (BFQ); `None`: no proportional I/O weight on this kernel.
    pub blkio_weight: Option<&'static str>,
}

fn rate_file(kind: IoRate) -> &'static str {
    match kind {
        IoRate::ReadBps => "blkio.throttle.read_bps_device",
        IoRate::WriteBps => "blkio.throttle.write_bps_device",
        IoRate::ReadIops => "blkio.throttle.read_iops_device",
        IoRate::WriteIops => "blkio.throttle.write_iops_device",
    }
}

/// Every file write for these resources, in the order the kernel accepts them. `update`: only what is
/// set (a running container's limits change; its device rules stay).
pub(super) fn writes(resources: &Resources, features: Features, update: bool) -> Vec<Write> {
    let mut w: Vec<Write> = Vec::new();
    let mut push = |controller: &'static str, file: &str, value: String| w.push((controller, file.to_string(), value));
    if let Some(limit) = resources.memory {
        push("memory", "memory.limit_in_bytes", limit.to_string());
        // Without a swap limit a container could page its whole limit out to swap.
        if features.memsw {
            let swap = resources.memory_swap.unwrap_or(limit as i64);
            push("memory", "memory.memsw.limit_in_bytes", swap.to_string());
        }
    }
    if let Some(reservation) = resources.memory_reservation {
        push("memory", "memory.soft_limit_in_bytes", reservation.to_string());
    }
    if let Some(swappiness) = resources.swappiness {
        push("memory", "memory.swappiness", swappiness.to_string());
    }
    match resources.pids {
        Some(max) if max < 0 => push("pids", "pids.max", "max".into()),
        Some(max) => push("pids", "pids.max", max.to_string()),
        None if !update => push("pids", "pids.max", "max".into()),
        None => {}
    }
    if let Some(period) = resources.cpu_period {
        push("cpu", "cpu.cfs_period_us", period.to_string());
    }
    if let Some(quota) = resources.cpu_quota {
        push("cpu", "cpu.cfs_quota_us", quota.to_string());
    }
    if let Some(shares) = resources.cpu_shares {
        push("cpu", "cpu.shares", shares.to_string());
    }
    // mems before cpus, as runc: both were copied from the parent, so either order is accepted.
    if let Some(mems) = &resources.cpuset_mems {
        push("cpuset", "cpuset.mems", mems.clone());
    }
    if let Some(cpus) = &resources.cpuset_cpus {
        push("cpuset", "cpuset.cpus", cpus.clone());
    }
    if let (Some(weight), Some(file)) = (resources.io_weight, features.blkio_weight) {
        push("blkio", file, weight.to_string());
    }
    for t in &resources.io_throttles {
        push("blkio", rate_file(t.kind), format!("{}:{} {}", t.major, t.minor, t.rate));
    }
    for h in &resources.hugetlb {
        push("hugetlb", &format!("hugetlb.{}.limit_in_bytes", h.page_size), h.limit.to_string());
    }
    more_writes(resources, features, &mut push);
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
        w.push(("devices", file.to_string(), device_rule_text(rule)));
    }
    w
}

/// The settings besides the common limits, in the order runc writes them.
fn more_writes(resources: &Resources, features: Features, push: &mut impl FnMut(&'static str, &str, String)) {
    if resources.oom_kill_disable {
        push("memory", "memory.oom_control", "1".into());
    }
    if let Some(on) = resources.use_hierarchy {
        push("memory", "memory.use_hierarchy", u8::from(on).to_string());
    }
    // The period first: a runtime is checked against the period in place.
    if let Some(period) = resources.cpu_rt_period {
        push("cpu", "cpu.rt_period_us", period.to_string());
    }
    if let Some(runtime) = resources.cpu_rt_runtime {
        push("cpu", "cpu.rt_runtime_us", runtime.to_string());
    }
    if let Some(burst) = resources.cpu_burst {
        push("cpu", "cpu.cfs_burst_us", burst.to_string());
    }
    // CFQ has weight_device and leaf weights; BFQ takes per-device lines in blkio.bfq.weight itself.
    match features.blkio_weight {
        Some("blkio.weight") => {
            if let Some(leaf) = resources.io_leaf_weight {
                push("blkio", "blkio.leaf_weight", leaf.to_string());
            }
            for d in &resources.io_weight_devices {
                if let Some(w) = d.weight {
                    push("blkio", "blkio.weight_device", format!("{}:{} {w}", d.major, d.minor));
                }
                if let Some(w) = d.leaf_weight {
                    push("blkio", "blkio.leaf_weight_device", format!("{}:{} {w}", d.major, d.minor));
                }
            }
        }
        Some(bfq) => {
            for d in &resources.io_weight_devices {
                if let Some(w) = d.weight {
                    push("blkio", bfq, format!("{}:{} {w}", d.major, d.minor));
                }
            }
        }
        None => {}
    }
    if let Some(id) = resources.net_class_id {
        push("net_cls", "net_cls.classid", id.to_string());
    }
    for (interface, priority) in &resources.net_priorities {
        push("net_prio", "net_prio.ifpriomap", format!("{interface} {priority}"));
    }
    for line in super::rdma_lines(&resources.rdma) {
        push("rdma", "rdma.max", line);
    }
}

fn hierarchy_of<'a>(hierarchies: &'a [Hierarchy], controller: &str) -> Option<&'a Hierarchy> {
    hierarchies.iter().find(|h| h.controllers.iter().any(|c| c == controller))
}

/// What the kernel would refuse half-way through `create`, refused before any directory exists.
pub(super) fn check(hierarchies: &[Hierarchy], resources: &Resources) -> Result<Features, CgroupError> {
    let unsupported = |field, reason: &str| Err(CgroupError::Unsupported { field, reason: reason.to_string() });
    if !resources.unified.is_empty() {
        return unsupported(
            "the unified map (linux.resources.unified)",
            "it holds cgroup v2 files and this machine uses cgroup v1; express the limits with the v1 fields",
        );
    }
    if resources.cpu_idle == Some(true) {
        return unsupported(
            "cpu idle (linux.resources.cpu.idle)",
            "cpu.idle is a cgroup v2 setting and this machine uses cgroup v1; remove it or set it to 0",
        );
    }
    if (resources.cpuset_cpus.is_some() || resources.cpuset_mems.is_some())
        && hierarchy_of(hierarchies, "cpuset").is_none()
    {
        return unsupported("cpus/mems (linux.resources.cpu.cpus/mems)", "no cgroup v1 cpuset hierarchy is mounted");
    }
    for controller in wanted(resources) {
        if OPTIONAL_CONTROLLERS.contains(&controller) && hierarchy_of(hierarchies, controller).is_none() {
            super::warn(&format!(
                "no cgroup v1 {controller} hierarchy is mounted on this machine: the container's {controller} \
                 settings are not applied"
            ));
        }
    }
    let blkio = hierarchy_of(hierarchies, "blkio");
    let blkio_weight =
        blkio.and_then(|h| ["blkio.weight", "blkio.bfq.weight"].into_iter().find(|f| h.mount_point.join(f).exists()));
    let weights =
        resources.io_weight.is_some() || resources.io_leaf_weight.is_some() || !resources.io_weight_devices.is_empty();
    if blkio.is_some() && weights && blkio_weight.is_none() {
        super::warn(
            "this kernel has neither blkio.weight nor blkio.bfq.weight (no CFQ or BFQ I/O scheduler): \
             linux.resources.blockIO weights are not applied",
        );
    }
    if blkio_weight == Some("blkio.bfq.weight") && resources.io_leaf_weight.is_some() {
        super::warn("BFQ has no leaf weights: linux.resources.blockIO.leafWeight is not applied");
    }
    let memsw =
        hierarchy_of(hierarchies, "memory").is_some_and(|h| h.mount_point.join("memory.memsw.limit_in_bytes").exists());
    Ok(Features { memsw, blkio_weight })
}

/// A new v1 cpuset directory starts with empty `cpuset.cpus` and `cpuset.mems` and takes no task until
/// both are set; a child may only hold a subset of its parent. So from the hierarchy root down to `rel`,
/// every empty value is copied from the parent before the plan's own values are written.
pub(super) fn fill_cpuset(mount_point: &Path, rel: &Path) -> Result<(), CgroupError> {
    let mut parent = mount_point.to_path_buf();
    for part in rel.components() {
        let dir = parent.join(part);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let read = |p: PathBuf| {
                crate::sys::read_kernel_file(&p).map_err(|source| CgroupError::Read { path: p.clone(), source })
            };
            if read(dir.join(file))?.trim().is_empty() {
                write_file(&dir.join(file), read(parent.join(file))?.trim())?;
            }
        }
        parent = dir;
    }
    Ok(())
}

pub(super) fn create(
    cgroup: &mut Cgroup,
    hierarchies: &[Hierarchy],
    rel: &Path,
    resources: &Resources,
) -> Result<(), CgroupError> {
    let features = check(hierarchies, resources)?;
    for controller in wanted(resources) {
        let Some(h) = hierarchy_of(hierarchies, controller) else {
            continue; // a controller this kernel does not mount cannot limit anything
        };
        if cgroup.dirs.iter().any(|(_, d)| d.starts_with(&h.mount_point)) {
            continue; // co-mounted (cpu,cpuacct): one directory serves both
        }
        let dir = make_dirs(&h.mount_point, rel, &mut cgroup.parents, &mut cgroup.existing)?;
        cgroup.dirs.push((controller.to_string(), dir));
        if controller == "cpuset" {
            fill_cpuset(&h.mount_point, rel)?;
        }
    }
    apply(cgroup, resources, features, false)
}

fn apply(cgroup: &Cgroup, resources: &Resources, features: Features, update: bool) -> Result<(), CgroupError> {
    let mut writer = FileWriter::default();
    for (controller, file, value) in writes(resources, features, update) {
        let Some(dir) = dir_of(cgroup, controller) else {
            continue; // a controller this kernel does not mount: warned about in `check`
        };
        let path = dir.join(&file);
        if OPTIONAL_FILES.contains(&file.as_str()) && !path.exists() {
            super::warn(&format!("this kernel has no {file}: {value:?} is not applied"));
            continue;
        }
        writer.write(&path, &value)?;
    }
    Ok(())
}

pub(super) fn update(cgroup: &Cgroup, resources: &Resources) -> Result<(), CgroupError> {
    let memsw = dir_of(cgroup, "memory").is_some_and(|d| d.join("memory.memsw.limit_in_bytes").exists());
    let blkio_weight = dir_of(cgroup, "blkio")
        .and_then(|d| ["blkio.weight", "blkio.bfq.weight"].into_iter().find(|f| d.join(f).exists()));
    apply(cgroup, resources, Features { memsw, blkio_weight }, true)
}

fn read_u64(dir: Option<&PathBuf>, file: &str) -> Option<u64> {
    crate::sys::read_kernel_file(dir?.join(file)).ok()?.trim().parse().ok()
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
            .and_then(|d| crate::sys::read_kernel_file(d.join("freezer.state")).ok())
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
        if crate::sys::read_kernel_file(dir.join("freezer.state")).is_ok_and(|s| s.trim() == want) {
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
        .and_then(|d| crate::sys::read_kernel_file(d.join("memory.oom_control")).ok())
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
                match crate::sys::read_kernel_file(f.join("freezer.state")) {
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
    use crate::plan::{HugetlbLimit, IoThrottle};

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
        let w = writes(&r, Features { memsw: true, blkio_weight: None }, false);
        let files: Vec<_> = w.iter().map(|(_, f, _)| f.as_str()).collect();
        let pos = |name| files.iter().position(|f| *f == name).unwrap();
        assert!(pos("memory.limit_in_bytes") < pos("memory.memsw.limit_in_bytes"));
        assert!(pos("cpu.cfs_period_us") < pos("cpu.cfs_quota_us"));
        assert!(w.contains(&("pids", "pids.max".into(), "10".into())));
        assert!(w.contains(&("memory", "memory.memsw.limit_in_bytes".into(), (64u64 << 20).to_string())));
        let first_device = w.iter().find(|(c, _, _)| *c == "devices").unwrap();
        assert_eq!(first_device, &("devices", "devices.deny".into(), "a *:* rwm".to_string()));
    }

    #[test]
    fn an_update_writes_only_what_is_set() {
        let r = Resources { pids: Some(100), ..Resources::default() };
        let features = Features { memsw: true, blkio_weight: None };
        assert_eq!(writes(&r, features, true), vec![("pids", "pids.max".into(), "100".to_string())]);
    }

    fn new_resources() -> Resources {
        Resources {
            memory: Some(64 << 20),
            memory_reservation: Some(32 << 20),
            swappiness: Some(10),
            cpuset_cpus: Some("0".into()),
            io_weight: Some(300),
            io_throttles: vec![
                IoThrottle { kind: IoRate::ReadBps, major: 8, minor: 0, rate: 1_048_576 },
                IoThrottle { kind: IoRate::WriteIops, major: 8, minor: 0, rate: 100 },
            ],
            hugetlb: vec![HugetlbLimit { page_size: "2MB".into(), limit: 4 << 20 }],
            ..Resources::default()
        }
    }

    #[test]
    fn the_new_resources_are_written_in_order() {
        let features = Features { memsw: false, blkio_weight: Some("blkio.bfq.weight") };
        let w = writes(&new_resources(), features, true);
        let got: Vec<(&str, &str, &str)> = w.iter().map(|(c, f, v)| (*c, f.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("memory", "memory.limit_in_bytes", "67108864"),
                ("memory", "memory.soft_limit_in_bytes", "33554432"),
                ("memory", "memory.swappiness", "10"),
                ("cpuset", "cpuset.cpus", "0"),
                ("blkio", "blkio.bfq.weight", "300"),
                ("blkio", "blkio.throttle.read_bps_device", "8:0 1048576"),
                ("blkio", "blkio.throttle.write_iops_device", "8:0 100"),
                ("hugetlb", "hugetlb.2MB.limit_in_bytes", "4194304"),
            ]
        );
    }

    #[test]
    fn the_settings_runc_also_writes_are_written() {
        use crate::plan::{IoWeightDevice, RdmaLimit};
        let r = Resources {
            oom_kill_disable: true,
            cpu_rt_period: Some(1_000_000),
            cpu_rt_runtime: Some(0),
            cpu_burst: Some(1000),
            io_leaf_weight: Some(200),
            io_weight_devices: vec![IoWeightDevice { major: 8, minor: 0, weight: Some(300), leaf_weight: None }],
            net_class_id: Some(0x100001),
            net_priorities: vec![("lo".into(), 3)],
            rdma: vec![RdmaLimit { device: "mlx4_0".into(), hca_handles: Some(2), hca_objects: None }],
            ..Resources::default()
        };
        let w = writes(&r, Features { memsw: false, blkio_weight: Some("blkio.weight") }, true);
        let got: Vec<(&str, &str, &str)> = w.iter().map(|(c, f, v)| (*c, f.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("memory", "memory.oom_control", "1"),
                ("cpu", "cpu.rt_period_us", "1000000"),
                ("cpu", "cpu.rt_runtime_us", "0"),
                ("cpu", "cpu.cfs_burst_us", "1000"),
                ("blkio", "blkio.leaf_weight", "200"),
                ("blkio", "blkio.weight_device", "8:0 300"),
                ("net_cls", "net_cls.classid", "1048577"),
                ("net_prio", "net_prio.ifpriomap", "lo 3"),
                ("rdma", "rdma.max", "mlx4_0 hca_handle=2 hca_object=max"),
            ]
        );
    }

    fn hierarchy(root: &Path, name: &str) -> Hierarchy {
        let mount_point = root.join(name);
        std::fs::create_dir_all(&mount_point).unwrap();
        Hierarchy { mount_point, controllers: vec![name.to_string()] }
    }

    #[test]
    fn what_v1_cannot_do_is_refused_or_warned_about() {
        let tmp = tempfile::tempdir().unwrap();
        let mut hs: Vec<Hierarchy> = ["memory", "cpuset", "blkio"].iter().map(|n| hierarchy(tmp.path(), n)).collect();
        let message = |r: &Resources, hs: &[Hierarchy]| check(hs, r).unwrap_err().to_string();
        // No hugetlb hierarchy, no weight file: warned about, not refused (as runc goes on without them).
        assert_eq!(check(&hs, &new_resources()).unwrap(), Features { memsw: false, blkio_weight: None });
        let no_huge = Resources { hugetlb: Vec::new(), ..new_resources() };
        std::fs::write(tmp.path().join("blkio/blkio.weight"), "500").unwrap();
        assert_eq!(check(&hs, &no_huge).unwrap(), Features { memsw: false, blkio_weight: Some("blkio.weight") });
        hs.push(hierarchy(tmp.path(), "hugetlb"));
        assert!(check(&hs, &new_resources()).is_ok());
        let idle = Resources { cpu_idle: Some(true), ..Resources::default() };
        assert!(message(&idle, &hs).contains("cpu.idle"));
        assert!(check(&hs, &Resources { cpu_idle: Some(false), ..Resources::default() }).is_ok());
        let unified = Resources { unified: vec![("memory.high".into(), "1".into())], ..Resources::default() };
        assert!(message(&unified, &hs).contains("linux.resources.unified"));
    }

    #[test]
    fn an_empty_cpuset_is_filled_from_its_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("containy/c1")).unwrap();
        for (dir, cpus, mems) in [("", "0-3", "0"), ("containy", "", ""), ("containy/c1", "", "\n")] {
            std::fs::write(root.join(dir).join("cpuset.cpus"), cpus).unwrap();
            std::fs::write(root.join(dir).join("cpuset.mems"), mems).unwrap();
        }
        std::fs::write(root.join("containy/cpuset.mems"), "0").unwrap();
        fill_cpuset(root, Path::new("containy/c1")).unwrap();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("containy/cpuset.cpus"), "0-3");
        assert_eq!(read("containy/c1/cpuset.cpus"), "0-3");
        assert_eq!(read("containy/c1/cpuset.mems"), "0");
    }
}
