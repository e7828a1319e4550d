//! cgroup v2: one unified tree. The container gets one directory; its limits are `memory.max`,
//! `memory.swap.max`, `pids.max`, `cpu.max` and `cpu.weight`, and `clone3(CLONE_INTO_CGROUP)` places the
//! process in it at birth. `cgroup.kill` kills everything inside in one write.
//! The other limits are `memory.low`, `cpu.idle`, `cpuset.cpus`/`cpuset.mems`, `io.weight`, `io.max`,
//! `hugetlb.<size>.max` and the raw `unified` files (written last). A file exists only once its controller is
//! enabled in every ancestor's `cgroup.subtree_control`, so the controllers are derived from the writes and
//! enabled top-down first; what v2 cannot do (swappiness) is refused before any directory is made.

use std::path::Path;

use super::{CGROUP_ROOT, Cgroup, CgroupError, Write, make_dirs, write_file};
use crate::plan::{IoRate, IoThrottle, Resources};

/// v1 `cpu.shares` (2..262144, default 1024) to v2 `cpu.weight` (1..10000, default 100), as runc and
/// crun convert it.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

/// v1 `blkio.weight` (10..=1000) to v2 `io.weight` (1..=10000), as runc converts it.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let weight = u64::from(weight.clamp(10, 1000));
    1 + (weight - 10) * 9999 / 990
}

/// The controller a v2 interface file belongs to (`io.max` -> `io`): it must be enabled in every
/// ancestor's `cgroup.subtree_control` before the file exists. `""`: a core `cgroup.*` file.
fn controller_of(file: &str) -> &'static str {
    const KNOWN: &[&str] = &["memory", "pids", "cpu", "cpuset", "io", "hugetlb", "rdma", "misc"];
    let prefix = file.split('.').next().unwrap_or_default();
    KNOWN.iter().copied().find(|c| *c == prefix).unwrap_or("")
}

/// `io.max` takes one line per device with every throttled rate of that device: `8:0 rbps=1048576 wiops=100`.
fn io_max_lines(throttles: &[IoThrottle]) -> Vec<String> {
    let mut devices: Vec<(u64, u64, String)> = Vec::new();
    for t in throttles {
        let key = match t.kind {
            IoRate::ReadBps => "rbps",
            IoRate::WriteBps => "wbps",
            IoRate::ReadIops => "riops",
            IoRate::WriteIops => "wiops",
        };
        let setting = format!(" {key}={}", t.rate);
        match devices.iter_mut().find(|(major, minor, _)| (*major, *minor) == (t.major, t.minor)) {
            Some((_, _, line)) => line.push_str(&setting),
            None => devices.push((t.major, t.minor, setting)),
        }
    }
    devices.into_iter().map(|(major, minor, settings)| format!("{major}:{minor}{settings}")).collect()
}

/// A `unified` key must name a file directly in the container's cgroup, and not one of the core files
/// that move processes or change the tree (`cgroup.procs`, `cgroup.subtree_control`, …): only the
/// `cgroup.max.*` limits are allowed among those.
pub fn check_unified_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.contains('/') || key.starts_with('.') {
        return Err(format!("{key:?} is not a file name in the container's cgroup"));
    }
    if key.starts_with("cgroup.") && !key.starts_with("cgroup.max.") {
        return Err(format!("{key:?} is a core cgroup file; of those only cgroup.max.* may be set"));
    }
    Ok(())
}

