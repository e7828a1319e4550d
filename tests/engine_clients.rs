//! `containy serve` driven by more clients and verbs: images (load/save/tag/rmi), `docker cp`, networks
//! and ports, the classic builder, docker-py and docker-compose. Each test starts a private daemon
//! (tests/engine_daemon) and ends with a leak check.

mod common;
mod engine_daemon;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use engine_daemon::{Daemon, docker_cli};

/// docker-py, as an autograder drives it: `run` returning the output, a detached run with limits, `wait`,
/// `logs`, `exec_run`.
#[test]
fn docker_py_runs_execs_and_waits() {
    require_root!();
    if !engine_daemon::docker_py() {
        return;
    }
    let d = Daemon::start();
    let script = r#"
import docker, sys
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
assert c.containers.run("busybox", "echo hi", remove=True) == b"hi\n"
box = c.containers.run("busybox", ["sh", "-c", "echo out; sleep 30"], detach=True, mem_limit="64m", pids_limit=50, nano_cpus=500000000)
r = box.exec_run("sh -c 'echo $((6*7)); exit 2'")
assert (r.exit_code, r.output) == (2, b"42\n"), r
box.stop(timeout=1)
assert box.wait()["StatusCode"] == 137
assert box.logs() == b"out\n", box.logs()
box.remove()
print("ok")
"#;
    let out = Command::new("/usr/bin/python3").arg("-c").arg(script).arg(d.socket()).output().unwrap();
    assert_eq!(common::stdout(&out), "ok\n", "{}\n{}", common::stderr(&out), d.log());
    d.assert_clean(&[]);
}

#[test]
fn images_list_tag_save_rm_load() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    assert!(d.ok(&["images"]).contains("busybox"));
    d.ok(&["tag", "busybox", "mybox:v1"]);
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.RepoTags}}", "mybox:v1"]).trim(), "[busybox:latest mybox:v1]");
    let archive = d.path("saved.tar");
    d.ok(&["save", "-o", archive.to_str().unwrap(), "mybox:v1"]);
    assert!(std::fs::metadata(&archive).unwrap().len() > 100_000);
    assert!(d.ok(&["rmi", "mybox:v1"]).contains("Untagged: mybox:v1"));
    assert!(!d.ok(&["images"]).contains("mybox"));
    assert!(!d.docker(&["image", "inspect", "mybox:v1"]).status.success());
    assert!(d.ok(&["load", "-i", archive.to_str().unwrap()]).contains("mybox:v1"));
    assert_eq!(d.ok(&["run", "--rm", "mybox:v1", "echo", "loaded"]), "loaded\n");
    // An image in use is not removed; an unknown one is docker's 404.
    d.ok(&["create", "--name", "user", "mybox:v1", "true"]);
    let user = d.id("user");
    let busy = d.docker(&["rmi", "mybox:v1"]);
    assert!(common::stderr(&busy).contains("is using"), "{}", common::stderr(&busy));
    d.ok(&["rm", "user"]);
    d.ok(&["rmi", "mybox:v1"]);
    let pull = d.docker(&["pull", "alpine"]);
    assert!(!pull.status.success() && common::stderr(&pull).contains("alpine"), "{}", common::stderr(&pull));
    d.assert_clean(&[user]);
}

#[test]
fn cp_in_and_out_stays_in_the_container() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    let script = "mkdir -p /srv/d; echo inside > /srv/d/f; ln -s /etc/passwd /srv/evil; sleep 100";
    d.ok(&["run", "-d", "--name", "cpbox", "busybox", "sh", "-c", script]);
    let id = d.id("cpbox");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.docker(&["exec", "cpbox", "test", "-L", "/srv/evil"]).status.success() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let host_file = d.path("hf");
    std::fs::write(&host_file, "from the host\n").unwrap();
    d.ok(&["cp", host_file.to_str().unwrap(), "cpbox:/tmp/"]);
    assert_eq!(d.ok(&["exec", "cpbox", "cat", "/tmp/hf"]), "from the host\n");
    let out = d.path("out");
    std::fs::create_dir(&out).unwrap();
    d.ok(&["cp", "cpbox:/srv/d", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("d/f")).unwrap(), "inside\n");
    // An absolute symlink and `..` resolve inside the container's root, never the host's.
    d.ok(&["cp", "cpbox:/srv/evil", out.join("evil").to_str().unwrap()]);
    let copied = std::fs::read_to_string(out.join("evil")).unwrap();
    assert!(copied.starts_with("root:x:0:0:root:/root:/bin/sh\n"), "{copied}");
    assert!(!std::fs::symlink_metadata(out.join("evil")).unwrap().file_type().is_symlink());
    d.ok(&["cp", "cpbox:/../../../etc/hostname", out.join("h").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("h")).unwrap().trim(), &id[..12]);
    d.ok(&["rm", "-f", "cpbox"]);
    d.assert_clean(&[id]);
}

