//! `containy image push NAME REF`: an image from the store becomes blobs and a manifest in a registry.
//!
//! The store keeps layers unpacked, so a layer's blob is made again: tarred (`whiteout.rs` puts whiteouts
//! back in `.wh.` form) and compressed into a tmp file while both the tar (the config's `diff_id`) and the
//! blob (its digest) are hashed — a blob's digest must be known before its upload ends. Tarring is
//! deterministic (sorted names, stored metadata), so a layer pushed twice has one digest; `push-cache.json`
//! in the store remembers it, with the repositories containy pushed it to. Then per blob, cheapest first:
//! `HEAD` (the registry has it: nothing to send, nothing even to tar); a cross-repository mount
//! (`POST …/uploads/?mount=D&from=R`) when containy pushed it to another repository of that registry; else
//! a monolithic upload (`POST` for a session, one `PUT …?digest=D` with the whole file). The config and the
//! manifest go last: a registry holds a manifest only once every blob it names is there.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Seek};

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::client::{Client, Connection, Payload, expect_success, percent_encode};
use super::manifest::{OCI_CONFIG, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST};
use super::{Event, Reference, RegistryError, Status};
use crate::image::export::HashingWriter;
use crate::image::store::{Image, Store, TmpDir, store_error};
use crate::image::whiteout::write_layer_tar;
use crate::image::{ImageError, hex};

/// How layer blobs are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            other => Err(format!("--compression {other:?}: use gzip, zstd or none")),
        }
    }
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
    fn media_type(self) -> &'static str {
        match self {
            Compression::None => OCI_LAYER,
            Compression::Gzip => OCI_LAYER_GZIP,
            Compression::Zstd => OCI_LAYER_ZSTD,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PushOptions {
    pub connection: Connection,
    pub compression: Compression,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions { connection: Connection::default(), compression: Compression::Gzip }
    }
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `registry/repo:tag`.
    pub reference: String,
    /// The manifest's digest.
    pub digest: String,
    pub uploaded: usize,
    pub mounted: usize,
    /// Blobs the registry had already.
    pub existed: usize,
}

/// One layer's blob, as pushed before.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Known {
    digest: String,
    size: u64,
    diff_id: String,
    /// `registry/repository`s it was pushed to.
    #[serde(default)]
    repos: Vec<String>,
}

