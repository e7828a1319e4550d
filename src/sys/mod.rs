//! The only `unsafe` in containy: raw system calls that neither `std` nor `nix` wrap.
//!
//! Each function here is a thin, safe wrapper around one syscall or ioctl, so every other module can stay
//! in safe Rust. Every `unsafe` block carries a `// SAFETY:` comment saying why the call is sound.
//! File descriptors come back as `OwnedFd` and are opened `O_CLOEXEC`, so none leaks into the container.

mod mountfd;
#[cfg(target_env = "musl")]
mod musl;
mod timer;

pub use mountfd::detached_mount;
pub use timer::{default_sigpipe, pidfd_send_signal, timerfd, timerfd_arm, timerfd_expired};

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::unistd::Pid;

/// `struct clone_args` from `<linux/sched.h>` (the version-2 layout, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` from `<linux/sched.h>` (wider than libc's `c_int` constant).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// What `clone3` returned on one side of the split.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// `clone3(2)` like `fork(2)`: a copy of this process (no shared memory, no new stack) in the namespaces
/// `flags` asks for. With `cgroup = Some(fd)` (cgroup v2) the child is born inside that cgroup
/// (`CLONE_INTO_CGROUP`), so not a single instruction of it runs outside its limits.
///
/// The caller must be single-threaded: the child gets only the calling thread, and a lock held by
/// another thread at the moment of the clone would stay locked forever in the child.
pub fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Forked> {
    let mut args = CloneArgs { flags, exit_signal: libc::SIGCHLD as u64, ..CloneArgs::default() };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: `args` is a valid, fully initialised clone_args whose size we pass; with no CLONE_VM and
    // no stack the child continues on a copy of our stack exactly like fork(2), so Rust's invariants
    // hold on both sides (single-threaded caller, see above).
    let ret = unsafe { libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>()) };
    let ret = match ret {
        // clone3 refused as unknown (an old kernel, or a seccomp profile such as Docker's that answers it
        // with ENOSYS so libc falls back): the classic clone(2) does the same without a cgroup to enter.
        -1 if cgroup.is_none() && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) => {
            // SAFETY: as above — clone with no CLONE_VM and no new stack behaves like fork(2).
            unsafe { libc::syscall(libc::SYS_clone, flags | libc::SIGCHLD as u64, 0, 0, 0, 0) }
        }
        ret => ret,
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Mark every descriptor from `first` up as close-on-exec (`close_range(2)` with `CLOSE_RANGE_CLOEXEC`):
/// whatever this process inherited, only stdio (and what the caller keeps below `first`) survives `execve`.
pub fn cloexec_from(first: RawFd) -> io::Result<()> {
    // By number: musl's libc has no wrapper for it (the runtime binary is built against musl).
    // SAFETY: close_range only changes descriptor flags; no memory is touched.
    let ret = unsafe {
        libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC)
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Take ownership of descriptor `fd`, which a previous image of this process left open across `execve`
/// for us (and named in the environment); `None` if it is not open. It is made close-on-exec again.
pub fn adopt_inherited(fd: RawFd) -> Option<OwnedFd> {
    if fd < 3 {
        return None;
    }
    // SAFETY: F_SETFD only changes the descriptor's flags; it fails (EBADF) if `fd` is not open.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } == -1 {
        return None;
    }
    // SAFETY: `fd` is open, and nothing else in this process owns it: it was inherited across execve for
    // the one caller that reads its number from the environment.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Close this process's copy of a descriptor another value owns (a forked child dropping what its parent
/// still holds; the child never returns into code that would drop that value).
pub fn close_copy(fd: BorrowedFd<'_>) {
    // SAFETY: only the descriptor table entry is released; the value that owns `fd` is never used again in
    // this (forked) process.
    unsafe { libc::close(fd.as_raw_fd()) };
}

/// Make the terminal on `fd` the controlling terminal of this (session leader) process: `TIOCSCTTY`.
pub fn set_controlling_terminal(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal); fd is a valid open descriptor.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The window size of the terminal on `fd` (`TIOCGWINSZ`).
pub fn window_size(fd: BorrowedFd<'_>) -> io::Result<libc::winsize> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one struct winsize through the pointer, which is valid for writes.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws as *mut libc::winsize) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(ws)
}

/// Set the window size of the terminal on `fd` (`TIOCSWINSZ`); the kernel sends SIGWINCH to its group.
pub fn set_window_size(fd: BorrowedFd<'_>, ws: &libc::winsize) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ reads one struct winsize through the pointer, which is valid for reads.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws as *const libc::winsize) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Bring the loopback interface up in the current network namespace (`SIOCSIFFLAGS` on `lo`), the way
/// bubblewrap does it: one datagram socket and two ioctls, no netlink library needed for this.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: socket(2) has no memory arguments; the result is checked and owned at once.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };

    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads ifr_name and writes ifr_ifru.ifru_flags of the valid ifreq we pass.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just filled ifru_flags, the union member SIOCGIFFLAGS defines.
    unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the valid ifreq we pass.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `mount_setattr(2)` with `AT_RECURSIVE` on the mount `fd` names: set and clear `MOUNT_ATTR_*` bits on it
/// and on every mount below it, in one call (what `rro` & co. mean; a `MS_REMOUNT` touches one mount only).
pub fn mount_setattr_recursive(fd: BorrowedFd<'_>, set: u64, clear: u64) -> nix::Result<()> {
    const AT_RECURSIVE: libc::c_int = 0x8000;
    let attr = libc::mount_attr { attr_set: set, attr_clr: clear, propagation: 0, userns_fd: 0 };
    // SAFETY: the path is a valid empty C string, `attr` lives across the call and its size is passed with it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | AT_RECURSIVE,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    nix::errno::Errno::result(rc).map(drop)
}

/// `pidfd_open(2)`: a descriptor that refers to process `pid` itself, immune to pid reuse.
pub fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open has no memory arguments; the result is checked and owned at once.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if raw == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh descriptor (O_CLOEXEC by definition) that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as RawFd) })
}

