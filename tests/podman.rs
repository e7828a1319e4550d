//! End to end through a real engine: podman drives containy (`--runtime containy`) the way it drives runc
//! — create/start through conmon, exec, stop, pause, update, logs, a terminal — and every scenario runs
//! again with runc, the reference, so a difference is containy's bug and not the scenario's.
//!
//! podman gets a private world: its own storage (`vfs`, so no overlay mounts to leak) and run root under
//! /tmp, its own containers.conf (`CONTAINERS_CONF`), and an image imported from the busybox rootfs the
//! tests build. Containers use `--network none`: the host's firewall and interfaces are never touched.
//! After each scenario the container is removed and nothing of it may remain: no runtime state dir, no
//! cgroup directory, no mount naming it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{stderr, stdout};

const IMAGE: &str = "localhost/containy-test-busybox:latest";

/// The private podman world shared by every test in this binary.
struct World {
    dir: PathBuf,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        assert!(
            Path::new("/usr/bin/podman").exists(),
            "podman is not installed: install.sh installs it (apt-get install podman)"
        );
        common::remove_stale("containy-podman-");
        let dir = std::env::temp_dir().join(format!("containy-podman-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        common::remove_at_exit(&dir);
        // What TESTING.md says podman 4.3 needs, with containy as a named runtime.
        let conf = format!(
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
             runtime_supports_json = [\"crun\", \"runc\", \"containy\"]\n\
             runtime_supports_nocgroup = [\"crun\", \"containy\"]\n\
             [engine.runtimes]\ncontainy = [{:?}]\n",
            common::CONTAINY
        );
        std::fs::write(dir.join("containers.conf"), conf).unwrap();
        let tarball = dir.join("busybox.tar");
        let tar =
            Command::new("tar").arg("-C").arg(common::busybox_rootfs()).arg("-cf").arg(&tarball).arg(".").output();
        assert!(tar.unwrap().status.success(), "tar of the busybox rootfs");
        let world = World { dir };
        let out = world.podman(&["import", tarball.to_str().unwrap(), IMAGE]);
        assert!(out.status.success(), "podman import: {}", stderr(&out));
        world
    })
}

impl World {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("podman");
        cmd.arg("--root")
            .arg(self.dir.join("storage"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .stdin(Stdio::null());
        cmd
    }

    fn podman(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run podman")
    }
}

/// One scenario's container, under one runtime. Dropping it removes the container and checks that
/// nothing of it is left.
struct Ctr {
    runtime: &'static str,
    name: String,
}

impl Ctr {
    fn new(runtime: &'static str, scenario: &str) -> Ctr {
        let name = format!("{scenario}-{runtime}-{}", std::process::id());
        Ctr { runtime, name }
    }

    /// `podman --runtime R ARGS…`
    fn podman(&self, args: &[&str]) -> Output {
        let mut all = vec!["--runtime", self.runtime];
        all.extend_from_slice(args);
        world().podman(&all)
    }

    /// `podman run --name N --network none EXTRA… IMAGE CMD…`
    fn run(&self, extra: &[&str], cmd: &[&str]) -> Output {
        let mut args = vec!["run", "--name", &self.name, "--network", "none"];
        args.extend_from_slice(extra);
        args.push(IMAGE);
        args.extend_from_slice(cmd);
        self.podman(&args)
    }

    /// Run detached and return once podman says it runs.
    fn start_detached(&self, extra: &[&str], cmd: &[&str]) {
        let mut all = vec!["-d"];
        all.extend_from_slice(extra);
        let out = self.run(&all, cmd);
        assert!(out.status.success(), "{}: run -d: {}", self.runtime, stderr(&out));
    }

    fn inspect(&self, format: &str) -> String {
        let out = self.podman(&["inspect", "--format", format, &self.name]);
        assert!(out.status.success(), "inspect: {}", stderr(&out));
        stdout(&out).trim().to_string()
    }

    /// The output of `podman exec N CMD…`, which must succeed.
    fn exec(&self, cmd: &[&str]) -> String {
        let mut args = vec!["exec", &self.name];
        args.extend_from_slice(cmd);
        let out = self.podman(&args);
        assert!(out.status.success(), "{}: exec {cmd:?}: {}", self.runtime, stderr(&out));
        stdout(&out)
    }

