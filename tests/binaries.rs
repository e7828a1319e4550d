//! The two binaries (src/handover.rs): `containy`, the runtime, links neither the daemon nor the registry
//! client, and hands the commands that need them over to `containy-engine` next to it.

mod common;

use std::process::Command;

use common::{CONTAINY, stderr};

const ENGINE: &str = env!("CARGO_BIN_EXE_containy-engine");

/// The crates of the daemon and the registry client.
const NETWORK_CRATES: [&str; 5] = ["tokio", "hyper", "rustls", "ureq", "ring"];

/// How many defined symbols of `binary` come from each crate of `NETWORK_CRATES`.
fn network_symbols(binary: &str) -> Vec<(&'static str, usize)> {
    let out = Command::new("nm").args(["--defined-only", binary]).output().expect("nm (binutils) runs");
    assert!(out.status.success(), "nm {binary}: {}", stderr(&out));
    let symbols = String::from_utf8_lossy(&out.stdout);
    NETWORK_CRATES
        .iter()
        .map(|krate| {
            // A path in the crate, mangled (legacy scheme): `_ZN5tokio…`.
            let prefix = format!("_ZN{}{krate}", krate.len());
            (*krate, symbols.lines().filter(|l| l.contains(&prefix)).count())
        })
        .collect()
}

#[test]
fn the_runtime_binary_links_no_daemon_and_no_registry_client() {
    let runtime = network_symbols(CONTAINY);
    assert!(runtime.iter().all(|(_, n)| *n == 0), "containy links network code: {runtime:?}");
    // The same count finds them where they are: the check can fail.
    let engine = network_symbols(ENGINE);
    assert!(engine.iter().all(|(_, n)| *n > 0), "containy-engine lacks a crate it should link: {engine:?}");
}

#[test]
fn the_engine_verbs_are_handed_over_and_say_so() {
    let store = tempfile::tempdir().unwrap();
    let narrated = Command::new(CONTAINY)
        .args(["--explain", "pull", "--tls-verify=false", "127.0.0.1:1/nothing-listens-here"])
        .env("CONTAINY_STORE", store.path())
        .output()
        .unwrap();
    let err = stderr(&narrated);
    assert!(err.contains("hand the command over") && err.contains(ENGINE), "{err}");
    // containy-engine did the pull: it tried the registry (and found nothing listening).
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert_eq!(narrated.status.code(), Some(125), "{err}");
}

#[test]
fn a_containy_without_its_engine_says_what_is_missing_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lonely = dir.path().join("containy");
    std::fs::copy(CONTAINY, &lonely).unwrap();
    let store = dir.path().join("store");
    for args in [&["pull", "busybox"][..], &["login", "-u", "u", "-p", "p", "127.0.0.1:1"], &["serve"]] {
        let out = Command::new(&lonely).args(args).env("CONTAINY_STORE", &store).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert!(
            err.contains("needs containy-engine") && err.contains(&*dir.path().to_string_lossy()),
            "{args:?}: {err}"
        );
    }
    assert!(!store.exists(), "a refused hand-over wrote the store");
    // The runtime's own verbs need no engine.
    let out = Command::new(&lonely).args(["spec", "--bundle"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}
