//! Before libc: containy's first instructions, which re-execute it from a sealed view of its binary.
//!
//! Every verb that starts a process inside a container runs from a view of containy's binary that no
//! container can write (`runtime/sealed_exe.rs`, CVE-2019-5736), so those verbs execute containy twice. The
//! first image has one job — make the view, re-execute — yet a static program's start-up costs more than that
//! job: relocating itself, Rust's runtime, and in a glibc build ≈ 40–70 `cpuid`s probing the CPU, each a VM exit
//! (0.3–0.6 ms of CPU). So on x86-64 Linux containy's ELF entry point is `containy_start` (build.rs names it, in
//! the release build and any dynamically linked one): it reads the command line off the stack the kernel built,
//! and for a plain `containy [globals] run|create|exec|monitor|build …` line of root whose binary is writable it
//! makes the read-only overlay view and `execveat`s it at once. Anything else, or any failure, jumps on to libc's
//! `_start` (musl's in the release runtime, glibc's in other builds) as if nothing had happened, and the parsed
//! path decides (`sealed_exe::reexec_sealed`).
//!
//! **Why a crate of its own, and why it looks like this.** Before libc's start-up nothing of libc works:
//! not `errno` (no thread-local storage yet), not `memcpy`, `memcmp` or `strlen` (IFUNCs, not resolved yet),
//! and in a static-pie binary not even a pointer stored in data (not relocated yet). So this code makes raw
//! system calls, reads no table of pointers (each literal is an address computed from the instruction
//! pointer), never moves a buffer, and compares and copies byte by byte — and the crate is `no_builtins`,
//! so that the compiler does not turn those loops back into calls to `memcpy` or `strlen`. It allocates
//! nothing: its buffers are on the stack. After start-up `sealed_exe` calls the same check and view, so
//! there is one of each.

#![no_std]
#![no_builtins]

use core::mem::MaybeUninit;

/// A failed system call's error number.
pub type Errno = i32;

/// The environment variable a re-executed containy finds its view's mount and its binary's host path in
/// (`<pid>:<fd>:<binary>`; `runtime/sealed_exe.rs` reads it and writes it on its own path).
pub const MARK: &[u8] = b"CONTAINY_SEALED_EXE";

/// Is `verb` one that starts a process inside a container? (`cli::Command::enters_a_container`; a test
/// compares the two.)
pub fn is_sealed_verb(verb: &[u8]) -> bool {
    sealed_verb(verb)
}

fn sealed_verb(verb: &[u8]) -> bool {
    same(verb, b"run") || same(verb, b"create") || same(verb, b"exec") || same(verb, b"monitor") || same(verb, b"build")
}

/// The global flags that take a value, as clap reads them (a test compares the two).
pub fn takes_value(flag: &[u8]) -> bool {
    with_value(flag)
}

fn with_value(flag: &[u8]) -> bool {
    same(flag, b"--root") || same(flag, b"--log") || same(flag, b"--log-format")
}

/// The global flags that take none, except `--explain`, which the parsed path narrates.
pub fn takes_no_value(flag: &[u8]) -> bool {
    without_value(flag)
}

fn without_value(flag: &[u8]) -> bool {
    same(flag, b"--debug") || same(flag, b"--systemd-cgroup")
}

/// If the arguments after the program's name are a plain `[globals] <verb> …` line of a sealed verb: the
/// state root it names (`Some(None)`: none). `None` for any other line, which the parsed path decides. A
/// wrong guess costs a re-exec, never safety: the re-executed containy parses the same line in full.
pub fn scan_line<'a>(rest: impl Iterator<Item = &'a [u8]>) -> Option<Option<&'a [u8]>> {
    scan(rest)
}

fn scan<'a>(mut rest: impl Iterator<Item = &'a [u8]>) -> Option<Option<&'a [u8]>> {
    let mut root = None;
    loop {
        let arg = rest.next()?;
        if sealed_verb(arg) {
            break;
        }
        let (name, inline) = match position(arg, b'=') {
            Some(i) => (&arg[..i], Some(&arg[i + 1..])),
            None => (arg, None),
        };
        if with_value(name) {
            let value = match inline {
                Some(value) => value,
                None => rest.next()?,
            };
            if same(name, b"--root") {
                root = Some(value);
            }
        } else if inline.is_some() || !without_value(name) {
            return None;
        }
    }
    // After the verb clap still reads global flags (up to the command): leave those lines to it.
    for arg in rest {
        if same(arg, b"--explain") || starts_with(arg, b"--root") || starts_with(arg, b"--log") {
            return None;
        }
    }
    Some(root)
}

