//! Which namespaces the container gets, its id maps and its names: the walls, as `clone(2)` and `setns(2)` see them.
//!
//! Each `namespaces.<kind>` is `true` (a new one: `CLONE_NEW*`), `false` (the host's) or a path to join with
//! `setns(2)`. The defaults are what a container is: new pid, mount, uts, ipc, net and cgroup namespaces; the user
//! namespace only with `[user_namespace]` (which maps container ids `0..count` onto a host range, one line of
//! `uid_map`/`gid_map`), no time namespace. The specs come out in the order `Namespace` is declared, which is the
//! order they must be joined in. A hostname is only set in a UTS namespace of the container's own, or it would
//! rename the host.

use crate::plan::{IdMap, Namespace, NamespaceSpec, Network};

use super::lower::{Invalid, invalid};
use super::schema::{Friendly, NetworkMode, NsValue};

/// The hostname a container gets when the config names none (and has its own UTS namespace).
const DEFAULT_HOSTNAME: &str = "containy";

/// The isolation part of a `Plan`.
pub(super) struct Isolation {
    pub namespaces: Vec<NamespaceSpec>,
    pub network: Network,
    pub uid_mappings: Vec<IdMap>,
    pub gid_mappings: Vec<IdMap>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
}

pub(super) fn lower_isolation(config: &Friendly) -> Result<Isolation, Invalid> {
    let (namespaces, network) = lower_namespaces(config)?;
    let (uid_mappings, gid_mappings) = lower_id_maps(config)?;
    let own_uts = namespaces.iter().any(|ns| ns.kind == Namespace::Uts && ns.path.is_none());
    let hostname = match &config.hostname {
        Some(_) if !own_uts => return uts_conflict("hostname"),
        Some(name) => Some(name.0.clone()),
        None => own_uts.then(|| DEFAULT_HOSTNAME.to_string()),
    };
    let domainname = match &config.domainname {
        Some(_) if !own_uts => return uts_conflict("domainname"),
        other => other.as_ref().map(|name| name.0.clone()),
    };
    Ok(Isolation { namespaces, network, uid_mappings, gid_mappings, hostname, domainname })
}

fn uts_conflict<T>(field: &str) -> Result<T, Invalid> {
    invalid(
        field,
        format!(
            "setting the {field} needs a new UTS namespace, but namespaces.uts does not create one (it would rename \
             the host or a namespace you joined): remove {field} or set namespaces.uts = true"
        ),
    )
}

