//! Control groups: what a process may *use*.
//!
//! A cgroup is a directory in a special filesystem; the processes listed in its `cgroup.procs` are limited
//! by the values written to its other files (`pids.max`, `memory.limit_in_bytes`, `cpu.cfs_quota_us`, …).
//! There are two layouts: **v1**, one hierarchy per controller (`/sys/fs/cgroup/pids/…`,
//! `/sys/fs/cgroup/memory/…`), and **v2**, one unified tree (`/sys/fs/cgroup/…`) with `pids.max`,
//! `memory.max`, `cpu.max`. containy writes these files itself — no library — because that *is* the lesson.
//! Order: the cgroup is created and its limits written *before* the container is cloned, and the process is
//! placed in it before it runs a single instruction of user code (v2: `CLONE_INTO_CGROUP`; v1: the child's
//! first act is writing `0` to `tasks` files the parent opened for it). At the end every process left in it is killed and the
//! directories are removed. See `man 7 cgroups`.

pub mod devices_bpf;
mod usage;
mod v1;
mod v2;

pub use usage::{Bandwidth, CpuUsage};
pub use v2::check_unified_key;

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;

use crate::plan::{DeviceRule, Resources};

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Containers without a `cgroupsPath` live in `<hierarchy>/containy-<id>`: right under the root, as runc's and
/// crun's `/<id>` do (with a prefix, so an id can never name someone else's cgroup such as `system.slice`).
/// No shared `containy/` parent: on cgroup v1 a parent costs one mkdir and one rmdir per hierarchy per
/// container (≈ 7 % of a start's CPU here), and a parent shared by concurrent containers is a race between
/// the last one removing it and the next one creating its leaf in it.
const DEFAULT_PREFIX: &str = "containy-";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot create cgroup {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {value:?} to {path}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot remove cgroup {path} (processes may still be in it)")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cgroup path {0:?} must be relative and must not contain '..'")]
    BadPath(PathBuf),
    /// A limit this machine's cgroup layout cannot apply; checked before any directory is created.
    #[error("cannot apply {field}: {reason}")]
    Unsupported { field: &'static str, reason: String },
}

/// Which cgroup layout this machine has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// The unified hierarchy, mounted at `/sys/fs/cgroup`.
    V2,
    /// One hierarchy per controller under `/sys/fs/cgroup` (a tmpfs). "Hybrid" machines — v1 controllers
    /// plus an (almost) empty cgroup2 tree at `/sys/fs/cgroup/unified` — are v1 for containy.
    V1 { hierarchies: Vec<Hierarchy> },
}

/// Look at what `/sys/fs/cgroup` is: a cgroup2 mount means v2; otherwise the v1 hierarchies mounted below it.
pub fn detect() -> Layout {
    if is_v2() {
        return Layout::V2;
    }
    let mountinfo = crate::sys::read_kernel_file("/proc/self/mountinfo").unwrap_or_default();
    Layout::V1 { hierarchies: v1::hierarchies(&mountinfo) }
}

/// Is `/sys/fs/cgroup` the unified hierarchy? One `statfs`: enough for joining directories a container
/// already has (`exec`), which never needs to know where each v1 controller is mounted.
pub fn is_v2() -> bool {
    nix::sys::statfs::statfs(CGROUP_ROOT).is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// A v1 hierarchy: where it is mounted and which controllers it carries (`cpu,cpuacct` may share one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mount_point: PathBuf,
    pub controllers: Vec<String>,
}

