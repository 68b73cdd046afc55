//! The four transports measured side by side, each behind the same reader
//! (the one process that receives) and writer (any process that sends).

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum System {
    #[serde(rename = "mailslotfs")]
    Mailslotfs,
    #[serde(rename = "floor")]
    Floor,
    #[serde(rename = "mqueue")]
    Mqueue,
    #[serde(rename = "unix-dgram")]
    Unix,
}

impl System {
    pub const ALL: [System; 4] = [
        System::Mailslotfs,
        System::Floor,
        System::Mqueue,
        System::Unix,
    ];

    pub fn name(self) -> &'static str {
        match self {
            System::Mailslotfs => "mailslotfs",
            System::Floor => "floor",
            System::Mqueue => "mqueue",
            System::Unix => "unix-dgram",
        }
    }
}

/// Bytes every transport may hold queued: mailslotfs's default per-slot
/// quota, so that no system wins by buffering more than another.
pub const QUEUE_BYTES: usize = 64 << 20;
/// The kernel's hard ceiling on a POSIX queue's length (HARD_MSGMAX).
pub const MQ_HARD_MSGMAX: usize = 65_536;

/// Messages a queue of `size`-byte messages holds within `QUEUE_BYTES`.
pub fn depth_for(size: usize) -> usize {
    (QUEUE_BYTES / (size + 4)).clamp(16, MQ_HARD_MSGMAX)
}

/// What the kernel charges a POSIX queue against RLIMIT_MSGQUEUE per
/// message beyond its size: a `struct msg_msg` pointer slot and a priority
/// tree node, rounded up (ipc/mqueue.c, mqueue_get_inode).
pub const MQ_CHARGE_PER_MESSAGE: usize = 96;

/// Depth of a POSIX queue of `size`-byte messages: as deep as the others,
/// unless the per-user RLIMIT_MSGQUEUE budget allows fewer.
pub fn mq_depth_for(size: usize, budget: u64) -> usize {
    let affordable = (budget.saturating_mul(9) / 10) / (size + MQ_CHARGE_PER_MESSAGE) as u64;
    depth_for(size)
        .min(affordable.min(usize::MAX as u64) as usize)
        .max(1)
}

/// One place messages go to: a slot path, the floor's file, a queue name
/// or a socket path, with the message size and queue depth to set up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub system: System,
    pub path: String,
    pub size: usize,
    pub depth: usize,
}

pub enum Reader {
    File(File),
    Mq { mqd: libc::mqd_t, name: CString },
    Unix { sock: UnixDatagram, path: PathBuf },
}

impl Reader {
    /// Creates the receiving end: the slot (its server handle), the queue
    /// or the bound socket. The floor has nothing to create; its one file
    /// is opened.
    pub fn create(t: &Target) -> io::Result<Self> {
        match t.system {
            System::Mailslotfs => OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_CREAT | libc::O_EXCL)
                .mode(0o600)
                .open(&t.path)
                .map(Reader::File),
            System::Floor => File::open(&t.path).map(Reader::File),
            System::Mqueue => {
                let name = CString::new(t.path.as_str())?;
                // SAFETY: zeroed is a valid mq_attr; the fields that matter are set.
                let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
                attr.mq_maxmsg = t.depth as _;
                attr.mq_msgsize = t.size as _;
                let flags = libc::O_CREAT | libc::O_EXCL | libc::O_RDONLY | libc::O_CLOEXEC;
                // SAFETY: valid C string and attribute pointer for the call.
                let mqd =
                    unsafe { libc::mq_open(name.as_ptr(), flags, 0o600 as libc::c_uint, &attr) };
                if mqd < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(Reader::Mq { mqd, name })
            }
            System::Unix => {
                let path = PathBuf::from(&t.path);
                let sock = UnixDatagram::bind(&path)?;
                Ok(Reader::Unix { sock, path })
            }
        }
    }

    /// One message into `buf`; returns its length.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let r = match self {
                Reader::File(f) => f.read(buf),
                Reader::Mq { mqd, .. } => {
                    // SAFETY: buf is valid for buf.len() bytes.
                    let n = unsafe {
                        libc::mq_receive(
                            *mqd,
                            buf.as_mut_ptr().cast(),
                            buf.len(),
                            std::ptr::null_mut(),
                        )
                    };
                    if n < 0 {
                        Err(io::Error::last_os_error())
                    } else {
                        Ok(n as usize)
                    }
                }
                Reader::Unix { sock, .. } => sock.recv(buf),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
}

