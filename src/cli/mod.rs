//! The command line: clap structures and one function per verb. No logic lives here — each verb finds
//! its input, asks `config`/`oci` for a `Plan` and hands it to `runtime` or `image`.

mod images;
mod inspect;
mod lesson;
mod network;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::config::{self, ConfigFile};
use crate::runtime::container::Container;
use crate::runtime::{self, Exit, RunOptions};
use crate::{image, oci};

#[derive(Debug, Parser)]
#[command(
    name = "containy",
    version,
    about = "A container is just a process: containy clones it into namespaces, limits it with cgroups, \
             pivots it into its own root and execs it."
)]
pub struct Cli {
    /// Directory for container state.
    #[arg(long, global = true, default_value = runtime::DEFAULT_ROOT, value_name = "DIR", env = "CONTAINY_ROOT")]
    pub root: PathBuf,
    /// Narrate every kernel step: what, which syscall or file, and why.
    #[arg(long, global = true)]
    pub explain: bool,
    /// Also write errors to this file (engines read it: podman, conmon).
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// `text` or `json` (one JSON object per line, as runc writes them).
    #[arg(long, global = true, default_value = "text", value_name = "FORMAT")]
    pub log_format: LogFormat,
    /// Accepted for runc compatibility (containy's `--explain` is its debug output); also names the config
    /// properties containy ignores because the runtime spec does not define them.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd to manage cgroups: not supported (containy writes cgroup files itself).
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// A failure with its own exit code (126/127 when the program could not be executed, as engines expect),
/// reported like any other error.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitWith {
    pub code: i32,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Append one error to the `--log` file in the requested format; the message keeps the phrases engines map
/// to exit codes ("executable file not found in $PATH", "no such file or directory", "permission denied").
pub fn log_error(path: &std::path::Path, format: LogFormat, message: &str) {
    use std::io::Write;
    let line = match format {
        LogFormat::Json => format!(
            "{}\n",
            serde_json::json!({"level": "error", "msg": message, "time": runtime::state::now_rfc3339()})
        ),
        LogFormat::Text => format!("{} error: {message}\n", runtime::state::now_rfc3339()),
    };
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = file.write_all(line.as_bytes());
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a container from a bundle, wait for it, clean up; exits with its exit code.
    Run(RunArgs),
    /// Create a container from an OCI bundle and leave it waiting for `start` (the runc contract).
    Create(CreateArgs),
    /// Start a created container: its process executes the configured program.
    Start(IdArg),
    /// Run another process in a running container.
    Exec(ExecArgs),
    /// Write a default OCI config.json into a bundle (as `runc spec` does).
    Spec(SpecArgs),
    /// Print the OCI features document: what this runtime supports.
    Features,
    /// Print a container's OCI state as JSON.
    State(IdArg),
    /// Send a signal to a container's init process (or, with --all, to all its processes).
    Kill(KillArgs),
    /// Delete a stopped container (with --force, a running one too) and everything it holds.
    Delete(DeleteArgs),
    /// List containers.
    #[command(alias = "ls")]
    List(ListArgs),
    /// List the processes of a container (host pids).
    Ps(PsArgs),
    /// Show a running container's resource usage: memory, cpu, pids, OOM kills.
    Stats(StatsArgs),
    /// Stream a container's events as JSON lines (runc's format): its usage every --interval and an
    /// `oom` event when the OOM killer strikes, until it stops. With --stats: one usage event, then exit.
    Events(EventsArgs),
    /// Show what makes a running container one, read from /proc: namespaces next to the host's, cgroup,
    /// mounts and overlay layers, capabilities, seccomp, network. A table on a terminal, JSON otherwise.
    Inspect(StatsArgs),
    /// Lessons you run: real containers, the commands next to them and what to look at.
    Lesson(lesson::LessonArgs),
    /// Freeze every process of a running container (cgroup freezer).
    Pause(IdArg),
    /// Thaw a paused container.
    Resume(IdArg),
    /// Change the limits of a running container.
    Update(UpdateArgs),
    /// Extract a base tarball into the cache once (what `make extract` calls); prints the rootfs directory.
    Extract(ExtractArgs),
    /// Images: import, ls, inspect, rm, prune, export.
    Image(images::ImageArgs),
    /// Build an image from a Containyfile (FROM, COPY, RUN, ENV, WORKDIR, USER, CMD, ENTRYPOINT, LABEL).
    Build(images::BuildArgs),
    /// Bridge networks: list, create and remove them (a network is a bridge, a subnet and its leases).
    #[command(subcommand)]
    Network(network::NetworkCommand),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The bundle directory: configy.toml, configy.json or config.json (looked up in that order).
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Use this config file instead of looking one up in the bundle.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Allocate a terminal for the container (overrides the config's `terminal`).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Use this root filesystem (a directory, or a tarball extracted once) instead of the config's.
    #[arg(long, value_name = "PATH")]
    pub rootfs: Option<PathBuf>,
    /// Write the container's pid (as seen from the host) to this file once it runs.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Where base tarballs are extracted.
    #[arg(long, default_value = image::DEFAULT_CACHE, value_name = "DIR", env = "CONTAINY_CACHE")]
    pub cache: PathBuf,
    /// Create and start the container, then return (it runs on without containy).
    #[arg(short, long)]
    pub detach: bool,
    /// With --detach and a terminal: a Unix socket to send the pty's master side to.
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Pass this many extra fds (3, 4, …) to the container.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    #[command(flatten)]
    pub network: network::NetArgs,
    /// The container id (default: a random one).
    pub id: Option<String>,
    /// Run this image (NAME[:TAG]) from the store: its layers, and its command, env, workdir and user unless
    /// --config gives a process.
    #[arg(long, value_name = "NAME[:TAG]")]
    pub image: Option<String>,
    /// The image store.
    #[arg(long, default_value = image::DEFAULT_STORE, value_name = "DIR", env = "CONTAINY_STORE")]
    pub store: PathBuf,
    /// With --image: set an environment variable (KEY=VALUE) over the image's.
    #[arg(long, value_name = "KEY=VALUE", requires = "image")]
    pub env: Vec<String>,
    /// With --image: the working directory, over the image's WorkingDir.
    #[arg(long, value_name = "DIR", requires = "image")]
    pub workdir: Option<PathBuf>,
    /// With --image: UID[:GID] or NAME[:GROUP] (looked up in the image), over the image's User.
    #[arg(long, value_name = "USER", requires = "image")]
    pub user: Option<String>,
    /// With --image: the command (after `--`), replacing the image's Cmd.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The bundle directory (config.json, or a friendly configy.toml / configy.json).
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Write the container's pid (as seen from the host) here once it exists.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// With a terminal: a Unix socket to send the pty's master side to.
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Pass this many extra fds (3, 4, …) to the container.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Accepted for runc compatibility; containy always uses pivot_root.
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility; containy creates no session keyring.
    #[arg(long)]
    pub no_new_keyring: bool,
    #[arg(long, default_value = image::DEFAULT_CACHE, value_name = "DIR", env = "CONTAINY_CACHE")]
    pub cache: PathBuf,
    #[command(flatten)]
    pub network: network::NetArgs,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The process as OCI `process` JSON (what engines pass); otherwise the container's own, with CMD.
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Allocate a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Return once the process runs.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the new process's pid (as seen from the host) here once it exists.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// With --detach and a terminal: a Unix socket to send the pty's master side to.
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE), replacing one of the same name.
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// UID[:GID] to run as.
    #[arg(short, long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Add a capability (e.g. CAP_NET_ADMIN).
    #[arg(long, value_name = "CAP")]
    pub cap: Vec<String>,
    /// Pass this many extra fds (3, 4, …) to the process.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    pub id: String,
    /// The command and its arguments (after the id).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// The bundle to write config.json into.
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// For an unprivileged user: a user namespace mapping your ids to root, /sys shared, no cgroup mount.
    #[arg(long)]
    pub rootless: bool,
}

#[derive(Debug, Args)]
pub struct IdArg {
    pub id: String,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Send the signal to every process of the container, not only its init.
    #[arg(short, long)]
    pub all: bool,
    pub id: String,
    /// A signal name (TERM, SIGKILL) or number; default TERM.
    #[arg(default_value = "TERM")]
    pub signal: String,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill the container first if it is still running.
    #[arg(short, long)]
    pub force: bool,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// `table` or `json`.
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Only print the ids.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// `table` or `json`.
    #[arg(short, long, default_value = "table")]
    pub format: String,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Print one stats event and exit.
    #[arg(long)]
    pub stats: bool,
    /// Time between stats events (`5s`, `500ms`, `1m`).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// New memory limit (e.g. 256M).
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// New limit on the number of tasks, or "max".
    #[arg(long, value_name = "N")]
    pub pids: Option<String>,
    /// New CPU quota in CPUs (e.g. 0.5).
    #[arg(long, value_name = "CPUS")]
    pub cpu: Option<f64>,
    /// New limits as OCI `linux.resources` JSON (what engines pass); `-` reads standard input.
    #[arg(short, long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// The tarball (.tar or .tar.gz).
    pub tarball: PathBuf,
    #[arg(long, default_value = image::DEFAULT_CACHE, value_name = "DIR", env = "CONTAINY_CACHE")]
    pub cache: PathBuf,
}

/// Run the parsed command; returns the process exit code.
pub fn dispatch(cli: Cli) -> Result<i32> {
    anyhow::ensure!(
        !cli.systemd_cgroup,
        "--systemd-cgroup is not supported: containy writes cgroup files itself (use cgroup_manager = \"cgroupfs\")"
    );
    if cli.explain {
        crate::narrate::enable();
    }
    if cli.debug {
        crate::oci::set_debug();
    }
    match cli.command {
        Command::Run(args) => run(&cli.root, args),
        Command::Create(args) => {
            let mut plan = load_plan(&args.bundle, None)?;
            network::apply_net_args(&mut plan, &args.network)?;
            let store = std::env::var_os("CONTAINY_STORE").unwrap_or_else(|| image::DEFAULT_STORE.into());
            image::runconf::resolve_rootfs(&mut plan, std::path::Path::new(&store))?;
            let opts = RunOptions {
                id: args.id,
                root: cli.root.clone(),
                base_cache: args.cache,
                pid_file: args.pid_file,
                seccomp_cache: crate::seccomp::DEFAULT_CACHE.into(),
                preserve_fds: args.preserve_fds,
            };
            runtime::create(&plan, &opts, args.console_socket.as_deref())?;
            Ok(0)
        }
        Command::Start(args) => {
            Container::load(&cli.root, &args.id)?.start()?;
            Ok(0)
        }
        Command::Exec(args) => exec(&cli.root, args),
        Command::Spec(args) => {
            let path = args.bundle.join("config.json");
            anyhow::ensure!(!path.exists(), "{} already exists: remove it first", path.display());
            let spec =
                oci::spec::default_spec(args.rootless, nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
            std::fs::write(&path, serde_json::to_string_pretty(&spec)? + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(0)
        }
        Command::Features => {
            println!("{}", serde_json::to_string_pretty(&oci::spec::features())?);
            Ok(0)
        }
        Command::State(args) => {
            println!("{}", serde_json::to_string_pretty(&Container::load(&cli.root, &args.id)?.oci_state())?);
            Ok(0)
        }
        Command::Kill(args) => {
            Container::load(&cli.root, &args.id)?.kill(parse_signal(&args.signal)?, args.all)?;
            Ok(0)
        }
        Command::Delete(args) => {
            match Container::load(&cli.root, &args.id) {
                Ok(c) => c.delete(args.force)?,
                // Deleting what is already gone is fine when forced (engines retry deletes).
                Err(runtime::RuntimeError::NotFound { .. }) if args.force => {}
                Err(e) => return Err(e.into()),
            }
            Ok(0)
        }
        Command::List(args) => {
            let all = runtime::container::list(&cli.root);
            if args.quiet {
                all.iter().for_each(|c| println!("{}", c.state.id));
            } else if args.format == "json" {
                let states: Vec<_> = all.iter().map(Container::oci_state).collect();
                println!("{}", serde_json::to_string(&states)?);
            } else {
                println!("{:<24} {:<8} {:<9} {:<31} BUNDLE", "ID", "PID", "STATUS", "CREATED");
                for c in &all {
                    let st = c.oci_state();
                    println!(
                        "{:<24} {:<8} {:<9} {:<31} {}",
                        c.state.id,
                        st["pid"].to_string(),
                        st["status"].as_str().unwrap_or("?"),
                        c.state.created,
                        c.state.bundle.display()
                    );
                }
            }
            Ok(0)
        }
        Command::Ps(args) => {
            let pids = Container::load(&cli.root, &args.id)?.pids();
            if args.format == "json" {
                println!("{}", serde_json::to_string(&pids)?);
            } else {
                println!("PID");
                pids.iter().for_each(|p| println!("{p}"));
            }
            Ok(0)
        }
        Command::Stats(args) => {
            let stats = Container::running(&cli.root, &args.id)?.stats();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print!("{}", stats_table(&args.id, &stats));
            }
            Ok(0)
        }
        Command::Events(args) => {
            let Some(interval) = runtime::events::parse_interval(&args.interval) else {
                anyhow::bail!("--interval {:?}: expected a duration such as 5s, 500ms or 1m", args.interval);
            };
            let container = Container::running(&cli.root, &args.id)?;
            runtime::events::watch(&container, interval, args.stats, &mut std::io::stdout().lock())?;
            Ok(0)
        }
        Command::Inspect(args) => {
            let inspection = runtime::inspect::inspect(&cli.root, &args.id)?;
            if args.json || !std::io::stdout().is_terminal() {
                println!("{}", serde_json::to_string_pretty(&inspection)?);
            } else {
                print!("{}", inspect::table(&inspection));
            }
            Ok(0)
        }
        Command::Lesson(args) => lesson::run(&cli.root, cli.explain, args),
        Command::Pause(args) => Container::running(&cli.root, &args.id)?.pause().map(|_| 0).map_err(Into::into),
        Command::Resume(args) => Container::running(&cli.root, &args.id)?.resume().map(|_| 0).map_err(Into::into),
        Command::Update(args) => {
            let resources = update_resources(&args)?;
            Container::running(&cli.root, &args.id)?.update(&resources)?;
            Ok(0)
        }
        Command::Image(args) => images::image(args),
        Command::Build(args) => images::build(&cli.root, args),
        Command::Extract(args) => {
            let dir = image::ensure_base(&args.tarball, &args.cache)?;
            println!("{}", dir.display());
            Ok(0)
        }
        Command::Network(command) => network::network(&cli.root, command),
    }
}

/// Find the bundle's config (or take `--config`) and lower it to a Plan.
fn load_plan(bundle: &std::path::Path, config_file: Option<&std::path::Path>) -> Result<crate::plan::Plan> {
    let file = match config_file {
        Some(path) => classify(path),
        None => config::locate(bundle)?,
    };
    Ok(match file {
        ConfigFile::Friendly(path, format) => config::load(&path, format, bundle)?,
        ConfigFile::Oci(path) => oci::load(&path, bundle)?,
    })
}

fn run(root: &std::path::Path, args: RunArgs) -> Result<i32> {
    let mut plan = match &args.image {
        Some(name) => images::image_plan(name, &args)?,
        None => load_plan(&args.bundle, args.config.as_deref())?,
    };
    image::runconf::resolve_rootfs(&mut plan, &args.store)?;
    network::apply_net_args(&mut plan, &args.network)?;
    if args.tty {
        plan.process.terminal = true;
    }
    if let Some(rootfs) = &args.rootfs {
        let path = std::path::absolute(rootfs).with_context(|| format!("--rootfs {}", rootfs.display()))?;
        plan.rootfs.source = if path.is_dir() {
            crate::plan::RootfsSource::Directory(path)
        } else {
            crate::plan::RootfsSource::Tarball(path)
        };
    }
    let id = match args.id {
        Some(id) => id,
        None => runtime::state::generate_id(),
    };
    let opts = RunOptions {
        id: id.clone(),
        root: root.to_path_buf(),
        base_cache: args.cache,
        pid_file: args.pid_file,
        seccomp_cache: crate::seccomp::DEFAULT_CACHE.into(),
        preserve_fds: args.preserve_fds,
    };
    if args.detach {
        runtime::create(&plan, &opts, args.console_socket.as_deref())?;
        Container::load(root, &id)?.start()?;
        return Ok(0);
    }
    match runtime::run(&plan, &opts) {
        Ok(Exit::OomKilled { limit }) => {
            let limit = limit.map(|l| format!(" (memory limit {})", human_size(l))).unwrap_or_default();
            eprintln!("containy: container {id} was killed by the OOM killer{limit}");
            Ok(Exit::OomKilled { limit: None }.code())
        }
        Ok(exit) => Ok(exit.code()),
        Err(runtime::RuntimeError::Exec { code, text }) => Err(ExitWith { code: code as i32, message: text }.into()),
        Err(e) => Err(e).with_context(|| format!("cannot run container {id}")),
    }
}

fn exec(root: &std::path::Path, args: ExecArgs) -> Result<i32> {
    runtime::exec::reexec_sealed()?;
    let container = Container::running(root, &args.id)?;
    let mut process = match &args.process {
        Some(file) => oci::load_process(file)?,
        None => {
            anyhow::ensure!(!args.command.is_empty(), "exec: give a command after the container id, or --process FILE");
            let mut p = load_plan(&container.state.bundle, None)?.process;
            p.args = args.command.clone();
            p.terminal = false;
            p
        }
    };
    process.terminal |= args.tty;
    for kv in &args.env {
        let key = kv.split_once('=').map(|(k, _)| k).ok_or_else(|| anyhow::anyhow!("--env {kv:?}: use KEY=VALUE"))?;
        process.env.retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key));
        process.env.push(kv.clone());
    }
    if let Some(cwd) = &args.cwd {
        process.cwd = cwd.clone();
    }
    if let Some(user) = &args.user {
        let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
        process.uid = uid.parse().map_err(|_| anyhow::anyhow!("--user {user:?}: use UID[:GID] (numbers)"))?;
        process.gid = gid.parse().map_err(|_| anyhow::anyhow!("--user {user:?}: use UID[:GID] (numbers)"))?;
    }
    for cap in &args.cap {
        let cap = cap.to_ascii_uppercase();
        let cap = if cap.starts_with("CAP_") { cap } else { format!("CAP_{cap}") };
        let caps = &mut process.capabilities;
        for set in [&mut caps.bounding, &mut caps.effective, &mut caps.permitted] {
            if !set.contains(&cap) {
                set.push(cap.clone());
            }
        }
    }
    let opts = runtime::exec::ExecOptions {
        process,
        detach: args.detach,
        pid_file: args.pid_file.as_deref(),
        console_socket: args.console_socket.as_deref(),
        preserve_fds: args.preserve_fds,
        seccomp_cache: std::path::Path::new(crate::seccomp::DEFAULT_CACHE),
    };
    match runtime::exec::exec(&container, opts) {
        Ok(exit) => Ok(exit.code()),
        Err(runtime::RuntimeError::Exec { code, text }) => Err(ExitWith { code: code as i32, message: text }.into()),
        Err(e) => Err(e).with_context(|| format!("cannot exec in container {}", args.id)),
    }
}

