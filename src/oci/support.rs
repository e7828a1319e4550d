//! Which OCI fields containy honours — and the check that refuses every other one.
//!
//! The runtime spec grows (hooks, sysctl, intelRdt, seccomp agents, …) and `oci_spec` parses far more than
//! containy acts on. A runtime that parsed `linux.sysctl` and then did nothing with it would run a container
//! with a setting the user believes is there and is not. So before anything is lowered, the raw JSON is walked against
//! [`SUPPORTED`]: every key present must be a supported field, or be blank (`null`, `""`, `[]`, `{}`, or an
//! object holding only blanks — it asks for nothing). Unknown keys are refused too: they may be a newer spec
//! field, or a typo, and either way would otherwise be ignored. This runs on the raw JSON rather than the typed
//! `Spec` because serde drops unknown keys on the floor.

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
    // leafWeight and weightDevice stay refused: containy writes no per-device weights.
    "linux.resources.blockIO.weight",
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

/// Every field present in `config` that containy would not honour, as OCI JSON paths
/// (`linux.sysctl`, `mounts[2].uidMappings`), in document order of the walk. Empty: all is supported.
///
/// Values of the wrong JSON type (an object where an array belongs) are not judged here; the typed parse
/// reports them with their line and column.
pub fn unsupported_fields(config: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(config, "", "", &mut found);
    found
}

/// `pattern` is the table form of the path so far (`mounts[]`), `shown` the user's (`mounts[3]`).
fn walk(value: &Value, pattern: &str, shown: &str, found: &mut Vec<String>) {
    let Value::Object(map) = value else {
        return;
    };
    for (key, child) in map {
        let child_pattern = join(pattern, key);
        let child_shown = join(shown, key);
        if SUPPORTED.contains(&child_pattern.as_str()) {
            continue;
        }
        let object_prefix = format!("{child_pattern}.");
        let array_prefix = format!("{child_pattern}[].");
        let is_object_node = SUPPORTED.iter().any(|p| p.starts_with(&object_prefix));
        let is_array_node = SUPPORTED.iter().any(|p| p.starts_with(&array_prefix));
        match child {
            Value::Object(_) if is_object_node => walk(child, &child_pattern, &child_shown, found),
            Value::Array(items) if is_array_node => {
                let item_pattern = format!("{child_pattern}[]");
                for (i, item) in items.iter().enumerate() {
                    walk(item, &item_pattern, &format!("{child_shown}[{i}]"), found);
                }
            }
            // A supported node with a value of the wrong type: the typed parse names it precisely.
            _ if is_object_node || is_array_node => {}
            _ if is_blank(child) => {}
            _ => found.push(child_shown),
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") }
}

/// A value that asks for nothing: generators often write `"hooks": {}` or `"apparmorProfile": ""`.
/// Non-empty arrays are never blank (`[{}]` is still one entry), and neither are `false` or `0`:
/// `"swappiness": 0` asks for something.
fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.values().all(is_blank),
        Value::Bool(_) | Value::Number(_) => false,
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
        assert_eq!(unsupported_fields(&config), Vec::<String>::new());
    }

    #[test]
    fn unsupported_fields_are_named_with_their_path() {
        let config = json!({
            "hooks": {"prestart": [{"path": "/bin/true", "user": "x"}], "onReboot": []},
            "process": {"user": {"uid": 0, "username": "root"}, "ioPriority": {"class": "IOPRIO_CLASS_RT"}},
            "mounts": [{"destination": "/a"}, {"destination": "/b", "uidMappings": [{"size": 1}]}],
            "linux": {
                "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"},
                "foo": 1,
                "resources": {"memory": {"limit": 1, "swappiness": 0, "kernel": 1}, "cpu": {"cpus": "0-1", "realtimeRuntime": 5},
                    "blockIO": {"weight": 500, "leafWeight": 10, "weightDevice": [{"major": 8, "minor": 0, "weight": 10}]}}
            }
        });
        let mut found = unsupported_fields(&config);
        found.sort();
        assert_eq!(
            found,
            [
                "hooks.prestart[0].user",
                "linux.foo",
                "linux.resources.blockIO.leafWeight",
                "linux.resources.blockIO.weightDevice",
                "linux.resources.cpu.realtimeRuntime",
                "linux.resources.memory.kernel",
                "linux.seccomp.listenerPath",
                "mounts[1].uidMappings",
                "process.ioPriority",
                "process.user.username",
            ]
        );
    }

    #[test]
    fn blank_values_ask_for_nothing() {
        let config = json!({
            "hooks": {"prestart": [], "poststop": null},
            "process": {"apparmorProfile": "", "selinuxLabel": null},
            "linux": {"sysctl": {}, "seccomp": null, "resources": {"hugepageLimits": []}},
            "solaris": {}
        });
        assert_eq!(unsupported_fields(&config), Vec::<String>::new());
    }

    #[test]
    fn false_and_zero_are_not_blank() {
        let config = json!({"linux": {"resources": {"memory": {"disableOOMKiller": false}}}, "vm": {"x": 0}});
        let mut found = unsupported_fields(&config);
        found.sort();
        assert_eq!(found, ["linux.resources.memory.disableOOMKiller", "vm"]);
    }

    #[test]
    fn wrong_json_types_are_left_to_the_typed_parse() {
        let config = json!({"process": "sh", "mounts": {"destination": "/x"}, "linux": {"namespaces": 3}});
        assert_eq!(unsupported_fields(&config), Vec::<String>::new());
    }
}
