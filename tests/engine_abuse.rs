//! `containy serve` under abuse (issue #20): a thousand clients at once — a few running containers through
//! create/start/wait/logs/rm, the rest pinging, listing and inspecting — while others send request heads and
//! bodies that never finish, drop attach/logs/events/wait/stats streams halfway, and send bodies over the cap;
//! a probe client keeps asking `/_ping` throughout and must always get its answer. The daemon's descriptors
//! and memory are sampled before, during and after: the descriptors must come back to where they started
//! (and the monitor's too), the memory stay under a generous bound. Also: the connection cap holds, and a
//! local user without the socket's group is refused by the kernel. `ABUSE_CONTAINERS=1000` runs the issue's
//! full version (every client runs a container; minutes, not part of `make test`); docs/reliability.md has
//! its numbers.

mod common;
mod engine_daemon;
#[path = "engine_daemon/http.rs"]
mod http;
mod rootless_env;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use engine_daemon::Daemon;
use http::{Conn, fd_count, fd_targets, once, rss_kib};

const CLIENTS: usize = 1000;
/// A generous bound on the daemon's resident memory, at any time (a debug build idles at ≈10 MiB).
const RSS_BOUND_KIB: u64 = 256 << 10;

/// Wait (a bound, not a time the daemon must meet) until `f` holds; false if it never did.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// The process ids of the monitors of this daemon (`containy monitor … ID`).
fn monitor_pid(d: &Daemon, id: &str) -> Option<u32> {
    let needle = d.path("store").display().to_string();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = String::from_utf8_lossy(&std::fs::read(e.path().join("cmdline")).ok()?).replace('\0', " ");
        (cmdline.contains(" monitor ") && cmdline.contains(&needle) && cmdline.trim_end().ends_with(id)).then_some(pid)
    })
}

/// create → start → wait → logs → rm of one container through the API; its id.
fn lifecycle(socket: &std::path::Path, name: &str) -> String {
    let mut c = Conn::open(socket).unwrap();
    let body = serde_json::json!({"Image": "busybox", "Cmd": ["sh", "-c", format!("echo {name}")]}).to_string();
    let created = c.request("POST", &format!("/v1.41/containers/create?name={name}"), Some(body.as_bytes())).unwrap();
    assert_eq!(created.status, 201, "create {name}: {}", created.text());
    let id = created.json()["Id"].as_str().unwrap().to_string();
    let started = c.request("POST", &format!("/v1.41/containers/{id}/start"), None).unwrap();
    assert_eq!(started.status, 204, "start {name}: {}", started.text());
    let waited = c.request("POST", &format!("/v1.41/containers/{id}/wait"), None).unwrap();
    assert_eq!(waited.status, 200, "wait {name}: {}", waited.text());
    assert_eq!(waited.json()["StatusCode"], 0, "wait {name}: {}", waited.text());
    let logs = c.request("GET", &format!("/v1.41/containers/{id}/logs?stdout=1"), None).unwrap();
    assert!(logs.text().contains(name), "logs of {name}: {:?}", logs.text());
    let removed = c.request("DELETE", &format!("/v1.41/containers/{id}"), None).unwrap();
    assert_eq!(removed.status, 204, "rm {name}: {}", removed.text());
    id
}

/// Light requests on one keep-alive connection.
fn light(c: &mut Conn, i: usize) {
    for j in 0..4 {
        let (path, want) = match (i + j) % 4 {
            0 => ("/_ping", 200),
            1 => ("/v1.41/version", 200),
            2 => ("/v1.41/containers/json?all=1", 200),
            _ => ("/v1.41/containers/abuse-nobody/json", 404),
        };
        let r = c.request("GET", path, None).unwrap();
        assert_eq!(r.status, want, "GET {path}: {}", r.text());
    }
}

