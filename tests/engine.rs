//! `containy serve` driven by real clients: Debian's docker 20.10 CLI (from the `docker.io` package,
//! unpacked by install.sh; Debian's dockerd is never started) and docker-py (`python3-docker`). Each test
//! starts a private daemon on a socket in a temp dir with its own state root and store, imports the busybox
//! rootfs as `busybox:latest`, and ends with a leak check: no records, monitors, runtime state, mounts or
//! cgroups left.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::CONTAINY;

/// Where install.sh unpacks the docker CLI of Debian's `docker.io`.
const DOCKER: &str = "/var/cache/containy-docker-cli/x/usr/bin/docker";

fn docker_cli() -> Option<&'static str> {
    if Path::new(DOCKER).exists() {
        Some(DOCKER)
    } else {
        eprintln!("skipped: {DOCKER} is missing: run install.sh (it unpacks Debian's docker.io CLI)");
        None
    }
}

struct Daemon {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::Builder::new().prefix("containy-engine-").tempdir().unwrap();
        let tar_path = dir.path().join("busybox.tar");
        let mut builder = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
        builder.follow_symlinks(false);
        builder.append_dir_all(".", common::busybox_rootfs()).unwrap();
        builder.finish().unwrap();
        drop(builder);
        let out = Command::new(CONTAINY)
            .args(["image", "import", "--store"])
            .arg(dir.path().join("store"))
            .arg("busybox:latest")
            .arg(&tar_path)
            .output()
            .unwrap();
        assert!(out.status.success(), "import: {}", common::stderr(&out));
        let mut d = Daemon { dir, child: None };
        d.spawn();
        d
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn socket(&self) -> PathBuf {
        self.path("d.sock")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.path("daemon.log")).unwrap();
        let child = Command::new(CONTAINY)
            .arg("--root")
            .arg(self.path("state"))
            .arg("serve")
            .arg("--socket")
            .arg(self.socket())
            .arg("--store")
            .arg(self.path("store"))
            .arg("--cache")
            .arg(self.path("cache"))
            .args(["--default-network", "none"])
            .env("CONTAINY_API_LOG", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(self.socket()).is_err() {
            assert!(Instant::now() < deadline, "the daemon did not listen: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("daemon.log")).unwrap_or_default()
    }

    fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(DOCKER);
        cmd.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env("DOCKER_CONFIG", self.path("docker-config"))
            .stdin(Stdio::null());
        cmd
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).output().unwrap()
    }

    /// `docker ARGS` must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?}: {}\n{}", common::stderr(&out), self.log());
        common::stdout(&out)
    }

    fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "-f", format, name]).trim().to_string()
    }

    /// Every process whose command line mentions this daemon's directory (monitors, execs).
    fn processes(&self) -> Vec<String> {
        let needle = self.dir.path().display().to_string();
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let is_daemon = self.child.as_ref().is_some_and(|c| entry.file_name() == c.id().to_string().as_str());
            if cmdline.contains(&needle) && !is_daemon {
                found.push(cmdline);
            }
        }
        found
    }

    /// Nothing of any container is left: records, logs, monitors, runtime state, mounts, cgroups.
    fn assert_clean(&self, ids: &[String]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.processes().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(self.processes(), Vec::<String>::new(), "processes left");
        let containers = self.path("store/containers");
        let left: Vec<_> = std::fs::read_dir(&containers)
            .map(|d| d.flatten().map(|e| e.file_name()).filter(|n| n != "names" && n != "events.log").collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "records left: {left:?}");
        let names: Vec<_> =
            std::fs::read_dir(containers.join("names")).map(|d| d.flatten().collect()).unwrap_or_default();
        assert!(names.is_empty(), "names left: {names:?}");
        let state: Vec<_> = std::fs::read_dir(self.path("state"))
            .map(|d| d.flatten().map(|e| e.file_name()).filter(|n| n != "engine" && n != ".networks").collect())
            .unwrap_or_default();
        assert!(state.is_empty(), "runtime state left: {state:?}");
        let monitors: Vec<_> =
            std::fs::read_dir(self.path("state/engine")).map(|d| d.flatten().collect()).unwrap_or_default();
        assert!(monitors.is_empty(), "monitor dirs left: {monitors:?}");
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = self.dir.path().display().to_string();
        let mounts: Vec<_> = mountinfo.lines().filter(|l| l.contains(&root)).collect();
        assert!(mounts.is_empty(), "mounts left: {mounts:#?}");
        for id in ids {
            assert!(common::cgroup_dirs_named(id).is_empty(), "cgroups of {id} left");
            // The host end of a container's veth is `cy` + 10 hex digits of sha256(id) (network/mod.rs).
            use sha2::Digest;
            let digest = sha2::Sha256::digest(id.as_bytes());
            let veth = format!("cy{}", digest.iter().take(5).map(|b| format!("{b:02x}")).collect::<String>());
            assert!(!Path::new("/sys/class/net").join(&veth).exists(), "veth {veth} of {id} left");
        }
    }

    fn id(&self, name: &str) -> String {
        self.inspect(name, "{{.Id}}")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A failed test must not leave containers running: remove them all through the daemon, then stop it.
        if self.child.is_none() && self.socket().exists() {
            self.spawn();
        }
        if let Ok(out) = self.docker_cmd(&["ps", "-aq"]).output() {
            for id in common::stdout(&out).split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        self.kill9();
    }
}

