//! `containy pull`, `login`, `logout` and the registry flags `image push` shares: clap structures and one
//! function per verb; the work is in `crate::image::registry`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;

use crate::image::Store;
use crate::image::registry::{self, Connection, Platform, PullOptions, auth::Credentials, display::Display};

// How to reach a registry (podman's flag names).
// (A plain comment, not a doc comment: clap would make a flattened struct's doc the verb's about.)
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// Verify TLS certificates and refuse plain HTTP; `--tls-verify=false` for a local registry.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true",
          action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// CA certificates (`*.crt`) for the registry (default: /etc/containers/certs.d/HOST, /etc/docker/certs.d/HOST).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Treat this registry (HOST[:PORT]) as insecure, as registries.conf's `insecure = true` does.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Fail when the registry sends nothing for this long.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub read_timeout: u64,
    /// The credentials file (default: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
    /// ~/.docker/config.json).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

impl ConnArgs {
    pub fn connection(&self) -> Connection {
        let defaults = Connection::default();
        let mut insecure = defaults.insecure;
        insecure.extend(self.insecure_registries.iter().cloned());
        Connection {
            tls_verify: self.tls_verify,
            insecure,
            cert_dir: self.cert_dir.clone(),
            read_timeout: Duration::from_secs(self.read_timeout.max(1)),
            auth_files: self.authfile.clone().map_or(defaults.auth_files, |f| vec![f]),
            credentials: None,
        }
    }
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// NAME[:TAG] or NAME@sha256:DIGEST (`busybox` is docker.io/library/busybox:latest).
    pub reference: String,
    /// The platform to pull from a multi-platform image: OS/ARCH[/VARIANT] (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Layers downloaded at once.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub jobs: usize,
    /// Print only the image id.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The image store the image goes into.
    #[arg(long, default_value_os_t = crate::paths::store(), value_name = "DIR", env = "CONTAINY_STORE")]
    pub store: PathBuf,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// HOST[:PORT] of the registry.
    pub registry: String,
    /// The user name (asked for on a terminal when not given).
    #[arg(short, long)]
    pub username: Option<String>,
    /// The password (visible in `ps`: prefer --password-stdin).
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// HOST[:PORT] of the registry.
    pub registry: String,
    /// The credentials file (default: every file login and docker use).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

pub fn pull(args: PullArgs) -> Result<i32> {
    let store = Store::open(&args.store)?;
    let platform = args.platform.as_deref().map(Platform::parse).transpose()?;
    let options = PullOptions { connection: args.conn.connection(), platform, jobs: args.jobs.max(1) };
    let display = Display::new();
    let started = Instant::now();
    let quiet = args.quiet;
    let pulled = registry::pull(&store, &args.reference, &options, &|e| {
        if !quiet {
            display.event(e)
        }
    });
    display.finish();
    let pulled = pulled?;
    if !quiet {
        eprintln!(
            "pulled {} ({}, {}): {} layer{}, {} downloaded, {:.1} MiB in {:.1} s",
            pulled.name,
            pulled.digest,
            pulled.platform,
            pulled.layers,
            if pulled.layers == 1 { "" } else { "s" },
            pulled.downloaded,
            pulled.bytes as f64 / (1 << 20) as f64,
            started.elapsed().as_secs_f64()
        );
    }
    println!("sha256:{}", pulled.id);
    Ok(0)
}

pub fn push(store: &Store, name: &str, reference: &str, conn: &ConnArgs, compression: &str) -> Result<i32> {
    let compression = compression.parse().map_err(anyhow::Error::msg)?;
    let options = registry::PushOptions { connection: conn.connection(), compression };
    let display = Display::new();
    let pushed = registry::push(store, name, reference, &options, &|e| display.event(e));
    display.finish();
    let pushed = pushed?;
    eprintln!(
        "pushed {}: {} uploaded, {} mounted, {} already there",
        pushed.reference, pushed.uploaded, pushed.mounted, pushed.existed
    );
    println!("{}", pushed.digest);
    Ok(0)
}

pub fn login(args: LoginArgs) -> Result<i32> {
    let username = match args.username {
        Some(u) => u,
        None => prompt("Username: ", true)?,
    };
    let password = match (args.password, args.password_stdin) {
        (Some(_), true) => anyhow::bail!("give --password or --password-stdin, not both"),
        (Some(p), false) => p,
        (None, true) => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("cannot read the password from stdin")?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => prompt("Password: ", false)?,
    };
    anyhow::ensure!(
        !username.is_empty() && !password.is_empty(),
        "login: the user name and password must not be empty"
    );
    let credentials = Credentials { username, password };
    let file = registry::login(&args.registry, credentials, &args.conn.connection(), args.conn.authfile.clone())?;
    eprintln!("login succeeded; credentials stored in {}", file.display());
    Ok(0)
}

pub fn logout(args: LogoutArgs) -> Result<i32> {
    let changed = registry::logout(&args.registry, args.authfile)?;
    anyhow::ensure!(!changed.is_empty(), "not logged in to {}", args.registry);
    for f in changed {
        eprintln!("removed the credentials for {} from {}", args.registry, f.display());
    }
    Ok(0)
}

/// Ask on the terminal; a password is read with echo off.
fn prompt(question: &str, echo: bool) -> Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    anyhow::ensure!(
        stdin.is_terminal(),
        "login: no terminal to ask on: give --username and --password-stdin (e.g. echo \"$PASS\" | containy login -u USER --password-stdin HOST)"
    );
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let saved = if echo { None } else { tcgetattr(&stdin).ok() };
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &quiet);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = &saved {
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, t);
        eprintln!();
    }
    read.context("cannot read from the terminal")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
