//! `containy lesson NAME`: lessons you run. Each one starts real containers from the bundles in
//! `docs/lessons/NAME/`, runs the commands a learner would type on the host next to them, and says what to
//! look at in the output — an annotated shell session: `# comments`, `$ commands` and their real output.
//!
//! The containers are started as separate `containy run` processes (this one stays the lesson's narrator),
//! so each command shown can be typed as is. A container the lesson keeps running reports `ready` on its
//! stdout and then waits on its stdin: closing that pipe is how the lesson ends it, and dropping a
//! [`Background`] kills it, so a lesson that fails halfway leaves nothing running.

mod cgroups;
mod filesystem;
mod limits;
mod namespaces;
mod privileges;
mod process;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use colored::Colorize;

use super::inspect::short;
use crate::image;
use crate::runtime::inspect::Inspection;

/// The lessons, in the order they are meant to be taken: name, title.
pub const LESSONS: &[(&str, &str)] = &[
    ("process", "a container is a process"),
    ("namespaces", "namespaces: what the container sees of the machine"),
    ("filesystem", "the filesystem: chroot vs pivot_root, and the overlay"),
    ("cgroups", "cgroups: limits are files (fork, memory and CPU limits, from cgroups_example/)"),
    ("privileges", "privileges: capabilities, seccomp, masked /proc files"),
    ("limits", "limits for untrusted code: CPU and wall time, memory, processes, output — and the result record"),
];

#[derive(Debug, Args)]
pub struct LessonArgs {
    /// The lesson (process, namespaces, filesystem, cgroups, privileges, limits); without one, the list.
    pub name: Option<String>,
    /// The base the containers run on: bundle/busybox.tar.gz or bundle/debian.tar.gz.
    #[arg(long, value_enum, default_value_t = Base::Busybox)]
    pub base: Base,
    /// Use this root filesystem (a directory or a tarball) instead of the base.
    #[arg(long, value_name = "PATH")]
    pub rootfs: Option<PathBuf>,
    /// Where the lessons are (default: docs/lessons here, or next to the containy binary's source tree).
    #[arg(long, value_name = "DIR", env = "CONTAINY_LESSONS")]
    pub dir: Option<PathBuf>,
    /// The prefix of the lesson's container ids.
    #[arg(long, default_value = "lesson", value_name = "PREFIX")]
    pub id: String,
    /// Where base tarballs are extracted.
    #[arg(long, default_value_os_t = crate::paths::base_cache(), value_name = "DIR", env = "CONTAINY_CACHE")]
    pub cache: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Base {
    Busybox,
    Debian,
}

/// Run a lesson (or list them); returns the exit code.
pub fn run(root: &Path, explain: bool, args: LessonArgs) -> Result<i32> {
    let Some(name) = args.name.as_deref() else {
        println!("{}", "containy lessons (run one with `containy lesson NAME`):".bold());
        for (name, title) in LESSONS {
            println!("  {:<12} {title}", name.bold());
        }
        return Ok(0);
    };
    if !LESSONS.iter().any(|(n, _)| *n == name) {
        let names: Vec<&str> = LESSONS.iter().map(|(n, _)| *n).collect();
        bail!("there is no lesson {name:?}: the lessons are {}", names.join(", "));
    }
    if crate::paths::rootless()
        && let Some(why) = needs_root(name)
    {
        bail!("lesson {name} cannot run rootless: {why} — run it as root (sudo containy lesson {name})");
    }
    let lessons = lessons_dir(args.dir.as_deref())?;
    let mut lesson = Lesson::new(root, explain, &lessons, name, &args)?;
    let result = match name {
        "process" => process::run(&mut lesson),
        "namespaces" => namespaces::run(&mut lesson),
        "filesystem" => filesystem::run(&mut lesson),
        "privileges" => privileges::run(&mut lesson),
        "cgroups" => {
            // cgroups_example/ is next to docs/: its configs run on the Debian base (configy.toml) or busybox.
            let examples =
                lessons.parent().and_then(Path::parent).map(|p| p.join("cgroups_example")).unwrap_or_default();
            let config = if args.base == Base::Debian { "configy.toml" } else { "busybox.toml" };
            cgroups::run(&mut lesson, &examples, config)
        }
        "limits" => limits::run(&mut lesson),
        _ => unreachable!("checked against LESSONS above"),
    };
    result.with_context(|| format!("lesson {name} failed"))?;
    Ok(0)
}

/// Why a lesson cannot be taken without root here (`None`: it can). process, namespaces and privileges work
/// for any user; filesystem runs chroot(2) on the host; cgroups and limits need a cgroup the user may write.
fn needs_root(name: &str) -> Option<&'static str> {
    let v1 = nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|fs| fs.filesystem_type() != nix::sys::statfs::CGROUP2_SUPER_MAGIC);
    match name {
        "filesystem" => Some("it runs chroot(2) on the host, which needs CAP_SYS_CHROOT in the host's user namespace"),
        "cgroups" | "limits" if v1 => Some(
            "its point is cgroup limits, and this host has cgroup v1, which is never delegated to an ordinary user \
             (a rootless container runs without a cgroup)",
        ),
        "cgroups" | "limits" if !crate::runtime::rootless::has_delegated_cgroup() => Some(
            "its point is cgroup limits, and no cgroup v2 subtree is delegated to you (systemd delegates \
             user@UID.service to a logged-in user; containy's own cgroup has no ancestor you own)",
        ),
        _ => None,
    }
}

