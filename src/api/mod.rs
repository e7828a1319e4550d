//! `containy serve`: the Docker Engine API over a Unix socket, so `docker`, docker-py and docker-compose
//! drive containy. This is the only async code in containy (tokio + hyper, on one thread, with a pool for
//! blocking calls); nothing on the run path (`run`/`create`/`start`/`exec`) reaches it.
//!
//! The daemon holds nothing that is not on disk: every request reads the engine's records or talks to a
//! container's monitor (`engine::monitor`), which the daemon starts as a fresh process and then forgets. So
//! a `kill -9` of the daemon loses nothing, and a new one carries on where it left off.
//!
//! Paths are accepted with any version prefix from `/v1.24` up, and without one, as podman does; `_ping`
//! and `/version` advertise [`API_VERSION`] so current clients (which refuse servers below 1.44) work, while
//! older ones (Debian's 20.10 CLI speaks 1.41) use their own, lower version.

mod attach;
pub(crate) mod body;
mod build;
mod containers;
mod exec;
mod images;
mod networks;
pub(crate) mod router;
pub mod server;
mod system;
mod volumes;

use std::path::Path;

use anyhow::{Context, Result};

use crate::engine::Engine;

/// Where the daemon listens by default.
pub const DEFAULT_SOCKET: &str = "/run/containy/containy.sock";
/// The API version containy advertises, and the oldest one it accepts in a path.
pub const API_VERSION: &str = "1.44";
pub const MIN_API_VERSION: &str = "1.24";

/// Serve until killed; archives uploaded (load, build, cp) are capped at `max_upload` bytes, connections and
/// silent clients by `limits` (`server.rs`).
pub fn serve(engine: Engine, socket: &Path, max_upload: u64, limits: server::Limits) -> Result<()> {
    body::set_max_upload(max_upload);
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let (listener, _lock) = bind(socket)?;
        // What creates and removals killed with an earlier daemon left (see engine::record).
        crate::engine::record::sweep(&engine);
        eprintln!("containy serve: listening on unix://{}", socket.display());
        server::accept_loop(listener, std::sync::Arc::new(engine), limits).await;
        Ok(())
    })
}

/// The socket: its directory root-owned 0711, the socket 0660 with group `containy` when it exists. One daemon
/// per socket: `<socket>.lock` is `flock`ed for the daemon's life, and a second daemon refuses to start —
/// checking whether the socket answers is not enough, as two daemons starting together would both find it
/// silent, and the second would unlink the first's socket and bind its own.
fn bind(socket: &Path) -> Result<(tokio::net::UnixListener, nix::fcntl::Flock<std::fs::File>)> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = socket.parent()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
            .with_context(|| format!("chmod {}", dir.display()))?;
    }
    let mut lock_path = socket.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    let lock = match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => anyhow::bail!(
            "another containy serve is running on {} (it holds {}): stop it first, or give --socket another path",
            socket.display(),
            lock_path.display()
        ),
        Err((_, e)) => return Err(e).with_context(|| format!("cannot lock {}", lock_path.display())),
    };
    // A socket left by a daemon that was killed: nobody answers on it any more. One that answers belongs to
    // another program.
    if std::os::unix::net::UnixStream::connect(socket).is_ok() {
        anyhow::bail!("something else is listening on {}: give --socket another path", socket.display());
    }
    let _ = std::fs::remove_file(socket);
    let listener =
        tokio::net::UnixListener::bind(socket).with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod {}", socket.display()))?;
    if let Some(gid) = crate::accounts::group_id("containy") {
        let _ = nix::unistd::chown(socket, None, Some(nix::unistd::Gid::from_raw(gid)));
    }
    Ok((listener, lock))
}
