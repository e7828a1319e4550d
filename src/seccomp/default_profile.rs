//! The profile containers get unless they ask for another: an allow-list in the spirit of moby's.
//!
//! Written as data — the names, grouped by subject, and the few rules with argument checks — so the whole policy
//! can be read in one screen and tested without a kernel (the tests run the compiled BPF in an interpreter).
//! Three answers: allowed; EPERM for the calls named dangerous on purpose ([`DENIED`]); ENOSYS for everything
//! else, including every syscall newer than this list, so that libraries fall back (see the module above).

use crate::plan::{ArgCmp, Seccomp, SeccompAction, SeccompOp, SyscallRule};

/// The syscalls every container may make. Follows moby's default profile (`profiles/seccomp/default.json`,
/// the one Docker, containerd and — as containers-common's `seccomp.json` — podman ship): the calls it allows
/// unconditionally, plus `ptrace` and `process_vm_readv/writev`, which moby allows on kernels since 4.8 (the
/// release that stopped ptrace from bypassing seccomp). Unlike moby, the list does not grow with capabilities:
/// a container given `CAP_SYS_ADMIN` still may not `mount` under this profile (use `seccomp = "unconfined"` or
/// a profile of your own). Grouped by subject; names one architecture lacks are simply absent from its filter.
/// Not here, on purpose: `clone` and `socket` (allowed with argument checks below), `personality` (likewise),
/// `clone3` (its flags sit in memory where no filter can read them, so it could create the namespaces `clone`
/// may not; ENOSYS makes glibc fall back to `clone`), the io_uring calls (a large attack surface moby also
/// leaves out; ENOSYS makes liburing users fall back to epoll), and the NUMA policy calls (moby requires
/// `CAP_SYS_NICE`; libnuma reads ENOSYS as "no NUMA").
#[rustfmt::skip]
pub const ALLOWED: &[&str] = &[
    // files and descriptors
    "access", "faccessat", "faccessat2", "chdir", "fchdir", "chmod", "fchmod", "fchmodat", "fchmodat2",
    "chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32", "chroot", "umask",
    "open", "openat", "openat2", "creat", "close", "close_range", "dup", "dup2", "dup3", "fcntl", "fcntl64",
    "ioctl", "flock", "read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64", "pwritev",
    "pwritev2", "lseek", "_llseek", "sendfile", "sendfile64", "splice", "tee", "vmsplice", "copy_file_range",
    "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "fstatat64", "newfstatat", "statx", "statfs",
    "statfs64", "fstatfs", "fstatfs64", "getdents", "getdents64", "getcwd", "mkdir", "mkdirat", "mknod",
    "mknodat", "rmdir", "rename", "renameat", "renameat2", "link", "linkat", "unlink", "unlinkat", "symlink",
    "symlinkat", "readlink", "readlinkat", "truncate", "truncate64", "ftruncate", "ftruncate64", "fallocate",
    "fadvise64", "fadvise64_64", "arm_fadvise64_64", "readahead", "fsync", "fdatasync", "sync", "syncfs",
    "sync_file_range", "sync_file_range2", "arm_sync_file_range", "utime", "utimes", "utimensat",
    "utimensat_time64", "futimesat", "name_to_handle_at", "cachestat", "statmount", "listmount",
    "getxattr", "lgetxattr", "fgetxattr", "getxattrat", "setxattr", "lsetxattr", "fsetxattr", "setxattrat",
    "listxattr", "llistxattr", "flistxattr", "listxattrat", "removexattr", "lremovexattr", "fremovexattr",
    "removexattrat", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_mark",
    // waiting for descriptors, and descriptors that are not files
    "pipe", "pipe2", "eventfd", "eventfd2", "signalfd", "signalfd4", "timerfd_create", "timerfd_settime",
    "timerfd_settime64", "timerfd_gettime", "timerfd_gettime64", "memfd_create", "memfd_secret",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait", "epoll_wait_old", "epoll_pwait",
    "epoll_pwait2", "poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64",
    "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
    // memory
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock", "mlock2",
    "mlockall", "munlock", "munlockall", "membarrier", "remap_file_pages", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "map_shadow_stack", "mseal", "cacheflush", "breakpoint", "set_tls",
    // processes and threads
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "waitpid", "kill", "tkill",
    "tgkill", "getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid",
    "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "restart_syscall", "prctl", "arch_prctl",
    "set_thread_area", "get_thread_area", "pidfd_open", "pidfd_send_signal", "process_mrelease", "ptrace",
    "process_vm_readv", "process_vm_writev", "futex", "futex_time64", "futex_waitv", "futex_wait", "futex_wake",
    "futex_requeue", "uretprobe",
    // identity and capabilities (changing them needs the capabilities, which the bounding set decides)
    "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32", "getresuid",
    "getresuid32", "getresgid", "getresgid32", "getgroups", "getgroups32", "setuid", "setuid32", "setgid",
    "setgid32", "setreuid", "setreuid32", "setregid", "setregid32", "setresuid", "setresuid32", "setresgid",
    "setresgid32", "setgroups", "setgroups32", "setfsuid", "setfsuid32", "setfsgid", "setfsgid32", "capget",
    "capset",
    // limits, scheduling, system information
    "getrlimit", "ugetrlimit", "setrlimit", "prlimit64", "getrusage", "getpriority", "setpriority", "sched_yield",
    "sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr", "sched_getparam",
    "sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max",
    "sched_get_priority_min", "sched_rr_get_interval", "sched_rr_get_interval_time64", "ioprio_get",
    "ioprio_set", "getcpu", "times", "sysinfo", "uname", "getrandom",
    // signals
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "sigreturn", "sigprocmask",
    "pause", "alarm", "getitimer", "setitimer",
    // time (setting the clock needs CAP_SYS_TIME; adjtimex without it only reads)
    "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64", "clock_nanosleep",
    "clock_nanosleep_time64", "nanosleep", "gettimeofday", "time", "timer_create", "timer_delete",
    "timer_settime", "timer_settime64", "timer_gettime", "timer_gettime64", "timer_getoverrun", "adjtimex",
    "clock_adjtime", "clock_adjtime64",
    // sockets (`socket` itself is below); socketcall is i386's multiplexer for all of them
    "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername", "getsockopt",
    "setsockopt", "send", "sendto", "sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg",
    "recvmmsg_time64", "shutdown", "socketcall",
    // System V and POSIX IPC (the container has its own IPC namespace)
    "ipc", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semtimedop_time64", "semctl",
    "shmget", "shmat", "shmdt", "shmctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedsend_time64",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_notify", "mq_getsetattr",
    // sandboxing oneself further
    "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
];

