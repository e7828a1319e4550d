//! Which OCI fields containy honours, which it refuses, and which it ignores.
//!
//! The runtime spec grows (hooks, sysctl, intelRdt, seccomp agents, …) and `oci_spec` parses far more than
//! containy acts on. A runtime that parsed `process.scheduler` and then did nothing with it would run a
//! container with a setting the user believes is there and is not. So before anything is lowered, the raw
//! JSON is walked against two tables: [`SUPPORTED`] fields are honoured; [`REFUSED`] fields are defined by
//! the spec but not implemented, and are refused by name — unless their value asks for nothing (blank:
//! `null`, `""`, `[]`, `{}`; a `false` switch; the documented default, like `SCHED_OTHER` at nice 0).
//! Everything else is a property the spec does not define (a newer spec's field, a vendor extension, a
//! typo): the spec says a runtime MUST NOT fail on it and MUST ignore it, so it is only mentioned with
//! `--explain`. The sections of other platforms (`windows`, `solaris`, `vm`, `zos`) are ignored the same way.
//! This runs on the raw JSON rather than the typed `Spec` because serde drops unknown keys on the floor.

use serde_json::Value;

/// Supported OCI fields, as dotted JSON paths; `[]` stands for "every element of this array".
///
/// A path listed here is accepted with everything beneath it (its value is then checked by the typed parse
/// and by `convert`). A path that is only a prefix of listed paths (`process`, `linux.resources`) is walked
/// into, and its other keys are refused.
pub const SUPPORTED: &[&str] = &[
    "ociVersion",
    "root.path",
    "root.readonly",
    "process.terminal",
    // Only meaningful with a terminal; the pty gets its size from the caller's terminal instead.
    "process.consoleSize",
    "process.user.uid",
    "process.user.gid",
    "process.user.umask",
    "process.user.additionalGids",
    "process.args",
    "process.env",
    "process.cwd",
    "process.capabilities.bounding",
    "process.capabilities.effective",
    "process.capabilities.inheritable",
    "process.capabilities.permitted",
    "process.capabilities.ambient",
    "process.rlimits[].type",
    "process.rlimits[].hard",
    "process.rlimits[].soft",
    "process.noNewPrivileges",
    "process.oomScoreAdj",
    // Applied where the LSM is enabled; elsewhere there is nothing to confine with (see lsm.rs).
    "process.apparmorProfile",
    "process.selinuxLabel",
    "hostname",
    "domainname",
    "hooks.prestart[].path",
    "hooks.prestart[].args",
    "hooks.prestart[].env",
    "hooks.prestart[].timeout",
    "hooks.createRuntime[].path",
    "hooks.createRuntime[].args",
    "hooks.createRuntime[].env",
    "hooks.createRuntime[].timeout",
    "hooks.createContainer[].path",
    "hooks.createContainer[].args",
    "hooks.createContainer[].env",
    "hooks.createContainer[].timeout",
    "hooks.startContainer[].path",
    "hooks.startContainer[].args",
    "hooks.startContainer[].env",
    "hooks.startContainer[].timeout",
    "hooks.poststart[].path",
    "hooks.poststart[].args",
    "hooks.poststart[].env",
    "hooks.poststart[].timeout",
    "hooks.poststop[].path",
    "hooks.poststop[].args",
    "hooks.poststop[].env",
    "hooks.poststop[].timeout",
    "mounts[].destination",
    "mounts[].type",
    "mounts[].source",
    "mounts[].options",
    // Free-form metadata by definition: nothing in it changes how the container runs.
    "annotations",
    // A map keyed by host interface names; each value is `{"name": …}`, checked by the typed parse.
    "linux.netDevices",
    "linux.namespaces[].type",
    "linux.namespaces[].path",
    "linux.uidMappings[].containerID",
    "linux.uidMappings[].hostID",
    "linux.uidMappings[].size",
    "linux.gidMappings[].containerID",
    "linux.gidMappings[].hostID",
    "linux.gidMappings[].size",
    "linux.resources.devices[].allow",
    "linux.resources.devices[].type",
    "linux.resources.devices[].major",
    "linux.resources.devices[].minor",
    "linux.resources.devices[].access",
    "linux.resources.memory.limit",
    "linux.resources.memory.swap",
    "linux.resources.pids.limit",
    "linux.resources.cpu.shares",
    "linux.resources.cpu.quota",
    "linux.resources.cpu.period",
    "linux.resources.cpu.cpus",
    "linux.resources.cpu.mems",
    "linux.resources.cpu.idle",
    "linux.resources.memory.reservation",
    "linux.resources.memory.swappiness",
    // Kernel memory is ignored with a warning, as runc does: the kernel deprecated it.
    "linux.resources.memory.kernel",
    "linux.resources.memory.kernelTCP",
    "linux.resources.memory.disableOOMKiller",
    "linux.resources.memory.useHierarchy",
    "linux.resources.memory.checkBeforeUpdate",
    "linux.resources.cpu.realtimeRuntime",
    "linux.resources.cpu.realtimePeriod",
    "linux.resources.cpu.burst",
    "linux.resources.blockIO.weight",
    "linux.resources.blockIO.leafWeight",
    "linux.resources.blockIO.weightDevice[].major",
    "linux.resources.blockIO.weightDevice[].minor",
    "linux.resources.blockIO.weightDevice[].weight",
    "linux.resources.blockIO.weightDevice[].leafWeight",
    "linux.resources.network.classID",
    "linux.resources.network.priorities[].name",
    "linux.resources.network.priorities[].priority",
    // A map keyed by RDMA device names; each value is `{"hcaHandles": …, "hcaObjects": …}`.
    "linux.resources.rdma",
    "linux.resources.blockIO.throttleReadBpsDevice[].major",
    "linux.resources.blockIO.throttleReadBpsDevice[].minor",
    "linux.resources.blockIO.throttleReadBpsDevice[].rate",
    "linux.resources.blockIO.throttleWriteBpsDevice[].major",
    "linux.resources.blockIO.throttleWriteBpsDevice[].minor",
    "linux.resources.blockIO.throttleWriteBpsDevice[].rate",
    "linux.resources.blockIO.throttleReadIOPSDevice[].major",
    "linux.resources.blockIO.throttleReadIOPSDevice[].minor",
    "linux.resources.blockIO.throttleReadIOPSDevice[].rate",
    "linux.resources.blockIO.throttleWriteIOPSDevice[].major",
    "linux.resources.blockIO.throttleWriteIOPSDevice[].minor",
    "linux.resources.blockIO.throttleWriteIOPSDevice[].rate",
    "linux.resources.hugepageLimits[].pageSize",
    "linux.resources.hugepageLimits[].limit",
    // Free-form by definition (cgroup v2 file -> value); the keys are checked when lowering.
    "linux.resources.unified",
    "linux.cgroupsPath",
    "linux.sysctl",
    "linux.maskedPaths",
    "linux.readonlyPaths",
    "linux.rootfsPropagation",
    // Applied where SELinux is enabled; elsewhere there is nothing to label with (see lsm.rs).
    "linux.mountLabel",
    "linux.devices[].path",
    "linux.devices[].type",
    "linux.devices[].major",
    "linux.devices[].minor",
    "linux.devices[].fileMode",
    "linux.devices[].uid",
    "linux.devices[].gid",
    "linux.personality.domain",
    "linux.personality.flags",
    "linux.timeOffsets",
    // Everything but listenerPath/listenerMetadata: SCMP_ACT_NOTIFY needs an agent containy does not run.
    "linux.seccomp.defaultAction",
    "linux.seccomp.defaultErrnoRet",
    "linux.seccomp.architectures",
    "linux.seccomp.flags",
    "linux.seccomp.syscalls[].names",
    "linux.seccomp.syscalls[].action",
    "linux.seccomp.syscalls[].errnoRet",
    "linux.seccomp.syscalls[].args[].index",
    "linux.seccomp.syscalls[].args[].value",
    "linux.seccomp.syscalls[].args[].valueTwo",
    "linux.seccomp.syscalls[].args[].op",
];