/// `fsetxattr(2)`: set the extended attribute `name` of the open file `fd` (image layers: overlay's
/// `trusted.overlay.opaque`, a file's `security.capability`).
pub fn fsetxattr(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> io::Result<()> {
    let name = std::ffi::CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: name is NUL-terminated, value points to value.len() readable bytes; the kernel copies both.
    let ret = unsafe { libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `lgetxattr(2)`: the value of extended attribute `name` of `path` (not following a final symlink), or
/// `None` when the file has no such attribute. Values longer than 4 KiB are reported as `ERANGE`.
pub fn lgetxattr(path: &std::path::Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    use std::os::unix::ffi::OsStrExt;
    let path =
        std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let name = std::ffi::CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: both strings are NUL-terminated; buf has buf.len() writable bytes, the kernel writes at most that.
    let ret = unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if ret == -1 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::ENOTSUP) => Ok(None),
            _ => Err(err),
        };
    }
    buf.truncate(ret as usize);
    Ok(Some(buf))
}

/// Read a file the kernel makes up as it is read (procfs, sysfs, cgroupfs). Such files say their size is
/// 0, so `std::fs::read_to_string` reads them 32 bytes at a time, doubling, and the kernel formats the file
/// again for every read: `/proc/self/mountinfo` took eight reads and ≈ 50 µs of a container's start. Read
/// into room for a few pages, a file of that size comes whole in one read (and an empty one ends it). Read
/// through `Take`, which has no size to ask for: `File` would `statx` first for a size that is always 0.
pub fn read_kernel_file(path: impl AsRef<std::path::Path>) -> io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(16 * 1024);
    std::fs::File::open(path)?.take(u64::MAX).read_to_string(&mut text)?;
    Ok(text)
}

/// Is this process in the host's user namespace (`/proc/self/uid_map` maps every id to itself)?
pub fn in_initial_user_namespace() -> bool {
    match read_kernel_file("/proc/self/uid_map") {
        Ok(text) => text.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"],
        Err(_) => true,
    }
}

/// Number of threads in this process, from `/proc/self/status`. containy must be single-threaded when
/// it clones (see ARCHITECTURE.md): debug builds assert it.
pub fn thread_count() -> Option<usize> {
    let status = read_kernel_file("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|n| n.trim().parse().ok())
}

/// `_exit(2)`: end this process now, without running exit handlers or flushing stdio buffers that are
/// copies of the parent's (what a cloned child must do when it gives up before `execve`).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust-managed memory.
    unsafe { libc::_exit(code) }
}