fn lessons_dir(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = given {
        return std::path::absolute(dir).with_context(|| format!("lesson directory {}", dir.display()));
    }
    let here = std::env::current_dir().ok().map(|d| d.join("docs/lessons"));
    // target/{debug,release}/containy → the source tree two levels up.
    let beside =
        std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join("docs/lessons")));
    [here, beside]
        .into_iter()
        .flatten()
        .find(|d| d.is_dir())
        .context("cannot find the lessons (docs/lessons): run containy from its source tree, or pass --dir DIR")
}

/// One lesson being run: how to start its containers and how to print what happens.
pub struct Lesson {
    containy: PathBuf,
    root: PathBuf,
    explain: bool,
    /// `docs/lessons/<name>`: the bundle directory of every container of this lesson.
    pub dir: PathBuf,
    /// An override of the configs' rootfs (`--rootfs`, or the Debian base).
    rootfs: Option<PathBuf>,
    /// The busybox tarball the configs name, when no override is given.
    default_base: PathBuf,
    cache: PathBuf,
    id_prefix: String,
    containers: usize,
    /// A private directory for pid files and copies, removed when the lesson ends.
    pub scratch: Scratch,
    step: usize,
}

impl Lesson {
    fn new(root: &Path, explain: bool, lessons: &Path, name: &str, args: &LessonArgs) -> Result<Lesson> {
        let bundles = lessons.parent().and_then(Path::parent).map(|p| p.join("bundle")).unwrap_or_default();
        let rootfs = match (&args.rootfs, args.base) {
            (Some(path), _) => Some(std::path::absolute(path).context("--rootfs")?),
            (None, Base::Debian) => Some(bundles.join("debian.tar.gz")),
            (None, Base::Busybox) => None,
        };
        let mut default_base = bundles.join("busybox.tar.gz");
        if !default_base.exists() && nix::unistd::access(&bundles, nix::unistd::AccessFlags::W_OK).is_err() {
            // A checkout the user cannot write (rootless): the base goes to the user's own data directory.
            let data = crate::paths::data_dir();
            std::fs::create_dir_all(&data).with_context(|| format!("mkdir {}", data.display()))?;
            default_base = data.join("busybox.tar.gz");
        }
        let needed = rootfs.as_deref().unwrap_or(&default_base);
        if rootfs.is_none() && !default_base.exists() {
            // `make run` makes only the Debian base; the lessons' busybox one takes a second to write.
            println!("{}", format!("# making the busybox base {} (once)", short(&default_base)).cyan());
            image::make_busybox_base(&default_base)?;
        }
        if !needed.exists() {
            bail!(
                "the base {} does not exist: make it with `make {}` (or pass --rootfs DIR)",
                needed.display(),
                short(needed)
            );
        }
        let scratch = Scratch::new()?;
        let mut dir = lessons.join(name);
        let mut rootfs = rootfs;
        if nix::unistd::access(&dir, nix::unistd::AccessFlags::W_OK).is_err() {
            // The lessons compile their C programs into their own directory (containers bind-mount it): a user
            // who may not write there (a root-owned checkout) takes the lesson from a copy. The configs' relative
            // base path does not hold in the copy, so the base is given explicitly.
            let copy = scratch.path().join(name);
            copy_dir(&dir, &copy)?;
            println!(
                "{}",
                format!("# {} is not writable for you: using a copy in {}", short(&dir), copy.display()).cyan()
            );
            dir = copy;
            rootfs = rootfs.or_else(|| Some(default_base.clone()));
        }
        Ok(Lesson {
            containy: std::env::current_exe().context("cannot find the containy binary itself")?,
            root: root.to_path_buf(),
            explain,
            dir,
            rootfs,
            default_base,
            cache: args.cache.clone(),
            id_prefix: format!("{}-{name}", args.id),
            containers: 0,
            scratch,
            step: 0,
        })
    }