/// Refused before any directory is created: what v2 has no file for, and unified keys outside the cgroup.
pub(super) fn check(resources: &Resources) -> Result<(), CgroupError> {
    if resources.swappiness.is_some() {
        return Err(CgroupError::Unsupported {
            field: "swappiness (linux.resources.memory.swappiness / resources.swappiness)",
            reason: "cgroup v2 has no per-cgroup swappiness (only the global vm.swappiness); remove it".into(),
        });
    }
    for (key, _) in &resources.unified {
        check_unified_key(key).map_err(|reason| CgroupError::Unsupported {
            field: "the unified map (linux.resources.unified)",
            reason,
        })?;
    }
    // What v1 has and v2 does not: go on without it and say so (runc ignores most of these silently).
    let missing = [
        (resources.oom_kill_disable, "linux.resources.memory.disableOOMKiller (v2 has no memory.oom_control)"),
        (
            resources.cpu_rt_period.is_some() || resources.cpu_rt_runtime.is_some(),
            "linux.resources.cpu.realtimePeriod/realtimeRuntime (v2 has no real-time CPU budget per cgroup)",
        ),
        (resources.io_leaf_weight.is_some(), "linux.resources.blockIO.leafWeight (v2 has no leaf weights)"),
        (resources.net_class_id.is_some(), "linux.resources.network.classID (v2 has no net_cls)"),
        (!resources.net_priorities.is_empty(), "linux.resources.network.priorities (v2 has no net_prio)"),
    ];
    for (_, what) in missing.iter().filter(|(set, _)| *set) {
        super::warn(&format!("cgroup v2: {what}; not applied"));
    }
    Ok(())
}

pub(super) fn writes(resources: &Resources) -> Vec<Write> {
    let mut w: Vec<Write> = Vec::new();
    let mut push = |controller: &'static str, file: &str, value: String| w.push((controller, file.to_string(), value));
    if let Some(limit) = resources.memory {
        push("memory", "memory.max", limit.to_string());
        // v2 counts swap separately: memory_swap is memory+swap, as in v1 and OCI.
        let swap = match resources.memory_swap {
            Some(-1) => "max".to_string(),
            Some(total) => (total - limit as i64).max(0).to_string(),
            None => "0".to_string(),
        };
        push("memory", "memory.swap.max", swap);
    }
    if let Some(reservation) = resources.memory_reservation {
        push("memory", "memory.low", reservation.to_string());
    }
    match resources.pids {
        Some(max) if max < 0 => push("pids", "pids.max", "max".into()),
        Some(max) => push("pids", "pids.max", max.to_string()),
        None => {}
    }
    if resources.cpu_quota.is_some() || resources.cpu_period.is_some() {
        let quota = resources.cpu_quota.filter(|q| *q > 0).map_or("max".to_string(), |q| q.to_string());
        let period = resources.cpu_period.unwrap_or(100_000);
        push("cpu", "cpu.max", format!("{quota} {period}"));
    }
    if let Some(shares) = resources.cpu_shares {
        push("cpu", "cpu.weight", shares_to_weight(shares).to_string());
    }
    if let Some(idle) = resources.cpu_idle {
        push("cpu", "cpu.idle", u8::from(idle).to_string());
    }
    if let Some(mems) = &resources.cpuset_mems {
        push("cpuset", "cpuset.mems", mems.clone());
    }
    if let Some(cpus) = &resources.cpuset_cpus {
        push("cpuset", "cpuset.cpus", cpus.clone());
    }
    if let Some(burst) = resources.cpu_burst {
        push("cpu", "cpu.max.burst", burst.to_string());
    }
    if let Some(weight) = resources.io_weight {
        push("io", "io.weight", blkio_weight_to_io_weight(weight).to_string());
    }
    for d in &resources.io_weight_devices {
        if let Some(weight) = d.weight {
            push("io", "io.weight", format!("{}:{} {}", d.major, d.minor, blkio_weight_to_io_weight(weight)));
        }
    }
    for line in super::rdma_lines(&resources.rdma) {
        push("rdma", "rdma.max", line);
    }
    for line in io_max_lines(&resources.io_throttles) {
        push("io", "io.max", line);
    }
    for h in &resources.hugetlb {
        push("hugetlb", &format!("hugetlb.{}.max", h.page_size), h.limit.to_string());
    }
    // Last, so a raw value overrides the same file derived from a field above (as runc does).
    for (key, value) in &resources.unified {
        push(controller_of(key), key, value.clone());
    }
    w
}

