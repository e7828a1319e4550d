//! The new mount API (`fsopen`, `fsconfig`, `fsmount`, Linux 5.2): a filesystem is configured through a
//! descriptor and becomes a mount that is attached nowhere — no path in any mount namespace leads to it,
//! it never appears in `/proc/self/mountinfo`, and it goes away with the last descriptor or mapping of it.
//!
//! The order is the API's own: open a context for a filesystem type, set its options one by one, create the
//! superblock, then make a mount of it (with its mount attributes) and open files below it by descriptor.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;

fn c_string(text: &str) -> io::Result<CString> {
    CString::new(text).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn owned(raw: libc::c_long) -> io::Result<OwnedFd> {
    if raw == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh descriptor the kernel just returned (close-on-exec) and nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as RawFd) })
}

/// A new mount of `fstype` with `options` (`key`, `value`; an empty value sets a flag) and `MOUNT_ATTR_*`
/// bits `attrs`, attached nowhere: the descriptor is its root, usable as a `dirfd`, and the mount goes away
/// when the descriptor (and every file opened below it) is closed — nothing to unmount, nothing left in any
/// namespace. An option the filesystem refuses is named in the error.
pub fn detached_mount(fstype: &str, options: &[(&str, &str)], attrs: u64) -> io::Result<OwnedFd> {
    let name = c_string(fstype)?;
    // SAFETY: the name is a valid C string for the duration of the call; the result is checked and owned.
    let context = owned(unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) })?;
    let named = |what: String| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    for (key, value) in options {
        let (k, v) = (c_string(key)?, c_string(value)?);
        let (command, value_ptr) =
            if value.is_empty() { (FSCONFIG_SET_FLAG, std::ptr::null()) } else { (FSCONFIG_SET_STRING, v.as_ptr()) };
        // SAFETY: key and value are valid C strings (or NULL for a flag) that outlive the call; aux is 0.
        let rc = unsafe { libc::syscall(libc::SYS_fsconfig, context.as_raw_fd(), command, k.as_ptr(), value_ptr, 0) };
        if rc == -1 {
            return Err(named(format!("fsconfig {fstype} {key}={value}"))(io::Error::last_os_error()));
        }
    }
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: the command takes no memory arguments (key and value must be NULL, aux 0).
    let rc = unsafe { libc::syscall(libc::SYS_fsconfig, context.as_raw_fd(), FSCONFIG_CMD_CREATE, null, null, 0) };
    if rc == -1 {
        return Err(named(format!("fsconfig {fstype} create"))(io::Error::last_os_error()));
    }
    // SAFETY: fsmount has no memory arguments; the result is checked and owned.
    owned(unsafe { libc::syscall(libc::SYS_fsmount, context.as_raw_fd(), FSMOUNT_CLOEXEC, attrs as libc::c_uint) })
        .map_err(named(format!("fsmount {fstype}")))
}
