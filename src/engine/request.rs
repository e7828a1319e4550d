//! The one request model: what a container is asked to be, in the Docker Engine API's own shape (the body
//! of `POST /containers/create`, field names as docker spells them). The API deserializes it straight from
//! the body; `containy run --image` flags fill the same struct. `plan.rs` turns it into a Plan.
//!
//! Fields docker clients send that containy does not act on are accepted and ignored, as dockerd does for
//! fields it does not know; fields with a value containy cannot honour are refused by `check`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateRequest {
    pub image: String,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Option<Vec<String>>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    pub domainname: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    pub host_config: HostConfig,
    pub networking_config: Option<NetworkingConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    pub mounts: Option<Vec<MountSpec>>,
    pub tmpfs: Option<BTreeMap<String, String>>,
    pub memory: i64,
    pub memory_swap: i64,
    pub nano_cpus: i64,
    pub cpu_quota: i64,
    pub cpu_period: i64,
    pub cpu_shares: i64,
    pub pids_limit: Option<i64>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    pub network_mode: String,
    pub port_bindings: Option<BTreeMap<String, Option<Vec<PortBinding>>>>,
    pub auto_remove: bool,
    pub ulimits: Option<Vec<Ulimit>>,
    pub init: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountSpec {
    #[serde(rename = "Type")]
    pub kind: String,
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    pub endpoints_config: Option<BTreeMap<String, serde_json::Value>>,
}

/// Parse a create body, naming the field a bad value is in (`HostConfig.Memory: invalid type: …`).
pub fn parse(body: &[u8]) -> Result<CreateRequest, super::EngineError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| super::EngineError::bad(format!("invalid create request: {}: {}", e.path(), e.inner())))
}

impl CreateRequest {
    /// Values containy cannot honour, refused before anything is made.
    pub fn check(&self) -> Result<(), super::EngineError> {
        let bad = |m: String| super::EngineError::bad(m);
        if self.image.is_empty() {
            return Err(bad("invalid create request: Image: give an image name".into()));
        }
        let hc = &self.host_config;
        if hc.privileged {
            return Err(bad("HostConfig.Privileged: containy does not run privileged containers".into()));
        }
        for (field, v) in [("Memory", hc.memory), ("NanoCpus", hc.nano_cpus), ("CpuQuota", hc.cpu_quota)] {
            if v < 0 {
                return Err(bad(format!("HostConfig.{field}: {v} is negative")));
            }
        }
        for opt in hc.security_opt.iter().flatten() {
            if !matches!(opt.as_str(), "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true") {
                return Err(bad(format!(
                    "HostConfig.SecurityOpt: {opt:?} is not supported (containy knows no-new-privileges)"
                )));
            }
        }
        Ok(())
    }
}
