//! Capabilities: root's powers, cut into ~41 pieces.
//!
//! Linux splits what root may do into capabilities (`CAP_SYS_ADMIN`, `CAP_NET_ADMIN`, `CAP_MKNOD`, …) and
//! keeps five sets per thread: *bounding* (the most it can ever get back through `execve`), *permitted*
//! (what it may use), *effective* (what it uses now), *inheritable* and *ambient* (what survives `execve`
//! into programs without file capabilities). The order matters: the bounding set is cut first — that needs
//! `CAP_SETPCAP` in the effective set, which the later steps take away — then effective before permitted
//! (effective must stay a subset of permitted at every step), then inheritable, then ambient (which must be
//! a subset of permitted and inheritable). See `man 7 capabilities`.

use caps::{CapSet, Capability, CapsHashSet};

use crate::plan::Capabilities;

#[derive(Debug, thiserror::Error)]
pub enum CapabilityError {
    #[error("unknown capability {name:?}: see `man 7 capabilities` for the names (e.g. CAP_NET_ADMIN)")]
    Unknown { name: String },
    #[error("prctl(PR_SET_NO_NEW_PRIVS, 1)")]
    NoNewPrivs {
        #[source]
        source: nix::Error,
    },
    #[error("cannot set the {set} capability set")]
    Set {
        set: &'static str,
        #[source]
        source: caps::errors::CapsError,
    },
}

/// The capabilities this kernel knows (`/proc/sys/kernel/cap_last_cap`, read once per process); newer
/// names are skipped.
fn supported() -> &'static CapsHashSet {
    static SUPPORTED: std::sync::OnceLock<CapsHashSet> = std::sync::OnceLock::new();
    SUPPORTED.get_or_init(|| caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all()))
}

/// Parse names into a set, dropping those the running kernel does not know (as runc does).
pub fn to_set(names: &[String], supported: &CapsHashSet) -> Result<CapsHashSet, CapabilityError> {
    let mut set = CapsHashSet::new();
    for name in names {
        let cap: Capability = name.parse().map_err(|_| CapabilityError::Unknown { name: name.clone() })?;
        if supported.contains(&cap) {
            set.insert(cap);
        }
    }
    Ok(set)
}

/// Check the names without touching the process: for validation in the parent, before clone.
pub fn validate(caps: &Capabilities) -> Result<(), CapabilityError> {
    let all = caps::all();
    for names in [&caps.bounding, &caps.effective, &caps.permitted, &caps.inheritable, &caps.ambient] {
        to_set(names, &all)?;
    }
    Ok(())
}

fn set(set: CapSet, name: &'static str, value: &CapsHashSet) -> Result<(), CapabilityError> {
    caps::set(None, set, value).map_err(|source| CapabilityError::Set { set: name, source })
}

/// Step one, while still privileged: cut the bounding set (needs `CAP_SETPCAP` in the effective set).
pub fn drop_bounding(plan: &Capabilities) -> Result<(), CapabilityError> {
    let supported = supported();
    let bounding = to_set(&plan.bounding, supported)?;
    crate::explain!(
        format!("cut the bounding set to {} capabilities", bounding.len()),
        "prctl(PR_CAPBSET_DROP) for every other capability",
        "the bounding set is the ceiling: nothing dropped here can come back, not even through a setuid binary"
    );
    for cap in supported.difference(&bounding) {
        caps::drop(None, CapSet::Bounding, *cap).map_err(|source| CapabilityError::Set { set: "bounding", source })?;
    }
    Ok(())
}

/// Step two, after `setuid` (with `PR_SET_KEEPCAPS`): effective, permitted, inheritable, then ambient.
pub fn set_sets(plan: &Capabilities) -> Result<(), CapabilityError> {
    let supported = supported();
    let effective = to_set(&plan.effective, supported)?;
    let permitted = to_set(&plan.permitted, supported)?;
    let inheritable = to_set(&plan.inheritable, supported)?;
    let ambient = to_set(&plan.ambient, supported)?;
    crate::explain!(
        format!(
            "set effective ({}), permitted ({}), inheritable ({}), ambient ({}) capabilities",
            effective.len(),
            permitted.len(),
            inheritable.len(),
            ambient.len()
        ),
        "capset(2), prctl(PR_CAP_AMBIENT)",
        "effective is narrowed first so it stays a subset of permitted at every step"
    );
    let current = caps::read(None, CapSet::Effective).unwrap_or_default();
    set(CapSet::Effective, "effective", &current.intersection(&permitted).copied().collect())?;
    set(CapSet::Permitted, "permitted", &permitted)?;
    set(CapSet::Effective, "effective", &effective)?;
    set(CapSet::Inheritable, "inheritable", &inheritable)?;
    caps::clear(None, CapSet::Ambient).map_err(|source| CapabilityError::Set { set: "ambient", source })?;
    // The kernel only lets a capability be ambient when it is permitted *and* inheritable. Configs (runc's
    // own `spec` among them) often list ambient capabilities without inheritable ones; like runc, containy
    // raises what it may and skips the rest rather than widening the inheritable set (CVE-2022-29162).
    for cap in ambient.iter().filter(|c| permitted.contains(c) && inheritable.contains(c)) {
        caps::raise(None, CapSet::Ambient, *cap).map_err(|source| CapabilityError::Set { set: "ambient", source })?;
    }
    Ok(())
}

/// `PR_SET_NO_NEW_PRIVS`: from now on `execve` can never raise privileges (setuid bits and file
/// capabilities are ignored), and any process may load a seccomp filter.
pub fn set_no_new_privs() -> Result<(), CapabilityError> {
    crate::explain!(
        "forbid gaining privileges",
        "prctl(PR_SET_NO_NEW_PRIVS, 1)",
        "setuid binaries and file capabilities can no longer raise privileges after execve"
    );
    nix::sys::prctl::set_no_new_privs().map_err(|source| CapabilityError::NoNewPrivs { source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_names_are_refused() {
        let all = caps::all();
        let set = to_set(&["CAP_CHOWN".into(), "CAP_KILL".into()], &all).unwrap();
        assert_eq!(set.len(), 2);
        let err = to_set(&["CAP_FLY".into()], &all).unwrap_err();
        assert!(err.to_string().contains("CAP_FLY"), "{err}");
    }

    #[test]
    fn capabilities_unknown_to_the_kernel_are_skipped() {
        let only_chown: CapsHashSet = [Capability::CAP_CHOWN].into_iter().collect();
        let set = to_set(&["CAP_CHOWN".into(), "CAP_BPF".into()], &only_chown).unwrap();
        assert_eq!(set, only_chown);
    }
}
