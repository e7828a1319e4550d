//! A crash at every step: containy is made to die (SIGKILL) or to fail with an error at each step of
//! runtime/steps.rs (`CONTAINY_FAULT=N:kill|error`), in `run` (with bridge
//! networking, so a veth, an nf_tables table and a lease are at stake), `create`, `exec` and `delete`. After
//! each, `delete --force` succeeds and leaves nothing — no mount, cgroup directory, state directory, veth,
//! table, lease or process — and the same id runs again. The `run` matrix runs in a network namespace of the
//! test's own, so the machine's interfaces and firewall are never touched.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{Bundle, CONTAINY, stderr, stdout};

/// The steps of setting a container up, and of giving it back.
const SETUP: std::ops::RangeInclusive<u32> = 1..=26;
const TEARDOWN: std::ops::RangeInclusive<u32> = 27..=30;

/// `containy --root R ARGS…` with an optional fault. Its stderr goes through a file, not a pipe: a container
/// that `create` leaves behind inherits containy's stdio and would hold a pipe open for as long as it lives.
fn containy(bundle: &Bundle, fault: Option<&str>, args: &[&str]) -> Output {
    let err = tempfile::tempfile().expect("a temp file");
    let mut cmd = Command::new(CONTAINY);
    cmd.arg("--root").arg(&bundle.state_root).args(args).stdin(Stdio::null());
    cmd.stderr(err.try_clone().expect("dup"));
    if args.iter().any(|a| *a == "create" || *a == "start") {
        cmd.stdout(Stdio::null());
    }
    if let Some(fault) = fault {
        cmd.env("CONTAINY_FAULT", fault);
    }
    let mut out = cmd.output().expect("run containy");
    use std::io::{Read, Seek};
    let mut err = err;
    let _ = err.rewind();
    let _ = err.read_to_end(&mut out.stderr);
    out
}

fn sh(script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).output().expect("run sh");
    assert!(out.status.success(), "{script}: {}", stderr(&out));
    stdout(&out)
}

/// The steps a command takes, as `--explain` numbers them (the faults of a step not taken cannot strike).
fn steps_taken(bundle: &Bundle, args: &[&str]) -> Vec<u32> {
    let explained: Vec<&str> = std::iter::once("--explain").chain(args.iter().copied()).collect();
    let out = containy(bundle, None, &explained);
    assert!(out.status.success(), "{args:?} --explain: {}", stderr(&out));
    let mut steps: Vec<u32> =
        stderr(&out).lines().filter_map(|l| l.strip_prefix("step ")?.split(' ').next()?.parse().ok()).collect();
    steps.dedup();
    steps
}

/// Every fault of the matrix for a verb that takes `steps`: a kill and an error at each.
fn faults(steps: impl Iterator<Item = u32>) -> Vec<String> {
    steps.flat_map(|n| [format!("{n}:kill"), format!("{n}:error")]).collect()
}

/// After a fault: `delete --force` succeeds, and nothing of the container is left (processes go with their
/// cgroup: `delete` empties it before removing it).
fn delete_and_check(bundle: &Bundle, fault: &str) {
    let out = containy(bundle, None, &["delete", "--force", &bundle.id]);
    assert!(out.status.success(), "{fault}: delete --force: {}", stderr(&out));
    bundle.assert_no_leaks();
}

/// Waits (briefly) for processes a killed containy left behind to finish on their own: a child whose parent
/// died exits at its next message; a container whose `run` died runs on until `delete` kills it.
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(30));
}

