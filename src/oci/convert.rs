//! A parsed OCI `Spec` -> a validated [`Plan`].
//!
//! This is runc's `specconv`: every OCI field containy supports becomes a plain `Plan` field, and every
//! value is checked here, where the error can still name the field (`process.cwd`, `mounts[3].destination`),
//! rather than later, where a bad value would surface as a bare `EINVAL` from the kernel. Nothing in here
//! touches the system. The order of the checks follows the dependencies between fields: namespaces first,
//! because whether a hostname, id mappings or a network may be given at all depends on which namespaces the
//! container gets.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{Capability, Spec};
use serde_json::Value;

use super::devices::lower_devices;
use super::hooks::lower_hooks;
use super::mounts::lower_mounts;
use super::namespaces::{lower_id_mappings, lower_namespaces, lower_uts_name, no_linux_section};
use super::resources::lower_resources;
use super::seccomp::lower_seccomp;
use crate::plan::{
    Capabilities, Namespace, Network, Plan, Process, Rlimit, Rootfs, RootfsMode, RootfsSource, TimeOffset,
};

/// A value the spec's types accept but containy cannot run: which field, and what is wrong with it
/// (a phrase that follows the field name: "must be an absolute path, got …").
#[derive(Debug, PartialEq)]
pub(super) struct Invalid {
    pub field: String,
    pub problem: String,
}

pub(super) fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Invalid {
    Invalid { field: field.into(), problem: problem.into() }
}

/// `linux.rootfsPropagation`, by the spec's names and runc's recursive variants. `private` and `slave` are
/// given to every mount before the container's mounts are made; `shared` and `unbindable` only to the
/// container's `/` after `pivot_root` (see `rootfs::plan_mounts`), so its mounts never propagate to the host.
const ROOTFS_PROPAGATIONS: &[(&str, u64)] = &[
    ("private", libc::MS_REC | libc::MS_PRIVATE),
    ("rprivate", libc::MS_REC | libc::MS_PRIVATE),
    ("slave", libc::MS_REC | libc::MS_SLAVE),
    ("rslave", libc::MS_REC | libc::MS_SLAVE),
    ("shared", libc::MS_SHARED),
    ("rshared", libc::MS_REC | libc::MS_SHARED),
    ("unbindable", libc::MS_UNBINDABLE),
    ("runbindable", libc::MS_REC | libc::MS_UNBINDABLE),
];

