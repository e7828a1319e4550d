//! The engine from containy's own command line (issue #15, "one request model"): `containy run --image`
//! with docker's flags makes the same engine container the API makes, and `containy ps`, `logs [-f]`,
//! `stop`, `rm` work on it without a daemon — while a `containy serve` on the same roots lists, logs and
//! removes it too, and the CLI sees the daemon's containers. Ends with the engine tests' leak check.

mod common;
mod engine_daemon;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use engine_daemon::{Daemon, docker_cli};

/// `containy ARGS` on the daemon's roots (state, store, cache), without talking to the daemon.
fn cli(d: &Daemon, args: &[&str]) -> Command {
    let mut cmd = Command::new(common::CONTAINY);
    cmd.args(args)
        .env("CONTAINY_ROOT", d.path("state"))
        .env("CONTAINY_STORE", d.path("store"))
        .env("CONTAINY_CACHE", d.path("cache"))
        .stdin(Stdio::null());
    cmd
}

fn run(d: &Daemon, args: &[&str]) -> Output {
    cli(d, args).output().unwrap()
}

fn ok(d: &Daemon, args: &[&str]) -> String {
    let out = run(d, args);
    assert!(out.status.success(), "containy {args:?}: {}", common::stderr(&out));
    common::stdout(&out)
}

#[test]
fn run_flags_and_verbs_share_the_engine_with_the_daemon() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    let host = d.path("host");
    std::fs::create_dir_all(&host).unwrap();
    let bind = format!("{}:/h", host.display());
    // Foreground: the flags reach the container (limits, env, a bind, a tmpfs on a read-only root, caps);
    // the exit code comes back and the container is gone afterwards, as every foreground run.
    let script = "echo $A; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes; \
                  echo w > /h/f; echo t > /t/x && cat /t/x; touch /ro 2>/dev/null || echo ro; \
                  grep CapEff /proc/self/status; exit 3";
    let out = run(
        &d,
        &[
            "run",
            "--image",
            "busybox",
            "--name",
            "fg",
            "-e",
            "A=1",
            "--memory",
            "32m",
            "--pids-limit",
            "20",
            "--cpus",
            "0.5",
            "-v",
            &bind,
            "--read-only",
            "--tmpfs",
            "/t",
            "--cap-drop",
            "ALL",
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", common::stderr(&out));
    let want = format!("1\n20\n{}\nt\nro\nCapEff:\t0000000000000000\n", 32 << 20);
    assert_eq!(common::stdout(&out), want);
    assert_eq!(std::fs::read_to_string(host.join("f")).unwrap(), "w\n");
    assert_eq!(run(&d, &["run", "--image", "busybox", "--rm", "--", "no-such-program"]).status.code(), Some(127));
    let bad = run(&d, &["run", "--image", "busybox", "--memory", "lots", "--", "true"]);
    assert_eq!(bad.status.code(), Some(125));
    assert!(common::stderr(&bad).contains("--memory \"lots\""), "{}", common::stderr(&bad));
    // -i: our stdin is the container's.
    let mut child = cli(&d, &["run", "--image", "busybox", "-i", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"through stdin\n").unwrap();
    assert_eq!(common::stdout(&child.wait_with_output().unwrap()), "through stdin\n");
    // A signal to the CLI goes to the container (docker's --sig-proxy): its trap runs, its code comes back.
    let trap = "trap 'echo got-term; exit 4' TERM; echo ready; while true; do sleep 0.1; done";
    let mut child = cli(&d, &["run", "--image", "busybox", "--name", "sig", "--", "sh", "-c", trap])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "got-term\n");
    assert_eq!(child.wait().unwrap().code(), Some(4));

    // Detached from the CLI: the daemon sees it, `logs -f` follows it to its end.
    let script = "echo one; echo two >&2; sleep 0.5; echo three; trap '' TERM; while true; do sleep 1; done";
    let id =
        ok(&d, &["run", "--image", "busybox", "-d", "--name", "cli-made", "--", "sh", "-c", script]).trim().to_string();
    assert_eq!(id.len(), 64);
    assert!(ok(&d, &["ps"]).contains("cli-made"));
    assert_eq!(d.inspect("cli-made", "{{.State.Status}} {{.Id}}"), format!("running {id}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok(&d, &["logs", "cli-made"]).contains("three") {
        assert!(Instant::now() < deadline, "no log line");
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = run(&d, &["logs", "cli-made"]);
    assert_eq!((common::stdout(&logs).as_str(), common::stderr(&logs).as_str()), ("one\nthree\n", "two\n"));
    assert_eq!(d.ok(&["logs", "cli-made"]), "one\nthree\n");
    let follow = cli(&d, &["logs", "-f", "--tail", "1", "cli-made"]).stdout(Stdio::piped()).spawn().unwrap();
    // PID 1 ignores SIGTERM: killed after the timeout, and `logs -f` ends with the container.
    ok(&d, &["stop", "-t", "1", "cli-made"]);
    assert_eq!(common::stdout(&follow.wait_with_output().unwrap()), "three\n");
    assert!(!ok(&d, &["ps"]).contains("cli-made"));
    assert!(ok(&d, &["ps", "-a"]).contains("exited (137)"));
    assert_eq!(d.inspect("cli-made", "{{.State.ExitCode}}"), "137");
    let conflict = run(&d, &["run", "--image", "busybox", "-d", "--name", "cli-made", "--", "true"]);
    assert!(common::stderr(&conflict).contains("is already in use"), "{}", common::stderr(&conflict));

    // The daemon's container, seen and removed by the CLI; the CLI's, removed by the daemon.
    d.ok(&["run", "-d", "--name", "api-made", "busybox", "sleep", "100"]);
    let api_id = d.id("api-made");
    assert!(ok(&d, &["ps", "-q"]).contains(&api_id[..12]));
    let refused = run(&d, &["rm", "api-made"]);
    assert!(common::stderr(&refused).contains("cannot remove a running container"), "{}", common::stderr(&refused));
    ok(&d, &["rm", "-f", "api-made"]);
    d.ok(&["rm", "cli-made"]);
    assert!(!d.ok(&["ps", "-a"]).contains("made"));
    // Flags that belong to bundles are not mixed with docker's.
    let mixed = run(&d, &["run", "--image", "busybox", "--name", "x", "--wall-time", "1s", "--", "true"]);
    assert!(common::stderr(&mixed).contains("cannot be combined"), "{}", common::stderr(&mixed));
    d.assert_clean(&[id, api_id]);
}
