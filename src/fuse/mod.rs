//! FUSE for mailslotfs. [`session`] and [`channel`] speak the kernel's
//! protocol ([`abi`]) and know nothing of mailslots; [`MailslotFs`], below,
//! is the thin adapter: it decodes each request, makes one core call and
//! encodes its answer. Decisions live in `crate::core`.

pub mod abi;
pub mod channel;
pub mod session;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use abi::{Args, op};
use session::{Handler, Notifier, Reply, Request};

use crate::core::{self, Caller, Kind, Mailslots, Role, SetAttr};

/// Nothing is cached by the kernel: sizes, message times and the very
/// existence of a slot change without the kernel seeing it happen.
const TTL: (u64, u32) = (0, 0);

/// Every slot is opened for direct I/O (one read or write is one request,
/// never the page cache). Server handles and write-only clients are streams
/// (no offsets, no seeking); see [`open_flags`] for the clients that are not.
///
/// Parallel direct writes: without them the kernel holds the inode's lock
/// for a write's whole round trip, so writers into one slot queue behind
/// each other in the kernel (16 writers ran at the speed of one). The slot's
/// own lock keeps every message whole and each writer's messages in order.
/// The kernel still takes its lock for an `O_APPEND` write and for one
/// longer than its idea of the file's size (the bytes queued when it last
/// asked, raised by each write to that write's length).
const SLOT_OPEN_FLAGS: u32 = abi::fopen::DIRECT_IO
    | abi::fopen::NONSEEKABLE
    | abi::fopen::STREAM
    | abi::fopen::PARALLEL_DIRECT_WRITES;

/// A client opened for reading too (`O_RDWR`, as Wine's `CreateFile`
/// opens every mailslot client, or `O_RDONLY`) is seekable: Windows code
/// writes through it with an offset (`pwrite`, for overlapped I/O), which a
/// stream refuses with ESPIPE before the daemon sees it; the offset means
/// nothing here. Write-only clients stay streams, since a seekable file's
/// position is shared: threads writing through one descriptor would wait
/// for each other's round trip on its lock, and each write moving past the
/// kernel's idea of the file's size would take the inode's lock.
const POSITIONED_CLIENT_OPEN_FLAGS: u32 =
    abi::fopen::DIRECT_IO | abi::fopen::PARALLEL_DIRECT_WRITES;

/// Client handles are opened without FLUSH (the kernel's FOPEN_NOFLUSH):
/// only a server's `close(2)` needs one (see [`core::closing`]), so a
/// client's costs no round trip.
fn open_flags(role: Role, flags: i32) -> u32 {
    match role {
        Role::Client if flags & libc::O_ACCMODE != libc::O_WRONLY => {
            POSITIONED_CLIENT_OPEN_FLAGS | abi::fopen::NOFLUSH
        }
        Role::Client => SLOT_OPEN_FLAGS | abi::fopen::NOFLUSH,
        Role::Server { .. } => SLOT_OPEN_FLAGS,
    }
}

/// A directory handle the daemon opened as a fence has this bit in its
/// handle, with the fence's number below it (other directory handles are 0).
const FENCE: u64 = 1 << 63;

/// The daemon's own fences: a thread that opens and closes the mount's root
/// directory, so that its RELEASEDIR joins the kernel's background queue
/// behind every RELEASE queued before it (see [`core::closing`]).
#[derive(Default)]
struct Fences {
    /// The fence thread's id: only its OPENDIR is a fence.
    tid: std::sync::atomic::AtomicI32,
    /// The number of the fence it is making.
    current: AtomicU64,
    /// Told when the first fence (number 0, a trial) passes.
    trial: parking_lot::Mutex<Option<mpsc::Sender<()>>>,
}

/// Background requests (releases, and page-cache reads, which are answered
/// at once) the kernel may have outstanding. The kernel's default of 12 is
/// small enough for one process's readahead to hold up everybody's
/// releases; what mailslotfs answers at once costs nothing to allow.
const MAX_BACKGROUND: u16 = 1024;

