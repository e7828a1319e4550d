//! Lowering: a deserialized friendly config becomes a `Plan`, with every default filled in.
//!
//! This is where fields are checked against each other (`path` against `tarball`, `editable` against `mode`,
//! `memory_swap` against `memory`) and where the friendly vocabulary is translated into the kernel's: mounts into
//! `mount(2)` flags and data, capability names into the five sets, `cpu = 0.5` into a CFS quota per period. The
//! namespaces, id maps and names are lowered in `isolation.rs`. Each error names the dotted field it is about;
//! `mod.rs` finds that field's line in the file.

use std::path::{Path, PathBuf};

use crate::plan::{self, Capabilities, Mount, Plan, Process, Resources, Rlimit, Rootfs, RootfsMode, RootfsSource};

use super::resources::{Pids, ResourcesSection};
use super::schema::{
    CapName, CapabilitiesSection, Friendly, MountKind, MountSection, ProcessSection, RootfsModeName, RootfsSection,
};
use super::{isolation, seccomp};

/// A value that is wrong only in the light of another: the field to blame and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Invalid {
    pub field: String,
    pub message: String,
}

pub(super) fn invalid<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid { field: field.into(), message: message.into() })
}

/// The top-level directories `split` mode copies per container when `editable` is not given: the ones programs
/// write to. Everything else (`/usr`, `/bin`, `/lib`, …) is shared read-only.
const DEFAULT_EDITABLE: &[&str] = &["etc", "root", "tmp", "var", "home", "run"];

/// CFS bandwidth period: `cpu = 1.0` is a quota of one full period.
const CPU_PERIOD_US: u64 = 100_000;

/// `bundle` must already be absolute: every relative host path in the config is made absolute against it.
pub(super) fn lower(config: Friendly, bundle: &Path) -> Result<Plan, Invalid> {
    // In the order a config is usually written, so the first error reported is the first one in the file.
    let isolation = isolation::lower_isolation(&config)?;
    let process = lower_process(config.process, bundle)?;
    let rootfs = lower_rootfs(config.rootfs, bundle)?;
    let mut mounts = plan::default_mounts();
    mounts.extend(lower_mounts(config.mounts, bundle)?);
    let resources = lower_resources(config.resources)?;
    let sysctl: Vec<(String, String)> = config.sysctl.into_iter().collect();
    let limits =
        config.limits.lower().map_err(|e| Invalid { field: format!("limits.{}", e.field), message: e.message })?;
    for (key, value) in &sysctl {
        if let Err(e) = plan::check_sysctl(key, value, &isolation.namespaces) {
            return invalid(format!("sysctl.{key}"), e);
        }
    }
    Ok(Plan {
        bundle: bundle.to_path_buf(),
        process,
        hostname: isolation.hostname,
        domainname: isolation.domainname,
        namespaces: isolation.namespaces,
        uid_mappings: isolation.uid_mappings,
        gid_mappings: isolation.gid_mappings,
        rootfs,
        mounts,
        masked_paths: plan::DEFAULT_MASKED_PATHS.iter().map(PathBuf::from).collect(),
        readonly_paths: plan::DEFAULT_READONLY_PATHS.iter().map(PathBuf::from).collect(),
        resources,
        cgroups_path: None,
        sysctl,
        network: isolation.network,
        etc_files: true,
        net_devices: Vec::new(),
        hooks: Default::default(),
        annotations: Default::default(),
        personality: None,
        devices: Vec::new(),
        root_propagation: libc::MS_REC | libc::MS_PRIVATE,
        mount_label: None,
        time_offsets: Vec::new(),
        limits,
    })
}

