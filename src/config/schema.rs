//! The friendly config's schema: one set of `serde` structs read from TOML and from JSON alike.
//!
//! Every value that can be wrong on its own (a relative path, a NUL byte, an unknown capability, a size) is checked
//! *while* it is deserialized, by a newtype with a `try_from` or its own visitor. That is what lets the error carry
//! the line and column of the bad value: the TOML and JSON deserializers attach their position to any error raised
//! inside them. Checks that need two fields at once (path *and* tarball, `network` against `namespaces.net`) happen
//! afterwards, in `lower.rs`. Every struct denies unknown fields, so a typo is an error and never a silent default.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::resources::ResourcesSection;
use super::seccomp::SeccompSetting;
use super::size::Size;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Friendly {
    pub hostname: Option<Hostname>,
    pub domainname: Option<Hostname>,
    pub network: Option<NetworkMode>,
    /// Published ports (bridge networking): `ports = ["127.0.0.1:8080:80", "53:53/udp"]`.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    pub process: ProcessSection,
    #[serde(default)]
    pub namespaces: NamespacesSection,
    pub user_namespace: Option<UserNamespaceSection>,
    pub rootfs: Option<RootfsSection>,
    #[serde(default)]
    pub mounts: Vec<MountSection>,
    #[serde(default)]
    pub resources: ResourcesSection,
    /// Namespaced kernel parameters: `sysctl = { "net.ipv4.ip_forward" = "1" }`.
    #[serde(default)]
    pub sysctl: std::collections::BTreeMap<String, String>,
    /// Limits for untrusted code: CPU and wall time, output, file size, disk, processes, open files.
    #[serde(default)]
    pub limits: super::limits::LimitsSection,
}

/// `network = "none" | "host" | "bridge" | "container:ID"`, or `{ mode = "bridge", network = "name" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NetworkMode {
    None,
    Host,
    /// The named network, or the default one.
    Bridge(Option<String>),
    /// Another container's network namespace, by id.
    Container(String),
}

const NETWORK_MODES: &str =
    "\"none\", \"host\", \"bridge\", \"container:ID\" or { mode = \"bridge\", network = \"NAME\" }";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkTable {
    mode: String,
    network: Option<String>,
}

impl NetworkMode {
    fn from_parts(mode: &str, network: Option<String>) -> Result<NetworkMode, String> {
        if let Some(name) = &network {
            crate::plan::check_network_name(name)?;
        }
        match (mode, network) {
            ("none", None) => Ok(NetworkMode::None),
            ("host", None) => Ok(NetworkMode::Host),
            ("bridge", network) => Ok(NetworkMode::Bridge(network)),
            ("none" | "host", Some(_)) => Err(format!("network = {mode:?} joins no named network: remove `network`")),
            (other, None) if other.starts_with("container:") => {
                let id = &other["container:".len()..];
                if id.is_empty() {
                    return Err("\"container:\" needs the id of a running container, e.g. \"container:web\"".into());
                }
                Ok(NetworkMode::Container(id.to_string()))
            }
            (other, _) => Err(format!("unknown network mode {other:?}: expected {NETWORK_MODES}")),
        }
    }
}

