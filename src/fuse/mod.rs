//! The FUSE adapter: each fuser callback turns into one core call and its
//! reply. Decisions live in `crate::core`; this file only translates.

use std::ffi::OsStr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, LockOwner, Notifier, OpenFlags, PollEvents, PollFlags, PollNotifier, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyPoll,
    ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use crate::core::{self, Attr, Caller, Kind, Mailslots, Role, SetAttr};

/// Nothing is cached by the kernel: sizes, message times and the very
/// existence of a slot change without the kernel seeing it happen.
const TTL: Duration = Duration::ZERO;

/// Every slot is opened for direct I/O (one read or write is one request,
/// never the page cache) and as a stream (no offsets, no seeking).
const SLOT_OPEN_FLAGS: FopenFlags = FopenFlags::FOPEN_DIRECT_IO
    .union(FopenFlags::FOPEN_NONSEEKABLE)
    .union(FopenFlags::FOPEN_STREAM);

pub struct MailslotFs {
    core: Arc<Mailslots>,
    max_write: u32,
    notifier: Arc<OnceLock<Notifier>>,
}

impl MailslotFs {
    /// `max_write` must cover every request the kernel may build for one
    /// message (`max_pages × page size`), so no message is cut by it.
    pub fn new(core: Arc<Mailslots>, max_write: u32) -> Self {
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
                        && let Err(e) = n.inval_entry(INodeNo(parent), &name)
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
            notifier,
        }
    }

    /// What a log line calls `ino`: its path, when debug lines are wanted.
    fn subject(&self, ino: INodeNo) -> String {
        if log::log_enabled!(log::Level::Debug) {
            self.core.path_of(ino.0)
        } else {
            String::new()
        }
    }

    /// Hands over the session's notifier once the session exists.
    pub fn notifier_slot(&self) -> Arc<OnceLock<Notifier>> {
        self.notifier.clone()
    }
}

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
        pid: req.pid(),
    }
}

/// The errno for a refused request, with the log line every refusal gets.
fn refuse(op: &str, what: impl std::fmt::Debug, err: core::Error) -> Errno {
    log::debug!("{op} {what:?}: {err}");
    Errno::from_i32(err.errno())
}

/// Runs one request so that a panic inside it costs that request an EIO
/// (the reply is dropped unsent, which fuser answers with EIO) and not the
/// daemon its worker thread.
fn guarded(op: &str, f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        log::error!("{op}: internal error (panic); the request was answered EIO");
    }
}

fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.blocks,
        atime: a.atime,
        mtime: a.mtime,
        ctime: a.ctime,
        crtime: a.crtime,
        kind: file_type(a.kind),
        perm: a.perm,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::Directory => FileType::Directory,
        Kind::Slot => FileType::RegularFile,
    }
}

fn reply_xattr(reply: ReplyXattr, size: u32, value: &[u8]) {
    if size == 0 {
        reply.size(value.len() as u32);
    } else if (size as usize) < value.len() {
        reply.error(Errno::from_i32(core::Error::Range.errno()));
    } else {
        reply.data(value);
    }
}

