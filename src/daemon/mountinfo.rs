//! Which filesystem is mounted on top at a path, per /proc/self/mountinfo:
//! the `mailslot` command checks its mount point with it, the daemon a
//! mount point it is asked to mount on again.

use std::path::Path;

/// As root the daemon mounts as `fuse.mailslotfs`; through fusermount3 the
/// type may read plain `fuse` with the source `mailslotfs`.
pub fn is_mailslotfs(fs_type: &str, source: &str) -> bool {
    fs_type == "fuse.mailslotfs" || (fs_type.starts_with("fuse") && source == "mailslotfs")
}

/// The type and source of the mount on top at `path`, per mountinfo.
pub fn fs_type_at(mountinfo: &str, path: &Path) -> Option<(String, String)> {
    let path = path.to_str()?;
    // Later lines are mounted over earlier ones at the same point.
    mountinfo.lines().rev().find_map(|line| {
        let (mount_fields, fs_fields) = line.split_once(" - ")?;
        let mount_point = mount_fields.split(' ').nth(4)?;
        if unescape(mount_point) != path {
            return None;
        }
        let mut fs = fs_fields.split(' ');
        let fs_type = unescape(fs.next()?);
        let source = unescape(fs.next().unwrap_or(""));
        Some((fs_type, source))
    })
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`. (procfs-core,
/// the parser a crate would give, leaves these escapes in mount points, so a
/// mount point with a space in it would never match.)
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |v, b| v * 8 + u32::from(b - b'0'));
            out.push(value as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:40 / /mailslot rw,nosuid - fuse.mailslotfs mailslotfs rw,user_id=0
41 22 0:41 / /with\\040space rw - fuse mailslotfs rw
42 22 0:42 / /tmp rw - tmpfs tmpfs rw
43 42 0:43 / /tmp/over rw - fuse.mailslotfs mailslotfs rw
44 42 0:44 / /tmp/over rw - tmpfs tmpfs rw
";

    fn at(p: &str) -> Option<(String, String)> {
        fs_type_at(TABLE, Path::new(p))
    }

    #[test]
    fn finds_the_mount_on_top() {
        assert_eq!(
            at("/mailslot"),
            Some(("fuse.mailslotfs".into(), "mailslotfs".into()))
        );
        assert_eq!(at("/with space").unwrap().0, "fuse");
        assert_eq!(at("/tmp/over").unwrap().0, "tmpfs");
        assert_eq!(at("/nowhere"), None);
    }

    #[test]
    fn recognises_mailslotfs() {
        assert!(is_mailslotfs("fuse.mailslotfs", "mailslotfs"));
        assert!(is_mailslotfs("fuse", "mailslotfs"));
        assert!(!is_mailslotfs("fuse.sshfs", "host:"));
        assert!(!is_mailslotfs("tmpfs", "mailslotfs"));
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("/a\\040b\\134c"), "/a b\\c");
        assert_eq!(unescape("/a\\04"), "/a\\04");
    }
}
