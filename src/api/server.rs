//! The daemon's connections: how many it holds, how long a client may stay silent, how much it buffers.
//!
//! Every client of the socket costs the daemon a file descriptor, a task and hyper's buffers until it goes
//! away, and a client that never finishes its request (slowloris: a header line every few seconds, a body
//! that stops halfway) or never reads would otherwise hold them forever. So, in this order:
//! - **A slot before `accept`.** At most `max_connections` connections are open at once; the next client
//!   waits in the kernel's listen backlog until one closes, as Go's `netutil.LimitListener` does. Taking the
//!   slot first means the daemon never holds a descriptor it has no slot for. The cap is also kept below
//!   half the daemon's `RLIMIT_NOFILE` (a connection may hold a second descriptor: its container's monitor,
//!   an upload's temp file), so the daemon's own files and its monitors' sockets always find a descriptor.
//! - **`accept` errors back off** (5 ms doubling to 1 s, as Go's `http.Server`): out of descriptors
//!   (`EMFILE`) the listener stays readable, and an accept loop that just retried would spin a core.
//! - **A client timeout** for the request head (hyper's `header_read_timeout`, which also closes a
//!   keep-alive connection that sends nothing) and for every pause in a request body (`body::next_frame`):
//!   a client silent that long is closed with a 408, and its slot freed.
//! - **Bounded buffers**: hyper reads and writes through at most [`MAX_BUF`] bytes per connection (a longer
//!   request head is refused with 431); a JSON body is at most `body::MAX_BODY`, an upload goes to a file.
//!
//! A streaming answer (logs, events, wait, stats, attach) ends when the client goes: hyper drops the body,
//! the task feeding it sees its channel closed; an attached client is watched for its hang-up (`attach.rs`).

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::UnixListener;
use tokio::sync::Semaphore;

use super::router;
use crate::engine::Engine;

/// hyper's read and write buffer per connection (its minimum is 8 KiB).
pub const MAX_BUF: usize = 64 << 10;
/// Descriptors kept for the daemon itself (the listener, the store's and the records' files, the runtime's
/// blocking threads) when the connection cap is derived from `RLIMIT_NOFILE`.
const RESERVED_FDS: u64 = 64;

/// The knobs of `containy serve`: `--max-connections`, `--client-timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub client_timeout: Duration,
}

impl Limits {
    pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
    pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

    /// The connection cap the descriptors allow: `max_connections`, or fewer when `RLIMIT_NOFILE` is low.
    pub fn effective_connections(&self) -> usize {
        let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).map_or(1024, |l| l.0);
        let allowed = (soft.saturating_sub(RESERVED_FDS) / 2).max(1);
        self.max_connections.min(usize::try_from(allowed).unwrap_or(usize::MAX)).max(1)
    }
}

/// A connection's share of `max_connections`, released when the last holder drops it.
#[derive(Clone)]
pub struct Slot {
    _permit: Arc<tokio::sync::OwnedSemaphorePermit>,
}

static CLIENT_TIMEOUT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();

/// How long a client may stay silent in the middle of its request (set once when the daemon starts).
pub fn client_timeout() -> Duration {
    *CLIENT_TIMEOUT.get().unwrap_or(&Limits::DEFAULT_CLIENT_TIMEOUT)
}

/// Accept connections forever, each served on its own task while it holds one of the slots.
pub async fn accept_loop(listener: UnixListener, engine: Arc<Engine>, limits: Limits) {
    let _ = CLIENT_TIMEOUT.set(limits.client_timeout);
    let connections = limits.effective_connections();
    if connections < limits.max_connections {
        eprintln!(
            "containy serve: at most {connections} connections (RLIMIT_NOFILE allows no more than --max-connections {})",
            limits.max_connections
        );
    }
    let slots = Arc::new(Semaphore::new(connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.client_timeout).max_buf_size(MAX_BUF);
    let mut backoff = Duration::ZERO;
    loop {
        // The semaphore is never closed: acquiring can only wait.
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff = Duration::ZERO;
                stream
            }
            Err(e) => {
                backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                eprintln!("containy serve: accept: {e}; retrying in {} ms", backoff.as_millis());
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let engine = engine.clone();
        // Every request carries the slot: a connection taken over by attach or exec keeps it until its
        // splice ends, after hyper has let go of the connection.
        let slot = Slot { _permit: Arc::new(slot) };
        let service = hyper::service::service_fn(move |mut req: router::Req| {
            req.extensions_mut().insert(slot.clone());
            router::route(engine.clone(), req)
        });
        let conn = http.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::Limits;

    #[test]
    fn the_connection_cap_stays_below_the_descriptor_limit() {
        let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap().0;
        let limits = Limits { max_connections: usize::MAX, client_timeout: Limits::DEFAULT_CLIENT_TIMEOUT };
        let cap = limits.effective_connections() as u64;
        assert!(cap >= 1 && cap * 2 <= soft.max(2), "cap {cap} for RLIMIT_NOFILE {soft}");
        let small = Limits { max_connections: 3, ..limits };
        assert_eq!(small.effective_connections(), 3);
    }
}
