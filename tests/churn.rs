//! Churn and races: many short containers in a row leave the host exactly as it was, and concurrent verbs on
//! one id never lose state. `make test` runs 200 containers (`CHURN` sets another count; `make soak` runs
//! 10,000), two at a time, a mix of four kinds: a friendly overlay config, an OCI bundle, a friendly config
//! on a bridge network of the test's own, and a docker-API create/start/wait/rm through a private
//! `containy serve`; every tenth runtime container is `run -d` + `exec` + `delete --force`, every tenth
//! engine one an exec + `rm -f`. Everything runs in a network namespace of the test's own.
//!
//! Before and after, the test takes a snapshot of what a container could leave (churn_support): mounts,
//! cgroup directories, links, nf_tables tables, every file under the state root and the daemon's state and
//! store, and the open descriptors of the test and of the daemon; they must be equal. While the containers
//! churn it samples the daemon's RSS, descriptors and threads (a TSV: `CHURN_SAMPLES`, default under
//! target/tmp) and asserts they are flat: descriptors back at the baseline, RSS growth over the second half
//! under `CHURN_RSS_GROWTH_KIB` (default 16 MiB).

mod churn_support;
mod common;
mod engine_daemon;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use churn_support::{Reply, Sample, Scope, api, demux};
use common::{Bundle, CONTAINY, stderr, stdout};
use serde_json::json;

/// The tests of this file run one at a time: each counts the test process's open descriptors.
static SERIAL: Mutex<()> = Mutex::new(());

/// The bridge network of the churn: its own name and subnet (not containy0's 10.88.0.0/24).
const NETWORK: &str = "cychurn";
const SUBNET: &str = "10.131.0.0/24";

fn containy(root: &Path, args: &[&str]) -> Output {
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

/// Run `f` on a thread inside a fresh network namespace with `lo` up; threads it starts are in it too.
fn in_own_netns(f: impl FnOnce() + Send + 'static) {
    let thread = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        churn_support::sh("ip link set lo up");
        f();
    });
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// The three runtime bundles (one state root) and the engine's socket.
struct Kinds {
    friendly: PathBuf,
    oci: PathBuf,
    bridge: PathBuf,
    root: PathBuf,
    socket: PathBuf,
    /// Every engine container id made, to find its cgroup directories afterwards.
    engine_ids: Arc<Mutex<BTreeSet<String>>>,
}

impl Kinds {
    /// Container `i` of the mix: i % 4 picks friendly, OCI, bridge, engine; i % 10 == 0 adds an exec.
    fn run(&self, prefix: &str, i: usize) {
        let id = format!("{prefix}{i}");
        let bundle = match i % 4 {
            0 => &self.friendly,
            1 => &self.oci,
            2 => &self.bridge,
            _ => return self.engine(&id, i % 40 == 3),
        };
        let b = bundle.to_str().expect("a UTF-8 bundle path");
        if i % 10 == 0 {
            let out = containy(&self.root, &["run", "-d", "--bundle", b, &id, "--", "/bin/sleep", "30"]);
            assert!(out.status.success(), "{id}: run -d: {}", stderr(&out));
            let out = containy(&self.root, &["exec", &id, "/bin/echo", "in"]);
            assert_eq!(stdout(&out), "in\n", "{id}: exec: {}", stderr(&out));
            let out = containy(&self.root, &["delete", "--force", &id]);
            assert!(out.status.success(), "{id}: delete: {}", stderr(&out));
        } else {
            let out = containy(&self.root, &["run", "--bundle", b, &id]);
            assert_eq!(stdout(&out), "ok\n", "{id}: {}", stderr(&out));
        }
    }

    /// docker's `run --rm` as API calls: create, start, wait, logs, rm; with `exec`, a long-running container,
    /// an exec into it (an upgraded connection, as the docker CLI does) and `rm -f`.
    fn engine(&self, name: &str, exec: bool) {
        let call = |method: &str, path: &str, body: Option<serde_json::Value>, want: u16| -> Reply {
            let reply = api(&self.socket, method, path, body.as_ref(), false);
            assert_eq!(reply.status, want, "{name}: {method} {path}: {}", reply.text());
            reply
        };
        let cmd = if exec { json!(["sleep", "30"]) } else { json!(["echo", "ok"]) };
        let created = call(
            "POST",
            &format!("/containers/create?name={name}"),
            Some(json!({"Image": "busybox:latest", "Cmd": cmd})),
            201,
        );
        let id =
            created.json()["Id"].as_str().unwrap_or_else(|| panic!("{name}: no Id: {}", created.text())).to_string();
        self.engine_ids.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone());
        call("POST", &format!("/containers/{id}/start"), None, 204);
        if exec {
            let body = json!({"Cmd": ["echo", "in"], "AttachStdout": true, "AttachStderr": true});
            let made = call("POST", &format!("/containers/{id}/exec"), Some(body), 201);
            let exec_id = made.json()["Id"].as_str().unwrap_or_default().to_string();
            let started = api(&self.socket, "POST", &format!("/exec/{exec_id}/start"), Some(&json!({})), true);
            assert_eq!(started.status, 101, "{name}: exec start: {}", started.text());
            assert_eq!(demux(&started.body), "in\n", "{name}: exec output");
            call("DELETE", &format!("/containers/{id}?force=1"), None, 204);
        } else {
            let waited = call("POST", &format!("/containers/{id}/wait"), None, 200);
            assert_eq!(waited.json()["StatusCode"], 0, "{name}: wait: {}", waited.text());
            let logs = call("GET", &format!("/containers/{id}/logs?stdout=1&stderr=1"), None, 200);
            assert_eq!(demux(&logs.body), "ok\n", "{name}: logs");
            call("DELETE", &format!("/containers/{id}"), None, 204);
        }
    }
}