pub(super) fn create(cgroup: &mut Cgroup, rel: &Path, resources: &Resources) -> Result<(), CgroupError> {
    check(resources)?;
    let root = Path::new(CGROUP_ROOT);
    // Controllers must be enabled in every ancestor's subtree_control before a child can use them.
    let wanted = writes(resources);
    let mut enable: Vec<&str> = Vec::new();
    for (controller, _, _) in &wanted {
        if !controller.is_empty() && !enable.contains(controller) {
            enable.push(controller);
        }
    }
    let dir = root.to_path_buf();
    let available = crate::sys::read_kernel_file(root.join("cgroup.controllers")).unwrap_or_default();
    if let Some(missing) =
        enable.iter().find(|c| !available.is_empty() && !available.split_whitespace().any(|a| a == **c))
    {
        return Err(CgroupError::Unsupported {
            field: match *missing {
                "hugetlb" => "hugetlb limits (linux.resources.hugepageLimits)",
                "cpuset" => "cpus/mems (linux.resources.cpu.cpus/mems / resources.cpus/mems)",
                "io" => "I/O limits (linux.resources.blockIO / resources.io_weight)",
                _ => "a limit of this container",
            },
            reason: format!(
                "the {missing} controller is not available in this cgroup v2 tree ({CGROUP_ROOT}/cgroup.controllers)"
            ),
        });
    }
    // memory and pids always (where the tree has them), as runc and crun enable them: their usage and peaks
    // (`memory.peak`, `pids.peak`) are what `stats` and the result record read, with or without a limit.
    for accounted in ["memory", "pids"] {
        if !enable.contains(&accounted) {
            enable.push(accounted);
        }
    }
    let enable_line: String =
        enable.iter().filter(|c| available.split_whitespace().any(|a| a == **c)).map(|c| format!("+{c} ")).collect();
    let leaf = make_dirs(root, rel, &mut cgroup.parents, &mut cgroup.existing)?;
    cgroup.dirs.push(("unified".into(), leaf.clone()));
    let enable_path = |line: &str, force: bool| -> Result<(), CgroupError> {
        let mut dir = dir.clone();
        for part in rel.parent().into_iter().flat_map(|p| p.components()) {
            enable_in(&dir, line, force)?;
            dir.push(part);
        }
        enable_in(&dir, line, force)
    };
    if !enable_line.is_empty() {
        enable_path(&enable_line, false)?;
    }
    // cpu too, where it can be: its `cpu.max` is the brake of a CPU-time limit (`runtime/limits.rs`). Best
    // effort — a subtree delegated without cpu works as before, its CPU limit enforced by the checks alone.
    if !enable.contains(&"cpu") && available.split_whitespace().any(|a| a == "cpu") {
        let _ = enable_path("+cpu", false);
    }
    for (_, file, value) in wanted {
        let path = leaf.join(file);
        match write_file(&path, &value) {
            // The file of a controller that is not enabled above the leaf does not exist (the kernel answers
            // a write with EACCES): a container that shares the parent may have been setting it up at
            // the same moment. Enable the controllers again, whatever the parent says it has, and retry once.
            Err(CgroupError::Write { source, .. })
                if !enable_line.is_empty()
                    && matches!(source.raw_os_error(), Some(libc::EACCES) | Some(libc::ENOENT)) =>
            {
                enable_path(&enable_line, true)?;
                write_file(&path, &value)?;
            }
            other => other?,
        }
    }
    attach_device_filter(&leaf, resources)
}

/// Enable controllers for `dir`'s children, unless they already are: a rootless user may not write the
/// subtree_control files above the subtree delegated to it, where its controllers were enabled for it.
/// Enable the controllers of `enable_line` in `dir`'s `cgroup.subtree_control` — unless it lists them already
/// (a delegated subtree may not be ours to write), or `force`.
fn enable_in(dir: &Path, enable_line: &str, force: bool) -> Result<(), CgroupError> {
    let file = dir.join("cgroup.subtree_control");
    let current = if force { String::new() } else { crate::sys::read_kernel_file(&file).unwrap_or_default() };
    let missing = enable_line.split_whitespace().any(|c| {
        let name = c.trim_start_matches('+');
        !current.split_whitespace().any(|have| have == name)
    });
    if missing { write_file(&file, enable_line.trim_end()) } else { Ok(()) }
}

