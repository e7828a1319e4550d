//! The command line: clap structures and one function per verb. No logic lives here — each verb finds
//! its input, asks `config`/`oci` for a `Plan` and hands it to `runtime` or `image`.

mod containers;
pub mod engine;
mod format;
mod images;
mod inspect;
mod lesson;
mod limits;
mod network;
mod plain;
mod registry;

#[cfg(test)]
mod help_tests;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::request::{self, Overrides, Request, Source};
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
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The flags every verb takes (`global`: before or after the verb).
#[derive(Debug, Args)]
pub struct Global {
    /// Directory for container state.
    #[arg(long, global = true, default_value_os_t = crate::paths::state_root(), value_name = "DIR", env = "CONTAINY_ROOT")]
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
}

impl Cli {
    /// Parse the command line, the cheapest reader first. The lines engines send on every container are
    /// read without clap ([`plain`]: building `run`'s forty flags, their defaults and the global flags'
    /// copies cost a start ≈ 100 µs). Another line of a common verb is parsed against the global flags and
    /// that verb alone ([`Command::plain`]), as clap copies every global flag into every verb it holds.
    /// Anything else — no verb, another one, `help`, `--version`, and every error — is parsed again against
    /// the whole command, so what the user reads is clap's own message.
    pub fn parse_args() -> Result<Cli, clap::Error> {
        Cli::parse_from_args(std::env::args_os().collect())
    }

    fn parse_from_args(args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
        if let Some(cli) = plain::parse(&args) {
            return Ok(cli);
        }
        if let Some(mut one_verb) = Self::one_verb_command(&args)
            && let Ok(mut matches) = one_verb.try_get_matches_from_mut(&args)
            && let Ok(cli) = <Cli as clap::FromArgMatches>::from_arg_matches_mut(&mut matches)
        {
            return Ok(cli);
        }
        Cli::try_parse_from(args)
    }

    /// The top-level command with the global flags and only the verb `args` names, or `None` when the verb
    /// is not one of [`Command::plain`]'s or cannot be told without clap.
    fn one_verb_command(args: &[std::ffi::OsString]) -> Option<clap::Command> {
        let top = <Global as Args>::augment_args(clap::Command::new("containy"));
        let mut rest = args.iter().skip(1);
        let verb = loop {
            let arg = rest.next()?.to_str()?;
            let Some(long) = arg.strip_prefix("--") else {
                if arg.starts_with('-') {
                    return None;
                }
                break arg;
            };
            let (name, inline_value) = long.split_once('=').map_or((long, false), |(n, _)| (n, true));
            let global = top.get_arguments().find(|a| a.get_long() == Some(name))?;
            if global.get_action().takes_values() && !inline_value {
                rest.next()?;
            }
        };
        Some(top.subcommand_required(true).subcommand(Command::plain(verb)?))
    }
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
#[command(defer = true)]
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
    /// Without an id: list the engine's containers (`run --image … -d`/`--name`, and the daemon's); with
    /// an id: the processes of a container (host pids).
    Ps(PsArgs),
    /// Print an engine container's log (docker's json-file); -f follows it until the container ends.
    Logs(containers::LogsArgs),
    /// Stop engine containers: the stop signal, then SIGKILL after --time seconds.
    Stop(containers::StopArgs),
    /// Remove engine containers (-f: running ones too).
    Rm(containers::RmArgs),
    /// Show a running container's resource usage: memory, cpu, pids, OOM kills.
    Stats(StatsArgs),
    /// Stream a container's events as JSON lines (runc's format): its usage every --interval and an
    /// `oom` event when the OOM killer strikes, until it stops. With --stats: one usage event, then exit.
    Events(EventsArgs),
    /// Show what makes a running container one, read from /proc: namespaces next to the host's, cgroup,
    /// mounts and overlay layers, capabilities, seccomp, network.
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
    /// Pull an image from a registry into the store; prints its id.
    Pull(registry::PullArgs),
    /// Log in to a registry: check the credentials and store them where docker and podman look.
    Login(registry::LoginArgs),
    /// Log out of a registry: forget its stored credentials.
    Logout(registry::LogoutArgs),
    /// The engine daemon: serve the Docker Engine API on a Unix socket (docker, docker-py, docker-compose).
    Serve(engine::ServeArgs),
    /// (internal) The per-container monitor the engine starts: holds stdio, logs, reaps.
    #[command(hide = true)]
    Monitor(engine::MonitorArgs),
}

