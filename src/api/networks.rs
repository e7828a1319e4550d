//! `/networks`: docker's user networks are containy's bridge networks (`network::create_network`: a bridge,
//! a subnet, leases under the state root). `bridge` is the daemon's default network; `none` and `host` are
//! listed as docker lists them. Containers join a network at create time (`--network NAME`).

use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::body::{self, Reply};
use super::router::{Req, blocking, no_content};
use crate::engine::{Engine, EngineError, Kind};
use crate::network::{self, NetworkError};

pub async fn route(engine: Arc<Engine>, req: Req, segs: &[&str]) -> Result<Reply, EngineError> {
    let method = req.method().clone();
    let e = engine.clone();
    match (&method, segs) {
        (&Method::GET, []) => blocking(move || Ok(body::ok(Value::Array(list(&e))))).await,
        (&Method::POST, ["create"]) => {
            let bytes = body::read(req.into_body()).await?;
            let spec: Value = serde_json::from_slice(&bytes)
                .map_err(|err| EngineError::bad(format!("invalid network request: {err}")))?;
            blocking(move || create(&e, &spec)).await
        }
        (&Method::GET, [name]) => {
            let name = name.to_string();
            blocking(move || {
                list(&e)
                    .into_iter()
                    .find(|n| n["Name"] == name.as_str() || n["Id"] == name.as_str())
                    .map(body::ok)
                    .ok_or_else(|| EngineError::not_found(format!("network {name} not found")))
            })
            .await
        }
        (&Method::POST, [name, action @ ("connect" | "disconnect")]) => {
            // Containers join their network when they are created; a request for what already holds is fine.
            let bytes = body::read(req.into_body()).await?;
            let spec: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let container = spec["Container"].as_str().unwrap_or("").to_string();
            let (name, connect) = (name.to_string(), *action == "connect");
            blocking(move || {
                let rec = crate::engine::record::find(&e, &container)?;
                let on_it = rec.request.host_config.network_mode == name;
                if on_it == connect {
                    Ok(body::empty(StatusCode::OK))
                } else {
                    Err(EngineError::bad(format!(
                        "containy connects a container to its one network when it is created: {} is on {:?}",
                        rec.name, rec.request.host_config.network_mode
                    )))
                }
            })
            .await
        }
        (&Method::DELETE, [name]) => {
            let name = name.to_string();
            blocking(move || network::remove_network(&e.state_root, &name).map(|()| no_content()).map_err(error)).await
        }
        _ => Err(EngineError::not_found("page not found")),
    }
}

fn error(e: NetworkError) -> EngineError {
    let kind = match &e {
        NetworkError::NotDefined { .. } => Kind::NotFound,
        NetworkError::Exists { .. } | NetworkError::InUse { .. } | NetworkError::Overlap { .. } => Kind::Conflict,
        NetworkError::Invalid(_) => Kind::BadRequest,
        _ => Kind::Internal,
    };
    EngineError::new(kind, e.to_string())
}

fn list(engine: &Engine) -> Vec<Value> {
    let mut out = vec![
        json!({"Name": "none", "Id": "none", "Driver": "null", "Scope": "local", "IPAM": {"Config": []}, "Containers": {}}),
        json!({"Name": "host", "Id": "host", "Driver": "host", "Scope": "local", "IPAM": {"Config": []}, "Containers": {}}),
    ];
    for (def, members) in network::list_networks(&engine.state_root) {
        let containers: serde_json::Map<String, Value> = members
            .iter()
            .map(|(id, addr)| (id.clone(), json!({"IPv4Address": format!("{addr}/{}", def.prefix)})))
            .collect();
        let name = if def.name == engine.default_network { "bridge".to_string() } else { def.name.clone() };
        out.push(json!({
            "Name": name, "Id": def.name, "Driver": "bridge", "Scope": "local",
            "IPAM": {"Driver": "default", "Config": [{"Subnet": format!("{}/{}", def.subnet, def.prefix),
                "Gateway": def.gateway.to_string()}]},
            "Containers": containers, "Options": {"com.docker.network.bridge.name": def.name},
        }));
    }
    out
}

fn create(engine: &Engine, spec: &Value) -> Result<Reply, EngineError> {
    let name = spec["Name"].as_str().unwrap_or("");
    let driver = spec["Driver"].as_str().unwrap_or("bridge");
    if driver != "bridge" && !driver.is_empty() {
        return Err(EngineError::bad(format!("Driver: {driver:?} is not supported: containy has bridge networks")));
    }
    let subnet = spec["IPAM"]["Config"][0]["Subnet"].as_str();
    let subnet = subnet.map(network::parse_subnet).transpose().map_err(EngineError::bad)?;
    let def = network::create_network(&engine.state_root, name, subnet).map_err(error)?;
    Ok(body::json(StatusCode::CREATED, &json!({"Id": def.name, "Warning": ""})))
}
