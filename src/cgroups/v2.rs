//! cgroup v2: one unified tree. The container gets one directory; its limits are `memory.max`,
//! `memory.swap.max`, `pids.max`, `cpu.max` and `cpu.weight`, and `clone3(CLONE_INTO_CGROUP)` places the
//! process in it at birth. `cgroup.kill` kills everything inside in one write.

use std::path::Path;

use super::{CGROUP_ROOT, Cgroup, CgroupError, Write, make_dirs, write_file};
use crate::plan::Resources;

/// v1 `cpu.shares` (2..262144, default 1024) to v2 `cpu.weight` (1..10000, default 100), as runc and
/// crun convert it.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

pub(super) fn writes(resources: &Resources) -> Vec<Write> {
    let mut w: Vec<Write> = Vec::new();
    if let Some(limit) = resources.memory {
        w.push(("memory", "memory.max", limit.to_string()));
        // v2 counts swap separately: memory_swap is memory+swap, as in v1 and OCI.
        let swap = match resources.memory_swap {
            Some(-1) => "max".to_string(),
            Some(total) => (total - limit as i64).max(0).to_string(),
            None => "0".to_string(),
        };
        w.push(("memory", "memory.swap.max", swap));
    }
    match resources.pids {
        Some(max) if max < 0 => w.push(("pids", "pids.max", "max".into())),
        Some(max) => w.push(("pids", "pids.max", max.to_string())),
        None => {}
    }
    if resources.cpu_quota.is_some() || resources.cpu_period.is_some() {
        let quota = resources.cpu_quota.filter(|q| *q > 0).map_or("max".to_string(), |q| q.to_string());
        let period = resources.cpu_period.unwrap_or(100_000);
        w.push(("cpu", "cpu.max", format!("{quota} {period}")));
    }
    if let Some(shares) = resources.cpu_shares {
        w.push(("cpu", "cpu.weight", shares_to_weight(shares).to_string()));
    }
    w
}

pub(super) fn create(cgroup: &mut Cgroup, rel: &Path, resources: &Resources) -> Result<(), CgroupError> {
    let root = Path::new(CGROUP_ROOT);
    // Controllers must be enabled in every ancestor's subtree_control before a child can use them.
    let wanted = writes(resources);
    let mut enable: Vec<&str> = wanted.iter().map(|(c, _, _)| *c).collect();
    enable.dedup();
    let mut dir = root.to_path_buf();
    let available = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
    let enable_line: String =
        enable.iter().filter(|c| available.split_whitespace().any(|a| a == **c)).map(|c| format!("+{c} ")).collect();
    let leaf = make_dirs(root, rel, &mut cgroup.parents)?;
    cgroup.dirs.push(("unified".into(), leaf.clone()));
    if !enable_line.is_empty() {
        for part in rel.parent().into_iter().flat_map(|p| p.components()) {
            write_file(&dir.join("cgroup.subtree_control"), enable_line.trim_end())?;
            dir.push(part);
        }
        write_file(&dir.join("cgroup.subtree_control"), enable_line.trim_end())?;
    }
    for (_, file, value) in wanted {
        write_file(&leaf.join(file), &value)?;
    }
    Ok(())
}

fn read_u64(cgroup: &Cgroup, file: &str) -> Option<u64> {
    std::fs::read_to_string(cgroup.dirs.first()?.1.join(file)).ok()?.trim().parse().ok()
}

pub(super) fn stats(cgroup: &Cgroup) -> super::Stats {
    let usage_usec = cgroup
        .dirs
        .first()
        .and_then(|(_, d)| std::fs::read_to_string(d.join("cpu.stat")).ok())
        .and_then(|text| super::keyed_value(&text, "usage_usec"));
    // cpu.max: "QUOTA PERIOD", QUOTA "max" when unlimited.
    let cpu_max = cgroup.dirs.first().and_then(|(_, d)| std::fs::read_to_string(d.join("cpu.max")).ok());
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
        let events = std::fs::read_to_string(dir.join("cgroup.events")).unwrap_or_default();
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
        .and_then(|(_, d)| std::fs::read_to_string(d.join("memory.events")).ok())
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
        assert!(w.contains(&("memory", "memory.swap.max", "200".into())));
        assert!(w.contains(&("cpu", "cpu.max", "50000 100000".into())));
    }
}
