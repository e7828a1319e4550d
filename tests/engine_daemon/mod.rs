//! A private `containy serve` for the engine tests: a temp dir with its own state root, store (busybox
//! imported as `busybox:latest`) and socket; the docker CLI pointed at it; the leak check every test ends
//! with. Dropping it removes what a failed test left and stops the daemon.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::common::{self, CONTAINY};

/// Where install.sh unpacks the docker CLI of Debian's `docker.io`.
pub const DOCKER: &str = "/var/cache/containy-docker-cli/x/usr/bin/docker";

pub fn docker_cli() -> Option<&'static str> {
    if Path::new(DOCKER).exists() {
        Some(DOCKER)
    } else {
        eprintln!("skipped: {DOCKER} is missing: run install.sh (it unpacks Debian's docker.io CLI)");
        None
    }
}

/// Is Debian's python3-docker (docker-py) installed? Says "skipped" when it is not.
pub fn docker_py() -> bool {
    let found = Path::new("/usr/lib/python3/dist-packages/docker").exists();
    if !found {
        eprintln!("skipped: python3-docker is missing: run install.sh");
    }
    found
}

pub struct Daemon {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// More `containy serve` flags (`--max-upload 64K`).
    extra: Vec<String>,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Daemon {
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
        let mut d = Daemon { dir, child: None, extra: extra.iter().map(|s| s.to_string()).collect() };
        d.spawn();
        d
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn socket(&self) -> PathBuf {
        self.path("d.sock")
    }

    pub fn spawn(&mut self) {
        self.spawn_env(&[]);
    }

    /// Stop this daemon (`kill -9`) and start a new one with `env` in its environment (`CONTAINY_FAULT`).
    pub fn restart_with_env(&mut self, env: &[(&str, &str)]) {
        self.kill9();
        self.spawn_env(env);
    }

    pub fn spawn_env(&mut self, env: &[(&str, &str)]) {
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
            .args(&self.extra)
            .env("CONTAINY_API_LOG", "1")
            .envs(env.iter().copied())
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

    /// The daemon's process id (for its /proc files: open descriptors, memory).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("daemon.log")).unwrap_or_default()
    }

    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(DOCKER);
        cmd.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env("DOCKER_CONFIG", self.path("docker-config"))
            .stdin(Stdio::null());
        cmd
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).output().unwrap()
    }

    /// `docker ARGS` must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?}: {}\n{}", common::stderr(&out), self.log());
        common::stdout(&out)
    }

    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "-f", format, name]).trim().to_string()
    }

    /// Every process whose command line mentions this daemon's directory (monitors, execs).
    pub fn processes(&self) -> Vec<String> {
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
    pub fn assert_clean(&self, ids: &[String]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.processes().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(self.processes(), Vec::<String>::new(), "processes left");
        let containers = self.path("store/containers");
        let left: Vec<_> = std::fs::read_dir(&containers)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name())
                    .filter(|n| n != "names" && n != "events.log" && n != "events.log.1")
                    .collect()
            })
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

    pub fn id(&self, name: &str) -> String {
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
