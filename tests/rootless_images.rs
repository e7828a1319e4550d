//! Images for an ordinary user: `image import` and `build` with owners kept, `pull` and a `run --image` that
//! pulls from a real registry (Debian's `docker-registry` on 127.0.0.1, started and stopped by the test), and
//! the warning for image files whose owner the user's ids cannot hold (no subuid range, or one too small).
//! Layers are extracted as root of a user namespace with the user's subordinate ids, so a file of uid 1000 in
//! the image is uid 1000 inside the container and range start + 999 on the host.

mod common;
mod registry_env;
mod rootless_env;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{CONTAINY, stderr, stdout};
use rootless_env::{TestUser, owned_tarball};

/// Where the user's image store keeps layers.
fn layers(user: &TestUser) -> PathBuf {
    user.home().join(".local/share/containy/layers")
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
    let store = layers(&user);
    let layer = std::fs::read_dir(&store).unwrap().flatten().next().unwrap().path();
    assert_eq!(std::fs::metadata(layer.join("diff/home/u/file")).unwrap().uid(), user.range_start() + 999);

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
fn pull_and_run_image_fetch_from_a_registry_and_keep_the_owners() {
    require_root!();
    if !Path::new("/usr/bin/docker-registry").exists() && rootless_env::is_cgroup_v2() {
        eprintln!("skipped: no docker-registry in the cgroup v2 VM");
        return;
    }
    let registry = registry_env::Registry::plain();
    // Root imports the image (owners kept) into a store of the test's, and pushes it under two names.
    let root_store = tempfile::tempdir().unwrap();
    let tar = root_store.path().join("own.tar");
    owned_tarball(&tar);
    let root_containy = |args: &[&str]| {
        let out =
            Command::new(CONTAINY).env("CONTAINY_STORE", root_store.path().join("store")).args(args).output().unwrap();
        assert!(out.status.success(), "containy {args:?}: {}", stderr(&out));
    };
    root_containy(&["image", "import", "own:1", tar.to_str().unwrap()]);
    let (pulled, run_pulls) = (format!("{}/rl/own:1", registry.host()), format!("{}/rl/own:2", registry.host()));
    for name in [&pulled, &run_pulls] {
        root_containy(&["image", "push", "--tls-verify=false", "own:1", name]);
    }

    let mut user = TestUser::new(true);
    // Plain HTTP to this registry: the user's registries.conf says so (as podman's does).
    let conf = user.home().join("registries.conf");
    std::fs::write(&conf, format!("[[registry]]\nlocation = \"{}\"\ninsecure = true\n", registry.host())).unwrap();
    let containy = |user: &TestUser, args: &[&str]| {
        user.command(args, Some(&user.run_dir())).env("CONTAINERS_REGISTRIES_CONF", &conf).output().unwrap()
    };
    let stat = ["--", "stat", "-c", "%u:%g %n", "/home/u/file", "/bin"];
    // On the host the file belongs to the user's subordinate id 999 above the range start.
    let host_owner = |user: &TestUser| {
        let layer = std::fs::read_dir(layers(user)).unwrap().flatten().next().unwrap().path();
        std::fs::metadata(layer.join("diff/home/u/file")).unwrap().uid()
    };
    // run --image of an image not in the store pulls it first.
    let id = user.id();
    let out = containy(&user, &[&["run", "--image", &run_pulls, &id][..], &stat].concat());
    assert_eq!(stdout(&out), "1000:1000 /home/u/file\n0:0 /bin\n", "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert_eq!(host_owner(&user), user.range_start() + 999);
    // The layer goes, so that `pull` extracts it again.
    assert!(containy(&user, &["image", "rm", &run_pulls]).status.success());
    assert!(containy(&user, &["image", "prune"]).status.success());
    assert_eq!(std::fs::read_dir(layers(&user)).unwrap().count(), 0);
    let out = containy(&user, &["pull", &pulled]);
    assert!(out.status.success(), "pull: {}", stderr(&out));
    assert!(stdout(&out).trim().starts_with("sha256:"), "{}", stdout(&out));
    let id = user.id();
    let out = containy(&user, &[&["run", "--pull", "never", "--image", &pulled, &id][..], &stat].concat());
    assert_eq!(stdout(&out), "1000:1000 /home/u/file\n0:0 /bin\n", "{}", stderr(&out));
    assert_eq!(host_owner(&user), user.range_start() + 999);
    // A pull that fails says why, and leaves no half-pulled layer.
    let out = containy(&user, &["pull", &format!("{}/rl/missing:1", registry.host())]);
    assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
    assert!(stderr(&out).contains("rl/missing"), "{}", stderr(&out));
    let id = user.id();
    let out = containy(&user, &["run", "--image", &format!("{}/rl/missing:1", registry.host()), &id, "--", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("pulling it failed too") && stderr(&out).contains("manifest unknown"),
        "{}",
        stderr(&out)
    );
    let tmp = user.home().join(".local/share/containy/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "a failed pull left {left:?}");

    let out = containy(&user, &["image", "rm", &pulled]);
    assert!(out.status.success(), "image rm: {}", stderr(&out));
    assert!(containy(&user, &["image", "prune"]).status.success());
    assert_eq!(std::fs::read_dir(layers(&user)).unwrap().count(), 0);
    user.assert_no_leaks();
}

#[test]
fn image_files_of_ids_the_user_cannot_hold_are_named_in_a_warning() {
    require_root!();
    // No range: only root exists inside. A range of 100: uid 1000 is beyond it.
    for count in [0, 100] {
        let mut user = TestUser::with_ids(count);
        let tar = user.home().join("own.tar");
        owned_tarball(&tar);
        user.chown(&tar);
        let out = user.containy(&["image", "import", "own:1", tar.to_str().unwrap()]);
        assert!(out.status.success(), "import: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("home/u/file: owner 1000:1000 is not mapped in this user namespace"), "{err}");
        assert!(err.contains("or one too small for this id"), "{err}");
        let id = user.id();
        let out = user.containy(&["run", "--image", "own:1", &id, "--", "stat", "-c", "%u %n", "/home/u/file"]);
        assert_eq!(stdout(&out), "0 /home/u/file\n", "owned by root of the container: {}", stderr(&out));
        user.assert_no_leaks();
    }
}
