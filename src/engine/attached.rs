//! An engine container in the foreground of the CLI (`containy run --image … --name web`, no `-d`), and
//! `containy logs`: what `docker run` and `docker logs` do through the daemon, done by the CLI directly on the
//! monitor's socket and the json-file log — no daemon needed, and a daemon that runs sees the same container.
//!
//! Order matters once: the CLI attaches (and asks to hear the exit) *before* it sends `start`, so not one byte
//! of output and not the exit can come before someone listens. Then one single-threaded `poll` loop relays:
//! our stdin → the attach socket, the socket's frames (raw with a tty) → our stdout and stderr, and the
//! signals we get (INT, TERM, HUP, QUIT, USR1, USR2: read from a signalfd, so they are blocked first) → the
//! container, as docker's `--sig-proxy` does, until the monitor closes the stream; the `wait` connection
//! then says `exit CODE OOM`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::termios::{self, SetArg, Termios};

use super::logs::{self, Filter};
use super::record::Record;
use super::{Engine, EngineError, Result, client, ops};

/// How a foreground container ended.
pub struct Ended {
    pub code: i32,
    pub oom_killed: bool,
}

/// Attach to created container `rec` (stdin too when it was asked for), start it, relay until it ends.
pub fn run(engine: &Engine, rec: &Record) -> Result<Ended> {
    let stdin = rec.request.open_stdin;
    let tty = rec.request.tty;
    let connect = || {
        client::connect(engine, &rec.id)
            .ok_or_else(|| EngineError::internal(format!("the monitor of {} is not there", rec.id)))
    };
    let mut attach = connect()?;
    let mut waiter = connect()?;
    let flags = if stdin { "111" } else { "011" };
    let io = |e: std::io::Error| EngineError::internal(format!("monitor of {}: {e}", rec.id));
    attach.write_all(format!("attach {flags}\n").as_bytes()).map_err(io)?;
    waiter.write_all(b"wait\n").map_err(io)?;
    let terminal = std::io::stdin();
    let raw = (tty && stdin).then(|| RawMode::enter(&terminal)).flatten();
    // The pty exists from create on: it has our size before its program runs.
    if tty && let Ok(ws) = crate::sys::window_size(std::io::stdout().as_fd()) {
        let _ = client::request(engine, &rec.id, &format!("resize {} {}", ws.ws_row, ws.ws_col));
    }
    ops::start(engine, &rec.id)?;
    relay(engine, rec, &mut attach, stdin, tty);
    drop(raw);
    let mut line = String::new();
    let _ = BufReader::new(&mut waiter).read_line(&mut line);
    let mut words = line.split_whitespace().skip(1);
    match (words.next().and_then(|c| c.parse().ok()), words.next()) {
        (Some(code), oom) => Ok(Ended { code, oom_killed: oom == Some("true") }),
        // The monitor went away without a word: the record says what it knows.
        _ => {
            let state = ops::status(engine, rec);
            Ok(Ended { code: state.exit_code, oom_killed: state.oom_killed })
        }
    }
}

/// The poll loop: stdin → socket (half-closed at our EOF), socket → stdout/stderr (demultiplexed without a tty).
fn relay(engine: &Engine, rec: &Record, sock: &mut UnixStream, mut stdin_open: bool, tty: bool) {
    use nix::sys::signal::{SigSet, Signal};
    let stdin = std::io::stdin();
    let mut mask = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2] {
        mask.add(signal);
    }
    let signals = mask
        .thread_block()
        .ok()
        .and_then(|()| nix::sys::signalfd::SignalFd::with_flags(&mask, nix::sys::signalfd::SfdFlags::SFD_CLOEXEC).ok());
    let mut buf = vec![0u8; 32 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let mut fds = vec![PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        if let Some(s) = &signals {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        if ready[0] {
            match sock.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) if tty => write_out(1, &buf[..n]),
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    demux(&mut pending);
                }
            }
        }
        let (got_signal, stdin_ready) = match &signals {
            Some(_) => (ready[1], stdin_open && ready[2]),
            None => (false, stdin_open && ready[1]),
        };
        if got_signal
            && let Some(Ok(Some(info))) = signals.as_ref().map(|s| s.read_signal())
            && let Ok(signal) = Signal::try_from(info.ssi_signo as i32)
        {
            let _ = ops::kill(engine, &rec.id, signal);
        }
        if stdin_ready {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(n) if n > 0 && sock.write_all(&buf[..n]).is_ok() => {}
                _ => {
                    stdin_open = false;
                    let _ = sock.shutdown(std::net::Shutdown::Write);
                }
            }
        }
    }
}

/// Write every whole 8-byte-header frame in `pending` to stdout or stderr; keep the rest.
fn demux(pending: &mut Vec<u8>) {
    let mut used = 0;
    while pending.len() - used >= 8 {
        let header = &pending[used..used + 8];
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if pending.len() - used - 8 < len {
            break;
        }
        let stream = if header[0] == logs::STDERR { 2 } else { 1 };
        write_out(stream, &pending[used + 8..used + 8 + len]);
        used += 8 + len;
    }
    pending.drain(..used);
}

fn write_out(stream: u8, bytes: &[u8]) {
    if stream == 2 {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(bytes).and_then(|()| err.flush());
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes).and_then(|()| out.flush());
    }
}

/// `containy logs [-f]`: the json-file log's entries to stdout and stderr; with `follow`, until the monitor
/// is gone (the file is polled: the monitor appends, nothing needs to tell us).
pub fn logs(engine: &Engine, rec: &Record, filter: &Filter, follow: bool) -> Result<()> {
    let path = engine.log_path(&rec.id);
    let mut file = std::fs::File::open(&path).ok();
    let mut pending = Vec::new();
    let mut first = true;
    loop {
        // Whether it ran before reading: the last lines are in the file before the monitor is gone.
        let live = follow && engine.monitor_socket(&rec.id).exists();
        if file.is_none() {
            file = std::fs::File::open(&path).ok();
        }
        if let Some(f) = &mut file {
            f.read_to_end(&mut pending).map_err(|e| EngineError::io("read", &path, e))?;
        }
        let (mut entries, used) = logs::parse(&pending);
        pending.drain(..used);
        entries.retain(|e| filter.wants(e));
        if first && let Some(n) = filter.tail {
            entries.drain(..entries.len().saturating_sub(n));
        }
        first = false;
        for e in &entries {
            write_out(if e.stream == "stderr" { 2 } else { 1 }, &filter.render(e, true));
        }
        if !live {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Our terminal in raw mode while a tty container is attached; restored when dropped.
struct RawMode(Termios);

impl RawMode {
    fn enter(terminal: &std::io::Stdin) -> Option<RawMode> {
        let saved = termios::tcgetattr(terminal.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(terminal.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.0);
    }
}
