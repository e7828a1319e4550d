//! `containy build`: a Containyfile (see `parse.rs`) becomes an image, one layer per `COPY` and `RUN`.
//!
//! Each step starts from the image so far: `RUN` runs in a real container made by `crate::runtime` (new
//! namespaces, a cgroup, the default seccomp profile, no network unless `--network host`), with the image's
//! layers as overlay lower dirs and `keep_changes`, so the container's overlay upper dir — overlay's own
//! whiteouts included — *is* the new layer. `COPY` mounts the same overlay in containy's own private mount
//! namespace (`unshare(CLONE_NEWNS)` once per build, so nothing can leak onto the host's mount table) and
//! extracts the packed sources into it with the safe extractor. `ENV`, `WORKDIR`, `USER`, `CMD`,
//! `ENTRYPOINT` and `LABEL` only change the config.
//!
//! The cache: a step's key is sha256(parent key, the instruction's text, and for `COPY` the sha256 of the
//! packed sources); the first key is the `FROM` image's id. A `COPY`/`RUN` layer is stored under its key, so
//! "is this step cached" is "does `layers/<key>` exist" — an unchanged rebuild runs nothing. `--no-cache`
//! mixes a fresh nonce into the keys. This is the one part of `image` that calls `runtime`
//! (ARCHITECTURE.md).

pub mod copy;
pub mod parse;

use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use colored::Colorize;
use nix::mount::{MntFlags, MsFlags};
use sha2::{Digest, Sha256};

use super::extract::{Options, extract_with};
use super::resolve::Root;
use super::runconf::{read_in_layers, resolve_user, set_env};
use super::store::{ImageConfig, ImageRecord, RUN_RECORD, Store, TmpDir, now_rfc3339, store_error, unique};
use super::{Hashing, ImageError, hex};
use crate::plan::{Namespace, Network, Plan, Rootfs, RootfsMode, RootfsSource};
use nix::fcntl::OFlag;
use parse::{Instruction, Kind};

/// What `containy build` was asked.
pub struct BuildOptions {
    pub tag: String,
    pub file: PathBuf,
    pub context: PathBuf,
    pub no_cache: bool,
    pub network: Network,
    /// Where the RUN containers' state goes (`--root`).
    pub state_root: PathBuf,
    /// Colored step headers (stdout is a terminal).
    pub color: bool,
    /// The container defaults a RUN step starts from (the friendly config's).
    pub base_plan: Plan,
}

/// The image so far.
struct Current {
    layers: Vec<String>,
    config: ImageConfig,
    key: String,
}

/// Build and tag the image; returns its id.
pub fn build(store: &Store, opts: &BuildOptions) -> Result<String, ImageError> {
    let text =
        std::fs::read_to_string(&opts.file).map_err(|source| ImageError::Open { path: opts.file.clone(), source })?;
    let steps = parse::parse(&text).map_err(|e| ImageError::Build {
        file: opts.file.clone(),
        line: e.line,
        instruction: e.instruction,
        message: e.message,
    })?;
    super::store::normalise_name(&opts.tag)?;
    let _lock = store.lock(true)?;
    reap_orphans(store);
    private_mount_namespace()?;
    let nonce = if opts.no_cache { unique() } else { String::new() };
    let mut current = Current { layers: Vec::new(), config: ImageConfig::default(), key: String::new() };
    let total = steps.len();
    for (i, step) in steps.iter().enumerate() {
        let header = format!("STEP {}/{total}: {}", i + 1, step.text);
        println!("{}", if opts.color { header.bold().cyan().to_string() } else { header });
        run_step(store, opts, step, &mut current, &nonce).map_err(|e| match e {
            e @ ImageError::Build { .. } => e,
            other => ImageError::Build {
                file: opts.file.clone(),
                line: step.line,
                instruction: step.name.clone(),
                message: other.to_string(),
            },
        })?;
    }
    let mut record = ImageRecord {
        layers: current.layers,
        config: current.config,
        architecture: "amd64".into(),
        os: "linux".into(),
        created: now_rfc3339(),
        ..ImageRecord::default()
    };
    // An unchanged rebuild is the same image (same id), not a copy that differs only in its date.
    if let Ok(existing) = store.find(&opts.tag)
        && (ImageRecord { created: record.created.clone(), ..existing.record.clone() }) == record
    {
        record.created = existing.record.created;
    }
    store.add_image(&record, Some(&opts.tag))
}