#[test]
fn run_with_a_bridge_survives_a_fault_at_every_step() {
    require_root!();
    let thread = std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        sh("ip link set lo up");
        let bundle =
            Bundle::friendly(&common::sh_config("echo ran", "network = { mode = \"bridge\", network = \"faults\" }"));
        let out = containy(&bundle, None, &["network", "create", "faults", "--subnet", "10.123.0.0/24"]);
        assert!(out.status.success(), "network create: {}", stderr(&out));
        let veth = containy::network::veth_name(&bundle.id);
        let run = ["run", "--bundle", bundle.path().to_str().unwrap(), &bundle.id];
        let taken = steps_taken(&bundle, &run);
        assert!(SETUP.chain(TEARDOWN).filter(|n| *n != 19 && *n != 23).all(|n| taken.contains(&n)), "{taken:?}");
        bundle.assert_no_leaks();
        for fault in faults(taken.iter().copied()) {
            let out = containy(&bundle, Some(&fault), &run);
            let step: u32 = fault.split(':').next().unwrap().parse().unwrap();
            if SETUP.contains(&step) {
                assert!(!out.status.success(), "{fault}: the run succeeded: {}", stdout(&out));
            }
            settle();
            delete_and_check(&bundle, &fault);
            assert!(!sh("ip -o link show type veth").contains(&veth), "{fault}: leaked veth");
            assert!(!sh("nft list tables").contains(&format!("containy-{}", bundle.id)), "{fault}: leaked table");
            let leases = std::fs::read_dir(bundle.state_root.join(".networks/faults")).map(|d| d.count()).unwrap_or(0);
            assert_eq!(leases, 0, "{fault}: leaked lease");
            // The same id runs again.
            let out = containy(&bundle, None, &["run", "--bundle", bundle.path().to_str().unwrap(), &bundle.id]);
            assert_eq!(stdout(&out), "ran\n", "{fault}: the next run: {}", stderr(&out));
            bundle.assert_no_leaks();
        }
        let out = containy(&bundle, None, &["network", "rm", "faults"]);
        assert!(out.status.success(), "network rm: {}", stderr(&out));
        let _ = std::fs::remove_dir_all(bundle.state_root.join(".networks"));
    });
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn create_survives_a_fault_at_every_step() {
    require_root!();
    let bundle = Bundle::friendly(&common::sh_config("true", ""));
    let path = bundle.path().to_str().unwrap().to_string();
    let taken = steps_taken(&bundle, &["create", "--bundle", &path, &bundle.id]);
    delete_and_check(&bundle, "after --explain");
    for fault in faults(taken.into_iter().chain([25])) {
        let out = containy(&bundle, Some(&fault), &["create", "--bundle", &path, &bundle.id]);
        let step: u32 = fault.split(':').next().unwrap().parse().unwrap();
        // Step 25 comes only after `start`: it strikes then, in the waiting process, not in create.
        if step != 25 {
            assert!(!out.status.success(), "{fault}: create succeeded");
        }
        settle();
        delete_and_check(&bundle, &fault);
        let out = containy(&bundle, None, &["create", "--bundle", &path, &bundle.id]);
        assert!(out.status.success(), "{fault}: the next create: {}", stderr(&out));
        let out = containy(&bundle, None, &["start", &bundle.id]);
        assert!(out.status.success(), "{fault}: start: {}", stderr(&out));
        delete_and_check(&bundle, &fault);
    }
}

/// The processes in a container's cgroup (the pids controller's hierarchy on v1, the unified one on v2).
fn processes_in(bundle: &Bundle) -> usize {
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(bundle.state_root.join(&bundle.id).join("state.json")).expect("state.json"),
    )
    .unwrap();
    let dir = state["cgroups"].as_array().and_then(|c| c.first()).and_then(|e| e[1].as_str()).map(Path::new);
    let procs = std::fs::read_to_string(dir.expect("a cgroup").join("cgroup.procs")).unwrap_or_default();
    procs.lines().count()
}

#[test]
fn exec_survives_a_fault_at_every_step_and_leaves_no_process() {
    require_root!();
    let bundle = Bundle::friendly(&common::sh_config("sleep 600", ""));
    let path = bundle.path().to_str().unwrap().to_string();
    let out = containy(&bundle, None, &["create", "--bundle", &path, &bundle.id]);
    assert!(out.status.success(), "create: {}", stderr(&out));
    let out = containy(&bundle, None, &["start", &bundle.id]);
    assert!(out.status.success(), "start: {}", stderr(&out));
    let taken = steps_taken(&bundle, &["exec", &bundle.id, "/bin/true"]);
    assert!([1, 7, 9, 10, 17, 18, 20, 21, 22, 24, 25, 26].iter().all(|n| taken.contains(n)), "{taken:?}");
    for fault in faults(taken.into_iter()) {
        let out = containy(&bundle, Some(&fault), &["exec", &bundle.id, "/bin/true"]);
        assert!(!out.status.success(), "{fault}: exec succeeded");
        // Whatever became of the exec, the container is left with its own process only.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while processes_in(&bundle) > 1 {
            assert!(std::time::Instant::now() < deadline, "{fault}: an exec'd process stayed in the container");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = containy(&bundle, None, &["exec", &bundle.id, "/bin/sh", "-c", "echo still"]);
        assert_eq!(stdout(&out), "still\n", "{fault}: the next exec: {}", stderr(&out));
    }
    delete_and_check(&bundle, "after the exec matrix");
}

#[test]
fn delete_survives_a_fault_at_every_step() {
    require_root!();
    let bundle = Bundle::friendly(&common::sh_config("sleep 600", ""));
    let path = bundle.path().to_str().unwrap().to_string();
    for fault in faults(TEARDOWN) {
        let out = containy(&bundle, None, &["create", "--bundle", &path, &bundle.id]);
        assert!(out.status.success(), "{fault}: create: {}", stderr(&out));
        let out = containy(&bundle, Some(&fault), &["delete", "--force", &bundle.id]);
        assert!(!out.status.success(), "{fault}: the faulty delete succeeded");
        delete_and_check(&bundle, &fault);
    }
}
