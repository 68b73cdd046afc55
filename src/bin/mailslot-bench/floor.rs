//! The floor: the least a FUSE filesystem can do per message. One file whose
//! write is acknowledged and whose read returns the bytes asked for: no
//! queue, no lock, no bookkeeping. It is mounted exactly as mailslotfs is
//! (same mount call, threads, max_write, open flags and TTL), so the gap
//! between the two is what mailslotfs itself costs.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, LockOwner, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, Request, WriteFlags,
};
use mailslotfs::daemon::MountIdentity;

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
    .union(FopenFlags::FOPEN_STREAM);

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

/// max_write as the mailslotfs daemon computes it.
fn max_write() -> u32 {
    let max_pages = std::fs::read_to_string("/proc/sys/fs/fuse/max_pages_limit")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(256);
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as usize);
    (max_pages * page).min(16 << 20) as u32
}

enum Event {
    Stop,
    Ended,
}

/// `__floor MOUNTPOINT THREADS`: mounts, prints `ready`, serves until
/// SIGTERM/SIGINT, unmounts.
pub fn main(args: &[OsString]) -> ExitCode {
    let (Some(mnt), Some(threads)) = (
        args.first(),
        args.get(1).and_then(|t| t.to_str()?.parse().ok()),
    ) else {
        eprintln!("usage: mailslot-bench {SUBCOMMAND} MOUNTPOINT THREADS");
        return ExitCode::FAILURE;
    };
    // Silent unless RUST_LOG asks, e.g. RUST_LOG=fuser=debug to see the
    // requests the kernel sends.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("off")).init();
    let mnt = PathBuf::from(mnt);
    match serve(&mnt, threads) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("error floor at {}: {e}", mnt.display());
            ExitCode::FAILURE
        }
    }
}

fn serve(mnt: &std::path::Path, threads: usize) -> std::io::Result<()> {
    let max_write = max_write();
    let fs = FloorFs {
        max_write,
        zeros: vec![0; max_write as usize],
        born: SystemTime::now(),
    };
    // Signals are taken before mounting so none is lost in between.
    let mut signals =
        signal_hook::iterator::Signals::new([libc::SIGTERM, libc::SIGINT, libc::SIGHUP])?;
    let dev = mailslotfs::daemon::mount::mount_fuse(mnt, false)?;
    let mut config = fuser::Config::default();
    config.n_threads = Some(threads);
    let session = fuser::Session::from_fd(fs, dev, fuser::SessionACL::Owner, config)?;
    let identity =
        MountIdentity::of(mnt).ok_or_else(|| std::io::Error::other("cannot identify the mount"))?;
    let background = session.spawn()?;
    std::fs::metadata(mnt.join(FILE_NAME))?;

    let (tx, rx) = mpsc::channel();
    let ended = tx.clone();
    std::thread::spawn(move || {
        let _ = background.join();
        let _ = ended.send(Event::Ended);
    });
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