fn lower_process(process: ProcessSection, bundle: &Path) -> Result<Process, Invalid> {
    let uid = process.user.uid;
    let env = match process.env {
        Some(vars) => vars.into_iter().map(|var| var.0).collect(),
        None => {
            let home = if uid == 0 { "HOME=/root" } else { "HOME=/" };
            let mut env = vec![plan::DEFAULT_PATH.to_string(), home.to_string()];
            if process.terminal {
                env.push("TERM=xterm".to_string());
            }
            env
        }
    };
    let mut rlimits: Vec<Rlimit> = Vec::new();
    for (i, limit) in process.rlimits.into_iter().enumerate() {
        let (kind, soft, hard) = (limit.kind.0, limit.soft.0, limit.hard.0);
        if soft > hard {
            return invalid(
                format!("process.rlimits[{i}].soft"),
                format!(
                    "{kind}: soft limit {soft} is above hard limit {hard}: the soft limit must be at most the hard one"
                ),
            );
        }
        if rlimits.iter().any(|r| r.kind == kind) {
            return invalid(format!("process.rlimits[{i}].type"), format!("{kind} is set twice: keep one entry"));
        }
        rlimits.push(Rlimit { kind, soft, hard });
    }
    let capabilities = Capabilities::uniform(&capability_list(&process.capabilities));
    let seccomp = seccomp::lower_seccomp(process.seccomp, bundle, &capabilities.bounding)?;
    Ok(Process {
        args: process.args.0,
        env,
        cwd: process.cwd.0,
        uid,
        gid: process.user.gid,
        additional_gids: process.user.additional_gids,
        umask: process.umask.map(|mask| mask.0),
        terminal: process.terminal,
        no_new_privileges: process.no_new_privileges,
        capabilities,
        rlimits,
        oom_score_adj: None,
        seccomp,
        apparmor_profile: None,
        selinux_label: None,
    })
}

/// Start from the default set, drop, then add: so `drop = ["ALL"], add = ["NET_BIND_SERVICE"]` keeps exactly one.
fn capability_list(section: &CapabilitiesSection) -> Vec<String> {
    let mut list: Vec<String> = plan::DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect();
    for cap in &section.drop {
        match cap {
            CapName::All => list.clear(),
            CapName::Named(cap) => list.retain(|name| *name != cap.to_string()),
        }
    }
    let mut every: Vec<caps::Capability> = caps::all().into_iter().collect();
    every.sort_by_key(|cap| cap.index());
    for cap in &section.add {
        let added = match cap {
            CapName::All => every.clone(),
            CapName::Named(cap) => vec![*cap],
        };
        for name in added.iter().map(|cap| cap.to_string()) {
            if !list.contains(&name) {
                list.push(name);
            }
        }
    }
    list
}

/// A host path from the config: relative ones are relative to the bundle directory.
fn host_path(bundle: &Path, path: &Path) -> PathBuf {
    let joined = bundle.join(path);
    std::path::absolute(&joined).unwrap_or(joined)
}

fn lower_rootfs(section: Option<RootfsSection>, bundle: &Path) -> Result<Rootfs, Invalid> {
    let Some(rootfs) = section else {
        return Ok(Rootfs {
            source: RootfsSource::Directory(bundle.join("rootfs")),
            mode: RootfsMode::Overlay,
            readonly: false,
            keep_changes: false,
        });
    };
    if let Some(image) = rootfs.image {
        if rootfs.path.is_some() || rootfs.tarball.is_some() {
            return invalid(
                "rootfs.image",
                "`image` is set with `path` or `tarball`: give exactly one of path, tarball and image",
            );
        }
        if rootfs.mode != RootfsModeName::Overlay || rootfs.editable.is_some() {
            return invalid(
                "rootfs.mode",
                "an image's layers are shared read-only by every container: use mode = \"overlay\" with `image`",
            );
        }
        let source = RootfsSource::Image(image);
        return Ok(Rootfs {
            source,
            mode: RootfsMode::Overlay,
            readonly: rootfs.readonly,
            keep_changes: rootfs.keep_changes,
        });
    }
    let source = match (rootfs.path, rootfs.tarball) {
        (Some(_), Some(_)) => {
            return invalid(
                "rootfs.tarball",
                "both `path` and `tarball` are set: give exactly one — `path` for a directory, `tarball` for a \
                 .tar or .tar.gz that containy extracts",
            );
        }
        (None, None) => {
            return invalid(
                "rootfs",
                "none of `path`, `tarball` and `image` is set: give exactly one, e.g. path = \"rootfs\", \
                 tarball = \"debian.tar.gz\" or image = \"debian:bookworm\"",
            );
        }
        (Some(dir), None) => RootfsSource::Directory(host_path(bundle, &dir.0)),
        (None, Some(tarball)) => {
            let name = tarball.0.to_string_lossy();
            if ![".tar", ".tar.gz", ".tgz"].iter().any(|ext| name.ends_with(ext)) {
                return invalid(
                    "rootfs.tarball",
                    format!("{name:?} is not a tarball: use a .tar, .tar.gz or .tgz file, or `path` for a directory"),
                );
            }
            if rootfs.mode == RootfsModeName::Direct {
                return invalid(
                    "rootfs.mode",
                    "mode = \"direct\" writes into the rootfs itself, but a tarball is extracted into a cache \
                     shared by every container: use mode = \"overlay\" or \"split\", or `path` for a directory",
                );
            }
            RootfsSource::Tarball(host_path(bundle, &tarball.0))
        }
    };
    let mode = match (rootfs.mode, rootfs.editable) {
        (RootfsModeName::Split, editable) => RootfsMode::Split {
            editable: match editable {
                Some(names) => names.into_iter().map(|name| name.0).collect(),
                None => DEFAULT_EDITABLE.iter().map(|s| s.to_string()).collect(),
            },
        },
        (mode, Some(_)) => {
            return invalid(
                "rootfs.editable",
                format!(
                    "editable only applies to mode = \"split\" (this rootfs is {:?}): set mode = \"split\" or \
                     remove editable",
                    format!("{mode:?}").to_lowercase()
                ),
            );
        }
        (RootfsModeName::Overlay, None) => RootfsMode::Overlay,
        (RootfsModeName::Direct, None) => RootfsMode::Direct,
    };
    Ok(Rootfs { source, mode, readonly: rootfs.readonly, keep_changes: rootfs.keep_changes })
}

