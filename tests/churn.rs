//! Churn and races: many short containers in a row leave the host exactly as it was, and concurrent verbs on
//! one id never lose state. `make test` runs 200 containers (`CHURN` sets another count; `make soak` runs
//! 10,000), a mix of a friendly overlay config and an OCI bundle, two at a time, with an exec into every tenth.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};

use common::{Bundle, CONTAINY, stderr, stdout};

fn containy(root: &std::path::Path, args: &[&str]) -> Output {
    let err = tempfile::tempfile().expect("a temp file");
    let mut cmd = Command::new(CONTAINY);
    cmd.arg("--root").arg(root).args(args).stdin(Stdio::null()).stderr(err.try_clone().expect("dup"));
    if args.iter().any(|a| *a == "create" || *a == "-d") {
        // A created container inherits containy's stdio: never let it hold a pipe of ours.
        cmd.stdout(Stdio::null());
    }
    let mut out = cmd.output().expect("run containy");
    use std::io::{Read, Seek};
    let mut err = err;
    let _ = err.rewind();
    let _ = err.read_to_end(&mut out.stderr);
    out
}

/// What the host has that a container could leave behind: mount points, cgroup directories under containy's
/// parents, and entries of the state root.
fn host_snapshot(root: &std::path::Path) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines() {
        if line.contains("containy") {
            seen.insert(format!("mount {}", line.split(' ').nth(4).unwrap_or("")));
        }
    }
    if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
        for h in hierarchies.flatten() {
            for dir in [h.path().join("containy"), std::path::PathBuf::from("/sys/fs/cgroup/containy")] {
                for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    if e.path().is_dir() {
                        seen.insert(format!("cgroup {}", e.path().display()));
                    }
                }
            }
        }
    }
    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
        seen.insert(format!("state {}", e.path().display()));
    }
    seen
}

/// Only what this test's containers (ids starting with `prefix`) could have left.
fn ours(snapshot: &BTreeSet<String>, prefix: &str) -> Vec<String> {
    snapshot.iter().filter(|s| s.contains(prefix)).cloned().collect()
}

#[test]
fn many_short_containers_leave_nothing() {
    require_root!();
    let count: usize = std::env::var("CHURN").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
    let friendly = Bundle::friendly(&common::sh_config("echo ok", ""));
    let oci = Bundle::empty();
    let out = Command::new(CONTAINY).args(["spec", "--bundle"]).arg(oci.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let path = oci.path().join("config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["root"]["path"] = serde_json::json!(common::busybox_rootfs());
    config["process"]["terminal"] = serde_json::json!(false);
    config["process"]["args"] = serde_json::json!(["/bin/echo", "ok"]);
    std::fs::write(&path, config.to_string()).unwrap();

    let root = friendly.state_root.clone();
    let prefix = format!("churn{}-", std::process::id());
    let before = host_snapshot(&root);
    let started = std::time::Instant::now();
    let worker = |lane: usize| {
        let (friendly, oci, root, prefix) =
            (friendly.path().to_owned(), oci.path().to_owned(), root.clone(), prefix.clone());
        std::thread::spawn(move || {
            for i in (lane..count).step_by(2) {
                let id = format!("{prefix}{i}");
                let bundle = if i % 2 == 0 { &friendly } else { &oci };
                if i % 10 == 0 {
                    // Every tenth: create, start, exec into it, delete.
                    let b = bundle.to_str().unwrap();
                    let out = containy(&root, &["run", "-d", "--bundle", b, &id, "--", "/bin/sleep", "30"]);
                    assert!(out.status.success(), "{id}: run -d: {}", stderr(&out));
                    let out = containy(&root, &["exec", &id, "/bin/echo", "in"]);
                    assert_eq!(stdout(&out), "in\n", "{id}: exec: {}", stderr(&out));
                    let out = containy(&root, &["delete", "--force", &id]);
                    assert!(out.status.success(), "{id}: delete: {}", stderr(&out));
                } else {
                    let out = containy(&root, &["run", "--bundle", bundle.to_str().unwrap(), &id]);
                    assert_eq!(stdout(&out), "ok\n", "{id}: {}", stderr(&out));
                }
            }
        })
    };
    for lane in [worker(0), worker(1)] {
        if let Err(panic) = lane.join() {
            std::panic::resume_unwind(panic);
        }
    }
    let after = host_snapshot(&root);
    eprintln!("{count} containers in {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(ours(&after, &prefix), Vec::<String>::new(), "left behind");
    assert_eq!(after.difference(&before).filter(|s| s.contains(&prefix)).count(), 0);
}

#[test]
fn of_fifty_creates_of_one_id_exactly_one_wins_and_fifty_deletes_leave_nothing() {
    require_root!();
    let bundle = Bundle::friendly(&common::sh_config("sleep 30", ""));
    let b = bundle.path().to_str().unwrap().to_string();
    let creates: Vec<_> = (0..50)
        .map(|_| {
            let (root, b, id) = (bundle.state_root.clone(), b.clone(), bundle.id.clone());
            std::thread::spawn(move || containy(&root, &["create", "--bundle", &b, &id]))
        })
        .collect();
    let outs: Vec<Output> = creates.into_iter().map(|t| t.join().expect("create thread")).collect();
    let won = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(won, 1, "creates that succeeded: {won}");
    for lost in outs.iter().filter(|o| !o.status.success()) {
        assert!(stderr(lost).contains("already exists"), "a losing create said: {}", stderr(lost));
    }
    let out = containy(&bundle.state_root, &["state", &bundle.id]);
    assert!(stdout(&out).contains("\"created\""), "{}", stdout(&out));

    let deletes: Vec<_> = (0..50)
        .map(|_| {
            let (root, id) = (bundle.state_root.clone(), bundle.id.clone());
            std::thread::spawn(move || containy(&root, &["delete", "--force", &id]))
        })
        .collect();
    for out in deletes.into_iter().map(|t| t.join().expect("delete thread")) {
        assert!(out.status.success(), "a concurrent delete --force failed: {}", stderr(&out));
    }
    bundle.assert_no_leaks();
    // And the id is free again.
    let out = containy(&bundle.state_root, &["run", "--bundle", &b, &bundle.id, "--", "/bin/true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    bundle.assert_no_leaks();
}
