//! Response bodies: whole (JSON, text) or streamed from a channel (logs -f, wait, stats, events, save), and
//! docker's error form `{"message": "..."}`.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

use crate::engine::{EngineError, Kind};

pub type Body = BoxBody<Bytes, Infallible>;
pub type Reply = Response<Body>;

/// JSON request bodies larger than this are refused (413); archives (load, build, cp) have their own cap.
pub const MAX_BODY: usize = 4 << 20;

/// The cap on an archive uploaded to the daemon (`docker load`, a build context, `docker cp` into a
/// container): `containy serve --max-upload`, set once at start.
static MAX_UPLOAD: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
pub const DEFAULT_MAX_UPLOAD: u64 = 8 << 30;

pub fn set_max_upload(bytes: u64) {
    let _ = MAX_UPLOAD.set(bytes);
}

pub fn max_upload() -> u64 {
    *MAX_UPLOAD.get().unwrap_or(&DEFAULT_MAX_UPLOAD)
}

/// The 413 for a body over `limit` bytes, in docker's `{"message": …}` shape, naming what to change.
pub fn too_large(what: &str, limit: u64, knob: &str) -> EngineError {
    EngineError::new(Kind::TooLarge, format!("{what} is larger than the daemon's limit of {limit} bytes ({knob})"))
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

pub fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
    let mut r = Response::new(full(serde_json::to_vec(value).unwrap_or_default()));
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    r
}

pub fn ok(value: serde_json::Value) -> Reply {
    json(StatusCode::OK, &value)
}

pub fn empty(status: StatusCode) -> Reply {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = status;
    r
}

pub fn error(e: &EngineError) -> Reply {
    let status = match e.kind {
        Kind::BadRequest => StatusCode::BAD_REQUEST,
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Conflict => StatusCode::CONFLICT,
        Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Kind::Timeout => StatusCode::REQUEST_TIMEOUT,
        Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json(status, &serde_json::json!({"message": e.message}))
}

/// A body fed by a channel: the sender side is handed to a task; dropping it ends the body. A client that
/// goes away drops the body, and the task's next send fails: that is how a streaming task learns to stop.
pub struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

pub fn channel(status: StatusCode, content_type: &'static str) -> (mpsc::Sender<Bytes>, Reply) {
    let (tx, rx) = mpsc::channel(16);
    let mut r = Response::new(ChannelBody(rx).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static(content_type));
    (tx, r)
}

/// The next part of a request body, waiting at most the daemon's client timeout for it (`server.rs`): a
/// client that stops sending halfway gets a 408, and hyper closes its connection (the body was not read to
/// its end), which frees the connection's slot.
pub async fn next_frame(body: &mut Incoming) -> Option<Result<Frame<Bytes>, EngineError>> {
    let timeout = super::server::client_timeout();
    match tokio::time::timeout(timeout, body.frame()).await {
        Ok(frame) => frame.map(|f| f.map_err(|e| EngineError::bad(format!("cannot read the request body: {e}")))),
        Err(_) => Some(Err(EngineError::new(
            Kind::Timeout,
            format!(
                "the client sent nothing of its request body for {} s (containy serve --client-timeout)",
                timeout.as_secs_f64()
            ),
        ))),
    }
}

/// Read a whole request body, at most [`MAX_BODY`] bytes: one whose length says more is refused before a
/// byte of it is read.
pub async fn read(mut body: Incoming) -> Result<Bytes, EngineError> {
    use hyper::body::Body as _;
    let too_large = || too_large("the request body", MAX_BODY as u64, "a JSON body is at most 4 MiB");
    if body.size_hint().lower() > MAX_BODY as u64 {
        return Err(too_large());
    }
    let mut bytes = bytes::BytesMut::new();
    while let Some(frame) = next_frame(&mut body).await {
        if let Some(data) = frame?.data_ref() {
            if bytes.len() + data.len() > MAX_BODY {
                return Err(too_large());
            }
            bytes.extend_from_slice(data);
        }
    }
    Ok(bytes.freeze())
}

/// Query parameters, decoded.
pub fn query(uri: &hyper::Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `1`, `true`, `True`: docker's boolean query values.
pub fn flag(q: &[(String, String)], key: &str) -> bool {
    matches!(param(q, key), Some("1" | "true" | "True" | "yes"))
}

pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
