//! Links, addresses and routes as rtnetlink messages (`man 7 rtnetlink`): what `ip link add … type bridge`,
//! `ip link add … type veth peer …`, `ip addr add` and `ip route add default via` send.
//!
//! A veth pair is two interfaces joined back to back: a packet sent into one comes out of the other. One end
//! stays on the host, enslaved to the network's bridge (`IFLA_MASTER`); the other is *created directly in the
//! container's network namespace* (`IFLA_NET_NS_PID` inside `VETH_INFO_PEER`) under its final name `eth0`,
//! so it never exists on the host under a name that could clash. The functions here only build messages
//! (pure, unit-tested); `mod.rs` sends them.

use std::net::Ipv4Addr;

use super::netlink::{Message, NLM_F_CREATE, NLM_F_EXCL, attributes};

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;

const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_PID: u16 = 19;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_GATEWAY: u16 = 5;

const IFF_UP: u32 = libc::IFF_UP as u32;

/// `struct ifinfomsg`: family, type, index, flags and which flags to change.
fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = libc::AF_UNSPEC as u8;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

/// `ip link add NAME type bridge`.
pub fn new_bridge(name: &str) -> Message {
    let mut m = Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    m.push(&ifinfomsg(0, 0, 0)).attr_str(IFLA_IFNAME, name);
    let info = m.begin_nested(IFLA_LINKINFO);
    m.attr_str(IFLA_INFO_KIND, "bridge");
    m.end_nested(info);
    m
}

/// `ip link add HOST master BRIDGE type veth peer name PEER netns PID`: both ends in one message, the peer
/// born inside the container's network namespace.
pub fn new_veth(host: &str, bridge_index: i32, peer: &str, peer_pid: i32) -> Message {
    let mut m = Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    m.push(&ifinfomsg(0, 0, 0)).attr_str(IFLA_IFNAME, host).attr_u32(IFLA_MASTER, bridge_index as u32);
    let info = m.begin_nested(IFLA_LINKINFO);
    m.attr_str(IFLA_INFO_KIND, "veth");
    let data = m.begin_nested(IFLA_INFO_DATA);
    // The peer's value is a whole `ifinfomsg` followed by its own attributes.
    let peer_attr = m.begin_nested(VETH_INFO_PEER);
    m.push(&ifinfomsg(0, 0, 0)).attr_str(IFLA_IFNAME, peer).attr_u32(IFLA_NET_NS_PID, peer_pid as u32);
    m.end_nested(peer_attr);
    m.end_nested(data);
    m.end_nested(info);
    m
}

/// `ip link set dev INDEX up`.
pub fn set_up(index: i32) -> Message {
    let mut m = Message::new(RTM_NEWLINK, 0);
    m.push(&ifinfomsg(index, IFF_UP, IFF_UP));
    m
}

/// `ip link del NAME` (a veth's peer goes with it).
pub fn delete(name: &str) -> Message {
    let mut m = Message::new(RTM_DELLINK, 0);
    m.push(&ifinfomsg(0, 0, 0)).attr_str(IFLA_IFNAME, name);
    m
}

/// `ip link show NAME`: the reply carries the interface index.
pub fn get(name: &str) -> Message {
    let mut m = Message::new(RTM_GETLINK, 0);
    m.push(&ifinfomsg(0, 0, 0)).attr_str(IFLA_IFNAME, name);
    m
}

/// `ip link set dev INDEX netns PID name NEW`: move a host interface into the container (OCI
/// `linux.netDevices`).
pub fn move_to(index: i32, new_name: &str, pid: i32) -> Message {
    let mut m = Message::new(RTM_NEWLINK, 0);
    m.push(&ifinfomsg(index, 0, 0)).attr_str(IFLA_IFNAME, new_name).attr_u32(IFLA_NET_NS_PID, pid as u32);
    m
}