/// The rules for the network namespace, kept simple: `network = "host"` means no network namespace, and so does
/// `namespaces.net = false` when `network` is not written. Saying both `network = "host"` and `net = true`, or
/// `network = "none"` and `net = false`, is a contradiction and refused. A path in `namespaces.net` joins that
/// namespace (and is not host networking).
fn lower_namespaces(config: &Friendly) -> Result<(Vec<NamespaceSpec>, Network), Invalid> {
    let ns = &config.namespaces;
    if matches!(ns.mount, Some(NsValue::Host | NsValue::Join(_))) {
        return invalid(
            "namespaces.mount",
            "containy always needs its own mount namespace (the root filesystem and every mount live in it): \
             remove this key or set it to true",
        );
    }
    let (net, network) = match (&config.network, &ns.net) {
        (Some(NetworkMode::Host), Some(NsValue::New | NsValue::Join(_))) => {
            return invalid(
                "namespaces.net",
                "network = \"host\" uses the host's network, so it cannot also have a network namespace: \
                 remove namespaces.net, or set network = \"none\"",
            );
        }
        (Some(NetworkMode::None), Some(NsValue::Host)) => {
            return invalid(
                "namespaces.net",
                "network = \"none\" gives the container its own network namespace, but namespaces.net = false \
                 shares the host's: for host networking write network = \"host\" and remove namespaces.net",
            );
        }
        (Some(NetworkMode::Bridge(_) | NetworkMode::Container(_)), Some(_)) => {
            return invalid(
                "namespaces.net",
                "network = \"bridge\" or \"container:ID\" decides the network namespace itself: remove namespaces.net",
            );
        }
        (Some(NetworkMode::Host), _) | (None, Some(NsValue::Host)) => (NsValue::Host, Network::Host),
        (_, Some(join @ NsValue::Join(_))) => (join.clone(), Network::None),
        (Some(NetworkMode::Bridge(name)), _) => {
            let ports = config.ports.iter().map(|p| p.0).collect();
            let network = name.clone().unwrap_or_else(|| crate::plan::DEFAULT_NETWORK.to_string());
            (NsValue::New, Network::Bridge { network, ports })
        }
        // The runtime replaces this new namespace by the other container's, found by id when it starts.
        (Some(NetworkMode::Container(id)), _) => (NsValue::New, Network::Container(id.clone())),
        _ => (NsValue::New, Network::None),
    };
    if !config.ports.is_empty() && !matches!(network, Network::Bridge { .. }) {
        return invalid(
            "ports",
            "publishing ports needs bridge networking (a host port is forwarded to the container's address): \
             set network = \"bridge\", or remove ports",
        );
    }
    let user = match (&config.user_namespace, &ns.user) {
        (Some(_), Some(NsValue::Host)) => {
            return invalid(
                "namespaces.user",
                "[user_namespace] maps ids in a new user namespace, but namespaces.user = false: \
                 remove namespaces.user or set it to true",
            );
        }
        (Some(_), Some(NsValue::Join(_))) => {
            return invalid(
                "namespaces.user",
                "[user_namespace] needs a new user namespace, but namespaces.user joins an existing one \
                 (whose id maps are already written): remove one of the two",
            );
        }
        (Some(_), _) => NsValue::New,
        (None, value) => value.clone().unwrap_or(NsValue::Host),
    };
    let new_unless = |value: &Option<NsValue>| value.clone().unwrap_or(NsValue::New);
    // In the order `Namespace` is declared: the order `setns(2)` must join them in.
    let kinds = [
        (Namespace::User, user),
        (Namespace::Pid, new_unless(&ns.pid)),
        (Namespace::Network, net),
        (Namespace::Ipc, new_unless(&ns.ipc)),
        (Namespace::Uts, new_unless(&ns.uts)),
        (Namespace::Cgroup, new_unless(&ns.cgroup)),
        (Namespace::Mount, NsValue::New),
        (Namespace::Time, ns.time.clone().unwrap_or(NsValue::Host)),
    ];
    let specs = kinds
        .into_iter()
        .filter_map(|(kind, value)| match value {
            NsValue::Host => None,
            NsValue::New => Some(NamespaceSpec { kind, path: None }),
            NsValue::Join(path) => Some(NamespaceSpec { kind, path: Some(path) }),
        })
        .collect();
    Ok((specs, network))
}

/// The command line's `--net MODE` and `-p PORT…` over a lowered plan: `none`, `host`, `bridge`,
/// `container:ID`, or a network's name (bridge networking on that network). Published ports need bridge
/// networking.
pub fn override_network(plan: &mut crate::plan::Plan, net: Option<&str>, publish: &[String]) -> Result<(), String> {
    let mut ports = Vec::new();
    for text in publish {
        ports.push(crate::plan::PortMapping::parse(text).map_err(|e| format!("-p {e}"))?);
    }
    if let Some(mode) = net {
        plan.network = match mode {
            "none" => Network::None,
            "host" => Network::Host,
            "bridge" => Network::Bridge { network: crate::plan::DEFAULT_NETWORK.into(), ports: Vec::new() },
            other => match other.strip_prefix("container:") {
                Some("") => return Err("--net container: needs a container id, e.g. --net container:web".into()),
                Some(id) => Network::Container(id.to_string()),
                None => {
                    crate::plan::check_network_name(other).map_err(|e| {
                        format!("--net: {e}; modes are none, host, bridge, container:ID or a network's name")
                    })?;
                    Network::Bridge { network: other.to_string(), ports: Vec::new() }
                }
            },
        };
        plan.namespaces.retain(|ns| ns.kind != Namespace::Network);
        if plan.network != Network::Host {
            plan.namespaces.push(NamespaceSpec { kind: Namespace::Network, path: None });
            plan.namespaces.sort_by_key(|ns| ns.kind);
        }
    }
    if !ports.is_empty() {
        match &mut plan.network {
            Network::Bridge { ports: existing, .. } => existing.extend(ports),
            _ => return Err("-p publishes a port on a bridge network: add --net bridge (or a network's name)".into()),
        }
    }
    Ok(())
}