/// Can no process we start write this process's executable? It is on a read-only filesystem or mount (the
/// overlay view is both), it is a memfd sealed against writes, or it is out of our own reach.
pub fn exe_is_sealed() -> bool {
    sealed()
}

/// Before relocation every call must be direct: a public function may be called through the GOT, which
/// holds no relocated address yet, so `early` calls these private twins.
fn sealed() -> bool {
    let Ok(exe) = sys::openat(libc::AT_FDCWD, c"/proc/self/exe".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) else {
        return false;
    };
    let sealed = on_read_only_mount(exe) || sealed_against_writes(exe) || out_of_our_reach(exe);
    sys::close(exe);
    sealed
}

// `f_flags` is an `i64` in glibc's `statfs64` and already a `u64` in musl's.
#[allow(clippy::unnecessary_cast)]
fn on_read_only_mount(fd: i32) -> bool {
    let mut fs = MaybeUninit::<libc::statfs64>::uninit();
    // SAFETY: fstatfs fills the whole struct when it succeeds.
    sys::fstatfs(fd, fs.as_mut_ptr()).is_ok() && unsafe { fs.assume_init_ref() }.f_flags as u64 & libc::ST_RDONLY != 0
}

fn sealed_against_writes(fd: i32) -> bool {
    sys::fcntl(fd, libc::F_GET_SEALS, 0).is_ok_and(|seals| seals as i32 & libc::F_SEAL_WRITE != 0)
}

/// Owned by root, writable by root alone, and we are not root (a rootless containy installed by root). A
/// container never has more rights over host files than the containy that started it: its ids map to ours and
/// to our subordinate ids, never to root, and none of those may write the file (no group or other write bit,
/// and `faccessat2(W_OK)` refuses us, ACLs included).
fn out_of_our_reach(fd: i32) -> bool {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    if sys::fstat(fd, st.as_mut_ptr()).is_err() {
        return false;
    }
    // SAFETY: fstat filled the struct.
    let st = unsafe { st.assume_init_ref() };
    if st.st_uid != 0 || st.st_mode & 0o022 != 0 || sys::geteuid() == 0 {
        return false;
    }
    let refused = sys::faccessat2(libc::AT_FDCWD, c"/proc/self/exe".as_ptr(), libc::W_OK, libc::AT_EACCESS);
    // Only a refusal counts: an old kernel without faccessat2 (ENOSYS) proves nothing.
    matches!(refused, Err(libc::EACCES | libc::EROFS | libc::EPERM))
}

/// The binary at `exe` opened through a detached read-only overlay of its directory over `scratch` (made if
/// it is missing; any directory that does not contain `exe`'s: overlayfs needs a second lower layer, and
/// nothing of it is read). Returns the view's mount and the file, both close-on-exec.
pub fn overlay_view(exe: &[u8], scratch: &[u8]) -> Result<(i32, i32), Errno> {
    view(exe, scratch)
}