/// One write to a cgroup file: `(controller, file, value)`; the controller names the v1 hierarchy (on v2 it
/// names the controller to enable in the ancestors' `cgroup.subtree_control`; `""`: none needed).
pub type Write = (&'static str, String, String);

/// The device rules every container gets: deny everything, then allow the standard character devices
/// (`null`, `zero`, `full`, `random`, `urandom`, `tty`, `console`, `ptmx`, ptys) and `mknod` of any
/// device — a node that cannot be opened is harmless. Later rules win, as in the v1 devices controller.
pub fn default_device_rules() -> Vec<DeviceRule> {
    let rule = |allow, kind, major, minor: Option<i64>, access: &str| DeviceRule {
        allow,
        kind,
        major,
        minor,
        access: access.into(),
    };
    vec![
        rule(false, 'a', None, None, "rwm"),
        rule(true, 'c', None, None, "m"),
        rule(true, 'b', None, None, "m"),
        rule(true, 'c', Some(1), Some(3), "rwm"),
        rule(true, 'c', Some(1), Some(5), "rwm"),
        rule(true, 'c', Some(1), Some(7), "rwm"),
        rule(true, 'c', Some(1), Some(8), "rwm"),
        rule(true, 'c', Some(1), Some(9), "rwm"),
        rule(true, 'c', Some(5), Some(0), "rwm"),
        rule(true, 'c', Some(5), Some(1), "rwm"),
        rule(true, 'c', Some(5), Some(2), "rwm"),
        rule(true, 'c', Some(136), None, "rwm"),
    ]
}

/// What `containy stats` shows: usage and limits read from the cgroup's files (`None`: not available).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    pub memory_usage: Option<u64>,
    pub memory_peak: Option<u64>,
    pub memory_limit: Option<u64>,
    pub cpu_usage_ns: Option<u64>,
    /// CPU bandwidth: `cpu_quota_us` of every `cpu_period_us` (`None`: unlimited).
    pub cpu_quota_us: Option<u64>,
    pub cpu_period_us: Option<u64>,
    pub pids_current: Option<u64>,
    pub pids_max: Option<u64>,
    pub oom_kills: u64,
    pub frozen: bool,
}

/// A created cgroup: the directories to place the process in, read from and remove.
#[derive(Debug)]
pub struct Cgroup {
    layout: Layout,
    /// v1: one directory per controller used; v2: exactly one.
    dirs: Vec<(String, PathBuf)>,
    /// Parent directories containy created on the way (for a nested `cgroupsPath`); removed when empty.
    parents: Vec<PathBuf>,
    /// Directories that existed before the container (an engine pre-created them): joined, never removed.
    existing: Vec<PathBuf>,
    memory_limit: Option<u64>,
}

/// Refuse absolute paths and `..`: a cgroup path is always below the hierarchy root.
fn check_relative(path: &Path) -> Result<(), CgroupError> {
    let ok = path.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if ok && path.components().next().is_some() { Ok(()) } else { Err(CgroupError::BadPath(path.to_path_buf())) }
}

/// The path from an OCI `cgroupsPath` (absolute paths are taken relative to the hierarchy root, as runc does).
pub fn relative_path(cgroups_path: Option<&Path>, id: &str) -> Result<PathBuf, CgroupError> {
    let path = match cgroups_path {
        Some(p) => p.strip_prefix("/").unwrap_or(p).to_path_buf(),
        None => PathBuf::from(format!("{DEFAULT_PREFIX}{id}")),
    };
    check_relative(&path)?;
    Ok(path)
}

impl Cgroup {
    /// Create the cgroup at `rel` (relative to each hierarchy root) and write every limit. Nothing is in it
    /// yet. On failure whatever was created is removed again.
    pub fn create(layout: &Layout, rel: &Path, resources: &Resources) -> Result<Cgroup, CgroupError> {
        let mut cgroup = Cgroup {
            layout: layout.clone(),
            dirs: Vec::new(),
            parents: Vec::new(),
            existing: Vec::new(),
            memory_limit: resources.memory,
        };
        let result = match layout {
            Layout::V2 => v2::create(&mut cgroup, rel, resources),
            Layout::V1 { hierarchies } => v1::create(&mut cgroup, hierarchies, rel, resources),
        };
        match result {
            Ok(()) => Ok(cgroup),
            Err(e) => {
                let _ = cgroup.remove();
                Err(e)
            }
        }
    }

