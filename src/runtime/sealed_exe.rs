//! Start or enter a container only from a copy of containy that the container cannot write (CVE-2019-5736).
//!
//! A container may be hostile, and so may an image. A program replaced by a script starting
//! `#!/proc/self/exe` makes the kernel execute the *runtime's own binary* inside the container, with arguments
//! the image chose: for `exec` when it runs that program in a running container, and just as well for `run`
//! and `create` when the image's entrypoint is such a script. A container process then holds
//! `/proc/<pid>/exe` — the host file — and writes it once the runtime has exited, and the next containy started
//! on the host is the attacker's. So every verb that starts a process inside a container (`run`, `create`,
//! `exec`, and `monitor` and `build`, which create containers in-process: [`SEALED_VERBS`]) re-executes itself
//! (same arguments) before it does anything, from a file no write can reach:
//!
//! 1. **A read-only overlay view** (runc ≥ 1.2 does the same): `fsopen("overlay")` with the binary's
//!    directory as the upper of two lower layers, `fsmount` read-only, attached nowhere. Opening the binary
//!    through it for writing is `EROFS`, and there is no way to "unwrap" an overlay to its layer (unlike a
//!    read-only bind mount, an overlay without an upper layer is read-only in its superblock, not only in
//!    its mount flags). Nothing is copied: the overlay shares the page cache of the file itself, so the
//!    re-exec costs one `execve` and a few syscalls. Needs `CAP_SYS_ADMIN` over the host's mounts.
//! 2. **A sealed memfd copy** where that fails (no overlayfs, the binary on an overlay already): the whole
//!    binary copied into memory sealed against writes and resizing — several MiB per start.
//!
//! The test is the mechanism, not a mark: a process whose executable is on a read-only filesystem or mount
//! (the overlay view; a containy installed on a read-only `/usr`), in a write-sealed memfd, or out of our own
//! reach (not ours, and `faccessat(W_OK)` refuses us: a rootless containy installed by root, whose containers
//! have at most our rights over host files) goes on without a re-exec. `CONTAINY_SEALED_EXE=<pid>[:<fd>]` in
//! the environment only says "this process already re-executed itself" (so that a view that somehow is not
//! read-only is an error instead of a loop) and which descriptor still holds the view's mount, to be closed
//! off the start's path ([`inherited_view`]). It never reaches the container: its environment is the Plan's
//! alone. The runtime itself refuses to clone a container's init from an image that is not sealed
//! ([`require_sealed`]), whichever verb got there.
//!
//! **Order.** Every containy image pays its start-up (relocation, glibc's CPU probing, the command line), and
//! these verbs run two. `main` calls [`reexec_early`] before clap parses anything: a plain `containy [globals]
//! <verb> …` line re-executes at once, so the first image does nothing the second redoes. Whatever it does not
//! recognise is left to the parsed path, which calls [`reexec_sealed`] before the verb does anything.

use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;

use super::RuntimeError;
use crate::sys;

/// Set in the environment of the re-executed containy to `<pid>` (`fexecve` keeps the pid), or to
/// `<pid>:<fd>` when the overlay view's mount descriptor `fd` was left open across the `execve`.
const MARK: &str = "CONTAINY_SEALED_EXE";

/// The verbs that start a process inside a container (`cli::Command::enters_a_container` names the same).
pub const SEALED_VERBS: [&str; 5] = ["run", "create", "exec", "monitor", "build"];

/// The global flags that take a value, as clap reads them (a test compares the two).
const GLOBALS_WITH_VALUE: [&str; 3] = ["--root", "--log", "--log-format"];
/// The global flags that take none, except `--explain`, which the parsed path narrates.
const GLOBALS_WITHOUT_VALUE: [&str; 2] = ["--debug", "--systemd-cgroup"];

