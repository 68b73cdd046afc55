//! The mailslot core: slots, queues, handles, waiting readers, limits and
//! errors. Nothing here knows about FUSE; the adapter in `crate::fuse`
//! translates kernel requests into these calls.

pub mod closing;
pub mod error;
pub mod limits;
mod mailslots;
pub mod names;
mod pidns;
pub mod queue;
pub mod quota;
pub mod remote;
pub mod sender;
pub mod slot;
mod timer;
pub mod xattr;

#[cfg(test)]
mod namespace_tests;
#[cfg(test)]
mod tests;

pub use error::{Error, Result};
pub use limits::Limits;
pub use mailslots::{
    Attr, Caller, Fh, Ino, KEPT_DIRECTORIES, Kind, Mailslots, PRESET_DIRECTORIES, ROOT, Role,
    SetAttr, StatFs, USERS_ATTRIBUTE, Uncharge, WaitToken,
};
pub use quota::{Account, Quotas, Resource, UserLimits};
pub use remote::{RemoteSender, RemoteTarget, SendDone, Server, TargetKind, WindowsName};
pub use sender::Sender;
pub use slot::{ReadCall, Readiness, SlotInfo, Waker};
