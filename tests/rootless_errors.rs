//! Bad input to a rootless containy, each a clear error or warning that says what to do, and nothing left
//! behind — no state, mount, process, or file of the user outside its own directories (the leak check of
//! rootless_env/): `XDG_RUNTIME_DIR` unset, someone else's or open to others; ids without a subuid range or
//! beyond a range too small; maps beyond the granted range; a named bridge network; `newuidmap` missing; a
//! host device the user may not open. `network = "host"` is not bad input rootless: it works (with a
//! read-only `/sys`), as runc's rootless spec has it.

mod common;
mod rootless_env;

use std::path::Path;
use std::process::Output;

use common::{stderr, stdout};
use rootless_env::{TestUser, spec_bundle};

/// The run failed before anything started (exit code 125), naming every one of `words`.
fn refused(out: &Output, words: &[&str]) {
    assert_eq!(out.status.code(), Some(125), "{} {}", stdout(out), stderr(out));
    let err = stderr(out);
    for w in words {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
}

#[test]
fn bad_input_gets_a_clear_error_and_leaves_nothing() {
    require_root!();
    let mut user = TestUser::new(false);
    let b = user.bundle("configy.toml", "[process]\nargs = [\"true\"]\n[rootfs]\npath = \"rootfs\"\n");
    let bundle = b.to_str().unwrap().to_string();
    let id = user.id();
    let expect = |out: Output, words: &[&str]| refused(&out, words);
    // No XDG_RUNTIME_DIR.
    expect(
        user.command(&["run", "--bundle", &bundle, &id], None).output().unwrap(),
        &["XDG_RUNTIME_DIR is not set", "--root"],
    );
    // One that belongs to someone else.
    expect(
        user.command(&["run", "--bundle", &bundle, &id], Some(Path::new("/tmp"))).output().unwrap(),
        &["XDG_RUNTIME_DIR=/tmp is owned by uid 0"],
    );
    // One the user owns that others may write.
    let open = user.home().join("open-run");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    user.chown(&open);
    expect(
        user.command(&["run", "--bundle", &bundle, &id], Some(&open)).output().unwrap(),
        &["open-run is writable by others (mode 777)", "mode 0700"],
    );
    assert!(!open.join("containy").exists());
    // A uid that does not exist without a range.
    expect(
        user.containy(&["run", "--bundle", &bundle, "--user", "1000", &id]),
        &["process uid 1000 is not mapped", "usermod --add-subuids"],
    );
    // A named bridge network (the default one becomes pasta's user-mode network).
    expect(
        user.containy(&["run", "--bundle", &bundle, "--net", "backend", &id]),
        &["named bridge network needs root", "pasta"],
    );
    // An OCI map beyond the user's own id.
    let spec = spec_bundle(&user, &["true"]);
    let path = spec.join("config.json");
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json["linux"]["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": 0, "size": 1}]);
    std::fs::write(&path, json.to_string()).unwrap();
    expect(
        user.containy(&["run", "--bundle", spec.to_str().unwrap(), &id]),
        &["linux.uidMappings: host ids 0..1", "grants you no range"],
    );
    assert!(!user.run_dir().join("containy").join(&id).exists());
    user.assert_no_leaks();
}

#[test]
fn without_newuidmap_a_subuid_range_cannot_be_mapped_and_the_error_says_what_to_install() {
    require_root!();
    let mut user = TestUser::new(true);
    let b = user.bundle("configy.toml", "[process]\nargs = [\"true\"]\n[rootfs]\npath = \"rootfs\"\n");
    let id = user.id();
    // containy finds newuidmap through PATH: here there is none.
    let out = user
        .command(&["run", "--bundle", b.to_str().unwrap(), &id], Some(&user.run_dir()))
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot run newuidmap") && stderr(&out).contains("apt-get install uidmap"),
        "{}",
        stderr(&out)
    );
    user.assert_no_leaks();
}

