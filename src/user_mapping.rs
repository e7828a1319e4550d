//! User namespaces: uid and gid maps.
//!
//! A new user namespace starts with no ids at all; `/proc/<pid>/uid_map` and `gid_map` say which host ids
//! appear inside, as lines of `inside-start host-start count`. Each file can be written exactly once, and
//! only from outside (by the parent, after `clone3`, before the child does anything that needs an id).
//! `setgroups` must be set to `deny` before an unprivileged process may write `gid_map` (otherwise dropping
//! groups could grant access, see `man 7 user_namespaces`). Root in the container is then an ordinary,
//! unprivileged uid on the host.
//!
//! An unprivileged user may write only one line, mapping its own id. More ids — so that files owned by
//! uid 1000 in an image have an owner inside — come from the ranges root granted it in `/etc/subuid` and
//! `/etc/subgid` (`name:start:count`), and only the setuid helpers `newuidmap`/`newgidmap` (Debian's
//! `uidmap` package) may write them; they check the lines against those files. So the order is: read the
//! ranges (before clone, to fail early), then after clone write the maps directly (root, or one line) or
//! through the helpers (which leave `setgroups` alone: the ranges are the user's to use).

use std::path::{Path, PathBuf};

use nix::unistd::Pid;

use crate::plan::IdMap;

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path} ({content:?})")]
pub struct MappingError {
    pub path: PathBuf,
    pub content: String,
    #[source]
    pub source: std::io::Error,
}

#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error(
        "cannot run {helper} to map ids {maps:?} (install the 'uidmap' package: apt-get install uidmap, or map only \
         your own id)"
    )]
    Missing {
        helper: &'static str,
        maps: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{helper} refused to map {maps:?} for pid {pid}: {stderr} (check your lines in /etc/subuid and /etc/subgid)"
    )]
    Refused { helper: &'static str, maps: String, pid: i32, stderr: String },
    #[error("cannot make a user namespace to work in ({op})")]
    Unshare {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// One range of subordinate ids granted to a user (`/etc/subuid` or `/etc/subgid`: `name-or-uid:start:count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubordinateRange {
    pub start: u32,
    pub count: u32,
}

/// The ranges `text` (an `/etc/subuid`-format file) grants to the user `name` with id `id`, in file order.
pub fn parse_subordinate(text: &str, name: &str, id: u32) -> Vec<SubordinateRange> {
    let id = id.to_string();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            let (who, start, count) = (fields.next()?, fields.next()?, fields.next()?);
            if who != name && who != id {
                return None;
            }
            let range = SubordinateRange { start: start.trim().parse().ok()?, count: count.trim().parse().ok()? };
            (range.count > 0).then_some(range)
        })
        .collect()
}

/// The subordinate ranges the file at `path` grants (none when it is missing or unreadable).
pub fn subordinate_ranges(path: &Path, name: &str, id: u32) -> Vec<SubordinateRange> {
    std::fs::read_to_string(path).map(|text| parse_subordinate(&text, name, id)).unwrap_or_default()
}

/// Do these maps say only "my own id is root" (what an unprivileged process may write itself)?
pub fn is_own_id_only(maps: &[IdMap], own: u32) -> bool {
    matches!(maps, [IdMap { host_id, size: 1, .. }] if *host_id == own)
}

/// Write the child's maps through `newuidmap PID inside host count …` and `newgidmap`, which check them
/// against `/etc/subuid` and `/etc/subgid`.
pub fn write_id_maps_with_helpers(child: Pid, uid_maps: &[IdMap], gid_maps: &[IdMap]) -> Result<(), HelperError> {
    for (helper, maps) in [("newuidmap", uid_maps), ("newgidmap", gid_maps)] {
        let mut args = vec![child.to_string()];
        for m in maps {
            args.extend([m.container_id.to_string(), m.host_id.to_string(), m.size.to_string()]);
        }
        let text = map_text(maps).trim().replace('\n', "; ");
        crate::explain!(
            format!("map ids through {helper}: {text}"),
            format!("{helper} {}", args.join(" ")),
            "only this setuid helper may map the ranges /etc/subuid and /etc/subgid grant an ordinary user"
        );
        let out = std::process::Command::new(helper)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| HelperError::Missing { helper, maps: text.clone(), source })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(HelperError::Refused { helper, maps: text, pid: child.as_raw(), stderr });
        }
    }
    Ok(())
}

/// The maps a rootless user gets: its own id as root, and ids `1..` from its first subordinate range (none
/// without one). The third value says whether both ranges exist.
pub fn caller_maps() -> (Vec<IdMap>, Vec<IdMap>, bool) {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let name = crate::accounts::user_by_uid(uid).map(|u| u.name).unwrap_or_default();
    let subuids = subordinate_ranges(Path::new("/etc/subuid"), &name, uid);
    let subgids = subordinate_ranges(Path::new("/etc/subgid"), &name, uid);
    let maps = |own: u32, ranges: &[SubordinateRange]| {
        let mut maps = vec![IdMap { container_id: 0, host_id: own, size: 1 }];
        if let Some(r) = ranges.first() {
            maps.push(IdMap { container_id: 1, host_id: r.start, size: r.count });
        }
        maps
    };
    let both = !subuids.is_empty() && !subgids.is_empty();
    (maps(uid, &subuids), maps(gid, &subgids), both)
}

