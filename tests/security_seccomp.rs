//! seccomp end to end: real containers under the default profile, unconfined, and under profiles of their own.
//!
//! Busybox makes no unusual syscalls, so two tiny static C programs (`tests/c/`) are built at test time into a
//! copy of the busybox rootfs: `syscall NR [ARG...]` makes one raw syscall and prints `ret=R errno=E`, and
//! `threads N` starts N pthreads (glibc tries `clone3` first and falls back to `clone` only on ENOSYS).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Bundle, stderr, stdout};

/// A busybox rootfs with `/bin/syscall` and `/bin/threads` in it; `None` (and a message) without a C compiler.
fn tools_rootfs() -> Option<&'static Path> {
    static ROOTFS: OnceLock<Option<PathBuf>> = OnceLock::new();
    ROOTFS
        .get_or_init(|| {
            common::remove_stale("containy-test-seccomp-");
            let dir = std::env::temp_dir().join(format!("containy-test-seccomp-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            common::make_busybox_rootfs(&dir);
            common::remove_at_exit(&dir);
            let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c");
            for (name, extra) in [("syscall", &[][..]), ("threads", &["-pthread"][..])] {
                let out = Command::new("cc")
                    .args(["-static", "-O2"])
                    .args(extra)
                    .arg(sources.join(format!("{name}.c")))
                    .arg("-o")
                    .arg(dir.join("bin").join(name))
                    .output();
                match out {
                    Ok(out) if out.status.success() => {}
                    Ok(out) => panic!("cc {name}.c failed: {}", stderr(&out)),
                    Err(e) => {
                        eprintln!("skipped: no C compiler to build tests/c/{name}.c (cc: {e}); install gcc");
                        return None;
                    }
                }
            }
            Some(dir)
        })
        .as_deref()
}

/// Run `sh -c script` on the tools rootfs with `extra` TOML in `[process]`.
fn run(script: &str, process_extra: &str) -> Option<std::process::Output> {
    let rootfs = tools_rootfs()?;
    let config = format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n{process_extra}\n[rootfs]\npath = {:?}\n",
        rootfs.display().to_string()
    );
    Some(Bundle::friendly(&config).run())
}

fn status_line<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find(|line| line.starts_with(key))
}

#[test]
fn the_default_profile_is_a_filter() {
    require_root!();
    let Some(out) = run("grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status", "") else { return };
    let text = stdout(&out);
    assert_eq!(status_line(&text, "Seccomp:"), Some("Seccomp:\t2"), "{text} {}", stderr(&out));
    assert_eq!(status_line(&text, "NoNewPrivs:"), Some("NoNewPrivs:\t1"));
}

#[test]
fn without_no_new_privileges_the_filter_is_loaded_before_the_capabilities_go() {
    require_root!();
    let Some(out) = run("grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status", "no_new_privileges = false") else {
        return;
    };
    let text = stdout(&out);
    assert!(out.status.success(), "{text} {}", stderr(&out));
    assert_eq!(status_line(&text, "Seccomp:"), Some("Seccomp:\t2"), "{text}");
    assert_eq!(status_line(&text, "NoNewPrivs:"), Some("NoNewPrivs:\t0"));
}

#[test]
fn a_syscall_the_profile_does_not_know_fails_with_enosys() {
    require_root!();
    // get_mempolicy(NULL, NULL, 0, 0, 0) succeeds on any kernel with NUMA support; the profile leaves it out.
    let script = format!("syscall {}", libc::SYS_get_mempolicy);
    let Some(out) = run(&script, "") else { return };
    assert_eq!(stdout(&out), "ret=-1 errno=38\n", "{}", stderr(&out));
    // The same call unconfined: it was the filter that answered.
    let unconfined = run(&script, "seccomp = \"unconfined\"").unwrap();
    assert_eq!(stdout(&unconfined), "ret=0 errno=0\n", "{}", stderr(&unconfined));
}

#[test]
fn dangerous_syscalls_fail_with_eperm() {
    require_root!();
    // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0), unshare(0), and clone with CLONE_NEWUSER:
    // root could make each of them unconfined.
    let clone_newuser = libc::CLONE_NEWUSER | libc::SIGCHLD;
    let script = format!(
        "syscall {} 0 -3 0; syscall {} 0; syscall {} {clone_newuser}",
        libc::SYS_keyctl,
        libc::SYS_unshare,
        libc::SYS_clone
    );
    let Some(out) = run(&script, "") else { return };
    assert_eq!(stdout(&out), "ret=-1 errno=1\n".repeat(3), "{}", stderr(&out));
}

