//! From an engine request to a Plan — the ONE place the engine makes Plans (issue #13 re-points it).
//!
//! The request is written as a friendly config (`configy.json`'s schema) and lowered by `config`, the module
//! that knows input formats and checks every value (memory sizes, capability names, mount paths, ports); the
//! image then fills in the process (`image::runconf`: Entrypoint, Cmd, Env, WorkingDir, User, with the
//! request's over them). Order matters only there: the image's config first, the request's fields over it.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::request::CreateRequest;
use super::{Engine, EngineError, Result};
use crate::image::runconf;
use crate::image::store::Store;
use crate::plan::ValidPlan;
use crate::request::{self, Overrides};

/// Named volumes: `<store>/volumes/<name>/_data`, made on first use, kept after the container.
pub fn volume_dir(engine: &Engine, name: &str) -> PathBuf {
    engine.store.join("volumes").join(name).join("_data")
}

/// Make the Plan for container `id` from its request: lowered by `config`, the image applied, then the
/// request's overrides and the one validation of `crate::request::finish`.
pub fn make_plan(engine: &Engine, id: &str, req: &CreateRequest) -> Result<ValidPlan> {
    req.check()?;
    let store = Store::open(&engine.store)?;
    let image = store.find(&req.image)?;
    let config = friendly_config(engine, id, req)?;
    let text = serde_json::to_string(&config).map_err(|e| EngineError::internal(e.to_string()))?;
    let mut plan = crate::config::parse_str(&text, crate::config::Format::Json, Path::new("<request>"), Path::new("/"))
        .map_err(|e| EngineError::bad(format!("invalid create request: {e}")))?;
    // The writable layer lives in the record (`<record>/changes/{upper,work}`, the runtime's `keep_changes`), not
    // in the runtime's state dir: docker keeps an exited container's files until `rm` (for `cp` out, and for the
    // next `start`), and `rm` removes the record with it.
    plan.bundle = engine.record_dir(id);
    let overrides = Overrides {
        env: req.env.clone().unwrap_or_default(),
        cwd: Some(&req.working_dir).filter(|w| !w.is_empty()).map(PathBuf::from),
        user: Some(&req.user).filter(|u| !u.is_empty()).cloned(),
        ..Default::default()
    };
    let mut image_only = image.clone();
    if let Some(entrypoint) = &req.entrypoint {
        // A given Entrypoint replaces the image's, and drops the image's Cmd (docker's rule).
        image_only.record.config.entrypoint = Some(entrypoint.clone());
        image_only.record.config.cmd = None;
    }
    runconf::apply(&store, &image_only, &mut plan, &req.cmd.clone().unwrap_or_default())?;
    // Limits for untrusted code come as labels, as they come to an OCI bundle as annotations.
    plan.limits = crate::config::limits::from_annotations(req.labels.iter().flatten())
        .map_err(|(key, problem)| EngineError::bad(format!("invalid create request: Labels.{key}: {problem}")))?;
    request::finish(plan, &overrides)
        .map_err(|e| EngineError::bad(format!("invalid create request: {}", crate::error::chain(&e))))
}

/// The request as a friendly config: everything but the image's part of the process.
pub(crate) fn friendly_config(engine: &Engine, id: &str, req: &CreateRequest) -> Result<Value> {
    let hc = &req.host_config;
    let mut process = json!({
        "args": ["/bin/sh"],
        "terminal": req.tty,
        "no_new_privileges": hc.security_opt.iter().flatten().any(|o| o.starts_with("no-new-privileges")),
        "capabilities": {
            "add": hc.cap_add.clone().unwrap_or_default(),
            "drop": hc.cap_drop.clone().unwrap_or_default(),
        },
    });
    if let Some(ulimits) = &hc.ulimits {
        let list: Vec<Value> =
            ulimits.iter().map(|u| json!({"type": u.name, "soft": u.soft.max(0), "hard": u.hard.max(0)})).collect();
        process["rlimits"] = Value::Array(list);
    }
    let hostname = if req.hostname.is_empty() { id[..12.min(id.len())].to_string() } else { req.hostname.clone() };
    let mut config = Map::new();
    config.insert("hostname".into(), json!(hostname));
    if !req.domainname.is_empty() {
        config.insert("domainname".into(), json!(req.domainname));
    }
    config.insert("process".into(), process);
    config.insert("rootfs".into(), json!({"image": req.image, "readonly": hc.readonly_rootfs, "keep_changes": true}));
    config.insert("mounts".into(), Value::Array(mounts(engine, req)?));
    config.insert("resources".into(), resources(req)?);
    let (network, ports) = network(engine, req)?;
    config.insert("network".into(), network);
    if !ports.is_empty() {
        config.insert("ports".into(), json!(ports));
    }
    Ok(Value::Object(config))
}

