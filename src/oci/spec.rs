//! `containy spec` and `containy features`: the OCI documents containy writes rather than reads.
//!
//! `spec` writes the config.json a new bundle starts from — the same defaults a friendly config gets
//! (podman's capability set, the OCI masked and read-only paths, the standard mounts) in the runtime spec's
//! own words, so runc and crun accept it too. `features` tells an engine what this runtime supports
//! (runtime-spec `features.md`).

use serde_json::{Value, json};

use crate::plan;

/// The default config.json; `rootless` adds a user namespace mapping the caller's ids to root.
pub fn default_spec(rootless: bool, uid: u32, gid: u32) -> Value {
    let caps: Vec<&str> = plan::DEFAULT_CAPABILITIES.to_vec();
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    let mut linux = json!({
        "maskedPaths": plan::DEFAULT_MASKED_PATHS,
        "readonlyPaths": plan::DEFAULT_READONLY_PATHS,
    });
    if rootless {
        // An unprivileged user can't make a network namespace's sysfs or mount cgroups: share /sys instead.
        namespaces.push(json!({"type": "user"}));
        mounts.push(json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}));
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    } else {
        namespaces.push(json!({"type": "network"}));
        mounts.push(json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}));
        mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}));
        linux["resources"] = json!({"devices": [{"allow": false, "access": "rwm"}]});
    }
    linux["namespaces"] = Value::Array(namespaces);
    json!({
        "ociVersion": crate::runtime::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [plan::DEFAULT_PATH, "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "containy",
        "mounts": mounts,
        "linux": linux
    })
}

/// The runtime-spec `features` document.
pub fn features() -> Value {
    let capabilities: Vec<String> = {
        let mut all: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
        all.sort();
        all
    };
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::runtime::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": super::mount_options::known_options(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": capabilities,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
                "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
            },
            // Applied where the host has the LSM enabled (see lsm.rs).
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": false},
            // Id-mapped mounts (`mounts[].uidMappings`, the `idmap` option) are refused by name.
            "mountExtensions": {"idmap": {"enabled": false}},
            "netDevices": {"enabled": true}
        },
        "annotations": {"org.containy.version": env!("CARGO_PKG_VERSION")},
        // containy reads no annotation as configuration: none can weaken a container.
        "potentiallyUnsafeConfigAnnotations": []
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_spec_lowers_to_a_plan_with_containys_defaults() {
        for rootless in [false, true] {
            let text = default_spec(rootless, 1000, 1000).to_string();
            let plan = crate::oci::parse_str(&text, "config.json".as_ref(), "/b".as_ref()).unwrap();
            assert_eq!(plan.process.capabilities.bounding.len(), plan::DEFAULT_CAPABILITIES.len());
            assert_eq!(plan.hostname.as_deref(), Some("containy"));
            assert_eq!(plan.uid_mappings.len(), rootless as usize);
        }
    }

    #[test]
    fn every_mount_option_features_lists_is_parsed() {
        let f = features();
        for name in f["mountOptions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()) {
            assert!(!super::super::mount_options::is_unsupported_extension(name), "{name}");
        }
        assert!(f["mountOptions"].as_array().unwrap().iter().any(|o| o == "rro"));
    }

    #[test]
    fn features_name_the_supported_namespaces() {
        let f = features();
        assert_eq!(f["linux"]["namespaces"].as_array().unwrap().len(), 8);
        assert_eq!(f["hooks"].as_array().unwrap().len(), 6);
        assert_eq!(f["linux"]["cgroup"]["systemd"], false);
    }
}
