//! End to end through Docker: Debian's dockerd 20.10 runs containy (`--add-runtime containy=…`) the way it
//! runs runc, and every scenario runs again with runc, the reference — so a difference is containy's bug.
//!
//! The dockerd is private to this test binary: its socket, data root, exec root and pid file live in one
//! temp dir, with `--iptables=false --bridge=none` (the host's firewall and interfaces are never touched)
//! and containers on `--network none`. The image is the tests' busybox rootfs, `docker import`ed. One
//! dockerd serves every scenario (they run in parallel); a watchdog process started with it stops it and
//! unmounts everything under its dir once this test process is gone — also after a panic or an abort,
//! which a `static` can never `Drop`. The CLI is Debian's `/usr/bin/docker` (20.10, API 1.41), and the
//! SDK scenario uses Debian's `python3-docker` with `/usr/bin/python3`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{stderr, stdout};

const DOCKER: &str = "/usr/bin/docker";
const DOCKERD: &str = "/usr/sbin/dockerd";
const IMAGE: &str = "containy-test-busybox:latest";

/// The private dockerd shared by every test in this binary.
struct World {
    dir: PathBuf,
    /// The watchdog running dockerd; it outlives this process on purpose (see the module comment).
    _watchdog: std::process::Child,
}

impl World {
    fn socket(&self) -> String {
        format!("unix://{}", self.dir.join("docker.sock").display())
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new(DOCKER)
            .args(args)
            .env("DOCKER_HOST", self.socket())
            .env_remove("DOCKER_CONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }
}

/// Starts dockerd (the arguments after `$2`), and stops it when the test process (`$1`) is gone; then
/// unmounts and removes what it left in `$2`.
const WATCHDOG: &str = r#"
test_pid=$1; dir=$2; shift 2
"$@" &
dockerd_pid=$!
while kill -0 "$test_pid" 2>/dev/null; do sleep 0.5; done
kill -TERM "$dockerd_pid" 2>/dev/null
i=0; while kill -0 "$dockerd_pid" 2>/dev/null && [ $i -lt 40 ]; do sleep 0.5; i=$((i+1)); done
kill -KILL "$dockerd_pid" 2>/dev/null
for _ in 1 2 3; do
    awk -v d="$dir" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
done
rm -rf "$dir"
"#;

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        assert!(Path::new(DOCKERD).exists() && Path::new(DOCKER).exists(), "install.sh installs docker.io");
        let dir = std::env::temp_dir().join(format!("containy-docker-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        // Detached from us: it must outlive this process to clean up after it.
        let watchdog = Command::new("/bin/sh")
            .args(["-c", WATCHDOG, "watchdog", &std::process::id().to_string()])
            .arg(&dir)
            .arg(DOCKERD)
            .arg("--host")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("--add-runtime")
            .arg(format!("containy={}", common::CONTAINY))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd under its watchdog");
        let world = World { dir, _watchdog: watchdog };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !world.docker(&["version"]).status.success() {
            let log = std::fs::read_to_string(world.dir.join("dockerd.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "dockerd did not come up: {log}");
            std::thread::sleep(Duration::from_millis(200));
        }
        let tarball = world.dir.join("busybox.tar");
        let tar =
            Command::new("tar").arg("-C").arg(common::busybox_rootfs()).arg("-cf").arg(&tarball).arg(".").output();
        assert!(tar.unwrap().status.success(), "tar of the busybox rootfs");
        let out = world.docker(&["import", tarball.to_str().unwrap(), IMAGE]);
        assert!(out.status.success(), "docker import: {}", stderr(&out));
        world
    })
}

/// One scenario's container, under one runtime. Dropping it removes the container and checks that
/// nothing of it is left: no runtime state, no mount, no cgroup directory.
struct Ctr {
    runtime: &'static str,
    name: String,
}

impl Ctr {
    fn new(runtime: &'static str, scenario: &str) -> Ctr {
        Ctr { runtime, name: format!("{scenario}-{runtime}") }
    }

    fn docker(&self, args: &[&str]) -> Output {
        world().docker(args)
    }

    /// `docker run --name N --runtime R --network none EXTRA… IMAGE CMD…`
    fn run(&self, extra: &[&str], cmd: &[&str]) -> Output {
        let mut args = vec!["run", "--name", &self.name, "--runtime", self.runtime, "--network", "none"];
        args.extend_from_slice(extra);
        args.push(IMAGE);
        args.extend_from_slice(cmd);
        self.docker(&args)
    }

    /// `run`, which must succeed; its standard output.
    fn run_ok(&self, extra: &[&str], cmd: &[&str]) -> String {
        let out = self.run(extra, cmd);
        assert!(out.status.success(), "{}: run {extra:?} {cmd:?}: {}", self.runtime, stderr(&out));
        stdout(&out)
    }

    fn start_detached(&self, extra: &[&str], cmd: &[&str]) {
        let mut all = vec!["-d"];
        all.extend_from_slice(extra);
        self.run_ok(&all, cmd);
    }

    fn inspect(&self, format: &str) -> String {
        let out = self.docker(&["inspect", "--format", format, &self.name]);
        assert!(out.status.success(), "inspect: {}", stderr(&out));
        stdout(&out).trim().to_string()
    }

    /// `docker exec [OPTS…] N CMD…`, which must succeed; its standard output.
    fn exec(&self, opts: &[&str], cmd: &[&str]) -> String {
        let mut args = vec!["exec"];
        args.extend_from_slice(opts);
        args.push(&self.name);
        args.extend_from_slice(cmd);
        let out = self.docker(&args);
        assert!(out.status.success(), "{}: exec {opts:?} {cmd:?}: {}", self.runtime, stderr(&out));
        stdout(&out)
    }

    fn wait_status(&self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
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
        let id = self.docker(&["inspect", "--format", "{{.Id}}", &self.name]);
        let id = stdout(&id).trim().to_string();
        let rm = self.docker(&["rm", "--force", &self.name]);
        if std::thread::panicking() || id.is_empty() {
            return;
        }
        assert!(rm.status.success(), "docker rm: {}", stderr(&rm));
        // dockerd gives every runtime the same --root: <exec-root>/runtime-<name>/moby.
        let state = world().dir.join("exec").join(format!("runtime-{}", self.runtime)).join("moby").join(&id);
        assert!(!state.exists(), "{}: runtime state {} left behind", self.runtime, state.display());
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mountinfo.contains(&id), "{}: a mount of {id} left behind", self.runtime);
        for hierarchy in ["pids", "memory", "devices", "freezer", "cpu"] {
            let dir = Path::new("/sys/fs/cgroup").join(hierarchy).join("docker").join(&id);
            assert!(!dir.exists(), "{}: cgroup {} left behind", self.runtime, dir.display());
        }
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
    run_and_exit_codes,
    detached_logs_stop_rm,
    exec_tty_user_workdir_detach,
    memory_limit_and_oom_killed,
    pids_limit_and_cpus,
    update_memory,
    read_only_root_with_tmpfs,
    binds,
    cap_drop_and_add,
    no_new_privileges,
    custom_seccomp_profile,
    pid_host,
    pid_of_another_container,
    ipc_and_uts_sharing,
    pause_and_unpause,
    top_and_stats,
    cp_and_commit,
    python_sdk,
);

fn run_and_exit_codes(runtime: &'static str) {
    let c = Ctr::new(runtime, "exit");
    assert_eq!(c.run_ok(&[], &["echo", "hello"]), "hello\n");
    let c = Ctr::new(runtime, "exit3");
    assert_eq!(c.run(&[], &["sh", "-c", "exit 3"]).status.code(), Some(3));
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "3");
    let c = Ctr::new(runtime, "exit127");
    assert_eq!(c.run(&[], &["no-such-program"]).status.code(), Some(127), "{runtime}");
}

fn detached_logs_stop_rm(runtime: &'static str) {
    let c = Ctr::new(runtime, "detached");
    let script = "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done";
    c.start_detached(&[], &["sh", "-c", script]);
    c.wait_status("running");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !stdout(&c.docker(&["logs", &c.name])).contains("started") {
        assert!(Instant::now() < deadline, "{runtime}: no log line");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = c.docker(&["stop", "-t", "10", &c.name]);
    assert!(out.status.success(), "{runtime}: stop: {}", stderr(&out));
    assert_eq!(stdout(&c.docker(&["logs", &c.name])), "started\nbye\n", "{runtime}");
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "0");
}

fn exec_tty_user_workdir_detach(runtime: &'static str) {
    let c = Ctr::new(runtime, "exec");
    c.start_detached(&[], &["sleep", "100"]);
    assert_eq!(c.exec(&[], &["echo", "in"]), "in\n");
    assert_eq!(c.exec(&["-u", "65534", "-w", "/tmp"], &["sh", "-c", "id -u; pwd"]), "65534\n/tmp\n");
    assert!(c.exec(&["-t"], &["tty"]).starts_with("/dev/pts/"), "{runtime}: exec -t has a terminal");
    c.exec(&["-d"], &["touch", "/tmp/detached"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.docker(&["exec", &c.name, "test", "-e", "/tmp/detached"]).status.code() != Some(0) {
        assert!(Instant::now() < deadline, "{runtime}: exec -d did not run");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn memory_limit_and_oom_killed(runtime: &'static str) {
    let c = Ctr::new(runtime, "oom");
    let limit = ["--memory", "32m", "--memory-swap", "32m"];
    let out = c.run(
        &limit,
        &["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; x=a; while true; do x=$x$x; done"],
    );
    assert_eq!(stdout(&out).lines().next(), Some("33554432"), "{runtime}: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(137), "{runtime}");
    assert_eq!(c.inspect("{{.State.OOMKilled}}"), "true", "{runtime}");
}

fn pids_limit_and_cpus(runtime: &'static str) {
    let c = Ctr::new(runtime, "pids");
    let script =
        "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us";
    assert_eq!(c.run_ok(&["--pids-limit", "10", "--cpus", "0.5"], &["sh", "-c", script]), "10\n50000\n100000\n");
}

fn update_memory(runtime: &'static str) {
    let c = Ctr::new(runtime, "update");
    c.start_detached(&["--memory", "64m", "--memory-swap", "64m"], &["sleep", "100"]);
    let out = c.docker(&["update", "--memory", "48m", "--memory-swap", "48m", &c.name]);
    assert!(out.status.success(), "{runtime}: update: {}", stderr(&out));
    assert_eq!(c.exec(&[], &["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]), "50331648\n");
}

fn read_only_root_with_tmpfs(runtime: &'static str) {
    let c = Ctr::new(runtime, "readonly");
    let script = "touch /x 2>/dev/null || echo ro; touch /run/y && echo tmpfs";
    assert_eq!(c.run_ok(&["--read-only", "--tmpfs", "/run"], &["sh", "-c", script]), "ro\ntmpfs\n");
}

fn binds(runtime: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in"), "from the host\n").unwrap();
    let c = Ctr::new(runtime, "binds");
    let rw = format!("{}:/data", dir.path().display());
    let ro = format!("{}:/ro:ro", dir.path().display());
    let script = "cat /data/in; echo out > /data/out; touch /ro/x 2>/dev/null || echo ro";
    assert_eq!(c.run_ok(&["-v", &rw, "-v", &ro], &["sh", "-c", script]), "from the host\nro\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("out")).unwrap(), "out\n");
}

fn cap_drop_and_add(runtime: &'static str) {
    let c = Ctr::new(runtime, "caps");
    // CAP_NET_RAW is bit 13.
    let out = c.run_ok(&["--cap-drop", "ALL", "--cap-add", "NET_RAW"], &["grep", "CapEff", "/proc/self/status"]);
    assert_eq!(out, "CapEff:\t0000000000002000\n", "{runtime}");
}

fn no_new_privileges(runtime: &'static str) {
    let c = Ctr::new(runtime, "nnp");
    let out = c.run_ok(&["--security-opt", "no-new-privileges"], &["grep", "NoNewPrivs", "/proc/self/status"]);
    assert_eq!(out, "NoNewPrivs:\t1\n", "{runtime}");
}

fn custom_seccomp_profile(runtime: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.json");
    let json = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]});
    std::fs::write(&profile, json.to_string()).unwrap();
    let opt = format!("seccomp={}", profile.display());
    let c = Ctr::new(runtime, "seccomp");
    let out = c.run_ok(
        &["--security-opt", &opt],
        &["sh", "-c", "mkdir /tmp/d 2>/dev/null || echo denied; touch /tmp/f && echo ok"],
    );
    assert_eq!(out, "denied\nok\n", "{runtime}");
}

fn pid_host(runtime: &'static str) {
    let c = Ctr::new(runtime, "pidhost");
    let host = std::fs::read_link("/proc/self/ns/pid").unwrap().display().to_string();
    assert_eq!(c.run_ok(&["--pid", "host"], &["readlink", "/proc/self/ns/pid"]).trim(), host, "{runtime}");
}

fn pid_of_another_container(runtime: &'static str) {
    let holder = Ctr::new(runtime, "pidholder");
    holder.start_detached(&[], &["sleep", "100"]);
    let theirs = holder.exec(&[], &["readlink", "/proc/self/ns/pid"]);
    let c = Ctr::new(runtime, "pidjoiner");
    let target = format!("container:{}", holder.name);
    let out = c.run_ok(&["--pid", &target], &["sh", "-c", "readlink /proc/self/ns/pid; ps -o comm | grep -c '^sleep'"]);
    assert_eq!(out, format!("{theirs}1\n"), "{runtime}: in the other container's PID namespace, seeing its sleep");
}

fn ipc_and_uts_sharing(runtime: &'static str) {
    let holder = Ctr::new(runtime, "ipcholder");
    holder.start_detached(&["--ipc", "shareable"], &["sleep", "100"]);
    let theirs = holder.exec(&[], &["readlink", "/proc/self/ns/ipc"]);
    let c = Ctr::new(runtime, "ipcjoiner");
    let target = format!("container:{}", holder.name);
    assert_eq!(c.run_ok(&["--ipc", &target], &["readlink", "/proc/self/ns/ipc"]), theirs, "{runtime}");
    // dockerd 20.10 shares a UTS namespace only with the host.
    let c = Ctr::new(runtime, "utshost");
    let host = std::fs::read_link("/proc/self/ns/uts").unwrap().display().to_string();
    assert_eq!(c.run_ok(&["--uts", "host"], &["readlink", "/proc/self/ns/uts"]).trim(), host, "{runtime}");
}

fn pause_and_unpause(runtime: &'static str) {
    let c = Ctr::new(runtime, "pause");
    c.start_detached(&[], &["sleep", "100"]);
    let out = c.docker(&["pause", &c.name]);
    assert!(out.status.success(), "{runtime}: pause: {}", stderr(&out));
    assert_eq!(c.inspect("{{.State.Status}}"), "paused");
    let out = c.docker(&["unpause", &c.name]);
    assert!(out.status.success(), "{runtime}: unpause: {}", stderr(&out));
    assert_eq!(c.exec(&[], &["echo", "thawed"]), "thawed\n");
}

fn top_and_stats(runtime: &'static str) {
    let c = Ctr::new(runtime, "top");
    c.start_detached(&["--memory", "64m"], &["sleep", "100"]);
    let top = c.docker(&["top", &c.name]);
    assert!(top.status.success() && stdout(&top).contains("sleep 100"), "{runtime}: top: {}", stderr(&top));
    let stats = c.docker(&["stats", "--no-stream", "--format", "{{.MemUsage}} {{.PIDs}}", &c.name]);
    assert!(stats.status.success(), "{runtime}: stats: {}", stderr(&stats));
    let text = stdout(&stats);
    assert!(text.contains("/ 64MiB") && text.trim().ends_with(" 1"), "{runtime}: stats: {text}");
}

fn cp_and_commit(runtime: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "copied in\n").unwrap();
    let c = Ctr::new(runtime, "cp");
    c.start_detached(&[], &["sleep", "100"]);
    let src = dir.path().join("file").display().to_string();
    let out = c.docker(&["cp", &src, &format!("{}:/tmp/file", c.name)]);
    assert!(out.status.success(), "{runtime}: cp in: {}", stderr(&out));
    assert_eq!(c.exec(&[], &["cat", "/tmp/file"]), "copied in\n");
    let back = dir.path().join("back").display().to_string();
    let out = c.docker(&["cp", &format!("{}:/tmp/file", c.name), &back]);
    assert!(out.status.success(), "{runtime}: cp out: {}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "copied in\n");
    let image = format!("containy-test-committed-{runtime}");
    let out = c.docker(&["commit", &c.name, &image]);
    assert!(out.status.success(), "{runtime}: commit: {}", stderr(&out));
    let from_image = Ctr::new(runtime, "fromcommit");
    let out = from_image.docker(&[
        "run",
        "--name",
        &from_image.name,
        "--runtime",
        runtime,
        "--network",
        "none",
        &image,
        "cat",
        "/tmp/file",
    ]);
    drop(from_image);
    let _ = c.docker(&["rmi", &image]);
    assert_eq!(stdout(&out), "copied in\n", "{runtime}: {}", stderr(&out));
}

fn python_sdk(runtime: &'static str) {
    let c = Ctr::new(runtime, "sdk");
    let script = format!(
        "import docker\n\
         client = docker.DockerClient(base_url={socket:?})\n\
         out = client.containers.run({IMAGE:?}, ['sh', '-c', 'echo sdk; exit 0'], name={name:?}, runtime={runtime:?},\n\
             network_mode='none', detach=False)\n\
         print(out.decode().strip())\n\
         ctr = client.containers.get({name:?})\n\
         print(ctr.attrs['State']['ExitCode'], ctr.attrs['HostConfig']['Runtime'])\n",
        socket = world().socket(),
        name = c.name,
    );
    let out = Command::new("/usr/bin/python3").args(["-c", &script]).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{runtime}: python3-docker: {}", stderr(&out));
    assert_eq!(stdout(&out), format!("sdk\n0 {runtime}\n"));
}
