//! Networking: `none` (a new network namespace with only `lo`), `host` (no namespace: the host's stack),
//! `bridge` (a veth pair from the container's namespace into a named network's bridge, an address, a default
//! route, masquerading and published ports) and joining another container's namespace.
//!
//! A bridge is a software switch; each container on a network is plugged into it by a veth pair, and the
//! bridge's own address is the containers' gateway to the host, which forwards (`net.ipv4.ip_forward`) and
//! masquerades what leaves the subnet. Everything is done with netlink messages (`netlink.rs`, `link.rs`,
//! `nft.rs`), never by running `ip` or `nft`.
//!
//! The order matters, and crosses the clone:
//! 1. *before clone* ([`prepare_bridge`]): the network is defined and its bridge exists; the attachment is
//!    recorded in `<state>/network.json` **before** the address is leased and before any interface or rule is
//!    made, so `delete --force` after a crash knows what to undo; the lease is taken; `/etc/hosts` & co. are
//!    written.
//! 2. *after clone, before the child is let go* ([`connect`]): the child's network namespace exists now
//!    (`/proc/<pid>/ns/net`). The parent creates the veth pair with its peer born inside that namespace as
//!    `eth0`, then configures `eth0` from the host too: it `setns(2)`s into the child's namespace only long
//!    enough to open a netlink socket there (a socket stays bound to the namespace it was created in), and
//!    returns. The child meanwhile waits for `Go`, so its program never sees a half-made network; and all
//!    netlink work stays in one process, the one with `CAP_NET_ADMIN` on the host side.
//! 3. *at the end* ([`release`]): the container's nf_tables table is deleted, the host end of the veth (its
//!    peer goes with it), the lease, its name in the other members' `/etc/hosts`, the record.
//!
//! The bridge, its address and the forwarding sysctls belong to the *network* and stay while it is defined
//! (`containy network rm` removes them).

mod files;
mod ipam;
mod link;
mod netlink;
mod nft;
pub mod pasta;

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::socket::SockProtocol;
use serde::{Deserialize, Serialize};

use ipam::{Lease, Store};
pub use ipam::{NetworkDef, parse_subnet};
use netlink::Socket;

use crate::error::IoError;
use crate::plan::{DEFAULT_NETWORK, PortMapping};

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("{op}")]
    Netlink {
        op: String,
        #[source]
        source: Errno,
    },
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    #[error("{path} is damaged ({problem}): remove it, or the network with 'containy network rm'")]
    Corrupt { path: PathBuf, problem: String },
    #[error("network {name:?} is not defined: create it with 'containy network create {name}'")]
    NotDefined { name: String },
    #[error("network {name:?} already exists: remove it first with 'containy network rm {name}', or use it")]
    Exists { name: String },
    #[error("network {name:?} ({subnet}) has no free address left: remove stopped containers with 'containy delete'")]
    Exhausted { name: String, subnet: String },
    #[error("network {name:?} is in use by {ids:?}: delete those containers first")]
    InUse { name: String, ids: Vec<String> },
    #[error("a link named {name:?} exists on the host and is not a bridge: choose another network name")]
    NotABridge { name: String },
    #[error("subnet {subnet} overlaps network {other:?}: choose another with --subnet")]
    Overlap { subnet: String, other: String },
    #[error("{0}")]
    Invalid(String),
}

fn netlink_err(op: impl Into<String>) -> impl FnOnce(Errno) -> NetworkError {
    let op = op.into();
    move |source| {
        let op = if source == Errno::EPERM {
            format!(
                "{op} (bridges, veths and NAT rules need CAP_NET_ADMIN on the host: run as root, or use network = \"none\")"
            )
        } else {
            op
        };
        NetworkError::Netlink { op, source }
    }
}

/// What a container holds on a network, recorded in `<state>/network.json` before it is taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: String,
    pub network: String,
    pub subnet: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    /// `None` until the lease is taken.
    pub address: Option<Ipv4Addr>,
    /// The host end of the veth pair (its peer is `eth0` inside).
    pub veth: String,
    /// The container's nf_tables table (`table ip containy-<id>`).
    pub table: String,
}

