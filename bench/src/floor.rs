//! The floor: the least a FUSE filesystem can do per message. One file whose
//! write is acknowledged and whose read returns the bytes asked for: no
//! queue, no lock, no bookkeeping. It is mounted exactly as mailslotfs is
//! (same mount call, max_write, open flags and TTL), so the gap between the
//! two is what mailslotfs itself costs.
//!
//! Which FUSE library and how many threads make the fastest do-nothing
//! filesystem depends on the machine, so there are several floors (see
//! [`FloorKind`]): fuser with one thread, fuser with N threads each on its
//! own cloned `/dev/fuse` descriptor, and mailslotfs's own session layer
//! with one and with N threads. The benchmark measures them all and holds
//! mailslotfs against the best.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, mpsc};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, LockOwner, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, Request, WriteFlags,
};
use mailslotfs::daemon::MountIdentity;
use mailslotfs::fuse::abi;
use mailslotfs::fuse::session::{self, Handler, Reply};
use serde::{Deserialize, Serialize};

/// The hidden subcommand that serves the floor in its own process.
pub const SUBCOMMAND: &str = "__floor";
/// The floor's one file.
pub const FILE_NAME: &str = "floor";

const ROOT: u64 = 1;
const FILE: u64 = 2;
/// As mailslotfs: nothing cached by the kernel.
const TTL: Duration = Duration::ZERO;
/// As mailslotfs opens its slots.
const OPEN_FLAGS: FopenFlags = FopenFlags::FOPEN_DIRECT_IO
    .union(FopenFlags::FOPEN_NONSEEKABLE)
    .union(FopenFlags::FOPEN_STREAM)
    .union(FopenFlags::FOPEN_PARALLEL_DIRECT_WRITES);

/// The FUSE library that serves a floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Library {
    /// fuser 0.18; with more than one thread, each has a `/dev/fuse`
    /// descriptor of its own (`clone_fd`).
    Fuser,
    /// mailslotfs's own session layer (`mailslotfs::fuse::session`),
    /// threads taking turns on one descriptor.
    Session,
}

/// One floor: a library and its thread count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct FloorKind {
    pub library: Library,
    pub threads: u16,
}

impl FloorKind {
    /// The floors worth measuring with `n` threads for the multi-threaded
    /// ones: with `n` = 1 those would repeat the single-threaded ones.
    pub fn all(n: u16) -> Vec<FloorKind> {
        let mut v = Vec::new();
        for library in [Library::Fuser, Library::Session] {
            v.push(FloorKind {
                library,
                threads: 1,
            });
            if n > 1 {
                v.push(FloorKind {
                    library,
                    threads: n,
                });
            }
        }
        v
    }

    /// `fuser-1`, `fuser-2-clone_fd`, `session-1`, `session-2`.
    pub fn name(self) -> String {
        match (self.library, self.threads) {
            (Library::Fuser, 1) => "fuser-1".into(),
            (Library::Fuser, n) => format!("fuser-{n}-clone_fd"),
            (Library::Session, n) => format!("session-{n}"),
        }
    }

    pub fn parse(s: &str) -> Option<FloorKind> {
        let (lib, rest) = s.split_once('-')?;
        let library = match lib {
            "fuser" => Library::Fuser,
            "session" => Library::Session,
            _ => return None,
        };
        let threads = rest.trim_end_matches("-clone_fd").parse().ok()?;
        Some(FloorKind { library, threads })
    }

    /// What the floor is, in words, for the JSON.
    pub fn describe(self) -> String {
        match (self.library, self.threads) {
            (Library::Fuser, 1) => "fuser 0.18, 1 thread".into(),
            (Library::Fuser, n) => format!("fuser 0.18, {n} threads, clone_fd"),
            (Library::Session, 1) => "mailslotfs session layer, 1 thread".into(),
            (Library::Session, n) => format!("mailslotfs session layer, {n} threads"),
        }
    }
}

impl From<FloorKind> for String {
    fn from(k: FloorKind) -> String {
        k.name()
    }
}

impl TryFrom<String> for FloorKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        FloorKind::parse(&s).ok_or_else(|| format!("not a floor: {s:?}"))
    }
}

struct FloorFs {
    max_write: u32,
    zeros: Vec<u8>,
    born: SystemTime,
}

impl FloorFs {
    fn attr(&self, ino: u64) -> FileAttr {
        let dir = ino == ROOT;
        FileAttr {
            ino: INodeNo(ino),
            size: 0,
            blocks: 0,
            atime: self.born,
            mtime: self.born,
            ctime: self.born,
            crtime: self.born,
            kind: if dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            },
            perm: if dir { 0o755 } else { 0o666 },
            nlink: if dir { 2 } else { 1 },
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }
}

