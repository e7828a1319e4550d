//! `/images/...`: list, inspect, tag, rm, load (`docker load`: the archive is streamed to a temp file and
//! imported by `image::import`), save (`image::export`), and create (`docker pull`, through containy's registry
//! client `image::registry`, on a blocking thread).

use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::body::{self, Reply, flag, param, query};
use super::router::{Req, blocking};
use crate::engine::{Engine, EngineError};
use crate::image::store::{Image, Store};

pub async fn route(engine: Arc<Engine>, req: Req, segs: &[&str]) -> Result<Reply, EngineError> {
    let q = query(req.uri());
    let method = req.method().clone();
    let e = engine.clone();
    // Image names may hold `/`: the action is the last segment.
    let (name, action) = match segs {
        [] => (String::new(), ""),
        [one] => (one.to_string(), ""),
        [rest @ .., last] => (rest.join("/"), *last),
    };
    match (&method, segs, action) {
        (&Method::GET, ["json"], _) => blocking(move || list(&e)).await,
        (&Method::POST, ["load"], _) => load(engine, req, flag(&q, "quiet")).await,
        (&Method::POST, ["create"], _) => {
            let image = param(&q, "fromImage").unwrap_or("").to_string();
            if image.is_empty() {
                return Err(EngineError::bad("fromImage: give the image to pull (fromSrc imports are not supported)"));
            }
            let tag = param(&q, "tag").filter(|t| !t.is_empty()).unwrap_or("latest");
            // A digest "tag" is docker's way of asking for image@sha256:…
            let reference =
                if tag.starts_with("sha256:") { format!("{image}@{tag}") } else { format!("{image}:{tag}") };
            let platform = param(&q, "platform").filter(|p| !p.is_empty()).map(str::to_string);
            blocking(move || pull(&e, &reference, platform.as_deref())).await
        }
        (&Method::GET, ["get"], _) => {
            let names: Vec<String> = q.iter().filter(|(k, _)| k == "names").map(|(_, v)| v.clone()).collect();
            save(engine, names).await
        }
        (&Method::GET, _, "json") => blocking(move || inspect(&e, &name)).await,
        (&Method::GET, _, "get") => save(engine, vec![name]).await,
        (&Method::POST, _, "tag") => {
            let repo = param(&q, "repo").unwrap_or("").to_string();
            let tag = param(&q, "tag").filter(|t| !t.is_empty()).unwrap_or("latest").to_string();
            blocking(move || tag_image(&e, &name, &repo, &tag)).await
        }
        (&Method::DELETE, _, _) => {
            let name = segs.join("/");
            blocking(move || remove(&e, &name)).await
        }
        _ => Err(EngineError::not_found("page not found")),
    }
}