fn view(exe: &[u8], scratch: &[u8]) -> Result<(i32, i32), Errno> {
    // (`get`, not indexing, here and below: before relocation a panic could not even be reported.)
    let slash = last_position(exe, b'/').ok_or(libc::EINVAL)?;
    let (Some(dir), Some(name)) = (exe.get(..slash.max(1)), exe.get(slash + 1..)) else {
        return Err(libc::EINVAL);
    };
    let mut scratch_c = Buf::<4096> { bytes: [const { MaybeUninit::uninit() }; 4096], len: 0 };
    let mut name_c = Buf::<256> { bytes: [const { MaybeUninit::uninit() }; 256], len: 0 };
    let mut lower = Buf::<8192> { bytes: [const { MaybeUninit::uninit() }; 8192], len: 0 };
    // The binary's directory on top, so that a file of the same name in `scratch` cannot hide it; `:`
    // separates layers and `\` escapes, so both are escaped. `xino` off only keeps a kernel log line quiet
    // when the two layers are on different filesystems.
    let fits = scratch_c.push_all(scratch)
        && scratch_c.push(0)
        && name_c.push_all(name)
        && name_c.push(0)
        && lower.push_escaped(dir)
        && lower.push(b':')
        && lower.push_escaped(scratch)
        && lower.push(0);
    if !fits {
        return Err(libc::ENAMETOOLONG);
    }
    // As the runtime makes a state root (`create_dir_all`): 0777 less the umask. A user namespace's root must
    // be able to pass through it.
    match sys::mkdirat(libc::AT_FDCWD, scratch_c.as_ptr(), 0o777) {
        Ok(_) | Err(libc::EEXIST) => {}
        Err(e) => return Err(e),
    }
    let fs = sys::fsopen(c"overlay".as_ptr(), libc::FSOPEN_CLOEXEC)?;
    let attrs = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOSUID;
    let mount = sys::fsconfig(fs, libc::FSCONFIG_SET_STRING, c"lowerdir".as_ptr(), lower.as_ptr())
        .and_then(|_| sys::fsconfig(fs, libc::FSCONFIG_SET_STRING, c"xino".as_ptr(), c"off".as_ptr()))
        .and_then(|_| sys::fsconfig(fs, libc::FSCONFIG_CMD_CREATE, core::ptr::null(), core::ptr::null()))
        .and_then(|_| sys::fsmount(fs, libc::FSMOUNT_CLOEXEC, attrs));
    sys::close(fs);
    let mount = mount?;
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    match sys::openat(mount, name_c.as_ptr(), flags) {
        Ok(file) => Ok((mount, file)),
        Err(e) => {
            sys::close(mount);
            Err(e)
        }
    }
}

// The entry point: keep the kernel's stack pointer (argc, argv, envp, auxv) and `rdx` (the dynamic linker's
// exit function, which `_start` reads; 0 in a static program) in registers `early` preserves, call it on an
// aligned stack, and continue at libc's `_start` exactly as the kernel left things.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
core::arch::global_asm!(
    ".globl containy_start",
    ".type containy_start, @function",
    "containy_start:",
    "mov r12, rsp",
    "mov r13, rdx",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {early}",
    "mov rsp, r12",
    "mov rdx, r13",
    "jmp {start}",
    ".size containy_start, . - containy_start",
    early = sym early,
    start = sym _start,
);

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
unsafe extern "C" {
    /// libc's entry point (crt1.o / rcrt1.o, glibc's or musl's).
    fn _start();
}

/// Re-execute from the overlay view if this is a line to, and all goes well; otherwise return to `_start`.
///
/// # Safety
/// `stack` is the stack the kernel built for a new program: argc, argv[argc], NULL, envp…, NULL.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
unsafe extern "C" fn early(stack: *const usize) {
    // SAFETY: the layout the kernel guarantees at the entry point.
    let (argc, argv) = unsafe { (*stack, stack.add(1) as *const *const u8) };
    let envp = unsafe { argv.add(argc + 1) };
    // SAFETY: argv[1..argc] are NUL-terminated strings.
    let Some(root) = scan((1..argc).map(|i| unsafe { c_bytes(*argv.add(i)) })) else {
        return;
    };
    let (pid, mut env_root, mut count) = (sys::getpid() as u64, None, 0);
    // SAFETY: envp is NULL-terminated, and each entry a NUL-terminated string.
    while let Some(entry) = unsafe { (*envp.add(count)).as_ref() } {
        let entry = unsafe { c_bytes(entry) };
        if value_of(entry, MARK).is_some_and(|mark| leading_number(mark) == Some(pid)) {
            // Re-executed already: the parsed path decides. (A mark of another pid was inherited from a
            // containy that started us, and is left out below.)
            return;
        }
        env_root = env_root.or(value_of(entry, b"CONTAINY_ROOT"));
        count += 1;
    }
    // Rootless the overlay needs privileges we lack, and a binary installed by root is out of reach anyway.
    if sys::geteuid() != 0 || sealed() {
        return;
    }
    let mut exe = Buf::<4096> { bytes: [const { MaybeUninit::uninit() }; 4096], len: 0 };
    let Ok(len) = sys::readlinkat(libc::AT_FDCWD, c"/proc/self/exe".as_ptr(), exe.bytes.as_mut_ptr().cast(), 4096)
    else {
        return;
    };
    exe.len = len;
    let scratch = root.or(env_root).unwrap_or(b"/run/containy");
    let Ok((mount, file)) = view(exe.filled(), scratch) else {
        return;
    };
    // The mount stays open across the execve, named by the mark (`<pid>:<fd>:<binary>`, `sealed_exe` reads
    // it), for the next image to close off its path; and the binary's path, which its own is not any more.
    let mut mark = Buf::<4200> { bytes: [const { MaybeUninit::uninit() }; 4200], len: 0 };
    let mut env = [const { MaybeUninit::<*const u8>::uninit() }; 1024];
    let ready = sys::fcntl(mount, libc::F_SETFD, 0).is_ok()
        && mark.push_all(MARK)
        && mark.push(b'=')
        && mark.push_decimal(pid)
        && mark.push(b':')
        && mark.push_decimal(mount as u64)
        && mark.push(b':')
        && mark.push_all(exe.filled())
        && mark.push(0);
    // Our environment less any inherited mark, then ours, then the NULL.
    let (mut kept, mut whole) = (0, true);
    for i in 0..count {
        // SAFETY: i < count, the entries counted above.
        let entry = unsafe { *envp.add(i) };
        if value_of(unsafe { c_bytes(entry) }, MARK).is_some() {
            continue;
        }
        match env.get_mut(kept) {
            Some(slot) => {
                slot.write(entry);
                kept += 1;
            }
            None => {
                whole = false;
                break;
            }
        }
    }
    if let (true, Some([ours, end])) = (ready && whole, env.get_mut(kept..kept + 2)) {
        ours.write(mark.as_ptr().cast());
        end.write(core::ptr::null());
        let _ = sys::execveat(file, c"".as_ptr(), argv, env.as_ptr().cast(), libc::AT_EMPTY_PATH);
    }
    sys::close(file);
    sys::close(mount);
}

