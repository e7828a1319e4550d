//! The engine rows of the fault matrix: a container's create, start, stop and rm through `containy serve`
//! (a private daemon on a temp socket, tests/engine_daemon; the container on a bridge network, in a network
//! namespace of the test's own, so a lease and a veth are at stake), with the daemon — or the container's monitor,
//! which inherits the daemon's environment — made to die (SIGKILL) or fail with an error at every named
//! point of `create`, `monitor`, `start`, `stop` and `rm` in `containy::fault::POINTS`. After each: the daemon
//! is killed (`kill -9`, which must lose nothing) and started again, docker-style `rm -f` of every container
//! it lists succeeds, and nothing is left — no record, name, log, monitor dir or process, runtime state,
//! mount, cgroup, lease, veth or container process — and the same create/start/stop/rm works again.

mod common;
mod engine_api;
mod engine_daemon;

use std::path::Path;
use std::time::{Duration, Instant};

use engine_api::{processes_running, remove_all, status};
use engine_daemon::Daemon;

/// The container's program: `sleep` with an argument no other test uses, so a container process left
/// running is found by its command line.
fn program() -> Vec<String> {
    vec!["sleep".into(), format!("7{}", std::process::id())]
}

/// create, start, stop (at once: SIGKILL), the exit code, rm — the statuses (0: no answer) and the code.
fn lifecycle(socket: &Path, name: &str) -> Vec<i64> {
    let body = serde_json::json!({ "Image": "busybox", "Cmd": program(), "HostConfig": { "NetworkMode": NETWORK } });
    let mut seen = vec![
        status(socket, "POST", &format!("/containers/create?name={name}"), Some(&body)).into(),
        status(socket, "POST", &format!("/containers/{name}/start"), None).into(),
        status(socket, "POST", &format!("/containers/{name}/stop?t=0"), None).into(),
    ];
    let code = engine_api::call(socket, "GET", &format!("/containers/{name}/json"), None)
        .filter(|(s, _)| *s == 200)
        .and_then(|(_, b)| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["State"]["ExitCode"].as_i64())
        .unwrap_or(-1);
    seen.push(code);
    seen.push(status(socket, "DELETE", &format!("/containers/{name}"), None).into());
    seen
}

const NETWORK: &str = "faultnet";

/// Nothing of any container: what `Daemon::assert_clean` checks (veths included), no lease on the network, no
/// process of the container's program.
fn assert_nothing_left(d: &Daemon, ids: &[String], fault: &str) {
    let leases: Vec<_> = std::fs::read_dir(d.path("state/.networks").join(NETWORK))
        .map(|dir| dir.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leases.is_empty(), "{fault}: leases left: {leases:?}");
    // The test's own network namespace: any veth in it is a container's.
    let links = std::process::Command::new("ip").args(["-o", "link", "show", "type", "veth"]).output().unwrap();
    assert_eq!(common::stdout(&links), "", "{fault}: veths left");
    let argv = program();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_running(&argv) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(processes_running(&argv), 0, "{fault}: a container process is left");
    d.assert_clean(ids);
}

#[test]
fn create_start_stop_rm_survive_a_fault_at_every_point() {
    require_root!();
    let thread = std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        matrix();
    });
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

fn matrix() {
    let mut d = Daemon::start();
    let out = std::process::Command::new(common::CONTAINY)
        .arg("--root")
        .arg(d.path("state"))
        .args(["network", "create", NETWORK, "--subnet", "10.125.0.0/24"])
        .output()
        .unwrap();
    assert!(out.status.success(), "network create: {}", common::stderr(&out));
    let socket = d.socket();
    let baseline = lifecycle(&socket, "faulty");
    assert_eq!(baseline, [201, 204, 204, 137, 204], "the lifecycle without a fault: {}", d.log());
    let points: Vec<&str> = containy::fault::POINTS
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| ["create.", "monitor.", "start.", "stop.", "rm."].iter().any(|ns| p.starts_with(ns)))
        .collect();
    assert!(points.len() >= 10, "{points:?}");
    for fault in points.iter().flat_map(|p| [format!("{p}:kill"), format!("{p}:error")]) {
        d.restart_with_env(&[("CONTAINY_FAULT", &fault)]);
        let struck = lifecycle(&socket, "faulty");
        // A point never reached would leave the lifecycle as it was: the matrix would test nothing.
        assert_ne!(struck, baseline, "{fault}: the fault did not strike");
        d.restart_with_env(&[]);
        // A container listed under the name is removed by that name (docker rm -f faulty), the rest by id.
        let listed = engine_api::json(&socket, "GET", "/containers/json?all=1");
        let named = listed.as_array().into_iter().flatten().any(|c| c["Names"][0] == "/faulty");
        let mut ids = engine_api::all_ids(&socket);
        if named {
            let removed = status(&socket, "DELETE", "/containers/faulty?force=1", None);
            assert_eq!(removed, 204, "{fault}: rm -f faulty: {}", d.log());
        }
        ids.extend(remove_all(&socket));
        assert_nothing_left(&d, &ids, &fault);
        let again = lifecycle(&socket, "faulty");
        assert_eq!(again, baseline, "{fault}: the same lifecycle again: {}", d.log());
        assert_nothing_left(&d, &ids, &fault);
    }
}
