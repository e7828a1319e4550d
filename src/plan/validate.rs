//! The one check every Plan passes before anything runs, whatever produced it.
//!
//! A Plan is put together from several sources — a friendly config or an OCI `config.json`, an image's config,
//! command-line flags, an API request — and a setting that is right in one of them can be wrong in the sum:
//! `sysctl net.*` is fine in a config with its own network namespace and writes the *host's* kernel once `--net
//! host` removes that namespace. So the parsers check what they can point at (file, line, field), and this
//! module checks the finished whole: it runs after the last override, and its result, a [`ValidPlan`], can no
//! longer be changed — the runtime takes nothing else. Every rule here is about data only (no file is read), so
//! a stored Plan can be checked again when it is loaded.
//!
//! The rules that matter most keep settings meant for a container's own namespace off the host's: hostname and
//! domain name need a UTS namespace, sysctls the namespace they belong to, network devices and published ports
//! a network namespace, clock offsets a new time namespace, id maps a new user namespace.

use std::ops::Deref;

use serde::{Deserialize, Serialize};

use super::{Namespace, NamespaceSpec, Network, Plan, Process, RootfsMode, RootfsSource, check_sysctl};

/// A setting of the finished Plan that cannot be run as it is: which one, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct PlanError {
    /// The setting, by the name the friendly config and the OCI spec share where they do (`hostname`,
    /// `sysctl.net.ipv4.ip_forward`, `process.cwd`).
    pub field: String,
    pub problem: String,
}

fn refuse<T>(field: impl Into<String>, problem: impl Into<String>) -> Result<T, PlanError> {
    Err(PlanError { field: field.into(), problem: problem.into() })
}

/// A Plan that passed [`Plan::validate`]: read-only from here on (it derefs to `&Plan`, never `&mut Plan`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ValidPlan(Plan);

impl Deref for ValidPlan {
    type Target = Plan;
    fn deref(&self) -> &Plan {
        &self.0
    }
}

/// A stored Plan is checked again as it is read back: the state directory is trusted, but cheap doubt is cheap.
impl<'de> Deserialize<'de> for ValidPlan {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Plan::deserialize(deserializer)?.validate().map_err(serde::de::Error::custom)
    }
}

impl Plan {
    /// Check the finished Plan as a whole; the only way to a [`ValidPlan`].
    pub fn validate(self) -> Result<ValidPlan, PlanError> {
        check_process(&self.process, "process")?;
        check_namespaces(&self)?;
        check_names(&self)?;
        check_network(&self)?;
        for (key, value) in &self.sysctl {
            check_sysctl(key, value, &self.namespaces)
                .map_err(|problem| PlanError { field: format!("sysctl.{key}"), problem: host_hint(problem, &self) })?;
        }
        check_rootfs(&self)?;
        self.limits.validate().map_err(|e| PlanError { field: format!("limits.{}", e.field), problem: e.message })?;
        for (i, mount) in self.mounts.iter().enumerate() {
            if !mount.destination.is_absolute() {
                return refuse(
                    format!("mounts[{i}].destination"),
                    format!("{} is not an absolute path inside the container", mount.destination.display()),
                );
            }
        }
        for (field, paths) in [("masked_paths", &self.masked_paths), ("readonly_paths", &self.readonly_paths)] {
            if let Some(p) = paths.iter().find(|p| !p.is_absolute()) {
                return refuse(field, format!("{} is not an absolute path inside the container", p.display()));
            }
        }
        for (i, device) in self.devices.iter().enumerate() {
            if !device.path.is_absolute() {
                return refuse(format!("devices[{i}].path"), format!("{} is not absolute", device.path.display()));
            }
        }
        Ok(ValidPlan(self))
    }
}

/// What `exec` runs is checked by the same rules as a container's own process.
pub fn check_process(process: &Process, field: &str) -> Result<(), PlanError> {
    if process.args.is_empty() || process.args[0].is_empty() {
        return refuse(format!("{field}.args"), "no command to run: give at least the program");
    }
    if !process.cwd.is_absolute() {
        return refuse(
            format!("{field}.cwd"),
            format!("{} is not an absolute path inside the container", process.cwd.display()),
        );
    }
    if let Some(var) = process.env.iter().find(|v| !v.contains('=') || v.starts_with('=')) {
        return refuse(format!("{field}.env"), format!("{var:?} is not KEY=VALUE"));
    }
    if let Some(adj) = process.oom_score_adj.filter(|a| !(-1000..=1000).contains(a)) {
        return refuse(format!("{field}.oom_score_adj"), format!("{adj} is outside -1000..=1000"));
    }
    Ok(())
}

fn has(plan: &Plan, kind: Namespace) -> Option<&NamespaceSpec> {
    plan.namespaces.iter().find(|n| n.kind == kind)
}

fn creates(plan: &Plan, kind: Namespace) -> bool {
    has(plan, kind).is_some_and(|n| n.path.is_none())
}

