//! `attach`: the client's connection is taken over (HTTP upgrade, `101 UPGRADED`, as dockerd answers
//! `Upgrade: tcp`) and spliced to the container's monitor, which sends docker's stream (8-byte frames
//! without a tty, raw bytes with one) and takes the client's bytes as the container's stdin. The daemon adds
//! nothing and keeps nothing: when either side ends, both are closed.

use std::sync::Arc;

use hyper::StatusCode;
use hyper::header::HeaderValue;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

use super::body::{self, Reply, flag, param};
use super::router::{Req, blocking};
use crate::engine::{Engine, EngineError, ops, record};

pub async fn attach(engine: Arc<Engine>, req: Req, id: &str, q: &[(String, String)]) -> Result<Reply, EngineError> {
    let reference = id.to_string();
    let e = engine.clone();
    let rec = blocking(move || record::find(&e, &reference)).await?;
    let stream = flag(q, "stream") || param(q, "logs").is_none();
    if !stream {
        return Ok(body::empty(StatusCode::OK));
    }
    // An exited container has no monitor: as dockerd, attach waits for its next run (`docker start -a`
    // attaches, then starts), so a fresh one is made, created and waiting for `start`.
    let monitor = match tokio::net::UnixStream::connect(engine.monitor_socket(&rec.id)).await {
        Ok(m) => Ok(m),
        Err(_) => {
            let (e, r) = (engine.clone(), rec.clone());
            blocking(move || ops::ensure_monitor(&e, &r)).await?;
            tokio::net::UnixStream::connect(engine.monitor_socket(&rec.id)).await
        }
    };
    let mut monitor = monitor.map_err(|_| EngineError::conflict(format!("container {} is not running", rec.id)))?;
    let bit = |k: &str| if flag(q, k) { '1' } else { '0' };
    let line = format!("attach {}{}{}\n", bit("stdin"), bit("stdout"), bit("stderr"));
    monitor.write_all(line.as_bytes()).await.map_err(|e| EngineError::internal(format!("monitor: {e}")))?;
    Ok(hijack(req, monitor, rec.request.tty))
}

/// Answer 101 and splice the upgraded connection with `peer` once hyper hands it over. The connection keeps
/// its slot of the daemon's connection cap (`server::Slot`) until the splice ends.
pub fn hijack<B, P>(mut req: hyper::Request<B>, peer: P, tty: bool) -> Reply
where
    P: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let upgrade = hyper::upgrade::on(&mut req);
    let slot = req.extensions_mut().remove::<super::server::Slot>();
    tokio::spawn(async move {
        let _slot = slot;
        let Ok(upgraded) = upgrade.await else { return };
        // The daemon serves a Unix socket: the connection is one, and its hang-up can be watched.
        match upgraded.downcast::<TokioIo<UnixStream>>() {
            Ok(parts) => splice_unix(parts.io.into_inner(), parts.read_buf, peer).await,
            Err(upgraded) => splice(TokioIo::new(upgraded), peer).await,
        }
    });
    let mut r = body::empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = r.headers_mut();
    h.insert("connection", HeaderValue::from_static("Upgrade"));
    h.insert("upgrade", HeaderValue::from_static("tcp"));
    let kind = if tty { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" };
    h.insert("content-type", HeaderValue::from_static(kind));
    r
}

/// Client → peer until the client half-closes (then the peer's write side is shut: stdin's end), and
/// peer → client until the peer ends (the container has exited); then everything is dropped.
pub async fn splice<C, P>(client: C, peer: P)
where
    C: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    P: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut pr, mut pw) = tokio::io::split(peer);
    let input = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut pw).await;
        let _ = pw.shutdown().await;
    });
    let _ = tokio::io::copy(&mut pr, &mut cw).await;
    let _ = cw.shutdown().await;
    input.abort();
}

/// [`splice`] for the daemon's own Unix connections, which also ends when the client hangs up while the
/// container is silent. A client whose input has ended has either closed its sending side only (docker's
/// CLI at the end of stdin: it still wants the output) or gone away; only the kernel tells them apart (a
/// socket whose peer has closed both ways polls POLLHUP), and nothing would be written to find out before
/// the container next prints — so from then on the socket is asked once a second.
async fn splice_unix<P>(mut client: UnixStream, early: bytes::Bytes, peer: P)
where
    P: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut pr, mut pw) = tokio::io::split(peer);
    let (mut cr, mut cw) = client.split();
    let input = async {
        if pw.write_all(&early).await.is_ok() {
            let _ = tokio::io::copy(&mut cr, &mut pw).await;
        }
        let _ = pw.shutdown().await;
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        while !hung_up(cr.as_ref()) {
            tick.tick().await;
        }
    };
    let output = async {
        let _ = tokio::io::copy(&mut pr, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    tokio::select! {
        () = input => {}
        () = output => {}
    }
}

/// Has the other end of `sock` closed it both ways (or is the socket broken)?
fn hung_up(sock: &UnixStream) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(sock.as_fd(), PollFlags::empty())];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => fds[0].revents().is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)),
        Err(_) => true,
    }
}
