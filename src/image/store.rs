//! The image store: content-addressed layers, image records and a `name:tag` index, on disk.
//!
//! Layout under the store directory (`/var/lib/containy` as root; every directory `0700`, because layers keep
//! their setuid files and device-like whiteouts, which must not be reachable from the host):
//! - `layers/<id>/diff/` — one unpacked layer in overlay form (whiteouts are `0:0` character devices, opaque
//!   directories carry `trusted.overlay.opaque=y`), used as is as an overlay `lowerdir`. `<id>` is the layer's
//!   diff_id (sha256 of its uncompressed tar) for imports, and the build-cache key for built layers. A layer is
//!   unpacked once, whatever number of images and containers use it.
//! - `images/<id>.json` — an image: its layer ids (bottom first) and its config; `<id>` = sha256 of the file.
//! - `index.json` — `name:tag` → image id.
//! - `tmp/<pid>-<nanos>/` — work in progress. Everything is built there and published with one `rename(2)`, the
//!   commit point: a `kill -9` or a full disk at any moment leaves a tmp dir (removed by the next writer once
//!   its pid is gone), never a half layer where a container could use it. Records and the index are written
//!   here too (`<pid>-<nanos>.<name>`) before their rename. A tmp dir holding `run-container.json` is a build
//!   step's, whose container must be deleted before the dir (`build::reap_orphans`).
//! - `empty/` — an empty lower dir for images with no layer (`FROM scratch`).
//!
//! Two locks (`flock(2)`): `lock` is held shared by every import and build for their whole run and exclusive
//! by `rm`/`prune`, so a prune never deletes a layer an import has published but not yet referenced (and
//! shared by a container from its layer check until its overlay is mounted, [`hold_layers`]);
//! `index.lock` serialises the read-modify-write of `index.json`. Records and the index are written to a temp
//! file, `fsync`ed, renamed, and the directory `fsync`ed: after a crash the index names only complete images.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, File};
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ImageError;

/// A tmp dir holding this file is the work dir of a build's RUN step, and the file names its container: the
/// dir is left to `build::reap_orphans`, which deletes the container first.
pub const RUN_RECORD: &str = "run-container.json";

/// The store's default directory when running as root.
pub const DEFAULT_STORE: &str = "/var/lib/containy";

/// The parts of an image's OCI config a container is made from (`config` in the OCI image config).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// One image as the store keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Layer ids, bottom first (the OCI order).
    pub layers: Vec<String>,
    pub config: ImageConfig,
    pub architecture: String,
    pub os: String,
    /// RFC 3339, when the image was imported or built.
    pub created: String,
    /// A pulled image: the digest of the manifest it came from (`sha256:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The architecture's variant (`v7` for arm), when the image states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image found in the store.
#[derive(Debug, Clone)]
pub struct Image {
    pub id: String,
    pub record: ImageRecord,
}

/// The store directory, opened (created if missing).
#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

/// Work in progress under `tmp/`; removed when dropped unless it was published.
pub struct TmpDir {
    pub path: PathBuf,
    published: bool,
}

impl TmpDir {
    pub fn keep(mut self) {
        self.published = true;
    }

