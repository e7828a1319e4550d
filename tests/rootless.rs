//! containy run by an ordinary user: the `spec --rootless` OCI bundle through its whole life, the friendly
//! config, limits with and without a writable cgroup (v1 here, a delegated v2 subtree in the VM), pasta's
//! published ports, podman rootless with `--runtime containy`, and the lessons a user may take. Images, bad
//! input and security have their own files (rootless_images.rs, rootless_errors.rs, rootless_security.rs);
//! the test users and their leak check are in rootless_env/.

mod common;
mod rootless_env;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{CONTAINY, stderr, stdout};
use rootless_env::{Delegated, TestUser, is_cgroup_v2, processes_of, spec_bundle};

#[test]
fn the_spec_rootless_bundle_runs_and_lives_through_create_start_exec_kill_delete() {
    require_root!();
    for with_range in [true, false] {
        let mut user = TestUser::new(with_range);
        let b = spec_bundle(&user, &["sh", "-c", "id; cat /proc/self/uid_map"]);
        let id = user.id();
        let out = user.containy(&["run", "--bundle", b.to_str().unwrap(), &id]);
        let text = stdout(&out);
        assert!(out.status.success(), "run: {text} {}", stderr(&out));
        assert!(text.starts_with("uid=0(root) gid=0(root)"), "{text}");
        // spec --rootless maps only the caller, with or without a range.
        let map: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(map, ["0", &user.uid.to_string(), "1"], "{text}");
        user.assert_no_leaks();

        let b = spec_bundle(&user, &["sleep", "1000"]);
        let id = user.id();
        let (status, err) = user.containy_detached(&["create", "--bundle", b.to_str().unwrap(), &id]);
        assert!(status.success(), "create: {err}");
        let state: serde_json::Value = serde_json::from_slice(&user.containy(&["state", &id]).stdout).unwrap();
        assert_eq!(state["status"], "created");
        assert!(user.containy(&["start", &id]).status.success());
        let out = user.containy(&["exec", &id, "sh", "-c", "id -u; cat /proc/1/cmdline | tr '\\0' ' '"]);
        assert_eq!(stdout(&out), "0\nsleep 1000 ", "{}", stderr(&out));
        let out = user.containy(&["kill", &id, "KILL"]);
        assert!(out.status.success(), "kill: {}", stderr(&out));
        let out = user.containy(&["delete", "--force", &id]);
        assert!(out.status.success(), "delete: {}", stderr(&out));
        user.assert_no_leaks();
    }
}

#[test]
fn delete_force_removes_a_running_container_whose_upper_dir_holds_files_of_other_ids() {
    require_root!();
    let mut user = TestUser::new(true);
    let b = user.bundle("configy.toml", "[process]\nargs = [\"sleep\", \"1000\"]\n[rootfs]\npath = \"rootfs\"\n");
    let id = user.id();
    let (status, err) = user.containy_detached(&["create", "--bundle", b.to_str().unwrap(), &id]);
    assert!(status.success(), "create: {err}");
    assert!(user.containy(&["start", &id]).status.success());
    // Files of container uid 1000 (a subordinate id on the host) and a directory of mode 0 in the upper dir:
    // the user cannot remove them itself.
    let out = user.containy(&["exec", &id, "sh", "-c", "mkdir /tmp/d && chown 1000:1000 /tmp/d"]);
    assert!(out.status.success(), "exec: {}", stderr(&out));
    let out = user.containy(&["exec", "--user", "1000", &id, "sh", "-c", "touch /tmp/d/f && chmod 0 /tmp/d"]);
    assert!(out.status.success(), "exec --user 1000: {}", stderr(&out));
    let out = user.containy(&["exec", &id, "stat", "-c", "%u", "/tmp/d"]);
    assert_eq!(stdout(&out), "1000\n", "{}", stderr(&out));
    let out = user.containy(&["delete", "--force", &id]);
    assert!(out.status.success(), "delete --force: {}", stderr(&out));
    user.assert_no_leaks();
}

#[test]
fn the_friendly_config_runs_rootless_with_and_without_a_subuid_range() {
    require_root!();
    let config = "[process]\nargs = [\"/bin/sh\", \"-c\", \"id -u; wc -l < /proc/self/uid_map; echo hi > /tmp/x && \
                  cat /tmp/x; hostname\"]\n[rootfs]\npath = \"rootfs\"\n";
    for (with_range, lines) in [(true, "2"), (false, "1")] {
        let mut user = TestUser::new(with_range);
        let b = user.bundle("configy.toml", config);
        let id = user.id();
        let out = user.containy(&["run", "--bundle", b.to_str().unwrap(), &id]);
        assert_eq!(stdout(&out), format!("0\n{lines}\nhi\ncontainy\n"), "{}", stderr(&out));
        // Nothing asked for limits: no warning.
        assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
        // The overlay's writes went to the state dir, never into the user's rootfs.
        assert!(!b.join("rootfs/tmp/x").exists());
        user.assert_no_leaks();
    }
}

