//! OCI `linux.devices` -> device nodes to create, plus the cgroup rules that let the container use them.
//!
//! A device node is only a name for a (type, major, minor) triple; whether it can be opened is the devices
//! cgroup's decision. So, as runc and crun do, every listed device also gets an allow rule (`rwm`) appended
//! after the config's own `linux.resources.devices` rules — the last matching rule wins.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::convert::{Invalid, check_container_path, invalid};
use crate::plan::{Device, DeviceRule};

pub(super) fn lower_devices(devices: &[LinuxDevice], rules: &mut Vec<DeviceRule>) -> Result<Vec<Device>, Invalid> {
    let mut lowered = Vec::new();
    for (i, device) in devices.iter().enumerate() {
        let field = |name: &str| format!("linux.devices[{i}].{name}");
        check_container_path(&field("path"), device.path())?;
        let kind = match device.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::P => 'p',
            LinuxDeviceType::A => {
                return Err(invalid(field("type"), "must be c, b, u or p (a is only for cgroup rules)"));
            }
        };
        let number = |value: i64, name: &str| {
            u64::try_from(value).map_err(|_| invalid(field(name), format!("must not be negative, got {value}")))
        };
        let (major, minor) =
            if kind == 'p' { (0, 0) } else { (number(device.major(), "major")?, number(device.minor(), "minor")?) };
        // podman sends the whole st_mode (0o20666: S_IFCHR | 0666); the type comes from `type`, the bits from here.
        let mode = device.file_mode().unwrap_or(0o666) & 0o7777;
        if kind != 'p' {
            rules.push(DeviceRule {
                allow: true,
                kind,
                major: Some(major as i64),
                minor: Some(minor as i64),
                access: "rwm".into(),
            });
        }
        lowered.push(Device {
            path: PathBuf::from(device.path()),
            kind,
            major,
            minor,
            mode,
            uid: device.uid().unwrap_or(0),
            gid: device.gid().unwrap_or(0),
        });
    }
    Ok(lowered)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::oci::convert::tests::{field_of, lower_with};

    #[test]
    fn devices_become_nodes_and_allow_rules() {
        let plan = lower_with(|v| {
            v["linux"]["devices"] = json!([
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 8630, "uid": 0, "gid": 0},
                {"path": "/dev/pipe", "type": "p"},
            ]);
        })
        .unwrap();
        assert_eq!(plan.devices.len(), 2);
        assert_eq!((plan.devices[0].kind, plan.devices[0].major, plan.devices[0].minor), ('c', 10, 229));
        assert_eq!(plan.devices[0].mode, 0o666);
        assert_eq!(plan.devices[1].kind, 'p');
        let last = plan.resources.devices.last().unwrap();
        assert!(last.allow && last.kind == 'c' && last.major == Some(10) && last.access == "rwm");
        assert_eq!(plan.resources.devices.iter().filter(|r| r.kind == 'p').count(), 0);
    }

    #[test]
    fn bad_devices_name_their_field() {
        let relative =
            field_of(|v| v["linux"]["devices"] = json!([{"path": "dev/x", "type": "c", "major": 1, "minor": 3}]));
        assert_eq!(relative, "linux.devices[0].path");
        let negative =
            field_of(|v| v["linux"]["devices"] = json!([{"path": "/dev/x", "type": "b", "major": -1, "minor": 0}]));
        assert_eq!(negative, "linux.devices[0].major");
    }
}
