//! Kernel parameters of the container's own namespaces: `net.ipv4.ip_forward = 1` is a write of `1` to
//! `/proc/sys/net/ipv4/ip_forward`.
//!
//! `/proc/sys` shows the parameters of the writer's namespaces, so these writes happen inside the container,
//! after `pivot_root` (the container's own `/proc` is mounted) and before the read-only paths seal `/proc/sys`.
//! Which keys are allowed is decided when the Plan is validated (`plan::check_sysctl`): only those that belong to
//! a namespace the container has of its own. See `man 5 proc` (/proc/sys) and `man 8 sysctl`.

#[derive(Debug, thiserror::Error)]
#[error("sysctl {key} (write {path})")]
pub struct SysctlError {
    pub key: String,
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// Write each parameter, in order.
pub fn write_all(sysctl: &[(String, String)]) -> Result<(), SysctlError> {
    for (key, value) in sysctl {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        crate::explain!(
            format!("sysctl {key} = {value}"),
            format!("write {path}"),
            "a kernel parameter of one of the container's own namespaces"
        );
        std::fs::write(&path, value).map_err(|source| SysctlError { key: key.clone(), path, source })?;
    }
    Ok(())
}
