//! containy run by an ordinary user. Each test creates its own user (`useradd`, with or without an
//! `/etc/subuid`/`/etc/subgid` range; removed again by a Drop guard), gives it a home and an
//! `XDG_RUNTIME_DIR` it owns, and runs the real binary as that user (`setpriv --reuid --regid --init-groups`,
//! the environment given exactly). Every test ends with the leak check: no mount under the user's
//! directories, no state directory, no cgroup directory, no process of the user left.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{CONTAINY, stderr, stdout};

static USERS: AtomicUsize = AtomicUsize::new(0);

/// A user made for one test, with a home (`dir`) and a runtime dir (`dir/run`, mode 0700) it owns.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    dir: tempfile::TempDir,
    ids: Vec<String>,
}

impl TestUser {
    fn new(with_range: bool) -> TestUser {
        let n = USERS.fetch_add(1, Ordering::SeqCst);
        let name = format!("crl{}x{n}", std::process::id());
        // useradd gives ranges only where the files exist (the cgroup v2 VM starts without them).
        for file in ["/etc/subuid", "/etc/subgid"] {
            // Append, never truncate: another test's useradd may be writing its range right now.
            std::fs::OpenOptions::new().create(true).append(true).open(file).unwrap();
        }
        let mut cmd = Command::new("useradd");
        cmd.args(["--no-create-home", "--shell", "/bin/sh", "--user-group"]);
        if !with_range {
            cmd.args(["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"]);
        }
        let out = cmd.arg(&name).output().expect("run useradd");
        assert!(out.status.success(), "useradd {name}: {}", stderr(&out));
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().unwrap();
            stdout(&out).trim().parse().unwrap()
        };
        let dir = tempfile::Builder::new().prefix("containy-rootless-").tempdir().unwrap();
        let user = TestUser { uid: id("-u"), gid: id("-g"), name, dir, ids: Vec::new() };
        if with_range {
            assert!(user.has_range(), "useradd gave {} no /etc/subuid range", user.name);
        } else {
            assert!(!user.has_range(), "{} has a /etc/subuid range", user.name);
        }
        std::fs::create_dir(user.run_dir()).unwrap();
        std::fs::set_permissions(user.run_dir(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        user.chown(user.home());
        user.chown(&user.run_dir());
        user
    }

    fn has_range(&self) -> bool {
        let text = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
        text.lines().any(|l| l.split(':').next() == Some(self.name.as_str()))
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }

    fn run_dir(&self) -> PathBuf {
        self.home().join("run")
    }

    fn chown(&self, path: &Path) {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).unwrap();
    }

