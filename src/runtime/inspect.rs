//! `containy inspect`: a running container, read back from the kernel's own bookkeeping in `/proc/<pid>`.
//!
//! A container has no existence of its own: everything that makes it one is a property of its process, and
//! the kernel publishes each property under `/proc/<pid>`. Its namespaces are the links in `ns/` (an inode
//! number per namespace: two processes share a namespace exactly when the numbers are equal, so they are
//! compared with containy's own `/proc/self/ns`); its mounts are `mountinfo` (read through the container's
//! pid, paths are relative to the container's root, and the root's overlay options name the host's
//! `lowerdir`/`upperdir`); its privileges are the `Cap*`, `NoNewPrivs` and `Seccomp` lines of `status`; its
//! network is `net/dev`, `net/fib_trie` and `net/if_inet6`, which show the network namespace of the process
//! that reads them through. Its cgroup is the one recorded in `state.json`, read by [`Container::stats`].
//!
//! Gathering is split from parsing: the `parse_*` functions are pure and take the files' text, so they are
//! tested against samples; [`inspect`] only reads files. The process can exit while it is being read; a file
//! that vanishes is an error naming it, a file this kernel lacks (`ns/time`, `if_inet6`) is simply absent.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::RuntimeError;
use super::container::Container;
use super::state::Status;
use crate::cgroups::Stats;

/// Everything `containy inspect` shows, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub id: String,
    pub status: Status,
    /// The container's first process as the host numbers it (`state.json`'s `pid`).
    pub pid: i32,
    /// The same process as the container numbers it (the last field of `NSpid`): 1 in a new PID namespace.
    pub pid_inside: Option<i32>,
    pub command: Vec<String>,
    pub bundle: PathBuf,
    pub namespaces: Vec<NamespaceRow>,
    /// `/proc/<pid>/uid_map`: `0 0 4294967295` means no user namespace (every id is itself).
    pub uid_map: Vec<IdRange>,
    pub gid_map: Vec<IdRange>,
    pub cgroup: CgroupView,
    pub mounts: MountView,
    pub privileges: Privileges,
    pub network: Vec<Interface>,
}

/// One kind of namespace, the container's next to the host's (containy's own).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamespaceRow {
    /// The name under `/proc/<pid>/ns/`: `pid`, `net`, `uts`, `mnt`, `ipc`, `user`, `cgroup`, `time`.
    pub kind: String,
    pub container: Option<u64>,
    pub host: Option<u64>,
    /// Same inode: the container shares this namespace with the host.
    pub shared: bool,
}

/// One line of a uid or gid map: ids `inside..inside+count` are host ids `outside..outside+count`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct CgroupView {
    /// The container's cgroup directory per controller (one per v1 hierarchy, or `unified`).
    pub paths: Vec<(String, PathBuf)>,
    pub stats: Stats,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MountView {
    /// The mount at `/`, with its overlay layers when it is an overlay.
    pub root: Option<MountEntry>,
    pub overlay: Option<OverlayLayers>,
    /// Every mount the container sees, in `mountinfo` order (the order they were made).
    pub list: Vec<MountEntry>,
}

/// One line of `mountinfo`, the fields that say what is mounted where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountEntry {
    /// Where, relative to the reading process's root (for the container's pid: the container's `/`).
    pub mount_point: String,
    pub fstype: String,
    pub source: String,
    /// The directory of the source filesystem that is mounted here (`/null` for a masked file: a bind).
    pub root: String,
    /// Per-mount options (`ro`, `nosuid`, …).
    pub options: String,
    /// The filesystem's own options (overlay's `lowerdir=…`).
    pub super_options: String,
}

/// overlayfs's three directories, from the root mount's options: host paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverlayLayers {
    /// Read-only layers, top first.
    pub lowerdir: Vec<PathBuf>,
    /// Where the container's writes land (copy-up).
    pub upperdir: Option<PathBuf>,
    /// overlayfs's scratch space, on the same filesystem as `upperdir`.
    pub workdir: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Privileges {
    /// Host view of the real uid (`Uid:` first field): in a user namespace, the mapped id of root.
    pub host_uid: Option<u32>,
    pub effective: Vec<String>,
    pub permitted: Vec<String>,
    pub bounding: Vec<String>,
    pub inheritable: Vec<String>,
    pub ambient: Vec<String>,
    pub no_new_privs: bool,
    pub seccomp: SeccompMode,
    /// How many seccomp filters are attached (`Seccomp_filters:`, kernels since 5.9).
    pub seccomp_filters: Option<u32>,
}

