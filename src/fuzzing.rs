//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz, libFuzzer): one function per parser that takes
//! outside input, each calling the same code a user, a client, a registry or the other process reaches.
//!
//! Compiled only with the `fuzzing` feature (the fuzz crate turns it on), so neither the binary nor the run path
//! carries it. Every function takes untrusted bytes and must return — an `Err` is a good answer, a panic is a bug
//! the fuzzer reports. Functions that write (extraction, import, volumes) do so only under the directory the
//! target gives them, which it empties afterwards.

use std::io::Cursor;
use std::path::Path;

use crate::engine::{Engine, request};
use crate::image::registry::{auth, manifest, reference::Reference};

/// `configy.toml` (`json == false`) or `configy.json`, parsed and lowered to a Plan.
pub fn friendly_config(text: &str, json: bool) {
    let format = if json { crate::config::Format::Json } else { crate::config::Format::Toml };
    let label = Path::new(if json { "configy.json" } else { "configy.toml" });
    let _ = crate::config::parse_str(text, format, label, Path::new("/bundle"));
}

/// An OCI `config.json`, and the same text as the fragments engines hand over (`exec --process`,
/// `update --resources`).
pub fn oci_config(text: &str) {
    let label = Path::new("config.json");
    let _ = crate::oci::parse_str(text, label, Path::new("/bundle"));
    let _ = crate::oci::parse_resources(text, label);
}

/// A Containyfile.
pub fn containyfile(text: &str) {
    let _ = crate::image::build::parse::parse(text);
}

/// A tar stream extracted into `target` (an existing, empty directory), as a root filesystem or as a layer.
pub fn extract(data: &[u8], target: &Path, layer: bool) {
    let _ = crate::image::extract_with(data, target, crate::image::Options { layer });
}

/// An image archive's first pass and its manifest (docker save `manifest.json` or OCI `index.json`).
pub fn image_archive(data: &[u8]) {
    if let Ok(scanned) = crate::image::archive::scan(Cursor::new(data)) {
        let _ = crate::image::archive::read_manifest(&scanned);
    }
}

/// `containy image import` of the file `input` into a store at `store` (a root filesystem tarball, compressed or
/// not, a docker save archive or an OCI layout archive): detection, both passes, every layer extracted.
pub fn import(input: &Path, store: &Path) {
    if let Ok(store) = crate::image::Store::open(store) {
        let _ = crate::image::import(&store, Some("fuzz:latest"), input);
    }
}

/// What a registry sends: a manifest or index (platform chosen as a pull does), an image config, and the text of
/// headers and names (`WWW-Authenticate`, references, `--platform`).
pub fn registry(data: &[u8]) {
    if let Ok(doc) = crate::image::registry::parse_document(data, "sha256:fuzz") {
        if let Some(entries) = &doc.manifests {
            let _ = manifest::select(entries, &manifest::Platform::host());
            if let Ok(wanted) = manifest::Platform::parse("linux/arm64/v8") {
                let _ = manifest::select(entries, &wanted);
            }
        }
        for d in doc.config.iter().chain(doc.layers.iter().flatten()) {
            let _ = manifest::sha256_hex(&d.digest);
            let _ = manifest::is_layer_type(&d.media_type);
        }
    }
    if let Ok(config) = serde_json::from_slice::<manifest::Config>(data) {
        for d in config.rootfs.iter().flat_map(|r| &r.diff_ids) {
            let _ = manifest::sha256_hex(d);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = auth::parse_challenge(text);
        if let Ok(r) = Reference::parse(text) {
            let _ = (r.name(), r.store_name(), r.to_string());
        }
        let _ = manifest::Platform::parse(text);
    }
}

/// `POST /containers/create`: the body as the API parses it, checked, written as a friendly config and lowered
/// (everything `make_plan` does but finding the image). Named volumes are made under `store`.
pub fn api_create(body: &[u8], store: &Path) {
    let Ok(req) = request::parse(body) else { return };
    if req.check().is_err() {
        return;
    }
    let engine = Engine {
        state_root: store.join("state"),
        store: store.to_path_buf(),
        base_cache: store.join("cache"),
        exe: "/bin/false".into(),
        default_network: "none".into(),
    };
    let Ok(config) = crate::engine::plan::friendly_config(&engine, "0123456789abcdef0123", &req) else { return };
    let text = config.to_string();
    let _ = crate::config::parse_str(&text, crate::config::Format::Json, Path::new("<request>"), Path::new("/"));
}

/// `POST /exec/{id}/..` and the other JSON bodies the API reads whole.
pub fn api_exec(body: &[u8]) {
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = serde_path_to_error::deserialize::<_, crate::engine::exec::ExecRequest>(&mut de);
}

/// A request target (`/v1.41/containers/json?all=1&filters=…`): the version prefix, the query decoded, and the
/// values handlers parse from it (filters, signals, numbers).
pub fn api_query(target: &str) {
    let Ok(uri) = target.parse::<hyper::Uri>() else { return };
    let _ = crate::api::router::strip_version(uri.path());
    let q = crate::api::body::query(&uri);
    use crate::api::body::{flag, param};
    let _ = (flag(&q, "all"), flag(&q, "force"), param(&q, "name"));
    if let Some(f) = param(&q, "filters") {
        let _ = serde_json::from_str::<std::collections::BTreeMap<String, serde_json::Value>>(f);
    }
    if let Some(s) = param(&q, "signal") {
        let _ = crate::engine::ops::parse_signal(s);
    }
    let _ = param(&q, "t").map(|t| t.parse::<i64>());
    let _ = param(&q, "since").map(|t| t.parse::<f64>());
}

/// One message over a real `SOCK_SEQPACKET` pair, as the child (or exec's middle process) would send it.
pub fn sync_message(data: &[u8]) {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    // The socket's send buffer bounds a datagram; `recv_message` reads up to 64 KiB.
    let data = &data[..data.len().min(60 * 1024)];
    let Ok((a, b)) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC) else {
        return;
    };
    if data.is_empty()
        || nix::sys::socket::send(std::os::fd::AsRawFd::as_raw_fd(&a), data, nix::sys::socket::MsgFlags::empty())
            .is_err()
    {
        return;
    }
    let _ = crate::runtime::sync::recv_message(&b);
}
