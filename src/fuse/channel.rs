//! Transports: how requests come from the kernel and replies go back.
//!
//! Today there is one, the `/dev/fuse` character device: `read(2)` takes one
//! whole request, `writev(2)` gives one whole reply or notification. The
//! session only sees [`Transport`], so a second one (FUSE over io_uring,
//! Linux 6.14 and later) plugs in beside it: see docs/interrupts.md, "The
//! session layer".

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;

use super::abi;

/// What one receive found.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// A whole request of this many bytes is in the buffer.
    Request(usize),
    /// A signal ended the wait: nothing was taken.
    Interrupted,
    /// The filesystem was unmounted: the session is over.
    Unmounted,
}

/// Where requests come from and replies go. Replies and notifications may
/// be sent from any thread, at any time, in any order.
pub trait Transport: Send + Sync + 'static {
    /// Copies the next request into `buf`, blocking until there is one or
    /// a signal comes.
    fn receive(&self, buf: &mut [u8]) -> io::Result<Received>;

    /// Sends one reply or notification, made of `parts` in order. A reply
    /// the kernel no longer waits for (its request was aborted) is not an
    /// error.
    fn send(&self, parts: &[IoSlice<'_>]) -> io::Result<()>;

    /// `n` channels of this connection, one for each session thread, all
    /// fed from the kernel's one queue of requests: a request received on
    /// one must be answered on the same one.
    fn channels(self: Arc<Self>, n: usize) -> io::Result<Vec<Arc<dyn Transport>>>;
}

/// The `/dev/fuse` device of one mount, or one cloned descriptor of it.
pub struct DevFuse {
    fd: OwnedFd,
}

impl DevFuse {
    pub fn new(fd: OwnedFd) -> Self {
        Self { fd }
    }

    fn clone_fd(&self) -> io::Result<OwnedFd> {
        let fresh = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open("/dev/fuse")?;
        let fresh = OwnedFd::from(fresh);
        let source: u32 = self.fd.as_raw_fd() as u32;
        // SAFETY: the ioctl reads one u32 (the source descriptor) from the
        // pointer, which is valid for the call.
        let r = unsafe { libc::ioctl(fresh.as_raw_fd(), abi::DEV_IOC_CLONE, &source) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(fresh)
    }
}

impl Transport for DevFuse {
    fn receive(&self, buf: &mut [u8]) -> io::Result<Received> {
        loop {
            match nix::unistd::read(self.fd.as_fd(), buf) {
                Ok(n) => return Ok(Received::Request(n)),
                Err(nix::errno::Errno::EINTR) => return Ok(Received::Interrupted),
                // A request that went away (its caller was interrupted)
                // between being queued and being copied out.
                Err(nix::errno::Errno::ENOENT) => continue,
                Err(nix::errno::Errno::ENODEV) => return Ok(Received::Unmounted),
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

    fn channels(self: Arc<Self>, n: usize) -> io::Result<Vec<Arc<dyn Transport>>> {
        let mut channels: Vec<Arc<dyn Transport>> = Vec::with_capacity(n);
        for _ in 0..n {
            channels.push(Arc::new(DevFuse::new(self.clone_fd()?)));
        }
        Ok(channels)
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
    fn receive(&self, buf: &mut [u8]) -> io::Result<Received> {
        let Some(req) = self.requests.lock().expect("not poisoned").pop_front() else {
            return Ok(Received::Unmounted);
        };
        let n = req.len().min(buf.len());
        buf[..n].copy_from_slice(&req[..n]);
        Ok(Received::Request(n))
    }

    fn send(&self, parts: &[IoSlice<'_>]) -> io::Result<()> {
        let whole = parts.iter().flat_map(|p| p.iter().copied()).collect();
        self.sent.lock().expect("not poisoned").push(whole);
        Ok(())
    }

    /// Every channel is the script itself: one queue, one record.
    fn channels(self: Arc<Self>, n: usize) -> io::Result<Vec<Arc<dyn Transport>>> {
        Ok((0..n).map(|_| self.clone() as Arc<dyn Transport>).collect())
    }
}