/// The `Seccomp:` line of `status`: 0, 1 or 2.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeccompMode {
    /// 0: every syscall reaches the kernel.
    #[default]
    Disabled,
    /// 1: only read, write, _exit and sigreturn (`SECCOMP_MODE_STRICT`).
    Strict,
    /// 2: a BPF program decides for each syscall (`SECCOMP_MODE_FILTER`).
    Filter,
}

/// One network interface of the container's network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    pub name: String,
    /// `127.0.0.1`, `::1/128`, … (IPv4 from the LOCAL entries of `fib_trie`, IPv6 from `if_inet6`).
    pub addresses: Vec<String>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// The namespace kinds shown, in the order a reader meets them in the lessons.
const NAMESPACE_KINDS: [&str; 8] = ["pid", "net", "uts", "mnt", "ipc", "user", "cgroup", "time"];

/// Inspect the running container `id` under the state root `root`.
pub fn inspect(root: &Path, id: &str) -> Result<Inspection, RuntimeError> {
    let container = Container::running(root, id)?;
    let pid = container.state.pid;
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let read = |name: &str| read_file(&proc_dir.join(name));
    let optional = |name: &str| read_optional(&proc_dir.join(name));

    let status = read("status")?;
    let namespaces = NAMESPACE_KINDS
        .iter()
        .map(|kind| {
            let container = ns_inode(&proc_dir.join("ns").join(kind));
            let host = ns_inode(&Path::new("/proc/self/ns").join(kind));
            NamespaceRow { kind: kind.to_string(), container, host, shared: container.is_some() && container == host }
        })
        .collect();
    let mounts = parse_mountinfo(&read("mountinfo")?);
    let root_mount = mounts.iter().rev().find(|m| m.mount_point == "/").cloned();
    let overlay = root_mount.as_ref().filter(|m| m.fstype == "overlay").map(|m| overlay_layers(&m.super_options));
    let interfaces = parse_net_dev(&optional("net/dev")?.unwrap_or_default());
    let ipv4 = parse_fib_trie_local(&optional("net/fib_trie")?.unwrap_or_default());
    let routes = parse_route(&optional("net/route")?.unwrap_or_default());
    let ipv6 = parse_if_inet6(&optional("net/if_inet6")?.unwrap_or_default());

    Ok(Inspection {
        id: id.to_string(),
        status: container.status(),
        pid,
        pid_inside: status_field(&status, "NSpid").and_then(|v| v.split_whitespace().last()?.parse().ok()),
        command: read("cmdline")?.split('\0').filter(|a| !a.is_empty()).map(str::to_string).collect(),
        bundle: container.state.bundle.clone(),
        namespaces,
        uid_map: parse_id_map(&read("uid_map")?),
        gid_map: parse_id_map(&read("gid_map")?),
        cgroup: CgroupView { paths: container.state.cgroups.clone(), stats: container.stats() },
        mounts: MountView { root: root_mount, overlay, list: mounts },
        privileges: parse_privileges(&status),
        network: attach_addresses(interfaces, &ipv4, &routes, &ipv6),
    })
}

fn read_file(path: &Path) -> Result<String, RuntimeError> {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .map_err(|e| RuntimeError::io("read", path, e))
}

