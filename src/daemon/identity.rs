//! Which mount sits on a path, and unmounting it only if it is ours.
//!
//! A watcher that unmounts after the daemon died must never unmount a later
//! mount somebody else made at the same path. Linux 6.8+ gives every mount
//! a 64-bit id that is never reused (STATX_MNT_ID_UNIQUE); older kernels
//! give the reusable id, which with the device number is still unique while
//! our dead mount exists.

use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountIdentity {
    pub mnt_id: u64,
    pub unique: bool,
    pub dev_major: u32,
    pub dev_minor: u32,
}

impl MountIdentity {
    /// The mount at `path`, read without asking the filesystem anything
    /// (AT_STATX_DONT_SYNC), so it works on a mount whose daemon is dead.
    pub fn of(path: &Path) -> Option<Self> {
        use rustix::fs::{AtFlags, CWD, StatxFlags, statx};
        // rustix names STATX_MNT_ID but not yet its Linux 6.8 successor.
        let unique_id = StatxFlags::from_bits_retain(libc::STATX_MNT_ID_UNIQUE);
        let flags = AtFlags::STATX_DONT_SYNC | AtFlags::NO_AUTOMOUNT;
        let stx = |mask| statx(CWD, path, flags, mask).ok();
        let buf = stx(unique_id).or_else(|| stx(StatxFlags::MNT_ID))?;
        let unique = buf.stx_mask & libc::STATX_MNT_ID_UNIQUE != 0;
        if !unique && buf.stx_mask & libc::STATX_MNT_ID == 0 {
            return None;
        }
        Some(Self {
            mnt_id: buf.stx_mnt_id,
            unique,
            dev_major: buf.stx_dev_major,
            dev_minor: buf.stx_dev_minor,
        })
    }

    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {}\n",
            self.mnt_id,
            u8::from(self.unique),
            self.dev_major,
            self.dev_minor
        )
    }

    pub fn decode(line: &str) -> Option<Self> {
        let mut it = line.split_whitespace().map(|w| w.parse::<u64>().ok());
        Some(Self {
            mnt_id: it.next()??,
            unique: it.next()?? == 1,
            dev_major: u32::try_from(it.next()??).ok()?,
            dev_minor: u32::try_from(it.next()??).ok()?,
        })
    }
}

/// Detaches the mount at `path` if it is still `ours`. Lazy (MNT_DETACH), so
/// files still open on it do not keep the dead mount in the way; they fail.
/// Returns whether it unmounted.
pub fn unmount_if_ours(path: &Path, ours: &MountIdentity) -> bool {
    if MountIdentity::of(path).as_ref() != Some(ours) {
        return false;
    }
    match nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => {
            // Not root: the setuid helper may unmount a mount of this user's.
            Command::new("fusermount3")
                .arg("-u")
                .arg("-z")
                .arg(path)
                .status()
                .is_ok_and(|s| s.success())
        }
        Err(e) => {
            log::warn!("unmounting {}: {e}", path.display());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips_and_root_has_one() {
        let id = MountIdentity::of(Path::new("/")).expect("statx of /");
        assert_eq!(MountIdentity::decode(&id.encode()), Some(id));
        assert_eq!(MountIdentity::decode("garbage"), None);
        let other = MountIdentity::of(Path::new("/proc")).expect("statx of /proc");
        assert_ne!(id, other);
    }
}
