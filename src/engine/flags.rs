//! docker's `run` flags as `containy run --image` takes them (`--name`, `-v`, `--mount`, `--tmpfs`,
//! `--memory`, `--cpus`, …), turned into the engine's one request model: the same [`CreateRequest`] the API
//! deserializes from `POST /containers/create`. The docker CLI does this conversion on the client side
//! (`-v a:b:ro` becomes a `Binds` entry, `--cpus 0.5` becomes `NanoCpus`, `-p` becomes `PortBindings`), so
//! doing it the same way here means the CLI and the daemon hand `plan::make_plan` identical requests. Every
//! value the lowering checks (paths, capability names, volume names) is checked there, once; only what
//! only a flag can get wrong (a size, a number, a `--mount` key) is refused here, naming the flag.

use std::collections::BTreeMap;

use super::EngineError;
use super::request::{CreateRequest, HostConfig, MountSpec, PortBinding};

/// The flags, as typed; `None`/empty when not given.
#[derive(Debug, Clone, Default)]
pub struct RunFlags {
    pub image: String,
    /// The command, replacing the image's Cmd (empty: the image's).
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    /// Remove the container when it ends (the engine's AutoRemove).
    pub rm: bool,
    /// `-v HOST:CTR[:ro]` or `-v VOLUME:CTR[:ro]`.
    pub volumes: Vec<String>,
    /// `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly]`.
    pub mounts: Vec<String>,
    /// `--tmpfs /path[:size=…]`.
    pub tmpfs: Vec<String>,
    pub memory: Option<String>,
    pub cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub read_only: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `none`, `host` or a network's name; `None`: no network (containy's default outside the daemon).
    pub network: Option<String>,
    /// `[HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp]`.
    pub publish: Vec<String>,
}

impl RunFlags {
    /// The engine request these flags ask for.
    pub fn request(&self) -> Result<CreateRequest, EngineError> {
        let bad = |flag: &str, value: &str, what: &str| EngineError::bad(format!("{flag} {value:?}: {what}"));
        let memory = match &self.memory {
            Some(m) => crate::config::parse_size(m).map_err(|e| bad("--memory", m, &e))? as i64,
            None => 0,
        };
        let nano_cpus = match &self.cpus {
            Some(c) => match c.parse::<f64>() {
                Ok(v) if v > 0.0 && v.is_finite() => (v * 1e9).round() as i64,
                _ => return Err(bad("--cpus", c, "give a positive number of CPUs, such as 0.5 or 2")),
            },
            None => 0,
        };
        if let Some(p) = self.pids_limit.filter(|p| *p == 0 || *p < -1) {
            return Err(bad("--pids-limit", &p.to_string(), "give a positive number of processes, or -1 for none"));
        }
        let mut tmpfs = BTreeMap::new();
        for t in &self.tmpfs {
            let (path, options) = t.split_once(':').unwrap_or((t, ""));
            tmpfs.insert(path.to_string(), options.to_string());
        }
        let mounts = self.mounts.iter().map(|m| parse_mount(m)).collect::<Result<Vec<_>, _>>()?;
        let mut port_bindings: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
        for p in &self.publish {
            let (spec, proto) = p.rsplit_once('/').unwrap_or((p, "tcp"));
            let parts: Vec<&str> = spec.split(':').collect();
            let (host_ip, host_port, port) = match parts[..] {
                [port] => ("", "", port),
                [host, port] => ("", host, port),
                [ip, host, port] => (ip, host, port),
                _ => return Err(bad("-p", p, "use [HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp]")),
            };
            let binding = PortBinding { host_ip: host_ip.into(), host_port: host_port.into() };
            port_bindings.entry(format!("{port}/{proto}")).or_default().get_or_insert_default().push(binding);
        }
        let opt = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        Ok(CreateRequest {
            image: self.image.clone(),
            cmd: opt(&self.cmd),
            env: opt(&self.env),
            working_dir: self.workdir.clone().unwrap_or_default(),
            user: self.user.clone().unwrap_or_default(),
            hostname: self.hostname.clone().unwrap_or_default(),
            tty: self.tty,
            open_stdin: self.interactive,
            stdin_once: self.interactive,
            attach_stdin: self.interactive,
            attach_stdout: true,
            attach_stderr: true,
            host_config: HostConfig {
                binds: opt(&self.volumes),
                mounts: (!mounts.is_empty()).then_some(mounts),
                tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
                memory,
                nano_cpus,
                pids_limit: self.pids_limit,
                cap_add: opt(&self.cap_add),
                cap_drop: opt(&self.cap_drop),
                readonly_rootfs: self.read_only,
                network_mode: self.network.clone().unwrap_or_else(|| "none".into()),
                port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
                auto_remove: self.rm,
                ..Default::default()
            },
            ..Default::default()
        })
    }
}