/// `[user_namespace]` is one contiguous range: container ids `0..count` are host ids `uid..uid+count`.
fn lower_id_maps(config: &Friendly) -> Result<(Vec<IdMap>, Vec<IdMap>), Invalid> {
    let Some(userns) = &config.user_namespace else {
        return Ok((Vec::new(), Vec::new()));
    };
    if userns.count == 0 {
        return invalid("user_namespace.count", "count = 0 maps no ids at all: give at least 1 (65536 is usual)");
    }
    let gid = userns.gid.unwrap_or(userns.uid);
    for (field, first) in [("user_namespace.uid", userns.uid), ("user_namespace.gid", gid)] {
        if u64::from(first) + u64::from(userns.count) > 1 << 32 {
            return invalid(
                field,
                format!(
                    "{first} + count {} goes past the last id (4294967295): lower the first id or the count",
                    userns.count
                ),
            );
        }
    }
    // An id outside the map cannot be switched to: setuid(2) inside the namespace would fail with EINVAL.
    let user = &config.process.user;
    let ids = [("process.user.uid", user.uid), ("process.user.gid", user.gid)];
    let gids =
        user.additional_gids.iter().enumerate().map(|(i, gid)| (format!("process.user.additional_gids[{i}]"), *gid));
    for (field, id) in ids.into_iter().map(|(f, id)| (f.to_string(), id)).chain(gids) {
        if id >= userns.count {
            return invalid(
                field,
                format!(
                    "{id} is not mapped: [user_namespace] maps only container ids 0..{}; use an id below that or \
                     raise user_namespace.count",
                    userns.count
                ),
            );
        }
    }
    let map = |host_id| vec![IdMap { container_id: 0, host_id, size: userns.count }];
    Ok((map(userns.uid), map(gid)))
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{ARGS, check, json_error, toml_error as error, toml_plan as plan};
    use crate::plan::{Namespace, Network, Plan};

    fn kinds(plan: &Plan) -> Vec<Namespace> {
        plan.namespaces.iter().map(|ns| ns.kind).collect()
    }

    #[test]
    fn network_modes() {
        let host = plan(&format!("network = \"host\"\n{ARGS}"));
        assert_eq!(host.network, Network::Host);
        assert!(!kinds(&host).contains(&Namespace::Network));
        let net_false = plan(&format!("{ARGS}[namespaces]\nnet = false\n"));
        assert_eq!(net_false.network, Network::Host);
        assert!(!kinds(&net_false).contains(&Namespace::Network));
        let none = plan(&format!("network = \"none\"\n{ARGS}[namespaces]\nnet = true\n"));
        assert_eq!(none.network, Network::None);
        assert!(kinds(&none).contains(&Namespace::Network));
    }

    #[test]
    fn bridge_and_container_modes() {
        let bridge = plan(&format!("network = \"bridge\"\nports = [\"127.0.0.1:18080:80\"]\n{ARGS}"));
        let Network::Bridge { network, ports } = &bridge.network else { panic!("{:?}", bridge.network) };
        assert_eq!(network, "containy0");
        assert_eq!(ports[0].host_port, 18080);
        assert!(kinds(&bridge).contains(&Namespace::Network));
        let named = plan(&format!("network = {{ mode = \"bridge\", network = \"backend\" }}\n{ARGS}"));
        assert!(matches!(&named.network, Network::Bridge { network, .. } if network == "backend"));
        let joined = plan(&format!("network = \"container:web\"\n{ARGS}"));
        assert_eq!(joined.network, Network::Container("web".into()));
        let msg = error(&format!("network = \"none\"\nports = [\"1:2\"]\n{ARGS}"));
        check(&msg, "bundle/configy.toml", &["ports", "network = \"bridge\""]);
        let msg = error(&format!("network = {{ mode = \"bridge\", network = \"no/slash\" }}\n{ARGS}"));
        check(&msg, "bundle/configy.toml:1:11: network", &["not a network name"]);
        let msg = error(&format!("ports = [\"80\"]\nnetwork = \"bridge\"\n{ARGS}"));
        check(&msg, "bundle/configy.toml:1:10: ports[0]", &["HOSTPORT:CTRPORT"]);
    }

    #[test]
    fn command_line_overrides() {
        use super::override_network;
        let mut p = plan(ARGS);
        override_network(&mut p, Some("host"), &[]).unwrap();
        assert!(!kinds(&p).contains(&Namespace::Network));
        override_network(&mut p, Some("backend"), &["8080:80".into()]).unwrap();
        assert!(matches!(&p.network, Network::Bridge { network, ports } if network == "backend" && ports.len() == 1));
        assert!(kinds(&p).contains(&Namespace::Network));
        let mut p = plan(ARGS);
        assert!(override_network(&mut p, None, &["8080:80".into()]).unwrap_err().contains("--net bridge"));
        assert!(override_network(&mut p, Some("bad/name"), &[]).unwrap_err().contains("modes are"));
    }

    #[test]
    fn shared_uts_gets_no_default_hostname() {
        let plan = plan(&format!("{ARGS}[namespaces]\nuts = false\n"));
        assert_eq!(plan.hostname, None);
        assert!(!kinds(&plan).contains(&Namespace::Uts));
    }

    #[test]
    fn net_conflicts_name_both_keys() {
        let msg = error(&format!("network = \"host\"\n{ARGS}[namespaces]\nnet = true\n"));
        check(&msg, "bundle/configy.toml:5:1: namespaces.net: network = \"host\"", &["remove namespaces.net"]);
        let msg = error(&format!("network = \"none\"\n{ARGS}[namespaces]\nnet = false\n"));
        check(&msg, "bundle/configy.toml:5:1: namespaces.net: network = \"none\"", &["network = \"host\""]);
        let json = r#"{"network": "host", "process": {"args": ["sh"]},
            "namespaces": {"net": true}}"#;
        check(&json_error(json), "bundle/configy.json:2:28: namespaces.net: network = \"host\"", &[]);
    }

    #[test]
    fn mount_namespace_cannot_be_shared() {
        let msg = error(&format!("{ARGS}[namespaces]\nmount = false\n"));
        check(&msg, "bundle/configy.toml:4:1: namespaces.mount: containy always needs its own mount namespace", &[]);
    }

    #[test]
    fn user_namespace_conflicts_and_ranges() {
        let msg = error(&format!("{ARGS}[namespaces]\nuser = false\n[user_namespace]\nuid = 1\n"));
        check(&msg, "bundle/configy.toml:4:1: namespaces.user: [user_namespace]", &["set it to true"]);
        let msg = error(&format!("{ARGS}[user_namespace]\nuid = 4294967000\n"));
        check(&msg, "bundle/configy.toml:4:1: user_namespace.uid: 4294967000 + count 65536", &["4294967295"]);
        let userns = "[user_namespace]\nuid = 1\ncount = 1000\n";
        let msg = error(&format!("[process]\nargs = [\"sh\"]\nuser = {{ uid = 1000 }}\n{userns}"));
        check(&msg, "bundle/configy.toml:3:10: process.user.uid: 1000 is not mapped", &["0..1000", "count"]);
        let msg = error(&format!("{ARGS}[user_namespace]\nuid = 1\ncount = 0\n"));
        check(&msg, "bundle/configy.toml:5:1: user_namespace.count: count = 0", &["at least 1"]);
    }

    #[test]
    fn hostname_needs_its_own_uts_namespace() {
        let msg = error(&format!("hostname = \"x\"\n{ARGS}[namespaces]\nuts = false\n"));
        check(
            &msg,
            "bundle/configy.toml:1:1: hostname: setting the hostname needs a new UTS namespace",
            &["uts = true"],
        );
    }
}
