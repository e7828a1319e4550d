//! What `pull` and `push` show while they work: on a terminal, one line per layer redrawn in place
//! (`a3ed95caeb02: Downloading [=====>      ] 12.3/45.6 MiB`, as docker shows it); otherwise one plain line
//! per change of state (no byte counts), so logs and tests read cleanly.
//!
//! Events come from the download workers' threads, so the state sits behind a mutex, and redraws are
//! throttled to one per 100 ms except when a layer changes state. Output goes to standard error: standard
//! output carries only the result (the image id), for scripts.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Event, Status};

pub struct Display {
    tty: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// (short digest, status, done, total), in first-seen order.
    rows: Vec<(String, Status, u64, u64)>,
    drawn: usize,
    last: Option<Instant>,
}

impl Default for Display {
    fn default() -> Self {
        Self::new()
    }
}

impl Display {
    pub fn new() -> Display {
        Display { tty: std::io::stderr().is_terminal(), state: Mutex::new(State::default()) }
    }

    pub fn event(&self, event: &Event<'_>) {
        let Ok(mut s) = self.state.lock() else { return };
        match *event {
            Event::Resolved { reference, digest, layers } => {
                eprintln!("{reference}: manifest {digest}, {layers} layer{}", if layers == 1 { "" } else { "s" });
            }
            Event::Layer { digest, status, done, total } => {
                let short: String = digest.trim_start_matches("sha256:").chars().take(12).collect();
                let changed = match s.rows.iter_mut().find(|r| r.0 == short) {
                    Some(row) => {
                        let changed = row.1 != status;
                        (row.1, row.2, row.3) = (status, done, total);
                        changed
                    }
                    None => {
                        s.rows.push((short.clone(), status, done, total));
                        true
                    }
                };
                if !self.tty {
                    if changed {
                        eprintln!("{short}: {}", line(status, done, total));
                    }
                    return;
                }
                let due = s.last.is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
                if changed || due {
                    redraw(&mut s);
                }
            }
        }
    }

    /// Draw the final state (a terminal's last redraw may have been throttled away).
    pub fn finish(&self) {
        if self.tty
            && let Ok(mut s) = self.state.lock()
        {
            redraw(&mut s);
        }
    }
}

fn redraw(s: &mut State) {
    let mut err = std::io::stderr().lock();
    let mut out = String::new();
    if s.drawn > 0 {
        out.push_str(&format!("\x1b[{}A", s.drawn));
    }
    for (short, status, done, total) in &s.rows {
        out.push_str(&format!("\x1b[2K{short}: {}\n", line(*status, *done, *total)));
    }
    let _ = err.write_all(out.as_bytes());
    let _ = err.flush();
    s.drawn = s.rows.len();
    s.last = Some(Instant::now());
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1 << 20) as f64)
}

/// One layer's line: what happens to it and, while bytes move, a bar.
pub fn line(status: Status, done: u64, total: u64) -> String {
    match status {
        Status::Exists => "already exists".into(),
        Status::Waiting => "waiting".into(),
        Status::Preparing => "preparing".into(),
        Status::Downloading | Status::Uploading if total > 0 => {
            let width = 24;
            let filled = ((done.min(total) * width) / total) as usize;
            let bar: String = (0..width as usize)
                .map(|i| match i.cmp(&filled) {
                    std::cmp::Ordering::Less => '=',
                    std::cmp::Ordering::Equal => '>',
                    std::cmp::Ordering::Greater => ' ',
                })
                .collect();
            let verb = if status == Status::Downloading { "downloading" } else { "uploading" };
            format!("{verb} [{bar}] {}/{} MiB", mib(done), mib(total))
        }
        Status::Downloading => format!("downloading {} MiB", mib(done)),
        Status::Uploading => "uploading".into(),
        Status::Done => format!("pull complete ({} MiB)", mib(done)),
        Status::Mounted => "mounted from another repository".into(),
        Status::Pushed => format!("pushed ({} MiB)", mib(total)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_what_happens() {
        assert_eq!(line(Status::Exists, 0, 0), "already exists");
        assert_eq!(line(Status::Downloading, 1 << 20, 4 << 20), "downloading [======>                 ] 1.0/4.0 MiB");
        assert_eq!(line(Status::Done, 3 << 20, 3 << 20), "pull complete (3.0 MiB)");
    }
}
