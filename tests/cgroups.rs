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
    // Even with CAP_MKNOD, a node for /dev/mem (c 1:1, on every machine) or a disk cannot be opened: the
    // kernel says EPERM (v1 devices list, v2 eBPF program); /dev/null still works.
    let script = "mknod /tmp/mem c 1 1 && mknod /tmp/sda b 8 0 && \
                  (head -c1 /tmp/mem 2>&1 | grep -q 'not permitted' && echo mem-denied); \
                  (head -c1 /tmp/sda 2>&1 | grep -q 'not permitted' && echo disk-denied); \
                  echo ok > /dev/null && echo null-ok";
    let cfg = format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n[process.capabilities]\nadd = [\"CAP_MKNOD\"]\n[rootfs]\npath = \"@ROOTFS@\"\n"
    );
    let out = Bundle::friendly(&cfg).run();
    let text = stdout(&out);
    assert_eq!(text, "mem-denied\ndisk-denied\nnull-ok\n", "{}", stderr(&out));
}

/// `containy --root <state> VERB <id> [args]` against a running container.
fn verb(bundle: &Bundle, verb: &str, args: &[&str]) -> std::process::Output {
    bundle.containy(&[&[verb], args, &[bundle.id.as_str()]].concat())
}

/// Start `script` with /data bind-mounted from a host temp dir; wait until it writes /data/started.
fn start_with_data(script: &str, resources: &str) -> (Bundle, tempfile::TempDir, common::Running) {
    let data = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n[rootfs]\npath = \"@ROOTFS@\"\n\
         [[mounts]]\nsource = {:?}\ndestination = \"/data\"\n[resources]\n{resources}\n",
        data.path().display().to_string()
    );
    let bundle = Bundle::friendly(&cfg);
    let running = common::Running::start(&bundle);
    wait_for(&data.path().join("started"));
    (bundle, data, running)
}