/// The interface index and (for a link) its kind, from an `RTM_NEWLINK` reply's payload.
pub fn parse_link(payload: &[u8]) -> Option<(i32, Option<String>)> {
    let index = i32::from_ne_bytes(payload.get(4..8)?.try_into().ok()?);
    let kind = attributes(payload.get(16..)?)
        .into_iter()
        .find(|(k, _)| *k == IFLA_LINKINFO)
        .and_then(|(_, info)| attributes(info).into_iter().find(|(k, _)| *k == IFLA_INFO_KIND))
        .map(|(_, v)| String::from_utf8_lossy(v).trim_end_matches('\0').to_string());
    Some((index, kind))
}

/// `ip addr add ADDR/PREFIX brd + dev INDEX`.
pub fn new_address(index: i32, addr: Ipv4Addr, prefix: u8) -> Message {
    let mut m = Message::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    let mut hdr = [0u8; 8];
    hdr[0] = libc::AF_INET as u8;
    hdr[1] = prefix;
    hdr[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
    let host_mask = if prefix >= 32 { 0 } else { u32::MAX >> prefix };
    let broadcast = Ipv4Addr::from(u32::from(addr) | host_mask);
    m.push(&hdr)
        .attr(IFA_LOCAL, &addr.octets())
        .attr(IFA_ADDRESS, &addr.octets())
        .attr(IFA_BROADCAST, &broadcast.octets());
    m
}

/// `ip route add default via GATEWAY` in the main table.
pub fn new_default_route(gateway: Ipv4Addr) -> Message {
    let mut m = Message::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    // struct rtmsg: family, dst_len 0 (default), src_len, tos, table main, protocol boot, scope universe,
    // type unicast, flags.
    let hdr = [libc::AF_INET as u8, 0, 0, 0, libc::RT_TABLE_MAIN, libc::RTPROT_BOOT, 0, libc::RTN_UNICAST, 0, 0, 0, 0];
    m.push(&hdr).attr(RTA_GATEWAY, &gateway.octets());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attributes after the netlink header and a family header of `skip` bytes.
    fn attrs(m: &Message, skip: usize) -> Vec<(u16, Vec<u8>)> {
        let bytes = m.bytes();
        attributes(&bytes[16 + skip..]).into_iter().map(|(k, v)| (k, v.to_vec())).collect()
    }

    #[test]
    fn veth_peer_is_created_in_the_containers_namespace() {
        let m = new_veth("cyabc", 7, "eth0", 4242);
        let top = attrs(&m, 16);
        assert_eq!(top[0], (IFLA_IFNAME, b"cyabc\0".to_vec()));
        assert_eq!(top[1], (IFLA_MASTER, 7u32.to_ne_bytes().to_vec()));
        let info = attributes(&top[2].1);
        assert_eq!(info[0], (IFLA_INFO_KIND, &b"veth\0"[..]));
        let peer = attributes(info[1].1)[0].1;
        let peer_attrs = attributes(&peer[16..]);
        assert_eq!(peer_attrs[0], (IFLA_IFNAME, &b"eth0\0"[..]));
        assert_eq!(peer_attrs[1], (IFLA_NET_NS_PID, &4242u32.to_ne_bytes()[..]));
    }

    #[test]
    fn address_has_prefix_and_broadcast() {
        let m = new_address(3, Ipv4Addr::new(10, 88, 0, 2), 24);
        let bytes = m.bytes();
        assert_eq!(bytes[17], 24);
        let a = attrs(&m, 8);
        assert_eq!(a[0], (IFA_LOCAL, vec![10, 88, 0, 2]));
        assert_eq!(a[2], (IFA_BROADCAST, vec![10, 88, 0, 255]));
    }

    #[test]
    fn link_reply_is_parsed() {
        let mut m = new_bridge("br0");
        m.push(&[]);
        let bytes = m.bytes();
        let mut payload = bytes[16..].to_vec();
        payload[4..8].copy_from_slice(&9i32.to_ne_bytes());
        assert_eq!(parse_link(&payload), Some((9, Some("bridge".to_string()))));
    }
}