/// Fields the runtime spec defines for Linux that containy does not implement, with the reason it gives.
/// A value that asks for nothing is accepted (see [`asks_for_nothing`]).
pub const REFUSED: &[(&str, &str)] = &[
    ("process.scheduler", "sched_setattr(2) policies are not implemented"),
    ("process.ioPriority", "ioprio_set(2) is not implemented"),
    ("process.execCPUAffinity", "per-process CPU affinity is not implemented"),
    ("mounts[].uidMappings", "id-mapped mounts are not implemented"),
    ("mounts[].gidMappings", "id-mapped mounts are not implemented"),
    ("linux.intelRdt", "Intel RDT (resctrl) is not implemented"),
    ("linux.memoryPolicy", "set_mempolicy(2) is not implemented"),
    ("linux.seccomp.listenerPath", "SCMP_ACT_NOTIFY needs a seccomp agent, which containy does not run"),
    ("linux.seccomp.listenerMetadata", "SCMP_ACT_NOTIFY needs a seccomp agent, which containy does not run"),
];

/// The sections the spec defines for other platforms: not for a Linux runtime, so ignored.
const OTHER_PLATFORMS: &[&str] = &["windows", "solaris", "vm", "zos"];

/// Values of refused fields that are the spec's (or the kernel's) default: they ask for nothing.
const DEFAULTS: &[(&str, &str)] = &[
    ("process.scheduler.policy", "SCHED_OTHER"),
    ("process.scheduler.nice", "0"),
    ("process.scheduler.priority", "0"),
    ("process.scheduler.runtime", "0"),
    ("process.scheduler.deadline", "0"),
    ("process.scheduler.period", "0"),
];

