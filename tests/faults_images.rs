//! The image rows of the fault matrix: `image import` (a root filesystem tarball, and an image archive read
//! from a pipe), `build`, `pull` (from Debian's registry on 127.0.0.1) and `image prune` are made to die
//! (SIGKILL) or fail with an error at every named point of their namespaces in `containy::fault::POINTS`
//! (`CONTAINY_FAULT=import.2:kill` …) — a point added later is in the matrix without editing this file —
//! and a build also at the runtime steps its RUN container takes. After each: `image prune` succeeds and
//! leaves nothing (no tmp dir or temp file, no layer no image uses, no record no name points at, no file
//! that is not a record, no mount, no RUN container's state or cgroup), and the same operation works again.

mod common;
mod image_env;
mod registry_env;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Output, Stdio};

use common::{stderr, stdout};
use image_env::{Env, busybox_tarball};
use registry_env::Registry;

/// The named points of these namespaces (`import` covers `import.*`; `store.1` is one point).
fn points(prefixes: &[&str]) -> Vec<&'static str> {
    containy::fault::POINTS
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| prefixes.iter().any(|pre| p.starts_with(&format!("{pre}.")) || p == pre))
        .collect()
}

fn faults(points: &[&str]) -> Vec<String> {
    points.iter().flat_map(|p| [format!("{p}:kill"), format!("{p}:error")]).collect()
}

/// `containy ARGS` with the fault set (if any), stdin from `input` (or /dev/null); its output and pid.
fn with_fault(env: &Env, fault: Option<&str>, args: &[&str], input: Option<&Path>) -> (Output, u32) {
    let mut cmd = env.cmd(args);
    cmd.env("CONTAINERS_REGISTRIES_CONF", env.dir.path().join("registries.conf"));
    if let Some(fault) = fault {
        cmd.env("CONTAINY_FAULT", fault);
    }
    if let Some(input) = input {
        cmd.stdin(std::fs::File::open(input).unwrap());
    }
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    (child.wait_with_output().unwrap(), pid)
}

/// The fault struck where it was asked to: a kill is a SIGKILL, an error names the point. (A point the
/// operation never reaches would pass every check after it: this is what makes the matrix able to fail.)
fn assert_struck(fault: &str, out: &Output) {
    let (point, action) = fault.split_once(':').unwrap();
    if action == "kill" {
        assert_eq!(out.status.signal(), Some(9), "{fault}: not killed: {:?} {}", out.status, stderr(out));
    } else {
        assert!(!out.status.success(), "{fault}: succeeded");
        let named = format!("fault injected at {point}");
        let step = format!("fault injected at step {point}");
        assert!(stderr(out).contains(&named) || stderr(out).contains(&step), "{fault}: {}", stderr(out));
    }
}

/// After `image prune`: nothing but complete, named images. tmp/ is empty, every layer is an image's, every
/// image record is named, `images/` holds records only and the store's root only its own files; no mount,
/// no container state, no cgroup of a RUN container of the struck process (`pid`).
fn assert_pruned_clean(env: &Env, fault: &str, pid: u32) {
    let out = env.cmd(&["image", "prune"]).output().unwrap();
    assert!(out.status.success(), "{fault}: image prune: {}", stderr(&out));
    env.assert_no_leaks(pid);
    env.assert_consistent();
    let store = env.store();
    let index: std::collections::BTreeMap<String, String> =
        std::fs::read(store.join("index.json")).map(|b| serde_json::from_slice(&b).unwrap()).unwrap_or_default();
    let mut used = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(store.join("images")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let id = name.strip_suffix(".json").unwrap_or_else(|| panic!("{fault}: a stray file images/{name}"));
        assert!(index.values().any(|v| v == id), "{fault}: image record {id} no name points at");
        let record: serde_json::Value = serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).unwrap();
        used.extend(record["layers"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()));
    }
    for layer in env.layers() {
        assert!(used.contains(&layer), "{fault}: layer {layer} no image uses");
    }
    let allowed = ["layers", "images", "tmp", "empty", "lock", "index.json", "index.lock", "push-cache.json"];
    for entry in std::fs::read_dir(&store).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(allowed.contains(&name.as_str()), "{fault}: a stray {name} in the store");
    }
}

