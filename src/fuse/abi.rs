//! The FUSE kernel protocol as mailslotfs speaks it: opcodes, flags and the
//! byte layouts of the messages on `/dev/fuse`, taken from the kernel's uapi
//! header `linux/fuse.h` (protocol 7.31 and later). Requests are decoded
//! field by field from the bytes the kernel wrote and replies are encoded
//! the same way, so no structure is ever reinterpreted in place.

/// The protocol version spoken (`FUSE_KERNEL_VERSION`).
pub const MAJOR: u32 = 7;
/// The highest minor version whose layouts this module knows.
pub const MINOR: u32 = 38;
/// The oldest minor version accepted: `max_pages` (7.28) sets the message
/// ceiling, and 7.31 is what every kernel from 5.4 on speaks.
pub const MIN_MINOR: u32 = 31;

pub const IN_HEADER_LEN: usize = 40;
pub const OUT_HEADER_LEN: usize = 16;
/// The kernel refuses a read buffer smaller than this.
pub const MIN_READ_BUFFER: usize = 8192;

/// Set in the `unique` of a FUSE_INTERRUPT's own reply.
pub const INT_REQ_BIT: u64 = 1;

pub mod op {
    pub const LOOKUP: u32 = 1;
    pub const FORGET: u32 = 2;
    pub const GETATTR: u32 = 3;
    pub const SETATTR: u32 = 4;
    pub const READLINK: u32 = 5;
    pub const SYMLINK: u32 = 6;
    pub const MKNOD: u32 = 8;
    pub const MKDIR: u32 = 9;
    pub const UNLINK: u32 = 10;
    pub const RMDIR: u32 = 11;
    pub const RENAME: u32 = 12;
    pub const LINK: u32 = 13;
    pub const OPEN: u32 = 14;
    pub const READ: u32 = 15;
    pub const WRITE: u32 = 16;
    pub const STATFS: u32 = 17;
    pub const RELEASE: u32 = 18;
    pub const FSYNC: u32 = 20;
    pub const SETXATTR: u32 = 21;
    pub const GETXATTR: u32 = 22;
    pub const LISTXATTR: u32 = 23;
    pub const REMOVEXATTR: u32 = 24;
    pub const FLUSH: u32 = 25;
    pub const INIT: u32 = 26;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const FSYNCDIR: u32 = 30;
    pub const GETLK: u32 = 31;
    pub const SETLK: u32 = 32;
    pub const SETLKW: u32 = 33;
    pub const ACCESS: u32 = 34;
    pub const CREATE: u32 = 35;
    pub const INTERRUPT: u32 = 36;
    pub const BMAP: u32 = 37;
    pub const DESTROY: u32 = 38;
    pub const IOCTL: u32 = 39;
    pub const POLL: u32 = 40;
    pub const NOTIFY_REPLY: u32 = 41;
    pub const BATCH_FORGET: u32 = 42;
    pub const FALLOCATE: u32 = 43;
    pub const READDIRPLUS: u32 = 44;
    pub const RENAME2: u32 = 45;
    pub const LSEEK: u32 = 46;
    pub const COPY_FILE_RANGE: u32 = 47;
    pub const SETUPMAPPING: u32 = 48;
    pub const REMOVEMAPPING: u32 = 49;
    pub const SYNCFS: u32 = 50;
    pub const TMPFILE: u32 = 51;
    pub const STATX: u32 = 52;
}

/// FUSE_INIT flags (`fuse_init_in.flags`, `fuse_init_out.flags`).
pub mod init {
    pub const ASYNC_READ: u32 = 1 << 0;
    pub const ATOMIC_O_TRUNC: u32 = 1 << 3;
    pub const BIG_WRITES: u32 = 1 << 5;
    pub const DONT_MASK: u32 = 1 << 6;
    pub const ASYNC_DIO: u32 = 1 << 15;
    pub const PARALLEL_DIROPS: u32 = 1 << 18;
    pub const MAX_PAGES: u32 = 1 << 22;
    pub const NO_OPENDIR_SUPPORT: u32 = 1 << 24;
}

