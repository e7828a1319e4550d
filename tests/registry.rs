//! Pull and push against real registries: Debian's `docker-registry` (plain HTTP; TLS with htpasswd basic
//! auth; token auth behind the test's own token server), podman and skopeo as cross-checks, and a fake
//! registry for every way a registry can lie. Images come from the busybox rootfs of tests/common,
//! imported by containy. Every registry listens on 127.0.0.1 at a free port and is stopped by a Drop guard;
//! every containy command gets a private store, state root and credentials file; each test ends checking
//! that no store tmp dir, mount or container state is left.

mod common;
mod image_env;
mod registry_env;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use common::{stderr, stdout};
use image_env::{Env, busybox_tarball};
use registry_env::{FakeImage, Registry, TokenServer, gzip, http, sha, tar_of};

/// A private world for one test: store, state, credentials, registries.conf.
struct World {
    env: Env,
}

impl World {
    fn new() -> World {
        let env = Env::new();
        std::fs::write(env.dir.path().join("registries.conf"), "unqualified-search-registries = []\n").unwrap();
        World { env }
    }

    /// Mark `host` insecure in this world's registries.conf (podman's format).
    fn insecure(&self, host: &str) {
        let conf = format!("[[registry]]\nlocation = \"{host}\"\ninsecure = true\n");
        std::fs::write(self.env.dir.path().join("registries.conf"), conf).unwrap();
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        c.env("REGISTRY_AUTH_FILE", self.env.dir.path().join("auth.json"))
            .env("CONTAINERS_REGISTRIES_CONF", self.env.dir.path().join("registries.conf"))
            .env_remove("XDG_RUNTIME_DIR");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
        self.env.assert_no_leaks(0);
        out
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "containy {args:?}: {}{}", stdout(&out), stderr(&out));
        stdout(&out).trim().to_string()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "containy {args:?} should fail: {}", stdout(&out));
        stderr(&out)
    }

    /// The busybox rootfs imported as `bb`.
    fn with_busybox(self) -> World {
        let tarball = busybox_tarball(self.env.dir.path());
        self.ok(&["image", "import", "bb", tarball.to_str().unwrap()]);
        self
    }

    fn inspect(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["image", "inspect", name])).unwrap()
    }

    /// No tmp dir, every named image complete.
    fn assert_clean(&self) {
        self.env.assert_no_leaks(0);
        self.env.assert_consistent();
    }
}

const NO_TLS: &str = "--tls-verify=false";

