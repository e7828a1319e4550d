//! cgroup limits hold, from inside real containers, and nothing is left in any hierarchy afterwards.

mod common;

use common::{Bundle, stderr, stdout};

fn config(script: &str, resources: &str) -> String {
    format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n[rootfs]\npath = \"@ROOTFS@\"\n[resources]\n{resources}\n"
    )
}

/// The v1 controller directory or the v2 file, as the container sees its own cgroup.
fn cgroup_file(v1_controller: &str, v1: &str, v2: &str) -> String {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        format!("/sys/fs/cgroup/{v2}")
    } else {
        format!("/sys/fs/cgroup/{v1_controller}/{v1}")
    }
}

#[test]
fn a_fork_bomb_stops_at_pids_max() {
    require_root!();
    let current = cgroup_file("pids", "pids.current", "pids.current");
    // The inner shell forks until the kernel refuses; the outer one survives to report.
    let script = format!("sh -c 'for i in $(seq 1 200); do sleep 3 & done' 2>/dev/null; echo current=$(cat {current})");
    let out = Bundle::friendly(&config(&script, "pids = 64")).run();
    let text = stdout(&out);
    assert_eq!(text.trim(), "current=64", "{text} {}", stderr(&out));
    // Meanwhile the host forks as usual.
    assert!(std::process::Command::new("true").status().unwrap().success());
}

#[test]
fn a_memory_hog_is_oom_killed_and_reported() {
    require_root!();
    let script = "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo survived";
    let out = Bundle::friendly(&config(script, "memory = \"64M\"")).run();
    assert_eq!(out.status.code(), Some(137), "{} {}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains("survived"));
    let err = stderr(&out);
    assert!(err.contains("was killed by the OOM killer (memory limit 64 MiB)"), "{err}");
}

#[test]
fn the_cpu_quota_is_written() {
    require_root!();
    let (quota, period) = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        ("/sys/fs/cgroup/cpu.max".to_string(), String::new())
    } else {
        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us".to_string(), "/sys/fs/cgroup/cpu/cpu.cfs_period_us".to_string())
    };
    let out = Bundle::friendly(&config(&format!("cat {quota} {period}"), "cpu = 0.5")).run();
    let text: Vec<String> = stdout(&out).split_whitespace().map(str::to_string).collect();
    assert_eq!(text, ["50000", "100000"], "{}", stderr(&out));
}

#[test]
fn devices_are_denied_by_default() {
    require_root!();
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!("skipped: the v2 device filter (eBPF) is not written yet");
        return;
    }
    // Even with CAP_MKNOD, a block device node cannot be opened; /dev/null still works.
    let script = "mknod /tmp/sda b 8 0 && (head -c1 /tmp/sda >/dev/null 2>&1 && echo read-disk || echo denied); echo ok > /dev/null && echo null-ok";
    let cfg = format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n[process.capabilities]\nadd = [\"CAP_MKNOD\"]\n[rootfs]\npath = \"@ROOTFS@\"\n"
    );
    let out = Bundle::friendly(&cfg).run();
    let text = stdout(&out);
    assert!(text.contains("denied") && text.contains("null-ok"), "{text} {}", stderr(&out));
}
