//! User-mode networking for rootless containers: `pasta` (Debian's `passt` package).
//!
//! A user without root cannot make a veth pair into a host bridge or NAT rules. pasta can do what is needed
//! as an ordinary process: it joins the container's user and network namespaces, makes a tap interface
//! there with the host's addresses and routes (`--config-net`), and carries the container's traffic as the
//! host's own sockets (so it goes wherever the user's own programs may go); published ports are sockets pasta
//! listens on in the host's namespace (`-t 127.0.0.1/8080:80`). It forks into the background once the
//! interface is configured, so its exit status is "ready"; its pid is kept in the state dir, and containy
//! ends it with the container. Order: after the child's id maps are written (pasta must enter the user
//! namespace as its owner) and before the child is let go, so the program never sees a half-made network.
//! The gateway address is not mapped to the host (`--no-map-gw`): the container cannot reach services
//! that listen only on the host's loopback.

use std::path::{Path, PathBuf};

use super::NetworkError;
use crate::plan::{PortMapping, Protocol};

const PID_FILE: &str = "pasta.pid";
const LOG_FILE: &str = "pasta.log";

/// pasta's command line for the container whose init is `pid`.
pub fn args(pid: i32, ports: &[PortMapping], pid_file: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["--config-net", "--quiet", "--no-map-gw"].map(String::from).to_vec();
    let spec = |proto: Protocol| {
        let list: Vec<String> = ports
            .iter()
            .filter(|p| p.protocol == proto)
            .map(|p| {
                let ip = p.host_ip.map(|ip| format!("{ip}/")).unwrap_or_default();
                format!("{ip}{}:{}", p.host_port, p.container_port)
            })
            .collect();
        if list.is_empty() { "none".to_string() } else { list.join(",") }
    };
    // -t/-u: host ports into the container; -T/-U (container to host ports): none.
    args.extend(["-t".into(), spec(Protocol::Tcp), "-u".into(), spec(Protocol::Udp)]);
    args.extend(["-T", "none", "-U", "none"].map(String::from));
    args.extend(["--pid".into(), pid_file.display().to_string(), pid.to_string()]);
    args
}

/// Start pasta for the container whose init is `pid` and wait until its network is configured.
pub fn start(pid: i32, ports: &[PortMapping], state_dir: &Path) -> Result<(), NetworkError> {
    let pid_file = state_dir.join(PID_FILE);
    let log = state_dir.join(LOG_FILE);
    let args = args(pid, ports, &pid_file);
    crate::explain!(
        "connect the container through pasta (user-mode networking)",
        format!("pasta {}", args.join(" ")),
        "without root there is no veth or NAT: pasta carries the traffic as the user's own sockets and listens \
         on the published ports"
    );
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| NetworkError::Io(crate::error::IoError { op, path, source })
    };
    let log_file = std::fs::File::create(&log).map_err(io("create", &log))?;
    let status = std::process::Command::new("pasta")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(log_file.try_clone().map_err(io("dup", &log))?)
        .stderr(log_file)
        .status()
        .map_err(|e| {
            NetworkError::Invalid(format!(
                "cannot run pasta for user-mode networking: {e} — install the 'passt' package (apt-get install \
                 passt), or use network = \"none\""
            ))
        })?;
    if !status.success() {
        // Without a syslog socket pasta says so before every line: keep only what it meant to say.
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let said: Vec<&str> = text.lines().filter(|l| !l.contains("to syslog")).collect();
        let tun_mode = std::fs::metadata(TUN).ok().map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
        return Err(NetworkError::Invalid(format!(
            "pasta could not connect the container ({status}): {} — {}",
            said.join("; "),
            hint(&text, tun_mode)
        )));
    }
    Ok(())
}

/// The device pasta opens inside the container's namespaces, as the user who runs it.
const TUN: &str = "/dev/net/tun";

/// What most likely went wrong, from pasta's log and the mode of `/dev/net/tun` (`None`: it does not exist).
fn hint(log: &str, tun_mode: Option<u32>) -> String {
    if log.contains("tun") {
        match tun_mode {
            None => return format!("{TUN} does not exist: load the tun module (modprobe tun)"),
            // pasta opens it as the user (mapped to root in the container, but the node is the host's).
            Some(mode) if mode & 0o006 != 0o006 => {
                return format!(
                    "{TUN} is mode {:04o}, so a user cannot open it; udev gives it 0666 on a usual system \
                     (as root: chmod 0666 {TUN})",
                    mode & 0o7777
                );
            }
            Some(_) => {}
        }
    }
    if log.contains("in use") || log.contains("bind") {
        return "is a published port already taken?".to_string();
    }
    "pasta's own words are above".to_string()
}

/// End the container's pasta, if it has one: SIGKILL (it ignores SIGTERM, and holds nothing that needs a
/// goodbye). Only a process named `pasta`/`passt…` is signalled: a recycled pid is left alone.
pub fn stop(state_dir: &Path) {
    let pid_file: PathBuf = state_dir.join(PID_FILE);
    let Ok(text) = std::fs::read_to_string(&pid_file) else { return };
    if let Ok(pid) = text.trim().parse::<i32>() {
        let pid = nix::unistd::Pid::from_raw(pid);
        // Held before the name is checked, so the wait below is for this very process.
        let pidfd = crate::sys::pidfd_open(pid);
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        // pasta re-executes itself as the build for this CPU (`passt.avx2`).
        if let Ok(pidfd) = pidfd
            && (comm.starts_with("pasta") || comm.starts_with("passt"))
        {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            // Its ports are free once it is gone: wait for that (a pidfd turns readable when the process
            // exits; a second at most, SIGKILL cannot be ignored).
            use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
            let mut fds = [PollFd::new(std::os::fd::AsFd::as_fd(&pidfd), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(1000u16));
        }
    }
    let _ = std::fs::remove_file(&pid_file);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_ports_become_pasta_forwards() {
        let ports = [
            PortMapping::parse("127.0.0.1:8080:80").unwrap(),
            PortMapping::parse("9090:90").unwrap(),
            PortMapping::parse("5353:53/udp").unwrap(),
        ];
        let args = args(42, &ports, Path::new("/s/pasta.pid")).join(" ");
        assert!(args.contains("-t 127.0.0.1/8080:80,9090:90 -u 5353:53 -T none -U none"), "{args}");
        assert!(args.starts_with("--config-net") && args.ends_with("--pid /s/pasta.pid 42"), "{args}");
        let none = args_none();
        assert!(none.contains("-t none -u none"), "{none}");
    }

    #[test]
    fn the_hint_names_the_cause_pasta_reported() {
        let tun = "Failed to open tun socket in namespace";
        assert!(hint(tun, Some(0o20600)).contains("/dev/net/tun is mode 0600"), "{}", hint(tun, Some(0o20600)));
        assert!(hint(tun, None).contains("modprobe tun"));
        assert!(!hint(tun, Some(0o20666)).contains("/dev/net/tun"));
        assert!(hint("Failed to bind port 8080: Address already in use", Some(0o20666)).contains("already taken"));
    }

    fn args_none() -> String {
        args(1, &[], Path::new("/p")).join(" ")
    }
}