/// Before clap: if the command line is a plain `containy [globals] <verb> …` of a [`SEALED_VERBS`] verb,
/// re-execute from the overlay view now. Anything else — another verb, `--explain`, a line this scan cannot
/// read, an overlay the kernel refuses — returns, and the parsed path decides (with the memfd as its fallback).
pub fn reexec_early() {
    // Re-executed by the image before us: the view's mount it left open is ours now (close-on-exec again),
    // whatever the line.
    let mark = own_mark();
    if let Some(fd) = mark.flatten()
        && let Ok(mut view) = VIEW.lock()
    {
        *view = sys::adopt_inherited(fd);
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    let Some(scratch) = sealed_line_scratch(&args) else {
        return;
    };
    // Sealed already; or re-executed already and still not sealed: never loop, the parsed path says why.
    if runs_sealed() || mark.is_some() {
        return;
    }
    if let Ok(exe) = std::fs::read_link("/proc/self/exe")
        && let Ok((mount, file)) = overlay_view(&exe, &scratch)
    {
        let _ = reexec_from(&file, Some(&mount), &args);
    }
}

/// The state root a plain `containy [globals] <verb> …` line of a [`SEALED_VERBS`] verb names (the scratch
/// layer of the overlay view), or `None` for any other line. A wrong guess costs a re-exec, never safety: the
/// re-executed containy parses the same line in full.
fn sealed_line_scratch(args: &[OsString]) -> Option<PathBuf> {
    let mut root = None;
    let mut rest = args.iter().skip(1);
    loop {
        let arg = rest.next()?.to_str()?;
        if SEALED_VERBS.contains(&arg) {
            break;
        }
        let (name, inline) = arg.split_once('=').map_or((arg, None), |(n, v)| (n, Some(v)));
        if GLOBALS_WITH_VALUE.contains(&name) {
            let value = match inline {
                Some(value) => value,
                None => rest.next()?.to_str()?,
            };
            if name == "--root" {
                root = Some(PathBuf::from(value));
            }
        } else if inline.is_some() || !GLOBALS_WITHOUT_VALUE.contains(&name) {
            return None;
        }
    }
    // After the verb clap still reads global flags (up to the command): leave those lines to it.
    let global_after = |a: &OsString| {
        a.to_str().is_none_or(|a| a == "--explain" || GLOBALS_WITH_VALUE.iter().any(|g| a.starts_with(g)))
    };
    if rest.any(global_after) {
        return None;
    }
    root.or_else(|| std::env::var_os("CONTAINY_ROOT").map(PathBuf::from)).or_else(|| Some(crate::paths::state_root()))
}

/// Re-execute this process from a sealed view of its own binary, unless it already runs from one.
/// `scratch` is any directory that does not contain the binary's (the state root): overlayfs needs a
/// second lower layer, and nothing of it is ever read.
pub fn reexec_sealed(scratch: &Path) -> Result<(), RuntimeError> {
    if runs_sealed() {
        return Ok(());
    }
    if own_mark().is_some() {
        return Err(RuntimeError::Invalid(
            "containy re-executed itself from a sealed view, yet its executable is still writable".into(),
        ));
    }
    let exe =
        std::fs::read_link("/proc/self/exe").map_err(|e| RuntimeError::io("readlink", "/proc/self/exe".as_ref(), e))?;
    let (mount, file) = match overlay_view(&exe, scratch) {
        Ok((mount, file)) => {
            crate::explain!(
                "run from a read-only view of containy",
                "fsopen(overlay) + fsconfig(lowerdir) + fsmount(RDONLY) + openat + fexecve",
                "a container must never reach the runtime's binary on the host (CVE-2019-5736)"
            );
            (Some(mount), file)
        }
        Err(reason) => {
            crate::explain!(
                "run from a sealed copy of containy",
                format!("memfd_create + copy + F_ADD_SEALS + fexecve (no overlay view: {reason})"),
                "a container must never reach the runtime's binary on the host (CVE-2019-5736)"
            );
            (None, memfd_copy(&exe)?)
        }
    };
    let err = reexec_from(&file, mount.as_ref(), &std::env::args_os().collect::<Vec<_>>());
    Err(RuntimeError::sys("fexecve of the sealed containy", err))
}

/// `fexecve` the sealed `file` with our arguments and environment, plus the mark; returns only on failure.
/// The view's `mount` stays open across the `execve` (see [`inherited_view`]).
fn reexec_from(file: &OwnedFd, mount: Option<&OwnedFd>, args: &[OsString]) -> nix::Error {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let kept = mount.filter(|m| fcntl(m, FcntlArg::F_SETFD(FdFlag::empty())).is_ok());
    let cstring = |s: &[u8]| CString::new(s).ok();
    let args: Vec<CString> = args.iter().filter_map(|a| cstring(a.as_bytes())).collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != MARK)
        .filter_map(|(k, v)| cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect();
    let mark = match kept {
        Some(mount) => format!("{MARK}={}:{}", std::process::id(), mount.as_raw_fd()),
        None => format!("{MARK}={}", std::process::id()),
    };
    env.extend(CString::new(mark));
    let Err(err) = nix::unistd::fexecve(file.as_fd(), &args, &env);
    err
}

/// The overlay view's mount descriptor, left open for us by the image that re-executed this process.
///
/// Closing the last descriptor of a detached mount dissolves its anonymous namespace, and the kernel waits for
/// an RCU grace period to do so (≈ 50 µs here, at times ten times that). Closed before the `execve`, that wait
/// sat on the path of every `exec`; `exec` closes this descriptor instead once the process it started is
/// ready, while the process runs on.
pub fn inherited_view() -> Option<OwnedFd> {
    VIEW.lock().ok()?.take()
}

/// The view's mount descriptor, adopted by [`reexec_early`] in the re-executed image.
static VIEW: std::sync::Mutex<Option<OwnedFd>> = std::sync::Mutex::new(None);

/// Our own mark, if this process re-executed itself: `Some(fd)` of the view's mount, if it kept one.
fn own_mark() -> Option<Option<std::os::fd::RawFd>> {
    parse_mark(&std::env::var(MARK).ok()?, std::process::id())
}

/// The mark's descriptor, if it is our own mark (`Some(None)`: ours, no descriptor); `None` if not ours.
fn parse_mark(mark: &str, pid: u32) -> Option<Option<std::os::fd::RawFd>> {
    let (mark_pid, fd) = mark.split_once(':').map_or((mark, None), |(p, fd)| (p, Some(fd)));
    if mark_pid.parse::<u32>().ok()? != pid {
        return None;
    }
    match fd {
        None => Some(None),
        Some(fd) => Some(Some(fd.parse().ok()?)),
    }
}

/// The runtime's guard before it clones a container's init: this image must be one no container can write.
/// The verbs re-execute first ([`reexec_early`], [`reexec_sealed`]); reaching here unsealed is a verb that
/// forgot, and it fails instead of handing the container the host's binary.
pub fn require_sealed() -> Result<(), RuntimeError> {
    if runs_sealed() {
        return Ok(());
    }
    Err(RuntimeError::Invalid(
        "containy runs from its writable binary, and a container started now could reach it (CVE-2019-5736): \
         the verb must re-execute from a sealed view first (runtime::sealed_exe::reexec_sealed)"
            .into(),
    ))
}

/// Can no process we start write this process's executable? It is on a read-only filesystem or mount (the
/// overlay view is both), it is a memfd sealed against writes, or it is out of our own reach. Asked once per
/// image: an image's executable does not change.
fn runs_sealed() -> bool {
    use nix::fcntl::{FcntlArg, SealFlag, fcntl};
    use nix::sys::statvfs::{FsFlags, fstatvfs};
    static SEALED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SEALED.get_or_init(|| {
        let Ok(exe) = std::fs::File::open("/proc/self/exe") else {
            return false;
        };
        fstatvfs(&exe).is_ok_and(|fs| fs.flags().contains(FsFlags::ST_RDONLY))
            || fcntl(&exe, FcntlArg::F_GET_SEALS)
                .is_ok_and(|seals| SealFlag::from_bits_truncate(seals).contains(SealFlag::F_SEAL_WRITE))
            || out_of_our_reach(&exe)
    })
}

/// Not ours (an owner could `chmod` it first) and not writable with our effective ids and capabilities. A
/// container never has more rights over host files than the containy that started it — rootless, at most
/// the user's — so what we cannot write, it cannot either. As root this is never so: root may write any
/// file on a writable mount.
fn out_of_our_reach(exe: &std::fs::File) -> bool {
    use nix::unistd::{AccessFlags, faccessat, geteuid};
    use std::os::unix::fs::MetadataExt;
    exe.metadata().is_ok_and(|meta| meta.uid() != geteuid().as_raw())
        && faccessat(nix::fcntl::AT_FDCWD, "/proc/self/exe", AccessFlags::W_OK, nix::fcntl::AtFlags::AT_EACCESS)
            .is_err()
}

/// The binary opened through a detached read-only overlay of its directory (over `scratch`), and the mount.
fn overlay_view(exe: &Path, scratch: &Path) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    };
    // `:` separates layers and `\` escapes: a path holding either is escaped for the option.
    let escape = |p: &Path| p.to_string_lossy().replace('\\', "\\\\").replace(':', "\\:");
    // The binary's directory on top, so that a file of the same name in `scratch` cannot hide it. `xino`
    // off only keeps a kernel log line quiet when the two layers are on different filesystems.
    let lower = format!("{}:{}", escape(dir), escape(scratch));
    // The first `run` on a machine comes before its state root exists; it would make it next anyway.
    std::fs::create_dir_all(scratch)?;
    let attrs = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOSUID;
    let mount = sys::detached_mount("overlay", &[("lowerdir", &lower), ("xino", "off")], attrs)?;
    let file = openat(mount.as_fd(), name, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())?;
    Ok((mount, file))
}

