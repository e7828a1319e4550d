//! NAT and published ports through nf_tables (`man 8 nft`), spoken over `NETLINK_NETFILTER` the way `nft`
//! itself speaks it: one *batch* (`NFNL_MSG_BATCH_BEGIN` … `NFNL_MSG_BATCH_END`) that the kernel applies as a
//! single transaction — all of it or nothing.
//!
//! Each container gets its own table, `table ip containy-<id>`, holding everything it needs and nothing else:
//!
//! ```text
//! chain postrouting { type nat hook postrouting priority srcnat; ip saddr C ip daddr != SUBNET masquerade
//!                                                                ip saddr 127.0.0.0/8 ip daddr C masquerade }
//! chain prerouting  { type nat hook prerouting priority dstnat;  [ip daddr HOSTIP | fib daddr type local]
//!                                                                meta l4proto tcp th dport HP dnat to C:CP }
//! chain output      { type nat hook output priority dstnat;      (the same DNAT rules: traffic from the host) }
//! ```
//!
//! Removing the container's rules is then one `NFT_MSG_DELTABLE` — after a crash too, since the name follows
//! from the id — and never touches a rule of anyone else. Base chains of several tables on the same hook all
//! run, so containers do not need to share a table. Rules are built as data ([`Table`]) with their `nft`
//! spelling alongside, then encoded; the encoding of each expression follows `linux/netfilter/nf_tables.h`.

use std::net::Ipv4Addr;

use super::netlink::{Message, NLM_F_CREATE};
use crate::plan::{PortMapping, Protocol};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NLM_F_APPEND: u16 = 0x800;
const NFPROTO_IPV4: u8 = 2;

const NF_INET_PRE_ROUTING: u32 = 0;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_INET_POST_ROUTING: u32 = 4;
const NF_IP_PRI_NAT_DST: i32 = -100;
const NF_IP_PRI_NAT_SRC: i32 = 100;

const NFT_REG_1: u32 = 1;
const NFT_REG_2: u32 = 2;

/// One expression of a rule; the ones that load something load it into register 1.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `len` bytes at `offset` of the network (IP) header.
    Network {
        offset: u32,
        len: u32,
    },
    /// `len` bytes at `offset` of the transport (TCP/UDP) header.
    Transport {
        offset: u32,
        len: u32,
    },
    /// `meta l4proto`.
    L4Proto,
    /// `fib daddr type`: the route type of the destination address (`RTN_LOCAL` = one of ours).
    FibDaddrType,
    /// register 1 &= mask.
    Bitwise {
        mask: Vec<u8>,
    },
    Cmp {
        equal: bool,
        data: Vec<u8>,
    },
    /// `dnat to ADDR:PORT`.
    Dnat {
        addr: Ipv4Addr,
        port: u16,
    },
    Masquerade,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub name: &'static str,
    pub hook: u32,
    pub priority: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub chain: &'static str,
    /// How `nft list ruleset` spells it (for --explain and readers).
    pub text: String,
    pub exprs: Vec<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    pub chains: Vec<Chain>,
    pub rules: Vec<Rule>,
}

/// The name of a container's table: it follows from the id, so cleanup after a crash finds it.
pub fn table_name(id: &str) -> String {
    format!("containy-{id}")
}

const CHAINS: [Chain; 3] = [
    Chain { name: "postrouting", hook: NF_INET_POST_ROUTING, priority: NF_IP_PRI_NAT_SRC },
    Chain { name: "prerouting", hook: NF_INET_PRE_ROUTING, priority: NF_IP_PRI_NAT_DST },
    Chain { name: "output", hook: NF_INET_LOCAL_OUT, priority: NF_IP_PRI_NAT_DST },
];