#[test]
fn user_network_ports_and_names() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    // A name and subnet of this test's own (other suites use 10.88/10.89).
    let net = format!("cyeng{}", std::process::id() % 100_000);
    let subnet = format!("10.157.{}.0/24", std::process::id() % 250);
    d.ok(&["network", "create", "--subnet", &subnet, &net]);
    assert!(d.ok(&["network", "ls"]).contains(&net));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let publish = format!("127.0.0.1:{port}:80");
    let httpd = "mkdir /www; echo hello-web > /www/index.html; exec httpd -f -p 80 -h /www";
    d.ok(&["run", "-d", "--name", "web", "--network", &net, "-p", &publish, "busybox", "sh", "-c", httpd]);
    let web = d.id("web");
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let got = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        });
        match got {
            Ok(text) if text.contains("hello-web") => break text,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => panic!("no answer on {port}: {other:?}"),
        }
    };
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    let by_name = d.ok(&["run", "--rm", "--network", &net, "busybox", "wget", "-qO-", "http://web/"]);
    assert_eq!(by_name, "hello-web\n");
    d.ok(&["rm", "-f", "web"]);
    d.ok(&["network", "rm", &net]);
    assert!(!d.ok(&["network", "ls"]).contains(&net));
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    assert!(!common::stdout(&links).contains(&net), "the bridge {net} is left");
    d.assert_clean(&[web]);
}

#[test]
fn classic_build_then_run() {
    require_root!();
    let Some(_) = docker_cli() else { return };
    let d = Daemon::start();
    let ctx = d.path("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("data.txt"), "copied file\n").unwrap();
    let dockerfile = "FROM busybox\nCOPY data.txt /data.txt\nRUN echo built > /built.txt\nENV GREETING=hello\n\
                      CMD [\"sh\", \"-c\", \"cat /data.txt /built.txt; echo $GREETING\"]\n";
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let out =
        d.docker_cmd(&["build", "-t", "built:v1", ctx.to_str().unwrap()]).env("DOCKER_BUILDKIT", "0").output().unwrap();
    assert!(
        common::stdout(&out).contains("Successfully tagged built:v1"),
        "{}{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    assert_eq!(d.ok(&["run", "--rm", "built:v1"]), "copied file\nbuilt\nhello\n");
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN exit 3\n").unwrap();
    let failed =
        d.docker_cmd(&["build", "-t", "broken", ctx.to_str().unwrap()]).env("DOCKER_BUILDKIT", "0").output().unwrap();
    assert!(!failed.status.success());
    // docker-py, as an autograder builds its image.
    if engine_daemon::docker_py() {
        std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCMD [\"echo\", \"from-py\"]\n").unwrap();
        let script = "import docker, sys\nc = docker.DockerClient(base_url='unix://' + sys.argv[1])\n\
                      img, _ = c.images.build(path=sys.argv[2], tag='pybuilt')\n\
                      print(c.containers.run(img.id, remove=True).decode(), end='')\n";
        let out = Command::new("/usr/bin/python3").arg("-c").arg(script).arg(d.socket()).arg(&ctx).output().unwrap();
        assert_eq!(common::stdout(&out), "from-py\n", "{:?} {}\n{}", out.status, common::stderr(&out), d.log());
    }
    d.assert_clean(&[]);
}

/// docker-compose 1.29: a web server and a client that reaches it by service name on the project network;
/// `up -d`, `ps`, `logs`, `down` leaving nothing behind.
#[test]
fn compose_up_ps_logs_down() {
    require_root!();
    if !Path::new("/usr/bin/docker-compose").exists() {
        eprintln!("skipped: docker-compose is missing: run install.sh");
        return;
    }
    let d = Daemon::start();
    let project = format!("cyc{}", std::process::id() % 10_000);
    let subnet = format!("10.158.{}.0/24", std::process::id() % 250);
    let dir = d.path("compose");
    std::fs::create_dir(&dir).unwrap();
    let file = format!(
        "version: \"3\"\nservices:\n  web:\n    image: busybox\n    command: sh -c \"mkdir /www; echo hello-compose > \
         /www/index.html; exec httpd -f -p 80 -h /www\"\n  client:\n    image: busybox\n    command: sh -c \"until \
         wget -qO- http://web/; do sleep 0.2; done; sleep 100\"\n    depends_on: [web]\nnetworks:\n  default:\n    \
         ipam:\n      config:\n        - subnet: {subnet}\n"
    );
    std::fs::write(dir.join("docker-compose.yml"), file).unwrap();
    let compose = |args: &[&str]| {
        let out = Command::new("/usr/bin/docker-compose")
            .args(["-p", &project])
            .args(args)
            .current_dir(&dir)
            .env("DOCKER_HOST", format!("unix://{}", d.socket().display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "compose {args:?}: {}\n{}", common::stderr(&out), d.log());
        common::stdout(&out)
    };
    compose(&["up", "-d"]);
    let ids: Vec<String> = ["web", "client"].iter().map(|s| d.id(&format!("{project}_{s}_1"))).collect();
    let ps = compose(&["ps"]);
    assert_eq!(ps.matches(" Up ").count(), 2, "{ps}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !compose(&["logs", "client"]).contains("hello-compose") {
        assert!(Instant::now() < deadline, "the client never reached web by name");
        std::thread::sleep(Duration::from_millis(200));
    }
    compose(&["down", "-t", "1"]);
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    assert!(!common::stdout(&links).contains(&format!("{project}_default")), "the project network is left");
    d.assert_clean(&ids);
}
