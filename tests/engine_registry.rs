//! `docker pull` through `containy serve`: the engine's `POST /images/create` uses containy's own registry
//! client, against Debian's registry started by the test on 127.0.0.1 (plain HTTP, as dockerd allows on the
//! loopback).

mod common;
mod engine_daemon;
mod registry_env;

use std::process::Command;

use engine_daemon::{Daemon, docker_cli};
use registry_env::Registry;

#[test]
fn docker_pull_fetches_from_a_registry_and_the_image_runs() {
    require_root!();
    if docker_cli().is_none() {
        return;
    }
    let registry = Registry::plain();
    let daemon = Daemon::start();
    let reference = format!("{}/team/busybox:1", registry.host());
    // The daemon's store has busybox:latest: containy pushes it into the registry, then docker pulls it back.
    let out = Command::new(common::CONTAINY)
        .args(["image", "push", "--tls-verify=false", "--store"])
        .arg(daemon.path("store"))
        .args(["busybox:latest", &reference])
        .output()
        .unwrap();
    assert!(out.status.success(), "push: {}", common::stderr(&out));

    let pulled = daemon.ok(&["pull", &reference]);
    assert!(pulled.contains(&format!("Downloaded newer image for {reference}")), "{pulled}");
    assert!(daemon.ok(&["images"]).contains(&format!("{}/team/busybox", registry.host())));
    assert_eq!(daemon.ok(&["run", "--rm", &reference, "echo", "pulled"]), "pulled\n");

    let missing = daemon.docker(&["pull", &format!("{}/team/nothing:1", registry.host())]);
    assert!(!missing.status.success());
    let err = common::stderr(&missing);
    assert!(err.contains("team/nothing"), "the error names the reference: {err}");
    daemon.assert_clean(&[]);
}
