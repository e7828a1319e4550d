//! `containy exec`: another process in a running container — its namespaces, cgroup and walls — and the
//! runtime binary out of the container's reach while it joins (CVE-2019-5736).

mod common;

use common::{Bundle, Running, sh_config, stderr, stdout};

fn exec(bundle: &Bundle, args: &[&str]) -> std::process::Output {
    bundle.containy(&[&["exec"], args].concat())
}

/// `containy exec ID COMMAND…` started in the background, for a test to look at while it runs.
fn spawn_exec(bundle: &Bundle, command: &[&str]) -> std::process::Child {
    std::process::Command::new(common::CONTAINY)
        .arg("--root")
        .arg(&bundle.state_root)
        .args([&["exec", bundle.id.as_str()], command].concat())
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// The pids whose parent is `pid`, from every `/proc/<pid>/status`.
fn children_of(pid: u32) -> Vec<u32> {
    let parent_of = |pid: u32| -> Option<u32> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status.lines().find_map(|l| l.strip_prefix("PPid:")).and_then(|p| p.trim().parse().ok())
    };
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&child| parent_of(child) == Some(pid))
        .collect()
}

#[test]
fn exec_joins_the_namespaces_cgroup_and_walls_of_the_container() {
    require_root!();
    let bundle = Bundle::friendly(&sh_config("sleep 600", "hostname = \"exec-box\""));
    let running = Running::start(&bundle);
    let out = exec(
        &bundle,
        &[
            &bundle.id,
            "sh",
            "-c",
            "hostname; echo pid=$$; cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /sys/class/net; \
             grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; exit 7",
        ],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(7), "{text} {}", stderr(&out));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "exec-box");
    assert_ne!(lines[1], "pid=1", "exec must not be the container's init");
    assert_eq!(lines[2].trim(), "sleep 600", "the container's PID 1 is visible: same PID namespace");
    assert_eq!(lines[3], "lo");
    assert!(text.contains("Seccomp:\t2") && text.contains("NoNewPrivs:\t1"), "{text}");

    let missing = exec(&bundle, &[&bundle.id, "no-such-tool"]);
    assert_eq!(missing.status.code(), Some(127));
    assert!(stderr(&missing).contains("executable file not found"), "{}", stderr(&missing));

    // Env, cwd and user from the command line; an OCI process file as engines pass it.
    let out = exec(
        &bundle,
        &[
            "-e",
            "GREETING=hi",
            "--cwd",
            "/tmp",
            "-u",
            "1000:1000",
            &bundle.id,
            "sh",
            "-c",
            "echo $GREETING $(pwd) $(id -u)",
        ],
    );
    assert_eq!(stdout(&out), "hi /tmp 1000\n", "{}", stderr(&out));
    let process = bundle.path().join("process.json");
    // The exec'd process is in the container's cgroup: it reads the same /proc/self/cgroup as PID 1.
    let script = r#"[ \"$(cat /proc/self/cgroup)\" = \"$(cat /proc/1/cgroup)\" ] && echo same-cgroup $PATH"#;
    std::fs::write(
        &process,
        format!(
            r#"{{"args": ["sh", "-c", "{script}"], "cwd": "/", "env": ["PATH=/bin"], "user": {{"uid": 0, "gid": 0}}}}"#
        ),
    )
    .unwrap();
    let out = exec(&bundle, &["--process", process.to_str().unwrap(), &bundle.id]);
    assert_eq!(stdout(&out), "same-cgroup /bin\n", "{}", stderr(&out));
    let cgroup = exec(&bundle, &[&bundle.id, "cat", "/proc/self/cgroup"]);
    let host_view = std::fs::read_to_string(format!("/proc/{}/cgroup", running.pid)).unwrap();
    assert!(host_view.contains(&bundle.id), "{host_view}");
    assert!(cgroup.status.success(), "{}", stderr(&cgroup));

    let out = bundle.containy(&["kill", &bundle.id, "KILL"]);
    assert!(out.status.success());
    running.wait();
    bundle.assert_no_leaks();
}