const RECORD: &str = "network.json";

/// The host end's name: `IFNAMSIZ` allows 15 characters, container ids 64, so a digest of the id.
pub fn veth_name(id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_bytes());
    format!("cy{}", digest.iter().take(5).map(|b| format!("{b:02x}")).collect::<String>())
}

fn route_socket() -> Result<Socket, NetworkError> {
    Socket::open(SockProtocol::NetlinkRoute).map_err(netlink_err("open a NETLINK_ROUTE socket"))
}

/// The index and kind of the link `name`, or `None` when there is none.
fn find_link(sock: &mut Socket, name: &str) -> Result<Option<(i32, Option<String>)>, NetworkError> {
    match sock.request(&link::get(name)) {
        Ok(replies) => Ok(replies.first().and_then(|r| link::parse_link(&r.payload))),
        Err(Errno::ENODEV) => Ok(None),
        Err(e) => Err(netlink_err(format!("look up link {name}"))(e)),
    }
}

fn write_sysctl(key: &str, value: &str) -> Result<(), NetworkError> {
    let path = PathBuf::from(format!("/proc/sys/{}", key.replace('.', "/")));
    std::fs::write(&path, value).map_err(|source| IoError::new("write", path, source).into())
}

/// The network's bridge with its gateway address, up, and the host forwarding for it: made if missing
/// (after a reboot `/run` is empty anyway; a defined network whose bridge vanished gets it back).
fn ensure_bridge(def: &NetworkDef) -> Result<i32, NetworkError> {
    let mut sock = route_socket()?;
    let index = match find_link(&mut sock, &def.name)? {
        Some((index, Some(kind))) if kind == "bridge" => index,
        Some(_) => return Err(NetworkError::NotABridge { name: def.name.clone() }),
        None => {
            crate::explain!(
                format!("create the bridge {} for network {}", def.name, def.name),
                "RTM_NEWLINK IFLA_INFO_KIND=bridge; RTM_NEWADDR; RTM_NEWLINK IFF_UP (netlink)",
                format!("a software switch the containers plug into; {} is their gateway", def.gateway)
            );
            sock.request(&link::new_bridge(&def.name)).map_err(netlink_err(format!("create bridge {}", def.name)))?;
            find_link(&mut sock, &def.name)?
                .map(|(index, _)| index)
                .ok_or_else(|| NetworkError::Invalid(format!("bridge {} vanished after it was created", def.name)))?
        }
    };
    match sock.request(&link::new_address(index, def.gateway, def.prefix)) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(netlink_err(format!("add {}/{} to {}", def.gateway, def.prefix, def.name))(e)),
    }
    sock.request(&link::set_up(index)).map_err(netlink_err(format!("set {} up", def.name)))?;
    crate::explain!(
        "let the host forward and NAT for the bridge",
        format!("write 1 to /proc/sys/net/ipv4/ip_forward and conf/{}/route_localnet", def.name),
        "packets between the containers and the world cross the host; ports published on 127.0.0.1 need \
         loopback-sourced packets routed onto the bridge"
    );
    write_sysctl("net.ipv4.ip_forward", "1")?;
    write_sysctl(&format!("net.ipv4.conf.{}.route_localnet", def.name), "1")?;
    Ok(index)
}

/// `containy network create NAME [--subnet CIDR]`.
pub fn create_network(root: &Path, name: &str, subnet: Option<(Ipv4Addr, u8)>) -> Result<NetworkDef, NetworkError> {
    crate::plan::check_network_name(name).map_err(NetworkError::Invalid)?;
    let store = Store::new(root);
    let _lock = store.lock()?;
    if store.load(name)?.is_some() {
        return Err(NetworkError::Exists { name: name.to_string() });
    }
    define(&store, name, subnet)
}

