//! `containy image import`: a root filesystem tarball (`.tar`, `.tar.gz`, `.tar.zst`), a `docker save` archive
//! or an OCI image layout archive becomes an image in the store.
//!
//! A root filesystem is streamed: read → (progress) → decompress → sha256 → extract, in one pass, with no copy
//! of the archive anywhere; its sha256 (the layer's diff_id) is known only at the end, so the layer is
//! extracted into a tmp dir and published by `rename` under that digest — or dropped if the store has it
//! already. An image archive is read in two passes (see `archive.rs`) from the file itself when it is a plain
//! tar file, or from a spooled copy when it comes compressed or through a pipe. Its layers already in the
//! store are not even read. The format is told by the bytes (compression magic, then the first tar entry's
//! name), never by the file name.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use super::archive::{self, Manifest};
use super::extract::{ExtractStats, Options, extract_with};
use super::progress::Progress;
use super::store::{ImageConfig, ImageRecord, Store, store_error};
use super::{BUF_SIZE, Hashing, ImageError, decompressed};

/// What an import did.
#[derive(Debug, Clone)]
pub struct Imported {
    pub id: String,
    pub name: String,
    pub layers: usize,
    /// Layers unpacked by this import (the others were in the store already).
    pub new_layers: usize,
    pub stats: ExtractStats,
}

