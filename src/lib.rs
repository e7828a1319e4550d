//! containy: a container is just a process — cloned into new namespaces, placed in a cgroup, given a root
//! filesystem it cannot climb out of, stripped of privileges, then `execve`d.
//!
//! Start reading at `runtime/init.rs`: it is the container's whole setup, in order.
//!
//! `unsafe` is denied everywhere but `sys/`, where every block says why it is sound (`// SAFETY:`).

#![deny(unsafe_code)]

pub mod narrate;

pub mod accounts; // the host's users and groups from /etc/passwd and /etc/group (no NSS: a static binary)
pub mod api; // `containy serve`: the Docker Engine API over a Unix socket (the only async code)
pub mod capabilities; // the five capability sets
pub mod cgroups; // cgroup v1 / v2 files, written directly
pub mod cli; // clap structs, one fn per verb
pub mod clock; // RFC 3339 timestamps for state files and image configs
pub mod config; // configy.toml / configy.json -> Plan
pub mod engine; // named containers on disk, the per-container monitor
pub mod error; // IoError shared by every module; chain(): an error and its causes, each once
pub mod fault; // CONTAINY_FAULT: die or fail on purpose at a step or a named point (the fault tests)
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing; // entry points for the fuzz targets in fuzz/ (the `fuzzing` feature only)
pub mod handover; // `containy` (the runtime) and `containy-engine` (+ the daemon and the registry client)
pub mod image; // base tarballs: safe extraction into a digest-keyed cache
pub mod limits; // limits for untrusted code: CPU/wall time, output, file size, disk
pub mod lsm; // AppArmor profile / SELinux label for the program's execve
pub mod namespaces; // clone flags, setns, the order namespaces are entered
pub mod network; // none / host / bridge: veth, bridge, IPAM, NAT and ports over netlink
pub mod oci; // OCI config.json -> Plan
pub mod paths; // where containy keeps things, for root and for a user
pub mod plan; // Plan: the validated description of one container
pub mod process; // what the program carries across execve: rlimits, ids, terminal; then execve
pub mod request; // what is asked for (config, image, flags) -> the one finished, validated Plan
pub mod rootfs; // overlay / split / direct, mounts as data, /dev, pivot_root, masked paths
pub mod runtime; // the only module that calls every mechanism
pub mod seccomp; // syscall filters: profiles -> BPF (libseccomp), the shipped default profile
#[allow(unsafe_code)]
pub mod sys; // the only `unsafe`: raw syscalls and fd helpers
pub mod sysctl; // kernel parameters of the container's own namespaces
pub mod user_mapping; // uid/gid maps

pub use error::IoError;