#[test]
fn limits_without_a_writable_cgroup_are_named_once_or_refused_with_strict_limits() {
    require_root!();
    if is_cgroup_v2() {
        eprintln!("skipped: cgroup v2 (the delegated case has its own test)");
        return;
    }
    let mut user = TestUser::new(true);
    let b = user.bundle(
        "configy.toml",
        "[process]\nargs = [\"true\"]\n[rootfs]\npath = \"rootfs\"\n[resources]\nmemory = \"64M\"\npids = 20\n",
    );
    let id = user.id();
    let out = user.containy(&["run", "--bundle", b.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    assert!(err.contains("NOT applied: memory, pids") && err.contains("cgroup v1"), "{err}");
    let id = user.id();
    let out = user.containy(&["run", "--strict-limits", "--bundle", b.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("--strict-limits: cannot apply memory, pids"), "{}", stderr(&out));
    // A limit the supervisor enforces (CPU, wall time, output) cannot be without a cgroup: refused by name.
    let id = user.id();
    let out = user.containy(&["run", "--wall-time", "5s", "--bundle", b.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("limits.wall_time: needs the container's cgroup"), "{}", stderr(&out));
    user.assert_no_leaks();
}

/// `containy lesson NAME` as the user, on the test busybox rootfs, with the lessons of this (root-owned)
/// checkout: the lesson works on a copy of its directory in its scratch dir.
fn lesson(user: &TestUser, name: &str) -> Command {
    let rootfs = common::busybox_rootfs().to_str().unwrap();
    lesson_on(user, name, &["--rootfs", rootfs])
}

/// [`lesson`] with other flags than `--rootfs` (none: the lessons' busybox base).
fn lesson_on(user: &TestUser, name: &str, flags: &[&str]) -> Command {
    let lessons = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/lessons");
    let id = format!("{}-lesson", user.name);
    let args = [&["lesson", name, "--dir", lessons.to_str().unwrap(), "--id", &id][..], flags].concat();
    user.command(&args, Some(&user.run_dir()))
}

#[test]
fn the_lessons_a_user_may_take_run_rootless_and_the_others_say_why_not() {
    require_root!();
    let user = TestUser::new(true);
    // These lessons run host tools the cgroup v2 VM does not have (procps' ps, util-linux's ipcmk, cc).
    if Path::new("/usr/bin/ipcmk").exists() && Path::new("/usr/bin/cc").exists() {
        // On the lessons' own busybox base: made in the user's data dir when the checkout is not the user's.
        let out = lesson_on(&user, "process", &[]).output().unwrap();
        let text = stdout(&out);
        assert!(out.status.success(), "lesson process: {text} {}", stderr(&out));
        assert!(text.contains("inside: my pid is 1\n"), "{text}");
        if !Path::new(env!("CARGO_MANIFEST_DIR")).join("bundle/busybox.tar.gz").exists() {
            assert!(user.home().join(".local/share/containy/busybox.tar.gz").is_file(), "{text}");
        }
        let nspid = text.lines().find_map(|l| l.strip_prefix("NSpid:")).unwrap_or_else(|| panic!("no NSpid:\n{text}"));
        assert_eq!(nspid.split_whitespace().nth(1), Some("1"), "{nspid}");

        let out = lesson(&user, "namespaces").output().unwrap();
        let text = stdout(&out);
        assert!(out.status.success(), "lesson namespaces: {text} {}", stderr(&out));
        assert!(text.contains("inside: hostname is namespaces-lesson\n"), "{text}");
        let map = format!("0 {} 1", user.uid);
        let own = text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == map);
        assert!(own, "the container's uid_map has the user as root: {text}");

        let out = lesson(&user, "privileges").output().unwrap();
        let text = stdout(&out);
        assert!(out.status.success(), "lesson privileges: {text} {}", stderr(&out));
        for refused in ["mount: permission denied", "/proc/keys has 0 bytes", "CapEff: 00000000800405fb"] {
            assert!(text.contains(refused), "{refused:?} not in:\n{text}");
        }
        let unshare: Vec<&str> = text.lines().filter(|l| l.contains("unshare(CLONE_NEWUSER)")).collect();
        assert!(unshare.len() == 2 && unshare[0].contains("EPERM"), "the default seccomp profile: {text}");
        assert!(text.contains("is not writable for you: using a copy"), "{text}");
    }

    // chroot(2) on the host needs root, whatever the cgroups.
    let out = lesson(&user, "filesystem").output().unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("lesson filesystem cannot run rootless: it runs chroot(2) on the host"), "{err}");
    // The limits lessons need a cgroup the user may write: never on v1, only a delegated subtree on v2.
    let why = if is_cgroup_v2() { "no cgroup v2 subtree is delegated to you" } else { "cgroup v1" };
    for name in ["cgroups", "limits"] {
        let out = lesson(&user, name).output().unwrap();
        assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("lesson {name} cannot run rootless")) && err.contains(why), "{err}");
    }
    if is_cgroup_v2() {
        // With a subtree delegated as systemd does, the cgroups lesson runs into its limits rootless.
        let delegated = Delegated::new(&user);
        let out = delegated.in_session(&user, &lesson(&user, "cgroups")).output().unwrap();
        let text = stdout(&out);
        assert!(out.status.success(), "lesson cgroups: {text} {}", stderr(&out));
        assert!(text.contains("pids.max in this cgroup: 10") && text.contains("tasks in the cgroup now: 9"), "{text}");
        assert!(text.contains("killed by the OOM killer"), "{text}");
        drop(delegated);
    }
    let state = user.run_dir().join("containy");
    let left: Vec<_> = std::fs::read_dir(&state).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "lesson containers left state: {left:?}");
    user.assert_no_leaks();
}

