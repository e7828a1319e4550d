//! The documents of the OCI image spec and their Docker twins, as a registry serves them: an index (a
//! Docker "manifest list") points at one manifest per platform; a manifest names a config blob and the
//! layer blobs, bottom first; the config lists each layer's `diff_id` (sha256 of the uncompressed tar).
//!
//! Platform selection follows containerd and podman: entries for another OS or architecture are skipped,
//! and so are attestations (buildkit's `unknown/unknown` entries with `vnd.docker.reference.type`); a
//! variant given by `--platform` must match (arm64's `v8` is the default), one not given prefers the
//! entry without a variant.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::RegistryError;
use crate::image::store::ImageConfig;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Every manifest kind containy reads, for the `Accept` header (most preferred first).
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
                          application/vnd.docker.distribution.manifest.list.v2+json, \
                          application/vnd.docker.distribution.manifest.v2+json";

/// Layer media types containy can unpack (compression is told by the bytes, these say it is a tar).
const LAYER_TYPES: [&str; 5] = [
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
];

/// Manifests and indexes are small; a registry sending more is broken or hostile (containerd's cap too).
pub const MAX_MANIFEST: u64 = 4 << 20;
/// Image configs carry the build history, still small.
pub const MAX_CONFIG: u64 = 8 << 20;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// `os/arch[/variant]`, as `--platform` takes it.
    pub fn parse(text: &str) -> Result<Platform, RegistryError> {
        let parts: Vec<&str> = text.split('/').collect();
        let ok = |s: &&str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(ok) {
            return Err(RegistryError::Usage(format!(
                "--platform {text:?}: use OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8"
            )));
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }

    /// The platform this machine runs, in OCI names.
    pub fn host() -> Platform {
        let (architecture, variant) = host_architecture();
        Platform { os: "linux".into(), architecture: architecture.into(), variant: variant.map(str::to_string) }
    }
}

/// `std::env::consts::ARCH` in the OCI image spec's names (Go's GOARCH).
pub fn host_architecture() -> (&'static str, Option<&'static str>) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "x86" => ("386", None),
        "aarch64" => ("arm64", None),
        "arm" => ("arm", Some("v7")),
        "powerpc64" => ("ppc64le", None),
        "riscv64" => ("riscv64", None),
        "s390x" => ("s390x", None),
        "loongarch64" => ("loong64", None),
        other => (other, None),
    }
}

/// An index or a manifest, told apart by their fields (`mediaType` is optional in OCI documents).
#[derive(Debug, Clone, Deserialize)]
pub struct Document {
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Option<Vec<Descriptor>>,
}

/// The image config fields a pull uses.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub config: Option<ImageConfig>,
    #[serde(default)]
    pub rootfs: Option<RootFs>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

pub fn is_layer_type(media_type: &str) -> bool {
    media_type.is_empty() || LAYER_TYPES.contains(&media_type)
}

/// `sha256:<64 hex>` → the hex; anything else is refused (containy verifies sha256 only).
pub fn sha256_hex(digest: &str) -> Option<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

fn is_attestation(d: &Descriptor) -> bool {
    d.annotations.contains_key("vnd.docker.reference.type")
        || d.platform.as_ref().is_some_and(|p| p.os == "unknown" || p.architecture == "unknown")
}

/// The variant an entry states, with arm64's implied `v8`.
fn variant_of(p: &Platform) -> Option<&str> {
    match (p.architecture.as_str(), p.variant.as_deref()) {
        ("arm64", None | Some("")) => Some("v8"),
        (_, Some("")) => None,
        (_, v) => v,
    }
}

/// Choose the manifest for `wanted` from an index's entries.
pub fn select(entries: &[Descriptor], wanted: &Platform) -> Result<Descriptor, Vec<String>> {
    let candidates: Vec<&Descriptor> = entries
        .iter()
        .filter(|d| !is_attestation(d))
        .filter(|d| d.platform.as_ref().is_some_and(|p| p.os == wanted.os && p.architecture == wanted.architecture))
        .collect();
    let chosen = match &wanted.variant {
        Some(v) => candidates.iter().find(|d| d.platform.as_ref().and_then(variant_of) == Some(v.as_str())),
        None => candidates
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| p.variant.as_deref().unwrap_or("").is_empty()))
            .or(candidates.first()),
    };
    chosen.map(|d| (*d).clone()).ok_or_else(|| {
        entries
            .iter()
            .filter(|d| !is_attestation(d))
            .map(|d| d.platform.as_ref().map_or("(no platform)".to_string(), Platform::to_string))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, arch: &str, variant: Option<&str>, digest: &str) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: digest.into(),
            platform: Some(Platform { os: os.into(), architecture: arch.into(), variant: variant.map(Into::into) }),
            ..Default::default()
        }
    }

    #[test]
    fn the_platform_is_chosen_and_attestations_skipped() {
        let mut attestation = entry("unknown", "unknown", None, "att");
        attestation.annotations.insert("vnd.docker.reference.type".into(), "attestation-manifest".into());
        let entries = vec![
            attestation,
            entry("linux", "arm", Some("v6"), "armv6"),
            entry("linux", "arm", Some("v7"), "armv7"),
            entry("linux", "arm64", Some("v8"), "arm64"),
            entry("linux", "amd64", None, "amd64"),
        ];
        let pick = |p: &str| select(&entries, &Platform::parse(p).unwrap()).map(|d| d.digest);
        assert_eq!(pick("linux/amd64").unwrap(), "amd64");
        assert_eq!(pick("linux/arm64").unwrap(), "arm64");
        assert_eq!(pick("linux/arm64/v8").unwrap(), "arm64");
        assert_eq!(pick("linux/arm/v7").unwrap(), "armv7");
        let available = pick("linux/s390x").unwrap_err();
        assert_eq!(available, ["linux/arm/v6", "linux/arm/v7", "linux/arm64/v8", "linux/amd64"]);
        assert!(Platform::parse("linux").is_err() && Platform::parse("linux/amd64/v1/x").is_err());
    }
}