/// A copy of the binary in a memfd, sealed against writes, growing, shrinking and further seals.
fn memfd_copy(exe: &Path) -> Result<OwnedFd, RuntimeError> {
    use nix::fcntl::{FcntlArg, SealFlag, fcntl};
    use nix::sys::memfd::{MFdFlags, memfd_create};

    let memfd = memfd_create(c"containy", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)
        .map_err(|e| RuntimeError::sys("memfd_create", e))?;
    let mut copy = std::fs::File::from(memfd);
    let mut original = std::fs::File::open("/proc/self/exe").map_err(|e| RuntimeError::io("open", exe, e))?;
    std::io::copy(&mut original, &mut copy).map_err(|e| RuntimeError::io("copy", exe, e))?;
    let seals = SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE;
    fcntl(&copy, FcntlArg::F_ADD_SEALS(seals)).map_err(|e| RuntimeError::sys("fcntl(F_ADD_SEALS)", e))?;
    Ok(copy.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(line: &str) -> Option<PathBuf> {
        sealed_line_scratch(&line.split(' ').map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn the_scan_knows_every_global_flag_clap_knows() {
        use clap::CommandFactory;
        let cli = crate::cli::Cli::command();
        let mut with_value: Vec<String> = vec![];
        let mut without: Vec<String> = vec![];
        for arg in cli.get_arguments().filter(|a| a.is_global_set()) {
            let long = format!("--{}", arg.get_long().expect("global flags are long"));
            if arg.get_action().takes_values() { with_value.push(long) } else { without.push(long) }
        }
        with_value.sort();
        without.sort();
        let mut known_with: Vec<&str> = GLOBALS_WITH_VALUE.to_vec();
        known_with.sort();
        let mut known_without: Vec<&str> = GLOBALS_WITHOUT_VALUE.iter().copied().chain(["--explain"]).collect();
        known_without.sort();
        assert_eq!(with_value, known_with);
        assert_eq!(without, known_without);
    }

    #[test]
    fn only_a_plain_line_of_a_sealed_verb_is_re_executed_before_the_parse() {
        assert_eq!(scratch("containy --root /r exec c1 /bin/true"), Some(PathBuf::from("/r")));
        assert_eq!(scratch("containy --root /r run --bundle b c1"), Some(PathBuf::from("/r")));
        assert_eq!(scratch("containy --root /r create --bundle b c1"), Some(PathBuf::from("/r")));
        assert_eq!(scratch("containy --root /r monitor --store s c1"), Some(PathBuf::from("/r")));
        assert_eq!(scratch("containy --root /r build --store s ."), Some(PathBuf::from("/r")));
        assert_eq!(scratch("containy --root=/r --debug exec -e A=1 c1 sh -c x"), Some(PathBuf::from("/r")));
        assert_eq!(scratch("containy --log /l --log-format json --root /r exec c1 true"), Some(PathBuf::from("/r")));
        assert!(scratch("containy exec c1 true").is_some(), "the default root");
        // Not exec, or not for this scan: clap reads it, and the verb decides.
        assert_eq!(scratch("containy --root /r start c1"), None);
        assert_eq!(scratch("containy --root /r delete c1"), None);
        assert_eq!(scratch("containy --log exec state c1"), None, "`exec` is --log's value here");
        assert_eq!(scratch("containy --explain exec c1 true"), None, "narrated by the parsed path");
        assert_eq!(scratch("containy exec --root /r c1 true"), None, "a global after the verb");
        assert_eq!(scratch("containy -x exec c1 true"), None);
        assert_eq!(scratch("containy --debug=yes exec c1 true"), None);
        assert_eq!(scratch("containy --root"), None);
    }

    #[test]
    fn only_our_own_mark_is_read() {
        assert_eq!(parse_mark("42", 42), Some(None));
        assert_eq!(parse_mark("42:7", 42), Some(Some(7)));
        assert_eq!(parse_mark("41:7", 42), None, "another process's mark");
        assert_eq!(parse_mark("42:x", 42), None);
        assert_eq!(parse_mark("overlay", 42), None);
    }

    #[test]
    fn a_writable_executable_is_not_sealed() {
        // The test binary is a plain file of cargo's target directory.
        assert!(!runs_sealed());
    }
}