/// A check that fails because the network is the host's says where that came from.
fn host_hint(problem: String, plan: &Plan) -> String {
    if plan.network == Network::Host {
        format!("{problem}, and network \"host\" (or --net host) shares the host's: it would change the host")
    } else {
        problem
    }
}

fn check_namespaces(plan: &Plan) -> Result<(), PlanError> {
    let mut seen = Vec::new();
    for ns in &plan.namespaces {
        if seen.contains(&ns.kind) {
            return refuse("namespaces", format!("{} is listed twice", ns.kind.proc_name()));
        }
        seen.push(ns.kind);
        if let Some(path) = &ns.path
            && !path.is_absolute()
        {
            return refuse(
                format!("namespaces.{}", ns.kind.proc_name()),
                format!("{} is not an absolute path", path.display()),
            );
        }
    }
    if has(plan, Namespace::Mount).is_none() {
        // Without a mount namespace the container shares the host's mount table: containy only chroots into a
        // directory root and makes no mount at all — so nothing may ask for one (it would land on the host).
        let why = "needs the container's own mount namespace: without one it would change the host's mount table";
        let asked = [
            ("mounts", !plan.mounts.is_empty()),
            ("masked_paths", !plan.masked_paths.is_empty()),
            ("readonly_paths", !plan.readonly_paths.is_empty()),
            ("devices", !plan.devices.is_empty()),
            ("rootfs.readonly", plan.rootfs.readonly),
            ("sysctl", !plan.sysctl.is_empty()),
            ("rootfs.mode", plan.rootfs.mode != RootfsMode::Direct),
        ];
        if let Some((field, _)) = asked.iter().find(|(_, asked)| *asked) {
            return refuse(*field, why);
        }
    }
    let maps = !plan.uid_mappings.is_empty() || !plan.gid_mappings.is_empty();
    match (creates(plan, Namespace::User), maps) {
        (true, false) => {
            refuse("uid_mappings", "a new user namespace needs uid and gid mappings (root inside onto a host range)")
        }
        (false, true) => {
            refuse("uid_mappings", "id mappings are written for a new user namespace, and the container creates none")
        }
        (true, true) if plan.uid_mappings.is_empty() || plan.gid_mappings.is_empty() => {
            refuse("gid_mappings", "a new user namespace needs both uid and gid mappings")
        }
        _ => Ok(()),
    }?;
    if !plan.time_offsets.is_empty() && !creates(plan, Namespace::Time) {
        return refuse(
            "time_offsets",
            "clock offsets are set in a new time namespace, and the container creates none (they would be lost)",
        );
    }
    Ok(())
}

/// Hostname and domain name are set with `sethostname(2)`/`setdomainname(2)` in the caller's UTS namespace:
/// without one of the container's own that is the host's (runc refuses it likewise).
fn check_names(plan: &Plan) -> Result<(), PlanError> {
    for (field, value) in [("hostname", &plan.hostname), ("domainname", &plan.domainname)] {
        if value.is_some() && has(plan, Namespace::Uts).is_none() {
            return refuse(
                field,
                format!(
                    "setting the {field} needs the container's own UTS namespace, and it shares the host's: it \
                     would rename the host (remove {field}, or give the container a UTS namespace)"
                ),
            );
        }
    }
    Ok(())
}

fn check_network(plan: &Plan) -> Result<(), PlanError> {
    let net = has(plan, Namespace::Network);
    match &plan.network {
        Network::Host if net.is_some() => {
            return refuse("network", "network \"host\" shares the host's network, but a network namespace is listed");
        }
        Network::None | Network::Bridge { .. } | Network::Container(_) | Network::Pasta { .. } if net.is_none() => {
            return refuse(
                "network",
                "this network mode needs the container's own network namespace, and it shares the host's",
            );
        }
        Network::Bridge { .. } | Network::Container(_) | Network::Pasta { .. }
            if net.is_some_and(|n| n.path.is_some()) =>
        {
            return refuse(
                "network",
                "bridge and container:ID networking set the network namespace up themselves: do not also join one \
                 by path",
            );
        }
        _ => {}
    }
    if !plan.net_devices.is_empty() && !creates(plan, Namespace::Network) {
        return refuse(
            "net_devices",
            host_hint("moving host interfaces into the container needs a new network namespace".to_string(), plan),
        );
    }
    Ok(())
}

