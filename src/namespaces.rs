//! Namespaces: what a process can *see*.
//!
//! A namespace wraps one global resource so that processes inside get their own instance: process ids
//! (`pid`), the mount table (`mnt`), hostname (`uts`), System V IPC and POSIX queues (`ipc`), network
//! stack (`net`), the cgroup root (`cgroup`), user and group ids (`user`) and clocks (`time`). New ones are
//! created by `clone3(2)` flags in one step; existing ones (a path like `/proc/123/ns/net`) are joined with
//! `setns(2)`. Order matters when joining: the user namespace first, since it grants the capabilities to join
//! the rest; the mount namespace last, because joining it changes how the other paths resolve.
//! See `man 7 namespaces`.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;

use crate::plan::{Namespace, NamespaceSpec};

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("cannot open namespace {path} to join it")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("setns({path}, {kind})")]
    Join {
        path: PathBuf,
        kind: &'static str,
        #[source]
        source: nix::Error,
    },
    /// Creating or configuring a namespace of the container's own failed; `op` names the call.
    #[error("{op}")]
    Setup {
        op: String,
        #[source]
        source: std::io::Error,
    },
}

fn setup(op: impl Into<String>) -> impl FnOnce(nix::Error) -> NamespaceError {
    let op = op.into();
    move |e| NamespaceError::Setup { op, source: e.into() }
}

/// The cgroup namespace is made by the child itself once it sits in its cgroup (v1 can place it only after
/// `clone3`), so that cgroup becomes the container's `/`.
pub fn create_cgroup_namespace() -> Result<(), NamespaceError> {
    crate::explain!(
        "create the cgroup namespace",
        "unshare(CLONE_NEWCGROUP)",
        "done after the parent placed us in our cgroup, so that cgroup becomes the container's '/'"
    );
    nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).map_err(setup("unshare(CLONE_NEWCGROUP)"))
}

/// A time namespace with shifted clocks: `unshare(CLONE_NEWTIME)` makes one for our *children*, its offsets can
/// be written only until a process is in it — so now — and then we step into it ourselves with `setns`.
pub fn enter_time_namespace(offsets: &[crate::plan::TimeOffset]) -> Result<(), NamespaceError> {
    let text: String = offsets.iter().map(|o| format!("{} {} {}\n", o.clock, o.secs, o.nanos)).collect();
    crate::explain!(
        "create the time namespace and shift its clocks",
        format!("unshare(CLONE_NEWTIME); write {:?} to /proc/self/timens_offsets", text.trim_end()),
        "CLOCK_MONOTONIC and CLOCK_BOOTTIME read differently inside; then setns(time_for_children) steps in"
    );
    let time = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
    nix::sched::unshare(time).map_err(setup("unshare(CLONE_NEWTIME)"))?;
    std::fs::write("/proc/self/timens_offsets", text)
        .map_err(|source| NamespaceError::Setup { op: "write /proc/self/timens_offsets".into(), source })?;
    // Not every kernel moves an execve into time_for_children (Debian's 6.1 does not): enter it now.
    let ns = File::open("/proc/self/ns/time_for_children")
        .map_err(|source| NamespaceError::Setup { op: "open /proc/self/ns/time_for_children".into(), source })?;
    nix::sched::setns(ns, time).map_err(setup("setns(time_for_children)"))
}

/// A new network namespace has only `lo`, and it starts down.
pub fn bring_loopback_up() -> Result<(), NamespaceError> {
    crate::explain!(
        "bring up the loopback interface",
        "ioctl(SIOCSIFFLAGS, \"lo\", IFF_UP)",
        "a new network namespace has only `lo`, and it starts down"
    );
    crate::sys::loopback_up()
        .map_err(|source| NamespaceError::Setup { op: "bring lo up (ioctl SIOCSIFFLAGS)".into(), source })
}

/// The names of the container's own UTS namespace (the Plan was validated to have one when it sets them).
pub fn set_names(hostname: Option<&str>, domainname: Option<&str>) -> Result<(), NamespaceError> {
    if let Some(hostname) = hostname {
        crate::explain!(
            format!("set the hostname to {hostname:?}"),
            "sethostname(2)",
            "the new UTS namespace has its own hostname; the host's is untouched"
        );
        nix::unistd::sethostname(hostname).map_err(setup(format!("sethostname({hostname:?})")))?;
    }
    if let Some(domain) = domainname {
        crate::explain!(
            format!("set the NIS domain name to {domain:?}"),
            "write /proc/sys/kernel/domainname",
            "the domain name lives in the UTS namespace too"
        );
        std::fs::write("/proc/sys/kernel/domainname", domain)
            .map_err(|source| NamespaceError::Setup { op: format!("setdomainname({domain:?})"), source })?;
    }
    Ok(())
}

impl Namespace {
    /// The `CLONE_NEW*` flag that creates this namespace.
    pub fn clone_flag(self) -> CloneFlags {
        match self {
            Namespace::User => CloneFlags::CLONE_NEWUSER,
            Namespace::Pid => CloneFlags::CLONE_NEWPID,
            Namespace::Network => CloneFlags::CLONE_NEWNET,
            Namespace::Ipc => CloneFlags::CLONE_NEWIPC,
            Namespace::Uts => CloneFlags::CLONE_NEWUTS,
            Namespace::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            Namespace::Mount => CloneFlags::CLONE_NEWNS,
            Namespace::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
        }
    }

