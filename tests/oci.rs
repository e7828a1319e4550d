//! OCI bundles: a `config.json` written by `runc spec`, with only `args` (and the terminal) changed.

mod common;

use std::process::Command;

use common::{Bundle, stderr, stdout};

/// `runc spec` in the bundle, then patch the JSON as a user would.
fn runc_spec_bundle(rootless: bool, patch: impl FnOnce(&mut serde_json::Value)) -> Option<Bundle> {
    let Ok(runc) = which("runc") else {
        eprintln!("skipped: runc is not installed (install.sh installs it)");
        return None;
    };
    let bundle = Bundle::empty();
    let mut cmd = Command::new(runc);
    cmd.arg("spec").current_dir(bundle.path());
    if rootless {
        cmd.arg("--rootless");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "runc spec: {}", stderr(&out));
    std::os::unix::fs::symlink(common::busybox_rootfs(), bundle.path().join("rootfs")).unwrap();
    let path = bundle.path().join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["process"]["terminal"] = false.into();
    patch(&mut spec);
    std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    Some(bundle)
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.exists())
        .ok_or(())
}

#[test]
fn a_runc_spec_bundle_runs_with_its_args_changed() {
    require_root!();
    let Some(bundle) = runc_spec_bundle(false, |spec| {
        spec["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "hostname; echo pid=$$; grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status; ulimit -n; touch /x 2>/dev/null || echo ro"
        ]);
    }) else {
        return;
    };
    let out = bundle.run();
    let text = stdout(&out);
    assert!(out.status.success(), "{text} {}", stderr(&out));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "runc", "hostname from config.json: {text}");
    assert_eq!(lines[1], "pid=1");
    // runc spec keeps CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE: bits 29, 5, 10.
    assert_eq!(lines[2], "CapBnd:\t0000000020000420", "{text}");
    assert_eq!(lines[3], "NoNewPrivs:\t1");
    assert_eq!(lines[4], "1024", "RLIMIT_NOFILE from config.json");
    assert_eq!(lines[5], "ro", "root.readonly is honoured");
}

#[test]
fn tmpcopyup_fills_a_tmpfs_with_the_image_files_it_covers() {
    require_root!();
    // What `podman run --read-only` sends: a read-only root with writable tmpfs copies where programs write.
    let Some(bundle) = runc_spec_bundle(false, |spec| {
        spec["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "cat /etc/base-file; echo new > /etc/new && cat /etc/new; stat -c %a /etc; ls -A /bare | wc -l; \
             touch /x 2>/dev/null || echo ro; grep ' /etc ' /proc/mounts | cut -d' ' -f3"
        ]);
        spec["mounts"].as_array_mut().unwrap().extend([
            serde_json::json!({"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
                               "options": ["rw", "nosuid", "nodev", "tmpcopyup"]}),
            serde_json::json!({"destination": "/bare", "type": "tmpfs", "source": "tmpfs", "options": ["rw"]}),
        ]);
    }) else {
        return;
    };
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(common::busybox_rootfs().join("etc")).unwrap();
        format!("{:o}", meta.permissions().mode() & 0o7777)
    };
    let out = bundle.run();
    let text = stdout(&out);
    assert!(out.status.success(), "{text} {}", stderr(&out));
    assert_eq!(text, format!("from the base\nnew\n{mode}\n0\nro\ntmpfs\n"));
    assert!(!common::busybox_rootfs().join("etc/new").exists(), "the write stayed in the tmpfs");
}

#[test]
fn tmpcopyup_on_a_bind_mount_is_refused_by_name() {
    require_root!();
    let Some(bundle) = runc_spec_bundle(false, |spec| {
        spec["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind", "tmpcopyup"]}));
    }) else {
        return;
    };
    let out = bundle.run();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("tmpcopyup\" only applies to a tmpfs"), "{}", stderr(&out));
}