/// The v2 equivalent of `devices.deny a` + the allow list: an eBPF program built from the same rules.
fn attach_device_filter(dir: &Path, resources: &Resources) -> Result<(), CgroupError> {
    let defaults = super::default_device_rules();
    let rules: Vec<_> =
        defaults.iter().take(1).chain(&resources.devices).chain(defaults.iter().skip(1)).cloned().collect();
    let program = super::devices_bpf::program(&rules);
    crate::explain!(
        format!("attach the device filter ({} rules, {} eBPF instructions)", rules.len(), program.len()),
        format!("bpf(BPF_PROG_LOAD, CGROUP_DEVICE); bpf(BPF_PROG_ATTACH, {})", dir.display()),
        "cgroup v2 has no devices.allow: a program decides every device open and mknod"
    );
    let unsupported = |e: std::io::Error| CgroupError::Unsupported {
        field: "the device filter (linux.resources.devices)",
        reason: format!("cannot load or attach the cgroup v2 device program: {e}"),
    };
    let fd = match crate::sys::bpf_load_device_program(&program) {
        Ok(fd) => fd,
        // Only a privileged process may load the program. Without privilege (rootless) there is no device
        // cgroup, as with crun: the container's root is the user outside, and the user's own permissions on
        // the host's device nodes are what limits it (it cannot mknod in a user namespace).
        Err(e)
            if e.raw_os_error() == Some(libc::EPERM)
                && (!nix::unistd::geteuid().is_root() || !crate::sys::in_initial_user_namespace()) =>
        {
            crate::explain!(
                "no device filter (rootless)",
                "bpf(BPF_PROG_LOAD): EPERM",
                "an unprivileged user cannot load cgroup programs; its device access is its own on the host"
            );
            return Ok(());
        }
        Err(e) => return Err(unsupported(e)),
    };
    let cgroup = std::fs::File::open(dir).map_err(|source| CgroupError::Read { path: dir.to_path_buf(), source })?;
    crate::sys::bpf_attach_device_program(std::os::fd::AsFd::as_fd(&fd), std::os::fd::AsFd::as_fd(&cgroup))
        .map_err(unsupported)
}

fn read_u64(cgroup: &Cgroup, file: &str) -> Option<u64> {
    crate::sys::read_kernel_file(cgroup.dirs.first()?.1.join(file)).ok()?.trim().parse().ok()
}

pub(super) fn stats(cgroup: &Cgroup) -> super::Stats {
    let usage_usec = cgroup
        .dirs
        .first()
        .and_then(|(_, d)| crate::sys::read_kernel_file(d.join("cpu.stat")).ok())
        .and_then(|text| super::keyed_value(&text, "usage_usec"));
    // cpu.max: "QUOTA PERIOD", QUOTA "max" when unlimited.
    let cpu_max = cgroup.dirs.first().and_then(|(_, d)| crate::sys::read_kernel_file(d.join("cpu.max")).ok());
    let mut cpu_max = cpu_max.as_deref().unwrap_or("").split_whitespace().map(|v| v.parse::<u64>().ok());
    let (cpu_quota_us, cpu_period_us) = (cpu_max.next().flatten(), cpu_max.next().flatten());
    super::Stats {
        cpu_quota_us,
        cpu_period_us,
        memory_usage: read_u64(cgroup, "memory.current"),
        memory_peak: read_u64(cgroup, "memory.peak"),
        memory_limit: read_u64(cgroup, "memory.max"),
        cpu_usage_ns: usage_usec.map(|u| u * 1000),
        pids_current: read_u64(cgroup, "pids.current"),
        pids_max: read_u64(cgroup, "pids.max"),
        oom_kills: oom_kills(cgroup),
        frozen: read_u64(cgroup, "cgroup.freeze") == Some(1),
    }
}

