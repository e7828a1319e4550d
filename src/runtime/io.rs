//! Supervising a running container: one single-threaded `poll(2)` loop over a `signalfd`, the sync
//! socket and (with a terminal) the pty master and our stdin.
//!
//! Signals were blocked before `clone3`, so none is lost; they are read from the signalfd instead of
//! interrupting us. SIGINT/SIGTERM/SIGHUP/SIGQUIT are forwarded to the container's PID 1, SIGWINCH resizes
//! its terminal, SIGCHLD means it may have exited. With a terminal, containy owns the pty master: bytes from
//! our stdin go to the container, its output comes back to our stdout, and our terminal is in raw mode so
//! that ^C, ^Z and line editing are the container's business.

use std::io::{IsTerminal, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::RuntimeError;
use super::limits::{Limiter, Source};
use super::sync::{Message, recv_message};
use crate::sys;

/// Block the signals the supervisor handles (SIGCHLD, the ones it forwards, SIGWINCH) and return them with
/// the previous mask. Done *before* cloning: a fast child's SIGCHLD must not be lost, and the signalfd of
/// `supervise` reads what arrived meanwhile.
pub fn block_handled_signals() -> Result<(SigSet, SigSet), RuntimeError> {
    let mut handled = SigSet::empty();
    for sig in [Signal::SIGCHLD, Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGWINCH] {
        handled.add(sig);
    }
    let mut old_mask = SigSet::empty();
    nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_BLOCK, Some(&handled), Some(&mut old_mask))
        .map_err(|e| RuntimeError::sys("sigprocmask", e))?;
    Ok((handled, old_mask))
}

/// The container's terminal master, received from the child: give it our window size.
pub fn adopt_terminal(master: OwnedFd) -> OwnedFd {
    let stdin = std::io::stdin();
    if stdin.is_terminal()
        && let Ok(ws) = sys::window_size(stdin.as_fd())
    {
        let _ = sys::set_window_size(master.as_fd(), &ws);
    }
    master
}

/// Hand the container's terminal to an engine: connect to its `--console-socket` (a Unix stream socket)
/// and send the master fd with `SCM_RIGHTS`, as runc does; the engine relays it from then on.
pub fn send_console(socket: &std::path::Path, master: OwnedFd) -> Result<(), RuntimeError> {
    use nix::sys::socket::{AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr, connect, sendmsg};
    let sock = nix::sys::socket::socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| RuntimeError::sys("socket", e))?;
    let addr = UnixAddr::new(socket).map_err(|e| RuntimeError::sys("console socket address", e))?;
    connect(sock.as_raw_fd(), &addr).map_err(|e| RuntimeError::io("connect", socket, e.into()))?;
    let fds = [master.as_raw_fd()];
    let name = b"/dev/ptmx";
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[std::io::IoSlice::new(name)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| RuntimeError::io("sendmsg", socket, e.into()))?;
    Ok(())
}

/// Puts our terminal in raw mode and restores it when dropped.
struct RawMode(Termios);

impl RawMode {
    fn enter(fd: BorrowedFd<'_>) -> Option<RawMode> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.0);
    }
}

pub struct Outcome {
    pub status: WaitStatus,
    /// `execve` failed in the child after it reported ready: exit code and message.
    pub exec_error: Option<(u8, String)>,
}

/// Relay and wait until `child` has exited; forwarded signals go to `target` (the container's process:
/// `child` itself for `run`, the process `exec` started for `exec`).
pub fn supervise(
    child: Pid,
    target: Pid,
    handled: &SigSet,
    sync: OwnedFd,
    master: Option<OwnedFd>,
) -> Result<Outcome, RuntimeError> {
    supervise_limited(child, target, handled, sync, master, None)
}

