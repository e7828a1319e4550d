//! Registries for tests/registry.rs, all on 127.0.0.1 at ports chosen free at run time, all stopped when
//! dropped (also when a test fails):
//! - [`Registry`]: Debian's `docker-registry` (distribution 2.8) with its own config and storage in a temp
//!   dir — plain HTTP, or TLS (a certificate made with openssl) with htpasswd basic auth.
//! - [`Fake`]: a tiny HTTP server of the test's own, for what a real registry never does — lie (wrong
//!   digests, huge manifests, non-tar layers, redirect loops, stalls, a 401 after a token) — and for the
//!   bearer-token flow and a blob store on another origin.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

mod liar;
#[allow(unused_imports)] // used by tests/registry.rs, not by every test that shares this module
pub use liar::start_liar;

pub fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A private `docker-registry serve`.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Registry {
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Plain HTTP, no auth.
    pub fn plain() -> Registry {
        Registry::start_with(&mut String::new(), |_| String::new())
    }

    /// TLS with a certificate for 127.0.0.1 (its CA file is `certs/ca.crt` for `--cert-dir`) and htpasswd
    /// basic auth for `user`/`password`.
    pub fn tls_basic(user: &str, password: &str) -> Registry {
        let mut extra = String::new();
        Registry::start_with(&mut extra, |dir| {
            std::fs::create_dir_all(dir.join("certs")).unwrap();
            // A CA (what --cert-dir trusts) and a certificate for 127.0.0.1 signed by it.
            std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
            let ca_key = dir.join("ca.key");
            let steps: Vec<Vec<String>> = vec![
                vec!["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=containy-test-ca"]
                    .into_iter()
                    .map(String::from)
                    .chain(["-keyout".into(), path(&ca_key), "-out".into(), path(&dir.join("certs/ca.crt"))])
                    .collect(),
                vec!["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"]
                    .into_iter()
                    .map(String::from)
                    .chain(["-keyout".into(), path(&dir.join("key.pem")), "-out".into(), path(&dir.join("server.csr"))])
                    .collect(),
                vec!["x509", "-req", "-days", "1", "-set_serial", "7"]
                    .into_iter()
                    .map(String::from)
                    .chain(["-in".into(), path(&dir.join("server.csr")), "-CA".into(), path(&dir.join("certs/ca.crt"))])
                    .chain(["-CAkey".into(), path(&ca_key), "-extfile".into(), path(&dir.join("ext.cnf"))])
                    .chain(["-out".into(), path(&dir.join("server.crt"))])
                    .collect(),
            ];
            for args in steps {
                let out = Command::new("openssl").args(&args).output().expect("openssl (install.sh installs it)");
                assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            }
            let out =
                Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("htpasswd (apache2-utils)");
            assert!(out.status.success());
            std::fs::write(dir.join("htpasswd"), out.stdout).unwrap();
            format!(
                "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: containy-test\n    path: {}\n",
                dir.join("server.crt").display(),
                dir.join("key.pem").display(),
                dir.join("htpasswd").display()
            )
        })
    }

    /// Token auth: the registry trusts tokens signed by `cert` (PEM) and sends clients to `realm`.
    pub fn token(realm: &str, cert: &Path) -> Registry {
        let mut extra = format!(
            "auth:\n  token:\n    realm: {realm}\n    service: containy-registry\n    issuer: containy-test\n    \
             rootcertbundle: {}\n",
            cert.display()
        );
        Registry::start_with(&mut extra, |_| String::new())
    }

    fn start_with(extra: &mut String, prepare: impl FnOnce(&Path) -> String) -> Registry {
        assert!(
            Path::new("/usr/bin/docker-registry").exists(),
            "docker-registry is not installed: install.sh installs it"
        );
        let dir = tempfile::tempdir().unwrap();
        extra.push_str(&prepare(dir.path()));
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    \
             rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{extra}",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut r = Registry { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = r.child.try_wait() {
                panic!("docker-registry exited ({status}): {}", r.log());
            }
            assert!(Instant::now() < deadline, "docker-registry did not listen: {}", r.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    pub fn cert_dir(&self) -> PathBuf {
        self.dir.path().join("certs")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// What the fake answers.
pub enum Reply {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Announce `length` bytes, send `prefix`, then go silent for `hold` and close.
    Stall {
        length: u64,
        prefix: Vec<u8>,
        hold: Duration,
    },
}

impl Reply {
    pub fn ok(body: Vec<u8>, content_type: &str) -> Reply {
        Reply::Full { status: 200, headers: vec![("Content-Type".into(), content_type.into())], body }
    }
    pub fn status(status: u16, headers: &[(&str, &str)]) -> Reply {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Reply::Full { status, headers, body: Vec::new() }
    }
}

pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A fake HTTP server: one thread accepting, one per connection, `Connection: close` on every reply.
pub struct Fake {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Fake {
    pub fn start(handler: Handler) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, log) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (h, log) = (handler.clone(), log.clone());
                std::thread::spawn(move || serve(conn, &h, &log));
            }
        });
        Fake { port, seen, stop, thread: Some(thread) }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, handler: &Handler, log: &Mutex<Vec<Request>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    // Consume a request body (pushes are not faked, but be polite).
    if let Some(n) = headers.get("content-length").and_then(|n| n.parse::<u64>().ok()) {
        let _ = std::io::copy(&mut (&mut reader).take(n), &mut std::io::sink());
    }
    let request = Request { method, path, headers };
    log.lock().unwrap().push(request.clone());
    let mut out = conn;
    match handler(&request) {
        Reply::Full { status, headers, body } => {
            let mut head = format!("HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = out.write_all(head.as_bytes());
            if request.method != "HEAD" {
                let _ = out.write_all(&body);
            }
        }
        Reply::Stall { length, prefix, hold } => {
            let head = format!("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {length}\r\n\r\n");
            let _ = out.write_all(head.as_bytes());
            let _ = out.write_all(&prefix);
            let _ = out.flush();
            std::thread::sleep(hold);
        }
    }
}

/// A tar of `(name, contents)` regular files.
pub fn tar_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// An image as blobs: a config, one layer (`blob`, whose uncompressed tar is `tar`), a manifest.
#[derive(Clone)]
pub struct FakeImage {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
}

impl FakeImage {
    pub fn new(tar: &[u8], blob: &[u8], architecture: &str) -> FakeImage {
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": architecture, "os": "linux",
            "config": { "Cmd": ["/bin/sh"], "Env": ["PATH=/bin"] },
            "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{}", sha(tar))] },
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": format!("sha256:{}", sha(&config)), "size": config.len() },
            "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                         "digest": format!("sha256:{}", sha(blob)), "size": blob.len() }],
        }))
        .unwrap();
        FakeImage { manifest, config, layer: blob.to_vec() }
    }

    pub fn digest(&self) -> String {
        format!("sha256:{}", sha(&self.manifest))
    }

    pub fn layer_digest(&self) -> String {
        format!("sha256:{}", sha(&self.layer))
    }

    /// Every blob of the image, by digest.
    pub fn blobs(&self) -> Vec<(String, Vec<u8>)> {
        vec![(format!("sha256:{}", sha(&self.config)), self.config.clone()), (self.layer_digest(), self.layer.clone())]
    }
}