/// A small root filesystem tarball (a few files, a directory, a symlink): what import and pull store is
/// the same for ten files as for ten thousand, and the matrix runs each operation dozens of times.
fn small_tarball(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("small.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    for (name, body) in [("etc/hostname", "small\n"), ("bin/hello", "#!/bin/sh\necho hello\n"), ("data/x", "x")] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o755);
        h.set_cksum();
        b.append_data(&mut h, name, body.as_bytes()).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    h.set_cksum();
    b.append_link(&mut h, "bin/sh", "hello").unwrap();
    b.finish().unwrap();
    path
}

/// `image rm` of every name and `image prune`: the next case starts from a store without layers.
fn forget_all(env: &Env) {
    let out = env.cmd(&["image", "ls", "--json"]).output().unwrap();
    let index: std::collections::BTreeMap<String, String> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    for name in index.keys() {
        let out = env.cmd(&["image", "rm", name]).output().unwrap();
        assert!(out.status.success(), "image rm {name}: {}", stderr(&out));
    }
    let out = env.cmd(&["image", "prune"]).output().unwrap();
    assert!(out.status.success(), "prune: {}", stderr(&out));
    assert!(env.layers().is_empty(), "{:?}", env.layers());
}

/// One row: for each fault, the operation (from a store without its layers) is struck, `image prune` leaves
/// nothing, and the operation works again.
fn row(env: &Env, faults: &[String], name: &str, args: &[&str], input: Option<&Path>) {
    for fault in faults {
        forget_all(env);
        let (out, pid) = with_fault(env, Some(fault), args, input);
        assert_struck(fault, &out);
        assert_pruned_clean(env, fault, pid);
        let (again, _) = with_fault(env, None, args, input);
        assert!(again.status.success(), "{fault}: the same operation again: {}", stderr(&again));
        let found = env.cmd(&["image", "inspect", name]).output().unwrap();
        assert!(found.status.success(), "{fault}: {name} after the operation again: {}", stderr(&found));
        env.assert_no_leaks(0);
        env.assert_consistent();
    }
}

#[test]
fn import_and_prune_survive_a_fault_at_every_point() {
    require_root!();
    let env = Env::new();
    let tarball = small_tarball(env.dir.path());
    let tar = tarball.to_str().unwrap();
    // A root filesystem tarball: every import point but the archive's spool.
    let rootfs: Vec<&str> =
        points(&["import", "store.1", "store.2"]).into_iter().filter(|p| *p != "import.4").collect();
    row(&env, &faults(&rootfs), "bb:latest", &["image", "import", "bb", tar], None);
    // An image archive through a pipe (spooled, then read in two passes).
    let archive = env.dir.path().join("bb.oci.tar");
    let out = env.cmd(&["image", "export", "bb", archive.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "export: {}", stderr(&out));
    row(
        &env,
        &faults(&points(&["import", "store.1", "store.2"])),
        "arch:latest",
        &["image", "import", "arch", "-"],
        Some(&archive),
    );
    // prune itself, with an unused layer to remove.
    for fault in faults(&points(&["store.3"])) {
        forget_all(&env);
        let out = env.cmd(&["image", "import", "bb2", tar]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let out = env.cmd(&["image", "rm", "bb2"]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let (out, pid) = with_fault(&env, Some(&fault), &["image", "prune"], None);
        assert_struck(&fault, &out);
        assert_pruned_clean(&env, &fault, pid);
        assert!(env.layers().is_empty(), "{fault}: {:?}", env.layers());
    }
}

#[test]
fn build_survives_a_fault_at_every_point_and_in_its_run_container() {
    require_root!();
    let env = Env::new();
    let tarball = busybox_tarball(env.dir.path());
    let context = env.dir.path().join("context");
    std::fs::create_dir(&context).unwrap();
    std::fs::write(context.join("greeting"), "hello\n").unwrap();
    std::fs::write(
        context.join("Containyfile"),
        "FROM base\nCOPY greeting /greeting\nRUN cat /greeting > /copied && sleep 0.2\nCMD [\"cat\", \"/copied\"]\n",
    )
    .unwrap();
    let import = |env: &Env| {
        let out = env.cmd(&["image", "import", "base", tarball.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    let ctx = context.to_str().unwrap();
    let build = ["build", "-t", "built", ctx];
    // The RUN container's own steps, taken by the build process (a kill there is the build dying while its
    // container lives): state dir made, cgroup made, network, cloned, supervising.
    let mut all = faults(&points(&["build", "store.1", "store.2"]));
    all.extend(faults(&["2", "4", "8", "26"]));
    for fault in &all {
        forget_all(&env);
        import(&env);
        let (out, pid) = with_fault(&env, Some(fault), &build, None);
        assert_struck(fault, &out);
        assert_pruned_clean(&env, fault, pid);
        let out = env.cmd(&build).output().unwrap();
        assert!(out.status.success(), "{fault}: the build again: {}{}", stdout(&out), stderr(&out));
        let out = env.cmd(&["run", "--image", "built"]).output().unwrap();
        assert_eq!(stdout(&out).trim(), "hello", "{fault}: the built image: {}", stderr(&out));
        env.assert_no_leaks(0);
    }
}

#[test]
fn pull_survives_a_fault_at_every_point() {
    require_root!();
    let reg = Registry::plain();
    let env = Env::new();
    std::fs::write(env.dir.path().join("registries.conf"), "unqualified-search-registries = []\n").unwrap();
    let tarball = small_tarball(env.dir.path());
    let out = env.cmd(&["image", "import", "bb", tarball.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let reference = format!("{}/faults/bb:1", reg.host());
    let out = env.cmd(&["image", "push", "--tls-verify=false", "bb", &reference]).output().unwrap();
    assert!(out.status.success(), "push: {}", stderr(&out));
    forget_all(&env);
    let pull = ["pull", "--tls-verify=false", &reference];
    row(&env, &faults(&points(&["pull", "store.1", "store.2"])), &reference, &pull, None);
}
