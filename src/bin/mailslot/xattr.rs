//! GetMailslotInfo and SetMailslotInfo are extended attributes on the slot.

use std::fs::File;
use std::io;
use std::path::Path;

use ::xattr::FileExt;

pub const MAX_MESSAGE_SIZE: &str = "user.mailslot.max_message_size";
pub const NEXT_MESSAGE_SIZE: &str = "user.mailslot.next_message_size";
pub const MESSAGE_COUNT: &str = "user.mailslot.message_count";
pub const QUEUED_BYTES: &str = "user.mailslot.queued_bytes";
pub const READ_TIMEOUT_MS: &str = "user.mailslot.read_timeout_ms";
pub const LAST_SENDER: &str = "user.mailslot.last_sender";
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

/// Values are short decimal ASCII. An attribute the slot does not have is
/// ENODATA, as getxattr(2) reports it.
fn decode(value: io::Result<Option<Vec<u8>>>) -> io::Result<String> {
    let bytes = value?.ok_or_else(|| io::Error::from_raw_os_error(libc::ENODATA))?;
    Ok(String::from_utf8_lossy(&bytes).trim().to_string())
}

pub fn get(path: &Path, attr: &str) -> io::Result<String> {
    decode(::xattr::get(path, attr))
}

pub fn fget(file: &File, attr: &str) -> io::Result<String> {
    decode(file.get_xattr(attr))
}

pub fn fset(file: &File, attr: &str, value: &str) -> io::Result<()> {
    file.set_xattr(attr, value.as_bytes())
}
