//! `containy run` end to end: real containers from a busybox rootfs, checked from inside and outside.

mod common;

use std::time::Duration;

use common::{Bundle, sh_config, stderr, stdout};

fn run_sh(script: &str) -> std::process::Output {
    Bundle::friendly(&sh_config(script, "")).run()
}

#[test]
fn hostname_comes_from_the_config() {
    require_root!();
    let out = Bundle::friendly(&sh_config("hostname", "hostname = \"lesson-box\"")).run();
    assert_eq!(stdout(&out).trim(), "lesson-box", "{}", stderr(&out));
    assert_ne!(nix::unistd::gethostname().unwrap(), "lesson-box");
}

#[test]
fn the_command_is_pid_1_and_sees_only_its_own_processes() {
    require_root!();
    let out = run_sh("echo pid=$$; ps -o pid,comm | tail -n +2 | wc -l");
    let text = stdout(&out);
    assert!(text.contains("pid=1\n"), "{text} {}", stderr(&out));
    // sh itself, ps, tail and wc: nothing of the host's.
    let count: usize = text.lines().last().unwrap().trim().parse().unwrap();
    assert!(count <= 4, "container sees {count} processes:\n{text}");
}

#[test]
fn network_none_has_only_a_loopback_that_is_up() {
    require_root!();
    let out = run_sh("ls /sys/class/net; cat /sys/class/net/lo/operstate; ip addr show lo");
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("lo"), "{text} {}", stderr(&out));
    assert!(text.contains("127.0.0.1"), "lo has no address: {text}");
}

#[test]
fn env_cwd_and_ids_are_exactly_as_configured() {
    require_root!();
    let config = r#"
[process]
args = ["/bin/env"]
env = ["PATH=/bin", "GREETING=hello world"]
cwd = "/tmp"
user = { uid = 1000, gid = 1001, additional_gids = [1002] }
[rootfs]
path = "@ROOTFS@"
"#;
    let out = Bundle::friendly(config).run();
    assert_eq!(stdout(&out), "PATH=/bin\nGREETING=hello world\n", "{}", stderr(&out));

    let config = config.replace("[\"/bin/env\"]", "[\"/bin/sh\", \"-c\", \"pwd; id -u; id -g; id -G\"]");
    let out = Bundle::friendly(&config).run();
    assert_eq!(stdout(&out), "/tmp\n1000\n1001\n1001 1002\n", "{}", stderr(&out));
}

#[test]
fn exit_codes_pass_through() {
    require_root!();
    assert_eq!(run_sh("exit 0").status.code(), Some(0));
    assert_eq!(run_sh("exit 3").status.code(), Some(3));
}

#[test]
fn a_missing_command_exits_127_and_says_so() {
    require_root!();
    let config = "[process]\nargs = [\"no-such-command\"]\n[rootfs]\npath = \"@ROOTFS@\"\n";
    let out = Bundle::friendly(config).run();
    assert_eq!(out.status.code(), Some(127));
    let err = stderr(&out);
    assert!(err.contains("no-such-command") && err.contains("executable file not found"), "{err}");

    let config = "[process]\nargs = [\"/etc/passwd\"]\n[rootfs]\npath = \"@ROOTFS@\"\n";
    let out = Bundle::friendly(config).run();
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
}