#[test]
fn run_rm_prints_and_passes_exit_codes() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    let out = d.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(common::stdout(&out), "hi\n", "{}\n{}", common::stderr(&out), d.log());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]).status.code(), Some(3));
    let missing = d.docker(&["run", "--rm", "busybox", "no-such-program"]);
    assert_eq!(missing.status.code(), Some(127), "{}", common::stderr(&missing));
    assert!(common::stderr(&missing).contains("no-such-program"), "{}", common::stderr(&missing));
    let script = "echo $A $(pwd) $(id -u) $(hostname)";
    let args = ["run", "--rm", "-e", "A=1", "-w", "/tmp", "-u", "65534", "--hostname", "hhh", "busybox", "sh", "-c"];
    let out = d.ok(&[&args[..], &[script]].concat());
    assert_eq!(out, "1 /tmp 65534 hhh\n");
    d.assert_clean(&[]);
}

#[test]
fn detached_container_lifecycle_ps_logs_stop_rm() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    // PID 1 ignores SIGTERM: stop must SIGKILL it after the timeout.
    let script = "trap '' TERM; echo started; echo to-stderr >&2; while true; do sleep 1; done";
    d.ok(&["run", "-d", "--name", "svc", "busybox", "sh", "-c", script]);
    let id = d.id("svc");
    assert!(d.ok(&["ps"]).contains("svc"));
    assert_eq!(d.inspect("svc", "{{.State.Status}} {{.State.Running}}"), "running true");
    let conflict = d.docker(&["run", "-d", "--name", "svc", "busybox", "true"]);
    assert_eq!(conflict.status.code(), Some(125));
    assert!(common::stderr(&conflict).contains("is already in use"), "{}", common::stderr(&conflict));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.ok(&["logs", "svc"]).contains("started") {
        assert!(Instant::now() < deadline, "no log line");
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = d.docker(&["logs", "svc"]);
    assert_eq!(common::stdout(&logs), "started\n");
    assert_eq!(common::stderr(&logs), "to-stderr\n");
    d.ok(&["stop", "-t", "1", "svc"]);
    assert_eq!(d.inspect("svc", "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
    assert!(!d.ok(&["ps"]).contains("svc"));
    assert!(d.ok(&["ps", "-a"]).contains("svc"));
    // A finite container, followed to its end.
    d.ok(&["run", "-d", "--name", "count", "busybox", "sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.2; done"]);
    let count = d.id("count");
    assert_eq!(d.ok(&["logs", "-f", "count"]), "n1\nn2\nn3\n");
    assert_eq!(d.ok(&["wait", "count"]).trim(), "0");
    assert_eq!(d.ok(&["logs", "--tail", "1", "count"]), "n3\n");
    d.ok(&["rm", "svc", "count"]);
    let gone = d.docker(&["inspect", "svc"]);
    assert!(!gone.status.success());
    // The lifecycle, as `docker events` (and docker-compose) read it.
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let events = d.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until.to_string(),
        "--filter",
        "container=count",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(events.split_whitespace().collect::<Vec<_>>(), ["create", "start", "die", "destroy"]);
    d.assert_clean(&[id, count]);
}

#[test]
fn exec_kill_pause_top_and_stats() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    // PID 1 of a PID namespace gets only the signals it handles: this one handles USR1.
    let script = "trap 'exit 9' USR1; while true; do sleep 0.1; done";
    d.ok(&["run", "-d", "--name", "box", "busybox", "sh", "-c", script]);
    let id = d.id("box");
    let out = d.docker(&["exec", "box", "sh", "-c", "echo in-exec; exit 4"]);
    assert_eq!(common::stdout(&out), "in-exec\n");
    assert_eq!(out.status.code(), Some(4));
    let script = "echo $FOO $(pwd) $(id -u)";
    assert_eq!(
        d.ok(&["exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "nobody", "box", "sh", "-c", script]),
        "bar /tmp 65534\n"
    );
    assert!(d.ok(&["top", "box"]).contains("trap 'exit 9' USR1"));
    assert!(d.ok(&["stats", "--no-stream", "box"]).contains("box"));
    d.ok(&["pause", "box"]);
    assert_eq!(d.inspect("box", "{{.State.Status}}"), "paused");
    d.ok(&["unpause", "box"]);
    assert_eq!(d.inspect("box", "{{.State.Status}}"), "running");
    d.ok(&["restart", "-t", "1", "box"]);
    assert_eq!(d.inspect("box", "{{.State.Status}}"), "running");
    d.ok(&["kill", "-s", "USR1", "box"]);
    assert_eq!(d.ok(&["wait", "box"]).trim(), "9");
    let removed = d.docker(&["exec", "box", "true"]);
    assert!(!removed.status.success());
    d.ok(&["rm", "box"]);
    d.assert_clean(&[id]);
}

#[test]
fn stdin_and_terminal() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    let mut child = d
        .docker_cmd(&["run", "--rm", "-i", "busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"through stdin\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(common::stdout(&out), "through stdin\n");
    // -it under a pty (script(1) gives the client one): the shell reads our line and exits with its code.
    let line = format!("DOCKER_HOST=unix://{} {DOCKER} run --rm -it busybox sh", d.socket().display());
    let mut script = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    script.stdin.take().unwrap().write_all(b"tty; exit 5\n").unwrap();
    let out = script.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", common::stdout(&out));
    assert!(common::stdout(&out).contains("/dev/pts/"), "{}", common::stdout(&out));
    // exec -i and exec -it into a running container.
    d.ok(&["run", "-d", "--name", "ex", "busybox", "sleep", "100"]);
    let ex = d.id("ex");
    let mut child =
        d.docker_cmd(&["exec", "-i", "ex", "cat"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    assert_eq!(common::stdout(&child.wait_with_output().unwrap()), "piped\n");
    let line = format!("DOCKER_HOST=unix://{} {DOCKER} exec -it ex sh", d.socket().display());
    let mut script = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    script.stdin.take().unwrap().write_all(b"tty; exit 6\n").unwrap();
    let out = script.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", common::stdout(&out));
    assert!(common::stdout(&out).contains("/dev/pts/"), "{}", common::stdout(&out));
    d.ok(&["rm", "-f", "ex"]);
    d.assert_clean(&[ex]);
}

/// The daemon is `kill -9`ed with an attached, a detached and a mid-stop container, and one that exits
/// while it is down: they run on, their logs lose nothing, and a new daemon sees them all and removes them.
#[test]
fn containers_outlive_a_killed_daemon() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let mut d = Daemon::start();
    let counter = "i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done";
    let mut attached =
        d.docker_cmd(&["run", "--name", "att", "busybox", "sh", "-c", counter]).stdout(Stdio::piped()).spawn().unwrap();
    d.ok(&["run", "-d", "--name", "det", "busybox", "sh", "-c", counter]);
    d.ok(&["run", "-d", "--name", "stubborn", "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 1; done"]);
    d.ok(&["run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 2; exit 7"]);
    let mut stopping = d.docker_cmd(&["stop", "-t", "60", "stubborn"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.ok(&["inspect", "att", "-f", "{{.State.Status}}"]).trim() != "running" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let ids: Vec<String> = ["att", "det", "stubborn", "short"].iter().map(|n| d.id(n)).collect();
    let pids: Vec<String> = ["att", "det", "stubborn"].iter().map(|n| d.inspect(n, "{{.State.Pid}}")).collect();
    std::thread::sleep(Duration::from_millis(300));

    d.kill9();
    let _ = attached.kill();
    let _ = stopping.kill();
    let mut early = String::new();
    let _ = attached.stdout.take().unwrap().read_to_string(&mut early);
    let _ = attached.wait();
    let _ = stopping.wait();
    // `short` exits while nobody serves; the others go on.
    std::thread::sleep(Duration::from_secs(3));
    for pid in &pids {
        assert!(Path::new(&format!("/proc/{pid}")).exists(), "container process {pid} died with the daemon");
    }

    d.spawn();
    for name in ["att", "det", "stubborn"] {
        assert_eq!(d.inspect(name, "{{.State.Status}}"), "running", "{name}");
    }
    assert_eq!(d.inspect("short", "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}"), "exited 7 false");
    assert_eq!(d.ok(&["ps", "-q"]).lines().count(), 3);
    for name in ["att", "det"] {
        let logs = d.ok(&["logs", name]);
        let numbers: Vec<u64> = logs.lines().map(|l| l.parse().unwrap()).collect();
        assert!(numbers.len() > 30, "{name}: {} lines", numbers.len());
        assert!(numbers.iter().enumerate().all(|(i, n)| *n == i as u64), "{name}: a line was lost: {logs}");
    }
    // What the attached client saw before the daemon died is the log's beginning.
    assert!(d.ok(&["logs", "att"]).starts_with(&early), "attached output differs from the log");
    d.ok(&["stop", "-t", "1", "att", "det", "stubborn"]);
    assert_eq!(d.inspect("stubborn", "{{.State.ExitCode}}"), "137");
    d.ok(&["rm", "att", "det", "stubborn", "short"]);
    d.assert_clean(&ids);
}

/// Raw HTTP on the socket: `_ping`, versioned paths, docker's error JSON and status codes.
#[test]
fn api_errors_are_dockers() {
    require_root!();
    let d = Daemon::start();
    let request = |method: &str, path: &str, body: &str| -> (u16, String, String) {
        let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        // The daemon may answer (and close) before a too-large body is all written.
        let _ = s.write_all(req.as_bytes());
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
        let status = head.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0);
        (status, head.to_string(), body.to_string())
    };
    let (status, head, body) = request("GET", "/_ping", "");
    assert_eq!((status, body.as_str()), (200, "OK"));
    assert!(head.to_ascii_lowercase().contains("api-version: 1.44"), "{head}");
    assert_eq!(request("GET", "/v1.41/version", "").0, 200);
    assert_eq!(request("GET", "/v1.12/version", "").0, 400);
    let (status, _, body) = request("POST", "/v1.41/containers/create", "{not json");
    assert_eq!(status, 400);
    assert!(body.contains("\"message\""), "{body}");
    let (status, _, body) = request("POST", "/containers/create", r#"{"Image":"busybox","HostConfig":{"Memory":"x"}}"#);
    assert_eq!(status, 400);
    assert!(body.contains("HostConfig.Memory"), "{body}");
    let (status, _, body) = request("POST", "/containers/create", r#"{"Image":"nosuchimage"}"#);
    assert_eq!(status, 404, "{body}");
    let (status, _, body) = request("POST", "/containers/create?name=a/b", r#"{"Image":"busybox"}"#);
    assert_eq!(status, 400, "{body}");
    assert_eq!(request("GET", "/containers/nosuch/json", "").0, 404);
    let big = format!(r#"{{"Image":"busybox","Env":["A={}"]}}"#, "x".repeat(5 << 20));
    assert_eq!(request("POST", "/containers/create", &big).0, 400);
    let (status, _, body) = request("POST", "/images/create?fromImage=alpine&tag=latest", "");
    assert_eq!(status, 404);
    assert!(body.contains("alpine"), "{body}");
    assert_eq!(request("GET", "/nowhere", "").0, 404);
    d.assert_clean(&[]);
}

#[test]
fn docker_py_runs_execs_and_waits() {
    require_root!();
    if !Path::new("/usr/lib/python3/dist-packages/docker").exists() {
        eprintln!("skipped: python3-docker is missing: run install.sh");
        return;
    }
    let d = Daemon::start();
    let script = r#"
import docker, sys
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
assert c.containers.run("busybox", "echo hi", remove=True) == b"hi\n"
box = c.containers.run("busybox", ["sh", "-c", "echo out; sleep 30"], detach=True, mem_limit="64m", pids_limit=50, nano_cpus=500000000)
r = box.exec_run("sh -c 'echo $((6*7)); exit 2'")
assert (r.exit_code, r.output) == (2, b"42\n"), r
box.stop(timeout=1)
assert box.wait()["StatusCode"] == 137
assert box.logs() == b"out\n", box.logs()
box.remove()
print("ok")
"#;
    let out = Command::new("/usr/bin/python3").arg("-c").arg(script).arg(d.socket()).output().unwrap();
    assert_eq!(common::stdout(&out), "ok\n", "{}\n{}", common::stderr(&out), d.log());
    d.assert_clean(&[]);
}

#[test]
fn run_flags_limits_mounts_and_privileges() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    // --memory: the OOM killer ends it, and inspect says so.
    let hog = "x=$(head -c 100m /dev/zero | tr '\\0' a); echo survived";
    let out = d.docker(&["run", "--name", "hog", "--memory", "32m", "busybox", "sh", "-c", hog]);
    assert_eq!(out.status.code(), Some(137), "{}", common::stdout(&out));
    assert_eq!(d.inspect("hog", "{{.State.OOMKilled}} {{.State.ExitCode}}"), "true 137");
    let hog = d.id("hog");
    d.ok(&["rm", "hog"]);
    let forks = "for i in $(seq 20); do sleep 1 & done; wait";
    let out = d.docker(&["run", "--rm", "--pids-limit", "10", "busybox", "sh", "-c", forks]);
    assert!(common::stderr(&out).contains("can't fork"), "{}", common::stderr(&out));
    let quota = d.ok(&["run", "--rm", "--cpus", "0.5", "busybox", "cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"]);
    assert_eq!(quota.trim(), "50000");
    let script = "touch /x 2>/dev/null && echo root-writable; touch /run/y && echo run-ok";
    assert_eq!(d.ok(&["run", "--rm", "--read-only", "--tmpfs", "/run", "busybox", "sh", "-c", script]), "run-ok\n");
    let caps = ["run", "--rm", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "busybox", "grep", "-E"];
    let out = d.ok(&[&caps[..], &["CapEff|NoNewPrivs", "/proc/self/status"]].concat());
    assert_eq!(out, "CapEff:\t0000000000000000\nNoNewPrivs:\t1\n");
    let raw =
        ["run", "--rm", "--cap-drop", "ALL", "--cap-add", "NET_RAW", "busybox", "grep", "CapEff", "/proc/self/status"];
    assert_eq!(d.ok(&raw), "CapEff:\t0000000000002000\n");
    assert_eq!(d.ok(&["run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"]), "lo\n");
    // Binds, read-write and read-only, and a named volume that outlives its container.
    let host = d.path("shared");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in"), "from the host\n").unwrap();
    let rw = format!("{}:/data", host.display());
    assert_eq!(
        d.ok(&["run", "--rm", "-v", &rw, "busybox", "sh", "-c", "cat /data/in; echo back > /data/out"]),
        "from the host\n"
    );
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");
    let ro = format!("{}:/data:ro", host.display());
    let out = d.docker(&["run", "--rm", "-v", &ro, "busybox", "sh", "-c", "echo x > /data/out"]);
    assert!(!out.status.success() && common::stderr(&out).contains("Read-only"), "{}", common::stderr(&out));
    d.ok(&["run", "--rm", "-v", "keep:/v", "busybox", "sh", "-c", "echo kept > /v/f"]);
    assert_eq!(d.ok(&["run", "--rm", "-v", "keep:/v", "busybox", "cat", "/v/f"]), "kept\n");
    assert!(d.ok(&["volume", "ls"]).contains("keep"));
    d.ok(&["volume", "create", "other"]);
    d.ok(&["create", "--name", "holder", "-v", "other:/o", "busybox", "true"]);
    let holder = d.id("holder");
    let busy = d.docker(&["volume", "rm", "other"]);
    assert!(common::stderr(&busy).contains("in use"), "{}", common::stderr(&busy));
    d.ok(&["rm", "holder"]);
    d.ok(&["volume", "rm", "keep", "other"]);
    assert!(!d.ok(&["volume", "ls"]).contains("keep"));
    d.assert_clean(&[hog, holder]);
}

#[test]
fn ten_parallel_runs_all_succeed() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    let children: Vec<_> = (0..10)
        .map(|i| {
            d.docker_cmd(&["run", "--rm", "busybox", "echo", &format!("run{i}")])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert_eq!(common::stdout(&out), format!("run{i}\n"), "{}", d.log());
    }
    d.assert_clean(&[]);
}

#[test]
fn images_list_tag_save_rm_load() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    assert!(d.ok(&["images"]).contains("busybox"));
    d.ok(&["tag", "busybox", "mybox:v1"]);
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.RepoTags}}", "mybox:v1"]).trim(), "[busybox:latest mybox:v1]");
    let archive = d.path("saved.tar");
    d.ok(&["save", "-o", archive.to_str().unwrap(), "mybox:v1"]);
    assert!(std::fs::metadata(&archive).unwrap().len() > 100_000);
    assert!(d.ok(&["rmi", "mybox:v1"]).contains("Untagged: mybox:v1"));
    assert!(!d.ok(&["images"]).contains("mybox"));
    assert!(!d.docker(&["image", "inspect", "mybox:v1"]).status.success());
    assert!(d.ok(&["load", "-i", archive.to_str().unwrap()]).contains("mybox:v1"));
    assert_eq!(d.ok(&["run", "--rm", "mybox:v1", "echo", "loaded"]), "loaded\n");
    // An image in use is not removed; an unknown one is docker's 404.
    d.ok(&["create", "--name", "user", "mybox:v1", "true"]);
    let user = d.id("user");
    let busy = d.docker(&["rmi", "mybox:v1"]);
    assert!(common::stderr(&busy).contains("is using"), "{}", common::stderr(&busy));
    d.ok(&["rm", "user"]);
    d.ok(&["rmi", "mybox:v1"]);
    let pull = d.docker(&["pull", "alpine"]);
    assert!(!pull.status.success() && common::stderr(&pull).contains("alpine"), "{}", common::stderr(&pull));
    d.assert_clean(&[user]);
}

#[test]
fn cp_in_and_out_stays_in_the_container() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    let script = "mkdir -p /srv/d; echo inside > /srv/d/f; ln -s /etc/passwd /srv/evil; sleep 100";
    d.ok(&["run", "-d", "--name", "cpbox", "busybox", "sh", "-c", script]);
    let id = d.id("cpbox");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.docker(&["exec", "cpbox", "test", "-L", "/srv/evil"]).status.success() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let host_file = d.path("hf");
    std::fs::write(&host_file, "from the host\n").unwrap();
    d.ok(&["cp", host_file.to_str().unwrap(), "cpbox:/tmp/"]);
    assert_eq!(d.ok(&["exec", "cpbox", "cat", "/tmp/hf"]), "from the host\n");
    let out = d.path("out");
    std::fs::create_dir(&out).unwrap();
    d.ok(&["cp", "cpbox:/srv/d", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("d/f")).unwrap(), "inside\n");
    // An absolute symlink and `..` resolve inside the container's root, never the host's.
    d.ok(&["cp", "cpbox:/srv/evil", out.join("evil").to_str().unwrap()]);
    let copied = std::fs::read_to_string(out.join("evil")).unwrap();
    assert!(copied.starts_with("root:x:0:0:root:/root:/bin/sh\n"), "{copied}");
    assert!(!std::fs::symlink_metadata(out.join("evil")).unwrap().file_type().is_symlink());
    d.ok(&["cp", "cpbox:/../../../etc/hostname", out.join("h").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("h")).unwrap().trim(), &id[..12]);
    d.ok(&["rm", "-f", "cpbox"]);
    d.assert_clean(&[id]);
}

#[test]
fn user_network_ports_and_names() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    // A name and subnet of this test's own (other suites use 10.88/10.89).
    let net = format!("cyeng{}", std::process::id() % 100_000);
    let subnet = format!("10.157.{}.0/24", std::process::id() % 250);
    d.ok(&["network", "create", "--subnet", &subnet, &net]);
    assert!(d.ok(&["network", "ls"]).contains(&net));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let publish = format!("127.0.0.1:{port}:80");
    let httpd = "mkdir /www; echo hello-web > /www/index.html; exec httpd -f -p 80 -h /www";
    d.ok(&["run", "-d", "--name", "web", "--network", &net, "-p", &publish, "busybox", "sh", "-c", httpd]);
    let web = d.id("web");
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let got = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        });
        match got {
            Ok(text) if text.contains("hello-web") => break text,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => panic!("no answer on {port}: {other:?}"),
        }
    };
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    let by_name = d.ok(&["run", "--rm", "--network", &net, "busybox", "wget", "-qO-", "http://web/"]);
    assert_eq!(by_name, "hello-web\n");
    d.ok(&["rm", "-f", "web"]);
    d.ok(&["network", "rm", &net]);
    assert!(!d.ok(&["network", "ls"]).contains(&net));
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    assert!(!common::stdout(&links).contains(&net), "the bridge {net} is left");
    d.assert_clean(&[web]);
}

#[test]
fn classic_build_then_run() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    let ctx = d.path("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("data.txt"), "copied file\n").unwrap();
    let dockerfile = "FROM busybox\nCOPY data.txt /data.txt\nRUN echo built > /built.txt\nENV GREETING=hello\n\
                      CMD [\"sh\", \"-c\", \"cat /data.txt /built.txt; echo $GREETING\"]\n";
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let out =
        d.docker_cmd(&["build", "-t", "built:v1", ctx.to_str().unwrap()]).env("DOCKER_BUILDKIT", "0").output().unwrap();
    assert!(
        common::stdout(&out).contains("Successfully tagged built:v1"),
        "{}{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    assert_eq!(d.ok(&["run", "--rm", "built:v1"]), "copied file\nbuilt\nhello\n");
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN exit 3\n").unwrap();
    let failed =
        d.docker_cmd(&["build", "-t", "broken", ctx.to_str().unwrap()]).env("DOCKER_BUILDKIT", "0").output().unwrap();
    assert!(!failed.status.success());
    // docker-py, as an autograder builds its image.
    if Path::new("/usr/lib/python3/dist-packages/docker").exists() {
        std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCMD [\"echo\", \"from-py\"]\n").unwrap();
        let script = "import docker, sys\nc = docker.DockerClient(base_url='unix://' + sys.argv[1])\n\
                      img, _ = c.images.build(path=sys.argv[2], tag='pybuilt')\n\
                      print(c.containers.run(img.id, remove=True).decode(), end='')\n";
        let out = Command::new("/usr/bin/python3").arg("-c").arg(script).arg(d.socket()).arg(&ctx).output().unwrap();
        assert_eq!(common::stdout(&out), "from-py\n", "{:?} {}\n{}", out.status, common::stderr(&out), d.log());
    }
    d.assert_clean(&[]);
}

/// docker-compose 1.29: a web server and a client that reaches it by service name on the project network;
/// `up -d`, `ps`, `logs`, `down` leaving nothing behind.
#[test]
fn compose_up_ps_logs_down() {
    require_root!();
    if !Path::new("/usr/bin/docker-compose").exists() {
        eprintln!("skipped: docker-compose is missing: run install.sh");
        return;
    }
    let d = Daemon::start();
    let project = format!("cyc{}", std::process::id() % 10_000);
    let subnet = format!("10.158.{}.0/24", std::process::id() % 250);
    let dir = d.path("compose");
    std::fs::create_dir(&dir).unwrap();
    let file = format!(
        "version: \"3\"\nservices:\n  web:\n    image: busybox\n    command: sh -c \"mkdir /www; echo hello-compose > \
         /www/index.html; exec httpd -f -p 80 -h /www\"\n  client:\n    image: busybox\n    command: sh -c \"until \
         wget -qO- http://web/; do sleep 0.2; done; sleep 100\"\n    depends_on: [web]\nnetworks:\n  default:\n    \
         ipam:\n      config:\n        - subnet: {subnet}\n"
    );
    std::fs::write(dir.join("docker-compose.yml"), file).unwrap();
    let compose = |args: &[&str]| {
        let out = Command::new("/usr/bin/docker-compose")
            .args(["-p", &project])
            .args(args)
            .current_dir(&dir)
            .env("DOCKER_HOST", format!("unix://{}", d.socket().display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "compose {args:?}: {}\n{}", common::stderr(&out), d.log());
        common::stdout(&out)
    };
    compose(&["up", "-d"]);
    let ids: Vec<String> = ["web", "client"].iter().map(|s| d.id(&format!("{project}_{s}_1"))).collect();
    let ps = compose(&["ps"]);
    assert_eq!(ps.matches(" Up ").count(), 2, "{ps}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !compose(&["logs", "client"]).contains("hello-compose") {
        assert!(Instant::now() < deadline, "the client never reached web by name");
        std::thread::sleep(Duration::from_millis(200));
    }
    compose(&["down", "-t", "1"]);
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    assert!(!common::stdout(&links).contains(&format!("{project}_default")), "the project network is left");
    d.assert_clean(&ids);
}