impl Filesystem for FloorFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_write(self.max_write);
        // As mailslotfs: room for many background requests (releases).
        let _ = config.set_max_background(1024);
        let _ = config.set_congestion_threshold(768);
        let _ = config.set_max_readahead(0);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent.0 == ROOT && name == FILE_NAME {
            reply.entry(&TTL, &self.attr(FILE), Generation(0));
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match ino.0 {
            ROOT | FILE => reply.attr(&TTL, &self.attr(ino.0)),
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.opened(FileHandle(0), OPEN_FLAGS);
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        reply.data(&self.zeros[..(size as usize).min(self.zeros.len())]);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        reply.written(data.len() as u32);
    }

    /// Answered like mailslotfs answers it, so a close costs both the same.
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
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
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
        if ino.0 != ROOT {
            return reply.error(Errno::ENOTDIR);
        }
        let entries = [
            (ROOT, FileType::Directory, "."),
            (ROOT, FileType::Directory, ".."),
            (FILE, FileType::RegularFile, FILE_NAME),
        ];
        for (i, (ino, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), (i + 1) as u64, *kind, name) {
                break;
            }
        }
        reply.ok();
    }
}

/// max_write and max_pages as the mailslotfs daemon computes them.
fn max_write() -> (u32, u16) {
    let max_pages = std::fs::read_to_string("/proc/sys/fs/fuse/max_pages_limit")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(256);
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as usize);
    (
        (max_pages * page).min(16 << 20) as u32,
        u16::try_from(max_pages).unwrap_or(u16::MAX),
    )
}

/// The floor on mailslotfs's own session layer: each request answered on
/// the thread that read it, nothing tracked for interrupts (nothing waits)
/// and no request held as a barrier (nothing depends on order).
struct SessionFloor {
    max_write: u32,
    max_pages: u16,
    zeros: Vec<u8>,
    born: (u64, u32),
    uid: u32,
    gid: u32,
}

impl SessionFloor {
    fn attr(&self, ino: u64) -> abi::Attr {
        let dir = ino == ROOT;
        abi::Attr {
            ino,
            size: 0,
            blocks: 0,
            atime: self.born,
            mtime: self.born,
            ctime: self.born,
            mode: if dir {
                abi::S_IFDIR | 0o755
            } else {
                abi::S_IFREG | 0o666
            },
            nlink: if dir { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            blksize: 4096,
        }
    }

    fn serve(&self, req: &session::Request<'_>, reply: Reply) -> Option<()> {
        let mut a = req.args();
        let ino = req.header.nodeid;
        match req.header.opcode {
            abi::op::LOOKUP => {
                if ino == ROOT && a.name()? == FILE_NAME.as_bytes() {
                    reply.ok(&[&abi::entry_out(&self.attr(FILE), 0, (0, 0)).bytes]);
                } else {
                    reply.error(libc::ENOENT);
                }
            }
            abi::op::GETATTR => match ino {
                ROOT | FILE => reply.ok(&[&abi::attr_out(&self.attr(ino), (0, 0)).bytes]),
                _ => reply.error(libc::ENOENT),
            },
            abi::op::OPEN => {
                let mut out = abi::Out::with_capacity(16);
                abi::open_out(&mut out, 0, OPEN_FLAGS.bits());
                reply.ok(&[&out.bytes]);
            }
            abi::op::OPENDIR => {
                let mut out = abi::Out::with_capacity(16);
                abi::open_out(&mut out, 0, 0);
                reply.ok(&[&out.bytes]);
            }
            abi::op::READ => {
                a.skip(16)?;
                let size = a.u32()? as usize;
                reply.ok(&[&self.zeros[..size.min(self.zeros.len())]]);
            }
            abi::op::WRITE => {
                a.skip(16)?;
                let size = a.u32()?;
                let mut out = abi::Out::with_capacity(8);
                out.u32(size).u32(0);
                reply.ok(&[&out.bytes]);
            }
            abi::op::READDIR => {
                a.skip(8)?;
                let offset = a.u64()? as usize;
                let size = a.u32()? as usize;
                let entries = [
                    (ROOT, abi::DT_DIR, "."),
                    (ROOT, abi::DT_DIR, ".."),
                    (FILE, abi::DT_REG, FILE_NAME),
                ];
                let mut out = abi::Out::with_capacity(128);
                for (i, (ino, kind, name)) in entries.iter().enumerate().skip(offset) {
                    if !abi::dirent(&mut out, size, *ino, (i + 1) as u64, *kind, name.as_bytes()) {
                        break;
                    }
                }
                reply.ok(&[&out.bytes]);
            }
            abi::op::STATFS => reply.ok(&[&abi::StatFs::default().encode().bytes]),
            abi::op::FLUSH | abi::op::RELEASE | abi::op::RELEASEDIR | abi::op::DESTROY => {
                reply.ok(&[])
            }
            _ => reply.error(libc::ENOSYS),
        }
        Some(())
    }
}

impl Handler for SessionFloor {
    fn init(&self, offered: &abi::InitIn) -> Result<abi::InitOut, i32> {
        // What mailslotfs asks for, so both get the same kind of requests.
        let wanted = abi::init::BIG_WRITES
            | abi::init::MAX_PAGES
            | abi::init::PARALLEL_DIROPS
            | abi::init::ATOMIC_O_TRUNC;
        Ok(abi::InitOut {
            minor: offered.minor.min(abi::MINOR),
            max_readahead: 0,
            flags: offered.flags & wanted,
            max_background: 1024,
            congestion_threshold: 768,
            max_write: self.max_write,
            max_pages: self.max_pages,
        })
    }

