//! What someone asks to run → the one finished, validated Plan. Every way of starting a container goes
//! through [`plan`]: `containy run` and `create` with their flags, `run --image`, and the engine's API requests.
//!
//! The order is the contract: (1) the input is lowered by the module that knows its format (`config` for
//! `configy.toml`/`.json`, `oci` for `config.json`, or the friendly defaults when only an image is named);
//! (2) an image — named on the command line or by `rootfs.image` — is looked up in the store, and its config
//! fills in the process; (3) the command-line overrides are applied; (4) the whole is validated once, and from
//! then on it is a [`ValidPlan`] that nothing can change. For a caller who is not root, (3) also makes the Plan
//! rootless (`rootless.rs`: a user namespace with the caller's subordinate ids). Nothing after this module edits
//! a Plan: what the runtime learns on the host later (a network lease, the /etc files it generates) lives in its
//! own structs.

use std::path::{Path, PathBuf};

use crate::config::{self, ConfigFile};
use crate::image::registry::{self, PullPolicy, RegistryError};
use crate::image::{self, Store};
use crate::oci;
use crate::plan::{Plan, PlanError, RootfsSource, ValidPlan};

pub mod rootless;

/// Where the container's description comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A bundle directory: its `configy.toml`, `configy.json` or `config.json`, or the file `config` names.
    Bundle { dir: PathBuf, config: Option<PathBuf> },
    /// An image in the store (`NAME[:TAG]`), run with the friendly defaults; a `config` given too keeps its
    /// own process (only the root filesystem is the image's). `dir` is where relative paths point.
    Image { name: String, config: Option<PathBuf>, dir: PathBuf },
}

