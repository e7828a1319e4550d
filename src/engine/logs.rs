//! Docker's json-file log: one JSON object per line, `{"log":"hi\n","stream":"stdout","time":"…Z"}`, written
//! by the monitor as the container writes, read by `logs` (with `--since`, `--until`, `--tail`, `-f`).
//! Also the 8-byte frames of docker's multiplexed stream (`[stream, 0, 0, 0, len as u32 BE]` + payload),
//! which attach and logs send when the container has no terminal.

use std::io::Write;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Stream numbers of the multiplexed format.
pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// Appends what a container writes, a line per entry; a partial line waits for its end (up to 16 KiB, as
/// docker's buffer).
///
/// A write that fails (the disk is full) is taken back whole: the file is cut to where it ended before, so
/// it never holds half an entry that the next one would be glued to, and every reader keeps parsing it. The
/// output of that time is lost (the container must not block on its log), said once on the monitor's stderr
/// when it starts and, with how much, when writing works again.
pub struct Writer {
    file: std::fs::File,
    path: std::path::PathBuf,
    pending: [Vec<u8>; 3],
    /// Bytes of entries not written since the last failure, and the failure.
    lost: Option<(u64, std::io::Error)>,
}

impl Writer {
    pub fn open(path: &std::path::Path) -> std::io::Result<Writer> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Writer { file, path: path.to_path_buf(), pending: [Vec::new(), Vec::new(), Vec::new()], lost: None })
    }

    pub fn write(&mut self, stream: u8, bytes: &[u8]) {
        let pending = &mut self.pending[stream as usize % 3];
        pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = pending.iter().position(|&b| b == b'\n').or((pending.len() >= 16384).then_some(16383)) {
            let line: Vec<u8> = pending.drain(..=end).collect();
            out.extend(entry_line(stream, &line));
        }
        self.append(&out);
    }

    /// Write what is left without its newline (at the container's end).
    pub fn flush(&mut self) {
        for stream in [STDOUT, STDERR] {
            let rest = std::mem::take(&mut self.pending[stream as usize]);
            if !rest.is_empty() {
                self.append(&entry_line(stream, &rest));
            }
        }
    }

    /// Whole entries or nothing.
    fn append(&mut self, entries: &[u8]) {
        if entries.is_empty() {
            return;
        }
        let before = self.file.metadata().map(|m| m.len());
        match self.file.write_all(entries) {
            Ok(()) => {
                if let Some((bytes, e)) = self.lost.take() {
                    note(format_args!(
                        "containy monitor: the log {} can be written again; {bytes} bytes of output were lost ({e})",
                        self.path.display()
                    ));
                }
            }
            Err(e) => {
                if let Ok(len) = before {
                    let _ = self.file.set_len(len);
                }
                match &mut self.lost {
                    Some((bytes, _)) => *bytes += entries.len() as u64,
                    None => {
                        note(format_args!(
                            "containy monitor: cannot write the log {}: {e}; the container's output is not logged \
                             until there is room",
                            self.path.display()
                        ));
                        self.lost = Some((entries.len() as u64, e));
                    }
                }
            }
        }
    }
}

/// A line on the monitor's stderr. That is `monitor.log`, on the same filesystem as the json-file log: when
/// the disk is full a write to it fails too, and `eprintln!` would then panic and take the monitor — the
/// process that reaps the container — with it. So the line is written if it can be, and dropped if not.
pub fn note(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{args}");
}

fn entry_line(stream: u8, bytes: &[u8]) -> Vec<u8> {
    let entry = Entry {
        log: String::from_utf8_lossy(bytes).into_owned(),
        stream: if stream == STDERR { "stderr" } else { "stdout" }.into(),
        time: crate::clock::now_rfc3339(),
    };
    let mut line = serde_json::to_vec(&entry).unwrap_or_default();
    line.push(b'\n');
    line
}

/// One multiplexed frame.
pub fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// What `logs` asks for.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub stdout: bool,
    pub stderr: bool,
    /// Unix seconds (with fraction); entries before it are skipped.
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub timestamps: bool,
    /// Only the last N entries.
    pub tail: Option<usize>,
}

impl Filter {
    pub fn wants(&self, e: &Entry) -> bool {
        let stream_ok = if e.stream == "stderr" { self.stderr } else { self.stdout };
        let t = unix_time(&e.time).unwrap_or(0.0);
        stream_ok && self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| u <= 0.0 || t < u)
    }

    /// The bytes to send for one entry: framed without a terminal, raw with one.
    pub fn render(&self, e: &Entry, tty: bool) -> Vec<u8> {
        let mut payload = Vec::new();
        if self.timestamps {
            payload.extend_from_slice(e.time.as_bytes());
            payload.push(b' ');
        }
        payload.extend_from_slice(e.log.as_bytes());
        if tty { payload } else { frame(if e.stream == "stderr" { STDERR } else { STDOUT }, &payload) }
    }
}

/// Parse whole lines of a log; returns the entries and how many bytes were consumed.
pub fn parse(bytes: &[u8]) -> (Vec<Entry>, usize) {
    let mut entries = Vec::new();
    let mut used = 0;
    while let Some(end) = bytes[used..].iter().position(|&b| b == b'\n') {
        if let Ok(e) = serde_json::from_slice::<Entry>(&bytes[used..used + end]) {
            entries.push(e);
        }
        used += end + 1;
    }
    (entries, used)
}

/// `2026-12-04T16:40:55.123456789Z` → seconds since the epoch.
pub fn unix_time(rfc3339: &str) -> Option<f64> {
    let (date, time) = rfc3339.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, min, s) = (t.next()?.parse::<i64>().ok()?, t.next()?.parse::<i64>().ok()?, t.next()?.parse::<f64>().ok()?);
    // Days from civil (Howard Hinnant), the inverse of clock.rs.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60) as f64 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_the_clock() {
        assert_eq!(unix_time("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(unix_time("2026-12-04T16:40:55.5Z"), Some(1_796_402_455.5));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let parsed = unix_time(&crate::clock::now_rfc3339()).unwrap();
        assert!((parsed - now).abs() < 5.0, "{parsed} vs {now}");
    }

    #[test]
    fn lines_are_entries_and_frames_have_headers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = Writer::open(&path).unwrap();
        w.write(STDOUT, b"hel");
        w.write(STDOUT, b"lo\nwor");
        w.write(STDERR, b"oops\n");
        w.flush();
        let (entries, used) = parse(&std::fs::read(&path).unwrap());
        assert_eq!(used, std::fs::read(&path).unwrap().len());
        let logs: Vec<(&str, &str)> = entries.iter().map(|e| (e.stream.as_str(), e.log.as_str())).collect();
        assert_eq!(logs, [("stdout", "hello\n"), ("stderr", "oops\n"), ("stdout", "wor")]);
        assert_eq!(frame(STDERR, b"ab"), [2, 0, 0, 0, 0, 0, 0, 2, b'a', b'b']);
    }
}