fn define(store: &Store, name: &str, subnet: Option<(Ipv4Addr, u8)>) -> Result<NetworkDef, NetworkError> {
    let defined = store.list();
    let (addr, prefix) = match subnet {
        Some(s) => s,
        None => ipam::free_subnet(&defined)
            .ok_or_else(|| NetworkError::Invalid("no free 10.N.0.0/24 subnet left: give one with --subnet".into()))?,
    };
    let def = NetworkDef::new(name, addr, prefix);
    if let Some(other) = defined.iter().find(|d| d.overlaps(&def)) {
        return Err(NetworkError::Overlap { subnet: format!("{addr}/{prefix}"), other: other.name.clone() });
    }
    // Recorded first: a bridge made without its record could never be removed by `network rm`.
    store.define(&def)?;
    ensure_bridge(&def)?;
    Ok(def)
}

/// `containy network rm NAME`: only when no container holds an address on it.
pub fn remove_network(root: &Path, name: &str) -> Result<(), NetworkError> {
    let store = Store::new(root);
    let _lock = store.lock()?;
    if store.load(name)?.is_none() {
        return Err(NetworkError::NotDefined { name: name.to_string() });
    }
    let leases = store.leases(name);
    if !leases.is_empty() {
        return Err(NetworkError::InUse { name: name.to_string(), ids: leases.into_iter().map(|l| l.id).collect() });
    }
    let mut sock = route_socket()?;
    if let Some((_, Some(kind))) = find_link(&mut sock, name)?
        && kind == "bridge"
    {
        crate::explain!(format!("delete the bridge {name}"), "RTM_DELLINK (netlink)", "the network is gone");
        match sock.request(&link::delete(name)) {
            Ok(_) | Err(Errno::ENODEV) => {}
            Err(e) => return Err(netlink_err(format!("delete bridge {name}"))(e)),
        }
    }
    store.undefine(name)
}

/// `containy network ls`: each network and the containers on it.
pub fn list_networks(root: &Path) -> Vec<(NetworkDef, Vec<(String, Ipv4Addr)>)> {
    let store = Store::new(root);
    store
        .list()
        .into_iter()
        .map(|def| {
            let members = store.leases(&def.name).into_iter().map(|l| (l.id, l.address)).collect();
            (def, members)
        })
        .collect()
}

/// For `none`, `host` and joined namespaces: the container's own `/etc` files, without network members.
/// Returns (file on the host, path inside) pairs to bind-mount.
pub fn etc_files(
    state_dir: &Path,
    hostname: &str,
    own_namespace: bool,
) -> Result<Vec<(PathBuf, PathBuf)>, NetworkError> {
    files::write(state_dir, hostname, None, &[], own_namespace)
}

/// Step 1, before clone: define the default network on first use, record the attachment, lease an address,
/// write `/etc` files (and add this container to the other members' `/etc/hosts`).
pub fn prepare_bridge(
    root: &Path,
    state_dir: &Path,
    id: &str,
    hostname: &str,
    network: &str,
) -> Result<(Attachment, Vec<(PathBuf, PathBuf)>), NetworkError> {
    let store = Store::new(root);
    let _lock = store.lock()?;
    let def = match store.load(network)? {
        Some(def) => {
            ensure_bridge(&def)?;
            def
        }
        None if network == DEFAULT_NETWORK => define(&store, network, None)?,
        None => return Err(NetworkError::NotDefined { name: network.to_string() }),
    };
    let mut att = Attachment {
        id: id.to_string(),
        network: def.name.clone(),
        subnet: def.subnet,
        prefix: def.prefix,
        gateway: def.gateway,
        address: None,
        veth: veth_name(id),
        table: nft::table_name(id),
    };
    let record = state_dir.join(RECORD);
    ipam::write_atomic(&record, &serde_json::to_vec_pretty(&att).unwrap_or_default())?;
    let lease = Lease {
        id: id.to_string(),
        hostname: hostname.to_string(),
        address: Ipv4Addr::UNSPECIFIED,
        hosts_file: state_dir.join("etc").join("hosts"),
    };
    let lease = store.allocate(&def, lease)?;
    crate::explain!(
        format!("lease {} on network {}", lease.address, def.name),
        format!("link(2) a lease file to {}/.networks/{}/{}", root.display(), def.name, lease.address),
        "link fails if the name exists: no two containers ever get one address, and the lease survives a crash"
    );
    att.address = Some(lease.address);
    ipam::write_atomic(&record, &serde_json::to_vec_pretty(&att).unwrap_or_default())?;
    let members = store.leases(&def.name);
    let mounts = files::write(state_dir, hostname, Some(lease.address), &host_entries(&members), true)?;
    update_members(&members, id);
    Ok((att, mounts))
}