    /// The directories a cgroup at `rel` has now, in whichever hierarchies they exist: for a container whose
    /// cgroup path was recorded but whose directories were not (containy died while making them).
    pub fn find(layout: &Layout, rel: &Path) -> Cgroup {
        let roots: Vec<(String, PathBuf)> = match layout {
            Layout::V2 => vec![("unified".to_string(), PathBuf::from(CGROUP_ROOT))],
            Layout::V1 { hierarchies } => hierarchies
                .iter()
                .map(|h| (h.controllers.first().cloned().unwrap_or_default(), h.mount_point.clone()))
                .collect(),
        };
        let dirs = roots.into_iter().map(|(name, root)| (name, root.join(rel))).filter(|(_, d)| d.is_dir()).collect();
        Cgroup::reopen(layout, dirs)
    }

    /// The cgroup of an existing container, from the directories recorded in its state.
    pub fn reopen(layout: &Layout, dirs: Vec<(String, PathBuf)>) -> Cgroup {
        Cgroup { layout: layout.clone(), dirs, parents: Vec::new(), existing: Vec::new(), memory_limit: None }
    }

    /// The directories among `dirs` that existed before the container: `remove` leaves them.
    pub fn with_existing(mut self, existing: Vec<PathBuf>) -> Cgroup {
        self.existing = existing;
        self
    }

    /// The directories this cgroup joined rather than created (to record in the state).
    pub fn existing(&self) -> &[PathBuf] {
        &self.existing
    }

    pub fn stats(&self) -> Stats {
        match self.layout {
            Layout::V2 => v2::stats(self),
            Layout::V1 { .. } => v1::stats(self),
        }
    }