/// Import `input` (`-`: standard input) as `name` (default: the archive's own name, or the file's stem).
pub fn import(store: &Store, name: Option<&str>, input: &Path) -> Result<Imported, ImageError> {
    let _lock = store.lock(true)?;
    let stdin = input.as_os_str() == "-";
    let (source, size): (Box<dyn Read>, Option<u64>) = if stdin {
        (Box::new(io::stdin().lock()), None)
    } else {
        let file = File::open(input).map_err(|source| ImageError::Open { path: input.to_path_buf(), source })?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    let label = if stdin { "stdin".to_string() } else { input.display().to_string() };
    let mut progress = Progress::new(source, size, &format!("import {label}"));
    let corrupt =
        |source| ImageError::Tarball { tarball: input.to_path_buf(), source: Box::new(ImageError::Corrupt { source }) };

    let mut buffered = BufReader::with_capacity(BUF_SIZE, &mut progress);
    let compressed = {
        let head = io::BufRead::fill_buf(&mut buffered).map_err(corrupt)?;
        head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
    };
    let mut stream = decompressed(buffered).map_err(corrupt)?;
    let head = read_head(&mut stream).map_err(corrupt)?;
    let first = first_entry_name(&head);
    crate::explain!(
        format!("import {label}"),
        format!("first tar entry {first:?}{}", if compressed { ", compressed" } else { "" }),
        "the bytes tell a root filesystem from an image archive (oci-layout, index.json, manifest.json, blobs/)"
    );
    if !archive::looks_like_image_archive(&first) {
        let name = match name {
            Some(n) => n.to_string(),
            None => stem(input).ok_or_else(|| {
                ImageError::Usage("give the image a name: containy image import NAME[:TAG] -".to_string())
            })?,
        };
        let result = import_rootfs(store, &name, Cursor::new(head).chain(stream));
        progress.finish();
        return result.map_err(|e| ImageError::Tarball { tarball: input.to_path_buf(), source: Box::new(e) });
    }

    // An image archive: it must be read twice, so it must be a seekable plain tar file.
    let spool;
    let file = if !stdin && !compressed {
        drop(stream);
        File::open(input).map_err(|source| ImageError::Open { path: input.to_path_buf(), source })?
    } else {
        spool = store.tmp_dir()?;
        let path = spool.path.join("archive.tar");
        let mut out = File::options()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(store_error(&path, "create"))?;
        io::copy(&mut Cursor::new(head).chain(stream), &mut out).map_err(corrupt)?;
        out.seek(SeekFrom::Start(0)).map_err(store_error(&path, "seek"))?;
        crate::fault::at("import.4")?;
        out
    };
    progress.finish();
    let in_archive = |e| ImageError::Tarball { tarball: input.to_path_buf(), source: Box::new(e) };
    let scanned = archive::scan(&file).map_err(in_archive)?;
    let manifest = archive::read_manifest(&scanned).map_err(in_archive)?;
    let name = match (name, &manifest.name) {
        (Some(n), _) => n.to_string(),
        (None, Some(n)) => n.clone(),
        (None, None) => stem(input).ok_or_else(|| {
            ImageError::Usage("the archive names no image: give one, containy image import NAME[:TAG] FILE".to_string())
        })?,
    };
    import_layers(store, &name, &file, &scanned, manifest).map_err(in_archive)
}

/// Up to one tar header (512 bytes) of the decompressed stream, to look at the first entry's name.
fn read_head(stream: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut head = vec![0; 512];
    let mut filled = 0;
    while filled < head.len() {
        match stream.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(filled);
    Ok(head)
}

fn first_entry_name(head: &[u8]) -> String {
    let name = &head[..head.len().min(100)];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    String::from_utf8_lossy(&name[..end]).into_owned()
}

/// `debian.tar.gz` → `debian`.
fn stem(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    let stem = file.split('.').next()?.to_ascii_lowercase();
    (!stem.is_empty() && path.as_os_str() != "-").then_some(stem)
}

/// One streaming pass: hash and extract into a tmp dir, publish it under its diff_id.
fn import_rootfs(store: &Store, name: &str, stream: impl Read) -> Result<Imported, ImageError> {
    let tmp = store.tmp_dir()?;
    let diff = make_diff_dir(&tmp.path)?;
    crate::fault::at("import.1")?;
    let mut hashing = Hashing::new(stream);
    let stats = extract_with(&mut hashing, &diff, Options::default())?;
    // Past the end marker: padding, and for gzip the trailer whose CRC check catches a corrupt tail.
    io::copy(&mut hashing, &mut io::sink()).map_err(|source| ImageError::Corrupt { source })?;
    let diff_id = hashing.hex();
    let new = !store.has_layer(&diff_id);
    crate::fault::at("import.2")?;
    store.publish_layer(tmp, &diff_id)?;
    crate::fault::at("import.3")?;
    let record = ImageRecord {
        layers: vec![diff_id],
        config: ImageConfig {
            env: Some(vec![crate::plan::DEFAULT_PATH.to_string()]),
            cmd: Some(vec!["/bin/sh".to_string()]),
            ..ImageConfig::default()
        },
        architecture: "amd64".into(),
        os: "linux".into(),
        created: super::store::now_rfc3339(),
        ..ImageRecord::default()
    };
    let id = store.add_image(&record, Some(name))?;
    Ok(Imported { id, name: name.to_string(), layers: 1, new_layers: usize::from(new), stats })
}

pub(crate) fn make_diff_dir(tmp: &Path) -> Result<std::path::PathBuf, ImageError> {
    use std::os::unix::fs::DirBuilderExt;
    let diff = tmp.join("diff");
    // The container sees the bottom layer's root as `/`: the usual 0755, whatever the umask.
    std::fs::DirBuilder::new().mode(0o755).create(&diff).map_err(store_error(&diff, "mkdir"))?;
    std::fs::set_permissions(&diff, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(store_error(&diff, "chmod"))?;
    Ok(diff)
}

/// Pass two: each layer not yet in the store is read from its place in the archive, verified and published.
fn import_layers(
    store: &Store,
    name: &str,
    file: &File,
    scanned: &archive::Scanned,
    manifest: Manifest,
) -> Result<Imported, ImageError> {
    let mut stats = ExtractStats::default();
    let mut new_layers = 0;
    let count = manifest.layers.len();
    for (i, layer) in manifest.layers.iter().enumerate() {
        if store.has_layer(&layer.diff_id) {
            crate::explain!(
                format!("layer {}/{count} already stored", i + 1),
                format!("stat {}", store.layer_dir(&layer.diff_id).display()),
                "layers are stored by the digest of their content, so one that is there is not read again"
            );
            continue;
        }
        let located = *scanned.entries.get(&layer.path).ok_or_else(|| ImageError::Format {
            what: layer.path.clone(),
            message: "missing from the archive".into(),
        })?;
        let mut reader = file;
        reader.seek(SeekFrom::Start(located.offset)).map_err(|source| ImageError::Corrupt { source })?;
        let progress =
            Progress::new(reader.take(located.size), Some(located.size), &format!("layer {}/{count}", i + 1));
        let mut compressed = Hashing::new(progress);
        let tmp = store.tmp_dir()?;
        let diff = make_diff_dir(&tmp.path)?;
        crate::fault::at("import.1")?;
        let diff_id = {
            let stream = decompressed(BufReader::with_capacity(BUF_SIZE, &mut compressed))
                .map_err(|source| ImageError::Corrupt { source })?;
            let mut uncompressed = Hashing::new(stream);
            let s = extract_with(&mut uncompressed, &diff, Options { layer: true })?;
            io::copy(&mut uncompressed, &mut io::sink()).map_err(|source| ImageError::Corrupt { source })?;
            add(&mut stats, s);
            uncompressed.hex()
        };
        io::copy(&mut compressed, &mut io::sink()).map_err(|source| ImageError::Corrupt { source })?;
        compressed.inner.finish();
        if let Some(digest) = &layer.digest {
            let expected = digest.strip_prefix("sha256:").unwrap_or(digest);
            let actual = compressed.hex();
            if actual != expected {
                return Err(ImageError::Digest { what: layer.path.clone(), expected: expected.into(), actual });
            }
        }
        if diff_id != layer.diff_id {
            return Err(ImageError::Digest {
                what: format!("{} (uncompressed, the config's diff_id)", layer.path),
                expected: layer.diff_id.clone(),
                actual: diff_id,
            });
        }
        crate::fault::at("import.2")?;
        store.publish_layer(tmp, &diff_id)?;
        new_layers += 1;
    }
    crate::fault::at("import.3")?;
    let record = ImageRecord {
        layers: manifest.layers.iter().map(|l| l.diff_id.clone()).collect(),
        config: manifest.config.config.unwrap_or_default(),
        architecture: manifest.config.architecture,
        os: manifest.config.os,
        created: super::store::now_rfc3339(),
        ..ImageRecord::default()
    };
    let id = store.add_image(&record, Some(name))?;
    Ok(Imported { id, name: name.to_string(), layers: count, new_layers, stats })
}

fn add(total: &mut ExtractStats, s: ExtractStats) {
    total.files += s.files;
    total.dirs += s.dirs;
    total.symlinks += s.symlinks;
    total.hardlinks += s.hardlinks;
    total.skipped += s.skipped;
    total.bytes += s.bytes;
}