/// The container's table: masquerade what leaves the subnet, and DNAT each published port (from other hosts
/// in prerouting, from the host itself in output).
pub fn container_table(table: &str, addr: Ipv4Addr, subnet: Ipv4Addr, prefix: u8, ports: &[PortMapping]) -> Table {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
    let saddr = || Expr::Network { offset: 12, len: 4 };
    let daddr = || Expr::Network { offset: 16, len: 4 };
    let mut rules = vec![Rule {
        chain: "postrouting",
        text: format!("ip saddr {addr} ip daddr != {subnet}/{prefix} masquerade"),
        exprs: vec![
            saddr(),
            Expr::Cmp { equal: true, data: addr.octets().to_vec() },
            daddr(),
            Expr::Bitwise { mask: mask.to_be_bytes().to_vec() },
            Expr::Cmp { equal: false, data: subnet.octets().to_vec() },
            Expr::Masquerade,
        ],
    }];
    if !ports.is_empty() {
        // Connections from the host's own 127.0.0.1 are DNATed to the container but would leave with a
        // loopback source the container cannot answer: give them the bridge's address (as podman does; the
        // bridge also needs route_localnet so such packets may be routed at all).
        rules.push(Rule {
            chain: "postrouting",
            text: format!("ip saddr 127.0.0.0/8 ip daddr {addr} masquerade"),
            exprs: vec![
                saddr(),
                Expr::Bitwise { mask: vec![255, 0, 0, 0] },
                Expr::Cmp { equal: true, data: vec![127, 0, 0, 0] },
                daddr(),
                Expr::Cmp { equal: true, data: addr.octets().to_vec() },
                Expr::Masquerade,
            ],
        });
    }
    for chain in ["prerouting", "output"] {
        for port in ports {
            let (proto_name, proto_num) = match port.protocol {
                Protocol::Tcp => ("tcp", libc::IPPROTO_TCP as u8),
                Protocol::Udp => ("udp", libc::IPPROTO_UDP as u8),
            };
            let mut exprs = match port.host_ip {
                Some(ip) => vec![daddr(), Expr::Cmp { equal: true, data: ip.octets().to_vec() }],
                None => vec![
                    Expr::FibDaddrType,
                    Expr::Cmp { equal: true, data: u32::from(libc::RTN_LOCAL).to_ne_bytes().to_vec() },
                ],
            };
            exprs.extend([
                Expr::L4Proto,
                Expr::Cmp { equal: true, data: vec![proto_num] },
                Expr::Transport { offset: 2, len: 2 },
                Expr::Cmp { equal: true, data: port.host_port.to_be_bytes().to_vec() },
                Expr::Dnat { addr, port: port.container_port },
            ]);
            let matched = port.host_ip.map_or("fib daddr type local".to_string(), |ip| format!("ip daddr {ip}"));
            rules.push(Rule {
                chain,
                text: format!("{matched} {proto_name} dport {} dnat to {addr}:{}", port.host_port, port.container_port),
                exprs,
            });
        }
    }
    Table { name: table.to_string(), chains: CHAINS.to_vec(), rules }
}

fn nfgenmsg(family: u8, res_id: u16) -> [u8; 4] {
    let id = res_id.to_be_bytes();
    [family, 0, id[0], id[1]]
}

fn message(kind: u16, flags: u16) -> Message {
    let mut m = Message::new((NFNL_SUBSYS_NFTABLES << 8) | kind, flags).with_nested_flag();
    m.push(&nfgenmsg(NFPROTO_IPV4, 0));
    m
}

/// The batch framing: begin and end, addressed to the nf_tables subsystem.
pub fn framing() -> [Message; 2] {
    [NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END].map(|kind| {
        let mut m = Message::new(kind, 0).without_ack();
        m.push(&nfgenmsg(libc::AF_UNSPEC as u8, NFNL_SUBSYS_NFTABLES));
        m
    })
}

