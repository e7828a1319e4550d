//! The command lines engines send on every container, read without clap.
//!
//! containerd, podman and `docker` (through the daemon) run `create`, `start`, `state`, `kill` and `delete`
//! once or more for every container; graders and students `run` a bundle or a `--config`. clap builds a
//! verb's forty flags, fills in defaults and copies the global flags into it before it parses: ≈ 100 µs and
//! a few dozen pages of heap on each of those calls. Those lines are short and regular, so they are read
//! here, by a table of the flags they carry. Anything else — another flag, a short flag in a cluster, `--`,
//! a value that looks like a flag, a flag given twice, a `CONTAINY_*` variable that stands in for a flag —
//! is not this reader's: it says `None` and clap parses the line, so every error message and every rare
//! form stays clap's. `help_tests` checks that whatever this reader accepts, clap reads the same.

use std::ffi::OsString;
use std::path::PathBuf;

use super::{Cli, Command, CreateArgs, DeleteArgs, Global, IdArg, KillArgs, LogFormat, RunArgs};

/// A flag this reader knows: its long name, its short one, and whether it takes a value.
struct Flag {
    long: &'static str,
    short: Option<char>,
    value: bool,
}

const fn flag(long: &'static str, short: Option<char>, value: bool) -> Flag {
    Flag { long, short, value }
}

/// The global flags (before or after the verb), as `super::Global` declares them.
const GLOBAL: &[Flag] = &[
    flag("root", None, true),
    flag("log", None, true),
    flag("log-format", None, true),
    flag("debug", None, false),
    flag("systemd-cgroup", None, false),
    flag("explain", None, false),
];

/// Each verb's flags this reader takes, a subset of its clap flags.
fn verb_flags(verb: &str) -> Option<&'static [Flag]> {
    const RUN: &[Flag] = &[
        flag("bundle", Some('b'), true),
        flag("config", Some('c'), true),
        flag("tty", Some('t'), false),
        flag("cache", None, true),
        flag("pid-file", None, true),
        flag("detach", Some('d'), false),
        flag("console-socket", None, true),
        flag("preserve-fds", None, true),
    ];
    const CREATE: &[Flag] = &[
        flag("bundle", Some('b'), true),
        flag("cache", None, true),
        flag("pid-file", None, true),
        flag("console-socket", None, true),
        flag("preserve-fds", None, true),
        flag("no-pivot", None, false),
        flag("no-new-keyring", None, false),
    ];
    const KILL: &[Flag] = &[flag("all", Some('a'), false)];
    const DELETE: &[Flag] = &[flag("force", Some('f'), false)];
    Some(match verb {
        "run" => RUN,
        "create" => CREATE,
        "start" | "state" => &[],
        "kill" => KILL,
        "delete" => DELETE,
        _ => return None,
    })
}

/// The variables clap reads in place of a flag (`env = …`): with one set, clap parses the line.
pub(super) const STAND_INS: &[&str] = &["CONTAINY_ROOT", "CONTAINY_CACHE", "CONTAINY_STORE", "CONTAINY_STRICT_LIMITS"];

/// The flags a line gave (long name → value, `""` for a switch) and its words in order.
#[derive(Default)]
struct Given<'a> {
    flags: Vec<(&'static str, &'a str)>,
    words: Vec<&'a str>,
}

impl<'a> Given<'a> {
    fn value(&self, long: &str) -> Option<&'a str> {
        self.flags.iter().find(|(l, _)| *l == long).map(|(_, v)| *v)
    }

    fn switch(&self, long: &str) -> bool {
        self.value(long).is_some()
    }

    fn path(&self, long: &str) -> Option<PathBuf> {
        self.value(long).map(PathBuf::from)
    }
}

