//! OCI `linux.resources` -> [`Resources`]: the cgroup limits, checked against what the kernel accepts.
//!
//! The OCI spec uses cgroup v1 units and runc's conventions for "no value": `-1` means unlimited, and for
//! several fields `0` means "not set" (runc treats them so, and generators write them). Both become `None`
//! here, so the cgroup code only ever sees a limit it must write. Ranges are checked now because the
//! kernel's answer to a bad `cpu.cfs_period_us` is a bare `EINVAL` with no field name attached.

use oci_spec::runtime::{LinuxDeviceType, LinuxResources};

use super::convert::{Invalid, invalid};
use crate::plan::{DeviceRule, HugetlbLimit, IoRate, IoThrottle, IoWeightDevice, RdmaLimit, Resources};

/// `cpu.shares` outside this range is clamped by the kernel; refusing says so instead.
const SHARES: std::ops::RangeInclusive<u64> = 2..=262_144;
/// The kernel's bounds for `cpu.cfs_period_us` (1 ms ..= 1 s); `cpu.cfs_quota_us` has the same minimum.
const PERIOD: std::ops::RangeInclusive<u64> = 1_000..=1_000_000;
const MIN_QUOTA: i64 = 1_000;

pub(super) fn lower_resources(resources: Option<&LinuxResources>) -> Result<Resources, Invalid> {
    let Some(resources) = resources else {
        return Ok(Resources::default());
    };
    let mut lowered = Resources::default();

    if let Some(memory) = resources.memory() {
        // 0 is "not set" to runc (and what a generator writes for it), as for the other fields here.
        lowered.memory = match memory.limit() {
            None | Some(0) | Some(-1) => None,
            Some(limit) if limit > 0 => Some(limit.unsigned_abs()),
            Some(limit) => {
                return Err(invalid(
                    "linux.resources.memory.limit",
                    format!("must be > 0 bytes (or -1 or 0 for no limit), got {limit}"),
                ));
            }
        };
        lowered.memory_swap = match memory.swap() {
            None | Some(0) => None,
            Some(-1) => Some(-1),
            Some(swap) if swap > 0 => {
                // memory.swap is memory *plus* swap, so it can never be below the memory limit.
                match lowered.memory {
                    None => {
                        return Err(invalid(
                            "linux.resources.memory.swap",
                            "needs linux.resources.memory.limit: it is the limit of memory plus swap",
                        ));
                    }
                    Some(limit) if swap.unsigned_abs() < limit => {
                        return Err(invalid(
                            "linux.resources.memory.swap",
                            format!(
                                "({swap}) is memory plus swap and must not be below linux.resources.memory.limit ({limit})"
                            ),
                        ));
                    }
                    Some(_) => Some(swap),
                }
            }
            Some(swap) => {
                return Err(invalid(
                    "linux.resources.memory.swap",
                    format!("must be > 0 bytes (or -1 for unlimited swap), got {swap}"),
                ));
            }
        };
    }

    if let Some(pids) = resources.pids() {
        lowered.pids = Some(pids.limit()).filter(|&limit| limit > 0);
    }

    if let Some(cpu) = resources.cpu() {
        lowered.cpu_shares = match cpu.shares() {
            None | Some(0) => None,
            Some(shares) if SHARES.contains(&shares) => Some(shares),
            Some(shares) => {
                return Err(invalid(
                    "linux.resources.cpu.shares",
                    format!("must be in {}..={}, got {shares}", SHARES.start(), SHARES.end()),
                ));
            }
        };
        lowered.cpu_quota = match cpu.quota() {
            None | Some(0) | Some(-1) => None,
            Some(quota) if quota >= MIN_QUOTA => Some(quota),
            Some(quota) => {
                return Err(invalid(
                    "linux.resources.cpu.quota",
                    format!("must be at least {MIN_QUOTA} µs (or -1 for no limit), got {quota}"),
                ));
            }
        };
        lowered.cpu_period = match cpu.period() {
            None | Some(0) => None,
            Some(period) if PERIOD.contains(&period) => Some(period),
            Some(period) => {
                return Err(invalid(
                    "linux.resources.cpu.period",
                    format!("must be in {}..={} µs, got {period}", PERIOD.start(), PERIOD.end()),
                ));
            }
        };
    }

    lower_more(resources, &mut lowered)?;

    for (i, device) in resources.devices().as_deref().unwrap_or_default().iter().enumerate() {
        let field = |name: &str| format!("linux.resources.devices[{i}].{name}");
        let kind = match device.typ() {
            None | Some(LinuxDeviceType::A) => 'a',
            Some(LinuxDeviceType::B) => 'b',
            Some(LinuxDeviceType::C) => 'c',
            Some(other) => {
                return Err(invalid(
                    field("type"),
                    format!("is {:?}; a device cgroup rule takes \"a\", \"b\" or \"c\"", other.as_str()),
                ));
            }
        };
        let number = |name: &str, value: Option<i64>| match value {
            None | Some(-1) => Ok(None),
            Some(n) if n >= 0 => Ok(Some(n)),
            Some(n) => Err(invalid(field(name), format!("must be >= 0 (or -1 for any), got {n}"))),
        };
        let access = device.access().clone().unwrap_or_else(|| String::from("rwm"));
        if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(invalid(field("access"), format!("must be some of r, w, m, got {access:?}")));
        }
        lowered.devices.push(DeviceRule {
            allow: device.allow(),
            kind,
            major: number("major", device.major())?,
            minor: number("minor", device.minor())?,
            access,
        });
    }
    Ok(lowered)
}