/// `docker pull`: the image from its registry into the store, and docker's progress lines for the CLI. As dockerd
/// does, registries on the loopback (`localhost`, `127.0.0.0/8`) may be plain HTTP.
fn pull(engine: &Engine, reference: &str, platform: Option<&str>) -> Result<Reply, EngineError> {
    use crate::image::registry::{self, Platform, PullOptions, Reference};
    let parsed = Reference::parse(reference).map_err(|e| EngineError::bad(format!("fromImage: {e}")))?;
    let mut options = PullOptions::default();
    let host = parsed.registry.split(':').next().unwrap_or("");
    if host == "localhost" || host.starts_with("127.") {
        options.connection.insecure.push(parsed.registry.clone());
    }
    if let Some(platform) = platform {
        options.platform = Some(Platform::parse(platform).map_err(|e| EngineError::bad(format!("platform: {e}")))?);
    }
    let store = store(engine)?;
    let pulled = registry::pull(&store, reference, &options, &|_| {})
        .map_err(|e| EngineError::new(pull_error_kind(&e), crate::error::chain(&e)))?;
    let lines = [
        json!({"status": format!("Pulling from {}", parsed.repository), "id": parsed.tag.clone().unwrap_or_default()}),
        json!({"status": format!("Digest: {}", pulled.digest)}),
        json!({"status": format!("Status: Downloaded newer image for {}", pulled.name)}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let mut reply = hyper::Response::new(body::full(Bytes::from(text)));
    reply.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    Ok(reply)
}

/// A failed pull is a 404 (the image could not be had: missing, refused, unreachable), unless it failed in
/// the daemon's own store — a full disk is the daemon's trouble, a 500, not a missing image.
fn pull_error_kind(e: &crate::image::registry::RegistryError) -> crate::engine::Kind {
    use crate::engine::Kind;
    use crate::image::registry::RegistryError as R;
    match e {
        R::Store(_) => Kind::Internal,
        R::Blob { cause, .. } => pull_error_kind(cause),
        _ => Kind::NotFound,
    }
}

fn store(engine: &Engine) -> Result<Store, EngineError> {
    Ok(Store::open(&engine.store)?)
}

/// The names (`name:tag`) pointing at each image id.
fn tags(store: &Store) -> Result<std::collections::BTreeMap<String, Vec<String>>, EngineError> {
    let mut by_id: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, id) in store.index()? {
        by_id.entry(id).or_default().push(name);
    }
    Ok(by_id)
}

fn size(store: &Store, image: &Image) -> u64 {
    image.record.layers.iter().map(|l| dir_size(&store.layer_dir(l))).sum()
}

fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

fn list(engine: &Engine) -> Result<Reply, EngineError> {
    let store = store(engine)?;
    let tags = tags(&store)?;
    let mut out = Vec::new();
    for id in store.image_ids()? {
        let image = Image { record: store.record(&id)?, id: id.clone() };
        let size = size(&store, &image);
        out.push(json!({
            "Id": format!("sha256:{id}"),
            "ParentId": "",
            "RepoTags": tags.get(&id).cloned().unwrap_or_default(),
            "RepoDigests": [],
            "Created": crate::engine::logs::unix_time(&image.record.created).unwrap_or(0.0) as i64,
            "Size": size,
            "VirtualSize": size,
            "SharedSize": -1,
            "Labels": image.record.config.labels.clone().unwrap_or_default(),
            "Containers": -1,
        }));
    }
    Ok(body::ok(Value::Array(out)))
}

fn inspect(engine: &Engine, name: &str) -> Result<Reply, EngineError> {
    let store = store(engine)?;
    let image = store.find(name).map_err(|_| EngineError::not_found(format!("No such image: {name}")))?;
    let tags = tags(&store)?.remove(&image.id).unwrap_or_default();
    let c = &image.record.config;
    Ok(body::ok(json!({
        "Id": format!("sha256:{}", image.id),
        "RepoTags": tags,
        "RepoDigests": [],
        "Created": image.record.created,
        "Architecture": image.record.architecture,
        "Os": image.record.os,
        "Size": size(&store, &image),
        "Config": {"User": c.user.clone().unwrap_or_default(), "Env": c.env, "Cmd": c.cmd,
            "Entrypoint": c.entrypoint, "WorkingDir": c.working_dir.clone().unwrap_or_default(), "Labels": c.labels},
        "RootFS": {"Type": "layers", "Layers": image.record.layers.iter().map(|l| format!("sha256:{l}")).collect::<Vec<_>>()},
    })))
}

fn tag_image(engine: &Engine, name: &str, repo: &str, tag: &str) -> Result<Reply, EngineError> {
    let store = store(engine)?;
    let image = store.find(name).map_err(|_| EngineError::not_found(format!("No such image: {name}")))?;
    if repo.is_empty() {
        return Err(EngineError::bad("repository name must have at least one component"));
    }
    store.add_image(&image.record, Some(&format!("{repo}:{tag}")))?;
    Ok(body::empty(StatusCode::CREATED))
}

fn remove(engine: &Engine, name: &str) -> Result<Reply, EngineError> {
    let store = store(engine)?;
    let image = store.find(name).map_err(|_| EngineError::not_found(format!("No such image: {name}")))?;
    for rec in crate::engine::record::all(engine) {
        if rec.image_id == image.id {
            return Err(EngineError::conflict(format!(
                "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using \
                 its referenced image {}",
                &rec.id[..12],
                &image.id[..12]
            )));
        }
    }
    let untagged = store.remove(name)?;
    let mut out: Vec<Value> = untagged.iter().map(|n| json!({"Untagged": n})).collect();
    if store.record(&image.id).is_err() {
        out.push(json!({"Deleted": format!("sha256:{}", image.id)}));
    }
    Ok(body::ok(Value::Array(out)))
}

/// `docker load`: the body (a `docker save` or OCI archive) goes to a temp file in the store, is imported,
/// and the file removed; the answer is docker's progress stream, one JSON message.
async fn load(engine: Arc<Engine>, req: Req, _quiet: bool) -> Result<Reply, EngineError> {
    let store = store(&engine)?;
    let tmp = read_to_file(&engine, req).await?;
    let imported = blocking(move || {
        let result = crate::image::import(&store, None, &tmp.path);
        drop(tmp);
        Ok(result?)
    })
    .await?;
    let line = json!({"stream": format!("Loaded image: {}\n", imported.name)});
    Ok(body::json(StatusCode::OK, &line))
}

/// A request body streamed into a file in the store's tmp dir (removed with the returned guard).
pub struct Spooled {
    pub path: std::path::PathBuf,
    _tmp: crate::image::store::TmpDir,
}

/// At most `body::max_upload()` bytes: over it, the file goes (the guard) and the client gets a 413. On any
/// error (over the cap, the disk full) the rest of the body is read and dropped first (up to [`DRAIN`] more
/// bytes): a client still writing when the connection closes sees only a broken pipe, never the error.
pub async fn read_to_file(engine: &Engine, req: super::router::Req) -> Result<Spooled, EngineError> {
    use tokio::io::AsyncWriteExt;
    const DRAIN: u64 = 256 << 20;
    let (limit, knob) = (body::max_upload(), "containy serve --max-upload");
    let mut incoming = req.into_body();
    let tmp = store(engine)?.tmp_dir()?;
    let path = tmp.path.join("body.tar");
    let mut file = tokio::fs::File::create(&path).await.map_err(|e| EngineError::io("create", &path, e))?;
    let mut received = 0u64;
    let mut failed = None;
    while let Some(frame) = body::next_frame(&mut incoming).await {
        let Some(data) = frame?.into_data().ok() else { continue };
        received += data.len() as u64;
        if received > limit {
            failed = Some(body::too_large("the uploaded archive", limit, knob));
            break;
        }
        if let Err(e) = file.write_all(&data).await {
            failed = Some(EngineError::io("write", &path, e));
            break;
        }
    }
    // tokio's file writes on a blocking thread: the last write's error (ENOSPC) comes with the flush.
    if failed.is_none()
        && let Err(e) = file.flush().await
    {
        failed = Some(EngineError::io("write", &path, e));
    }
    drop(file);
    let Some(error) = failed else { return Ok(Spooled { path, _tmp: tmp }) };
    drop(tmp);
    let mut drained = 0u64;
    while drained < DRAIN
        && let Some(Ok(frame)) = body::next_frame(&mut incoming).await
    {
        drained += frame.data_ref().map_or(0, |d| d.len() as u64);
    }
    Err(error)
}

/// `docker save`: the image as an archive (`image::export`), streamed as it is written.
async fn save(engine: Arc<Engine>, names: Vec<String>) -> Result<Reply, EngineError> {
    let [name] = names.as_slice() else {
        return Err(EngineError::bad("containy saves one image at a time"));
    };
    let store = store(&engine)?;
    store.find(name).map_err(|_| EngineError::not_found(format!("No such image: {name}")))?;
    let (tx, reply) = body::channel(StatusCode::OK, "application/x-tar");
    let name = name.clone();
    tokio::task::spawn_blocking(move || {
        let out = ChannelWriter(tx);
        if let Err(e) = crate::image::export(&store, &name, std::io::BufWriter::with_capacity(1 << 16, out)) {
            eprintln!("containy serve: save {name}: {e}");
        }
    });
    Ok(reply)
}

/// A blocking writer into a body channel (for code that writes to `std::io::Write`).
pub struct ChannelWriter(pub tokio::sync::mpsc::Sender<Bytes>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::pull_error_kind;
    use crate::engine::Kind;
    use crate::image::registry::RegistryError as R;

    #[test]
    fn a_failed_pull_is_a_404_only_when_the_image_is_missing() {
        let missing = R::Status { url: "u".into(), status: 404, message: "manifest unknown".into() };
        assert_eq!(pull_error_kind(&missing), Kind::NotFound);
        let enospc = std::io::Error::from_raw_os_error(28);
        let full = R::Store(crate::image::ImageError::Corrupt { source: enospc });
        let layer = R::Blob { digest: "sha256:x".into(), cause: Box::new(full) };
        assert_eq!(pull_error_kind(&layer), Kind::Internal);
    }
}
