//! The cgroups lessons in `cgroups_example/`: each busybox version, run for real, shows its point.

mod common;

use std::path::Path;

use common::{Bundle, stderr, stdout};

/// Run a lesson's `busybox.toml` with the test's busybox rootfs in place of the base tarball.
fn run_lesson(lesson: &str) -> std::process::Output {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cgroups_example").join(lesson);
    let text = std::fs::read_to_string(dir.join("busybox.toml")).unwrap();
    let text = text.replace(
        "tarball = \"../../bundle/busybox.tar.gz\"",
        &format!("path = {:?}", common::busybox_rootfs().display().to_string()),
    );
    let scratch = Bundle::empty();
    let config = scratch.path().join("lesson.toml");
    std::fs::write(&config, text).unwrap();
    let out = std::process::Command::new(common::CONTAINY)
        .arg("--root")
        .arg(&scratch.state_root)
        .args(["run", "--bundle"])
        .arg(&dir)
        .arg("--config")
        .arg(&config)
        .arg(&scratch.id)
        .output()
        .unwrap();
    scratch.assert_no_leaks();
    out
}

#[test]
fn lesson_forks_stops_at_ten_tasks() {
    require_root!();
    let out = run_lesson("forks");
    let text = stdout(&out);
    assert!(text.contains("pids.max in this cgroup: 10"), "{text} {}", stderr(&out));
    // Ten tasks: the outer shell, the inner one and 8 sleepers; the 9th sleeper's fork was refused and
    // the inner shell gave up, leaving 9.
    assert!(text.contains("child 8 started\n"), "{text}");
    assert!(!text.contains("child 9 started"), "{text}");
    assert!(text.contains("tasks in the cgroup now: 9"), "{text}");
    assert!(stderr(&out).contains("can't fork"), "{}", stderr(&out));
}

#[test]
fn lesson_memory_ends_in_the_oom_killer() {
    require_root!();
    let out = run_lesson("memory");
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert!(stdout(&out).contains("allocated 50 MB"), "{}", stdout(&out));
    assert!(stderr(&out).contains("killed by the OOM killer (memory limit 128 MiB)"), "{}", stderr(&out));
}

#[test]
fn lesson_cpu_is_throttled() {
    require_root!();
    let out = run_lesson("cpu");
    let text = stdout(&out);
    let throttled: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no nr_throttled in cpu.stat: {text} {}", stderr(&out)));
    assert!(throttled > 0, "a busy loop under 0.5 CPU was never throttled: {text}");
}

/// The shared busybox rootfs lives in a static, which is never dropped: it must still be gone once the test
/// process has exited (it used to stay in /tmp). This test runs itself again as a child that only makes it.
#[test]
fn the_shared_rootfs_is_removed_when_the_test_process_exits() {
    const NAME: &str = "the_shared_rootfs_is_removed_when_the_test_process_exits";
    if std::env::var_os("CONTAINY_TEST_ONLY_MAKE_ROOTFS").is_some() {
        println!("rootfs={}", common::busybox_rootfs().display());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env("CONTAINY_TEST_ONLY_MAKE_ROOTFS", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{} {}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let rootfs = text.split("rootfs=").nth(1).and_then(|r| r.lines().next()).unwrap_or_else(|| panic!("{text}"));
    assert!(rootfs.contains("containy-test-busybox-"), "{rootfs}");
    // The removal runs when the child has exited; give it a generous while (this bounds a wait, it does not
    // measure anything).
    for _ in 0..200 {
        if !Path::new(rootfs).exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{rootfs} was left behind after its test process exited");
}
