//! The rootless part of making a Plan: what a container needs so that an ordinary user can run it, and
//! the clear refusals for what it cannot have.
//!
//! An unprivileged process may create namespaces only together with a new user namespace, in which it is
//! root. So a rootless Plan always has one (unless it joins one, or containy already runs as root of an
//! engine's user namespace — podman rootless): container root is the caller, and container ids `1..` are the
//! caller's subordinate range from `/etc/subuid`/`/etc/subgid` when it has one (written by
//! `newuidmap`/`newgidmap` after clone). Without a range only root exists inside: files of other owners
//! appear as `nobody`, and a process cannot switch to another uid — containy says so. This runs before
//! validation, so the finished Plan is checked whole; nothing here touches the kernel.

use std::path::{Path, PathBuf};

use super::RequestError;
use crate::plan::{IdMap, Mount, Namespace, NamespaceSpec, Network, Plan};
use crate::user_mapping::{self, SubordinateRange};

/// The caller's identity and what root granted it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub subuids: Vec<SubordinateRange>,
    pub subgids: Vec<SubordinateRange>,
}

impl Caller {
    /// Who runs containy, with the ranges `/etc/subuid` and `/etc/subgid` grant them.
    pub fn current() -> Caller {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let name = crate::accounts::user_by_uid(uid).map(|u| u.name).unwrap_or_default();
        Caller {
            subuids: user_mapping::subordinate_ranges(Path::new("/etc/subuid"), &name, uid),
            subgids: user_mapping::subordinate_ranges(Path::new("/etc/subgid"), &name, uid),
            uid,
            gid,
            name,
        }
    }
}

/// Make `plan` runnable by the caller when containy runs without privilege (no-op as root).
pub fn adapt(plan: &mut Plan) -> Result<(), RequestError> {
    if !crate::paths::rootless() || nix::unistd::geteuid().is_root() {
        // Root, or root of an engine's user namespace (whose ids the engine has mapped already).
        return Ok(());
    }
    adapt_for(plan, &Caller::current())
}

/// [`adapt`] for a given caller (the pure part, tested without a test user).
pub fn adapt_for(plan: &mut Plan, caller: &Caller) -> Result<(), RequestError> {
    let user_ns = plan.namespaces.iter().find(|ns| ns.kind == Namespace::User).cloned();
    match user_ns {
        None => {
            plan.namespaces.push(NamespaceSpec { kind: Namespace::User, path: None });
            plan.namespaces.sort_by_key(|ns| ns.kind);
            set_default_maps(plan, caller);
        }
        Some(NamespaceSpec { path: None, .. }) if plan.uid_mappings.is_empty() && plan.gid_mappings.is_empty() => {
            set_default_maps(plan, caller)
        }
        Some(NamespaceSpec { path: None, .. }) => {
            check_maps("uidMappings", &plan.uid_mappings, caller.uid, &caller.subuids, "/etc/subuid")?;
            check_maps("gidMappings", &plan.gid_mappings, caller.gid, &caller.subgids, "/etc/subgid")?;
        }
        // Joining a user namespace: its maps were written by whoever made it.
        Some(_) => return check_network(plan),
    }
    check_process_ids(plan, caller)?;
    drop_unmapped_mount_gids(plan);
    check_devices(plan)?;
    check_network(plan)
}

/// Run `work` (a pull into the image store) as root of a user namespace with the caller's maps when containy
/// runs as an ordinary user, as `containy pull` does: layers are extracted there, so a file an image gives
/// to uid 1000 belongs to uid 1000 inside (a subordinate id on the host) instead of losing its owner. The
/// child's error comes back as text through a pipe (it is not `Send` across a process boundary) and is
/// returned as this call's error. As root (or root of an engine's user namespace) `work` runs here.
pub fn in_mapped_user_namespace(work: impl FnOnce() -> Result<(), RequestError>) -> Result<(), RequestError> {
    if nix::unistd::geteuid().is_root() {
        return work();
    }
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| RequestError::Usage(format!("rootless pull: pipe2: {e}")))?;
    let (uids, gids, _) = user_mapping::caller_maps();
    let code = user_mapping::run_as_mapped_root(&uids, &gids, move || match work() {
        Ok(()) => 0,
        Err(e) => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            // Less than a pipe's buffer: the write never waits for a reader that is waiting for this child.
            let mut end = text.len().min(16 * 1024);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let _ = nix::unistd::write(&writer, &text.as_bytes()[..end]);
            125
        }
    })
    .map_err(|e| RequestError::Usage(format!("rootless pull: {e}")))?;
    if code == 0 {
        return Ok(());
    }
    let mut text = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::fs::File::from(reader), &mut text);
    let text = String::from_utf8_lossy(&text).into_owned();
    Err(RequestError::Usage(if text.is_empty() { format!("the pull failed (exit code {code})") } else { text }))
}