    /// `chown -R` (the test's files become the user's).
    fn chown_tree(&self, path: &Path) {
        self.chown(path);
        if path.is_dir() && !path.is_symlink() {
            for e in std::fs::read_dir(path).unwrap().flatten() {
                self.chown_tree(&e.path());
            }
        } else if path.is_symlink() {
            std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid)).unwrap();
        }
    }

    /// A unique container id, remembered for the leak check.
    fn id(&mut self) -> String {
        let id = format!("{}-{}", self.name, self.ids.len());
        self.ids.push(id.clone());
        id
    }

    /// `containy ARGS…` as this user, with exactly HOME, PATH and XDG_RUNTIME_DIR (`runtime_dir: None`:
    /// unset).
    fn command(&self, args: &[&str], runtime_dir: Option<&Path>) -> Command {
        let mut cmd = Command::new("/usr/bin/setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(CONTAINY)
            .args(args)
            .env_clear()
            .env("HOME", self.home())
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .current_dir(self.home())
            .stdin(Stdio::null());
        if let Some(dir) = runtime_dir {
            cmd.env("XDG_RUNTIME_DIR", dir);
        }
        cmd
    }

    fn containy(&self, args: &[&str]) -> Output {
        self.command(args, Some(&self.run_dir())).output().expect("run containy as the test user")
    }

    /// `containy ARGS…` whose container outlives it (`create`): its output goes to files, not to pipes the
    /// container would hold open. Returns the exit status and what it wrote to stderr.
    fn containy_detached(&self, args: &[&str]) -> (std::process::ExitStatus, String) {
        let log = self.home().join("detached.err");
        let status = self
            .command(args, Some(&self.run_dir()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .status()
            .expect("run containy as the test user");
        (status, std::fs::read_to_string(&log).unwrap_or_default())
    }

    /// A bundle directory of the user's with `rootfs/` (busybox, owned by the user) and `file` = `text`.
    fn bundle(&self, file: &str, text: &str) -> PathBuf {
        let b = self.home().join(format!("bundle{}", self.ids.len()));
        std::fs::create_dir(&b).unwrap();
        common::make_busybox_rootfs(&b.join("rootfs"));
        if !file.is_empty() {
            std::fs::write(b.join(file), text).unwrap();
        }
        self.chown_tree(&b);
        b
    }

    /// Nothing of this user's containers is left: mounts, state dirs, cgroup dirs, processes.
    fn assert_no_leaks(&self) {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let home = self.home().display().to_string();
        let leaked: Vec<_> = mountinfo.lines().filter(|l| l.contains(&home)).collect();
        assert!(leaked.is_empty(), "leaked mounts: {leaked:#?}");
        for id in &self.ids {
            let state = self.run_dir().join("containy").join(id);
            assert!(!state.exists(), "leaked state dir {}", state.display());
            let cgroups = common::cgroup_dirs_named(id);
            assert!(cgroups.is_empty(), "leaked cgroup dirs {cgroups:?}");
        }
        let procs = processes_of(self.uid);
        assert!(procs.is_empty(), "processes of {} left: {procs:?}", self.name);
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // A failed test may leave a container: kill what runs as this user (its own processes only).
        for pid in processes_of(self.uid) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        for id in &self.ids {
            let _ = self.containy(&["delete", "--force", id]);
        }
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// Live host pids owned by `uid` (a killed container's init is reparented to PID 1, which reaps it in its
/// own time: a zombie holds nothing but its pid, and is not counted).
fn processes_of(uid: u32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let zombie = status.lines().any(|l| l.starts_with("State:") && l.contains('Z'));
        if entry.metadata().is_ok_and(|m| m.uid() == uid) && !zombie {
            found.push(pid);
        }
    }
    found
}

/// The spec --rootless bundle with `args` instead of `sh` and no terminal.
fn spec_bundle(user: &TestUser, args: &[&str]) -> PathBuf {
    let b = user.bundle("", "");
    let out = user.containy(&["spec", "--rootless", "--bundle", b.to_str().unwrap()]);
    assert!(out.status.success(), "spec --rootless: {}", stderr(&out));
    let path = b.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["process"]["args"] = serde_json::json!(args);
    spec["process"]["terminal"] = false.into();
    std::fs::write(&path, spec.to_string()).unwrap();
    b
}

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

#[test]
fn bad_input_gets_a_clear_error_and_leaves_nothing() {
    require_root!();
    let mut user = TestUser::new(false);
    let b = user.bundle("configy.toml", "[process]\nargs = [\"true\"]\n[rootfs]\npath = \"rootfs\"\n");
    let bundle = b.to_str().unwrap().to_string();
    let id = user.id();
    let expect = |out: Output, words: &[&str]| {
        assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
        let err = stderr(&out);
        for w in words {
            assert!(err.contains(w), "{w:?} not in: {err}");
        }
    };
    // No XDG_RUNTIME_DIR.
    expect(
        user.command(&["run", "--bundle", &bundle, &id], None).output().unwrap(),
        &["XDG_RUNTIME_DIR is not set", "--root"],
    );
    // One that belongs to someone else.
    expect(
        user.command(&["run", "--bundle", &bundle, &id], Some(Path::new("/tmp"))).output().unwrap(),
        &["XDG_RUNTIME_DIR=/tmp is owned by uid 0"],
    );
    // A uid that does not exist without a range.
    expect(
        user.containy(&["run", "--bundle", &bundle, "--user", "1000", &id]),
        &["process uid 1000 is not mapped", "usermod --add-subuids"],
    );
    // A named bridge network (the default one becomes pasta's user-mode network).
    expect(
        user.containy(&["run", "--bundle", &bundle, "--net", "backend", &id]),
        &["named bridge network needs root", "pasta"],
    );
    // An OCI map beyond the user's own id.
    let spec = spec_bundle(&user, &["true"]);
    let path = spec.join("config.json");
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json["linux"]["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": 0, "size": 1}]);
    std::fs::write(&path, json.to_string()).unwrap();
    expect(
        user.containy(&["run", "--bundle", spec.to_str().unwrap(), &id]),
        &["linux.uidMappings: host ids 0..1", "grants you no range"],
    );
    assert!(!user.run_dir().join("containy").join(&id).exists());
    user.assert_no_leaks();
}

/// A root filesystem tarball whose `/home/u/file` belongs to uid 1000 and the rest to root.
fn owned_tarball(path: &Path) {
    let rootfs = tempfile::tempdir().unwrap();
    common::make_busybox_rootfs(rootfs.path());
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    b.follow_symlinks(false);
    b.append_dir_all(".", rootfs.path()).unwrap();
    for (name, kind, uid) in [("home/", tar::EntryType::Directory, 0), ("home/u/", tar::EntryType::Directory, 1000)] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o755);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_size(0);
        b.append_data(&mut h, name, std::io::empty()).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_size(5);
    b.append_data(&mut h, "home/u/file", &b"mine\n"[..]).unwrap();
    b.finish().unwrap();
}

