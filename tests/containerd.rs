//! containerd drives containy: the path Kubernetes takes (kubelet → CRI → containerd → the runc shim →
//! an OCI runtime). The test starts its own containerd daemon in a private directory, imports an OCI image
//! archive it writes by hand from the busybox rootfs, and runs containers with `ctr run --runc-binary
//! containy` — the runc shim's BinaryName option — in a containerd namespace of its own. Afterwards
//! nothing of the containers may remain: no runtime state, no cgroup directory, no mount.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{stderr, stdout};
use sha2::{Digest, Sha256};

const IMAGE: &str = "localhost/containy-test-busybox:latest";

/// A containerd daemon of our own; dropping it stops the daemon and removes what it kept.
struct Containerd {
    dir: PathBuf,
    namespace: String,
    daemon: Child,
}

impl Containerd {
    fn start() -> Containerd {
        assert!(
            Path::new("/usr/bin/containerd").exists(),
            "containerd is not installed: install.sh installs it (apt-get install containerd)"
        );
        common::remove_stale("containy-ctd-");
        // Short: the daemon's unix sockets live below it, and socket paths are limited to 108 bytes.
        let dir = std::env::temp_dir().join(format!("containy-ctd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!(
            "version = 2\nroot = {:?}\nstate = {:?}\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\naddress = {:?}\n",
            dir.join("root"),
            dir.join("state"),
            dir.join("c.sock")
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let namespace = format!("containy-test-{}", std::process::id());
        let ctd = Containerd { dir, namespace, daemon };
        let deadline = Instant::now() + Duration::from_secs(20);
        while ctd.ctr(&["version"]).status.code() != Some(0) {
            assert!(Instant::now() < deadline, "containerd did not come up: see {}", ctd.dir.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        ctd
    }

    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(self.dir.join("c.sock"))
            .args(["--namespace", &self.namespace])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ctr")
    }

    /// `ctr run --runc-binary containy …`: the runc shim execs containy wherever it would exec runc.
    fn run(&self, extra: &[&str], id: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["run", "--snapshotter", "native", "--runc-binary", common::CONTAINY];
        args.extend_from_slice(extra);
        args.extend([IMAGE, id]);
        args.extend_from_slice(cmd);
        self.ctr(&args)
    }

    /// Nothing of container `id` is left: the shim's runtime state, cgroup dirs, mounts.
    fn assert_gone(&self, id: &str) {
        let state = Path::new("/run/containerd/runc").join(&self.namespace).join(id);
        assert!(!state.exists(), "runtime state left behind: {}", state.display());
        assert!(common::cgroup_dirs_named(id).is_empty());
        let namespaced: Vec<PathBuf> = cgroup_roots().map(|r| r.join(&self.namespace).join(id)).collect();
        assert!(namespaced.iter().all(|d| !d.exists()), "cgroup dirs left behind: {namespaced:?}");
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mountinfo.contains(&format!("/{id}/")), "mounts left behind: {mountinfo}");
    }
}

fn cgroup_roots() -> impl Iterator<Item = PathBuf> {
    let hierarchies = std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten().map(|e| e.path());
    std::iter::once(PathBuf::from("/sys/fs/cgroup")).chain(hierarchies)
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // The namespace's parent cgroup and runtime root belong to the engine, which keeps them; ours go.
        for root in cgroup_roots() {
            let _ = std::fs::remove_dir(root.join(&self.namespace));
        }
        let _ = std::fs::remove_dir_all(Path::new("/run/containerd/runc").join(&self.namespace));
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let dir = self.dir.display().to_string();
        if !std::thread::panicking() {
            assert!(!mountinfo.contains(&dir), "containerd left mounts under {dir}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An OCI image-layout archive of the busybox rootfs: one layer, a config, a manifest, an index naming it.
fn image_archive(dir: &Path) -> PathBuf {
    let layout = dir.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let blob = |bytes: &[u8]| -> (String, usize) {
        let digest = format!("{:x}", Sha256::digest(bytes));
        std::fs::write(blobs.join(&digest), bytes).unwrap();
        (format!("sha256:{digest}"), bytes.len())
    };
    let layer_tar = dir.join("layer.tar");
    let tar = Command::new("tar").arg("-C").arg(common::busybox_rootfs()).arg("-cf").arg(&layer_tar).arg(".").status();
    assert!(tar.unwrap().success(), "tar of the busybox rootfs");
    let (layer, layer_size) = blob(&std::fs::read(&layer_tar).unwrap());
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer]},
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin:/sbin:/usr/bin"]},
    });
    let (config, config_size) = blob(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}],
    });
    let (manifest, manifest_size) = blob(manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest, "size": manifest_size,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": IMAGE, "org.opencontainers.image.ref.name": "latest"},
        }],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let archive = dir.join("image.tar");
    let tar = Command::new("tar").arg("-C").arg(&layout).arg("-cf").arg(&archive).arg(".").status();
    assert!(tar.unwrap().success(), "tar of the image layout");
    archive
}

#[test]
fn ctr_runs_containers_with_containy_as_the_runc_binary() {
    require_root!();
    let ctd = Containerd::start();
    let archive = image_archive(&ctd.dir);
    let out = ctd.ctr(&["images", "import", archive.to_str().unwrap()]);
    assert!(out.status.success(), "ctr images import: {}", stderr(&out));

    // Foreground: output and exit codes come back through the shim.
    let out = ctd.run(&["--rm"], "echo", &["sh", "-c", "echo hello from pid $$"]);
    assert!(out.status.success(), "ctr run: {} {}", stdout(&out), stderr(&out));
    assert!(stdout(&out).starts_with("hello from pid 1\n"), "{}", stdout(&out));
    ctd.assert_gone("echo");
    let out = ctd.run(&["--rm"], "exit3", &["sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    ctd.assert_gone("exit3");

    // Detached, then exec into it through the shim (`exec --process … --detach`), then kill and delete.
    let out = ctd.run(&["-d"], "bg", &["sleep", "300"]);
    assert!(out.status.success(), "ctr run -d: {}", stderr(&out));
    let out = ctd.ctr(&["task", "exec", "--exec-id", "e1", "bg", "sh", "-c", "cat /proc/1/comm; exit 4"]);
    assert_eq!(out.status.code(), Some(4), "ctr task exec: {}", stderr(&out));
    assert_eq!(stdout(&out), "sleep\n");
    let ps = ctd.ctr(&["task", "ps", "bg"]);
    assert!(ps.status.success(), "ctr task ps: {}", stderr(&ps));
    let out = ctd.ctr(&["task", "kill", "--signal", "SIGKILL", "bg"]);
    assert!(out.status.success(), "ctr task kill: {}", stderr(&out));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !stdout(&ctd.ctr(&["task", "ls"])).contains("STOPPED") {
        assert!(Instant::now() < deadline, "the task never stopped: {}", stdout(&ctd.ctr(&["task", "ls"])));
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = ctd.ctr(&["task", "delete", "bg"]);
    assert!(out.status.success(), "ctr task delete: {}", stderr(&out));
    let out = ctd.ctr(&["container", "delete", "bg"]);
    assert!(out.status.success(), "ctr container delete: {}", stderr(&out));
    ctd.assert_gone("bg");
}
