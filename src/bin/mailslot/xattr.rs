//! GetMailslotInfo and SetMailslotInfo are extended attributes on the slot.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub const MAX_MESSAGE_SIZE: &str = "user.mailslot.max_message_size";
pub const NEXT_MESSAGE_SIZE: &str = "user.mailslot.next_message_size";
pub const MESSAGE_COUNT: &str = "user.mailslot.message_count";
pub const QUEUED_BYTES: &str = "user.mailslot.queued_bytes";
pub const READ_TIMEOUT_MS: &str = "user.mailslot.read_timeout_ms";
/// On the mount root when the network side is on: the mount's workgroup.
pub const NET_WORKGROUP: &str = "user.mailslot.net.workgroup";

/// Every GetMailslotInfo field, in the order `info` shows them.
pub const ALL: [&str; 5] = [
    MAX_MESSAGE_SIZE,
    NEXT_MESSAGE_SIZE,
    MESSAGE_COUNT,
    QUEUED_BYTES,
    READ_TIMEOUT_MS,
];

/// The field name without the `user.mailslot.` prefix.
pub fn short(attr: &str) -> &str {
    attr.trim_start_matches("user.mailslot.")
}

fn c(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Values are short decimal ASCII; 64 bytes hold any of them.
fn decode(buf: &[u8], n: isize) -> io::Result<String> {
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(String::from_utf8_lossy(&buf[..n as usize])
        .trim()
        .to_string())
}

pub fn get(path: &Path, attr: &str) -> io::Result<String> {
    let path = c(path.as_os_str().as_bytes())?;
    let name = c(attr.as_bytes())?;
    let mut buf = [0u8; 64];
    // SAFETY: both strings are NUL-terminated and buf is writable for its length.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    decode(&buf, n)
}

pub fn fget(fd: BorrowedFd<'_>, attr: &str) -> io::Result<String> {
    let name = c(attr.as_bytes())?;
    let mut buf = [0u8; 64];
    // SAFETY: the name is NUL-terminated and buf is writable for its length.
    let n = unsafe {
        libc::fgetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    decode(&buf, n)
}

pub fn fset(fd: BorrowedFd<'_>, attr: &str, value: &str) -> io::Result<()> {
    let name = c(attr.as_bytes())?;
    // SAFETY: the name is NUL-terminated and value is readable for its length.
    let r = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
