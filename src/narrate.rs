//! The `--explain` channel: every kernel step says what it does, through which syscall or file, and why.
//!
//! Mechanism modules call [`explain!`](crate::explain) at each step; nothing is printed unless narration
//! was switched on. Each step prints its number, which side of the clone took it, what, how, why, and the
//! `file:line` that does it, so the narration doubles as a guided tour of the source.
//!
//! The two processes take turns (the child waits for the parent's go-ahead; the parent waits for the child
//! to exec), so one numbering runs through both — the step numbers of `runtime::steps` (the same as in the
//! code's comments and docs/architecture.md), each line numbered within its step (`12.3`): the counter lives in an unnamed temporary file opened
//! before `clone`, whose open file both sides share. (A counter in memory would be copied by `clone`, and
//! parent and child would then both number on from the same step.) The file is close-on-exec: nothing of it
//! reaches the container's program. Output goes to stderr, colored only on a TTY.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use colored::Colorize;

static ENABLED: AtomicBool = AtomicBool::new(false);
static COLOR: AtomicBool = AtomicBool::new(false);
static STEP: AtomicU32 = AtomicU32::new(0);
static LINE: AtomicU32 = AtomicU32::new(0);
static SHARED_STEP: OnceLock<File> = OnceLock::new();

/// Switch narration on (colors only when stderr is a terminal).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
    COLOR.store(std::io::stderr().is_terminal(), Ordering::Relaxed);
    let counter = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open(std::env::temp_dir());
    // Without O_TMPFILE support the memory counter still numbers each side in order.
    if let Ok(file) = counter {
        let _ = SHARED_STEP.set(file);
    }
}

/// The current step of the setup sequence and the line within it, from the shared file when there is one:
/// `(step, line)`. `begin` starts a step; `step` numbers its lines `step.line`.
fn counter() -> (u32, u32) {
    if let Some(file) = SHARED_STEP.get() {
        let mut bytes = [0u8; 8];
        if let Ok(n) = file.read_at(&mut bytes, 0) {
            let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
            return if n == 8 { (word(0), word(4)) } else { (0, 0) };
        }
    }
    (STEP.load(Ordering::Relaxed), LINE.load(Ordering::Relaxed))
}

fn set_counter(step: u32, line: u32) {
    STEP.store(step, Ordering::Relaxed);
    LINE.store(line, Ordering::Relaxed);
    if let Some(file) = SHARED_STEP.get() {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&step.to_le_bytes());
        bytes[4..].copy_from_slice(&line.to_le_bytes());
        let _ = file.write_at(&bytes, 0);
    }
}

/// Start step `n` of the setup sequence (numbered once, in `runtime::steps`): print its heading.
pub fn begin(n: u32, side: &str, title: &str) {
    if !enabled() {
        return;
    }
    set_counter(n, 0);
    let line = if COLOR.load(Ordering::Relaxed) {
        format!("{} {}\n", format!("step {n}").bold().green(), format!("[{side}] {title}").bold())
    } else {
        format!("step {n} [{side}] {title}\n")
    };
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Which side of the clone is talking.
pub fn who() -> &'static str {
    if std::process::id() == 1 || IN_CHILD.load(Ordering::Relaxed) { "child" } else { "parent" }
}

static IN_CHILD: AtomicBool = AtomicBool::new(false);

/// Called first thing in the cloned child, so its steps are labelled as the container's.
pub fn mark_child() {
    IN_CHILD.store(true, Ordering::Relaxed);
}

/// Print one numbered step: `what` happens through `how` (a syscall or a file), because `why`.
pub fn step(source: &str, what: &str, how: &str, why: &str) {
    if !enabled() {
        return;
    }
    let (step, line) = counter();
    set_counter(step, line + 1);
    let n = format!("{step}.{}", line + 1);
    let line = if COLOR.load(Ordering::Relaxed) {
        format!(
            "{} {} {}  {}\n      {} {}\n",
            format!("{n:>5}").bold(),
            format!("[{}]", who()).cyan(),
            what.bold(),
            how.yellow(),
            why.dimmed(),
            format!("({source})").blue()
        )
    } else {
        format!("{n:>5} [{}] {what}  {how}\n      {why} ({source})\n", who())
    };
    // A failed write to stderr is not worth failing a container for.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Narrate a step from the calling source line: `explain!("mount proc", "mount(2) proc on /proc", "why")`.
#[macro_export]
macro_rules! explain {
    ($what:expr, $how:expr, $why:expr $(,)?) => {
        if $crate::narrate::enabled() {
            $crate::narrate::step(concat!(file!(), ":", line!()), &$what, &$how, &$why);
        }
    };
}