/// `TERM`, `SIGTERM`, `term` or `15`.
fn parse_signal(text: &str) -> Result<nix::sys::signal::Signal> {
    use nix::sys::signal::Signal;
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| anyhow::anyhow!("{n} is not a signal number"));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse().map_err(|_| anyhow::anyhow!("unknown signal {text:?}: use a name like TERM or KILL, or a number"))
}

fn update_resources(args: &UpdateArgs) -> Result<crate::plan::Resources> {
    let mut r = match &args.resources {
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
            oci::parse_resources(&text, std::path::Path::new("update --resources (standard input)"))?
        }
        Some(path) => oci::load_resources(path)?,
        None => crate::plan::Resources::default(),
    };
    if let Some(m) = &args.memory {
        r.memory = Some(config::parse_size(m).map_err(|e| anyhow::anyhow!("--memory: {e}"))?);
    }
    if let Some(p) = &args.pids {
        r.pids = Some(match p.as_str() {
            "max" => -1,
            n => n.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                anyhow::anyhow!("--pids: {n:?} is not a process limit: use a number, at least 1, or \"max\"")
            })?,
        });
    }
    if let Some(cpu) = args.cpu {
        anyhow::ensure!(cpu > 0.0 && cpu <= 1024.0, "--cpu: {cpu} is not a number of CPUs: use e.g. 0.5 or 2");
        r.cpu_quota = Some((cpu * 100_000.0).round() as i64);
        r.cpu_period = Some(100_000);
    }
    Ok(r)
}

