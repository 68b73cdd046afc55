//! Whether the mount point really is a mailslotfs mount. Without this check
//! a missing mount would show up as a confusing "no such slot", or `listen`
//! would create a plain file in an empty directory.

use std::path::{Path, PathBuf};

use mailslotfs::daemon::mountinfo;

use crate::failure::Failure;

/// Checks `mount` and returns it in canonical form.
pub fn check(mount: &Path) -> Result<PathBuf, Failure> {
    let canonical = std::fs::canonicalize(mount).map_err(|e| {
        let why = match e.raw_os_error() {
            Some(libc::ENOTCONN) => {
                "its daemon is gone (transport endpoint is not connected)".to_string()
            }
            Some(libc::ENOENT) => "no such directory".to_string(),
            _ => mailslotfs::cli::error_text(&e),
        };
        not_mounted(mount, &why)
    })?;
    match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(table) => match mountinfo::fs_type_at(&table, &canonical) {
            Some((fs_type, source)) if mountinfo::is_mailslotfs(&fs_type, &source) => Ok(canonical),
            Some((fs_type, _)) => Err(not_mounted(mount, &format!("it is a {fs_type} mount"))),
            None => Err(not_mounted(mount, "nothing is mounted there")),
        },
        // No /proc: the filesystem type is all there is to go on.
        Err(_) => {
            let stat =
                nix::sys::statfs::statfs(&canonical).map_err(|e| not_mounted(mount, e.desc()))?;
            if stat.filesystem_type() == nix::sys::statfs::FUSE_SUPER_MAGIC {
                Ok(canonical)
            } else {
                Err(not_mounted(mount, "it is not a FUSE filesystem"))
            }
        }
    }
}

fn not_mounted(mount: &Path, why: &str) -> Failure {
    Failure::NotMounted(format!(
        "{} is not a mailslotfs mount: {why} (as root: `mailslotfs --allow-other {}`, or \
         `systemctl start mailslotfs` where it is installed; or choose another with --mount \
         or MAILSLOT_MOUNT)",
        mount.display(),
        mount.display()
    ))
}