/// A file this kernel may not have (no IPv6, no time namespaces): `None` rather than an error.
fn read_optional(path: &Path) -> Result<Option<String>, RuntimeError> {
    match read_file(path) {
        Ok(text) => Ok(Some(text)),
        Err(RuntimeError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// `net:[4026531840]` → 4026531840.
fn ns_inode(link: &Path) -> Option<u64> {
    parse_ns_link(&std::fs::read_link(link).ok()?.to_string_lossy())
}

pub fn parse_ns_link(target: &str) -> Option<u64> {
    target.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

/// The value of `Name:\tvalue` in `/proc/<pid>/status`.
fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::trim)
}

/// The capability sets (hex masks decoded to names), `NoNewPrivs` and `Seccomp` from `status`.
pub fn parse_privileges(status: &str) -> Privileges {
    let caps = |field| status_field(status, field).and_then(|v| u64::from_str_radix(v, 16).ok()).map(cap_names);
    Privileges {
        host_uid: status_field(status, "Uid").and_then(|v| v.split_whitespace().next()?.parse().ok()),
        effective: caps("CapEff").unwrap_or_default(),
        permitted: caps("CapPrm").unwrap_or_default(),
        bounding: caps("CapBnd").unwrap_or_default(),
        inheritable: caps("CapInh").unwrap_or_default(),
        ambient: caps("CapAmb").unwrap_or_default(),
        no_new_privs: status_field(status, "NoNewPrivs") == Some("1"),
        seccomp: match status_field(status, "Seccomp") {
            Some("1") => SeccompMode::Strict,
            Some("2") => SeccompMode::Filter,
            _ => SeccompMode::Disabled,
        },
        seccomp_filters: status_field(status, "Seccomp_filters").and_then(|v| v.parse().ok()),
    }
}

/// A capability mask as names (`CAP_CHOWN`, …), lowest bit first; a bit newer than the `caps` crate is
/// shown by number (`CAP_41`) rather than dropped.
pub fn cap_names(mask: u64) -> Vec<String> {
    let known = caps::all();
    (0..64u8)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| match known.iter().find(|c| c.index() == bit) {
            Some(cap) => cap.to_string(),
            None => format!("CAP_{bit}"),
        })
        .collect()
}

/// Every capability this kernel has (`/proc/sys/kernel/cap_last_cap`), for "n of N".
pub fn capability_count() -> usize {
    caps::runtime::procfs_all_supported(None).map(|s| s.len()).unwrap_or_else(|_| caps::all().len())
}

/// `inside outside count` lines.
pub fn parse_id_map(text: &str) -> Vec<IdRange> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(|n| n.parse::<u32>());
            Some(IdRange { inside: f.next()?.ok()?, outside: f.next()?.ok()?, count: f.next()?.ok()? })
        })
        .collect()
}

/// `mountinfo`: `id parent major:minor root mount_point options [optional…] - fstype source super_options`,
/// with space, tab, newline and backslash written as octal escapes (`\040`).
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            Some(MountEntry {
                root: unescape(left.get(3)?),
                mount_point: unescape(left.get(4)?),
                options: left.get(5)?.to_string(),
                fstype: right.next()?.to_string(),
                source: unescape(right.next()?),
                super_options: unescape(right.next().unwrap_or("")),
            })
        })
        .collect()
}

/// Undo the kernel's octal escapes (`\040` is a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push(d.iter().fold(0u8, |n, b| n.wrapping_mul(8).wrapping_add(b - b'0')));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// overlay's `lowerdir=a:b,upperdir=u,workdir=w` (the kernel escapes a `,` or `:` inside a path).
pub fn overlay_layers(super_options: &str) -> OverlayLayers {
    let option = |name: &str| super_options.split(',').find_map(|o| o.strip_prefix(name)?.strip_prefix('='));
    OverlayLayers {
        lowerdir: option("lowerdir")
            .map(|l| l.split(':').map(|p| PathBuf::from(unescape(p))).collect())
            .unwrap_or_default(),
        upperdir: option("upperdir").map(|p| PathBuf::from(unescape(p))),
        workdir: option("workdir").map(|p| PathBuf::from(unescape(p))),
    }
}

/// `net/dev`: two header lines, then `name: rx_bytes rx_packets … (8 receive fields) tx_bytes …`.
pub fn parse_net_dev(text: &str) -> Vec<Interface> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, counters) = l.split_once(':')?;
            let counters: Vec<u64> = counters.split_whitespace().filter_map(|n| n.parse().ok()).collect();
            Some(Interface {
                name: name.trim().to_string(),
                addresses: Vec::new(),
                rx_bytes: *counters.first()?,
                tx_bytes: *counters.get(8)?,
            })
        })
        .collect()
}

