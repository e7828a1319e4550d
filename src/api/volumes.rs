//! `/volumes`: named volumes are directories in the store (`<store>/volumes/<name>/_data`), made on first
//! use by `-v NAME:/path` or by `volume create`, kept after their containers, removed only by `volume rm`.

use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::body::{self, Reply, flag, query};
use super::router::{Req, blocking, no_content};
use crate::engine::plan::{check_volume_name, volume_dir};
use crate::engine::{Engine, EngineError, record};

pub async fn route(engine: Arc<Engine>, req: Req, segs: &[&str]) -> Result<Reply, EngineError> {
    let q = query(req.uri());
    let method = req.method().clone();
    let e = engine.clone();
    match (&method, segs) {
        (&Method::GET, []) => blocking(move || Ok(body::ok(json!({"Volumes": list(&e), "Warnings": []})))).await,
        (&Method::POST, ["create"]) => {
            let bytes = body::read(req.into_body()).await?;
            let spec: Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
            let name = spec["Name"].as_str().filter(|n| !n.is_empty()).map(str::to_string);
            let name = name.unwrap_or_else(crate::engine::generate_id);
            blocking(move || create(&e, &name)).await
        }
        (&Method::GET, [name]) => {
            let name = name.to_string();
            blocking(move || describe(&e, &name).map(body::ok)).await
        }
        (&Method::DELETE, [name]) => {
            let (name, _force) = (name.to_string(), flag(&q, "force"));
            blocking(move || remove(&e, &name)).await
        }
        _ => Err(EngineError::not_found("page not found")),
    }
}

fn describe(engine: &Engine, name: &str) -> Result<Value, EngineError> {
    check_volume_name(name).map_err(EngineError::bad)?;
    let dir = volume_dir(engine, name);
    if !dir.is_dir() {
        return Err(EngineError::not_found(format!("get {name}: no such volume")));
    }
    Ok(json!({"Name": name, "Driver": "local", "Mountpoint": dir, "Scope": "local", "Labels": {}, "Options": {}}))
}

fn list(engine: &Engine) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(engine.store.join("volumes")) else { return Vec::new() };
    let mut names: Vec<String> = entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
    names.sort();
    names.iter().filter_map(|n| describe(engine, n).ok()).collect()
}

fn create(engine: &Engine, name: &str) -> Result<Reply, EngineError> {
    check_volume_name(name).map_err(EngineError::bad)?;
    let dir = volume_dir(engine, name);
    std::fs::create_dir_all(&dir).map_err(|e| EngineError::io("create volume", &dir, e))?;
    Ok(body::json(StatusCode::CREATED, &describe(engine, name)?))
}

fn remove(engine: &Engine, name: &str) -> Result<Reply, EngineError> {
    describe(engine, name)?;
    let uses = |bind: &str| bind.split(':').next() == Some(name);
    for rec in record::all(engine) {
        let hc = &rec.request.host_config;
        let in_binds = hc.binds.iter().flatten().any(|b| uses(b));
        let in_mounts = hc.mounts.iter().flatten().any(|m| m.kind == "volume" && m.source == name);
        if in_binds || in_mounts {
            return Err(EngineError::conflict(format!("remove {name}: volume is in use - [{}]", rec.id)));
        }
    }
    let dir = engine.store.join("volumes").join(name);
    std::fs::remove_dir_all(&dir).map_err(|e| EngineError::io("remove volume", &dir, e))?;
    Ok(no_content())
}