#[test]
fn push_then_pull_round_trips_by_tag_and_digest_and_a_second_pull_downloads_nothing() {
    require_root!();
    let reg = Registry::plain();
    let src = World::new().with_busybox();
    let tag = format!("{}/team/bb:1", reg.host());
    let digest = src.ok(&["image", "push", NO_TLS, "bb", &tag]);
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    // The same content to another repository: the layer is mounted, not sent again.
    let out = src.cmd(&["image", "push", NO_TLS, "bb", &format!("{}/other/bb:1", reg.host())]).output().unwrap();
    assert!(stderr(&out).contains("0 uploaded, 1 mounted"), "{}", stderr(&out));
    // zstd layers are pushed and pulled too.
    let zstd = format!("{}/team/bb:zstd", reg.host());
    src.ok(&["image", "push", NO_TLS, "--compression", "zstd", "bb", &zstd]);

    let dst = World::new();
    let id = dst.ok(&["pull", NO_TLS, &tag]);
    let image = dst.inspect(&tag);
    assert_eq!(image["digest"], digest.as_str(), "the pulled manifest is the pushed one");
    assert_eq!(format!("sha256:{}", image["id"].as_str().unwrap().trim_start_matches("sha256:")), id);
    let layers = dst.env.layers();
    let out = dst.cmd(&["pull", NO_TLS, &tag]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("0 downloaded") && stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(dst.env.layers(), layers);
    let pinned = format!("{}/team/bb@{digest}", reg.host());
    assert_eq!(dst.ok(&["pull", NO_TLS, &pinned]), id, "by digest: the same image");
    assert_eq!(dst.inspect(&pinned)["digest"], digest.as_str());
    dst.ok(&["pull", NO_TLS, &zstd]);
    let out = dst.ok(&["run", "--image", &zstd, "--", "/bin/sh", "-c", "echo pulled-and-ran"]);
    assert_eq!(out, "pulled-and-ran");

    // Pushing the pulled image back gives the same digests: the round trip is exact.
    let again = dst.ok(&["image", "push", NO_TLS, &tag, &format!("{}/round/trip:1", reg.host())]);
    assert_eq!(again, digest);
    dst.assert_clean();
    src.assert_clean();
}

#[test]
fn tls_registry_with_basic_auth_login_push_pull_logout() {
    require_root!();
    let reg = Registry::tls_basic("alice", "wonder1and");
    let cert_dir = reg.cert_dir();
    let cert = ["--cert-dir", cert_dir.to_str().unwrap()];
    let w = World::new().with_busybox();
    let tag = format!("{}/secure/bb:1", reg.host());

    let err = w.fails(&["image", "push", cert[0], cert[1], "bb", &tag]);
    assert!(err.contains("unauthorized") && err.contains("containy login"), "{err}");
    let err = w.fails(&["pull", &tag]);
    assert!(err.contains("--tls-verify=false") || err.contains("certificate"), "without the CA: {err}");
    let err = w.fails(&["login", cert[0], cert[1], "-u", "alice", "-p", "wrong", &reg.host()]);
    assert!(err.contains("unauthorized") && !err.contains("wrong"), "{err}");

    let mut login = w.cmd(&["login", cert[0], cert[1], "-u", "alice", "--password-stdin", &reg.host()]);
    let mut child = login.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"wonder1and\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("wonder1and") && !stderr(&out).contains("wonder1and"));
    let auth = w.env.dir.path().join("auth.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&auth).unwrap().permissions().mode() & 0o777, 0o600);
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&auth).unwrap()).unwrap();
    assert!(stored["auths"][reg.host()]["auth"].is_string(), "{stored}");

    let digest = w.ok(&["image", "push", cert[0], cert[1], "bb", &tag]);
    let fresh = World::new();
    std::fs::copy(&auth, fresh.env.dir.path().join("auth.json")).unwrap();
    fresh.ok(&["pull", cert[0], cert[1], &tag]);
    fresh.ok(&["pull", NO_TLS, &format!("{}/secure/bb@{digest}", reg.host())]);
    assert_eq!(fresh.inspect(&tag)["digest"], digest.as_str());

    w.ok(&["logout", &reg.host()]);
    let err = w.fails(&["pull", cert[0], cert[1], &tag]);
    assert!(err.contains("unauthorized"), "after logout: {err}");
    w.assert_clean();
    fresh.assert_clean();
}

