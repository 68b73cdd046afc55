//! Mounting: the `/dev/fuse` descriptor the session serves. As root the
//! daemon calls mount(2) itself, so the mount shows as type
//! `fuse.mailslotfs`; other users go through the setuid `fusermount3`,
//! which mounts and passes the descriptor back over a socket.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Command;

use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, socketpair,
};
use nix::sys::stat::Mode;

pub const FS_TYPE: &str = "fuse.mailslotfs";
pub const SOURCE: &str = "mailslotfs";

/// Mounts a new FUSE filesystem at `mountpoint` and returns its device.
pub fn mount_fuse(mountpoint: &Path, allow_other: bool) -> std::io::Result<OwnedFd> {
    if !nix::unistd::geteuid().is_root() {
        return fusermount(mountpoint, allow_other);
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
    Ok(dev)
}

/// fusermount3's protocol: it mounts, then sends the open `/dev/fuse` as
/// SCM_RIGHTS over the socket named by `_FUSE_COMMFD`.
fn fusermount(mountpoint: &Path, allow_other: bool) -> std::io::Result<OwnedFd> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    // The child must inherit its end: clear close-on-exec on it alone.
    nix::fcntl::fcntl(
        &theirs,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )?;
    let mut options =
        format!("fsname={SOURCE},subtype={SOURCE},default_permissions,nodev,nosuid,noexec");
    if allow_other {
        options.push_str(",allow_other");
    }
    let status = Command::new("fusermount3")
        .arg("-o")
        .arg(&options)
        .arg("--")
        .arg(mountpoint)
        .env("_FUSE_COMMFD", theirs.as_raw_fd().to_string())
        .status()?;
    drop(theirs);
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "fusermount3 failed ({status})"
        )));
    }
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!(std::os::fd::RawFd);
    let msg = recvmsg::<()>(
        ours.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )?;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg
            && let Some(&fd) = fds.first()
        {
            // SAFETY: the descriptor was just received and belongs to no one else.
            let dev = unsafe { OwnedFd::from_raw_fd(fd) };
            nix::fcntl::fcntl(
                &dev,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )?;
            return Ok(dev);
        }
    }
    Err(std::io::Error::other(
        "fusermount3 sent no /dev/fuse descriptor",
    ))
}