fn key(parent: &str, text: &str, content: &str, nonce: &str) -> String {
    hex(&Sha256::digest(format!("{parent}\n{text}\n{content}\n{nonce}").as_bytes()))
}

fn run_step(
    store: &Store,
    opts: &BuildOptions,
    step: &Instruction,
    cur: &mut Current,
    nonce: &str,
) -> Result<(), ImageError> {
    let next = |content: &str| key(&cur.key, &step.text, content, nonce);
    match &step.kind {
        Kind::From(name) if name == "scratch" => {
            *cur = Current { layers: Vec::new(), config: ImageConfig::default(), key: key("", "scratch", "", "") };
        }
        Kind::From(name) => {
            let image = store.find(name)?;
            *cur = Current { layers: image.record.layers, config: image.record.config, key: image.id };
        }
        Kind::Env(pairs) => {
            let env = cur.config.env.get_or_insert_with(|| vec![crate::plan::DEFAULT_PATH.to_string()]);
            for (k, v) in pairs {
                set_env(env, &format!("{k}={v}"));
            }
            cur.key = next("");
        }
        Kind::Label(labels) => {
            cur.config.labels.get_or_insert_with(Default::default).extend(labels.clone());
            cur.key = next("");
        }
        Kind::Workdir(dir) => {
            let base = cur.config.working_dir.clone().unwrap_or_else(|| "/".into());
            cur.config.working_dir = Some(Path::new(&base).join(dir).display().to_string());
            cur.key = next("");
        }
        Kind::User(user) => {
            cur.config.user = Some(user.clone());
            cur.key = next("");
        }
        Kind::Cmd(cmd) => {
            cur.config.cmd = Some(cmd.argv());
            cur.key = next("");
        }
        Kind::Entrypoint(cmd) => {
            cur.config.entrypoint = Some(cmd.argv());
            // As in docker: a new ENTRYPOINT drops a CMD inherited from the base image.
            cur.config.cmd = None;
            cur.key = next("");
        }
        Kind::Copy { sources, dest } => {
            let workdir = cur.config.working_dir.clone().unwrap_or_else(|| "/".into());
            // Mounted first: whether the destination is a directory is a question about the image.
            let view = MergedView::mount(store, &store.lowerdirs_of(&cur.layers))?;
            crate::fault::at("build.1")?;
            let dest_path = Path::new(&workdir).join(dest);
            let dest_is_dir = view.is_dir(&dest_path);
            let packed = view.tmp.path.join("copy.tar");
            let file = std::fs::File::options()
                .create_new(true)
                .read(true)
                .write(true)
                .open(&packed)
                .map_err(store_error(&packed, "create"))?;
            let spool = copy::Spool { inner: file, path: packed.clone() };
            let mut file = copy::pack(&opts.context, sources, dest, &workdir, dest_is_dir, spool)?.inner;
            file.seek(SeekFrom::Start(0)).map_err(store_error(&packed, "seek"))?;
            let mut hashing = Hashing::new(&file);
            std::io::copy(&mut hashing, &mut std::io::sink()).map_err(store_error(&packed, "read"))?;
            let id = next(&hashing.hex());
            if cached(store, opts, &id) {
                cur.layers.push(id.clone());
                cur.key = id;
                return Ok(());
            }
            file.seek(SeekFrom::Start(0)).map_err(store_error(&packed, "seek"))?;
            extract_with(&file, &view.merged, Options::default())?;
            drop(file);
            let _ = std::fs::remove_file(&packed);
            let layer = view.finish()?;
            crate::fault::at("build.2")?;
            store.publish_layer(layer, &id)?;
            cur.layers.push(id.clone());
            cur.key = id;
        }
        Kind::Run(cmd) => {
            let id = next("");
            if cached(store, opts, &id) {
                cur.layers.push(id.clone());
                cur.key = id;
                return Ok(());
            }
            let layer = run_in_container(store, opts, cur, cmd.argv())?;
            store.publish_layer(layer, &id)?;
            cur.layers.push(id.clone());
            cur.key = id;
        }
    }
    Ok(())
}