/// Calls the default profile refuses with EPERM ("not permitted") rather than ENOSYS: each is a way past the
/// container's walls or into the host kernel's most exposed parts, and moby refuses each unless the container
/// holds a capability containy does not give by default. Loading kernel code (`*_module`, `kexec_*`), mounting
/// and the new mount API (it would let the container rearrange or escape its root), swap, reboot, BPF and perf
/// (kernel attack surface and information leaks), the kernel keyring (not namespaced), creating or entering
/// namespaces (`unshare`, `setns`), `open_by_handle_at` (the "shocker" escape: opens any file on a mounted
/// filesystem by inode), `userfaultfd` (stalls the kernel mid-copy, a classic exploit aid), process accounting,
/// quotas, the kernel log, i386's `vm86`, raw port I/O, setting the clocks, host and domain names, and the
/// cross-process calls moby grants only with `CAP_SYS_PTRACE` (`kcmp`, `pidfd_getfd`, `process_madvise`).
#[rustfmt::skip]
pub const DENIED: &[&str] = &[
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
    "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr", "swapon", "swapoff", "reboot", "bpf", "perf_event_open", "add_key", "keyctl",
    "request_key", "unshare", "setns", "open_by_handle_at", "userfaultfd", "acct", "lookup_dcookie", "quotactl",
    "quotactl_fd", "syslog", "vm86", "vm86old", "iopl", "ioperm", "settimeofday", "stime", "clock_settime",
    "clock_settime64", "sethostname", "setdomainname", "fanotify_init", "kcmp", "pidfd_getfd", "process_madvise",
    "nfsservctl", "uselib", "_sysctl", "vhangup",
];

/// `personality(2)` values the default profile allows, as moby does: `PER_LINUX`, `PER_LINUX32`, `UNAME26`,
/// `UNAME26 | PER_LINUX32`, and `0xffffffff`, which only asks for the current one. Other personas change how
/// the kernel lays out memory (`ADDR_NO_RANDOMIZE` turns ASLR off) and get the default action.
const PERSONALITIES: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// The `clone(2)` flags that create namespaces: `CLONE_NEWNS`, `NEWCGROUP`, `NEWUTS`, `NEWIPC`, `NEWUSER`,
/// `NEWPID`, `NEWNET` (moby's mask 0x7e020000). Blocked like `unshare`, which does the same for a running process.
const CLONE_NAMESPACE_FLAGS: &[u64] =
    &[0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000];

