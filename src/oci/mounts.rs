//! OCI `mounts` -> the plan's mounts, in order: each one's flags, propagation and data, and what it is.
//!
//! A mount is a bind mount when its type says `bind` or its options say `bind`/`rbind` (runc's rootless spec
//! writes `"type": "none"` with `rbind`); then its source is a host path, taken relative to the bundle when
//! it is relative, and its type is recorded as `bind`. Any other mount needs a filesystem type, and its
//! source is a device name the kernel mostly ignores, kept as written. Destinations are container paths,
//! checked before any of them is used.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use super::convert::{Invalid, check_container_path, invalid, no_nul};
use super::mount_options::{is_unsupported_extension, parse_mount_options};
use crate::plan::Mount;

/// Every entry of `mounts`, in the listed order (later mounts may sit on earlier ones).
pub(super) fn lower_mounts(spec: &Spec, bundle: &Path) -> Result<Vec<Mount>, Invalid> {
    let mut lowered = Vec::new();
    for (i, mount) in spec.mounts().as_deref().unwrap_or_default().iter().enumerate() {
        let field = |name: &str| format!("mounts[{i}].{name}");
        let destination = mount.destination();
        check_container_path(&field("destination"), destination)?;
        let options = mount.options().clone().unwrap_or_default();
        for (j, option) in options.iter().enumerate() {
            no_nul(&format!("mounts[{i}].options[{j}]"), option)?;
            if is_unsupported_extension(option) {
                return Err(invalid(
                    format!("mounts[{i}].options[{j}]"),
                    format!("{option:?} is not supported by containy yet"),
                ));
            }
        }
        let parsed = parse_mount_options(&options);
        let typ = mount.typ().clone().filter(|t| !t.is_empty());
        let is_bind = typ.as_deref() == Some("bind") || parsed.flags & libc::MS_BIND != 0;

        let (fstype, source, flags) = if is_bind {
            let Some(source) = mount.source().as_ref().filter(|s| !s.as_os_str().is_empty()) else {
                return Err(invalid(field("source"), "is required for a bind mount: the host path to bind"));
            };
            // Relative bind sources are relative to the bundle, not to wherever containy was started.
            (String::from("bind"), bundle.join(source), parsed.flags | libc::MS_BIND)
        } else {
            let Some(fstype) = typ else {
                return Err(invalid(field("type"), "is required (e.g. \"tmpfs\"), unless the mount is a bind mount"));
            };
            // For a filesystem without a device, the source only shows up in /proc/mounts.
            let source = mount.source().clone().unwrap_or_else(|| PathBuf::from(&fstype));
            (fstype, source, parsed.flags)
        };
        no_nul(&field("type"), &fstype)?;
        if parsed.copy_up && fstype != "tmpfs" {
            return Err(invalid(field("options"), "\"tmpcopyup\" only applies to a tmpfs mount"));
        }
        lowered.push(Mount {
            destination: destination.clone(),
            fstype,
            source,
            flags,
            propagation: parsed.propagation,
            data: parsed.data,
            copy_up: parsed.copy_up,
            recursive: parsed.recursive,
        });
    }
    Ok(lowered)
}

#[cfg(test)]
mod tests {
    use libc::{MS_BIND, MS_RDONLY, MS_REC};
    use serde_json::{Value, json};

    use super::*;
    use crate::oci::convert::tests::{field_of, lower_with};

    #[test]
    fn bind_type_and_bind_options_both_mean_bind() {
        let plan = lower_with(|v| {
            v["mounts"] = json!([
                {"destination": "/data", "type": "bind", "source": "data"},
                {"destination": "/etc/resolv.conf", "type": "none", "source": "/etc/resolv.conf", "options": ["rbind", "ro"]},
                {"destination": "/opt", "source": "/opt", "options": ["bind", "rprivate"]},
            ]);
        })
        .unwrap();
        let [data, resolv, opt] = &plan.mounts[..] else { panic!("{:?}", plan.mounts) };
        assert_eq!((data.fstype.as_str(), data.flags), ("bind", MS_BIND));
        assert_eq!(data.source, Path::new("/bundles/b/data"), "relative bind source is under the bundle");
        assert_eq!((resolv.fstype.as_str(), resolv.flags), ("bind", MS_BIND | MS_REC | MS_RDONLY));
        assert_eq!(resolv.source, Path::new("/etc/resolv.conf"));
        assert_eq!((opt.fstype.as_str(), opt.flags), ("bind", MS_BIND));
        assert_eq!(opt.propagation, [libc::MS_PRIVATE | MS_REC]);
    }

    #[test]
    fn filesystem_mounts_keep_their_source_as_given() {
        let plan =
            lower_with(|v| v["mounts"] = json!([{"destination": "/tmp", "type": "tmpfs", "options": ["size=1m"]}]))
                .unwrap();
        assert_eq!(plan.mounts[0].source, Path::new("tmpfs"));
        assert_eq!(plan.mounts[0].data, "size=1m");
        let plan =
            lower_with(|v| v["mounts"] = json!([{"destination": "/proc", "type": "proc", "source": "proc"}])).unwrap();
        assert_eq!(plan.mounts[0].source, Path::new("proc"), "a device name is not a bundle path");
    }

    #[test]
    fn bad_mounts_are_refused_by_field() {
        let mount = |m: Value| move |v: &mut Value| v["mounts"] = json!([{"destination": "/ok", "type": "tmpfs"}, m]);
        assert_eq!(field_of(mount(json!({"destination": "/x", "type": "bind"}))), "mounts[1].source");
        assert_eq!(field_of(mount(json!({"destination": "/x", "source": "x"}))), "mounts[1].type");
        assert_eq!(field_of(mount(json!({"destination": "x", "type": "tmpfs"}))), "mounts[1].destination");
        assert_eq!(field_of(mount(json!({"destination": "/a/../../x", "type": "tmpfs"}))), "mounts[1].destination");
        let err = lower_with(mount(
            json!({"destination": "/x", "type": "bind", "source": "/x", "options": ["rbind", "idmap"]}),
        ))
        .unwrap_err();
        assert_eq!(err.field, "mounts[1].options[1]");
        assert!(err.problem.contains("\"idmap\" is not supported"), "{}", err.problem);
    }
}
