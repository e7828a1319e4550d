//! Image archives: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`, OCI image spec
//! "image-layout.md") or a `docker save` archive (`manifest.json` naming a config and layer tarballs), both as
//! one tar file.
//!
//! Nothing guarantees the order of the entries (the manifest may come after the layers), so an archive is read
//! in two passes over a seekable file: [`scan`] notes where every entry's data starts and keeps the small JSON
//! documents in memory, then the import seeks to each layer in manifest order. Every document is checked
//! against the digest that names it: index → manifest → config → each layer (compressed blob digest, and the
//! config's `diff_id` of the uncompressed tar).

use std::collections::HashMap;
use std::io::{BufReader, Read, Seek};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::store::ImageConfig;
use super::{ImageError, hex};

/// Documents up to this size are kept in memory by the scan (manifests and configs are a few KiB).
const SMALL: u64 = 4 << 20;

/// Where one entry's data is in the archive file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Located {
    pub offset: u64,
    pub size: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Scanned {
    pub entries: HashMap<String, Located>,
    pub small: HashMap<String, Vec<u8>>,
}

/// What an image archive says: its config and its layers, in order (bottom first).
#[derive(Debug)]
pub(crate) struct Manifest {
    pub config: OciConfig,
    pub layers: Vec<LayerRef>,
    /// A name the archive gives the image (`RepoTags`, or the OCI `ref.name` annotation when it is a full name).
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LayerRef {
    /// The entry holding the layer tarball.
    pub path: String,
    /// The digest of the blob as stored (OCI: the compressed blob), when the archive states one.
    pub digest: Option<String>,
    /// sha256 of the uncompressed tar, from the config.
    pub diff_id: String,
}

/// The OCI image config (`application/vnd.oci.image.config.v1+json`), the fields containy uses.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OciConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub config: Option<ImageConfig>,
    pub rootfs: RootfsSection,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RootfsSection {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Debug, Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct OciManifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Is this first entry name that of an image archive rather than of a root filesystem?
pub(crate) fn looks_like_image_archive(first: &str) -> bool {
    let name = first.trim_start_matches("./").trim_end_matches('/');
    let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    matches!(name, "oci-layout" | "index.json" | "manifest.json" | "repositories" | "blobs")
        || name.starts_with("blobs/")
        || hex64(name)
        || name.strip_suffix(".json").is_some_and(hex64)
        || name.split('/').next().is_some_and(hex64)
}

/// Pass one: where each entry's data starts; small documents read into memory.
pub(crate) fn scan<R: Read + Seek>(file: R) -> Result<Scanned, ImageError> {
    let corrupt = |source| ImageError::Corrupt { source };
    let mut archive = tar::Archive::new(BufReader::with_capacity(64 * 1024, file));
    let mut scanned = Scanned::default();
    for entry in archive.entries_with_seek().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).trim_start_matches("./").to_string();
        let size = entry.size();
        scanned.entries.insert(name.clone(), Located { offset: entry.raw_file_position(), size });
        if size <= SMALL && (name.ends_with(".json") || name == "oci-layout" || name.starts_with("blobs/")) {
            let mut data = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut data).map_err(corrupt)?;
            scanned.small.insert(name, data);
        }
    }
    Ok(scanned)
}

fn blob_path(digest: &str) -> Result<String, ImageError> {
    match digest.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(format!("blobs/sha256/{h}")),
        _ => Err(format(format!("digest {digest:?}"), "only sha256 digests are supported")),
    }
}

fn format(what: impl Into<String>, message: impl Into<String>) -> ImageError {
    ImageError::Format { what: what.into(), message: message.into() }
}

/// A small document, checked against `digest` (`sha256:…`) when one is given.
fn document<'a>(scanned: &'a Scanned, path: &str, digest: Option<&str>) -> Result<&'a [u8], ImageError> {
    let data =
        scanned.small.get(path).ok_or_else(|| format(path, "missing from the archive (or larger than 4 MiB)"))?;
    if let Some(digest) = digest {
        let expected = digest.strip_prefix("sha256:").unwrap_or(digest);
        let actual = hex(&Sha256::digest(data));
        if actual != expected {
            return Err(ImageError::Digest { what: path.to_string(), expected: expected.into(), actual });
        }
    }
    Ok(data)
}