/// Lower `spec` (parsed from `raw`, which keeps the order of the capability lists) for the bundle `bundle`.
pub(super) fn lower(spec: &Spec, raw: &Value, bundle: &Path) -> Result<Plan, Invalid> {
    let version = spec.version();
    if !version.is_empty() && !version.starts_with("1.") {
        return Err(invalid(
            "ociVersion",
            format!("is {version:?}, but containy reads version 1.x of the OCI runtime spec"),
        ));
    }
    // Not `unwrap_or_default()`: oci_spec's default `Linux` is a full container (namespaces, masked paths).
    let Some(linux) = spec.linux() else {
        return Err(no_linux_section());
    };

    let namespaces = lower_namespaces(linux.namespaces().as_deref().unwrap_or_default())?;
    let has = |kind: Namespace| namespaces.iter().find(|ns| ns.kind == kind);
    let network = if has(Namespace::Network).is_some() { Network::None } else { Network::Host };

    // `linux.netDevices`: host interfaces moved into the container's (new) network namespace.
    let mut net_devices: Vec<(String, String)> = linux
        .net_devices()
        .iter()
        .flatten()
        .map(|(host, dev)| (host.clone(), dev.name().clone().unwrap_or_else(|| host.clone())))
        .collect();
    net_devices.sort();
    if !net_devices.is_empty() && has(Namespace::Network).is_none_or(|ns| ns.path.is_some()) {
        return Err(invalid(
            "linux.netDevices",
            "devices can only be moved into a network namespace the container creates: add {\"type\": \"network\"} \
             to linux.namespaces"
                .to_string(),
        ));
    }

    let user_ns = has(Namespace::User);
    let uid_mappings = lower_id_mappings("linux.uidMappings", linux.uid_mappings(), user_ns)?;
    let gid_mappings = lower_id_mappings("linux.gidMappings", linux.gid_mappings(), user_ns)?;

    let uts = has(Namespace::Uts).is_some();
    let hostname = lower_uts_name("hostname", spec.hostname(), uts)?;
    let domainname = lower_uts_name("domainname", spec.domainname(), uts)?;

    let root_propagation = match linux.rootfs_propagation().as_deref().unwrap_or_default() {
        "" => libc::MS_REC | libc::MS_PRIVATE,
        name => match ROOTFS_PROPAGATIONS.iter().find(|(n, _)| *n == name) {
            Some((_, flags)) => *flags,
            None => {
                let names: Vec<&str> = ROOTFS_PROPAGATIONS.iter().map(|(n, _)| *n).collect();
                return Err(invalid(
                    "linux.rootfsPropagation",
                    format!("is {name:?}; containy supports {}", names.join(", ")),
                ));
            }
        },
    };

    let cgroups_path = match linux.cgroups_path() {
        Some(path) if !path.as_os_str().is_empty() => {
            // A `..` would place the container's cgroup, and its limits, outside the hierarchy it was given.
            if path.components().any(|c| c == Component::ParentDir) {
                return Err(invalid("linux.cgroupsPath", format!("must not contain '..', got {path:?}")));
            }
            Some(path.clone())
        }
        _ => None,
    };

    let mut process = lower_process(spec, raw)?;
    // Absent means unconfined, as the spec says: an OCI config asks for its filter explicitly.
    if let Some(profile) = linux.seccomp() {
        process.seccomp =
            Some(lower_seccomp(profile).map_err(|e| invalid(format!("linux.seccomp.{}", e.field), e.problem))?);
    }

    let mut sysctl: Vec<(String, String)> =
        linux.sysctl().iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
    sysctl.sort();
    for (key, value) in &sysctl {
        crate::plan::check_sysctl(key, value, &namespaces).map_err(|e| invalid(format!("linux.sysctl.{key}"), e))?;
    }

    let time_offsets = lower_time_offsets(linux, &namespaces)?;
    let mut resources = lower_resources(linux.resources().as_ref())?;
    let devices = lower_devices(linux.devices().as_deref().unwrap_or_default(), &mut resources.devices)?;
    let annotations: std::collections::BTreeMap<String, String> =
        spec.annotations().clone().unwrap_or_default().into_iter().collect();
    // What an engine or podman can pass through for untrusted code: `containy.limits.cpu_time = "2s"`, ….
    let limits = crate::config::limits::from_annotations(&annotations)
        .map_err(|(key, problem)| invalid(format!("annotations.{key:?}"), problem))?;
    if has(Namespace::Mount).is_none() {
        check_without_mount_namespace(spec, linux)?;
    }
    Ok(Plan {
        bundle: bundle.to_path_buf(),
        process,
        hostname,
        domainname,
        namespaces,
        uid_mappings,
        gid_mappings,
        rootfs: lower_root(spec, bundle)?,
        mounts: lower_mounts(spec, bundle)?,
        masked_paths: container_paths("linux.maskedPaths", linux.masked_paths())?,
        readonly_paths: container_paths("linux.readonlyPaths", linux.readonly_paths())?,
        resources,
        cgroups_path,
        sysctl,
        network,
        etc_files: false,
        net_devices,
        hooks: lower_hooks(spec)?,
        annotations,
        personality: lower_personality(linux)?,
        time_offsets,
        limits,
        devices,
        root_propagation,
        mount_label: linux.mount_label().clone().filter(|l| !l.is_empty()),
    })
}

/// Without a mount namespace the container shares the host's mount table: containy then only `chroot`s
/// into the root filesystem (as runc and crun do) and makes no mount at all. runc goes on to make the
/// config's mounts anyway — on the host, where they stay after the container is gone; containy refuses
/// every field that would need one, naming it.
fn check_without_mount_namespace(spec: &Spec, linux: &oci_spec::runtime::Linux) -> Result<(), Invalid> {
    let why = "needs a mount namespace: without one it would change the host's mount table; add {\"type\": \"mount\"} \
               to linux.namespaces or remove it";
    let set = [
        ("mounts", spec.mounts().as_ref().is_some_and(|m| !m.is_empty())),
        ("linux.maskedPaths", linux.masked_paths().as_ref().is_some_and(|p| !p.is_empty())),
        ("linux.readonlyPaths", linux.readonly_paths().as_ref().is_some_and(|p| !p.is_empty())),
        ("linux.devices", linux.devices().as_ref().is_some_and(|d| !d.is_empty())),
        ("linux.rootfsPropagation", linux.rootfs_propagation().as_ref().is_some_and(|p| !p.is_empty())),
        ("root.readonly", spec.root().as_ref().is_some_and(|r| r.readonly() == Some(true))),
        // Written through the container's /proc/sys, which only exists where proc is mounted.
        ("linux.sysctl", linux.sysctl().as_ref().is_some_and(|s| !s.is_empty())),
    ];
    match set.iter().find(|(_, is_set)| *is_set) {
        Some((field, _)) => Err(invalid(*field, why)),
        None => Ok(()),
    }
}