#[test]
fn an_imported_image_keeps_its_owners_and_build_runs_rootless() {
    require_root!();
    let mut user = TestUser::new(true);
    let tar = user.home().join("own.tar");
    owned_tarball(&tar);
    user.chown(&tar);
    let out = user.containy(&["image", "import", "own:1", tar.to_str().unwrap()]);
    assert!(out.status.success(), "import: {}", stderr(&out));
    let id = user.id();
    let out = user.containy(&["run", "--image", "own:1", &id, "--", "stat", "-c", "%u:%g %n", "/home/u/file", "/bin"]);
    assert_eq!(stdout(&out), "1000:1000 /home/u/file\n0:0 /bin\n", "{}", stderr(&out));
    // On the host the file belongs to the user's subordinate id 999 above the range start.
    let range: u32 = std::fs::read_to_string("/etc/subuid")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{}:", user.name)).and_then(|r| r.split(':').next()?.parse().ok()))
        .unwrap();
    let store = user.home().join(".local/share/containy/layers");
    let layer = std::fs::read_dir(&store).unwrap().flatten().next().unwrap().path();
    assert_eq!(std::fs::metadata(layer.join("diff/home/u/file")).unwrap().uid(), range + 999);

    let ctx = user.home().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Containyfile"),
        "FROM own:1\nRUN mkdir /home/v && chown 1000:1000 /home/v\nUSER 1000\nRUN id -u > /home/v/who\n\
         CMD [\"sh\", \"-c\", \"cat /home/v/who; stat -c %u /home/v/who\"]\n",
    )
    .unwrap();
    user.chown_tree(&ctx);
    let out = user.containy(&["build", "-t", "built:1", ctx.to_str().unwrap()]);
    assert!(out.status.success(), "build: {} {}", stdout(&out), stderr(&out));
    let id = user.id();
    let out = user.containy(&["run", "--image", "built:1", &id]);
    assert_eq!(stdout(&out), "1000\n1000\n", "{}", stderr(&out));
    // rm + prune give the store back, subordinate-owned files included.
    assert!(user.containy(&["image", "rm", "own:1", "built:1"]).status.success());
    let out = user.containy(&["image", "prune"]);
    assert!(out.status.success(), "prune: {}", stderr(&out));
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 0);
    user.assert_no_leaks();
}

