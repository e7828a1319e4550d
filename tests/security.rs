//! The threat classes of `../shared/SECURITY-CASES.md`, each attacked from inside a real container with
//! containy's default settings. (seccomp, tar-slip and the OCI-lifecycle classes have their own files.)

mod common;

use common::{Bundle, sh_config, stderr, stdout};

fn with(config_tail: &str, script: &str) -> std::process::Output {
    let cfg =
        format!("[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n[rootfs]\npath = \"@ROOTFS@\"\n{config_tail}");
    Bundle::friendly(&cfg).run()
}

/// Bits of a capability mask.
fn mask(caps: &[u32]) -> String {
    format!("{:016x}", caps.iter().fold(0u64, |m, c| m | (1 << c)))
}

#[test]
fn capabilities_are_the_default_set_and_inheritable_is_empty() {
    require_root!();
    let out = Bundle::friendly(&sh_config("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status", "")).run();
    let text = stdout(&out);
    // CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, KILL 5, SETGID 6, SETUID 7, SETPCAP 8,
    // NET_BIND_SERVICE 10, SYS_CHROOT 18, SETFCAP 31 (podman's default set).
    let default = mask(&[0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 31]);
    for (set, want) in
        [("CapInh", "0000000000000000"), ("CapBnd", &default), ("CapEff", &default), ("CapAmb", "0000000000000000")]
    {
        assert!(text.contains(&format!("{set}:\t{want}")), "{set} is not {want}:\n{text} {}", stderr(&out));
    }
}

#[test]
fn root_in_the_container_cannot_do_what_the_dropped_capabilities_allow() {
    require_root!();
    // No CAP_SYS_ADMIN: no mounts; no CAP_NET_ADMIN: no interface changes; no CAP_SYS_TIME.
    let out = with(
        "",
        "mount -t tmpfs x /tmp 2>/dev/null && echo mounted; ip link set lo down 2>/dev/null && echo lo-down; \
         date -s 2000-01-01 2>&1 | grep -q 'not permitted' && echo clock-denied; echo done",
    );
    assert_eq!(stdout(&out), "clock-denied\ndone\n", "{}", stderr(&out));
}

#[test]
fn only_stdio_survives_into_the_container() {
    require_root!();
    // ls opens the directory itself as fd 3; nothing else may be open.
    let out = with("", "ls /proc/self/fd");
    let fds: Vec<String> = stdout(&out).split_whitespace().map(str::to_string).collect();
    assert_eq!(fds, ["0", "1", "2", "3"], "{}", stderr(&out));
}

#[test]
fn a_cwd_through_a_leaked_fd_is_refused() {
    require_root!();
    // CVE-2024-21626: cwd = /proc/self/fd/N reached the host through an fd leaked into the container.
    for n in 3..20 {
        let cfg =
            format!("[process]\nargs = [\"/bin/pwd\"]\ncwd = \"/proc/self/fd/{n}\"\n[rootfs]\npath = \"@ROOTFS@\"\n");
        let out = Bundle::friendly(&cfg).run();
        let pwd = stdout(&out);
        assert!(
            !out.status.success() || (pwd.starts_with('/') && !pwd.contains("unreachable")),
            "cwd /proc/self/fd/{n} escaped: {pwd} {}",
            stderr(&out)
        );
        assert_ne!(out.status.code(), Some(0), "cwd /proc/self/fd/{n} was accepted: {pwd}");
    }
}

#[test]
fn a_bind_destination_symlinked_to_etc_lands_inside_the_rootfs() {
    require_root!();
    let own = tempfile::tempdir().unwrap();
    common::make_busybox_rootfs(own.path());
    std::os::unix::fs::symlink("/etc", own.path().join("conf")).unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("marker"), "x").unwrap();
    let cfg = format!(
        "[process]\nargs = [\"/bin/ls\", \"/etc/mnt\"]\n[rootfs]\npath = {:?}\nmode = \"direct\"\n\
         [[mounts]]\nsource = {:?}\ndestination = \"/conf/mnt\"\n",
        own.path().display().to_string(),
        data.path().display().to_string()
    );
    let out = Bundle::friendly(&cfg).run();
    assert_eq!(stdout(&out), "marker\n", "{}", stderr(&out));
    assert!(!std::path::Path::new("/etc/mnt").exists(), "the mount point was created on the host's /etc");
    assert!(own.path().join("etc/mnt").is_dir());
}