/// `blkio.weight`'s range (v2's `io.weight` is derived from it).
const IO_WEIGHT: std::ops::RangeInclusive<u16> = 10..=1000;

/// Reservation, swappiness, cpuset, idle, block I/O, huge pages and the raw `unified` map.
fn lower_more(resources: &LinuxResources, lowered: &mut Resources) -> Result<(), Invalid> {
    if let Some(memory) = resources.memory() {
        lowered.memory_reservation = match memory.reservation() {
            None | Some(0) | Some(-1) => None,
            Some(bytes) if bytes > 0 => Some(bytes.unsigned_abs()),
            Some(bytes) => {
                return Err(invalid(
                    "linux.resources.memory.reservation",
                    format!("must be > 0 bytes (or -1 for none), got {bytes}"),
                ));
            }
        };
        lowered.swappiness = match memory.swappiness() {
            None => None,
            Some(v) if v <= 100 => Some(v),
            Some(v) => {
                return Err(invalid("linux.resources.memory.swappiness", format!("must be in 0..=100, got {v}")));
            }
        };
    }
    if let Some(cpu) = resources.cpu() {
        let list = |name: &str, value: &Option<String>| match value.as_deref() {
            None | Some("") => Ok(None),
            Some(list) => crate::cgroups::check_cpu_list(list)
                .map(|()| Some(list.to_string()))
                .map_err(|problem| invalid(format!("linux.resources.cpu.{name}"), problem)),
        };
        lowered.cpuset_cpus = list("cpus", cpu.cpus())?;
        lowered.cpuset_mems = list("mems", cpu.mems())?;
        lowered.cpu_idle = match cpu.idle() {
            None => None,
            Some(0) => Some(false),
            Some(1) => Some(true),
            Some(v) => {
                return Err(invalid("linux.resources.cpu.idle", format!("must be 0 or 1, got {v}")));
            }
        };
    }
    if let Some(block_io) = resources.block_io() {
        lowered.io_weight = match block_io.weight() {
            None | Some(0) => None,
            Some(w) if IO_WEIGHT.contains(&w) => Some(w),
            Some(w) => {
                return Err(invalid(
                    "linux.resources.blockIO.weight",
                    format!("must be in {}..={}, got {w}", IO_WEIGHT.start(), IO_WEIGHT.end()),
                ));
            }
        };
        let lists = [
            ("throttleReadBpsDevice", IoRate::ReadBps, block_io.throttle_read_bps_device()),
            ("throttleWriteBpsDevice", IoRate::WriteBps, block_io.throttle_write_bps_device()),
            ("throttleReadIOPSDevice", IoRate::ReadIops, block_io.throttle_read_iops_device()),
            ("throttleWriteIOPSDevice", IoRate::WriteIops, block_io.throttle_write_iops_device()),
        ];
        for (name, kind, devices) in lists {
            for (i, device) in devices.as_deref().unwrap_or_default().iter().enumerate() {
                let number = |part: &str, n: i64| {
                    u64::try_from(n).map_err(|_| {
                        invalid(format!("linux.resources.blockIO.{name}[{i}].{part}"), format!("must be >= 0, got {n}"))
                    })
                };
                lowered.io_throttles.push(IoThrottle {
                    kind,
                    major: number("major", device.major())?,
                    minor: number("minor", device.minor())?,
                    rate: device.rate(),
                });
            }
        }
    }
    for (i, hugepage) in resources.hugepage_limits().as_deref().unwrap_or_default().iter().enumerate() {
        let field = |part: &str| format!("linux.resources.hugepageLimits[{i}].{part}");
        crate::cgroups::check_page_size(hugepage.page_size()).map_err(|problem| invalid(field("pageSize"), problem))?;
        let limit = u64::try_from(hugepage.limit())
            .map_err(|_| invalid(field("limit"), format!("must be >= 0 bytes, got {}", hugepage.limit())))?;
        lowered.hugetlb.push(HugetlbLimit { page_size: hugepage.page_size().clone(), limit });
    }
    let mut unified: Vec<(String, String)> =
        resources.unified().iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
    unified.sort();
    for (key, _) in &unified {
        crate::cgroups::check_unified_key(key)
            .map_err(|problem| invalid(format!("linux.resources.unified.{key}"), problem))?;
    }
    lowered.unified = unified;
    lower_rest(resources, lowered)
}

