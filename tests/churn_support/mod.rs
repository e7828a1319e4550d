//! What tests/churn.rs needs besides containers: a snapshot of everything on the host a container could leave
//! behind (mounts, cgroup directories, network links, nf_tables tables, files under the state roots and the
//! store, open file descriptors), a small HTTP/1.1 client for the Docker Engine API on a Unix socket, and the
//! samples of the daemon's memory and descriptors taken while the containers come and go.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What the snapshot covers: the state roots and store directories (every file under them), the processes
/// whose descriptors count, and which cgroup directories and mount points are this test's.
pub struct Scope<'a> {
    /// Walked in full: every file and directory under each, by path relative to it.
    pub trees: Vec<PathBuf>,
    /// `(label, pid)`: each process's open descriptors, by number and what they point at.
    pub processes: Vec<(&'a str, u32)>,
    /// Does a cgroup directory or mount point with this text in it belong to this test?
    pub ours: &'a (dyn Fn(&str) -> bool + Sync),
}

/// One line per thing a container could leave behind. Links and tables are those of the calling thread's
/// network namespace (the test's own: all of them are its); mounts and cgroup directories are shared with
/// every other test on the machine, so only the test's own (by `ours`) are listed.
pub fn snapshot(scope: &Scope) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines() {
        if (scope.ours)(line) {
            seen.insert(format!("mount {}", line.split(' ').nth(4).unwrap_or("")));
        }
    }
    for dir in cgroup_dirs() {
        if (scope.ours)(&dir) {
            seen.insert(format!("cgroup {dir}"));
        }
    }
    for line in sh("ip -o link show").lines() {
        // `3: cychurn: <BROADCAST,…` / `5: cy1234@if2: …`: the name, without the peer's index.
        let name = line.split(':').nth(1).unwrap_or("").trim();
        seen.insert(format!("link {}", name.split('@').next().unwrap_or(name)));
    }
    for line in sh("nft list tables").lines() {
        seen.insert(format!("nft {line}"));
    }
    for tree in &scope.trees {
        walk(tree, tree, &mut seen);
    }
    for (label, pid) in &scope.processes {
        for (fd, target) in fds(*pid) {
            seen.insert(format!("fd {label} {fd} -> {target}"));
        }
        for (child, what) in children(*pid) {
            seen.insert(format!("child of {label}: {child} {what}"));
        }
    }
    seen
}

/// The processes whose parent is `pid` (an exec the daemon did not wait for stays as a zombie): pid, name and
/// state.
pub fn children(pid: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after the last `)`.
        let Some((head, tail)) = stat.rsplit_once(')') else { continue };
        let mut fields = tail.split_whitespace();
        let (state, ppid) = (fields.next().unwrap_or(""), fields.next().and_then(|p| p.parse::<u32>().ok()));
        if ppid == Some(pid) {
            let comm = head.split_once('(').map_or("", |(_, c)| c);
            found.push((child, format!("({comm}) {state}")));
        }
    }
    found
}

/// Every container cgroup in every hierarchy (v1: `<hier>/containy-<name>`; v2: `/sys/fs/cgroup/containy-<name>`,
/// and the unified mount of a hybrid host).
pub fn cgroup_dirs() -> Vec<String> {
    let root = Path::new("/sys/fs/cgroup");
    let mut hierarchies = vec![root.to_path_buf()];
    for h in std::fs::read_dir(root).into_iter().flatten().flatten() {
        hierarchies.push(h.path());
    }
    let mut found = Vec::new();
    for hierarchy in hierarchies {
        for e in std::fs::read_dir(&hierarchy).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with("containy-") && e.path().is_dir() {
                found.push(e.path().display().to_string());
            }
        }
    }
    found
}

/// Every file under `dir`, except the engine's rotated events history (`events.log.1`): the one file a churn
/// may add by design, bounded in size (tests/churn.rs checks the bound).
fn walk(base: &Path, dir: &Path, seen: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        if e.file_name() == "events.log.1" {
            continue;
        }
        seen.insert(format!("file {}/{}", base.display(), path.strip_prefix(base).unwrap_or(&path).display()));
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(base, &path, seen);
        }
    }
}

/// A process's open descriptors: number and target, with the inode of a pipe, socket or anonymous inode left
/// out (a connection closed and another opened is the same descriptor as far as leaks go).
pub fn fds(pid: u32) -> Vec<(u32, String)> {
    let dir = PathBuf::from(format!("/proc/{pid}/fd"));
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let Ok(fd) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let target = std::fs::read_link(e.path()).map(|t| t.display().to_string()).unwrap_or_default();
        let target = match target.split_once(":[") {
            Some((kind, _)) if !target.starts_with('/') => kind.to_string(),
            _ => target,
        };
        // `/proc/self/fd` itself, open while it is read.
        if target != dir.display().to_string() && !target.ends_with(&format!("/{pid}/fd")) {
            out.push((fd, target));
        }
    }
    out.sort();
    out
}