#[test]
fn a_rootless_runc_spec_runs_in_a_user_namespace() {
    require_root!();
    let Some(bundle) = runc_spec_bundle(true, |spec| {
        spec["process"]["args"] = serde_json::json!(["sh", "-c", "id -u; cat /proc/self/uid_map"]);
        // Map container root to an unprivileged host uid, as a rootless engine would.
        spec["linux"]["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        spec["linux"]["gidMappings"] = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    }) else {
        return;
    };
    let out = bundle.run();
    let text = stdout(&out);
    assert!(out.status.success(), "{text} {}", stderr(&out));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0"), "root inside: {text}");
    let map: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(map, ["0", "100000", "65536"]);
}

#[test]
fn an_unsupported_oci_field_is_refused_by_name_and_leaves_nothing() {
    require_root!();
    let Some(bundle) = runc_spec_bundle(false, |spec| {
        spec["linux"]["intelRdt"] = serde_json::json!({"closID": "x"});
    }) else {
        return;
    };
    let out = bundle.run();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("linux.intelRdt"), "{}", stderr(&out));
}

#[test]
fn containy_spec_is_accepted_by_runc_and_by_containy() {
    require_root!();
    let Ok(runc) = which("runc") else {
        eprintln!("skipped: runc is not installed (install.sh installs it)");
        return;
    };
    let bundle = Bundle::empty();
    let out =
        std::process::Command::new(common::CONTAINY).args(["spec", "--bundle"]).arg(bundle.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let again =
        std::process::Command::new(common::CONTAINY).args(["spec", "--bundle"]).arg(bundle.path()).output().unwrap();
    assert!(!again.status.success(), "spec must not overwrite a config.json");
    let path = bundle.path().join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["sh", "-c", "echo $(hostname)"]);
    // runc wants the root as a real path, not through a symlink.
    spec["root"]["path"] = common::busybox_rootfs().display().to_string().into();
    std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();

    let out = bundle.run();
    assert_eq!(stdout(&out), "containy\n", "containy: {}", stderr(&out));
    let runc_root = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(runc)
        .arg("--root")
        .arg(runc_root.path())
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .arg(format!("runc-{}", bundle.id))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "containy\n", "runc: {}", stderr(&out));
}

#[test]
fn features_describe_the_runtime() {
    let out = std::process::Command::new(common::CONTAINY).arg("features").output().unwrap();
    let f: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(f["ociVersionMax"].as_str().unwrap().starts_with("1."));
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
}

#[test]
fn an_lsm_profile_runs_unconfined_where_that_lsm_is_not_enabled() {
    require_root!();
    if containy::lsm::apparmor_enabled() {
        eprintln!("skipped: AppArmor is enabled here, so the profile would have to exist");
        return;
    }
    let Some(bundle) = runc_spec_bundle(false, |spec| {
        spec["process"]["args"] = serde_json::json!(["sh", "-c", "echo ran"]);
        spec["process"]["apparmorProfile"] = "containy-test-profile".into();
    }) else {
        return;
    };
    let out = bundle.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "ran\n");
}

#[test]
fn personality_and_time_offsets_change_what_the_container_reads() {
    require_root!();
    let Some(bundle) = runc_spec_bundle(false, |spec| {
        spec["process"]["args"] = serde_json::json!(["sh", "-c", "uname -m; cut -d. -f1 /proc/uptime"]);
        spec["linux"]["personality"] = serde_json::json!({"domain": "LINUX32"});
        spec["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "time"}));
        // A year of extra uptime: CLOCK_BOOTTIME inside = the host's + 31536000 s.
        spec["linux"]["timeOffsets"] = serde_json::json!({"boottime": {"secs": 31_536_000, "nanosecs": 0}});
    }) else {
        return;
    };
    let host_uptime: u64 = std::fs::read_to_string("/proc/uptime").unwrap().split('.').next().unwrap().parse().unwrap();
    let out = bundle.run();
    let text = stdout(&out);
    assert!(out.status.success(), "{text} {}", stderr(&out));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("i686"), "PER_LINUX32: {text}");
    let uptime: u64 = lines.next().unwrap().parse().unwrap();
    assert!((31_536_000 + host_uptime..31_536_000 + host_uptime + 60).contains(&uptime), "{uptime} vs {host_uptime}");
}