/// What the command line (or an API request) says over the config and the image. Empty means "keep".
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// The command. For a bundle it replaces `process.args`; for an image it replaces `Cmd` (the
    /// `Entrypoint` stays, as in docker).
    pub args: Vec<String>,
    /// `KEY=VALUE`, replacing a variable of the same name.
    pub env: Vec<String>,
    /// The working directory inside the container (absolute).
    pub cwd: Option<PathBuf>,
    /// `UID[:GID]` or `NAME[:GROUP]`, names looked up in the container's own `/etc/passwd` and `/etc/group`.
    pub user: Option<String>,
    /// Give the container a terminal.
    pub tty: bool,
    /// A root filesystem directory, or a tarball extracted once, instead of the config's.
    pub rootfs: Option<PathBuf>,
    /// `none`, `host`, `bridge`, `container:ID` or a network's name.
    pub net: Option<String>,
    /// `[HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp]`.
    pub publish: Vec<String>,
    /// Limits for untrusted code, `(field, value)` as the config's `[limits]` writes them (`cpu_time`, `2s`).
    pub limits: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub source: Source,
    pub overrides: Overrides,
    /// The image store images are looked up in.
    pub store: PathBuf,
    /// Whether a named image is pulled from its registry (`--pull=missing|always|never`).
    pub pull: PullPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Oci(#[from] oci::OciError),
    #[error(transparent)]
    Image(#[from] image::ImageError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The finished Plan was refused: the setting, and why (`plan::validate`).
    #[error("the container cannot run as asked: {0}")]
    Invalid(#[from] PlanError),
    #[error("{0}")]
    Usage(String),
}

/// The one place a Plan is made: lower, look up the image, apply the overrides, validate.
pub fn plan(request: &Request) -> Result<ValidPlan, RequestError> {
    let o = &request.overrides;
    let plan = match &request.source {
        Source::Bundle { dir, config } => {
            let mut plan = lower(dir, config.as_deref())?;
            resolve_image_rootfs(&mut plan, &request.store, request.pull)?;
            if !o.args.is_empty() {
                plan.process.args = o.args.clone();
            }
            plan
        }
        Source::Image { name, config, dir } => {
            let mut plan = match config {
                Some(file) => lower(dir, Some(file))?,
                None => default_plan(dir)?,
            };
            let own_process = config.as_ref().map(|_| plan.process.clone());
            let store = Store::open(&request.store)?;
            let found = find_or_pull(&store, name, request.pull)?;
            image::runconf::apply(&store, &found, &mut plan, &o.args)?;
            if let Some(process) = own_process {
                plan.process = process;
            }
            plan
        }
    };
    finish(plan, o)
}

/// The last two steps, for a Plan whose input and image are already in (`plan` above, and the engine, which
/// lowers an API request itself): the overrides, then the one validation.
pub fn finish(mut plan: Plan, overrides: &Overrides) -> Result<ValidPlan, RequestError> {
    apply_overrides(&mut plan, overrides)?;
    rootless::adapt(&mut plan)?;
    Ok(plan.validate()?)
}

/// The friendly config's defaults — new namespaces, the default seccomp profile and capabilities, no network,
/// `/bin/sh` — for an image run without a config (`run --image`, the engine, `build`'s RUN steps).
pub fn default_plan(dir: &Path) -> Result<Plan, RequestError> {
    let dir = std::path::absolute(dir).map_err(|e| RequestError::Usage(format!("{}: {e}", dir.display())))?;
    Ok(config::parse_str("[process]\nargs = [\"/bin/sh\"]\n", config::Format::Toml, Path::new("<defaults>"), &dir)?)
}

/// Find the bundle's config (or take `config`) and lower it with the module that knows its format.
fn lower(bundle: &Path, config_file: Option<&Path>) -> Result<Plan, RequestError> {
    let file = match config_file {
        Some(path) => classify(path),
        None => config::locate(bundle)?,
    };
    Ok(match file {
        ConfigFile::Friendly(path, format) => config::load(&path, format, bundle)?,
        ConfigFile::Oci(path) => oci::load(&path, bundle)?,
    })
}

/// An explicit config file: `*.toml` is friendly TOML, `config.json` is OCI, any other `*.json` friendly JSON.
fn classify(path: &Path) -> ConfigFile {
    let is = |ext: &str| path.extension().is_some_and(|e| e == ext);
    if is("toml") {
        ConfigFile::Friendly(path.to_path_buf(), config::Format::Toml)
    } else if path.file_name().is_some_and(|n| n == "config.json") {
        ConfigFile::Oci(path.to_path_buf())
    } else {
        ConfigFile::Friendly(path.to_path_buf(), config::Format::Json)
    }
}

/// The image `name` from the store, pulled first as `policy` says. The pull runs on this thread (one layer at
/// a time): `run` stays single-threaded up to its clone.
fn find_or_pull(store: &Store, name: &str, mut policy: PullPolicy) -> Result<image::Image, RequestError> {
    let options = registry::PullOptions { jobs: 1, ..Default::default() };
    let pulls = match policy {
        PullPolicy::Always => true,
        PullPolicy::Missing => registry::find_local(store, name).is_err(),
        PullPolicy::Never => false,
    };
    if pulls {
        // In `containy`, the command is handed over to containy-engine here, before anything else.
        crate::handover::pulls_here().map_err(|e| RequestError::Usage(format!("{e:#}")))?;
    }
    if pulls && !nix::unistd::geteuid().is_root() {
        // Rootless: the layers get their owners only in a user namespace with the subordinate ids.
        rootless::in_mapped_user_namespace(|| {
            let display = registry::display::Display::new();
            let pulled = registry::ensure_image(store, name, policy, &options, &|e| display.event(e));
            display.finish();
            pulled.map(drop).map_err(RequestError::from)
        })?;
        policy = PullPolicy::Never;
    }
    let display = registry::display::Display::new();
    let found = registry::ensure_image(store, name, policy, &options, &|e| display.event(e));
    display.finish();
    let found = found?;
    image::runconf::check_platform(name, &found)?;
    Ok(found)
}

/// A config whose `rootfs.image` names an image: its layers become the root (the process stays the config's).
fn resolve_image_rootfs(plan: &mut Plan, store_dir: &Path, policy: PullPolicy) -> Result<(), RequestError> {
    if let RootfsSource::Image(name) = &plan.rootfs.source {
        let store = Store::open(store_dir)?;
        let found = find_or_pull(&store, name, policy)?;
        crate::explain!(
            format!("use image {name}"),
            format!("read {}/images/{}.json", store.root.display(), &found.id[..12.min(found.id.len())]),
            "its layers, top first, become the overlay's lower dirs"
        );
        plan.rootfs.source = RootfsSource::Layers(store.lowerdirs(&found));
    }
    Ok(())
}

fn apply_overrides(plan: &mut Plan, o: &Overrides) -> Result<(), RequestError> {
    if let Some(rootfs) = &o.rootfs {
        let path = std::path::absolute(rootfs).map_err(|e| RequestError::Usage(format!("--rootfs: {e}")))?;
        plan.rootfs.source = if path.is_dir() { RootfsSource::Directory(path) } else { RootfsSource::Tarball(path) };
    }
    config::override_network(plan, o.net.as_deref(), &o.publish).map_err(RequestError::Usage)?;
    plan.process.terminal |= o.tty;
    for (field, value) in &o.limits {
        config::limits::set_field(&mut plan.limits, field, value)
            .map_err(|e| RequestError::Usage(format!("--{}: {e}", field.replace('_', "-"))))?;
    }
    for var in &o.env {
        if !var.contains('=') || var.starts_with('=') {
            return Err(RequestError::Usage(format!("--env {var:?}: use KEY=VALUE")));
        }
        image::runconf::set_env(&mut plan.process.env, var);
    }
    if let Some(dir) = &o.cwd {
        if !dir.is_absolute() {
            return Err(RequestError::Usage(format!("--workdir {}: give an absolute path", dir.display())));
        }
        plan.process.cwd = dir.clone();
    }
    if let Some(user) = &o.user {
        let (uid, gid) = image::runconf::resolve_user(user, &|path| read_in_rootfs(plan, path))?;
        plan.process.uid = uid;
        plan.process.gid = gid;
        if uid != 0 {
            image::runconf::set_env(&mut plan.process.env, "HOME=/");
        }
    }
    Ok(())
}

/// A small text file of the container's root filesystem, read inside it (its symlinks cannot lead out).
fn read_in_rootfs(plan: &Plan, path: &str) -> Option<String> {
    match &plan.rootfs.source {
        RootfsSource::Layers(layers) => image::runconf::read_in_layers(layers, path),
        RootfsSource::Directory(dir) => image::runconf::read_in_layers(std::slice::from_ref(dir), path),
        // A tarball is extracted only when the container starts: numeric ids work, names are not known yet.
        RootfsSource::Tarball(_) | RootfsSource::Image(_) => None,
    }
}

/// What `exec` is asked to run, over the container's own process (from the Plan it was created with).
#[derive(Debug, Clone, Default)]
pub struct ExecOverrides {
    /// An OCI `process` JSON file (what engines pass); replaces the container's process whole.
    pub process_file: Option<PathBuf>,
    /// The command; required without `process_file`.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// `UID[:GID]` or `NAME[:GROUP]`, names looked up in the running container's own `/etc/passwd`.
    pub user: Option<String>,
    /// Capabilities added to the bounding, effective and permitted sets (`CAP_NET_ADMIN` or `NET_ADMIN`).
    pub caps: Vec<String>,
    pub tty: bool,
}

/// The process `exec` runs: an OCI process file, or the container's own process with the command and the
/// overrides; checked like a container's process. `root` is the container's root as the host reaches it
/// (`/proc/<pid>/root`), for user names.
pub fn exec_process(
    container: &ValidPlan,
    o: &ExecOverrides,
    root: &Path,
) -> Result<crate::plan::Process, RequestError> {
    let mut process = match &o.process_file {
        Some(file) => oci::load_process(file)?,
        None => {
            if o.args.is_empty() {
                return Err(RequestError::Usage(
                    "exec: give a command after the container id, or --process FILE".into(),
                ));
            }
            let mut p = container.process.clone();
            p.args = o.args.clone();
            p.terminal = false;
            p
        }
    };
    process.terminal |= o.tty;
    for var in &o.env {
        if !var.contains('=') || var.starts_with('=') {
            return Err(RequestError::Usage(format!("--env {var:?}: use KEY=VALUE")));
        }
        image::runconf::set_env(&mut process.env, var);
    }
    if let Some(cwd) = &o.cwd {
        process.cwd = cwd.clone();
    }
    if let Some(user) = &o.user {
        let root = root.to_path_buf();
        let (uid, gid) = image::runconf::resolve_user(user, &|path| {
            image::runconf::read_in_layers(std::slice::from_ref(&root), path)
        })?;
        process.uid = uid;
        process.gid = gid;
    }
    for cap in &o.caps {
        let cap = cap.to_ascii_uppercase();
        let cap = if cap.starts_with("CAP_") { cap } else { format!("CAP_{cap}") };
        let caps = &mut process.capabilities;
        for set in [&mut caps.bounding, &mut caps.effective, &mut caps.permitted] {
            if !set.contains(&cap) {
                set.push(cap.clone());
            }
        }
    }
    crate::plan::check_process(&process, "process")?;
    Ok(process)
}

/// What `update` is asked to change: OCI `linux.resources` JSON (a file, or `-` for standard input, as
/// dockerd sends it) and the simple flags over it.
#[derive(Debug, Clone, Default)]
pub struct ResourceUpdate {
    pub resources_file: Option<PathBuf>,
    /// `256M`, …
    pub memory: Option<String>,
    /// A number of tasks, or `max`.
    pub pids: Option<String>,
    /// CPUs, e.g. `0.5`.
    pub cpus: Option<f64>,
}

/// The new limits; `stdin` is read when the file is `-`.
pub fn resources(
    update: &ResourceUpdate,
    stdin: &mut dyn std::io::Read,
) -> Result<crate::plan::Resources, RequestError> {
    let mut r = match &update.resources_file {
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .map_err(|e| RequestError::Usage(format!("--resources -: cannot read standard input: {e}")))?;
            oci::parse_resources(&text, Path::new("update --resources (standard input)"))?
        }
        Some(path) => oci::load_resources(path)?,
        None => crate::plan::Resources::default(),
    };
    if let Some(m) = &update.memory {
        r.memory = Some(config::parse_size(m).map_err(|e| RequestError::Usage(format!("--memory: {e}")))?);
    }
    if let Some(p) = &update.pids {
        r.pids = Some(match p.as_str() {
            "max" => -1,
            n => n.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                RequestError::Usage(format!(
                    "--pids: {n:?} is not a process limit: use a number, at least 1, or \"max\""
                ))
            })?,
        });
    }
    if let Some(cpus) = update.cpus {
        if !(cpus > 0.0 && cpus <= 1024.0) {
            return Err(RequestError::Usage(format!("--cpu: {cpus} is not a number of CPUs: use e.g. 0.5 or 2")));
        }
        r.cpu_quota = Some((cpus * 100_000.0).round() as i64);
        r.cpu_period = Some(100_000);
    }
    Ok(r)
}
