//! The OCI lifecycle verbs on containers started with `run`: state, list, ps, kill, delete — and
//! `delete --force` after containy itself was killed with SIGKILL.

mod common;

use common::{Bundle, Running, sh_config, stderr, stdout};

fn verb(bundle: &Bundle, args: &[&str]) -> std::process::Output {
    bundle.containy(args)
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

/// `containy create`, with the container's stdio going to files (it outlives this call; a pipe would
/// keep `output()` waiting for it).
fn create(bundle: &Bundle, extra: &[&str]) -> std::process::Output {
    let log = std::fs::File::create(bundle.path().join("create.log")).unwrap();
    let status = std::process::Command::new(common::CONTAINY)
        .arg("--root")
        .arg(&bundle.state_root)
        .args(["create", "--bundle"])
        .arg(bundle.path())
        .args(extra)
        .arg(&bundle.id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .status()
        .unwrap();
    let stderr = std::fs::read(bundle.path().join("create.log")).unwrap();
    std::process::Output { status, stdout: Vec::new(), stderr }
}

/// A runc-spec'd OCI bundle running `script`, for the create/start tests.
fn oci_bundle(script: &str, terminal: bool) -> Bundle {
    let bundle = Bundle::empty();
    let out = std::process::Command::new("runc").arg("spec").current_dir(bundle.path()).output();
    let spec = match out {
        Ok(o) if o.status.success() => std::fs::read(bundle.path().join("config.json")).unwrap(),
        _ => panic!("runc spec failed: install runc (install.sh does)"),
    };
    std::os::unix::fs::symlink(common::busybox_rootfs(), bundle.path().join("rootfs")).unwrap();
    let mut spec: serde_json::Value = serde_json::from_slice(&spec).unwrap();
    spec["process"]["terminal"] = terminal.into();
    spec["process"]["args"] = serde_json::json!(["sh", "-c", script]);
    std::fs::write(bundle.path().join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
    bundle
}

fn status(bundle: &Bundle) -> serde_json::Value {
    let out = verb(bundle, &["state", &bundle.id]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)))
}

#[test]
fn create_start_kill_delete_follow_the_oci_lifecycle() {
    require_root!();
    let bundle = oci_bundle("sleep 30", false);
    let pid_file = bundle.path().join("pid");
    let out = create(&bundle, &["--pid-file", pid_file.to_str().unwrap()]);
    assert!(out.status.success(), "create: {}", stderr(&out));

    // created: the process exists, in its cgroup, and waits (asleep in open(2) of the exec FIFO).
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let state = status(&bundle);
    assert_eq!(state["status"], "created");
    assert_eq!(state["pid"], pid);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    assert!(stat.contains(") S "), "the created process is not waiting: {stat}");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cgroup.contains(&bundle.id), "not in its cgroup yet: {cgroup}");
    // Starting twice is an error; the first start runs the program.
    let out = verb(&bundle, &["start", &bundle.id]);
    assert!(out.status.success(), "start: {}", stderr(&out));
    assert_eq!(status(&bundle)["status"], "running");
    let out = verb(&bundle, &["start", &bundle.id]);
    assert_eq!(out.status.code(), Some(125), "a second start must fail");

    let out = verb(&bundle, &["kill", &bundle.id, "SIGKILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while status(&bundle)["status"] != "stopped" {
        assert!(std::time::Instant::now() < deadline, "never stopped: {}", status(&bundle));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(status(&bundle)["pid"], 0);
    let out = verb(&bundle, &["delete", &bundle.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    bundle.assert_no_leaks();
}

#[test]
fn run_detached_returns_at_once_and_delete_force_ends_it() {
    require_root!();
    let bundle = oci_bundle("sleep 30", false);
    let started = std::time::Instant::now();
    let log = std::fs::File::create(bundle.path().join("run.log")).unwrap();
    let exit = bundle.command(&["--detach"]).stdout(std::process::Stdio::null()).stderr(log).status().unwrap();
    let out = std::process::Output {
        status: exit,
        stdout: Vec::new(),
        stderr: std::fs::read(bundle.path().join("run.log")).unwrap(),
    };
    assert!(out.status.success(), "{}", stderr(&out));
    // The container sleeps 30 s: a run that waited for it would take that long (a slow VM takes seconds anyway).
    assert!(started.elapsed() < std::time::Duration::from_secs(25));
    assert_eq!(status(&bundle)["status"], "running");
    let out = verb(&bundle, &["delete", "--force", &bundle.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    bundle.assert_no_leaks();
}

#[test]
fn create_with_a_terminal_sends_the_pty_to_the_console_socket() {
    require_root!();
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let bundle = oci_bundle("tty; sleep 30", true);
    let socket_path = bundle.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    let out = create(&bundle, &["--console-socket", socket_path.to_str().unwrap()]);
    assert!(out.status.success(), "create: {}", stderr(&out));
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 64];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    let fd = msg
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            nix::sys::socket::ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("no fd on the console socket");
    // SAFETY: the kernel just gave us this descriptor.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    let out = verb(&bundle, &["start", &bundle.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !String::from_utf8_lossy(&got).contains('\n') && std::time::Instant::now() < deadline {
        let mut chunk = [0u8; 256];
        if let Ok(n) = nix::unistd::read(&master, &mut chunk) {
            got.extend_from_slice(&chunk[..n]);
        }
    }
    assert!(String::from_utf8_lossy(&got).contains("/dev/pts/0"), "{:?}", String::from_utf8_lossy(&got));
    let out = verb(&bundle, &["delete", "--force", &bundle.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    bundle.assert_no_leaks();
}

#[test]
fn the_state_of_a_container_the_oom_killer_ended_says_so() {
    require_root!();
    let script = "x=$(head -c 300000000 /dev/zero | tr '\\0' a)";
    let bundle = oci_bundle(script, false);
    let path = bundle.path().join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // A small limit: under the VM's emulated CPU, filling 64 MiB through a pipe takes long.
    spec["linux"]["resources"]["memory"] = serde_json::json!({"limit": 16 << 20});
    std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
    assert!(create(&bundle, &[]).status.success());
    assert!(verb(&bundle, &["start", &bundle.id]).status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while status(&bundle)["status"] != "stopped" {
        assert!(std::time::Instant::now() < deadline, "the memory hog never stopped");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(status(&bundle)["oomKilled"], true);
    assert!(verb(&bundle, &["delete", &bundle.id]).status.success());
    bundle.assert_no_leaks();
}

#[test]
fn a_created_container_running_as_another_user_starts() {
    require_root!();
    let bundle = oci_bundle("id -u > /proc/1/fd/1; sleep 5", false);
    let path = bundle.path().join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
    std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
    assert!(create(&bundle, &[]).status.success());
    let out = verb(&bundle, &["start", &bundle.id]);
    assert!(out.status.success(), "start: {}", stderr(&out));
    assert_eq!(status(&bundle)["status"], "running");
    assert!(verb(&bundle, &["delete", "--force", &bundle.id]).status.success());
    bundle.assert_no_leaks();
}

/// A hook that appends `<name> <state JSON from stdin>` to `log` (a path where it runs).
fn logging_hook(name: &str, log: &str) -> serde_json::Value {
    serde_json::json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("read -r state; echo \"{name} $state\" >> {log}")],
    })
}

#[test]
fn hooks_fire_in_lifecycle_order_with_the_state_on_stdin() {
    require_root!();
    let bundle = oci_bundle("true", false);
    let logs = bundle.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let host_log = logs.join("log");
    let host_log = host_log.to_str().unwrap();
    let config = bundle.path().join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    spec["annotations"] = serde_json::json!({"org.example/key": "value"});
    spec["hooks"] = serde_json::json!({
        "prestart": [logging_hook("prestart", host_log)],
        "createRuntime": [logging_hook("createRuntime", host_log)],
        // Before pivot_root: a host path still resolves, but the mount namespace is the container's.
        "createContainer": [logging_hook("createContainer", host_log)],
        // Inside the container's root: /bin/sh is busybox's and the log is reached through a bind mount.
        "startContainer": [logging_hook("startContainer", "/logs/log")],
        "poststart": [logging_hook("poststart", host_log)],
        "poststop": [logging_hook("poststop", host_log)],
    });
    spec["mounts"].as_array_mut().unwrap().push(serde_json::json!(
        {"destination": "/logs", "type": "bind", "source": logs, "options": ["rbind", "rw"]}));
    std::fs::write(&config, serde_json::to_vec(&spec).unwrap()).unwrap();

    let out = create(&bundle, &[]);
    assert!(out.status.success(), "create: {}", stderr(&out));
    let pid = status(&bundle)["pid"].as_i64().unwrap();
    let out = verb(&bundle, &["start", &bundle.id]);
    assert!(out.status.success(), "start: {}", stderr(&out));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while status(&bundle)["status"] != "stopped" {
        assert!(std::time::Instant::now() < deadline, "never stopped");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = verb(&bundle, &["delete", &bundle.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    bundle.assert_no_leaks();

    let text = std::fs::read_to_string(host_log).unwrap();
    let seen: Vec<(&str, serde_json::Value)> = text
        .lines()
        .map(|l| {
            let (name, json) = l.split_once(' ').unwrap();
            (name, serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {l}")))
        })
        .collect();
    let names: Vec<&str> = seen.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "{text}"
    );
    let statuses: Vec<&str> = seen.iter().map(|(_, s)| s["status"].as_str().unwrap()).collect();
    // runtime.md: "created" once the create operation has made the environment (lifecycle steps 3–7).
    assert_eq!(statuses, ["created", "created", "created", "created", "running", "stopped"]);
    for (name, state) in &seen {
        assert_eq!(state["id"], bundle.id.as_str(), "{name}");
        assert_eq!(state["pid"], pid, "{name}: the container's host pid");
        assert_eq!(state["bundle"], bundle.path().to_str().unwrap(), "{name}");
        assert_eq!(state["annotations"]["org.example/key"], "value", "{name}");
    }
}

#[test]
fn a_failing_create_hook_fails_create_cleanly_and_poststop_still_runs() {
    require_root!();
    let bundle = oci_bundle("true", false);
    let marker = bundle.path().join("poststop-ran");
    let config = bundle.path().join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    spec["hooks"] = serde_json::json!({
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo no network for you >&2; exit 4"]}],
        "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}", marker.display())]}],
    });
    std::fs::write(&config, serde_json::to_vec(&spec).unwrap()).unwrap();
    let out = create(&bundle, &[]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("createRuntime hook /bin/sh failed (exit status: 4): no network for you"),
        "{}",
        stderr(&out)
    );
    assert!(marker.exists(), "poststop hooks run when a failed create is torn down");
    bundle.assert_no_leaks();
}

#[test]
fn events_report_usage_and_end_with_the_container() {
    require_root!();
    let bundle = Bundle::friendly(&sh_config("sleep 30", "[resources]\nmemory = \"64M\"\npids = 30"));
    let running = Running::start(&bundle);

    let out = verb(&bundle, &["events", "--stats", &bundle.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "--stats prints one event: {text}");
    let event: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(event["type"], "stats");
    assert_eq!(event["id"], bundle.id.as_str());
    assert_eq!(event["data"]["memory"]["usage"]["limit"], 64 * 1024 * 1024);
    assert_eq!(event["data"]["pids"]["limit"], 30);
    assert!(event["data"]["pids"]["current"].as_u64().unwrap() >= 1, "{event}");

    // The stream: events at each tick, and it ends by itself when the container does.
    let stream = std::process::Command::new(common::CONTAINY)
        .arg("--root")
        .arg(&bundle.state_root)
        .args(["events", "--interval", "100ms", &bundle.id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(350));
    assert!(verb(&bundle, &["kill", &bundle.id, "KILL"]).status.success());
    let out = stream.wait_with_output().unwrap();
    assert!(out.status.success());
    let events = stdout(&out);
    assert!(events.lines().count() >= 2, "several ticks: {events}");
    assert!(events.lines().all(|l| l.contains("\"type\":\"stats\"")), "{events}");
    running.wait();
    bundle.assert_no_leaks();
}
