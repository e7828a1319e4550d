//! `containy image export`: an image from the store as an OCI image layout in one tar archive
//! (`oci-layout`, `index.json`, `blobs/sha256/…`), the format `podman load` and `skopeo` read.
//!
//! Layers are kept unpacked, so each is written again as a tar (whiteouts back in `.wh.` form, see
//! `whiteout.rs`) into a tmp file while it is hashed: a blob's name is its digest, which must be known before
//! its tar header is written. Layers go uncompressed (`application/vnd.oci.image.layer.v1.tar`), so the
//! blob digest is also the config's diff_id. The config is written anew from the image record.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

use serde_json::json;
use sha2::{Digest, Sha256};

use super::store::{Store, store_error};
use super::whiteout::write_layer_tar;
use super::{ImageError, hex};

/// Writes through to `inner`, hashing and counting what passes (export and registry push both need a blob's
/// digest and size as it is written).
pub(crate) struct HashingWriter<W> {
    pub inner: W,
    pub hasher: Sha256,
    pub size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Write image `reference` to `out` as an OCI image-layout tar archive.
pub fn export<W: Write>(store: &Store, reference: &str, out: W) -> Result<(), ImageError> {
    let _lock = store.lock(true)?;
    let image = store.find(reference)?;
    let name = store
        .index()?
        .into_iter()
        .find(|(n, id)| *id == image.id && (n.as_str() == reference || n.starts_with(&format!("{reference}:"))))
        .map(|(n, _)| n);
    let tmp = store.tmp_dir()?;
    let mut layers = Vec::new();
    for (i, id) in image.record.layers.iter().enumerate() {
        let path = tmp.path.join(format!("layer-{i}.tar"));
        let file = File::options()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(store_error(&path, "create"))?;
        let writer = HashingWriter { inner: io::BufWriter::new(file), hasher: Sha256::new(), size: 0 };
        let mut writer =
            write_layer_tar(&store.layer_dir(id), writer).map_err(store_error(&store.layer_dir(id), "read layer"))?;
        writer.flush().map_err(store_error(&path, "write"))?;
        let digest = hex(&writer.hasher.clone().finalize());
        let mut file = writer.inner.into_inner().map_err(|e| store_error(&path, "write")(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(store_error(&path, "seek"))?;
        layers.push((digest, writer.size, file));
    }
    let diff_ids: Vec<String> = layers.iter().map(|(d, _, _)| format!("sha256:{d}")).collect();
    let config = json!({
        "created": image.record.created,
        "architecture": if image.record.architecture.is_empty() { "amd64" } else { &image.record.architecture },
        "os": if image.record.os.is_empty() { "linux" } else { &image.record.os },
        "config": image.record.config,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    let config = serde_json::to_vec(&config)
        .map_err(|e| ImageError::Format { what: "config".into(), message: e.to_string() })?;
    let config_digest = hex(&Sha256::digest(&config));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config_digest}"), "size": config.len() },
        "layers": layers.iter().map(|(d, size, _)| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{d}"), "size": size,
        })).collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec(&manifest)
        .map_err(|e| ImageError::Format { what: "manifest".into(), message: e.to_string() })?;
    let manifest_digest = hex(&Sha256::digest(&manifest));
    let mut descriptor = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{manifest_digest}"),
        "size": manifest.len(),
    });
    if let Some(name) = &name {
        descriptor["annotations"] = json!({ "org.opencontainers.image.ref.name": name });
    }
    let index = serde_json::to_vec(&json!({ "schemaVersion": 2, "manifests": [descriptor] }))
        .map_err(|e| ImageError::Format { what: "index".into(), message: e.to_string() })?;

    crate::explain!(
        format!("export {reference}"),
        "tar: oci-layout, index.json, blobs/sha256/<manifest, config, layers>",
        "an OCI image layout: every blob is named by its sha256, so the reader can verify all of it"
    );
    let failed = |e: io::Error| ImageError::Store { path: "export output".into(), op: "write", source: e };
    let mut b = tar::Builder::new(out);
    let add = |b: &mut tar::Builder<W>, path: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, data)
    };
    add(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(failed)?;
    add(&mut b, "index.json", &index).map_err(failed)?;
    add(&mut b, &format!("blobs/sha256/{manifest_digest}"), &manifest).map_err(failed)?;
    add(&mut b, &format!("blobs/sha256/{config_digest}"), &config).map_err(failed)?;
    for (digest, size, file) in layers {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(0o644);
        b.append_data(&mut h, format!("blobs/sha256/{digest}"), file).map_err(failed)?;
    }
    b.into_inner().and_then(|mut w| w.flush()).map_err(failed)?;
    Ok(())
}
