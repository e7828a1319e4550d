//! A private image store and state root for the image and build tests, with their leak checks.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{self, CONTAINY, stderr, stdout};

/// A private image store and state root.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Default for Env {
    fn default() -> Self {
        Env { dir: tempfile::tempdir().unwrap() }
    }
}

impl Env {
    pub fn new() -> Env {
        Env::default()
    }
    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(CONTAINY);
        c.arg("--root").arg(self.state()).args(args).env("CONTAINY_STORE", self.store()).stdin(Stdio::null());
        c
    }
    /// Run to completion; returns the output and containy's pid (build containers are named after it).
    pub fn run(&self, args: &[&str]) -> (Output, u32) {
        let child = self.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let pid = child.id();
        (child.wait_with_output().unwrap(), pid)
    }
    pub fn ok(&self, args: &[&str]) -> String {
        let (out, pid) = self.run(args);
        assert!(out.status.success(), "containy {args:?}: {}{}", stdout(&out), stderr(&out));
        self.assert_no_leaks(pid);
        stdout(&out)
    }
    pub fn layers(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.store().join("layers"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }
    /// No store tmp dir, no mount under the temp dir, no container state, no cgroup of a container this
    /// containy process made.
    pub fn assert_no_leaks(&self, pid: u32) {
        let tmp = self.store().join("tmp");
        if tmp.exists() {
            let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
            assert!(left.is_empty(), "store tmp dirs left: {left:?}");
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = self.dir.path().display().to_string();
        let leaked: Vec<_> = mountinfo.lines().filter(|l| l.contains(&root)).collect();
        assert!(leaked.is_empty(), "leaked mounts: {leaked:#?}");
        if let Ok(entries) = std::fs::read_dir(self.state()) {
            let left: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
            assert!(left.is_empty(), "container state left: {left:?}");
        }
        // v2: /sys/fs/cgroup/containy-<id>; v1: /sys/fs/cgroup/<hierarchy>/containy-<id>.
        let mut hierarchies = vec![PathBuf::from("/sys/fs/cgroup")];
        hierarchies.extend(std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten().map(|e| e.path()));
        for hierarchy in hierarchies {
            if let Ok(entries) = std::fs::read_dir(&hierarchy) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let leaked = name.starts_with(&format!("containy-build-{pid}-"));
                    assert!(!leaked, "leaked cgroup {}", e.path().display());
                }
            }
        }
    }
    /// Every name points at a record, every record's layers exist.
    pub fn assert_consistent(&self) {
        let index: std::collections::BTreeMap<String, String> = match std::fs::read(self.store().join("index.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).expect("index.json is valid JSON"),
            Err(_) => Default::default(),
        };
        for (name, id) in index {
            let record = std::fs::read(self.store().join(format!("images/{id}.json"))).expect(&name);
            let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
            for layer in record["layers"].as_array().unwrap() {
                let dir = self.store().join("layers").join(layer.as_str().unwrap()).join("diff");
                assert!(dir.is_dir(), "{name}: layer {} missing", dir.display());
            }
        }
    }
}

/// The busybox rootfs of tests/common as a .tar.gz.
pub fn busybox_tarball(dir: &Path) -> PathBuf {
    let path = dir.join("busybox.tar.gz");
    let status =
        Command::new("tar").arg("-czf").arg(&path).arg("-C").arg(common::busybox_rootfs()).arg(".").status().unwrap();
    assert!(status.success());
    path
}
