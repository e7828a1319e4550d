//! What the runtime does differently without privilege on the host: who writes the id maps, and what
//! happens when there is no cgroup the user may write.
//!
//! Id maps (step 8): root writes them itself; an ordinary user may write only "my id is root" itself (with
//! `setgroups` denied first), and needs `newuidmap`/`newgidmap` for anything more (its subordinate ranges).
//! Cgroups (step 4): a rootless container gets one only where the user was delegated a subtree (cgroup v2,
//! as systemd does for a user's session) — on cgroup v1, or v2 without delegation, the kernel refuses the
//! `mkdir`, and the container runs without a cgroup, as runc and crun run it. Limits the config asks for are
//! then not applied: containy says which, once, or refuses with `--strict-limits`.

use std::path::{Path, PathBuf};

use nix::unistd::Pid;

use super::RuntimeError;
use crate::cgroups::{self, Cgroup, CgroupError, Layout};
use crate::plan::{Plan, Resources};
use crate::user_mapping;

/// Step 8: write the child's uid and gid maps — directly, or through the setuid helpers when an ordinary
/// user maps more than its own ids.
pub(super) fn write_id_maps(child: Pid, plan: &Plan) -> Result<(), RuntimeError> {
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    if uid.is_root() {
        user_mapping::write_id_maps(child, &plan.uid_mappings, &plan.gid_mappings, false)?;
        return Ok(());
    }
    let own_only = user_mapping::is_own_id_only(&plan.uid_mappings, uid.as_raw())
        && user_mapping::is_own_id_only(&plan.gid_mappings, gid.as_raw());
    if own_only {
        user_mapping::write_id_maps(child, &plan.uid_mappings, &plan.gid_mappings, true)?;
    } else {
        user_mapping::write_id_maps_with_helpers(child, &plan.uid_mappings, &plan.gid_mappings)
            .map_err(|e| RuntimeError::Rootless(e.to_string()))?;
    }
    Ok(())
}

/// Remove a container's state directory. Rootless, its overlay upper dir may hold files the container's
/// other ids own (subordinate ids on the host) and overlay's `work/work` (mode 0): the user cannot remove
/// those itself, so a child that is root of a user namespace with the same maps does it.
pub fn remove_state_dir(dir: &Path) -> std::io::Result<()> {
    if super::state::remove_usual(dir) {
        return Ok(());
    }
    let first = match std::fs::remove_dir_all(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => e,
    };
    if first.kind() != std::io::ErrorKind::PermissionDenied || nix::unistd::geteuid().is_root() {
        return Err(first);
    }
    let (uids, gids, _) = user_mapping::caller_maps();
    let code = user_mapping::run_as_mapped_root(&uids, &gids, || match std::fs::remove_dir_all(dir) {
        Ok(()) => 0,
        Err(_) => 1,
    })
    .map_err(std::io::Error::other)?;
    if code == 0 { Ok(()) } else { Err(first) }
}

/// `delete --force` of a running rootless container, which has no cgroup to empty: its processes end with
/// its init (the kernel kills the rest of the PID namespace as init exits), so wait — a bounded while — for
/// the init just killed to be gone, or they would briefly outlive the command. Root's containers are emptied
/// through their cgroup instead.
pub(super) fn wait_for_init(pidfd: &std::os::fd::OwnedFd) {
    if !crate::paths::rootless() {
        return;
    }
    // A pidfd becomes readable when its process has exited (also for a process that is not our child).
    let mut fds = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(pidfd), nix::poll::PollFlags::POLLIN)];
    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16));
}

/// Run `work` as root of a user namespace with the caller's maps (own id and subordinate range) when
/// containy is not root — how the rootless image verbs give files their owners (`podman unshare`) — or
/// simply run it as root. Returns its exit code.
pub fn as_mapped_root(work: impl FnOnce() -> i32) -> Result<i32, RuntimeError> {
    if nix::unistd::geteuid().is_root() {
        return Ok(work());
    }
    let (uids, gids, both) = user_mapping::caller_maps();
    crate::explain!(
        "rootless: become root of a user namespace for this command",
        format!("clone3(CLONE_NEWUSER), then {}", if both { "newuidmap/newgidmap" } else { "write uid_map/gid_map" }),
        "files can then be given the owners an image says, as ids of the user's subordinate range"
    );
    user_mapping::run_as_mapped_root(&uids, &gids, work).map_err(|e| RuntimeError::Rootless(e.to_string()))
}