/// Push `image` (a local name or id) to `reference`.
pub fn push(
    store: &Store,
    image: &str,
    reference: &str,
    options: &PushOptions,
    progress: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<Pushed, RegistryError> {
    let wrap = |e| RegistryError::Push { image: image.into(), reference: reference.into(), cause: Box::new(e) };
    let r = Reference::parse(reference).map_err(|e| wrap(e.into()))?;
    if r.digest.is_some() {
        return Err(wrap(RegistryError::Usage("push to a tag (NAME:TAG), not a digest".into())));
    }
    let found = super::find_local(store, image).map_err(|e| wrap(e.into()))?;
    push_image(store, &found, &r, options, progress).map_err(wrap)
}

fn push_image(
    store: &Store,
    image: &Image,
    r: &Reference,
    options: &PushOptions,
    progress: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<Pushed, RegistryError> {
    let client = Client::connect(&r.registry, r.api_host(), &options.connection)?;
    let repo_name = r.name();
    let scope = format!("repository:{}:pull,push", r.repository);
    let _lock = store.lock(true)?;
    let mut cache = read_cache(store);
    let mut pushed = Pushed { reference: r.to_string(), digest: String::new(), uploaded: 0, mounted: 0, existed: 0 };
    let mut layers: Vec<Known> = Vec::new();
    for id in &image.record.layers {
        let key = format!("{id}:{}", options.compression.name());
        let mut known = cache.get(&key).cloned();
        if let Some(k) = &known
            && layers.iter().any(|l| l.digest == k.digest)
        {
            layers.push(k.clone());
            continue;
        }
        // The registry may have it already: then the layer need not even be tarred.
        if let Some(k) = &known
            && blob_exists(&client, r, &k.digest, &scope)?
        {
            progress(&Event::Layer { digest: id, status: Status::Exists, done: 0, total: k.size });
            pushed.existed += 1;
            layers.push(k.clone());
            continue;
        }
        progress(&Event::Layer { digest: id, status: Status::Preparing, done: 0, total: 0 });
        let (tmp, file, made) = make_blob(store, id, options.compression)?;
        let repos = known.take().map(|k| k.repos).unwrap_or_default();
        let made = Known { repos, ..made };
        let status = upload(&client, r, &made, &file, &scope, &|status, done| {
            progress(&Event::Layer { digest: id, status, done, total: made.size })
        })?;
        match status {
            Status::Exists => pushed.existed += 1,
            Status::Mounted => pushed.mounted += 1,
            _ => pushed.uploaded += 1,
        }
        drop(tmp);
        cache.insert(key, made.clone());
        layers.push(made);
    }

    let diff_ids: Vec<String> = layers.iter().map(|l| format!("sha256:{}", l.diff_id)).collect();
    let record = &image.record;
    let mut config = json!({
        "created": record.created,
        "architecture": if record.architecture.is_empty() { "amd64" } else { &record.architecture },
        "os": if record.os.is_empty() { "linux" } else { &record.os },
        "config": record.config,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    if let Some(v) = &record.variant {
        config["variant"] = json!(v);
    }
    let config = serde_json::to_vec(&config).map_err(|e| format_error("config", e))?;
    let config_digest = format!("sha256:{}", hex(&Sha256::digest(&config)));
    if !blob_exists(&client, r, &config_digest, &scope)? {
        upload_bytes(&client, r, &config_digest, &config, &scope)?;
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len() },
        "layers": layers.iter().map(|l| json!({
            "mediaType": options.compression.media_type(), "digest": l.digest, "size": l.size,
        })).collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec(&manifest).map_err(|e| format_error("manifest", e))?;
    let digest = format!("sha256:{}", hex(&Sha256::digest(&manifest)));
    let tag = r.tag.as_deref().unwrap_or("latest");
    let url = format!("{}/v2/{}/manifests/{tag}", client.base, r.repository);
    crate::explain!(
        format!("manifest {tag}"),
        format!("PUT {url}"),
        "last: a registry accepts a manifest only once every blob it names is there"
    );
    let response = client.send("PUT", &url, &scope, &[], Payload::Bytes(&manifest, OCI_MANIFEST))?;
    let response = expect_success(response, &url)?;
    if let Some(theirs) = response.headers().get("docker-content-digest").and_then(|d| d.to_str().ok())
        && theirs != digest
    {
        return Err(RegistryError::Digest { what: format!("manifest {tag}"), expected: digest, actual: theirs.into() });
    }
    for l in &layers {
        if let Some(k) = cache.values_mut().find(|k| k.digest == l.digest)
            && !k.repos.contains(&repo_name)
        {
            k.repos.insert(0, repo_name.clone());
            k.repos.truncate(8);
        }
    }
    write_cache(store, &cache);
    pushed.digest = digest;
    Ok(pushed)
}

fn format_error(what: &str, e: serde_json::Error) -> RegistryError {
    RegistryError::Format { what: what.into(), message: e.to_string() }
}

fn blob_exists(client: &Client, r: &Reference, digest: &str, scope: &str) -> Result<bool, RegistryError> {
    let path = format!("/v2/{}/blobs/{digest}", r.repository);
    let response = client.get("HEAD", &path, scope, &[])?;
    match response.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        _ => expect_success(response, &format!("{}{path}", client.base)).map(|_| false),
    }
}

/// Mount from a repository containy pushed the blob to, else upload it whole. Returns what happened;
/// `report(status, bytes)` hears each step (the display keys a push's rows by layer id, as docker does).
fn upload(
    client: &Client,
    r: &Reference,
    blob: &Known,
    file: &File,
    scope: &str,
    report: &dyn Fn(Status, u64),
) -> Result<Status, RegistryError> {
    if blob_exists(client, r, &blob.digest, scope)? {
        report(Status::Exists, 0);
        return Ok(Status::Exists);
    }
    let here = format!("{}/", client.registry);
    let own = r.name();
    let from = blob.repos.iter().filter(|repo| **repo != own).find_map(|repo| repo.strip_prefix(&here));
    let mut location = None;
    if let Some(from) = from {
        let url = format!(
            "{}/v2/{}/blobs/uploads/?mount={}&from={}",
            client.base,
            r.repository,
            percent_encode(&blob.digest),
            percent_encode(from)
        );
        crate::explain!(
            format!("mount {}", &blob.digest[..19.min(blob.digest.len())]),
            format!("POST {url}"),
            "the registry has this blob in another repository: it is linked, not sent again"
        );
        let mount_scope = format!("{scope} repository:{from}:pull");
        let response = client.send("POST", &url, &mount_scope, &[], Payload::None)?;
        match response.status().as_u16() {
            201 => {
                report(Status::Mounted, 0);
                return Ok(Status::Mounted);
            }
            202 => location = response.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_string),
            _ => {
                expect_success(response, &url)?;
            }
        }
    }
    report(Status::Uploading, 0);
    let location = match location {
        Some(l) => l,
        None => start_upload(client, r, scope)?,
    };
    let url = with_digest(&client.absolute(&location), &blob.digest);
    let response = client.send("PUT", &url, scope, &[], Payload::File(file))?;
    expect_success(response, &url)?;
    report(Status::Pushed, blob.size);
    Ok(Status::Pushed)
}

fn start_upload(client: &Client, r: &Reference, scope: &str) -> Result<String, RegistryError> {
    let url = format!("{}/v2/{}/blobs/uploads/", client.base, r.repository);
    let response = expect_success(client.send("POST", &url, scope, &[], Payload::None)?, &url)?;
    response.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_string).ok_or_else(|| {
        RegistryError::Status { url, status: response.status().as_u16(), message: "no Location for the upload".into() }
    })
}

fn with_digest(url: &str, digest: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}digest={}", percent_encode(digest))
}

