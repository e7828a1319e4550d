//! OCI runtime-spec conformance: configs other engines write (dockerd, Kubernetes through containerd, the
//! OCI validation suites) run on containy as they run on runc. Each test writes one config.json and runs it
//! through **runc** (Debian's 1.1.5, the reference on this hybrid-cgroup host; crun refuses the layout) and
//! through containy, and checks both see the same thing — so a difference is containy's, not the config's.
//! Every test ends with containy's leak check, and removes what runc made.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Bundle, stderr, stdout};

const RUNC: &str = "/usr/sbin/runc";

/// One config, run by both runtimes. The bundle's `config.json` is `runc spec` with the rootfs made
/// absolute (runc refuses a symlinked root) and the terminal off, then `patch`ed.
struct Case {
    bundle: Bundle,
    runc_root: tempfile::TempDir,
    runc_id: String,
}

static RUNC_IDS: AtomicUsize = AtomicUsize::new(0);

impl Case {
    fn new(rootfs: &Path, patch: impl FnOnce(&mut serde_json::Value)) -> Case {
        assert!(Path::new(RUNC).exists(), "runc is not installed: install.sh installs it");
        let bundle = Bundle::empty();
        let out = Command::new(RUNC).arg("spec").current_dir(bundle.path()).output().unwrap();
        assert!(out.status.success(), "runc spec: {}", stderr(&out));
        let path = bundle.path().join("config.json");
        let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        spec["process"]["terminal"] = false.into();
        spec["root"]["path"] = rootfs.display().to_string().into();
        patch(&mut spec);
        std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
        let n = RUNC_IDS.fetch_add(1, Ordering::SeqCst);
        Case {
            bundle,
            runc_root: tempfile::tempdir().unwrap(),
            runc_id: format!("wtoci-runc-{}-{n}", std::process::id()),
        }
    }

    fn busybox(patch: impl FnOnce(&mut serde_json::Value)) -> Case {
        Case::new(common::busybox_rootfs(), patch)
    }

    fn runc(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(RUNC);
        cmd.arg("--root").arg(self.runc_root.path()).args(args).stdin(Stdio::null());
        cmd
    }

    /// `runc run` to completion.
    fn run_runc(&self) -> Output {
        let out = self.runc(&["run", "--bundle"]).arg(self.bundle.path()).arg(&self.runc_id).output().unwrap();
        let _ = self.runc(&["delete", "--force", &self.runc_id]).output();
        out
    }

    /// `containy run` to completion, then the leak check.
    fn run_containy(&self) -> Output {
        self.bundle.run()
    }

    /// Both, each asserted to succeed; their standard outputs.
    fn run_both_ok(&self) -> (String, String) {
        let runc = self.run_runc();
        assert!(runc.status.success(), "runc: {} {}", stdout(&runc), stderr(&runc));
        let containy = self.run_containy();
        assert!(containy.status.success(), "containy: {} {}", stdout(&containy), stderr(&containy));
        (stdout(&runc), stdout(&containy))
    }

    /// `create`: the container keeps the stdio it is given, so it gets files, not the pipes `output` waits on.
    fn create_runc(&self) -> Output {
        let mut cmd = self.runc(&["create", "--bundle"]);
        cmd.arg(self.bundle.path()).arg(&self.runc_id);
        self.create(cmd)
    }

    fn create_containy(&self) -> Output {
        let b = &self.bundle;
        let mut cmd = Command::new(common::CONTAINY);
        cmd.arg("--root").arg(&b.state_root).args(["create", "--bundle"]).arg(b.path()).arg(&b.id);
        self.create(cmd)
    }

    fn create(&self, mut cmd: Command) -> Output {
        let log = self.runc_root.path().join("create.log");
        let file = std::fs::File::create(&log).unwrap();
        let status = cmd.stdin(Stdio::null()).stdout(file.try_clone().unwrap()).stderr(file).status().unwrap();
        let text = std::fs::read(&log).unwrap_or_default();
        Output { status, stdout: Vec::new(), stderr: text }
    }

