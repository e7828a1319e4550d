//! Start or enter a container only from a copy of containy that the container cannot write (CVE-2019-5736).
//!
//! A container may be hostile, and so may an image. A program replaced by a script starting
//! `#!/proc/self/exe` makes the kernel execute the *runtime's own binary* inside the container, with arguments
//! the image chose: for `exec` when it runs that program in a running container, and just as well for `run`
//! and `create` when the image's entrypoint is such a script. A container process then holds
//! `/proc/<pid>/exe` — the host file — and writes it once the runtime has exited, and the next containy started
//! on the host is the attacker's. So every verb that starts a process inside a container (`run`, `create`,
//! `exec`, and `monitor` and `build`, which create containers in-process: `containy_entry::is_sealed_verb`)
//! re-executes itself (same arguments) before it does anything, from a file no write can reach:
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
//! reach (owned by root, writable by root alone, and we are not root: a rootless containy installed by root,
//! whose containers have at most our and our subordinate ids' rights) goes on without a re-exec.
//! `CONTAINY_SEALED_EXE=<pid>:<fd>:<binary>` in the environment only says "this process already re-executed
//! itself" (so that a view that somehow is not read-only is an error instead of a loop), which descriptor still
//! holds the view's mount, to be closed off the start's path ([`inherited_view`]), and where the binary is. It
//! never reaches the container: its environment is the Plan's alone. The runtime itself refuses to clone a container's init from an image that is not sealed
//! ([`require_sealed`]), whichever verb got there.
//!
//! **Order.** Every containy image pays its start-up (relocation, Rust's runtime, the command line), and
//! these verbs run two. On x86-64 the first does not: containy's entry point, before libc
//! (`src/sys/entry`, `containy_start`), scans a plain `containy [globals] <verb> …` line and re-executes
//! from the overlay view at once, with the check and the view this module uses too. Whatever it does not
//! recognise (`--explain`, a rootless user, an overlay the kernel refuses, another architecture) is left to
//! the parsed path, which calls [`reexec_sealed`] before the verb does anything (with the memfd as its
//! fallback); `main` first adopts the view a previous image left open ([`adopt_inherited_view`]).

use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::RuntimeError;
use crate::sys;

/// The mark in the environment of the re-executed containy (`containy_entry::MARK`, which the entry point
/// writes too): `<pid>:<fd>:<binary>` (`fexecve` keeps the pid) — the overlay view's mount descriptor `fd` left
/// open across the `execve` (empty if none), and the path of the binary on the host, which containy starts its
/// monitors with and hands over to (`handover`): its own executable is now a file of the view, in no mount
/// namespace.
pub fn mark_name() -> &'static std::ffi::OsStr {
    std::ffi::OsStr::from_bytes(containy_entry::MARK)
}

