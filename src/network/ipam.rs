//! IP address management: which networks exist and which container holds which address, kept as files under
//! the state root so they survive a crash of containy.
//!
//! ```text
//! <root>/.networks/lock                 flock(2)ed while networks or leases change
//! <root>/.networks/<name>.json          the network: subnet, prefix, gateway (its bridge is named <name>)
//! <root>/.networks/<name>/<address>     a lease: which container holds the address (JSON)
//! ```
//!
//! A lease is taken with `link(2)` of a fully written temporary file onto the address's name: `link` fails
//! with `EEXIST` if the name is taken, so two containers can never get one address, and a lease is never
//! seen half-written. Leases are freed by the container's cleanup (`run`'s end, or `delete`); one left by a
//! container killed with containy stays until `delete --force` of that container, as its address must not be
//! handed out while the container might still be using it.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::NetworkError;

/// A defined network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDef {
    pub name: String,
    /// The network address (host bits zero).
    pub subnet: Ipv4Addr,
    pub prefix: u8,
    /// The bridge's own address: the containers' default route.
    pub gateway: Ipv4Addr,
}

impl NetworkDef {
    /// The network `10.88.N.0/24` with gateway `.1`.
    pub fn new(name: &str, subnet: Ipv4Addr, prefix: u8) -> NetworkDef {
        NetworkDef { name: name.to_string(), subnet, prefix, gateway: Ipv4Addr::from(u32::from(subnet) + 1) }
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) }
    }

    /// The addresses containers may get: after the gateway, before the broadcast address.
    pub fn host_addresses(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.subnet) + 2;
        let broadcast = u32::from(self.subnet) | !self.mask();
        (first..broadcast).map(Ipv4Addr::from)
    }

    pub fn overlaps(&self, other: &NetworkDef) -> bool {
        let mask = self.mask() & other.mask();
        u32::from(self.subnet) & mask == u32::from(other.subnet) & mask
    }
}

/// `10.89.0.0/24`: the address must be the network's own (host bits zero), the prefix 8..=30.
pub fn parse_subnet(text: &str) -> Result<(Ipv4Addr, u8), String> {
    let form = "use ADDRESS/PREFIX with a prefix from 8 to 30, e.g. 10.89.0.0/24";
    let (addr, prefix) = text.split_once('/').ok_or_else(|| format!("subnet {text:?}: {form}"))?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| format!("subnet {text:?}: {addr:?} is not an IPv4 address"))?;
    let prefix: u8 =
        prefix.parse().ok().filter(|p| (8..=30).contains(p)).ok_or_else(|| format!("subnet {text:?}: {form}"))?;
    let def = NetworkDef::new("", addr, prefix);
    if u32::from(addr) & !def.mask() != 0 {
        let net = Ipv4Addr::from(u32::from(addr) & def.mask());
        return Err(format!("subnet {text:?} has host bits set: did you mean {net}/{prefix}?"));
    }
    Ok((addr, prefix))
}

/// The first `10.88.N.0/24` that overlaps no defined network.
pub fn free_subnet(defined: &[NetworkDef]) -> Option<(Ipv4Addr, u8)> {
    (88..=255u8)
        .map(|n| NetworkDef::new("", Ipv4Addr::new(10, n, 0, 0), 24))
        .find(|candidate| !defined.iter().any(|d| d.overlaps(candidate)))
        .map(|d| (d.subnet, d.prefix))
}

/// Who holds an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub id: String,
    pub hostname: String,
    pub address: Ipv4Addr,
    /// The container's generated `/etc/hosts` (under its state dir), rewritten when peers come and go.
    pub hosts_file: PathBuf,
}

/// The network records under one state root.
pub struct Store {
    dir: PathBuf,
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> NetworkError {
    let path = path.to_path_buf();
    move |source| NetworkError::Io(crate::error::IoError { op, path, source })
}

impl Store {
    pub fn new(root: &Path) -> Store {
        Store { dir: root.join(".networks") }
    }

    /// Hold the lock while reading and changing networks and leases (dropped: unlocked).
    pub fn lock(&self) -> Result<Flock<File>, NetworkError> {
        std::fs::create_dir_all(&self.dir).map_err(io("mkdir", &self.dir))?;
        let path = self.dir.join("lock");
        let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(io("open", &path))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io("flock", &path)(e.into()))
    }