/// `linux.personality`: the domain, and the one flag graders ask for: `ADDR_NO_RANDOMIZE` (no ASLR, so a run's
/// addresses — and timings that depend on them — repeat). Other flags are refused rather than dropped.
fn lower_personality(linux: &oci_spec::runtime::Linux) -> Result<Option<u64>, Invalid> {
    use oci_spec::runtime::LinuxPersonalityDomain;
    let Some(personality) = linux.personality() else { return Ok(None) };
    let mut value = match personality.domain() {
        LinuxPersonalityDomain::PerLinux => 0,
        LinuxPersonalityDomain::PerLinux32 => crate::plan::PER_LINUX32,
    };
    for flag in personality.flags().iter().flatten() {
        match flag.as_str() {
            "ADDR_NO_RANDOMIZE" => value |= crate::plan::ADDR_NO_RANDOMIZE,
            other => {
                return Err(invalid(
                    "linux.personality.flags",
                    format!("{other:?} is not supported by containy yet (only ADDR_NO_RANDOMIZE is): remove it"),
                ));
            }
        }
    }
    Ok(Some(value))
}

/// `linux.timeOffsets`: only the two clocks a time namespace shifts, and only for a namespace made here.
fn lower_time_offsets(
    linux: &oci_spec::runtime::Linux,
    namespaces: &[crate::plan::NamespaceSpec],
) -> Result<Vec<TimeOffset>, Invalid> {
    let mut offsets: Vec<TimeOffset> = Vec::new();
    for (clock, offset) in linux.time_offsets().iter().flatten() {
        let field = format!("linux.timeOffsets.{clock}");
        if !matches!(clock.as_str(), "monotonic" | "boottime") {
            return Err(invalid(field, "names no clock a time namespace can shift: use monotonic or boottime"));
        }
        let nanos = offset.nanosecs().unwrap_or(0);
        if nanos >= 1_000_000_000 {
            return Err(invalid(format!("{field}.nanosecs"), format!("must be below 1000000000, got {nanos}")));
        }
        offsets.push(TimeOffset { clock: clock.clone(), secs: offset.secs().unwrap_or(0), nanos });
    }
    offsets.sort_by(|a, b| a.clock.cmp(&b.clock));
    let new_time_ns = namespaces.iter().any(|n| n.kind == Namespace::Time && n.path.is_none());
    if !offsets.is_empty() && !new_time_ns {
        return Err(invalid(
            "linux.timeOffsets",
            "need a new time namespace: add {\"type\": \"time\"} to linux.namespaces",
        ));
    }
    Ok(offsets)
}

/// An absolute path inside the container without `..`: the rootfs code resolves paths inside the root,
/// but a config that climbs with `..` is refused where it can still be named.
pub(super) fn check_container_path(field: &str, path: &Path) -> Result<(), Invalid> {
    if !path.is_absolute() {
        return Err(invalid(field, format!("must be an absolute path inside the container, got {path:?}")));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(invalid(field, format!("must not contain '..', got {path:?}")));
    }
    Ok(())
}

fn container_paths(field: &str, paths: &Option<Vec<String>>) -> Result<Vec<PathBuf>, Invalid> {
    let paths = paths.as_deref().unwrap_or_default();
    for (i, path) in paths.iter().enumerate() {
        check_container_path(&format!("{field}[{i}]"), Path::new(path))?;
    }
    Ok(paths.iter().map(PathBuf::from).collect())
}

pub(super) fn no_nul(field: &str, value: &str) -> Result<(), Invalid> {
    if value.contains('\0') {
        return Err(invalid(field, format!("contains a NUL byte: {value:?}")));
    }
    Ok(())
}

