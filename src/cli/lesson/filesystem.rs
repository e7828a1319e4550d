//! Lesson `filesystem`: why chroot is not a wall and pivot_root is, and the overlay that keeps the base
//! image read-only and every run fresh.

use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result};

use super::Lesson;
use crate::cli::inspect::short;

/// `escape: now / is device D inode I and holds: …` → (D, I).
pub fn parse_escape(output: &str) -> Option<(u64, u64)> {
    let rest = output.lines().find_map(|l| l.split_once("now / is device ").map(|(_, r)| r))?;
    let mut words = rest.split_whitespace();
    let dev = words.next()?.parse().ok()?;
    let ino = words.nth(1)?.parse().ok()?;
    Some((dev, ino))
}

pub fn run(l: &mut Lesson) -> Result<()> {
    l.title("the filesystem: chroot vs pivot_root, and the overlay");
    l.say("chroot(2) only changes where '/' points for path lookups; pivot_root(2) moves the whole mount");
    l.say("tree onto a new root and lets containy detach the old one. Here is the difference, for real.");

    l.step("Compile the classic chroot escape (read docs/lessons/filesystem/escape.c: one screen of C).");
    let escape = l.compile("escape.c", "escape")?;

    l.step("A plain chroot: a copy of the base root filesystem with the program in it.");
    let base = l.base_dir()?;
    let jail = l.scratch.path().join("jail");
    l.host(&format!("cp -a {} {} && cp {} {}/escape", base.display(), jail.display(), short(&escape), jail.display()))?;
    l.host(&format!("chroot {} /bin/ls -C /", jail.display()))?;
    l.look("inside the chroot, / is the copy: the host's directories are out of sight...");
    let host_root = std::fs::metadata("/").context("stat /")?;
    l.host("stat -c 'on the host, / is device %d inode %i' /")?;
    let out = l.host(&format!("chroot {} /escape", jail.display()))?;
    match parse_escape(&out) {
        Some((dev, ino)) if (dev, ino) == (host_root.dev(), host_root.ino()) => {
            l.look("...but not out of reach: after the escape, / is the host's root (same device and inode).")
        }
        Some(_) => l.look("the escape did not reach the host's root here (is this lesson itself in a container?)"),
        None => l.look("the program did not get as far as the escape (see its error above)"),
    }

    l.step("The same program as a container's command. It keeps CAP_SYS_CHROOT, so every chroot(2) works.");
    let (out, _) = l.run("escape.toml")?;
    match parse_escape(&out) {
        Some((dev, ino)) if (dev, ino) != (host_root.dev(), host_root.ino()) => l.look(
            "every call succeeded and / is still the container's root (look: `lesson` is there): containy \
             pivot_root'ed into the new root and detached the old one, so '..' above the top leads nowhere.",
        ),
        Some(_) => l.look("THE CONTAINER REACHED THE HOST'S ROOT: this is a bug in containy, please report it"),
        None => l.look("the program did not get as far as the escape (see its error above)"),
    }

    l.step("The root is an overlay: the base is the read-only lowerdir, writes go to the container's upperdir.");
    let (container, _) = l.start("overlay.toml")?;
    l.host(&format!("containy inspect --json {} | grep -A 6 '^    \"overlay\": {{'", container.id))?;
    let inspection = l.inspection(&container.id)?;
    let layers = inspection.mounts.overlay.context("the container's root is not an overlay")?;
    let upper = layers.upperdir.context("the overlay has no upperdir")?;
    let lower = layers.lowerdir.first().context("the overlay has no lowerdir")?.clone();
    l.host(&format!("cat {}/etc/lesson-note", upper.display()))?;
    l.host(&format!("ls {}/etc/lesson-note", lower.display()))?;
    l.look("the file the container wrote is in its upperdir; the base image (lowerdir) is untouched, so any");
    l.look("number of containers can share it. Changing a base file copies it up into the upperdir first.");
    container.stop()?;
    l.host(&format!("ls {}", upper.display()))?;
    l.look("the upperdir went with the container: its writes are gone (keep_changes = true keeps them).");

    l.step("Run it again: the next container starts from the untouched base.");
    l.run("overlay.toml")?;
    l.look("/etc/lesson-note does not exist: every run gets a fresh root, as the chroot → overlay tutorial");
    l.look("promised — and this time behind pivot_root.");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_escape_report_is_parsed() {
        let out = "escape: trying\n  chroot(\".\")  ok\nescape: now / is device 2049 inode 2 and holds: bin etc\n";
        assert_eq!(super::parse_escape(out), Some((2049, 2)));
        assert_eq!(super::parse_escape("escape: chroot: Operation not permitted\n"), None);
    }
}