/// `cgroup.freeze`: 1 stops every task in the cgroup, 0 lets them go; `cgroup.events` says when done.
pub(super) fn set_frozen(cgroup: &Cgroup, frozen: bool) -> Result<(), CgroupError> {
    let Some((_, dir)) = cgroup.dirs.first() else {
        return Ok(());
    };
    write_file(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
    for _ in 0..1000 {
        let events = crate::sys::read_kernel_file(dir.join("cgroup.events")).unwrap_or_default();
        if super::keyed_value(&events, "frozen") == Some(frozen as u64) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(())
}

pub(super) fn update(cgroup: &Cgroup, resources: &Resources) -> Result<(), CgroupError> {
    let Some((_, dir)) = cgroup.dirs.first() else {
        return Ok(());
    };
    for (_, file, value) in writes(resources) {
        write_file(&dir.join(file), &value)?;
    }
    Ok(())
}

pub(super) fn oom_kills(cgroup: &Cgroup) -> u64 {
    cgroup
        .dirs
        .first()
        .and_then(|(_, d)| crate::sys::read_kernel_file(d.join("memory.events")).ok())
        .and_then(|text| super::keyed_value(&text, "oom_kill"))
        .unwrap_or(0)
}

pub(super) fn kill_all(cgroup: &Cgroup) {
    let Some((_, dir)) = cgroup.dirs.first() else {
        return;
    };
    if super::procs(dir).is_empty() {
        return;
    }
    let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    for _ in 0..200 {
        if super::procs(dir).is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_convert_to_weight_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
    }

    #[test]
    fn cpu_max_and_swap_are_written_as_v2_expects() {
        let r = Resources {
            memory: Some(100),
            memory_swap: Some(300),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            ..Resources::default()
        };
        let w = writes(&r);
        assert!(w.contains(&("memory", "memory.swap.max".into(), "200".into())));
        assert!(w.contains(&("cpu", "cpu.max".into(), "50000 100000".into())));
    }

    fn files(w: &[Write]) -> Vec<(&str, &str, &str)> {
        w.iter().map(|(c, f, v)| (*c, f.as_str(), v.as_str())).collect()
    }

    #[test]
    fn the_new_resources_are_written_in_order() {
        let r = Resources {
            memory_reservation: Some(256 << 20),
            cpu_idle: Some(true),
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: Some("0".into()),
            io_weight: Some(500),
            io_throttles: vec![
                IoThrottle { kind: IoRate::ReadBps, major: 8, minor: 0, rate: 1_048_576 },
                IoThrottle { kind: IoRate::WriteIops, major: 8, minor: 16, rate: 100 },
                IoThrottle { kind: IoRate::WriteIops, major: 8, minor: 0, rate: 50 },
            ],
            hugetlb: vec![crate::plan::HugetlbLimit { page_size: "2MB".into(), limit: 4 << 20 }],
            unified: vec![("memory.high".into(), "1G".into()), ("cgroup.max.depth".into(), "3".into())],
            ..Resources::default()
        };
        assert_eq!(
            files(&writes(&r)),
            [
                ("memory", "memory.low", "268435456"),
                ("cpu", "cpu.idle", "1"),
                ("cpuset", "cpuset.mems", "0"),
                ("cpuset", "cpuset.cpus", "0-1"),
                ("io", "io.weight", "4950"),
                ("io", "io.max", "8:0 rbps=1048576 wiops=50"),
                ("io", "io.max", "8:16 wiops=100"),
                ("hugetlb", "hugetlb.2MB.max", "4194304"),
                ("memory", "memory.high", "1G"),
                ("", "cgroup.max.depth", "3"),
            ]
        );
    }

    #[test]
    fn io_weight_converts_like_runc() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(500), 1 + 490 * 9999 / 990);
    }

    #[test]
    fn swappiness_and_bad_unified_keys_are_refused_before_create() {
        let r = Resources { swappiness: Some(60), ..Resources::default() };
        let err = check(&r).unwrap_err().to_string();
        assert!(err.contains("swappiness") && err.contains("no per-cgroup swappiness"), "{err}");
        for key in ["../x", "a/b", ".hidden", "cgroup.procs", "cgroup.subtree_control", ""] {
            let r = Resources { unified: vec![(key.into(), "1".into())], ..Resources::default() };
            assert!(check(&r).is_err(), "{key}");
        }
        let r = Resources { unified: vec![("cgroup.max.descendants".into(), "1".into())], ..Resources::default() };
        assert!(check(&r).is_ok());
    }
}