fn stats_table(id: &str, s: &crate::cgroups::Stats) -> String {
    let size = |v: Option<u64>| v.map_or("-".to_string(), human_size);
    let pids_max = s.pids_max.map_or("max".to_string(), |m| m.to_string());
    format!(
        "container  {id}{}\nmemory     {} used, {} peak, limit {}\ncpu        {}\npids       {} of {pids_max}\noom kills  {}\n",
        if s.frozen { " (paused)" } else { "" },
        size(s.memory_usage),
        size(s.memory_peak),
        s.memory_limit.map_or("none".to_string(), human_size),
        match (s.cpu_usage_ns, s.cpu_quota_us, s.cpu_period_us) {
            (Some(ns), Some(q), Some(p)) =>
                format!("{:.3} s, quota {:.2} CPU ({q} of {p} µs)", ns as f64 / 1e9, q as f64 / p as f64),
            (Some(ns), _, _) => format!("{:.3} s, no quota", ns as f64 / 1e9),
            _ => "-".to_string(),
        },
        s.pids_current.map_or("-".to_string(), |p| p.to_string()),
        s.oom_kills,
    )
}

/// `--config FILE`: `*.toml` is friendly TOML, `config.json` is OCI, any other `*.json` friendly JSON.
fn classify(path: &std::path::Path) -> ConfigFile {
    let is = |ext: &str| path.extension().is_some_and(|e| e == ext);
    if is("toml") {
        ConfigFile::Friendly(path.to_path_buf(), config::Format::Toml)
    } else if path.file_name().is_some_and(|n| n == "config.json") {
        ConfigFile::Oci(path.to_path_buf())
    } else {
        ConfigFile::Friendly(path.to_path_buf(), config::Format::Json)
    }
}

/// `64 MiB` for exact sizes, `12.3 MiB` otherwise.
fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    match UNITS.iter().find(|(_, size)| bytes >= *size) {
        Some((unit, size)) if bytes % size == 0 => format!("{} {unit}", bytes / size),
        Some((unit, size)) => format!("{:.1} {unit}", bytes as f64 / *size as f64),
        None => format!("{bytes} bytes"),
    }
}
