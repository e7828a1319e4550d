//! OCI `linux.namespaces`, id mappings and UTS names -> the plan's namespaces.
//!
//! Which namespaces a container gets decides what else it may ask for, so these are lowered first: id
//! mappings are written into a user namespace the container creates (without one there is nowhere to write
//! them), and a hostname is set in the container's own UTS namespace (without one it would rename the host).
//! A namespace listed with a `path` is joined (`setns(2)`), otherwise created (`clone(2)` flags); one not
//! listed at all is shared with the host — for `network` that is host networking.

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespace, LinuxNamespaceType};

use super::convert::{Invalid, invalid, no_nul};
use crate::plan::{IdMap, Namespace, NamespaceSpec};

/// The namespaces in the order listed; a kind may appear once, and `mount` must appear: the root
/// filesystem is assembled in the container's own mount namespace, never the host's.
pub(super) fn lower_namespaces(namespaces: &[LinuxNamespace]) -> Result<Vec<NamespaceSpec>, Invalid> {
    let mut lowered: Vec<NamespaceSpec> = Vec::new();
    for (i, ns) in namespaces.iter().enumerate() {
        let kind = match ns.typ() {
            LinuxNamespaceType::User => Namespace::User,
            LinuxNamespaceType::Pid => Namespace::Pid,
            LinuxNamespaceType::Network => Namespace::Network,
            LinuxNamespaceType::Ipc => Namespace::Ipc,
            LinuxNamespaceType::Uts => Namespace::Uts,
            LinuxNamespaceType::Cgroup => Namespace::Cgroup,
            LinuxNamespaceType::Mount => Namespace::Mount,
            LinuxNamespaceType::Time => Namespace::Time,
        };
        if lowered.iter().any(|earlier| earlier.kind == kind) {
            return Err(invalid(
                format!("linux.namespaces[{i}].type"),
                format!("{kind:?} namespace is given twice").to_lowercase(),
            ));
        }
        // An empty path is how some generators say "create one", as in runc.
        let path = ns.path().clone().filter(|p| !p.as_os_str().is_empty());
        if let Some(path) = &path
            && !path.is_absolute()
        {
            return Err(invalid(
                format!("linux.namespaces[{i}].path"),
                format!("must be an absolute path such as /proc/<pid>/ns/<type>, got {path:?}"),
            ));
        }
        lowered.push(NamespaceSpec { kind, path });
    }
    Ok(lowered)
}

pub(super) fn no_linux_section() -> Invalid {
    invalid("linux", "is required on Linux: it lists the container's namespaces")
}

/// Id mappings are written into a user namespace the container creates; without one there is nothing to
/// write them to, and a joined one already has its mappings.
pub(super) fn lower_id_mappings(
    field: &str,
    mappings: &Option<Vec<LinuxIdMapping>>,
    user_ns: Option<&NamespaceSpec>,
) -> Result<Vec<IdMap>, Invalid> {
    let mappings = mappings.as_deref().unwrap_or_default();
    match user_ns {
        None if !mappings.is_empty() => {
            return Err(invalid(
                field,
                "needs a user namespace: add {\"type\": \"user\"} to linux.namespaces, or remove the mappings",
            ));
        }
        Some(NamespaceSpec { path: Some(path), .. }) if !mappings.is_empty() => {
            return Err(invalid(
                field,
                format!("cannot be set on the user namespace joined at {path:?}: it has its mappings already"),
            ));
        }
        Some(NamespaceSpec { path: None, .. }) if mappings.is_empty() => {
            return Err(invalid(
                field,
                "is required when a new user namespace is created: nobody would have an id inside it",
            ));
        }
        _ => {}
    }
    let mut lowered = Vec::new();
    for (i, m) in mappings.iter().enumerate() {
        let (container_id, host_id, size) = (m.container_id(), m.host_id(), m.size());
        let overflows = |start: u32| start.checked_add(size).is_none();
        if size == 0 || overflows(container_id) || overflows(host_id) {
            return Err(invalid(
                format!("{field}[{i}]"),
                format!(
                    "{container_id} {host_id} {size} is not a valid range: size must be > 0 and the range must end below 2^32"
                ),
            ));
        }
        lowered.push(IdMap { container_id, host_id, size });
    }
    Ok(lowered)
}

