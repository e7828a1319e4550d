//! `containy pull`: reference → manifest (→ the platform's manifest) → config → the missing layers,
//! each verified twice (blob digest, then the config's `diff_id`) before it is published in the store.
//!
//! Order: every small document is read whole under a size cap and checked against the digest that names it
//! before it is parsed; the config comes before any layer, because its `diff_ids` are the store's layer ids,
//! which is how layers already stored are skipped without a request. Layers go to workers (`jobs` of them,
//! docker's default 3) that each stream one blob straight into a store tmp dir; the first failure cancels
//! the others at their next read, and every tmp dir of the pull is gone before the error is returned. The
//! image record is written last, so an interrupted pull leaves at most complete layers — which the next
//! pull then does not fetch again.

use std::io::{self, BufReader, Read};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use super::client::{Body, Client, Connection, expect_success, read_limited};
use super::manifest::{self, Config, Descriptor, Document, MAX_CONFIG, MAX_MANIFEST, Platform, sha256_hex};
use super::{Event, Reference, RegistryError, Status};
use crate::image::store::{Image, ImageRecord, Store};
use crate::image::{BUF_SIZE, Hashing, ImageError, decompressed, hex};
use crate::image::{Options, extract_with};

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    pub connection: Connection,
    /// The platform to choose from an index (default: this machine's).
    pub platform: Option<Platform>,
    /// Layers downloaded at once; 1 pulls on the calling thread (what `run` uses).
    pub jobs: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions { connection: Connection::default(), platform: None, jobs: 3 }
    }
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image id in the store.
    pub id: String,
    /// The name it got (`registry/repo:tag`, or `registry/repo@sha256:…`).
    pub name: String,
    /// The manifest's digest (the one the reference's tag pointed at).
    pub digest: String,
    pub platform: String,
    pub layers: usize,
    /// Layers downloaded by this pull (the others were in the store).
    pub downloaded: usize,
    pub bytes: u64,
}

/// When `run --image` pulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Missing,
    Always,
    Never,
}

impl std::str::FromStr for PullPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "missing" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            other => Err(format!("--pull {other:?}: use missing, always or never")),
        }
    }
}

