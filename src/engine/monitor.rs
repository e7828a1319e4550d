//! `containy monitor ID`: one small single-threaded process per container — the job conmon does for podman.
//!
//! Why it exists: a container must outlive whoever asked for it. The daemon is multi-threaded (tokio) and
//! may be restarted or `kill -9`ed; the CLI exits. So the daemon starts, as a fresh `exec` of containy's own
//! binary (never a fork of itself), this process, which stays with the container for its whole life: it
//! creates it through the runtime (the same two-process path as `containy run`, so the container is its
//! child), holds its stdio (pipes) or its pty master, writes docker's json-file log, serves attach, start,
//! wait and resize on a socket in the state dir (`<state>/engine/<id>/attach.sock`), reaps it, records the
//! exit code, OOM kill and finish time in `state.json`, deletes the runtime container and, for `--rm`, the
//! record. Then it exits. Everything it knows is on disk or in the kernel, so the daemon can come and go.
//!
//! Order: create (stdio set up before, so the container inherits it) → report to the starter → serve. SIGCHLD
//! is blocked only after the container exists (the container must not inherit a blocked mask), and the loop
//! reaps before every poll, so an exit is never missed.
//!
//! Limits for untrusted code (`containy.limits.*` labels) are enforced here, as `containy run`'s parent does:
//! the runtime's `Limiter` adds its CPU and wall-clock timers to this loop's `poll` from `start` on, the output
//! cap is applied where the output is read (the log and attach clients get the beginning), and at the end
//! the result record (`runtime/result.rs`) is read from the cgroup before it is removed and kept in
//! `state.json`, where `inspect` shows it as `State.Containy.Result`.
//!
//! The socket speaks one line, then streams: `start` → `ok`/`error MSG`; `wait` → `exit CODE OOM` when the
//! container ends, then EOF once the monitor is gone (after an `--rm` removal: docker's `removed`);
//! `attach IOE` (three 0/1 flags: stdin, stdout, stderr) → output frames (raw with a tty), and the client's
//! bytes become the container's stdin; `resize H W`; `kill SIG`.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::logs::{self, STDERR, STDOUT};
use super::record::{self, Record, RunState};
use super::{Engine, EngineError, Result};
use crate::cgroups::Cgroup;
use crate::limits::Limits;
use crate::runtime::container::Container;
use crate::runtime::limits::Limiter;

/// What the monitor tells its starter on its stdout, one JSON line: `{"ok":true}` or `{"error":…,"code":…}`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Report {
    #[serde(default)]
    pub ok: bool,
    #[serde(default)]
    pub error: String,
    /// 400 for a request the engine refused, 500 for a failure, 127/126 when the program cannot run.
    #[serde(default)]
    pub code: u16,
}

enum Role {
    /// Has not sent its request line yet.
    Pending(Vec<u8>),
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    Waiter,
}

struct Client {
    sock: UnixStream,
    role: Role,
    /// Still polled for input: false once the client half-closed (an EOF would wake every poll).
    input_open: bool,
}

struct Io {
    /// stdout and stderr pipes, or the pty master (as stdout).
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    /// Where attach clients' bytes go: the stdin pipe, or the pty master.
    stdin: Option<OwnedFd>,
    tty: bool,
    /// The program was started (the limits' clocks start now).
    started: bool,
}

/// The monitor's whole life; returns its exit code.
pub fn main(engine: &Engine, id: &str) -> i32 {
    // Our stdout is the report pipe to the starter: keep it aside, and never write anything else to it.
    let mut report = match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => Some(std::fs::File::from(fd)),
        Err(_) => None,
    };
    let _ = nix::unistd::dup2_stdout(std::io::stderr());
    // Leave the starter (it reaps our first half at once) and its session: we outlive both.
    if let Err(e) = crate::sys::detach_from_parent() {
        send_report(&mut report, &Report { ok: false, error: format!("monitor: {e}"), code: 500 });
        return 1;
    }
    let _ = nix::unistd::setsid();
    // Who the starter waits for (`client::read_report`): written before anything is made, so the report
    // pipe has no other writer yet.
    send_line(&mut report, format!("pid {}\n", std::process::id()).as_bytes());
    match setup(engine, id) {
        Ok((rec, pid, listener, io, limits)) => {
            send_report(&mut report, &Report { ok: true, error: String::new(), code: 0 });
            drop(report);
            serve(engine, &rec, pid, listener, io, &limits)
        }
        Err(e) => {
            logs::note(format_args!("containy monitor {id}: {e}"));
            let code = if e.kind == super::Kind::BadRequest { 400 } else { 500 };
            send_report(&mut report, &Report { ok: false, error: e.message, code });
            let _ = std::fs::remove_dir_all(engine.monitor_dir(id));
            1
        }
    }
}

