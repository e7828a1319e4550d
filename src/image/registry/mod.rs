//! Pull and push images from OCI registries (the OCI Distribution spec v2): `containy pull`, `image push`,
//! `login`/`logout`, and `run --image` pulling a missing image. The engine's `POST /images/create` calls
//! [`pull`] too: a plain function taking a reference, options and a progress callback, returning the image
//! id, usable from any thread.
//!
//! A pull is data first, then blobs: parse the reference (`reference.rs`), probe the registry and learn how
//! to authenticate (`client.rs`, `auth.rs`), fetch the manifest by tag or digest and, from an index, the one
//! for the platform (`manifest.rs`), then the config, whose `diff_ids` name the layers as the store keys
//! them — so layers already stored are never downloaded. Each missing layer is streamed once: registry →
//! sha256 of the blob → gunzip/unzstd → sha256 of the tar → safe extraction into a store tmp dir; only when
//! both digests match is the dir renamed into the store (`pull.rs`). Nothing a registry sends is stored
//! before it is verified, and a failed pull leaves only a tmp dir that is removed at once (or, after a
//! `kill -9`, by the next store user). Several layers download at once on threads — except when `run`
//! pulls (`jobs = 1`): the run path stays single-threaded. A push (`push.rs`) is the reverse: each layer
//! re-tarred (and compressed) into a tmp file while hashed, skipped when the registry has it, mounted from
//! another repository of the same registry when containy pushed it there before, else uploaded whole.
//!
//! This module is only reached from `pull`, `push`, `login`, `logout`, a `run --image` whose image is
//! missing and `serve`; `create`/`start`/`exec` of an OCI bundle never touch it.

pub mod auth;
pub mod client;
pub mod display;
pub mod manifest;
mod pull;
mod push;
pub mod reference;

use std::path::PathBuf;

pub use client::Connection;
pub use manifest::Platform;
#[cfg(feature = "fuzzing")]
pub(crate) use pull::parse_document;
pub use pull::{PullOptions, PullPolicy, Pulled, ensure_image, find_local, pull};
pub use push::{Compression, PushOptions, Pushed, push};
pub use reference::Reference;

use super::ImageError;

/// What a pull or push reports as it goes (the CLI draws it, the engine turns it into JSON messages).
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The manifest is known: its digest and how many layers it has.
    Resolved { reference: &'a str, digest: &'a str, layers: usize },
    /// One layer's (or blob's) state; `done`/`total` are bytes of the blob as transferred.
    Layer { digest: &'a str, status: Status, done: u64, total: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The store has it (pull) or the registry has it (push).
    Exists,
    Waiting,
    Downloading,
    Done,
    Preparing,
    Uploading,
    /// Mounted from another repository of the same registry.
    Mounted,
    Pushed,
}

/// A progress callback that ignores everything.
pub fn quiet(_: &Event<'_>) {}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Reference(#[from] reference::BadReference),

    #[error("{0}")]
    Usage(String),

    #[error("cannot reach {url}: {message}")]
    Http { url: String, message: String },

    #[error("{url}: the registry answered {status}: {message}")]
    Status { url: String, status: u16, message: String },

    #[error("{registry}: unauthorized: {message} (log in with 'containy login {registry}')")]
    Unauthorized { registry: String, message: String },

    #[error("{url}: redirected {hops} times in a loop")]
    RedirectLoop { url: String, hops: usize },

    #[error("credentials file {}: {message}", path.display())]
    Credentials { path: PathBuf, message: String },

    #[error("{what}: digest mismatch: expected {expected}, the registry sent content with digest {actual}")]
    Digest { what: String, expected: String, actual: String },

    #[error("{what} is larger than {limit} bytes: refused (a registry does not send that much for it)")]
    TooLarge { what: String, limit: u64 },

    #[error("{what}: {message}")]
    Format { what: String, message: String },

    #[error("index {index}: no image for platform {wanted} (it has: {available}); choose one with --platform")]
    NoPlatform { index: String, wanted: String, available: String },

    // The wrappers below print their cause themselves, with its whole chain (no `#[source]`): one message,
    // whole, for the CLI's chain and for the engine's JSON alike.
    #[error("layer {digest}: {}", crate::error::chain(&**cause))]
    Blob { digest: String, cause: Box<RegistryError> },

    #[error(transparent)]
    Store(#[from] ImageError),

    #[error("{}; pulling it failed too: {}", crate::error::chain(&**missing), crate::error::chain(&**cause))]
    Missing { missing: Box<ImageError>, cause: Box<RegistryError> },

    #[error("cannot pull {reference}: {}", crate::error::chain(&**cause))]
    Pull { reference: String, cause: Box<RegistryError> },

    #[error("cannot push {image} to {reference}: {}", crate::error::chain(&**cause))]
    Push { image: String, reference: String, cause: Box<RegistryError> },
}

/// Log in: check `credentials` against the registry, then store them (see `auth.rs`). Returns the file.
pub fn login(
    registry: &str,
    credentials: auth::Credentials,
    connection: &Connection,
    file: Option<PathBuf>,
) -> Result<PathBuf, RegistryError> {
    let registry = registry_name(registry)?;
    let api_host = if registry == reference::DOCKER_HUB { reference::DOCKER_HUB_API } else { &registry };
    let conn = Connection { credentials: Some(credentials.clone()), ..connection.clone() };
    client::Client::connect(&registry, api_host, &conn)?.check_login()?;
    let path = match file {
        Some(f) => f,
        None => auth::auth_files()
            .into_iter()
            .next()
            .ok_or_else(|| RegistryError::Usage("no place for credentials: set REGISTRY_AUTH_FILE".into()))?,
    };
    auth::store(&path, &registry, &credentials)?;
    Ok(path)
}

/// Log out: forget `registry`'s credentials in every file that has them. Returns the files changed.
pub fn logout(registry: &str, file: Option<PathBuf>) -> Result<Vec<PathBuf>, RegistryError> {
    let registry = registry_name(registry)?;
    let files = match file {
        Some(f) => vec![f],
        None => auth::auth_files(),
    };
    auth::remove(&registry, &files)
}

/// `HOST[:PORT]` as given to login/logout (a URL's scheme and path are dropped, as docker does).
fn registry_name(text: &str) -> Result<String, RegistryError> {
    let host = text.trim_start_matches("https://").trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" => reference::DOCKER_HUB,
        h => h,
    };
    if !reference::valid_host(host) {
        return Err(RegistryError::Usage(format!("{text:?} is not a registry: give HOST[:PORT], e.g. quay.io")));
    }
    Ok(host.to_string())
}

#[cfg(test)]
mod tests {
    /// The engine pulls on its own threads: everything it hands over or gets back must cross them.
    #[test]
    fn a_pull_can_run_on_any_thread() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::PullOptions>();
        send_sync::<super::Pulled>();
        send_sync::<super::RegistryError>();
        send_sync::<crate::image::Store>();
    }
}
