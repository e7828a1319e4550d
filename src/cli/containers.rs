//! The engine's containers from the command line, without a daemon: docker's `run` flags on
//! `containy run --image`, and `ps`, `logs [-f]`, `stop`, `rm`. The flags become the engine's one request
//! (`engine::flags` → `engine::CreateRequest`, what `POST /containers/create` carries) and the verbs call the
//! same engine functions the daemon calls, on the same records: a `containy serve` running at the same time
//! lists, logs, stops and removes these containers, and the CLI those of the daemon.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use crate::engine::flags::RunFlags;
use crate::engine::{Engine, attached, logs, ops, record};
use crate::image::registry;

// docker's `run` flags. Any of them (or `-d`/`--name` with `--image`) makes the run an engine container:
// it has a monitor, a log and a record that `ps`, `logs`, `stop`, `rm` and `containy serve` see.
// (A plain comment, not a doc comment: clap would make a flattened struct's doc the verb's about.)
#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Engine containers (with --image)")]
pub struct DockerFlags {
    /// Name the container (an engine container: `containy ps`, `logs`, `stop`, `rm` and the daemon see it).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Bind a host path or a named volume: HOST:CTR[:ro] or VOLUME:CTR[:ro].
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:ro]")]
    pub volumes: Vec<String>,
    /// A mount as docker writes it: type=bind|volume|tmpfs,source=…,target=…[,readonly].
    #[arg(long = "mount", value_name = "SPEC")]
    pub mounts: Vec<String>,
    /// A tmpfs at PATH[:size=…].
    #[arg(long, value_name = "PATH[:OPTS]")]
    pub tmpfs: Vec<String>,
    /// Keep the container's stdin open (attached to ours in the foreground).
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Remove the container when it ends (a foreground run always is, as before; this is for -d).
    #[arg(long)]
    pub rm: bool,
    /// Memory limit (32m, 1g).
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// CPU quota in CPUs (0.5).
    #[arg(long, value_name = "CPUS")]
    pub cpus: Option<String>,
    /// Processes and threads at once.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Add a capability (CAP_NET_ADMIN, NET_ADMIN).
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability, or ALL.
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// The container's hostname.
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
}

impl DockerFlags {
    fn any(&self) -> bool {
        self.name.is_some()
            || !self.volumes.is_empty()
            || !self.mounts.is_empty()
            || !self.tmpfs.is_empty()
            || self.interactive
            || self.rm
            || self.memory.is_some()
            || self.cpus.is_some()
            || self.pids_limit.is_some()
            || self.read_only
            || !self.cap_add.is_empty()
            || !self.cap_drop.is_empty()
            || self.hostname.is_some()
    }
}

/// Whether `run` makes an engine container: docker's flags, or `--image` with `-d`.
pub(super) fn wants_engine(args: &super::RunArgs) -> bool {
    args.docker.any() || (args.detach && args.image.is_some())
}

/// The roots the engine uses: the same as the daemon's defaults, so both see the same containers.
fn engine(root: &Path, store: &Path, cache: &Path) -> Result<Engine> {
    let abs = |p: &Path| std::path::absolute(p).with_context(|| p.display().to_string());
    Ok(Engine {
        state_root: abs(root)?,
        store: abs(store)?,
        base_cache: abs(cache)?,
        exe: crate::handover::runtime_binary()?,
        // The CLI always names the network mode (none unless --net), so this is never consulted.
        default_network: "none".into(),
    })
}

/// `containy run --image IMG [docker flags] [-d] -- CMD`: an engine container.
pub(super) fn run(root: &Path, args: super::RunArgs) -> Result<i32> {
    let Some(image) = args.image.clone() else {
        anyhow::bail!(
            "--name, -v, --mount, --tmpfs, -i, --rm, --memory, --cpus, … make an engine container: give --image"
        );
    };
    let refused = [
        (args.config.is_some(), "--config"),
        (args.rootfs.is_some(), "--rootfs"),
        (args.pid_file.is_some(), "--pid-file"),
        (args.console_socket.is_some(), "--console-socket"),
        (args.preserve_fds > 0, "--preserve-fds"),
        (!args.limits.flags().is_empty() || args.limits.result.is_some(), "the limit flags (--cpu-time, --result, …)"),
        (args.id.is_some(), "an ID (use --name)"),
    ];
    if let Some((_, flag)) = refused.iter().find(|(given, _)| *given) {
        anyhow::bail!(
            "{flag} cannot be combined with docker's flags (--name, -v, -d with --image, …): drop one of them"
        );
    }
    let d = args.docker;
    let flags = RunFlags {
        image,
        cmd: args.command,
        env: args.env,
        workdir: args.workdir.map(|w| w.display().to_string()),
        user: args.user,
        hostname: d.hostname,
        tty: args.tty,
        interactive: d.interactive,
        // In the foreground the container goes when it ends, as every `containy run` always did.
        rm: d.rm || !args.detach,
        volumes: d.volumes,
        mounts: d.mounts,
        tmpfs: d.tmpfs,
        memory: d.memory,
        cpus: d.cpus,
        pids_limit: d.pids_limit,
        read_only: d.read_only,
        cap_add: d.cap_add,
        cap_drop: d.cap_drop,
        network: args.network.net,
        publish: args.network.publish,
    };
    let engine = engine(root, &args.store, &args.cache)?;
    let request = flags.request()?;
    // As every `run --image`: the image is pulled when --pull says so (missing, by default).
    let store = crate::image::store::Store::open(&engine.store)?;
    let options = registry::PullOptions { jobs: 1, ..Default::default() };
    let display = registry::display::Display::new();
    let found = registry::ensure_image(
        &store,
        &request.image,
        args.pull.unwrap_or(registry::PullPolicy::Missing),
        &options,
        &|e| display.event(e),
    );
    display.finish();
    found?;
    let created = ops::create(&engine, d.name.as_deref(), request);
    let rec = match created {
        Ok(rec) => rec,
        Err(e) => return Err(program_error(e.message)),
    };
    if args.detach {
        if let Err(e) = ops::start(&engine, &rec.id) {
            let _ = ops::remove(&engine, &rec.id, true);
            return Err(program_error(e.message));
        }
        println!("{}", rec.id);
        return Ok(0);
    }
    let ended = match attached::run(&engine, &rec) {
        Ok(ended) => ended,
        Err(e) => {
            // A foreground container that could not be started is not left behind, created and waiting.
            let _ = ops::remove(&engine, &rec.id, true);
            return Err(program_error(e.message));
        }
    };
    if ended.oom_killed {
        eprintln!("containy: container {} was killed by the OOM killer", rec.name);
    }
    Ok(ended.code)
}

