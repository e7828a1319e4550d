//! The test users of the rootless suites (tests/rootless*.rs): each test creates its own user (`useradd`,
//! with a subuid/subgid range of a given size or none; removed again by a Drop guard), gives it a home and an
//! `XDG_RUNTIME_DIR` it owns, and runs the real binary as that user (`setpriv --reuid --regid --init-groups`,
//! the environment given exactly). [`TestUser::assert_no_leaks`] is the check every rootless test ends with:
//! no mount under the user's directories, no state or cgroup directory, no process of the user, no file of
//! the user outside its own directories. Also here: a cgroup v2 subtree delegated as systemd does, and a
//! root filesystem tarball with files of several owners.
#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::{self, CONTAINY, stderr, stdout};

static USERS: AtomicUsize = AtomicUsize::new(0);

/// A user made for one test, with a home (`dir`) and a runtime dir (`dir/run`, mode 0700) it owns.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    dir: tempfile::TempDir,
    ids: Vec<String>,
}

impl TestUser {
    /// A user with (`true`) or without a range of 65536 subordinate ids.
    pub fn new(with_range: bool) -> TestUser {
        TestUser::with_ids(if with_range { 65536 } else { 0 })
    }

    /// A user with a range of `count` subordinate uids and gids in /etc/subuid and /etc/subgid (0: none).
    pub fn with_ids(count: u32) -> TestUser {
        let with_range = count > 0;
        let n = USERS.fetch_add(1, Ordering::SeqCst);
        let name = format!("crl{}x{n}", std::process::id());
        // useradd gives ranges only where the files exist (the cgroup v2 VM starts without them).
        for file in ["/etc/subuid", "/etc/subgid"] {
            // Append, never truncate: another test's useradd may be writing its range right now.
            std::fs::OpenOptions::new().create(true).append(true).open(file).unwrap();
        }
        let mut cmd = Command::new("useradd");
        cmd.args(["--no-create-home", "--shell", "/bin/sh", "--user-group"]);
        let (uids, gids) = (format!("SUB_UID_COUNT={count}"), format!("SUB_GID_COUNT={count}"));
        cmd.args(["-K", &uids, "-K", &gids]);
        let out = cmd.arg(&name).output().expect("run useradd");
        assert!(out.status.success(), "useradd {name}: {}", stderr(&out));
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().unwrap();
            stdout(&out).trim().parse().unwrap()
        };
        let dir = tempfile::Builder::new().prefix("containy-rootless-").tempdir().unwrap();
        let user = TestUser { uid: id("-u"), gid: id("-g"), name, dir, ids: Vec::new() };
        if with_range {
            assert_eq!(
                user.range(),
                Some((user.range_start(), count)),
                "useradd's /etc/subuid range for {}",
                user.name
            );
        } else {
            assert!(!user.has_range(), "{} has a /etc/subuid range", user.name);
        }
        std::fs::create_dir(user.run_dir()).unwrap();
        std::fs::set_permissions(user.run_dir(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        user.chown(user.home());
        user.chown(&user.run_dir());
        user
    }

    fn has_range(&self) -> bool {
        self.range().is_some()
    }

    /// The user's /etc/subuid range: (first id, count).
    pub fn range(&self) -> Option<(u32, u32)> {
        let text = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
        text.lines().find_map(|l| {
            let mut parts = l.strip_prefix(&format!("{}:", self.name))?.split(':');
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
    }

    /// The first id of the user's /etc/subuid range (container uid 1).
    pub fn range_start(&self) -> u32 {
        self.range().map_or(0, |r| r.0)
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn run_dir(&self) -> PathBuf {
        self.home().join("run")
    }

    pub fn chown(&self, path: &Path) {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).unwrap();
    }

    /// `chown -R` (the test's files become the user's).
    pub fn chown_tree(&self, path: &Path) {
        self.chown(path);
        if path.is_dir() && !path.is_symlink() {
            for e in std::fs::read_dir(path).unwrap().flatten() {
                self.chown_tree(&e.path());
            }
        } else if path.is_symlink() {
            std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid)).unwrap();
        }
    }

    /// A unique container id, remembered for the leak check.
    pub fn id(&mut self) -> String {
        let id = format!("{}-{}", self.name, self.ids.len());
        self.ids.push(id.clone());
        id
    }

    /// `containy ARGS…` as this user, with exactly HOME, PATH and XDG_RUNTIME_DIR (`runtime_dir: None`:
    /// unset).
    pub fn command(&self, args: &[&str], runtime_dir: Option<&Path>) -> Command {
        let mut cmd = Command::new("/usr/bin/setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(CONTAINY)
            .args(args)
            .env_clear()
            .env("HOME", self.home())
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .current_dir(self.home())
            .stdin(Stdio::null());
        if let Some(dir) = runtime_dir {
            cmd.env("XDG_RUNTIME_DIR", dir);
        }
        cmd
    }

    /// `sh -c SCRIPT` as this user, on the host (what the user may do there without containy).
    pub fn sh(&self, script: &str) -> Output {
        Command::new("/usr/bin/setpriv")
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .args(["--init-groups", "--", "/bin/sh", "-c", script])
            .output()
            .expect("run sh as the test user")
    }

    pub fn containy(&self, args: &[&str]) -> Output {
        self.command(args, Some(&self.run_dir())).output().expect("run containy as the test user")
    }

    /// `containy ARGS…` whose container outlives it (`create`): its output goes to files, not to pipes the
    /// container would hold open. Returns the exit status and what it wrote to stderr.
    pub fn containy_detached(&self, args: &[&str]) -> (std::process::ExitStatus, String) {
        let log = self.home().join("detached.err");
        let status = self
            .command(args, Some(&self.run_dir()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .status()
            .expect("run containy as the test user");
        (status, std::fs::read_to_string(&log).unwrap_or_default())
    }

    /// A bundle directory of the user's with `rootfs/` (busybox, owned by the user) and `file` = `text`.
    pub fn bundle(&self, file: &str, text: &str) -> PathBuf {
        let b = self.home().join(format!("bundle{}", self.ids.len()));
        std::fs::create_dir(&b).unwrap();
        common::make_busybox_rootfs(&b.join("rootfs"));
        if !file.is_empty() {
            std::fs::write(b.join(file), text).unwrap();
        }
        self.chown_tree(&b);
        b
    }

    /// Nothing of this user's containers is left: mounts, state dirs, cgroup dirs, processes.
    pub fn assert_no_leaks(&self) {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let home = self.home().display().to_string();
        let leaked: Vec<_> = mountinfo.lines().filter(|l| l.contains(&home)).collect();
        assert!(leaked.is_empty(), "leaked mounts: {leaked:#?}");
        for id in &self.ids {
            let state = self.run_dir().join("containy").join(id);
            assert!(!state.exists(), "leaked state dir {}", state.display());
            let cgroups = common::cgroup_dirs_named(id);
            assert!(cgroups.is_empty(), "leaked cgroup dirs {cgroups:?}");
        }
        let procs = processes_of(self.uid);
        assert!(procs.is_empty(), "processes of {} left: {procs:?}", self.name);
        let outside = self.files_outside_home();
        assert!(outside.is_empty(), "{} left files outside its own directories: {outside:?}", self.name);
    }

    /// Files the user owns in the places any user may write (/tmp, /var/tmp, /dev/shm, /run), other than
    /// its own home (which is below /tmp).
    pub fn files_outside_home(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, skip: &Path, uid: u32, found: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else { return };
            for e in entries.flatten() {
                let path = e.path();
                let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
                if path == skip {
                    continue;
                }
                if meta.uid() == uid {
                    found.push(path);
                } else if meta.is_dir() {
                    walk(&path, skip, uid, found);
                }
            }
        }
        let mut found = Vec::new();
        for dir in ["/tmp", "/var/tmp", "/dev/shm", "/run"] {
            walk(Path::new(dir), self.home(), self.uid, &mut found);
        }
        found
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // A failed test may leave a container: kill what runs as this user (its own processes only).
        for pid in processes_of(self.uid) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        for id in &self.ids {
            let _ = self.containy(&["delete", "--force", id]);
        }
        // podman's lock file for a rootless user outlives podman (tests/rootless.rs runs podman as the user).
        let _ = std::fs::remove_file(podman_lock(self.uid));
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// The lock file rootless podman makes for `uid` in /dev/shm.
pub fn podman_lock(uid: u32) -> PathBuf {
    PathBuf::from(format!("/dev/shm/libpod_rootless_lock_{uid}"))
}

/// Live host pids owned by `uid` (a killed container's init is reparented to PID 1, which reaps it in its
/// own time: a zombie holds nothing but its pid, and is not counted).
pub fn processes_of(uid: u32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let zombie = status.lines().any(|l| l.starts_with("State:") && l.contains('Z'));
        if entry.metadata().is_ok_and(|m| m.uid() == uid) && !zombie {
            found.push(pid);
        }
    }
    found
}

/// The spec --rootless bundle with `args` instead of `sh` and no terminal.
pub fn spec_bundle(user: &TestUser, args: &[&str]) -> PathBuf {
    let b = user.bundle("", "");
    let out = user.containy(&["spec", "--rootless", "--bundle", b.to_str().unwrap()]);
    assert!(out.status.success(), "spec --rootless: {}", stderr(&out));
    let path = b.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["process"]["args"] = serde_json::json!(args);
    spec["process"]["terminal"] = false.into();
    std::fs::write(&path, spec.to_string()).unwrap();
    b
}

pub fn is_cgroup_v2() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// A cgroup v2 subtree delegated to a user the way systemd delegates `user@UID.service`: the directory and
/// its `cgroup.procs`, `cgroup.subtree_control` and `cgroup.threads` are the user's, cpu, memory and pids are
/// enabled for its children, and the user's processes start in a leaf below it (`session`).
pub struct Delegated {
    pub dir: PathBuf,
}

impl Delegated {
    pub fn new(user: &TestUser) -> Delegated {
        let dir = Path::new("/sys/fs/cgroup").join(format!("containy-rl-{}", user.name));
        std::fs::create_dir(&dir).unwrap();
        let delegated = Delegated { dir };
        std::fs::write(delegated.dir.join("cgroup.subtree_control"), "+cpu +memory +pids").unwrap();
        std::fs::create_dir(delegated.session()).unwrap();
        for path in [
            delegated.dir.clone(),
            delegated.dir.join("cgroup.procs"),
            delegated.dir.join("cgroup.subtree_control"),
            delegated.dir.join("cgroup.threads"),
            delegated.session(),
            delegated.session().join("cgroup.procs"),
        ] {
            user.chown(&path);
        }
        delegated
    }

    pub fn session(&self) -> PathBuf {
        self.dir.join("session")
    }

    /// `inner` (a [`TestUser::command`]) started in the session cgroup, as from a login shell.
    pub fn in_session(&self, user: &TestUser, inner: &Command) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("echo $$ > \"$0/cgroup.procs\" && exec \"$@\"")
            .arg(self.session())
            .arg(inner.get_program())
            .args(inner.get_args())
            .env_clear()
            .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .current_dir(user.home())
            .stdin(Stdio::null());
        cmd
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        for dir in [self.session(), self.dir.clone()] {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A root filesystem tarball whose `/home/u/file` belongs to uid 1000 and the rest to root.
pub fn owned_tarball(path: &Path) {
    let rootfs = tempfile::tempdir().unwrap();
    common::make_busybox_rootfs(rootfs.path());
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    b.follow_symlinks(false);
    b.append_dir_all(".", rootfs.path()).unwrap();
    for (name, kind, uid) in [("home/", tar::EntryType::Directory, 0), ("home/u/", tar::EntryType::Directory, 1000)] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o755);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_size(0);
        b.append_data(&mut h, name, std::io::empty()).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_size(5);
    b.append_data(&mut h, "home/u/file", &b"mine\n"[..]).unwrap();
    b.finish().unwrap();
}