/// Pull `reference` into `store`; `progress` hears about every layer (from the workers' threads).
pub fn pull(
    store: &Store,
    reference: &str,
    options: &PullOptions,
    progress: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<Pulled, RegistryError> {
    let r = Reference::parse(reference)?;
    pull_reference(store, &r, options, progress)
        .map_err(|e| RegistryError::Pull { reference: r.to_string(), cause: Box::new(e) })
}

/// An image by a local name or id (imports, builds), else by the name a pull gives it (`busybox` →
/// `docker.io/library/busybox:latest`).
pub fn find_local(store: &Store, text: &str) -> Result<Image, ImageError> {
    match store.find(text) {
        Err(missing @ ImageError::NoImage { .. }) => match Reference::parse(text) {
            Ok(r) => match store.find(&r.store_name()) {
                Err(ImageError::NoImage { .. }) => Err(missing),
                other => other,
            },
            Err(_) => Err(missing),
        },
        other => other,
    }
}

/// The image `text` names, pulled first as `policy` says (`run --image`, the bundle's `rootfs.image`). The
/// pull goes through `crate::handover`: `containy` links no registry client and hands the command over.
pub fn ensure_image(
    store: &Store,
    text: &str,
    policy: PullPolicy,
    options: &PullOptions,
    progress: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<Image, RegistryError> {
    let local = find_local(store, text);
    match (policy, local) {
        (PullPolicy::Never, found) => Ok(found?),
        (PullPolicy::Missing, Ok(image)) => Ok(image),
        (PullPolicy::Missing, Err(missing @ ImageError::NoImage { .. })) => {
            // Not here: say so first, then why the pull did not help either.
            let pulled = crate::handover::pull(store, text, options, progress)
                .map_err(|e| RegistryError::Missing { missing: Box::new(missing), cause: Box::new(e) })?;
            let record = store.record(&pulled.id)?;
            Ok(Image { id: pulled.id, record })
        }
        (PullPolicy::Always, _) => {
            let pulled = crate::handover::pull(store, text, options, progress)?;
            let record = store.record(&pulled.id)?;
            Ok(Image { id: pulled.id, record })
        }
        (PullPolicy::Missing, Err(e)) => Err(e.into()),
    }
}

fn pull_reference(
    store: &Store,
    r: &Reference,
    options: &PullOptions,
    progress: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<Pulled, RegistryError> {
    let client = Client::connect(&r.registry, r.api_host(), &options.connection)?;
    let scope = format!("repository:{}:pull", r.repository);
    let (bytes, mut digest) = fetch_manifest(&client, r, r.object(), r.digest.as_deref(), &scope)?;
    let mut doc = parse_document(&bytes, &digest)?;
    let wanted = options.platform.clone().unwrap_or_else(Platform::host);
    let mut platform = None;
    if let Some(entries) = &doc.manifests {
        let chosen = manifest::select(entries, &wanted).map_err(|available| RegistryError::NoPlatform {
            index: digest.clone(),
            wanted: wanted.to_string(),
            available: if available.is_empty() { "nothing".into() } else { available.join(", ") },
        })?;
        crate::explain!(
            format!("choose {wanted} from the index"),
            format!("manifest {}", chosen.digest),
            "an index lists one manifest per platform; attestations are skipped"
        );
        let (b, d) = fetch_manifest(&client, r, &chosen.digest, Some(&chosen.digest), &scope)?;
        doc = parse_document(&b, &d)?;
        if doc.manifests.is_some() {
            return Err(RegistryError::Format {
                what: format!("manifest {d}"),
                message: "an index inside an index".into(),
            });
        }
        platform = chosen.platform;
        digest = d;
    }
    let (Some(config_desc), Some(layers)) = (doc.config.clone(), doc.layers.clone()) else {
        return Err(RegistryError::Format {
            what: format!("manifest {digest}"),
            message: "neither an index nor an image manifest (no config and layers)".into(),
        });
    };
    let config_bytes = fetch_small_blob(&client, r, &config_desc, MAX_CONFIG, &scope)?;
    let config: Config = serde_json::from_slice(&config_bytes).map_err(|e| RegistryError::Format {
        what: format!("config {}", config_desc.digest),
        message: e.to_string(),
    })?;
    let diff_ids: Vec<String> = config.rootfs.as_ref().map(|r| r.diff_ids.clone()).unwrap_or_default();
    if diff_ids.len() != layers.len() {
        return Err(RegistryError::Format {
            what: format!("config {}", config_desc.digest),
            message: format!("{} diff_ids for the manifest's {} layers", diff_ids.len(), layers.len()),
        });
    }
    let diff_ids: Vec<String> = diff_ids
        .iter()
        .map(|d| {
            sha256_hex(d).map(str::to_string).ok_or_else(|| RegistryError::Format {
                what: format!("config {}", config_desc.digest),
                message: format!("diff_id {d:?} is not sha256:<64 hex digits>"),
            })
        })
        .collect::<Result<_, _>>()?;
    progress(&Event::Resolved { reference: &r.to_string(), digest: &digest, layers: layers.len() });

    let _lock = store.lock(true)?;
    let mut todo: Vec<(Descriptor, String)> = Vec::new();
    for (layer, diff_id) in layers.iter().zip(&diff_ids) {
        if store.has_layer(diff_id) || todo.iter().any(|(_, d)| d == diff_id) {
            progress(&Event::Layer { digest: &layer.digest, status: Status::Exists, done: 0, total: layer.size });
            continue;
        }
        progress(&Event::Layer { digest: &layer.digest, status: Status::Waiting, done: 0, total: layer.size });
        todo.push((layer.clone(), diff_id.clone()));
    }
    let bytes = fetch_layers(store, &client, r, &scope, &todo, options.jobs, progress)?;
    crate::fault::at("pull.3").map_err(ImageError::from)?;

    let record = ImageRecord {
        layers: diff_ids,
        config: config.config.clone().unwrap_or_default(),
        architecture: config.architecture.clone(),
        os: config.os.clone(),
        created: config.created.clone().unwrap_or_default(),
        digest: Some(digest.clone()),
        variant: config.variant.clone().filter(|v| !v.is_empty()),
    };
    let name = r.store_name();
    let id = store.add_image(&record, Some(&name))?;
    let platform = platform.map_or_else(
        || Platform { os: config.os, architecture: config.architecture, variant: config.variant }.to_string(),
        |p| p.to_string(),
    );
    Ok(Pulled { id, name, digest, platform, layers: layers.len(), downloaded: todo.len(), bytes })
}

/// A manifest or index by tag or digest, whole, under [`MAX_MANIFEST`], checked against `expected` (and
/// against the registry's own `Docker-Content-Digest`). Returns the bytes and their digest.
fn fetch_manifest(
    client: &Client,
    r: &Reference,
    object: &str,
    expected: Option<&str>,
    scope: &str,
) -> Result<(Vec<u8>, String), RegistryError> {
    let path = format!("/v2/{}/manifests/{object}", r.repository);
    crate::explain!(
        format!("manifest {object}"),
        format!("GET {}{path}", client.base),
        "Accept lists every manifest kind containy reads: OCI index and manifest, Docker list and v2"
    );
    let response = client.get("GET", &path, scope, &[("Accept", manifest::ACCEPT)])?;
    let url = format!("{}{path}", client.base);
    if response.status().as_u16() == 401 {
        return Err(unauthorized(client, r));
    }
    let response = expect_success(response, &url)?;
    let announced = response.headers().get("docker-content-digest").and_then(|d| d.to_str().ok()).map(str::to_string);
    if let Some(length) = response.headers().get("content-length").and_then(|l| l.to_str().ok()?.parse::<u64>().ok())
        && length > MAX_MANIFEST
    {
        return Err(RegistryError::TooLarge {
            what: format!("manifest {object} ({length} bytes)"),
            limit: MAX_MANIFEST,
        });
    }
    let mut body: Body = response.into_body().into_reader();
    let bytes = read_limited(&mut body, MAX_MANIFEST)
        .map_err(|e| RegistryError::Http { url: url.clone(), message: e.to_string() })?
        .ok_or_else(|| RegistryError::TooLarge { what: format!("manifest {object}"), limit: MAX_MANIFEST })?;
    let actual = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
    for want in expected.into_iter().chain(announced.as_deref().filter(|d| d.starts_with("sha256:"))) {
        if want != actual {
            return Err(RegistryError::Digest { what: format!("manifest {object}"), expected: want.into(), actual });
        }
    }
    Ok((bytes, actual))
}

fn unauthorized(client: &Client, r: &Reference) -> RegistryError {
    RegistryError::Unauthorized {
        registry: client.registry.clone(),
        message: format!(
            "401: access to {} refused (after authenticating, where the registry asked for it)",
            r.repository
        ),
    }
}

pub(crate) fn parse_document(bytes: &[u8], digest: &str) -> Result<Document, RegistryError> {
    let doc: Document = serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::Format { what: format!("manifest {digest}"), message: e.to_string() })?;
    if doc.schema_version != 2 {
        return Err(RegistryError::Format {
            what: format!("manifest {digest}"),
            message: format!("schemaVersion {}: only schema 2 (OCI, Docker v2) is supported", doc.schema_version),
        });
    }
    Ok(doc)
}

/// A config blob: whole, capped, verified.
fn fetch_small_blob(
    client: &Client,
    r: &Reference,
    desc: &Descriptor,
    limit: u64,
    scope: &str,
) -> Result<Vec<u8>, RegistryError> {
    let what = format!("config {}", desc.digest);
    sha256_hex(&desc.digest).ok_or_else(|| RegistryError::Format {
        what: what.clone(),
        message: "the digest is not sha256:<64 hex digits>".into(),
    })?;
    let path = format!("/v2/{}/blobs/{}", r.repository, desc.digest);
    let response = client.get("GET", &path, scope, &[])?;
    if response.status().as_u16() == 401 {
        return Err(unauthorized(client, r));
    }
    let mut body = expect_success(response, &format!("{}{path}", client.base))?.into_body().into_reader();
    let bytes = read_limited(&mut body, limit)
        .map_err(|e| RegistryError::Http { url: path.clone(), message: e.to_string() })?
        .ok_or_else(|| RegistryError::TooLarge { what: what.clone(), limit })?;
    let actual = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
    if actual != desc.digest {
        return Err(RegistryError::Digest { what, expected: desc.digest.clone(), actual });
    }
    Ok(bytes)
}

/// Download, verify and publish `todo` with `jobs` workers. Returns the bytes transferred.
fn fetch_layers(
    store: &Store,
    client: &Client,
    r: &Reference,
    scope: &str,
    todo: &[(Descriptor, String)],
    jobs: usize,
    progress: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<u64, RegistryError> {
    let cancel = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<(usize, RegistryError)>> = Mutex::new(Vec::new());
    let total = AtomicUsize::new(0);
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::SeqCst);
            if i >= todo.len() || cancel.load(Ordering::SeqCst) {
                break;
            }
            let (desc, diff_id) = &todo[i];
            match fetch_layer(store, client, r, scope, desc, diff_id, &cancel, progress) {
                Ok(n) => {
                    total.fetch_add(n as usize, Ordering::SeqCst);
                }
                Err(e) => {
                    cancel.store(true, Ordering::SeqCst);
                    let e = RegistryError::Blob { digest: desc.digest.clone(), cause: Box::new(e) };
                    if let Ok(mut f) = failures.lock() {
                        f.push((i, e));
                    }
                    break;
                }
            }
        }
    };
    let jobs = jobs.clamp(1, todo.len().max(1));
    if jobs == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..jobs {
                s.spawn(work);
            }
        });
    }
    let mut failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    // The error that caused the cancel, not the workers it stopped.
    failures.sort_by_key(|(i, e)| (is_cancelled(e), *i));
    match failures.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(total.into_inner() as u64),
    }
}