/// [`supervise`], with the timers and output pipes of a run's limits in the same `poll` (`limits.rs`).
pub fn supervise_limited(
    child: Pid,
    target: Pid,
    handled: &SigSet,
    sync: OwnedFd,
    master: Option<OwnedFd>,
    mut limiter: Option<&mut Limiter<'_>>,
) -> Result<Outcome, RuntimeError> {
    let signals = SignalFd::with_flags(handled, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| RuntimeError::sys("signalfd", e))?;
    let stdin = std::io::stdin();
    let _raw = match &master {
        Some(_) if stdin.is_terminal() => RawMode::enter(stdin.as_fd()),
        _ => None,
    };
    let mut sync = Some(sync);
    let mut stdin_open = master.is_some();
    let mut stdin_ended = false;
    let mut master_open = master.is_some();
    let mut exec_error = None;
    // Only a terminal's bytes pass through us; without one the buffer would be 8 pages zeroed for nothing.
    let mut buf = if master.is_some() { vec![0u8; 32 * 1024] } else { Vec::new() };

    loop {
        // Reap first: a child that exited before we polled must not be waited for forever.
        if let Some(status) = reap(child)? {
            if let Some(l) = limiter.as_deref_mut() {
                l.finish();
            }
            if let Some(m) = &master {
                drain(m, &mut buf);
            }
            if let Some(s) = sync.take()
                && let Ok(Some(Message::Exec(code, text))) = recv_nonblocking(&s)
            {
                exec_error = Some((code, text));
            }
            return Ok(Outcome { status, exec_error });
        }

        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        let sync_idx = sync.as_ref().map(|s| {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let master_idx = match (&master, master_open) {
            (Some(m), true) => {
                fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
                Some(fds.len() - 1)
            }
            _ => None,
        };
        let stdin_idx = stdin_open.then(|| {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let limits_base = fds.len();
        let limit_sources: Vec<Source> = match limiter.as_deref() {
            Some(l) => l
                .sources()
                .into_iter()
                .map(|(source, fd)| {
                    fds.push(PollFd::new(fd, PollFlags::POLLIN));
                    source
                })
                .collect(),
            None => Vec::new(),
        };
        // After our input ended, the end-of-file character is repeated while the container runs: a shell
        // that reset its terminal (discarding typeahead, as line editors do) must still see it.
        let timeout = if stdin_ended { PollTimeout::from(100u16) } else { PollTimeout::NONE };
        match poll(&mut fds, timeout) {
            Ok(0) => {
                if let Some(m) = &master {
                    let _ = nix::unistd::write(m, b"\x04");
                }
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(RuntimeError::sys("poll", e)),
        }
        let ready = |i: Option<usize>| {
            i.and_then(|i| fds[i].revents())
                .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR))
        };
        let (sig_ready, sync_ready, master_ready, stdin_ready) =
            (ready(Some(0)), ready(sync_idx), ready(master_idx), ready(stdin_idx));
        let limits_ready: Vec<Source> =
            limit_sources.iter().enumerate().filter(|(i, _)| ready(Some(limits_base + i))).map(|(_, s)| *s).collect();
        drop(fds);
        if let Some(l) = limiter.as_deref_mut() {
            for source in limits_ready {
                l.on_ready(source);
            }
        }

        if sig_ready {
            while let Ok(Some(info)) = signals.read_signal() {
                let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                    continue;
                };
                match sig {
                    Signal::SIGCHLD => {}
                    Signal::SIGWINCH => {
                        if let (Some(m), Ok(ws)) = (&master, sys::window_size(stdin.as_fd())) {
                            let _ = sys::set_window_size(m.as_fd(), &ws);
                        }
                    }
                    other => {
                        crate::explain!(
                            format!("forward {other} to the container"),
                            format!("kill({target}, {other})"),
                            "containy stands in for the container: signals sent to it go to PID 1"
                        );
                        let _ = kill(target, other);
                    }
                }
            }
        }
        if sync_ready && let Some(s) = sync.take() {
            // EOF: execve succeeded and closed the child's end. A message: execve failed.
            if let Ok(Some(Message::Exec(code, text))) = recv_message(&s) {
                exec_error = Some((code, text));
            }
        }
        if master_ready && let Some(m) = &master {
            match nix::unistd::read(m, &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EIO) => master_open = false,
                Ok(n) => write_all_stdout(&buf[..n]),
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(_) => master_open = false,
            }
        }
        if stdin_ready && let Some(m) = &master {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) => {
                    // Our input ended (a pipe, not a person): send the terminal's end-of-file character.
                    let _ = nix::unistd::write(m, b"\x04");
                    stdin_open = false;
                    stdin_ended = true;
                }
                Ok(n) => {
                    let _ = write_all(m.as_fd(), &buf[..n]);
                }
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(_) => stdin_open = false,
            }
        }
    }
}

fn reap(child: Pid) -> Result<Option<WaitStatus>, RuntimeError> {
    match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::StillAlive) => Ok(None),
        Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => Ok(Some(status)),
        Ok(_) => Ok(None),
        Err(nix::errno::Errno::EINTR) => Ok(None),
        Err(e) => Err(RuntimeError::sys("waitpid", e)),
    }
}

fn recv_nonblocking(fd: &OwnedFd) -> nix::Result<Option<Message>> {
    let mut pfd = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    if poll(&mut pfd, PollTimeout::ZERO)? == 0 {
        return Ok(None);
    }
    recv_message(fd)
}

/// Copy whatever the container wrote last before exiting.
fn drain(master: &OwnedFd, buf: &mut [u8]) {
    loop {
        let mut pfd = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut pfd, PollTimeout::ZERO), Ok(n) if n > 0) {
            return;
        }
        match nix::unistd::read(master, buf) {
            Ok(n) if n > 0 => write_all_stdout(&buf[..n]),
            _ => return,
        }
    }
}

fn write_all_stdout(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> nix::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
            Err(e) => return Err(e),
        }
    }
    let _ = fd.as_raw_fd();
    Ok(())
}