    fn set_args(spec: &mut serde_json::Value, script: &str) {
        spec["process"]["args"] = serde_json::json!(["sh", "-c", script]);
    }
}

fn require_root() -> bool {
    if !common::is_root() {
        eprintln!("skipped: requires root");
    }
    common::is_root()
}

// ---- 0 and 7: a default value asks for nothing; unknown properties are ignored -------------------------

#[test]
fn dockerd_defaults_and_unknown_properties_are_accepted() {
    if !require_root() {
        return;
    }
    let case = Case::busybox(|spec| {
        Case::set_args(spec, "echo ok");
        // What dockerd 20.10 writes into every spec, and what `docker update` sends.
        spec["linux"]["resources"]["memory"] =
            serde_json::json!({"limit": 67108864, "disableOOMKiller": false, "kernel": 0, "kernelTCP": 0});
        spec["linux"]["resources"]["blockIO"] = serde_json::json!({"weight": 0, "leafWeight": 0});
        spec["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_OTHER", "nice": 0});
        // Properties the spec does not define: MUST be ignored.
        spec["linux"]["vendorExtension"] = serde_json::json!({"anything": true});
        spec["process"]["fancyNewField"] = serde_json::json!(1);
        spec["windows"] = serde_json::json!({"layerFolders": []});
    });
    let (runc, containy) = case.run_both_ok();
    assert_eq!((runc.as_str(), containy.as_str()), ("ok\n", "ok\n"));
}

#[test]
fn update_accepts_docker_defaults_on_standard_input_and_names_it_in_errors() {
    if !require_root() {
        return;
    }
    let case = Case::busybox(|spec| Case::set_args(spec, "sleep 100"));
    let resources = r#"{"memory": {"limit": 33554432, "kernel": 0, "kernelTCP": 0, "disableOOMKiller": false},
        "cpu": {"shares": 512, "realtimeRuntime": 0, "realtimePeriod": 0}, "blockIO": {"weight": 0}, "pids": {"limit": 0}}"#;
    let update = |mut cmd: Command, input: &str| {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };

    // runc
    let out = case.create_runc();
    assert!(out.status.success(), "runc create: {}", stderr(&out));
    let mut cmd = case.runc(&["update", "--resources", "-", &case.runc_id]);
    cmd.stdin(Stdio::piped());
    let runc_update = update(cmd, resources);
    let _ = case.runc(&["delete", "--force", &case.runc_id]).output();
    assert!(runc_update.status.success(), "runc update: {}", stderr(&runc_update));

    // containy
    let b = &case.bundle;
    let out = case.create_containy();
    assert!(out.status.success(), "containy create: {}", stderr(&out));
    let mut cmd = Command::new(common::CONTAINY);
    cmd.arg("--root").arg(&b.state_root).args(["update", "--resources", "-", &b.id]);
    let ok = update(cmd, resources);
    let mut cmd = Command::new(common::CONTAINY);
    cmd.arg("--root").arg(&b.state_root).args(["update", "--resources", "-", &b.id]);
    let bad = update(cmd, "{\"memory\": {\"limit\": \"lots\"}}");
    let limit = b
        .containy(&["state", &b.id])
        .status
        .success()
        .then(|| common::cgroup_dirs_named(&b.id))
        .and_then(|dirs| dirs.into_iter().find(|d| d.starts_with("/sys/fs/cgroup/memory")))
        .and_then(|d| std::fs::read_to_string(d.join("memory.limit_in_bytes")).ok());
    let out = b.containy(&["delete", "--force", &b.id]);
    assert!(out.status.success(), "containy delete: {}", stderr(&out));
    b.assert_no_leaks();
    assert!(ok.status.success(), "containy update: {}", stderr(&ok));
    assert_eq!(limit.as_deref().map(str::trim), Some("33554432"));
    assert!(!bad.status.success());
    let text = stderr(&bad);
    assert!(text.contains("update --resources (standard input)") && !text.contains("containy-update-"), "{text}");
}