/// `fuse_open_out.open_flags`.
pub mod fopen {
    pub const DIRECT_IO: u32 = 1 << 0;
    pub const NONSEEKABLE: u32 = 1 << 2;
    pub const STREAM: u32 = 1 << 4;
    pub const NOFLUSH: u32 = 1 << 5;
    pub const PARALLEL_DIRECT_WRITES: u32 = 1 << 6;
}

/// `fuse_setattr_in.valid`.
pub mod fattr {
    pub const MODE: u32 = 1 << 0;
    pub const UID: u32 = 1 << 1;
    pub const GID: u32 = 1 << 2;
    pub const SIZE: u32 = 1 << 3;
}

/// `fuse_read_in.read_flags`: the kernel names the lock owner (the
/// caller's open-files table) only for reads it sends on behalf of a
/// read(2)-like call through direct I/O. Reads that fill the page cache
/// (readahead, `posix_fadvise`, `mmap` faults, splice) carry no owner.
pub const READ_LOCKOWNER: u32 = 1 << 1;

/// `fuse_poll_in.flags`.
pub const POLL_SCHEDULE_NOTIFY: u32 = 1 << 0;

pub mod notify {
    pub const POLL: i32 = 1;
    pub const INVAL_ENTRY: i32 = 3;
}

/// `FUSE_DEV_IOC_CLONE`: `_IOR(229, 0, uint32_t)`.
pub const DEV_IOC_CLONE: libc::c_ulong = 0x8004_e500;

/// The fixed header of every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InHeader {
    pub len: u32,
    pub opcode: u32,
    pub unique: u64,
    pub nodeid: u64,
    pub uid: u32,
    pub gid: u32,
    /// The caller's thread id in the PID namespace of the mounting process,
    /// 0 when it is not visible there.
    pub pid: u32,
}

/// Reads little fixed-size fields off a request body, front to back. A body
/// shorter than its opcode's layout is a malformed request (`None`).
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    bytes: &'a [u8],
}

impl<'a> Args<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")))
    }

    pub fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_ne_bytes(b.try_into().expect("8 bytes")))
    }

    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    /// A NUL-terminated name (the NUL is consumed, not returned).
    pub fn name(&mut self) -> Option<&'a [u8]> {
        let end = self.bytes.iter().position(|&b| b == 0)?;
        let name = &self.bytes[..end];
        self.bytes = &self.bytes[end + 1..];
        Some(name)
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }
}

impl InHeader {
    pub fn parse(bytes: &[u8]) -> Option<InHeader> {
        let mut a = Args::new(bytes);
        let h = InHeader {
            len: a.u32()?,
            opcode: a.u32()?,
            unique: a.u64()?,
            nodeid: a.u64()?,
            uid: a.u32()?,
            gid: a.u32()?,
            pid: a.u32()?,
        };
        // total_extlen and padding: extensions are never negotiated.
        a.skip(4)?;
        Some(h)
    }

    /// A whole request as the kernel would write it, with `len` set for
    /// `body`: for driving a session without a kernel (tests, fuzzing).
    pub fn request(opcode: u32, unique: u64, nodeid: u64, body: &[u8]) -> Vec<u8> {
        let mut out = Out::with_capacity(IN_HEADER_LEN + body.len());
        out.u32((IN_HEADER_LEN + body.len()) as u32)
            .u32(opcode)
            .u64(unique)
            .u64(nodeid)
            .u32(0)
            .u32(0)
            .u32(1)
            .u32(0);
        out.bytes.extend_from_slice(body);
        out.bytes
    }
}

/// Appends native-endian fields to a reply body.
#[derive(Debug, Default)]
pub struct Out {
    pub bytes: Vec<u8>,
}

