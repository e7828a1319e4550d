//! `containy serve` at its edges: uploads over the daemon's cap (`--max-upload`) get docker's 413 with a
//! `{"message": …}` that says what to change, through the real docker CLI (load, cp, build), and leave no
//! temp file; the terminal of a container and of an exec is resized (`POST /containers/{id}/resize`,
//! `POST /exec/{id}/resize`) through docker-py; an exited container keeps its files until `rm` (`cp` out and
//! in, the next `start -a`). Each test ends with the engine tests' leak check.

mod common;
mod engine_daemon;
#[path = "engine_daemon/http.rs"]
mod http;

use std::path::Path;
use std::process::Command;

use engine_daemon::{Daemon, docker_cli};

fn random_file(path: &Path, len: usize) {
    let mut bytes = vec![0u8; len];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for b in bytes.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn uploads_over_the_cap_are_refused_with_413() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start_with(&["--max-upload", "256K"]);
    let big = d.path("big.bin");
    random_file(&big, 1 << 20);
    let limit = "larger than the daemon's limit of 262144 bytes (containy serve --max-upload)";
    // docker load: a (not even valid) archive of 1 MiB.
    let load = d.docker(&["load", "-i", big.to_str().unwrap()]);
    assert!(!load.status.success());
    assert!(common::stderr(&load).contains(limit), "{}", common::stderr(&load));
    // docker cp into a running container.
    d.ok(&["run", "-d", "--name", "cp", "busybox", "sleep", "100"]);
    let id = d.id("cp");
    let cp = d.docker(&["cp", big.to_str().unwrap(), "cp:/tmp/"]);
    assert!(!cp.status.success());
    assert!(common::stderr(&cp).contains(limit), "{}", common::stderr(&cp));
    assert!(!d.ok(&["exec", "cp", "ls", "/tmp"]).contains("big.bin"));
    // Under the cap, the same path works.
    let small = d.path("small.txt");
    std::fs::write(&small, "small\n").unwrap();
    d.ok(&["cp", small.to_str().unwrap(), "cp:/tmp/"]);
    assert_eq!(d.ok(&["exec", "cp", "cat", "/tmp/small.txt"]), "small\n");
    d.ok(&["rm", "-f", "cp"]);
    // A build context over the cap.
    let ctx = d.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY big.bin /\n").unwrap();
    std::fs::copy(&big, ctx.join("big.bin")).unwrap();
    let build =
        d.docker_cmd(&["build", "-t", "toobig", ctx.to_str().unwrap()]).env("DOCKER_BUILDKIT", "0").output().unwrap();
    assert!(!build.status.success());
    assert!(common::stderr(&build).contains(limit), "{}", common::stderr(&build));
    assert!(!d.ok(&["images"]).contains("toobig"));
    // Nothing of the refused uploads is left in the store's temp dir.
    let tmp: Vec<_> = std::fs::read_dir(d.path("store/tmp")).map(|r| r.flatten().collect()).unwrap_or_default();
    assert!(tmp.is_empty(), "temp files left: {tmp:?}");
    d.assert_clean(&[id]);
}

#[test]
fn container_and_exec_terminals_are_resized() {
    require_root!();
    if !engine_daemon::docker_py() {
        return;
    }
    let d = Daemon::start();
    // Each program waits until its terminal has a size (a new pty has none: busybox's stty fails), then
    // prints it; the script
    // resizes until the program has ended — no sleep decides anything.
    let script = r#"
import docker, sys, time
api = docker.APIClient(base_url="unix://" + sys.argv[1])
wait_size = "until stty size 2>/dev/null | grep -q '^[1-9]'; do sleep 0.05; done; stty size"
c = api.create_container("busybox", ["sh", "-c", wait_size], tty=True)
api.start(c)
deadline = time.time() + 20
while api.inspect_container(c)["State"]["Running"] and time.time() < deadline:
    try:
        api.resize(c, height=31, width=91)
    except docker.errors.APIError as err:
        assert err.status_code == 409, err  # it has just ended
    time.sleep(0.05)
assert not api.inspect_container(c)["State"]["Running"], "the container never saw its size"
assert api.wait(c)["StatusCode"] == 0
assert api.logs(c).strip() == b"31 91", api.logs(c)
api.remove_container(c)

box = api.create_container("busybox", ["sleep", "100"])
api.start(box)
e = api.exec_create(box, ["sh", "-c", wait_size], tty=True)
sock = api.exec_start(e["Id"], tty=True, socket=True)
deadline = time.time() + 20
while api.exec_inspect(e["Id"])["Running"] is not False and time.time() < deadline:
    try:
        api.exec_resize(e["Id"], height=42, width=101)
    except docker.errors.APIError as err:
        assert err.status_code == 409, err  # the program is not there yet
    time.sleep(0.05)
assert api.exec_inspect(e["Id"])["Running"] is False, "the exec never saw its size"
out = b""
raw = getattr(sock, "_sock", sock)
while True:
    chunk = raw.recv(4096)
    if not chunk:
        break
    out += chunk
assert b"42 101" in out, out
assert api.exec_inspect(e["Id"])["ExitCode"] == 0
# An exec without a terminal has nothing to resize: docker's 200, nothing happens.
plain = api.exec_create(box, ["true"])
api.exec_start(plain["Id"])
api.exec_resize(plain["Id"], height=10, width=10)
api.remove_container(box, force=True)
print("ok")
"#;
    let out = Command::new("/usr/bin/python3").arg("-c").arg(script).arg(d.socket()).output().unwrap();
    assert_eq!(common::stdout(&out), "ok\n", "{}\n{}", common::stderr(&out), d.log());
    d.assert_clean(&[]);
}