/// A plain-HTTP request to the test's own servers (a registry on 127.0.0.1): status, headers, body.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("plain http");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = TcpStream::connect(host).unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(resp.len());
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head, resp[(split + 4).min(resp.len())..].to_vec())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (with padding), or the URL-safe unpadded form JWTs use.
pub fn base64(data: &[u8], url: bool) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else if !url {
                out.push('=');
            }
        }
    }
    if url { out.replace('+', "-").replace('/', "_") } else { out }
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query parameters of a request path, decoded (a key may repeat: `scope`).
pub fn query(path: &str) -> Vec<(String, String)> {
    let Some((_, q)) = path.split_once('?') else { return Vec::new() };
    q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (percent_decode(k), percent_decode(v))).collect()
}

/// A token server for a registry with `auth.token`: a key and self-signed certificate made with openssl,
/// tokens signed RS256 with the certificate in `x5c`. `grant(user, scope)` says which actions a user gets.
pub struct TokenServer {
    pub fake: Fake,
    pub dir: tempfile::TempDir,
}

pub type Grant = Arc<dyn Fn(Option<&str>, &str, &str) -> Vec<String> + Send + Sync>;

impl TokenServer {
    /// `users`: `user:password` pairs accepted as basic auth.
    pub fn start(users: &[&str], grant: Grant) -> TokenServer {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=containy-test-token"])
            .arg("-keyout")
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("cert.pem"))
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(dir.path().join("cert.pem"))
            .output()
            .unwrap()
            .stdout;
        let header = base64(
            serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [base64(&der, false)]}).to_string().as_bytes(),
            true,
        );
        let key = dir.path().join("key.pem");
        let users: Vec<(String, String)> = users
            .iter()
            .map(|u| (base64(u.as_bytes(), false), u.split(':').next().unwrap_or("").to_string()))
            .collect();
        let handler: Handler = Arc::new(move |req: &Request| {
            let basic = req.header("authorization").and_then(|a| a.strip_prefix("Basic "));
            let name = match basic {
                Some(b) => match users.iter().find(|(encoded, _)| encoded == b) {
                    Some((_, name)) => Some(name.as_str()),
                    None => return Reply::status(401, &[]),
                },
                None => None,
            };
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            let access: Vec<serde_json::Value> = query(&req.path)
                .into_iter()
                .filter(|(k, _)| k == "scope")
                .filter_map(|(_, scope)| {
                    let mut parts = scope.splitn(3, ':');
                    let (kind, repo, actions) = (parts.next()?, parts.next()?, parts.next()?);
                    let granted = grant(name, repo, actions);
                    Some(serde_json::json!({"type": kind, "name": repo, "actions": granted}))
                })
                .collect();
            let claims = serde_json::json!({
                "iss": "containy-test", "sub": name.unwrap_or(""), "aud": "containy-registry",
                "exp": now + 600, "nbf": now - 60, "iat": now - 60, "jti": format!("{now}-{}", access.len()),
                "access": access,
            });
            let input = format!("{header}.{}", base64(claims.to_string().as_bytes(), true));
            let mut sign = Command::new("openssl")
                .args(["dgst", "-sha256", "-sign"])
                .arg(&key)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            sign.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            let signature = sign.wait_with_output().unwrap().stdout;
            let token = format!("{input}.{}", base64(&signature, true));
            let body = serde_json::json!({"access_token": token, "expires_in": 600}).to_string();
            Reply::ok(body.into_bytes(), "application/json")
        });
        TokenServer { fake: Fake::start(handler), dir }
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.fake.port)
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
}