fn parse<'a, T: Deserialize<'a>>(path: &str, data: &'a [u8]) -> Result<T, ImageError> {
    serde_json::from_slice(data).map_err(|e| format(path, e.to_string()))
}

/// Read the archive's manifest: `manifest.json` (docker save, which also names the image) when present, else
/// the OCI `index.json`.
pub(crate) fn read_manifest(scanned: &Scanned) -> Result<Manifest, ImageError> {
    if scanned.small.contains_key("manifest.json") {
        docker_manifest(scanned)
    } else if scanned.small.contains_key("index.json") {
        oci_manifest(scanned)
    } else {
        Err(format("image archive", "neither an OCI layout (index.json) nor a docker save archive (manifest.json)"))
    }
}

fn docker_manifest(scanned: &Scanned) -> Result<Manifest, ImageError> {
    let list: Vec<DockerManifest> = parse("manifest.json", document(scanned, "manifest.json", None)?)?;
    let [m] = list.as_slice() else {
        return Err(format("manifest.json", format!("holds {} images; containy imports one at a time", list.len())));
    };
    // The config is named after its digest (`<hex>.json` or `blobs/sha256/<hex>`): check it.
    let stem = m.config.rsplit('/').next().unwrap_or(&m.config).trim_end_matches(".json");
    let digest = (stem.len() == 64).then(|| format!("sha256:{stem}"));
    let config: OciConfig = parse(&m.config, document(scanned, &m.config, digest.as_deref())?)?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != m.layers.len() {
        return Err(format(&m.config, format!("{} diff_ids for {} layers", diff_ids.len(), m.layers.len())));
    }
    let layers = m
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(path, diff_id)| {
            let digest = path.strip_prefix("blobs/sha256/").map(|h| format!("sha256:{h}"));
            Ok(LayerRef { path: path.clone(), digest, diff_id: strip_sha(diff_id)? })
        })
        .collect::<Result<_, ImageError>>()?;
    let name = m.repo_tags.as_ref().and_then(|t| t.first().cloned());
    Ok(Manifest { config, layers, name })
}

fn oci_manifest(scanned: &Scanned) -> Result<Manifest, ImageError> {
    let index: Index = parse("index.json", document(scanned, "index.json", None)?)?;
    let mut descriptor = index.manifests.into_iter().next().ok_or_else(|| format("index.json", "lists no image"))?;
    let mut name = descriptor.annotations.get("io.containerd.image.name").cloned().or_else(|| {
        descriptor.annotations.get("org.opencontainers.image.ref.name").filter(|n| n.contains([':', '/'])).cloned()
    });
    // A nested index (a multi-platform image): take linux/amd64 when listed, else its first manifest.
    for _ in 0..4 {
        if !descriptor.media_type.ends_with("image.index.v1+json") {
            break;
        }
        let path = blob_path(&descriptor.digest)?;
        let nested: Index = parse(&path, document(scanned, &path, Some(&descriptor.digest))?)?;
        let mut list = nested.manifests;
        if list.is_empty() {
            return Err(format(path, "the nested index lists no image"));
        }
        let amd64 =
            list.iter().position(|d| d.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == "amd64"));
        descriptor = list.swap_remove(amd64.unwrap_or(0));
        name = name.or_else(|| descriptor.annotations.get("org.opencontainers.image.ref.name").cloned());
    }
    let path = blob_path(&descriptor.digest)?;
    let manifest: OciManifest = parse(&path, document(scanned, &path, Some(&descriptor.digest))?)?;
    let config_path = blob_path(&manifest.config.digest)?;
    let config: OciConfig = parse(&config_path, document(scanned, &config_path, Some(&manifest.config.digest))?)?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(format(&config_path, format!("{} diff_ids for {} layers", diff_ids.len(), manifest.layers.len())));
    }
    let layers = manifest
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(d, diff_id)| {
            Ok(LayerRef { path: blob_path(&d.digest)?, digest: Some(d.digest.clone()), diff_id: strip_sha(diff_id)? })
        })
        .collect::<Result<_, ImageError>>()?;
    Ok(Manifest { config, layers, name })
}

