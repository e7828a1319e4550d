//! `containy serve` driven by Debian's docker 20.10 CLI (the `docker.io` package's CLI, unpacked by
//! install.sh; Debian's dockerd is never started): run, exit codes, detached containers, logs, exec, stdin
//! and ttys, limits, mounts, a `kill -9` of the daemon, docker's errors. Each test starts a private daemon
//! (tests/engine_daemon) and ends with a leak check.

mod common;
mod engine_daemon;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use engine_daemon::{DOCKER, Daemon, docker_cli};

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
    let out = under_a_pty(&d, "run --rm -it busybox sh", b"tty; exit 5\n");
    assert_eq!(out.status.code(), Some(5), "{}", common::stdout(&out));
    assert!(common::stdout(&out).contains("/dev/pts/"), "{}", common::stdout(&out));
    // exec -i and exec -it into a running container.
    d.ok(&["run", "-d", "--name", "ex", "busybox", "sleep", "100"]);
    let ex = d.id("ex");
    let mut child =
        d.docker_cmd(&["exec", "-i", "ex", "cat"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    assert_eq!(common::stdout(&child.wait_with_output().unwrap()), "piped\n");
    let out = under_a_pty(&d, "exec -it ex sh", b"tty; exit 6\n");
    assert_eq!(out.status.code(), Some(6), "{}", common::stdout(&out));
    assert!(common::stdout(&out).contains("/dev/pts/"), "{}", common::stdout(&out));
    d.ok(&["rm", "-f", "ex"]);
    d.assert_clean(&[ex]);
}

/// `docker ARGS` under a pty (script(1) gives the client one), typing `input`.
fn under_a_pty(d: &Daemon, args: &str, input: &[u8]) -> std::process::Output {
    let line = format!("DOCKER_HOST=unix://{} {DOCKER} {args}", d.socket().display());
    let mut script = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    script.stdin.take().unwrap().write_all(input).unwrap();
    script.wait_with_output().unwrap()
}

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
        let state = d.inspect(name, "{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}");
        assert!(state.starts_with("running "), "{name}: {state}\n{}", d.log());
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
    let (status, _, body) = request("POST", "/containers/create", &big);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("\"message\"") && body.contains("larger than"), "{body}");
    let (status, _, body) = request("POST", "/images/create?fromImage=alpine&tag=latest", "");
    assert_eq!(status, 404);
    assert!(body.contains("alpine"), "{body}");
    assert_eq!(request("GET", "/nowhere", "").0, 404);
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