    /// Move the directory's ownership out of `self` (which then removes nothing when dropped).
    pub fn take(&mut self) -> TmpDir {
        let published = std::mem::replace(&mut self.published, true);
        TmpDir { path: self.path.clone(), published }
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        if !self.published {
            // remove_dir_all does not follow symlinks: the layer's own links are harmless here.
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

pub(crate) fn store_error<'a>(path: &'a Path, op: &'static str) -> impl Fn(io::Error) -> ImageError + 'a {
    move |source| ImageError::Store { path: path.to_path_buf(), op, source }
}

impl Store {
    /// Open the store at `root`, creating its directories, and clear tmp dirs whose writer is gone.
    pub fn open(root: &Path) -> Result<Store, ImageError> {
        let root = std::path::absolute(root).map_err(store_error(root, "resolve"))?;
        fs::create_dir_all(&root).map_err(store_error(&root, "mkdir"))?;
        let store = Store { root };
        for dir in ["layers", "images", "tmp"] {
            let dir = store.root.join(dir);
            super::private_dir(&dir).map_err(|(op, e)| store_error(&dir, op)(e))?;
        }
        let empty = store.root.join("empty");
        match DirBuilder::new().mode(0o755).create(&empty) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(store_error(&empty, "mkdir")(e)),
            _ => {}
        }
        store.remove_dead_tmp();
        Ok(store)
    }

    pub fn layer_dir(&self, id: &str) -> PathBuf {
        self.root.join("layers").join(id).join("diff")
    }

    pub fn has_layer(&self, id: &str) -> bool {
        self.layer_dir(id).is_dir()
    }

    /// Lock for an import or build (`shared`) or for `rm`/`prune` (exclusive). Released when dropped.
    pub fn lock(&self, shared: bool) -> Result<Flock<File>, ImageError> {
        let path = self.root.join("lock");
        let file = File::options().create(true).append(true).open(&path).map_err(store_error(&path, "open"))?;
        let arg = if shared { FlockArg::LockShared } else { FlockArg::LockExclusive };
        Flock::lock(file, arg).map_err(|(_, errno)| store_error(&path, "flock")(errno.into()))
    }

    /// A fresh directory under `tmp/`, named after this process so a later run can tell when it is orphaned.
    pub fn tmp_dir(&self) -> Result<TmpDir, ImageError> {
        let path = self.root.join("tmp").join(unique());
        DirBuilder::new().mode(0o700).create(&path).map_err(store_error(&path, "mkdir"))?;
        Ok(TmpDir { path, published: false })
    }

    /// Publish `tmp` (holding `diff/`) as layer `id`. If the layer is already there (another import of the
    /// same content won), ours is dropped: a layer is stored once.
    pub fn publish_layer(&self, tmp: TmpDir, id: &str) -> Result<PathBuf, ImageError> {
        let dest = self.root.join("layers").join(id);
        crate::explain!(
            format!("publish layer {}", &id[..12.min(id.len())]),
            format!("rename(2) {} -> {}", tmp.path.display(), dest.display()),
            "atomic: a container sees either no layer or a complete one, never a half-unpacked tree"
        );
        match fs::rename(&tmp.path, &dest) {
            Ok(()) => tmp.keep(),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => {
                if !dest.join("diff").is_dir() {
                    // Damaged by hand: move it aside and publish ours.
                    let aside = self.root.join("tmp").join(format!("{}-damaged", unique()));
                    fs::rename(&dest, &aside).map_err(store_error(&dest, "move aside the damaged layer"))?;
                    let _ = fs::remove_dir_all(&aside);
                    fs::rename(&tmp.path, &dest).map_err(store_error(&dest, "rename"))?;
                    tmp.keep();
                }
            }
            Err(e) => return Err(store_error(&dest, "rename")(e)),
        }
        Ok(dest.join("diff"))
    }

    /// Write an image record (content-addressed, so writing it twice is harmless) and point `name` at it.
    pub fn add_image(&self, record: &ImageRecord, name: Option<&str>) -> Result<String, ImageError> {
        for layer in &record.layers {
            if !self.has_layer(layer) {
                return Err(ImageError::Missing { what: format!("layer {layer}") });
            }
        }
        let json = serde_json::to_vec_pretty(record)
            .map_err(|e| ImageError::Format { what: "image record".into(), message: e.to_string() })?;
        let id = super::hex(&Sha256::digest(&json));
        let path = self.root.join("images").join(format!("{id}.json"));
        if !path.exists() {
            self.write_durably(&path, &json)?;
        }
        crate::fault::at("store.2")?;
        if let Some(name) = name {
            let name = normalise_name(name)?;
            self.update_index(|index| {
                index.insert(name.clone(), id.clone());
            })?;
        }
        Ok(id)
    }

    /// `name:tag` → image id, the whole index.
    pub fn index(&self) -> Result<BTreeMap<String, String>, ImageError> {
        let path = self.root.join("index.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ImageError::Format { what: path.display().to_string(), message: e.to_string() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(store_error(&path, "read")(e)),
        }
    }

    fn update_index(&self, change: impl FnOnce(&mut BTreeMap<String, String>)) -> Result<(), ImageError> {
        let lock_path = self.root.join("index.lock");
        let file =
            File::options().create(true).append(true).open(&lock_path).map_err(store_error(&lock_path, "open"))?;
        let _lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| store_error(&lock_path, "flock")(errno.into()))?;
        let mut index = self.index()?;
        change(&mut index);
        let json = serde_json::to_vec_pretty(&index)
            .map_err(|e| ImageError::Format { what: "index".into(), message: e.to_string() })?;
        self.write_durably(&self.root.join("index.json"), &json)
    }

    /// temp + `fsync` + `rename` + `fsync` of the directory: after a crash the file is the old one or the new
    /// one. The temp file is made in `tmp/`, named after this process like the tmp dirs, so one left by a
    /// writer that was killed is removed with them (in the file's own directory nothing would ever see it).
    pub(crate) fn write_durably(&self, path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = self.root.join("tmp").join(format!("{}.{name}", unique()));
        let result = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            crate::fault::at("store.1").map_err(io::Error::other)?;
            fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        })();
        result.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            store_error(path, "write")(e)
        })
    }

    /// Find an image by `name[:tag]` (`:latest` when no tag), by full id or by an id prefix of 12+ digits.
    pub fn find(&self, reference: &str) -> Result<Image, ImageError> {
        let index = self.index()?;
        let by_name = normalise_name(reference).ok().and_then(|n| index.get(&n).cloned());
        let id = match by_name {
            Some(id) => id,
            None => {
                let prefix = reference.strip_prefix("sha256:").unwrap_or(reference);
                let candidates: Vec<String> = if prefix.len() >= 12 && prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
                    self.image_ids()?.into_iter().filter(|id| id.starts_with(prefix)).collect()
                } else {
                    Vec::new()
                };
                match candidates.as_slice() {
                    [one] => one.clone(),
                    _ => return Err(ImageError::NoImage { name: reference.to_string(), store: self.root.clone() }),
                }
            }
        };
        // Removed (by `image rm`) between the index read and now: the image is not there.
        let record = self.record(&id).map_err(|e| match e {
            ImageError::Store { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                ImageError::NoImage { name: reference.to_string(), store: self.root.clone() }
            }
            e => e,
        })?;
        Ok(Image { id, record })
    }

    pub fn record(&self, id: &str) -> Result<ImageRecord, ImageError> {
        let path = self.root.join("images").join(format!("{id}.json"));
        let bytes = fs::read(&path).map_err(store_error(&path, "read"))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::Format { what: path.display().to_string(), message: e.to_string() })
    }

    pub fn image_ids(&self) -> Result<Vec<String>, ImageError> {
        let dir = self.root.join("images");
        let mut ids: Vec<String> = fs::read_dir(&dir)
            .map_err(store_error(&dir, "read_dir"))?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The overlay lower dirs of an image, top first (an image without layers gets the empty dir).
    pub fn lowerdirs(&self, image: &Image) -> Vec<PathBuf> {
        self.lowerdirs_of(&image.record.layers)
    }

    /// Layer ids (bottom first) as overlay lower dirs (top first). A layer listed twice (docker images repeat
    /// the empty layer) is kept only where it is topmost: overlay refuses a directory twice, and applying
    /// a layer again on top makes its lower occurrence invisible anyway.
    pub fn lowerdirs_of(&self, layers: &[String]) -> Vec<PathBuf> {
        if layers.is_empty() {
            return vec![self.root.join("empty")];
        }
        let mut seen = std::collections::HashSet::new();
        layers.iter().rev().filter(|id| seen.insert(id.as_str())).map(|id| self.layer_dir(id)).collect()
    }

    /// Untag `reference`; the image record goes when no other name points at it (its layers stay for
    /// `prune`). Returns the names removed.
    pub fn remove(&self, reference: &str) -> Result<Vec<String>, ImageError> {
        let _lock = self.lock(false)?;
        let image = self.find(reference)?;
        let mut removed = Vec::new();
        let by_name = normalise_name(reference).ok();
        self.update_index(|index| {
            // By name: that name only. By id: every name of the image.
            let names: Vec<String> = match by_name.filter(|n| index.contains_key(n)) {
                Some(n) => vec![n],
                None => index.iter().filter(|(_, id)| **id == image.id).map(|(n, _)| n.clone()).collect(),
            };
            for n in names {
                index.remove(&n);
                removed.push(n);
            }
        })?;
        if !self.index()?.values().any(|id| *id == image.id) {
            let path = self.root.join("images").join(format!("{}.json", image.id));
            fs::remove_file(&path).map_err(store_error(&path, "remove"))?;
        }
        Ok(removed)
    }

    /// Remove images no name points at, layers no image uses, and dead tmp dirs. Returns (images, layers).
    pub fn prune(&self) -> Result<(usize, usize), ImageError> {
        let _lock = self.lock(false)?;
        self.remove_dead_tmp();
        let index = self.index()?;
        let mut images = 0;
        let mut used = std::collections::HashSet::new();
        for id in self.image_ids()? {
            if index.values().any(|v| *v == id) {
                used.extend(self.record(&id)?.layers);
            } else {
                let path = self.root.join("images").join(format!("{id}.json"));
                fs::remove_file(&path).map_err(store_error(&path, "remove"))?;
                images += 1;
            }
        }
        // Layers a running container has mounted stay, even when no image names them any more.
        used.extend(self.layers_mounted());
        let mut layers = 0;
        let dir = self.root.join("layers");
        for entry in fs::read_dir(&dir).map_err(store_error(&dir, "read_dir"))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !used.contains(&name) {
                // Unpublish first (one rename), then delete at leisure: no reader sees a half-deleted layer.
                let aside = self.root.join("tmp").join(format!("{}-prune", unique()));
                fs::rename(entry.path(), &aside).map_err(store_error(&entry.path(), "rename"))?;
                crate::fault::at("store.3")?;
                fs::remove_dir_all(&aside).map_err(store_error(&aside, "remove"))?;
                layers += 1;
            }
        }
        Ok((images, layers))
    }

    /// Layers some overlay mount uses as a lower dir, in any mount namespace on the machine: each
    /// namespace's `/proc/<pid>/mountinfo` is read once.
    fn layers_mounted(&self) -> std::collections::HashSet<String> {
        use std::os::unix::fs::MetadataExt;
        let mut seen = std::collections::HashSet::new();
        let mut found = std::collections::HashSet::new();
        let layers = self.root.join("layers");
        let Ok(procs) = fs::read_dir("/proc") else {
            return found;
        };
        for p in procs.flatten() {
            let Ok(ns) = fs::metadata(p.path().join("ns/mnt")) else { continue };
            if !seen.insert(ns.ino()) {
                continue;
            }
            if let Ok(text) = fs::read_to_string(p.path().join("mountinfo")) {
                found.extend(layers_in_mountinfo(&text, &layers));
            }
        }
        found
    }

    /// A tmp dir belongs to a dead writer when the pid in its name no longer runs.
    fn remove_dead_tmp(&self) {
        let Ok(entries) = fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
            let dead = pid.is_none_or(|pid| !Path::new(&format!("/proc/{pid}")).exists());
            if dead && !entry.path().join(RUN_RECORD).exists() {
                crate::explain!(
                    "remove an orphaned tmp dir",
                    format!("rm -r {}", entry.path().display()),
                    "left by a containy that was killed while importing or building"
                );
                // A dir of work in progress, or a file (a record's temp file, see `write_durably`).
                let _ = fs::remove_dir_all(entry.path()).or_else(|_| fs::remove_file(entry.path()));
            }
        }
    }
}

