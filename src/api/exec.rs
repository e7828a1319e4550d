//! `/containers/{id}/exec`, `/exec/{id}/start|json|resize`. The exec runs as `containy exec --process F ID`
//! (a fresh single-threaded process; the daemon never joins a namespace itself) with pipes for its stdio;
//! its output is framed (or raw with a tty) onto the hijacked connection, and its exit code recorded
//! before the connection closes, so `docker exec`'s following inspect sees it.

use std::process::Stdio;
use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::body::{self, Reply};
use super::router::{Req, blocking};
use crate::engine::exec::{self, ExecRecord, ExecRequest};
use crate::engine::logs::{self, STDERR, STDOUT};
use crate::engine::{Engine, EngineError};

pub async fn create(engine: Arc<Engine>, req: Req, id: &str) -> Result<Reply, EngineError> {
    let bytes = body::read(req.into_body()).await?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let request: ExecRequest = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| EngineError::bad(format!("invalid exec request: {}: {}", e.path(), e.inner())))?;
    let id = id.to_string();
    let rec = blocking(move || exec::create(&engine, &id, request)).await?;
    Ok(body::json(StatusCode::CREATED, &json!({"Id": rec.id})))
}

pub async fn route(engine: Arc<Engine>, req: Req, id: &str, action: &str) -> Result<Reply, EngineError> {
    let (e, id) = (engine.clone(), id.to_string());
    let rec = blocking(move || exec::find(&e, &id)).await?;
    match (req.method(), action) {
        (&Method::GET, "json") => Ok(body::ok(json!({
            "ID": rec.id, "ContainerID": rec.container_id, "Running": rec.running, "ExitCode": rec.exit_code,
            "Pid": rec.pid, "OpenStdin": rec.request.attach_stdin, "OpenStdout": rec.request.attach_stdout,
            "OpenStderr": rec.request.attach_stderr, "CanRemove": false,
            "ProcessConfig": {"tty": rec.request.tty, "entrypoint": rec.request.cmd.first(),
                "arguments": rec.request.cmd.iter().skip(1).collect::<Vec<_>>(), "user": rec.request.user},
        }))),
        (&Method::POST, "resize") => {
            let q = body::query(req.uri());
            let size = |key: &str| body::param(&q, key).and_then(|v| v.parse::<u16>().ok());
            let (Some(h), Some(w)) = (size("h"), size("w")) else {
                return Err(EngineError::bad("resize: give h and w, the terminal's rows and columns"));
            };
            blocking(move || exec::resize(&rec, h, w)).await?;
            Ok(body::ok(json!({})))
        }
        (&Method::POST, "start") => start(engine, req, rec).await,
        _ => Err(EngineError::not_found("page not found")),
    }
}

async fn start(engine: Arc<Engine>, req: Req, mut rec: ExecRecord) -> Result<Reply, EngineError> {
    if rec.running || rec.exit_code.is_some() {
        return Err(EngineError::conflict(format!("Error: Exec command {} has already run", rec.id)));
    }
    let upgrade = req.headers().contains_key(hyper::header::UPGRADE);
    let (req, bytes) = {
        let (parts, body) = req.into_parts();
        let bytes = body::read(body).await?;
        (hyper::Request::from_parts(parts, ()), bytes)
    };
    let detach = serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|v| v["Detach"].as_bool());
    let detach = detach.unwrap_or(false);
    let (e, r) = (engine.clone(), rec.clone());
    let process = blocking(move || exec::process_file(&e, &r)).await?;
    let mut child = tokio::process::Command::new(&engine.exe)
        .arg("--root")
        .arg(&engine.state_root)
        .arg("exec")
        .arg("--process")
        .arg(&process)
        .arg(&rec.container_id)
        .stdin(if rec.request.attach_stdin && !detach { Stdio::piped() } else { Stdio::null() })
        .stdout(if detach { Stdio::null() } else { Stdio::piped() })
        .stderr(if detach { Stdio::null() } else { Stdio::piped() })
        .spawn()
        .map_err(|e| EngineError::internal(format!("cannot start containy exec: {e}")))?;
    rec.running = true;
    rec.pid = child.id().unwrap_or(0) as i32;
    save(&engine, &rec).await;
    let tty = rec.request.tty;
    let (tx, mut rx) = mpsc::channel::<Bytes>(16);
    if let Some(pipe) = child.stdout.take() {
        tokio::spawn(pump(pipe, STDOUT, tty, tx.clone()));
    }
    if let Some(pipe) = child.stderr.take() {
        tokio::spawn(pump(pipe, STDERR, tty, tx.clone()));
    }
    drop(tx);
    let stdin = child.stdin.take();
    if detach {
        tokio::spawn(finish(engine, rec, child));
        return Ok(body::empty(StatusCode::OK));
    }
    if !upgrade {
        // A client that does not ask for the connection (curl, a bare HTTP client): docker answers with the
        // output as the body, which ends when the exec does — its exit code recorded first, as below.
        let kind = if tty { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" };
        let (out, reply) = body::channel(StatusCode::OK, kind);
        drop(stdin);
        tokio::spawn(async move {
            while let Some(chunk) = rx.recv().await {
                if out.send(chunk).await.is_err() {
                    break;
                }
            }
            drop(rx);
            finish(engine, rec, child).await;
            drop(out);
        });
        return Ok(reply);
    }
    let (conn, theirs) = tokio::io::duplex(64 * 1024);
    let reply = super::attach::hijack(req, theirs, tty);
    tokio::spawn(async move {
        let (mut from_client, mut to_client) = tokio::io::split(conn);
        let input = tokio::spawn(async move {
            if let Some(mut stdin) = stdin {
                let _ = tokio::io::copy(&mut from_client, &mut stdin).await;
            }
        });
        while let Some(chunk) = rx.recv().await {
            if to_client.write_all(&chunk).await.is_err() {
                break;
            }
        }
        finish(engine, rec, child).await;
        let _ = to_client.shutdown().await;
        input.abort();
    });
    Ok(reply)
}

/// Copy one of the exec's pipes to the client: framed without a tty, raw with one.
async fn pump(mut pipe: impl AsyncRead + Unpin, stream: u8, tty: bool, tx: mpsc::Sender<Bytes>) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            return;
        }
        let chunk = if tty { buf[..n].to_vec() } else { logs::frame(stream, &buf[..n]) };
        if tx.send(Bytes::from(chunk)).await.is_err() {
            return;
        }
    }
}

/// Wait for the exec's end and record its exit code (before the client's connection is closed).
async fn finish(engine: Arc<Engine>, mut rec: ExecRecord, mut child: tokio::process::Child) {
    let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(126);
    rec.running = false;
    rec.exit_code = Some(code);
    save(&engine, &rec).await;
}

async fn save(engine: &Arc<Engine>, rec: &ExecRecord) {
    let (e, r) = (engine.clone(), rec.clone());
    let _ = blocking(move || exec::save(&e, &r)).await;
}