#[test]
fn a_container_killed_by_sigkill_exits_137_and_leaves_nothing() {
    require_root!();
    let bundle = Bundle::friendly(&sh_config("sleep 100", ""));
    let running = common::Running::start(&bundle);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(running.pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let out = running.wait();
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    bundle.assert_no_leaks();
}

#[test]
fn sigterm_to_containy_is_forwarded_and_everything_is_cleaned_up() {
    require_root!();
    let script = "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done";
    let bundle = Bundle::friendly(&sh_config(script, ""));
    let running = common::Running::start(&bundle);
    std::thread::sleep(Duration::from_millis(200)); // let the trap be installed
    let containy = nix::unistd::Pid::from_raw(running.containy_pid());
    nix::sys::signal::kill(containy, nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = running.wait();
    assert_eq!(out.status.code(), Some(7), "{} {}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("got TERM"));
    bundle.assert_no_leaks();
}

#[test]
fn overlay_writes_never_reach_the_base_and_vanish_after_exit() {
    require_root!();
    let out = run_sh("echo changed > /etc/base-file; echo new > /new-file; cat /etc/base-file");
    assert_eq!(stdout(&out), "changed\n", "{}", stderr(&out));
    let base = common::busybox_rootfs();
    assert_eq!(std::fs::read_to_string(base.join("etc/base-file")).unwrap(), "from the base\n");
    assert!(!base.join("new-file").exists());
    let again = run_sh("cat /etc/base-file; test -e /new-file && echo leaked || echo fresh");
    assert_eq!(stdout(&again), "from the base\nfresh\n");
}

#[test]
fn keep_changes_keeps_the_upper_dir_in_the_bundle() {
    require_root!();
    let config = "[process]\nargs = [\"/bin/sh\", \"-c\", \"cat /kept 2>/dev/null; echo once >> /kept\"]\n\
                  [rootfs]\npath = \"@ROOTFS@\"\nkeep_changes = true\n";
    let bundle = Bundle::friendly(config);
    let first = bundle.run();
    assert_eq!(stdout(&first), "", "{}", stderr(&first));
    let second = bundle.run(); // the id is free again once the first run ended
    assert_eq!(stdout(&second), "once\n", "{}", stderr(&second));
    assert!(bundle.path().join("changes/upper/kept").exists());
}

#[test]
fn pivot_root_leaves_no_way_back_to_the_host() {
    require_root!();
    // After pivot_root the root's parent is itself, the root is the overlay, and the host's root
    // filesystem is not mounted anywhere in the container.
    let out = run_sh(
        "[ \"$(stat -c %i /)\" = \"$(stat -c %i /..)\" ] && echo parent-is-self; \
         awk '$5 == \"/\" { print $9 }' /proc/self/mountinfo; \
         cd /; cd ../../..; ls /bin/busybox",
    );
    let text = stdout(&out);
    assert!(text.contains("parent-is-self"), "{text} {}", stderr(&out));
    assert!(text.lines().any(|l| l == "overlay"), "root is not the overlay: {text}");
    let host_root_fs = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .map(|l| l.split(' ').nth(2).unwrap().to_string())
        .unwrap();
    let inside = run_sh("cat /proc/self/mountinfo");
    assert!(
        !stdout(&inside)
            .lines()
            .any(|l| l.split(' ').nth(2) == Some(host_root_fs.as_str()) && l.split(' ').nth(3) == Some("/")),
        "the host's root filesystem is visible inside:\n{}",
        stdout(&inside)
    );
}

#[test]
fn split_mode_copies_the_editable_part_and_shares_the_rest_read_only() {
    require_root!();
    let config = "[process]\nargs = [\"/bin/sh\", \"-c\", \"echo hi > /etc/new && cat /etc/new; touch /bin/x 2>/dev/null && echo bin-writable || echo bin-readonly\"]\n\
                  [rootfs]\npath = \"@ROOTFS@\"\nmode = \"split\"\neditable = [\"etc\", \"tmp\"]\n";
    let out = Bundle::friendly(config).run();
    assert_eq!(stdout(&out), "hi\nbin-readonly\n", "{}", stderr(&out));
    assert!(!common::busybox_rootfs().join("etc/new").exists());
}

#[test]
fn direct_mode_uses_the_directory_as_is() {
    require_root!();
    let own = tempfile::tempdir().unwrap();
    common::make_busybox_rootfs(own.path());
    let config = format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", \"echo kept > /direct-file\"]\n[rootfs]\npath = {:?}\nmode = \"direct\"\n",
        own.path().display().to_string()
    );
    let out = Bundle::friendly(&config).run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(own.path().join("direct-file")).unwrap(), "kept\n");
}

#[test]
fn read_only_root_and_bind_mounts() {
    require_root!();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("in"), "host data\n").unwrap();
    let config = format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", \"cat /data/in; echo out > /data/out; touch /x 2>/dev/null || echo root-ro; touch /ro/y 2>/dev/null || echo ro-bind\"]\n\
         [rootfs]\npath = \"@ROOTFS@\"\nreadonly = true\n\
         [[mounts]]\nsource = {src:?}\ndestination = \"/data\"\n\
         [[mounts]]\nsource = {src:?}\ndestination = \"/ro\"\nreadonly = true\n",
        src = data.path().display().to_string()
    );
    let out = Bundle::friendly(&config).run();
    assert_eq!(stdout(&out), "host data\nroot-ro\nro-bind\n", "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(data.path().join("out")).unwrap(), "out\n");
}

