//! Images end to end: import (rootfs tarballs, OCI layouts with whiteouts), run from the store, tar-slip
//! through a real import, a `kill -9` in the middle of an import, and `podman load` of an export. Every test
//! uses its own store and state root in a temp dir, and ends checking nothing leaked.

mod common;
mod image_env;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{stderr, stdout};
use image_env::{Env, busybox_tarball};
use sha2::{Digest, Sha256};

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A tar of `(name, contents)` files (empty contents with a `/` name: a directory).
fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, name, std::io::empty()).unwrap();
        } else {
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, data.as_bytes()).unwrap();
        }
    }
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// An OCI image-layout archive of `layers` (uncompressed tars; stored gzip-compressed), named `ref_name`.
fn oci_archive(layers: &[Vec<u8>], ref_name: &str, cmd: &[&str]) -> Vec<u8> {
    let blobs: Vec<Vec<u8>> = layers.iter().map(|l| gzip(l)).collect();
    let diff_ids: Vec<String> = layers.iter().map(|l| format!("sha256:{}", sha(l))).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": { "Cmd": cmd, "Env": ["PATH=/bin", "FROM_IMAGE=yes"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", sha(&config)), "size": config.len() },
        "layers": blobs.iter().map(|b| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{}", sha(b)), "size": b.len()
        })).collect::<Vec<_>>(),
    }))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", sha(&manifest)),
                        "size": manifest.len(), "annotations": { "org.opencontainers.image.ref.name": ref_name } }],
    }))
    .unwrap();
    // Layers first, index last: the importer must not depend on the order.
    let mut entries: Vec<(String, &[u8])> =
        blobs.iter().map(|b| (format!("blobs/sha256/{}", sha(b)), &b[..])).collect();
    entries.push((format!("blobs/sha256/{}", sha(&config)), &config));
    entries.push((format!("blobs/sha256/{}", sha(&manifest)), &manifest));
    entries.push(("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#));
    entries.push(("index.json".into(), &index));
    blob_archive(&entries)
}

/// An archive of `(name, bytes)` files, in order: how image archives carry their blobs.
fn blob_archive(entries: &[(String, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// The busybox rootfs as an uncompressed tar, plus `extra` files.
fn busybox_layer(dir: &Path, extra: &[(&str, &str)]) -> Vec<u8> {
    let path = dir.join("bb-layer.tar");
    let status =
        Command::new("tar").arg("-cf").arg(&path).arg("-C").arg(common::busybox_rootfs()).arg(".").status().unwrap();
    assert!(status.success());
    let base = std::fs::read(&path).unwrap();
    // Append the extra files by rewriting: a tar builder over the entries of the first one.
    let mut b = tar::Builder::new(Vec::new());
    for entry in tar::Archive::new(&base[..]).entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut h = entry.header().clone();
        let path = entry.path().unwrap().into_owned();
        if h.entry_type().is_symlink() {
            let target = entry.link_name().unwrap().unwrap().into_owned();
            b.append_link(&mut h, &path, &target).unwrap();
        } else {
            b.append_data(&mut h, &path, &mut entry).unwrap();
        }
    }
    for (name, data) in extra {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn a_busybox_tarball_imports_and_runs_and_one_layer_is_stored_once() {
    require_root!();
    let env = Env::new();
    let tarball = busybox_tarball(env.dir.path());
    let id = env.ok(&["image", "import", "bb", tarball.to_str().unwrap()]);
    assert!(id.starts_with("sha256:"), "{id}");
    let out = env.ok(&["run", "--image", "bb", "--", "/bin/cat", "/etc/base-file"]);
    assert_eq!(out, "from the base\n");
    // The image's default command is a shell; a command after -- replaces it.
    let out = env.ok(&["run", "--image", "bb:latest", "--", "/bin/sh", "-c", "echo $PATH; pwd"]);
    assert!(out.starts_with("/usr/local/sbin:") && out.ends_with("/\n"), "{out}");

    // The same content under another name: no second copy.
    env.ok(&["image", "import", "again:v2", tarball.to_str().unwrap()]);
    assert_eq!(env.layers().len(), 1, "{:?}", env.layers());
    let list = env.ok(&["image", "ls", "--json"]);
    assert!(list.contains("\"again:v2\"") && list.contains("\"bb:latest\""), "{list}");
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", "again:v2"])).unwrap();
    assert_eq!(inspect["layers"].as_array().unwrap().len(), 1);

    // rm keeps the layer while another image uses it; prune removes it once none does.
    env.ok(&["image", "rm", "bb"]);
    assert_eq!(env.ok(&["image", "prune"]).trim(), "removed 0 images and 0 layers");
    env.ok(&["image", "rm", "again:v2"]);
    assert_eq!(env.ok(&["image", "prune"]).trim(), "removed 0 images and 1 layer");
    assert!(env.layers().is_empty());
    let (out, _) = env.run(&["run", "--image", "bb", "--pull=never", "--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("no image \"bb\""), "{}", stderr(&out));
    env.assert_consistent();
}

#[test]
fn an_oci_layout_with_two_layers_and_whiteouts_runs_with_the_right_files() {
    require_root!();
    let env = Env::new();
    let lower = busybox_layer(
        env.dir.path(),
        &[("etc/gone", "old"), ("etc/kept", "kept\n"), ("opq/old", "hidden"), ("opq/also-old", "hidden")],
    );
    let upper = tar_of(&[
        ("etc/.wh.gone", ""),
        ("opq/", ""),
        ("opq/.wh..wh..opq", ""),
        ("opq/new", "new\n"),
        ("etc/added", "added\n"),
        // A whiteout naming `..` must not delete anything, anywhere.
        ("etc/.wh...", ""),
    ]);
    let archive = oci_archive(&[lower, upper], "two:layers", &["/bin/sh", "-c", "echo default"]);
    let path = env.dir.path().join("two.oci.tar");
    std::fs::write(&path, &archive).unwrap();
    env.ok(&["image", "import", path.to_str().unwrap()]);
    assert_eq!(env.layers().len(), 2);

    let script = "cat /etc/kept /etc/added; ls /opq; test -e /etc/gone || echo gone; echo $FROM_IMAGE";
    let out = env.ok(&["run", "--image", "two:layers", "--", "/bin/sh", "-c", script]);
    assert_eq!(out, "kept\nadded\nnew\ngone\nyes\n");
    assert_eq!(env.ok(&["run", "--image", "two:layers"]), "default\n");

    // The same layout again, through standard input, under another name: nothing new is unpacked.
    let mut child = env
        .cmd(&["image", "import", "copy", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&archive).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("2 layers, 0 new"), "{}", stderr(&out));
    assert_eq!(env.layers().len(), 2);

    // A tampered layer is refused by its digest, and leaves nothing behind.
    let mut bad = archive.clone();
    let gzip_start = bad.windows(3).position(|w| w == [0x1f, 0x8b, 0x08]).unwrap();
    bad[gzip_start + 200] ^= 0xff;
    let env2 = Env::new();
    let bad_path = env2.dir.path().join("bad.tar");
    std::fs::write(&bad_path, &bad).unwrap();
    let (out, pid) = env2.run(&["image", "import", "bad", bad_path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("digest") || err.contains("corrupt"), "{err}");
    env2.assert_no_leaks(pid);
    env2.assert_consistent();
}

/// An archive entry with a raw name/link (no normalisation by the tar crate).
fn raw_entry(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &str, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    let old = h.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

#[test]
fn tar_slip_variants_in_an_import_leave_the_host_untouched() {
    require_root!();
    let env = Env::new();
    let outside = env.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let victim = env.dir.path().join("victim");
    std::fs::write(&victim, "host file").unwrap();
    let out = outside.to_str().unwrap();
    let vic = victim.to_str().unwrap();
    // The store sits in <dir>/store/layers/<id>/diff: five `..` reach <dir>.
    let up = "../../../../../";
    let mut b = tar::Builder::new(Vec::new());
    use tar::EntryType::*;
    raw_entry(&mut b, Regular, &format!("{up}outside/dotdot"), "", b"x");
    raw_entry(&mut b, Regular, &format!("{out}/absolute"), "", b"x");
    raw_entry(&mut b, Symlink, "link", out, b"");
    raw_entry(&mut b, Regular, "link/through-symlink", "", b"x");
    raw_entry(&mut b, Symlink, "up", up, b"");
    raw_entry(&mut b, Regular, "up/outside/through-up", "", b"x");
    raw_entry(&mut b, Link, "hard", vic, b"");
    raw_entry(&mut b, Link, "hard2", &format!("{up}victim"), b"");
    raw_entry(&mut b, Symlink, "victim-link", vic, b"");
    raw_entry(&mut b, Regular, "victim-link", "", b"overwritten?");
    let path = env.dir.path().join("slip.tar");
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    let (res, pid) = env.run(&["image", "import", "slip", path.to_str().unwrap()]);

    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "{}", stderr(&res));
    assert_eq!(std::fs::read(&victim).unwrap(), b"host file");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&victim).unwrap().nlink(), 1);
    env.assert_no_leaks(pid);
    env.assert_consistent();
}

#[test]
fn kill_9_during_an_import_leaves_a_consistent_store_and_the_next_import_works() {
    require_root!();
    let env = Env::new();
    let tarball = busybox_tarball(env.dir.path());
    env.ok(&["image", "import", "first", tarball.to_str().unwrap()]);
    let index_before = std::fs::read(env.store().join("index.json")).unwrap();

    // Feed half an archive through a pipe, then kill -9 while containy waits for the rest.
    let mut big = tar::Builder::new(Vec::new());
    for i in 0..64 {
        let data = vec![i as u8; 256 * 1024];
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        big.append_data(&mut h, format!("data/file{i}"), &data[..]).unwrap();
    }
    let bytes = big.into_inner().unwrap();
    let mut child =
        env.cmd(&["image", "import", "big", "-"]).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes[..bytes.len() / 2]).unwrap();
    let tmp = env.store().join("tmp");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_dir(&tmp).unwrap().flatten().any(|e| e.path().join("diff/data").exists()) {
        assert!(std::time::Instant::now() < deadline, "the import never started extracting");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    drop(stdin);
    child.wait().unwrap();

    // Nothing of the killed import is visible: same index, no new layer, only its tmp dir.
    assert_eq!(std::fs::read(env.store().join("index.json")).unwrap(), index_before);
    assert_eq!(env.layers().len(), 1);
    env.assert_consistent();

    // The next import works and clears the dead one's tmp dir.
    let path = env.dir.path().join("big.tar");
    std::fs::write(&path, &bytes).unwrap();
    env.ok(&["image", "import", "big", path.to_str().unwrap()]);
    assert_eq!(env.layers().len(), 2);
    let out = env.ok(&["run", "--image", "first", "--", "/bin/echo", "ok"]);
    assert_eq!(out, "ok\n");
    env.assert_consistent();
}

#[test]
fn an_exported_image_loads_and_runs_in_podman() {
    require_root!();
    if Command::new("podman").arg("--version").output().is_err() {
        eprintln!("skipped: podman is not installed (install.sh installs it)");
        return;
    }
    let env = Env::new();
    let lower = busybox_layer(env.dir.path(), &[("etc/gone", "old"), ("etc/kept", "kept\n")]);
    let upper = tar_of(&[("etc/.wh.gone", ""), ("srv/", ""), ("srv/hello", "from containy\n")]);
    let path = env.dir.path().join("in.tar");
    std::fs::write(&path, oci_archive(&[lower, upper], "x", &["/bin/cat", "/srv/hello"])).unwrap();
    let name = format!("containy-export-test-{}", std::process::id());
    env.ok(&["image", "import", &name, path.to_str().unwrap()]);
    let exported = env.dir.path().join("export.tar");
    env.ok(&["image", "export", &name, exported.to_str().unwrap()]);

    // A private podman: its own storage, runroot and containers.conf (the system one may ask for more open
    // files than this machine's hard limit), all under the test's temp dir.
    let podman_dir = env.dir.path().join("podman");
    std::fs::create_dir(&podman_dir).unwrap();
    let conf = format!(
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
         [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\ntmp_dir = {:?}\n",
        podman_dir.join("tmp")
    );
    std::fs::write(podman_dir.join("containers.conf"), conf).unwrap();
    let podman = |args: &[&str]| {
        Command::new("podman")
            .arg("--root")
            .arg(podman_dir.join("storage"))
            .arg("--runroot")
            .arg(podman_dir.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env("CONTAINERS_CONF", podman_dir.join("containers.conf"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let load = podman(&["load", "-i", exported.to_str().unwrap()]);
    assert!(load.status.success(), "podman load: {}{}", stdout(&load), stderr(&load));
    let reference = format!("localhost/{name}:latest");
    let run =
        podman(&["--runtime", "runc", "run", "--rm", &reference, "/bin/sh", "-c", "cat /srv/hello /etc/kept; ls /etc"]);
    let rmi = podman(&["rmi", &reference]);
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = podman_dir.display().to_string();
    assert!(!mountinfo.lines().any(|l| l.contains(&dir)), "podman left mounts under {dir}: {mountinfo}");
    assert!(run.status.success(), "podman run: {}{}", stdout(&run), stderr(&run));
    let text = stdout(&run);
    assert!(text.starts_with("from containy\nkept\n"), "{text}");
    assert!(!text.lines().any(|l| l == "gone"), "the whiteout was lost: {text}");
    assert!(rmi.status.success(), "podman rmi: {}", stderr(&rmi));
}

#[test]
fn a_bundle_config_can_name_an_image_as_its_rootfs() {
    require_root!();
    let env = Env::new();
    let tarball = busybox_tarball(env.dir.path());
    env.ok(&["image", "import", "debian:bookworm", tarball.to_str().unwrap()]);
    let bundle = env.dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let config = "[process]\nargs = [\"/bin/sh\", \"-c\", \"cat /etc/base-file; hostname\"]\n\
                  [rootfs]\nimage = \"debian:bookworm\"\n";
    std::fs::write(bundle.join("configy.toml"), config).unwrap();
    let out = env.ok(&["run", "--bundle", bundle.to_str().unwrap(), "from-config"]);
    assert!(out.starts_with("from the base\n"), "{out}");

    // With a config, --image swaps the rootfs and keeps the config's process.
    let out = env.ok(&["run", "--config", bundle.join("configy.toml").to_str().unwrap(), "--image", "debian:bookworm"]);
    assert!(out.starts_with("from the base\n"), "{out}");

    std::fs::write(bundle.join("configy.toml"), config.replace("debian:bookworm", "missing:1")).unwrap();
    let (out, _) = env.run(&["run", "--pull=never", "--bundle", bundle.to_str().unwrap()]);
    assert!(stderr(&out).contains("no image \"missing:1\""), "{}", stderr(&out));
}

#[test]
fn a_docker_save_archive_imports_under_its_own_name() {
    require_root!();
    let env = Env::new();
    let lower = busybox_layer(env.dir.path(), &[("etc/gone", "old")]);
    let upper = tar_of(&[("etc/.wh.gone", ""), ("etc/saved", "by docker save\n")]);
    // docker images repeat the empty layer (ENV, CMD … steps): one directory, listed twice.
    let empty = tar_of(&[]);
    let order = [lower.as_slice(), &empty, &upper, &empty];
    let diff_ids: Vec<String> = order.iter().map(|l| format!("sha256:{}", sha(l))).collect();
    let layer_paths: Vec<String> = order.iter().map(|l| format!("{}/layer.tar", sha(l))).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": { "Cmd": ["/bin/sh", "-c", "cat /etc/saved; ls /etc/gone 2>/dev/null || echo gone"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": format!("{}.json", sha(&config)),
        "RepoTags": ["saved/busybox:1.36"],
        "Layers": layer_paths,
    }]))
    .unwrap();
    let archive = blob_archive(&[
        (format!("{}/layer.tar", sha(&lower)), &lower),
        (format!("{}/layer.tar", sha(&upper)), &upper),
        (format!("{}/layer.tar", sha(&empty)), &empty),
        (format!("{}.json", sha(&config)), &config),
        ("manifest.json".into(), &manifest),
    ]);
    let path = env.dir.path().join("saved.tar");
    std::fs::write(&path, archive).unwrap();
    env.ok(&["image", "import", path.to_str().unwrap()]);
    assert_eq!(env.ok(&["run", "--image", "saved/busybox:1.36"]), "by docker save\ngone\n");
    assert_eq!(env.layers().len(), 3);
}

/// A tmpfs mounted for one test, unmounted whatever happens.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_full_disk_fails_the_import_cleanly_and_the_store_stays_usable() {
    require_root!();
    let env = Env::new();
    let tarball = busybox_tarball(env.dir.path());
    std::fs::create_dir_all(env.store()).unwrap();
    nix::mount::mount(Some("tmpfs"), &env.store(), Some("tmpfs"), nix::mount::MsFlags::empty(), Some("size=512k"))
        .unwrap();
    let _mounted = Tmpfs(env.store());
    let (out, pid) = env.run(&["image", "import", "bb", tarball.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("No space left on device"), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(env.store().join("tmp")).unwrap().collect();
    assert!(left.is_empty(), "tmp dirs left after ENOSPC: {left:?}");
    assert!(env.layers().is_empty());
    env.assert_consistent();

    let small = tar_of(&[("etc/", ""), ("etc/small", "fits\n")]);
    let path = env.dir.path().join("small.tar");
    std::fs::write(&path, small).unwrap();
    // (env.ok's leak check would see this test's own tmpfs.)
    let (out, _) = env.run(&["image", "import", "small", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (out, _) = env.run(&["image", "ls", "--json"]);
    assert!(stdout(&out).contains("small:latest"), "{}", stdout(&out));
    assert_eq!(std::fs::read_dir(env.store().join("tmp")).unwrap().count(), 0);
    env.assert_consistent();
    let _ = pid;
}

#[test]
fn prune_keeps_the_layers_of_a_running_container() {
    require_root!();
    let env = Env::new();
    let tarball = busybox_tarball(env.dir.path());
    env.ok(&["image", "import", "bb", tarball.to_str().unwrap()]);
    let pid_file = env.dir.path().join("pid");
    let mut child = env
        .cmd(&["run", "--pid-file", pid_file.to_str().unwrap(), "--image", "bb", "--", "/bin/sleep", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let pid: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file).ok().and_then(|t| t.trim().parse().ok()) {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline && child.try_wait().unwrap().is_none(), "no container");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    // (run, not ok: ok's leak check would see the running container.)
    let (rm, _) = env.run(&["image", "rm", "bb"]);
    assert!(rm.status.success(), "{}", stderr(&rm));
    let (out, _) = env.run(&["image", "prune"]);
    let kept = env.layers().len();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    assert_eq!(stdout(&out).trim(), "removed 0 images and 0 layers", "{}", stderr(&out));
    assert_eq!(kept, 1, "the running container's layer was pruned");
    assert_eq!(env.ok(&["image", "prune"]).trim(), "removed 0 images and 1 layer");
}

#[test]
fn concurrent_imports_of_one_tarball_all_succeed_and_store_one_layer() {
    require_root!();
    let env = Env::new();
    let tarball = busybox_tarball(env.dir.path());
    let children: Vec<_> = (0..4)
        .map(|i| {
            env.cmd(&["image", "import", &format!("bb{i}"), tarball.to_str().unwrap()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(env.layers().len(), 1);
    let list = env.ok(&["image", "ls", "--json"]);
    assert_eq!(list.matches(":latest").count(), 4, "{list}");
    // The store keeps setuid files and whiteouts: nothing in it is reachable by other users of the host.
    use std::os::unix::fs::PermissionsExt;
    for dir in ["layers", "images", "tmp"] {
        let mode = std::fs::metadata(env.store().join(dir)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{dir}");
    }
    env.assert_consistent();
}