#[test]
fn a_range_too_small_for_the_user_asked_for_is_refused_with_its_size() {
    require_root!();
    let mut user = TestUser::with_ids(100);
    let b = user.bundle("configy.toml", "[process]\nargs = [\"id\", \"-u\"]\n[rootfs]\npath = \"rootfs\"\n");
    let bundle = b.to_str().unwrap().to_string();
    let id = user.id();
    refused(
        &user.containy(&["run", "--bundle", &bundle, "--user", "1000", &id]),
        &["process uid 1000 is not mapped", "container ids 0..101", "usermod --add-subuids"],
    );
    // An id inside the small range works.
    let id = user.id();
    let out = user.containy(&["run", "--bundle", &bundle, "--user", "100", &id]);
    assert_eq!(stdout(&out), "100\n", "{}", stderr(&out));
    user.assert_no_leaks();
}

#[test]
fn a_host_device_is_bound_only_where_the_user_may_open_it() {
    require_root!();
    let mut user = TestUser::new(true);
    let device = |b: &Path, path: &str, major: u64, minor: u64| {
        let file = b.join("config.json");
        let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        spec["linux"]["devices"] =
            serde_json::json!([{"path": path, "type": "c", "major": major, "minor": minor, "fileMode": 0o666}]);
        std::fs::write(&file, spec.to_string()).unwrap();
    };
    // /dev/kmsg is root's, mode 0644: the user may not write it, so the container may not have it.
    let b = spec_bundle(&user, &["true"]);
    device(&b, "/dev/kmsg", 1, 11);
    let id = user.id();
    refused(
        &user.containy(&["run", "--bundle", b.to_str().unwrap(), &id]),
        &["device /dev/kmsg (c 1:11)", "you may not open the host's /dev/kmsg (mode 644, owner uid 0)", "leave it out"],
    );
    // A number that is not the host's node at that path.
    device(&b, "/dev/null", 1, 5);
    let id = user.id();
    refused(
        &user.containy(&["run", "--bundle", b.to_str().unwrap(), &id]),
        &["device /dev/null (c 1:5)", "the host's /dev/null is not that device"],
    );
    // /dev/fuse is open to every user where udev made it (0666): it is bound in. A host without udev keeps
    // the kernel's 0600: then it is refused like /dev/kmsg.
    if let Ok(meta) = std::fs::metadata("/dev/fuse") {
        use std::os::unix::fs::PermissionsExt;
        let b = spec_bundle(&user, &["sh", "-c", "test -c /dev/fuse && echo bound"]);
        device(&b, "/dev/fuse", 10, 229);
        let id = user.id();
        let out = user.containy(&["run", "--bundle", b.to_str().unwrap(), &id]);
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o006 == 0o006 {
            assert_eq!(stdout(&out), "bound\n", "{}", stderr(&out));
        } else {
            let text = format!("you may not open the host's /dev/fuse (mode {mode:o}, owner uid 0)");
            refused(&out, &["device /dev/fuse (c 10:229)", &text]);
        }
    }
    user.assert_no_leaks();
}

#[test]
fn the_host_network_works_rootless_with_a_read_only_sys() {
    require_root!();
    let mut user = TestUser::new(true);
    let b = user.bundle(
        "configy.toml",
        "network = \"host\"\n[process]\nargs = [\"/bin/sh\", \"-c\", \"echo $(ls /sys/class/net); \
         touch /sys/x 2>/dev/null && echo wrote-sys || echo sys-read-only\"]\n[rootfs]\npath = \"rootfs\"\n",
    );
    let id = user.id();
    let out = user.containy(&["run", "--bundle", b.to_str().unwrap(), &id]);
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into())
        .collect();
    host.sort();
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text} {}", stderr(&out));
    // Interfaces come and go as other tests run: the container's list is the host's, give or take those.
    let seen: Vec<&str> = lines[0].split_whitespace().collect();
    let shared = seen.iter().filter(|i| host.iter().any(|h| h == *i)).count();
    assert!(seen.contains(&"lo") && shared >= host.len().min(2), "{seen:?} vs the host's {host:?}");
    assert_eq!(lines[1], "sys-read-only");
    user.assert_no_leaks();
}
