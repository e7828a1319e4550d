//! Linux security modules: the AppArmor profile or SELinux label the container's program runs under.
//!
//! An LSM confines a process by a label the kernel checks on every access, on top of uids and capabilities.
//! A process does not switch its own label mid-flight: it asks for one *at its next execve* by writing to
//! `/proc/self/attr/<lsm>/exec` — so the write is the last thing before `execve`, after which the new program
//! starts confined from its first instruction. Which LSMs are active is a boot-time choice of the host; when
//! the one a config names is not enabled there is nothing to confine with, and containy — like crun — runs
//! the program unconfined and says so in `--explain`, rather than failing bundles written for other hosts.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    #[error("cannot set the {lsm} {what} {value:?} for execve (write {path})")]
    Write {
        lsm: &'static str,
        what: &'static str,
        value: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.starts_with('Y'))
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Ask for `profile` (AppArmor) and `label` (SELinux) at the next `execve`, where those LSMs are enabled.
pub fn set_exec_labels(profile: Option<&str>, label: Option<&str>) -> Result<(), LsmError> {
    if let Some(profile) = profile.filter(|p| !p.is_empty()) {
        if apparmor_enabled() {
            crate::explain!(
                format!("confine the program with the AppArmor profile {profile:?}"),
                "write \"exec PROFILE\" to /proc/self/attr/apparmor/exec",
                "the profile takes effect at execve: the program is confined from its first instruction"
            );
            // Kernels before 5.8 have only the shared attr/exec file.
            let path = ["/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"]
                .into_iter()
                .find(|p| Path::new(p).exists())
                .unwrap_or("/proc/self/attr/exec");
            write_attr("AppArmor", "profile", path, &format!("exec {profile}"), profile)?;
        } else {
            crate::explain!(
                format!("AppArmor profile {profile:?}: not applied"),
                "/sys/module/apparmor/parameters/enabled is not Y",
                "AppArmor is not enabled on this host, so there is nothing to confine with (crun does the same)"
            );
        }
    }
    if let Some(label) = label.filter(|l| !l.is_empty()) {
        if selinux_enabled() {
            crate::explain!(
                format!("run the program with the SELinux label {label:?}"),
                "write LABEL to /proc/self/attr/exec",
                "the label takes effect at execve"
            );
            write_attr("SELinux", "label", "/proc/self/attr/exec", label, label)?;
        } else {
            crate::explain!(
                format!("SELinux label {label:?}: not applied"),
                "/sys/fs/selinux is not mounted",
                "SELinux is not enabled on this host, so there is nothing to label with"
            );
        }
    }
    Ok(())
}

fn write_attr(lsm: &'static str, what: &'static str, path: &str, data: &str, value: &str) -> Result<(), LsmError> {
    std::fs::write(path, data).map_err(|source| LsmError::Write {
        lsm,
        what,
        value: value.to_string(),
        path: path.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_asked_is_nothing_done() {
        assert!(set_exec_labels(None, None).is_ok());
        assert!(set_exec_labels(Some(""), Some("")).is_ok());
    }

    #[test]
    fn a_profile_on_a_host_without_the_lsm_is_not_an_error() {
        // On a host with AppArmor enabled this would try to confine the test process: only check the other case.
        if !apparmor_enabled() {
            assert!(set_exec_labels(Some("docker-default"), None).is_ok());
        }
        if !selinux_enabled() {
            assert!(set_exec_labels(None, Some("system_u:system_r:container_t:s0")).is_ok());
        }
    }
}