impl Command {
    /// The subcommand of a common verb (engines', scripts'), built alone: what the derived
    /// `augment_subcommands` builds for it among all the others (`help_tests` checks they agree). `None` for
    /// every other verb.
    fn plain(verb: &str) -> Option<clap::Command> {
        fn with<A: Args>(name: &'static str) -> clap::Command {
            A::augment_args(clap::Command::new(name))
        }
        Some(match verb {
            "run" => with::<RunArgs>("run"),
            "create" => with::<CreateArgs>("create"),
            "start" => with::<IdArg>("start"),
            "exec" => with::<ExecArgs>("exec"),
            "state" => with::<IdArg>("state"),
            "kill" => with::<KillArgs>("kill"),
            "delete" => with::<DeleteArgs>("delete"),
            "ps" => with::<PsArgs>("ps"),
            "pause" => with::<IdArg>("pause"),
            "resume" => with::<IdArg>("resume"),
            "update" => with::<UpdateArgs>("update"),
            "monitor" => with::<engine::MonitorArgs>("monitor").hide(true),
            "list" | "ls" => with::<ListArgs>("list").alias("ls"),
            _ => return None,
        })
    }

    /// Does this verb start a process inside a container (clone a container's init, or join one)? Those run
    /// from a sealed view of containy (`runtime::sealed_exe`; `containy_entry::is_sealed_verb` names the same).
    pub(crate) fn enters_a_container(&self) -> bool {
        matches!(
            self,
            Command::Run(_) | Command::Create(_) | Command::Exec(_) | Command::Monitor(_) | Command::Build(_)
        )
    }
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
    #[arg(long, default_value_os_t = crate::paths::base_cache(), value_name = "DIR", env = "CONTAINY_CACHE")]
    pub cache: PathBuf,
    /// Create and start the container, then return (it runs on without containy); with --image, an engine
    /// container (see below).
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
    #[command(flatten)]
    pub limits: Box<limits::LimitArgs>,
    /// Rootless without a writable cgroup: fail if the config asks for limits (default: warn and run).
    #[arg(long, env = "CONTAINY_STRICT_LIMITS")]
    pub strict_limits: bool,
    /// The container id (default: a random one).
    pub id: Option<String>,
    /// Run this image (NAME[:TAG]) from the store: its layers, and its command, env, workdir and user unless
    /// --config gives a process.
    #[arg(long, value_name = "NAME[:TAG]")]
    pub image: Option<String>,
    /// The image store.
    #[arg(long, default_value_os_t = crate::paths::store(), value_name = "DIR", env = "CONTAINY_STORE")]
    pub store: PathBuf,
    /// Set an environment variable (KEY=VALUE), over the config's and the image's.
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// The working directory inside the container, over the config's (or the image's WorkingDir).
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// UID[:GID] or NAME[:GROUP] (names looked up in the container's /etc/passwd and /etc/group).
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,
    /// The command (after `--`): replaces the config's process.args, or the image's Cmd.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
    /// When to pull the image (--image, or the config's rootfs.image): missing (the default), always or never.
    /// No clap default: a default would be parsed on every run, and the run path of a bundle touches nothing
    /// of the registry client.
    #[arg(long, value_name = "POLICY")]
    pub pull: Option<image::registry::PullPolicy>,
    #[command(flatten)]
    pub docker: Box<containers::DockerFlags>,
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
    /// Where base tarballs are extracted.
    #[arg(long, default_value_os_t = crate::paths::base_cache(), value_name = "DIR", env = "CONTAINY_CACHE")]
    pub cache: PathBuf,
    #[command(flatten)]
    pub network: network::NetArgs,
    /// Rootless without a writable cgroup: fail if the config asks for limits (default: warn and run).
    #[arg(long, env = "CONTAINY_STRICT_LIMITS")]
    pub strict_limits: bool,
    /// The container's id.
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
    #[arg(short = 'w', long, visible_alias = "workdir", value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// UID[:GID] or NAME[:GROUP] to run as (names looked up in the container's /etc/passwd and /etc/group).
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,
    /// Add a capability (e.g. CAP_NET_ADMIN).
    #[arg(long, value_name = "CAP")]
    pub cap: Vec<String>,
    /// Pass this many extra fds (3, 4, …) to the process.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// The container's id.
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
    /// The container's id.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Send the signal to every process of the container, not only its init.
    #[arg(short, long)]
    pub all: bool,
    /// The container's id.
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
    /// The container's id.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub output: format::FormatArg,
    /// Only print the ids.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    #[command(flatten)]
    pub output: format::FormatArg,
    /// Engine containers: every one, not only running ones.
    #[arg(short, long)]
    pub all: bool,
    /// Engine containers: only their ids.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub store: containers::StoreArgs,
    /// The container's id (without it: the engine's containers).
    pub id: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub output: format::FormatArg,
    /// The container's id.
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
    /// The container's id.
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
    /// The container's id.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// The tarball (.tar or .tar.gz).
    pub tarball: PathBuf,
    /// Where to extract it (one directory per tarball, named by its digest).
    #[arg(long, default_value_os_t = crate::paths::base_cache(), value_name = "DIR", env = "CONTAINY_CACHE")]
    pub cache: PathBuf,
}

