//! mailslotfs: Windows mailslots as a FUSE filesystem.
//!
//! - [`core`]: the mailslots themselves, unit-tested without FUSE.
//! - [`fuse`]: the FUSE protocol and session, and the thin adapter from
//!   requests to core calls.
//! - [`daemon`]: mounting, daemonizing, unmounting, signals.
//! - [`net`]: the Remote Mailslot Protocol on the wire.
//! - [`cli`]: the command line.
//! - [`ratelimit`]: log lines that users and hosts provoke, rate-limited.

pub mod cli;
pub mod core;
pub mod daemon;
pub mod fuse;
pub mod net;
pub mod ratelimit;
