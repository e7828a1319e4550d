//! The security tests that apply to a rootless container, run as an ordinary test user: masked paths, the
//! default capabilities, no_new_privs, the seccomp filter, only stdio open — and that root inside can write
//! nothing its user could not write on the host (each host path tried by the user directly and from inside).

mod common;
mod rootless_env;

use std::path::PathBuf;

use common::{stderr, stdout};
use rootless_env::TestUser;

#[test]
fn rootless_security_masked_paths_capabilities_seccomp_fds_and_host_files() {
    require_root!();
    let mut user = TestUser::new(true);
    // A host directory only root may write, bound into the container: root inside is the user outside.
    let host = user.home().join("hostdir");
    std::fs::create_dir(&host).unwrap();
    let script = "cat /proc/kcore | wc -c; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; \
                  ls /proc/self/fd | tr '\\n' ' '; echo; touch /host/f 2>/dev/null && echo wrote || echo denied; \
                  mount -t tmpfs x /mnt 2>/dev/null && echo mounted || echo no-mount";
    let b = user.bundle(
        "configy.toml",
        &format!(
            "[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n[rootfs]\npath = \"rootfs\"\n\
             [[mounts]]\nsource = {:?}\ndestination = \"/host\"\n",
            host.display()
        ),
    );
    let id = user.id();
    let out = user.containy(&["run", "--bundle", b.to_str().unwrap(), &id]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text} {}", stderr(&out));
    assert_eq!(lines[0], "0", "/proc/kcore is masked");
    assert_eq!(lines[1], "CapEff:\t00000000800405fb", "the default capability set");
    assert_eq!(lines[2], "NoNewPrivs:\t1");
    assert_eq!(lines[3], "Seccomp:\t2", "the default seccomp filter");
    assert_eq!(lines[4].trim(), "0 1 2 3", "only stdio (and ls's own directory fd)");
    assert_eq!(lines[5], "denied", "root inside may not write a root-owned host directory");
    assert_eq!(lines[6], "no-mount");
    assert!(std::fs::read_dir(&host).unwrap().next().is_none());
    user.assert_no_leaks();
}