impl<'de> Deserialize<'de> for NetworkMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ModeVisitor;
        impl<'de> Visitor<'de> for ModeVisitor {
            type Value = NetworkMode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(NETWORK_MODES)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NetworkMode, E> {
                NetworkMode::from_parts(v, None).map_err(E::custom)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<NetworkMode, A::Error> {
                let table = NetworkTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                NetworkMode::from_parts(&table.mode, table.network).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(ModeVisitor)
    }
}

/// One published port, checked while it is read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct PortSpec(pub crate::plan::PortMapping);

impl TryFrom<String> for PortSpec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        crate::plan::PortMapping::parse(&s).map(PortSpec)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProcessSection {
    pub args: Args,
    pub env: Option<Vec<EnvVar>>,
    #[serde(default = "ContainerPath::root")]
    pub cwd: ContainerPath,
    #[serde(default)]
    pub terminal: bool,
    #[serde(default = "yes")]
    pub no_new_privileges: bool,
    pub umask: Option<Umask>,
    #[serde(default)]
    pub user: UserSection,
    #[serde(default)]
    pub capabilities: CapabilitiesSection,
    #[serde(default)]
    pub rlimits: Vec<RlimitSection>,
    pub seccomp: Option<SeccompSetting>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserSection {
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    #[serde(default)]
    pub additional_gids: Vec<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CapabilitiesSection {
    #[serde(default)]
    pub add: Vec<CapName>,
    #[serde(default)]
    pub drop: Vec<CapName>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RlimitSection {
    #[serde(rename = "type")]
    pub kind: RlimitName,
    pub soft: RlimitValue,
    pub hard: RlimitValue,
}

/// `None` means "not written": the default depends on other fields, so lowering must see what was explicit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NamespacesSection {
    pub pid: Option<NsValue>,
    pub mount: Option<NsValue>,
    pub uts: Option<NsValue>,
    pub ipc: Option<NsValue>,
    pub net: Option<NsValue>,
    pub cgroup: Option<NsValue>,
    pub user: Option<NsValue>,
    pub time: Option<NsValue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserNamespaceSection {
    pub uid: u32,
    pub gid: Option<u32>,
    #[serde(default = "default_id_count")]
    pub count: u32,
}

fn default_id_count() -> u32 {
    65536
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RootfsSection {
    pub path: Option<HostPath>,
    pub tarball: Option<HostPath>,
    /// An image in containy's store, `name[:tag]` (checked when the store is read).
    pub image: Option<String>,
    #[serde(default)]
    pub mode: RootfsModeName,
    pub editable: Option<Vec<TopLevelName>>,
    #[serde(default)]
    pub readonly: bool,
    #[serde(default)]
    pub keep_changes: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum RootfsModeName {
    #[default]
    Overlay,
    Split,
    Direct,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MountSection {
    pub source: Option<HostPath>,
    pub destination: ContainerPath,
    #[serde(default)]
    pub readonly: bool,
    #[serde(default, rename = "type")]
    pub kind: MountKind,
    pub size: Option<Size>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum MountKind {
    #[default]
    Bind,
    Tmpfs,
}

/// A value that must not contain NUL: the kernel reads C strings and would silently cut it there.
fn no_nul(what: &str, s: &str) -> Result<(), String> {
    if s.contains('\0') {
        return Err(format!("{s:?} contains a NUL byte: {what} cannot hold one"));
    }
    Ok(())
}

/// `sethostname(2)`: at most 64 bytes; we also keep to the characters a DNS name may use.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Hostname(pub String);

impl TryFrom<String> for Hostname {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok_chars = s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if (1..=64).contains(&s.len()) && ok_chars && !s.starts_with('-') && !s.ends_with('-') {
            return Ok(Hostname(s));
        }
        Err(format!(
            "{s:?} is not a valid name: use 1 to 64 letters, digits, '.' or '-', not starting or ending with '-'"
        ))
    }
}

/// One argument of `execve(2)`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Arg(pub String);

impl TryFrom<String> for Arg {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        no_nul("an argument", &s)?;
        Ok(Arg(s))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Vec<Arg>")]
pub(super) struct Args(pub Vec<String>);

impl TryFrom<Vec<Arg>> for Args {
    type Error = &'static str;
    fn try_from(args: Vec<Arg>) -> Result<Self, Self::Error> {
        if args.is_empty() {
            return Err("the command is empty: give at least the program to run, e.g. args = [\"/bin/sh\"]");
        }
        Ok(Args(args.into_iter().map(|a| a.0).collect()))
    }
}

/// One `KEY=VALUE` entry of the environment passed to `execve(2)`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct EnvVar(pub String);

impl TryFrom<String> for EnvVar {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        no_nul("an environment variable", &s)?;
        match s.split_once('=') {
            Some((key, _)) if !key.is_empty() => Ok(EnvVar(s)),
            _ => Err(format!("{s:?} is not KEY=VALUE: write each variable as \"NAME=value\", e.g. \"TERM=xterm\"")),
        }
    }
}

/// A path inside the container: absolute and without `..`, so it cannot name anything above the new root.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct ContainerPath(pub PathBuf);

impl ContainerPath {
    fn root() -> Self {
        ContainerPath(PathBuf::from("/"))
    }
}

impl TryFrom<String> for ContainerPath {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        no_nul("a path", &s)?;
        let path = Path::new(&s);
        if !path.is_absolute() {
            return Err(format!(
                "{s:?} is not an absolute path: use a path inside the container that starts with '/', e.g. \"/data\""
            ));
        }
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(format!("{s:?} contains \"..\": use a plain absolute path without \"..\" components"));
        }
        Ok(ContainerPath(path.to_path_buf()))
    }
}

/// A path on the host, relative to the bundle unless absolute. Made absolute when lowered.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct HostPath(pub PathBuf);

impl TryFrom<String> for HostPath {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        no_nul("a path", &s)?;
        if s.is_empty() {
            return Err("the path is empty: give a path relative to the bundle directory or an absolute one".into());
        }
        Ok(HostPath(PathBuf::from(s)))
    }
}

/// One entry of `rootfs.editable`: a name directly under `/`, never a path that could point elsewhere.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct TopLevelName(pub String);

impl TryFrom<String> for TopLevelName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        no_nul("a name", &s)?;
        if s.is_empty() || s == "." || s == ".." || s.contains('/') {
            return Err(format!(
                "{s:?} is not a top-level directory name: use a single name under '/' such as \"etc\" (no '/', not \".\" or \"..\")"
            ));
        }
        Ok(TopLevelName(s))
    }
}

/// A capability name, normalised to `CAP_X`, or `ALL`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub(super) enum CapName {
    All,
    Named(caps::Capability),
}

impl TryFrom<String> for CapName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(CapName::All);
        }
        caps::to_canonical(s.trim()).parse().map(CapName::Named).map_err(|_| {
            format!(
                "unknown capability {s:?}: use a name from `man 7 capabilities` (e.g. \"CAP_NET_ADMIN\" or \"net_admin\"), or \"ALL\""
            )
        })
    }
}