/// What runc also honours and a conformant engine may write: the OOM killer switch, the hierarchy flag,
/// real-time CPU budgets, CFS burst, leaf and per-device I/O weights, network classes and RDMA.
/// Kernel memory (`kernel`, `kernelTCP`) is deprecated by the kernel and ignored with a warning, as runc does.
fn lower_rest(resources: &LinuxResources, lowered: &mut Resources) -> Result<(), Invalid> {
    if let Some(memory) = resources.memory() {
        for (name, value) in [("kernel", memory.kernel()), ("kernelTCP", memory.kernel_tcp())] {
            if value.is_some_and(|v| v != 0) {
                super::warn(&format!(
                    "linux.resources.memory.{name} is ignored: kernel memory limits are deprecated by the kernel \
                     (and ignored by runc); the memory limit already counts kernel memory"
                ));
            }
        }
        if memory.check_before_update() == Some(true) {
            super::warn(
                "linux.resources.memory.checkBeforeUpdate is not checked by containy: on cgroup v1 the kernel \
                 itself refuses a limit below the usage it cannot reclaim (EBUSY)",
            );
        }
        lowered.oom_kill_disable = memory.disable_oom_killer().unwrap_or(false);
        lowered.use_hierarchy = memory.use_hierarchy();
    }
    if let Some(cpu) = resources.cpu() {
        lowered.cpu_rt_period = cpu.realtime_period().filter(|&p| p > 0);
        lowered.cpu_rt_runtime = match cpu.realtime_runtime() {
            None | Some(0) => None,
            Some(r) if r >= -1 => Some(r),
            Some(r) => {
                return Err(invalid(
                    "linux.resources.cpu.realtimeRuntime",
                    format!("must be >= 0 µs (or -1 for no limit), got {r}"),
                ));
            }
        };
        lowered.cpu_burst = cpu.burst();
    }
    if let Some(block_io) = resources.block_io() {
        let weight = |field: String, w: Option<u16>| match w {
            None | Some(0) => Ok(None),
            Some(w) if IO_WEIGHT.contains(&w) => Ok(Some(w)),
            Some(w) => Err(invalid(field, format!("must be in {}..={}, got {w}", IO_WEIGHT.start(), IO_WEIGHT.end()))),
        };
        lowered.io_leaf_weight = weight("linux.resources.blockIO.leafWeight".into(), block_io.leaf_weight())?;
        for (i, device) in block_io.weight_device().as_deref().unwrap_or_default().iter().enumerate() {
            let field = |part: &str| format!("linux.resources.blockIO.weightDevice[{i}].{part}");
            let number = |part: &str, n: i64| {
                u64::try_from(n).map_err(|_| invalid(field(part), format!("must be >= 0, got {n}")))
            };
            lowered.io_weight_devices.push(IoWeightDevice {
                major: number("major", device.major())?,
                minor: number("minor", device.minor())?,
                weight: weight(field("weight"), device.weight())?,
                leaf_weight: weight(field("leafWeight"), device.leaf_weight())?,
            });
        }
    }
    if let Some(network) = resources.network() {
        lowered.net_class_id = network.class_id().filter(|&id| id != 0);
        for (i, p) in network.priorities().as_deref().unwrap_or_default().iter().enumerate() {
            let name = p.name();
            if name.is_empty() || name.contains(['/', ' ', '\n']) {
                return Err(invalid(
                    format!("linux.resources.network.priorities[{i}].name"),
                    format!("is not a network interface name: {name:?}"),
                ));
            }
            lowered.net_priorities.push((name.clone(), p.priority()));
        }
    }
    let mut rdma: Vec<RdmaLimit> = resources
        .rdma()
        .iter()
        .flatten()
        .map(|(device, l)| RdmaLimit {
            device: device.clone(),
            hca_handles: l.hca_handles(),
            hca_objects: l.hca_objects(),
        })
        .collect();
    rdma.sort_by(|a, b| a.device.cmp(&b.device));
    for limit in &rdma {
        if limit.device.is_empty() || limit.device.contains([' ', '\n', '/']) {
            return Err(invalid(format!("linux.resources.rdma.{}", limit.device), "is not an RDMA device name"));
        }
    }
    lowered.rdma = rdma;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lower_json(json: &str) -> Result<Resources, Invalid> {
        let resources: LinuxResources = serde_json::from_str(json).unwrap();
        lower_resources(Some(&resources))
    }

    fn field_of(json: &str) -> String {
        lower_json(json).unwrap_err().field
    }

    #[test]
    fn everything_supported() {
        let resources = lower_json(
            r#"{"memory": {"limit": 104857600, "swap": 209715200}, "pids": {"limit": 64},
                "cpu": {"shares": 512, "quota": 50000, "period": 100000},
                "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]}"#,
        )
        .unwrap();
        assert_eq!(
            resources,
            Resources {
                memory: Some(104_857_600),
                memory_swap: Some(209_715_200),
                pids: Some(64),
                cpu_quota: Some(50_000),
                cpu_period: Some(100_000),
                cpu_shares: Some(512),
                devices: vec![
                    DeviceRule { allow: false, kind: 'a', major: None, minor: None, access: "rwm".into() },
                    DeviceRule { allow: true, kind: 'c', major: Some(1), minor: Some(3), access: "rw".into() },
                ],
                ..Resources::default()
            }
        );
    }

    #[test]
    fn unset_and_unlimited_values_become_none() {
        let resources = lower_json(
            r#"{"memory": {"limit": -1, "swap": 0}, "pids": {"limit": 0}, "cpu": {"shares": 0, "quota": -1, "period": 0},
                "devices": [{"allow": true, "type": "b", "major": -1, "minor": -1}]}"#,
        )
        .unwrap();
        assert_eq!(resources.memory, None);
        assert_eq!(resources.memory_swap, None);
        assert_eq!(resources.pids, None);
        assert_eq!(resources.cpu_shares, None);
        assert_eq!(resources.cpu_quota, None);
        assert_eq!(resources.cpu_period, None);
        assert_eq!(
            resources.devices,
            [DeviceRule { allow: true, kind: 'b', major: None, minor: None, access: "rwm".into() }]
        );
        assert_eq!(lower_json(r#"{"pids": {"limit": -1}}"#).unwrap().pids, None);
        assert_eq!(lower_json(r#"{"memory": {"limit": 1, "swap": -1}}"#).unwrap().memory_swap, Some(-1));
    }

    #[test]
    fn swap_below_memory_is_refused() {
        let err = lower_json(r#"{"memory": {"limit": 2000, "swap": 1000}}"#).unwrap_err();
        assert_eq!(err.field, "linux.resources.memory.swap");
        assert!(err.problem.contains("2000"), "{}", err.problem);
        assert_eq!(lower_json(r#"{"memory": {"limit": 2000, "swap": 2000}}"#).unwrap().memory_swap, Some(2000));
        assert_eq!(field_of(r#"{"memory": {"swap": 1000}}"#), "linux.resources.memory.swap");
        assert_eq!(field_of(r#"{"memory": {"limit": 1, "swap": -5}}"#), "linux.resources.memory.swap");
    }

    #[test]
    fn out_of_range_values_are_refused_by_field() {
        assert_eq!(lower_json(r#"{"memory": {"limit": 0}}"#).unwrap().memory, None);
        assert_eq!(field_of(r#"{"memory": {"limit": -2}}"#), "linux.resources.memory.limit");
        assert_eq!(field_of(r#"{"cpu": {"shares": 1}}"#), "linux.resources.cpu.shares");
        assert_eq!(field_of(r#"{"cpu": {"shares": 300000}}"#), "linux.resources.cpu.shares");
        assert_eq!(field_of(r#"{"cpu": {"quota": 999}}"#), "linux.resources.cpu.quota");
        assert_eq!(field_of(r#"{"cpu": {"period": 999}}"#), "linux.resources.cpu.period");
        assert_eq!(field_of(r#"{"cpu": {"period": 1000001}}"#), "linux.resources.cpu.period");
        assert_eq!(field_of(r#"{"devices": [{"allow": true, "type": "p"}]}"#), "linux.resources.devices[0].type");
        assert_eq!(
            field_of(r#"{"devices": [{"allow": true}, {"allow": true, "access": "rwx"}]}"#),
            "linux.resources.devices[1].access"
        );
        assert_eq!(field_of(r#"{"devices": [{"allow": true, "access": ""}]}"#), "linux.resources.devices[0].access");
        assert_eq!(field_of(r#"{"devices": [{"allow": true, "major": -3}]}"#), "linux.resources.devices[0].major");
    }

    #[test]
    fn the_remaining_resources_are_lowered() {
        let r = lower_json(
            r#"{"memory": {"reservation": 268435456, "swappiness": 60}, "cpu": {"cpus": "0-1", "mems": "0", "idle": 1},
                "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}]},
                "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
                "unified": {"memory.high": "1G", "cgroup.max.depth": "3"}}"#,
        )
        .unwrap();
        assert_eq!((r.memory_reservation, r.swappiness), (Some(256 << 20), Some(60)));
        assert_eq!(
            (r.cpuset_cpus.as_deref(), r.cpuset_mems.as_deref(), r.cpu_idle),
            (Some("0-1"), Some("0"), Some(true))
        );
        assert_eq!(r.io_weight, Some(500));
        assert_eq!(
            r.io_throttles,
            [
                IoThrottle { kind: IoRate::ReadBps, major: 8, minor: 0, rate: 1_048_576 },
                IoThrottle { kind: IoRate::WriteIops, major: 8, minor: 16, rate: 100 },
            ]
        );
        assert_eq!(r.hugetlb, [HugetlbLimit { page_size: "2MB".into(), limit: 4 << 20 }]);
        assert_eq!(r.unified, [("cgroup.max.depth".into(), "3".into()), ("memory.high".into(), "1G".into())]);
        let unset =
            lower_json(r#"{"memory": {"reservation": 0}, "cpu": {"cpus": "", "idle": 0}, "blockIO": {"weight": 0}}"#)
                .unwrap();
        assert_eq!((unset.memory_reservation, unset.cpuset_cpus, unset.cpu_idle), (None, None, Some(false)));
        assert_eq!(unset.io_weight, None);
    }

    #[test]
    fn bad_remaining_values_are_refused_by_field() {
        assert_eq!(field_of(r#"{"memory": {"reservation": -2}}"#), "linux.resources.memory.reservation");
        assert_eq!(field_of(r#"{"memory": {"swappiness": 101}}"#), "linux.resources.memory.swappiness");
        assert_eq!(field_of(r#"{"cpu": {"cpus": "0-1;echo"}}"#), "linux.resources.cpu.cpus");
        assert_eq!(field_of(r#"{"cpu": {"mems": "1-0"}}"#), "linux.resources.cpu.mems");
        assert_eq!(field_of(r#"{"cpu": {"idle": 2}}"#), "linux.resources.cpu.idle");
        assert_eq!(field_of(r#"{"blockIO": {"weight": 5}}"#), "linux.resources.blockIO.weight");
        assert_eq!(
            field_of(
                r#"{"blockIO": {"throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 1}, {"major": -1, "minor": 0, "rate": 1}]}}"#
            ),
            "linux.resources.blockIO.throttleWriteBpsDevice[1].major"
        );
        assert_eq!(
            field_of(r#"{"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}"#),
            "linux.resources.hugepageLimits[0].pageSize"
        );
        assert_eq!(
            field_of(r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": -1}]}"#),
            "linux.resources.hugepageLimits[0].limit"
        );
        assert_eq!(field_of(r#"{"unified": {"cgroup.procs": "1"}}"#), "linux.resources.unified.cgroup.procs");
        assert_eq!(field_of(r#"{"unified": {"../../x": "1"}}"#), "linux.resources.unified.../../x");
        let err = lower_json(r#"{"unified": {".x": "1"}}"#).unwrap_err();
        assert!(err.problem.contains("not a file name"), "{}", err.problem);
    }

    #[test]
    fn no_resources_no_limits() {
        assert_eq!(lower_resources(None).unwrap(), Resources::default());
        assert_eq!(lower_json("{}").unwrap(), Resources::default());
    }
}
