//! Enforcing the limits of untrusted code from the supervisor (`containy run`'s parent): CPU and wall time,
//! and the output cap. The kernel-side limits (`RLIMIT_FSIZE`, `RLIMIT_NOFILE`, `pids.max`, the disk tmpfs)
//! are data derived here and applied where their mechanism lives.
//!
//! Order matters, and is this: **before clone** the limits are checked against the plan and, with an output
//! cap, two pipes are made (the child puts their write ends on its stdout and stderr first thing, so the
//! container never holds containy's own terminal or file); **after the child is ready** the timers are armed —
//! wall time from the program's start, not containy's — and the supervisor's single `poll` gains up to four
//! descriptors: a wall-clock timerfd, a CPU-check timerfd and the two pipes. Nothing sleeps. The CPU check is
//! cheap: CPU time cannot grow faster than wall time × cores, so the next check is due when the remaining
//! budget, spent on every core at once, could be gone — a 1 s limit costs about ten reads of `cpuacct.usage`.
//! But a supervisor that wakes late (a loaded machine, an emulated CPU) would let the program run on, up to
//! its lateness × cores. So each check also sets the **CPU brake** (`cgroups/usage.rs`): a bandwidth quota of
//! the remaining budget per second, never looser than the container's own quota. The scheduler stops the
//! program when its budget is spent, at the next tick, and the check that follows only has to notice and
//! kill. A limit that is hit kills the whole cgroup (every process, also those that left the session or
//! forked away) and waits until it is empty.
//! Output beyond the cap is read and counted, never left in the pipe: the program does not block, and gets no
//! SIGPIPE, it just stops being recorded (or is killed, with `output_kill`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;

use super::RuntimeError;
use crate::cgroups::{Bandwidth, Cgroup, CpuUsage};
use crate::limits::Limits;
use crate::plan::{Plan, Resources, RootfsMode};

/// How long a kill may take before containy gives up waiting for the cgroup to empty.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// The shortest interval between two CPU checks: bounds the overshoot and the wakeups near the limit.
const MIN_CHECK: Duration = Duration::from_millis(1);
/// The brake's period when the container has no quota of its own: the longest the kernel allows, so a
/// refill of the quota (once a period) comes long after the next check has set it again.
const BRAKE_PERIOD_US: u64 = 1_000_000;
/// The smallest quota the kernel accepts.
const MIN_QUOTA_US: u64 = 1_000;

/// Which limit ended (or, within the grace, was exceeded by) the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    CpuTime,
    WallTime,
    Output,
}

/// What a plan's limits need that its other fields cannot express, checked before anything is taken.
pub fn check(plan: &Plan, detached: bool) -> Result<(), RuntimeError> {
    let limits = &plan.limits;
    let refuse = |field: &'static str, message: String| Err(crate::limits::LimitError { field, message }.into());
    limits.validate()?;
    if detached && let Some(field) = limits.supervised() {
        return refuse(
            field,
            "needs a supervisor that waits for the container: use `containy run` without --detach (create/start \
             leave no process behind to enforce it)"
                .into(),
        );
    }
    for (kind, _) in limits.rlimits() {
        if plan.process.rlimits.iter().any(|r| r.kind == kind) {
            let field = if kind == "RLIMIT_FSIZE" { "file_size" } else { "open_files" };
            return refuse(field, format!("and process.rlimits both set {kind}: keep one of them"));
        }
    }
    if limits.output.is_some() && plan.process.terminal {
        return refuse("output", "cannot cap a terminal's output: set terminal = false (or drop -t)".into());
    }
    if limits.disk.is_some() {
        if plan.rootfs.mode != RootfsMode::Overlay {
            return refuse(
                "disk",
                "limits the writable layer, which only rootfs mode \"overlay\" has (this config writes to its \
                 rootfs directory): use mode = \"overlay\""
                    .into(),
            );
        }
        if plan.rootfs.keep_changes {
            return refuse("disk", "puts the writable layer on a tmpfs, which keep_changes cannot keep".into());
        }
    }
    Ok(())
}