fn mounts(engine: &Engine, req: &CreateRequest) -> Result<Vec<Value>> {
    let hc = &req.host_config;
    let mut out = Vec::new();
    for bind in hc.binds.iter().flatten() {
        let parts: Vec<&str> = bind.split(':').collect();
        let (source, target, mode) = match parts[..] {
            [s, t] => (s, t, ""),
            [s, t, m] => (s, t, m),
            _ => return Err(EngineError::bad(format!("HostConfig.Binds: {bind:?}: use SOURCE:TARGET[:ro|rw]"))),
        };
        let readonly = mode.split(',').any(|m| m == "ro");
        out.push(json!({"source": volume_or_path(engine, source, "HostConfig.Binds")?, "destination": target,
            "readonly": readonly}));
    }
    for m in hc.mounts.iter().flatten() {
        match m.kind.as_str() {
            "bind" => out.push(json!({"source": m.source, "destination": m.target, "readonly": m.read_only})),
            "volume" => out.push(json!({"source": volume_or_path(engine, &m.source, "HostConfig.Mounts")?,
                "destination": m.target, "readonly": m.read_only})),
            "tmpfs" => out.push(json!({"type": "tmpfs", "destination": m.target, "readonly": m.read_only})),
            other => {
                return Err(EngineError::bad(format!(
                    "HostConfig.Mounts: type {other:?} is not supported: use bind, volume or tmpfs"
                )));
            }
        }
    }
    for (target, options) in hc.tmpfs.iter().flatten() {
        let mut mount = json!({"type": "tmpfs", "destination": target});
        for opt in options.split(',').filter(|o| !o.is_empty()) {
            match opt.split_once('=') {
                Some(("size", size)) => mount["size"] = json!(size),
                None if opt == "ro" => mount["readonly"] = json!(true),
                _ if matches!(opt, "rw" | "noexec" | "exec" | "nosuid" | "nodev") || opt.starts_with("mode=") => {}
                _ => {
                    return Err(EngineError::bad(format!(
                        "HostConfig.Tmpfs: {target}: option {opt:?} is not supported (size=, ro, rw, mode=)"
                    )));
                }
            }
        }
        out.push(mount);
    }
    Ok(out)
}

/// A bind's source: an absolute host path, or the name of a volume (made now if it is new).
fn volume_or_path(engine: &Engine, source: &str, field: &str) -> Result<String> {
    if source.starts_with('/') {
        return Ok(source.to_string());
    }
    check_volume_name(source).map_err(|e| EngineError::bad(format!("{field}: {e}")))?;
    let dir = volume_dir(engine, source);
    std::fs::create_dir_all(&dir).map_err(|e| EngineError::io("create volume", &dir, e))?;
    Ok(dir.display().to_string())
}

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_volume_name(name: &str) -> std::result::Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok { Ok(()) } else { Err(format!("{name:?} is not a volume name or an absolute path")) }
}

fn resources(req: &CreateRequest) -> Result<Value> {
    let hc = &req.host_config;
    let mut r = Map::new();
    if hc.memory > 0 {
        r.insert("memory".into(), json!(hc.memory));
        if hc.memory_swap > 0 {
            r.insert("memory_swap".into(), json!(hc.memory_swap));
        }
    }
    if let Some(pids) = hc.pids_limit.filter(|p| *p > 0) {
        r.insert("pids".into(), json!(pids));
    }
    let cpus = if hc.nano_cpus > 0 {
        Some(hc.nano_cpus as f64 / 1e9)
    } else if hc.cpu_quota > 0 {
        let period = if hc.cpu_period > 0 { hc.cpu_period } else { 100_000 };
        Some(hc.cpu_quota as f64 / period as f64)
    } else {
        None
    };
    if let Some(cpus) = cpus {
        r.insert("cpu".into(), json!(cpus));
    }
    if hc.cpu_shares > 0 {
        r.insert("cpu_shares".into(), json!(hc.cpu_shares.max(2)));
    }
    Ok(Value::Object(r))
}

