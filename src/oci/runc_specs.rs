//! The configs `runc spec` writes, verbatim, and what they lower to.
//!
//! These are the bundles people try first, so containy must take them exactly as runc writes them: no field
//! refused, nothing lost. The fixtures are the real files (generated with runc 1.1.5), not retyped ones.

/// `runc spec` (runc 1.1.5, spec 1.0.2-dev), byte for byte.
#[cfg(test)]
pub const RUNC_SPEC: &str = r#"{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": true,
		"user": {
			"uid": 0,
			"gid": 0
		},
		"args": [
			"sh"
		],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"effective": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"permitted": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"ambient": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			]
		},
		"rlimits": [
			{
				"type": "RLIMIT_NOFILE",
				"hard": 1024,
				"soft": 1024
			}
		],
		"noNewPrivileges": true
	},
	"root": {
		"path": "rootfs",
		"readonly": true
	},
	"hostname": "runc",
	"mounts": [
		{
			"destination": "/proc",
			"type": "proc",
			"source": "proc"
		},
		{
			"destination": "/dev",
			"type": "tmpfs",
			"source": "tmpfs",
			"options": [
				"nosuid",
				"strictatime",
				"mode=755",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/pts",
			"type": "devpts",
			"source": "devpts",
			"options": [
				"nosuid",
				"noexec",
				"newinstance",
				"ptmxmode=0666",
				"mode=0620",
				"gid=5"
			]
		},
		{
			"destination": "/dev/shm",
			"type": "tmpfs",
			"source": "shm",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"mode=1777",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/mqueue",
			"type": "mqueue",
			"source": "mqueue",
			"options": [
				"nosuid",
				"noexec",
				"nodev"
			]
		},
		{
			"destination": "/sys",
			"type": "sysfs",
			"source": "sysfs",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"ro"
			]
		},
		{
			"destination": "/sys/fs/cgroup",
			"type": "cgroup",
			"source": "cgroup",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"relatime",
				"ro"
			]
		}
	],
	"linux": {
		"resources": {
			"devices": [
				{
					"allow": false,
					"access": "rwm"
				}
			]
		},
		"namespaces": [
			{
				"type": "pid"
			},
			{
				"type": "network"
			},
			{
				"type": "ipc"
			},
			{
				"type": "uts"
			},
			{
				"type": "mount"
			}
		],
		"maskedPaths": [
			"/proc/acpi",
			"/proc/asound",
			"/proc/kcore",
			"/proc/keys",
			"/proc/latency_stats",
			"/proc/timer_list",
			"/proc/timer_stats",
			"/proc/sched_debug",
			"/sys/firmware",
			"/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus",
			"/proc/fs",
			"/proc/irq",
			"/proc/sys",
			"/proc/sysrq-trigger"
		]
	}
}"#;