    /// Pause (`true`) or resume every process in the cgroup.
    pub fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        crate::explain!(
            if frozen { "freeze the container" } else { "thaw the container" },
            match self.layout {
                Layout::V2 => "write cgroup.freeze",
                Layout::V1 { .. } => "write freezer.state",
            },
            "the freezer stops every task of the cgroup at once; none of them can tell"
        );
        match self.layout {
            Layout::V2 => v2::set_frozen(self, frozen),
            Layout::V1 { .. } => v1::set_frozen(self, frozen),
        }
    }

    /// Change the limits of a running container: only the values that are set are written.
    pub fn update(&self, resources: &Resources) -> Result<(), CgroupError> {
        match self.layout {
            Layout::V2 => v2::update(self, resources),
            Layout::V1 { .. } => v1::update(self, resources),
        }
    }

    /// The pids in the cgroup (any hierarchy lists them all).
    pub fn procs(&self) -> Vec<Pid> {
        self.dirs.first().map(|(_, d)| procs(d)).unwrap_or_default()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The directories of this cgroup, by controller (v2: one entry named "unified").
    pub fn dirs(&self) -> &[(String, PathBuf)] {
        &self.dirs
    }

    /// v2: an fd of the cgroup directory for `clone3(CLONE_INTO_CGROUP)`.
    pub fn open_dir(&self) -> Option<File> {
        match self.layout {
            Layout::V2 => self.dirs.first().and_then(|(_, d)| File::open(d).ok()),
            Layout::V1 { .. } => None,
        }
    }

    /// v1: the `tasks` file of each of the container's hierarchies, opened for writing. The child writes
    /// `0` to each as its first act: that moves only the calling thread, which spares the kernel the
    /// global lock and RCU grace period a `cgroup.procs` write of another process waits for (10–15 ms of
    /// a lone start, measured in BENCHMARKS.md). The files are opened here, by the parent, so the kernel
    /// checks the parent's rights, whatever namespaces the child is in by then.
    pub fn open_tasks(&self) -> Result<Vec<File>, CgroupError> {
        if !matches!(self.layout, Layout::V1 { .. }) {
            return Ok(Vec::new());
        }
        self.dirs
            .iter()
            .map(|(_, dir)| {
                let path = dir.join("tasks");
                std::fs::OpenOptions::new().write(true).open(&path).map_err(|source| CgroupError::Write {
                    path,
                    value: "0".into(),
                    source,
                })
            })
            .collect()
    }

    /// How many times the kernel's OOM killer killed a process in this cgroup. Read before `remove`.
    pub fn oom_kills(&self) -> u64 {
        match self.layout {
            Layout::V2 => v2::oom_kills(self),
            Layout::V1 { .. } => v1::oom_kills(self),
        }
    }

    pub fn memory_limit(&self) -> Option<u64> {
        self.memory_limit
    }

    /// Kill every process still in the cgroup (children that outlived the container's PID 1, or everything
    /// when there is no PID namespace).
    pub fn kill_all(&self) {
        match self.layout {
            Layout::V2 => v2::kill_all(self),
            Layout::V1 { .. } => v1::kill_all(self),
        }
    }

    /// Remove the cgroup's directories (retrying while the kernel finishes tearing down exiting
    /// processes), then the parents this run created, if no other container still uses them.
    pub fn remove(&mut self) -> Result<(), CgroupError> {
        let mut first_error = None;
        for (_, dir) in self.dirs.drain(..) {
            if self.existing.contains(&dir) {
                continue; // not ours: the engine that made it removes it
            }
            if let Err(e) = remove_dir_retrying(&dir) {
                first_error.get_or_insert(e);
            }
        }
        // Parents go when empty. rmdir of a cgroup with children fails (EBUSY), so a parent another
        // container still uses stays.
        while let Some(parent) = self.parents.pop() {
            let _ = std::fs::remove_dir(parent);
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// `rmdir` a cgroup directory. EBUSY means a process is still leaving: try again briefly.
fn remove_dir_retrying(dir: &Path) -> Result<(), CgroupError> {
    let mut delay = std::time::Duration::from_micros(200);
    for _ in 0..40 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(std::time::Duration::from_millis(50));
            }
            Err(source) => {
                return Err(CgroupError::Remove { path: dir.to_path_buf(), source });
            }
        }
    }
    Err(CgroupError::Remove { path: dir.to_path_buf(), source: std::io::Error::from_raw_os_error(libc::EBUSY) })
}