/// A container without a cgroup (rootless where none may be made): the limits a supervisor enforces cannot
/// be — nothing would measure its CPU time or hold all its processes for the kill — so they are refused.
pub fn check_without_cgroup(plan: &Plan) -> Result<(), RuntimeError> {
    match plan.limits.supervised() {
        Some(field) => Err(crate::limits::LimitError {
            field,
            message: "needs the container's cgroup (to measure it and to kill every process of it), and this user \
                      cannot create one here (cgroup v1, or no delegated v2 subtree)"
                .into(),
        }
        .into()),
        None => Ok(()),
    }
}

/// The cgroup limits with `processes` folded in: the smaller of it and `pids.max` wins.
pub fn cgroup_resources(plan: &Plan) -> std::borrow::Cow<'_, Resources> {
    let Some(processes) = plan.limits.processes else { return std::borrow::Cow::Borrowed(&plan.resources) };
    let processes = i64::try_from(processes).unwrap_or(i64::MAX);
    let pids = match plan.resources.pids {
        Some(max) if max >= 0 => max.min(processes),
        _ => processes,
    };
    std::borrow::Cow::Owned(Resources { pids: Some(pids), ..plan.resources.clone() })
}

/// The container's stdout and stderr pipes (read end, write end), made before clone when output is capped.
pub struct OutputPipes {
    read: [OwnedFd; 2],
    write: Option<[OwnedFd; 2]>,
}

impl OutputPipes {
    pub fn new(limits: &Limits) -> Result<Option<OutputPipes>, RuntimeError> {
        if limits.output.is_none() {
            return Ok(None);
        }
        let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| RuntimeError::sys("pipe2", e));
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        for fd in [&out_r, &err_r] {
            nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
                .map_err(|e| RuntimeError::sys("fcntl O_NONBLOCK", e))?;
        }
        Ok(Some(OutputPipes { read: [out_r, err_r], write: Some([out_w, err_w]) }))
    }

    /// In the child, before anything else: the write ends become its stdout and stderr.
    pub fn attach_in_child(&self) {
        let Some([out, err]) = &self.write else { return };
        for result in [nix::unistd::dup2_stdout(out), nix::unistd::dup2_stderr(err)] {
            if let Err(e) = result {
                eprintln!("containy: cannot attach the output pipe of the container: {e}");
                crate::sys::exit_now(125);
            }
        }
    }

    /// In the parent, after clone: only the container may hold the write ends, or the pipes never end.
    pub fn close_write_ends(&mut self) {
        self.write = None;
    }
}

/// The timers and pipes of one run, polled by the supervisor next to its signalfd.
pub struct Limiter<'a> {
    limits: Limits,
    cgroup: &'a Cgroup,
    started: Instant,
    /// The cgroup's CPU count when the program started: containy's own setup in the child is not the program's.
    cpu_baseline: CpuUsage,
    ended: Option<Instant>,
    wall: Option<OwnedFd>,
    cpu: Option<OwnedFd>,
    cores: u32,
    /// The container's own CPU bandwidth, and the brake set now (`None`: no cpu controller, or no limit).
    own_bandwidth: Option<Bandwidth>,
    brake: Option<Bandwidth>,
    output: [Option<OwnedFd>; 2],
    kept: u64,
    dropped: u64,
    hit: Option<Hit>,
    buf: Vec<u8>,
}

/// One descriptor the supervisor polls for the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Wall,
    Cpu,
    Output(usize),
}

/// What the limiter saw, for the result record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub hit: Option<Hit>,
    pub wall_time: Duration,
    /// `(kept, dropped)` bytes, when the output was capped.
    pub output: Option<(u64, u64)>,
    /// The cgroup's CPU count at the program's start (subtracted from the final count).
    pub cpu_baseline: CpuUsage,
}

