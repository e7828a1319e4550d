//! `_ping`, `version`, `info`, `events`: what a client asks before anything else. They tell the truth about
//! containy: its own version, the runtime being containy itself, the cgroup version of this host.

use hyper::StatusCode;

use super::body::{self, Reply};
use crate::engine::{Engine, events};

pub fn ping(head: bool) -> Reply {
    let mut r = body::empty(StatusCode::OK);
    if !head {
        r = hyper::Response::new(body::full("OK"));
    }
    let h = r.headers_mut();
    h.insert("api-version", hyper::header::HeaderValue::from_static(super::API_VERSION));
    h.insert("docker-experimental", hyper::header::HeaderValue::from_static("false"));
    h.insert("ostype", hyper::header::HeaderValue::from_static("linux"));
    h.insert("content-type", hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert("cache-control", hyper::header::HeaderValue::from_static("no-cache, no-store, must-revalidate"));
    r
}

fn kernel() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default()
}

pub fn version() -> Reply {
    let v = env!("CARGO_PKG_VERSION");
    body::ok(serde_json::json!({
        "Platform": {"Name": "containy"},
        "Components": [{"Name": "Engine", "Version": v, "Details": {"ApiVersion": super::API_VERSION,
            "MinAPIVersion": super::MIN_API_VERSION, "Os": "linux", "Arch": "amd64"}}],
        "Version": v,
        "ApiVersion": super::API_VERSION,
        "MinAPIVersion": super::MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "none (containy is written in Rust)",
        "Os": "linux",
        "Arch": std::env::consts::ARCH,
        "KernelVersion": kernel(),
    }))
}

pub fn info(engine: &Engine) -> Reply {
    let records = crate::engine::record::all(engine);
    let states: Vec<String> = records.iter().map(|r| crate::engine::ops::status(engine, r).status).collect();
    let count = |s: &str| states.iter().filter(|x| *x == s).count();
    let images = crate::image::store::Store::open(&engine.store).and_then(|s| s.image_ids()).map_or(0, |i| i.len());
    let cgroup_v2 = matches!(crate::cgroups::detect(), crate::cgroups::Layout::V2);
    body::ok(serde_json::json!({
        "ID": "containy",
        "Containers": records.len(),
        "ContainersRunning": count("running"),
        "ContainersPaused": count("paused"),
        "ContainersStopped": count("exited") + count("created"),
        "Images": images,
        "Driver": "overlay",
        "DockerRootDir": engine.store,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": if cgroup_v2 { "2" } else { "1" },
        "KernelVersion": kernel(),
        "OperatingSystem": "containy",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "Name": nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "DefaultRuntime": "containy",
        "Runtimes": {"containy": {"path": engine.exe}},
        "SecurityOptions": ["name=seccomp,profile=default"],
        "Swarm": {"LocalNodeState": "inactive"},
        "Warnings": [],
    }))
}

/// `GET /events?since=&until=&filters=`: the engine's event log (`engine::events`), from `since` (or from
/// now), followed until `until` or until the client leaves. Filters: `type`, `container` (id or name),
/// `event`, `label`.
pub fn events(engine: &Engine, q: &[(String, String)]) -> Result<Reply, crate::engine::EngineError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let time = |key: &str| body::param(q, key).and_then(|t| t.parse::<f64>().ok());
    let (since, until) = (time("since"), time("until"));
    let filters: serde_json::Map<String, serde_json::Value> = match body::param(q, "filters") {
        Some(f) if !f.is_empty() => serde_json::from_str(f)
            .map_err(|e| crate::engine::EngineError::bad(format!("invalid filters {f:?}: {e}")))?,
        _ => Default::default(),
    };
    let values = |key: &str| -> Vec<String> {
        match filters.get(key) {
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            Some(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        }
    };
    let (types, containers, actions, labels) = (values("type"), values("container"), values("event"), values("label"));
    let wants = move |e: &serde_json::Value| {
        let attr = |k: &str| e["Actor"]["Attributes"][k].as_str().unwrap_or("").to_string();
        let t = e["timeNano"].as_f64().unwrap_or(0.0) / 1e9;
        (types.is_empty() || types.iter().any(|x| x == "container"))
            && (containers.is_empty()
                || containers
                    .iter()
                    .any(|c| e["id"].as_str().is_some_and(|id| id.starts_with(c.as_str())) || attr("name") == *c))
            && (actions.is_empty() || actions.iter().any(|a| e["Action"] == a.as_str()))
            && labels.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => attr(k) == v,
                None => !attr(l).is_empty(),
            })
            && since.is_none_or(|s| t >= s)
            && until.is_none_or(|u| t <= u)
    };
    let (path, previous) = (events::path(engine), events::previous(engine));
    let (tx, reply) = body::channel(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        let mut file: Option<(tokio::fs::File, std::fs::Metadata)> = None;
        // With `since` the history is read, the rotated part first; without, only what comes.
        let mut from_start = since.is_some();
        let mut pending = if from_start { tokio::fs::read(&previous).await.unwrap_or_default() } else { Vec::new() };
        loop {
            if file.is_none()
                && let Ok(mut f) = tokio::fs::File::open(&path).await
                && let Ok(meta) = f.metadata().await
            {
                if !from_start {
                    let _ = f.seek(std::io::SeekFrom::End(0)).await;
                }
                // A log that appears later (after a rotation) is new: all of it is to come.
                from_start = true;
                file = Some((f, meta));
            }
            if let Some((f, meta)) = &mut file {
                let _ = f.read_to_end(&mut pending).await;
                if events::rotated(meta, &path) {
                    // Renamed to events.log.1: what was appended before the rename, then the new log.
                    let _ = f.read_to_end(&mut pending).await;
                    file = None;
                }
            }
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if let Ok(event) = serde_json::from_slice::<serde_json::Value>(&line)
                    && wants(&event)
                    && tx.send(bytes::Bytes::from(format!("{event}\n"))).await.is_err()
                {
                    return;
                }
            }
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            if until.is_some_and(|u| now.as_secs_f64() > u) {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(reply)
}
