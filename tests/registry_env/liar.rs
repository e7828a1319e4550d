//! The liar: a registry of the test's own that lies once per scenario, then tells the truth.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Fake, FakeImage, Reply, Request};

/// A registry that lies, once per scenario (the repository's name), then behaves: the first request for
/// the scenario's object gets the lie, the next pull gets the truth. Bearer auth throughout (token `good`
/// from `/token`, in the `token` field); blobs of the `redirect` scenario live on `storage` (another origin).
pub struct Liar {
    pub good: FakeImage,
    pub bad_tar: FakeImage,
    counts: Mutex<HashMap<String, usize>>,
    pub port: Arc<std::sync::OnceLock<u16>>,
    pub storage: u16,
}

impl Liar {
    fn count(&self, key: String) -> usize {
        let mut c = self.counts.lock().unwrap();
        let n = c.entry(key).or_insert(0);
        *n += 1;
        *n - 1
    }

    fn challenge(&self) -> Reply {
        let port = self.port.get().copied().unwrap_or(0);
        let value = format!("Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"liar\"");
        Reply::status(401, &[("WWW-Authenticate", &value)])
    }

    pub fn handle(&self, req: &Request) -> Reply {
        if req.path.starts_with("/token") {
            return Reply::ok(br#"{"token":"good","expires_in":300}"#.to_vec(), "application/json");
        }
        if req.header("authorization") != Some("Bearer good") {
            return self.challenge();
        }
        if req.path == "/v2/" {
            return Reply::ok(b"{}".to_vec(), "application/json");
        }
        let Some(rest) = req.path.strip_prefix("/v2/") else { return Reply::status(404, &[]) };
        match rest {
            "loop/r1" => return Reply::status(307, &[("Location", "/v2/loop/r2")]),
            "loop/r2" => return Reply::status(307, &[("Location", "/v2/loop/r1")]),
            _ => {}
        }
        let Some((scenario, object)) = rest.split_once('/') else { return Reply::status(404, &[]) };
        if let Some(reference) = object.strip_prefix("manifests/") {
            let n = self.count(format!("{scenario}/manifest"));
            let manifest = |img: &FakeImage| Reply::Full {
                status: 200,
                headers: vec![
                    ("Content-Type".into(), "application/vnd.oci.image.manifest.v1+json".into()),
                    ("Docker-Content-Digest".into(), img.digest()),
                ],
                body: img.manifest.clone(),
            };
            if reference == self.bad_tar.digest() {
                return manifest(&self.bad_tar);
            }
            return match (scenario, n) {
                ("huge", 0) => Reply::ok(vec![b' '; 5 << 20], "application/vnd.oci.image.manifest.v1+json"),
                ("nontar", 0) => manifest(&self.bad_tar),
                ("noplatform", 0) => {
                    let entry = |arch: &str| {
                        serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": self.good.digest(), "size": self.good.manifest.len(),
                            "platform": {"os": "linux", "architecture": arch}})
                    };
                    let index = serde_json::json!({"schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [entry("arm64"), entry("s390x")]});
                    Reply::ok(index.to_string().into_bytes(), "application/vnd.oci.image.index.v1+json")
                }
                _ => manifest(&self.good),
            };
        }
        let Some(digest) = object.strip_prefix("blobs/") else { return Reply::status(404, &[]) };
        let blob = self.good.blobs().into_iter().chain(self.bad_tar.blobs()).find(|(d, _)| d == digest);
        let Some((_, blob)) = blob else { return Reply::status(404, &[]) };
        if digest != self.good.layer_digest() {
            return Reply::ok(blob, "application/octet-stream");
        }
        let n = self.count(format!("{scenario}/layer"));
        match (scenario, n) {
            ("mismatch", 0) => {
                let mut lie = blob;
                let last = lie.len() - 20;
                lie[last] ^= 0xff;
                Reply::ok(lie, "application/octet-stream")
            }
            ("stall", 0) => Reply::Stall {
                length: blob.len() as u64,
                prefix: blob[..blob.len() / 2].to_vec(),
                hold: Duration::from_secs(8),
            },
            ("loop", 0) => Reply::status(307, &[("Location", "/v2/loop/r1")]),
            ("unauth", 0 | 1) => self.challenge(),
            ("redirect", _) => {
                let to = format!("http://localhost:{}/blob/{digest}", self.storage);
                Reply::status(307, &[("Location", &to)])
            }
            _ => Reply::ok(blob, "application/octet-stream"),
        }
    }
}

/// The liar and the blob storage it redirects to; both stopped when dropped.
pub struct LiarServers {
    pub registry: Fake,
    pub storage: Fake,
    pub liar: Arc<Liar>,
}

pub fn start_liar(good: FakeImage, bad_tar: FakeImage) -> LiarServers {
    let blobs: HashMap<String, Vec<u8>> = good.blobs().into_iter().collect();
    let storage = Fake::start(Arc::new(move |req: &Request| {
        let digest = req.path.trim_start_matches("/blob/");
        match blobs.get(digest) {
            Some(b) => Reply::ok(b.clone(), "application/octet-stream"),
            None => Reply::status(404, &[]),
        }
    }));
    let liar = Arc::new(Liar {
        good,
        bad_tar,
        counts: Mutex::new(HashMap::new()),
        port: Arc::new(std::sync::OnceLock::new()),
        storage: storage.port,
    });
    let l = liar.clone();
    let registry = Fake::start(Arc::new(move |req: &Request| l.handle(req)));
    let _ = liar.port.set(registry.port);
    LiarServers { registry, storage, liar }
}