fn send_report(out: &mut Option<std::fs::File>, report: &Report) {
    let mut line = serde_json::to_vec(report).unwrap_or_default();
    line.push(b'\n');
    send_line(out, &line);
}

fn send_line(out: &mut Option<std::fs::File>, line: &[u8]) {
    if let Some(f) = out {
        let _ = f.write_all(line);
    }
}

/// Create the container with its stdio, and the socket clients will use.
fn setup(engine: &Engine, id: &str) -> Result<(Record, Pid, UnixListener, Io, Limits)> {
    let rec = Record::load(engine, id)?;
    let plan = super::plan::make_plan(engine, id, &rec.request)?;
    let dir = engine.monitor_dir(id);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| EngineError::io("mkdir", &dir, e))?;
    let sock_path = engine.monitor_socket(id);
    let listener = UnixListener::bind(&sock_path).map_err(|e| EngineError::io("bind", &sock_path, e))?;
    crate::fault::at("monitor.1")?;
    // A failed create leaves nothing: the runtime cleans up after itself, and the dir goes in `main`.
    let opts = crate::runtime::RunOptions {
        supervisor: true,
        ..crate::runtime::RunOptions::new(id.to_string(), &engine.state_root, engine.base_cache.clone())
    };
    let io = if plan.process.terminal {
        create_with_tty(&plan, &opts, &dir)?
    } else {
        create_with_pipes(&plan, &opts, &rec)?
    };
    crate::fault::at("monitor.2")?;
    let container = Container::load(&engine.state_root, id)?;
    let pid = Pid::from_raw(container.state.pid);
    let state = RunState {
        status: "created".into(),
        pid: pid.as_raw(),
        started_at: record::NEVER.into(),
        finished_at: record::NEVER.into(),
        monitor_pid: std::process::id() as i32,
        ..RunState::default()
    };
    record::write_json(&engine.record_dir(id), "state.json", &state)?;
    // The log exists before anyone hears of the container (a `logs` right after `start` opens it).
    let log = engine.log_path(id);
    std::fs::OpenOptions::new().create(true).append(true).open(&log).map_err(|e| EngineError::io("open", &log, e))?;
    crate::fault::at("monitor.3")?;
    Ok((rec, pid, listener, io, plan.limits.clone()))
}

fn create_with_tty(
    plan: &crate::plan::ValidPlan,
    opts: &crate::runtime::RunOptions,
    dir: &std::path::Path,
) -> Result<Io> {
    let path = dir.join("console.sock");
    let console = UnixListener::bind(&path).map_err(|e| EngineError::io("bind", &path, e))?;
    crate::runtime::create(plan, opts, Some(&path))?;
    let _ = std::fs::remove_file(&path);
    let (conn, _) = console.accept().map_err(|e| EngineError::io("accept", &path, e))?;
    let master = receive_fd(&conn).ok_or_else(|| EngineError::internal("the container's pty master did not arrive"))?;
    let stdin = master.try_clone().map_err(|e| EngineError::io("dup", &path, e))?;
    Ok(Io { out: Some(master), err: None, stdin: Some(stdin), tty: true, started: false })
}

/// Pipes on fds 0, 1, 2 while the runtime clones (the container inherits them), then back to /dev/null.
fn create_with_pipes(plan: &crate::plan::ValidPlan, opts: &crate::runtime::RunOptions, rec: &Record) -> Result<Io> {
    let pipe =
        || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| EngineError::internal(format!("pipe: {e}")));
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let stdin = if rec.request.open_stdin { Some(pipe()?) } else { None };
    let null = std::fs::File::open("/dev/null").map_err(|e| EngineError::io("open", "/dev/null".as_ref(), e))?;
    let saved_err = std::io::stderr().as_fd().try_clone_to_owned().map_err(|e| EngineError::internal(e.to_string()))?;
    let redirect = |i: &dyn AsFd, o: &dyn AsFd, e: &dyn AsFd| {
        let _ = nix::unistd::dup2_stdin(i.as_fd());
        let _ = nix::unistd::dup2_stdout(o.as_fd());
        let _ = nix::unistd::dup2_stderr(e.as_fd());
    };
    match &stdin {
        Some((r, _)) => redirect(r, &out_w, &err_w),
        None => redirect(&null, &out_w, &err_w),
    }
    let created = crate::runtime::create(plan, opts, None);
    redirect(&null, &null, &saved_err);
    created?;
    Ok(Io { out: Some(out_r), err: Some(err_r), stdin: stdin.map(|(_, w)| w), tty: false, started: false })
}