fn host_entries(members: &[Lease]) -> Vec<(Ipv4Addr, Vec<String>)> {
    members.iter().map(|l| (l.address, vec![l.hostname.clone(), l.id.clone()])).collect()
}

/// Rewrite every other member's `/etc/hosts` (in place) to list exactly `members`.
fn update_members(members: &[Lease], except: &str) {
    let entries = host_entries(members);
    for member in members.iter().filter(|l| l.id != except && l.hosts_file.exists()) {
        let text = files::hosts(&member.hostname, Some(member.address), &entries);
        let _ = files::rewrite(&member.hosts_file, &text);
    }
}

/// A netlink socket inside the network namespace of `pid`: enter it just long enough to create the socket.
fn socket_in(pid: i32) -> Result<Socket, NetworkError> {
    let open =
        |path: String| File::open(&path).map_err(|source| NetworkError::from(IoError::new("open", path, source)));
    let own = open("/proc/thread-self/ns/net".into())?;
    let target = open(format!("/proc/{pid}/ns/net"))?;
    nix::sched::setns(&target, CloneFlags::CLONE_NEWNET)
        .map_err(netlink_err("setns into the container's network namespace"))?;
    let sock = route_socket();
    // Back before anything else happens: containy itself must stay on the host's network.
    nix::sched::setns(&own, CloneFlags::CLONE_NEWNET)
        .map_err(netlink_err("setns back to containy's network namespace"))?;
    sock
}

/// Step 2, after clone and before the child goes on: the veth pair, `eth0`'s address and the default route
/// inside, and the container's nf_tables table.
pub fn connect(att: &Attachment, pid: i32, ports: &[PortMapping]) -> Result<(), NetworkError> {
    let address = att.address.ok_or_else(|| NetworkError::Invalid(format!("{} holds no address", att.id)))?;
    let mut host = route_socket()?;
    let (bridge, _) =
        find_link(&mut host, &att.network)?.ok_or_else(|| NetworkError::NotDefined { name: att.network.clone() })?;
    crate::explain!(
        format!("plug the container into bridge {} with a veth pair", att.network),
        format!("RTM_NEWLINK veth {} master {} peer eth0 netns {pid}", att.veth, att.network),
        "the peer is created inside the container's network namespace, under its final name"
    );
    host.request(&link::new_veth(&att.veth, bridge, "eth0", pid))
        .map_err(netlink_err(format!("create veth {}", att.veth)))?;
    let (veth, _) =
        find_link(&mut host, &att.veth)?.ok_or_else(|| NetworkError::Invalid(format!("veth {} vanished", att.veth)))?;
    host.request(&link::set_up(veth)).map_err(netlink_err(format!("set {} up", att.veth)))?;

    crate::explain!(
        format!("give eth0 {address}/{} and a default route via {}", att.prefix, att.gateway),
        "setns into the container's netns to open a netlink socket, setns back; RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE",
        "a socket keeps the namespace it was made in: the host configures the inside without running anything there"
    );
    let mut inside = socket_in(pid)?;
    let (eth0, _) = find_link(&mut inside, "eth0")?
        .ok_or_else(|| NetworkError::Invalid("eth0 is missing in the container".into()))?;
    inside
        .request(&link::new_address(eth0, address, att.prefix))
        .map_err(netlink_err(format!("add {address}/{} to eth0", att.prefix)))?;
    inside.request(&link::set_up(eth0)).map_err(netlink_err("set eth0 up"))?;
    inside
        .request(&link::new_default_route(att.gateway))
        .map_err(netlink_err(format!("add default route via {}", att.gateway)))?;

    let table = nft::container_table(&att.table, address, att.subnet, att.prefix, ports);
    crate::explain!(
        format!("NAT for the container: table ip {}", table.name),
        format!(
            "one nf_tables batch over NETLINK_NETFILTER: {}",
            table.rules.iter().map(|r| format!("[{}] {}", r.chain, r.text)).collect::<Vec<_>>().join("; ")
        ),
        "masquerade what leaves the subnet, forward published ports; deleting the table undoes all of it"
    );
    let mut nf =
        Socket::open(SockProtocol::NetlinkNetFilter).map_err(netlink_err("open a NETLINK_NETFILTER socket"))?;
    nf.batch(&nft::create(&table), &nft::framing())
        .map_err(netlink_err(format!("create nf_tables table {}", table.name)))?;
    Ok(())
}