/// Requests whose handling panicked (each was answered EIO). Never above
/// zero in a healthy daemon; the fuzzer checks it.
pub static PANICS: AtomicU64 = AtomicU64::new(0);

#[derive(Clone)]
pub struct MailslotFs {
    core: Arc<Mailslots>,
    max_write: u32,
    max_pages: u16,
    notifier: Arc<OnceLock<Notifier>>,
    fences: Arc<Fences>,
}

impl MailslotFs {
    /// `max_write` must cover every request the kernel may build for one
    /// message (`max_pages × page size`), so no message is cut by it.
    pub fn new(core: Arc<Mailslots>, max_write: u32, max_pages: u16) -> Self {
        let notifier = Arc::new(OnceLock::<Notifier>::new());
        // Dropping the kernel's cached name for a slot that went away takes
        // the parent directory's lock in the kernel, which a request in that
        // directory may hold while it waits for us: so it is done from a
        // thread of its own, never from inside a request.
        let (tx, rx) = mpsc::channel::<(core::Ino, std::ffi::OsString)>();
        let for_thread = notifier.clone();
        std::thread::Builder::new()
            .name("mailslot-inval".into())
            .spawn(move || {
                for (parent, name) in rx {
                    if let Some(n) = for_thread.get()
                        && let Err(e) = n.inval_entry(parent, name.as_bytes())
                        && e.raw_os_error() != Some(libc::ENOENT)
                    {
                        log::debug!("dropping cached name {name:?}: {e}");
                    }
                }
            })
            .expect("spawning the invalidation thread");
        let tx = parking_lot::Mutex::new(tx);
        core.set_invalidate_hook(move |parent, name| {
            let _ = tx.lock().send((parent, name.to_owned()));
        });
        Self {
            core,
            max_write,
            max_pages,
            notifier,
            fences: Arc::default(),
        }
    }

    /// Starts making fences through the mount at `root`, once the session
    /// serves it: a trial fence first, and requests wait for fences only
    /// once one passed. Without fences (the daemon cannot open its own
    /// mount, or its requests come without its thread id) a close under a
    /// flood of other background requests may be served late, as the log
    /// says.
    pub fn start_fences(&self, root: &std::path::Path) {
        // The root is found by its path at each fence, never held open: a
        // descriptor held on it would make every `umount` "target busy".
        let root = match nix::sys::stat::stat(root) {
            Ok(st) => MountRoot {
                path: root.to_owned(),
                dev: st.st_dev,
            },
            Err(e) => {
                log::warn!("no fences ({e}): a close may be served late under a flood of closes");
                return;
            }
        };
        let (kick_tx, kick_rx) = mpsc::channel::<()>();
        let (trial_tx, trial_rx) = mpsc::channel::<()>();
        *self.fences.trial.lock() = Some(trial_tx);
        let fs = self.clone();
        let spawned = std::thread::Builder::new()
            .name("mailslot-fence".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                fs.fences
                    .tid
                    .store(unsafe { libc::gettid() }, Ordering::SeqCst);
                if let Err(e) = fence(&root) {
                    log::warn!(
                        "no fences ({e}): a close may be served late under a flood of closes"
                    );
                    return;
                }
                if trial_rx
                    .recv_timeout(std::time::Duration::from_secs(30))
                    .is_err()
                {
                    log::warn!(
                        "no fences (the daemon's own requests do not carry its thread id): \
                         a close may be served late under a flood of closes"
                    );
                    return;
                }
                let kick = parking_lot::Mutex::new(kick_tx);
                fs.core.closing().set_kick(Box::new(move || {
                    let _ = kick.lock().send(());
                }));
                log::debug!("fences work: a server's close is served before what follows it");
                while kick_rx.recv().is_ok() {
                    while kick_rx.try_recv().is_ok() {}
                    let n = fs.core.closing().begin_fence();
                    fs.fences.current.store(n, Ordering::SeqCst);
                    if let Err(e) = fence(&root) {
                        log::error!("a fence failed ({e}); closes may be served late from now on");
                        fs.core.closing().give_up().into_iter().for_each(|r| r());
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            log::warn!("no fences ({e}): a close may be served late under a flood of closes");
        }
    }

    /// Hands over the session's notifier once the session exists.
    pub fn notifier_slot(&self) -> Arc<OnceLock<Notifier>> {
        self.notifier.clone()
    }

    /// What a log line calls `ino`: its path, when debug lines are wanted.
    fn subject(&self, ino: u64) -> String {
        if log::log_enabled!(log::Level::Debug) {
            self.core.path_of(ino)
        } else {
            String::new()
        }
    }
}

/// The mount's root, as fences find it.
struct MountRoot {
    path: std::path::PathBuf,
    /// The mount's device: what is found at `path` once the mount is gone
    /// (a lazy unmount) is another directory, where no fence passes.
    dev: libc::dev_t,
}

/// Opens and closes the mount's root: an OPENDIR, then a RELEASEDIR in the
/// kernel's background queue.
fn fence(root: &MountRoot) -> nix::Result<()> {
    let fd = nix::fcntl::open(
        &root.path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    if nix::sys::stat::fstat(&fd)?.st_dev != root.dev {
        return Err(nix::errno::Errno::ENODEV);
    }
    drop(fd);
    Ok(())
}

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.header.uid,
        gid: req.header.gid,
        pid: req.header.pid,
    }
}

/// The errno for a refused request, with the log line every refusal gets.
fn refuse(op: &str, what: impl std::fmt::Debug, err: core::Error) -> i32 {
    log::debug!("{op} {what:?}: {err}");
    err.errno()
}

fn time(t: SystemTime) -> (u64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs(), d.subsec_nanos()),
        Err(_) => (0, 0),
    }
}