/// Table, chains and rules, in the order the kernel needs them (a rule's chain must exist).
pub fn create(table: &Table) -> Vec<Message> {
    let mut out = Vec::new();
    let mut t = message(NFT_MSG_NEWTABLE, NLM_F_CREATE);
    t.attr_str(1, &table.name); // NFTA_TABLE_NAME
    out.push(t);
    for chain in &table.chains {
        let mut c = message(NFT_MSG_NEWCHAIN, NLM_F_CREATE);
        c.attr_str(1, &table.name).attr_str(3, chain.name); // NFTA_CHAIN_TABLE, NFTA_CHAIN_NAME
        let hook = c.begin_nested(4); // NFTA_CHAIN_HOOK
        c.attr_be32(1, chain.hook).attr_be32(2, chain.priority as u32); // NFTA_HOOK_HOOKNUM, _PRIORITY
        c.end_nested(hook);
        c.attr_str(7, "nat"); // NFTA_CHAIN_TYPE
        out.push(c);
    }
    for rule in &table.rules {
        let mut r = message(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
        r.attr_str(1, &table.name).attr_str(2, rule.chain); // NFTA_RULE_TABLE, NFTA_RULE_CHAIN
        let list = r.begin_nested(4); // NFTA_RULE_EXPRESSIONS
        for expr in &rule.exprs {
            encode(&mut r, expr);
        }
        r.end_nested(list);
        out.push(r);
    }
    out
}

/// `nft delete table ip NAME`: every chain and rule in it goes too.
pub fn delete(name: &str) -> Message {
    let mut m = message(NFT_MSG_DELTABLE, 0);
    m.attr_str(1, name);
    m
}

/// One `NFTA_LIST_ELEM`: the expression's name and its `NFTA_EXPR_DATA`.
fn encode(m: &mut Message, expr: &Expr) {
    if let Expr::Dnat { addr, port } = expr {
        return encode_dnat(m, *addr, *port);
    }
    let elem = m.begin_nested(1); // NFTA_LIST_ELEM
    let name = match expr {
        Expr::Network { .. } | Expr::Transport { .. } => "payload",
        Expr::L4Proto => "meta",
        Expr::FibDaddrType => "fib",
        Expr::Bitwise { .. } => "bitwise",
        Expr::Cmp { .. } => "cmp",
        Expr::Dnat { .. } => "nat",
        Expr::Masquerade => "masq",
    };
    m.attr_str(1, name); // NFTA_EXPR_NAME
    let data = m.begin_nested(2); // NFTA_EXPR_DATA
    let value = |m: &mut Message, kind: u16, bytes: &[u8]| {
        let nest = m.begin_nested(kind);
        m.attr(1, bytes); // NFTA_DATA_VALUE
        m.end_nested(nest);
    };
    match expr {
        Expr::Network { offset, len } | Expr::Transport { offset, len } => {
            let base = if matches!(expr, Expr::Network { .. }) { 1 } else { 2 }; // NFT_PAYLOAD_*_HEADER
            m.attr_be32(1, NFT_REG_1).attr_be32(2, base).attr_be32(3, *offset).attr_be32(4, *len);
        }
        Expr::L4Proto => {
            m.attr_be32(2, 16).attr_be32(1, NFT_REG_1); // NFTA_META_KEY = NFT_META_L4PROTO, NFTA_META_DREG
        }
        Expr::FibDaddrType => {
            // NFTA_FIB_DREG, NFTA_FIB_RESULT = NFT_FIB_RESULT_ADDRTYPE, NFTA_FIB_FLAGS = NFTA_FIB_F_DADDR
            m.attr_be32(1, NFT_REG_1).attr_be32(2, 3).attr_be32(3, 2);
        }
        Expr::Bitwise { mask } => {
            m.attr_be32(1, NFT_REG_1).attr_be32(2, NFT_REG_1).attr_be32(3, mask.len() as u32);
            value(m, 4, mask); // NFTA_BITWISE_MASK
            value(m, 5, &vec![0; mask.len()]); // NFTA_BITWISE_XOR
        }
        Expr::Cmp { equal, data: bytes } => {
            m.attr_be32(1, NFT_REG_1).attr_be32(2, if *equal { 0 } else { 1 }); // NFT_CMP_EQ / NFT_CMP_NEQ
            value(m, 3, bytes);
        }
        Expr::Dnat { .. } | Expr::Masquerade => {}
    }
    m.end_nested(data);
    m.end_nested(elem);
}

/// `dnat to ADDR:PORT` is three expressions: two `immediate` loads into registers 1 and 2, then the `nat`
/// that reads them.
fn encode_dnat(m: &mut Message, addr: Ipv4Addr, port: u16) {
    for (reg, bytes) in [(NFT_REG_1, addr.octets().to_vec()), (NFT_REG_2, port.to_be_bytes().to_vec())] {
        let elem = m.begin_nested(1);
        m.attr_str(1, "immediate");
        let data = m.begin_nested(2);
        m.attr_be32(1, reg); // NFTA_IMMEDIATE_DREG
        let d = m.begin_nested(2); // NFTA_IMMEDIATE_DATA
        m.attr(1, &bytes);
        m.end_nested(d);
        m.end_nested(data);
        m.end_nested(elem);
    }
    let elem = m.begin_nested(1);
    m.attr_str(1, "nat");
    let data = m.begin_nested(2);
    // NFTA_NAT_TYPE = NFT_NAT_DNAT, NFTA_NAT_FAMILY, NFTA_NAT_REG_ADDR_MIN, NFTA_NAT_REG_PROTO_MIN
    m.attr_be32(1, 1).attr_be32(2, u32::from(NFPROTO_IPV4)).attr_be32(3, NFT_REG_1).attr_be32(5, NFT_REG_2);
    m.end_nested(data);
    m.end_nested(elem);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(host_ip: Option<Ipv4Addr>) -> PortMapping {
        PortMapping { host_ip, host_port: 18080, container_port: 80, protocol: Protocol::Tcp }
    }

    #[test]
    fn a_container_without_ports_only_masquerades() {
        let t = container_table(&table_name("web"), Ipv4Addr::new(10, 88, 0, 2), Ipv4Addr::new(10, 88, 0, 0), 24, &[]);
        assert_eq!(t.name, "containy-web");
        let texts: Vec<_> = t.rules.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["ip saddr 10.88.0.2 ip daddr != 10.88.0.0/24 masquerade"]);
        assert_eq!(t.rules[0].exprs[3], Expr::Bitwise { mask: vec![255, 255, 255, 0] });
    }

    #[test]
    fn published_ports_are_dnat_in_prerouting_and_output() {
        let ip = Some(Ipv4Addr::LOCALHOST);
        let t = container_table(
            &table_name("web"),
            Ipv4Addr::new(10, 88, 0, 2),
            Ipv4Addr::new(10, 88, 0, 0),
            24,
            &[port(ip)],
        );
        let texts: Vec<_> = t.rules.iter().map(|r| (r.chain, r.text.as_str())).collect();
        assert_eq!(
            texts,
            [
                ("postrouting", "ip saddr 10.88.0.2 ip daddr != 10.88.0.0/24 masquerade"),
                ("postrouting", "ip saddr 127.0.0.0/8 ip daddr 10.88.0.2 masquerade"),
                ("prerouting", "ip daddr 127.0.0.1 tcp dport 18080 dnat to 10.88.0.2:80"),
                ("output", "ip daddr 127.0.0.1 tcp dport 18080 dnat to 10.88.0.2:80"),
            ]
        );
        assert_eq!(t.rules[2].exprs[5], Expr::Cmp { equal: true, data: vec![0x46, 0xa0] });
        let any = container_table(
            &table_name("web"),
            Ipv4Addr::new(10, 88, 0, 2),
            Ipv4Addr::new(10, 88, 0, 0),
            24,
            &[port(None)],
        );
        assert!(any.rules[2].text.starts_with("fib daddr type local tcp dport 18080"));
    }

    #[test]
    fn batch_messages_come_in_dependency_order() {
        let t = container_table(&table_name("web"), Ipv4Addr::new(10, 88, 0, 2), Ipv4Addr::new(10, 88, 0, 0), 24, &[]);
        let kinds: Vec<u16> = create(&t).iter().map(|m| m.kind() & 0xff).collect();
        assert_eq!(kinds, [NFT_MSG_NEWTABLE, NFT_MSG_NEWCHAIN, NFT_MSG_NEWCHAIN, NFT_MSG_NEWCHAIN, NFT_MSG_NEWRULE]);
        assert!(create(&t).iter().all(|m| m.kind() >> 8 == NFNL_SUBSYS_NFTABLES));
        let [begin, _] = framing();
        assert_eq!(&begin.bytes()[16..20], &[0, 0, 0, 10]);
    }
}