/// OCI `linux.netDevices`: move each host interface into the container's namespace under its new name.
pub fn move_devices(devices: &[(String, String)], pid: i32) -> Result<(), NetworkError> {
    let mut host = route_socket()?;
    for (name, inside) in devices {
        let (index, _) = find_link(&mut host, name)?
            .ok_or_else(|| NetworkError::Invalid(format!("linux.netDevices: the host has no interface {name:?}")))?;
        crate::explain!(
            format!("move {name} into the container as {inside}"),
            "RTM_NEWLINK IFLA_NET_NS_PID IFLA_IFNAME (netlink)",
            "a device belongs to one network namespace at a time"
        );
        host.request(&link::move_to(index, inside, pid))
            .map_err(netlink_err(format!("move {name} into the container")))?;
    }
    Ok(())
}

/// Step 3: undo what `<state>/network.json` records — the table, the veth, the lease, the container's name
/// in the other members' `/etc/hosts`. Safe to run twice, and after a crash at any point.
pub fn release(root: &Path, state_dir: &Path) -> Result<(), NetworkError> {
    let record = state_dir.join(RECORD);
    let att: Attachment = match std::fs::read(&record) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| NetworkError::Corrupt { path: record.clone(), problem: e.to_string() })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(IoError::new("read", record, source).into()),
    };
    crate::explain!(
        format!("disconnect from network {}", att.network),
        format!("NFT_MSG_DELTABLE {}; RTM_DELLINK {}; remove the lease", att.table, att.veth),
        "nothing of the container may outlive it: rules, interfaces, its address"
    );
    let mut nf =
        Socket::open(SockProtocol::NetlinkNetFilter).map_err(netlink_err("open a NETLINK_NETFILTER socket"))?;
    match nf.batch(&[nft::delete(&att.table)], &nft::framing()) {
        Ok(_) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(netlink_err(format!("delete nf_tables table {}", att.table))(e)),
    }
    let mut host = route_socket()?;
    match host.request(&link::delete(&att.veth)) {
        Ok(_) | Err(Errno::ENODEV) => {}
        Err(e) => return Err(netlink_err(format!("delete veth {}", att.veth))(e)),
    }
    let store = Store::new(root);
    {
        let _lock = store.lock()?;
        store.release(&att.network, &att.id)?;
        update_members(&store.leases(&att.network), &att.id);
    }
    std::fs::remove_file(&record).map_err(|source| IoError::new("remove", record, source).into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn veth_names_fit_ifnamsiz() {
        let name = super::veth_name(&"x".repeat(64));
        assert!(name.len() <= 15 && name.starts_with("cy"));
        assert_ne!(super::veth_name("a"), super::veth_name("b"));
    }
}
