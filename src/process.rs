//! The process itself: what a container's program carries across `execve(2)` besides its namespaces, root
//! and capabilities — resource limits (`setrlimit(2)`), execution domain (`personality(2)`), OOM score, umask,
//! user and group ids (`setgroups(2)`, `setresgid(2)`, `setresuid(2)`), a terminal of its own, and finally the
//! program found in the container's `PATH` and executed.
//!
//! Order matters between these and the other mechanisms, so `runtime/init.rs` calls them one step at a time:
//! limits first (raising a hard limit needs `CAP_SYS_RESOURCE`, gone later); the terminal before the ids change
//! (the pty is opened as root in the container's devpts); the program is looked up before the ids change too
//! (so a typo is reported as "not found", not "permission denied"); ids change with `PR_SET_KEEPCAPS`, before
//! the capability sets are final. See `man 2 setrlimit`, `man 7 credentials`, `man 7 pty`, `man 2 execve`.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid};

use crate::plan::{Process, Rlimit};
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// A syscall failed; `op` names it with its arguments.
    #[error("{op}")]
    Sys {
        op: String,
        #[source]
        source: nix::Error,
    },
    #[error("{op}")]
    Io {
        op: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown rlimit {0}: use an OCI name such as RLIMIT_NOFILE")]
    UnknownRlimit(String),
    /// The program cannot be executed: `code` is the shell's (127 not found, 126 not executable).
    #[error("{message}")]
    NotExecutable { code: u8, message: String },
}

fn sys_err(op: impl Into<String>) -> impl FnOnce(nix::Error) -> ProcessError {
    let op = op.into();
    move |source| ProcessError::Sys { op, source }
}

/// `setrlimit(2)` for each limit, in order.
pub fn set_rlimits(rlimits: &[Rlimit]) -> Result<(), ProcessError> {
    use nix::sys::resource::{Resource, setrlimit};
    for Rlimit { kind, soft, hard } in rlimits {
        let resource = match kind.as_str() {
            "RLIMIT_AS" => Resource::RLIMIT_AS,
            "RLIMIT_CORE" => Resource::RLIMIT_CORE,
            "RLIMIT_CPU" => Resource::RLIMIT_CPU,
            "RLIMIT_DATA" => Resource::RLIMIT_DATA,
            "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
            "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
            "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
            "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
            "RLIMIT_NICE" => Resource::RLIMIT_NICE,
            "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
            "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
            "RLIMIT_RSS" => Resource::RLIMIT_RSS,
            "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
            "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
            "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
            "RLIMIT_STACK" => Resource::RLIMIT_STACK,
            other => return Err(ProcessError::UnknownRlimit(other.to_string())),
        };
        crate::explain!(
            format!("{kind} = {soft}/{hard}"),
            "setrlimit(2)",
            "a per-process limit, inherited by everything the container starts"
        );
        setrlimit(resource, *soft, *hard).map_err(|source| {
            let hint = if source == nix::errno::Errno::EPERM {
                " (raising a hard limit above containy's own needs CAP_SYS_RESOURCE)"
            } else {
                ""
            };
            ProcessError::Sys { op: format!("setrlimit({kind}, {soft}, {hard}){hint}"), source }
        })?;
    }
    Ok(())
}

/// `personality(2)`: the execution domain survives `execve` (`PER_LINUX32` makes `uname -m` say i686).
pub fn set_personality(domain: u64) -> Result<(), ProcessError> {
    crate::explain!(
        format!("set the execution domain to {domain:#x}"),
        "personality(2)",
        "it survives execve: a PER_LINUX32 container sees a 32-bit machine in uname"
    );
    let persona = nix::sys::personality::Persona::from_bits_retain(domain as libc::c_int);
    nix::sys::personality::set(persona).map(drop).map_err(sys_err("personality"))
}

/// How willing the OOM killer is to pick this process (-1000..=1000), inherited by its children.
pub fn set_oom_score_adj(adj: i32) -> Result<(), ProcessError> {
    std::fs::write("/proc/self/oom_score_adj", adj.to_string())
        .map_err(|source| ProcessError::Io { op: "write /proc/self/oom_score_adj".into(), source })
}

/// Open a new pty in the container's `/dev/pts` (through `/dev/ptmx`), make its subordinate side our
/// stdin/stdout/stderr and controlling terminal, and return the master side for the supervisor.
pub fn open_terminal() -> Result<OwnedFd, ProcessError> {
    use nix::fcntl::OFlag;
    crate::explain!(
        "create the container's terminal",
        "open(/dev/ptmx) in its devpts; sendmsg(SCM_RIGHTS, master); dup2(pty, 0/1/2); ioctl(TIOCSCTTY)",
        "the shell gets a real terminal (job control, line editing) that exists inside the container; containy relays it"
    );
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(sys_err("open /dev/ptmx"))?;
    nix::pty::grantpt(&master).map_err(sys_err("grantpt"))?;
    nix::pty::unlockpt(&master).map_err(sys_err("unlockpt"))?;
    let name = nix::pty::ptsname_r(&master).map_err(sys_err("ptsname"))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys_err(format!("open {name}")))?;
    nix::unistd::dup2_stdin(&slave).map_err(sys_err("dup2 of the terminal"))?;
    nix::unistd::dup2_stdout(&slave).map_err(sys_err("dup2 of the terminal"))?;
    nix::unistd::dup2_stderr(&slave).map_err(sys_err("dup2 of the terminal"))?;
    sys::set_controlling_terminal(slave.as_fd())
        .map_err(|source| ProcessError::Io { op: "ioctl(TIOCSCTTY)".into(), source })?;
    Ok(master.into())
}

