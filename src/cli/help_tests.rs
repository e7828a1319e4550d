//! `--help` is the first documentation a user reads: every verb, flag and positional argument says what it is.

use clap::{CommandFactory, Parser};

use super::Cli;

/// The whole command tree, built: the verbs' arguments are deferred (`#[command(defer = true)]`, so a run
/// builds only its own verb's) and exist only after `build`.
fn built() -> clap::Command {
    let mut cli = Cli::command();
    cli.build();
    cli
}

/// Every argument of every verb (nested too) has a description, positional ones included.
#[test]
fn every_argument_is_described() {
    let mut missing = Vec::new();
    let mut stack = vec![(String::from("containy"), built())];
    while let Some((path, cmd)) = stack.pop() {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} {}", arg.get_value_names().map_or(id.to_string(), |n| n[0].to_string())));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_about().is_none() && sub.get_name() != "help" {
                missing.push(format!("{path} {} (the verb)", sub.get_name()));
            }
            stack.push((format!("{path} {}", sub.get_name()), sub.clone()));
        }
    }
    missing.sort();
    assert!(missing.is_empty(), "undescribed in --help:\n{}", missing.join("\n"));
}

/// `--format` is one checked value, the same on every verb that prints a table or JSON.
#[test]
fn format_is_the_same_checked_value_on_list_ps_stats_and_inspect() {
    let cli = built();
    for verb in ["list", "ps", "stats", "inspect"] {
        let cmd = cli.find_subcommand(verb).unwrap_or_else(|| panic!("no verb {verb}"));
        let format =
            cmd.get_arguments().find(|a| a.get_id() == "format").unwrap_or_else(|| panic!("{verb}: no --format"));
        let values: Vec<String> = format.get_possible_values().iter().map(|v| v.get_name().to_string()).collect();
        assert_eq!(values, ["table", "json"], "{verb}");
        assert_eq!(format.get_long(), Some("format"), "{verb}");
        assert_eq!(format.get_short(), Some('f'), "{verb}");
    }
    for verb in ["list", "ps", "stats", "inspect"] {
        let args: Vec<&str> = match verb {
            "list" => vec!["containy", verb, "--format", "yaml"],
            _ => vec!["containy", verb, "--format", "yaml", "ID"],
        };
        let err = Cli::try_parse_from(args).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue, "{verb}");
    }
}

/// A verb's about is its variant's doc comment: a flattened or wrapped `Args` struct's own doc comment must
/// not replace it when the deferred arguments are built (clap applies the struct's attributes last then).
#[test]
fn every_verb_keeps_its_own_about_once_built() {
    let shells = Cli::command();
    let built = built();
    let mut changed = Vec::new();
    for sub in built.get_subcommands().filter(|s| s.get_name() != "help") {
        let shell = shells.find_subcommand(sub.get_name()).map(|s| s.get_about().map(ToString::to_string));
        let now = sub.get_about().map(ToString::to_string);
        if shell != Some(now.clone()) || sub.get_long_about().is_some() {
            changed.push(format!("{}: {shell:?} became {now:?} (long: {:?})", sub.get_name(), sub.get_long_about()));
        }
    }
    assert!(changed.is_empty(), "{}", changed.join("\n"));
}

/// A command line as the program receives it.
fn words(line: &str) -> Vec<std::ffi::OsString> {
    line.split(' ').map(Into::into).collect()
}

/// The one-verb parse (`Cli::parse_args`) reads what the whole command reads — global flags before and after
/// the verb, `=` values, aliases — and is taken for the command lines engines send on every container.
#[test]
fn the_one_verb_parse_reads_what_the_whole_command_reads() {
    let lines = [
        "containy --root /r --log /l --log-format json create --bundle /b --pid-file /p c1",
        "containy --root=/r start c1",
        "containy run --root /r --bundle /b --explain c2",
        "containy --systemd-cgroup --debug exec --pid-file /p --process /x c1",
        "containy exec c1 sh -c 'ls --root'",
        "containy run --bundle /b c3 -- ls --root /x",
        "containy ls --format json",
        "containy --root /r delete --force c1",
        "containy --root /r kill c1 KILL",
    ];
    for line in lines {
        let args = words(line);
        // The one-verb parse itself: `parse_from_args` gives most of these lines to the plain reader first.
        let mut one_verb = Cli::one_verb_command(&args).unwrap_or_else(|| panic!("{line}: not taken"));
        let mut matches = one_verb.try_get_matches_from_mut(&args).unwrap();
        let fast = format!("{:?}", <Cli as clap::FromArgMatches>::from_arg_matches_mut(&mut matches).unwrap());
        let whole = format!("{:?}", Cli::try_parse_from(&args).unwrap());
        assert_eq!(fast, whole, "{line}");
        assert_eq!(format!("{:?}", Cli::parse_from_args(args.clone()).unwrap()), whole, "{line}");
    }
    for line in
        ["containy", "containy --version", "containy --root", "containy help run", "containy -x run", "containy runn"]
    {
        let args = words(line);
        let fast = Cli::parse_from_args(args.clone()).map(|c| format!("{c:?}")).map_err(|e| e.to_string());
        let whole = Cli::try_parse_from(&args).map(|c| format!("{c:?}")).map_err(|e| e.to_string());
        assert_eq!(fast, whole, "{line}");
    }
}