fn lower_mounts(mounts: Vec<MountSection>, bundle: &Path) -> Result<Vec<Mount>, Invalid> {
    use libc::{MS_BIND, MS_NODEV, MS_NOSUID, MS_RDONLY, MS_REC};
    let mut out = Vec::with_capacity(mounts.len());
    for (i, mount) in mounts.into_iter().enumerate() {
        let field = |name: &str| format!("mounts[{i}].{name}");
        let readonly = if mount.readonly { MS_RDONLY } else { 0 };
        out.push(match mount.kind {
            MountKind::Bind => {
                if mount.size.is_some() {
                    return invalid(field("size"), "size only applies to type = \"tmpfs\": remove it, or make this a tmpfs");
                }
                let Some(source) = mount.source else {
                    return invalid(
                        field("source"),
                        "a bind mount needs a source: the host directory or file to show inside, e.g. source = \"data\"",
                    );
                };
                Mount {
                    destination: mount.destination.0,
                    fstype: "bind".to_string(),
                    source: host_path(bundle, &source.0),
                    // The kernel ignores MS_RDONLY on the first bind; the runtime remounts to make it stick.
                    flags: MS_BIND | MS_REC | readonly,
                    propagation: Vec::new(),
                    data: String::new(),
                    copy_up: false,
                    recursive: Default::default(),
                }
            }
            MountKind::Tmpfs => {
                if mount.source.is_some() {
                    return invalid(field("source"), "a tmpfs has no source: remove it (source is for type = \"bind\")");
                }
                let data = match mount.size {
                    Some(size) => format!("size={},mode=1777", size.0),
                    None => "mode=1777".to_string(),
                };
                Mount {
                    destination: mount.destination.0,
                    fstype: "tmpfs".to_string(),
                    source: PathBuf::from("tmpfs"),
                    flags: MS_NOSUID | MS_NODEV | readonly,
                    propagation: Vec::new(),
                    data,
                    copy_up: false,
                    recursive: Default::default(),
                }
            }
        });
    }
    Ok(out)
}

