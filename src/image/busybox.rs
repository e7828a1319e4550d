//! The busybox base: a root filesystem of one static binary (`busybox-static`) and a symlink per applet,
//! written as `bundle/busybox.tar.gz` — what `make bundle/busybox.tar.gz` makes, done by containy itself so
//! `containy lesson NAME` works straight after `make run` (which makes only the Debian base).
//!
//! The tarball is written under a temporary name next to its destination and renamed into place, so an
//! interrupted run leaves no half tarball that a later run would take for the base.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::ImageError;
use crate::error::IoError;

/// Where Debian's `busybox-static` puts the binary (`/bin` is `/usr/bin` on merged-/usr systems).
const BUSYBOX: [&str; 2] = ["/bin/busybox", "/usr/bin/busybox"];

/// The directories every root needs (mount points for /proc, /sys, /dev; a writable /tmp), and their modes.
const DIRS: [(&str, u32); 7] =
    [("bin", 0o755), ("etc", 0o755), ("proc", 0o555), ("sys", 0o555), ("dev", 0o755), ("tmp", 0o1777), ("root", 0o700)];

/// Write the busybox base tarball to `out` (which must not exist yet).
pub fn make_busybox_base(out: &Path) -> Result<(), ImageError> {
    let busybox = BUSYBOX.iter().map(PathBuf::from).find(|p| p.is_file()).ok_or_else(|| {
        ImageError::Usage(format!(
            "cannot make {}: busybox is not installed (apt-get install busybox-static, or ./install.sh)",
            out.display()
        ))
    })?;
    let list = Command::new(&busybox).arg("--list").output().map_err(IoError::on("run --list of", &busybox))?;
    let applets = String::from_utf8_lossy(&list.stdout);
    let binary = std::fs::read(&busybox).map_err(IoError::on("read", &busybox))?;

    let tmp = out.with_file_name(format!(
        ".{}.{}",
        out.file_name().map_or("busybox.tar.gz".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let result = write_tarball(&tmp, &binary, applets.lines().map(str::trim).filter(|a| !a.is_empty()));
    let result = result.and_then(|()| std::fs::rename(&tmp, out).map_err(IoError::on("rename into place", out)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(result?)
}

fn write_tarball<'a>(path: &Path, binary: &[u8], applets: impl Iterator<Item = &'a str>) -> Result<(), IoError> {
    let io = |op| IoError::on(op, path);
    let file = std::fs::File::create(path).map_err(io("create"))?;
    let mut tar = tar::Builder::new(GzEncoder::new(file, Compression::default()));
    let header = |kind: tar::EntryType, mode: u32, size: usize| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(size as u64);
        h
    };
    for (dir, mode) in DIRS {
        let mut h = header(tar::EntryType::Directory, mode, 0);
        tar.append_data(&mut h, format!("{dir}/"), std::io::empty()).map_err(io("write"))?;
    }
    let mut h = header(tar::EntryType::Regular, 0o755, binary.len());
    tar.append_data(&mut h, "bin/busybox", binary).map_err(io("write"))?;
    for applet in applets.filter(|a| *a != "busybox" && !a.contains('/')) {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox").map_err(io("write"))?;
    }
    for (name, text) in [("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), ("etc/group", "root:x:0:\n")] {
        let mut h = header(tar::EntryType::Regular, 0o644, text.len());
        tar.append_data(&mut h, name, text.as_bytes()).map_err(io("write"))?;
    }
    let mut gz = tar.into_inner().map_err(io("write"))?;
    gz.flush().map_err(io("write"))?;
    gz.finish().map_err(io("write"))?.sync_all().map_err(io("fsync"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_has_busybox_its_applets_and_a_root_user() {
        if !BUSYBOX.iter().any(|p| Path::new(p).is_file()) {
            eprintln!("skipped: busybox-static is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("busybox.tar.gz");
        make_busybox_base(&out).unwrap();
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        assert_eq!(names, ["busybox.tar.gz"], "a temporary file was left");
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(&out).unwrap()));
        let mut entries = std::collections::BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let link = entry.link_name().unwrap().map(|l| l.display().to_string());
            entries.insert(entry.path().unwrap().display().to_string(), (entry.header().mode().unwrap(), link));
        }
        assert_eq!(entries["bin/busybox"].0, 0o755);
        assert_eq!(entries["bin/sh"].1.as_deref(), Some("busybox"));
        assert_eq!(entries["tmp/"].0, 0o1777);
        assert!(entries.contains_key("etc/passwd") && entries.contains_key("proc/"), "{entries:?}");
    }
}