fn wait_for(path: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !path.exists() {
        assert!(std::time::Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn pause_stops_the_processes_and_resume_continues_them() {
    require_root!();
    // The loop appends to /data/tick: the file only grows while the container runs.
    let script = "touch /data/started; while [ ! -e /data/stop ]; do echo x >> /data/tick; done";
    let (bundle, data, child) = start_with_data(script, "pids = 16");
    let tick = || std::fs::metadata(data.path().join("tick")).map(|m| m.len()).unwrap_or(0);

    let out = verb(&bundle, "pause", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let frozen_at = tick();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(tick(), frozen_at, "the container kept running while paused");
    let stats = verb(&bundle, "stats", &[]);
    assert!(stdout(&stats).contains("(paused)"), "{}", stdout(&stats));

    let out = verb(&bundle, "resume", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_ne!(tick(), frozen_at, "the container did not continue after resume");

    std::fs::write(data.path().join("stop"), "").unwrap();
    let out = child.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    bundle.assert_no_leaks();
}

#[test]
fn stats_show_usage_and_limits() {
    require_root!();
    let script = "touch /data/started; while [ ! -e /data/stop ]; do :; done";
    let (bundle, data, child) = start_with_data(script, "pids = 16\nmemory = \"64M\"\ncpu = 0.5");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let out = verb(&bundle, "stats", &["--json"]);
    std::fs::write(data.path().join("stop"), "").unwrap();
    let stats: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    assert_eq!(stats["pids_max"], 16);
    assert!(stats["pids_current"].as_u64().unwrap() >= 1);
    assert_eq!(stats["memory_limit"], 64 << 20);
    assert!(stats["memory_usage"].as_u64().unwrap() > 0);
    assert!(stats["cpu_usage_ns"].as_u64().unwrap() > 0);
    assert_eq!(stats["oom_kills"], 0);
    assert_eq!(stats["cpu_quota_us"], 50_000, "the cpu quota is visible in stats");
    assert_eq!(stats["cpu_period_us"], 100_000);
    child.wait();
    bundle.assert_no_leaks();
}

#[test]
fn update_raises_the_pids_limit_of_a_running_container() {
    require_root!();
    // With pids.max 2 the inner shell cannot fork its sleeper; after `update --pids 20` it can.
    let script = "sh -c 'sleep 0 & wait' 2>/dev/null && echo first-ok || echo first-failed; \
                  touch /data/started; while [ ! -e /data/go ]; do :; done; \
                  sh -c 'sleep 0 & wait' && echo second-ok";
    let (bundle, data, child) = start_with_data(script, "pids = 2");
    let out = verb(&bundle, "update", &["--pids", "20"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(data.path().join("go"), "").unwrap();
    let out = child.wait();
    assert_eq!(stdout(&out), "first-failed\nsecond-ok\n", "{}", stderr(&out));
    bundle.assert_no_leaks();
}

#[test]
fn verbs_on_a_missing_container_say_so() {
    let bundle = Bundle::empty();
    let out = verb(&bundle, "pause", &[]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

fn is_v2() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

#[test]
fn cpuset_reservation_and_swappiness_are_what_the_container_sees() {
    require_root!();
    let cpus = cgroup_file("cpuset", "cpuset.cpus", "cpuset.cpus");
    // On v2 an unset cpuset.mems is empty (inherited): the effective file shows what applies.
    let mems = cgroup_file("cpuset", "cpuset.mems", "cpuset.mems.effective");
    let low = cgroup_file("memory", "memory.soft_limit_in_bytes", "memory.low");
    // v2 has no per-cgroup swappiness (refused, see below); v1 shows it in the memory hierarchy.
    let (swappiness, read_swappiness) = if is_v2() {
        ("", String::new())
    } else {
        ("swappiness = 10\n", " /sys/fs/cgroup/memory/memory.swappiness".into())
    };
    let script = format!("cat {cpus} {mems} {low}{read_swappiness}");
    let resources = format!("cpus = \"0\"\nmemory_reservation = \"32M\"\n{swappiness}");
    let out = Bundle::friendly(&config(&script, &resources)).run();
    let text: Vec<String> = stdout(&out).split_whitespace().map(str::to_string).collect();
    let mut want = vec!["0".to_string(), "0".to_string(), (32u64 << 20).to_string()];
    if !is_v2() {
        want.push("10".into());
    }
    assert_eq!(text, want, "{}", stderr(&out));
}

#[test]
fn only_mems_set_copies_cpus_from_the_parent() {
    require_root!();
    let cpus = cgroup_file("cpuset", "cpuset.cpus", "cpuset.cpus.effective");
    let out = Bundle::friendly(&config(&format!("cat {cpus}"), "mems = \"0\"")).run();
    let host = std::fs::read_to_string(if is_v2() {
        "/sys/fs/cgroup/cpuset.cpus.effective"
    } else {
        "/sys/fs/cgroup/cpuset/cpuset.cpus"
    })
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), host.trim(), "{}", stderr(&out));
}

#[test]
fn swappiness_on_v2_is_refused_by_name() {
    require_root!();
    if !is_v2() {
        eprintln!("skipped: cgroup v1 has memory.swappiness");
        return;
    }
    let bundle = Bundle::friendly(&config("true", "swappiness = 10"));
    let out = bundle.run();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("swappiness"), "{}", stderr(&out));
}

/// A minimal OCI bundle whose `linux.resources` is `resources`.
fn oci_bundle(args: &[&str], resources: serde_json::Value) -> Bundle {
    let bundle = Bundle::empty();
    let spec = serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": common::busybox_rootfs()},
        "process": {"args": args, "cwd": "/", "user": {"uid": 0, "gid": 0},
                    "env": ["PATH=/bin:/usr/bin"]},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro"]}
        ],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "cgroup"}], "resources": resources}
    });
    std::fs::write(bundle.path().join("config.json"), serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    bundle
}

#[test]
fn a_hugetlb_limit_without_a_v1_hugetlb_hierarchy_is_warned_about() {
    require_root!();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    if is_v2() || mountinfo.lines().any(|l| l.contains(" - cgroup ") && l.ends_with(",hugetlb")) {
        eprintln!("skipped: this machine can apply hugetlb limits");
        return;
    }
    let bundle = oci_bundle(&["true"], serde_json::json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}));
    // As runc: what the kernel cannot apply is said, and the container runs.
    let out = bundle.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("warning: no cgroup v1 hugetlb hierarchy"), "{err}");
}