/// The network mode and published ports (`"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]`).
fn network(engine: &Engine, req: &CreateRequest) -> Result<(Value, Vec<String>)> {
    let hc = &req.host_config;
    let mode = match hc.network_mode.as_str() {
        "" | "default" | "bridge" => engine.default_network.clone(),
        other => other.to_string(),
    };
    let network = match mode.as_str() {
        "none" => json!("none"),
        "host" => json!("host"),
        name if name.starts_with("container:") => {
            return Err(EngineError::bad("HostConfig.NetworkMode: container:NAME is not supported yet"));
        }
        name => json!({"mode": "bridge", "network": name}),
    };
    let mut ports = Vec::new();
    for (spec, bindings) in hc.port_bindings.iter().flatten() {
        let (port, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
        for b in bindings.iter().flatten() {
            let host_port = if b.host_port.is_empty() { port } else { &b.host_port };
            let ip = if b.host_ip.is_empty() { String::new() } else { format!("{}:", b.host_ip) };
            ports.push(format!("{ip}{host_port}:{port}/{proto}"));
        }
    }
    if !ports.is_empty() && !matches!(network, Value::Object(_)) {
        return Err(EngineError::bad(format!(
            "HostConfig.PortBindings: ports are published only on a bridge network, not with network {mode:?}"
        )));
    }
    Ok((network, ports))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::request::{self, HostConfig, PortBinding};

    fn engine() -> Engine {
        Engine {
            state_root: "/nonexistent/state".into(),
            store: "/nonexistent/store".into(),
            base_cache: "/nonexistent/cache".into(),
            exe: "/bin/false".into(),
            default_network: "none".into(),
        }
    }

    #[test]
    fn limits_and_network_become_the_friendly_config() {
        let mut req = CreateRequest { image: "busybox".into(), ..Default::default() };
        req.host_config = HostConfig {
            memory: 32 << 20,
            nano_cpus: 500_000_000,
            pids_limit: Some(10),
            cap_drop: Some(vec!["ALL".into()]),
            readonly_rootfs: true,
            network_mode: "web".into(),
            port_bindings: Some(
                [(
                    "80/tcp".to_string(),
                    Some(vec![PortBinding { host_ip: "127.0.0.1".into(), host_port: "8080".into() }]),
                )]
                .into(),
            ),
            ..Default::default()
        };
        let config = friendly_config(&engine(), &"a".repeat(64), &req).unwrap();
        assert_eq!(config["resources"], serde_json::json!({"memory": 32 << 20, "pids": 10, "cpu": 0.5}));
        assert_eq!(config["network"], serde_json::json!({"mode": "bridge", "network": "web"}));
        assert_eq!(config["ports"], serde_json::json!(["127.0.0.1:8080:80/tcp"]));
        assert_eq!(config["rootfs"]["readonly"], true);
        assert_eq!(config["hostname"], "aaaaaaaaaaaa");
        assert_eq!(config["process"]["capabilities"]["drop"], serde_json::json!(["ALL"]));
    }

    #[test]
    fn bad_values_name_their_field() {
        let engine = engine();
        let bind = CreateRequest {
            image: "busybox".into(),
            host_config: HostConfig { binds: Some(vec!["/a:/b:/c:/d".into()]), ..Default::default() },
            ..Default::default()
        };
        assert!(friendly_config(&engine, "x", &bind).unwrap_err().message.contains("HostConfig.Binds"));
        let ports = CreateRequest {
            image: "busybox".into(),
            host_config: HostConfig {
                network_mode: "none".into(),
                port_bindings: Some([("80/tcp".to_string(), Some(vec![PortBinding::default()]))].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(friendly_config(&engine, "x", &ports).unwrap_err().message.contains("HostConfig.PortBindings"));
        let err = request::parse(br#"{"Image": "busybox", "HostConfig": {"Memory": "lots"}}"#).unwrap_err();
        assert!(err.message.contains("HostConfig.Memory"), "{}", err.message);
        assert!(check_volume_name("ok-name").is_ok() && check_volume_name("../x").is_err());
        assert!(crate::engine::record::check_name("web_1").is_ok());
        assert!(crate::engine::record::check_name("a").is_err() && crate::engine::record::check_name("a/b").is_err());
    }
}