/// What the walk found: fields to refuse (with why), and properties ignored because the spec does not
/// define them for Linux. Both as the user's JSON paths (`mounts[2].uidMappings`), in document order.
#[derive(Debug, Default, PartialEq)]
pub struct Findings {
    pub refused: Vec<String>,
    pub ignored: Vec<String>,
}

/// Walk `config` against the tables.
///
/// Values of the wrong JSON type (an object where an array belongs) are not judged here; the typed parse
/// reports them with their line and column.
pub fn check(config: &Value) -> Findings {
    let mut found = Findings::default();
    walk(config, &mut Path::default(), &mut found);
    found
}

/// Why each refused field is refused, for the error message.
pub fn reasons(fields: &[String]) -> String {
    let mut reasons: Vec<&str> = Vec::new();
    for field in fields {
        let pattern = array_pattern(field);
        if let Some((_, why)) = REFUSED.iter().find(|(p, _)| *p == pattern)
            && !reasons.contains(why)
        {
            reasons.push(why);
        }
    }
    reasons.join("; ")
}

/// `mounts[3].uidMappings` -> `mounts[].uidMappings`.
fn array_pattern(shown: &str) -> String {
    let mut out = String::new();
    let mut in_index = false;
    for c in shown.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

/// Is `pattern` an object the tables name fields beneath (`process`), an array whose elements they do
/// (`mounts`), or neither?
fn is_node(pattern: &str) -> (bool, bool) {
    let known = SUPPORTED.iter().copied().chain(REFUSED.iter().map(|(p, _)| *p));
    let beneath = |p: &str, separator: &str| p.starts_with(pattern) && p[pattern.len()..].starts_with(separator);
    (known.clone().any(|p| beneath(p, ".")), known.clone().any(|p| beneath(p, "[].")))
}

/// One step of the walk: an object's key or an array's index.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Where the walk stands, in the table's form (`mounts[].type`, kept as it goes: every key is looked up)
/// and as steps the user's form (`mounts[3].type`) is written from, only for what it reports.
#[derive(Default)]
struct Path<'a> {
    pattern: String,
    steps: Vec<Step<'a>>,
}

impl<'a> Path<'a> {
    fn shown(&self) -> String {
        let mut shown = String::new();
        for step in &self.steps {
            match step {
                Step::Key(key) if shown.is_empty() => shown.push_str(key),
                Step::Key(key) => {
                    shown.push('.');
                    shown.push_str(key);
                }
                Step::Index(i) => shown.push_str(&format!("[{i}]")),
            }
        }
        shown
    }
}

fn walk<'a>(value: &'a Value, path: &mut Path<'a>, found: &mut Findings) {
    let Value::Object(map) = value else {
        return;
    };
    for (key, child) in map {
        let outer = path.pattern.len();
        if outer > 0 {
            path.pattern.push('.');
        }
        path.pattern.push_str(key);
        path.steps.push(Step::Key(key));
        let pattern = path.pattern.as_str();
        if SUPPORTED.contains(&pattern) {
            // Honoured, with everything beneath it: nothing to report.
        } else if REFUSED.iter().any(|(p, _)| *p == pattern) {
            if !asks_for_nothing(pattern, child) {
                found.refused.push(path.shown());
            }
        } else if outer == 0 && OTHER_PLATFORMS.contains(&key.as_str()) {
            found.ignored.push(path.shown());
        } else {
            let (is_object_node, is_array_node) = is_node(pattern);
            match child {
                Value::Object(_) if is_object_node => walk(child, path, found),
                Value::Array(items) if is_array_node => {
                    path.pattern.push_str("[]");
                    for (i, item) in items.iter().enumerate() {
                        path.steps.push(Step::Index(i));
                        walk(item, path, found);
                        path.steps.pop();
                    }
                }
                // A known node with a value of the wrong type: the typed parse names it precisely.
                _ if is_object_node || is_array_node => {}
                // Not a property the spec defines: ignored, as the spec requires.
                _ => found.ignored.push(path.shown()),
            }
        }
        path.steps.pop();
        path.pattern.truncate(outer);
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") }
}