/// First thing in `main`: if the image before us re-executed this process, the view's mount it left open is
/// ours now (close-on-exec again), whatever the line.
pub fn adopt_inherited_view() {
    if let Some(fd) = own_mark().and_then(|mark| mark.fd)
        && let Ok(mut view) = VIEW.lock()
    {
        *view = sys::adopt_inherited(fd);
    }
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
    // The first `run` on a machine comes before its state root exists; it would make it next anyway.
    let view = std::fs::create_dir_all(scratch).and_then(|()| sys::sealed_view(&exe, scratch));
    let (mount, file) = match view {
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
    let err = reexec_from(&file, mount.as_ref(), &exe, &std::env::args_os().collect::<Vec<_>>());
    Err(RuntimeError::sys("fexecve of the sealed containy", err))
}

/// `fexecve` the sealed `file` with our arguments and environment, plus the mark; returns only on failure.
/// The view's `mount` stays open across the `execve` (see [`inherited_view`]).
fn reexec_from(file: &OwnedFd, mount: Option<&OwnedFd>, binary: &Path, args: &[OsString]) -> nix::Error {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let kept = mount.filter(|m| fcntl(m, FcntlArg::F_SETFD(FdFlag::empty())).is_ok());
    let cstring = |s: &[u8]| CString::new(s).ok();
    let args: Vec<CString> = args.iter().filter_map(|a| cstring(a.as_bytes())).collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != mark_name())
        .filter_map(|(k, v)| cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect();
    let fd = kept.map(|mount| mount.as_raw_fd().to_string()).unwrap_or_default();
    let pid = std::process::id();
    let mark = [mark_name().as_bytes(), format!("={pid}:{fd}:").as_bytes(), binary.as_os_str().as_bytes()].concat();
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

/// The view's mount descriptor, adopted by [`adopt_inherited_view`] in the re-executed image.
static VIEW: std::sync::Mutex<Option<OwnedFd>> = std::sync::Mutex::new(None);

/// The binary this process was started as, if it re-executed itself from a sealed view since: the path on the
/// host, not the view's.
pub fn original_binary() -> Option<PathBuf> {
    own_mark().and_then(|mark| mark.binary)
}

/// What a re-executed image finds in its mark.
#[derive(Debug, PartialEq)]
struct Mark {
    fd: Option<std::os::fd::RawFd>,
    binary: Option<PathBuf>,
}

/// Our own mark, if this process re-executed itself.
fn own_mark() -> Option<Mark> {
    parse_mark(&std::env::var_os(mark_name())?, std::process::id())
}

/// The mark, if it is our own (`<pid>[:<fd>[:<binary>]]`); `None` if not ours.
fn parse_mark(mark: &std::ffi::OsStr, pid: u32) -> Option<Mark> {
    let mut parts = mark.as_bytes().splitn(3, |&b| b == b':');
    let mark_pid = std::str::from_utf8(parts.next()?).ok()?;
    if mark_pid.parse::<u32>().ok()? != pid {
        return None;
    }
    let fd = match parts.next() {
        None | Some(b"") => None,
        Some(fd) => Some(std::str::from_utf8(fd).ok()?.parse().ok()?),
    };
    let binary = parts.next().filter(|b| !b.is_empty()).map(|b| PathBuf::from(std::ffi::OsStr::from_bytes(b)));
    Some(Mark { fd, binary })
}

/// The runtime's guard before it clones a container's init: this image must be one no container can write.
/// The verbs re-execute first (the entry point before libc, [`reexec_sealed`]); reaching here unsealed is a
/// verb that forgot, and it fails instead of handing the container the host's binary.
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

/// Can no process we start write this process's executable (`containy_entry::exe_is_sealed`: a read-only
/// filesystem or mount, a memfd sealed against writes, or out of our reach)? Asked once per image: an
/// image's executable does not change.
fn runs_sealed() -> bool {
    static SEALED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SEALED.get_or_init(containy_entry::exe_is_sealed)
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

    fn scan(line: &str) -> Option<Option<&str>> {
        let root = containy_entry::scan_line(line.split(' ').skip(1).map(str::as_bytes))?;
        Some(root.map(|r| std::str::from_utf8(r).unwrap()))
    }

    #[test]
    fn the_scan_knows_every_global_flag_clap_knows() {
        use clap::CommandFactory;
        let cli = crate::cli::Cli::command();
        for arg in cli.get_arguments().filter(|a| a.is_global_set()) {
            let long = format!("--{}", arg.get_long().expect("global flags are long"));
            let (with, without) =
                (containy_entry::takes_value(long.as_bytes()), containy_entry::takes_no_value(long.as_bytes()));
            match (arg.get_action().takes_values(), long.as_str()) {
                (true, _) => assert!(with && !without, "{long} takes a value"),
                (false, "--explain") => assert!(!with && !without, "--explain is left to the parsed path"),
                (false, _) => assert!(!with && without, "{long} takes no value"),
            }
        }
    }

    #[test]
    fn only_a_plain_line_of_a_sealed_verb_is_re_executed_before_the_parse() {
        assert_eq!(scan("containy --root /r exec c1 /bin/true"), Some(Some("/r")));
        assert_eq!(scan("containy --root /r run --bundle b c1"), Some(Some("/r")));
        assert_eq!(scan("containy --root /r create --bundle b c1"), Some(Some("/r")));
        assert_eq!(scan("containy --root /r monitor --store s c1"), Some(Some("/r")));
        assert_eq!(scan("containy --root /r build --store s ."), Some(Some("/r")));
        assert_eq!(scan("containy --root=/r --debug exec -e A=1 c1 sh -c x"), Some(Some("/r")));
        assert_eq!(scan("containy --log /l --log-format json --root /r exec c1 true"), Some(Some("/r")));
        assert_eq!(scan("containy exec c1 true"), Some(None), "the default root");
        // Not a sealed verb, or not for this scan: clap reads it, and the verb decides.
        assert_eq!(scan("containy --root /r start c1"), None);
        assert_eq!(scan("containy --root /r delete c1"), None);
        assert_eq!(scan("containy --log exec state c1"), None, "`exec` is --log's value here");
        assert_eq!(scan("containy --explain exec c1 true"), None, "narrated by the parsed path");
        assert_eq!(scan("containy exec --root /r c1 true"), None, "a global after the verb");
        assert_eq!(scan("containy -x exec c1 true"), None);
        assert_eq!(scan("containy --debug=yes exec c1 true"), None);
        assert_eq!(scan("containy --root"), None);
    }

    #[test]
    fn only_our_own_mark_is_read() {
        let mark = |s: &str| parse_mark(std::ffi::OsStr::new(s), 42);
        let bin = |p: &str| Some(PathBuf::from(p));
        assert_eq!(mark("42"), Some(Mark { fd: None, binary: None }));
        assert_eq!(mark("42:7"), Some(Mark { fd: Some(7), binary: None }));
        assert_eq!(mark("42:7:/usr/bin/containy"), Some(Mark { fd: Some(7), binary: bin("/usr/bin/containy") }));
        assert_eq!(mark("42::/a:b/containy"), Some(Mark { fd: None, binary: bin("/a:b/containy") }));
        assert_eq!(mark("41:7:/usr/bin/containy"), None, "another process's mark");
        assert_eq!(mark("42:x"), None);
        assert_eq!(mark("overlay"), None);
    }

    #[test]
    fn a_writable_executable_is_not_sealed() {
        // The test binary is a plain file of cargo's target directory.
        assert!(!runs_sealed());
    }
}
