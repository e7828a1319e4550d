//! OCI mount options -> the three things `mount(2)` takes: `MS_*` flags, propagation, and a data string.
//!
//! An OCI mount lists options the way `mount -o` does: `["nosuid", "ro", "mode=755"]`. Some are flags the
//! kernel reads from `mountflags` (`ro` is `MS_RDONLY`), some name a propagation type, which `mount(2)`
//! refuses to combine with anything else and so must be applied by a second call on the finished mount, and
//! the rest belong to the filesystem itself and travel in the `data` string (`mode=755,size=65536k`). The
//! table is runc's, so a bundle means the same thing here as there. Options are read left to right and a
//! later one wins: `["ro", "rw"]` is writable. The "clearing" options (`rw`, `suid`, `dev`, …) take a flag
//! away and are remembered in [`MountOptions::clear`], because on a bind remount "rw" must be said
//! explicitly rather than inherited.

use crate::plan::RecursiveAttr;
use libc::{
    MOUNT_ATTR__ATIME, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY, MOUNT_ATTR_RELATIME, MOUNT_ATTR_STRICTATIME, MS_BIND,
    MS_DIRSYNC, MS_I_VERSION, MS_LAZYTIME, MS_MANDLOCK, MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID,
    MS_NOSYMFOLLOW, MS_POSIXACL, MS_PRIVATE, MS_RDONLY, MS_REC, MS_RELATIME, MS_REMOUNT, MS_SHARED, MS_SILENT,
    MS_SLAVE, MS_STRICTATIME, MS_SYNCHRONOUS, MS_UNBINDABLE,
};

/// What one OCI `options` list means to `mount(2)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountOptions {
    /// `MS_*` flags to pass to `mount(2)`.
    pub flags: u64,
    /// Flags an option explicitly cleared (`rw` clears `MS_RDONLY`), for remounts that must not inherit them.
    pub clear: u64,
    /// Propagation changes (`MS_PRIVATE`, `MS_SLAVE | MS_REC`, …), applied in order after the mount.
    pub propagation: Vec<u64>,
    /// Everything else, joined by `,`: the filesystem's own options.
    pub data: String,
    /// `tmpcopyup`: a tmpfs starts as a copy of what the image has at its destination.
    pub copy_up: bool,
    /// `rro`, `rnosuid`, …: attributes for the mount and every mount below it (`mount_setattr(2)`).
    pub recursive: RecursiveAttr,
}

