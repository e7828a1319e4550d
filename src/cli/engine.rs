//! The engine's verbs: `serve` (the daemon) and the hidden `monitor` the daemon starts per container; and
//! [`verb`], the verbs only `containy-engine` links (`crate::handover`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use crate::engine::Engine;
use crate::image;

#[derive(Debug, Args)]
pub struct EngineArgs {
    /// The image store; container records live in its containers/ directory.
    #[arg(long, default_value = image::DEFAULT_STORE, value_name = "DIR", env = "CONTAINY_STORE")]
    pub store: PathBuf,
    /// Where base tarballs are extracted.
    #[arg(long, default_value = image::DEFAULT_CACHE, value_name = "DIR", env = "CONTAINY_CACHE")]
    pub cache: PathBuf,
    /// The network of containers asking for docker's `bridge`/`default`: a bridge network's name, or none.
    #[arg(long, default_value = crate::plan::DEFAULT_NETWORK, value_name = "NAME")]
    pub default_network: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The Unix socket to listen on (its directory is made root-owned 0711; the socket is 0660).
    #[arg(long, default_value = crate::api::DEFAULT_SOCKET, value_name = "PATH")]
    pub socket: PathBuf,
    /// The largest archive a client may upload (docker load, a build context, docker cp into a container):
    /// larger ones get a 413.
    #[arg(long, default_value = "8G", value_name = "SIZE")]
    pub max_upload: String,
    /// The most client connections open at once (fewer if RLIMIT_NOFILE is low); the next waits until one closes.
    #[arg(long, default_value_t = crate::api::server::Limits::DEFAULT_MAX_CONNECTIONS, value_name = "N")]
    pub max_connections: usize,
    /// How long a client may stay silent while sending its request (head or body) before it is disconnected.
    #[arg(long, default_value = "2m", value_name = "TIME")]
    pub client_timeout: String,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// The engine container the monitor holds (its record is in the store).
    pub id: String,
}

fn engine(root: &Path, args: EngineArgs) -> Result<Engine> {
    let abs = |p: &Path| std::path::absolute(p).with_context(|| format!("{}", p.display()));
    Ok(Engine {
        state_root: abs(root)?,
        store: abs(&args.store)?,
        base_cache: abs(&args.cache)?,
        exe: crate::handover::runtime_binary()?,
        default_network: args.default_network,
    })
}

/// The verbs that need the daemon or the registry client: `containy-engine`'s `main` hands this function to
/// `crate::handover::link`, so `containy` does not link them (`containy` hands these commands over).
pub fn verb(root: &Path, command: super::Command) -> Result<i32> {
    use super::{Command, images, mapped, registry};
    match command {
        Command::Serve(args) => serve(root, args),
        Command::Pull(args) => mapped(|| registry::pull(args)),
        Command::Login(args) => registry::login(args),
        Command::Logout(args) => registry::logout(args),
        Command::Image(args) => mapped(|| images::network(args)),
        _ => anyhow::bail!("not one of the engine's verbs: `dispatch` runs it"),
    }
}

fn serve(root: &Path, args: ServeArgs) -> Result<i32> {
    let max_upload = crate::config::parse_size(&args.max_upload).map_err(|e| anyhow::anyhow!("--max-upload: {e}"))?;
    let client_timeout = crate::config::limits::parse_time(&args.client_timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| anyhow::anyhow!("--client-timeout {:?}: give a time such as 30s or 2m", args.client_timeout))?;
    if args.max_connections == 0 {
        anyhow::bail!("--max-connections 0: give at least 1");
    }
    let limits = crate::api::server::Limits { max_connections: args.max_connections, client_timeout };
    let engine = engine(root, args.engine)?;
    crate::api::serve(engine, &args.socket, max_upload, limits)?;
    Ok(0)
}

pub fn monitor(root: &Path, args: MonitorArgs) -> Result<i32> {
    let engine = engine(root, args.engine)?;
    Ok(crate::engine::monitor::main(&engine, &args.id))
}
