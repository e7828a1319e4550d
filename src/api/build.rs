//! `POST /build`, docker's classic builder (`DOCKER_BUILDKIT=0`): the body is a tar of the context with a
//! Dockerfile in it, unpacked (safely, `image::extract`) into the store's tmp dir and built by
//! `containy build` — a fresh process, because RUN steps create containers and the daemon never clones.
//! Its output lines are streamed as `{"stream": …}`, then `{"aux": {"ID": …}}`, or `{"error": …}`.

use std::process::Stdio;
use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::json;
use tokio::io::AsyncBufReadExt;

use super::body::{self, Reply, flag, param, query};
use super::router::{Req, blocking};
use crate::engine::{Engine, EngineError};

pub async fn build(engine: Arc<Engine>, req: Req) -> Result<Reply, EngineError> {
    let q = query(req.uri());
    let tag = match param(&q, "t").filter(|t| !t.is_empty()) {
        Some(t) => t.to_string(),
        None => format!("containy-build-{}", &crate::engine::generate_id()[..12]),
    };
    let dockerfile = param(&q, "dockerfile").filter(|f| !f.is_empty()).unwrap_or("Dockerfile").to_string();
    if dockerfile.starts_with('/') || dockerfile.split('/').any(|c| c == "..") {
        return Err(EngineError::bad(format!("dockerfile {dockerfile:?}: give a path inside the context")));
    }
    let no_cache = flag(&q, "nocache");
    let spooled = super::images::read_to_file(&engine, req).await?;
    let context = spooled.path.with_file_name("context");
    let ctx = context.clone();
    let archive = spooled.path.clone();
    blocking(move || {
        std::fs::create_dir(&ctx).map_err(|e| EngineError::io("mkdir", &ctx, e))?;
        let file = std::fs::File::open(&archive).map_err(|e| EngineError::io("open", &archive, e))?;
        let reader = crate::image::decompressed(std::io::BufReader::new(file))
            .map_err(|e| EngineError::bad(format!("the build context is not a tar archive: {e}")))?;
        crate::image::extract(reader, &ctx)?;
        Ok(())
    })
    .await?;
    let mut cmd = tokio::process::Command::new(&engine.exe);
    cmd.arg("--root").arg(&engine.state_root).arg("build").arg("--store").arg(&engine.store);
    cmd.arg("-t").arg(&tag).arg("-f").arg(context.join(&dockerfile)).arg(&context);
    if no_cache {
        cmd.arg("--no-cache");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| EngineError::internal(format!("cannot start containy build: {e}")))?;
    let (tx, reply) = body::channel(StatusCode::OK, "application/json");
    let send = |tx: &tokio::sync::mpsc::Sender<Bytes>, v: serde_json::Value| {
        let tx = tx.clone();
        async move { tx.send(Bytes::from(format!("{v}\r\n"))).await.is_ok() }
    };
    tokio::spawn(async move {
        let _spooled = spooled; // the tmp dir (archive and context) goes when the build is over
        let mut lines = Vec::new();
        if let Some(out) = child.stdout.take() {
            lines.push(tokio::spawn(forward(out, tx.clone())));
        }
        if let Some(err) = child.stderr.take() {
            lines.push(tokio::spawn(forward(err, tx.clone())));
        }
        let mut last = String::new();
        for l in lines {
            if let Ok(Some(text)) = l.await {
                last = text;
            }
        }
        let ok = child.wait().await.is_ok_and(|s| s.success());
        let id = {
            let (e, t) = (engine.clone(), tag.clone());
            blocking(move || Ok(crate::image::Store::open(&e.store)?.find(&t)?.id)).await.ok()
        };
        match (ok, id) {
            (true, Some(id)) => {
                send(&tx, json!({"aux": {"ID": format!("sha256:{id}")}})).await;
                send(&tx, json!({"stream": format!("Successfully built {}\n", &id[..12])})).await;
                send(&tx, json!({"stream": format!("Successfully tagged {tag}\n")})).await;
            }
            _ => {
                let message = if last.is_empty() { "the build failed".to_string() } else { last };
                send(&tx, json!({"errorDetail": {"message": message}, "error": message})).await;
            }
        }
    });
    Ok(reply)
}

/// Stream a pipe's lines as `{"stream": line}`; returns the last non-empty line (the error, on failure).
async fn forward(pipe: impl tokio::io::AsyncRead + Unpin, tx: tokio::sync::mpsc::Sender<Bytes>) -> Option<String> {
    let mut lines = tokio::io::BufReader::new(pipe).lines();
    let mut last = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if !line.trim().is_empty() {
            last = Some(line.clone());
        }
        let _ = tx.send(Bytes::from(format!("{}\r\n", json!({"stream": format!("{line}\n")})))).await;
    }
    last
}