/// A value of a refused field that asks for nothing: blank (generators often write `"hooks": {}` or
/// `"intelRdt": null`), a `false` switch, a documented default, or an object of only such values.
/// Non-empty arrays are never blank (`[{}]` is still one entry), and `0` is not in general:
/// `"swappiness": 0` asks for something.
fn asks_for_nothing(pattern: &str, value: &Value) -> bool {
    if DEFAULTS.iter().any(|(p, v)| *p == pattern && value_is(value, v)) {
        return true;
    }
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.iter().all(|(k, v)| asks_for_nothing(&join(pattern, k), v)),
        Value::Bool(true) | Value::Number(_) => false,
    }
}

fn value_is(value: &Value, text: &str) -> bool {
    match value {
        Value::String(s) => s == text,
        Value::Number(n) => n.to_string() == text,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn supported_fields_pass() {
        let config = json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["sh"], "user": {"uid": 0, "gid": 0}, "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1}]},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]}],
            "annotations": {"anything": {"goes": "here"}},
            "linux": {
                "resources": {"memory": {"limit": 1}, "devices": [{"allow": false, "access": "rwm"}]},
                "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "architectures": ["SCMP_ARCH_X86"],
                    "flags": [], "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1,
                    "args": [{"index": 0, "value": 1, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}]}
            }
        });
        assert_eq!(check(&config).refused, Vec::<String>::new());
    }

    #[test]
    fn refused_fields_are_named_with_their_path_and_unknown_ones_ignored() {
        let config = json!({
            "hooks": {"prestart": [{"path": "/bin/true", "user": "x"}], "onReboot": []},
            "process": {"user": {"uid": 0, "username": "root"}, "ioPriority": {"class": "IOPRIO_CLASS_RT"}},
            "mounts": [{"destination": "/a"}, {"destination": "/b", "uidMappings": [{"size": 1}]}],
            "linux": {
                "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"},
                "foo": 1,
                "intelRdt": {"closID": "x"},
                "resources": {"memory": {"limit": 1, "swappiness": 0, "kernel": 1, "disableOOMKiller": true},
                    "cpu": {"cpus": "0-1", "realtimeRuntime": 5},
                    "blockIO": {"weight": 500, "leafWeight": 10, "weightDevice": [{"major": 8, "minor": 0, "weight": 10}]}}
            },
            "windows": {"layerFolders": ["c:\\x"]}
        });
        let found = check(&config);
        let mut refused = found.refused;
        refused.sort();
        assert_eq!(
            refused,
            ["linux.intelRdt", "linux.seccomp.listenerPath", "mounts[1].uidMappings", "process.ioPriority"]
        );
        let mut ignored = found.ignored;
        ignored.sort();
        assert_eq!(
            ignored,
            ["hooks.onReboot", "hooks.prestart[0].user", "linux.foo", "process.user.username", "windows"]
        );
    }

    #[test]
    fn blank_values_ask_for_nothing() {
        let config = json!({
            "hooks": {"prestart": [], "poststop": null},
            "process": {"apparmorProfile": "", "selinuxLabel": null, "scheduler": {"policy": "SCHED_OTHER", "nice": 0}},
            "linux": {"sysctl": {}, "seccomp": null, "resources": {"hugepageLimits": []},
                "intelRdt": {"closID": "", "enableCMT": false}},
            "solaris": {}
        });
        assert_eq!(check(&config).refused, Vec::<String>::new());
    }

    #[test]
    fn defaults_ask_for_nothing_and_requests_are_refused() {
        let config =
            json!({"process": {"scheduler": {"policy": "SCHED_FIFO", "priority": 0}, "ioPriority": {"priority": 0}}});
        let mut found = check(&config).refused;
        found.sort();
        assert_eq!(found, ["process.ioPriority", "process.scheduler"]);
        let docker = json!({"linux": {"resources": {"memory": {"disableOOMKiller": false, "kernel": 0}}}});
        assert_eq!(check(&docker), Findings::default());
    }

    #[test]
    fn wrong_json_types_are_left_to_the_typed_parse() {
        let config = json!({"process": "sh", "mounts": {"destination": "/x"}, "linux": {"namespaces": 3}});
        assert_eq!(check(&config), Findings::default());
    }
}