// ---- 1: containy's own calls after the seccomp filter ------------------------------------------------

/// Everything runc 1.1.5 calls while starting `/bin/true` (strace), but `close_range`, plus what containy
/// uses instead of runc's equivalents (setresuid/setresgid, sendmsg/recvmsg).
const BROAD_ALLOW: &[&str] = &[
    "access",
    "arch_prctl",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "clone",
    "clone3",
    "close",
    "copy_file_range",
    "dup3",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat2",
    "fchdir",
    "fchmodat",
    "fchown",
    "fchownat",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getpid",
    "getppid",
    "getrandom",
    "getrlimit",
    "getsockname",
    "gettid",
    "getuid",
    "keyctl",
    "kill",
    "lseek",
    "madvise",
    "mkdirat",
    "mknodat",
    "mmap",
    "mount",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "openat",
    "openat2",
    "pipe2",
    "pivot_root",
    "prctl",
    "pread64",
    "prlimit64",
    "read",
    "readlink",
    "readlinkat",
    "recvfrom",
    "recvmsg",
    "renameat",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_getaffinity",
    "sched_yield",
    "seccomp",
    "sendmsg",
    "sendto",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "sethostname",
    "setresgid",
    "setresuid",
    "setsid",
    "setsockopt",
    "setuid",
    "shutdown",
    "sigaltstack",
    "socket",
    "socketpair",
    "statfs",
    "symlinkat",
    "tgkill",
    "umask",
    "umount2",
    "uname",
    "unlink",
    "unlinkat",
    "unshare",
    "wait4",
    "waitid",
    "write",
];

/// What busybox `true` itself calls (strace on this machine).
const BUSYBOX_TRUE: &[&str] = &[
    "arch_prctl",
    "brk",
    "execve",
    "exit_group",
    "getrandom",
    "getuid",
    "mprotect",
    "prctl",
    "prlimit64",
    "readlink",
    "rseq",
    "set_robust_list",
    "set_tid_address",
];

/// Without no_new_privs the filter goes in while containy still holds CAP_SYS_ADMIN, before the process's
/// user and capabilities are applied: those calls, the ready message and the signal mask are what the spec
/// implies a profile must allow then (runc needs them too, and far more).
const APPLY_PROCESS: &[&str] =
    &["capget", "capset", "setgroups", "setresgid", "setresuid", "sendmsg", "rt_sigprocmask"];

fn errno_profile(allow: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"}]
    })
}

#[test]
fn a_profile_without_close_range_runs_with_and_without_no_new_privileges() {
    if !require_root() {
        return;
    }
    for nnp in [false, true] {
        let case = Case::busybox(|spec| {
            spec["process"]["args"] = serde_json::json!(["/bin/true"]);
            spec["process"]["noNewPrivileges"] = nnp.into();
            spec["linux"]["seccomp"] = errno_profile(BROAD_ALLOW);
        });
        case.run_both_ok();
    }
}

#[test]
fn a_minimal_allow_list_profile_runs_busybox_true() {
    if !require_root() {
        return;
    }
    // runc 1.1.5 cannot run these (its Go runtime needs futex, mmap, … after the filter): containy alone.
    for (nnp, allow) in [(true, BUSYBOX_TRUE.to_vec()), (false, [BUSYBOX_TRUE, APPLY_PROCESS].concat())] {
        let bundle = Case::busybox(|spec| {
            spec["process"]["args"] = serde_json::json!(["/bin/true"]);
            spec["process"]["noNewPrivileges"] = nnp.into();
            spec["linux"]["seccomp"] = errno_profile(&allow);
        });
        let out = bundle.run_containy();
        assert!(out.status.success(), "noNewPrivileges {nnp}: {}", stderr(&out));
    }
}

