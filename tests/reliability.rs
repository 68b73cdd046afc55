//! Reliability: what mailslotfs keeps when its users misbehave. Readers are
//! killed mid-read, writers flood, the daemon dies, other users probe, and
//! hostile names, values and calls arrive; through it all every accepted
//! message is read exactly once, nobody hangs forever, and nobody reads
//! another user's mail. docs/reliability.md has the figures and the errno
//! table these tests assert.
//!
//! Run alone with `cargo test --test reliability`. The short variants run in
//! the normal suite; `MAILSLOTFS_LONG=1` runs the long ones (minutes each).

mod common;

#[path = "reliability/util.rs"]
mod util;

#[path = "reliability/interrupts.rs"]
mod interrupts;

#[path = "reliability/vanish.rs"]
mod vanish;

#[path = "reliability/daemon_death.rs"]
mod daemon_death;

#[path = "reliability/load.rs"]
mod load;

#[path = "reliability/flood.rs"]
mod flood;

#[path = "reliability/hostile.rs"]
mod hostile;

#[path = "reliability/permissions.rs"]
mod permissions;

#[path = "reliability/waiting.rs"]
mod waiting;

#[path = "reliability/side_doors.rs"]
mod side_doors;

#[path = "reliability/memory.rs"]
mod memory;

#[path = "reliability/corpus.rs"]
mod corpus;

#[path = "reliability/close_order.rs"]
mod close_order;

#[path = "../fuzz/src/lib.rs"]
mod fuzz_checks;