#[test]
fn podman_rootless_runs_execs_stops_and_logs_with_containy() {
    require_root!();
    if !Path::new("/usr/bin/podman").exists() && is_cgroup_v2() {
        eprintln!("skipped: no podman in the cgroup v2 VM");
        return;
    }
    assert!(Path::new("/usr/bin/podman").exists(), "podman is not installed: install.sh installs it");
    let user = TestUser::new(true);
    let home = user.home();
    std::fs::write(
        home.join("containers.conf"),
        format!(
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
             runtime_supports_json = [\"crun\", \"runc\", \"containy\"]\n\
             runtime_supports_nocgroup = [\"crun\", \"containy\"]\n[engine.runtimes]\ncontainy = [{CONTAINY:?}]\n"
        ),
    )
    .unwrap();
    let tarball = home.join("busybox.tar");
    let tar = Command::new("tar").arg("-C").arg(common::busybox_rootfs()).arg("-cf").arg(&tarball).arg(".").output();
    assert!(tar.unwrap().status.success(), "tar of the busybox rootfs");
    user.chown_tree(home);
    let podman = |args: &[&str]| -> Output {
        let mut cmd = Command::new("/usr/bin/setpriv");
        cmd.arg(format!("--reuid={}", user.uid))
            .arg(format!("--regid={}", user.gid))
            .args(["--init-groups", "--", "podman", "--root"])
            .arg(home.join("storage"))
            .arg("--runroot")
            .arg(home.join("podman-run"))
            .args(["--storage-driver", "vfs", "--runtime", "containy"])
            .args(args)
            .env_clear()
            .env("HOME", home)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("XDG_RUNTIME_DIR", user.run_dir())
            .env("CONTAINERS_CONF", home.join("containers.conf"))
            .current_dir(home)
            .stdin(Stdio::null());
        cmd.output().expect("run podman as the test user")
    };
    let image = "localhost/rootless-busybox:1";
    let out = podman(&["import", tarball.to_str().unwrap(), image]);
    assert!(out.status.success(), "podman import: {}", stderr(&out));

    let out = podman(&["run", "--rm", "--network", "none", image, "sh", "-c", "id -u; wc -l < /proc/self/uid_map"]);
    assert_eq!(stdout(&out), "0\n2\n", "{}", stderr(&out));

    let name = format!("{}-pod", user.name);
    let script = "echo started; trap 'echo bye; exit 3' TERM; while true; do sleep 0.1; done";
    let out = podman(&["run", "-d", "--name", &name, "--network", "none", image, "sh", "-c", script]);
    assert!(out.status.success(), "podman run -d: {}", stderr(&out));
    let out = podman(&["exec", &name, "sh", "-c", "id -u; cat /proc/1/cmdline | tr '\\0' ' '"]);
    assert_eq!(stdout(&out), format!("0\nsh -c {script} "), "{}", stderr(&out));
    let out = podman(&["stop", "-t", "20", &name]);
    assert!(out.status.success(), "podman stop: {}", stderr(&out));
    let out = podman(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
    assert_eq!(stdout(&out).trim(), "3", "the TERM trap ran: {}", stderr(&out));
    let out = podman(&["logs", &name]);
    assert_eq!(stdout(&out), "started\nbye\n", "{}", stderr(&out));
    let out = podman(&["rm", &name]);
    assert!(out.status.success(), "podman rm: {}", stderr(&out));

    // containy's state for podman's containers is gone; podman's own pause process (it holds podman's user
    // namespace) is podman's, not a container's: end it before the leak check.
    let state = user.run_dir().join("containy");
    let left: Vec<_> = std::fs::read_dir(&state).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "containy state left: {left:?}");
    let _ = std::fs::remove_file(rootless_env::podman_lock(user.uid));
    let pause = std::fs::read_to_string(user.run_dir().join("libpod/tmp/pause.pid")).unwrap_or_default();
    if let Ok(pid) = pause.trim().parse() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        // Wait for the kill to land (it is reaped by PID 1); a leak would show in the check below.
        for _ in 0..200 {
            if !processes_of(user.uid).contains(&pid) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    user.assert_no_leaks();
}

#[test]
fn a_published_port_is_answered_on_127_0_0_1_through_pasta() {
    require_root!();
    if !Path::new("/usr/bin/pasta").exists() && is_cgroup_v2() {
        eprintln!("skipped: no pasta in the cgroup v2 VM");
        return;
    }
    let mut user = TestUser::new(true);
    let b = user.bundle(
        "configy.toml",
        "[process]\nargs = [\"/bin/sh\", \"-c\", \"mkdir /tmp/www && echo hello-rootless > /tmp/www/index.html && \
         exec httpd -f -p 80 -h /tmp/www\"]\n[rootfs]\npath = \"rootfs\"\n",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let publish = format!("127.0.0.1:{port}:80");
    let id = user.id();
    let mut child = user
        .command(
            &["run", "--bundle", b.to_str().unwrap(), "--net", "bridge", "-p", &publish, &id],
            Some(&user.run_dir()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut answer = String::new();
    for _ in 0..300 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("containy ended ({status}) before answering: {}", stderr(&child.wait_with_output().unwrap()));
        }
        if let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = conn.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
            answer.clear();
            let _ = conn.read_to_string(&mut answer);
            if answer.contains("hello-rootless") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let killed = user.containy(&["kill", &id, "KILL"]);
    let out = child.wait_with_output().unwrap();
    assert!(answer.contains("200 OK") && answer.contains("hello-rootless"), "{answer:?} {}", stderr(&out));
    assert!(killed.status.success(), "kill: {}", stderr(&killed));
    // pasta runs as the user: the leak check finds it if it outlived the container.
    user.assert_no_leaks();
}

#[test]
fn on_cgroup_v2_a_delegated_subtree_gives_rootless_containers_their_limits() {
    require_root!();
    if !is_cgroup_v2() {
        eprintln!("skipped: needs cgroup v2 (make test-cgroup2 runs it in the VM)");
        return;
    }
    let mut user = TestUser::new(true);
    let delegated = Delegated::new(&user);
    // containy starts in the user's session cgroup, as a login shell would.
    let run = |user: &mut TestUser, resources: &str, script: &str| -> (String, Output) {
        let b = user.bundle(
            "configy.toml",
            &format!("[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n[rootfs]\npath = \"rootfs\"\n[resources]\n{resources}\n"),
        );
        let id = user.id();
        let inner = user.command(&["run", "--bundle", b.to_str().unwrap(), &id], Some(&user.run_dir()));
        (id, delegated.in_session(user, &inner).output().unwrap())
    };
    let (id, out) = run(
        &mut user,
        "pids = 10",
        // The count uses shell builtins only: past the limit, the shell cannot fork.
        "sh -c 'for i in $(seq 30); do sleep 30 & done' 2>/dev/null; set -- /proc/[0-9]*; echo $#; kill -9 -1",
    );
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text} {}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "the limit was applied: {}", stderr(&out));
    let count: usize = lines[0].parse().unwrap();
    assert!((2..=10).contains(&count), "pids = 10 held: {count} processes");
    assert!(!delegated.dir.join(format!("containy-{id}")).exists());

    let (_, out) = run(&mut user, "memory = \"16M\"", "tail /dev/zero");
    assert_eq!(out.status.code(), Some(137), "the memory limit held: {}", stderr(&out));
    assert!(stderr(&out).contains("OOM"), "{}", stderr(&out));
    user.assert_no_leaks();
    drop(delegated);
}
