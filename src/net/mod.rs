//! The network side: the Remote Mailslot Protocol (SMB mailslot writes in
//! NetBIOS datagrams, UDP 138) and NetBIOS name queries (UDP 137).
//!
//! - [`wire`]: the mailslot datagram codec, size limits, and the mapping
//!   between wire mailslot names and paths under the mount.
//! - [`names`]: NetBIOS names (wire encoding and user spelling) and the
//!   name query packets used to resolve them.
//!
//! - [`service`]: the sockets and threads that use them at run time.
//!
//! `wire` and `names` are pure codecs with no sockets, so they can be tested
//! and fuzzed byte for byte.

pub mod names;
pub mod service;
pub mod wire;
