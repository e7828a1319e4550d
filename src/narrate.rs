//! The `--explain` channel: every kernel step says what it does, through which syscall or file, and why.
//!
//! Mechanism modules call [`explain!`](crate::explain) at each step; nothing is printed unless narration
//! was switched on. The counter lives in ordinary memory, so after `clone` the child simply goes on
//! numbering where the parent stopped: one tour, two processes. Output goes to stderr, colored only on a TTY.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use colored::Colorize;

static ENABLED: AtomicBool = AtomicBool::new(false);
static COLOR: AtomicBool = AtomicBool::new(false);
static STEP: AtomicU32 = AtomicU32::new(0);

/// Switch narration on (colors only when stderr is a terminal).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
    COLOR.store(std::io::stderr().is_terminal(), Ordering::Relaxed);
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
    let n = STEP.fetch_add(1, Ordering::Relaxed) + 1;
    let line = if COLOR.load(Ordering::Relaxed) {
        format!(
            "{} {} {}  {}\n      {} {}\n",
            format!("{n:>3}.").bold(),
            format!("[{}]", who()).cyan(),
            what.bold(),
            how.yellow(),
            why.dimmed(),
            format!("({source})").blue()
        )
    } else {
        format!("{n:>3}. [{}] {what}  {how}\n      {why} ({source})\n", who())
    };
    // A failed write to stderr is not worth failing a container for.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Narrate a step from the calling source file: `explain!("mount proc", "mount(2) proc on /proc", "why")`.
#[macro_export]
macro_rules! explain {
    ($what:expr, $how:expr, $why:expr $(,)?) => {
        if $crate::narrate::enabled() {
            $crate::narrate::step(file!(), &$what, &$how, &$why);
        }
    };
}
