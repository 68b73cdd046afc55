//! The limits of a mount, as named settings (like mqueue's msgsize_max and
//! queues_max), and how the largest possible message follows from FUSE.

use std::time::Duration;

use super::quota::UserLimits;

/// Per-slot quota when none is given: 64 MiB.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 64 << 20;
/// Mount-wide quota when none is given: 1 GiB.
pub const DEFAULT_MAX_TOTAL_BYTES: usize = 1 << 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest message the mount can carry whole (see `message_ceiling`).
    pub message_ceiling: usize,
    /// Maximum message size of a new slot; never above the ceiling.
    pub max_message_size: usize,
    /// Read timeout of a new slot; `None` waits forever.
    pub read_timeout: Option<Duration>,
    /// Bytes one slot may hold (payload plus 16 bytes a message).
    pub max_queued_bytes: usize,
    /// Bytes all slots together may hold.
    pub max_total_bytes: usize,
    /// What one user may hold (see `quota.rs`).
    pub user: UserLimits,
}

impl Limits {
    pub fn new(message_ceiling: usize) -> Self {
        Self {
            message_ceiling,
            max_message_size: message_ceiling,
            read_timeout: None,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            user: UserLimits::defaults(DEFAULT_MAX_TOTAL_BYTES),
        }
    }
}

/// The kernel splits a direct-I/O request into FUSE requests of at most
/// `max_pages` pages, one page fewer when the caller's buffer does not start
/// on a page boundary. Every message up to `(max_pages - 1) * page_size`
/// therefore travels in one request, whatever the buffer's alignment, and
/// the first piece of any split write is larger than that, so the daemon
/// refuses it (EMSGSIZE) instead of queueing half a message.
pub fn message_ceiling(max_pages: usize, page_size: usize) -> usize {
    max_pages.saturating_sub(1) * page_size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ceiling_matches_the_kernel_default() {
        assert_eq!(message_ceiling(256, 4096), 1_044_480);
        assert_eq!(Limits::new(1000).max_message_size, 1000);
    }
}
