//! Bad configs, through the real binary: each names the file, line:column, the field and what is
//! allowed; containy exits 125 and leaves nothing behind. (The config module's unit tests cover many more.)

mod common;

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
        &["configy.toml:4:10: resources.memory:", "e.g. 512M"],
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
