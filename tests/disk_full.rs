//! A full disk and a read-only one (issue #20): the image store on a small tmpfs that fills up during
//! `image import`, `build` (COPY) and `pull` (from a private registry on 127.0.0.1), the state root on a full
//! tmpfs, both read-only, and an engine container's json-file log on a full filesystem. Each must fail with
//! an error that names the path and the kernel's reason (ENOSPC, EROFS), leave no temp dir, half layer or
//! container state behind, and the same operation must work once there is room again. The tmpfs mounts are
//! the test's own (unmounted by a Drop guard); the store and state root are given by `--store`/`--root`
//! (or `CONTAINY_STORE`), so nothing of the host's /var/lib/containy or /run/containy is touched.

mod common;
mod engine_daemon;
#[path = "engine_daemon/http.rs"]
mod http;
mod image_env;
mod registry_env;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{CONTAINY, stderr};
use image_env::Env;
use nix::mount::{MntFlags, MsFlags};

const ENOSPC: &str = "No space left on device";
const EROFS: &str = "Read-only file system";

/// A tmpfs of the test's own, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Tmpfs {
    fn new(size: &str) -> Tmpfs {
        let dir = tempfile::Builder::new().prefix("containy-full-").tempdir().unwrap();
        let mut fs = Tmpfs::at(dir.path(), size);
        fs._dir = Some(dir);
        fs
    }

    fn at(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let options = format!("size={size},mode=0700");
        nix::mount::mount(Some("tmpfs"), path, Some("tmpfs"), MsFlags::empty(), Some(options.as_str())).unwrap();
        Tmpfs { path: path.to_path_buf(), _dir: None }
    }

    fn remount(&self, flags: MsFlags, size: &str) {
        let options = format!("size={size}");
        nix::mount::mount(None::<&str>, &self.path, None::<&str>, MsFlags::MS_REMOUNT | flags, Some(options.as_str()))
            .unwrap();
    }

    /// Room again: the filesystem grows to `size`.
    fn grow(&self, size: &str) {
        self.remount(MsFlags::empty(), size);
    }

    /// Bytes in use.
    fn used(&self) -> u64 {
        let s = nix::sys::statvfs::statvfs(&self.path).unwrap();
        (s.blocks() - s.blocks_free()) * s.fragment_size()
    }

    /// Fill it up, but for `leave` bytes: a file `filler` that `free` removes.
    fn fill(&self, leave: u64) {
        let s = nix::sys::statvfs::statvfs(&self.path).unwrap();
        let free = s.blocks_available() * s.fragment_size();
        let mut file = std::fs::File::create(self.path.join("filler")).unwrap();
        let chunk = vec![0x5au8; 4096];
        let mut left = free.saturating_sub(leave);
        while left > 0 {
            let n = left.min(4096) as usize;
            if file.write_all(&chunk[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
    }

    fn free(&self) {
        std::fs::remove_file(self.path.join("filler")).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.path, MntFlags::MNT_DETACH);
    }
}

/// An image environment (tests/image_env) whose store is a symlink to a small tmpfs, and whose state root,
/// credentials and registries.conf are its own.
fn small_store(size: &str) -> (Env, Tmpfs) {
    let env = Env::new();
    let fs = Tmpfs::new(size);
    std::os::unix::fs::symlink(&fs.path, env.store()).unwrap();
    std::fs::write(env.dir.path().join("registries.conf"), "unqualified-search-registries = []\n").unwrap();
    (env, fs)
}

fn containy(env: &Env, args: &[&str]) -> std::process::Output {
    let child = env
        .cmd(args)
        .env("REGISTRY_AUTH_FILE", env.dir.path().join("auth.json"))
        .env("CONTAINERS_REGISTRIES_CONF", env.dir.path().join("registries.conf"))
        .env_remove("XDG_RUNTIME_DIR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    env.assert_no_leaks(pid);
    out
}

/// The command fails, saying `reason` about a path in the store.
fn fails_naming(env: &Env, args: &[&str], reason: &str) {
    let out = containy(env, args);
    assert!(!out.status.success(), "containy {args:?} succeeded on a full store");
    let err = stderr(&out);
    assert!(err.contains(reason), "containy {args:?}: {err}");
    assert!(err.contains(&env.store().display().to_string()), "containy {args:?} names no path in the store: {err}");
}

fn random_file(path: &Path, len: usize) {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ len as u64;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(path, bytes).unwrap();
}

/// The busybox rootfs and 6 MiB that do not compress, as a tar.
fn big_tarball(dir: &Path) -> PathBuf {
    let big = dir.join("big.bin");
    random_file(&big, 6 << 20);
    let path = dir.join("big.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", common::busybox_rootfs()).unwrap();
    builder.append_path_with_name(&big, "big.bin").unwrap();
    builder.finish().unwrap();
    path
}

fn images(env: &Env) -> String {
    common::stdout(&containy(env, &["image", "ls"]))
}

#[test]
fn import_build_and_pull_into_a_full_store_fail_cleanly_and_work_once_there_is_room() {
    require_root!();
    let work = tempfile::tempdir().unwrap();
    let tarball = big_tarball(work.path());
    let tar = tarball.to_str().unwrap();

    // import: the layer does not fit in 4 MiB.
    let (env, fs) = small_store("4M");
    fails_naming(&env, &["image", "import", "big:1", tar], ENOSPC);
    env.assert_consistent();
    assert_eq!(env.layers(), Vec::<String>::new(), "a half layer was published");
    assert!(!images(&env).contains("big"));
    fs.grow("64M");
    containy(&env, &["image", "import", "big:1", tar]);
    assert!(images(&env).contains("big"), "{}", images(&env));
    assert_eq!(env.layers().len(), 1);

    // build: a COPY of 6 MiB more into a store with 2 MiB left.
    let ctx = work.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    random_file(&ctx.join("more.bin"), 6 << 20);
    std::fs::write(ctx.join("Containyfile"), "FROM big:1\nCOPY more.bin /more.bin\n").unwrap();
    let file = ctx.join("Containyfile");
    let build = ["build", "-t", "built:1", "-f", file.to_str().unwrap(), ctx.to_str().unwrap()];
    fs.grow(&format!("{}k", fs.used() / 1024 + 2048));
    fails_naming(&env, &build, ENOSPC);
    env.assert_consistent();
    assert_eq!(env.layers().len(), 1, "a half layer was published");
    assert!(!images(&env).contains("built"));
    fs.grow("64M");
    containy(&env, &build);
    assert!(images(&env).contains("built"), "{}", images(&env));

    // pull: big:1 from a private registry into another 4 MiB store.
    let registry = registry_env::Registry::plain();
    let reference = format!("{}/full/big:1", registry.host());
    let push = containy(&env, &["image", "push", "--tls-verify=false", "big:1", &reference]);
    assert!(push.status.success(), "push: {}", stderr(&push));
    let (pulled, small) = small_store("4M");
    fails_naming(&pulled, &["pull", "--tls-verify=false", &reference], ENOSPC);
    pulled.assert_consistent();
    assert_eq!(pulled.layers(), Vec::<String>::new(), "a half layer was published");
    small.grow("64M");
    let out = containy(&pulled, &["pull", "--tls-verify=false", &reference]);
    assert!(out.status.success(), "pull after freeing space: {}", stderr(&out));
    assert!(images(&pulled).contains("full/big"), "{}", images(&pulled));
    pulled.assert_consistent();
}

#[test]
fn a_full_or_read_only_state_root_and_a_read_only_store_are_refused_clearly() {
    require_root!();
    let bundle = common::Bundle::friendly(&common::sh_config("echo ran", ""));
    let fs = Tmpfs::new("8M");
    let root = fs.path.join("state");
    let run = |root: &Path| {
        let out = std::process::Command::new(CONTAINY)
            .arg("--root")
            .arg(root)
            .args(["run", "--bundle"])
            .arg(bundle.path())
            .arg(&bundle.id)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        // Nothing of the container is left, whatever happened.
        assert!(!root.join(&bundle.id).exists(), "state dir left in {}", root.display());
        assert!(common::cgroup_dirs_named(&bundle.id).is_empty(), "cgroup left");
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mountinfo.contains(&bundle.id), "mount left");
        out
    };
    let fails = |out: &std::process::Output, reason: &str| {
        assert!(!out.status.success(), "ran on a full or read-only state root");
        let err = stderr(out);
        assert!(err.contains(reason) && err.contains(&fs.path.display().to_string()), "{err}");
    };
    std::fs::create_dir(&root).unwrap();
    fs.fill(0);
    fails(&run(&root), ENOSPC);
    fs.free();
    let out = run(&root);
    assert_eq!((out.status.code(), common::stdout(&out)), (Some(0), "ran\n".to_string()), "{}", stderr(&out));

    // A store with an image in it, then everything read-only.
    let store = fs.path.join("store");
    let tarball = image_env::busybox_tarball(bundle.path());
    let import = |name: &str| {
        std::process::Command::new(CONTAINY)
            .args(["image", "import", "--store"])
            .arg(&store)
            .arg(name)
            .arg(&tarball)
            .output()
            .unwrap()
    };
    let first = import("bb:1");
    assert!(first.status.success(), "{}", stderr(&first));
    fs.remount(MsFlags::MS_RDONLY, "8M");
    fails(&run(&root), EROFS);
    fails(&import("bb:2"), EROFS);
    fs.remount(MsFlags::empty(), "8M");
    let again = import("bb:2");
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(std::fs::read_dir(store.join("tmp")).unwrap().count(), 0, "store tmp dirs left");
}

#[test]
fn a_container_log_on_a_full_disk_loses_output_but_stays_whole_and_the_container_runs_on() {
    require_root!();
    let d = engine_daemon::Daemon::start();
    // The records (and so the json-file logs) of this daemon's containers live on a 1 MiB tmpfs.
    let fs = Tmpfs::at(&d.path("store/containers"), "1M");
    let socket = d.socket();
    let script = "i=0; while [ $i -lt 10000 ]; do echo line-$i-of-a-log-that-does-not-fit; i=$((i+1)); done; \
                  read go; echo last-$go";
    let body = serde_json::json!({"Image": "busybox", "Cmd": ["sh", "-c", script], "OpenStdin": true,
        "StdinOnce": true, "AttachStdin": true, "AttachStdout": true});
    let r = http::once(&socket, "POST", "/containers/create", Some(body.to_string().as_bytes())).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    fs.fill(256 << 10);
    // Attached before the start (docker run -i), the output read as it comes.
    let mut attach = http::Conn::open(&socket).unwrap();
    let head = http::Conn::head(
        "POST",
        &format!("/containers/{id}/attach?stream=1&stdin=1&stdout=1"),
        None,
        "Upgrade: tcp\r\nConnection: Upgrade\r\n",
    );
    attach.send_raw(head.as_bytes()).unwrap();
    assert_eq!(attach.response_head().unwrap().status, 101);
    let mut input = attach.stream().try_clone().unwrap();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 65536];
        let mut stream = attach.stream().try_clone().unwrap();
        let mut framed = Vec::new();
        while let Ok(n) = std::io::Read::read(&mut stream, &mut buf) {
            if n == 0 {
                break;
            }
            // docker's multiplexed stream: [stream, 0, 0, 0, length (u32 BE)] + payload.
            framed.extend_from_slice(&buf[..n]);
            while framed.len() >= 8 {
                let len = u32::from_be_bytes([framed[4], framed[5], framed[6], framed[7]]) as usize;
                if framed.len() < 8 + len {
                    break;
                }
                all.extend_from_slice(&framed[8..8 + len]);
                framed.drain(..8 + len);
            }
            if String::from_utf8_lossy(&all).contains("line-9999-") {
                let _ = seen_tx.send(String::new());
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    assert_eq!(http::once(&socket, "POST", &format!("/containers/{id}/start"), None).unwrap().status, 204);
    // The container printed everything (the log could not take it all) and waits for its stdin.
    if seen_rx.recv_timeout(std::time::Duration::from_secs(120)).is_err() {
        let monitor = std::fs::read_to_string(d.path(&format!("store/containers/{id}/monitor.log")));
        panic!("no end of the container's output: monitor.log {monitor:?}\n{}", d.log());
    }
    let log_path = d.path(&format!("store/containers/{id}/{id}-json.log"));
    let whole = |text: &str| {
        for line in text.lines() {
            assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "a broken log line: {line:?}");
        }
    };
    let log = std::fs::read_to_string(&log_path).unwrap();
    whole(&log);
    // Output that came while the disk was full is missing (what came in smaller writes may fit after all).
    let logged = log.matches("line-").count();
    assert!(
        log.contains("line-0-") && logged < 10000,
        "the log did not fill up: {} bytes, {} in use on the tmpfs",
        log.len(),
        fs.used()
    );
    // Room again: what the container writes now is logged, and it ends as it should.
    fs.free();
    input.write_all(b"go\n").unwrap();
    let attached = reader.join().unwrap();
    assert!(attached.contains("last-go"), "attach: {}", &attached[attached.len().saturating_sub(200)..]);
    let waited = http::once(&socket, "POST", &format!("/containers/{id}/wait"), None).unwrap();
    assert_eq!(waited.json()["StatusCode"], 0, "{}", waited.text());
    let log = std::fs::read_to_string(&log_path).unwrap();
    whole(&log);
    assert!(log.contains("last-go"), "the log after freeing space");
    let logs = http::once(&socket, "GET", &format!("/containers/{id}/logs?stdout=1"), None).unwrap();
    assert!(logs.text().contains("line-0-") && logs.text().contains("last-go"));
    let monitor_log = std::fs::read_to_string(d.path(&format!("store/containers/{id}/monitor.log"))).unwrap();
    assert!(monitor_log.contains("bytes of output were lost"), "monitor.log: {monitor_log}");
    assert_eq!(http::once(&socket, "DELETE", &format!("/containers/{id}"), None).unwrap().status, 204);
    // A create on the full disk: docker's 500 naming the reason, and no record or name left behind.
    fs.fill(0);
    let small = br#"{"Image": "busybox", "Cmd": ["true"]}"#;
    let r = http::once(&socket, "POST", "/containers/create?name=full-disk", Some(small)).unwrap();
    assert_eq!(r.status, 500, "{}", r.text());
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains(ENOSPC) && message.contains(&fs.path.display().to_string()), "{message}");
    fs.free();
    let r = http::once(&socket, "POST", "/containers/create?name=full-disk", Some(small)).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(http::once(&socket, "DELETE", "/containers/full-disk", None).unwrap().status, 204);
    let left: Vec<_> = std::fs::read_dir(&fs.path).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| n == "names" || n == "events.log"), "left on the tmpfs: {left:?}");
    drop(fs);
    d.assert_clean(&[id]);
}