/// The namespace's own IPv4 addresses: `fib_trie` leaves (`|-- 127.0.0.1`) followed by `/32 host LOCAL`.
/// The trie is printed once per routing table, so addresses are deduplicated.
pub fn parse_fib_trie_local(text: &str) -> Vec<Ipv4Addr> {
    let mut leaf = None;
    let mut local = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(addr) = line.strip_prefix("|-- ") {
            leaf = addr.parse::<Ipv4Addr>().ok();
        } else if line.starts_with("/32 host LOCAL")
            && let Some(addr) = leaf
            && !local.contains(&addr)
        {
            local.push(addr);
        }
    }
    local
}

/// `net/route`: `(interface, destination, mask)`, addresses in the kernel's (little-endian) hex.
pub fn parse_route(text: &str) -> Vec<(String, Ipv4Addr, Ipv4Addr)> {
    let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(|n| Ipv4Addr::from(n.swap_bytes()));
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.first()?.to_string(), hex(f.get(1)?)?, hex(f.get(7)?)?))
        })
        .collect()
}

/// `if_inet6`: `address(32 hex) ifindex prefix_len(hex) scope flags name`.
pub fn parse_if_inet6(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let addr = Ipv6Addr::from(u128::from_str_radix(f.first()?, 16).ok()?);
            let prefix = u8::from_str_radix(f.get(2)?, 16).ok()?;
            Some((f.get(5)?.to_string(), format!("{addr}/{prefix}")))
        })
        .collect()
}