fn cached(store: &Store, opts: &BuildOptions, id: &str) -> bool {
    let hit = store.has_layer(id);
    if hit {
        let line = format!("--> using cache {}", &id[..12]);
        println!("{}", if opts.color { line.green().to_string() } else { line });
    }
    hit
}

/// From here on, mounts made by this process are its own and vanish with it, whatever happens.
fn private_mount_namespace() -> Result<(), ImageError> {
    let failed = |op: &'static str| move |e: nix::Error| ImageError::Store { path: "/".into(), op, source: e.into() };
    crate::explain!(
        "enter a private mount namespace",
        "unshare(CLONE_NEWNS); mount(\"\", \"/\", MS_REC|MS_PRIVATE)",
        "COPY mounts the image's overlay; those mounts must never appear on the host, even if containy is killed"
    );
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(failed("unshare(CLONE_NEWNS) (needs root)"))?;
    nix::mount::mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(failed("make mounts private"))
}

/// The image so far, mounted as an overlay with a fresh upper dir (`<tmp>/diff`) at `<tmp>/merged`: what
/// is written there lands in the upper dir, which becomes the COPY's layer. Unmounted when dropped.
struct MergedView {
    tmp: TmpDir,
    merged: PathBuf,
    mounted: bool,
}

impl MergedView {
    fn mount(store: &Store, lower: &[PathBuf]) -> Result<MergedView, ImageError> {
        let tmp = store.tmp_dir()?;
        let (upper, work, merged) = (tmp.path.join("diff"), tmp.path.join("work"), tmp.path.join("merged"));
        for dir in [&upper, &work, &merged] {
            std::fs::create_dir(dir).map_err(store_error(dir, "mkdir"))?;
        }
        let (data, cwd) =
            crate::rootfs::overlay_data(lower, &upper, &work).map_err(|e| ImageError::Usage(e.to_string()))?;
        // Relative lowerdirs are resolved against the cwd at mount time only: go back right after.
        let previous = std::env::current_dir().ok();
        if let Some(dir) = &cwd {
            std::env::set_current_dir(dir).map_err(store_error(dir, "chdir"))?;
        }
        crate::explain!(
            "mount the image for COPY",
            format!("mount(\"overlay\", {}, \"overlay\", {data})", merged.display()),
            "the destination is resolved in the image's merged view; what is written lands in the new upper dir"
        );
        let mounted =
            nix::mount::mount(Some("overlay"), &merged, Some("overlay"), MsFlags::empty(), Some(data.as_str()));
        if let (Some(_), Some(previous)) = (&cwd, &previous) {
            std::env::set_current_dir(previous).map_err(store_error(previous, "chdir"))?;
        }
        mounted.map_err(|e| store_error(&merged, "mount overlay")(e.into()))?;
        Ok(MergedView { tmp, merged, mounted: true })
    }

    /// Is `path` (absolute in the image) a directory there, symlinks followed inside the image?
    fn is_dir(&self, path: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let rel = path.strip_prefix("/").unwrap_or(path);
        Root::open(&self.merged)
            .is_ok_and(|root| root.open_in_root(rel.as_os_str().as_bytes(), OFlag::O_PATH | OFlag::O_DIRECTORY).is_ok())
    }

    /// Unmount and keep only the upper dir: the layer, ready to publish.
    fn finish(mut self) -> Result<TmpDir, ImageError> {
        self.mounted = false;
        nix::mount::umount2(&self.merged, MntFlags::MNT_DETACH)
            .map_err(|e| store_error(&self.merged, "umount")(e.into()))?;
        let _ = std::fs::remove_dir_all(self.tmp.path.join("work"));
        let _ = std::fs::remove_dir(&self.merged);
        let tmp = self.tmp.take();
        Ok(tmp)
    }
}