/// `VmRSS` (KiB) and `Threads` of a process.
pub fn rss_and_threads(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("Threads:"))
}

/// A shell command in the calling thread's namespaces; its stdout. Fails the test if it fails.
pub fn sh(script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).output().expect("run sh");
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One answer of the Engine API: status code and body (de-chunked; for an upgraded connection, the raw
/// stream that followed the 101).
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `METHOD path` with an optional JSON body on a fresh connection (`Connection: close`, as a client that
/// comes and goes); `upgrade` asks for docker's `Upgrade: tcp` (attach, exec start) and reads the stream to
/// its end.
pub fn api(socket: &Path, method: &str, path: &str, body: Option<&serde_json::Value>, upgrade: bool) -> Reply {
    let mut conn = UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    conn.set_read_timeout(Some(Duration::from_secs(120))).expect("a read timeout");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let connection = if upgrade { "Upgrade\r\nUpgrade: tcp" } else { "close" };
    let request = format!(
        "{method} /v1.41{path} HTTP/1.1\r\nHost: docker\r\nConnection: {connection}\r\nContent-Type: \
         application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).unwrap_or_else(|e| panic!("{method} {path}: write: {e}"));
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap_or_else(|e| panic!("{method} {path}: read: {e}"));
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| {
        panic!("{method} {path}: no HTTP head in {:?}", String::from_utf8_lossy(&raw));
    });
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let rest = &raw[split + 4..];
    let body = if head.contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_vec() };
    Reply { status, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 || data.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[(eol + 4 + size).min(data.len())..];
    }
    out
}

/// The payload of docker's multiplexed stream (8-byte frame headers: stream, 0, 0, 0, big-endian length).
pub fn demux(mut data: &[u8]) -> String {
    let mut out = Vec::new();
    while data.len() >= 8 {
        let len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
        let end = (8 + len).min(data.len());
        out.extend_from_slice(&data[8..end]);
        data = &data[end..];
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One sample of the daemon while containers churn.
#[derive(Clone, Debug)]
pub struct Sample {
    pub containers: usize,
    pub seconds: f64,
    pub rss_kib: u64,
    pub fds: usize,
    pub threads: u64,
    pub events_log_bytes: u64,
}

pub fn sample(pid: u32, containers: usize, seconds: f64, events_log: &Path) -> Sample {
    let (rss_kib, threads) = rss_and_threads(pid);
    let fds = fds(pid).len();
    let events_log_bytes = std::fs::metadata(events_log).map(|m| m.len()).unwrap_or(0);
    Sample { containers, seconds, rss_kib, fds, threads, events_log_bytes }
}

pub fn write_tsv(path: &Path, samples: &[Sample]) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut text = String::from("containers\tseconds\trss_kib\tfds\tthreads\tevents_log_bytes\n");
    for s in samples {
        text.push_str(&format!(
            "{}\t{:.1}\t{}\t{}\t{}\t{}\n",
            s.containers, s.seconds, s.rss_kib, s.fds, s.threads, s.events_log_bytes
        ));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// A `docker events` client that stays connected while containers churn (`GET /events`, filtered to
/// `destroy`): the daemon must follow its events log through every rotation and lose no event.
pub struct EventsFollower {
    conn: UnixStream,
    seen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl EventsFollower {
    pub fn connect(socket: &Path) -> EventsFollower {
        let mut conn = UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
        // `since` now: the history from here on, however late the daemon opens the log (without it, a follower
        // starts at the log's end when it opens it); filters={"event":["destroy"]}.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let filters = "%7B%22event%22%3A%5B%22destroy%22%5D%7D";
        let request = format!(
            "GET /v1.41/events?since={:.6}&filters={filters} HTTP/1.1\r\nHost: docker\r\n\r\n",
            now.as_secs_f64()
        );
        conn.write_all(request.as_bytes()).expect("send GET /events");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (mut from, into) = (conn.try_clone().expect("dup the events connection"), seen.clone());
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    return;
                }
                into.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&buf[..n]);
            }
        });
        EventsFollower { conn, seen, reader: Some(reader) }
    }

    /// `destroy` events received so far (each a whole JSON line in its own chunk).
    pub fn destroyed(&self) -> usize {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&seen).matches("\"Action\":\"destroy\"").count()
    }
}

impl Drop for EventsFollower {
    fn drop(&mut self) {
        let _ = self.conn.shutdown(std::net::Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}