    fn wait_status(&self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = self.inspect("{{.State.Status}}");
            if status == want {
                return;
            }
            assert!(Instant::now() < deadline, "{}: status {status}, waited for {want}", self.runtime);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let id = self.podman(&["inspect", "--format", "{{.Id}}", &self.name]);
        let id = stdout(&id).trim().to_string();
        let rm = self.podman(&["rm", "--force", "--time", "0", &self.name]);
        if std::thread::panicking() || id.is_empty() {
            return;
        }
        assert!(rm.status.success(), "podman rm: {}", stderr(&rm));
        let state_root = if self.runtime == "containy" { "/run/containy" } else { "/run/runc" };
        assert!(!Path::new(state_root).join(&id).exists(), "{}: runtime state of {id} left behind", self.runtime);
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mountinfo.contains(&id), "{}: a mount of {id} left behind", self.runtime);
        let cgroups = Command::new("find")
            .args(["/sys/fs/cgroup", "-maxdepth", "4", "-name"])
            .arg(format!("*{id}*"))
            .output()
            .unwrap();
        let found = stdout(&cgroups);
        assert!(found.trim().is_empty(), "{}: cgroup dirs left behind: {found}", self.runtime);
    }
}

fn root() -> bool {
    let root = common::is_root();
    if !root {
        eprintln!("skipped: requires root");
    }
    root
}

/// Every scenario, once with containy and once with runc.
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod containy {
            $(#[test] fn $name() { if super::root() { super::$name("containy"); } })*
        }
        mod runc {
            $(#[test] fn $name() { if super::root() { super::$name("runc"); } })*
        }
    };
}

scenarios!(
    run_rm_echo,
    exit_codes_reach_the_caller,
    detached_exec_and_graceful_stop,
    stop_kills_after_the_timeout,
    pause_and_unpause,
    memory_and_pids_limits_are_visible_inside,
    user_1000,
    read_only_root,
    volumes_rw_and_ro,
    cap_drop_all,
    interactive_terminal,
    logs_kill_and_restart,
    ps_top_and_stats,
    hostname,
    update_changes_limits,
    device,
);

fn run_rm_echo(runtime: &'static str) {
    let c = Ctr::new(runtime, "echo");
    let out = c.run(&["--rm"], &["echo", "hello from", runtime]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("hello from {runtime}\n"));
}

fn exit_codes_reach_the_caller(runtime: &'static str) {
    for (scenario, cmd, code, phrase) in [
        ("exit3", vec!["sh", "-c", "exit 3"], 3, ""),
        ("notexec", vec!["/etc/passwd"], 126, "permission denied"),
        ("notfound", vec!["no-such-program"], 127, "executable file not found"),
    ] {
        let c = Ctr::new(runtime, scenario);
        let out = c.run(&["--rm"], &cmd);
        assert_eq!(out.status.code(), Some(code), "{runtime} {cmd:?}: {}", stderr(&out));
        assert!(stderr(&out).to_lowercase().contains(phrase), "{runtime} {cmd:?}: {}", stderr(&out));
    }
}

fn detached_exec_and_graceful_stop(runtime: &'static str) {
    let c = Ctr::new(runtime, "graceful");
    // PID 1 with a TERM handler: stop ends it at once with the handler's exit code.
    c.start_detached(&[], &["sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done"]);
    // exec joins the container's PID namespace: its PID 1 is the container's shell.
    assert_eq!(c.exec(&["cat", "/proc/1/comm"]), "sh\n");
    // conmon reaps the exec'd process itself: its exit code must reach podman.
    let out = c.podman(&["exec", &c.name, "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let started = Instant::now();
    let out = c.podman(&["stop", "--time", "20", &c.name]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(10), "TERM was not delivered: stop waited for the timeout");
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "7");
}

fn stop_kills_after_the_timeout(runtime: &'static str) {
    let c = Ctr::new(runtime, "stopkill");
    // PID 1 of a PID namespace without a handler ignores TERM: stop must fall back to KILL.
    c.start_detached(&[], &["sleep", "300"]);
    let out = c.podman(&["stop", "--time", "1", &c.name]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "137");
}

fn pause_and_unpause(runtime: &'static str) {
    let c = Ctr::new(runtime, "pause");
    c.start_detached(&[], &["sleep", "300"]);
    let out = c.podman(&["pause", &c.name]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(c.inspect("{{.State.Status}}"), "paused");
    let out = c.podman(&["unpause", &c.name]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(c.inspect("{{.State.Status}}"), "running");
    assert_eq!(c.exec(&["echo", "awake"]), "awake\n");
}

/// Reads a limit from the v2 file or the v1 one, whichever this kernel has.
const LIMITS: &str = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
                      cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max";

fn memory_and_pids_limits_are_visible_inside(runtime: &'static str) {
    let c = Ctr::new(runtime, "limits");
    let out = c.run(&["--rm", "--memory", "64m", "--pids-limit", "50"], &["sh", "-c", LIMITS]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "67108864\n50\n");
}

fn update_changes_limits(runtime: &'static str) {
    let c = Ctr::new(runtime, "update");
    c.start_detached(&["--memory", "64m"], &["sleep", "300"]);
    let out = c.podman(&["update", "--memory", "128m", "--cpu-quota", "50000", &c.name]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cpu = "cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us";
    let memory = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes";
    assert_eq!(c.exec(&["sh", "-c", memory]), "134217728\n");
    assert!(c.exec(&["sh", "-c", cpu]).starts_with("50000"), "the CPU quota changed");
}

fn user_1000(runtime: &'static str) {
    let c = Ctr::new(runtime, "user");
    let out = c.run(&["--rm", "--user", "1000:1000"], &["sh", "-c", "id -u; id -g; touch /root/x 2>&1 || echo denied"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("1000\n1000\n") && text.ends_with("denied\n"), "{text}");
}

fn read_only_root(runtime: &'static str) {
    let c = Ctr::new(runtime, "readonly");
    let script = "touch /x 2>/dev/null && echo rw || echo ro; echo ok > /tmp/t && cat /tmp/t; cat /etc/base-file";
    let out = c.run(&["--rm", "--read-only"], &["sh", "-c", script]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ro\nok\nfrom the base\n");
}

fn volumes_rw_and_ro(runtime: &'static str) {
    let rw = tempfile::tempdir().unwrap();
    let ro = tempfile::tempdir().unwrap();
    std::fs::write(ro.path().join("given"), "from the host\n").unwrap();
    let c = Ctr::new(runtime, "volumes");
    let v_rw = format!("{}:/data", rw.path().display());
    let v_ro = format!("{}:/config:ro", ro.path().display());
    let script = "echo written > /data/out; cat /config/given; touch /config/x 2>/dev/null && echo rw || echo ro";
    let out = c.run(&["--rm", "-v", &v_rw, "-v", &v_ro], &["sh", "-c", script]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "from the host\nro\n");
    assert_eq!(std::fs::read_to_string(rw.path().join("out")).unwrap(), "written\n");
    assert!(!ro.path().join("x").exists());
}

fn cap_drop_all(runtime: &'static str) {
    let c = Ctr::new(runtime, "capdrop");
    let out = c.run(&["--rm", "--cap-drop", "ALL"], &["sh", "-c", "grep -E '^Cap(Eff|Bnd)' /proc/self/status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n");
}

fn interactive_terminal(runtime: &'static str) {
    let c = Ctr::new(runtime, "tty");
    // `script` gives podman a terminal of its own, as a user's shell would.
    let podman = world().command(&[]).get_program().to_owned();
    let mut line = vec![podman.to_string_lossy().into_owned()];
    let base = world().command(&["--runtime", runtime, "run", "-it", "--rm", "--name", &c.name, "--network", "none"]);
    line.extend(base.get_args().map(|a| a.to_string_lossy().into_owned()));
    line.extend([IMAGE.to_string(), "sh".into(), "-c".into(), "sleep 1; tty; echo done".into()]);
    let out = Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .env("CONTAINERS_CONF", world().dir.join("containers.conf"))
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    let text = stdout(&out).replace('\r', "");
    assert!(out.status.success(), "{text} {}", stderr(&out));
    assert!(text.contains("/dev/pts/0\n"), "the program has a terminal: {text:?}");
    assert!(text.contains("done\n"), "{text:?}");
}

fn logs_kill_and_restart(runtime: &'static str) {
    let c = Ctr::new(runtime, "logs");
    c.start_detached(&[], &["sh", "-c", "echo started; exec sleep 300"]);
    let out = c.podman(&["kill", &c.name]);
    assert!(out.status.success(), "{}", stderr(&out));
    c.wait_status("exited");
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "137");
    let out = c.podman(&["restart", "--time", "1", &c.name]);
    assert!(out.status.success(), "{}", stderr(&out));
    c.wait_status("running");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = c.podman(&["logs", &c.name]);
        if stdout(&logs) == "started\nstarted\n" {
            break;
        }
        assert!(Instant::now() < deadline, "logs after a restart: {:?}", stdout(&logs));
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ps_top_and_stats(runtime: &'static str) {
    let c = Ctr::new(runtime, "pstop");
    c.start_detached(&["--memory", "64m"], &["sleep", "300"]);
    let ps = c.podman(&["ps", "--filter", &format!("name={}", c.name), "--format", "{{.Names}} {{.Status}}"]);
    assert!(stdout(&ps).starts_with(&format!("{} Up", c.name)), "{}", stdout(&ps));
    let top = c.podman(&["top", &c.name]);
    assert!(top.status.success(), "{}", stderr(&top));
    assert!(stdout(&top).contains("sleep 300"), "{}", stdout(&top));
    let stats = c.podman(&["stats", "--no-stream", "--format", "json", &c.name]);
    assert!(stats.status.success(), "{}", stderr(&stats));
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    let mem = stats[0]["mem_usage"].as_str().unwrap_or_default();
    assert!(mem.ends_with("/ 67.11MB"), "memory usage against the limit: {stats}");
}

fn hostname(runtime: &'static str) {
    let c = Ctr::new(runtime, "hostname");
    let out = c.run(&["--rm", "--hostname", "box"], &["hostname"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "box\n");
}

fn device(runtime: &'static str) {
    let c = Ctr::new(runtime, "device");
    let script = "stat -c %t:%T /dev/myzero; head -c 4 /dev/myzero | wc -c";
    let out = c.run(&["--rm", "--device", "/dev/zero:/dev/myzero"], &["sh", "-c", script]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1:5\n4\n");
}
