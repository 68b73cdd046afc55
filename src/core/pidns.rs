//! A writer's pid as a reader in another PID namespace may see it.
//!
//! The kernel numbers every FUSE request by its thread's id in the PID
//! namespace of the mount's daemon (0 when the thread is outside it). A
//! sender attribute read from a container would otherwise show a number
//! that means nothing there, or names another process, and tells the
//! container what runs outside it. So a reader sees the writer's id in the
//! reader's own PID namespace: as recorded when the reader is in the
//! daemon's namespace; translated through `/proc` when the writer still
//! runs in the reader's namespace or one below it (`NSpid` gives its id at
//! each level, `NS_GET_PARENT` proves which namespace a level is); 0 when
//! the reader cannot see the writer, or the writer has exited and its id
//! can no longer be placed. Like any pid, the number may have been reused
//! once the writer exited.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

/// `_IO(0xb7, 0x2)` from `linux/nsfs.h`: a descriptor of the parent of the
/// PID namespace a descriptor names.
const NS_GET_PARENT: u64 = 0xb702;

type NsId = (u64, u64);

/// `writer`'s id (in the daemon's PID namespace) as seen by the reader
/// whose id (in the daemon's PID namespace) is `reader`.
pub fn translate(writer: u32, reader: u32) -> u32 {
    if writer == 0 || reader == 0 {
        return 0;
    }
    let Some(reader_ns) = namespace(&reader.to_string()) else {
        return 0;
    };
    if Some(reader_ns) == *own() {
        return writer;
    }
    below(writer, reader, reader_ns).unwrap_or(0)
}

fn own() -> &'static Option<NsId> {
    static OWN: OnceLock<Option<NsId>> = OnceLock::new();
    OWN.get_or_init(|| namespace("self"))
}

fn namespace(pid: &str) -> Option<NsId> {
    let m = std::fs::metadata(format!("/proc/{pid}/ns/pid")).ok()?;
    Some((m.dev(), m.ino()))
}

/// The `NSpid` line: the id in each namespace from `/proc`'s down to the
/// process's own.
fn ids(pid: u32) -> Option<Vec<u32>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    line.split_whitespace().map(|n| n.parse().ok()).collect()
}

/// The writer's id in `reader_ns` when that namespace is the writer's own
/// or an ancestor of it.
fn below(writer: u32, reader: u32, reader_ns: NsId) -> Option<u32> {
    let depth = ids(reader)?.len();
    let writer_ids = ids(writer)?;
    let up = writer_ids.len().checked_sub(depth)?;
    let mut ns: OwnedFd = File::open(format!("/proc/{writer}/ns/pid")).ok()?.into();
    for _ in 0..up {
        // SAFETY: an ioctl on a descriptor this function owns; on success
        // it returns a new descriptor, which is owned from here on.
        let parent = unsafe { libc::ioctl(ns.as_raw_fd(), NS_GET_PARENT as _) };
        if parent < 0 {
            return None;
        }
        // SAFETY: `parent` is a fresh descriptor nothing else owns.
        ns = unsafe { OwnedFd::from_raw_fd(parent) };
    }
    let m = File::from(ns).metadata().ok()?;
    let id = *writer_ids.get(depth.checked_sub(1)?)?;
    ((m.dev(), m.ino()) == reader_ns).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_in_the_daemons_namespace_sees_the_recorded_id() {
        let me = std::process::id();
        assert_eq!(translate(4242, me), 4242);
        assert_eq!(translate(0, me), 0);
        assert_eq!(translate(4242, 0), 0);
    }
}
