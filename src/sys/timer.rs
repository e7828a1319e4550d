//! Timers and process handles the supervisor polls: `timerfd_create(2)` on `CLOCK_MONOTONIC` (wall and CPU
//! deadlines become readable descriptors in the same `poll` as the signals and the output pipes, so the
//! supervisor stays one thread and never sleeps), and `pidfd_send_signal(2)` (signal a process through a
//! pidfd: the pid may have been reused meanwhile, the pidfd cannot).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A non-blocking, close-on-exec `CLOCK_MONOTONIC` timerfd, disarmed.
pub fn timerfd() -> io::Result<OwnedFd> {
    // SAFETY: timerfd_create has no memory arguments; the result is checked and owned at once.
    let raw = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC | libc::TFD_NONBLOCK) };
    if raw == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as RawFd) })
}

/// Arm `timer` to fire once, `after` from now (a zero duration would disarm it: it fires after 1 ns then).
pub fn timerfd_arm(timer: BorrowedFd<'_>, after: Duration) -> io::Result<()> {
    let after = after.max(Duration::from_nanos(1));
    let spec = libc::itimerspec {
        it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
        it_value: libc::timespec {
            tv_sec: after.as_secs().min(i64::MAX as u64) as _,
            tv_nsec: after.subsec_nanos() as libc::c_long,
        },
    };
    // SAFETY: `spec` is a valid itimerspec on our stack; the old value is not asked for (null).
    let rc = unsafe { libc::timerfd_settime(timer.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Read (and so reset) an expired timerfd; `false` if it had not expired (a spurious wakeup).
pub fn timerfd_expired(timer: BorrowedFd<'_>) -> bool {
    let mut count = 0u64;
    // SAFETY: reads at most 8 bytes into `count`, which is 8 bytes long.
    let n = unsafe { libc::read(timer.as_raw_fd(), (&raw mut count).cast(), std::mem::size_of::<u64>()) };
    n == std::mem::size_of::<u64>() as isize && count > 0
}

/// `pidfd_send_signal(2)`: signal the process the pidfd refers to.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: no info struct (null) and no flags; the pidfd is borrowed, so it is open.
    let rc = unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), signal, std::ptr::null::<libc::siginfo_t>(), 0)
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Give SIGPIPE back its default action (end the process). Rust's runtime ignores SIGPIPE in containy, and an
/// ignored signal stays ignored across `execve`: without this, `yes | head` in a container never ends.
pub fn default_sigpipe() -> io::Result<()> {
    // SAFETY: SIG_DFL is not a handler function; nothing of ours runs on a signal.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    if previous == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