/// Run `work` in a child process that is root of a new user namespace with these maps (what `podman
/// unshare` does): it may then own files as any mapped id — extract an image's files with their owners,
/// remove a container's files however they are owned. Returns the child's exit code. The caller must be
/// single-threaded (the child is a `clone3` copy of it).
pub fn run_as_mapped_root(
    uid_maps: &[IdMap],
    gid_maps: &[IdMap],
    work: impl FnOnce() -> i32,
) -> Result<i32, HelperError> {
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| HelperError::Unshare { op: "pipe2", source: e.into() })?;
    let forked = crate::sys::clone3(libc::CLONE_NEWUSER as u64, None)
        .map_err(|source| HelperError::Unshare { op: "clone3(CLONE_NEWUSER)", source })?;
    match forked {
        crate::sys::Forked::Child => {
            drop(write_end);
            // Wait until the parent wrote the maps: EOF (or a byte) means go.
            let mut byte = [0u8; 1];
            let _ = nix::unistd::read(&read_end, &mut byte);
            drop(read_end);
            let code = if byte[0] == 1 { work() } else { 125 };
            use std::io::Write;
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
            crate::sys::exit_now(code)
        }
        crate::sys::Forked::Parent(child) => {
            drop(read_end);
            let own_only = is_own_id_only(uid_maps, nix::unistd::geteuid().as_raw())
                && is_own_id_only(gid_maps, nix::unistd::getegid().as_raw());
            let written = if own_only {
                write_id_maps(child, uid_maps, gid_maps, true).map_err(|e| HelperError::Refused {
                    helper: "uid_map",
                    maps: e.content.clone(),
                    pid: child.as_raw(),
                    stderr: e.to_string(),
                })
            } else {
                write_id_maps_with_helpers(child, uid_maps, gid_maps)
            };
            let _ = nix::unistd::write(&write_end, &[u8::from(written.is_ok())]);
            drop(write_end);
            let status = nix::sys::wait::waitpid(child, None);
            written?;
            Ok(match status {
                Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => code,
                Ok(nix::sys::wait::WaitStatus::Signaled(_, signal, _)) => 128 + signal as i32,
                _ => 125,
            })
        }
    }
}

/// The text of a `uid_map` / `gid_map` file.
pub fn map_text(maps: &[IdMap]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size)).collect()
}

/// Write the child's id maps (the parent's job). `deny_setgroups` for unprivileged callers.
pub fn write_id_maps(
    child: Pid,
    uid_maps: &[IdMap],
    gid_maps: &[IdMap],
    deny_setgroups: bool,
) -> Result<(), MappingError> {
    let dir = PathBuf::from(format!("/proc/{child}"));
    let mut writes = Vec::new();
    if deny_setgroups {
        writes.push((dir.join("setgroups"), "deny".to_string()));
    }
    writes.push((dir.join("uid_map"), map_text(uid_maps)));
    writes.push((dir.join("gid_map"), map_text(gid_maps)));
    for (path, content) in writes {
        crate::explain!(
            format!("map ids: {}", content.trim().replace('\n', "; ")),
            format!("write {}", path.display()),
            "a new user namespace has no ids until its parent maps some; root inside is this host id outside"
        );
        std::fs::write(&path, &content).map_err(|source| MappingError { path, content, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_text_has_one_line_per_range() {
        let maps = [
            IdMap { container_id: 0, host_id: 100000, size: 1 },
            IdMap { container_id: 1, host_id: 200001, size: 65535 },
        ];
        assert_eq!(map_text(&maps), "0 100000 1\n1 200001 65535\n");
    }

    #[test]
    fn subordinate_ranges_match_by_name_or_uid() {
        let text = "alice:100000:65536\n1001:300000:1000\nbob:200000:65536\nbroken\nalice:x:1\nalice:5:0\n";
        assert_eq!(
            parse_subordinate(text, "alice", 1001),
            [SubordinateRange { start: 100000, count: 65536 }, SubordinateRange { start: 300000, count: 1000 }]
        );
        assert!(parse_subordinate(text, "carol", 7).is_empty());
    }

    #[test]
    fn only_a_single_line_of_ones_own_id_needs_no_helper() {
        let own = [IdMap { container_id: 0, host_id: 1000, size: 1 }];
        assert!(is_own_id_only(&own, 1000));
        assert!(!is_own_id_only(&own, 1001));
        let more = [own[0], IdMap { container_id: 1, host_id: 100000, size: 65536 }];
        assert!(!is_own_id_only(&more, 1000));
    }
}