/// A verb the one-verb parse builds alone is the verb the whole command holds: the same flags, the same
/// settings, no alias lost — so a variant attribute added later cannot make the two parses differ.
#[test]
fn a_plain_verb_built_alone_is_the_verb_of_the_whole_command() {
    // Both built the way a parse builds them (the derive defers a verb's flags until then), the texts and
    // the position in `--help` aside.
    fn built(verb: clap::Command) -> String {
        let name = verb.get_name().to_string();
        let mut top = clap::Command::new("containy").subcommand(verb.about(None).long_about(None).display_order(0));
        top.build();
        format!("{:#?}", top.find_subcommand(&name).unwrap())
    }
    let full = Cli::command();
    let mut plain = 0;
    for sub in full.get_subcommands() {
        let Some(alone) = super::Command::plain(sub.get_name()) else { continue };
        plain += 1;
        assert_eq!(built(alone), built(sub.clone()), "{}", sub.get_name());
    }
    assert_eq!(plain, 13, "every verb Command::plain names is a verb of the whole command");
}

/// Whatever the plain reader (`cli::plain`) takes, clap reads the same: lines engines send, and a few
/// thousand lines drawn from their words and from words it must leave to clap.
#[test]
fn what_the_plain_reader_takes_clap_reads_the_same() {
    let set: Vec<_> = super::plain::STAND_INS.iter().filter(|name| std::env::var_os(name).is_some()).collect();
    assert!(set.is_empty(), "unset {set:?} to run this test: the reader leaves such lines to clap, which reads them");
    let taken = [
        "containy --root /r --log /l --log-format json create --bundle /b --pid-file /p c1",
        "containy --root=/r start c1",
        "containy --root /r state c1",
        "containy --root /r kill c1 KILL",
        "containy --root /r kill --all c1 9",
        "containy --root /r delete --force c1",
        "containy --root /r delete -f c1",
        "containy run --root /r --bundle /b --explain c2",
        "containy --root /r run -b /b -d --pid-file /p c3",
        "containy run --bundle=/b",
        "containy create --bundle /b --console-socket /s --preserve-fds 2 --no-pivot --no-new-keyring c1",
        "containy --systemd-cgroup --debug --log-format text start c1",
        "containy --root /r run --cache /c --config /b/configy.toml -t c4",
        "containy create -b /b --cache=/c c5",
    ];
    for line in taken {
        let args = words(line);
        let plain = super::plain::parse(&args).unwrap_or_else(|| panic!("{line}: not taken"));
        let clap = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(format!("{plain:?}"), format!("{clap:?}"), "{line}");
    }
    let words = [
        "run",
        "create",
        "start",
        "state",
        "kill",
        "delete",
        "exec",
        "ls",
        "help",
        "c1",
        "c2",
        "KILL",
        "-9",
        "--root",
        "/r",
        "--root=/r",
        "--log",
        "--log-format",
        "json",
        "xml",
        "--log-format=json",
        "--debug",
        "--explain",
        "--systemd-cgroup",
        "--bundle",
        "-b",
        "/b",
        "--bundle=",
        "--pid-file",
        "-d",
        "--detach",
        "--detach=1",
        "--console-socket",
        "--preserve-fds",
        "3",
        "+3",
        "-1",
        "--no-pivot",
        "--no-new-keyring",
        "--all",
        "-a",
        "--force",
        "-f",
        "-df",
        "--tty",
        "--",
        "-",
        "--image",
        "x",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut taken = 0;
    for _ in 0..100_000 {
        let len = 1 + next() % 7;
        let mut line = vec!["containy"];
        for _ in 0..len {
            line.push(words[(next() % words.len() as u64) as usize]);
        }
        let args: Vec<std::ffi::OsString> = line.iter().map(Into::into).collect();
        let Some(plain) = super::plain::parse(&args) else { continue };
        taken += 1;
        let clap =
            Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{}: taken, but clap says {e}", line.join(" ")));
        assert_eq!(format!("{plain:?}"), format!("{clap:?}"), "{}", line.join(" "));
    }
    assert!(taken > 1_000, "only {taken} lines taken: the draw does not exercise the reader");
}

/// Every variable clap reads in place of a flag of the verbs the plain reader takes (or of a global flag)
/// sends the line to clap: the reader never reads one itself.
#[test]
fn the_plain_reader_leaves_every_stand_in_variable_to_clap() {
    let mut full = Cli::command();
    full.build();
    let verbs = ["run", "create", "start", "state", "kill", "delete"];
    let args = full.get_arguments().chain(verbs.iter().flat_map(|v| full.find_subcommand(v).unwrap().get_arguments()));
    for arg in args {
        if let Some(name) = arg.get_env() {
            let name = name.to_str().unwrap();
            assert!(super::plain::STAND_INS.contains(&name), "--{}: {name} is not in plain::STAND_INS", arg.get_id());
        }
    }
}
