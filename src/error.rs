//! containy's errors: one `thiserror` enum per module (next to its code), `IoError` shared by all of them, and
//! `chain`, the one way an error becomes text. There is no crate-wide error enum: the CLI carries errors as
//! `anyhow::Error` and downcasts to a module's type where a variant matters (exec failures exit 126/127).
//!
//! Each variant says what failed in its own words and keeps the cause as its `#[source]` — it never repeats the
//! cause in its message. `chain` then prints the whole story once, from the top step down to the kernel's
//! answer: `cannot create cgroup /sys/fs/cgroup/pids/web: Permission denied (os error 13)`. `main.rs`, the
//! child's report over the sync socket and the warnings all go through it, so a cause is never printed twice
//! and never lost.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};

/// An operation on a path that the kernel refused: `op` is the verb (`mkdir`, `read`, `open`), `path` the
/// file, `source` the kernel's answer. Every module's enum wraps this one (`#[error(transparent)] Io`).
#[derive(Debug, thiserror::Error)]
#[error("cannot {op} {}", path.display())]
pub struct IoError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    pub fn new(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> IoError {
        IoError { op, path: path.into(), source }
    }

    /// For `map_err`: `fs::read(p).map_err(IoError::on("read", p))?`.
    pub fn on(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> IoError + use<> {
        let path = path.to_path_buf();
        move |source| IoError { op, path, source }
    }

    pub fn kind(&self) -> std::io::ErrorKind {
        self.source.kind()
    }
}

/// The error and its causes, `outer: inner: innermost`, each printed once. A cause whose text the message
/// before it already ends with is skipped: errors from other crates sometimes repeat their source.
pub fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !cause_text.is_empty() && !text.ends_with(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_prints_its_cause_once() {
        let e = IoError::new("mkdir", "/x", std::io::Error::from_raw_os_error(13));
        assert_eq!(chain(&e), "cannot mkdir /x: Permission denied (os error 13)");
        let wrapped = crate::runtime::RuntimeError::from(crate::runtime::state::StateError::from(e));
        assert_eq!(chain(&wrapped), "cannot mkdir /x: Permission denied (os error 13)");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn a_message_that_repeats_its_source_is_not_extended() {
        let e = Repeats(std::io::Error::from_raw_os_error(2));
        assert_eq!(chain(&e), "outer: No such file or directory (os error 2)");
    }

    /// A message that prints its own `{source}` shows the cause twice once `chain` adds the source.
    #[test]
    fn no_error_message_repeats_its_source() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut dirs = vec![src];
        let mut offenders = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (at, _) in text.match_indices("#[error(") {
                        let attribute = &text[at..at + text[at..].find(")]").unwrap_or(text.len() - at)];
                        if attribute.contains("{source") {
                            offenders.push(format!("{}: {attribute}", path.display()));
                        }
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "messages that print their source:\n{}", offenders.join("\n"));
    }
}