#[test]
fn an_io_weight_without_a_weight_file_is_warned_about() {
    require_root!();
    let blkio = std::path::Path::new("/sys/fs/cgroup/blkio");
    if is_v2() || blkio.join("blkio.weight").exists() || blkio.join("blkio.bfq.weight").exists() {
        eprintln!("skipped: this kernel has an I/O weight");
        return;
    }
    let bundle = Bundle::friendly(&config("true", "io_weight = 500"));
    let out = bundle.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: this kernel has neither blkio.weight nor blkio.bfq.weight"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn io_throttles_are_what_the_container_sees() {
    require_root!();
    let file = if is_v2() { "/sys/fs/cgroup/io.max" } else { "/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device" };
    // 1:3 is /dev/null's number, a char device: throttles need a block device. Use the host's first one.
    let Some(dev) = std::fs::read_dir("/sys/dev/block").unwrap().flatten().map(|e| e.file_name()).next() else {
        eprintln!("skipped: no block device");
        return;
    };
    let dev = dev.to_string_lossy().to_string();
    let (major, minor) = dev.split_once(':').unwrap();
    let (major, minor): (i64, i64) = (major.parse().unwrap(), minor.parse().unwrap());
    let bundle = oci_bundle(
        &["cat", file],
        serde_json::json!({"blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}]}}),
    );
    let out = bundle.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let want = if is_v2() { format!("{dev} rbps=1048576") } else { format!("{dev} 1048576") };
    assert!(stdout(&out).contains(&want), "{} {}", stdout(&out), stderr(&out));
}

#[test]
fn a_cpu_the_machine_lacks_fails_the_create_and_leaves_nothing() {
    require_root!();
    // The list is well-formed, so only the kernel can refuse it: EINVAL while writing cpuset.cpus.
    let bundle = Bundle::friendly(&config("true", "cpus = \"4000\""));
    let out = bundle.run();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("cpuset.cpus"), "{}", stderr(&out));
    bundle.assert_no_leaks();
}

#[test]
fn without_a_cgroup_namespace_the_container_sees_only_its_own_cgroup() {
    require_root!();
    // namespaces.cgroup = false: a cgroup mount would show the host's whole tree; containy binds the
    // container's own directory instead, so its limits are what it reads at /sys/fs/cgroup.
    let pids = cgroup_file("pids", "pids.max", "pids.max");
    let cfg = format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", \"cat {pids}\"]\n[namespaces]\ncgroup = false\n[rootfs]\npath = \"@ROOTFS@\"\n[resources]\npids = 42\n"
    );
    let out = Bundle::friendly(&cfg).run();
    assert_eq!(stdout(&out), "42\n", "{}", stderr(&out));
}

#[test]
fn update_takes_oci_resources_as_engines_pass_them() {
    require_root!();
    let script = "sh -c 'sleep 0 & wait' 2>/dev/null && echo first-ok || echo first-failed; \
                  touch /data/started; while [ ! -e /data/go ]; do :; done; \
                  sh -c 'sleep 0 & wait' && echo second-ok";
    let (bundle, data, child) = start_with_data(script, "pids = 2");
    let file = data.path().join("resources.json");
    std::fs::write(&file, r#"{"pids": {"limit": 20}, "memory": {"limit": 134217728}}"#).unwrap();
    let out = verb(&bundle, "update", &["--resources", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(data.path().join("go"), "").unwrap();
    let out = child.wait();
    assert_eq!(stdout(&out), "first-failed\nsecond-ok\n", "{}", stderr(&out));
    bundle.assert_no_leaks();
}