    fn def_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    fn lease_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn load(&self, name: &str) -> Result<Option<NetworkDef>, NetworkError> {
        let path = self.def_path(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| NetworkError::Corrupt { path, problem: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &path)(e)),
        }
    }

    pub fn list(&self) -> Vec<NetworkDef> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut all: Vec<NetworkDef> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
            .filter_map(|name| self.load(&name).ok().flatten())
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Write the network's record (temp + rename) and its lease directory.
    pub fn define(&self, def: &NetworkDef) -> Result<(), NetworkError> {
        let leases = self.lease_dir(&def.name);
        std::fs::create_dir_all(&leases).map_err(io("mkdir", &leases))?;
        write_atomic(&self.def_path(&def.name), &serde_json::to_vec_pretty(def).unwrap_or_default())
    }

    /// Forget a network (its leases must be gone).
    pub fn undefine(&self, name: &str) -> Result<(), NetworkError> {
        let leases = self.lease_dir(name);
        match std::fs::remove_dir(&leases) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("rmdir", &leases)(e)),
        }
        let path = self.def_path(name);
        std::fs::remove_file(&path).map_err(io("remove", &path))
    }

    pub fn leases(&self, name: &str) -> Vec<Lease> {
        let Ok(entries) = std::fs::read_dir(self.lease_dir(name)) else { return Vec::new() };
        let mut all: Vec<Lease> = entries
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.parse::<Ipv4Addr>().is_ok()))
            .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
            .collect();
        all.sort_by_key(|l| l.address);
        all
    }

    /// Take the first free address of `def` for `lease` (its `address` is filled in).
    pub fn allocate(&self, def: &NetworkDef, mut lease: Lease) -> Result<Lease, NetworkError> {
        let dir = self.lease_dir(&def.name);
        std::fs::create_dir_all(&dir).map_err(io("mkdir", &dir))?;
        let tmp = dir.join(format!(".{}.tmp", lease.id));
        for address in def.host_addresses() {
            lease.address = address;
            std::fs::write(&tmp, serde_json::to_vec(&lease).unwrap_or_default()).map_err(io("write", &tmp))?;
            let target = dir.join(address.to_string());
            let taken = std::fs::hard_link(&tmp, &target);
            let _ = std::fs::remove_file(&tmp);
            match taken {
                Ok(()) => return Ok(lease),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io("link", &target)(e)),
            }
        }
        Err(NetworkError::Exhausted { name: def.name.clone(), subnet: format!("{}/{}", def.subnet, def.prefix) })
    }

    /// Give back every lease `id` holds in `name` (normally one).
    pub fn release(&self, name: &str, id: &str) -> Result<(), NetworkError> {
        for lease in self.leases(name).into_iter().filter(|l| l.id == id) {
            let path = self.lease_dir(name).join(lease.address.to_string());
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("remove", &path)(e)),
            }
        }
        Ok(())
    }
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), NetworkError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("rename", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(id: &str) -> Lease {
        Lease { id: id.into(), hostname: id.into(), address: Ipv4Addr::UNSPECIFIED, hosts_file: "/x".into() }
    }

    #[test]
    fn addresses_skip_network_gateway_and_broadcast() {
        let def = NetworkDef::new("n", Ipv4Addr::new(10, 88, 0, 0), 30);
        assert_eq!(def.gateway, Ipv4Addr::new(10, 88, 0, 1));
        assert_eq!(def.host_addresses().collect::<Vec<_>>(), [Ipv4Addr::new(10, 88, 0, 2)]);
    }

    #[test]
    fn subnets_parse_and_the_next_free_one_is_found() {
        assert_eq!(parse_subnet("10.89.0.0/24"), Ok((Ipv4Addr::new(10, 89, 0, 0), 24)));
        assert!(parse_subnet("10.89.0.1/24").unwrap_err().contains("did you mean 10.89.0.0/24"));
        assert!(parse_subnet("10.89.0.0").unwrap_err().contains("ADDRESS/PREFIX"));
        assert!(parse_subnet("10.0.0.0/31").is_err());
        let used = [NetworkDef::new("a", Ipv4Addr::new(10, 88, 0, 0), 24)];
        assert_eq!(free_subnet(&used), Some((Ipv4Addr::new(10, 89, 0, 0), 24)));
        let wide = [NetworkDef::new("a", Ipv4Addr::new(10, 88, 0, 0), 15)];
        assert_eq!(free_subnet(&wide), Some((Ipv4Addr::new(10, 90, 0, 0), 24)));
    }

    #[test]
    fn leases_are_exclusive_and_released_by_id() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::new(root.path());
        let def = NetworkDef::new("n", Ipv4Addr::new(10, 88, 0, 0), 29);
        store.define(&def).unwrap();
        let _lock = store.lock().unwrap();
        let a = store.allocate(&def, lease("a")).unwrap();
        let b = store.allocate(&def, lease("b")).unwrap();
        assert_eq!((a.address, b.address), (Ipv4Addr::new(10, 88, 0, 2), Ipv4Addr::new(10, 88, 0, 3)));
        store.release(&def.name, "a").unwrap();
        assert_eq!(store.leases("n"), vec![b.clone()]);
        assert_eq!(store.allocate(&def, lease("c")).unwrap().address, a.address);
        for id in ["d", "e", "f"] {
            store.allocate(&def, lease(id)).unwrap();
        }
        assert!(matches!(store.allocate(&def, lease("g")), Err(NetworkError::Exhausted { .. })));
        assert_eq!(store.list(), vec![def]);
    }
}
