//! What can go wrong, as one exit status each, so scripts can tell "nobody
//! listens" from "the queue is full" without parsing messages.

use std::fmt;
use std::io;

/// Every exit status with its meaning; `--help` and the man page print this.
pub const EXIT_CODES: &[(u8, &str)] = &[
    (
        0,
        "success (listen: also when the read timeout passed or --count messages arrived)",
    ),
    (1, "any other failure (the message says which)"),
    (2, "usage: bad arguments or options, or nothing to send"),
    (
        3,
        "no such slot: nobody created it, or its server closed it",
    ),
    (
        4,
        "not mounted: the mount point is not a mailslotfs mount, or it went away",
    ),
    (5, "message too large for the slot"),
    (
        6,
        "queue full: the slot or the mount holds as much as it may",
    ),
    (7, "slot exists: another server holds the name (listen)"),
    (8, "permission denied"),
    (
        9,
        "host unreachable: no computer of that name answered a name query (send)",
    ),
    (
        10,
        "network off: the mount was started without --interface or --address, so names on \
         other machines cannot be reached (send)",
    ),
];

#[derive(Debug)]
pub enum Failure {
    Other(String),
    Usage(String),
    NoSuchSlot(String),
    NotMounted(String),
    TooLarge(String),
    QueueFull(String),
    Exists(String),
    PermissionDenied(String),
    Unreachable(String),
    NetworkOff(String),
}

impl Failure {
    pub fn code(&self) -> u8 {
        match self {
            Failure::Other(_) => 1,
            Failure::Usage(_) => 2,
            Failure::NoSuchSlot(_) => 3,
            Failure::NotMounted(_) => 4,
            Failure::TooLarge(_) => 5,
            Failure::QueueFull(_) => 6,
            Failure::Exists(_) => 7,
            Failure::PermissionDenied(_) => 8,
            Failure::Unreachable(_) => 9,
            Failure::NetworkOff(_) => 10,
        }
    }

    /// Classifies an error of a call on the slot `what` by its errno.
    pub fn io(what: &str, err: &io::Error) -> Failure {
        use libc::*;
        match err.raw_os_error() {
            Some(ENOENT) => Failure::NoSuchSlot(format!("{what}: no such slot")),
            Some(EPIPE) => Failure::NoSuchSlot(format!("{what}: the slot's server closed it")),
            // ECONNABORTED: a read waiting when the daemon died (even by
            // SIGKILL) is ended with it by the kernel.
            Some(ENOTCONN | ECONNABORTED) => Failure::NotMounted(format!(
                "{what}: the mailslotfs mount stopped (transport endpoint is not connected)"
            )),
            Some(EMSGSIZE) => Failure::TooLarge(format!("{what}: message too large for the slot")),
            Some(ENOSPC) => Failure::QueueFull(format!("{what}: queue full")),
            Some(libc::EDQUOT) => {
                Failure::QueueFull(format!("{what}: your user's limit is reached"))
            }
            Some(EEXIST) => Failure::Exists(format!("{what}: the slot exists (it has a server)")),
            Some(EACCES | EPERM) => Failure::PermissionDenied(format!("{what}: permission denied")),
            Some(EHOSTUNREACH) => Failure::Unreachable(format!(
                "{what}: the computer name did not resolve (no answer to a name query)"
            )),
            Some(ENETDOWN) => Failure::NetworkOff(format!(
                "{what}: the network side of mailslotfs is off (mounted without --interface \
                 or --address)"
            )),
            _ => Failure::Other(format!("{what}: {}", mailslotfs::cli::error_text(err))),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Failure::Other(m)
        | Failure::Usage(m)
        | Failure::NoSuchSlot(m)
        | Failure::NotMounted(m)
        | Failure::TooLarge(m)
        | Failure::QueueFull(m)
        | Failure::Exists(m)
        | Failure::PermissionDenied(m)
        | Failure::Unreachable(m)
        | Failure::NetworkOff(m)) = self;
        f.write_str(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_documented() {
        let all = [
            Failure::Other(String::new()),
            Failure::Usage(String::new()),
            Failure::NoSuchSlot(String::new()),
            Failure::NotMounted(String::new()),
            Failure::TooLarge(String::new()),
            Failure::QueueFull(String::new()),
            Failure::Exists(String::new()),
            Failure::PermissionDenied(String::new()),
            Failure::Unreachable(String::new()),
            Failure::NetworkOff(String::new()),
        ];
        let mut codes: Vec<u8> = all.iter().map(Failure::code).collect();
        for c in &codes {
            assert!(EXIT_CODES.iter().any(|(d, _)| d == c), "{c} undocumented");
        }
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn errnos() {
        let f = |e| Failure::io("x", &io::Error::from_raw_os_error(e)).code();
        assert_eq!(f(libc::ENOENT), 3);
        assert_eq!(f(libc::EPIPE), 3);
        assert_eq!(f(libc::ENOTCONN), 4);
        assert_eq!(f(libc::ECONNABORTED), 4);
        assert_eq!(f(libc::EMSGSIZE), 5);
        assert_eq!(f(libc::ENOSPC), 6);
        assert_eq!(f(libc::EEXIST), 7);
        assert_eq!(f(libc::EACCES), 8);
        assert_eq!(f(libc::EPERM), 8);
        assert_eq!(f(libc::EHOSTUNREACH), 9);
        assert_eq!(f(libc::ENETDOWN), 10);
        assert_eq!(f(libc::EIO), 1);
    }
}
