//! The watcher: a small process forked before the daemon starts its threads.
//! It waits for the daemon to exit, however it exits (SIGKILL included), and
//! then unmounts the mount if it is still the daemon's, so the mount point
//! never stays behind as "Transport endpoint is not connected".

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::signal::{SigHandler, Signal, signal};
use nix::unistd::{ForkResult, fork, pipe};

use super::identity::{MountIdentity, unmount_if_ours};

/// The daemon's end: it writes the mount's identity once mounted.
pub struct WatcherLink {
    fd: OwnedFd,
}

impl WatcherLink {
    pub fn mounted(&self, id: &MountIdentity) {
        let _ = nix::unistd::write(&self.fd, id.encode().as_bytes());
    }
}

/// Forks the watcher. Must run before any thread is started. `close_in_child`
/// are descriptors the watcher must not keep open (such as the pipe the
/// starting parent waits on).
pub fn spawn(mountpoint: &Path, close_in_child: &[i32]) -> std::io::Result<WatcherLink> {
    let (rx, tx) = pipe()?;
    // SAFETY: no other thread exists yet; the child only makes syscalls.
    match unsafe { fork() }? {
        ForkResult::Parent { .. } => {
            drop(rx);
            nix::fcntl::fcntl(
                &tx,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )?;
            Ok(WatcherLink { fd: tx })
        }
        ForkResult::Child => {
            drop(tx);
            for fd in close_in_child {
                unsafe { libc::close(*fd) };
            }
            watch(rx, mountpoint)
        }
    }
}

fn watch(rx: OwnedFd, mountpoint: &Path) -> ! {
    // The daemon decides when to stop; a Ctrl-C meant for it must not take
    // the watcher first.
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGPIPE,
    ] {
        unsafe {
            let _ = signal(sig, SigHandler::SigIgn);
        }
    }
    let _ = std::env::set_current_dir("/");
    let mut text = String::new();
    let mut file = std::fs::File::from(rx);
    // Read to EOF: the identity line, then nothing until the daemon is gone.
    let _ = file.read_to_string(&mut text);
    let _ = file.as_raw_fd();
    if let Some(id) = text.lines().next().and_then(MountIdentity::decode)
        && unmount_if_ours(mountpoint, &id)
    {
        log::warn!(
            "mailslotfs daemon exited without unmounting; unmounted {}",
            mountpoint.display()
        );
    }
    std::process::exit(0)
}