// ---- 2: a pre-existing cgroup is joined, and left -----------------------------------------------------

/// The v1 hierarchies of this host, as engines pre-create a container's cgroup in them.
fn v1_hierarchies() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for name in ["pids", "memory", "devices", "freezer", "cpu", "cpuacct"] {
        let dir = Path::new("/sys/fs/cgroup").join(name);
        if dir.is_dir() {
            found.push(dir);
        }
    }
    found
}

#[test]
fn a_pre_created_cgroup_is_joined_and_left_in_place() {
    if !require_root() {
        return;
    }
    let name = format!("wtoci-pre-{}", std::process::id());
    let dirs: Vec<PathBuf> = v1_hierarchies().iter().map(|h| h.join(&name)).collect();
    let make = || {
        for d in &dirs {
            std::fs::create_dir_all(d).unwrap();
        }
    };
    let case = Case::busybox(|spec| {
        Case::set_args(spec, "grep -c pids:/$NAME /proc/self/cgroup || cat /proc/self/cgroup");
        spec["process"]["env"].as_array_mut().unwrap().push(format!("NAME={name}").into());
        spec["linux"]["cgroupsPath"] = format!("/{name}").into();
        spec["linux"]["namespaces"].as_array_mut().unwrap().retain(|ns| ns["type"] != "cgroup");
    });
    make();
    let runc = case.run_runc();
    make();
    let containy = case.run_containy();
    let left: Vec<bool> = dirs.iter().map(|d| d.exists()).collect();
    for d in &dirs {
        let _ = std::fs::remove_dir(d);
    }
    assert!(runc.status.success(), "runc: {}", stderr(&runc));
    assert!(containy.status.success(), "containy: {}", stderr(&containy));
    assert_eq!(stdout(&containy), "1\n", "the container ran in the pre-created cgroup");
    assert!(left.iter().all(|l| *l), "containy removed a cgroup it did not create: {dirs:?} {left:?}");
}

// ---- 3: every rootfsPropagation ------------------------------------------------------------------------

#[test]
fn rootfs_propagation_shared_and_unbindable_are_applied() {
    if !require_root() {
        return;
    }
    // The container's `/` as /proc/self/mountinfo shows it: its optional fields say its propagation.
    let script = "awk '$5 == \"/\"' /proc/self/mountinfo";
    // This host's `/` is private (no systemd), so a slave of it is private too: only shared and unbindable show.
    for (value, expect) in [("shared", "shared:"), ("unbindable", "unbindable"), ("rslave", ""), ("rprivate", "")] {
        let case = Case::busybox(|spec| {
            Case::set_args(spec, script);
            spec["linux"]["rootfsPropagation"] = value.into();
        });
        // runc 1.1.5 accepts every value, but applies `shared` to the host's `/` only (the container's
        // shows none) and fails `unbindable` (it then cannot bind the rootfs): compared where it works.
        let runc = case.run_runc();
        if value != "unbindable" {
            assert!(runc.status.success(), "runc with {value}: {}", stderr(&runc));
        }
        let out = case.run_containy();
        assert!(out.status.success(), "containy with {value}: {}", stderr(&out));
        let line = stdout(&out);
        assert_eq!(line.lines().count(), 1, "{line}");
        let tags = ["shared:", "master:", "unbindable"];
        for tag in tags {
            assert_eq!(line.contains(tag), tag == expect, "containy with {value}: {line}");
        }
        if value.ends_with("slave") || value.ends_with("private") {
            let runc_line = stdout(&runc);
            for tag in tags {
                assert_eq!(runc_line.contains(tag), tag == expect, "runc with {value}: {runc_line}");
            }
        }
    }
}

// ---- 4: linux.mountLabel -------------------------------------------------------------------------------

