//! A bare HTTP/1.1 client over the daemon's Unix socket, for the abuse tests (tests/engine_abuse.rs): they
//! need what no real client does on purpose — a thousand connections at once, requests that stop halfway,
//! connections dropped in the middle of a stream — and the daemon's descriptors and memory from /proc.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// One keep-alive connection.
pub struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl Conn {
    pub fn open(socket: &Path) -> std::io::Result<Conn> {
        let stream = UnixStream::connect(socket)?;
        // A bound for a test that would otherwise hang, not a time the daemon must meet.
        stream.set_read_timeout(Some(Duration::from_secs(180)))?;
        Ok(Conn { reader: BufReader::new(stream.try_clone()?), writer: stream })
    }

    pub fn stream(&self) -> &UnixStream {
        &self.writer
    }

    /// Send raw bytes (a partial request, say).
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// The request head of `method path` with a body of `len` bytes (none: no body headers).
    pub fn head(method: &str, path: &str, len: Option<usize>, extra: &str) -> String {
        let body = match len {
            Some(n) => format!("Content-Type: application/json\r\nContent-Length: {n}\r\n"),
            None => String::new(),
        };
        format!("{method} {path} HTTP/1.1\r\nHost: containy\r\n{body}{extra}\r\n")
    }

    /// One request, its whole answer (the connection stays open for the next).
    pub fn request(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> std::io::Result<Response> {
        let mut bytes = Conn::head(method, path, body.map(<[u8]>::len), "").into_bytes();
        bytes.extend_from_slice(body.unwrap_or_default());
        self.writer.write_all(&bytes)?;
        self.response()
    }

    /// The status line and headers of the next answer, not its body.
    pub fn response_head(&mut self) -> std::io::Result<Response> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the daemon closed the connection"));
        }
        let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        Ok(Response { status, headers, body: Vec::new() })
    }

    /// The next whole answer: by Content-Length, chunked, or (101, 204, 304) without a body.
    pub fn response(&mut self) -> std::io::Result<Response> {
        let mut r = self.response_head()?;
        let header = |k: &str| r.headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if matches!(r.status, 101 | 204 | 304) {
            return Ok(r);
        }
        if let Some(len) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
            r.body = vec![0; len];
            self.reader.read_exact(&mut r.body)?;
        } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            let mut line = String::new();
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("chunk {line:?}")))?;
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                r.body.extend_from_slice(&chunk[..size]);
            }
        } else {
            self.reader.read_to_end(&mut r.body)?;
        }
        Ok(r)
    }

    /// Wait for the daemon to close the connection: whatever it still sends (a 408), then end of file — or
    /// a reset, which is how a Unix socket's reader learns that the peer closed with bytes of ours unread.
    pub fn read_until_closed(&mut self) -> std::io::Result<Vec<u8>> {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => Ok(rest),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(rest),
            Err(e) => Err(e),
        }
    }
}

/// One request on a connection of its own.
pub fn once(socket: &Path, method: &str, path: &str, body: Option<&[u8]>) -> std::io::Result<Response> {
    Conn::open(socket)?.request(method, path, body)
}

/// How many descriptors `pid` has open.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// `pid`'s resident memory in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The descriptors `pid` has open, by what they point at (for a failure message).
pub fn fd_targets(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    let mut out: Vec<String> =
        dir.flatten().filter_map(|e| std::fs::read_link(e.path()).ok()).map(|t| t.display().to_string()).collect();
    out.sort();
    out
}