/// containy's own failures (bad config, a failed mount) exit 125, as docker and podman do, so they are
/// never mistaken for the container's exit code.
const EXIT_CONTAINY_ERROR: i32 = 125;

/// The command line itself is wrong: clap's usage errors, the code clap and most Unix tools use.
const EXIT_USAGE: i32 = 2;

/// Both binaries' `main` (`crate::handover`): parse the command line, run the verb, print the error chain,
/// exit with the right code.
///
/// Exit codes (docs/architecture.md, "Errors"): the container's own code when it ran; 128+N when signal N killed
/// it; 126/127 when its program could not be executed (not executable / not found); 125 when containy itself
/// failed (a bad config, a refused mount); 2 when the command line could not be parsed (an unknown verb or
/// flag, a missing or malformed argument) — then nothing was attempted.
pub fn main() -> ! {
    // A previous image of this process (`runtime::sealed_exe`) may have left us the sealed view's mount.
    crate::runtime::sealed_exe::adopt_inherited_view();
    let cli = match Cli::parse_args() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` come this way too, to stdout and with success.
            let _ = e.print();
            std::process::exit(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let log = cli.global.log.clone().map(|path| (path, cli.global.log_format));
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let cause: &(dyn std::error::Error + 'static) = e.as_ref();
            let message = crate::error::chain(cause);
            if let Some((path, format)) = &log {
                log_error(path, *format, &message);
            }
            match e.downcast_ref::<ExitWith>() {
                Some(exit) => {
                    eprintln!("containy: {message}");
                    exit.code
                }
                None => {
                    eprintln!("containy: error: {message}");
                    EXIT_CONTAINY_ERROR
                }
            }
        }
    };
    std::process::exit(code);
}

/// Run the parsed command; returns the process exit code.
pub fn dispatch(cli: Cli) -> Result<i32> {
    anyhow::ensure!(
        !cli.global.systemd_cgroup,
        "--systemd-cgroup is not supported: containy writes cgroup files itself (use cgroup_manager = \"cgroupfs\")"
    );
    if cli.global.explain {
        crate::narrate::enable();
    }
    if !matches!(cli.command, Command::Spec(_) | Command::Features | Command::Extract(_) | Command::Image(_)) {
        crate::paths::check_state_root(&cli.global.root)?;
    }
    // Before the verb does anything: a process inside a container must never reach the host's binary.
    if cli.command.enters_a_container() {
        runtime::sealed_exe::reexec_sealed(&cli.global.root)?;
    }
    if cli.global.debug {
        crate::oci::set_debug();
    }
    match cli.command {
        Command::Run(args) => {
            let record = limits::ResultFile::take(args.limits.result.clone());
            record.finish(run(&cli.global.root, args))
        }
        Command::Create(args) => {
            let store = std::env::var_os("CONTAINY_STORE").unwrap_or_else(|| crate::paths::store().into());
            let plan = request::plan(&Request {
                source: Source::Bundle { dir: args.bundle, config: None },
                overrides: Overrides { net: args.network.net, publish: args.network.publish, ..Default::default() },
                store: store.into(),
                pull: image::registry::PullPolicy::Missing,
            })?;
            let opts = RunOptions {
                pid_file: args.pid_file,
                preserve_fds: args.preserve_fds,
                strict_limits: args.strict_limits,
                ..RunOptions::new(args.id, &cli.global.root, args.cache)
            };
            runtime::create(&plan, &opts, args.console_socket.as_deref())?;
            Ok(0)
        }
        Command::Start(args) => {
            Container::load(&cli.global.root, &args.id)?.start()?;
            Ok(0)
        }
        Command::Exec(args) => exec(&cli.global.root, args),
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
            println!("{}", serde_json::to_string_pretty(&Container::load(&cli.global.root, &args.id)?.oci_state())?);
            Ok(0)
        }
        Command::Kill(args) => {
            Container::load(&cli.global.root, &args.id)?.kill(parse_signal(&args.signal)?, args.all)?;
            Ok(0)
        }
        Command::Delete(args) => {
            if args.force {
                // Deleting what is already gone is fine when forced (engines retry deletes).
                runtime::container::delete_forced(&cli.global.root, &args.id)?;
            } else {
                Container::load(&cli.global.root, &args.id)?.delete(false)?;
            }
            Ok(0)
        }
        Command::List(args) => {
            let all = runtime::container::list(&cli.global.root);
            if args.quiet {
                all.iter().for_each(|c| println!("{}", c.state.id));
            } else if args.output.json() {
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
            let Some(id) = &args.id else {
                return containers::ps(&cli.global.root, &args.store, args.all, args.quiet, args.output.json());
            };
            let pids = Container::load(&cli.global.root, id)?.pids();
            if args.output.json() {
                println!("{}", serde_json::to_string(&pids)?);
            } else {
                println!("PID");
                pids.iter().for_each(|p| println!("{p}"));
            }
            Ok(0)
        }
        Command::Stats(args) => {
            let stats = Container::running(&cli.global.root, &args.id)?.stats();
            if args.output.json() {
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
            let container = Container::running(&cli.global.root, &args.id)?;
            runtime::events::watch(&container, interval, args.stats, &mut std::io::stdout().lock())?;
            Ok(0)
        }
        Command::Inspect(args) => {
            let inspection = runtime::inspect::inspect(&cli.global.root, &args.id)?;
            if args.output.json() {
                println!("{}", serde_json::to_string_pretty(&inspection)?);
            } else {
                print!("{}", inspect::table(&inspection));
            }
            Ok(0)
        }
        Command::Lesson(args) => lesson::run(&cli.global.root, cli.global.explain, args),
        Command::Pause(args) => Container::running(&cli.global.root, &args.id)?.pause().map(|_| 0).map_err(Into::into),
        Command::Resume(args) => {
            Container::running(&cli.global.root, &args.id)?.resume().map(|_| 0).map_err(Into::into)
        }
        Command::Update(args) => {
            let update = request::ResourceUpdate {
                resources_file: args.resources,
                memory: args.memory,
                pids: args.pids,
                cpus: args.cpu,
            };
            let resources = request::resources(&update, &mut std::io::stdin().lock())?;
            Container::running(&cli.global.root, &args.id)?.update(&resources)?;
            Ok(0)
        }
        // The daemon and the registry client are linked into containy-engine only (`crate::handover`).
        command @ (Command::Serve(_) | Command::Pull(_) | Command::Login(_) | Command::Logout(_)) => {
            crate::handover::verb(&cli.global.root, command)
        }
        Command::Image(args) if args.command.is_network() => {
            crate::handover::verb(&cli.global.root, Command::Image(args))
        }
        Command::Image(args) => mapped(|| images::image(args)),
        Command::Build(args) => mapped(|| images::build(&cli.global.root, args)),
        Command::Extract(args) => {
            let dir = image::ensure_base(&args.tarball, &args.cache)?;
            println!("{}", dir.display());
            Ok(0)
        }
        Command::Network(command) => network::network(&cli.global.root, command),
        Command::Logs(args) => containers::logs(&cli.global.root, args),
        Command::Stop(args) => containers::stop(&cli.global.root, args),
        Command::Rm(args) => containers::rm(&cli.global.root, args),
        Command::Monitor(args) => engine::monitor(&cli.global.root, args),
    }
}

fn run(root: &std::path::Path, args: RunArgs) -> Result<i32> {
    if containers::wants_engine(&args) {
        return containers::run(root, args);
    }
    let source = match args.image {
        Some(name) => Source::Image { name, config: args.config, dir: args.bundle },
        None => Source::Bundle { dir: args.bundle, config: args.config },
    };
    if args.detach && args.limits.result.is_some() {
        anyhow::bail!("--result needs containy to wait for the container: drop --detach");
    }
    let overrides = Overrides {
        args: args.command,
        env: args.env,
        cwd: args.workdir,
        user: args.user,
        tty: args.tty,
        rootfs: args.rootfs,
        net: args.network.net,
        publish: args.network.publish,
        limits: args.limits.flags(),
    };
    let plan = request::plan(&Request {
        source,
        overrides,
        store: args.store,
        pull: args.pull.unwrap_or(image::registry::PullPolicy::Missing),
    })?;
    let id = args.id.unwrap_or_else(runtime::state::generate_id);
    let opts = RunOptions {
        pid_file: args.pid_file,
        preserve_fds: args.preserve_fds,
        result: args.limits.result.clone(),
        strict_limits: args.strict_limits,
        ..RunOptions::new(id.clone(), root, args.cache)
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
    let container = Container::running(root, &args.id)?;
    let overrides = request::ExecOverrides {
        process_file: args.process,
        args: args.command,
        env: args.env,
        cwd: args.cwd,
        user: args.user,
        caps: args.cap,
        tty: args.tty,
    };
    let process = request::exec_process(&container.plan()?, &overrides, &container.root_dir())?;
    let opts = runtime::exec::ExecOptions {
        process,
        detach: args.detach,
        pid_file: args.pid_file.as_deref(),
        console_socket: args.console_socket.as_deref(),
        preserve_fds: args.preserve_fds,
        seccomp_cache: &crate::paths::seccomp_cache(),
    };
    match runtime::exec::exec(&container, opts) {
        Ok(exit) => Ok(exit.code()),
        Err(runtime::RuntimeError::Exec { code, text }) => Err(ExitWith { code: code as i32, message: text }.into()),
        Err(e) => Err(e).with_context(|| format!("cannot exec in container {}", args.id)),
    }
}

/// Rootless, the image verbs run as root of a user namespace with the caller's subordinate ids, so image
/// files keep their owners; an error is reported there, as `main` would.
fn mapped(verb: impl FnOnce() -> Result<i32>) -> Result<i32> {
    Ok(runtime::rootless::as_mapped_root(|| match verb() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("containy: error: {e:#}");
            125
        }
    })?)
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

fn stats_table(id: &str, s: &runtime::Stats) -> String {
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

/// `64 MiB` for exact sizes, `12.3 MiB` otherwise.
fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    match UNITS.iter().find(|(_, size)| bytes >= *size) {
        Some((unit, size)) if bytes % size == 0 => format!("{} {unit}", bytes / size),
        Some((unit, size)) => format!("{:.1} {unit}", bytes as f64 / *size as f64),
        None => format!("{bytes} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verbs_that_enter_a_container_are_those_the_entry_point_re_executes() {
        // One line per verb, as clap parses it; the entry point (before libc) knows verbs by name only.
        let lines = [
            "run --bundle b c1",
            "create --bundle b c1",
            "exec c1 true",
            "monitor --store s c1",
            "build --tag t --store s .",
            "start c1",
            "delete c1",
            "state c1",
            "kill c1",
            "ps c1",
        ];
        for line in lines {
            let cli = Cli::try_parse_from(std::iter::once("containy").chain(line.split(' '))).unwrap();
            let verb = line.split(' ').next().unwrap();
            assert_eq!(cli.command.enters_a_container(), containy_entry::is_sealed_verb(verb.as_bytes()), "{verb}");
        }
    }
}