fn lower_process(spec: &Spec, raw: &Value) -> Result<Process, Invalid> {
    let Some(process) = spec.process() else {
        return Err(invalid("process", "is required: it says what to run in the container"));
    };
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(invalid("process.args", "must name the program to run, e.g. [\"sh\"]"));
    }
    for (i, arg) in args.iter().enumerate() {
        no_nul(&format!("process.args[{i}]"), arg)?;
    }
    let env = process.env().clone().unwrap_or_default();
    for (i, pair) in env.iter().enumerate() {
        let field = format!("process.env[{i}]");
        no_nul(&field, pair)?;
        // execve(2) would take it, but no program can look up a variable without a name.
        if pair.split_once('=').is_none_or(|(name, _)| name.is_empty()) {
            return Err(invalid(field, format!("must be NAME=value, got {pair:?}")));
        }
    }
    check_container_path("process.cwd", process.cwd())?;

    let user = process.user();
    if let Some(umask) = user.umask()
        && umask > 0o777
    {
        return Err(invalid("process.user.umask", format!("must be at most 0o777, got {umask:#o}")));
    }
    if let Some(adj) = process.oom_score_adj()
        && !(-1000..=1000).contains(&adj)
    {
        return Err(invalid("process.oomScoreAdj", format!("must be in -1000..=1000, got {adj}")));
    }

    Ok(Process {
        args,
        env,
        cwd: process.cwd().clone(),
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        umask: user.umask(),
        terminal: process.terminal().unwrap_or(false),
        no_new_privileges: process.no_new_privileges().unwrap_or(false),
        capabilities: lower_capabilities(&raw["process"]["capabilities"])?,
        rlimits: lower_rlimits(process.rlimits().as_deref().unwrap_or_default())?,
        oom_score_adj: process.oom_score_adj(),
        seccomp: None,
        apparmor_profile: process.apparmor_profile().clone().filter(|p| !p.is_empty()),
        selinux_label: process.selinux_label().clone().filter(|l| !l.is_empty()),
    })
}

/// The capability sets, in the order the config lists them. `oci_spec` keeps them as `HashSet`s, which lose
/// that order, so the names are read from the raw JSON and only normalised through `Capability`
/// (`sys_admin` and `CAP_SYS_ADMIN` are the same capability; the plan always says `CAP_SYS_ADMIN`).
fn lower_capabilities(raw: &Value) -> Result<Capabilities, Invalid> {
    let set = |name: &str| -> Result<Vec<String>, Invalid> {
        let field = format!("process.capabilities.{name}");
        let mut seen = HashSet::new();
        let mut names = Vec::new();
        let items = raw[name].as_array().map(Vec::as_slice).unwrap_or_default();
        for (i, item) in items.iter().enumerate() {
            let unknown = || invalid(format!("{field}[{i}]"), format!("is not a Linux capability: {item}"));
            let capability: Capability = serde_json::from_value(item.clone()).map_err(|_| unknown())?;
            let Ok(Value::String(canonical)) = serde_json::to_value(capability) else {
                return Err(unknown());
            };
            if seen.insert(canonical.clone()) {
                names.push(canonical);
            }
        }
        Ok(names)
    };
    Ok(Capabilities {
        bounding: set("bounding")?,
        effective: set("effective")?,
        permitted: set("permitted")?,
        inheritable: set("inheritable")?,
        ambient: set("ambient")?,
    })
}

fn lower_rlimits(rlimits: &[oci_spec::runtime::PosixRlimit]) -> Result<Vec<Rlimit>, Invalid> {
    let mut seen = HashSet::new();
    let mut lowered = Vec::new();
    for (i, rlimit) in rlimits.iter().enumerate() {
        let kind = rlimit.typ().to_string();
        let (soft, hard) = (rlimit.soft(), rlimit.hard());
        if !seen.insert(kind.clone()) {
            return Err(invalid(format!("process.rlimits[{i}].type"), format!("{kind} is given twice")));
        }
        if soft > hard {
            return Err(invalid(
                format!("process.rlimits[{i}].soft"),
                format!("({soft}) is above the hard limit ({hard}) for {kind}; setrlimit(2) refuses that"),
            ));
        }
        lowered.push(Rlimit { kind, soft, hard });
    }
    Ok(lowered)
}