/// `type=bind,source=/a,target=/b,readonly` (docker's `--mount` keys and their aliases).
fn parse_mount(text: &str) -> Result<MountSpec, EngineError> {
    let bad = |what: String| EngineError::bad(format!("--mount {text:?}: {what}"));
    let mut m = MountSpec { kind: "volume".into(), ..Default::default() };
    for field in text.split(',') {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        match key {
            "type" => m.kind = value.to_string(),
            "source" | "src" => m.source = value.to_string(),
            "target" | "destination" | "dst" => m.target = value.to_string(),
            "readonly" | "ro" => m.read_only = matches!(value, "" | "1" | "true"),
            _ => return Err(bad(format!("unknown key {key:?} (type, source, target, readonly)"))),
        }
    }
    if m.target.is_empty() {
        return Err(bad("give target=PATH".into()));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_fill_the_request_the_docker_cli_would_send() {
        let flags = RunFlags {
            image: "busybox".into(),
            cmd: vec!["sh".into()],
            env: vec!["A=1".into()],
            interactive: true,
            rm: true,
            volumes: vec!["/srv:/data:ro".into()],
            mounts: vec!["type=tmpfs,target=/scratch".into()],
            tmpfs: vec!["/run:size=1m".into()],
            memory: Some("32m".into()),
            cpus: Some("0.5".into()),
            pids_limit: Some(20),
            read_only: true,
            cap_drop: vec!["ALL".into()],
            publish: vec!["127.0.0.1:8080:80".into()],
            network: Some("web".into()),
            ..Default::default()
        };
        let req = flags.request().unwrap();
        let hc = &req.host_config;
        assert_eq!((hc.memory, hc.nano_cpus, hc.pids_limit), (32 << 20, 500_000_000, Some(20)));
        assert_eq!(hc.binds, Some(vec!["/srv:/data:ro".to_string()]));
        assert_eq!(hc.tmpfs.as_ref().unwrap()["/run"], "size=1m");
        assert_eq!(hc.mounts.as_ref().unwrap()[0].kind, "tmpfs");
        let binding = &hc.port_bindings.as_ref().unwrap()["80/tcp"].as_ref().unwrap()[0];
        assert_eq!((binding.host_ip.as_str(), binding.host_port.as_str()), ("127.0.0.1", "8080"));
        assert!(req.open_stdin && req.stdin_once && hc.auto_remove && hc.readonly_rootfs);
        assert_eq!(hc.network_mode, "web");
        assert_eq!(
            RunFlags { image: "x".into(), ..Default::default() }.request().unwrap().host_config.network_mode,
            "none"
        );
    }

    #[test]
    fn bad_flags_are_named() {
        let with = |f: fn(&mut RunFlags)| {
            let mut flags = RunFlags { image: "busybox".into(), ..Default::default() };
            f(&mut flags);
            flags.request().unwrap_err().message
        };
        assert!(with(|f| f.memory = Some("lots".into())).starts_with("--memory \"lots\""));
        assert!(with(|f| f.cpus = Some("-1".into())).starts_with("--cpus"));
        assert!(with(|f| f.pids_limit = Some(0)).starts_with("--pids-limit"));
        assert!(with(|f| f.mounts = vec!["type=bind,source=/a".into()]).contains("target=PATH"));
        assert!(with(|f| f.mounts = vec!["kind=bind,target=/a".into()]).contains("unknown key \"kind\""));
        assert!(with(|f| f.publish = vec!["1:2:3:4".into()]).starts_with("-p"));
    }
}
