//! Whiteouts: how a layer says "this file of the layers below is gone", in the two forms that exist.
//!
//! In an image's layer tarball (OCI image spec, "Whiteouts") a deleted `dir/name` is an empty entry
//! `dir/.wh.name`, and a directory whose lower contents are all hidden holds `dir/.wh..wh..opq`. overlayfs
//! (`Documentation/filesystems/overlayfs.rst`) says the same with a character device `0:0` named `name`, and with
//! the xattr `trusted.overlay.opaque=y` on the directory. The store keeps layers in overlay's form, so a layer
//! directory is usable as a `lowerdir` as is; [`apply`] converts while extracting, [`write_layer_tar`] converts
//! back when exporting. A whiteout's parent is resolved inside the layer like any entry (`RESOLVE_IN_ROOT`), and
//! the name it deletes must be a plain name — never `.`, `..` or empty — so no whiteout reaches outside.
//!
//! Order inside one layer: a whiteout only hides what is *below*; a real entry of the same name in the same layer
//! wins, whichever comes first in the archive.

use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag, makedev, mknodat};

use super::extract::ExtractStats;
use super::resolve::{Failed, Root, split_parent};

const PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// The opaque mark as the overlay that will read this store sees it: `trusted.*` for root; in a user
/// namespace (rootless) overlay is mounted with `userxattr` and reads `user.overlay.opaque` instead.
pub fn opaque_xattr() -> &'static str {
    if crate::sys::in_initial_user_namespace() { OPAQUE_XATTR } else { "user.overlay.opaque" }
}

/// If `path` (normalised) is a whiteout entry, turn it into overlay form and return the outcome; `None` for
/// ordinary entries.
pub(super) fn apply(root: &mut Root, path: &[u8], stats: &mut ExtractStats) -> Option<Result<(), Failed>> {
    let (parent, name) = split_parent(path);
    if name == OPAQUE {
        return Some(make_opaque(root, parent));
    }
    let hidden = name.strip_prefix(PREFIX)?;
    // `.wh..wh.*` are aufs' own bookkeeping entries (hard link dirs); `.wh.`, `.wh..` and `.wh...` name nothing
    // that could be deleted inside the layer.
    if hidden.starts_with(PREFIX) || matches!(hidden, b"" | b"." | b"..") {
        stats.skipped += 1;
        return Some(Ok(()));
    }
    Some(make_whiteout(root, parent, hidden).map(|made| {
        if made {
            stats.files += 1;
        } else {
            stats.skipped += 1;
        }
    }))
}

/// `mknodat(parent, name, S_IFCHR, 0:0)` unless this layer already has `name`.
fn make_whiteout(root: &mut Root, parent: &[u8], name: &[u8]) -> Result<bool, Failed> {
    let dir = root.dir(parent)?;
    match mknodat(dir, name, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)) {
        Ok(()) => Ok(true),
        Err(Errno::EEXIST) => Ok(false),
        Err(errno) => Err(Failed("mknodat whiteout (needs CAP_MKNOD)", errno)),
    }
}

fn make_opaque(root: &mut Root, dir: &[u8]) -> Result<(), Failed> {
    // Created on demand like any parent; then opened for real (fsetxattr refuses O_PATH descriptors).
    root.dir(dir)?;
    let fd = root
        .open_in_root(dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW)
        .map_err(|errno| Failed("openat2 opaque directory", errno))?;
    crate::sys::fsetxattr(std::os::fd::AsFd::as_fd(&fd), opaque_xattr(), b"y").map_err(|e| {
        Failed(
            "setxattr overlay.opaque (trusted.* needs CAP_SYS_ADMIN)",
            e.raw_os_error().map_or(Errno::EIO, Errno::from_raw),
        )
    })
}

/// Is this file an overlay whiteout (a character device 0:0)?
pub fn is_whiteout(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Write the layer directory `dir` as an OCI layer tarball: whiteouts back in `.wh.` form, hard links kept,
/// owners, modes and mtimes as they are. Entries are sorted, so the same tree always gives the same bytes.
pub fn write_layer_tar<W: Write>(dir: &Path, out: W) -> io::Result<W> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let mut links = std::collections::HashMap::new();
    append_tree(&mut builder, dir, Path::new(""), &mut links)?;
    builder.into_inner()
}