#[test]
fn root_in_a_rootless_container_writes_only_where_its_user_may_on_the_host() {
    require_root!();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut user = TestUser::new(true);
    let home = user.home().to_path_buf();
    // (name, owner, mode, directory?) — bound read-write into the container at /t/NAME.
    let targets: [(&str, Option<u32>, u32, bool); 6] = [
        ("root-dir", Some(0), 0o755, true),
        ("root-file", Some(0), 0o644, false),
        ("root-secret", Some(0), 0o600, false),
        ("nobody-dir", Some(65534), 0o755, true),
        ("own-dir", None, 0o755, true),
        ("own-file", None, 0o644, false),
    ];
    let mut mounts = String::new();
    let mut tries = Vec::new();
    for (name, owner, mode, dir) in targets {
        let path = home.join(name);
        if dir {
            std::fs::create_dir(&path).unwrap();
        } else {
            std::fs::write(&path, "host\n").unwrap();
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        match owner {
            Some(uid) => std::os::unix::fs::chown(&path, Some(uid), Some(uid)).unwrap(),
            None => user.chown(&path),
        }
        mounts += &format!("[[mounts]]\nsource = {:?}\ndestination = \"/t/{name}\"\n", path.display());
        // A directory: make a file in it; a file: append to it.
        let (host_try, inner_try) = if dir {
            (format!("touch {}/new", path.display()), format!("touch /t/{name}/new"))
        } else {
            (format!("echo more >> {}", path.display()), format!("echo more >> /t/{name}"))
        };
        tries.push((name, host_try, inner_try));
    }
    // What the user may do on the host, tried as the user.
    let on_host: Vec<bool> =
        tries.iter().map(|(_, host_try, _)| user.sh(&format!("{host_try} 2>/dev/null")).status.success()).collect();
    assert_eq!(on_host, [false, false, false, false, true, true], "the host's permissions as the test set them");
    // Undo the user's own writes, so the container starts from the same files.
    std::fs::remove_file(home.join("own-dir/new")).unwrap();
    std::fs::write(home.join("own-file"), "host\n").unwrap();

    let script: String = tries
        .iter()
        .map(|(name, _, inner)| format!("{inner} 2>/dev/null && echo {name}:wrote || echo {name}:denied; "))
        .collect::<String>()
        + "cat /t/root-secret 2>/dev/null || echo secret:unreadable; \
           mknod /tmp/sda b 8 0 2>/dev/null && echo mknod:made || echo mknod:denied; \
           echo h > /proc/sysrq-trigger 2>/dev/null && echo sysrq:wrote || echo sysrq:denied; \
           echo x > /proc/sys/kernel/hostname 2>/dev/null && echo sysctl:wrote || echo sysctl:denied";
    let b = user.bundle(
        "configy.toml",
        &format!("[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n[rootfs]\npath = \"rootfs\"\n{mounts}"),
    );
    let id = user.id();
    let out = user.containy(&["run", "--bundle", b.to_str().unwrap(), &id]);
    let text = stdout(&out);
    let inside: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once(':')).collect();
    assert_eq!(inside.len(), tries.len() + 4, "{text} {}", stderr(&out));
    for (i, (name, _, _)) in tries.iter().enumerate() {
        let (said, result) = inside[i];
        assert_eq!(*name, said, "{text}");
        let host_may = on_host[i];
        assert_eq!(result == "wrote", host_may, "{name}: inside {result}, the user on the host may write: {host_may}");
    }
    assert_eq!(
        &inside[tries.len()..],
        [("secret", "unreadable"), ("mknod", "denied"), ("sysrq", "denied"), ("sysctl", "denied")]
    );
    // On the host, what the container wrote belongs to the user; the root-owned files are as they were.
    let made = home.join("own-dir/new");
    assert_eq!(std::fs::metadata(&made).unwrap().uid(), user.uid, "root inside is the user outside");
    assert_eq!(std::fs::read_to_string(home.join("own-file")).unwrap(), "host\nmore\n");
    assert_eq!(std::fs::read_to_string(home.join("root-file")).unwrap(), "host\n");
    for dir in ["root-dir", "nobody-dir"] {
        let entries: Vec<PathBuf> = std::fs::read_dir(home.join(dir)).unwrap().flatten().map(|e| e.path()).collect();
        assert!(entries.is_empty(), "{dir}: {entries:?}");
    }
    user.assert_no_leaks();
}

#[test]
fn a_rootless_container_never_reaches_a_writable_runtime_binary() {
    require_root!();
    // CVE-2019-5736, rootless: a containy installed by root (as the test binary is: owned by root, writable by
    // root alone) is out of the user's reach, so it needs no sealed view (which the user may not make) and no
    // memfd copy of itself: the created container's init runs the host file itself, and neither the user nor
    // anything in the container — whose ids map to the user's and the user's subordinate ids — may write it.
    let mut user = TestUser::new(true);
    let b = user.bundle("configy.toml", "[process]\nargs = [\"/bin/sleep\", \"30\"]\n[rootfs]\npath = \"rootfs\"\n");
    let id = user.id();
    let (status, err) = user.containy_detached(&["create", "--bundle", b.to_str().unwrap(), &id]);
    assert!(status.success(), "{err}");
    let state = std::fs::read_to_string(user.run_dir().join("containy").join(&id).join("state.json")).unwrap();
    let pid = serde_json::from_str::<serde_json::Value>(&state).unwrap()["pid"].as_i64().unwrap();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(exe, std::fs::canonicalize(common::CONTAINY).unwrap(), "a copy was made for a binary out of reach");
    let write = user.sh(&format!("echo x >> /proc/{pid}/exe"));
    // Not "Text file busy": that would mean the file is writable the moment containy is gone.
    assert!(!write.status.success() && stderr(&write).contains("Permission denied"), "{}", stderr(&write));
    let out = user.containy(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    user.assert_no_leaks();
}