/// `clone`'s flags are its first argument everywhere but on s390, which swaps the first two.
const CLONE_FLAGS_ARG: u32 = if cfg!(target_arch = "s390x") { 1 } else { 0 };

/// `AF_VSOCK`: sockets to the hypervisor and host, which network namespaces do not separate.
const AF_VSOCK: u64 = 40;

/// The profile containers get unless they ask for another (`seccomp = "default"`, the friendly config's default).
///
/// An allow-list: [`ALLOWED`] unconditionally; `personality` for [`PERSONALITIES`]; `clone` without namespace
/// flags (with one, EPERM); `socket` for every family but `AF_VSOCK`; [`DENIED`] fail with EPERM; everything
/// else — including every syscall newer than this list — fails with ENOSYS, so libraries fall back.
pub fn default_profile() -> Seccomp {
    let rule = |names: &[&str], action, errno, args| SyscallRule {
        names: names.iter().map(|name| name.to_string()).collect(),
        action,
        errno,
        args,
    };
    let arg = |index, op, value, value_two| ArgCmp { index, value, value_two, op };
    let eperm = Some(libc::EPERM as u32);
    let mut syscalls = vec![rule(ALLOWED, SeccompAction::Allow, None, vec![])];
    for persona in PERSONALITIES {
        syscalls.push(rule(&["personality"], SeccompAction::Allow, None, vec![arg(0, SeccompOp::Equal, *persona, 0)]));
    }
    let all_namespaces = CLONE_NAMESPACE_FLAGS.iter().fold(0, |mask, flag| mask | flag);
    let no_namespace = arg(CLONE_FLAGS_ARG, SeccompOp::MaskedEqual, all_namespaces, 0);
    syscalls.push(rule(&["clone"], SeccompAction::Allow, None, vec![no_namespace]));
    for flag in CLONE_NAMESPACE_FLAGS {
        let with_flag = arg(CLONE_FLAGS_ARG, SeccompOp::MaskedEqual, *flag, *flag);
        syscalls.push(rule(&["clone"], SeccompAction::Errno, eperm, vec![with_flag]));
    }
    syscalls.push(rule(&["socket"], SeccompAction::Allow, None, vec![arg(0, SeccompOp::NotEqual, AF_VSOCK, 0)]));
    syscalls.push(rule(DENIED, SeccompAction::Errno, eperm, vec![]));
    Seccomp {
        default_action: SeccompAction::Errno,
        default_errno: Some(libc::ENOSYS as u32),
        architectures: default_architectures().iter().map(|arch| arch.to_string()).collect(),
        flags: Vec::new(),
        syscalls,
    }
}

/// Every ABI a process on this machine can call the kernel through: a 64-bit kernel also runs 32-bit programs.
/// An ABI left out would kill any program that uses it (libseccomp's default for a foreign architecture).
fn default_architectures() -> &'static [&'static str] {
    if cfg!(target_arch = "x86_64") {
        &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    } else if cfg!(target_arch = "aarch64") {
        &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    } else {
        // The native ABI, which every filter covers.
        &[]
    }
}

#[cfg(test)]
mod tests {
    use libseccomp::{ScmpArch, ScmpSyscall};

    use super::*;
    use crate::seccomp::test_bpf::*;
    use crate::seccomp::{BPF_MAXINSNS, compile};

    #[test]
    fn the_default_profile_compiles_and_fits_the_kernel() {
        let filter = compile(&default_profile()).unwrap();
        assert!(filter.instructions() > 100 && filter.instructions() <= BPF_MAXINSNS, "{filter:?}");
        assert_eq!(filter.flags, 0);
        // Whatever this libseccomp skips must be one of the calls newer than libseccomp 2.5.
        for name in &filter.skipped {
            assert!(NEWER_THAN_LIBSECCOMP_2_5.contains(&name.as_str()), "{name} is not a syscall libseccomp knows");
        }
    }

    /// Calls in the profile that libseccomp 2.5.4 (Debian 12) does not know yet.
    const NEWER_THAN_LIBSECCOMP_2_5: &[&str] =
        &["mseal", "statmount", "listmount", "getxattrat", "setxattrat", "listxattrat", "removexattrat", "uretprobe"];