#[test]
fn token_auth_registry_with_the_tests_own_token_server() {
    require_root!();
    // alice may push and pull; an anonymous client may pull; bob gets tokens that grant nothing.
    let grant: registry_env::Grant = Arc::new(|user: Option<&str>, _repo: &str, actions: &str| match user {
        Some("alice") => actions.split(',').map(str::to_string).collect(),
        Some(_) => Vec::new(),
        None => actions.split(',').filter(|a| *a == "pull").map(str::to_string).collect(),
    });
    let tokens = TokenServer::start(&["alice:s3cret", "bob:b0b"], grant);
    let reg = Registry::token(&tokens.realm(), &tokens.cert());
    let w = World::new().with_busybox();
    let tag = format!("{}/tok/bb:1", reg.host());
    let err = w.fails(&["image", "push", NO_TLS, "bb", &tag]);
    assert!(err.contains("unauthorized") || err.contains("401"), "anonymous push: {err}");
    let mut login = w.cmd(&["login", NO_TLS, "-u", "alice", "--password-stdin", &reg.host()]);
    let mut child = login.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "login: {}", stderr(&out));
    let digest = w.ok(&["image", "push", NO_TLS, "bb", &tag]);
    // Anonymous pull: a token for pull only, fetched from the realm.
    let anon = World::new();
    anon.ok(&["pull", NO_TLS, &tag]);
    assert_eq!(anon.inspect(&tag)["digest"], digest.as_str());
    // bob's token is real but grants nothing: the registry answers 401 to it, and that is the error.
    let bob = World::new();
    let auth = bob.env.dir.path().join("auth.json");
    let creds = registry_env::base64(b"bob:b0b", false);
    std::fs::write(&auth, format!(r#"{{"auths":{{"{}":{{"auth":"{creds}"}}}}}}"#, reg.host())).unwrap();
    let err = bob.fails(&["pull", NO_TLS, &tag]);
    assert!(err.contains(&format!("cannot pull {tag}")) && err.contains("unauthorized"), "{err}");
    assert!(bob.env.layers().is_empty());
    bob.assert_clean();
    let scopes: Vec<String> = tokens.fake.requests().iter().map(|r| r.path.clone()).collect();
    assert!(scopes.iter().any(|p| p.contains("scope=repository%3Atok%2Fbb%3Apull")), "{scopes:?}");
    anon.assert_clean();
    w.assert_clean();
}

/// An OCI layout archive holding one image of `architecture` made of `tar`.
fn oci_layout_archive(tar: &[u8], architecture: &str) -> Vec<u8> {
    let img = FakeImage::new(tar, &gzip(tar), architecture);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": img.digest(),
                        "size": img.manifest.len() }],
    }))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", &index);
    add(&format!("blobs/sha256/{}", sha(&img.manifest)), &img.manifest);
    for (d, blob) in img.blobs() {
        add(&format!("blobs/sha256/{}", d.trim_start_matches("sha256:")), &blob);
    }
    b.into_inner().unwrap()
}

#[test]
fn a_multi_platform_index_picks_this_machine_and_arm64_cannot_run() {
    require_root!();
    let reg = Registry::plain();
    let w = World::new().with_busybox();
    let amd64 = w.ok(&["image", "push", NO_TLS, "bb", &format!("{}/multi/bb:amd64", reg.host())]);
    let arm_tar = tar_of(&[("bin/hello", b"#!/bin/sh\necho arm\n".to_vec())]);
    let archive = w.env.dir.path().join("arm.tar");
    std::fs::write(&archive, oci_layout_archive(&arm_tar, "arm64")).unwrap();
    w.ok(&["image", "import", "armbox", archive.to_str().unwrap()]);
    let arm64 = w.ok(&["image", "push", NO_TLS, "armbox", &format!("{}/multi/bb:arm64", reg.host())]);
    let size = |tag: &str| {
        let url = format!("http://{}/v2/multi/bb/manifests/{tag}", reg.host());
        let (_, _, body) = http("GET", &url, &[("Accept", "application/vnd.oci.image.manifest.v1+json")], b"");
        body.len()
    };
    let entry = |digest: &str, size: usize, os: &str, arch: &str, variant: Option<&str>| {
        let mut platform = serde_json::json!({"os": os, "architecture": arch});
        if let Some(v) = variant {
            platform["variant"] = v.into();
        }
        serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                           "size": size, "platform": platform})
    };
    let mut attestation = entry(&amd64, size("amd64"), "unknown", "unknown", None);
    attestation["annotations"] = serde_json::json!({"vnd.docker.reference.type": "attestation-manifest"});
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [attestation, entry(&arm64, size("arm64"), "linux", "arm64", Some("v8")),
                      entry(&amd64, size("amd64"), "linux", "amd64", None)],
    }))
    .unwrap();
    let url = format!("http://{}/v2/multi/bb/manifests/1", reg.host());
    let (status, head, _) = http("PUT", &url, &[("Content-Type", "application/vnd.oci.image.index.v1+json")], &index);
    assert_eq!(status, 201, "PUT index: {head}");

    let tag = format!("{}/multi/bb:1", reg.host());
    let host = World::new();
    host.ok(&["pull", NO_TLS, &tag]);
    let image = host.inspect(&tag);
    assert_eq!((image["architecture"].as_str(), image["digest"].as_str()), (Some("amd64"), Some(amd64.as_str())));
    assert_eq!(host.ok(&["run", "--image", &tag, "--", "/bin/sh", "-c", "echo amd64 runs"]), "amd64 runs");

    let arm = World::new();
    arm.ok(&["pull", NO_TLS, "--platform", "linux/arm64", &tag]);
    assert_eq!(arm.inspect(&tag)["architecture"], "arm64");
    let err = arm.fails(&["run", "--image", &tag, "--", "/bin/hello"]);
    assert!(err.contains("linux/arm64") && err.contains("cannot run"), "{err}");
    let err = arm.fails(&["pull", NO_TLS, "--platform", "linux/s390x", &tag]);
    assert!(err.contains("linux/s390x") && err.contains("linux/arm64/v8, linux/amd64") && err.contains(&tag), "{err}");
    host.assert_clean();
    arm.assert_clean();
}