#[test]
fn busybox_works_under_the_default_profile() {
    require_root!();
    let script = "set -e; echo hello > /tmp/f; cat /tmp/f; ls /bin/busybox; mkdir -p /tmp/d/e; rm -r /tmp/d; \
                  ps -o pid,comm | grep -c ps; date +%Y >/dev/null; sleep 0.01; \
                  echo served > /tmp/index.html; httpd -p 127.0.0.1:8080 -h /tmp; \
                  wget -q -O - http://127.0.0.1:8080/index.html; echo done";
    let Some(out) = run(script, "") else { return };
    assert_eq!(stdout(&out), "hello\n/bin/busybox\n1\nserved\ndone\n", "{}", stderr(&out));
}

#[test]
fn a_threaded_program_works_under_the_default_profile() {
    require_root!();
    let Some(out) = run("threads 8", "") else { return };
    assert_eq!(stdout(&out), "threads ok 140\n", "{}", stderr(&out));
    assert!(out.status.success());
}

#[test]
fn unconfined_means_no_filter() {
    require_root!();
    let Some(out) = run("grep '^Seccomp:' /proc/self/status", "seccomp = \"unconfined\"") else { return };
    assert_eq!(stdout(&out), "Seccomp:\t0\n", "{}", stderr(&out));
}

const BLOCK_MKDIR: &str = r#"{
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
}"#;

#[test]
fn a_profile_file_from_the_friendly_config_applies() {
    require_root!();
    let Some(rootfs) = tools_rootfs() else { return };
    let config = format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", \"mkdir /tmp/x || echo refused; touch /tmp/y && echo touched\"]\n\
         seccomp = {{ profile = \"block-mkdir.json\" }}\n[rootfs]\npath = {:?}\n",
        rootfs.display().to_string()
    );
    let bundle = Bundle::friendly(&config);
    std::fs::write(bundle.path().join("block-mkdir.json"), BLOCK_MKDIR).unwrap();
    let out = bundle.run();
    assert_eq!(stdout(&out), "refused\ntouched\n", "{}", stderr(&out));
    assert!(stderr(&out).contains("Permission denied"), "errno 13 is EACCES: {}", stderr(&out));
}

#[test]
fn a_bad_profile_is_refused_before_anything_runs() {
    require_root!();
    let bundle = Bundle::friendly(
        &common::sh_config("true", "").replace("[process]\n", "[process]\nseccomp = { profile = \"p.json\" }\n"),
    );
    std::fs::write(
        bundle.path().join("p.json"),
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
  {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    )
    .unwrap();
    let out = bundle.run();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("configy.toml:3:") && err.contains("process.seccomp.profile"), "{err}");
    assert!(
        err.contains("p.json:2:") && err.contains("syscalls[0].action") && err.contains("SCMP_ACT_NOTIFY"),
        "{err}"
    );
}

#[test]
fn an_oci_bundle_with_linux_seccomp_blocks_mkdir() {
    require_root!();
    let bundle = Bundle::empty();
    std::os::unix::fs::symlink(common::busybox_rootfs(), bundle.path().join("rootfs")).unwrap();
    let seccomp: serde_json::Value = serde_json::from_str(BLOCK_MKDIR).unwrap();
    let config = serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": ["sh", "-c", "grep '^Seccomp:' /proc/self/status; mkdir /tmp/oci-x || echo refused; ls /tmp"],
            "env": ["PATH=/bin"],
            "cwd": "/",
            "noNewPrivileges": true
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}
        ],
        "linux": {
            "namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "uts"}, {"type": "ipc"}],
            "seccomp": seccomp
        }
    });
    std::fs::write(bundle.path().join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let out = bundle.run();
    assert_eq!(stdout(&out), "Seccomp:\t2\nrefused\n", "{}", stderr(&out));
    assert!(stderr(&out).contains("Permission denied"), "{}", stderr(&out));

    // Without linux.seccomp an OCI container is unconfined, as the spec says.
    let mut config = config;
    config["linux"].as_object_mut().unwrap().remove("seccomp");
    std::fs::write(bundle.path().join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let out = bundle.run();
    assert_eq!(stdout(&out), "Seccomp:\t0\noci-x\n", "{}", stderr(&out));
}
