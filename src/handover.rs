//! Two binaries, one library: `containy` is the runtime, `containy-engine` is the engine.
//!
//! Every containy process pays, before `main`, for the whole binary it runs: a static-pie start-up writes every
//! pointer in `.data.rel.ro` (the relocation), and the text of what it calls is faulted in. The daemon (tokio,
//! hyper) and the registry client (ureq, rustls, ring) were a third of containy's text and two fifths of that
//! relocation, paid by every `run`, `create`, `start` and `exec` — the verbs podman, containerd and graders
//! call thousands of times — which never use them. So they are linked into `containy-engine` only.
//!
//! The linker decides what a binary holds by what its `main` can reach. `containy`'s `main` reaches the
//! daemon and the client only through the functions `containy-engine`'s `main` hands to [`link`]; so
//! `containy` holds neither, and when a command needs them — `serve`, `pull`, `push`, `login`, `logout`, or a
//! `run --image` whose image must be pulled — it *hands the command over*: it executes `containy-engine`
//! (next to itself) with the same arguments, in the same process. Nothing has been done yet at those points
//! (a pull happens while the Plan is being made, before anything is created), so the engine simply does the
//! whole command again, and what the user sees is the same as from one binary.
//!
//! `containy-engine` is the whole of containy: every verb works there too, in one process.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::image::registry::{Event, PullOptions, Pulled, RegistryError};
use crate::image::store::Store;

/// The runtime binary's file name.
pub const RUNTIME: &str = "containy";
/// The engine binary's file name: next to the runtime binary.
pub const ENGINE: &str = "containy-engine";

/// The engine's verbs (`serve`, `pull`, `push`, `login`, `logout`): `crate::cli::engine::verb`.
pub type VerbFn = fn(&std::path::Path, crate::cli::Command) -> anyhow::Result<i32>;
/// A pull from a registry: `crate::image::registry::pull`.
pub type PullFn = fn(&Store, &str, &PullOptions, &(dyn Fn(&Event<'_>) + Sync)) -> Result<Pulled, RegistryError>;

/// What only `containy-engine` links, handed to [`link`] by its `main`.
pub struct Linked {
    pub verb: VerbFn,
    pub pull: PullFn,
}

static LINKED: OnceLock<Linked> = OnceLock::new();

/// `containy-engine`'s `main` links the engine in, before it parses anything.
pub fn link(linked: Linked) {
    // Only `main` calls this, once: a second call would hand in the same functions.
    let _ = LINKED.set(linked);
}

/// Whether this binary is `containy-engine`.
fn is_engine() -> bool {
    LINKED.get().is_some()
}

/// Run one of the engine's verbs: here in `containy-engine`, by a hand-over in `containy`.
pub fn verb(root: &std::path::Path, command: crate::cli::Command) -> anyhow::Result<i32> {
    match LINKED.get() {
        Some(linked) => (linked.verb)(root, command),
        None => Err(to_engine()),
    }
}

/// Pull `reference` into `store`: here in `containy-engine`; `containy` hands its command over.
pub fn pull(
    store: &Store,
    reference: &str,
    options: &PullOptions,
    progress: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<Pulled, RegistryError> {
    match LINKED.get() {
        Some(linked) => (linked.pull)(store, reference, options, progress),
        None => Err(RegistryError::Usage(format!("{:#}", to_engine()))),
    }
}

/// Make sure a pull can happen in this process: `containy` hands its command over now, before whatever it
/// was about to do (`run` pulls as a user in a forked user namespace, which must not become the engine).
pub fn pulls_here() -> anyhow::Result<()> {
    if is_engine() { Ok(()) } else { Err(to_engine()) }
}

/// Execute `containy-engine` with this process's arguments and environment. Returns only if that fails.
fn to_engine() -> anyhow::Error {
    let engine = match sibling(ENGINE) {
        Ok(path) => path,
        Err(e) => return e,
    };
    crate::explain!(
        "hand the command over",
        format!("execve({}, the same arguments)", engine.display()),
        "the registry client and the daemon are linked into containy-engine only: every container start is cheaper"
    );
    // exec(3) returns only its error: the process is containy-engine from here on.
    // Not the mark of a sealed re-exec (`runtime::sealed_exe`): containy-engine is another binary, not this one
    // re-executed, and makes its own view if its verb needs one.
    let args = std::env::args_os().skip(1);
    let error =
        std::process::Command::new(&engine).args(args).env_remove(crate::runtime::sealed_exe::mark_name()).exec();
    anyhow::anyhow!(
        "this command needs {ENGINE} (the registry client and the daemon are there, not in {RUNTIME}): cannot execute {}: \
         {error} (install both binaries side by side: make release puts them in target/release)",
        engine.display()
    )
}

/// The runtime binary: what the engine starts monitors, `exec`s and builds with. In `containy-engine` it is the
/// `containy` next to it (smaller, so every container start is cheaper); in `containy` it is itself.
pub fn runtime_binary() -> anyhow::Result<PathBuf> {
    if !is_engine() {
        return own_binary();
    }
    let runtime = sibling(RUNTIME)?;
    match std::fs::metadata(&runtime) {
        Ok(meta) if meta.is_file() => Ok(runtime),
        _ => anyhow::bail!(
            "{ENGINE} starts containers with the {RUNTIME} binary next to it, and {} is missing: install both side \
             by side",
            runtime.display()
        ),
    }
}

/// This process's binary on the host: the one it was started as, even once it runs from a sealed view
/// (`runtime::sealed_exe`), whose file is in no mount namespace.
fn own_binary() -> anyhow::Result<PathBuf> {
    if let Some(binary) = crate::runtime::sealed_exe::original_binary() {
        return Ok(binary);
    }
    std::env::current_exe().map_err(|e| anyhow::anyhow!("cannot find containy's own binary (/proc/self/exe): {e}"))
}

/// The file `name` in the directory of this process's binary.
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let own = own_binary()?;
    let dir = own.parent().ok_or_else(|| anyhow::anyhow!("{}: the binary has no directory", own.display()))?;
    Ok(dir.join(name))
}
