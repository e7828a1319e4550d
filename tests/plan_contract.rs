//! The Plan is the contract: whatever produced it (a config, an image, command-line overrides), the finished
//! Plan is validated once before anything is created, and what a container was created with is what `exec`
//! uses later. Each test goes through the real binary.

mod common;

use std::process::{Command, Stdio};

use common::{Bundle, CONTAINY, sh_config, stderr, stdout};

/// `containy --root R run --bundle B [flags…] ID [-- CMD…]`.
fn run(bundle: &Bundle, flags: &[&str], cmd: &[&str]) -> std::process::Output {
    let mut c = Command::new(CONTAINY);
    c.arg("--root").arg(&bundle.state_root).args(["run", "--bundle"]).arg(bundle.path()).args(flags).arg(&bundle.id);
    if !cmd.is_empty() {
        c.arg("--").args(cmd);
    }
    c.stdin(Stdio::null()).output().expect("run containy")
}

/// A friendly config running `sh -c SCRIPT` with one more variable in its environment.
fn env_config(script: &str, var: &str) -> String {
    format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\nenv = [\"PATH=/bin\", {var:?}]\n[rootfs]\npath = \"@ROOTFS@\"\n"
    )
}

const PROBES: &str = "/proc/sys/net/ipv4/tcp_keepalive_probes";

#[test]
fn a_net_sysctl_never_reaches_the_host_through_net_host() {
    require_root!();
    let host_before = std::fs::read_to_string(PROBES).unwrap();
    let wanted = if host_before.trim() == "3" { "4" } else { "3" };
    let extra = format!("sysctl = {{ \"net.ipv4.tcp_keepalive_probes\" = \"{wanted}\" }}");
    let bundle = Bundle::friendly(&sh_config("cat /proc/sys/net/ipv4/tcp_keepalive_probes", &extra));

    // In its own network namespace the container gets the value…
    let out = run(&bundle, &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), wanted);
    bundle.assert_no_leaks();

    // …and with the host's network the finished Plan is refused, naming the setting, before anything exists.
    let out = run(&bundle, &["--net", "host"], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("sysctl.net.ipv4.tcp_keepalive_probes"), "{err}");
    assert!(err.contains("network namespace") && err.contains("host"), "{err}");
    assert_eq!(std::fs::read_to_string(PROBES).unwrap(), host_before, "the host's kernel was changed");
    assert!(!bundle.state_root.join(&bundle.id).exists());
    bundle.assert_no_leaks();
}

/// A `runc spec`-style config.json (as `containy spec` writes it) on the busybox rootfs, edited by `edit`.
fn oci_bundle(edit: impl FnOnce(&mut serde_json::Value)) -> Bundle {
    let bundle = Bundle::empty();
    let out = Command::new(CONTAINY).args(["spec", "--bundle"]).arg(bundle.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let path = bundle.path().join("config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["root"]["path"] = serde_json::json!(common::busybox_rootfs());
    config["process"]["terminal"] = serde_json::json!(false);
    config["process"]["args"] = serde_json::json!(["/bin/true"]);
    edit(&mut config);
    std::fs::write(&path, config.to_string()).unwrap();
    bundle
}

fn drop_namespace(config: &mut serde_json::Value, kind: &str) {
    let list = config["linux"]["namespaces"].as_array_mut().unwrap();
    list.retain(|ns| ns["type"] != kind);
}

#[test]
fn settings_for_the_containers_own_namespaces_are_refused_without_them() {
    require_root!();
    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "hostname",
            Box::new(|c| {
                drop_namespace(c, "uts");
                c["hostname"] = serde_json::json!("renamed");
            }),
        ),
        (
            "domainname",
            Box::new(|c| {
                drop_namespace(c, "uts");
                c.as_object_mut().unwrap().remove("hostname");
                c["domainname"] = serde_json::json!("example");
            }),
        ),
        (
            "kernel.shmmax",
            Box::new(|c| {
                drop_namespace(c, "ipc");
                c["linux"]["sysctl"] = serde_json::json!({"kernel.shmmax": "4096"});
            }),
        ),
        (
            "net.ipv4.ip_forward",
            Box::new(|c| {
                drop_namespace(c, "network");
                c["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
            }),
        ),
    ];
    let hostname = nix::unistd::gethostname().unwrap();
    for (field, edit) in cases {
        let bundle = oci_bundle(edit);
        let out = run(&bundle, &[], &[]);
        assert!(!out.status.success(), "{field}: accepted");
        let err = stderr(&out);
        assert!(err.contains(field) && err.contains("namespace"), "{field}: {err}");
        assert!(!bundle.state_root.join(&bundle.id).exists(), "{field}: state left");
        bundle.assert_no_leaks();
    }
    assert_eq!(nix::unistd::gethostname().unwrap(), hostname, "the host was renamed");
}

#[test]
fn the_command_line_overrides_a_bundles_process() {
    require_root!();
    let bundle = Bundle::friendly(&env_config("echo from-the-config", "GREETING=config"));
    let out = run(
        &bundle,
        &["-e", "GREETING=flag", "-w", "/tmp", "-u", "nobody"],
        &["/bin/sh", "-c", "echo $GREETING $(pwd) $(id -u):$(id -g)"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "flag /tmp 65534:65534\n");
    bundle.assert_no_leaks();

    let out = run(&bundle, &["-u", "no-such-user"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no-such-user"), "{}", stderr(&out));
    bundle.assert_no_leaks();
}

#[test]
fn exec_uses_the_plan_the_container_was_created_with() {
    require_root!();
    let bundle = Bundle::friendly(&env_config("sleep 30", "CREATED_WITH=plan"));
    let running = common::Running::start(&bundle);
    // The bundle changes (or is gone) after create: exec must not care.
    std::fs::write(bundle.path().join("configy.toml"), "this is not a config").unwrap();
    let out =
        bundle.containy(&["exec", "--user", "nobody", &bundle.id, "/bin/sh", "-c", "echo $CREATED_WITH $(id -u)"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "plan 65534\n");
    let out = bundle.containy(&["exec", &bundle.id, "/bin/sh", "-c", "echo $0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = bundle.containy(&["kill", &bundle.id, "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    running.wait();
    bundle.assert_no_leaks();
}

#[test]
fn a_missing_bundle_directory_is_named_as_such() {
    let bundle = Bundle::empty();
    let missing = bundle.path().join("nope");
    let out = Command::new(CONTAINY)
        .arg("--root")
        .arg(&bundle.state_root)
        .args(["run", "--bundle"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("does not exist") && !err.contains("no config"), "{err}");
}
