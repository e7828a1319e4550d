//! The new mount API (`fsopen`, `fsconfig`, `fsmount`, Linux 5.2): a filesystem is configured through a
//! descriptor and becomes a mount that is attached nowhere — no path in any mount namespace leads to it,
//! it never appears in `/proc/self/mountinfo`, and it goes away with the last descriptor or mapping of it.
//!
//! The order is the API's own: open a context for a filesystem type, set its options one by one, create the
//! superblock, then make a mount of it (with its mount attributes) and open files below it by descriptor.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

const FSOPEN_CLOEXEC: libc::c_uint = 1;
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

/// `fsopen(2)`: a configuration context for a new superblock of filesystem `fstype`.
pub fn fsopen(fstype: &str) -> io::Result<OwnedFd> {
    let fstype = c_string(fstype)?;
    // SAFETY: the name is a valid C string for the duration of the call; the result is checked and owned.
    owned(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })
}

/// `fsconfig(FSCONFIG_SET_STRING)`: set option `key` to `value` in the context.
pub fn fsconfig_set(context: BorrowedFd<'_>, key: &str, value: &str) -> io::Result<()> {
    let (key, value) = (c_string(key)?, c_string(value)?);
    // SAFETY: both strings are valid C strings for the duration of the call; aux must be 0 for this command.
    let rc = unsafe {
        libc::syscall(libc::SYS_fsconfig, context.as_raw_fd(), FSCONFIG_SET_STRING, key.as_ptr(), value.as_ptr(), 0)
    };
    if rc == -1 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// `fsconfig(FSCONFIG_CMD_CREATE)`: create the superblock from the options set so far.
pub fn fsconfig_create(context: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: the command takes no memory arguments (key and value must be NULL, aux 0).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            context.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if rc == -1 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// `fsmount(2)`: a detached mount of the created superblock with `MOUNT_ATTR_*` bits `attrs`; its
/// descriptor is the mount's root directory.
pub fn fsmount(context: BorrowedFd<'_>, attrs: u64) -> io::Result<OwnedFd> {
    // SAFETY: fsmount has no memory arguments; the result is checked and owned.
    owned(unsafe { libc::syscall(libc::SYS_fsmount, context.as_raw_fd(), FSMOUNT_CLOEXEC, attrs as libc::c_uint) })
}
