//! The OCI lifecycle verbs on containers started with `run`: state, list, ps, kill, delete — and
//! `delete --force` after containy itself was killed with SIGKILL.

mod common;

use common::{Bundle, Running, sh_config, stderr, stdout};

fn verb(bundle: &Bundle, args: &[&str]) -> std::process::Output {
    std::process::Command::new(common::CONTAINY).arg("--root").arg(&bundle.state_root).args(args).output().unwrap()
}

#[test]
fn state_list_ps_and_kill_see_a_running_container() {
    require_root!();
    let bundle = Bundle::friendly(&sh_config("sleep 30 & sleep 30; true", ""));
    let running = Running::start(&bundle);

    let out = verb(&bundle, &["state", &bundle.id]);
    let state: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    assert_eq!(state["status"], "running");
    assert_eq!(state["pid"], running.pid);
    assert_eq!(state["id"], bundle.id.as_str());
    assert!(state["ociVersion"].as_str().unwrap().starts_with("1."));

    let list = verb(&bundle, &["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);

    let ps = verb(&bundle, &["ps", "--format", "json", &bundle.id]);
    let pids: Vec<i32> = serde_json::from_slice(&ps.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&ps)));
    assert_eq!(pids.len(), 3, "sh and two sleeps: {pids:?}");
    assert!(pids.contains(&running.pid));

    // PID 1 of a PID namespace ignores TERM without a handler; KILL by name works.
    let out = verb(&bundle, &["kill", &bundle.id, "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = running.wait();
    assert_eq!(out.status.code(), Some(137));
    bundle.assert_no_leaks();
}

#[test]
fn delete_refuses_a_running_container_unless_forced() {
    require_root!();
    let bundle = Bundle::friendly(&sh_config("sleep 30", ""));
    let running = Running::start(&bundle);
    let out = verb(&bundle, &["delete", &bundle.id]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("still running"), "{}", stderr(&out));
    let out = verb(&bundle, &["kill", "--all", &bundle.id, "9"]);
    assert!(out.status.success(), "{}", stderr(&out));
    running.wait();
    bundle.assert_no_leaks();
}

#[test]
fn delete_force_cleans_up_after_containy_was_killed() {
    require_root!();
    let bundle = Bundle::friendly(&sh_config("sleep 30 & sleep 30", "[resources]\npids = 20"));
    let running = Running::start(&bundle);
    // Crash the runtime: its cleanup never runs. The container lives on, its cgroup and state stay.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(running.containy_pid()), nix::sys::signal::Signal::SIGKILL)
        .unwrap();
    let pid = running.pid;
    running.wait_runtime();
    assert!(bundle.state_root.join(&bundle.id).exists());

    let out = verb(&bundle, &["delete", "--force", &bundle.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The orphaned init is reaped by the host's init shortly after it dies.
    let gone = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
    });
    assert!(gone, "the container survived delete --force");
    bundle.assert_no_leaks();
    // Deleting again is not an error when forced.
    let out = verb(&bundle, &["delete", "--force", &bundle.id]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn state_of_an_unknown_container_says_so() {
    let bundle = Bundle::empty();
    let out = verb(&bundle, &["state", "nope"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("does not exist"), "{} {}", stdout(&out), stderr(&out));
}