impl Out {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(n),
        }
    }

    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_ne_bytes());
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_ne_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_ne_bytes());
        self
    }

    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.bytes.resize(self.bytes.len() + n, 0);
        self
    }

    pub fn pad_to_8(&mut self) -> &mut Self {
        let n = self.bytes.len().next_multiple_of(8) - self.bytes.len();
        self.zeros(n)
    }
}

/// `struct fuse_out_header`.
pub fn out_header(len: usize, error: i32, unique: u64) -> [u8; OUT_HEADER_LEN] {
    let mut h = [0u8; OUT_HEADER_LEN];
    h[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    h[4..8].copy_from_slice(&error.to_ne_bytes());
    h[8..16].copy_from_slice(&unique.to_ne_bytes());
    h
}

/// File attributes as `struct fuse_attr` carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attr {
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub atime: (u64, u32),
    pub mtime: (u64, u32),
    pub ctime: (u64, u32),
    /// File type and permission bits, as in `st_mode`.
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub blksize: u32,
}

impl Attr {
    pub const LEN: usize = 88;

    pub fn encode(&self, out: &mut Out) {
        out.u64(self.ino)
            .u64(self.size)
            .u64(self.blocks)
            .u64(self.atime.0)
            .u64(self.mtime.0)
            .u64(self.ctime.0)
            .u32(self.atime.1)
            .u32(self.mtime.1)
            .u32(self.ctime.1)
            .u32(self.mode)
            .u32(self.nlink)
            .u32(self.uid)
            .u32(self.gid)
            .u32(0) // rdev
            .u32(self.blksize)
            .u32(0); // flags
    }
}

/// `struct fuse_entry_out`: a name's node with its attributes; `valid` is
/// how long the kernel may keep both, in (seconds, nanoseconds).
pub fn entry_out(attr: &Attr, generation: u64, valid: (u64, u32)) -> Out {
    let mut out = Out::with_capacity(40 + Attr::LEN);
    out.u64(attr.ino)
        .u64(generation)
        .u64(valid.0)
        .u64(valid.0)
        .u32(valid.1)
        .u32(valid.1);
    attr.encode(&mut out);
    out
}

/// `struct fuse_attr_out`.
pub fn attr_out(attr: &Attr, valid: (u64, u32)) -> Out {
    let mut out = Out::with_capacity(16 + Attr::LEN);
    out.u64(valid.0).u32(valid.1).u32(0);
    attr.encode(&mut out);
    out
}

/// `struct fuse_open_out`.
pub fn open_out(out: &mut Out, fh: u64, open_flags: u32) {
    out.u64(fh).u32(open_flags).u32(0);
}

/// One `struct fuse_dirent`, padded to 8 bytes, if it fits in `room`.
pub fn dirent(out: &mut Out, room: usize, ino: u64, cookie: u64, kind: u32, name: &[u8]) -> bool {
    let len = (24 + name.len()).next_multiple_of(8);
    if out.bytes.len() + len > room {
        return false;
    }
    out.u64(ino).u64(cookie).u32(name.len() as u32).u32(kind);
    out.bytes.extend_from_slice(name);
    out.pad_to_8();
    true
}

/// `struct fuse_kstatfs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
}

impl StatFs {
    pub fn encode(&self) -> Out {
        let mut out = Out::with_capacity(80);
        out.u64(self.blocks)
            .u64(self.bfree)
            .u64(self.bavail)
            .u64(self.files)
            .u64(self.ffree)
            .u32(self.bsize)
            .u32(self.namelen)
            .u32(self.frsize)
            .u32(0)
            .zeros(24);
        out
    }
}

/// What FUSE_INIT offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitIn {
    pub major: u32,
    pub minor: u32,
    pub max_readahead: u32,
    pub flags: u32,
}