    fn may_wait(&self, _opcode: u32) -> bool {
        false
    }

    fn is_barrier(&self, _opcode: u32) -> bool {
        false
    }

    fn dispatch(&self, req: &session::Request<'_>, reply: Option<Reply>) {
        if let Some(reply) = reply
            && self.serve(req, reply).is_none()
        {
            log::warn!(
                "a malformed request (opcode {}) was refused",
                req.header.opcode
            );
        }
    }
}

enum Event {
    Stop,
    Ended,
}

/// `__floor MOUNTPOINT KIND`: mounts, prints `ready`, serves until
/// SIGTERM/SIGINT, unmounts.
pub fn main(args: &[OsString]) -> ExitCode {
    let (Some(mnt), Some(kind)) = (
        args.first(),
        args.get(1).and_then(|k| FloorKind::parse(k.to_str()?)),
    ) else {
        eprintln!("usage: mailslot-bench {SUBCOMMAND} MOUNTPOINT fuser-N|session-N");
        return ExitCode::FAILURE;
    };
    // Silent unless RUST_LOG asks, e.g. RUST_LOG=fuser=debug to see the
    // requests the kernel sends.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("off")).init();
    let mnt = PathBuf::from(mnt);
    match serve(&mnt, kind) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("error floor at {}: {e}", mnt.display());
            ExitCode::FAILURE
        }
    }
}

fn serve(mnt: &std::path::Path, kind: FloorKind) -> std::io::Result<()> {
    let (max_write, max_pages) = max_write();
    let born = SystemTime::now();
    // Signals are taken before mounting so none is lost in between.
    let mut signals =
        signal_hook::iterator::Signals::new([libc::SIGTERM, libc::SIGINT, libc::SIGHUP])?;
    let dev = mailslotfs::daemon::mount::mount_fuse(mnt, false)?;
    let identity =
        MountIdentity::of(mnt).ok_or_else(|| std::io::Error::other("cannot identify the mount"))?;
    let (tx, rx) = mpsc::channel();
    let ended = tx.clone();
    let threads = usize::from(kind.threads);
    match kind.library {
        Library::Fuser => {
            let fs = FloorFs {
                max_write,
                zeros: vec![0; max_write as usize],
                born,
            };
            let mut config = fuser::Config::default();
            config.n_threads = Some(threads);
            config.clone_fd = threads > 1;
            let session = fuser::Session::from_fd(fs, dev, fuser::SessionACL::Owner, config)?;
            let background = session.spawn()?;
            std::thread::spawn(move || {
                let _ = background.join();
                let _ = ended.send(Event::Ended);
            });
        }
        Library::Session => {
            let since = born
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            let fs = SessionFloor {
                max_write,
                max_pages,
                zeros: vec![0; max_write as usize],
                born: (since.as_secs(), since.subsec_nanos()),
                uid: nix::unistd::geteuid().as_raw(),
                gid: nix::unistd::getegid().as_raw(),
            };
            let transport = Arc::new(mailslotfs::fuse::channel::DevFuse::new(dev));
            // As the daemon sizes it: the largest request plus its header.
            let buffer = max_write as usize + 4096;
            let session = session::Session::spawn(transport, Arc::new(fs), threads, buffer)?;
            std::thread::spawn(move || {
                let _ = session.join();
                let _ = ended.send(Event::Ended);
            });
        }
    }
    std::fs::metadata(mnt.join(FILE_NAME))?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = tx.send(Event::Stop);
        }
    });
    println!("ready");
    if let Ok(Event::Stop) = rx.recv() {
        mailslotfs::daemon::unmount_if_ours(mnt, &identity);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_names_parse_back() {
        for kind in FloorKind::all(4) {
            assert_eq!(FloorKind::parse(&kind.name()), Some(kind));
        }
        assert_eq!(
            FloorKind::all(1).len(),
            2,
            "one CPU: no multi-threaded floors"
        );
        assert_eq!(FloorKind::parse("fuse-1"), None);
    }
}