fn append_tree<W: Write>(
    b: &mut tar::Builder<W>,
    base: &Path,
    rel: &Path,
    links: &mut std::collections::HashMap<(u64, u64), std::path::PathBuf>,
) -> io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(base.join(rel))?.collect::<io::Result<Vec<_>>>()?;
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let name = rel.join(entry.file_name());
        let path = base.join(&name);
        let meta = std::fs::symlink_metadata(&path)?;
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        if is_whiteout(&meta) {
            let wh = rel.join(format!(".wh.{}", entry.file_name().to_string_lossy()));
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(0);
            h.set_mode(0o600);
            b.append_data(&mut h, &wh, io::empty())?;
        } else if meta.is_dir() {
            h.set_size(0);
            b.append_data(&mut h, &name, io::empty())?;
            if crate::sys::lgetxattr(&path, opaque_xattr())?.is_some_and(|v| v == b"y") {
                let mut o = tar::Header::new_gnu();
                o.set_entry_type(tar::EntryType::Regular);
                o.set_size(0);
                o.set_mode(0o600);
                o.set_mtime(meta.mtime() as u64);
                b.append_data(&mut o, name.join(".wh..wh..opq"), io::empty())?;
            }
            append_tree(b, base, &name, links)?;
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)?;
            h.set_size(0);
            b.append_link(&mut h, &name, &target)?;
        } else if meta.is_file() {
            if meta.nlink() > 1 {
                if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, &name, first)?;
                    continue;
                }
                links.insert((meta.dev(), meta.ino()), name.clone());
            }
            // A file capability (`ping`'s cap_net_raw) is part of the file: PAX carries it as tar does.
            if let Some(cap) = crate::sys::lgetxattr(&path, "security.capability")? {
                b.append_pax_extensions([("SCHILY.xattr.security.capability", cap.as_slice())])?;
            }
            b.append_data(&mut h, &name, std::fs::File::open(&path)?)?;
        }
        // Sockets, fifos and other devices do not belong in a layer: left out.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::extract::{Options, extract_with};
    use crate::image::slip_tests::{Archive, setup};

    fn layer(a: &mut Archive, t: &Path) -> Result<ExtractStats, crate::image::ImageError> {
        extract_with(&a.bytes()[..], t, Options { layer: true })
    }

    #[test]
    fn whiteouts_and_opaque_dirs_become_overlay_form() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: requires root");
            return;
        }
        let (_base, t) = setup();
        let mut a = Archive::new();
        a.file("etc/.wh.gone", "").dir("opq/").file("opq/.wh..wh..opq", "").file("kept", "x");
        a.file("same/.wh.f", "").file("same/f", "real").file("same/g", "real").file("same/.wh.g", "");
        layer(&mut a, &t).unwrap();
        let gone = std::fs::symlink_metadata(t.join("etc/gone")).unwrap();
        assert!(is_whiteout(&gone));
        assert_eq!(crate::sys::lgetxattr(&t.join("opq"), OPAQUE_XATTR).unwrap().as_deref(), Some(&b"y"[..]));
        assert!(!t.join("opq/.wh..wh..opq").exists() && !t.join("etc/.wh.gone").exists());
        // In one layer, the real entry wins whatever the order.
        assert_eq!(std::fs::read(t.join("same/f")).unwrap(), b"real");
        assert_eq!(std::fs::read(t.join("same/g")).unwrap(), b"real");

        // And back: the exported tar has the .wh. forms.
        let bytes = write_layer_tar(&t, Vec::new()).unwrap();
        let mut names = Vec::new();
        for e in tar::Archive::new(&bytes[..]).entries().unwrap() {
            names.push(e.unwrap().path().unwrap().display().to_string());
        }
        assert!(names.contains(&"etc/.wh.gone".to_string()), "{names:?}");
        assert!(names.contains(&"opq/.wh..wh..opq".to_string()), "{names:?}");
    }

    #[test]
    fn whiteouts_cannot_reach_outside_the_layer() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: requires root");
            return;
        }
        let (base, t) = setup();
        let victim = base.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let outside = base.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let mut a = Archive::new();
        a.file("../.wh.victim", "").file(".wh...", "").file("a/.wh...", "").file(".wh..", "");
        a.symlink("up", "..").file("up/.wh.victim", "");
        a.symlink("out", outside.to_str().unwrap()).file("out/.wh..wh..opq", "").file("out/.wh.x", "");
        let result = layer(&mut a, &t);
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep", "{result:?}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "{result:?}");
        assert_eq!(crate::sys::lgetxattr(&outside, OPAQUE_XATTR).unwrap(), None);
        assert_eq!(crate::sys::lgetxattr(base.path(), OPAQUE_XATTR).unwrap(), None);
        // `../.wh.victim` and `up/.wh.victim` mean `victim` at the layer's top.
        assert!(is_whiteout(&std::fs::symlink_metadata(t.join("victim")).unwrap()), "{result:?}");
    }
}