/// For a container about to mount image layers (`lowerdirs`, as [`Store::lowerdirs`] gives them): the store's
/// lock, shared, held until its mounts exist. A `prune` (exclusive) then either ran before — the layers are
/// there or the container fails cleanly, naming the missing one — or runs after and finds them mounted. The
/// kernel releases it if the holder dies. `None`: not layers of a store (or no lock to take).
pub fn hold_layers(lowerdirs: &[PathBuf]) -> Option<Flock<File>> {
    let first = lowerdirs.first()?;
    let root = if first.file_name().is_some_and(|n| n == "empty") {
        first.parent()?
    } else {
        let layers = first.parent()?.parent()?;
        if layers.file_name().is_none_or(|n| n != "layers") {
            return None;
        }
        layers.parent()?
    };
    let file = File::options().append(true).open(root.join("lock")).ok()?;
    Flock::lock(file, FlockArg::LockShared).ok()
}

/// `busybox` → `busybox:latest`; names are lowercase letters, digits, `._-/` and one optional `:tag`, or
/// a pulled image's `name@sha256:<64 hex>`.
pub fn normalise_name(name: &str) -> Result<String, ImageError> {
    if let Some((repo, digest)) = name.split_once('@') {
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        let hex_ok = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let repo_ok =
            !repo.is_empty() && normalise_name(repo).is_ok() && !repo.rsplit('/').next().unwrap_or("").contains(':');
        if !hex_ok || !repo_ok {
            return Err(ImageError::BadName { name: name.to_string() });
        }
        return Ok(name.to_string());
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    let full = if last.contains(':') { name.to_string() } else { format!("{name}:latest") };
    let ok = |c: char| c.is_ascii_alphanumeric() || "._-/:".contains(c);
    let (repo, tag) = full.rsplit_once(':').unwrap_or((&full, ""));
    let bad_repo = repo.is_empty() || repo.contains("..") || repo.chars().any(|c| c.is_ascii_uppercase());
    if bad_repo || tag.is_empty() || !full.chars().all(ok) || tag.contains('/') {
        return Err(ImageError::BadName { name: name.to_string() });
    }
    Ok(full)
}

/// The ids of layers under `layers` named in the `lowerdir=` option of an overlay mount in `mountinfo`. A
/// lowerdir named relative to the store (many layers, see `rootfs::overlay_data`) is `<id>/diff`.
pub(crate) fn layers_in_mountinfo(mountinfo: &str, layers: &Path) -> Vec<String> {
    let prefix = format!("{}/", layers.display());
    let mut ids = Vec::new();
    for line in mountinfo.lines() {
        let Some((_, after)) = line.split_once(" - ") else { continue };
        let mut fields = after.split(' ');
        if fields.next() != Some("overlay") {
            continue;
        }
        let options = fields.nth(1).unwrap_or("");
        let Some(lower) = options.split(',').find_map(|o| o.strip_prefix("lowerdir=")) else { continue };
        for dir in lower.split(':') {
            let rel = dir.strip_prefix(&prefix).unwrap_or(dir);
            if let Some(id) = rel.strip_suffix("/diff").filter(|id| !id.contains('/')) {
                ids.push(id.to_string());
            }
        }
    }
    ids
}

pub use crate::clock::now_rfc3339;

pub(crate) fn unique() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(layers: &[&str]) -> ImageRecord {
        ImageRecord { layers: layers.iter().map(|s| s.to_string()).collect(), ..Default::default() }
    }

    fn add_layer(store: &Store, id: &str) {
        let tmp = store.tmp_dir().unwrap();
        fs::create_dir(tmp.path.join("diff")).unwrap();
        store.publish_layer(tmp, id).unwrap();
    }

    #[test]
    fn names_get_a_tag_and_bad_ones_are_refused() {
        assert_eq!(normalise_name("busybox").unwrap(), "busybox:latest");
        assert_eq!(normalise_name("debian:bookworm").unwrap(), "debian:bookworm");
        assert_eq!(normalise_name("localhost:5000/x").unwrap(), "localhost:5000/x:latest");
        let pinned = format!("localhost:5000/x@sha256:{}", "a".repeat(64));
        assert_eq!(normalise_name(&pinned).unwrap(), pinned);
        assert!(
            normalise_name("x@sha256:abc").is_err()
                && normalise_name(&format!("x:1@sha256:{}", "a".repeat(64))).is_err()
        );
        for bad in ["", ":x", "a b", "../x:1", "x\n:1", "A:1"] {
            assert!(normalise_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn images_are_found_by_name_and_id_and_pruned_when_untagged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for l in ["a1", "b2", "c3"] {
            add_layer(&store, l);
        }
        let one = store.add_image(&record(&["a1", "b2"]), Some("one")).unwrap();
        let two = store.add_image(&record(&["a1"]), Some("two:v1")).unwrap();
        assert_eq!(store.find("one").unwrap().id, one);
        assert_eq!(store.find("one:latest").unwrap().id, one);
        assert_eq!(store.find(&two[..12]).unwrap().record.layers, vec!["a1"]);
        assert!(store.find("three").unwrap_err().to_string().contains("three"));
        assert_eq!(store.lowerdirs(&store.find("one").unwrap())[0], store.layer_dir("b2"));
        let twice = store.lowerdirs_of(&["a1".into(), "b2".into(), "a1".into()]);
        assert_eq!(twice, [store.layer_dir("a1"), store.layer_dir("b2")]);
        // A missing layer cannot be referenced.
        assert!(store.add_image(&record(&["zz"]), Some("bad")).is_err());

        assert_eq!(store.remove("one").unwrap(), vec!["one:latest"]);
        assert!(store.find("one").is_err());
        assert_eq!(store.prune().unwrap(), (0, 2), "b2 and c3 are unused; a1 is two's");
        assert!(store.has_layer("a1") && !store.has_layer("b2"));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn layers_of_mounted_overlays_are_found_in_mountinfo() {
        let text = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
                    2 1 0:50 / /run/c/x/rootfs rw - overlay overlay rw,lowerdir=/s/layers/aa/diff:/s/layers/bb/diff,\
                    upperdir=/run/c/x/upper,workdir=/run/c/x/work\n\
                    3 1 0:51 / /other rw - overlay overlay rw,lowerdir=cc/diff:/elsewhere/dd,upperdir=/u,workdir=/w\n";
        assert_eq!(layers_in_mountinfo(text, Path::new("/s/layers")), ["aa", "bb", "cc"]);
    }

    #[test]
    fn a_layer_published_twice_is_stored_once_and_dead_tmp_dirs_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        add_layer(&store, "same");
        fs::write(store.layer_dir("same").join("first"), "1").unwrap();
        add_layer(&store, "same");
        assert!(store.layer_dir("same").join("first").exists(), "the first copy stays");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);

        fs::create_dir_all(dir.path().join("tmp/999999999-1/diff")).unwrap();
        let live = dir.path().join(format!("tmp/{}-1", std::process::id()));
        fs::create_dir_all(&live).unwrap();
        Store::open(dir.path()).unwrap();
        assert!(!dir.path().join("tmp/999999999-1").exists() && live.exists());
    }
}
