//! mount(2) of the FUSE device. As root the daemon mounts by itself, so the
//! mount shows as type `fuse.mailslotfs` (fuser's own direct mount says only
//! `fuse`); other users go through fuser and the setuid `fusermount3`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use fuser::{Filesystem, MountOption, Session, SessionACL};
use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::Mode;

pub const FS_TYPE: &str = "fuse.mailslotfs";
pub const SOURCE: &str = "mailslotfs";

pub fn mount_session<FS: Filesystem>(
    fs: FS,
    mountpoint: &Path,
    allow_other: bool,
    threads: usize,
) -> std::io::Result<Session<FS>> {
    let mut config = fuser::Config::default();
    config.n_threads = Some(threads);
    config.acl = if allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    if !nix::unistd::geteuid().is_root() {
        config.mount_options = vec![
            MountOption::FSName(SOURCE.into()),
            MountOption::Subtype(SOURCE.into()),
            MountOption::DefaultPermissions,
            MountOption::NoDev,
            MountOption::NoSuid,
            MountOption::NoExec,
        ];
        return Session::new(fs, mountpoint, &config);
    }
    let dev: OwnedFd = open("/dev/fuse", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())?;
    let mut data = format!(
        "fd={},rootmode=40000,user_id={},group_id={},default_permissions",
        dev.as_raw_fd(),
        nix::unistd::geteuid(),
        nix::unistd::getegid()
    );
    if allow_other {
        data.push_str(",allow_other");
    }
    mount(
        Some(SOURCE),
        mountpoint,
        Some(FS_TYPE),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(data.as_str()),
    )?;
    let acl = config.acl;
    Session::from_fd(fs, dev, acl, config)
}