fn check_rootfs(plan: &Plan) -> Result<(), PlanError> {
    match &plan.rootfs.source {
        RootfsSource::Image(name) => refuse(
            "rootfs.image",
            format!("image {name:?} was not looked up in the store (a Plan is finished only with its layers)"),
        ),
        RootfsSource::Layers(layers) if layers.is_empty() => {
            refuse("rootfs.image", "an image's root filesystem needs at least one layer")
        }
        RootfsSource::Layers(_) if plan.rootfs.mode != RootfsMode::Overlay => {
            refuse("rootfs.mode", "an image's layers can only be used with mode = \"overlay\"")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{IdMap, PortMapping};

    fn plan() -> Plan {
        crate::config::test_support::toml_plan("[process]\nargs = [\"sh\"]\n")
    }

    fn without(mut plan: Plan, kind: Namespace) -> Plan {
        plan.namespaces.retain(|n| n.kind != kind);
        plan
    }

    fn error(plan: Plan) -> PlanError {
        plan.validate().expect_err("the plan should be refused")
    }

    #[test]
    fn a_friendly_default_plan_is_valid() {
        assert!(plan().validate().is_ok());
    }

    #[test]
    fn net_sysctls_need_a_network_namespace() {
        let mut p = without(plan(), Namespace::Network);
        p.network = Network::Host;
        p.sysctl.push(("net.ipv4.tcp_keepalive_probes".into(), "3".into()));
        let e = error(p);
        assert_eq!(e.field, "sysctl.net.ipv4.tcp_keepalive_probes");
        assert!(e.problem.contains("network namespace") && e.problem.contains("host"), "{e}");
    }

    #[test]
    fn ipc_and_uts_sysctls_need_their_namespaces() {
        let mut p = without(plan(), Namespace::Ipc);
        p.sysctl.push(("kernel.shmmax".into(), "4096".into()));
        assert!(error(p).problem.contains("IPC namespace"));
        let mut p = without(plan(), Namespace::Uts);
        p.hostname = None;
        p.sysctl.push(("kernel.domainname".into(), "x".into()));
        assert!(error(p).problem.contains("UTS namespace"));
    }

    #[test]
    fn names_need_a_uts_namespace() {
        let mut p = without(plan(), Namespace::Uts);
        p.hostname = Some("box".into());
        assert_eq!(error(p.clone()).field, "hostname");
        p.hostname = None;
        p.domainname = Some("example".into());
        assert_eq!(error(p).field, "domainname");
    }

    #[test]
    fn network_modes_match_the_namespaces() {
        let mut p = plan();
        p.network = Network::Host;
        assert_eq!(error(p).field, "network");
        let mut p = without(plan(), Namespace::Network);
        p.network = Network::Bridge {
            network: "containy0".into(),
            ports: vec![PortMapping::parse("8080:80").expect("a valid port mapping")],
        };
        assert_eq!(error(p).field, "network");
        let mut p = without(plan(), Namespace::Network);
        p.network = Network::Host;
        p.net_devices.push(("eth9".into(), "eth0".into()));
        let e = error(p);
        assert_eq!(e.field, "net_devices");
        assert!(e.problem.contains("host"), "{e}");
    }

    #[test]
    fn without_a_mount_namespace_nothing_may_be_mounted() {
        let p = without(plan(), Namespace::Mount);
        assert_eq!(error(p).field, "mounts");
        let mut p = without(plan(), Namespace::Mount);
        p.mounts.clear();
        p.masked_paths.clear();
        p.readonly_paths.clear();
        assert_eq!(error(p.clone()).field, "rootfs.mode");
        p.rootfs.mode = RootfsMode::Direct;
        assert!(p.validate().is_ok());
    }

    #[test]
    fn time_offsets_and_id_maps_need_new_namespaces() {
        let mut p = plan();
        p.time_offsets.push(crate::plan::TimeOffset { clock: "monotonic".into(), secs: 1, nanos: 0 });
        assert_eq!(error(p).field, "time_offsets");
        let mut p = plan();
        p.uid_mappings.push(IdMap { container_id: 0, host_id: 1000, size: 1 });
        assert_eq!(error(p).field, "uid_mappings");
        let mut p = plan();
        p.namespaces.insert(0, NamespaceSpec { kind: Namespace::User, path: None });
        assert_eq!(error(p).field, "uid_mappings");
    }

    #[test]
    fn the_process_is_checked() {
        let mut p = plan();
        p.process.args.clear();
        assert_eq!(error(p).field, "process.args");
        let mut p = plan();
        p.process.cwd = "relative".into();
        assert_eq!(error(p).field, "process.cwd");
        let mut p = plan();
        p.process.env.push("NOEQUALS".into());
        assert_eq!(error(p).field, "process.env");
    }

    #[test]
    fn an_unresolved_image_is_not_a_finished_plan() {
        let mut p = plan();
        p.rootfs.source = RootfsSource::Image("busybox".into());
        assert_eq!(error(p).field, "rootfs.image");
    }

    #[test]
    fn a_stored_plan_is_validated_as_it_is_read() {
        let valid = plan().validate().expect("valid");
        let json = serde_json::to_string(&valid).expect("serializes");
        let back: ValidPlan = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, valid);
        let mut bad: serde_json::Value = serde_json::from_str(&json).expect("json");
        bad["process"]["args"] = serde_json::json!([]);
        assert!(serde_json::from_str::<ValidPlan>(&bad.to_string()).is_err());
    }
}