/// Root is the caller; `1..` the first subordinate range, if any.
fn set_default_maps(plan: &mut Plan, caller: &Caller) {
    let maps = |own: u32, ranges: &[SubordinateRange]| {
        let mut maps = vec![IdMap { container_id: 0, host_id: own, size: 1 }];
        if let Some(r) = ranges.first() {
            maps.push(IdMap { container_id: 1, host_id: r.start, size: r.count });
        }
        maps
    };
    plan.uid_mappings = maps(caller.uid, &caller.subuids);
    plan.gid_mappings = maps(caller.gid, &caller.subgids);
    let ranges = match (caller.subuids.first(), caller.subgids.first()) {
        (Some(u), Some(g)) => {
            format!("ids 1..{} are /etc/subuid's {}.. and /etc/subgid's {}..", u.count, u.start, g.start)
        }
        _ => format!(
            "no range for {:?} in /etc/subuid and /etc/subgid, so only root exists inside: files owned by other \
             ids show as nobody and the process cannot become another user",
            caller.name
        ),
    };
    if caller.subuids.is_empty() && matches!(plan.rootfs.source, crate::plan::RootfsSource::Layers(_)) {
        eprintln!("containy: note: {ranges}");
    }
    crate::explain!(
        "rootless: add a user namespace",
        format!("root inside is uid {} / gid {} outside; {ranges}", caller.uid, caller.gid),
        "an ordinary user may create the other namespaces only inside a user namespace it owns"
    );
}

/// Every map line is the caller's own id or lies inside a range root granted it.
fn check_maps(
    field: &str,
    maps: &[IdMap],
    own: u32,
    ranges: &[SubordinateRange],
    file: &str,
) -> Result<(), RequestError> {
    for m in maps {
        let own_line = m.host_id == own && m.size == 1;
        let end = u64::from(m.host_id) + u64::from(m.size);
        let granted = ranges.iter().any(|r| m.host_id >= r.start && end <= u64::from(r.start) + u64::from(r.count));
        if !own_line && !granted {
            let have = if ranges.is_empty() {
                format!("{file} grants you no range")
            } else {
                let list: Vec<_> = ranges
                    .iter()
                    .map(|r| format!("{}..{}", r.start, u64::from(r.start) + u64::from(r.count)))
                    .collect();
                format!("{file} grants you only {}", list.join(", "))
            };
            return Err(RequestError::Usage(format!(
                "linux.{field}: host ids {}..{end} (container {}) are not yours to map rootless: {have}; map only \
                 your own id {own}, or ask root to add a range (usermod --add-subuids/--add-subgids)",
                m.host_id, m.container_id
            )));
        }
    }
    Ok(())
}

/// The process's uid and gids must exist inside, or the kernel refuses `setuid` with EINVAL at start.
fn check_process_ids(plan: &Plan, caller: &Caller) -> Result<(), RequestError> {
    let covered = |maps: &[IdMap], id: u32| {
        maps.iter().any(|m| id >= m.container_id && u64::from(id) < u64::from(m.container_id) + u64::from(m.size))
    };
    let p = &plan.process;
    let ids = [("uid", p.uid, &plan.uid_mappings)]
        .into_iter()
        .chain(std::iter::once(("gid", p.gid, &plan.gid_mappings)))
        .chain(p.additional_gids.iter().map(|g| ("additional gid", *g, &plan.gid_mappings)));
    for (what, id, maps) in ids {
        if !covered(maps, id) {
            let hint = if caller.subuids.is_empty() || caller.subgids.is_empty() {
                format!(
                    "without a range in /etc/subuid and /etc/subgid only 0 (you) exists inside a rootless container — \
                     run as uid 0, or ask root for a range: usermod --add-subuids 100000-165535 --add-subgids \
                     100000-165535 {}",
                    caller.name
                )
            } else {
                let top = maps.iter().map(|m| u64::from(m.container_id) + u64::from(m.size)).max().unwrap_or(0);
                format!(
                    "the maps cover container ids 0..{top} (your /etc/subuid and /etc/subgid ranges are that \
                     small) — run as an id below {top}, or ask root for a range of 65536: usermod \
                     --add-subuids/--add-subgids"
                )
            };
            return Err(RequestError::Usage(format!(
                "process {what} {id} is not mapped in the user namespace: {hint}"
            )));
        }
    }
    Ok(())
}