#[test]
fn root_in_a_user_namespace_cannot_write_host_owned_files() {
    require_root!();
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("host-owned");
    std::fs::write(&file, "original\n").unwrap();
    let src = file.display().to_string();
    let cfg = format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", \"id -u; echo pwned > /rw 2>/dev/null || echo rw-denied; echo pwned > /ro 2>/dev/null || echo ro-denied\"]\n\
         [user_namespace]\nuid = 200000\ncount = 65536\n\
         [rootfs]\npath = \"@ROOTFS@\"\n\
         [[mounts]]\nsource = {src:?}\ndestination = \"/rw\"\n\
         [[mounts]]\nsource = {src:?}\ndestination = \"/ro\"\nreadonly = true\n"
    );
    let out = Bundle::friendly(&cfg).run();
    assert_eq!(stdout(&out), "0\nrw-denied\nro-denied\n", "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "original\n");
}

#[test]
fn fifty_runs_with_one_id_start_exactly_one_container() {
    require_root!();
    // The winner runs until every other attempt has been refused (however slow the machine), then is
    // stopped by id; a run that ended early would free the id and let a latecomer in legitimately.
    let bundle = Bundle::friendly(&sh_config("sleep 300", ""));
    let mut children: Vec<_> = (0..50)
        .map(|_| {
            bundle
                .command(&[])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while children.iter_mut().map(|c| c.try_wait().ok().flatten().is_none()).filter(|running| *running).count() > 1 {
        assert!(std::time::Instant::now() < deadline, "more than one run with the same id is still going");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let state = || {
        let out = bundle.containy(&["state", &bundle.id]);
        stdout(&out)
    };
    while !state().contains("\"running\"") {
        assert!(std::time::Instant::now() < deadline, "the winner never ran: {}", state());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = bundle.containy(&["kill", &bundle.id, "KILL"]);
    assert!(out.status.success(), "kill: {}", stderr(&out));
    let outs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let winners = outs.iter().filter(|o| o.status.code() == Some(137)).count();
    assert_eq!(winners, 1, "{winners} containers started with the same id");
    for o in outs.iter().filter(|o| o.status.code() != Some(137)) {
        assert!(stderr(o).contains("already exists"), "{}", stderr(o));
    }
    bundle.assert_no_leaks();
}

#[test]
fn a_hostile_config_value_is_refused_by_name() {
    // A hostname that would smuggle a second setting or a path.
    for bad in ["evil\\nhost", "../../etc", "a b"] {
        let bundle = Bundle::friendly(&sh_config("true", &format!("hostname = \"{bad}\"")));
        let out = bundle.run();
        assert_eq!(out.status.code(), Some(125), "hostname {bad:?} accepted");
        assert!(stderr(&out).contains("hostname"), "{}", stderr(&out));
    }
}

#[test]
fn namespaced_sysctls_are_set_and_host_wide_ones_refused() {
    require_root!();
    let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl").unwrap();
    let out = with("[sysctl]\n\"net.ipv4.ip_default_ttl\" = \"42\"\n", "cat /proc/sys/net/ipv4/ip_default_ttl");
    assert_eq!(stdout(&out), "42\n", "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl").unwrap(), host_before);

    for (key, why) in [("kernel.panic", "not namespaced"), ("net.ipv4.ip_forward\\nkernel.panic", "not a sysctl name")]
    {
        let out = with(&format!("[sysctl]\n\"{key}\" = \"1\"\n"), "true");
        assert_eq!(out.status.code(), Some(125));
        assert!(stderr(&out).contains(why), "{key}: {}", stderr(&out));
    }
}

#[test]
fn an_rlimit_above_containys_own_hard_limit_is_refused_clearly() {
    require_root!();
    if caps::has_cap(None, caps::CapSet::Effective, caps::Capability::CAP_SYS_RESOURCE).unwrap_or(false) {
        eprintln!("skipped: containy holds CAP_SYS_RESOURCE here, so raising hard limits is allowed");
        return;
    }
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let above = hard.saturating_add(1000);
    let out = with(&format!("[[process.rlimits]]\ntype = \"RLIMIT_NOFILE\"\nsoft = {above}\nhard = {above}\n"), "true");
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(err.contains("RLIMIT_NOFILE") && err.contains("CAP_SYS_RESOURCE"), "{err}");
}

#[test]
fn a_new_container_never_reaches_the_runtime_binary() {
    require_root!();
    use std::os::unix::fs::PermissionsExt;
    // CVE-2019-5736 through an image: an entrypoint that is a script starting `#!/proc/self/exe` makes the
    // kernel run the runtime's own binary as the container's first process, with arguments the image chose,
    // and a process of the container could hold it open and write it once the runtime has exited. Run a copy
    // of containy: if the defence failed, the copy is what a write would reach.
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("containy");
    std::fs::copy(common::CONTAINY, &binary).unwrap();
    let before = std::fs::read(&binary).unwrap();
    let data = tempfile::tempdir().unwrap();
    let evil = data.path().join("evil");
    std::fs::write(&evil, "#!/proc/self/exe --version\n").unwrap();
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bundle = Bundle::friendly(&format!(
        "[process]\nargs = [\"/data/evil\"]\n[rootfs]\npath = \"@ROOTFS@\"\n\
         [[mounts]]\nsource = {:?}\ndestination = \"/data\"\n",
        data.path().display()
    ));
    // Not pipes: the container's init keeps what `create` gives it, and nobody would see their end.
    let errors = dir.path().join("errors");
    let containy = |args: &[&str], stdout: std::process::Stdio| {
        let status = std::process::Command::new(&binary)
            .arg("--root")
            .arg(&bundle.state_root)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(stdout)
            .stderr(std::fs::File::create(&errors).unwrap())
            .status()
            .unwrap();
        assert!(status.success(), "containy {args:?}: {}", std::fs::read_to_string(&errors).unwrap());
    };
    // `create` leaves the container's init waiting for `start`, in the image that will execute the entrypoint:
    // the file the script's /proc/self/exe names.
    let bundle_dir = bundle.path().to_str().unwrap();
    containy(&["create", "--bundle", bundle_dir, &bundle.id], std::process::Stdio::null());
    let _created = Created { binary: &binary, bundle: &bundle };
    let state = std::fs::read_to_string(bundle.state_root.join(&bundle.id).join("state.json")).unwrap();
    let pid = serde_json::from_str::<serde_json::Value>(&state).unwrap()["pid"].as_i64().unwrap();
    let exe = format!("/proc/{pid}/exe");
    let target = std::fs::read_link(&exe).unwrap();
    assert_ne!(target, std::fs::canonicalize(&binary).unwrap(), "the container's init runs the host's binary");
    let write = std::fs::OpenOptions::new().write(true).open(&exe);
    assert_eq!(
        write.as_ref().err().and_then(std::io::Error::raw_os_error),
        Some(nix::errno::Errno::EROFS as i32),
        "the container's init runs from a writable file ({target:?}): {write:?}"
    );
    // Started, the script reaches that read-only view — or, once `create` has exited and the view's detached
    // mount is gone, nothing the kernel can open (`ENOENT`): never the host's file.
    containy(&["start", &bundle.id], std::process::Stdio::null());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    containy(&["delete", &bundle.id], std::process::Stdio::null());
    assert_eq!(std::fs::read(&binary).unwrap(), before, "the runtime binary changed");
    bundle.assert_no_leaks();
}

/// Deletes a created container however the test ends: a failed assertion must not leave it waiting for `start`.
struct Created<'a> {
    binary: &'a std::path::Path,
    bundle: &'a Bundle,
}

impl Drop for Created<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new(self.binary)
            .arg("--root")
            .arg(&self.bundle.state_root)
            .args(["delete", "--force", &self.bundle.id])
            .stderr(std::process::Stdio::null())
            .status();
    }
}
