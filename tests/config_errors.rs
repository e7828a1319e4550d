//! Bad configs, through the real binary: each names the file, line:column, the field and what is
//! allowed; containy exits 125 and leaves nothing behind. (The config module's unit tests cover many more.)

mod common;

use std::process::Command;

use common::{Bundle, stderr};

/// (config, what the error must contain).
const CASES: &[(&str, &[&str])] = &[
    ("hostnmae = \"x\"\n", &["configy.toml:1:1:", "unknown field `hostnmae`", "expected one of `hostname`"]),
    ("[process]\nargs = []\n", &["configy.toml:2:8: process.args:", "the command is empty"]),
    (
        "[process]\nargs = [\"sh\"]\nuser = { uid = \"root\" }\n",
        &["configy.toml:3:16: process.user.uid:", "expected a number"],
    ),
    (
        "[process]\nargs = [\"sh\"]\n[resources]\nmemory = \"12Q\"\n",
        &["configy.toml:4:10: resources.memory:", "K, M, G or T", "512MB and 512MiB mean the same"],
    ),
    ("[process]\nargs = [\"sh\"]\n[resources]\npids = -5\n", &["configy.toml:4:8: resources.pids:", "at least 1"]),
    (
        "network = \"bridg\"\n[process]\nargs = [\"sh\"]\n",
        &["configy.toml:1:11: network:", "unknown network mode \"bridg\"", "\"bridge\""],
    ),
    ("[process]\nargs = [\"sh\"]\ncwd = \"tmp\"\n", &["configy.toml:3:7: process.cwd:", "absolute path"]),
    (
        "[process]\nargs = [\"sh\"]\n[[mounts]]\nsource = \"x\"\ndestination = \"../etc\"\n",
        &["configy.toml:5:15: mounts[0].destination:", "absolute path"],
    ),
    (
        "[process]\nargs = [\"sh\"]\n[process.capabilities]\nadd = [\"CAP_FLY\"]\n",
        &["configy.toml:4:", "process.capabilities.add[0]:", "man 7 capabilities"],
    ),
    (
        "[process]\nargs = [\"sh\"]\n[rootfs]\npath = \"a\"\ntarball = \"b.tar\"\n",
        &["configy.toml:5:1: rootfs.tarball:", "exactly one"],
    ),
    ("[process]\ncwd = \"/\"\n", &["configy.toml: process.args: missing field `args`", "required"]),
];

#[test]
fn bad_configs_name_file_line_field_and_what_is_allowed() {
    for (config, needles) in CASES {
        let bundle = Bundle::empty();
        std::fs::write(bundle.path().join("configy.toml"), config).unwrap();
        let out = bundle.run();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(125), "config:\n{config}\nstderr: {err}");
        for needle in *needles {
            assert!(err.contains(needle), "config:\n{config}\nexpected {needle:?} in: {err}");
        }
        assert!(!bundle.state_root.join(&bundle.id).exists());
    }
}

#[test]
fn a_bundle_without_a_config_says_which_files_were_looked_for() {
    let bundle = Bundle::empty();
    let out = bundle.run();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    for name in ["configy.toml", "configy.json", "config.json"] {
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn a_missing_rootfs_names_the_path_and_the_fix() {
    let bundle = Bundle::empty();
    std::fs::write(
        bundle.path().join("configy.toml"),
        "[process]\nargs = [\"sh\"]\n[rootfs]\ntarball = \"debian.tar.gz\"\n",
    )
    .unwrap();
    let out = bundle.run();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(err.contains("debian.tar.gz") && err.contains("make extract"), "{err}");
}

#[test]
fn every_unknown_key_is_reported_with_its_position_and_a_suggestion() {
    let bundle = Bundle::empty();
    let config = "hostnmae = \"x\"\n[process]\nargs = [\"sh\"]\ncdw = \"/\"\n[resources]\nmemroy = \"1G\"\npids = 5\n";
    std::fs::write(bundle.path().join("configy.toml"), config).unwrap();
    let out = bundle.run();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    for needle in [
        "configy.toml:1:1: unknown field `hostnmae` (did you mean `hostname`?)",
        "configy.toml:4:1: process: unknown field `cdw` (did you mean `cwd`?)",
        "configy.toml:6:1: resources: unknown field `memroy` (did you mean `memory`?)",
    ] {
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
    }
    assert_eq!(err.matches("unknown field").count(), 3, "{err}");
    assert!(!bundle.state_root.join(&bundle.id).exists());
}

#[test]
fn a_toml_syntax_error_is_reported_on_its_own_line() {
    let bundle = Bundle::empty();
    std::fs::write(bundle.path().join("configy.toml"), "[process]\nargs = [\"sh\",\n  \"-c\"\n  \"echo hi\"]\n")
        .unwrap();
    let err = stderr(&bundle.run());
    assert!(err.contains("configy.toml:3:7: missing comma"), "{err}");
}

#[test]
fn a_missing_bundle_directory_is_not_called_a_missing_config() {
    let bundle = Bundle::empty();
    let gone = bundle.path().join("no-such-bundle");
    let out = bundle.containy(&["run", "--bundle", gone.to_str().unwrap(), &bundle.id]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(err.contains(&format!("bundle {} does not exist", gone.display())), "{err}");
    assert!(!err.contains("no config"), "{err}");
}

/// Each cause is printed once: a message never repeats the source the chain prints after it.
#[test]
fn an_error_prints_its_cause_once() {
    let bundle = Bundle::empty();
    std::fs::create_dir(bundle.path().join("configy.toml")).unwrap();
    let err = stderr(&bundle.run());
    assert!(err.starts_with("containy: error: cannot read "), "{err}");
    assert_eq!(err.matches("Is a directory (os error 21)").count(), 1, "{err}");

    // Deeper: the state root's mkdir fails below the runtime's error.
    let bundle = Bundle::friendly("[process]\nargs = [\"true\"]\n[rootfs]\npath = \"@ROOTFS@\"\n");
    let out = Command::new(common::CONTAINY)
        .args(["--root", "/dev/null/containy", "run", "--bundle"])
        .arg(bundle.path())
        .arg(&bundle.id)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(err.contains("/dev/null/containy"), "{err}");
    assert_eq!(err.matches("Not a directory (os error 20)").count(), 1, "{err}");
}

/// 2: the command line could not be parsed; 125: containy failed; neither is the container's code.
#[test]
fn usage_errors_and_runtime_errors_have_their_own_exit_codes() {
    for args in [&["run", "--no-such-flag"][..], &["no-such-verb"], &["start"], &["list", "--format", "yaml"]] {
        let out = Command::new(common::CONTAINY).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("error: "), "{args:?}: {}", stderr(&out));
    }
    let help = Command::new(common::CONTAINY).arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    let bundle = Bundle::empty();
    let out = bundle.containy(&["start", "no-such-container"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
}