/// `devpts` with `gid=5` (the tty group) fails with EINVAL when gid 5 does not exist inside (no subgid
/// range): leave the option out then, as runc's rootless spec does (the ptys belong to root's group).
fn drop_unmapped_mount_gids(plan: &mut Plan) {
    let maps = plan.gid_mappings.clone();
    let mapped = |gid: u32| {
        maps.iter().any(|m| gid >= m.container_id && u64::from(gid) < u64::from(m.container_id) + u64::from(m.size))
    };
    for m in plan.mounts.iter_mut().filter(|m| m.fstype == "devpts") {
        let kept: Vec<&str> = m
            .data
            .split(',')
            .filter(|opt| opt.strip_prefix("gid=").and_then(|g| g.parse().ok()).is_none_or(mapped))
            .collect();
        m.data = kept.join(",");
    }
}

/// A device node is bound from the host in a user namespace (it cannot be made): from the host's node at the
/// same path, which must be that device, and which the caller must be able to open — or the container gets a
/// node that always says "permission denied".
fn check_devices(plan: &Plan) -> Result<(), RequestError> {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::fs::MetadataExt;
    for d in &plan.devices {
        if d.kind == 'p' {
            continue; // a FIFO is made, not bound
        }
        let what = format!("device {} ({} {}:{})", d.path.display(), d.kind, d.major, d.minor);
        let refuse = |why: String| {
            RequestError::Usage(format!(
                "{what}: rootless, a device is bound from the host's node at the same path, and {why} — leave it \
                 out, or run as root"
            ))
        };
        let meta =
            std::fs::metadata(&d.path).map_err(|e| refuse(format!("{} cannot be used ({e})", d.path.display())))?;
        let kind_matches =
            if d.kind == 'b' { meta.file_type().is_block_device() } else { meta.file_type().is_char_device() };
        let (major, minor) = (nix::sys::stat::major(meta.rdev()), nix::sys::stat::minor(meta.rdev()));
        if !kind_matches || (major, minor) != (d.major, d.minor) {
            return Err(refuse(format!("the host's {} is not that device", d.path.display())));
        }
        if nix::unistd::access(&d.path, nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::W_OK).is_err() {
            return Err(refuse(format!(
                "you may not open the host's {} (mode {:o}, owner uid {})",
                d.path.display(),
                meta.mode() & 0o7777,
                meta.uid()
            )));
        }
    }
    Ok(())
}