const CANCELLED: &str = "cancelled: another layer of this pull failed";

fn is_cancelled(e: &RegistryError) -> bool {
    e.to_string().contains(CANCELLED)
}

/// The blob as it arrives: counted against the descriptor's size, reported, and cancellable. A transport
/// error is remembered, so a stall is reported as one rather than as a truncated archive.
struct Transfer<'a> {
    inner: Body,
    done: u64,
    size: u64,
    digest: &'a str,
    cancel: &'a AtomicBool,
    progress: &'a (dyn Fn(&Event<'_>) + Sync),
    failure: Option<String>,
}

impl Read for Transfer<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::SeqCst) {
            return Err(io::Error::other(CANCELLED));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                let timeout = matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
                    || e.get_ref()
                        .and_then(|i| i.downcast_ref::<ureq::Error>())
                        .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)));
                let message = if timeout {
                    "timed out: the registry stopped sending (stalled)".to_string()
                } else {
                    e.to_string()
                };
                self.failure = Some(message.clone());
                return Err(io::Error::new(e.kind(), message));
            }
        };
        self.done += n as u64;
        if self.size > 0 && self.done > self.size {
            let message = format!("the registry sent more than the {} bytes the manifest states", self.size);
            self.failure = Some(message.clone());
            return Err(io::Error::other(message));
        }
        (self.progress)(&Event::Layer {
            digest: self.digest,
            status: Status::Downloading,
            done: self.done,
            total: self.size,
        });
        Ok(n)
    }
}

