//! Transports: how requests come from the kernel and replies go back.
//!
//! Today there is one, the `/dev/fuse` character device: `read(2)` takes one
//! whole request, `writev(2)` gives one whole reply or notification. The
//! session only sees [`Transport`], so a second one (FUSE over io_uring,
//! Linux 6.14 and later) plugs in beside it: see docs/interrupts.md, "The
//! session layer".

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Where requests come from and replies go. Replies and notifications may
/// be sent from any thread, at any time, in any order.
pub trait Transport: Send + Sync + 'static {
    /// Blocks until the kernel hands over the next request and copies it
    /// into `buf`; returns its length. `Ok(None)` means the filesystem was
    /// unmounted: the session is over.
    fn receive(&self, buf: &mut [u8]) -> io::Result<Option<usize>>;

    /// Sends one reply or notification, made of `parts` in order. A reply
    /// the kernel no longer waits for (its request was aborted) is not an
    /// error.
    fn send(&self, parts: &[IoSlice<'_>]) -> io::Result<()>;
}

/// The `/dev/fuse` device of one mount.
pub struct DevFuse {
    fd: OwnedFd,
}

impl DevFuse {
    pub fn new(fd: OwnedFd) -> Self {
        Self { fd }
    }
}

impl Transport for DevFuse {
    fn receive(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match nix::unistd::read(self.fd.as_fd(), buf) {
                Ok(n) => return Ok(Some(n)),
                // A signal, or a request that went away (its caller was
                // interrupted) between being queued and being copied out.
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::ENOENT) => continue,
                Err(nix::errno::Errno::ENODEV) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn send(&self, parts: &[IoSlice<'_>]) -> io::Result<()> {
        loop {
            match nix::sys::uio::writev(self.fd.as_fd(), parts) {
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                // The request was already answered or aborted: nobody waits.
                Err(nix::errno::Errno::ENOENT) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsRawFd for DevFuse {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// A transport that plays back requests written in advance and records
/// every reply: the session and the adapter driven without a kernel (unit
/// tests, fuzzing). When the script runs out the filesystem counts as
/// unmounted.
#[derive(Default)]
pub struct Scripted {
    requests: std::sync::Mutex<std::collections::VecDeque<Vec<u8>>>,
    sent: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl Scripted {
    pub fn new(requests: impl IntoIterator<Item = Vec<u8>>) -> Self {
        Self {
            requests: std::sync::Mutex::new(requests.into_iter().collect()),
            sent: Default::default(),
        }
    }

    /// Every reply and notification sent so far, whole.
    pub fn sent(&self) -> Vec<Vec<u8>> {
        self.sent.lock().expect("not poisoned").clone()
    }
}

impl Transport for Scripted {
    fn receive(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let Some(req) = self.requests.lock().expect("not poisoned").pop_front() else {
            return Ok(None);
        };
        let n = req.len().min(buf.len());
        buf[..n].copy_from_slice(&req[..n]);
        Ok(Some(n))
    }

    fn send(&self, parts: &[IoSlice<'_>]) -> io::Result<()> {
        let whole = parts.iter().flat_map(|p| p.iter().copied()).collect();
        self.sent.lock().expect("not poisoned").push(whole);
        Ok(())
    }
}
