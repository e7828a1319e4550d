//! Helpers shared by the fuzz targets: a scratch directory on tmpfs for the targets that write (extraction,
//! import, volumes), and the image-layout builder of `image_layout`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_scratch() {
    if let Some(dir) = SCRATCH.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// This process's scratch directory: `$CONTAINY_FUZZ_TMP` (default `/dev/shm`, a tmpfs: extraction stays in
/// memory) `/containy-fuzz-<pid>`, removed when the fuzzer exits normally (`make fuzz` removes what a crash
/// leaves).
pub fn scratch() -> &'static Path {
    SCRATCH.get_or_init(|| {
        let base = std::env::var_os("CONTAINY_FUZZ_TMP")
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .or_else(|| Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir()))
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("containy-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create the fuzz scratch directory");
        // SAFETY: registers a plain extern "C" function with no arguments; it only reads a OnceLock.
        unsafe { libc::atexit(remove_scratch) };
        dir
    })
}

/// A fresh, empty directory `name` under the scratch directory (whatever an earlier input left is removed).
pub fn fresh(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("cannot create a fuzz directory");
    dir
}

/// The separator between the documents of an `image_layout` input.
pub const SEPARATOR: &[u8] = b"\n--\n";

/// Build an image archive from documents, so the fuzzer gets past the digests that chain them: the input is
/// documents split by [`SEPARATOR`]; document 0 is `manifest.json` (docker save) when it starts with `[`, else
/// `index.json` (an OCI layout, with `oci-layout`); every later document `i` is stored as
/// `blobs/sha256/<its sha256>`. In a document, `@i` becomes `sha256:<hex of document i>` and `#i` the bare hex,
/// for every `i` after it (documents are finished from the last to the first, so references form no cycle).
pub fn layout_archive(data: &[u8]) -> Vec<u8> {
    let mut docs: Vec<Vec<u8>> = split(data).into_iter().take(10).map(<[u8]>::to_vec).collect();
    let mut hexes: Vec<String> = vec![String::new(); docs.len()];
    for i in (0..docs.len()).rev() {
        let doc = substitute(&docs[i], i, &hexes);
        hexes[i] = Sha256::digest(&doc).iter().map(|b| format!("{b:02x}")).collect();
        docs[i] = doc;
    }
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |name: &str, body: &[u8]| {
        let mut header = tar::Header::new_ustar();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        let _ = builder.append_data(&mut header, name, body);
    };
    match docs.first() {
        Some(first) if first.starts_with(b"[") => add("manifest.json", first),
        Some(first) => {
            add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
            add("index.json", first);
        }
        None => {}
    }
    for (doc, hex) in docs.iter().zip(&hexes).skip(1) {
        add(&format!("blobs/sha256/{hex}"), doc);
    }
    builder.into_inner().unwrap_or_default()
}

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        out.push(&rest[..at]);
        rest = &rest[at + SEPARATOR.len()..];
    }
    out.push(rest);
    out
}

/// `@j` / `#j` (j a digit naming a later document) replaced by that document's digest.
fn substitute(doc: &[u8], own: usize, hexes: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(doc.len());
    let mut i = 0;
    while i < doc.len() {
        let c = doc[i];
        if (c == b'@' || c == b'#') && i + 1 < doc.len() && doc[i + 1].is_ascii_digit() {
            let j = usize::from(doc[i + 1] - b'0');
            if j > own && j < hexes.len() {
                if c == b'@' {
                    out.extend_from_slice(b"sha256:");
                }
                out.extend_from_slice(hexes[j].as_bytes());
                i += 2;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}