fn attr(a: &core::Attr) -> abi::Attr {
    let kind = match a.kind {
        Kind::Directory => abi::S_IFDIR,
        Kind::Slot => abi::S_IFREG,
    };
    abi::Attr {
        ino: a.ino,
        size: a.size,
        blocks: a.blocks,
        atime: time(a.atime),
        mtime: time(a.mtime),
        ctime: time(a.ctime),
        mode: kind | u32::from(a.perm),
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        blksize: 4096,
    }
}

fn dirent_type(kind: Kind) -> u32 {
    match kind {
        Kind::Directory => abi::DT_DIR,
        Kind::Slot => abi::DT_REG,
    }
}

fn name(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

/// An xattr value or list: its size when the caller asked for the size,
/// ERANGE when its buffer is too small.
fn reply_xattr(reply: Reply, size: u32, value: &[u8]) {
    if size == 0 {
        let mut out = abi::Out::with_capacity(8);
        out.u32(value.len() as u32).u32(0);
        reply.ok(&[&out.bytes]);
    } else if (size as usize) < value.len() {
        reply.error(core::Error::Range.errno());
    } else {
        reply.ok(&[value]);
    }
}

fn entry(reply: Reply, result: core::Result<core::Attr>, op: &str, what: &OsStr) {
    match result {
        Ok(a) => reply.ok(&[&abi::entry_out(&attr(&a), 0, TTL).bytes]),
        Err(core::Error::NotFound) => reply.error(libc::ENOENT),
        Err(e) => reply.error(refuse(op, what, e)),
    }
}

impl MailslotFs {
    fn read(&self, req: &Request, mut a: Args, reply: Reply) -> Option<()> {
        let fh = a.u64()?;
        // On a stream handle every read(2) starts at offset 0; a read at a
        // later offset is the kernel carrying on one readv(2) whose buffers
        // did not fit in one request, that many bytes into the call.
        let offset = a.u64()?;
        let size = a.u32()?;
        let read_flags = a.u32()?;
        let _lock_owner = a.u64()?;
        let flags = a.u32()?;
        if read_flags & abi::READ_LOCKOWNER == 0 {
            // The page cache asking (readahead, posix_fadvise, mmap,
            // splice): no process waits in read(2) for a message, so none
            // is taken and nothing waits. It gets end of file at once.
            log::debug!(
                "page-cache read of {} answered empty",
                self.subject(req.header.nodeid)
            );
            reply.ok(&[]);
            return Some(());
        }
        let nonblock = flags as i32 & libc::O_NONBLOCK != 0;
        let interrupts = reply.interrupts();
        let subject = self.subject(req.header.nodeid);
        let call = core::ReadCall {
            thread: req.header.pid,
            uid: req.header.uid,
            returned: offset,
        };
        let waiting = self.core.read(
            fh,
            call,
            size as usize,
            nonblock,
            move |result| match result {
                Ok(msg) => reply.ok(&[msg]),
                Err(e) => reply.error(refuse("read", &subject, e)),
            },
        );
        if let Some(token) = waiting {
            let core = self.core.clone();
            interrupts.on_interrupt(move || {
                core.cancel_wait(&token);
            });
        }
        Some(())
    }

    fn write(&self, req: &Request, mut a: Args, reply: Reply) -> Option<()> {
        let fh = a.u64()?;
        let _offset = a.u64()?;
        let size = a.u32()? as usize;
        a.skip(4 + 8 + 4 + 4)?;
        let data = a.take(size)?;
        let subject = self.subject(req.header.nodeid);
        self.core
            .write(fh, data, caller(req), move |result| match result {
                Ok(n) => {
                    let mut out = abi::Out::with_capacity(8);
                    out.u32(n as u32).u32(0);
                    reply.ok(&[&out.bytes]);
                }
                Err(e) => reply.error(refuse("write", &subject, e)),
            });
        Some(())
    }

    fn create(&self, req: &Request, mut a: Args, reply: Reply) -> Option<()> {
        let flags = a.u32()? as i32;
        let mode = a.u32()?;
        let umask = a.u32()?;
        let _open_flags = a.u32()?;
        let n = name(a.name()?);
        match self
            .core
            .create(req.header.nodeid, n, mode, umask, flags, caller(req))
        {
            Ok((at, fh, role)) => {
                let mut out = abi::entry_out(&attr(&at), 0, TTL);
                abi::open_out(&mut out, fh, open_flags(role, flags));
                reply.ok(&[&out.bytes]);
            }
            Err(e) => reply.error(refuse("create", n, e)),
        }
        Some(())
    }

    fn setattr(&self, req: &Request, mut a: Args, reply: Reply) -> Option<()> {
        let valid = a.u32()?;
        a.skip(4 + 8)?;
        let size = a.u64()?;
        a.skip(8 * 4 + 4 * 3)?;
        let mode = a.u32()?;
        a.skip(4)?;
        let uid = a.u32()?;
        let gid = a.u32()?;
        let change = SetAttr {
            mode: (valid & abi::fattr::MODE != 0).then_some(mode),
            uid: (valid & abi::fattr::UID != 0).then_some(uid),
            gid: (valid & abi::fattr::GID != 0).then_some(gid),
            size: (valid & abi::fattr::SIZE != 0).then_some(size),
        };
        let ino = req.header.nodeid;
        match self.core.setattr(ino, change) {
            Ok(at) => reply.ok(&[&abi::attr_out(&attr(&at), TTL).bytes]),
            Err(e) => reply.error(refuse("setattr", self.subject(ino), e)),
        }
        Some(())
    }

    fn readdir(&self, req: &Request, mut a: Args, reply: Reply) -> Option<()> {
        let _fh = a.u64()?;
        let offset = a.u64()?;
        let size = a.u32()? as usize;
        let ino = req.header.nodeid;
        let mut out = abi::Out::with_capacity(size.min(64 * 1024));
        let result = self.core.readdir(ino, offset, |child, cookie, kind, n| {
            !abi::dirent(
                &mut out,
                size,
                child,
                cookie,
                dirent_type(kind),
                n.as_bytes(),
            )
        });
        match result {
            Ok(()) => reply.ok(&[&out.bytes]),
            Err(e) => reply.error(refuse("readdir", self.subject(ino), e)),
        }
        Some(())
    }

    fn poll(&self, req: &Request, mut a: Args, reply: Reply) -> Option<()> {
        let fh = a.u64()?;
        let kh = a.u64()?;
        let flags = a.u32()?;
        let notifier = self.notifier.clone();
        let waker: Option<core::Waker> = (flags & abi::POLL_SCHEDULE_NOTIFY != 0).then(|| {
            Box::new(move || {
                if let Some(n) = notifier.get() {
                    let _ = n.poll_wakeup(kh);
                }
            }) as core::Waker
        });
        match self.core.poll(fh, kh, waker) {
            Ok((ready, role)) => {
                let mut ev = 0;
                if ready.readable {
                    ev |= libc::POLLIN | libc::POLLRDNORM;
                }
                let writable = matches!(role, Role::Client | Role::Server { writable: true });
                if writable && !ready.closed {
                    ev |= libc::POLLOUT | libc::POLLWRNORM;
                }
                if ready.closed {
                    ev |= if role == Role::Client {
                        libc::POLLERR
                    } else {
                        libc::POLLHUP
                    };
                }
                let mut out = abi::Out::with_capacity(8);
                out.u32(ev as u32).u32(0);
                reply.ok(&[&out.bytes]);
            }
            Err(e) => reply.error(refuse("poll", self.subject(req.header.nodeid), e)),
        }
        Some(())
    }

    fn xattr(&self, req: &Request, mut a: Args, reply: Reply) -> Option<()> {
        let ino = req.header.nodeid;
        match req.header.opcode {
            op::SETXATTR => {
                let size = a.u32()? as usize;
                let flags = a.u32()? as i32;
                let n = name(a.name()?);
                let value = a.take(size)?;
                match self.core.setxattr(ino, n, value, flags, caller(req)) {
                    Ok(()) => reply.ok(&[]),
                    Err(e) => reply.error(refuse("setxattr", n, e)),
                }
            }
            op::GETXATTR => {
                let size = a.u32()?;
                a.skip(4)?;
                let n = name(a.name()?);
                match self.core.getxattr(ino, n, caller(req)) {
                    Ok(v) => reply_xattr(reply, size, &v),
                    Err(core::Error::NoAttribute) => reply.error(libc::ENODATA),
                    Err(e) => reply.error(refuse("getxattr", n, e)),
                }
            }
            op::LISTXATTR => {
                let size = a.u32()?;
                match self.core.listxattr(ino) {
                    Ok(v) => reply_xattr(reply, size, &v),
                    Err(e) => reply.error(refuse("listxattr", self.subject(ino), e)),
                }
            }
            _ => {
                let n = name(a.name()?);
                match self.core.removexattr(ino, n) {
                    Ok(()) => reply.ok(&[]),
                    Err(e) => reply.error(refuse("removexattr", n, e)),
                }
            }
        }
        Some(())
    }

    /// Calls a mailslot does not have: the name they concern, for the log.
    fn not_permitted(&self, req: &Request, mut a: Args, reply: Reply) -> Option<()> {
        match req.header.opcode {
            op::MKNOD => a.skip(16)?,
            op::RENAME | op::LINK => a.skip(8)?,
            op::RENAME2 => a.skip(16)?,
            _ => {}
        }
        let n = name(a.name().unwrap_or_default());
        let call = match req.header.opcode {
            op::MKNOD => "mknod",
            op::SYMLINK => "symlink",
            op::UNLINK => "unlink",
            op::LINK => "link",
            _ => "rename",
        };
        reply.error(refuse(call, n, core::Error::NotPermitted));
        Some(())
    }

    fn fence_passed(&self, n: u64) {
        if n == 0 {
            if let Some(trial) = self.fences.trial.lock().take() {
                let _ = trial.send(());
            }
            return;
        }
        for resume in self.core.closing().fence_passed(n) {
            resume();
        }
    }

    /// The slot being closed that `req` would reach, if any: such a request
    /// waits (see [`core::closing`]).
    fn closing_slot(&self, req: &Request) -> Option<core::Ino> {
        if !self.core.closing().any() {
            return None;
        }
        let mut a = req.args();
        let parent = req.header.nodeid;
        match req.header.opcode {
            op::LOOKUP => self.core.closing_by_name(parent, name(a.name()?)),
            op::MKDIR => {
                a.skip(8)?;
                self.core.closing_by_name(parent, name(a.name()?))
            }
            op::CREATE => {
                a.skip(16)?;
                self.core.closing_by_name(parent, name(a.name()?))
            }
            op::OPEN => self.core.closing().is_marked(parent).then_some(parent),
            op::WRITE => self.core.closing_by_handle(a.u64()?),
            _ => None,
        }
    }

    /// Serves `req` now, or once the slot it depends on is closed or known
    /// to stay open (with a copy of the request).
    fn serve_in_order(&self, req: &Request, reply: Reply) -> Option<()> {
        let Some(ino) = self.closing_slot(req) else {
            return self.serve(req, reply);
        };
        let fs = self.clone();
        let header = req.header;
        let body = req.body.to_vec();
        let resume: core::closing::Resume = Box::new(move || {
            let req = Request {
                header,
                body: &body,
            };
            if fs.serve(&req, reply).is_none() {
                log::warn!("a malformed request (opcode {}) was refused", header.opcode);
            }
        });
        log::debug!(
            "opcode {} waits for the close of {}",
            header.opcode,
            self.subject(ino)
        );
        if let Err(resume) = self.core.closing().park(ino, resume) {
            resume();
        }
        Some(())
    }

    fn forget(&self, req: &Request) -> Option<()> {
        let mut a = req.args();
        if req.header.opcode == op::FORGET {
            self.core.forget(req.header.nodeid, a.u64()?);
            return Some(());
        }
        let count = a.u32()?;
        a.skip(4)?;
        for _ in 0..count {
            let ino = a.u64()?;
            self.core.forget(ino, a.u64()?);
        }
        Some(())
    }

    fn serve(&self, req: &Request, reply: Reply) -> Option<()> {
        let ino = req.header.nodeid;
        let mut a = req.args();
        match req.header.opcode {
            op::LOOKUP => {
                let n = name(a.name()?);
                entry(reply, self.core.lookup(ino, n), "lookup", n);
            }
            op::GETATTR => match self.core.getattr(ino) {
                Ok(at) => reply.ok(&[&abi::attr_out(&attr(&at), TTL).bytes]),
                Err(e) => reply.error(refuse("getattr", self.subject(ino), e)),
            },
            op::SETATTR => return self.setattr(req, a, reply),
            op::MKDIR => {
                let mode = a.u32()?;
                let umask = a.u32()?;
                let n = name(a.name()?);
                let r = self.core.mkdir(ino, n, mode, umask, caller(req));
                entry(reply, r, "mkdir", n);
            }
            op::RMDIR => {
                let n = name(a.name()?);
                match self.core.rmdir(ino, n) {
                    Ok(()) => reply.ok(&[]),
                    Err(e) => reply.error(refuse("rmdir", n, e)),
                }
            }
            op::MKNOD | op::SYMLINK | op::UNLINK | op::RENAME | op::RENAME2 | op::LINK => {
                return self.not_permitted(req, a, reply);
            }
            op::READLINK => reply.error(libc::EINVAL),
            op::OPEN => {
                let flags = a.u32()? as i32;
                match self.core.open(ino) {
                    Ok(fh) => {
                        let mut out = abi::Out::with_capacity(16);
                        abi::open_out(&mut out, fh, open_flags(Role::Client, flags));
                        reply.ok(&[&out.bytes]);
                    }
                    Err(e) => reply.error(refuse("open", self.subject(ino), e)),
                }
            }
            op::CREATE => return self.create(req, a, reply),
            op::READ => return self.read(req, a, reply),
            op::WRITE => return self.write(req, a, reply),
            op::RELEASE => {
                self.core.release(a.u64()?);
                reply.ok(&[]);
            }
            op::FLUSH => {
                self.core.flush(a.u64()?);
                reply.ok(&[]);
            }
            op::RELEASEDIR => {
                let fh = a.u64()?;
                reply.ok(&[]);
                if fh & FENCE != 0 {
                    self.fence_passed(fh & !FENCE);
                }
            }
            op::FSYNC | op::FSYNCDIR | op::SYNCFS => reply.ok(&[]),
            op::OPENDIR => {
                let fence = req.header.pid != 0
                    && req.header.pid as i32 == self.fences.tid.load(Ordering::SeqCst);
                let fh = if fence {
                    FENCE | self.fences.current.load(Ordering::SeqCst)
                } else {
                    0
                };
                let mut out = abi::Out::with_capacity(16);
                abi::open_out(&mut out, fh, 0);
                reply.ok(&[&out.bytes]);
            }
            op::READDIR => return self.readdir(req, a, reply),
            op::STATFS => {
                let s = self.core.statfs();
                let out = abi::StatFs {
                    blocks: s.blocks,
                    bfree: s.blocks_free,
                    bavail: s.blocks_available,
                    files: s.files,
                    ffree: s.files_free,
                    bsize: s.block_size,
                    namelen: s.name_max,
                    frsize: s.block_size,
                }
                .encode();
                reply.ok(&[&out.bytes]);
            }
            op::SETXATTR | op::GETXATTR | op::LISTXATTR | op::REMOVEXATTR => {
                return self.xattr(req, a, reply);
            }
            op::POLL => return self.poll(req, a, reply),
            op::FALLOCATE => reply.error(refuse(
                "fallocate",
                self.subject(ino),
                core::Error::Unsupported,
            )),
            op::LSEEK => reply.error(libc::ESPIPE),
            op::IOCTL => reply.error(libc::ENOTTY),
            op::TMPFILE => reply.error(libc::EOPNOTSUPP),
            op::DESTROY => reply.ok(&[]),
            // Locks, access checks, statx and the rest: the kernel does
            // them itself once told they are not implemented here.
            _ => reply.error(libc::ENOSYS),
        }
        Some(())
    }
}

impl Handler for MailslotFs {
    fn init(&self, offered: &abi::InitIn) -> Result<abi::InitOut, i32> {
        if offered.major < abi::MAJOR || offered.minor < abi::MIN_MINOR {
            log::error!(
                "the kernel speaks FUSE {}.{}; mailslotfs needs {}.{} or later",
                offered.major,
                offered.minor,
                abi::MAJOR,
                abi::MIN_MINOR
            );
            return Err(libc::EPROTO);
        }
        // No ASYNC_READ and no ASYNC_DIO: every read(2) is one request that
        // its caller waits for. No readahead: a slot has no pages to fill.
        let wanted = abi::init::BIG_WRITES
            | abi::init::MAX_PAGES
            | abi::init::PARALLEL_DIROPS
            | abi::init::ATOMIC_O_TRUNC;
        let flags = offered.flags & wanted;
        if flags & abi::init::MAX_PAGES == 0 {
            log::warn!("the kernel does not take max_pages; messages are limited to its default");
        }
        Ok(abi::InitOut {
            minor: offered.minor.min(abi::MINOR),
            max_readahead: 0,
            flags,
            max_background: MAX_BACKGROUND,
            congestion_threshold: MAX_BACKGROUND / 4 * 3,
            max_write: self.max_write,
            max_pages: self.max_pages,
        })
    }

    fn may_wait(&self, opcode: u32) -> bool {
        // Reads wait for messages; these wait for a slot being closed.
        matches!(
            opcode,
            op::READ | op::WRITE | op::LOOKUP | op::CREATE | op::OPEN | op::MKDIR
        )
    }

    fn is_barrier(&self, opcode: u32) -> bool {
        // A release is sent after close(2) returned: whatever the closing
        // process does next must find the slot gone.
        opcode == op::RELEASE
    }

    fn dispatch(&self, req: &Request<'_>, reply: Option<Reply>) {
        let op = req.header.opcode;
        // A panic inside one request costs that request an EIO (the reply
        // is dropped unsent, which answers EIO), not the daemon a thread.
        let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match reply {
            Some(reply) => self.serve_in_order(req, reply),
            None => self.forget(req),
        }));
        match served {
            Ok(Some(())) => {}
            Ok(None) => log::warn!(
                "a malformed request (opcode {op}, {} bytes) was refused",
                req.body.len()
            ),
            Err(_) => {
                PANICS.fetch_add(1, Ordering::Relaxed);
                log::error!("opcode {op}: internal error (panic); answered EIO");
            }
        }
    }
}
