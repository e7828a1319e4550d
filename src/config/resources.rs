//! The `[resources]` section: the values written into cgroup files before the container's process starts.
//!
//! `memory` and `memory_swap` become `memory.max`/`memory.swap.max` (v2) or `memory.limit_in_bytes`/
//! `memory.memsw.limit_in_bytes` (v1); `pids` becomes `pids.max`; `cpu` becomes a CFS quota per period
//! (`cpu.max`, or `cpu.cfs_quota_us`/`cpu.cfs_period_us`); `cpu_shares` is `cpu.shares` (v2 derives `cpu.weight`).
//! `memory_reservation` is the soft limit (`memory.low`, or `memory.soft_limit_in_bytes`), `swappiness` is v1's
//! `memory.swappiness` (v2 has none: refused at create), `cpus`/`mems` are `cpuset.cpus`/`cpuset.mems`, and
//! `io_weight` is `blkio.weight` (v2 derives `io.weight`).
//! Each value checks its own range while it is deserialized, so errors carry their position; `memory_swap`
//! against `memory` is checked when lowering.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::size::Size;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResourcesSection {
    pub memory: Option<Memory>,
    pub memory_swap: Option<Size>,
    pub pids: Option<Pids>,
    pub cpu: Option<Cpu>,
    pub cpu_shares: Option<CpuShares>,
    pub memory_reservation: Option<Size>,
    pub swappiness: Option<Swappiness>,
    pub cpus: Option<CpuList>,
    pub mems: Option<CpuList>,
    pub io_weight: Option<IoWeight>,
}

/// A memory limit: a size of at least 1 MiB (below that the container cannot even start its program).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Memory(pub u64);

impl<'de> Deserialize<'de> for Memory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Size(bytes) = Size::deserialize(d)?;
        if bytes < 1 << 20 {
            return Err(de::Error::custom(format!("{bytes} bytes is too little memory: give at least 1M")));
        }
        Ok(Memory(bytes))
    }
}

/// `pids.max`: a number of tasks, or `"max"` for no limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Pids {
    Limit(i64),
    Max,
}

impl<'de> Deserialize<'de> for Pids {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PidsVisitor;
        const ALLOWED: &str = "use a number of processes, at least 1, or \"max\" for no limit";
        impl Visitor<'_> for PidsVisitor {
            type Value = Pids;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a number of processes (at least 1) or \"max\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Pids, E> {
                if v < 1 {
                    return Err(E::custom(format!("{v} is not a process limit: {ALLOWED}")));
                }
                Ok(Pids::Limit(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Pids, E> {
                // More tasks than `pids.max` can hold is the same as no limit at all.
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Pids, E> {
                if v == "max" {
                    return Ok(Pids::Max);
                }
                Err(E::custom(format!("{v:?} is not a process limit: {ALLOWED}")))
            }
        }
        d.deserialize_any(PidsVisitor)
    }
}

/// A number of CPUs (`0.5` = half of one CPU's time). The kernel's smallest CFS quota is 1 ms per 100 ms period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Cpu(pub f64);

impl<'de> Deserialize<'de> for Cpu {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CpuVisitor;
        impl Visitor<'_> for CpuVisitor {
            type Value = Cpu;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of CPUs, e.g. 0.5 or 2")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cpu, E> {
                if (0.01..=1024.0).contains(&v) {
                    return Ok(Cpu(v));
                }
                Err(E::custom(format!("{v} CPUs is out of range: use a number of CPUs from 0.01 to 1024, e.g. 0.5")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cpu, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cpu, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(CpuVisitor)
    }
}

/// `cpu.shares` (cgroup v1 scale; v2's `cpu.weight` is derived from it).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "u64")]
pub(super) struct CpuShares(pub u64);

impl TryFrom<u64> for CpuShares {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        if (2..=262_144).contains(&v) {
            return Ok(CpuShares(v));
        }
        Err(format!("{v} is out of range: cpu_shares is 2..=262144 (1024 is one CPU's normal share)"))
    }
}

/// `memory.swappiness`: 0 (swap only when it must) ..= 100 (swap eagerly).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "u64")]
pub(super) struct Swappiness(pub u64);

impl TryFrom<u64> for Swappiness {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        if v <= 100 {
            return Ok(Swappiness(v));
        }
        Err(format!("{v} is out of range: swappiness is 0..=100 (60 is the kernel's default)"))
    }
}

/// A `cpuset.cpus`/`cpuset.mems` list such as `"0-1,3"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct CpuList(pub String);

impl TryFrom<String> for CpuList {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        crate::cgroups::check_cpu_list(&s)?;
        Ok(CpuList(s))
    }
}

/// `blkio.weight` (cgroup v1 scale; v2's `io.weight` is derived from it).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "u64")]
pub(super) struct IoWeight(pub u16);

impl TryFrom<u64> for IoWeight {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        match u16::try_from(v) {
            Ok(w) if (10..=1000).contains(&w) => Ok(IoWeight(w)),
            _ => Err(format!("{v} is out of range: io_weight is 10..=1000 (500 is the default share)")),
        }
    }
}
