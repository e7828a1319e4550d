//! A progress bar for long imports, drawn on standard error only when it is a terminal.
//!
//! It is a `Read` adapter on the compressed input, redrawn from the reading loop itself when another percent
//! is done: no ticker thread (containy stays single-threaded, see ARCHITECTURE.md) and no output at all when
//! stderr is a file or a pipe, so scripts and tests see clean output.

use std::io::{IsTerminal, Read, Write};

/// Inputs smaller than this finish before a bar would be worth drawing.
const MIN_SIZE: u64 = 32 << 20;

pub(crate) struct Progress<R> {
    inner: R,
    total: u64,
    done: u64,
    shown: u64,
    label: String,
    on: bool,
}

impl<R: Read> Progress<R> {
    /// `total`: the input's size, when known (a pipe has none: no bar).
    pub fn new(inner: R, total: Option<u64>, label: &str) -> Self {
        let total = total.unwrap_or(0);
        let on = total >= MIN_SIZE && std::io::stderr().is_terminal();
        Progress { inner, total, done: 0, shown: u64::MAX, label: label.to_string(), on }
    }

    /// Clear the bar's line.
    pub fn finish(&mut self) {
        if self.on {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            self.on = false;
        }
    }
}

/// `[#########           ]  45%  42/93 MiB`
pub(crate) fn bar(done: u64, total: u64, width: usize) -> String {
    let percent = (done.min(total) * 100).checked_div(total).unwrap_or(100);
    let filled = (percent as usize * width) / 100;
    format!(
        "[{}{}] {percent:>3}%  {}/{} MiB",
        "#".repeat(filled),
        " ".repeat(width - filled),
        done.min(total) >> 20,
        total >> 20
    )
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.on {
            let percent = (self.done * 100).checked_div(self.total).unwrap_or(100);
            if percent != self.shown {
                self.shown = percent;
                eprint!("\r{} {}", self.label, bar(self.done, self.total, 30));
                let _ = std::io::stderr().flush();
            }
        }
        Ok(n)
    }
}

impl<R> Drop for Progress<R> {
    fn drop(&mut self) {
        if self.on {
            eprint!("\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_bytes_read() {
        assert_eq!(bar(0, 100 << 20, 10), "[          ]   0%  0/100 MiB");
        assert_eq!(bar(50 << 20, 100 << 20, 10), "[#####     ]  50%  50/100 MiB");
        assert_eq!(bar(200 << 20, 100 << 20, 10), "[##########] 100%  100/100 MiB");
        // Not a terminal (tests): no bar, the bytes pass through.
        let mut p = Progress::new(&b"abc"[..], Some(1 << 40), "import");
        let mut s = String::new();
        p.read_to_string(&mut s).unwrap();
        assert_eq!(s, "abc");
    }
}