/// Samples of the daemon's descriptors and memory, and a probe's pings, while the abuse runs.
struct Watch {
    stop: Arc<AtomicBool>,
    max_fds: Arc<AtomicUsize>,
    max_rss: Arc<AtomicU64>,
    pings: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    slowest_ms: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Watch {
    fn start(d: &Daemon) -> Watch {
        let w = Watch {
            stop: Arc::default(),
            max_fds: Arc::default(),
            max_rss: Arc::default(),
            pings: Arc::default(),
            failures: Arc::default(),
            slowest_ms: Arc::default(),
            threads: Vec::new(),
        };
        let (stop, max_fds, max_rss, pid) = (w.stop.clone(), w.max_fds.clone(), w.max_rss.clone(), d.pid());
        let sampler = std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                max_fds.fetch_max(fd_count(pid), Ordering::Relaxed);
                max_rss.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let (stop, pings, failures, slowest, socket) =
            (w.stop.clone(), w.pings.clone(), w.failures.clone(), w.slowest_ms.clone(), d.socket());
        let probe = std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match once(&socket, "GET", "/_ping", None) {
                    Ok(r) if r.status == 200 && r.body == b"OK" => {
                        pings.fetch_add(1, Ordering::Relaxed);
                        slowest.fetch_max(t.elapsed().as_millis() as u64, Ordering::Relaxed);
                    }
                    Ok(r) => failures.lock().unwrap().push(format!("{} {}", r.status, r.text())),
                    Err(e) => failures.lock().unwrap().push(e.to_string()),
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Watch { threads: vec![sampler, probe], ..w }
    }

    fn stop(mut self) -> Watch {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
        self
    }
}

#[test]
fn a_thousand_clients_slow_and_vanishing_ones_and_the_daemon_keeps_serving() {
    require_root!();
    // Two descriptors a client on this side; the daemon inherits the limit too.
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    assert!(hard >= 4 * CLIENTS as u64, "RLIMIT_NOFILE {hard} is too low for {CLIENTS} clients");
    let containers: usize = std::env::var("ABUSE_CONTAINERS").ok().and_then(|n| n.parse().ok()).unwrap_or(16);
    // Long enough for a thousand threads to connect before the first one's connection counts as idle.
    let d = Daemon::start_with(&["--client-timeout", "10s"]);
    let socket = d.socket();
    let tag = std::process::id();
    // A silent container for the streams to hang on; and one round of every request kind, so the baseline
    // has whatever the daemon opens once (its blocking threads, the event log).
    let body = br#"{"Image": "busybox", "Cmd": ["sleep", "1000"], "OpenStdin": true}"#;
    let r = once(&socket, "POST", &format!("/containers/create?name=abuse-{tag}-quiet"), Some(body)).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let quiet = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(once(&socket, "POST", &format!("/containers/{quiet}/start"), None).unwrap().status, 204);
    let mut ids = vec![quiet.clone(), lifecycle(&socket, &format!("abuse-{tag}-warm"))];
    light(&mut Conn::open(&socket).unwrap(), 0);
    let monitor = monitor_pid(&d, &quiet).expect("the quiet container's monitor");
    std::thread::sleep(Duration::from_millis(500));
    let (base_fds, base_rss, base_monitor_fds) = (fd_count(d.pid()), rss_kib(d.pid()), fd_count(monitor));
    let base_targets = fd_targets(d.pid());

    let watch = Watch::start(&d);
    let mut threads = Vec::new();
    // Slow clients: heads that never end (trickled or stalled), a keep-alive connection that says nothing,
    // bodies that stop halfway. The daemon must close each of them (with a 408 for a body), by itself.
    for i in 0..60 {
        let socket = socket.clone();
        threads.push(std::thread::spawn(move || {
            let mut c = Conn::open(&socket).unwrap();
            match i % 4 {
                0 => {
                    c.send_raw(b"GET /_ping HTTP/1.1\r\nHost: x\r\n").unwrap();
                    // One more header line a second: a head that never ends still ends the connection.
                    for n in 0..600 {
                        std::thread::sleep(Duration::from_secs(1));
                        if c.send_raw(format!("X-Slow-{n}: 1\r\n").as_bytes()).is_err() {
                            break;
                        }
                    }
                }
                1 => {}
                2 => c
                    .send_raw(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"Im")
                    .unwrap(),
                _ => c
                    .send_raw(b"POST /images/load HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123")
                    .unwrap(),
            }
            let rest =
                c.read_until_closed().unwrap_or_else(|e| panic!("slow client {i}: the daemon never closed: {e}"));
            if i % 4 >= 2 {
                let text = String::from_utf8_lossy(&rest);
                assert!(text.starts_with("HTTP/1.1 408"), "slow body {i}: {text}");
                assert!(text.contains("--client-timeout"), "slow body {i}: {text}");
            }
        }));
    }
    // Clients that vanish: in the middle of attach (with and without closing stdin first), logs -f, events,
    // wait, stats, and of a request body.
    for i in 0..70 {
        let (socket, quiet) = (socket.clone(), quiet.clone());
        threads.push(std::thread::spawn(move || {
            let mut c = Conn::open(&socket).unwrap();
            let upgrade = "Upgrade: tcp\r\nConnection: Upgrade\r\n";
            let (head, want) = match i % 7 {
                0 | 1 => {
                    let path = format!("/containers/{quiet}/attach?stream=1&stdin=1&stdout=1&stderr=1");
                    (Conn::head("POST", &path, None, upgrade), 101)
                }
                2 => (Conn::head("GET", &format!("/containers/{quiet}/logs?follow=1&stdout=1"), None, ""), 200),
                3 => (Conn::head("GET", "/events", None, ""), 200),
                4 => (Conn::head("POST", &format!("/containers/{quiet}/wait"), None, ""), 200),
                5 => (Conn::head("GET", &format!("/containers/{quiet}/stats"), None, ""), 200),
                _ => {
                    c.send_raw(Conn::head("POST", "/containers/create", Some(500), "").as_bytes()).unwrap();
                    c.send_raw(b"{\"Image\": \"busy").unwrap();
                    return; // gone with half its body sent
                }
            };
            c.send_raw(head.as_bytes()).unwrap();
            let r = c.response_head().unwrap();
            assert_eq!(r.status, want, "stream {i}");
            if i % 7 == 1 {
                c.stream().shutdown(std::net::Shutdown::Write).unwrap();
                std::thread::sleep(Duration::from_millis(300));
            }
        }));
    }
    // Bodies over the 4 MiB cap, announced (Content-Length) and not (chunked): docker's 413 and message.
    for chunked in [false, true] {
        let socket = socket.clone();
        threads.push(std::thread::spawn(move || {
            let mut c = Conn::open(&socket).unwrap();
            let big = vec![b' '; 5 << 20];
            let mut writer = c.stream().try_clone().unwrap();
            let send = std::thread::spawn(move || {
                use std::io::Write;
                let result = if chunked {
                    let head = "POST /containers/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
                    writer.write_all(head.as_bytes()).and_then(|()| {
                        big.chunks(64 << 10).try_for_each(|part| {
                            writer.write_all(format!("{:x}\r\n", part.len()).as_bytes())?;
                            writer.write_all(part)?;
                            writer.write_all(b"\r\n")
                        })
                    })
                } else {
                    writer.write_all(Conn::head("POST", "/containers/create", Some(big.len()), "").as_bytes())
                };
                // The daemon may answer and close before all of it is sent: a broken pipe is fine.
                let _ = result;
            });
            let r = c.response().unwrap();
            send.join().unwrap();
            assert_eq!(r.status, 413, "chunked {chunked}: {}", r.text());
            let message = r.json()["message"].as_str().unwrap_or_default().to_string();
            assert!(message.contains("larger than the daemon's limit of 4194304 bytes"), "{message}");
        }));
    }
    // The thousand: every one connects, all wait for each other, then `containers` of them run a container
    // and the others send light requests on their open connection.
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let made = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let (socket, barrier, made) = (socket.clone(), barrier.clone(), made.clone());
        let t = std::thread::Builder::new().stack_size(256 << 10).spawn(move || {
            let mut c = Conn::open(&socket).unwrap();
            barrier.wait();
            light(&mut c, i);
            if i < containers {
                made.lock().unwrap().push(lifecycle(&socket, &format!("abuse-{tag}-{i}")));
            }
        });
        clients.push(t.unwrap());
    }
    let started = Instant::now();
    for t in clients {
        t.join().expect("a client failed");
    }
    let clients_took = started.elapsed();
    for t in threads {
        t.join().expect("a slow, vanishing or oversized client failed");
    }
    let watch = watch.stop();
    ids.extend(made.lock().unwrap().drain(..));

    // Everything the abuse opened is closed again: the daemon's descriptors and the quiet container's monitor's.
    let back = eventually(|| fd_count(d.pid()) <= base_fds && fd_count(monitor) <= base_monitor_fds);
    let (after_fds, after_rss) = (fd_count(d.pid()), rss_kib(d.pid()));
    eprintln!(
        "abuse: {CLIENTS} clients ({containers} with a container) in {:.1} s; daemon fds {base_fds} → max {} → \
         {after_fds}; RSS {base_rss} KiB → max {} KiB → {after_rss} KiB; monitor fds {base_monitor_fds} → {}; \
         probe: {} pings, slowest {} ms, failures {:?}",
        clients_took.as_secs_f64(),
        watch.max_fds.load(Ordering::Relaxed),
        watch.max_rss.load(Ordering::Relaxed),
        fd_count(monitor),
        watch.pings.load(Ordering::Relaxed),
        watch.slowest_ms.load(Ordering::Relaxed),
        watch.failures.lock().unwrap(),
    );
    assert!(
        back,
        "descriptors left: daemon {:?} (was {base_targets:?}), monitor {}",
        fd_targets(d.pid()),
        fd_count(monitor)
    );
    assert!(watch.failures.lock().unwrap().is_empty(), "the probe was refused");
    assert!(watch.pings.load(Ordering::Relaxed) > 0, "the probe never got an answer");
    assert!(watch.max_fds.load(Ordering::Relaxed) > base_fds + CLIENTS / 2, "the thousand were never open at once");
    assert!(watch.max_rss.load(Ordering::Relaxed) < RSS_BOUND_KIB, "RSS over {RSS_BOUND_KIB} KiB");
    assert!(after_rss < RSS_BOUND_KIB);
    let r = once(&socket, "DELETE", &format!("/containers/{quiet}?force=1"), None).unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    d.assert_clean(&ids);
}

#[test]
fn the_connection_cap_holds_and_silent_clients_are_closed() {
    require_root!();
    let d = Daemon::start_with(&["--max-connections", "16", "--client-timeout", "2s"]);
    let socket = d.socket();
    assert_eq!(once(&socket, "GET", "/_ping", None).unwrap().status, 200);
    std::thread::sleep(Duration::from_millis(300));
    let base = fd_count(d.pid());
    // Sixteen clients that say nothing take every slot; the seventeenth waits in the listen backlog: the
    // daemon holds no descriptor for it.
    let mut idle: Vec<Conn> = (0..16).map(|_| Conn::open(&socket).unwrap()).collect();
    assert!(eventually(|| fd_count(d.pid()) == base + 16), "16 connections: {:?}", fd_targets(d.pid()));
    let probe = {
        let socket = socket.clone();
        std::thread::spawn(move || once(&socket, "GET", "/_ping", None))
    };
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(fd_count(d.pid()), base + 16, "a connection over the cap was accepted: {:?}", fd_targets(d.pid()));
    // The silent ones are closed by the daemon (nothing sent back: they never asked), which frees the slots.
    for c in &mut idle {
        assert_eq!(c.read_until_closed().unwrap(), b"", "an idle connection got an answer");
    }
    let r = probe.join().unwrap().unwrap();
    assert_eq!((r.status, r.text()), (200, "OK".to_string()));
    drop(idle);
    assert!(eventually(|| fd_count(d.pid()) == base), "descriptors left: {:?}", fd_targets(d.pid()));
    d.assert_clean(&[]);
}

#[test]
fn a_user_without_the_sockets_group_is_refused() {
    require_root!();
    let Some(docker) = engine_daemon::docker_cli() else { return };
    let d = Daemon::start();
    let user = rootless_env::TestUser::new(false);
    // The way to the socket is open (as /run/containy is, 0711): what refuses is the socket's own mode.
    let dir = d.socket().parent().unwrap().to_path_buf();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o711)).unwrap();
    let meta = std::fs::metadata(d.socket()).unwrap();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert_eq!(meta.permissions().mode() & 0o777, 0o660, "the socket's mode");
    assert_ne!(meta.gid(), user.gid);
    let as_user = || {
        let config = user.home().join("docker-config");
        std::process::Command::new("/usr/bin/setpriv")
            .arg(format!("--reuid={}", user.uid))
            .arg(format!("--regid={}", user.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(docker)
            .args(["version", "--format", "{{.Server.Version}}"])
            .env_clear()
            .env("HOME", user.home())
            .env("DOCKER_CONFIG", config)
            .env("DOCKER_HOST", format!("unix://{}", d.socket().display()))
            .output()
            .unwrap()
    };
    let refused = as_user();
    assert!(!refused.status.success());
    assert!(common::stderr(&refused).contains("permission denied"), "{}", common::stderr(&refused));
    // The same user in the socket's group gets in: it was the group that kept it out.
    std::os::unix::fs::chown(d.socket(), None, Some(user.gid)).unwrap();
    let allowed = as_user();
    assert!(allowed.status.success(), "{}", common::stderr(&allowed));
    assert_eq!(common::stdout(&allowed).trim(), env!("CARGO_PKG_VERSION"));
    std::os::unix::fs::chown(d.socket(), None, Some(meta.gid())).unwrap();
    d.assert_clean(&[]);
}