/// Bridge networks need root on the host (a veth in the host's namespace, NAT rules): the default one becomes
/// user-mode networking through pasta (podman's rootless default, too), a named one is refused. Sharing the host's
/// network works, but a network namespace the container does not own cannot have its own sysfs, so `/sys`
/// becomes a read-only bind of the host's (as `runc spec --rootless` writes it).
fn check_network(plan: &mut Plan) -> Result<(), RequestError> {
    match &plan.network {
        Network::Bridge { network, ports } => {
            if network != crate::plan::DEFAULT_NETWORK {
                return Err(RequestError::Usage(format!(
                    "network {network:?}: a named bridge network needs root (a bridge, veth pairs and NAT rules on \
                     the host); rootless, use \"bridge\" (user-mode networking through pasta, with -p ports) or \
                     \"none\""
                )));
            }
            crate::explain!(
                "rootless: bridge networking becomes user-mode networking (pasta)",
                format!("published ports: {}", ports.len()),
                "an ordinary user cannot make veth pairs or NAT rules; pasta gives the same outgoing connections \
                 and published ports as a process of the user"
            );
            plan.network = Network::Pasta { ports: ports.clone() };
            Ok(())
        }
        Network::Host => {
            for m in plan.mounts.iter_mut().filter(|m| m.fstype == "sysfs") {
                *m = Mount {
                    destination: m.destination.clone(),
                    fstype: "bind".into(),
                    source: PathBuf::from("/sys"),
                    flags: libc::MS_BIND
                        | libc::MS_REC
                        | libc::MS_RDONLY
                        | libc::MS_NOSUID
                        | libc::MS_NODEV
                        | libc::MS_NOEXEC,
                    propagation: Vec::new(),
                    data: String::new(),
                    copy_up: false,
                    recursive: Default::default(),
                };
            }
            Ok(())
        }
        Network::None | Network::Container(_) | Network::Pasta { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        crate::config::parse_str(
            "[process]\nargs = [\"sh\"]\n[rootfs]\npath = \"/r\"\n",
            crate::config::Format::Toml,
            Path::new("c.toml"),
            Path::new("/b"),
        )
        .unwrap()
    }

    fn caller(range: bool) -> Caller {
        let r = vec![SubordinateRange { start: 100000, count: 65536 }];
        Caller {
            uid: 1000,
            gid: 1000,
            name: "alice".into(),
            subuids: if range { r.clone() } else { vec![] },
            subgids: if range { r } else { vec![] },
        }
    }

    #[test]
    fn a_user_namespace_maps_the_caller_to_root_and_the_range_above() {
        let mut p = plan();
        adapt_for(&mut p, &caller(true)).unwrap();
        assert!(p.namespaces.iter().any(|ns| ns.kind == Namespace::User && ns.path.is_none()));
        assert_eq!(
            p.uid_mappings,
            [
                IdMap { container_id: 0, host_id: 1000, size: 1 },
                IdMap { container_id: 1, host_id: 100000, size: 65536 }
            ]
        );
        let mut p = plan();
        adapt_for(&mut p, &caller(false)).unwrap();
        assert_eq!(p.gid_mappings, [IdMap { container_id: 0, host_id: 1000, size: 1 }]);
    }

    #[test]
    fn without_a_range_another_user_inside_is_refused_with_what_to_do() {
        let mut p = plan();
        p.process.uid = 1000;
        let err = adapt_for(&mut p, &caller(false)).unwrap_err().to_string();
        assert!(err.contains("uid 1000 is not mapped") && err.contains("usermod --add-subuids"), "{err}");
        let mut p = plan();
        p.process.uid = 1000;
        adapt_for(&mut p, &caller(true)).unwrap();
    }

    #[test]
    fn maps_beyond_the_granted_range_are_refused() {
        let mut p = plan();
        p.namespaces.push(NamespaceSpec { kind: Namespace::User, path: None });
        p.uid_mappings = vec![
            IdMap { container_id: 0, host_id: 1000, size: 1 },
            IdMap { container_id: 1, host_id: 100000, size: 70000 },
        ];
        p.gid_mappings = vec![IdMap { container_id: 0, host_id: 1000, size: 1 }];
        let err = adapt_for(&mut p.clone(), &caller(true)).unwrap_err().to_string();
        assert!(err.contains("linux.uidMappings: host ids 100000..170000") && err.contains("100000..165536"), "{err}");
        p.uid_mappings[1].size = 65536;
        adapt_for(&mut p, &caller(true)).unwrap();
    }

    #[test]
    fn bridge_networks_go_through_pasta_and_host_network_binds_sys() {
        let mut p = plan();
        p.network = Network::Bridge { network: "backend".into(), ports: vec![] };
        let err = adapt_for(&mut p, &caller(true)).unwrap_err().to_string();
        assert!(err.contains("needs root") && err.contains("pasta"), "{err}");
        let port = crate::plan::PortMapping::parse("127.0.0.1:8080:80").unwrap();
        p.network = Network::Bridge { network: crate::plan::DEFAULT_NETWORK.into(), ports: vec![port] };
        adapt_for(&mut p, &caller(true)).unwrap();
        assert_eq!(p.network, Network::Pasta { ports: vec![port] });
        let mut p = plan();
        p.network = Network::Host;
        adapt_for(&mut p, &caller(true)).unwrap();
        let sys = p.mounts.iter().find(|m| m.destination == Path::new("/sys")).unwrap();
        assert_eq!((sys.fstype.as_str(), sys.source.as_path()), ("bind", Path::new("/sys")));
    }

    #[test]
    fn devpts_keeps_gid_5_only_where_it_is_mapped() {
        let devpts = |p: &Plan| p.mounts.iter().find(|m| m.fstype == "devpts").unwrap().data.clone();
        let mut p = plan();
        assert!(devpts(&p).contains("gid=5"), "{}", devpts(&p));
        adapt_for(&mut p, &caller(true)).unwrap();
        assert!(devpts(&p).contains("gid=5"));
        let mut p = plan();
        adapt_for(&mut p, &caller(false)).unwrap();
        assert!(!devpts(&p).contains("gid=") && devpts(&p).contains("newinstance"), "{}", devpts(&p));
    }
}