    /// The name of this namespace under `/proc/<pid>/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            Namespace::User => "user",
            Namespace::Pid => "pid",
            Namespace::Network => "net",
            Namespace::Ipc => "ipc",
            Namespace::Uts => "uts",
            Namespace::Cgroup => "cgroup",
            Namespace::Mount => "mnt",
            Namespace::Time => "time",
        }
    }
}

/// The flags for `clone3`: every namespace the plan creates (joined ones are entered later by `setns`).
pub fn clone_flags(specs: &[NamespaceSpec]) -> CloneFlags {
    specs.iter().filter(|ns| ns.path.is_none()).fold(CloneFlags::empty(), |flags, ns| flags | ns.kind.clone_flag())
}

/// Does the plan create (not join) a namespace of this kind?
pub fn creates(specs: &[NamespaceSpec], kind: Namespace) -> bool {
    specs.iter().any(|ns| ns.kind == kind && ns.path.is_none())
}

/// Open every namespace the plan joins, in join order. Opened before any of them is entered, so that
/// all the paths are resolved in the host's view.
pub fn open_joined(specs: &[NamespaceSpec]) -> Result<Vec<(Namespace, PathBuf, File)>, NamespaceError> {
    let mut joined: Vec<_> = specs.iter().filter_map(|ns| ns.path.as_ref().map(|p| (ns.kind, p.clone()))).collect();
    joined.sort_by_key(|(kind, _)| *kind);
    joined
        .into_iter()
        .map(|(kind, path)| match File::open(&path) {
            Ok(file) => Ok((kind, path, file)),
            Err(source) => Err(NamespaceError::Open { path, source }),
        })
        .collect()
}

/// Does entering this kind of namespace move only the caller's future *children* (`pid_for_children`,
/// `time_for_children`) rather than the caller itself?
pub fn only_for_children(kind: Namespace) -> bool {
    matches!(kind, Namespace::Pid | Namespace::Time)
}

/// Before the clone, in the parent: enter the PID and time namespaces the plan joins, so that the child is
/// born in them (the child's own `setns` could only move *its* children). Returns the parent's own
/// namespaces, to go back to with [`leave_for_children`] right after the clone.
pub fn enter_for_children(opened: &[(Namespace, PathBuf, File)]) -> Result<Vec<(Namespace, File)>, NamespaceError> {
    let mut own = Vec::new();
    for (kind, path, file) in opened.iter().filter(|(kind, _, _)| only_for_children(*kind)) {
        let own_path = Path::new("/proc/self/ns").join(format!("{}_for_children", kind.proc_name()));
        let current = File::open(&own_path).map_err(|source| NamespaceError::Open { path: own_path, source })?;
        crate::explain!(
            format!("join the {} namespace for the container process", kind.proc_name()),
            format!("setns({}, {:?}) before clone3", path.display(), kind.clone_flag()),
            "entering a PID or time namespace only moves the children made afterwards"
        );
        nix::sched::setns(file, kind.clone_flag()).map_err(|source| NamespaceError::Join {
            path: path.clone(),
            kind: kind.proc_name(),
            source,
        })?;
        own.push((*kind, current));
    }
    Ok(own)
}

/// After the clone, in the parent: back to its own PID and time namespaces for children (hooks and later
/// forks of containy must not land in the container's).
pub fn leave_for_children(own: Vec<(Namespace, File)>) -> Result<(), NamespaceError> {
    for (kind, file) in own {
        nix::sched::setns(&file, kind.clone_flag()).map_err(|source| NamespaceError::Join {
            path: PathBuf::from(format!("/proc/self/ns/{}_for_children", kind.proc_name())),
            kind: kind.proc_name(),
            source,
        })?;
    }
    Ok(())
}

/// `setns(2)` into each opened namespace, in the order `open_joined` gave — except the PID and time
/// namespaces, which the parent entered before the clone ([`enter_for_children`]).
pub fn join(opened: Vec<(Namespace, PathBuf, File)>) -> Result<(), NamespaceError> {
    for (kind, path, file) in opened.into_iter().filter(|(kind, _, _)| !only_for_children(*kind)) {
        crate::explain!(
            format!("join the {} namespace", kind.proc_name()),
            format!("setns({}, {:?})", path.display(), kind.clone_flag()),
            "share this namespace with the process that owns it instead of creating a new one"
        );
        nix::sched::setns(&file, kind.clone_flag()).map_err(|source| NamespaceError::Join {
            path: path.clone(),
            kind: kind.proc_name(),
            source,
        })?;
    }
    Ok(())
}

/// `/proc/<pid>/ns/<name>` for a process.
pub fn proc_path(pid: i32, kind: Namespace) -> PathBuf {
    Path::new("/proc").join(pid.to_string()).join("ns").join(kind.proc_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(kind: Namespace) -> NamespaceSpec {
        NamespaceSpec { kind, path: None }
    }

    #[test]
    fn clone_flags_only_for_created_namespaces() {
        let specs = vec![
            new(Namespace::Pid),
            new(Namespace::Mount),
            NamespaceSpec { kind: Namespace::Network, path: Some("/proc/1/ns/net".into()) },
        ];
        let flags = clone_flags(&specs);
        assert_eq!(flags, CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS);
        assert!(creates(&specs, Namespace::Pid));
        assert!(!creates(&specs, Namespace::Network));
    }

    #[test]
    fn join_order_puts_user_first_and_mount_last() {
        let mut kinds = [Namespace::Mount, Namespace::Network, Namespace::User, Namespace::Pid];
        kinds.sort();
        assert_eq!(kinds.first(), Some(&Namespace::User));
        assert_eq!(kinds.last(), Some(&Namespace::Mount));
    }
}