fn receive_fd(conn: &UnixStream) -> Option<OwnedFd> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut buf = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC).ok()?;
    for cmsg in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            return fds.first().map(|&fd| crate::sys::adopt_received_fd(fd));
        }
    }
    None
}

/// The loop: until the container has exited, relay output to the log and attach clients, and answer requests.
fn serve(engine: &Engine, rec: &Record, pid: Pid, listener: UnixListener, mut io: Io, limits: &Limits) -> i32 {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    let _ = mask.thread_block();
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok();
    let mut log = logs::Writer::open(&engine.log_path(&rec.id)).ok();
    if log.is_none() {
        logs::note(format_args!(
            "containy monitor {}: cannot open the log {}",
            rec.id,
            engine.log_path(&rec.id).display()
        ));
    }
    let mut clients: Vec<Client> = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    // Rootless on v1 a container has no cgroup: nothing to measure or kill a limit's way with.
    let cgroup = Container::load(&engine.state_root, &rec.id).map(|c| c.cgroup()).ok().filter(|c| !c.dirs().is_empty());
    let mut limiter: Option<Limiter<'_>> = None;
    let mut failure: Option<String> = None;
    let status = loop {
        if let Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) =
            waitpid(pid, Some(WaitPidFlag::WNOHANG))
        {
            break status;
        }
        let mut fds = vec![PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        if let Some(s) = &signals {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        let first_out = fds.len();
        for fd in [&io.out, &io.err].into_iter().flatten() {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        let first_client = fds.len();
        let polled: Vec<usize> = (0..clients.len()).filter(|&i| clients[i].input_open).collect();
        for &i in &polled {
            fds.push(PollFd::new(clients[i].sock.as_fd(), PollFlags::POLLIN));
        }
        // A client that has closed its sending side is polled for nothing but its hang-up (POLLHUP comes
        // without being asked for): one that went away entirely is dropped now, not at the next output.
        let first_quiet = fds.len();
        let quiet: Vec<usize> = (0..clients.len()).filter(|&i| !clients[i].input_open).collect();
        for &i in &quiet {
            fds.push(PollFd::new(clients[i].sock.as_fd(), PollFlags::empty()));
        }
        let first_limit = fds.len();
        let limit_sources: Vec<_> = limiter.as_ref().map(Limiter::sources).unwrap_or_default();
        for (_, fd) in &limit_sources {
            fds.push(PollFd::new(*fd, PollFlags::POLLIN));
        }
        let limit_sources: Vec<_> = limit_sources.into_iter().map(|(source, _)| source).collect();
        // The timeout is a safety net only (a SIGCHLD is also read from the signalfd).
        if poll(&mut fds, PollTimeout::from(1000u16)).is_err() {
            continue;
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        if let Some(s) = &signals {
            while let Ok(Some(_)) = s.read_signal() {}
        }
        if ready[0]
            && let Ok((sock, _)) = listener.accept()
        {
            let _ = sock.set_write_timeout(Some(std::time::Duration::from_secs(10)));
            clients.push(Client { sock, role: Role::Pending(Vec::new()), input_open: true });
        }
        let mut slot = first_out;
        for stream in [STDOUT, STDERR] {
            let fd = if stream == STDOUT { &mut io.out } else { &mut io.err };
            if fd.is_none() {
                continue;
            }
            if ready[slot] {
                relay_output(fd, stream, &mut buf, &mut log, &mut clients, io.tty, limiter.as_mut());
            }
            slot += 1;
        }
        let mut gone = Vec::new();
        for (&i, ok) in polled.iter().zip(&ready[first_client..]) {
            if *ok && !handle_client(engine, rec, &mut clients[i], &mut io, &mut buf) {
                gone.push(i);
            }
        }
        for (&i, ok) in quiet.iter().zip(&ready[first_quiet..]) {
            if *ok {
                gone.push(i);
            }
        }
        gone.sort_unstable();
        for i in gone.into_iter().rev() {
            clients.swap_remove(i);
        }
        for (source, ok) in limit_sources.into_iter().zip(&ready[first_limit..]) {
            if let (true, Some(l)) = (*ok, limiter.as_mut()) {
                l.on_ready(source);
            }
        }
        if io.started && limiter.is_none() && failure.is_none() {
            match start_limits(limits, cgroup.as_ref()) {
                Ok(l) => limiter = l,
                Err(message) => {
                    logs::note(format_args!("containy monitor {}: {message}: killing the container", rec.id));
                    if let Ok(c) = Container::load(&engine.state_root, &rec.id) {
                        let _ = c.kill(Signal::SIGKILL, true);
                    }
                    failure = Some(message);
                }
            }
        }
    };
    // The last output still counts against the cap; then the record, read before `finish` removes the cgroup.
    drain_output(&mut io, &mut buf, &mut log, &mut clients, limiter.as_mut());
    let result = match (limiter.as_mut(), &cgroup, failure) {
        (_, _, Some(message)) => serde_json::to_value(crate::runtime::result::Record::failed(message)).ok(),
        (Some(l), Some(cgroup), None) => {
            l.finish();
            serde_json::to_value(crate::runtime::result::record(limits, &status, l.observed(), cgroup)).ok()
        }
        _ => None,
    };
    drop(limiter);
    finish(engine, rec, status, log, clients, result)
}

/// The program has started: the clocks of its limits start now (`None`: nothing to measure with, and no
/// limit asked for). A limit that cannot be enforced (no cgroup, no CPU accounting) is an error: the
/// container must not run unlimited.
fn start_limits<'a>(limits: &Limits, cgroup: Option<&'a Cgroup>) -> std::result::Result<Option<Limiter<'a>>, String> {
    match cgroup {
        Some(c) => Limiter::start(limits, c, None).map(Some).map_err(|e| e.to_string()),
        None if limits.is_empty() => Ok(None),
        None => Err("the container has no cgroup to enforce its limits with".to_string()),
    }
}

/// What is still in the pipes: read without waiting (a background process may keep them open).
fn drain_output(
    io: &mut Io,
    buf: &mut [u8],
    log: &mut Option<logs::Writer>,
    clients: &mut Vec<Client>,
    mut limiter: Option<&mut Limiter<'_>>,
) {
    for stream in [STDOUT, STDERR] {
        loop {
            let fd = if stream == STDOUT { &mut io.out } else { &mut io.err };
            let Some(f) = fd.as_ref() else { break };
            let mut pfd = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
            if !matches!(poll(&mut pfd, PollTimeout::ZERO), Ok(n) if n > 0) {
                break;
            }
            relay_output(fd, stream, buf, log, clients, io.tty, limiter.as_deref_mut());
        }
    }
}

/// Read what the container wrote; log it and send it to the attach clients that want it.
fn relay_output(
    fd: &mut Option<OwnedFd>,
    stream: u8,
    buf: &mut [u8],
    log: &mut Option<logs::Writer>,
    clients: &mut Vec<Client>,
    tty: bool,
    limiter: Option<&mut Limiter<'_>>,
) {
    let Some(f) = fd else { return };
    match nix::unistd::read(f.as_fd(), buf) {
        Ok(0) | Err(nix::errno::Errno::EIO) => *fd = None,
        Ok(n) => {
            // Past the output cap the bytes are read (the program never blocks on a full pipe) and counted.
            let n = limiter.map_or(n, |l| l.admit(n));
            if n == 0 {
                return;
            }
            let bytes = &buf[..n];
            if let Some(log) = log {
                log.write(stream, bytes);
            }
            let framed = if tty { bytes.to_vec() } else { logs::frame(stream, bytes) };
            clients.retain_mut(|c| match c.role {
                Role::Attach { stdout, stderr, .. } if (stream == STDOUT && stdout) || (stream == STDERR && stderr) => {
                    c.sock.write_all(&framed).is_ok()
                }
                _ => true,
            });
        }
        Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
        Err(_) => *fd = None,
    }
}

/// A client's bytes: its request line, or (attached) input for the container. False: drop the client.
fn handle_client(engine: &Engine, rec: &Record, c: &mut Client, io: &mut Io, buf: &mut [u8]) -> bool {
    let n = c.sock.read(buf).unwrap_or_default();
    match &mut c.role {
        Role::Attach { stdin, .. } => {
            if n == 0 {
                c.input_open = false;
                // The client closed its side: with StdinOnce, the container's stdin ends too.
                if *stdin && !io.tty && rec.request.stdin_once {
                    io.stdin = None;
                }
                *stdin = false;
                return true;
            }
            if *stdin && let Some(fd) = &io.stdin {
                let _ = write_all(fd, &buf[..n]);
            }
            true
        }
        Role::Waiter => {
            c.input_open = n > 0;
            true
        }
        Role::Pending(line) => {
            if n == 0 {
                return false;
            }
            line.extend_from_slice(&buf[..n]);
            let Some(end) = line.iter().position(|&b| b == b'\n') else { return line.len() < 256 };
            let rest = line.split_off(end + 1);
            let request = String::from_utf8_lossy(&line[..end]).into_owned();
            answer(engine, rec, c, io, &request, &rest)
        }
    }
}

fn answer(engine: &Engine, rec: &Record, c: &mut Client, io: &mut Io, request: &str, rest: &[u8]) -> bool {
    let words: Vec<&str> = request.split_whitespace().collect();
    match words.as_slice() {
        ["start"] => {
            let reply = match start(engine, rec) {
                Ok(()) => {
                    io.started = true;
                    "ok\n".to_string()
                }
                Err(e) => format!("error {}\n", e.message.replace('\n', " ")),
            };
            let _ = c.sock.write_all(reply.as_bytes());
            false
        }
        ["wait"] => {
            c.role = Role::Waiter;
            true
        }
        ["attach", flags] if flags.len() == 3 => {
            let flag = |i: usize| flags.as_bytes()[i] == b'1';
            c.role = Role::Attach { stdin: flag(0), stdout: flag(1), stderr: flag(2) };
            if flag(0)
                && !rest.is_empty()
                && let Some(fd) = &io.stdin
            {
                let _ = write_all(fd, rest);
            }
            true
        }
        ["resize", h, w] => {
            if let (Ok(h), Ok(w), Some(master)) = (h.parse(), w.parse(), io.tty.then_some(()).and(io.out.as_ref())) {
                let ws = libc::winsize { ws_row: h, ws_col: w, ws_xpixel: 0, ws_ypixel: 0 };
                let _ = crate::sys::set_window_size(master.as_fd(), &ws);
            }
            let _ = c.sock.write_all(b"ok\n");
            false
        }
        _ => {
            let _ = c.sock.write_all(format!("error unknown request {request:?}\n").as_bytes());
            false
        }
    }
}

fn start(engine: &Engine, rec: &Record) -> Result<()> {
    let container = Container::load(&engine.state_root, &rec.id)?;
    container.start()?;
    crate::fault::at("monitor.4")?;
    let dir = engine.record_dir(&rec.id);
    let mut state = rec.state(engine);
    state.status = "running".into();
    state.started_at = crate::clock::now_rfc3339();
    record::write_json(&dir, "state.json", &state)
}

fn write_all(fd: &OwnedFd, mut bytes: &[u8]) -> nix::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The container has exited and its output is read: the record, the waiters, the runtime container, `--rm`.
fn finish(
    engine: &Engine,
    rec: &Record,
    status: WaitStatus,
    mut log: Option<logs::Writer>,
    mut clients: Vec<Client>,
    result: Option<serde_json::Value>,
) -> i32 {
    if let Some(log) = &mut log {
        log.flush();
    }
    let (code, oom) = match Container::load(&engine.state_root, &rec.id) {
        Ok(c) => {
            let oom = c.oci_state()["oomKilled"].as_bool().unwrap_or(false);
            let code = match status {
                WaitStatus::Exited(_, code) => code,
                WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
                _ => 1,
            };
            if let Err(e) = c.delete(true) {
                logs::note(format_args!("containy monitor {}: {e}", rec.id));
            }
            (code, oom)
        }
        Err(_) => (1, false),
    };
    if crate::fault::at("monitor.5").is_err() {
        return 1;
    }
    let dir = engine.record_dir(&rec.id);
    let mut state = rec.state(engine);
    state.status = "exited".into();
    state.exit_code = code;
    state.oom_killed = oom;
    state.pid = 0;
    state.finished_at = crate::clock::now_rfc3339();
    state.result = result;
    if let Err(e) = record::write_json(&dir, "state.json", &state) {
        logs::note(format_args!("containy monitor {}: {e}", rec.id));
    }
    if oom {
        super::events::emit(engine, rec, "oom", &[]);
    }
    super::events::emit(engine, rec, "die", &[("exitCode", code.to_string())]);
    let line = format!("exit {code} {oom}\n");
    // Attach clients see the end of their stream now; waiters hear the code, then EOF when we are gone.
    clients.retain_mut(|c| match c.role {
        Role::Waiter => c.sock.write_all(line.as_bytes()).is_ok(),
        _ => false,
    });
    if rec.request.host_config.auto_remove {
        if let Err(e) = record::remove(engine, &rec.id, &rec.name) {
            eprintln!("containy monitor {}: {e}", rec.id);
        }
        super::events::emit(engine, rec, "destroy", &[]);
    }
    let _ = std::fs::remove_dir_all(engine.monitor_dir(&rec.id));
    drop(clients);
    0
}