/// The resource limits `setrlimit(2)` knows, by their OCI names.
pub(super) const RLIMITS: &[&str] = &[
    "RLIMIT_AS",
    "RLIMIT_CORE",
    "RLIMIT_CPU",
    "RLIMIT_DATA",
    "RLIMIT_FSIZE",
    "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_NOFILE",
    "RLIMIT_NPROC",
    "RLIMIT_RSS",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
    "RLIMIT_SIGPENDING",
    "RLIMIT_STACK",
];

/// An rlimit name, normalised to `RLIMIT_X` (`nofile` and `RLIMIT_NOFILE` are the same).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct RlimitName(pub String);

impl TryFrom<String> for RlimitName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let upper = s.trim().to_ascii_uppercase();
        let name = if upper.starts_with("RLIMIT_") { upper } else { format!("RLIMIT_{upper}") };
        if RLIMITS.contains(&name.as_str()) {
            return Ok(RlimitName(name));
        }
        Err(format!("unknown rlimit {s:?}: use one of {} (the \"RLIMIT_\" may be left out)", RLIMITS.join(", ")))
    }
}

/// One rlimit value: a number, or `"unlimited"` (`RLIM_INFINITY`, which TOML's 64-bit signed integers cannot hold).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct RlimitValue(pub u64);

impl<'de> Deserialize<'de> for RlimitValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RlimitVisitor;
        const ALLOWED: &str = "use a number, at least 0, or \"unlimited\"";
        impl Visitor<'_> for RlimitVisitor {
            type Value = RlimitValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or \"unlimited\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RlimitValue, E> {
                Ok(RlimitValue(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RlimitValue, E> {
                u64::try_from(v).map(RlimitValue).map_err(|_| E::custom(format!("{v} is not a limit: {ALLOWED}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RlimitValue, E> {
                match v {
                    "unlimited" | "infinity" => Ok(RlimitValue(u64::MAX)),
                    _ => Err(E::custom(format!("{v:?} is not a limit: {ALLOWED}"))),
                }
            }
        }
        d.deserialize_any(RlimitVisitor)
    }
}

/// What one `namespaces.<kind>` key says: a new namespace, the host's, or one to join.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum NsValue {
    New,
    Host,
    Join(PathBuf),
}

impl<'de> Deserialize<'de> for NsValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NsVisitor;
        impl Visitor<'_> for NsVisitor {
            type Value = NsValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "true (a new namespace), false (share the host's) or the path of one to join, e.g. \"/proc/1234/ns/net\"",
                )
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<NsValue, E> {
                Ok(if v { NsValue::New } else { NsValue::Host })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NsValue, E> {
                no_nul("a path", v).map_err(E::custom)?;
                if !v.starts_with('/') {
                    return Err(E::custom(format!(
                        "{v:?} is not an absolute path: to join a namespace give its file, e.g. \"/proc/1234/ns/net\"; \
                         otherwise use true or false"
                    )));
                }
                Ok(NsValue::Join(PathBuf::from(v)))
            }
        }
        d.deserialize_any(NsVisitor)
    }
}

