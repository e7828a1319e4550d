//! The tar-slip class (see SECURITY-CASES.md), attacked through [`extract`]: names with `..` or `/`, symlinks
//! planted by the archive and then walked through, a `.` that is a symlink, hard links to files outside,
//! directories and files over planted symlinks. Every escape is aimed at a temp dir, never at the host's `/`,
//! so even a broken extractor cannot damage the machine running the tests.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::EntryType;

use super::{ExtractStats, ImageError, extract};

/// An archive built entry by entry; names and link targets are written raw, so `..` and `/` go in as-is.
pub(super) struct Archive(pub(super) tar::Builder<Vec<u8>>);

impl Archive {
    pub(super) fn new() -> Self {
        Archive(tar::Builder::new(Vec::new()))
    }
    pub(super) fn raw(&mut self, kind: EntryType, name: &str, link: &str, data: &[u8], mode: u32) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_000_000_000);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    pub(super) fn file(&mut self, name: &str, data: &str) -> &mut Self {
        self.raw(EntryType::Regular, name, "", data.as_bytes(), 0o644)
    }
    pub(super) fn dir(&mut self, name: &str) -> &mut Self {
        self.raw(EntryType::Directory, name, "", b"", 0o755)
    }
    pub(super) fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(EntryType::Symlink, name, target, b"", 0o777)
    }
    pub(super) fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(EntryType::Link, name, target, b"", 0o644)
    }
    pub(super) fn bytes(&mut self) -> Vec<u8> {
        let mut b = std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()));
        b.finish().unwrap();
        b.into_inner().unwrap()
    }
}

/// `<base>/t` is the target, so a `../x` escape would land in `<base>/x`, which the tests check. Every
/// escape a test tries is aimed at `<base>`, so even a broken extractor never writes into the host's `/`.
pub(super) fn setup() -> (tempfile::TempDir, PathBuf) {
    let base = tempfile::tempdir().unwrap();
    let target = base.path().join("t");
    std::fs::create_dir(&target).unwrap();
    (base, target)
}

pub(super) fn run(archive: &mut Archive, target: &Path) -> Result<ExtractStats, ImageError> {
    extract(&archive.bytes()[..], target)
}

pub(super) fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}
#[test]
fn dotdot_and_absolute_names_land_inside() {
    for name in ["../evil", "/evil", "a/../../evil", "a/b/../../../evil"] {
        let (base, t) = setup();
        run(Archive::new().file(name, "x"), &t).unwrap();
        assert!(!base.path().join("evil").exists(), "{name} escaped");
        assert_eq!(std::fs::read(t.join("evil")).unwrap(), b"x", "{name}");
    }
}

#[test]
fn a_symlink_to_an_outside_dir_does_not_carry_a_file_out() {
    let (base, t) = setup();
    let outside = base.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let abs = outside.to_str().unwrap();
    // The same absolute path does not exist inside the target: refused, or created inside — never outside.
    let result = run(Archive::new().symlink("link", abs).file("link/pwned", "x"), &t);
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "{result:?}");

    // When the archive made the path inside, the file goes there.
    let (base, t) = setup();
    let outside = base.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let abs = outside.to_str().unwrap();
    let mut a = Archive::new();
    a.dir(&abs[1..]).symlink("link", abs).file("link/pwned", "x");
    run(&mut a, &t).unwrap();
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert_eq!(std::fs::read(t.join(&abs[1..]).join("pwned")).unwrap(), b"x");
}

#[test]
fn symlinks_up_the_tree_stop_at_the_root() {
    let (base, t) = setup();
    let mut a = Archive::new();
    a.symlink("up", "..").file("up/escaped", "1");
    a.symlink("way/up", "../..").file("way/up/escaped2", "2");
    run(&mut a, &t).unwrap();
    for name in ["escaped", "escaped2"] {
        assert!(!base.path().join(name).exists(), "{name} escaped");
        assert!(t.join(name).is_file(), "{name} missing inside");
    }
}

#[test]
fn a_dot_entry_that_is_a_symlink_is_ignored() {
    let (base, t) = setup();
    let outside = base.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let mut a = Archive::new();
    a.symlink(".", outside.to_str().unwrap()).symlink("./", "..").file("x", "x");
    let stats = run(&mut a, &t).unwrap();
    assert_eq!(stats.skipped, 2);
    assert!(std::fs::symlink_metadata(&t).unwrap().is_dir());
    assert!(t.join("x").is_file());
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn hard_links_cannot_reach_outside_files() {
    let (base, t) = setup();
    let sentinel = base.path().join("sentinel");
    std::fs::write(&sentinel, "host secret").unwrap();
    let abs = sentinel.to_str().unwrap().to_string();
    let outside_dir = base.path().to_str().unwrap().to_string();
    let cases: [&dyn Fn(&mut Archive) -> &mut Archive; 4] = [
        &|a| a.hardlink("h", "../sentinel"),
        &|a| a.hardlink("h", &abs),
        &|a| a.symlink("evil", &outside_dir).hardlink("h", "evil/sentinel"),
        &|a| a.symlink("up", "..").hardlink("h", "up/../sentinel"),
    ];
    for (i, case) in cases.iter().enumerate() {
        let _ = std::fs::remove_dir_all(&t);
        std::fs::create_dir(&t).unwrap();
        let result = run(case(&mut Archive::new()), &t);
        let meta = std::fs::metadata(&sentinel).unwrap();
        assert_eq!(meta.nlink(), 1, "case {i} linked the host file: {result:?}");
        if let Err(e) = result {
            assert!(e.to_string().contains("entry \"h\""), "{e}");
        }
    }
    assert_eq!(std::fs::read(&sentinel).unwrap(), b"host secret");
}

#[test]
fn planted_symlinks_are_replaced_not_followed() {
    let (base, t) = setup();
    let outside = base.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o700)).unwrap();
    let victim = base.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let mut a = Archive::new();
    a.symlink("d", outside.to_str().unwrap())
        .raw(EntryType::Directory, "d", "", b"", 0o777)
        .file("d/f", "inside")
        .symlink("s", victim.to_str().unwrap())
        .file("s", "overwritten?")
        .symlink("l", victim.to_str().unwrap())
        .hardlink("l2", "l");
    run(&mut a, &t).unwrap();
    assert_eq!(mode(&outside), 0o700);
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert!(std::fs::symlink_metadata(t.join("d")).unwrap().is_dir());
    assert_eq!(mode(&t.join("d")), 0o777);
    assert_eq!(std::fs::read(t.join("d/f")).unwrap(), b"inside");
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    assert_eq!(std::fs::read(t.join("s")).unwrap(), b"overwritten?");
    // A hard link to a symlink links the symlink itself, as GNU tar does.
    assert!(std::fs::symlink_metadata(t.join("l2")).unwrap().is_symlink());
    assert_eq!(std::fs::metadata(&victim).unwrap().nlink(), 1);
}