#[test]
fn a_mount_label_is_accepted_where_selinux_is_off() {
    if !require_root() {
        return;
    }
    let selinux = Path::new("/sys/fs/selinux/enforce").exists();
    let case = Case::busybox(|spec| {
        Case::set_args(spec, "echo ok");
        spec["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0:c1,c2".into();
    });
    // runc 1.1.5 passes `context=` to the kernel even without SELinux, which refuses it: the label has
    // nothing to apply to here, which is why containy (like crun) leaves it out where SELinux is off.
    let runc = case.run_runc();
    if !selinux {
        assert!(!runc.status.success() && stderr(&runc).contains("context="), "runc: {}", stderr(&runc));
    }
    let out = case.run_containy();
    assert!(out.status.success(), "containy: {}", stderr(&out));
    assert_eq!(stdout(&out), "ok\n");
}

// ---- 5: no mount namespace ----------------------------------------------------------------------------

/// Unmount everything under `dir` (what runc leaves on the host without a mount namespace).
fn unmount_under(dir: &Path) {
    for _ in 0..10 {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let points: Vec<String> = mountinfo
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|p| Path::new(p).starts_with(dir))
            .collect();
        if points.is_empty() {
            return;
        }
        for p in points.iter().rev() {
            let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

#[test]
fn a_config_without_a_mount_namespace_runs_chrooted_and_mounts_nothing() {
    if !require_root() {
        return;
    }
    let rootfs = tempfile::tempdir().unwrap();
    common::make_busybox_rootfs(rootfs.path());
    let without_mount_ns = |spec: &mut serde_json::Value| {
        spec["linux"]["namespaces"].as_array_mut().unwrap().retain(|ns| ns["type"] != "mount");
        spec["linux"].as_object_mut().unwrap().remove("maskedPaths");
        spec["linux"].as_object_mut().unwrap().remove("readonlyPaths");
        spec["root"]["readonly"] = false.into();
    };
    // runc needs /proc for itself (it reads /proc/self/fd): given one, it mounts it on the host — and leaves it.
    let case = Case::new(rootfs.path(), |spec| {
        without_mount_ns(spec);
        Case::set_args(spec, "ls /bin/busybox; echo $$");
        spec["mounts"] = serde_json::json!([{"destination": "/proc", "type": "proc", "source": "proc"}]);
    });
    let runc = case.run_runc();
    unmount_under(rootfs.path());
    assert!(runc.status.success(), "runc: {}", stderr(&runc));
    // containy makes no mount on the host: that config is refused by name, the same without mounts runs.
    let refused = case.run_containy();
    assert_eq!(refused.status.code(), Some(125), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("mounts needs a mount namespace"), "{}", stderr(&refused));
    let case = Case::new(rootfs.path(), |spec| {
        without_mount_ns(spec);
        Case::set_args(spec, "ls /bin/busybox; echo $$");
        spec["mounts"] = serde_json::json!([]);
    });
    let out = case.run_containy();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(out.status.success(), "containy: {}", stderr(&out));
    assert_eq!(stdout(&out), "/bin/busybox\n1\n", "chrooted into the rootfs, in its own PID namespace");
    let root = rootfs.path().display().to_string();
    assert!(!mountinfo.contains(&root), "a mount was made on the host: {mountinfo}");
}

// ---- 6: a PID namespace joined by path ----------------------------------------------------------------

/// A process holding a fresh PID namespace (its pid 1), killed on drop (with `--kill-child`, killing unshare
/// kills the sleep too: it would otherwise outlive the test, holding the harness's output pipe open).
struct PidNamespace {
    holder: std::process::Child,
    path: PathBuf,
}

impl PidNamespace {
    fn new() -> PidNamespace {
        let holder = Command::new("unshare").args(["--pid", "--fork", "--kill-child", "sleep", "600"]).spawn().unwrap();
        let mut ns = PidNamespace { holder, path: PathBuf::new() };
        // The sleep is unshare's child, pid 1 of the new namespace.
        let children = format!("/proc/{}/task/{}/children", ns.holder.id(), ns.holder.id());
        for _ in 0..500 {
            if let Some(pid) = std::fs::read_to_string(&children).ok().and_then(|t| t.trim().parse::<u32>().ok()) {
                ns.path = PathBuf::from(format!("/proc/{pid}/ns/pid"));
                return ns;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the PID namespace holder did not start");
    }

    fn inode(&self) -> String {
        std::fs::read_link(&self.path).unwrap().display().to_string()
    }
}

impl Drop for PidNamespace {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

#[test]
fn a_pid_namespace_joined_by_path_holds_the_container_process() {
    if !require_root() {
        return;
    }
    let ns = PidNamespace::new();
    let case = Case::busybox(|spec| {
        Case::set_args(spec, "readlink /proc/self/ns/pid");
        for entry in spec["linux"]["namespaces"].as_array_mut().unwrap() {
            if entry["type"] == "pid" {
                entry["path"] = ns.path.display().to_string().into();
            }
        }
    });
    let (runc, containy) = case.run_both_ok();
    assert_eq!(runc.trim(), ns.inode(), "runc");
    assert_eq!(containy.trim(), ns.inode(), "containy");
}

// ---- 8: the state each hook reads ------------------------------------------------------------------------

#[test]
fn each_hook_reads_the_state_the_spec_names() {
    if !require_root() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let hook = |stage: &str| {
        // createContainer runs before pivot_root (host paths resolve); startContainer after it (/hookout).
        let script =
            format!("cat > /hookout/{stage}.json 2>/dev/null || cat > {dir}/{stage}.json", dir = out.path().display());
        serde_json::json!([{"path": "/bin/sh", "args": ["sh", "-c", script]}])
    };
    let stages = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];
    let case = Case::busybox(|spec| {
        Case::set_args(spec, "true");
        spec["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/hookout", "type": "bind", "source": out.path(), "options": ["rbind", "rw"]}));
        spec["hooks"] = stages.iter().map(|s| (s.to_string(), hook(s))).collect::<serde_json::Map<_, _>>().into();
    });
    let status = |stage: &str| -> String {
        let text = std::fs::read_to_string(out.path().join(format!("{stage}.json"))).unwrap_or_default();
        let state: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        std::fs::remove_file(out.path().join(format!("{stage}.json"))).unwrap_or_default();
        state["status"].as_str().unwrap_or("(no state)").to_string()
    };
    let runc = case.run_runc();
    assert!(runc.status.success(), "runc: {}", stderr(&runc));
    let runc_seen: Vec<String> = stages.iter().map(|s| status(s)).collect();
    let containy = case.run_containy();
    assert!(containy.status.success(), "containy: {}", stderr(&containy));
    let seen: Vec<String> = stages.iter().map(|s| status(s)).collect();
    // runtime.md: "created" once the create operation's environment exists (lifecycle steps 3–7).
    assert_eq!(seen, ["created", "created", "created", "created", "running", "stopped"], "runc saw {runc_seen:?}");
}

// ---- 9: linux.resources, every field runc applies on v1 -------------------------------------------------

#[test]
fn every_resource_runc_applies_is_applied() {
    if !require_root() {
        return;
    }
    let files = "memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes memory/memory.swappiness \
                 memory/memory.oom_control cpu/cpu.shares cpu/cpu.cfs_quota_us \
                 cpu/cpu.cfs_period_us cpu/cpu.cfs_burst_us cpu/cpu.rt_period_us \
                 cpu/cpu.rt_runtime_us pids/pids.max blkio/blkio.throttle.read_bps_device";
    // A real block device of this machine for the throttle (the kernel refuses others with ENODEV).
    let block = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with("loop"))
        .find_map(|e| std::fs::read_to_string(e.path().join("dev")).ok())
        .expect("a block device in /sys/block");
    let (major, minor) =
        block.trim().split_once(':').map(|(a, b)| (a.parse::<i64>().unwrap(), b.parse::<i64>().unwrap())).unwrap();
    let case = Case::busybox(|spec| {
        Case::set_args(
            spec,
            &format!("for f in {files}; do head -n 1 /sys/fs/cgroup/$f 2>/dev/null || echo \"no $f\"; done"),
        );
        spec["linux"]["resources"] = serde_json::json!({
            "devices": [{"allow": false, "access": "rwm"}],
            "memory": {"limit": 67108864, "reservation": 33554432, "swappiness": 10, "disableOOMKiller": true,
                "kernel": 67108864, "kernelTCP": 16777216, "useHierarchy": true},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 10000,
                "realtimePeriod": 1000000, "realtimeRuntime": 0},
            "pids": {"limit": 64},
            "blockIO": {"weight": 300, "leafWeight": 300, "weightDevice": [{"major": major, "minor": minor, "weight": 200}],
                "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}]},
            "network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 1}]}
        });
        // The container's own cgroup at /sys/fs/cgroup/<controller>.
        spec["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "cgroup"}));
    });
    let runc = case.run_runc();
    let containy = case.run_containy();
    assert!(containy.status.success(), "containy: {}", stderr(&containy));
    let text = stdout(&containy);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "67108864",
            "33554432",
            "10",
            "oom_kill_disable 1",
            "512",
            "50000",
            "100000",
            "10000",
            "1000000",
            "0",
            "64",
            &format!("{major}:{minor} 1048576")
        ],
        "{text}"
    );
    // runc 1.1.5 refuses blkio weights where the kernel has no weight file (no BFQ here); containy warns.
    if runc.status.success() {
        assert_eq!(stdout(&runc), text, "runc saw other values");
    } else {
        assert!(stderr(&runc).contains("blkio"), "runc failed for another reason: {}", stderr(&runc));
        assert!(stderr(&containy).contains("warning"), "containy said nothing of what it could not apply");
    }
}

// ---- 10: kill --all of a stopped container ---------------------------------------------------------------

#[test]
fn kill_all_of_a_stopped_container_is_not_an_error() {
    if !require_root() {
        return;
    }
    let case = Case::busybox(|spec| Case::set_args(spec, "true"));
    let b = &case.bundle;
    let wait_stopped = |state: &dyn Fn() -> Output| {
        for _ in 0..500 {
            let out = state();
            if stdout(&out).contains("\"stopped\"") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the container did not stop");
    };

    let ok =
        case.create_runc().status.success() && case.runc(&["start", &case.runc_id]).output().unwrap().status.success();
    assert!(ok, "runc create/start");
    wait_stopped(&|| case.runc(&["state", &case.runc_id]).output().unwrap());
    let runc_kill = case.runc(&["kill", "--all", &case.runc_id, "KILL"]).output().unwrap();
    let _ = case.runc(&["delete", "--force", &case.runc_id]).output();
    assert!(runc_kill.status.success(), "runc kill --all: {}", stderr(&runc_kill));

    let out = case.create_containy();
    assert!(out.status.success(), "containy create: {}", stderr(&out));
    let out = b.containy(&["start", &b.id]);
    assert!(out.status.success(), "containy start: {}", stderr(&out));
    wait_stopped(&|| b.containy(&["state", &b.id]));
    let kill_all = b.containy(&["kill", "--all", &b.id, "KILL"]);
    let kill_one = b.containy(&["kill", &b.id, "KILL"]);
    let out = b.containy(&["delete", &b.id]);
    assert!(out.status.success(), "containy delete: {}", stderr(&out));
    b.assert_no_leaks();
    assert!(kill_all.status.success(), "containy kill --all: {}", stderr(&kill_all));
    assert!(!kill_one.status.success(), "kill of a stopped container's init still says it is not running");
}