#[test]
fn the_runtime_binary_is_out_of_reach_during_exec() {
    require_root!();
    // Run a copy of containy: if the defence failed, the copy is what gets overwritten.
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("containy");
    std::fs::copy(common::CONTAINY, &binary).unwrap();
    let size = std::fs::metadata(&binary).unwrap().len();
    let before = std::fs::read(&binary).unwrap();

    // The container's init watches every process that appears and tries to read its /proc/N/exe — the
    // first step of CVE-2019-5736 (open the runtime's binary, write it once the runtime has exited).
    let script = "while :; do for p in /proc/[0-9]*; do \
                  n=$(wc -c < $p/exe 2>/dev/null) && echo \"$p $n\" >> /tmp/seen; \
                  echo x 2>/dev/null >> $p/exe && echo \"wrote $p\" >> /tmp/seen; \
                  done; done";
    let bundle = Bundle::friendly(&sh_config(script, ""));
    let pid_file = bundle.path().join("pid");
    let mut child = std::process::Command::new(&binary)
        .arg("--root")
        .arg(&bundle.state_root)
        .args(["run", "--pid-file", pid_file.to_str().unwrap(), "--bundle"])
        .arg(bundle.path())
        .arg(&bundle.id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while !pid_file.exists() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    for _ in 0..20 {
        let out = std::process::Command::new(&binary)
            .arg("--root")
            .arg(&bundle.state_root)
            .args(["exec", &bundle.id, "true"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let seen = std::process::Command::new(&binary)
        .arg("--root")
        .arg(&bundle.state_root)
        .args(["exec", &bundle.id, "cat", "/tmp/seen"])
        .output()
        .unwrap();
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    let seen = stdout(&seen);
    assert!(!seen.contains("wrote"), "a /proc/N/exe was writable:\n{seen}");
    let runtime_sized: Vec<&str> = seen.lines().filter(|l| l.ends_with(&format!(" {size}"))).collect();
    assert!(runtime_sized.is_empty(), "the container could open containy's binary: {runtime_sized:?}");
    assert_eq!(std::fs::read(&binary).unwrap(), before, "the runtime binary changed");
    bundle.assert_no_leaks();
}

#[test]
fn exec_runs_from_a_sealed_copy_of_containy() {
    require_root!();
    // CVE-2019-5736 as published: an image's `#!/proc/self/exe` script makes the kernel run the runtime's
    // own binary inside the container, where a container process can hold it open and write it later. So
    // `exec` re-executes itself from a view of its binary that no write can reach — a detached read-only
    // overlay (as root), a sealed memfd copy otherwise: whatever /proc/<pid>/exe of containy's exec
    // processes leads to, it is never the host file, and it cannot be written.
    let bundle = Bundle::friendly(&sh_config("sleep 600", ""));
    let running = Running::start(&bundle);
    let host_file = std::fs::canonicalize(common::CONTAINY).unwrap();
    let mut exec = spawn_exec(&bundle, &["sleep", "2"]);
    // The exec process re-executes itself first thing (and, just spawned, may not even run containy yet);
    // give it a moment. As root the view is the overlay: `/containy` in a mount attached nowhere, not a copy.
    let sealed = std::path::Path::new("/").join(host_file.file_name().unwrap());
    let exe = format!("/proc/{}/exe", exec.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut target = std::fs::read_link(&exe).unwrap();
    while target != sealed && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
        target = std::fs::read_link(&exe).unwrap();
    }
    assert_ne!(target, host_file, "exec runs from the host's binary");
    assert_eq!(target, sealed, "exec runs from {target:?}");
    let write = std::fs::OpenOptions::new().write(true).open(&exe).and_then(|mut f| {
        use std::io::Write;
        f.write_all(b"pwned")
    });
    assert!(write.is_err(), "the sealed copy was writable");
    assert!(exec.wait().unwrap().success());
    let out = bundle.containy(&["kill", &bundle.id, "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    running.wait();
    bundle.assert_no_leaks();
}

#[test]
fn as_root_exec_clones_the_process_straight_into_the_container() {
    require_root!();
    // Entering a PID namespace moves only the caller's children. As root, containy sets its own PID namespace
    // for children and clones the process itself: no middle process stands between them (rootless keeps
    // one; tests/rootless.rs).
    let bundle = Bundle::friendly(&sh_config("sleep 600", ""));
    let running = Running::start(&bundle);
    let mut exec = spawn_exec(&bundle, &["sleep", "3"]);
    let ns = |pid: u32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let container_ns = ns(running.pid as u32);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut found = children_of(exec.id());
    // Until containy has cloned it, the process is not there yet.
    while !(found.len() == 1 && ns(found[0]) == container_ns) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
        found = children_of(exec.id());
    }
    assert_eq!(found.len(), 1, "containy exec's children: {found:?}");
    assert_eq!(ns(found[0]), container_ns, "the process is in the container's PID namespace");
    let grandchildren = children_of(found[0]);
    assert!(grandchildren.is_empty(), "a middle process: {} has children {grandchildren:?}", found[0]);
    assert!(exec.wait().unwrap().success());
    let out = bundle.containy(&["kill", &bundle.id, "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    running.wait();
    bundle.assert_no_leaks();
}
