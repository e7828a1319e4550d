//! Failing on purpose, for the fault tests: `CONTAINY_FAULT=POINT:kill` makes the process that reaches
//! `POINT` die at once (SIGKILL: no destructor, no cleanup guard runs), `POINT:error` makes the operation
//! fail there with an error. A point is a step number of the runtime's setup sequence (`12`, see
//! `runtime/steps.rs`, which calls [`strike_step`]) or a named point of an image or engine operation
//! (`import.3`, `monitor.2`, see [`POINTS`]), placed where the operation has just taken something (a tmp dir,
//! a layer, a record, a name, a container) and has not yet taken the next thing.
//!
//! Why the points sit where they do: the rule of docs/architecture.md is that everything is recorded before
//! it is taken, so whoever comes next (`delete --force`, `rm -f`, `image prune`, the next run of the same
//! operation) can give it back. A fault between "taken" and "recorded" is exactly what these points provoke,
//! and tests/faults_images.rs and tests/faults_engine.rs check that nothing stays behind after each.
//!
//! The variable is read once per process (processes a faulty one starts, such as the engine's monitors,
//! inherit it); without it a point costs one comparison. Release builds keep it: it is harmless unless set,
//! and the tests run the same binary users do.

use std::sync::OnceLock;

/// The named points, `(name, what has been taken when it strikes)`. A unit test checks that every
/// `fault::at("…")` in the code is listed here, so the fault tests, which walk this table, cover a point
/// added later.
pub const POINTS: &[(&str, &str)] = &[
    ("import.1", "a tmp dir made for a layer; nothing extracted yet"),
    ("import.2", "a layer extracted and verified in its tmp dir, not yet published"),
    ("import.3", "every layer published, no image record yet (layers nothing refers to)"),
    ("import.4", "an image archive read from a pipe spooled into a tmp file, not yet read"),
    ("store.1", "an image record or the index written to its temp file, not yet renamed into place"),
    ("store.2", "the image record written, its name not yet in the index"),
    ("store.3", "prune: an unused layer moved aside into tmp/, not yet deleted"),
    ("build.1", "COPY: the image so far mounted over a fresh upper dir in tmp/"),
    ("build.2", "COPY: the sources extracted and unmounted, the layer not yet published"),
    ("build.3", "RUN: the step's work dir made and the container's id recorded in it, no container yet"),
    ("build.4", "RUN: the step's changes moved into a layer tmp dir, not yet published"),
    ("pull.1", "a tmp dir made for a layer; nothing downloaded yet"),
    ("pull.2", "a layer downloaded, verified and extracted into its tmp dir, not yet published"),
    ("pull.3", "every layer published, no image record yet"),
    ("create.1", "the container's record written in a private dir, not yet published"),
    ("create.2", "the record published, its name not yet claimed"),
    ("create.3", "the name claimed, the monitor not yet started"),
    ("monitor.1", "the monitor's dir and attach socket made, no container yet"),
    ("monitor.2", "the runtime container created (waiting for start), no state.json yet"),
    ("monitor.3", "state.json and the log file written, the starter not yet told"),
    ("monitor.4", "the container started, state.json still says created"),
    ("monitor.5", "the container reaped and deleted, state.json still says running"),
    ("start.1", "start: the container found created, the monitor not yet asked to start it"),
    ("stop.1", "stop: the stop signal sent, not yet waited for"),
    ("stop.2", "stop: SIGKILL sent, the monitor not yet gone"),
    ("rm.1", "rm: the container killed and its monitor gone, its runtime state not yet deleted"),
    ("rm.2", "rm: the runtime state deleted, the record not yet unpublished"),
    ("rm.3", "rm: the record unpublished (config.json gone), the rest of it and the name not yet removed"),
];

/// A failure injected on purpose at a named point (`CONTAINY_FAULT=POINT:error`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("fault injected at {0} (CONTAINY_FAULT)")]
pub struct Injected(pub &'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Kill,
    Error,
}

/// `CONTAINY_FAULT`, parsed once: the point and what to do there.
fn armed() -> Option<&'static (String, Action)> {
    static FAULT: OnceLock<Option<(String, Action)>> = OnceLock::new();
    FAULT
        .get_or_init(|| {
            let text = std::env::var("CONTAINY_FAULT").ok()?;
            let (point, action) = text.rsplit_once(':')?;
            let action = match action {
                "kill" => Action::Kill,
                "error" => Action::Error,
                _ => return None,
            };
            Some((point.to_string(), action))
        })
        .as_ref()
}

/// Die as SIGKILL would: at once, nothing runs after.
fn die() -> ! {
    use nix::sys::signal::{Signal, kill};
    let _ = kill(nix::unistd::getpid(), Signal::SIGKILL);
    // The init of a PID namespace cannot SIGKILL itself: die as abruptly (no cleanup runs).
    crate::sys::exit_now(128 + Signal::SIGKILL as i32)
}

/// Step `n` of the runtime's sequence begins: `Some(Error)` when the step must fail (a kill never returns).
pub fn strike_step(n: u32) -> Option<Action> {
    let (point, action) = armed()?;
    if point.parse::<u32>().ok() != Some(n) {
        return None;
    }
    if *action == Action::Kill {
        die();
    }
    Some(Action::Error)
}

/// The named point `point` is reached.
pub fn at(point: &'static str) -> Result<(), Injected> {
    match armed() {
        Some((armed, action)) if armed == point => match action {
            Action::Kill => die(),
            Action::Error => Err(Injected(point)),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::POINTS;

    /// Every `fault::at("NAME")` in src/ names a point of the table, and every point of the table is in the
    /// code: the tests walk the table.
    #[test]
    fn the_table_lists_every_point_in_the_code() {
        fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("fault.rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for piece in text.split("fault::at(\"").skip(1) {
                        found.push(piece.split('"').next().unwrap().to_string());
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        for point in &found {
            assert!(POINTS.iter().any(|(p, _)| p == point), "fault::at({point:?}) is not in fault::POINTS");
        }
        for (point, _) in POINTS {
            assert!(found.iter().any(|p| p == point), "{point} is in fault::POINTS but nowhere in the code");
        }
        let mut names: Vec<_> = POINTS.iter().map(|(p, _)| *p).collect();
        names.dedup();
        assert_eq!(names.len(), POINTS.len(), "a point is listed twice");
    }
}