/// docker keeps an exited container's filesystem until `rm`: `docker cp` out of it (what autograders do with
/// results), `cp` into it, and the next `start` sees what the earlier run wrote. Still confined to its root.
#[test]
fn an_exited_containers_files_live_until_rm() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    let script = "mkdir -p /out; echo 42 > /out/result.txt; echo run >> /out/runs; ln -sf /etc/passwd /out/evil; \
                  rm -f /etc/group; cat /out/runs /out/in.txt 2>/dev/null; true";
    assert_eq!(d.ok(&["run", "--name", "res", "busybox", "sh", "-c", script]), "run\n");
    let id = d.id("res");
    assert_eq!(d.inspect("res", "{{.State.Status}}"), "exited");
    let layer = d.path("store/containers").join(&id).join("changes/upper");
    assert!(layer.join("out/result.txt").is_file(), "the writable layer is kept in the record");
    // cp out: a file, a directory; a symlink and `..` resolve inside the container's root.
    let out = d.path("out");
    std::fs::create_dir(&out).unwrap();
    d.ok(&["cp", "res:/out/result.txt", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("result.txt")).unwrap(), "42\n");
    d.ok(&["cp", "res:/out", out.join("dir").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("dir/runs")).unwrap(), "run\n");
    d.ok(&["cp", "res:/out/evil", out.join("evil").to_str().unwrap()]);
    let copied = std::fs::read_to_string(out.join("evil")).unwrap();
    assert!(copied.starts_with("root:x:0:0:root:/root:/bin/sh\n"), "{copied}");
    d.ok(&["cp", "res:/../../../../out/../bin/busybox", out.join("bb").to_str().unwrap()]);
    assert!(std::fs::metadata(out.join("bb")).unwrap().len() > 100_000);
    // The image's files are there, and what the run deleted is gone (overlay's whiteout honoured).
    d.ok(&["cp", "res:/etc/passwd", out.join("passwd").to_str().unwrap()]);
    let gone = d.docker(&["cp", "res:/etc/group", out.join("group").to_str().unwrap()]);
    assert!(!gone.status.success() && !out.join("group").exists(), "a deleted file is not copied");
    // cp in, then the next run sees both the earlier run's files and the copied one.
    let host_file = d.path("in.txt");
    std::fs::write(&host_file, "from the host\n").unwrap();
    d.ok(&["cp", host_file.to_str().unwrap(), "res:/out/"]);
    assert_eq!(d.ok(&["start", "-a", "res"]), "run\nrun\nfrom the host\n");
    assert!(!d.path("store/containers").join(&id).join("changes/work/work").read_dir().unwrap().any(|_| true));
    // A created container (never started) too.
    d.ok(&["create", "--name", "fresh", "busybox", "true"]);
    let fresh = d.id("fresh");
    d.ok(&["cp", "fresh:/etc/group", out.join("group").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("group")).unwrap(), "root:x:0:\nnobody:x:65534:\n");
    // `--rm` takes its layer with it; `rm` takes the others.
    d.ok(&["run", "--rm", "busybox", "sh", "-c", "echo x > /x"]);
    d.ok(&["rm", "res", "fresh"]);
    assert!(!layer.exists());
    d.assert_clean(&[id, fresh]);
}

/// `POST /exec/{id}/start` from a client that does not upgrade the connection (curl): the output comes as the
/// answer's body, which ends when the exec ends, and its exit code is recorded by then — as with dockerd.
#[test]
fn an_exec_started_without_an_upgrade_answers_with_its_output_and_records_its_exit() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "plain", "busybox", "sleep", "100"]);
    let socket = d.socket();
    let create = serde_json::json!({"AttachStdout": true, "AttachStderr": true,
        "Cmd": ["sh", "-c", "sleep 0.3; echo out; echo err >&2; exit 3"]});
    let r = http::once(&socket, "POST", "/containers/plain/exec", Some(create.to_string().as_bytes())).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let exec = r.json()["Id"].as_str().unwrap().to_string();
    let r = http::once(&socket, "POST", &format!("/exec/{exec}/start"), Some(b"{}")).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    // Multiplexed frames: [stream, 0, 0, 0, len (4 bytes, big endian)] + payload.
    let mut frames = Vec::new();
    let mut rest = r.body.as_slice();
    while rest.len() >= 8 {
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        frames.push((rest[0], String::from_utf8_lossy(&rest[8..8 + len]).into_owned()));
        rest = &rest[8 + len..];
    }
    frames.sort();
    assert_eq!(frames, [(1, "out\n".to_string()), (2, "err\n".to_string())], "{:?}", r.body);
    // The answer ended with the exec: it is not running and its code is known.
    let r = http::once(&socket, "GET", &format!("/exec/{exec}/json"), None).unwrap();
    let info = r.json();
    assert_eq!((info["Running"].as_bool(), info["ExitCode"].as_i64()), (Some(false), Some(3)), "{info}");
    d.ok(&["rm", "-f", "plain"]);
}