/// `(option, clears?, MOUNT_ATTR_*)`: runc's recursive options. The atime ones pick one mode of a 3-bit field,
/// so setting one also clears the field (`MOUNT_ATTR__ATIME`).
const RECURSIVE: &[(&str, bool, u64)] = &[
    ("rro", false, MOUNT_ATTR_RDONLY),
    ("rrw", true, MOUNT_ATTR_RDONLY),
    ("rnosuid", false, MOUNT_ATTR_NOSUID),
    ("rsuid", true, MOUNT_ATTR_NOSUID),
    ("rnodev", false, MOUNT_ATTR_NODEV),
    ("rdev", true, MOUNT_ATTR_NODEV),
    ("rnoexec", false, MOUNT_ATTR_NOEXEC),
    ("rexec", true, MOUNT_ATTR_NOEXEC),
    ("rnodiratime", false, MOUNT_ATTR_NODIRATIME),
    ("rdiratime", true, MOUNT_ATTR_NODIRATIME),
    ("rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW),
    ("rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW),
    ("rrelatime", false, MOUNT_ATTR_RELATIME),
    ("rnoatime", false, MOUNT_ATTR_NOATIME),
    ("rstrictatime", false, MOUNT_ATTR_STRICTATIME),
];

/// `(option, clears the flag?, flag)`: runc's `mountFlags` table.
const FLAGS: &[(&str, bool, u64)] = &[
    ("acl", false, MS_POSIXACL),
    ("async", true, MS_SYNCHRONOUS),
    ("atime", true, MS_NOATIME),
    ("bind", false, MS_BIND),
    ("defaults", false, 0),
    ("dev", true, MS_NODEV),
    ("diratime", true, MS_NODIRATIME),
    ("dirsync", false, MS_DIRSYNC),
    ("exec", true, MS_NOEXEC),
    ("iversion", false, MS_I_VERSION),
    ("lazytime", false, MS_LAZYTIME),
    ("loud", true, MS_SILENT),
    ("mand", false, MS_MANDLOCK),
    ("noacl", true, MS_POSIXACL),
    ("noatime", false, MS_NOATIME),
    ("nodev", false, MS_NODEV),
    ("nodiratime", false, MS_NODIRATIME),
    ("noexec", false, MS_NOEXEC),
    ("noiversion", true, MS_I_VERSION),
    ("nolazytime", true, MS_LAZYTIME),
    ("nomand", true, MS_MANDLOCK),
    ("norelatime", true, MS_RELATIME),
    ("nostrictatime", true, MS_STRICTATIME),
    ("nosuid", false, MS_NOSUID),
    ("nosymfollow", false, MS_NOSYMFOLLOW),
    ("rbind", false, MS_BIND | MS_REC),
    ("relatime", false, MS_RELATIME),
    ("remount", false, MS_REMOUNT),
    ("ro", false, MS_RDONLY),
    ("rw", true, MS_RDONLY),
    ("silent", false, MS_SILENT),
    ("strictatime", false, MS_STRICTATIME),
    ("suid", true, MS_NOSUID),
    ("symfollow", true, MS_NOSYMFOLLOW),
    ("sync", false, MS_SYNCHRONOUS),
];

/// runc's `mountPropagationMapping`.
const PROPAGATION: &[(&str, u64)] = &[
    ("private", MS_PRIVATE),
    ("rprivate", MS_PRIVATE | MS_REC),
    ("shared", MS_SHARED),
    ("rshared", MS_SHARED | MS_REC),
    ("slave", MS_SLAVE),
    ("rslave", MS_SLAVE | MS_REC),
    ("unbindable", MS_UNBINDABLE),
    ("runbindable", MS_UNBINDABLE | MS_REC),
];

/// Options runc and crun implement themselves rather than pass to the kernel: recursive mount attributes
/// (`mount_setattr(2)`), idmapped mounts, copy-up into a tmpfs. Passed on as `data` they would reach the
/// filesystem as an option it does not know, or be silently dropped by one that ignores unknown options.
const RUNTIME_EXTENSIONS: &[&str] =
    &["rnorelatime", "ratime", "rnostrictatime", "idmap", "ridmap", "copy-symlink", "src-nofollow", "dest-nofollow"];

/// Translate an OCI `options` list, left to right. Never fails: what is not a flag or a propagation type is
/// filesystem data, and the kernel judges it at mount time.
/// Every option name containy acts on (for `containy features`), sorted: flags, recursive attributes,
/// propagation, and `tmpcopyup`.
pub fn known_options() -> Vec<&'static str> {
    let mut names: Vec<&str> = FLAGS.iter().map(|(n, _, _)| *n).chain(RECURSIVE.iter().map(|(n, _, _)| *n)).collect();
    names.extend(PROPAGATION.iter().map(|(n, _)| *n));
    names.push("tmpcopyup");
    names.sort_unstable();
    names.dedup();
    names
}

pub fn parse_mount_options(options: &[String]) -> MountOptions {
    let mut parsed = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for option in options {
        if let Some(&(_, clears, flag)) = FLAGS.iter().find(|(name, _, _)| name == option) {
            if clears {
                parsed.flags &= !flag;
                parsed.clear |= flag;
            } else {
                parsed.flags |= flag;
                parsed.clear &= !flag;
            }
        } else if let Some(&(_, flag)) = PROPAGATION.iter().find(|(name, _)| name == option) {
            parsed.propagation.push(flag);
        } else if option == "tmpcopyup" {
            parsed.copy_up = true;
        } else if let Some(&(name, clears, attr)) = RECURSIVE.iter().find(|(name, _, _)| name == option) {
            let r = &mut parsed.recursive;
            if name.ends_with("atime") && !clears {
                r.clear |= MOUNT_ATTR__ATIME;
                r.set = (r.set & !MOUNT_ATTR__ATIME) | attr;
            } else if clears {
                r.set &= !attr;
                r.clear |= attr;
            } else {
                r.set |= attr;
                r.clear &= !attr;
            }
        } else {
            data.push(option);
        }
    }
    parsed.data = data.join(",");
    parsed
}

/// Whether `option` is a runtime-implemented extension containy does not implement (see
/// [`RUNTIME_EXTENSIONS`]); the caller refuses it by name instead of passing it on as data.
pub fn is_unsupported_extension(option: &str) -> bool {
    RUNTIME_EXTENSIONS.contains(&option)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: &[&str]) -> MountOptions {
        let owned: Vec<String> = options.iter().map(|s| s.to_string()).collect();
        parse_mount_options(&owned)
    }

    #[test]
    fn runc_dev_tmpfs() {
        let parsed = parse(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(parsed.flags, MS_NOSUID | MS_STRICTATIME);
        assert_eq!(parsed.clear, 0);
        assert!(parsed.propagation.is_empty());
        assert_eq!(parsed.data, "mode=755,size=65536k");
    }

    #[test]
    fn devpts_data_keeps_order() {
        let parsed = parse(&["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]);
        assert_eq!(parsed.flags, MS_NOSUID | MS_NOEXEC);
        assert_eq!(parsed.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    }

    #[test]
    fn every_setting_flag() {
        let cases: &[(&str, u64)] = &[
            ("ro", MS_RDONLY),
            ("nosuid", MS_NOSUID),
            ("nodev", MS_NODEV),
            ("noexec", MS_NOEXEC),
            ("sync", MS_SYNCHRONOUS),
            ("dirsync", MS_DIRSYNC),
            ("remount", MS_REMOUNT),
            ("mand", MS_MANDLOCK),
            ("noatime", MS_NOATIME),
            ("nodiratime", MS_NODIRATIME),
            ("relatime", MS_RELATIME),
            ("strictatime", MS_STRICTATIME),
            ("bind", MS_BIND),
            ("rbind", MS_BIND | MS_REC),
        ];
        for &(option, flag) in cases {
            let parsed = parse(&[option]);
            assert_eq!(parsed.flags, flag, "{option}");
            assert_eq!(parsed.clear, 0, "{option}");
            assert_eq!(parsed.data, "", "{option}");
        }
    }

    #[test]
    fn clearing_options_undo_their_partner() {
        let pairs: &[(&str, &str, u64)] = &[
            ("ro", "rw", MS_RDONLY),
            ("nosuid", "suid", MS_NOSUID),
            ("nodev", "dev", MS_NODEV),
            ("noexec", "exec", MS_NOEXEC),
            ("sync", "async", MS_SYNCHRONOUS),
            ("mand", "nomand", MS_MANDLOCK),
            ("noatime", "atime", MS_NOATIME),
            ("nodiratime", "diratime", MS_NODIRATIME),
            ("relatime", "norelatime", MS_RELATIME),
            ("strictatime", "nostrictatime", MS_STRICTATIME),
        ];
        for &(set, unset, flag) in pairs {
            let parsed = parse(&[set, unset]);
            assert_eq!(parsed.flags, 0, "{set},{unset}");
            assert_eq!(parsed.clear, flag, "{set},{unset}");
            // The later option wins in both directions.
            let parsed = parse(&[unset, set]);
            assert_eq!(parsed.flags, flag, "{unset},{set}");
            assert_eq!(parsed.clear, 0, "{unset},{set}");
        }
    }

    #[test]
    fn propagation_in_order() {
        let parsed =
            parse(&["private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"]);
        assert_eq!(
            parsed.propagation,
            [
                MS_PRIVATE,
                MS_PRIVATE | MS_REC,
                MS_SHARED,
                MS_SHARED | MS_REC,
                MS_SLAVE,
                MS_SLAVE | MS_REC,
                MS_UNBINDABLE,
                MS_UNBINDABLE | MS_REC,
            ]
        );
        assert_eq!(parsed.flags, 0);
        assert_eq!(parsed.data, "");
    }

    #[test]
    fn rootless_sys_bind() {
        let parsed = parse(&["rbind", "nosuid", "noexec", "nodev", "ro", "rslave"]);
        assert_eq!(parsed.flags, MS_BIND | MS_REC | MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY);
        assert_eq!(parsed.propagation, [MS_SLAVE | MS_REC]);
    }

    #[test]
    fn empty_list() {
        assert_eq!(parse(&[]), MountOptions::default());
    }

    #[test]
    fn extensions_are_recognised() {
        assert!(is_unsupported_extension("ratime"));
        let rro = parse_mount_options(&["rbind".to_string(), "rro".to_string(), "rnoatime".to_string()]);
        assert_eq!(rro.recursive.set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOATIME);
        assert_eq!(rro.recursive.clear, MOUNT_ATTR__ATIME);
        let undone = parse_mount_options(&["rro".to_string(), "rrw".to_string()]);
        assert_eq!((undone.recursive.set, undone.recursive.clear), (0, MOUNT_ATTR_RDONLY));
        assert!(is_unsupported_extension("idmap"));
        assert!(!is_unsupported_extension("tmpcopyup"));
        assert!(parse_mount_options(&["tmpcopyup".to_string(), "mode=755".to_string()]).copy_up);
        assert!(!is_unsupported_extension("ro"));
        assert!(!is_unsupported_extension("mode=755"));
    }
}