#[test]
fn an_engine_container_on_a_full_state_root_is_refused_and_leaves_nothing() {
    require_root!();
    let d = engine_daemon::Daemon::start();
    let fs = Tmpfs::at(&d.path("state"), "4M");
    let socket = d.socket();
    let body = br#"{"Image": "busybox", "Cmd": ["echo", "ran"]}"#;
    fs.fill(0);
    let r = http::once(&socket, "POST", "/containers/create?name=full-state", Some(body)).unwrap();
    assert_eq!(r.status, 500, "{}", r.text());
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains(ENOSPC) && message.contains(&fs.path.display().to_string()), "{message}");
    let left: Vec<_> = std::fs::read_dir(&fs.path).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| n == "filler" || n == "engine"), "left in the state root: {left:?}");
    fs.free();
    let r = http::once(&socket, "POST", "/containers/create?name=full-state", Some(body)).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(http::once(&socket, "POST", "/containers/full-state/start", None).unwrap().status, 204);
    let waited = http::once(&socket, "POST", "/containers/full-state/wait", None).unwrap();
    assert_eq!(waited.json()["StatusCode"], 0, "{}", waited.text());
    assert_eq!(http::once(&socket, "DELETE", "/containers/full-state", None).unwrap().status, 204);
    let left: Vec<_> = std::fs::read_dir(&fs.path).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| n == "engine"), "left in the state root: {left:?}");
    let monitors: Vec<_> = std::fs::read_dir(fs.path.join("engine")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(monitors.is_empty(), "monitor dirs left: {monitors:?}");
    drop(fs);
    d.assert_clean(std::slice::from_ref(&id));
}
