//! Races of the image store and the engine: what two users (or a user and a container's own exit) do at the
//! same moment. `image rm` + `image prune` against `run --image` of the same image; imports and pulls of one
//! layer at once; two daemons on one socket; `docker stop` against the container's own exit; many `rm -f`
//! of one bridge container while another takes an address. Each ends with every container removable and
//! nothing left.

mod common;
mod engine_api;
mod engine_daemon;
mod image_env;
mod registry_env;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{CONTAINY, stderr, stdout};
use engine_api::{remove_all, status};
use engine_daemon::Daemon;
use image_env::{Env, busybox_tarball};

fn in_threads<T: Send + 'static>(jobs: Vec<Box<dyn FnOnce() -> T + Send>>) -> Vec<T> {
    let handles: Vec<_> = jobs.into_iter().map(std::thread::spawn).collect();
    handles.into_iter().map(|h| h.join().expect("a racing thread panicked")).collect()
}

/// The files of a layer (relative path → content), to compare what racing writers stored.
fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            let kind = e.file_type().unwrap();
            if kind.is_dir() {
                todo.push(e.path());
                out.insert(rel, b"dir".to_vec());
            } else if kind.is_symlink() {
                out.insert(rel, std::fs::read_link(e.path()).unwrap().display().to_string().into_bytes());
            } else {
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

#[test]
fn image_rm_and_prune_racing_run_image_never_pull_layers_from_under_a_container() {
    require_root!();
    let env = Env::new();
    let tarball = busybox_tarball(env.dir.path());
    // The container checks its files after the prune has had time to finish.
    let script = "sleep 0.3; cat /etc/base-file; test -x /bin/busybox && echo intact";
    let (mut ran, mut refused) = (0, 0);
    for round in 0..6 {
        let out = env.cmd(&["image", "import", "victim", tarball.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let mut jobs: Vec<Box<dyn FnOnce() -> (String, Output) + Send>> = Vec::new();
        for i in 0..3 {
            let cmd = env.cmd(&["run", "--image", "victim", "--", "/bin/sh", "-c", script]);
            jobs.push(Box::new(move || {
                std::thread::sleep(Duration::from_millis(15 * i + 5 * round));
                let mut cmd = cmd;
                ("run".to_string(), cmd.output().unwrap())
            }));
        }
        let (rm, prune) = (env.cmd(&["image", "rm", "victim"]), env.cmd(&["image", "prune"]));
        jobs.push(Box::new(move || {
            std::thread::sleep(Duration::from_millis(10 * round));
            let (mut rm, mut prune) = (rm, prune);
            let removed = rm.output().unwrap();
            assert!(removed.status.success(), "image rm: {}", stderr(&removed));
            ("prune".to_string(), prune.output().unwrap())
        }));
        for (what, out) in in_threads(jobs) {
            if what == "prune" {
                assert!(out.status.success(), "prune: {}", stderr(&out));
            } else if out.status.success() {
                assert_eq!(stdout(&out), "from the base\nintact\n", "a run that worked saw its whole image");
                ran += 1;
            } else {
                // Refused before a container existed (containy's own error, 125), naming the image or layer —
                // never a program that ran and found its files gone (1, 126, 127).
                assert_eq!(out.status.code(), Some(125), "{}{}", stdout(&out), stderr(&out));
                let err = stderr(&out);
                assert!(err.contains("victim") || err.contains("layer") || err.contains("image"), "{err}");
                refused += 1;
            }
        }
        // Once nothing runs, the layers go.
        let out = env.cmd(&["image", "prune"]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(env.layers().is_empty(), "{:?}", env.layers());
        env.assert_no_leaks(0);
        env.assert_consistent();
    }
    eprintln!("run --image racing rm + prune: {ran} ran, {refused} refused");
}

#[test]
fn concurrent_imports_and_pulls_of_one_layer_store_it_once() {
    require_root!();
    let env = Env::new();
    std::fs::write(env.dir.path().join("registries.conf"), "unqualified-search-registries = []\n").unwrap();
    let tarball = busybox_tarball(env.dir.path());
    let imports: Vec<Box<dyn FnOnce() -> Output + Send>> = (0..6)
        .map(|i| {
            let mut cmd = env.cmd(&["image", "import", &format!("same{i}"), tarball.to_str().unwrap()]);
            Box::new(move || cmd.output().unwrap()) as Box<dyn FnOnce() -> Output + Send>
        })
        .collect();
    for out in in_threads(imports) {
        assert!(out.status.success(), "a concurrent import failed: {}", stderr(&out));
    }
    let layers = env.layers();
    assert_eq!(layers.len(), 1, "one layer for six imports of it: {layers:?}");
    let expected = tree(common::busybox_rootfs());
    assert_eq!(tree(&env.store().join("layers").join(&layers[0]).join("diff")), expected, "the stored layer");
    env.assert_no_leaks(0);
    env.assert_consistent();

    // Pulls of the same image into another store, at once.
    let reg = registry_env::Registry::plain();
    let reference = format!("{}/races/bb:1", reg.host());
    let out = env.cmd(&["image", "push", "--tls-verify=false", "same0", &reference]).output().unwrap();
    assert!(out.status.success(), "push: {}", stderr(&out));
    let pulling = Env::new();
    let pulls: Vec<Box<dyn FnOnce() -> Output + Send>> = (0..4)
        .map(|_| {
            let mut cmd = pulling.cmd(&["pull", "--tls-verify=false", &reference]);
            cmd.env("CONTAINERS_REGISTRIES_CONF", env.dir.path().join("registries.conf"));
            Box::new(move || cmd.output().unwrap()) as Box<dyn FnOnce() -> Output + Send>
        })
        .collect();
    let ids: Vec<String> = in_threads(pulls)
        .into_iter()
        .map(|out| {
            assert!(out.status.success(), "a concurrent pull failed: {}", stderr(&out));
            stdout(&out).trim().to_string()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one image: {ids:?}");
    // One layer (the push re-tars it, so its id is that of the pushed tar, not of the imported one).
    let pulled = pulling.layers();
    assert_eq!(pulled.len(), 1, "one layer for four pulls of it: {pulled:?}");
    assert_eq!(tree(&pulling.store().join("layers").join(&pulled[0]).join("diff")), expected);
    let out = pulling.cmd(&["run", "--image", &reference, "--", "/bin/cat", "/etc/base-file"]).output().unwrap();
    assert_eq!(stdout(&out), "from the base\n", "{}", stderr(&out));
    pulling.assert_no_leaks(0);
    pulling.assert_consistent();
}

/// `containy serve` on `socket`, its stderr kept.
fn serve(dir: &Path, socket: &Path) -> std::process::Child {
    Command::new(CONTAINY)
        .arg("--root")
        .arg(dir.join("state"))
        .args(["serve", "--default-network", "none", "--socket"])
        .arg(socket)
        .arg("--store")
        .arg(dir.join("store"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Kills the daemons it holds when dropped (also when the test fails).
struct Daemons(Vec<std::process::Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn of_two_daemons_on_one_socket_the_second_refuses() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("d.sock");
    for round in 0..5 {
        // Started together: both may find the socket silent; only one may serve it.
        let mut daemons = Daemons(vec![serve(dir.path(), &socket), serve(dir.path(), &socket)]);
        let deadline = Instant::now() + Duration::from_secs(20);
        let refused = loop {
            if let Some(i) = daemons.0.iter_mut().position(|c| c.try_wait().unwrap().is_some()) {
                break i;
            }
            assert!(Instant::now() < deadline, "round {round}: both daemons still run");
            std::thread::sleep(Duration::from_millis(10));
        };
        let loser = daemons.0.remove(refused);
        let out = loser.wait_with_output().unwrap();
        assert!(!out.status.success());
        assert!(stderr(&out).contains("another containy serve is running"), "round {round}: {}", stderr(&out));
        // The one that stayed answers on the socket.
        while status(&socket, "GET", "/_ping", None) != 200 {
            assert!(Instant::now() < deadline, "round {round}: the daemon that stayed does not answer");
            std::thread::sleep(Duration::from_millis(10));
        }
        // A third one, started while it serves, refuses too.
        let out = serve(dir.path(), &socket).wait_with_output().unwrap();
        assert!(stderr(&out).contains("another containy serve is running"), "{}", stderr(&out));
        assert_eq!(status(&socket, "GET", "/_ping", None), 200, "round {round}: the socket was taken away");
        // Killed, the next daemon starts (the lock goes with the process; the stale socket is replaced).
        drop(daemons);
    }
}

/// `docker stop` at the moment the container ends by itself: stop answers 204 (it stopped it) or 304 (it had
/// ended), the container is exited either way, and `rm` (not forced) removes it.
#[test]
fn docker_stop_racing_the_containers_exit_loses_nothing() {
    require_root!();
    let d = Daemon::start();
    let socket = d.socket();
    for i in 0..12u64 {
        let name = format!("ending{i}");
        let body = serde_json::json!({ "Image": "busybox", "Cmd": ["sleep", "0.2"] });
        assert_eq!(status(&socket, "POST", &format!("/containers/create?name={name}"), Some(&body)), 201);
        assert_eq!(status(&socket, "POST", &format!("/containers/{name}/start"), None), 204);
        std::thread::sleep(Duration::from_millis(150 + 10 * i));
        let stopped = status(&socket, "POST", &format!("/containers/{name}/stop?t=0"), None);
        assert!(stopped == 204 || stopped == 304, "stop racing the exit: {stopped}\n{}", d.log());
        let state = engine_api::json(&socket, "GET", &format!("/containers/{name}/json"));
        assert_eq!(state["State"]["Status"], "exited", "{state}");
        let code = state["State"]["ExitCode"].as_i64().unwrap();
        assert!(code == 0 || code == 137, "exit code {code}");
        assert_eq!(status(&socket, "DELETE", &format!("/containers/{name}"), None), 204, "{}", d.log());
    }
    d.assert_clean(&[]);
}

/// Many `rm -f` of one bridge container at once, while another container is created on the same network
/// (it takes the address the first gives back): every rm succeeds, the newcomer keeps its lease — no lease
/// is freed twice — and at the end no lease, veth or record is left. In a network namespace of the test's own.
#[test]
fn concurrent_rm_f_of_a_bridge_container_frees_its_lease_once() {
    require_root!();
    let thread = std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        let d = Daemon::start();
        let out = Command::new(CONTAINY)
            .arg("--root")
            .arg(d.path("state"))
            .args(["network", "create", "racenet", "--subnet", "10.124.0.0/24"])
            .output()
            .unwrap();
        assert!(out.status.success(), "network create: {}", stderr(&out));
        let socket = d.socket();
        let leases = || -> Vec<serde_json::Value> {
            std::fs::read_dir(d.path("state/.networks/racenet"))
                .map(|dir| {
                    dir.flatten()
                        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                        .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut ids = Vec::new();
        for round in 0..4 {
            let body = serde_json::json!({
                "Image": "busybox", "Cmd": ["sleep", "600"], "HostConfig": { "NetworkMode": "racenet" }
            });
            let (first, second) = (format!("first{round}"), format!("second{round}"));
            assert_eq!(status(&socket, "POST", &format!("/containers/create?name={first}"), Some(&body)), 201);
            assert_eq!(status(&socket, "POST", &format!("/containers/{first}/start"), None), 204, "{}", d.log());
            ids.push(engine_api::json(&socket, "GET", &format!("/containers/{first}/json"))["Id"].to_string());
            let mut jobs: Vec<Box<dyn FnOnce() -> u16 + Send>> = Vec::new();
            for _ in 0..8 {
                let (socket, first) = (socket.clone(), first.clone());
                jobs.push(Box::new(move || status(&socket, "DELETE", &format!("/containers/{first}?force=1"), None)));
            }
            let (socket2, second2, body2) = (socket.clone(), second.clone(), body.clone());
            jobs.push(Box::new(move || {
                std::thread::sleep(Duration::from_millis(20));
                let made = status(&socket2, "POST", &format!("/containers/create?name={second2}"), Some(&body2));
                assert_eq!(made, 201);
                status(&socket2, "POST", &format!("/containers/{second2}/start"), None)
            }));
            let results = in_threads(jobs);
            let (started, removals) = results.split_last().unwrap();
            assert_eq!(*started, 204, "the newcomer started: {}", d.log());
            assert!(removals.iter().all(|s| *s == 204 || *s == 404), "rm -f: {removals:?}");
            assert!(removals.contains(&204), "one rm -f removed it: {removals:?}");
            let second_id = engine_api::json(&socket, "GET", &format!("/containers/{second}/json"))["Id"]
                .as_str()
                .unwrap()
                .to_string();
            let held = leases();
            assert_eq!(held.len(), 1, "round {round}: one lease, the newcomer's: {held:?}");
            assert_eq!(held[0]["id"], second_id.as_str(), "round {round}: {held:?}");
            assert_eq!(status(&socket, "DELETE", &format!("/containers/{second}?force=1"), None), 204);
            ids.push(second_id);
            assert!(leases().is_empty(), "round {round}: leases left: {:?}", leases());
        }
        remove_all(&socket);
        let ids: Vec<String> = ids.into_iter().map(|i| i.trim_matches('"').to_string()).collect();
        d.assert_clean(&ids);
        let out = Command::new(CONTAINY)
            .arg("--root")
            .arg(d.path("state"))
            .args(["network", "rm", "racenet"])
            .output()
            .unwrap();
        assert!(out.status.success(), "network rm: {}", stderr(&out));
    });
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Concurrent `docker start` of one exited container (each may find no monitor and start one): the container
/// runs once, and `rm -f` leaves no monitor, container process or state behind.
#[test]
fn concurrent_starts_of_one_exited_container_leave_one_container() {
    require_root!();
    let d = Daemon::start();
    let socket = d.socket();
    let argv = ["sleep", "6061"];
    let body = serde_json::json!({ "Image": "busybox", "Cmd": argv });
    assert_eq!(status(&socket, "POST", "/containers/create?name=restarted", Some(&body)), 201);
    for round in 0..3 {
        if round == 0 {
            assert_eq!(status(&socket, "POST", "/containers/restarted/start", None), 204, "{}", d.log());
        }
        assert_eq!(status(&socket, "POST", "/containers/restarted/stop?t=0", None), 204, "{}", d.log());
        let jobs: Vec<Box<dyn FnOnce() -> u16 + Send>> = (0..6)
            .map(|_| {
                let socket = socket.clone();
                Box::new(move || status(&socket, "POST", "/containers/restarted/start", None))
                    as Box<dyn FnOnce() -> u16 + Send>
            })
            .collect();
        let answers = in_threads(jobs);
        // docker's answers: 204 for the start that started it, 304 for those that found it running.
        let started = answers.iter().filter(|s| **s == 204).count();
        assert!(answers.iter().all(|s| *s == 204 || *s == 304), "round {round}: {answers:?}\n{}", d.log());
        assert_eq!(started, 1, "round {round}: one start started it: {answers:?}");
        let state = engine_api::json(&socket, "GET", "/containers/restarted/json");
        assert_eq!(state["State"]["Status"], "running", "round {round}: {state}");
        // Started means its program is being exec'd: wait until it shows, then count.
        let deadline = Instant::now() + Duration::from_secs(10);
        while engine_api::processes_running(&argv) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(engine_api::processes_running(&argv), 1, "round {round}: the container runs once");
    }
    let id = engine_api::json(&socket, "GET", "/containers/restarted/json")["Id"].as_str().unwrap().to_string();
    assert_eq!(status(&socket, "DELETE", "/containers/restarted?force=1", None), 204);
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine_api::processes_running(&argv) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(engine_api::processes_running(&argv), 0, "a container process is left");
    d.assert_clean(&[id]);
}