/// A string being built in a fixed buffer on the stack (never moved: a move would be a `memcpy`).
struct Buf<const N: usize> {
    bytes: [MaybeUninit<u8>; N],
    len: usize,
}

impl<const N: usize> Buf<N> {
    fn push(&mut self, byte: u8) -> bool {
        let Some(slot) = self.bytes.get_mut(self.len) else {
            return false;
        };
        slot.write(byte);
        self.len += 1;
        true
    }

    fn push_all(&mut self, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.push(b))
    }

    /// `bytes` as an overlayfs option value: `\` and `:` escaped with a `\`.
    fn push_escaped(&mut self, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| (b != b'\\' && b != b':' || self.push(b'\\')) && self.push(b))
    }

    fn push_decimal(&mut self, mut n: u64) -> bool {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push_all(&digits[i..])
    }

    fn filled(&self) -> &[u8] {
        // SAFETY: bytes[..len] were written by push (or by readlinkat, which returned len).
        unsafe { core::slice::from_raw_parts(self.bytes.as_ptr().cast(), self.len) }
    }

    fn as_ptr(&self) -> *const libc::c_char {
        self.bytes.as_ptr().cast()
    }
}

/// The bytes of a NUL-terminated string, counted by a loop of our own (before libc there is no `strlen`).
///
/// # Safety
/// `p` points to a NUL-terminated string that outlives `'a`.
unsafe fn c_bytes<'a>(p: *const u8) -> &'a [u8] {
    let mut len = 0;
    // SAFETY: the string is NUL-terminated.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    unsafe { core::slice::from_raw_parts(p, len) }
}