/// Without its own UTS namespace the container would rename the host.
pub(super) fn lower_uts_name(field: &str, name: &Option<String>, uts: bool) -> Result<Option<String>, Invalid> {
    let Some(name) = name.as_ref().filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if !uts {
        return Err(invalid(
            field,
            "needs a UTS namespace, or the host's name would change: add {\"type\": \"uts\"} to linux.namespaces",
        ));
    }
    no_nul(field, name)?;
    // The kernel's __NEW_UTS_LEN.
    if name.len() > 64 {
        return Err(invalid(field, format!("is {} bytes; the kernel allows at most 64", name.len())));
    }
    Ok(Some(name.clone()))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::{Value, json};

    use super::*;
    use crate::oci::convert::tests::{field_of, lower_with};
    use crate::plan::Network;

    fn push_namespace(v: &mut Value, ns: Value) {
        v["linux"]["namespaces"].as_array_mut().unwrap().push(ns);
    }

    #[test]
    fn namespaces_created_joined_and_doubled() {
        let plan = lower_with(|v| push_namespace(v, json!({"type": "network", "path": "/proc/42/ns/net"}))).unwrap();
        assert!(
            plan.namespaces
                .contains(&NamespaceSpec { kind: Namespace::Network, path: Some(PathBuf::from("/proc/42/ns/net")) })
        );
        assert_eq!(plan.network, Network::None);
        let plan = lower_with(|v| push_namespace(v, json!({"type": "ipc", "path": ""}))).unwrap();
        assert_eq!(plan.namespaces[2], NamespaceSpec { kind: Namespace::Ipc, path: None });

        let err = lower_with(|v| push_namespace(v, json!({"type": "mount"}))).unwrap_err();
        assert_eq!(err, invalid("linux.namespaces[2].type", "mount namespace is given twice"));
        assert_eq!(
            field_of(|v| push_namespace(v, json!({"type": "pid", "path": "ns/pid"}))),
            "linux.namespaces[2].path"
        );
        assert_eq!(field_of(|v| v.as_object_mut().unwrap().remove("linux").map(drop).unwrap()), "linux");
    }

    #[test]
    fn id_mappings_need_a_created_user_namespace() {
        let maps = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        let plan = lower_with(|v| {
            push_namespace(v, json!({"type": "user"}));
            v["linux"]["uidMappings"] = maps.clone();
            v["linux"]["gidMappings"] = maps.clone();
        })
        .unwrap();
        assert_eq!(plan.uid_mappings, [IdMap { container_id: 0, host_id: 100_000, size: 65_536 }]);
        assert_eq!(plan.gid_mappings, plan.uid_mappings);

        assert_eq!(field_of(|v| push_namespace(v, json!({"type": "user"}))), "linux.uidMappings");
        assert_eq!(field_of(|v| v["linux"]["gidMappings"] = maps.clone()), "linux.gidMappings");
        assert_eq!(
            field_of(|v| {
                push_namespace(v, json!({"type": "user", "path": "/proc/1/ns/user"}));
                v["linux"]["uidMappings"] = maps.clone();
            }),
            "linux.uidMappings"
        );
        let bad = json!([{"containerID": 0, "hostID": 4294967295u32, "size": 2}]);
        assert_eq!(
            field_of(|v| {
                push_namespace(v, json!({"type": "user"}));
                v["linux"]["uidMappings"] = bad;
                v["linux"]["gidMappings"] = maps.clone();
            }),
            "linux.uidMappings[0]"
        );
    }

    #[test]
    fn hostname_needs_a_uts_namespace() {
        let plan = lower_with(|v| {
            v["hostname"] = json!("box");
            v["domainname"] = json!("example.org");
        })
        .unwrap();
        assert_eq!(plan.hostname.as_deref(), Some("box"));
        assert_eq!(plan.domainname.as_deref(), Some("example.org"));
        let no_uts = |v: &mut Value| v["linux"]["namespaces"] = json!([{"type": "mount"}]);
        assert_eq!(
            field_of(|v| {
                no_uts(v);
                v["domainname"] = json!("example.org");
            }),
            "domainname"
        );
        // An empty name sets nothing, so it needs nothing.
        assert_eq!(
            lower_with(|v| {
                no_uts(v);
                v["hostname"] = json!("");
            })
            .unwrap()
            .hostname,
            None
        );
        assert_eq!(field_of(|v| v["hostname"] = json!("x".repeat(65))), "hostname");
    }
}