impl Drop for Reader {
    /// A slot disappears with its server handle; a queue and a socket need
    /// their names removed to be gone as well.
    fn drop(&mut self) {
        match self {
            Reader::File(_) => {}
            Reader::Mq { mqd, name } => unsafe {
                libc::mq_close(*mqd);
                libc::mq_unlink(name.as_ptr());
            },
            Reader::Unix { path, .. } => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

pub enum Writer {
    /// A mailslot client: a full slot refuses with ENOSPC.
    Slot(File),
    File(File),
    Mq(libc::mqd_t),
    Unix(UnixDatagram),
}

/// How long a mailslot writer waits after ENOSPC before trying again.
const FULL_BACKOFF: Duration = Duration::from_micros(50);

/// Set to `rdwr` (by `--client-open rdwr`) for writers that open their
/// slot read-write, as Windows clients under Wine do.
pub const CLIENT_OPEN_ENV: &str = "MAILSLOT_BENCH_CLIENT_OPEN";

impl Writer {
    pub fn open(t: &Target) -> io::Result<Self> {
        match t.system {
            System::Mailslotfs => OpenOptions::new()
                .read(std::env::var_os(CLIENT_OPEN_ENV).is_some_and(|v| v == "rdwr"))
                .write(true)
                .open(&t.path)
                .map(Writer::Slot),
            System::Floor => OpenOptions::new()
                .write(true)
                .open(&t.path)
                .map(Writer::File),
            System::Mqueue => {
                let name = CString::new(t.path.as_str())?;
                // SAFETY: valid C string.
                let mqd = unsafe { libc::mq_open(name.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
                if mqd < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(Writer::Mq(mqd))
            }
            System::Unix => {
                let sock = UnixDatagram::unbound()?;
                // A datagram socket's send buffer bounds the bytes in flight
                // to the receiver; give it the same room the others get.
                let bytes = QUEUE_BYTES as libc::c_int;
                for opt in [libc::SO_SNDBUFFORCE, libc::SO_SNDBUF] {
                    // SAFETY: plain setsockopt with an int value.
                    let rc = unsafe {
                        libc::setsockopt(
                            sock.as_raw_fd(),
                            libc::SOL_SOCKET,
                            opt,
                            (&bytes as *const libc::c_int).cast(),
                            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                        )
                    };
                    if rc == 0 {
                        break;
                    }
                }
                sock.connect(&t.path)?;
                Ok(Writer::Unix(sock))
            }
        }
    }

    /// Sends one whole message; returns how many times a full queue made it
    /// wait (only mailslotfs refuses rather than blocks).
    pub fn send(&mut self, msg: &[u8]) -> io::Result<u64> {
        let mut waits = 0;
        loop {
            let r = match self {
                Writer::Slot(f) | Writer::File(f) => f.write(msg),
                Writer::Mq(mqd) => {
                    // SAFETY: msg is valid for msg.len() bytes.
                    let rc = unsafe { libc::mq_send(*mqd, msg.as_ptr().cast(), msg.len(), 0) };
                    if rc < 0 {
                        Err(io::Error::last_os_error())
                    } else {
                        Ok(msg.len())
                    }
                }
                Writer::Unix(sock) => sock.send(msg),
            };
            match r {
                Ok(n) if n == msg.len() => return Ok(waits),
                Ok(n) => {
                    return Err(io::Error::other(format!(
                        "short write: {n} of {} bytes",
                        msg.len()
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(self, Writer::Slot(_))
                        && e.raw_os_error() == Some(libc::ENOSPC) =>
                {
                    waits += 1;
                    std::thread::sleep(FULL_BACKOFF);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Writer::Mq(mqd) = self {
            // SAFETY: closing our own descriptor once.
            unsafe { libc::mq_close(*mqd) };
        }
    }
}