/// The pid of the `containy serve` listening on `socket`.
fn daemon_pid(socket: &Path) -> u32 {
    let needle = format!("serve --socket {}", socket.display());
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).replace('\0', " ").contains(&needle)
            && let Ok(pid) = entry.file_name().to_string_lossy().parse()
        {
            return pid;
        }
    }
    panic!("no containy serve on {}", socket.display());
}

/// The lines of a snapshot that differ: `+` new, `-` gone.
fn diff(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Vec<String> {
    let gone = before.difference(after).map(|s| format!("- {s}"));
    gone.chain(after.difference(before).map(|s| format!("+ {s}"))).collect()
}

#[test]
fn many_short_containers_leave_nothing() {
    require_root!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let count: usize = std::env::var("CHURN").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
    in_own_netns(move || churn(count));
}

fn churn(count: usize) {
    common::busybox_rootfs();
    let friendly = Bundle::friendly(&common::sh_config("echo ok", ""));
    let script = format!("ip -o -4 addr show eth0 | grep -q 'inet {}' && echo ok", SUBNET.trim_end_matches("0/24"));
    let network = format!("network = {{ mode = \"bridge\", network = \"{NETWORK}\" }}");
    let bridge = Bundle::friendly(&common::sh_config(&script, &network));
    let oci = Bundle::empty();
    let out = Command::new(CONTAINY).args(["spec", "--bundle"]).arg(oci.path()).output().expect("containy spec");
    assert!(out.status.success(), "{}", stderr(&out));
    let path = oci.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("config.json")).expect("spec's JSON");
    config["root"]["path"] = json!(common::busybox_rootfs());
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(["/bin/echo", "ok"]);
    std::fs::write(&path, config.to_string()).expect("write config.json");

    let root = friendly.state_root.clone();
    let out = containy(&root, &["network", "create", NETWORK, "--subnet", SUBNET]);
    assert!(out.status.success(), "network create: {}", stderr(&out));
    let _network = NetworkGuard(root.clone());
    let daemon = engine_daemon::Daemon::start();
    let kinds = Arc::new(Kinds {
        friendly: friendly.path().to_owned(),
        oci: oci.path().to_owned(),
        bridge: bridge.path().to_owned(),
        root: root.clone(),
        socket: daemon.socket(),
        engine_ids: Arc::default(),
    });
    let pid = daemon_pid(&daemon.socket());
    let daemon_dir = daemon.path("store").parent().expect("the daemon's dir").to_owned();
    let events_log = daemon.path("store/containers/events.log");
    let prefix = format!("churn{}-", std::process::id());
    let ids = kinds.engine_ids.clone();
    let ours = {
        let (prefix, root, daemon_dir) = (prefix.clone(), root.display().to_string(), daemon_dir.display().to_string());
        move |text: &str| {
            text.contains(&prefix)
                || text.contains(&root)
                || text.contains(&daemon_dir)
                || ids.lock().unwrap_or_else(|e| e.into_inner()).contains(text.rsplit('/').next().unwrap_or(text))
        }
    };
    let self_pid = std::process::id();
    let scope = Scope {
        trees: vec![root.clone(), daemon.path("state"), daemon.path("store")],
        processes: vec![("test", self_pid), ("daemon", pid)],
        ours: &ours,
    };

    // One of each kind first: what the first container makes once and keeps by design (the engine's events
    // log and names directory) is then in the baseline.
    for i in 0..4 {
        kinds.run(&format!("{prefix}warm"), i);
    }
    let before = churn_support::snapshot(&scope);
    let started = Instant::now();
    let every = (count / 100).max(10);
    let samples = Arc::new(Mutex::new(vec![churn_support::sample(pid, 0, 0.0, &events_log)]));
    let follower = churn_support::EventsFollower::connect(&daemon.socket());
    // Two lanes take the next container from one counter, so both run every kind until the very end.
    // A lane that fails stops the other (`next` past the end), so a failure does not wait for the rest.
    let (next, done) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let lanes: Vec<_> = (0..2)
        .map(|_| {
            let (kinds, prefix, samples, next, done, events_log) =
                (kinds.clone(), prefix.clone(), samples.clone(), next.clone(), done.clone(), events_log.clone());
            std::thread::spawn(move || {
                let _stop = StopOnPanic(next.clone());
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count {
                        return;
                    }
                    kinds.run(&prefix, i);
                    let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                    if n % every == 0 {
                        let s = churn_support::sample(pid, n, started.elapsed().as_secs_f64(), &events_log);
                        samples.lock().unwrap_or_else(|e| e.into_inner()).push(s);
                    }
                }
            })
        })
        .collect();
    for lane in lanes {
        if let Err(panic) = lane.join() {
            std::panic::resume_unwind(panic);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!("{count} containers in {elapsed:.1} s");
    // Every engine container's `destroy` reached the client that followed the events all along.
    let engine_count = (0..count).filter(|i| i % 4 == 3).count();
    let deadline = Instant::now() + Duration::from_secs(15);
    while follower.destroyed() < engine_count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(follower.destroyed(), engine_count, "destroy events a `docker events` client received");
    drop(follower);
    let history =
        [&events_log, &events_log.with_extension("log.1")].map(|p| std::fs::metadata(p).map_or(0, |m| m.len()));
    eprintln!("events history on disk: {} + {} bytes (events.log, events.log.1)", history[0], history[1]);
    assert!(
        history.iter().sum::<u64>() <= 2 * containy::engine::events::MAX_BYTES + 4096,
        "the events history is not bounded: {history:?}"
    );

    // Connections the daemon is still closing, monitors still exiting: give them a moment, then compare.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut after = churn_support::snapshot(&scope);
    while after != before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        after = churn_support::snapshot(&scope);
    }
    let mut samples = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
    samples.sort_by_key(|s| s.containers);
    samples.push(churn_support::sample(pid, count, started.elapsed().as_secs_f64(), &events_log));
    let tsv = std::env::var_os("CHURN_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("churn-{count}.tsv")));
    churn_support::write_tsv(&tsv, &samples);
    report(&samples, &tsv);

    assert_eq!(diff(&before, &after), Vec::<String>::new(), "the host is not as it was before the churn");
    let engine_ids: Vec<String> = kinds.engine_ids.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
    daemon.assert_clean(&engine_ids);
    assert_flat(&samples);

    let out = containy(&root, &["network", "rm", NETWORK]);
    assert!(out.status.success(), "network rm: {}", stderr(&out));
    let links = churn_support::sh("ip -o link show | grep -v ' lo:' || true");
    assert_eq!(links, "", "links left after network rm");
}

/// Sets the lanes' counter past any count when its lane panics.
struct StopOnPanic(Arc<AtomicUsize>);

impl Drop for StopOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(usize::MAX / 2, Ordering::SeqCst);
        }
    }
}