/// The file mode creation mask: an integer (TOML `0o022`) or, for JSON which has no octal, a string `"022"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Umask(pub u32);

impl<'de> Deserialize<'de> for Umask {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct UmaskVisitor;
        const RANGE: &str = "a umask is 0..=0o777 (0..=511), e.g. 0o022, or an octal string such as \"022\"";
        impl Visitor<'_> for UmaskVisitor {
            type Value = Umask;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(RANGE)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Umask, E> {
                match u32::try_from(v) {
                    Ok(m) if m <= 0o777 => Ok(Umask(m)),
                    _ => Err(E::custom(format!("{v} is out of range: {RANGE}"))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Umask, E> {
                match u32::try_from(v) {
                    Ok(m) if m <= 0o777 => Ok(Umask(m)),
                    _ => Err(E::custom(format!("{v} is out of range: {RANGE}"))),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Umask, E> {
                let digits = v.strip_prefix("0o").unwrap_or(v);
                match u32::from_str_radix(digits, 8) {
                    Ok(m) if m <= 0o777 => Ok(Umask(m)),
                    _ => Err(E::custom(format!("{v:?} is not an octal umask: {RANGE}"))),
                }
            }
        }
        d.deserialize_any(UmaskVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        for good in ["containy", "a", "web-1.example.org", &"x".repeat(64)] {
            assert!(Hostname::try_from(good.to_string()).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "my_host", "a b", "a\0b", &"x".repeat(65)] {
            let err = Hostname::try_from(bad.to_string()).unwrap_err();
            assert!(err.contains("letters, digits, '.' or '-'"), "{bad}: {err}");
        }
    }

    #[test]
    fn env_vars() {
        assert!(EnvVar::try_from("A=".to_string()).is_ok());
        assert!(EnvVar::try_from("A=b=c".to_string()).is_ok());
        assert!(EnvVar::try_from("=b".to_string()).unwrap_err().contains("KEY=VALUE"));
        assert!(EnvVar::try_from("FOO".to_string()).unwrap_err().contains("KEY=VALUE"));
        assert!(EnvVar::try_from("A=\0".to_string()).unwrap_err().contains("NUL"));
    }

    #[test]
    fn container_paths() {
        assert_eq!(ContainerPath::try_from("/data".to_string()).unwrap().0, PathBuf::from("/data"));
        assert!(ContainerPath::try_from("data".to_string()).unwrap_err().contains("absolute"));
        assert!(ContainerPath::try_from("/a/../../etc".to_string()).unwrap_err().contains(".."));
        // `..` inside a name is an ordinary name, not a way up.
        assert!(ContainerPath::try_from("/a..b".to_string()).is_ok());
    }

    #[test]
    fn top_level_names() {
        assert!(TopLevelName::try_from("etc".to_string()).is_ok());
        for bad in ["", ".", "..", "etc/passwd", "/etc"] {
            assert!(TopLevelName::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn capability_names_are_normalised() {
        let cap = |s: &str| CapName::try_from(s.to_string());
        assert_eq!(cap("CAP_NET_ADMIN"), Ok(CapName::Named(caps::Capability::CAP_NET_ADMIN)));
        assert_eq!(cap("net_admin"), Ok(CapName::Named(caps::Capability::CAP_NET_ADMIN)));
        assert_eq!(cap("Cap_Sys_Admin"), Ok(CapName::Named(caps::Capability::CAP_SYS_ADMIN)));
        assert_eq!(cap("all"), Ok(CapName::All));
        assert!(cap("CAP_FLY").unwrap_err().contains("man 7 capabilities"));
    }

    #[test]
    fn rlimit_names_are_normalised() {
        assert_eq!(RlimitName::try_from("nofile".to_string()).unwrap().0, "RLIMIT_NOFILE");
        assert_eq!(RlimitName::try_from("RLIMIT_NPROC".to_string()).unwrap().0, "RLIMIT_NPROC");
        assert!(RlimitName::try_from("files".to_string()).unwrap_err().contains("RLIMIT_NOFILE"));
    }
}