fn lower_root(spec: &Spec, bundle: &Path) -> Result<Rootfs, Invalid> {
    let root = spec.root().as_ref().filter(|r| !r.path().as_os_str().is_empty());
    let Some(root) = root else {
        return Err(invalid("root.path", "is required: the container's root filesystem, e.g. \"rootfs\""));
    };
    Ok(Rootfs {
        source: RootfsSource::Directory(bundle.join(root.path())),
        mode: RootfsMode::Direct,
        readonly: root.readonly().unwrap_or(false),
        // An OCI rootfs is the bundle's own directory: the caller owns it, and its contents are its state.
        keep_changes: true,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    pub const BUNDLE: &str = "/bundles/b";

    /// A minimal valid config, with `edit` applied to its JSON tree.
    pub fn lower_with(edit: impl FnOnce(&mut Value)) -> Result<Plan, Invalid> {
        let mut raw = json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/"},
            "linux": {"namespaces": [{"type": "mount"}, {"type": "uts"}]}
        });
        edit(&mut raw);
        let spec: Spec = serde_json::from_value(raw.clone()).unwrap();
        lower(&spec, &raw, Path::new(BUNDLE))
    }

    pub fn field_of(edit: impl FnOnce(&mut Value)) -> String {
        lower_with(edit).unwrap_err().field
    }

    #[test]
    fn rootfs_propagation_picks_private_or_slave() {
        let default = lower_with(|_| {}).unwrap();
        assert_eq!(default.root_propagation, libc::MS_REC | libc::MS_PRIVATE);
        let slave = lower_with(|v| v["linux"]["rootfsPropagation"] = json!("rslave")).unwrap();
        assert_eq!(slave.root_propagation, libc::MS_REC | libc::MS_SLAVE);
        let shared = lower_with(|v| v["linux"]["rootfsPropagation"] = json!("shared")).unwrap();
        assert_eq!(shared.root_propagation, libc::MS_SHARED);
        let unbindable = lower_with(|v| v["linux"]["rootfsPropagation"] = json!("runbindable")).unwrap();
        assert_eq!(unbindable.root_propagation, libc::MS_REC | libc::MS_UNBINDABLE);
        assert_eq!(field_of(|v| v["linux"]["rootfsPropagation"] = json!("sharing")), "linux.rootfsPropagation");
    }

    #[test]
    fn without_a_mount_namespace_only_what_needs_one_is_refused() {
        let no_mount = |v: &mut Value| v["linux"]["namespaces"] = json!([{"type": "uts"}]);
        let plan = lower_with(no_mount).unwrap();
        assert!(plan.namespaces.iter().all(|ns| ns.kind != Namespace::Mount));
        let with = |field: &'static str, value: Value| {
            move |v: &mut Value| {
                no_mount(v);
                match field {
                    "mounts" => v["mounts"] = value,
                    "root.readonly" => v["root"]["readonly"] = value,
                    _ => v["linux"][field.trim_start_matches("linux.")] = value,
                }
            }
        };
        assert_eq!(field_of(with("mounts", json!([{"destination": "/proc", "type": "proc"}]))), "mounts");
        assert_eq!(field_of(with("linux.maskedPaths", json!(["/proc/kcore"]))), "linux.maskedPaths");
        assert_eq!(field_of(with("root.readonly", json!(true))), "root.readonly");
        assert_eq!(field_of(with("linux.sysctl", json!({"kernel.domainname": "x"}))), "linux.sysctl");
        let err = lower_with(with("linux.readonlyPaths", json!(["/proc/sys"]))).unwrap_err();
        assert!(err.problem.contains("host's mount table"), "{}", err.problem);
        lower_with(with("mounts", json!([]))).unwrap();
    }

    #[test]
    fn personality_and_time_offsets_are_lowered_and_checked() {
        let plan = lower_with(|v| {
            v["linux"]["personality"] = json!({"domain": "LINUX32"});
            v["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "time"}]);
            v["linux"]["timeOffsets"] = json!({"monotonic": {"secs": -5}, "boottime": {"secs": 10, "nanosecs": 7}});
        })
        .unwrap();
        assert_eq!(plan.personality, Some(crate::plan::PER_LINUX32));
        let clocks: Vec<_> = plan.time_offsets.iter().map(|o| (o.clock.as_str(), o.secs, o.nanos)).collect();
        assert_eq!(clocks, [("boottime", 10, 7), ("monotonic", -5, 0)]);

        let no_aslr =
            lower_with(|v| v["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}));
        assert_eq!(no_aslr.unwrap().personality, Some(0x0040000));
        let flags =
            field_of(|v| v["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["READ_IMPLIES_EXEC"]}));
        assert_eq!(flags, "linux.personality.flags");
        let no_ns = field_of(|v| v["linux"]["timeOffsets"] = json!({"boottime": {"secs": 1}}));
        assert_eq!(no_ns, "linux.timeOffsets");
        let realtime = field_of(|v| {
            v["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "time"}]);
            v["linux"]["timeOffsets"] = json!({"realtime": {"secs": 1}});
        });
        assert_eq!(realtime, "linux.timeOffsets.realtime");
    }

    #[test]
    fn capabilities_keep_order_and_are_normalised() {
        let plan = lower_with(|v| {
            v["process"]["capabilities"] = json!({
                "bounding": ["CAP_NET_RAW", "chown", "SYS_ADMIN", "CAP_CHOWN"],
                "inheritable": [],
            });
        })
        .unwrap();
        let caps = &plan.process.capabilities;
        assert_eq!(caps.bounding, ["CAP_NET_RAW", "CAP_CHOWN", "CAP_SYS_ADMIN"]);
        assert!(caps.effective.is_empty() && caps.permitted.is_empty());
        assert!(caps.inheritable.is_empty() && caps.ambient.is_empty());
    }

    #[test]
    fn process_values_are_checked() {
        let plan = lower_with(|v| {
            v["process"]["env"] = json!(["A=1", "EMPTY="]);
            v["process"]["user"] = json!({"uid": 1000, "gid": 100, "umask": 18, "additionalGids": [5, 6]});
            v["process"]["oomScoreAdj"] = json!(-500);
            v["process"]["rlimits"] = json!([{"type": "RLIMIT_NPROC", "hard": 10, "soft": 5}]);
        })
        .unwrap();
        let p = &plan.process;
        assert_eq!(p.env, ["A=1", "EMPTY="]);
        assert_eq!((p.uid, p.gid, p.umask, p.additional_gids.as_slice()), (1000, 100, Some(0o22), &[5, 6][..]));
        assert_eq!(p.oom_score_adj, Some(-500));
        assert_eq!(p.rlimits, [Rlimit { kind: "RLIMIT_NPROC".into(), soft: 5, hard: 10 }]);

        assert_eq!(field_of(|v| v["process"]["env"] = json!(["=x"])), "process.env[0]");
        assert_eq!(field_of(|v| v["process"]["args"] = json!(["a\u{0}b"])), "process.args[0]");
        assert_eq!(field_of(|v| v["process"]["cwd"] = json!("/../etc")), "process.cwd");
        assert_eq!(field_of(|v| v["process"]["user"]["umask"] = json!(0o1000)), "process.user.umask");
        assert_eq!(field_of(|v| v["process"]["oomScoreAdj"] = json!(1001)), "process.oomScoreAdj");
        let twice =
            json!([{"type": "RLIMIT_CORE", "hard": 0, "soft": 0}, {"type": "RLIMIT_CORE", "hard": 1, "soft": 1}]);
        assert_eq!(field_of(|v| v["process"]["rlimits"] = twice), "process.rlimits[1].type");
        assert_eq!(field_of(|v| v.as_object_mut().unwrap().remove("process").map(drop).unwrap()), "process");
    }

    #[test]
    fn linux_paths_and_version() {
        let plan = lower_with(|v| {
            v["linux"]["maskedPaths"] = json!(["/proc/kcore"]);
            v["linux"]["readonlyPaths"] = json!(["/proc/sys"]);
            v["linux"]["cgroupsPath"] = json!("/containy/web");
        })
        .unwrap();
        assert_eq!(plan.masked_paths, [PathBuf::from("/proc/kcore")]);
        assert_eq!(plan.readonly_paths, [PathBuf::from("/proc/sys")]);
        assert_eq!(plan.cgroups_path, Some(PathBuf::from("/containy/web")));

        assert_eq!(field_of(|v| v["linux"]["maskedPaths"] = json!(["/ok", "proc/kcore"])), "linux.maskedPaths[1]");
        assert_eq!(field_of(|v| v["linux"]["readonlyPaths"] = json!(["/proc/../sys"])), "linux.readonlyPaths[0]");
        assert_eq!(field_of(|v| v["linux"]["cgroupsPath"] = json!("a/../../b")), "linux.cgroupsPath");
        assert_eq!(field_of(|v| v["ociVersion"] = json!("2.0.0")), "ociVersion");
        assert_eq!(field_of(|v| v["root"]["path"] = json!("")), "root.path");
    }
}