/// A program that could not be executed exits 127 (not found) or 126 (not executable), as with docker.
fn program_error(message: String) -> anyhow::Error {
    let code = if message.contains("not found") || message.contains("no such file or directory") {
        127
    } else if message.contains("permission denied") {
        126
    } else {
        125
    };
    super::ExitWith { code, message }.into()
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The image store; engine containers' records are in its containers/ directory.
    #[arg(long, default_value_os_t = crate::paths::store(), value_name = "DIR", env = "CONTAINY_STORE")]
    pub store: PathBuf,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Keep printing what the container writes until it ends.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    /// Prefix each line with its time.
    #[arg(short, long)]
    pub timestamps: bool,
    /// The container's name or id.
    pub container: String,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Seconds to wait after the stop signal before SIGKILL.
    #[arg(short, long, value_name = "SECONDS")]
    pub time: Option<i64>,
    /// The containers' names or ids.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Kill a running container first.
    #[arg(short, long)]
    pub force: bool,
    /// The containers' names or ids.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

fn store_engine(root: &Path, store: &StoreArgs) -> Result<Engine> {
    engine(root, &store.store, &crate::paths::base_cache())
}

/// `containy ps` without an id: the engine's containers (running ones; every one with `-a`).
pub(super) fn ps(root: &Path, store: &StoreArgs, all: bool, quiet: bool, json: bool) -> Result<i32> {
    let engine = store_engine(root, store)?;
    let mut rows = Vec::new();
    for rec in record::all(&engine) {
        let state = ops::status(&engine, &rec);
        if all || matches!(state.status.as_str(), "running" | "paused") {
            rows.push((rec, state));
        }
    }
    if quiet {
        rows.iter().for_each(|(rec, _)| println!("{}", &rec.id[..12]));
    } else if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(rec, st)| {
                serde_json::json!({"id": rec.id, "name": rec.name, "image": rec.request.image, "status": st.status,
                    "pid": st.pid, "exit_code": st.exit_code, "created": rec.created})
            })
            .collect();
        println!("{}", serde_json::to_string(&list)?);
    } else {
        println!("{:<12}  {:<16} {:<24} {:<16} NAME", "CONTAINER ID", "IMAGE", "COMMAND", "STATUS");
        for (rec, st) in &rows {
            let command: String = std::iter::once(rec.path.as_str())
                .chain(rec.args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            let command: String = command.chars().take(22).collect();
            let status = if st.status == "exited" { format!("exited ({})", st.exit_code) } else { st.status.clone() };
            println!(
                "{:<12}  {:<16} {:<24} {status:<16} {}",
                &rec.id[..12],
                rec.request.image,
                format!("{command:?}"),
                rec.name
            );
        }
    }
    Ok(0)
}

pub(super) fn logs(root: &Path, args: LogsArgs) -> Result<i32> {
    let engine = store_engine(root, &args.store)?;
    let rec = record::find(&engine, &args.container)?;
    let filter =
        logs::Filter { stdout: true, stderr: true, timestamps: args.timestamps, tail: args.tail, ..Default::default() };
    attached::logs(&engine, &rec, &filter, args.follow)?;
    Ok(0)
}

pub(super) fn stop(root: &Path, args: StopArgs) -> Result<i32> {
    let engine = store_engine(root, &args.store)?;
    for name in &args.containers {
        ops::stop(&engine, name, args.time)?;
        println!("{name}");
    }
    Ok(0)
}

pub(super) fn rm(root: &Path, args: RmArgs) -> Result<i32> {
    let engine = store_engine(root, &args.store)?;
    for name in &args.containers {
        ops::remove(&engine, name, args.force)?;
        println!("{name}");
    }
    Ok(0)
}