#[test]
fn rootless_security_masked_paths_capabilities_seccomp_fds_and_host_files() {
    require_root!();
    let mut user = TestUser::new(true);
    // A host directory only root may write, bound into the container: root inside is the user outside.
    let host = user.home().join("hostdir");
    std::fs::create_dir(&host).unwrap();
    let script = "cat /proc/kcore | wc -c; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; \
                  ls /proc/self/fd | tr '\\n' ' '; echo; touch /host/f 2>/dev/null && echo wrote || echo denied; \
                  mount -t tmpfs x /mnt 2>/dev/null && echo mounted || echo no-mount";
    let b = user.bundle(
        "configy.toml",
        &format!(
            "[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n[rootfs]\npath = \"rootfs\"\n\
             [[mounts]]\nsource = {:?}\ndestination = \"/host\"\n",
            host.display()
        ),
    );
    let id = user.id();
    let out = user.containy(&["run", "--bundle", b.to_str().unwrap(), &id]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text} {}", stderr(&out));
    assert_eq!(lines[0], "0", "/proc/kcore is masked");
    assert_eq!(lines[1], "CapEff:\t00000000800405fb", "the default capability set");
    assert_eq!(lines[2], "NoNewPrivs:\t1");
    assert_eq!(lines[3], "Seccomp:\t2", "the default seccomp filter");
    assert_eq!(lines[4].trim(), "0 1 2 3", "only stdio (and ls's own directory fd)");
    assert_eq!(lines[5], "denied", "root inside may not write a root-owned host directory");
    assert_eq!(lines[6], "no-mount");
    assert!(std::fs::read_dir(&host).unwrap().next().is_none());
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

fn is_cgroup_v2() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// A cgroup v2 subtree delegated to a user the way systemd delegates `user@UID.service`: the directory and
/// its `cgroup.procs`, `cgroup.subtree_control` and `cgroup.threads` are the user's, memory and pids are
/// enabled for its children, and the user's processes start in a leaf below it (`session`).
struct Delegated {
    dir: PathBuf,
}

impl Delegated {
    fn new(user: &TestUser) -> Delegated {
        let dir = Path::new("/sys/fs/cgroup").join(format!("containy-rl-{}", user.name));
        std::fs::create_dir(&dir).unwrap();
        let delegated = Delegated { dir };
        std::fs::write(delegated.dir.join("cgroup.subtree_control"), "+memory +pids").unwrap();
        std::fs::create_dir(delegated.session()).unwrap();
        for path in [
            delegated.dir.clone(),
            delegated.dir.join("cgroup.procs"),
            delegated.dir.join("cgroup.subtree_control"),
            delegated.dir.join("cgroup.threads"),
            delegated.session(),
            delegated.session().join("cgroup.procs"),
        ] {
            user.chown(&path);
        }
        delegated
    }

    fn session(&self) -> PathBuf {
        self.dir.join("session")
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        for dir in [self.session(), self.dir.join("containy"), self.dir.clone()] {
            let _ = std::fs::remove_dir(dir);
        }
    }
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
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("echo $$ > \"$0/cgroup.procs\" && exec \"$@\"")
            .arg(delegated.session())
            .arg(inner.get_program())
            .args(inner.get_args())
            .env_clear()
            .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .current_dir(user.home())
            .stdin(Stdio::null());
        (id, cmd.output().unwrap())
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
    assert!(!delegated.dir.join("containy").join(&id).exists());

    let (_, out) = run(&mut user, "memory = \"16M\"", "tail /dev/zero");
    assert_eq!(out.status.code(), Some(137), "the memory limit held: {}", stderr(&out));
    assert!(stderr(&out).contains("OOM"), "{}", stderr(&out));
    user.assert_no_leaks();
    drop(delegated);
}

#[test]
fn without_newuidmap_a_subuid_range_cannot_be_mapped_and_the_error_says_what_to_install() {
    require_root!();
    let mut user = TestUser::new(true);
    let b = user.bundle("configy.toml", "[process]\nargs = [\"true\"]\n[rootfs]\npath = \"rootfs\"\n");
    let id = user.id();
    // containy finds newuidmap through PATH: here there is none.
    let out = user
        .command(&["run", "--bundle", b.to_str().unwrap(), &id], Some(&user.run_dir()))
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot run newuidmap") && stderr(&out).contains("apt-get install uidmap"),
        "{}",
        stderr(&out)
    );
    user.assert_no_leaks();
}