#[test]
fn linux_devices_are_created_and_allowed() {
    require_root!();
    let Some(bundle) = runc_spec_bundle(false, |spec| {
        spec["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "stat -c '%F %t:%T %a %u' /dev/mine /dev/sub/zero2; echo written > /dev/mine && echo ok; head -c 3 /dev/sub/zero2 | wc -c"
        ]);
        // /dev/mine is a second name for 1:3 (null), /dev/sub/zero2 one for 1:5 (zero), owned by uid 7.
        spec["linux"]["devices"] = serde_json::json!([
            {"path": "/dev/mine", "type": "c", "major": 1, "minor": 3, "fileMode": 0o620},
            {"path": "/dev/sub/zero2", "type": "c", "major": 1, "minor": 5, "uid": 7, "gid": 7},
        ]);
    }) else {
        return;
    };
    let out = bundle.run();
    let text = stdout(&out);
    assert!(out.status.success(), "{text} {}", stderr(&out));
    assert_eq!(text, "character special file 1:3 620 0\ncharacter special file 1:5 666 7\nok\n3\n");
}

#[test]
fn rootfs_propagation_slave_lets_host_mounts_in_and_private_does_not() {
    require_root!();
    for (propagation, expect_master) in [("rslave", true), ("rprivate", false)] {
        let Some(bundle) = runc_spec_bundle(false, |spec| {
            // The first line is the container's root mount.
            spec["process"]["args"] = serde_json::json!(["head", "-1", "/proc/self/mountinfo"]);
            spec["linux"]["rootfsPropagation"] = propagation.into();
        }) else {
            return;
        };
        // This machine's / is private: run in a mount namespace whose mounts are shared, as on systemd hosts.
        let out = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "shared", common::CONTAINY, "--root"])
            .arg(&bundle.state_root)
            .args(["run", "--bundle"])
            .arg(bundle.path())
            .arg(&bundle.id)
            .output()
            .unwrap();
        let text = stdout(&out);
        assert!(out.status.success(), "{propagation}: {text} {}", stderr(&out));
        assert_eq!(text.contains("master:"), expect_master, "{propagation}: {text}");
        bundle.assert_no_leaks();
    }
}

#[test]
fn rro_makes_every_submount_of_an_rbind_read_only() {
    require_root!();
    let host = tempfile::tempdir().unwrap();
    std::fs::create_dir(host.path().join("sub")).unwrap();
    for (option, expect) in [("ro", "top:ro sub:rw\n"), ("rro", "top:ro sub:ro\n")] {
        let Some(bundle) = runc_spec_bundle(false, |spec| {
            spec["process"]["args"] = serde_json::json!([
                "sh",
                "-c",
                "for d in top:/data sub:/data/sub; do touch ${d#*:}/f 2>/dev/null && w=rw || w=ro; printf '%s ' ${d%%:*}:$w; done | sed 's/ $//'; echo"
            ]);
            spec["mounts"].as_array_mut().unwrap().push(serde_json::json!(
                {"destination": "/data", "type": "bind", "source": host.path(), "options": ["rbind", option]}));
        }) else {
            return;
        };
        // A submount under the bind's source, in a mount namespace of the test's own (the host is untouched).
        let script = format!(
            "mount -t tmpfs sub {}/sub && exec {} --root {} run --bundle {} {}",
            host.path().display(),
            common::CONTAINY,
            bundle.state_root.display(),
            bundle.path().display(),
            bundle.id
        );
        let out = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{option}: {} {}", stdout(&out), stderr(&out));
        assert_eq!(stdout(&out), expect, "{option}");
        bundle.assert_no_leaks();
    }
}