/// Read `args` (the program's name first), or `None`: then clap parses it.
pub(super) fn parse(args: &[OsString]) -> Option<Cli> {
    if STAND_INS.iter().any(|name| std::env::var_os(name).is_some()) {
        return None;
    }
    let args: Vec<&str> = args.iter().skip(1).map(|a| a.to_str()).collect::<Option<_>>()?;
    let given = read(&args)?;
    let (verb, words) = given.words.split_first()?;
    let log_format = match given.value("log-format") {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(_) => return None,
    };
    let global = Global {
        root: given.path("root").unwrap_or_else(crate::paths::state_root),
        explain: given.switch("explain"),
        log: given.path("log"),
        log_format,
        debug: given.switch("debug"),
        systemd_cgroup: given.switch("systemd-cgroup"),
    };
    let preserve_fds = match given.value("preserve-fds") {
        None => 0,
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok()?,
        Some(_) => return None,
    };
    let bundle = given.path("bundle").unwrap_or_else(|| PathBuf::from("."));
    let cache = || given.path("cache").unwrap_or_else(crate::paths::base_cache);
    let id = |words: &[&str]| match words {
        [id] => Some(id.to_string()),
        _ => None,
    };
    let command = match *verb {
        "run" => Command::Run(RunArgs {
            bundle,
            config: given.path("config"),
            tty: given.switch("tty"),
            rootfs: None,
            pid_file: given.path("pid-file"),
            cache: cache(),
            detach: given.switch("detach"),
            console_socket: given.path("console-socket"),
            preserve_fds,
            network: Default::default(),
            limits: Default::default(),
            strict_limits: false,
            id: match words {
                [] => None,
                [id] => Some(id.to_string()),
                _ => return None,
            },
            image: None,
            store: crate::paths::store(),
            env: Vec::new(),
            workdir: None,
            user: None,
            command: Vec::new(),
            pull: None,
            docker: Default::default(),
        }),
        "create" => Command::Create(CreateArgs {
            bundle,
            pid_file: given.path("pid-file"),
            console_socket: given.path("console-socket"),
            preserve_fds,
            no_pivot: given.switch("no-pivot"),
            no_new_keyring: given.switch("no-new-keyring"),
            cache: cache(),
            network: Default::default(),
            strict_limits: false,
            id: id(words)?,
        }),
        "start" => Command::Start(IdArg { id: id(words)? }),
        "state" => Command::State(IdArg { id: id(words)? }),
        "kill" => {
            let (id, signal) = match words {
                [id] => (id, "TERM"),
                [id, signal] => (id, *signal),
                _ => return None,
            };
            Command::Kill(KillArgs { all: given.switch("all"), id: id.to_string(), signal: signal.to_string() })
        }
        "delete" => Command::Delete(DeleteArgs { force: given.switch("force"), id: id(words)? }),
        _ => return None,
    };
    Some(Cli { global, command })
}

/// Split `args` into flags and words: global flags anywhere, the verb's after it. `None` at the first thing
/// this reader does not take.
fn read<'a>(args: &[&'a str]) -> Option<Given<'a>> {
    let mut given = Given::default();
    let mut verb_flags: &[Flag] = &[];
    let mut rest = args.iter();
    while let Some(&arg) = rest.next() {
        let (name, inline) = if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((name, value)) => (Some(name), Some(value)),
                None => (Some(long), None),
            }
        } else if arg.starts_with('-') {
            let mut chars = arg.chars().skip(1);
            let (Some(short), None) = (chars.next(), chars.next()) else {
                return None;
            };
            let known = verb_flags.iter().find(|f| f.short == Some(short))?;
            (Some(known.long), None)
        } else {
            (None, None)
        };
        let Some(name) = name else {
            if given.words.is_empty() {
                verb_flags = self::verb_flags(arg)?;
            }
            given.words.push(arg);
            continue;
        };
        let known = GLOBAL.iter().chain(verb_flags).find(|f| f.long == name)?;
        let value = match (known.value, inline) {
            (true, Some(value)) => value,
            (true, None) => rest.next()?,
            (false, None) => "",
            (false, Some(_)) => return None,
        };
        let looks_like_a_flag = known.value && (value.is_empty() || value.starts_with('-'));
        if looks_like_a_flag || given.switch(known.long) {
            return None;
        }
        given.flags.push((known.long, value));
    }
    Some(given)
}