/// Step 4: the container's cgroup with its limits written, or — rootless, where the kernel does not let
/// this user create one — none, after saying which limits go unapplied (an error with `strict`).
pub(super) fn create_cgroup(
    layout: &Layout,
    rel: &Path,
    resources: &Resources,
    strict: bool,
) -> Result<Option<Cgroup>, RuntimeError> {
    if !crate::paths::rootless() {
        return Ok(Some(Cgroup::create(layout, rel, resources)?));
    }
    let rel = match layout {
        Layout::V2 => delegated(rel).unwrap_or_else(|| rel.to_path_buf()),
        Layout::V1 { .. } => rel.to_path_buf(),
    };
    let denied = match Cgroup::create(layout, &rel, resources) {
        Ok(cgroup) => return Ok(Some(cgroup)),
        Err(CgroupError::Create { path, source }) if refused(&source) => path,
        Err(e) => return Err(e.into()),
    };
    let unapplied = requested_limits(resources);
    let why = format!(
        "{} is not writable for uid {} ({}: a rootless container gets a cgroup only from a delegated cgroup v2 subtree)",
        denied.display(),
        nix::unistd::geteuid(),
        match layout {
            Layout::V1 { .. } => "cgroup v1 is never delegated to users",
            Layout::V2 => "this user was not delegated a subtree",
        }
    );
    if !unapplied.is_empty() {
        if strict {
            return Err(RuntimeError::Rootless(format!(
                "--strict-limits: cannot apply {}: {why}",
                unapplied.join(", ")
            )));
        }
        eprintln!(
            "containy: warning: running without a cgroup, so these limits are NOT applied: {}; {why}",
            unapplied.join(", ")
        );
    }
    crate::explain!(
        "run without a cgroup (rootless)",
        format!("mkdir {}: permission denied", denied.display()),
        "an unprivileged user may only create cgroups in a subtree delegated to it; runc and crun run rootless \
         containers without one too"
    );
    Ok(None)
}

/// The kernel's ways of saying "not yours": no permission, a read-only cgroupfs, or no such hierarchy.
fn refused(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM | libc::EROFS | libc::ENOENT))
}

/// The limits a config asks for, by their cgroup names (empty: nothing would be missing without a cgroup).
pub fn requested_limits(r: &Resources) -> Vec<String> {
    let mut names = Vec::new();
    let mut add = |set: bool, name: &str| {
        if set {
            names.push(name.to_string());
        }
    };
    add(r.memory.is_some(), "memory");
    add(r.memory_swap.is_some(), "memory+swap");
    add(r.memory_reservation.is_some(), "memory reservation");
    add(r.pids.is_some(), "pids");
    add(r.cpu_quota.is_some(), "cpu quota");
    add(r.cpu_shares.is_some() || r.cpu_idle.is_some(), "cpu weight");
    add(r.cpuset_cpus.is_some() || r.cpuset_mems.is_some(), "cpuset");
    add(r.io_weight.is_some() || !r.io_throttles.is_empty(), "io");
    add(!r.hugetlb.is_empty(), "hugetlb");
    add(!r.unified.is_empty(), "unified keys");
    add(r.swappiness.is_some(), "swappiness");
    names
}

/// Has this user been delegated a cgroup v2 subtree (so rootless containers get their limits)?
pub fn has_delegated_cgroup() -> bool {
    matches!(cgroups::detect(), Layout::V2) && delegated(Path::new("")).is_some()
}

/// cgroup v2: the container's cgroup goes below the topmost ancestor of containy's own cgroup that this
/// user owns — the subtree delegated to it (systemd chowns `user@UID.service`; the VM tests make one the
/// same way). `None`: nothing is delegated.
fn delegated(rel: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let own = crate::sys::read_kernel_file("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::"))?.trim().trim_start_matches('/').to_string();
    let uid = nix::unistd::geteuid().as_raw();
    let root = Path::new(cgroups::CGROUP_ROOT);
    let mut top = None;
    let mut path = PathBuf::new();
    for part in Path::new(&own).components() {
        path.push(part);
        let owned = std::fs::metadata(root.join(&path).join("cgroup.procs")).is_ok_and(|m| m.uid() == uid);
        if owned && top.is_none() {
            top = Some(path.clone());
        }
    }
    Some(top?.join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_a_config_asks_for_are_named() {
        assert!(requested_limits(&Resources::default()).is_empty());
        let r = Resources { memory: Some(1 << 20), pids: Some(10), ..Default::default() };
        assert_eq!(requested_limits(&r), ["memory", "pids"]);
    }
}