/// Groups, gid, uid — keeping the permitted capabilities across `setuid` (`PR_SET_KEEPCAPS`) so the
/// capability sets can be made final afterwards; then the umask.
pub fn set_identity(p: &Process) -> Result<(), ProcessError> {
    crate::explain!(
        format!("become uid {} gid {} (groups {:?})", p.uid, p.gid, p.additional_gids),
        "setgroups(2), setresgid(2), setresuid(2) with PR_SET_KEEPCAPS",
        "ids change before the capability sets are final, keeping the permitted set across setuid"
    );
    nix::sys::prctl::set_keepcaps(true).map_err(sys_err("prctl(PR_SET_KEEPCAPS, 1)"))?;
    let groups: Vec<Gid> = p.additional_gids.iter().map(|g| Gid::from_raw(*g)).collect();
    // Inside a user namespace with setgroups denied this fails; then there are no groups to drop anyway.
    if let Err(e) = nix::unistd::setgroups(&groups)
        && !(e == nix::errno::Errno::EPERM && groups.is_empty())
    {
        return Err(sys_err(format!("setgroups({:?})", p.additional_gids))(e));
    }
    let gid = Gid::from_raw(p.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(sys_err(format!("setresgid({})", p.gid)))?;
    let uid = Uid::from_raw(p.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(sys_err(format!("setresuid({})", p.uid)))?;
    nix::sys::prctl::set_keepcaps(false).map_err(sys_err("prctl(PR_SET_KEEPCAPS, 0)"))?;
    if let Some(mask) = p.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    Ok(())
}

/// A new session: the container's processes are not in containy's process group, nor on its terminal.
pub fn new_session() -> Result<(), ProcessError> {
    crate::explain!(
        "start a new session",
        "setsid()",
        "the container must not share containy's controlling terminal or process group"
    );
    nix::unistd::setsid().map(drop).map_err(sys_err("setsid"))
}

/// Become root of a user namespace just entered (uid and gid 0 are mapped by now).
pub fn become_namespace_root() -> Result<(), ProcessError> {
    let (root_gid, root_uid) = (Gid::from_raw(0), Uid::from_raw(0));
    nix::unistd::setresgid(root_gid, root_gid, root_gid).map_err(sys_err("setresgid(0) in the user namespace"))?;
    nix::unistd::setresuid(root_uid, root_uid, root_uid).map_err(sys_err("setresuid(0) in the user namespace"))
}

/// `PATH` lookup the way `execvp` does it, but with the container's environment and reported errors.
pub fn find_executable(name: &str, env: &[String]) -> Result<PathBuf, ProcessError> {
    let not = |code, message| ProcessError::NotExecutable { code, message };
    let is_exec = |p: &Path| {
        nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok() && p.metadata().is_ok_and(|m| m.is_file())
    };
    if name.contains('/') {
        let path = PathBuf::from(name);
        return match path.metadata() {
            Err(_) => Err(not(127, format!("exec {name:?}: no such file or directory"))),
            Ok(m) if m.is_dir() => Err(not(126, format!("exec {name:?}: is a directory"))),
            Ok(_) if !is_exec(&path) => Err(not(126, format!("exec {name:?}: permission denied"))),
            Ok(_) => Ok(path),
        };
    }
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path_var
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(name))
        .find(|p| is_exec(p))
        .ok_or_else(|| not(127, format!("exec {name:?}: executable file not found in $PATH")))
}

/// The `execve(2)` arguments, built (allocated) before the seccomp filter goes in: after it, nothing but the
/// call itself should run.
pub struct Program {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl Program {
    pub fn prepare(program: &Path, args: &[String], env: &[String]) -> Result<Program, ProcessError> {
        let nul =
            || ProcessError::NotExecutable { code: 126, message: "an argument or variable contains a NUL byte".into() };
        let cstrings =
            |items: &[String]| items.iter().map(|s| CString::new(s.as_bytes())).collect::<Result<Vec<_>, _>>();
        Ok(Program {
            path: CString::new(program.as_os_str().as_bytes()).map_err(|_| nul())?,
            argv: cstrings(args).map_err(|_| nul())?,
            envp: cstrings(env).map_err(|_| nul())?,
        })
    }

    pub fn path(&self) -> &Path {
        Path::new(std::ffi::OsStr::from_bytes(self.path.as_bytes()))
    }

    /// `execve(2)` with exactly the plan's arguments and environment; returns only on failure.
    pub fn execute(&self) -> ProcessError {
        let Err(err) = nix::unistd::execve(&self.path, &self.argv, &self.envp);
        let code = if err == nix::errno::Errno::ENOENT { 127 } else { 126 };
        ProcessError::NotExecutable { code, message: format!("exec {:?}: {}", self.path(), err.desc().to_lowercase()) }
    }
}