fn upload_bytes(client: &Client, r: &Reference, digest: &str, bytes: &[u8], scope: &str) -> Result<(), RegistryError> {
    let location = start_upload(client, r, scope)?;
    let url = with_digest(&client.absolute(&location), digest);
    let response = client.send("PUT", &url, scope, &[], Payload::Bytes(bytes, "application/octet-stream"))?;
    expect_success(response, &url).map(|_| ())
}

/// Tar (and compress) layer `id` into a tmp file: tar → sha256 (diff_id) → compressor → sha256 (digest) →
/// file. Returns the tmp dir (removed when dropped), the file rewound, and its digests.
fn make_blob(store: &Store, id: &str, compression: Compression) -> Result<(TmpDir, File, Known), RegistryError> {
    let tmp = store.tmp_dir()?;
    let path = tmp.path.join("blob");
    let failed = store_error(&path, "write the layer blob");
    let file = File::options().create_new(true).read(true).write(true).open(&path).map_err(&failed)?;
    let blob = HashingWriter {
        inner: io::BufWriter::with_capacity(crate::image::BUF_SIZE, file),
        hasher: Sha256::new(),
        size: 0,
    };
    let layer = store.layer_dir(id);
    let read_error = |e: io::Error| RegistryError::Store(store_error(&layer, "read the layer")(e));
    let (blob, diff_id) = match compression {
        Compression::None => {
            let tar = write_layer_tar(&layer, HashingWriter { inner: blob, hasher: Sha256::new(), size: 0 })
                .map_err(read_error)?;
            let diff_id = hex(&tar.hasher.finalize());
            (tar.inner, diff_id)
        }
        Compression::Gzip => {
            let gz = flate2::write::GzEncoder::new(blob, flate2::Compression::fast());
            let tar = write_layer_tar(&layer, HashingWriter { inner: gz, hasher: Sha256::new(), size: 0 })
                .map_err(read_error)?;
            let diff_id = hex(&tar.hasher.finalize());
            (tar.inner.finish().map_err(&failed)?, diff_id)
        }
        Compression::Zstd => {
            let zst = zstd::stream::write::Encoder::new(blob, 3).map_err(&failed)?;
            let tar = write_layer_tar(&layer, HashingWriter { inner: zst, hasher: Sha256::new(), size: 0 })
                .map_err(read_error)?;
            let diff_id = hex(&tar.hasher.finalize());
            (tar.inner.finish().map_err(&failed)?, diff_id)
        }
    };
    let digest = format!("sha256:{}", hex(&blob.hasher.finalize()));
    let mut file = blob.inner.into_inner().map_err(|e| failed(e.into_error()))?;
    file.rewind().map_err(&failed)?;
    Ok((tmp, file, Known { digest, size: blob.size, diff_id, repos: Vec::new() }))
}

fn read_cache(store: &Store) -> BTreeMap<String, Known> {
    std::fs::read(store.root.join("push-cache.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Best effort: the cache only saves work, a push is correct without it.
fn write_cache(store: &Store, cache: &BTreeMap<String, Known>) {
    if let Ok(json) = serde_json::to_vec_pretty(cache) {
        let _: Result<(), ImageError> = store.write_durably(&store.root.join("push-cache.json"), &json);
    }
}