impl Filesystem for MailslotFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        if let Err(nearest) = config.set_max_write(self.max_write) {
            log::warn!(
                "max_write {} refused, kernel offers {nearest}",
                self.max_write
            );
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        guarded("lookup", || match self.core.lookup(parent.0, name) {
            Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
            Err(core::Error::NotFound) => reply.error(Errno::ENOENT),
            Err(e) => reply.error(refuse("lookup", name, e)),
        })
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.core.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        guarded("getattr", || match self.core.getattr(ino.0) {
            Ok(a) => reply.attr(&TTL, &file_attr(&a)),
            Err(e) => reply.error(refuse("getattr", self.subject(ino), e)),
        })
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let change = SetAttr {
            mode,
            uid,
            gid,
            size,
        };
        guarded("setattr", || match self.core.setattr(ino.0, change) {
            Ok(a) => reply.attr(&TTL, &file_attr(&a)),
            Err(e) => reply.error(refuse("setattr", self.subject(ino), e)),
        })
    }

    fn mknod(
        &self,
        _req: &Request,
        _p: INodeNo,
        name: &OsStr,
        _m: u32,
        _u: u32,
        _r: u32,
        reply: ReplyEntry,
    ) {
        reply.error(refuse("mknod", name, core::Error::NotPermitted));
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        guarded("mkdir", || {
            match self.core.mkdir(parent.0, name, mode, umask, caller(req)) {
                Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
                Err(e) => reply.error(refuse("mkdir", name, e)),
            }
        })
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply.error(refuse("unlink", name, core::Error::NotPermitted));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        guarded("rmdir", || match self.core.rmdir(parent.0, name) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(refuse("rmdir", name, e)),
        })
    }

    fn symlink(
        &self,
        _req: &Request,
        _p: INodeNo,
        name: &OsStr,
        _t: &std::path::Path,
        reply: ReplyEntry,
    ) {
        reply.error(refuse("symlink", name, core::Error::NotPermitted));
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(refuse("rename", name, core::Error::NotPermitted));
    }

    fn link(&self, _req: &Request, _ino: INodeNo, _p: INodeNo, name: &OsStr, reply: ReplyEntry) {
        reply.error(refuse("link", name, core::Error::NotPermitted));
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        guarded("open", || match self.core.open(ino.0, flags.0) {
            Ok(fh) => reply.opened(FileHandle(fh), SLOT_OPEN_FLAGS),
            Err(e) => reply.error(refuse("open", self.subject(ino), e)),
        })
    }

    fn read(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _offset: u64,
        size: u32,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let nonblock = flags.0 & libc::O_NONBLOCK != 0;
        let subject = self.subject(ino);
        guarded("read", || {
            self.core.read(
                fh.0,
                size as usize,
                nonblock,
                caller(req),
                move |result| match result {
                    Ok(msg) => reply.data(msg),
                    Err(e) => reply.error(refuse("read", &subject, e)),
                },
            )
        })
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let subject = self.subject(ino);
        guarded("write", || {
            self.core.write(fh.0, data, move |result| match result {
                Ok(n) => reply.written(n as u32),
                Err(e) => reply.error(refuse("write", &subject, e)),
            })
        })
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lo: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        guarded("release", || {
            self.core.release(fh.0);
            reply.ok();
        })
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        guarded("readdir", || {
            let result = self
                .core
                .readdir(ino.0, offset, |child, cookie, kind, name| {
                    reply.add(INodeNo(child), cookie, file_type(kind), name)
                });
            match result {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(refuse("readdir", self.subject(ino), e)),
            }
        })
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let s = self.core.statfs();
        reply.statfs(
            s.blocks,
            s.blocks_free,
            s.blocks_free,
            s.files,
            s.files_free,
            s.block_size,
            s.name_max,
            s.block_size,
        );
    }

    fn setxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        guarded("setxattr", || {
            match self.core.setxattr(ino.0, name, value, flags, caller(req)) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(refuse("setxattr", name, e)),
            }
        })
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        guarded("getxattr", || match self.core.getxattr(ino.0, name) {
            Ok(v) => reply_xattr(reply, size, &v),
            Err(core::Error::NoAttribute) => reply.error(Errno::from_i32(libc::ENODATA)),
            Err(e) => reply.error(refuse("getxattr", name, e)),
        })
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        guarded("listxattr", || match self.core.listxattr(ino.0) {
            Ok(v) => reply_xattr(reply, size, &v),
            Err(e) => reply.error(refuse("listxattr", self.subject(ino), e)),
        })
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        guarded("removexattr", || match self.core.removexattr(ino.0, name) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(refuse("removexattr", name, e)),
        })
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        guarded("create", || {
            match self
                .core
                .create(parent.0, name, mode, umask, flags, caller(req))
            {
                Ok((a, fh, _)) => reply.created(
                    &TTL,
                    &file_attr(&a),
                    Generation(0),
                    FileHandle(fh),
                    SLOT_OPEN_FLAGS,
                ),
                Err(e) => reply.error(refuse("create", name, e)),
            }
        })
    }

    fn poll(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        ph: PollNotifier,
        _events: PollEvents,
        flags: PollFlags,
        reply: ReplyPoll,
    ) {
        let key = ph.handle().0;
        let waker: Option<core::Waker> = flags
            .contains(PollFlags::FUSE_POLL_SCHEDULE_NOTIFY)
            .then(|| Box::new(move || drop(ph.notify())) as core::Waker);
        guarded("poll", || match self.core.poll(fh.0, key, waker) {
            Ok((ready, role)) => {
                let mut ev = PollEvents::empty();
                if ready.readable {
                    ev |= PollEvents::POLLIN | PollEvents::POLLRDNORM;
                }
                let writable = matches!(role, Role::Client | Role::Server { writable: true });
                if writable && !ready.closed {
                    ev |= PollEvents::POLLOUT | PollEvents::POLLWRNORM;
                }
                if ready.closed {
                    ev |= if role == Role::Client {
                        PollEvents::POLLERR
                    } else {
                        PollEvents::POLLHUP
                    };
                }
                reply.poll(ev)
            }
            Err(e) => reply.error(refuse("poll", self.subject(ino), e)),
        })
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _o: u64,
        _l: u64,
        _m: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(refuse(
            "fallocate",
            self.subject(ino),
            core::Error::Unsupported,
        ));
    }
}