#[allow(clippy::too_many_arguments)]
fn fetch_layer(
    store: &Store,
    client: &Client,
    r: &Reference,
    scope: &str,
    desc: &Descriptor,
    diff_id: &str,
    cancel: &AtomicBool,
    progress: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<u64, RegistryError> {
    let format_error = |message: String| RegistryError::Format { what: "the blob".into(), message };
    if !manifest::is_layer_type(&desc.media_type) {
        return Err(format_error(format!(
            "media type {:?} is not a layer containy unpacks (OCI or Docker tar, tar+gzip, tar+zstd)",
            desc.media_type
        )));
    }
    let expected = sha256_hex(&desc.digest)
        .ok_or_else(|| format_error("the digest is not sha256:<64 hex digits>".into()))?
        .to_string();
    let path = format!("/v2/{}/blobs/{}", r.repository, desc.digest);
    let url = format!("{}{path}", client.base);
    crate::explain!(
        format!("layer {}", &expected[..12]),
        format!("GET {url} | sha256 | gunzip/unzstd | sha256 | extract into the store's tmp/"),
        "one pass; published by rename only when the blob digest and the config's diff_id both match"
    );
    let response = client.get("GET", &path, scope, &[])?;
    if response.status().as_u16() == 401 {
        return Err(unauthorized(client, r));
    }
    let body = expect_success(response, &url)?.into_body().into_reader();
    let transfer =
        Transfer { inner: body, done: 0, size: desc.size, digest: &desc.digest, cancel, progress, failure: None };
    let mut compressed = Hashing::new(transfer);
    let tmp = store.tmp_dir()?;
    let diff = crate::image::import::make_diff_dir(&tmp.path)?;
    crate::fault::at("pull.1").map_err(ImageError::from)?;
    let unpacked: Result<String, ImageError> = (|| {
        let stream = decompressed(BufReader::with_capacity(BUF_SIZE, &mut compressed))
            .map_err(|source| ImageError::Corrupt { source })?;
        let mut uncompressed = Hashing::new(stream);
        extract_with(&mut uncompressed, &diff, Options { layer: true })?;
        io::copy(&mut uncompressed, &mut io::sink()).map_err(|source| ImageError::Corrupt { source })?;
        Ok(uncompressed.hex())
    })();
    // Whatever the extraction made of it, the blob is read to its end (at most its stated size): a wrong
    // digest is the root cause of any damage, so it is what gets reported.
    let _ = io::copy(&mut compressed, &mut io::sink());
    if let Some(failure) = compressed.inner.failure.take() {
        return Err(RegistryError::Http { url, message: failure });
    }
    if cancel.load(Ordering::SeqCst) {
        return Err(RegistryError::Http { url, message: CANCELLED.into() });
    }
    let transferred = compressed.inner.done;
    if desc.size > 0 && transferred != desc.size {
        return Err(format_error(format!("{transferred} bytes received, the manifest states {}", desc.size)));
    }
    let actual = compressed.hex();
    if actual != expected {
        return Err(RegistryError::Digest {
            what: "the blob".into(),
            expected: desc.digest.clone(),
            actual: format!("sha256:{actual}"),
        });
    }
    let actual_diff_id = unpacked.map_err(|e| match e {
        ImageError::Corrupt { source } => {
            format_error(format!("not a tar archive (plain, gzip or zstd), or truncated: {source}"))
        }
        other => RegistryError::Store(other),
    })?;
    if actual_diff_id != diff_id {
        return Err(RegistryError::Digest {
            what: "the uncompressed tar (the config's diff_id)".into(),
            expected: format!("sha256:{diff_id}"),
            actual: format!("sha256:{actual_diff_id}"),
        });
    }
    crate::fault::at("pull.2").map_err(ImageError::from)?;
    store.publish_layer(tmp, diff_id)?;
    progress(&Event::Layer { digest: &desc.digest, status: Status::Done, done: transferred, total: desc.size });
    Ok(transferred)
}