    /// The lesson's title.
    pub fn title(&self, title: &str) {
        println!("{}", format!("# Lesson: {title}").bold());
    }

    /// A numbered step: what we are about to do and why.
    pub fn step(&mut self, text: &str) {
        self.step += 1;
        println!("\n{}", format!("# {}. {text}", self.step).cyan().bold());
    }

    /// An explanation line.
    pub fn say(&self, text: &str) {
        println!("{}", format!("# {text}").cyan());
    }

    /// What to look at in the output just printed.
    pub fn look(&self, text: &str) {
        println!("{}", format!("# look: {text}").yellow().bold());
    }

    /// Print `$ command` as a learner would type it.
    pub fn show(&self, command: &str) {
        println!("{} {}", "$".green().bold(), command.bold());
    }

    /// Run a shell command on the host, print it and its output; returns stdout.
    pub fn host(&self, command: &str) -> Result<String> {
        self.show(command);
        // `containy` in a command is this containy, with the lesson's state root.
        let bin = self.containy.parent().map(Path::to_path_buf).unwrap_or_default();
        let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        )))?;
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .env("PATH", path)
            .env("CONTAINY_ROOT", &self.root)
            .stdin(Stdio::null())
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        for text in [stdout.as_str(), &stderr] {
            print!("{text}");
            if !text.is_empty() && !text.ends_with('\n') {
                println!();
            }
        }
        Ok(stdout)
    }

    /// The base root filesystem as a directory (a tarball is extracted into containy's cache once).
    pub fn base_dir(&self) -> Result<PathBuf> {
        let base = self.rootfs.as_deref().unwrap_or(&self.default_base);
        if base.is_dir() { Ok(base.to_path_buf()) } else { Ok(image::ensure_base(base, &self.cache)?) }
    }

    /// The base as a directory every user may read: containy's cache is private to root (0700), which root
    /// of a user namespace — an ordinary uid on the host — cannot enter. A tarball base is copied into the
    /// lesson's scratch directory (`None`: the lesson's own `--rootfs` directory will do).
    pub fn world_readable_base(&self) -> Result<Option<PathBuf>> {
        if self.rootfs.as_deref().is_some_and(Path::is_dir) {
            return Ok(None);
        }
        let copy = self.scratch.path().join("base");
        if !copy.exists() {
            self.host(&format!("cp -a {} {}", self.base_dir()?.display(), copy.display()))?;
        }
        Ok(Some(copy))
    }

    /// A fresh container id for this lesson.
    pub fn next_id(&mut self) -> String {
        self.containers += 1;
        format!("{}-{}", self.id_prefix, self.containers)
    }

    /// `containy run` for `config` (a file in the lesson's bundle), as printed and as executed.
    fn run_command(
        &self,
        bundle: &Path,
        config: &str,
        id: &str,
        pid_file: Option<&Path>,
        rootfs: Option<&Path>,
        flags: &[&str],
    ) -> (String, Command) {
        let mut shown = format!("containy run --bundle {}", short(bundle));
        let mut cmd = Command::new(&self.containy);
        if self.explain {
            cmd.arg("--explain");
            shown = shown.replacen("containy", "containy --explain", 1);
        }
        cmd.arg("--root").arg(&self.root);
        if self.root != crate::paths::state_root() {
            shown = shown.replacen("containy", &format!("containy --root {}", self.root.display()), 1);
        }
        cmd.args(["run", "--bundle"]).arg(bundle);
        if config != "configy.toml" {
            cmd.args(["--config"]).arg(bundle.join(config));
            shown += &format!(" --config {}", short(&bundle.join(config)));
        }
        if let Some(rootfs) = rootfs.or(self.rootfs.as_deref()) {
            cmd.arg("--rootfs").arg(rootfs);
            shown += &format!(" --rootfs {}", short(rootfs));
        }
        cmd.env("CONTAINY_CACHE", &self.cache);
        if crate::paths::rootless() {
            // A lesson about limits must not go on without them (rootless, a cgroup only where delegated).
            cmd.arg("--strict-limits");
            shown += " --strict-limits";
        }
        if let Some(pid_file) = pid_file {
            cmd.arg("--pid-file").arg(pid_file);
            shown += &format!(" --pid-file {}", pid_file.display());
        }
        for flag in flags {
            cmd.arg(flag);
            shown += &format!(" {flag}");
        }
        cmd.arg(id);
        shown += &format!(" {id}");
        (shown, cmd)
    }

    /// Run a container to completion, printing the command and everything it wrote; returns its output
    /// (stdout and stderr, interleaved as written) and exit status.
    pub fn run(&mut self, config: &str) -> Result<(String, ExitStatus)> {
        let bundle = self.dir.clone();
        self.run_in(&bundle, config, &[])
    }

    /// [`run`](Self::run) with more flags for `containy run` (`--result FILE`), shown before the id.
    pub fn run_with(&mut self, config: &str, flags: &[&str]) -> Result<(String, ExitStatus)> {
        let bundle = self.dir.clone();
        self.run_in(&bundle, config, flags)
    }

    /// [`run`](Self::run) for a config of another bundle directory, with more flags.
    pub fn run_in(&mut self, bundle: &Path, config: &str, flags: &[&str]) -> Result<(String, ExitStatus)> {
        let id = self.next_id();
        let (shown, mut cmd) = self.run_command(bundle, config, &id, None, None, flags);
        self.show(&shown);
        let (reader, writer) = output_pipe()?;
        cmd.stdin(Stdio::null()).stdout(Stdio::from(writer.try_clone()?)).stderr(Stdio::from(writer));
        let mut child = cmd.spawn().context("cannot start containy")?;
        drop(cmd); // our copies of the pipe's write end go with it, so the reader sees EOF at exit
        let mut text = String::new();
        for line in BufReader::new(reader).lines() {
            let line = line?;
            println!("{line}");
            text.push_str(&line);
            text.push('\n');
        }
        let status = child.wait()?;
        Ok((text, status))
    }

    /// Start a container in the background and wait until it prints `ready`; the lines before are printed
    /// and returned.
    pub fn start(&mut self, config: &str) -> Result<(Background, String)> {
        self.start_on(config, None)
    }

    /// [`start`](Self::start) with another root filesystem than the lesson's.
    pub fn start_on(&mut self, config: &str, rootfs: Option<&Path>) -> Result<(Background, String)> {
        let id = self.next_id();
        let pid_file = self.scratch.path().join(format!("{id}.pid"));
        let (shown, mut cmd) = self.run_command(&self.dir, config, &id, Some(&pid_file), rootfs, &[]);
        self.show(&format!("{shown} &"));
        let (reader, writer) = output_pipe()?;
        cmd.stdin(Stdio::piped()).stdout(Stdio::from(writer.try_clone()?)).stderr(Stdio::from(writer));
        let mut child = cmd.spawn().context("cannot start containy")?;
        drop(cmd);
        let stdin = child.stdin.take();
        let mut bg = Background { child: Some(child), stdin, out: BufReader::new(reader), pid: 0, id, pid_file };
        let mut text = String::new();
        loop {
            let mut line = String::new();
            if bg.out.read_line(&mut line)? == 0 {
                let status = bg.child.take().map(|mut c| c.wait()).transpose()?;
                bail!("the container ended before it was ready ({status:?})");
            }
            if line.trim_end() == "ready" {
                break;
            }
            print!("{line}");
            text.push_str(&line);
        }
        bg.pid = bg.wait_for_pid_file()?;
        Ok((bg, text))
    }

    /// `cc -static`: the lessons' small C programs, compiled into the lesson's bundle so containers can
    /// bind-mount them (written under a temporary name and renamed, so concurrent runs never see half a file).
    pub fn compile(&self, source: &str, output: &str) -> Result<PathBuf> {
        let src = self.dir.join(source);
        let out = self.dir.join(output);
        let tmp = self.dir.join(format!(".{output}.{}", std::process::id()));
        self.show(&format!("cc -static -O2 -o {} {}", short(&out), short(&src)));
        let status = Command::new("cc").arg("-static").arg("-O2").arg("-o").arg(&tmp).arg(&src).status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => bail!("cc -static {} failed ({s}): install gcc and libc6-dev (./install.sh)", src.display()),
            Err(e) => bail!("cannot run cc ({e}): install gcc and libc6-dev (./install.sh)"),
        }
        std::fs::rename(&tmp, &out).with_context(|| format!("rename {} to {}", tmp.display(), out.display()))?;
        Ok(out)
    }

    /// What `containy inspect` knows about a container, without printing it.
    pub fn inspection(&self, id: &str) -> Result<Inspection> {
        Ok(crate::runtime::inspect::inspect(&self.root, id)?)
    }

    pub fn state_root(&self) -> &Path {
        &self.root
    }

    /// `containy inspect ID`, printed as the table a terminal gets.
    pub fn inspect(&self, id: &str) -> Result<Inspection> {
        let root = if self.root == crate::paths::state_root() {
            String::new()
        } else {
            format!(" --root {}", self.root.display())
        };
        self.show(&format!("containy{root} inspect {id}"));
        let inspection = self.inspection(id)?;
        print!("{}", super::inspect::table(&inspection));
        Ok(inspection)
    }
}