fn lower_resources(resources: ResourcesSection) -> Result<Resources, Invalid> {
    let memory = resources.memory.map(|m| m.0);
    let memory_swap = match (resources.memory_swap, memory) {
        (None, _) => None,
        (Some(_), None) => {
            return invalid(
                "resources.memory_swap",
                "memory_swap is memory plus swap, so it needs memory: set resources.memory too",
            );
        }
        (Some(swap), Some(memory)) if swap.0 < memory => {
            return invalid(
                "resources.memory_swap",
                format!(
                    "{} bytes is less than memory ({memory} bytes): memory_swap counts memory plus swap, so give \
                     at least as much as memory",
                    swap.0
                ),
            );
        }
        (Some(swap), Some(_)) => match i64::try_from(swap.0) {
            Ok(bytes) => Some(bytes),
            Err(_) => return invalid("resources.memory_swap", "too large: give at most 8388607T"),
        },
    };
    let cpu_quota = resources.cpu.map(|cpu| (cpu.0 * CPU_PERIOD_US as f64).round() as i64);
    Ok(Resources {
        memory,
        memory_swap,
        pids: match resources.pids {
            Some(Pids::Limit(n)) => Some(n),
            Some(Pids::Max) | None => None,
        },
        cpu_quota,
        cpu_period: cpu_quota.map(|_| CPU_PERIOD_US),
        cpu_shares: resources.cpu_shares.map(|shares| shares.0),
        devices: Vec::new(),
        memory_reservation: resources.memory_reservation.map(|size| size.0),
        swappiness: resources.swappiness.map(|s| s.0),
        cpuset_cpus: resources.cpus.map(|list| list.0),
        cpuset_mems: resources.mems.map(|list| list.0),
        io_weight: resources.io_weight.map(|w| w.0),
        ..Resources::default()
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::config::test_support::{ARGS, check, json_plan, toml_error as error, toml_plan as plan};
    use crate::plan::{self, Namespace, NamespaceSpec, Network, Plan, RootfsMode, RootfsSource};

    fn kinds(plan: &Plan) -> Vec<Namespace> {
        plan.namespaces.iter().map(|ns| ns.kind).collect()
    }

    #[test]
    fn a_short_config_gets_every_default() {
        let plan =
            plan("hostname = \"containy\"\n[process]\nargs = [\"/bin/sh\"]\n[rootfs]\ntarball = \"debian.tar.gz\"\n");
        assert_eq!(plan.bundle, PathBuf::from("/bundle"));
        assert_eq!(plan.hostname.as_deref(), Some("containy"));
        assert_eq!(plan.domainname, None);
        assert_eq!(plan.process.args, ["/bin/sh"]);
        assert_eq!(plan.process.env, [plan::DEFAULT_PATH, "HOME=/root"]);
        assert_eq!(plan.process.cwd, PathBuf::from("/"));
        assert_eq!((plan.process.uid, plan.process.gid), (0, 0));
        assert!(!plan.process.terminal);
        assert!(plan.process.no_new_privileges);
        assert_eq!(plan.process.umask, None);
        assert_eq!(plan.process.capabilities.bounding, plan::DEFAULT_CAPABILITIES);
        assert_eq!(plan.process.capabilities.effective, plan::DEFAULT_CAPABILITIES);
        assert!(plan.process.capabilities.inheritable.is_empty() && plan.process.capabilities.ambient.is_empty());
        use Namespace::{Cgroup, Ipc, Mount, Pid, Uts};
        assert_eq!(kinds(&plan), [Pid, Namespace::Network, Ipc, Uts, Cgroup, Mount]);
        assert!(plan.namespaces.iter().all(|ns| ns.path.is_none()));
        assert_eq!(plan.network, Network::None);
        assert!(plan.uid_mappings.is_empty() && plan.gid_mappings.is_empty());
        assert_eq!(plan.rootfs.source, RootfsSource::Tarball(PathBuf::from("/bundle/debian.tar.gz")));
        assert_eq!(plan.rootfs.mode, RootfsMode::Overlay);
        assert!(!plan.rootfs.readonly && !plan.rootfs.keep_changes);
        assert_eq!(plan.mounts, plan::default_mounts());
        assert_eq!(plan.masked_paths.len(), plan::DEFAULT_MASKED_PATHS.len());
        assert!(plan.masked_paths.contains(&PathBuf::from("/proc/kcore")));
        assert!(plan.readonly_paths.contains(&PathBuf::from("/proc/sys")));
        assert_eq!(plan.resources, plan::Resources::default());
        assert_eq!(plan.cgroups_path, None);
    }

    #[test]
    fn without_a_rootfs_section_the_bundle_rootfs_dir_is_used() {
        let plan = plan(ARGS);
        assert_eq!(plan.rootfs.source, RootfsSource::Directory(PathBuf::from("/bundle/rootfs")));
        assert_eq!(plan.hostname.as_deref(), Some("containy"));
    }

    #[test]
    fn env_default_follows_user_and_terminal() {
        let plan = plan("[process]\nargs = [\"sh\"]\nterminal = true\nuser = { uid = 1000, gid = 1000 }\n");
        assert_eq!(plan.process.env, [plan::DEFAULT_PATH, "HOME=/", "TERM=xterm"]);
        let given = self::plan("[process]\nargs = [\"sh\"]\nterminal = true\nenv = [\"A=1\"]\n");
        assert_eq!(given.process.env, ["A=1"]);
    }

    const FULL_TOML: &str = r#"
hostname = "box"
domainname = "example.org"
[process]
args = ["/bin/sh", "-c", "echo hi"]
env = ["PATH=/bin", "FOO=bar"]
cwd = "/work"
terminal = true
no_new_privileges = false
umask = 0o027
user = { uid = 1000, gid = 100, additional_gids = [10, 20] }
capabilities = { drop = ["ALL"], add = ["net_bind_service", "CAP_NET_RAW"] }
[[process.rlimits]]
type = "nofile"
soft = 1024
hard = 4096
[namespaces]
ipc = false
net = "/proc/1234/ns/net"
time = true
[user_namespace]
uid = 100000
count = 2000
[rootfs]
path = "rootfs"
mode = "split"
editable = ["etc", "tmp"]
readonly = true
[[mounts]]
source = "data"
destination = "/data"
readonly = true
[[mounts]]
type = "tmpfs"
destination = "/scratch"
size = "64M"
[resources]
memory = "512M"
memory_swap = "1G"
pids = "max"
cpu = 0.5
cpu_shares = 512
"#;

    const FULL_JSON: &str = r#"{
  "hostname": "box", "domainname": "example.org",
  "process": {
    "args": ["/bin/sh", "-c", "echo hi"], "env": ["PATH=/bin", "FOO=bar"], "cwd": "/work",
    "terminal": true, "no_new_privileges": false, "umask": 23,
    "user": {"uid": 1000, "gid": 100, "additional_gids": [10, 20]},
    "capabilities": {"drop": ["ALL"], "add": ["net_bind_service", "CAP_NET_RAW"]},
    "rlimits": [{"type": "nofile", "soft": 1024, "hard": 4096}]
  },
  "namespaces": {"ipc": false, "net": "/proc/1234/ns/net", "time": true},
  "user_namespace": {"uid": 100000, "count": 2000},
  "rootfs": {"path": "rootfs", "mode": "split", "editable": ["etc", "tmp"], "readonly": true},
  "mounts": [
    {"source": "data", "destination": "/data", "readonly": true},
    {"type": "tmpfs", "destination": "/scratch", "size": "64M"}
  ],
  "resources": {"memory": "512M", "memory_swap": "1G", "pids": "max", "cpu": 0.5, "cpu_shares": 512}
}"#;

    #[test]
    fn toml_and_json_give_the_same_plan() {
        assert_eq!(plan(FULL_TOML), json_plan(FULL_JSON));
    }

    #[test]
    fn a_full_config_lowers_to_kernel_terms() {
        use libc::{MS_BIND, MS_NODEV, MS_NOSUID, MS_RDONLY, MS_REC};
        let plan = plan(FULL_TOML);
        assert_eq!(plan.domainname.as_deref(), Some("example.org"));
        assert_eq!(plan.process.umask, Some(0o027));
        assert_eq!(plan.process.additional_gids, [10, 20]);
        assert_eq!(plan.process.capabilities.bounding, ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]);
        assert_eq!(plan.process.rlimits[0].kind, "RLIMIT_NOFILE");
        use Namespace::{Cgroup, Mount, Pid, Time, User, Uts};
        assert_eq!(kinds(&plan), [User, Pid, Namespace::Network, Uts, Cgroup, Mount, Time]);
        let net = NamespaceSpec { kind: Namespace::Network, path: Some(PathBuf::from("/proc/1234/ns/net")) };
        assert!(plan.namespaces.contains(&net));
        assert_eq!(plan.network, Network::None);
        let map = plan::IdMap { container_id: 0, host_id: 100000, size: 2000 };
        assert_eq!((plan.uid_mappings.clone(), plan.gid_mappings.clone()), (vec![map], vec![map]));
        assert_eq!(plan.rootfs.mode, RootfsMode::Split { editable: vec!["etc".into(), "tmp".into()] });
        assert!(plan.rootfs.readonly);
        let defaults = plan::default_mounts().len();
        let [bind, tmpfs] = &plan.mounts[defaults..] else { panic!("{:?}", plan.mounts) };
        assert_eq!(bind.source, PathBuf::from("/bundle/data"));
        assert_eq!((bind.fstype.as_str(), bind.flags), ("bind", MS_BIND | MS_REC | MS_RDONLY));
        assert!(bind.is_bind() && bind.propagation.is_empty());
        assert_eq!((tmpfs.fstype.as_str(), tmpfs.source.as_path()), ("tmpfs", Path::new("tmpfs")));
        assert_eq!((tmpfs.flags, tmpfs.data.as_str()), (MS_NOSUID | MS_NODEV, "size=67108864,mode=1777"));
        let r = &plan.resources;
        assert_eq!((r.memory, r.memory_swap, r.pids), (Some(512 << 20), Some(1 << 30), None));
        assert_eq!((r.cpu_quota, r.cpu_period, r.cpu_shares), (Some(50_000), Some(100_000), Some(512)));
        assert!(r.devices.is_empty());
    }

    #[test]
    fn capabilities_drop_then_add() {
        let caps = |section: &str| plan(&format!("{ARGS}[process.capabilities]\n{section}\n")).process.capabilities;
        let dropped = caps("drop = [\"chown\", \"CAP_KILL\"]").bounding;
        assert!(!dropped.contains(&"CAP_CHOWN".to_string()) && !dropped.contains(&"CAP_KILL".to_string()));
        assert_eq!(dropped.len(), plan::DEFAULT_CAPABILITIES.len() - 2);
        let all = caps("add = [\"ALL\"]").bounding;
        assert!(all.contains(&"CAP_SYS_ADMIN".to_string()) && all.len() > 38);
        assert_eq!(caps("add = [\"CAP_CHOWN\", \"sys_admin\"]").bounding.last().unwrap(), "CAP_SYS_ADMIN");
        assert!(caps("drop = [\"all\"]").bounding.is_empty());
    }

    #[test]
    fn both_path_and_tarball() {
        let msg = error(&format!("{ARGS}[rootfs]\npath = \"rootfs\"\ntarball = \"debian.tar.gz\"\n"));
        check(&msg, "bundle/configy.toml:5:1: rootfs.tarball: both `path` and `tarball` are set", &["exactly one"]);
        let msg = error(&format!("{ARGS}[rootfs]\nmode = \"split\"\n"));
        check(&msg, "bundle/configy.toml:3:2: rootfs: none of `path`, `tarball` and `image`", &["path = \"rootfs\""]);
        let msg = error(&format!("{ARGS}[rootfs]\ntarball = \"debian.zip\"\n"));
        check(&msg, "bundle/configy.toml:4:1: rootfs.tarball: \"debian.zip\" is not a tarball", &[".tar.gz"]);
        let msg = error(&format!("{ARGS}[rootfs]\ntarball = \"d.tar\"\nmode = \"direct\"\n"));
        check(&msg, "bundle/configy.toml:5:1: rootfs.mode: mode = \"direct\"", &["\"overlay\""]);
    }

    #[test]
    fn editable_without_split() {
        let msg = error(&format!("{ARGS}[rootfs]\npath = \"r\"\neditable = [\"etc\"]\n"));
        check(
            &msg,
            "bundle/configy.toml:5:1: rootfs.editable: editable only applies to mode = \"split\"",
            &["\"overlay\"", "set mode = \"split\""],
        );
    }

    #[test]
    fn soft_above_hard_rlimit() {
        let rlimit = "[[process.rlimits]]\ntype = \"RLIMIT_NOFILE\"\nsoft = 2048\nhard = 1024\n";
        let msg = error(&format!("{ARGS}{rlimit}"));
        check(
            &msg,
            "bundle/configy.toml:5:1: process.rlimits[0].soft: RLIMIT_NOFILE: soft limit 2048 is above hard limit 1024",
            &["at most the hard one"],
        );
        let unlimited = plan(&format!("{ARGS}{}", rlimit.replace("1024", "\"unlimited\"")));
        assert_eq!((unlimited.process.rlimits[0].soft, unlimited.process.rlimits[0].hard), (2048, u64::MAX));
        let ok = rlimit.replace("2048", "10");
        let msg = error(&format!("{ARGS}{ok}{ok}"));
        check(&msg, "bundle/configy.toml:8:1: process.rlimits[1].type: RLIMIT_NOFILE is set twice", &[]);
    }

    #[test]
    fn mount_kind_mismatches() {
        let msg = error(&format!("{ARGS}[[mounts]]\ndestination = \"/d\"\n"));
        check(&msg, "bundle/configy.toml:3:1: mounts[0].source: a bind mount needs a source", &["source = \"data\""]);
        let msg = error(&format!("{ARGS}[[mounts]]\nsource = \"d\"\ndestination = \"/d\"\nsize = \"1M\"\n"));
        check(&msg, "bundle/configy.toml:6:1: mounts[0].size: size only applies to type = \"tmpfs\"", &[]);
        let msg = error(&format!("{ARGS}[[mounts]]\ntype = \"tmpfs\"\nsource = \"d\"\ndestination = \"/d\"\n"));
        check(&msg, "bundle/configy.toml:5:1: mounts[0].source: a tmpfs has no source", &[]);
    }

    #[test]
    fn sizes_may_be_plain_bytes() {
        let r = plan(&format!("{ARGS}[resources]\nmemory = 1073741824\nmemory_swap = \"2GiB\"\npids = 1\n")).resources;
        assert_eq!((r.memory, r.memory_swap, r.pids), (Some(1 << 30), Some(2 << 30), Some(1)));
        let r = json_plan(r#"{"process": {"args": ["sh"]}, "resources": {"memory": 1048576, "cpu": 2}}"#).resources;
        assert_eq!((r.memory, r.cpu_quota, r.cpu_period), (Some(1 << 20), Some(200_000), Some(100_000)));
    }

    #[test]
    fn swap_below_memory() {
        let msg = error(&format!("{ARGS}[resources]\nmemory = \"1G\"\nmemory_swap = \"512M\"\n"));
        check(
            &msg,
            "bundle/configy.toml:5:1: resources.memory_swap: 536870912 bytes is less than memory",
            &["at least"],
        );
        let msg = error(&format!("{ARGS}[resources]\nmemory_swap = \"512M\"\n"));
        check(&msg, "bundle/configy.toml:4:1: resources.memory_swap: memory_swap is memory plus swap", &["memory too"]);
    }

    #[test]
    fn reservation_swappiness_cpuset_and_io_weight() {
        let r = plan(&format!(
            "{ARGS}[resources]\nmemory_reservation = \"256M\"\nswappiness = 60\ncpus = \"0-1\"\nmems = \"0\"\nio_weight = 500\n"
        ))
        .resources;
        assert_eq!((r.memory_reservation, r.swappiness, r.io_weight), (Some(256 << 20), Some(60), Some(500)));
        assert_eq!((r.cpuset_cpus.as_deref(), r.cpuset_mems.as_deref()), (Some("0-1"), Some("0")));
        let r = json_plan(r#"{"process": {"args": ["sh"]}, "resources": {"cpus": "0,1", "swappiness": 0}}"#).resources;
        assert_eq!((r.cpuset_cpus.as_deref(), r.swappiness), (Some("0,1"), Some(0)));
    }

    #[test]
    fn bad_reservation_swappiness_cpuset_and_io_weight() {
        let msg = error(&format!("{ARGS}[resources]\nswappiness = 101\n"));
        check(&msg, "bundle/configy.toml:4:14: resources.swappiness: 101 is out of range", &["0..=100"]);
        let msg = error(&format!("{ARGS}[resources]\ncpus = \"0-1;x\"\n"));
        check(&msg, "bundle/configy.toml:4:8: resources.cpus: \"0-1;x\" is not a CPU or node list", &["0-1,3"]);
        let msg = error(&format!("{ARGS}[resources]\nmems = \"1-0\"\n"));
        check(&msg, "bundle/configy.toml:4:8: resources.mems: \"1-0\": the range", &["lower number first"]);
        let msg = error(&format!("{ARGS}[resources]\nio_weight = 5\n"));
        check(&msg, "bundle/configy.toml:4:13: resources.io_weight: 5 is out of range", &["10..=1000"]);
        let msg = error(&format!("{ARGS}[resources]\nmemory_reservation = \"lots\"\n"));
        check(&msg, "bundle/configy.toml:4:22: resources.memory_reservation: \"lots\" is not a size", &["512M"]);
    }
}
