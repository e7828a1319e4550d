//! Networking: none, host, bridge (veth, addresses, names, NAT), published ports, `container:ID`, and that
//! nothing — veth, lease, nf_tables table, bridge — outlives the containers, also after `kill -9` of containy.
//!
//! Every test runs in a network namespace of its own (`in_own_netns`: a thread that unshares one; the
//! containy processes it starts inherit it), so the machine's interfaces and firewall are never touched and
//! the only addresses used are the ones the test's namespace holds.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Bundle, Running, sh_config, stderr, stdout};

/// Run `f` on a thread inside a fresh network namespace with `lo` up.
fn in_own_netns(f: impl FnOnce() + Send + 'static) {
    let thread = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        sh("ip link set lo up");
        f();
    });
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// A shell command in the test's namespace; its stdout. Fails the test if it fails.
fn sh(script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).output().expect("run sh");
    assert!(out.status.success(), "{script}: {} {}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// A bundle whose container uses `state_root` (containers that share a network share a state root).
fn bundle_in(state_root: &Path, config: &str) -> Bundle {
    let mut b = Bundle::friendly(config);
    b.state_root = state_root.to_path_buf();
    b
}

/// busybox `ping` opens a raw socket: it needs CAP_NET_RAW, which containy's default set leaves out.
fn with_net_raw(config: String) -> String {
    config.replace("[process]\n", "[process]\ncapabilities = { add = [\"CAP_NET_RAW\"] }\n")
}

/// The address a container was given, from the record its network attachment left in its state dir.
fn address_of(b: &Bundle) -> String {
    let record = std::fs::read_to_string(b.state_root.join(&b.id).join("network.json")).expect("network.json");
    let value: serde_json::Value = serde_json::from_str(&record).unwrap();
    value["address"].as_str().expect("an address").to_string()
}

fn veths() -> String {
    sh("ip -o link show type veth")
}

fn containy_tables() -> String {
    sh("nft list tables").lines().filter(|l| l.contains("containy")).collect::<Vec<_>>().join("\n")
}

fn leases(state_root: &Path, network: &str) -> Vec<PathBuf> {
    match std::fs::read_dir(state_root.join(".networks").join(network)) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// No veth, no containy table, no lease: what every network test ends with while its network still exists.
fn assert_network_clean(state_root: &Path, network: &str) {
    assert_eq!(veths(), "", "leaked veth");
    assert_eq!(containy_tables(), "", "leaked nf_tables table");
    assert_eq!(leases(state_root, network), Vec::<PathBuf>::new(), "leaked lease");
}

/// `network rm`, then nothing but `lo` is left in the namespace, and the state root can go.
fn remove_network(b: &Bundle, network: &str) {
    let out = b.containy(&["network", "rm", network]);
    assert!(out.status.success(), "network rm: {}", stderr(&out));
    let links = sh("ip -o link show | grep -v ' lo:' || true");
    assert_eq!(links, "", "links left after network rm");
    std::fs::remove_dir_all(b.state_root.join(".networks")).unwrap();
}

/// Wait until `check` holds (a server starting); panics with `what` after 10 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `containy run` in the background: if the test fails, its container is killed (containy then cleans up).
struct KillOnDrop(std::process::Child, PathBuf);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.1).unwrap_or_default().trim().parse() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

const HTTPD: &str = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www";

#[test]
fn bridge_containers_reach_each_other_by_ip_and_by_name() {
    require_root!();
    in_own_netns(|| {
        let web = Bundle::friendly(&sh_config(HTTPD, "network = \"bridge\"\nhostname = \"web\""));
        let running = Running::start(&web);
        let web_ip = address_of(&web);
        assert!(web_ip.starts_with("10.88.0."), "{web_ip}");
        assert!(veths().contains("master containy0"), "the host end is on the bridge: {}", veths());

        let script = format!(
            "cat /etc/hosts; ip -o -4 addr show eth0; ip route; \
             ping -c1 -W5 {web_ip} >/dev/null && echo ping-ip-ok; \
             ping -c1 -W5 {id} >/dev/null && echo ping-name-ok; \
             timeout 5 wget -q -O- http://web/index.html",
            id = web.id
        );
        let client = bundle_in(&web.state_root, &with_net_raw(sh_config(&script, "network = \"bridge\"")));
        let out = client.run();
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{text} {}", stderr(&out));
        assert!(text.contains(&format!("{web_ip}\tweb {}", web.id)), "the other container is in /etc/hosts: {text}");
        let own = text.split_whitespace().find(|w| w.starts_with("10.88.0.") && w.ends_with("/24")).unwrap_or_default();
        assert!(
            text.lines().nth(2).is_some_and(|l| l.starts_with(&format!("{}\t", own.trim_end_matches("/24")))),
            "its own entry comes first (its hostname resolves to itself): {text}"
        );
        assert!(text.contains("default via 10.88.0.1 dev eth0"), "{text}");
        assert!(text.contains("ping-ip-ok") && text.contains("ping-name-ok"), "{text}");
        assert!(text.contains("hello-from-web"), "{text}");
        // The client left: its name is gone from web's /etc/hosts, its lease, veth and table too.
        let hosts = std::fs::read_to_string(web.state_root.join(&web.id).join("etc/hosts")).unwrap();
        assert!(!hosts.contains(&client.id), "{hosts}");
        assert_eq!(leases(&web.state_root, "containy0").len(), 1);

        drop(running);
        eventually("web's cleanup", || !web.state_root.join(&web.id).exists());
        web.assert_no_leaks();
        assert_network_clean(&web.state_root, "containy0");
        assert!(!common::busybox_rootfs().join("etc/hosts").exists(), "the image's /etc was written");
        remove_network(&web, "containy0");
    });
}

#[test]
fn a_published_port_answers_on_the_hosts_loopback() {
    require_root!();
    in_own_netns(|| {
        let web = Bundle::friendly(&sh_config(HTTPD, "hostname = \"pub\""));
        let pid_file = web.path().join("pid");
        let child = web
            .command(&["--net", "bridge", "-p", "127.0.0.1:18080:80", "--pid-file", pid_file.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut guard = KillOnDrop(child, pid_file);
        let wget = || {
            // busybox 1.35's `wget -T` crashes (SIGSEGV): bound it with timeout(1) instead.
            Command::new("timeout")
                .args(["2", "busybox", "wget", "-q", "-O-", "http://127.0.0.1:18080/index.html"])
                .output()
                .is_ok_and(|o| stdout(&o).contains("hello-from-pub"))
        };
        eventually("the published port to answer", wget);
        let table = sh(&format!("nft list table ip containy-{}", web.id));
        assert!(table.contains("ip daddr 127.0.0.1 tcp dport 18080 dnat to 10.88.0.2:80"), "{table}");
        // Only the published address forwards: another local address of the namespace does not.
        sh("ip addr add 192.0.2.1/32 dev lo");
        let other =
            Command::new("timeout").args(["2", "busybox", "wget", "-q", "-O-", "http://192.0.2.1:18080/"]).output();
        assert!(!other.unwrap().status.success(), "port published on 127.0.0.1 only");

        // Without a host address every local address forwards (`fib daddr type local`).
        let any = bundle_in(&web.state_root, &sh_config(HTTPD, "hostname = \"any\""));
        let pid_file = any.path().join("pid");
        let child = any
            .command(&["--net", "bridge", "-p", "18082:80", "--pid-file", pid_file.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut any_guard = KillOnDrop(child, pid_file);
        let get = |url: &str| {
            Command::new("timeout")
                .args(["2", "busybox", "wget", "-q", "-O-", url])
                .output()
                .is_ok_and(|o| stdout(&o).contains("hello-from-any"))
        };
        eventually("port 18082 on 192.0.2.1", || get("http://192.0.2.1:18082/index.html"));
        assert!(get("http://127.0.0.1:18082/index.html"));
        assert!(any.containy(&["kill", &any.id, "KILL"]).status.success());
        assert_eq!(any_guard.0.wait().unwrap().code(), Some(137));
        any.assert_no_leaks();

        assert!(web.containy(&["kill", &web.id, "KILL"]).status.success());
        let status = guard.0.wait().unwrap();
        assert_eq!(status.code(), Some(137));
        web.assert_no_leaks();
        assert_network_clean(&web.state_root, "containy0");
        remove_network(&web, "containy0");
    });
}

#[test]
fn network_none_has_only_lo_and_generated_files() {
    require_root!();
    in_own_netns(|| {
        sh("ip link add cytest0 type bridge");
        let b = Bundle::friendly(&sh_config(
            "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /etc/hostname; grep -c quiet /etc/hosts",
            "network = \"none\"\nhostname = \"quiet\"",
        ));
        let out = b.run();
        assert_eq!(stdout(&out), "lo\nquiet\n1\n", "{}", stderr(&out));
    });
}

#[test]
fn network_host_sees_the_namespaces_links_and_explain_warns() {
    require_root!();
    in_own_netns(|| {
        sh("ip link add cytest0 type bridge");
        let b = Bundle::friendly(&sh_config("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort", ""));
        let out = Command::new(common::CONTAINY)
            .args(["--root", b.state_root.to_str().unwrap(), "--explain", "run", "--net", "host", "-b"])
            .arg(b.path())
            .arg(&b.id)
            .output()
            .unwrap();
        assert_eq!(stdout(&out), "cytest0\nlo\n", "{}", stderr(&out));
        assert!(stderr(&out).contains("WARNING: the container sees every host interface"), "{}", stderr(&out));
        b.assert_no_leaks();
        sh("ip link del cytest0");
    });
}

#[test]
fn container_mode_shares_the_other_containers_interfaces() {
    require_root!();
    in_own_netns(|| {
        let first = Bundle::friendly(&sh_config("sleep 60", "network = \"bridge\""));
        let running = Running::start(&first);
        let ip = address_of(&first);
        let second = bundle_in(&first.state_root, &sh_config("ip -o -4 addr show eth0; cat /etc/hosts", ""));
        let out = second.containy(&[
            "run",
            "--net",
            &format!("container:{}", first.id),
            "-b",
            second.path().to_str().unwrap(),
            &second.id,
        ]);
        let text = stdout(&out);
        assert!(out.status.success(), "{text} {}", stderr(&out));
        assert!(text.contains(&format!("inet {ip}/24")), "same eth0, same address: {text}");
        assert!(text.contains(&first.id), "the other container's /etc/hosts: {text}");
        second.assert_no_leaks();
        assert_eq!(leases(&first.state_root, "containy0").len(), 1, "joining takes no lease");

        let missing =
            second.containy(&["run", "--net", "container:nobody", "-b", second.path().to_str().unwrap(), "x1"]);
        assert!(!missing.status.success());
        assert!(stderr(&missing).contains("\"nobody\" does not exist"), "{}", stderr(&missing));

        drop(running);
        eventually("cleanup", || !first.state_root.join(&first.id).exists());
        first.assert_no_leaks();
        assert_network_clean(&first.state_root, "containy0");
        remove_network(&first, "containy0");
    });
}

#[test]
fn kill_9_of_containy_then_delete_force_leaves_nothing() {
    require_root!();
    in_own_netns(|| {
        let b = Bundle::friendly(&sh_config("sleep 60", "network = \"bridge\"\nports = [\"18081:81\"]"));
        let running = Running::start(&b);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(running.containy_pid()), nix::sys::signal::Signal::SIGKILL)
            .unwrap();
        let pid = running.pid;
        let _ = running.wait_runtime();
        // containy is gone; the container, its veth, table and lease are still there.
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        assert!(veths().contains("master containy0"));
        assert!(containy_tables().contains(&format!("containy-{}", b.id)));
        assert_eq!(leases(&b.state_root, "containy0").len(), 1);

        let out = b.containy(&["delete", "--force", &b.id]);
        assert!(out.status.success(), "{}", stderr(&out));
        b.assert_no_leaks();
        assert_network_clean(&b.state_root, "containy0");

        // Killed mid-setup: as soon as the attachment is recorded (before or while the veth and the table
        // are made, or just after), a few times to land in different steps.
        for _ in 0..5 {
            let early =
                bundle_in(&b.state_root, &sh_config("sleep 60", "network = \"bridge\"\nports = [\"18083:80\"]"));
            let mut child = early
                .command(&[])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let record = early.state_root.join(&early.id).join("network.json");
            eventually("the network record", || record.exists());
            let _ = child.kill();
            let _ = child.wait();
            let out = early.containy(&["delete", "--force", &early.id]);
            assert!(out.status.success(), "{}", stderr(&out));
            early.assert_no_leaks();
            assert_network_clean(&early.state_root, "containy0");
        }
        remove_network(&b, "containy0");
    });
}

#[test]
fn named_networks_have_their_own_subnet_and_outlive_no_container() {
    require_root!();
    in_own_netns(|| {
        let b = Bundle::friendly(&sh_config("ip -o -4 addr show eth0", ""));
        let out = b.containy(&["network", "create", "backend", "--subnet", "10.77.0.0/24"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(sh("ip -o -4 addr show backend").contains("10.77.0.1/24"));
        let clash = b.containy(&["network", "create", "other", "--subnet", "10.77.0.0/16"]);
        assert!(stderr(&clash).contains("overlaps network \"backend\""), "{}", stderr(&clash));

        let out = b.command(&["--net", "backend"]).output().unwrap();
        assert!(stdout(&out).contains("inet 10.77.0.2/24"), "{} {}", stdout(&out), stderr(&out));
        b.assert_no_leaks();
        assert_network_clean(&b.state_root, "backend");

        let undefined = b.command(&["--net", "frontend"]).output().unwrap();
        assert!(stderr(&undefined).contains("containy network create frontend"), "{}", stderr(&undefined));
        let ls = stdout(&b.containy(&["network", "ls"]));
        assert!(ls.contains("backend") && ls.contains("10.77.0.0/24"), "{ls}");
        remove_network(&b, "backend");
    });
}

#[test]
fn oci_net_devices_are_moved_in_and_no_etc_files_are_made() {
    require_root!();
    in_own_netns(|| {
        sh("ip link add cyhost0 type veth peer name cyhost1");
        let b = Bundle::empty();
        assert!(b.containy(&["spec", "-b", b.path().to_str().unwrap()]).status.success());
        std::os::unix::fs::symlink(common::busybox_rootfs(), b.path().join("rootfs")).unwrap();
        let path = b.path().join("config.json");
        let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        spec["process"]["terminal"] = false.into();
        spec["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort; test -e /etc/hostname || echo no-etc-files"
        ]);
        spec["linux"]["netDevices"] = serde_json::json!({"cyhost1": {"name": "net1"}});
        std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
        let out = b.run();
        assert_eq!(stdout(&out), "lo\nnet1\nno-etc-files\n", "{}", stderr(&out));
        // The moved end dies with the container's namespace (the kernel tears namespaces down in the
        // background) and takes its peer along.
        eventually("the moved veth to go", || veths().is_empty());
    });
}

#[test]
fn containers_started_together_get_distinct_addresses_and_detached_ones_are_freed_by_delete() {
    require_root!();
    in_own_netns(|| {
        // Four started at once, all alive at the same time: four different addresses.
        let first = Bundle::friendly(&sh_config("sleep 30", "network = \"bridge\""));
        let others: Vec<Bundle> =
            (0..3).map(|_| bundle_in(&first.state_root, &sh_config("sleep 30", "network = \"bridge\""))).collect();
        let all: Vec<&Bundle> = std::iter::once(&first).chain(&others).collect();
        let guards: Vec<KillOnDrop> = all
            .iter()
            .map(|b| {
                let pid_file = b.path().join("pid");
                let child = b
                    .command(&["--pid-file", pid_file.to_str().unwrap()])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap();
                KillOnDrop(child, pid_file)
            })
            .collect();
        eventually("four running containers", || guards.iter().all(|g| g.1.exists()));
        let mut addresses: Vec<String> = all.iter().map(|b| address_of(b)).collect();
        addresses.sort();
        addresses.dedup();
        assert_eq!(addresses.len(), 4, "four live containers, four addresses: {addresses:?}");
        drop(guards);
        for b in &all {
            b.assert_no_leaks();
        }
        assert_network_clean(&first.state_root, "containy0");

        // run -d: containy returns, the container keeps its network until `delete`.
        let detached = bundle_in(&first.state_root, &sh_config("sleep 30", "network = \"bridge\""));
        let mut cmd = detached.command(&["-d"]);
        let status = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status().unwrap();
        assert!(status.success());
        assert!(veths().contains("master containy0"));
        assert_eq!(leases(&first.state_root, "containy0").len(), 1);
        let out = detached.containy(&["delete", "--force", &detached.id]);
        assert!(out.status.success(), "{}", stderr(&out));
        detached.assert_no_leaks();
        assert_network_clean(&first.state_root, "containy0");
        remove_network(&first, "containy0");
    });
}

#[test]
fn traffic_leaving_the_subnet_is_masqueraded() {
    require_root!();
    in_own_netns(|| {
        // "Outside": a second namespace of the test's own, reached through a veth, with a web server and
        // no route back to the containers' subnet — an answer can only come back if containy masqueraded.
        let mut outside = Command::new("unshare").args(["--net", "sleep", "60"]).spawn().unwrap();
        let pid = outside.id();
        eventually("the outside namespace", || {
            std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()
                != std::fs::read_link("/proc/thread-self/ns/net").ok()
        });
        sh(&format!("ip link add cyout0 type veth peer name cyout1 netns {pid}"));
        sh("ip addr add 198.51.100.1/24 dev cyout0 && ip link set cyout0 up");
        let www = tempfile::tempdir().unwrap();
        std::fs::write(www.path().join("index.html"), "from-outside\n").unwrap();
        let inside = |cmd: &str| format!("nsenter -t {pid} -n sh -c '{cmd}'");
        sh(&inside("ip addr add 198.51.100.2/24 dev cyout1 && ip link set cyout1 up && ip link set lo up"));
        let mut httpd = Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-n", "busybox", "httpd", "-f", "-p", "198.51.100.2:80", "-h"])
            .arg(www.path())
            .spawn()
            .unwrap();

        let b = Bundle::friendly(&sh_config(
            "for i in 1 2 3 4 5 6 7 8 9 10; do timeout 2 wget -q -O- http://198.51.100.2/index.html && exit 0; \
             sleep 0.3; done; exit 1",
            "network = \"bridge\"",
        ));
        let out = b.run();
        let _ = httpd.kill();
        let _ = httpd.wait();
        let _ = outside.kill();
        let _ = outside.wait();
        assert_eq!(stdout(&out), "from-outside\n", "{}", stderr(&out));
        sh("ip link del cyout0");
        assert_network_clean(&b.state_root, "containy0");
        remove_network(&b, "containy0");
    });
}
