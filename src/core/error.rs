//! The one error type of the core, and the one place where each error gets
//! its errno. Everything the filesystem can refuse is listed here, so the
//! documented errno table (docs/errors.md) can be checked against one enum.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// No slot or directory by that name, or the inode is gone.
    NotFound,
    /// `O_CREAT|O_EXCL` or `mkdir` on a name that exists (case-insensitively).
    Exists,
    NotDirectory,
    IsDirectory,
    DirectoryNotEmpty,
    /// Reading through a client handle (one opened for reading on an
    /// existing slot, as Windows clients do): only the server reads.
    ReadAccessDenied,
    /// Another user asking who sent a slot's messages.
    OwnerOnly,
    /// Operations a mailslot does not have (unlink, rename, links, mknod,
    /// setting an attribute by someone who is not the owner).
    NotPermitted,
    /// Read through a handle that is not the server handle, or an unknown handle.
    BadHandle,
    /// Write through the server handle opened read-only.
    NotWritable,
    /// A write larger than the slot's maximum message size.
    MessageTooLarge,
    /// A read whose buffer is smaller than the next message.
    BufferTooSmall,
    /// Empty slot and `O_NONBLOCK`.
    WouldBlock,
    /// The slot's queue (or the mount's total) would pass its limit.
    QueueFull,
    /// The caller's user would pass one of its per-user limits
    /// (`max_user_*`): its own allowance is spent, not the mount's.
    QuotaExceeded,
    /// A datagram whose source address already holds its share of the
    /// network's bytes (see `quota.rs`). Only the network side sees it.
    SourceShareExceeded,
    /// The server closed the slot; the client's handle points at nothing.
    ServerGone,
    /// A waiting read was stopped by a signal.
    Interrupted,
    /// A name with bytes a mailslot name cannot have.
    InvalidName,
    NameTooLong,
    /// A value (xattr, size) that does not parse or is out of range.
    InvalidArgument,
    /// Unknown extended attribute.
    NoAttribute,
    /// The caller's buffer cannot hold the attribute value.
    Range,
    /// The operation exists on files but not on mailslots.
    Unsupported,
    /// The daemon is stopping.
    ShuttingDown,
    /// A remote target was named, but the network side is off.
    NetworkDown,
    /// A computer's NetBIOS name could not be resolved.
    HostUnreachable,
    /// A datagram for a slot that other users may not write to, or under a
    /// directory they may not search: the network is "other".
    NotOpenToNetwork,
    /// So many computer names are being resolved at once that another
    /// cannot be asked for now. Not EAGAIN: Windows programs under Wine
    /// retry that for ever.
    ResolverBusy,
    /// The network refused a send with this errno.
    Network(i32),
}

impl Error {
    pub fn errno(self) -> i32 {
        use Error::*;
        match self {
            NotFound => libc::ENOENT,
            Exists => libc::EEXIST,
            NotDirectory => libc::ENOTDIR,
            IsDirectory => libc::EISDIR,
            DirectoryNotEmpty => libc::ENOTEMPTY,
            ReadAccessDenied | OwnerOnly => libc::EACCES,
            NotPermitted => libc::EPERM,
            BadHandle | NotWritable => libc::EBADF,
            MessageTooLarge | BufferTooSmall => libc::EMSGSIZE,
            WouldBlock => libc::EAGAIN,
            QueueFull => libc::ENOSPC,
            QuotaExceeded | SourceShareExceeded => libc::EDQUOT,
            ServerGone => libc::EPIPE,
            Interrupted => libc::EINTR,
            InvalidName | InvalidArgument => libc::EINVAL,
            NameTooLong => libc::ENAMETOOLONG,
            NoAttribute => libc::ENODATA,
            Range => libc::ERANGE,
            Unsupported => libc::EOPNOTSUPP,
            ShuttingDown => libc::ENOTCONN,
            NetworkDown => libc::ENETDOWN,
            HostUnreachable => libc::EHOSTUNREACH,
            NotOpenToNetwork => libc::EACCES,
            ResolverBusy => libc::ENOSPC,
            Network(errno) => errno,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        let text = match self {
            NotFound => "no such mailslot or directory",
            Exists => "name exists",
            NotDirectory => "not a directory",
            IsDirectory => "is a directory",
            DirectoryNotEmpty => "directory not empty",
            ReadAccessDenied => "only the server handle reads a mailslot",
            OwnerOnly => "only the slot's owner sees who sent its messages",
            NotPermitted => "operation not permitted on a mailslot",
            BadHandle => "handle cannot read this mailslot",
            NotWritable => "handle was not opened for writing",
            MessageTooLarge => "message larger than the slot's maximum message size",
            BufferTooSmall => "read buffer smaller than the next message",
            WouldBlock => "no message queued",
            QueueFull => "queue limit reached",
            QuotaExceeded => "the user's limit on this mount is reached",
            SourceShareExceeded => "the sending host's share of the network's bytes is reached",
            ServerGone => "the mailslot's server has closed it",
            Interrupted => "interrupted by a signal",
            InvalidName => "invalid mailslot name",
            NameTooLong => "name too long",
            InvalidArgument => "invalid value",
            NoAttribute => "no such attribute",
            Range => "buffer too small for attribute",
            Unsupported => "not supported on a mailslot",
            ShuttingDown => "mailslotfs is shutting down",
            NetworkDown => "the network side of mailslotfs is off",
            HostUnreachable => "computer name not resolved",
            NotOpenToNetwork => {
                "the slot (or a directory above it) is closed to other users, and the network is other users"
            }
            ResolverBusy => "too many computer names are being resolved",
            Network(_) => "the network refused the send",
        };
        // The errno's name is what the caller saw, and what errors.md lists.
        write!(
            f,
            "{text} ({:?})",
            nix::errno::Errno::from_raw(self.errno())
        )
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_errnos() {
        assert_eq!(Error::ReadAccessDenied.errno(), libc::EACCES);
        assert_eq!(Error::BadHandle.errno(), libc::EBADF);
        assert_eq!(Error::BufferTooSmall.errno(), libc::EMSGSIZE);
        assert_eq!(Error::QueueFull.errno(), libc::ENOSPC);
        assert_eq!(Error::QuotaExceeded.errno(), libc::EDQUOT);
        // Never EAGAIN for a limit: Wine's clients retry it for ever.
        assert_eq!(Error::ResolverBusy.errno(), libc::ENOSPC);
        assert_eq!(Error::ServerGone.errno(), libc::EPIPE);
        assert_eq!(Error::NoAttribute.errno(), libc::ENODATA);
        assert!(Error::QueueFull.to_string().contains("queue limit"));
    }
}
