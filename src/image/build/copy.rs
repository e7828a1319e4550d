//! `COPY`: files from the build context into the image.
//!
//! Sources are confined to the context twice: lexically (`../x` that climbs above it is refused, `/x` means
//! `<context>/x`), and after symlinks (the canonical path must still be inside the context, so a link in the
//! context pointing at `/etc` is refused). Inside a copied directory, symlinks are copied as links, never
//! followed. The sources are packed into a tar (owner root, mtime 0: the bytes depend only on names, modes and
//! contents, so the tar's sha256 is the step's content hash for the build cache), which is then extracted by
//! the safe extractor into the image's merged view, where the destination is resolved inside the image.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::image::ImageError;

/// `<context>/<source>`, refusing anything that leaves the context.
pub fn confine(context: &Path, source: &str) -> Result<PathBuf, ImageError> {
    let mut clean = PathBuf::new();
    for component in Path::new(source).components() {
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !clean.pop() {
                    return Err(ImageError::Usage(format!(
                        "source {source:?} is outside the build context {}: COPY takes files from the context only",
                        context.display()
                    )));
                }
            }
            Component::Normal(name) => clean.push(name),
        }
    }
    let path = context.join(&clean);
    let real_context = fs::canonicalize(context)
        .map_err(|e| ImageError::Usage(format!("cannot open the build context {}: {e}", context.display())))?;
    let real = fs::canonicalize(&path).map_err(|e| {
        ImageError::Usage(format!("source {source:?} not found in the build context {}: {e}", context.display()))
    })?;
    if !real.starts_with(&real_context) {
        return Err(ImageError::Usage(format!(
            "source {source:?} is outside the build context {} (through a symlink, to {})",
            context.display(),
            real.display()
        )));
    }
    Ok(path)
}

/// Where the sources go inside the image: `dest` (relative to `workdir` unless absolute), as a directory when
/// it ends with `/`, when there are several sources, when it is a directory in the image already
/// (`dest_is_dir`) or when the source is a directory.
pub fn pack<W: Write>(
    context: &Path,
    sources: &[String],
    dest: &str,
    workdir: &str,
    dest_is_dir: bool,
    out: W,
) -> Result<W, ImageError> {
    let dest_path = if dest.starts_with('/') { PathBuf::from(dest) } else { Path::new(workdir).join(dest) };
    let dest_rel = dest_path.strip_prefix("/").unwrap_or(&dest_path).to_path_buf();
    let into_dir = dest.ends_with('/') || sources.len() > 1 || dest_is_dir;
    let mut b = tar::Builder::new(out);
    let io_err = |e: io::Error| ImageError::Usage(format!("cannot pack the COPY sources: {e}"));
    for source in sources {
        let path = confine(context, source)?;
        let meta = fs::symlink_metadata(&path).map_err(io_err)?;
        if meta.is_dir() {
            append_tree(&mut b, &path, &dest_rel).map_err(io_err)?;
        } else {
            let name = match (into_dir, path.file_name()) {
                (true, Some(file)) => dest_rel.join(file),
                _ => dest_rel.clone(),
            };
            append_one(&mut b, &path, &meta, &name).map_err(io_err)?;
        }
    }
    b.into_inner().map_err(io_err)
}

/// The archive `pack` writes, whose write errors name it: "No space left on device" says where.
pub struct Spool<W> {
    pub inner: W,
    pub path: PathBuf,
}

impl<W: Write> Write for Spool<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).map_err(|e| io::Error::new(e.kind(), format!("write {}: {e}", self.path.display())))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| io::Error::new(e.kind(), format!("write {}: {e}", self.path.display())))
    }
}

fn append_tree<W: Write>(b: &mut tar::Builder<W>, dir: &Path, name: &Path) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
    entries.sort_by_key(|e| e.file_name());
    if !name.as_os_str().is_empty() {
        append_one(b, dir, &fs::symlink_metadata(dir)?, name)?;
    }
    for entry in entries {
        let path = entry.path();
        let meta = fs::symlink_metadata(&path)?;
        let child = name.join(entry.file_name());
        if meta.is_dir() {
            append_tree(b, &path, &child)?;
        } else {
            append_one(b, &path, &meta, &child)?;
        }
    }
    Ok(())
}

fn append_one<W: Write>(b: &mut tar::Builder<W>, path: &Path, meta: &fs::Metadata, name: &Path) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    if meta.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        b.append_data(&mut h, name, io::empty())
    } else if meta.file_type().is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, name, fs::read_link(path)?)
    } else if meta.is_file() {
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(meta.len());
        b.append_data(&mut h, name, fs::File::open(path)?)
    } else {
        Ok(()) // sockets, fifos, devices: not copied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_outside_the_context_are_refused() {
        let base = tempfile::tempdir().unwrap();
        let ctx = base.path().join("ctx");
        fs::create_dir_all(ctx.join("sub")).unwrap();
        fs::write(ctx.join("sub/a"), "a").unwrap();
        fs::write(base.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(base.path(), ctx.join("out")).unwrap();
        assert_eq!(confine(&ctx, "sub/a").unwrap(), ctx.join("sub/a"));
        assert_eq!(confine(&ctx, "/sub/../sub/a").unwrap(), ctx.join("sub/a"));
        for bad in ["../secret", "sub/../../secret", "out/secret", "out"] {
            let err = confine(&ctx, bad).unwrap_err().to_string();
            assert!(err.contains("outside the build context"), "{bad}: {err}");
        }
        assert!(confine(&ctx, "missing").unwrap_err().to_string().contains("not found"));
    }

    #[test]
    fn packing_puts_files_and_trees_at_the_destination_deterministically() {
        let ctx = tempfile::tempdir().unwrap();
        fs::create_dir_all(ctx.path().join("dir/in")).unwrap();
        fs::write(ctx.path().join("dir/in/f"), "f").unwrap();
        fs::write(ctx.path().join("one"), "1").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", ctx.path().join("dir/link")).unwrap();
        let names = |bytes: Vec<u8>| -> Vec<String> {
            tar::Archive::new(&bytes[..])
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect()
        };
        let a = pack(ctx.path(), &["one".into()], "app/x", "/srv", false, Vec::new()).unwrap();
        assert_eq!(names(a), ["srv/app/x"]);
        let b = pack(ctx.path(), &["one".into(), "dir".into()], "/opt/", "/", false, Vec::new()).unwrap();
        assert_eq!(names(b.clone()), ["opt/one", "opt", "opt/in", "opt/in/f", "opt/link"]);
        let again = pack(ctx.path(), &["one".into(), "dir".into()], "/opt/", "/", false, Vec::new()).unwrap();
        assert_eq!(b, again, "same content, same bytes");
        let into = pack(ctx.path(), &["one".into()], "/bin", "/", true, Vec::new()).unwrap();
        assert_eq!(names(into), ["bin/one"], "a directory in the image is copied into");
    }
}