impl InitIn {
    /// The body of a FUSE_INIT offering this (for tests and fuzzing).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Out::with_capacity(64);
        out.u32(self.major)
            .u32(self.minor)
            .u32(self.max_readahead)
            .u32(self.flags)
            .zeros(48);
        out.bytes
    }

    pub fn parse(args: &mut Args) -> Option<InitIn> {
        Some(InitIn {
            major: args.u32()?,
            minor: args.u32()?,
            max_readahead: args.u32()?,
            flags: args.u32()?,
        })
    }
}

/// What the daemon answers to FUSE_INIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitOut {
    pub minor: u32,
    pub max_readahead: u32,
    pub flags: u32,
    pub max_background: u16,
    pub congestion_threshold: u16,
    pub max_write: u32,
    pub max_pages: u16,
}

impl InitOut {
    pub fn encode(&self) -> Out {
        let mut out = Out::with_capacity(64);
        out.u32(MAJOR)
            .u32(self.minor)
            .u32(self.max_readahead)
            .u32(self.flags)
            .u16(self.max_background)
            .u16(self.congestion_threshold)
            .u32(self.max_write)
            .u32(1) // time_gran: nanoseconds
            .u16(self.max_pages)
            .u16(0) // map_alignment
            .u32(0) // flags2
            .zeros(28);
        out
    }
}

/// `st_mode` file type bits, and the `d_type` of a directory entry.
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const DT_DIR: u32 = 4;
pub const DT_REG: u32 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let mut raw = Out::default();
        raw.u32(56)
            .u32(op::READ)
            .u64(42)
            .u64(7)
            .u32(1000)
            .u32(100)
            .u32(4321)
            .u32(0);
        assert_eq!(raw.bytes.len(), IN_HEADER_LEN);
        let h = InHeader::parse(&raw.bytes).unwrap();
        assert_eq!(
            h,
            InHeader {
                len: 56,
                opcode: op::READ,
                unique: 42,
                nodeid: 7,
                uid: 1000,
                gid: 100,
                pid: 4321,
            }
        );
        assert!(InHeader::parse(&raw.bytes[..39]).is_none());
    }

    #[test]
    fn layouts_have_the_kernel_sizes() {
        let a = Attr::default();
        assert_eq!(entry_out(&a, 0, (0, 0)).bytes.len(), 128);
        assert_eq!(attr_out(&a, (0, 0)).bytes.len(), 104);
        assert_eq!(StatFs::default().encode().bytes.len(), 80);
        let init = InitOut {
            minor: MINOR,
            max_readahead: 0,
            flags: 0,
            max_background: 16,
            congestion_threshold: 12,
            max_write: 4096,
            max_pages: 1,
        };
        assert_eq!(init.encode().bytes.len(), 64);
        let mut o = Out::default();
        open_out(&mut o, 1, 0);
        assert_eq!(o.bytes.len(), 16);
    }

    #[test]
    fn dirents_are_padded_and_bounded() {
        let mut out = Out::default();
        assert!(dirent(&mut out, 4096, 5, 3, DT_REG, b"abc"));
        assert_eq!(out.bytes.len(), 32);
        assert!(!dirent(&mut out, 40, 6, 4, DT_REG, b"abcdefghijk"));
        assert_eq!(out.bytes.len(), 32);
    }

    #[test]
    fn names_end_at_their_nul() {
        let mut a = Args::new(b"one\0two\0");
        assert_eq!(a.name(), Some(&b"one"[..]));
        assert_eq!(a.name(), Some(&b"two"[..]));
        assert_eq!(a.name(), None);
        let mut unterminated = Args::new(b"abc");
        assert_eq!(unterminated.name(), None);
    }

    #[test]
    fn clone_ioctl_number() {
        // _IOR(229, 0, uint32_t): direction read (2) << 30, size 4 << 16.
        assert_eq!(DEV_IOC_CLONE, (2 << 30) | (4 << 16) | (229 << 8));
    }
}
