//! From an image to a container: the image's layers become the overlay's lower dirs, and its config
//! (`Entrypoint`, `Cmd`, `Env`, `WorkingDir`, `User` — OCI image spec "config.md") fills in the Plan's process.
//!
//! Precedence, most specific first: a command given after `--` replaces `Cmd` (the `Entrypoint` stays, as in
//! docker); the image's `Env` overrides the defaults variable by variable. A `User` given by name is looked up
//! in the image's own `/etc/passwd` and `/etc/group`, read through `openat2(RESOLVE_IN_ROOT)` on the layer (an
//! image's `/etc/passwd` may be a symlink to anything on the host).

use std::io::Read;
use std::path::PathBuf;

use nix::fcntl::OFlag;

use super::resolve::Root;
use super::store::{Image, Store};
use super::{ImageError, whiteout};
use crate::plan::{Plan, RootfsMode, RootfsSource};

/// Make `plan` run `image`: its layers as the root, its config as the process. `command`, when not empty,
/// replaces the image's `Cmd` (the command line's and the API's overrides are applied by `crate::request`).
pub fn apply(store: &Store, image: &Image, plan: &mut Plan, command: &[String]) -> Result<(), ImageError> {
    check_platform(&image.id, image)?;
    plan.rootfs.source = RootfsSource::Layers(store.lowerdirs(image));
    plan.rootfs.mode = RootfsMode::Overlay;
    let config = &image.record.config;
    let mut args: Vec<String> = config.entrypoint.clone().unwrap_or_default();
    if command.is_empty() {
        args.extend(config.cmd.clone().unwrap_or_default());
    } else {
        args.extend(command.iter().cloned());
    }
    if args.is_empty() {
        return Err(ImageError::Usage(
            "the image has no Entrypoint or Cmd: give the command after --, e.g. containy run --image NAME -- /bin/sh"
                .into(),
        ));
    }
    plan.process.args = args;
    for var in config.env.iter().flatten() {
        set_env(&mut plan.process.env, var);
    }
    if let Some(dir) = config.working_dir.as_deref().filter(|d| !d.is_empty()) {
        if !dir.starts_with('/') {
            return Err(ImageError::Format {
                what: "image config WorkingDir".into(),
                message: format!("{dir:?} is not absolute"),
            });
        }
        plan.process.cwd = PathBuf::from(dir);
    }
    if let Some(user) = config.user.as_deref().filter(|u| !u.is_empty()) {
        let layers = store.lowerdirs(image);
        let (uid, gid) = resolve_user(user, &|path| read_in_layers(&layers, path))?;
        plan.process.uid = uid;
        plan.process.gid = gid;
        if uid != 0 {
            set_env(&mut plan.process.env, "HOME=/");
        }
    }
    Ok(())
}

/// An image for another OS or architecture cannot run here: say so before any container is made. An image
/// that states none (an old import) is taken to be this machine's.
pub fn check_platform(name: &str, image: &Image) -> Result<(), ImageError> {
    let record = &image.record;
    let (arch, _) = super::registry::manifest::host_architecture();
    let os_ok = record.os.is_empty() || record.os == "linux";
    let arch_ok = record.architecture.is_empty() || record.architecture == arch;
    if os_ok && arch_ok {
        return Ok(());
    }
    let variant = record.variant.as_deref().map(|v| format!("/{v}")).unwrap_or_default();
    Err(ImageError::Usage(format!(
        "image {name} is for {}/{}{variant}; this machine is linux/{arch}: cannot run it (pull the image for this \
         machine: containy pull --platform linux/{arch} …)",
        record.os, record.architecture
    )))
}

/// Replace the variable of the same name, or add it.
pub fn set_env(env: &mut Vec<String>, var: &str) {
    let key = var.split_once('=').map_or(var, |(k, _)| k);
    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
    env.push(var.to_string());
}

/// `uid`, `uid:gid`, `name`, `name:group` → numeric ids, names looked up with `read(path)`.
pub fn resolve_user(user: &str, read: &dyn Fn(&str) -> Option<String>) -> Result<(u32, u32), ImageError> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let not_found = |what: &str, file: &str| {
        ImageError::Usage(format!("user {user:?}: no {what} in the image's {file}: use numeric ids, UID[:GID]"))
    };
    let passwd = read("etc/passwd").unwrap_or_default();
    let entry = |name: &str| {
        passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 4 && (f[0] == name || f[2] == name))
    };
    let (uid, primary) = match u.parse::<u32>() {
        Ok(uid) => (uid, entry(u).and_then(|f| f[3].parse().ok()).unwrap_or(uid)),
        Err(_) => {
            let f = entry(u).ok_or_else(|| not_found(&format!("user {u:?}"), "/etc/passwd"))?;
            (f[2].parse().map_err(|_| not_found(&format!("uid for {u:?}"), "/etc/passwd"))?, f[3].parse().unwrap_or(0))
        }
    };
    let gid = match g {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let group = read("etc/group").unwrap_or_default();
                group
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.len() >= 3 && f[0] == g)
                    .and_then(|f| f[2].parse().ok())
                    .ok_or_else(|| not_found(&format!("group {g:?}"), "/etc/group"))?
            }
        },
    };
    Ok((uid, gid))
}

/// A small text file of the image: from the topmost layer that has it (a whiteout there means it is gone).
pub(crate) fn read_in_layers(layers: &[PathBuf], path: &str) -> Option<String> {
    for layer in layers {
        let root = Root::open(layer).ok()?;
        match root.open_in_root(path.as_bytes(), OFlag::O_RDONLY | OFlag::O_NOFOLLOW) {
            Ok(fd) => {
                let mut file = std::fs::File::from(fd);
                let meta = file.metadata().ok()?;
                if whiteout::is_whiteout(&meta) || !meta.is_file() {
                    return None;
                }
                let mut text = String::new();
                file.by_ref().take(1 << 20).read_to_string(&mut text).ok()?;
                return Some(text);
            }
            Err(_) => continue,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/false\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:\n";

    fn read(path: &str) -> Option<String> {
        match path {
            "etc/passwd" => Some(PASSWD.into()),
            "etc/group" => Some(GROUP.into()),
            _ => None,
        }
    }

    #[test]
    fn users_resolve_by_number_and_by_name() {
        assert_eq!(resolve_user("1000", &read).unwrap(), (1000, 1000));
        assert_eq!(resolve_user("33", &read).unwrap(), (33, 34));
        assert_eq!(resolve_user("www", &read).unwrap(), (33, 34));
        assert_eq!(resolve_user("www:staff", &read).unwrap(), (33, 50));
        assert_eq!(resolve_user("1:2", &read).unwrap(), (1, 2));
        let err = resolve_user("nobody", &read).unwrap_err().to_string();
        assert!(err.contains("nobody") && err.contains("/etc/passwd"), "{err}");
        assert!(resolve_user("www:nogroup", &read).is_err());
    }

    #[test]
    fn env_vars_replace_by_name() {
        let mut env = vec!["PATH=/bin".to_string(), "HOME=/root".to_string()];
        set_env(&mut env, "PATH=/usr/bin");
        set_env(&mut env, "NEW=1");
        assert_eq!(env, ["HOME=/root", "PATH=/usr/bin", "NEW=1"]);
    }
}