impl<'a> Limiter<'a> {
    /// Start the clocks: called as the program starts.
    pub fn start(limits: &Limits, cgroup: &'a Cgroup, pipes: Option<OutputPipes>) -> Result<Self, RuntimeError> {
        if limits.cpu_time.is_some() && cgroup.cpu_total().is_none() {
            return Err(crate::limits::LimitError {
                field: "cpu_time",
                message: "this machine's cgroups keep no CPU accounting (no cpuacct.usage or cpu.stat): it cannot \
                          be enforced"
                    .into(),
            }
            .into());
        }
        let started = Instant::now();
        let cpu_baseline = cgroup.cpu_usage().unwrap_or_default();
        let timer = |after: Duration| -> Result<OwnedFd, RuntimeError> {
            let fd = crate::sys::timerfd().map_err(|e| timer_error("timerfd_create", e))?;
            crate::sys::timerfd_arm(fd.as_fd(), after).map_err(|e| timer_error("timerfd_settime", e))?;
            Ok(fd)
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let wall = limits.wall_time.map(timer).transpose()?;
        // The first CPU check: when the whole budget could be gone with every core busy.
        let cpu = limits.cpu_kill_at().map(|budget| timer((budget / cores).max(MIN_CHECK))).transpose()?;
        if let Some(wall_time) = limits.wall_time {
            crate::explain!(
                format!("arm the wall-clock limit ({})", crate::limits::show_duration(wall_time)),
                "timerfd_create(CLOCK_MONOTONIC) + timerfd_settime, polled with the signalfd",
                "a timer is a descriptor: the single-threaded supervisor wakes for it like for a signal"
            );
        }
        let output = match pipes {
            Some(OutputPipes { read: [out, err], .. }) => [Some(out), Some(err)],
            None => [None, None],
        };
        let own_bandwidth = limits.cpu_time.and_then(|_| cgroup.cpu_bandwidth());
        let mut limiter = Limiter {
            limits: limits.clone(),
            cgroup,
            started,
            cpu_baseline,
            ended: None,
            wall,
            cpu,
            cores,
            own_bandwidth,
            brake: None,
            output,
            kept: 0,
            dropped: 0,
            hit: None,
            buf: vec![0; 64 * 1024],
        };
        if let Some(budget) = limits.cpu_kill_at() {
            crate::explain!(
                format!("arm the CPU-time limit ({})", crate::limits::show_duration(budget)),
                "a timerfd for the checks of the cgroup's CPU count; cpu.max (v2) / cpu.cfs_quota_us (v1) as a brake",
                "the scheduler stops the container when its budget is spent, even if containy wakes late"
            );
            limiter.set_brake(budget);
        }
        Ok(limiter)
    }

    /// The brake for `remaining` CPU time: at most that much per period, and never more than the
    /// container's own quota. Without a cpu controller there is no brake (the checks alone enforce it).
    fn set_brake(&mut self, remaining: Duration) {
        let Some(own) = self.own_bandwidth else { return };
        let want = u64::try_from(remaining.as_micros()).unwrap_or(u64::MAX).max(MIN_QUOTA_US);
        let brake = match own.quota_us {
            Some(quota) => Bandwidth { quota_us: Some(quota.min(want)), period_us: own.period_us },
            None => Bandwidth { quota_us: Some(want), period_us: BRAKE_PERIOD_US },
        };
        if self.brake == Some(brake) {
            return;
        }
        if self.cgroup.set_cpu_bandwidth(brake, self.brake.unwrap_or(own)) {
            self.brake = Some(brake);
        }
    }

    /// The descriptors to poll for `POLLIN`.
    pub fn sources(&self) -> Vec<(Source, BorrowedFd<'_>)> {
        let mut s = Vec::new();
        if let Some(fd) = &self.wall {
            s.push((Source::Wall, fd.as_fd()));
        }
        if let Some(fd) = &self.cpu {
            s.push((Source::Cpu, fd.as_fd()));
        }
        for (i, fd) in self.output.iter().enumerate() {
            if let Some(fd) = fd {
                s.push((Source::Output(i), fd.as_fd()));
            }
        }
        s
    }

    /// A polled descriptor is ready.
    pub fn on_ready(&mut self, source: Source) {
        match source {
            Source::Wall => {
                if self.wall.as_ref().is_some_and(|t| crate::sys::timerfd_expired(t.as_fd())) {
                    self.wall = None;
                    self.exceeded(Hit::WallTime);
                }
            }
            Source::Cpu => self.check_cpu(),
            Source::Output(i) => self.relay(i),
        }
    }

    fn check_cpu(&mut self) {
        let Some(timer) = &self.cpu else { return };
        if !crate::sys::timerfd_expired(timer.as_fd()) {
            return;
        }
        let Some(budget) = self.limits.cpu_kill_at() else { return };
        let used = self.cgroup.cpu_total().unwrap_or_default().saturating_sub(self.cpu_baseline.total);
        if used >= budget {
            self.cpu = None;
            self.exceeded(Hit::CpuTime);
            return;
        }
        let next = ((budget - used) / self.cores).max(MIN_CHECK);
        let armed = crate::sys::timerfd_arm(timer.as_fd(), next);
        self.set_brake(budget - used);
        if armed.is_err() {
            // A timer that cannot be re-armed cannot enforce the limit: end the run rather than run unlimited.
            self.cpu = None;
            self.exceeded(Hit::CpuTime);
        }
    }

    /// Copy what the container wrote to our stdout/stderr, up to the cap; count the rest.
    fn relay(&mut self, i: usize) {
        // Out of its slot while it is read (`admit` needs all of `self`); put back unless it ended.
        let Some(fd) = self.output[i].take() else { return };
        loop {
            match nix::unistd::read(&fd, &mut self.buf) {
                Ok(0) => return,
                Ok(n) => {
                    let pass = self.admit(n);
                    if pass > 0 {
                        write_all(i, &self.buf[..pass]);
                    }
                    if self.hit == Some(Hit::Output) {
                        break;
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(_) => return,
            }
        }
        self.output[i] = Some(fd);
    }

    /// `n` more bytes of output: how many of them fit under the cap (the rest are counted as dropped). With
    /// `output_kill`, the first dropped byte ends the run. For a supervisor that reads the output itself.
    pub fn admit(&mut self, n: usize) -> usize {
        let cap = self.limits.output.unwrap_or(u64::MAX);
        let pass = cap.saturating_sub(self.kept).min(n as u64) as usize;
        self.kept += pass as u64;
        self.dropped += (n - pass) as u64;
        if self.dropped > 0 && self.limits.output_kill && self.hit.is_none() {
            self.exceeded(Hit::Output);
        }
        pass
    }

    fn exceeded(&mut self, hit: Hit) {
        if self.hit.is_some() {
            return;
        }
        self.hit = Some(hit);
        let show = crate::limits::show_duration;
        let (field, value) = match hit {
            Hit::CpuTime => ("cpu_time", self.limits.cpu_kill_at().map(show)),
            Hit::WallTime => ("wall_time", self.limits.wall_time.map(show)),
            Hit::Output => ("output", self.limits.output.map(|b| format!("{b} bytes"))),
        };
        eprintln!("containy: the container passed limits.{field} ({}): killing it", value.unwrap_or_default());
        if !self.cgroup.kill_and_wait(KILL_TIMEOUT) {
            eprintln!("containy: warning: the container's cgroup did not empty within {KILL_TIMEOUT:?} of the kill");
        }
    }

    /// The container's first process has exited: stop the clock, end whatever it left behind (its output
    /// pipes end only when every writer is gone) and pass on the rest of its output.
    pub fn finish(&mut self) {
        self.ended.get_or_insert_with(Instant::now);
        // What is left must not hold the pipes open, nor sit throttled by the brake, which only the kill lifts.
        let pipes = self.output.iter().any(Option::is_some);
        if (pipes || self.brake.is_some()) && !self.cgroup.procs().is_empty() {
            self.cgroup.kill_and_wait(KILL_TIMEOUT);
        }
        for i in 0..2 {
            self.relay(i);
        }
    }

    pub fn observed(&self) -> Observed {
        Observed {
            hit: self.hit,
            wall_time: self.ended.unwrap_or_else(Instant::now) - self.started,
            output: self.limits.output.map(|_| (self.kept, self.dropped)),
            cpu_baseline: self.cpu_baseline,
        }
    }
}

fn write_all(stream: usize, mut bytes: &[u8]) {
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let fd = if stream == 0 { stdout.as_fd() } else { stderr.as_fd() };
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
            // Our reader went away: the bytes count as passed on; the container is not held up for it.
            Err(_) => return,
        }
    }
}

fn timer_error(op: &'static str, e: std::io::Error) -> RuntimeError {
    RuntimeError::sys(op, nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EINVAL)))
}