/// `/proc` names no interface for an IPv4 address: it belongs to the interface whose connected route
/// covers it, and loopback addresses (whose routes live only in the local table) to `lo`.
pub fn attach_addresses(
    mut interfaces: Vec<Interface>,
    ipv4: &[Ipv4Addr],
    routes: &[(String, Ipv4Addr, Ipv4Addr)],
    ipv6: &[(String, String)],
) -> Vec<Interface> {
    for addr in ipv4 {
        let owner = if addr.is_loopback() {
            Some("lo".to_string())
        } else {
            routes
                .iter()
                .filter(|(_, dest, mask)| {
                    u32::from(*mask) != 0 && u32::from(*addr) & u32::from(*mask) == u32::from(*dest)
                })
                .max_by_key(|(_, _, mask)| u32::from(*mask).count_ones())
                .map(|(name, _, _)| name.clone())
        };
        if let Some(iface) = interfaces.iter_mut().find(|i| Some(&i.name) == owner.as_ref()) {
            iface.addresses.push(addr.to_string());
        }
    }
    for (name, addr) in ipv6 {
        if let Some(iface) = interfaces.iter_mut().find(|i| &i.name == name) {
            iface.addresses.push(addr.clone());
        }
    }
    interfaces
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
66 42 0:40 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/containy/base/ab12,upperdir=/run/containy/c1/upper,workdir=/run/containy/c1/work,uuid=on
67 66 0:42 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
77 73 0:32 /containy/c1 /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
44 67 0:43 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
90 66 8:1 /home/me/my\\040data /data rw,relatime shared:1 master:2 - ext4 /dev/sda1 rw
";

    #[test]
    fn mountinfo_lines_become_mounts_and_the_root_overlay_its_layers() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 5);
        assert_eq!(mounts[0].mount_point, "/");
        assert_eq!(mounts[0].fstype, "overlay");
        let layers = overlay_layers(&mounts[0].super_options);
        assert_eq!(layers.lowerdir, [PathBuf::from("/var/lib/containy/base/ab12")]);
        assert_eq!(layers.upperdir, Some(PathBuf::from("/run/containy/c1/upper")));
        assert_eq!(layers.workdir, Some(PathBuf::from("/run/containy/c1/work")));
        // A masked file is a bind of /dev/null: its root is /null of the container's /dev tmpfs.
        assert_eq!((mounts[3].mount_point.as_str(), mounts[3].root.as_str()), ("/proc/keys", "/null"));
        // Optional fields before the separator, and an escaped space.
        assert_eq!(mounts[4].root, "/home/me/my data");
        assert_eq!((mounts[4].fstype.as_str(), mounts[4].source.as_str()), ("ext4", "/dev/sda1"));
        let stacked = overlay_layers("rw,lowerdir=/l/top:/l/bottom,upperdir=/u,workdir=/w");
        assert_eq!(stacked.lowerdir, [PathBuf::from("/l/top"), PathBuf::from("/l/bottom")]);
    }

    #[test]
    fn status_lines_become_capability_names_seccomp_and_no_new_privs() {
        let status = "Name:\tsh\nUid:\t100000\t100000\t100000\t100000\nNSpid:\t24017\t1\n\
                      CapInh:\t0000000000000000\nCapPrm:\t00000000800405fb\nCapEff:\t00000000800405fb\n\
                      CapBnd:\t00000000800405fb\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n\
                      Seccomp_filters:\t1\n";
        let p = parse_privileges(status);
        assert_eq!(
            p.effective,
            [
                "CAP_CHOWN",
                "CAP_DAC_OVERRIDE",
                "CAP_FOWNER",
                "CAP_FSETID",
                "CAP_KILL",
                "CAP_SETGID",
                "CAP_SETUID",
                "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE",
                "CAP_SYS_CHROOT",
                "CAP_SETFCAP"
            ]
        );
        assert_eq!(p.bounding, p.effective);
        assert!(p.inheritable.is_empty() && p.ambient.is_empty());
        assert!(p.no_new_privs);
        assert_eq!(p.seccomp, SeccompMode::Filter);
        assert_eq!(p.seccomp_filters, Some(1));
        assert_eq!(p.host_uid, Some(100000));
        assert_eq!(status_field(status, "NSpid"), Some("24017\t1"));
        let off = parse_privileges("NoNewPrivs:\t0\nSeccomp:\t0\n");
        assert_eq!((off.no_new_privs, off.seccomp), (false, SeccompMode::Disabled));
        assert_eq!(cap_names(1 << 21), ["CAP_SYS_ADMIN"]);
        assert_eq!(cap_names(1 << 63), ["CAP_63"]);
    }

    #[test]
    fn namespace_links_and_id_maps() {
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("garbage"), None);
        assert_eq!(
            parse_id_map("         0     100000      65536\n"),
            [IdRange { inside: 0, outside: 100000, count: 65536 }]
        );
        assert_eq!(parse_id_map("0 0 4294967295\n")[0].count, u32::MAX);
    }

    #[test]
    fn interfaces_get_their_addresses() {
        let dev = "Inter-|   Receive                                                |  Transmit\n \
                   face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
                   lo:     120       2    0    0    0     0          0         0      120       2    0    0    0     0       0          0\n  \
                   eth0:    5000      40    0    0    0     0          0         0     3000      30    0    0    0     0       0          0\n";
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     \
                   +-- 10.0.0.0/24 2 0 2\n        |-- 10.0.0.0\n           /24 link UNICAST\n        \
                   |-- 10.0.0.2\n           /32 host LOCAL\n     +-- 127.0.0.0/8 2 0 2\n        \
                   |-- 127.0.0.1\n           /32 host LOCAL\n        |-- 127.255.255.255\n           \
                   /32 link BROADCAST\nLocal:\n  |-- 127.0.0.1\n     /32 host LOCAL\n";
        let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\n";
        let v4 = parse_fib_trie_local(fib);
        assert_eq!(v4, [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 1)]);
        let routes = parse_route(route);
        assert_eq!(routes[0], ("eth0".to_string(), Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(255, 255, 255, 0)));
        let ifaces = attach_addresses(parse_net_dev(dev), &v4, &routes, &parse_if_inet6(inet6));
        assert_eq!(ifaces.len(), 2);
        assert_eq!((ifaces[0].name.as_str(), ifaces[0].rx_bytes, ifaces[0].tx_bytes), ("lo", 120, 120));
        assert_eq!(ifaces[0].addresses, ["127.0.0.1", "::1/128"]);
        assert_eq!((ifaces[1].name.as_str(), ifaces[1].rx_bytes, ifaces[1].tx_bytes), ("eth0", 5000, 3000));
        assert_eq!(ifaces[1].addresses, ["10.0.0.2"]);
    }
}