/// Leave the caller: fork once and let the parent `_exit(0)` at once, so the child is re-parented to init
/// and whoever started us can reap its child right away (conmon's double fork; the engine's monitor). Only
/// for a single-threaded process, before it holds anything that a fork would duplicate badly.
pub fn detach_from_parent() -> io::Result<()> {
    if thread_count() != Some(1) {
        return Err(io::Error::other("detach_from_parent: the process is not single-threaded"));
    }
    // SAFETY: the process is single-threaded (checked above), so the child gets a consistent copy of the
    // whole address space; the parent only calls _exit.
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Parent { .. } => exit_now(0),
        nix::unistd::ForkResult::Child => Ok(()),
    }
}

/// Take ownership of a descriptor the kernel has just installed in this process (one received with
/// `SCM_RIGHTS`). Only for raw fds that nothing else in the process knows about.
pub fn adopt_received_fd(raw: RawFd) -> OwnedFd {
    // SAFETY: the kernel created this descriptor for us during recvmsg; no other owner exists.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`: install a classic-BPF program as this thread's
/// seccomp filter. From then on every syscall is run through it, here and after `execve`; filters can only
/// be added, never removed. The kernel refuses (`EACCES`) unless no_new_privs is set or the caller has
/// `CAP_SYS_ADMIN`. With `SECCOMP_FILTER_FLAG_TSYNC` a positive return is the id of a thread that could not
/// be synchronised; it is reported as `EAGAIN`.
pub fn seccomp_set_mode_filter(program: &[libc::sock_filter], flags: u32) -> io::Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
    let prog = libc::sock_fprog { len, filter: program.as_ptr().cast_mut() };
    // SAFETY: `prog` points at `len` initialised sock_filter structs that outlive the call; the kernel
    // copies the program in (it never writes through `filter`, despite the `*mut` in the C type) and keeps
    // no pointer to our memory.
    let ret = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &prog as *const libc::sock_fprog)
    };
    match ret {
        0 => Ok(()),
        -1 => Err(io::Error::last_os_error()),
        _ => Err(io::Error::from_raw_os_error(libc::EAGAIN)),
    }
}

/// One eBPF instruction (`struct bpf_insn`): opcode, destination and source registers, offset, immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u8,
    /// `dst_reg` in the low nibble, `src_reg` in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

/// The `BPF_PROG_LOAD` member of `union bpf_attr` (the fields up to `prog_flags`).
#[repr(C)]
#[derive(Default)]
struct BpfProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

/// The `BPF_PROG_ATTACH` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct BpfProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// Load `insns` as a `BPF_PROG_TYPE_CGROUP_DEVICE` program; on a verifier error the kernel's log is in
/// the error message.
pub fn bpf_load_device_program(insns: &[BpfInsn]) -> io::Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut log = vec![0u8; 64 * 1024];
    let attr = BpfProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        ..BpfProgLoad::default()
    };
    // SAFETY: attr points to valid instructions, a NUL-terminated license and a writable log buffer, all
    // alive for the duration of the call; the size passed is the size of the struct.
    let ret = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, &attr as *const BpfProgLoad, std::mem::size_of::<BpfProgLoad>())
    };
    if ret < 0 {
        let err = io::Error::last_os_error();
        let text = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)]).into_owned();
        return Err(if text.is_empty() { err } else { io::Error::new(err.kind(), format!("{err}: {text}")) });
    }
    // SAFETY: a fresh descriptor the kernel returned; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Attach a device program to the cgroup directory `cgroup` (`BPF_CGROUP_DEVICE`, allowing others).
pub fn bpf_attach_device_program(program: BorrowedFd<'_>, cgroup: BorrowedFd<'_>) -> io::Result<()> {
    let attr = BpfProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..BpfProgAttach::default()
    };
    // SAFETY: attr is a valid, initialised bpf_attr prefix whose size we pass; no memory is written.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const BpfProgAttach,
            std::mem::size_of::<BpfProgAttach>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The binary at `exe` opened through a detached read-only overlay of its directory over `scratch`: the
/// view's mount and the file, both close-on-exec. The entry point makes the same view before libc
/// (`containy_entry::overlay_view`, raw system calls); this owns its descriptors.
pub fn sealed_view(exe: &std::path::Path, scratch: &std::path::Path) -> io::Result<(OwnedFd, OwnedFd)> {
    use std::os::unix::ffi::OsStrExt;
    let (mount, file) = containy_entry::overlay_view(exe.as_os_str().as_bytes(), scratch.as_os_str().as_bytes())
        .map_err(io::Error::from_raw_os_error)?;
    // SAFETY: both were just opened for us, and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(mount), OwnedFd::from_raw_fd(file)) })
}
