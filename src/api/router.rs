//! From a request line to a handler: strip the version prefix (`/v1.41/containers/json`), then match the
//! method and path segments. Unknown paths answer docker's 404 `{"message": "page not found"}`.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use super::body::{self, Reply};
use super::{build, containers, exec, images, networks, system, volumes};
use crate::engine::{Engine, EngineError};

pub type Req = Request<Incoming>;

pub async fn route(engine: Arc<Engine>, req: Req) -> Result<Reply, std::convert::Infallible> {
    if std::env::var_os("CONTAINY_API_LOG").is_some() {
        eprintln!("containy serve: {} {}", req.method(), req.uri());
    }
    let path = req.uri().path().to_string();
    let path = match strip_version(&path) {
        Ok(p) => p,
        Err(e) => return Ok(body::error(&e)),
    };
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    let reply = match (&method, segs.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Ok(system::ping(method == Method::HEAD)),
        (&Method::GET, ["version"]) => Ok(system::version()),
        (&Method::GET, ["info"]) => Ok(system::info(&engine)),
        (&Method::GET, ["events"]) => system::events(&engine, &body::query(req.uri())),
        (_, ["containers", ..]) => containers::route(engine, req, &segs[1..]).await,
        (_, ["exec", id, action]) => exec::route(engine, req, id, action).await,
        (_, ["images", ..]) => images::route(engine, req, &segs[1..]).await,
        (&Method::POST, ["build"]) => build::build(engine, req).await,
        (_, ["volumes", ..]) => volumes::route(engine, req, &segs[1..]).await,
        (_, ["networks", ..]) => networks::route(engine, req, &segs[1..]).await,
        _ => Err(EngineError::not_found("page not found")),
    };
    Ok(reply.unwrap_or_else(|e| body::error(&e)))
}

/// `/v1.41/x` → `/x`; a version below the minimum is refused, as dockerd does.
pub(crate) fn strip_version(path: &str) -> Result<String, EngineError> {
    let Some(rest) = path.strip_prefix("/v") else { return Ok(path.to_string()) };
    let (version, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let Some((major, minor)) = version.split_once('.') else { return Ok(path.to_string()) };
    let (Ok(major), Ok(minor)) = (major.parse::<u32>(), minor.parse::<u32>()) else {
        return Ok(path.to_string());
    };
    if (major, minor) < (1, 24) {
        return Err(EngineError::bad(format!(
            "client version {version} is too old. Minimum supported API version is {}, please upgrade your client \
             to a newer version",
            super::MIN_API_VERSION
        )));
    }
    Ok(format!("/{tail}"))
}

/// Run blocking engine code (files, the runtime, spawning monitors) off the async thread.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| EngineError::internal(format!("task failed: {e}")))?
}

pub fn no_content() -> Reply {
    body::empty(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::strip_version;

    #[test]
    fn version_prefixes_are_optional_and_old_ones_refused() {
        assert_eq!(strip_version("/v1.41/containers/json").unwrap(), "/containers/json");
        assert_eq!(strip_version("/v1.44/_ping").unwrap(), "/_ping");
        assert_eq!(strip_version("/containers/json").unwrap(), "/containers/json");
        assert_eq!(strip_version("/volumes").unwrap(), "/volumes");
        let err = strip_version("/v1.12/info").unwrap_err();
        assert!(err.message.contains("1.24"), "{}", err.message);
    }
}