/// The churn's network goes with the test, also when it fails (the bridge goes with the test's namespace; its
/// records under the state root would stay).
struct NetworkGuard(PathBuf);

impl Drop for NetworkGuard {
    fn drop(&mut self) {
        let _ = containy(&self.0, &["network", "rm", NETWORK]);
        let _ = std::fs::remove_dir_all(self.0.join(".networks"));
    }
}

/// The daemon's curve, about ten rows of it, on stderr.
fn report(samples: &[Sample], tsv: &Path) {
    eprintln!("daemon samples ({} rows) in {}:", samples.len(), tsv.display());
    eprintln!(
        "{:>10} {:>8} {:>9} {:>5} {:>7} {:>12}",
        "containers", "seconds", "rss_kib", "fds", "threads", "events_log"
    );
    let step = (samples.len() / 10).max(1);
    for (n, s) in samples.iter().enumerate() {
        if n % step == 0 || n + 1 == samples.len() {
            eprintln!(
                "{:>10} {:>8.1} {:>9} {:>5} {:>7} {:>12}",
                s.containers, s.seconds, s.rss_kib, s.fds, s.threads, s.events_log_bytes
            );
        }
    }
}

/// Flat: the daemon's descriptors are back where they started, and its RSS grew by less than the bound
/// over the second half of the run (the first half may still fill caches and the allocator's arenas).
fn assert_flat(samples: &[Sample]) {
    let (first, last) = (&samples[0], &samples[samples.len() - 1]);
    assert_eq!(last.fds, first.fds, "the daemon's descriptors did not come back: {first:?} → {last:?}");
    let bound: u64 = std::env::var("CHURN_RSS_GROWTH_KIB").ok().and_then(|n| n.parse().ok()).unwrap_or(16 * 1024);
    let half = last.containers / 2;
    let second: Vec<&Sample> = samples.iter().filter(|s| s.containers >= half).collect();
    let base = second[0].rss_kib;
    let peak = second.iter().map(|s| s.rss_kib).max().unwrap_or(base);
    eprintln!("daemon RSS over the second half: {base} KiB → peak {peak} KiB (bound: +{bound} KiB)");
    assert!(peak.saturating_sub(base) < bound, "the daemon's RSS grew {} KiB over the second half", peak - base);
}

#[test]
fn of_fifty_creates_of_one_id_exactly_one_wins_and_fifty_deletes_leave_nothing() {
    require_root!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
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