/// podman with a private storage and config (as tests/podman.rs), runc as its runtime.
fn podman(dir: &Path, args: &[&str]) -> Output {
    let conf = dir.join("containers.conf");
    if !conf.exists() {
        std::fs::write(dir.join("registries.conf"), "unqualified-search-registries = []\n").unwrap();
        std::fs::write(
            &conf,
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
        )
        .unwrap();
    }
    Command::new("podman")
        .arg("--root")
        .arg(dir.join("storage"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args(["--storage-driver", "vfs", "--runtime", "runc"])
        .args(args)
        .env("CONTAINERS_CONF", &conf)
        .env("CONTAINERS_REGISTRIES_CONF", dir.join("registries.conf"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn podman_pulls_and_runs_what_containy_pushed() {
    require_root!();
    let reg = Registry::plain();
    let w = World::new().with_busybox();
    let tag = format!("{}/cross/bb:1", reg.host());
    w.ok(&["image", "push", NO_TLS, "bb", &tag]);
    let dir = tempfile::tempdir().unwrap();
    let out = podman(dir.path(), &["pull", "--tls-verify=false", &tag]);
    assert!(out.status.success(), "podman pull: {}", stderr(&out));
    let out = podman(dir.path(), &["run", "--rm", "--network", "none", &tag, "/bin/sh", "-c", "echo podman-ran-it"]);
    assert!(out.status.success(), "podman run: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "podman-ran-it");
    let _ = podman(dir.path(), &["rmi", "--all", "--force"]);
    w.assert_clean();
}

#[test]
fn skopeo_pushed_images_pull_and_run() {
    require_root!();
    let reg = Registry::plain();
    let w = World::new().with_busybox();
    let archive = w.env.dir.path().join("bb-oci.tar");
    w.ok(&["image", "export", "bb", archive.to_str().unwrap()]);
    let layout = w.env.dir.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    tar::Archive::new(std::fs::File::open(&archive).unwrap()).unpack(&layout).unwrap();
    let tag = format!("{}/skopeo/bb:1", reg.host());
    let out = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}", layout.display()))
        .arg(format!("docker://{tag}"))
        .env("CONTAINERS_REGISTRIES_CONF", w.env.dir.path().join("registries.conf"))
        .output()
        .expect("skopeo (install.sh installs it)");
    assert!(out.status.success(), "skopeo copy: {}", stderr(&out));
    w.insecure(&reg.host());
    assert_eq!(
        w.ok(&["run", "--image", &tag, "--pull=always", "--", "/bin/sh", "-c", "echo skopeo-pushed"]),
        "skopeo-pushed"
    );
    w.assert_clean();
}

#[test]
fn run_pulls_a_missing_image_as_the_policy_says() {
    require_root!();
    let reg = Registry::plain();
    let src = World::new().with_busybox();
    let tag = format!("{}/run/bb:1", reg.host());
    src.ok(&["image", "push", NO_TLS, "bb", &tag]);
    let w = World::new();
    let err = w.fails(&["run", "--image", &tag, "--pull=never", "--", "/bin/true"]);
    assert!(err.contains("no image") && err.contains(&tag), "{err}");
    // Without an insecure setting, plain HTTP is refused.
    let err = w.fails(&["run", "--image", &tag, "--", "/bin/true"]);
    assert!(err.contains(&tag), "{err}");
    w.insecure(&reg.host());
    assert_eq!(w.ok(&["run", "--image", &tag, "--", "/bin/sh", "-c", "echo pulled-by-run"]), "pulled-by-run");
    // A friendly bundle naming the image, in a fresh store: pulled when missing.
    let other = World::new();
    other.insecure(&reg.host());
    let bundle = tempfile::tempdir().unwrap();
    std::fs::write(
        bundle.path().join("configy.toml"),
        format!("[process]\nargs = [\"/bin/sh\", \"-c\", \"echo from-rootfs-image\"]\n[rootfs]\nimage = \"{tag}\"\n"),
    )
    .unwrap();
    let out = other.ok(&["run", "--bundle", bundle.path().to_str().unwrap()]);
    assert_eq!(out, "from-rootfs-image");
    w.assert_clean();
    other.assert_clean();
}

/// The busybox rootfs as one gzip layer, and an image whose "layer" is not a tar at all.
fn liar_images() -> (FakeImage, FakeImage) {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", common::busybox_rootfs()).unwrap();
    let tar = b.into_inner().unwrap();
    let good = FakeImage::new(&tar, &gzip(&tar), "amd64");
    let junk: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 1).collect();
    let bad = FakeImage::new(&junk, &junk, "amd64");
    (good, bad)
}

#[test]
fn a_lying_registry_is_caught_nothing_partial_is_stored_and_the_next_pull_works() {
    require_root!();
    let (good, bad) = liar_images();
    let layer = good.layer_digest();
    let servers = registry_env::start_liar(good, bad.clone());
    let host = servers.registry.host();
    let bad_layer = bad.layer_digest();
    let cases: [(&str, &[&str]); 7] = [
        ("mismatch", &["digest mismatch", &layer]),
        ("huge", &["larger than 4194304 bytes", "manifest 1"]),
        ("nontar", &["not a tar archive", &bad_layer]),
        ("noplatform", &["no image for platform linux/amd64", "linux/arm64, linux/s390x"]),
        ("loop", &["redirected", "in a loop", &layer]),
        ("unauth", &["unauthorized", "401", &layer]),
        ("stall", &["timed out", "stalled", &layer]),
    ];
    for (scenario, expected) in cases {
        let w = World::new();
        let reference = format!("{host}/{scenario}:1");
        // Only the stall needs a short timeout; the others get one no loaded machine reaches.
        let timeout = if scenario == "stall" { "3" } else { "30" };
        let err = w.fails(&["pull", NO_TLS, "--read-timeout", timeout, &reference]);
        assert!(err.contains(&format!("cannot pull {reference}")), "{scenario}: {err}");
        for e in expected {
            assert!(err.contains(e), "{scenario}: expected {e:?} in: {err}");
        }
        assert!(w.env.layers().is_empty(), "{scenario}: a layer was stored: {:?}", w.env.layers());
        w.assert_clean();
        let out = w.cmd(&["pull", NO_TLS, "--read-timeout", "30", &reference]).output().unwrap();
        assert!(out.status.success(), "{scenario}: the next pull: {}", stderr(&out));
        assert_eq!(w.env.layers().len(), 1, "{scenario}");
        w.assert_clean();
        if scenario == "stall" {
            assert_eq!(
                w.ok(&["run", "--image", &reference, "--", "/bin/sh", "-c", "echo after-the-lies"]),
                "after-the-lies"
            );
        }
    }
    // Every request but the token's carried the bearer token the realm handed out.
    let requests = servers.registry.requests();
    assert!(requests.iter().any(|r| r.path.starts_with("/token")));
    assert!(requests.iter().filter(|r| r.path.contains("/manifests/")).all(|r| r.header("authorization").is_some()));
}

#[test]
fn blobs_redirected_to_another_host_get_no_authorization() {
    require_root!();
    let (good, bad) = liar_images();
    let servers = registry_env::start_liar(good, bad);
    let w = World::new();
    w.ok(&["pull", NO_TLS, &format!("{}/redirect:1", servers.registry.host())]);
    let storage = servers.storage.requests();
    assert_eq!(storage.len(), 1, "{storage:?}");
    assert_eq!(storage[0].header("authorization"), None, "the token leaked to another host");
    let to_registry = servers.registry.requests();
    let blob =
        to_registry.iter().find(|r| r.path.contains("/blobs/") && r.path.ends_with(&servers.liar.good.layer_digest()));
    assert_eq!(blob.and_then(|r| r.header("authorization")), Some("Bearer good"));
    w.assert_clean();
}

/// A tmpfs mounted by the test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_mid_layer_leaves_nothing_and_the_next_pull_works() {
    require_root!();
    let (good, bad) = liar_images();
    let layer = good.layer_digest();
    let servers = registry_env::start_liar(good, bad);
    let w = World::new();
    // The store on a 1 MiB tmpfs outside the world's dir (whose leak check would see the mount).
    let disk = tempfile::tempdir().unwrap();
    let store = disk.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"]).arg(&store).status();
    assert!(mounted.unwrap().success(), "mount tmpfs");
    let _tmpfs = Tmpfs(store.clone());
    let pull = |reference: &str| w.cmd(&["pull", NO_TLS, reference]).env("CONTAINY_STORE", &store).output().unwrap();
    let entries = |dir: &str| std::fs::read_dir(store.join(dir)).map(|d| d.count()).unwrap_or(0);
    let reference = format!("{}/diskfull:1", servers.registry.host());
    let out = pull(&reference);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("No space left on device") && err.contains(&layer) && err.contains(&reference), "{err}");
    assert_eq!((entries("layers"), entries("tmp"), entries("images")), (0, 0, 0), "nothing partial stays");
    let grown = Command::new("mount").args(["-o", "remount,size=64m"]).arg(&store).status();
    assert!(grown.unwrap().success());
    let out = pull(&reference);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!((entries("layers"), entries("tmp"), entries("images")), (1, 0, 1));
}

#[test]
fn a_pull_killed_mid_layer_leaves_no_layer_and_the_next_pull_cleans_up() {
    require_root!();
    let (good, bad) = liar_images();
    let servers = registry_env::start_liar(good, bad);
    let w = World::new();
    let reference = format!("{}/stall:1", servers.registry.host());
    let mut child = w.cmd(&["pull", NO_TLS, &reference]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Wait until the layer is being unpacked into a tmp dir (the liar stalls it half sent), then kill -9.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let tmp = w.env.store().join("tmp");
    let unpacking = || std::fs::read_dir(&tmp).map(|d| d.flatten().any(|e| e.path().join("diff/bin").exists()));
    while !unpacking().unwrap_or(false) {
        assert!(std::time::Instant::now() < deadline, "the pull never started unpacking the layer");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(left.len(), 1, "the killed pull's tmp dir (its half layer): {left:?}");
    assert!(w.env.layers().is_empty(), "no layer was published");
    w.ok(&["pull", NO_TLS, &reference]);
    assert_eq!(w.env.layers().len(), 1);
    w.assert_clean();
}