impl Drop for MergedView {
    fn drop(&mut self) {
        if self.mounted {
            let _ = nix::mount::umount2(&self.merged, MntFlags::MNT_DETACH);
        }
    }
}

/// Run `argv` in a container on the image so far; its overlay upper dir becomes the new layer.
fn run_in_container(
    store: &Store,
    opts: &BuildOptions,
    cur: &Current,
    argv: Vec<String>,
) -> Result<TmpDir, ImageError> {
    let work = store.tmp_dir()?;
    let id = format!("build-{}", unique());
    // Recorded before it is taken: a build killed while its RUN container lives leaves this record in its
    // tmp dir, and whoever clears that dir deletes the container first (`reap_orphans`).
    let record = serde_json::json!({ "root": opts.state_root, "id": id });
    let record_path = work.path.join(RUN_RECORD);
    std::fs::write(&record_path, record.to_string()).map_err(store_error(&record_path, "write"))?;
    crate::fault::at("build.3")?;
    let lower = store.lowerdirs_of(&cur.layers);
    let mut plan = opts.base_plan.clone();
    plan.bundle = work.path.clone();
    plan.rootfs = Rootfs {
        source: RootfsSource::Layers(lower.clone()),
        mode: RootfsMode::Overlay,
        readonly: false,
        keep_changes: true,
    };
    plan.process.args = argv;
    plan.process.terminal = false;
    for var in cur.config.env.iter().flatten() {
        set_env(&mut plan.process.env, var);
    }
    if let Some(dir) = &cur.config.working_dir {
        plan.process.cwd = PathBuf::from(dir);
    }
    if let Some(user) = cur.config.user.as_deref().filter(|u| !u.is_empty()) {
        let (uid, gid) = resolve_user(user, &|p| read_in_layers(&lower, p))?;
        plan.process.uid = uid;
        plan.process.gid = gid;
    }
    if opts.network == Network::Host {
        plan.namespaces.retain(|n| n.kind != Namespace::Network);
        plan.network = Network::Host;
    }
    let run_opts = crate::runtime::RunOptions::new(id, &opts.state_root, crate::paths::base_cache());
    let plan = plan.validate().map_err(|e| ImageError::Usage(format!("cannot run the step: {e}")))?;
    let exit = crate::runtime::run(&plan, &run_opts)
        .map_err(|e| ImageError::Usage(format!("cannot run the step: {}", crate::error::chain(&e))))?;
    if exit.code() != 0 {
        return Err(ImageError::Usage(format!("the command exited with {}", exit.code())));
    }
    // `<bundle>/changes/upper` is what the step wrote, in overlay's form: publish it as `<layer>/diff`.
    let layer = store.tmp_dir()?;
    let upper = work.path.join("changes/upper");
    std::fs::rename(&upper, layer.path.join("diff")).map_err(store_error(&upper, "rename"))?;
    crate::fault::at("build.4")?;
    Ok(layer)
}

/// The RUN containers of builds that were killed, found by the record each left in its tmp dir (`Store`'s
/// sweep leaves such a dir alone): the container is deleted (its processes, cgroup, mounts, state dir), then
/// the dir goes. Runs when a build starts and before `image prune`.
pub fn reap_orphans(store: &Store) {
    let Ok(entries) = std::fs::read_dir(store.root.join("tmp")) else { return };
    for entry in entries.flatten() {
        let record = entry.path().join(RUN_RECORD);
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if alive || !record.exists() {
            continue;
        }
        let parsed: Option<(PathBuf, String)> = std::fs::read(&record)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| Some((PathBuf::from(v["root"].as_str()?), v["id"].as_str()?.to_string())));
        if let Some((root, id)) = &parsed {
            crate::explain!(
                "delete the RUN container of a killed build",
                format!("delete --force {id} (--root {})", root.display()),
                "recorded in the build's tmp dir before the container was created"
            );
            if crate::runtime::container::delete_forced(root, id).is_err() {
                continue;
            }
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}