#[test]
fn a_bind_mount_through_a_symlink_in_the_image_lands_inside_the_rootfs() {
    require_root!();
    let own = tempfile::tempdir().unwrap();
    common::make_busybox_rootfs(own.path());
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), own.path().join("evil")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = format!(
        "[process]\nargs = [\"/bin/true\"]\n[rootfs]\npath = {:?}\nmode = \"direct\"\n\
         [[mounts]]\nsource = {:?}\ndestination = \"/evil/mnt\"\n",
        own.path().display().to_string(),
        data.path().display().to_string()
    );
    let out = Bundle::friendly(&config).run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "the mount escaped the rootfs");
}

#[test]
fn default_privileges_are_dropped() {
    require_root!();
    let out = run_sh(
        "grep -E '^(CapInh|CapBnd|NoNewPrivs)' /proc/self/status; cat /proc/kcore | wc -c; echo b > /proc/sysrq-trigger 2>/dev/null || echo sysrq-denied",
    );
    let text = stdout(&out);
    assert!(text.contains("CapInh:\t0000000000000000"), "{text} {}", stderr(&out));
    assert!(!text.contains("CapBnd:\t000001ffffffffff"), "full bounding set: {text}");
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    assert!(text.contains("\n0\n"), "/proc/kcore is readable: {text}");
    assert!(text.contains("sysrq-denied"), "{text}");
}

#[test]
fn a_symlinked_proc_in_the_image_is_refused() {
    require_root!();
    let own = tempfile::tempdir().unwrap();
    common::make_busybox_rootfs(own.path());
    std::fs::remove_dir(own.path().join("proc")).unwrap();
    std::os::unix::fs::symlink("/", own.path().join("proc")).unwrap();
    let config = format!(
        "[process]\nargs = [\"/bin/true\"]\n[rootfs]\npath = {:?}\nmode = \"direct\"\n",
        own.path().display().to_string()
    );
    let out = Bundle::friendly(&config).run();
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("/proc must be mounted on an ordinary directory"), "{}", stderr(&out));
}

#[test]
fn two_containers_run_at_once_and_one_id_is_taken_only_once() {
    require_root!();
    let a = Bundle::friendly(&sh_config("sleep 2; echo a", ""));
    let b = Bundle::friendly(&sh_config("sleep 2; echo b", ""));
    let ca = a.command(&[]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let cb = b.command(&[]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    // Until `a` has taken its id (its state dir exists), there is nothing to collide with.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !a.state_root.join(&a.id).join("state.json").exists() {
        assert!(std::time::Instant::now() < deadline, "container a did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Same id as `a`, same state root: refused while `a` runs.
    let dup = a.command(&[]).output().unwrap();
    assert_eq!(dup.status.code(), Some(125));
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));
    assert_eq!(stdout(&ca.wait_with_output().unwrap()), "a\n");
    assert_eq!(stdout(&cb.wait_with_output().unwrap()), "b\n");
    a.assert_no_leaks();
    b.assert_no_leaks();
}

#[test]
fn explain_narrates_the_kernel_steps() {
    require_root!();
    let bundle = Bundle::friendly(&sh_config("true", ""));
    let out = std::process::Command::new(common::CONTAINY)
        .args(["--explain", "--root", bundle.state_root.to_str().unwrap(), "run", "--bundle"])
        .arg(bundle.path())
        .arg(&bundle.id)
        .output()
        .unwrap();
    let err = stderr(&out);
    for needle in ["clone3(", "pivot_root", "sethostname", "src/rootfs/pivot.rs", "[child]", "[parent]"] {
        assert!(err.contains(needle), "--explain lacks {needle:?}:\n{err}");
    }
    // One numbering: the steps of runtime/steps.rs (and docs/architecture.md), each line numbered within its step.
    for needle in
        ["step 1 [parent]", "step 7 [parent] clone the process", "step 14 [child] pivot_root", " 14.1 [child]"]
    {
        assert!(err.contains(needle), "steps are numbered as runtime/steps.rs says ({needle:?}):\n{err}");
    }
    bundle.assert_no_leaks();
}

#[test]
fn a_terminal_container_gets_a_tty() {
    require_root!();
    let config = "[process]\nargs = [\"/bin/sh\", \"-c\", \"tty; test -t 0 && echo stdin-is-tty\"]\nterminal = true\n[rootfs]\npath = \"@ROOTFS@\"\n";
    let out = Bundle::friendly(config).run();
    let text = stdout(&out).replace('\r', "");
    assert!(text.contains("/dev/pts/0"), "{text} {}", stderr(&out));
    assert!(text.contains("stdin-is-tty"), "{text}");
}