/// Create `root/rel`, making missing parents (remembered in `parents` so they can be removed). A leaf that
/// exists already is joined, as runc and crun do (`cgroupsPath` names a place, and engines pre-create it):
/// it is recorded in `existing` so that only what containy created is removed.
fn make_dirs(
    root: &Path,
    rel: &Path,
    parents: &mut Vec<PathBuf>,
    existing: &mut Vec<PathBuf>,
) -> Result<PathBuf, CgroupError> {
    let leaf = root.join(rel);
    // With a nested `cgroupsPath` (`/engine/web`), another container may remove an empty shared parent
    // between our two mkdirs: then the leaf's mkdir says ENOENT, and making the parents again is the answer.
    for _ in 0..10 {
        let mut dir = root.to_path_buf();
        for part in rel.parent().into_iter().flat_map(|p| p.components()) {
            dir.push(part);
            match std::fs::create_dir(&dir) {
                Ok(()) => parents.push(dir.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(source) => return Err(CgroupError::Create { path: dir, source }),
            }
        }
        match std::fs::create_dir(&leaf) {
            Ok(()) => return Ok(leaf),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                existing.push(leaf.clone());
                return Ok(leaf);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(CgroupError::Create { path: leaf, source }),
        }
    }
    Err(CgroupError::Create { path: leaf, source: std::io::Error::from_raw_os_error(libc::ENOENT) })
}

/// A limit this kernel has no file for (kernel memory, a controller that is not mounted, an I/O weight
/// without BFQ): containy goes on without it and says so, as runc does.
fn warn(text: &str) {
    eprintln!("containy: warning: {text}");
}

fn write_file(path: &Path, value: &str) -> Result<(), CgroupError> {
    FileWriter::default().write(path, value)
}

/// Writes values to cgroup files and keeps the last file open, so that consecutive writes to one file — the
/// dozen rules of a v1 device cgroup, all `devices.allow` — cost one open(2), not one each (opening a
/// kernfs file allocates; ≈ 2 % of a container start here). Each write(2) is still one value, which the
/// kernel parses on its own: writing rules one by one through one fd is what writing them to fresh fds did.
#[derive(Default)]
struct FileWriter {
    open: Option<(PathBuf, File)>,
}

impl FileWriter {
    fn write(&mut self, path: &Path, value: &str) -> Result<(), CgroupError> {
        explain_write(path, value);
        let error = |source| CgroupError::Write { path: path.to_path_buf(), value: value.to_string(), source };
        let file = match &mut self.open {
            Some((open_path, file)) if open_path == path => file,
            slot => {
                // The flags std::fs::write uses: a file the kernel does not have fails the same way.
                let file = File::options().write(true).create(true).truncate(true).open(path).map_err(error)?;
                &mut slot.insert((path.to_path_buf(), file)).1
            }
        };
        std::io::Write::write_all(file, value.as_bytes()).map_err(error)
    }
}

fn explain_write(path: &Path, value: &str) {
    let file = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    crate::explain!(
        format!("{file} = {value}"),
        format!("write {}", path.display()),
        match file.as_ref() {
            "cgroup.procs" => "moving a process into a cgroup is writing its pid to the cgroup's cgroup.procs",
            "devices.deny" | "devices.allow" => "device rules are lines written to the cgroup; the last match wins",
            "cpuset.cpus" | "cpuset.mems" => {
                "a new v1 cpuset starts empty and takes no task until both are set, each a subset of its parent's"
            }
            "cgroup.subtree_control" => "a v2 controller's files appear in a child only once its parent enables it",
            _ => "a cgroup limit is just a value written to a file in the cgroup's directory",
        }
    );
}

/// The value of `key` in a flat-keyed file like `memory.events` or `memory.oom_control`.
fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The pids listed in a `cgroup.procs` file.
fn procs(dir: &Path) -> Vec<Pid> {
    crate::sys::read_kernel_file(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .map(Pid::from_raw)
        .collect()
}

/// A cpuset list as `cpuset.cpus`/`cpuset.mems` take it: numbers and ascending ranges, comma-separated
/// (`0-3,8`). Checked where it is parsed: the kernel's only answer to anything else is `EINVAL`.
pub fn check_cpu_list(list: &str) -> Result<(), String> {
    let bad =
        || format!("{list:?} is not a CPU or node list: use numbers and ranges separated by commas, e.g. \"0-1,3\"");
    if list.is_empty() {
        return Err(bad());
    }
    for item in list.split(',') {
        let (low, high) = item.split_once('-').unwrap_or((item, item));
        let number = |s: &str| {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse::<u32>().map_err(|_| bad())
        };
        if number(low)? > number(high)? {
            return Err(format!("{list:?}: the range {item:?} goes downwards; write the lower number first"));
        }
    }
    Ok(())
}

/// A huge page size as the hugetlb files name it (`hugetlb.2MB.max`): a number and KB, MB or GB.
pub fn check_page_size(size: &str) -> Result<(), String> {
    let digits = size.trim_end_matches(['K', 'M', 'G', 'B']);
    let unit = &size[digits.len()..];
    let number_ok = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if number_ok && matches!(unit, "KB" | "MB" | "GB") {
        return Ok(());
    }
    Err(format!("{size:?} is not a huge page size: write it as the kernel names it, e.g. \"2MB\" or \"1GB\""))
}

/// `rdma.max` lines (v1 and v2 alike): `mlx4_0 hca_handle=2 hca_object=max`.
fn rdma_lines(limits: &[crate::plan::RdmaLimit]) -> Vec<String> {
    let value = |v: Option<u32>| v.map_or("max".to_string(), |v| v.to_string());
    limits
        .iter()
        .map(|l| format!("{} hca_handle={} hca_object={}", l.device, value(l.hca_handles), value(l.hca_objects)))
        .collect()
}

/// `c 1:3 rwm`: a device rule as the v1 devices controller (and the docs) write it.
pub fn device_rule_text(rule: &DeviceRule) -> String {
    let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
    format!("{} {}:{} {}", rule.kind, num(rule.major), num(rule.minor), rule.access)
}

/// v1: move the calling process into the container's cgroups by writing `0` to each `tasks` file the parent
/// opened for it (v2 placed it at `clone3` with `CLONE_INTO_CGROUP`; then there are no files). First thing
/// the child does: from here on every instruction runs inside the container's limits.
pub fn enter_tasks(tasks: &[File]) -> Result<(), CgroupError> {
    if !tasks.is_empty() {
        crate::explain!(
            "join the container's cgroup",
            "write \"0\" to tasks in each v1 hierarchy (files the parent opened)",
            "from here on every instruction runs inside the container's limits"
        );
    }
    for mut file in tasks {
        use std::io::Write;
        file.write_all(b"0").map_err(|source| CgroupError::Write {
            path: "tasks".into(),
            value: "0".into(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_paths_stay_below_the_root() {
        assert_eq!(relative_path(None, "abc").unwrap(), Path::new("containy-abc"));
        assert_eq!(relative_path(Some(Path::new("/a/b")), "x").unwrap(), Path::new("a/b"));
        assert!(relative_path(Some(Path::new("a/../../etc")), "x").is_err());
        assert!(relative_path(Some(Path::new("/")), "x").is_err());
    }

    #[test]
    fn cpu_lists_and_page_sizes_are_checked() {
        for ok in ["0", "0-1", "0-1,3", "2,4-7"] {
            assert_eq!(check_cpu_list(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a", "0-", "-1", "0,,1", "1 2", "0-1;", "3-1", "0x1"] {
            assert!(check_cpu_list(bad).is_err(), "{bad}");
        }
        assert!(check_cpu_list("3-1").unwrap_err().contains("lower number first"));
        for ok in ["2MB", "1GB", "64KB"] {
            assert_eq!(check_page_size(ok), Ok(()), "{ok}");
        }
        for bad in ["2M", "MB", "2mb", "02MB", "2MB/x", "1TB", ""] {
            assert!(check_page_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keyed_files_parse() {
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed_value(text, "oom_kill"), Some(3));
        assert_eq!(keyed_value(text, "missing"), None);
    }

    #[test]
    fn device_rules_render_like_the_kernel_reads_them() {
        let rules = default_device_rules();
        assert_eq!(device_rule_text(&rules[0]), "a *:* rwm");
        assert_eq!(device_rule_text(&rules[3]), "c 1:3 rwm");
        assert_eq!(device_rule_text(rules.last().unwrap()), "c 136:* rwm");
    }

    #[test]
    fn make_dirs_joins_an_existing_leaf_and_records_what_it_made() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut parents, mut existing) = (Vec::new(), Vec::new());
        let dir = make_dirs(tmp.path(), Path::new("engine/a"), &mut parents, &mut existing).unwrap();
        assert_eq!(parents, vec![tmp.path().join("engine")]);
        assert!(dir.is_dir() && existing.is_empty());
        let (mut again, mut existing) = (Vec::new(), Vec::new());
        let joined = make_dirs(tmp.path(), Path::new("engine/a"), &mut again, &mut existing).unwrap();
        assert_eq!((joined, again, existing), (dir.clone(), vec![], vec![dir]));
    }
}