/// Copy a lesson's directory (plain files only: configs, C sources, READMEs) into `to`.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("mkdir {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))
                .with_context(|| format!("copy {} to {}", entry.path().display(), to.display()))?;
        }
    }
    Ok(())
}

/// One pipe for a container's stdout and stderr, so the lesson prints them in the order they were written.
fn output_pipe() -> Result<(File, std::os::fd::OwnedFd)> {
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    Ok((File::from(reader), writer))
}

/// A container the lesson keeps running while it looks at it from the host.
pub struct Background {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    out: BufReader<File>,
    /// The container's pid on the host (from `--pid-file`).
    pub pid: i32,
    pub id: String,
    pub pid_file: PathBuf,
}

impl Background {
    /// containy's own pid: the container's parent.
    pub fn containy_pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The pid file is written right after the container reports ready to containy, which can be a moment
    /// after it printed `ready`.
    fn wait_for_pid_file(&self) -> Result<i32> {
        for _ in 0..500 {
            if let Ok(text) = std::fs::read_to_string(&self.pid_file)
                && let Ok(pid) = text.trim().parse()
            {
                return Ok(pid);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        bail!("containy did not write {}", self.pid_file.display())
    }

    /// Close the container's stdin (its `read` returns and it exits), print what it still writes, wait.
    pub fn stop(mut self) -> Result<ExitStatus> {
        drop(self.stdin.take());
        let mut rest = String::new();
        while self.out.read_line(&mut rest)? > 0 {
            print!("{rest}");
            rest.clear();
        }
        let mut child = self.child.take().context("the container was already stopped")?;
        Ok(child.wait()?)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Only on an error path: end the container (containy then cleans up as usual).
            if self.pid > 0 {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), nix::sys::signal::Signal::SIGKILL);
            }
            drop(self.stdin.take());
            let _ = child.wait();
        }
    }
}

/// A temporary directory of the lesson's own, removed with everything in it when the lesson ends.
pub struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("containy-lesson-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        Ok(Scratch(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