fn strip_sha(digest: &str) -> Result<String, ImageError> {
    blob_path(digest).map(|p| p["blobs/sha256/".len()..].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(docs: &[(&str, String)]) -> Scanned {
        let mut s = Scanned::default();
        for (name, text) in docs {
            s.small.insert(name.to_string(), text.clone().into_bytes());
        }
        s
    }

    fn sha(text: &str) -> String {
        hex(&Sha256::digest(text.as_bytes()))
    }

    #[test]
    fn image_archives_are_told_from_root_filesystems_by_their_first_entry() {
        for name in ["oci-layout", "./index.json", "manifest.json", "blobs/", "blobs/sha256/ab", &"a".repeat(64)] {
            assert!(looks_like_image_archive(name), "{name}");
        }
        assert!(looks_like_image_archive(&format!("{}/layer.tar", "b".repeat(64))));
        for name in ["./", "bin/", "etc/passwd", "usr", "index.html"] {
            assert!(!looks_like_image_archive(name), "{name}");
        }
    }

    #[test]
    fn an_oci_layout_is_followed_and_checked_digest_by_digest() {
        let l1 = "1".repeat(64);
        let l2 = "2".repeat(64);
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/bin/sh"],"Env":["A=1"]}},
               "rootfs":{{"type":"layers","diff_ids":["sha256:{l1}","sha256:{l2}"]}}}}"#
        );
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"sha256:{}","size":1}},
               "layers":[{{"digest":"sha256:{}","size":1}},{{"digest":"sha256:{}","size":1}}]}}"#,
            sha(&config),
            "a".repeat(64),
            "b".repeat(64)
        );
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json",
               "digest":"sha256:{}","size":1,"annotations":{{"org.opencontainers.image.ref.name":"two:layers"}}}}]}}"#,
            sha(&manifest)
        );
        let docs = vec![
            ("index.json", index.clone()),
            (&*Box::leak(format!("blobs/sha256/{}", sha(&manifest)).into_boxed_str()), manifest.clone()),
            (&*Box::leak(format!("blobs/sha256/{}", sha(&config)).into_boxed_str()), config.clone()),
        ];
        let m = read_manifest(&scanned(&docs)).unwrap();
        assert_eq!(m.name.as_deref(), Some("two:layers"));
        assert_eq!(m.layers.len(), 2);
        assert_eq!(m.layers[1].path, format!("blobs/sha256/{}", "b".repeat(64)));
        assert_eq!(m.layers[1].diff_id, l2);
        assert_eq!(m.config.config.unwrap().cmd, Some(vec!["/bin/sh".to_string()]));

        // A tampered config no longer matches the digest the manifest names.
        let mut docs = docs;
        docs[2].1 = config.replace("A=1", "A=2");
        let err = read_manifest(&scanned(&docs)).unwrap_err();
        assert!(matches!(err, ImageError::Digest { .. }), "{err}");
    }

    /// Found by reading the code for the fuzz targets (a nested index with no entry made `swap_remove(0)` panic).
    #[test]
    fn a_nested_index_that_lists_nothing_is_an_error_not_a_panic() {
        let nested = r#"{"schemaVersion":2,"manifests":[]}"#.to_string();
        let index = format!(
            r#"{{"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:{}"}}]}}"#,
            sha(&nested)
        );
        let blob = format!("blobs/sha256/{}", sha(&nested));
        let err = read_manifest(&scanned(&[("index.json", index), (&blob, nested)])).unwrap_err();
        assert!(err.to_string().contains("the nested index lists no image"), "{err}");
    }

    #[test]
    fn a_docker_save_archive_names_its_image() {
        let l1 = "c".repeat(64);
        let config = format!(r#"{{"config":{{"Cmd":["sh"]}},"rootfs":{{"diff_ids":["sha256:{l1}"]}}}}"#);
        let cfg_name = format!("{}.json", sha(&config));
        let manifest = format!(r#"[{{"Config":"{cfg_name}","RepoTags":["busybox:1"],"Layers":["{l1}/layer.tar"]}}]"#);
        let m = read_manifest(&scanned(&[("manifest.json", manifest), (&cfg_name, config)])).unwrap();
        assert_eq!(m.name.as_deref(), Some("busybox:1"));
        assert_eq!(m.layers, vec![LayerRef { path: format!("{l1}/layer.tar"), digest: None, diff_id: l1 }]);
    }
}
