//! Shared helpers for the integration tests: a busybox root filesystem built from `busybox-static`,
//! bundles, running the real `containy` binary, and the leak check every container test ends with.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const CONTAINY: &str = env!("CARGO_BIN_EXE_containy");

/// Tests that need root say so and pass vacuously elsewhere; CI runs them as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[macro_export]
macro_rules! require_root {
    () => {
        if !common::is_root() {
            eprintln!("skipped: requires root");
            return;
        }
    };
}

fn busybox_path() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("busybox not found: install busybox-static (see install.sh)");
}

/// Lay out a busybox root filesystem in `dir`: `/bin/busybox`, a symlink per applet, and a few
/// directories and files a system expects.
pub fn make_busybox_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(busybox_path(), bin.join("busybox")).unwrap();
    // Ask the host copy: exec of a file just written races with other test threads forking (ETXTBSY).
    let list = Command::new(busybox_path()).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
    for d in ["etc", "proc", "sys", "dev", "tmp", "root", "usr/bin", "sbin"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
        .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnobody:x:65534:\n").unwrap();
    std::fs::write(dir.join("etc/base-file"), "from the base\n").unwrap();
}

/// Remove `dir` when this test process exits, however it exits (passed, failed, killed). Shared fixtures
/// live in statics, which Rust never drops; so a small `sh` waits on a pipe whose only write end this
/// process holds (close-on-exec: containers and tools started by tests do not inherit it). When the process
/// ends the kernel closes that end, `read` sees end-of-file and `rm -rf` runs. Its own process group keeps
/// it alive through a Ctrl-C of the test run.
pub fn remove_at_exit(dir: &Path) {
    use std::os::unix::process::CommandExt;
    // Kept (with the pipe's write end in its `stdin`) until the process ends; never waited for: it outlives us.
    static GUARDS: std::sync::Mutex<Vec<std::process::Child>> = std::sync::Mutex::new(Vec::new());
    let guard = Command::new("/bin/sh")
        .arg("-c")
        .arg("read _; exec rm -rf -- \"$0\"")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start the sh that removes the test's temporary directory at exit");
    GUARDS.lock().unwrap_or_else(|e| e.into_inner()).push(guard);
}

/// Remove `<tmp>/<prefix><pid>` directories left by test processes that are gone (killed before their
/// [`remove_at_exit`] could run, e.g. by a reboot).
pub fn remove_stale(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix(prefix).and_then(|p| p.parse::<u32>().ok())
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// One busybox rootfs shared by all tests in a test binary (read-only in overlay mode: nothing writes it).
pub fn busybox_rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        remove_stale("containy-test-busybox-");
        let dir = std::env::temp_dir().join(format!("containy-test-busybox-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        make_busybox_rootfs(&dir);
        remove_at_exit(&dir);
        dir
    })
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A bundle directory, a private state root and a unique container id for one test.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub state_root: PathBuf,
    pub id: String,
}

impl Bundle {
    /// A bundle with `configy.toml` = `config`, where `@ROOTFS@` is replaced by the busybox rootfs path.
    pub fn friendly(config: &str) -> Bundle {
        let b = Bundle::empty();
        let text = config.replace("@ROOTFS@", &busybox_rootfs().display().to_string());
        std::fs::write(b.dir.path().join("configy.toml"), text).unwrap();
        b
    }

    pub fn empty() -> Bundle {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("t{}-{n}", std::process::id());
        let state_root = std::env::temp_dir().join(format!("containy-state-{id}"));
        Bundle { dir: tempfile::tempdir().unwrap(), state_root, id }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `containy --root <private> run --bundle <dir> <id> [extra…]`.
    pub fn command(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(CONTAINY);
        cmd.arg("--root")
            .arg(&self.state_root)
            .arg("run")
            .arg("--bundle")
            .arg(self.path())
            .args(extra)
            .arg(&self.id)
            .stdin(Stdio::null());
        cmd
    }

    /// `containy --root <private> ARGS…` (a verb on this bundle's containers), run to completion.
    pub fn containy(&self, args: &[&str]) -> Output {
        Command::new(CONTAINY)
            .arg("--root")
            .arg(&self.state_root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run containy")
    }

    /// Run to completion, then check nothing leaked.
    pub fn run(&self) -> Output {
        let out = self.command(&[]).output().expect("run containy");
        self.assert_no_leaks();
        out
    }

    /// Nothing of this container is left: no mount mentioning its state root or id, no state dir, no
    /// cgroup directory in any hierarchy.
    pub fn assert_no_leaks(&self) {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = self.state_root.display().to_string();
        let leaked: Vec<_> = mountinfo.lines().filter(|l| l.contains(&root) || l.contains(&self.id)).collect();
        assert!(leaked.is_empty(), "leaked mounts: {leaked:#?}");
        let state_dir = self.state_root.join(&self.id);
        assert!(!state_dir.exists(), "leaked state dir {}", state_dir.display());
        let cgroups = cgroup_dirs_named(&self.id);
        assert!(cgroups.is_empty(), "leaked cgroup dirs {cgroups:?}");
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.state_root);
    }
}

/// The cgroup directories of container `name` that exist: `containy-<name>` under the v2 root or under
/// each v1 hierarchy.
pub fn cgroup_dirs_named(name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let root = Path::new("/sys/fs/cgroup");
    let dir = format!("containy-{name}");
    let mut candidates = vec![root.join(&dir)];
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            candidates.push(e.path().join(&dir));
        }
    }
    for c in candidates {
        if c.exists() {
            found.push(c);
        }
    }
    found
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A friendly config running `sh -c SCRIPT` on the busybox rootfs with the given extra TOML.
pub fn sh_config(script: &str, extra: &str) -> String {
    format!(
        "{extra}\n[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n\n[rootfs]\npath = \"@ROOTFS@\"\n",
        script = script
    )
}

/// A container running in the background. If a test fails before waiting for it, dropping this kills
/// the container (containy then cleans up as usual), so a failed test leaves nothing running.
pub struct Running {
    child: Option<std::process::Child>,
    pub pid: i32,
}

impl Running {
    /// Start `containy run` with `--pid-file` and wait until the container's process exists.
    pub fn start(bundle: &Bundle) -> Running {
        let pid_file = bundle.path().join("container.pid");
        let mut child = bundle
            .command(&["--pid-file", pid_file.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&pid_file)
                && let Ok(pid) = text.trim().parse()
            {
                return Running { child: Some(child), pid };
            }
            let exited = child.try_wait().ok().flatten();
            if std::time::Instant::now() > deadline || exited.is_some() {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!("the container did not start ({exited:?}): {} {}", stdout(&out), stderr(&out));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// containy's own pid (to send it signals).
    pub fn containy_pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Wait for containy only, without reading its output (the container may still hold the pipes).
    pub fn wait_runtime(mut self) -> std::process::ExitStatus {
        self.child.take().unwrap().wait().unwrap()
    }

    pub fn wait(mut self) -> Output {
        self.child.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}