/// `runc spec --rootless` (runc 1.1.5, run as root, hence `hostID` 0), byte for byte: a user namespace with mappings, no network
/// namespace, `/sys` bind-mounted from the host (the one place a rootless container can get it from).
#[cfg(test)]
pub const RUNC_SPEC_ROOTLESS: &str = r#"{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": true,
		"user": {
			"uid": 0,
			"gid": 0
		},
		"args": [
			"sh"
		],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"effective": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"permitted": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"ambient": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			]
		},
		"rlimits": [
			{
				"type": "RLIMIT_NOFILE",
				"hard": 1024,
				"soft": 1024
			}
		],
		"noNewPrivileges": true
	},
	"root": {
		"path": "rootfs",
		"readonly": true
	},
	"hostname": "runc",
	"mounts": [
		{
			"destination": "/proc",
			"type": "proc",
			"source": "proc"
		},
		{
			"destination": "/dev",
			"type": "tmpfs",
			"source": "tmpfs",
			"options": [
				"nosuid",
				"strictatime",
				"mode=755",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/pts",
			"type": "devpts",
			"source": "devpts",
			"options": [
				"nosuid",
				"noexec",
				"newinstance",
				"ptmxmode=0666",
				"mode=0620"
			]
		},
		{
			"destination": "/dev/shm",
			"type": "tmpfs",
			"source": "shm",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"mode=1777",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/mqueue",
			"type": "mqueue",
			"source": "mqueue",
			"options": [
				"nosuid",
				"noexec",
				"nodev"
			]
		},
		{
			"destination": "/sys",
			"type": "none",
			"source": "/sys",
			"options": [
				"rbind",
				"nosuid",
				"noexec",
				"nodev",
				"ro"
			]
		},
		{
			"destination": "/sys/fs/cgroup",
			"type": "cgroup",
			"source": "cgroup",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"relatime",
				"ro"
			]
		}
	],
	"linux": {
		"uidMappings": [
			{
				"containerID": 0,
				"hostID": 0,
				"size": 1
			}
		],
		"gidMappings": [
			{
				"containerID": 0,
				"hostID": 0,
				"size": 1
			}
		],
		"namespaces": [
			{
				"type": "pid"
			},
			{
				"type": "ipc"
			},
			{
				"type": "uts"
			},
			{
				"type": "mount"
			},
			{
				"type": "user"
			}
		],
		"maskedPaths": [
			"/proc/acpi",
			"/proc/asound",
			"/proc/kcore",
			"/proc/keys",
			"/proc/latency_stats",
			"/proc/timer_list",
			"/proc/timer_stats",
			"/proc/sched_debug",
			"/sys/firmware",
			"/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus",
			"/proc/fs",
			"/proc/irq",
			"/proc/sys",
			"/proc/sysrq-trigger"
		]
	}
}"#;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use libc::{MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC};

    use super::*;
    use crate::oci::parse_str;
    use crate::plan::{
        Capabilities, DeviceRule, IdMap, Namespace, NamespaceSpec, Network, Plan, Rlimit, RootfsMode, RootfsSource,
    };

    const BUNDLE: &str = "/var/lib/bundles/demo";

    fn lower(text: &str) -> Plan {
        parse_str(text, Path::new("config.json"), Path::new(BUNDLE)).unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn runc_spec_lowers() {
        let plan = lower(RUNC_SPEC);
        assert_eq!(plan.bundle, Path::new(BUNDLE));

        let p = &plan.process;
        assert_eq!(p.args, ["sh"]);
        assert_eq!(p.env, ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"]);
        assert_eq!(p.cwd, Path::new("/"));
        assert_eq!((p.uid, p.gid), (0, 0));
        assert!(p.additional_gids.is_empty());
        assert_eq!(p.umask, None);
        assert!(p.terminal);
        assert!(p.no_new_privileges);
        let three = strings(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        assert_eq!(
            p.capabilities,
            Capabilities {
                bounding: three.clone(),
                effective: three.clone(),
                permitted: three.clone(),
                inheritable: Vec::new(),
                ambient: three,
            }
        );
        assert_eq!(p.rlimits, [Rlimit { kind: "RLIMIT_NOFILE".into(), soft: 1024, hard: 1024 }]);
        assert_eq!(p.oom_score_adj, None);

        assert_eq!(plan.hostname.as_deref(), Some("runc"));
        assert_eq!(plan.domainname, None);
        let kinds: Vec<Namespace> = plan.namespaces.iter().map(|ns| ns.kind).collect();
        assert_eq!(kinds, [Namespace::Pid, Namespace::Network, Namespace::Ipc, Namespace::Uts, Namespace::Mount]);
        assert!(plan.namespaces.iter().all(|ns| ns.path.is_none()));
        assert_eq!(plan.network, Network::None);
        assert!(plan.uid_mappings.is_empty() && plan.gid_mappings.is_empty());

        assert_eq!(plan.rootfs.source, RootfsSource::Directory(PathBuf::from(BUNDLE).join("rootfs")));
        assert_eq!(plan.rootfs.mode, RootfsMode::Direct);
        assert!(plan.rootfs.readonly);
        assert!(plan.rootfs.keep_changes);

        // runc's mounts are the plan's default mounts, except that runc gives /proc no options at all.
        let mut expected = crate::plan::default_mounts();
        expected[0].flags = 0;
        assert_eq!(plan.mounts, expected);
        assert_eq!(plan.mounts[1].flags, MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(plan.mounts[1].data, "mode=755,size=65536k");
        assert_eq!(plan.mounts[6].flags, MS_NOSUID | MS_NOEXEC | MS_NODEV | libc::MS_RELATIME | MS_RDONLY);
        assert!(plan.mounts.iter().all(|m| !m.is_bind() && m.propagation.is_empty()));

        let masked: Vec<&str> = plan.masked_paths.iter().filter_map(|p| p.to_str()).collect();
        assert_eq!(
            masked,
            [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ]
        );
        let readonly: Vec<&str> = plan.readonly_paths.iter().filter_map(|p| p.to_str()).collect();
        assert_eq!(readonly, crate::plan::DEFAULT_READONLY_PATHS);

        assert_eq!(
            plan.resources.devices,
            [DeviceRule { allow: false, kind: 'a', major: None, minor: None, access: "rwm".into() }]
        );
        assert_eq!(plan.resources.memory, None);
        assert_eq!(plan.resources.pids, None);
        assert_eq!(plan.cgroups_path, None);
    }

    #[test]
    fn runc_spec_with_cgroup_namespace() {
        let mut value: serde_json::Value = serde_json::from_str(RUNC_SPEC).unwrap();
        value["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "cgroup"}));
        let plan = lower(&value.to_string());
        assert_eq!(plan.namespaces.last().map(|ns| ns.kind), Some(Namespace::Cgroup));
    }

    #[test]
    fn runc_rootless_spec_lowers() {
        let plan = lower(RUNC_SPEC_ROOTLESS);
        assert_eq!(plan.network, Network::Host);
        assert!(plan.namespaces.contains(&NamespaceSpec { kind: Namespace::User, path: None }));
        assert!(!plan.namespaces.iter().any(|ns| ns.kind == Namespace::Network));
        assert_eq!(plan.uid_mappings, [IdMap { container_id: 0, host_id: 0, size: 1 }]);
        assert_eq!(plan.gid_mappings, [IdMap { container_id: 0, host_id: 0, size: 1 }]);

        let sys = plan.mounts.iter().find(|m| m.destination == Path::new("/sys")).unwrap();
        assert!(sys.is_bind());
        assert_eq!(sys.fstype, "bind");
        assert_eq!(sys.source, Path::new("/sys"));
        assert_eq!(sys.flags, MS_BIND | MS_REC | MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY);
        assert_eq!(sys.data, "");
        let pts = plan.mounts.iter().find(|m| m.destination == Path::new("/dev/pts")).unwrap();
        assert_eq!(pts.data, "newinstance,ptmxmode=0666,mode=0620");
    }
}
