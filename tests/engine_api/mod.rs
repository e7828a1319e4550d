//! The Docker Engine API spoken directly over the daemon's socket, one request per connection: faster than
//! the docker CLI for tests that make hundreds of requests, and it tells a refused connection (the daemon
//! is dead) from an error answer.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// A request's outcome: the status and the body, or `None` when the daemon did not answer (not listening,
/// or died while answering).
pub fn call(socket: &Path, method: &str, path: &str, body: Option<&serde_json::Value>) -> Option<(u16, Vec<u8>)> {
    let mut sock = UnixStream::connect(socket).ok()?;
    sock.set_read_timeout(Some(std::time::Duration::from_secs(60))).ok()?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} /v1.44{path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw).ok()?;
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let mut rest = raw[end + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        rest = dechunk(&rest)?;
    }
    Some((status, rest))
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// The status only (0: no answer).
pub fn status(socket: &Path, method: &str, path: &str, body: Option<&serde_json::Value>) -> u16 {
    call(socket, method, path, body).map_or(0, |(s, _)| s)
}

/// The JSON answer of a request that must succeed.
pub fn json(socket: &Path, method: &str, path: &str) -> serde_json::Value {
    let (status, body) = call(socket, method, path, None).unwrap_or_else(|| panic!("{method} {path}: no answer"));
    assert!(status < 300, "{method} {path}: {status} {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)
}

/// The ids of every container the daemon lists (`ps -a`).
pub fn all_ids(socket: &Path) -> Vec<String> {
    json(socket, "GET", "/containers/json?all=1")
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["Id"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// `docker rm -f` of every container; every removal must succeed (404: it went by itself meanwhile).
pub fn remove_all(socket: &Path) -> Vec<String> {
    let ids = all_ids(socket);
    for id in &ids {
        let s = status(socket, "DELETE", &format!("/containers/{id}?force=1"), None);
        assert!(s == 204 || s == 404, "rm -f {id}: {s}");
    }
    ids
}

/// Processes whose command line is `argv` exactly (a container's program, told by an unusual argument).
pub fn processes_running(argv: &[&str]) -> usize {
    let wanted: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .map(|d| d.flatten().filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == wanted)).count())
        .unwrap_or(0)
}