/// The decimal number `bytes` starts with (up to a `:` or the end).
fn leading_number(bytes: &[u8]) -> Option<u64> {
    let mut digits = bytes.iter().take_while(|&&b| b != b':');
    digits.try_fold(0u64, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// `entry` is `name=value`: the value.
fn value_of<'a>(entry: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let rest = entry.get(name.len()..)?;
    (starts_with(entry, name) && rest.first() == Some(&b'=')).then(|| &rest[1..])
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && starts_with(a, b)
}

fn starts_with(a: &[u8], prefix: &[u8]) -> bool {
    a.len() >= prefix.len() && prefix.iter().enumerate().all(|(i, &b)| a[i] == b)
}

fn position(a: &[u8], byte: u8) -> Option<usize> {
    a.iter().position(|&b| b == byte)
}

fn last_position(a: &[u8], byte: u8) -> Option<usize> {
    a.iter().rposition(|&b| b == byte)
}

/// Raw system calls: a negative return is `-errno`. (Before libc there is no `errno` to set.)
mod sys {
    use super::Errno;

    #[cfg(target_arch = "x86_64")]
    unsafe fn call(n: i64, a: usize, b: usize, c: usize, d: usize, e: usize) -> isize {
        let ret: isize;
        // SAFETY (the caller's): the arguments are what system call `n` takes.
        unsafe {
            core::arch::asm!(
                "syscall",
                inlateout("rax") n as isize => ret,
                in("rdi") a, in("rsi") b, in("rdx") c, in("r10") d, in("r8") e,
                lateout("rcx") _, lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// Elsewhere there is no entry point before libc (build.rs), and libc's `syscall` serves.
    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn call(n: i64, a: usize, b: usize, c: usize, d: usize, e: usize) -> isize {
        // SAFETY (the caller's): the arguments are what system call `n` takes.
        let ret = unsafe { libc::syscall(n as libc::c_long, a, b, c, d, e) };
        if ret == -1 { -(unsafe { *libc::__errno_location() }) as isize } else { ret as isize }
    }

    fn result(ret: isize) -> Result<usize, Errno> {
        if (-4095..0).contains(&ret) { Err(-ret as Errno) } else { Ok(ret as usize) }
    }

    fn fd(ret: isize) -> Result<i32, Errno> {
        result(ret).map(|fd| fd as i32)
    }

    // SAFETY (all below): each passes pointers to NUL-terminated strings or to buffers of the size given,
    // which the kernel reads or fills, and nothing else.
    pub fn openat(dir: i32, path: *const libc::c_char, flags: i32) -> Result<i32, Errno> {
        fd(unsafe { call(libc::SYS_openat, dir as usize, path as usize, flags as usize, 0, 0) })
    }
    pub fn close(fd: i32) {
        unsafe { call(libc::SYS_close, fd as usize, 0, 0, 0, 0) };
    }
    pub fn fstat(fd: i32, st: *mut libc::stat) -> Result<usize, Errno> {
        result(unsafe { call(libc::SYS_fstat, fd as usize, st as usize, 0, 0, 0) })
    }
    pub fn fstatfs(fd: i32, fs: *mut libc::statfs64) -> Result<usize, Errno> {
        result(unsafe { call(libc::SYS_fstatfs, fd as usize, fs as usize, 0, 0, 0) })
    }
    pub fn fcntl(fd: i32, cmd: i32, arg: usize) -> Result<usize, Errno> {
        result(unsafe { call(libc::SYS_fcntl, fd as usize, cmd as usize, arg, 0, 0) })
    }
    pub fn geteuid() -> u32 {
        unsafe { call(libc::SYS_geteuid, 0, 0, 0, 0, 0) as u32 }
    }
    pub fn getpid() -> i32 {
        unsafe { call(libc::SYS_getpid, 0, 0, 0, 0, 0) as i32 }
    }
    pub fn faccessat2(dir: i32, path: *const libc::c_char, mode: i32, flags: i32) -> Result<usize, Errno> {
        result(unsafe { call(libc::SYS_faccessat2, dir as usize, path as usize, mode as usize, flags as usize, 0) })
    }
    pub fn mkdirat(dir: i32, path: *const libc::c_char, mode: u32) -> Result<usize, Errno> {
        result(unsafe { call(libc::SYS_mkdirat, dir as usize, path as usize, mode as usize, 0, 0) })
    }
    pub fn readlinkat(dir: i32, path: *const libc::c_char, buf: *mut u8, size: usize) -> Result<usize, Errno> {
        result(unsafe { call(libc::SYS_readlinkat, dir as usize, path as usize, buf as usize, size, 0) })
    }
    pub fn fsopen(fstype: *const libc::c_char, flags: u32) -> Result<i32, Errno> {
        fd(unsafe { call(libc::SYS_fsopen, fstype as usize, flags as usize, 0, 0, 0) })
    }
    pub fn fsconfig(fs: i32, cmd: u32, key: *const libc::c_char, value: *const libc::c_char) -> Result<usize, Errno> {
        result(unsafe { call(libc::SYS_fsconfig, fs as usize, cmd as usize, key as usize, value as usize, 0) })
    }
    pub fn fsmount(fs: i32, flags: u32, attrs: u64) -> Result<i32, Errno> {
        fd(unsafe { call(libc::SYS_fsmount, fs as usize, flags as usize, attrs as usize, 0, 0) })
    }
    pub fn execveat(
        dir: i32,
        path: *const libc::c_char,
        argv: *const *const u8,
        envp: *const *const u8,
        flags: i32,
    ) -> Result<usize, Errno> {
        let (d, p, a, e) = (dir as usize, path as usize, argv as usize, envp as usize);
        result(unsafe { call(libc::SYS_execveat, d, p, a, e, flags as usize) })
    }
}