    #[test]
    fn the_default_lists_are_consistent() {
        let mut seen = std::collections::HashSet::new();
        for name in ALLOWED.iter().chain(DENIED) {
            assert!(seen.insert(name), "{name} is listed twice");
        }
        for dangerous in [
            "mount",
            "umount2",
            "pivot_root",
            "kexec_load",
            "init_module",
            "finit_module",
            "bpf",
            "keyctl",
            "add_key",
            "request_key",
            "unshare",
            "setns",
            "open_by_handle_at",
            "userfaultfd",
            "reboot",
            "swapon",
            "perf_event_open",
            "quotactl",
            "syslog",
            "acct",
            "lookup_dcookie",
            "delete_module",
        ] {
            assert!(DENIED.contains(&dangerous), "{dangerous} must be refused with EPERM");
        }
        for needed in [
            "read",
            "write",
            "openat",
            "mmap",
            "futex",
            "execve",
            "exit_group",
            "ptrace",
            "sendmsg",
            "rt_sigprocmask",
            "close_range",
            "prctl",
            "capset",
            "setgroups",
            "setresuid",
            "setresgid",
        ] {
            assert!(ALLOWED.contains(&needed), "{needed} must be allowed");
        }
        for filtered in ["clone", "clone3", "socket", "personality"] {
            assert!(!ALLOWED.contains(&filtered) && !DENIED.contains(&filtered), "{filtered}");
        }
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn the_default_profile_allows_denies_and_answers_enosys() {
        let filter = compile(&default_profile()).unwrap();
        for allowed in ["read", "write", "openat", "mmap", "futex", "execve", "ptrace", "seccomp"] {
            assert_eq!(call(&filter, allowed, NONE), RET_ALLOW, "{allowed}");
        }
        for denied in ["mount", "keyctl", "unshare", "setns", "bpf", "kexec_load", "open_by_handle_at"] {
            assert_eq!(call(&filter, denied, NONE), EPERM, "{denied}");
        }
        // Not in the profile: ENOSYS, so callers fall back (clone3 -> clone) or carry on without.
        for unknown in ["clone3", "get_mempolicy", "io_uring_setup"] {
            assert_eq!(call(&filter, unknown, NONE), ENOSYS, "{unknown}");
        }
        assert_eq!(run(&filter, native_audit_arch(), 1999, NONE), ENOSYS, "a number no kernel has yet");

        // clone: threads and fork yes, new namespaces no.
        let thread =
            (libc::CLONE_VM | libc::CLONE_FS | libc::CLONE_FILES | libc::CLONE_SIGHAND | libc::CLONE_THREAD) as u64;
        assert_eq!(call(&filter, "clone", [thread, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(&filter, "clone", [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), RET_ALLOW);
        for ns in
            [libc::CLONE_NEWUSER, libc::CLONE_NEWNS, libc::CLONE_NEWNET, libc::CLONE_NEWPID, libc::CLONE_NEWCGROUP]
        {
            assert_eq!(call(&filter, "clone", [ns as u64 | libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), EPERM, "{ns:#x}");
        }
        // personality: only the harmless personas; socket: everything but AF_VSOCK.
        assert_eq!(call(&filter, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(&filter, "personality", [0x0040000, 0, 0, 0, 0, 0]), ENOSYS, "ADDR_NO_RANDOMIZE");
        assert_eq!(call(&filter, "socket", [libc::AF_INET as u64, 1, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(call(&filter, "socket", [libc::AF_VSOCK as u64, 1, 0, 0, 0, 0]), ENOSYS);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_default_profile_covers_the_32_bit_abis_and_kills_foreign_ones() {
        let filter = compile(&default_profile()).unwrap();
        let i386 = |name| ScmpSyscall::from_name_by_arch(name, ScmpArch::X86).unwrap().as_raw_syscall();
        assert_eq!(run(&filter, AUDIT_I386, i386("read"), NONE), RET_ALLOW);
        assert_eq!(run(&filter, AUDIT_I386, i386("socketcall"), NONE), RET_ALLOW);
        assert_eq!(run(&filter, AUDIT_I386, i386("keyctl"), NONE), EPERM);
        // x32 shares x86_64's AUDIT_ARCH and marks its calls with a bit.
        assert_eq!(run(&filter, AUDIT_X86_64, nr("read") | X32_SYSCALL_BIT, NONE), RET_ALLOW);
        assert_eq!(run(&filter, AUDIT_AARCH64, 63, NONE), RET_KILL_THREAD, "an ABI the filter does not cover");
    }
}
