//! `_ping`, `version`, `info`, `events`: what a client asks before anything else. They tell the truth about
//! containy: its own version, the runtime being containy itself, the cgroup version of this host.

use hyper::StatusCode;

use super::body::{self, Reply};
use crate::engine::Engine;

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

/// The event stream: open, and (for now) silent until the client goes away. Lifecycle events are not
/// recorded yet; docker-compose only needs the stream to exist.
pub fn events() -> Reply {
    let (tx, reply) = body::channel(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        tx.closed().await;
    });
    reply
}
