//! Slots whose server handle was flushed and not yet released.
//!
//! `close(2)` of a server handle sends a FLUSH, answered before the call
//! returns, and then (for the last descriptor of the open file) a RELEASE
//! that the kernel queues in the background. Past `max_background`, the
//! kernel holds that RELEASE unnumbered behind everybody's background
//! requests, so a request made after the close can reach the daemon first.
//! A request that depends on a slot marked here (an open, a create or a
//! lookup of its name, a client's write) therefore waits until either the
//! slot's RELEASE arrives or a fence passes: a directory handle the daemon
//! opens and closes after the request arrived, whose RELEASEDIR joins the
//! same first-in-first-out background queue behind any RELEASE queued
//! before it. A fence that passes with the slot still here proves that the
//! descriptor closed was not the last one (a dup or a forked copy), or that
//! its close had not returned when the waiting request was made: either
//! way the slot may serve that request.
//!
//! A mark stays after such a fence, since the close may still be on its
//! way between its FLUSH and its RELEASE; it goes once a fence started
//! [`GRACE`] after the last FLUSH passes (or with the RELEASE). See
//! docs/interrupts.md, "Closing a slot".

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use super::Ino;

/// How long a closing thread may take, once its FLUSH is answered, to
/// queue its RELEASE (the kernel does it on the way out of `close(2)`)
/// before a mark may be dropped on the evidence of a fence.
pub const GRACE: Duration = Duration::from_secs(2);

/// Serves a request that waited, once it may be served.
pub type Resume = Box<dyn FnOnce() + Send>;

/// Starts a fence (asks the fence thread to open and close a directory).
pub type Kick = Box<dyn Fn() + Send + Sync>;

struct Waiter {
    ino: Ino,
    /// Fences numbered up to this one started before the request waited.
    after: u64,
    resume: Resume,
}

#[derive(Default)]
struct Inner {
    /// Slot → when its server handle was last flushed.
    marked: HashMap<Ino, Instant>,
    waiters: Vec<Waiter>,
    /// Fences started, and when the last one started.
    started: u64,
    started_at: Option<Instant>,
    in_flight: bool,
}

#[derive(Default)]
pub struct Closing {
    /// How many slots are marked: the fast way to see none.
    count: AtomicUsize,
    inner: Mutex<Inner>,
    kick: RwLock<Option<Kick>>,
}

impl Closing {
    /// Fences work from now on: requests wait for them.
    pub fn set_kick(&self, kick: Kick) {
        *self.kick.write() = Some(kick);
    }

    pub fn any(&self) -> bool {
        self.count.load(Ordering::Acquire) != 0
    }

    pub fn is_marked(&self, ino: Ino) -> bool {
        self.any() && self.inner.lock().marked.contains_key(&ino)
    }

    /// A server handle of slot `ino` was flushed: one of its descriptors
    /// is being closed, maybe the last.
    pub fn flushed(&self, ino: Ino) {
        if self.kick.read().is_none() {
            return;
        }
        let mut inner = self.inner.lock();
        inner.marked.insert(ino, Instant::now());
        self.count.store(inner.marked.len(), Ordering::Release);
    }

    /// Slot `ino` was released (and is gone): what waited for it may go on.
    pub fn released(&self, ino: Ino) -> Vec<Resume> {
        if !self.any() {
            return Vec::new();
        }
        let mut inner = self.inner.lock();
        if inner.marked.remove(&ino).is_none() {
            return Vec::new();
        }
        self.count.store(inner.marked.len(), Ordering::Release);
        let (go, stay) = std::mem::take(&mut inner.waiters)
            .into_iter()
            .partition(|w| w.ino == ino);
        inner.waiters = stay;
        go.into_iter().map(|w: Waiter| w.resume).collect()
    }

    /// Holds `resume` until slot `ino` is released or a fence started from
    /// now passes; gives it back when `ino` is not marked (serve now).
    pub fn park(&self, ino: Ino, resume: Resume) -> Result<(), Resume> {
        let mut inner = self.inner.lock();
        if !inner.marked.contains_key(&ino) {
            return Err(resume);
        }
        let after = inner.started;
        inner.waiters.push(Waiter { ino, after, resume });
        let start = !inner.in_flight;
        inner.in_flight = true;
        drop(inner);
        if start {
            self.kick_fence();
        }
        Ok(())
    }

    fn kick_fence(&self) {
        if let Some(kick) = self.kick.read().as_ref() {
            kick();
        }
    }

    /// The fence thread is about to open its directory: the fence's number.
    pub fn begin_fence(&self) -> u64 {
        let mut inner = self.inner.lock();
        inner.started += 1;
        inner.started_at = Some(Instant::now());
        inner.started
    }

    /// Fence `n` passed: every RELEASE queued before it was served. What
    /// waited from before it started may go on; marks older than the grace
    /// when it started go.
    pub fn fence_passed(&self, n: u64) -> Vec<Resume> {
        let mut inner = self.inner.lock();
        if n != inner.started {
            // Not the latest fence (it was given up on): the latest counts.
            return Vec::new();
        }
        if let Some(at) = inner.started_at {
            inner.marked.retain(|_, flushed| at < *flushed + GRACE);
            self.count.store(inner.marked.len(), Ordering::Release);
        }
        let (go, stay): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut inner.waiters)
            .into_iter()
            .partition(|w| w.after < n);
        inner.waiters = stay;
        inner.in_flight = !inner.waiters.is_empty();
        let again = inner.in_flight;
        drop(inner);
        if again {
            self.kick_fence();
        }
        go.into_iter().map(|w| w.resume).collect()
    }

    /// Fences cannot be made: nothing waits any more, and nothing will.
    pub fn give_up(&self) -> Vec<Resume> {
        *self.kick.write() = None;
        let mut inner = self.inner.lock();
        inner.marked.clear();
        inner.in_flight = false;
        self.count.store(0, Ordering::Release);
        std::mem::take(&mut inner.waiters)
            .into_iter()
            .map(|w| w.resume)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    fn counter() -> (Arc<AtomicU32>, impl Fn() -> Resume) {
        let n = Arc::new(AtomicU32::new(0));
        let m = n.clone();
        (n, move || {
            let m = m.clone();
            Box::new(move || {
                m.fetch_add(1, Ordering::SeqCst);
            }) as Resume
        })
    }

    fn closing() -> (Closing, Arc<AtomicU32>) {
        let c = Closing::default();
        let kicks = Arc::new(AtomicU32::new(0));
        let k = kicks.clone();
        c.set_kick(Box::new(move || {
            k.fetch_add(1, Ordering::SeqCst);
        }));
        (c, kicks)
    }

    fn run(resumes: Vec<Resume>) -> usize {
        let n = resumes.len();
        resumes.into_iter().for_each(|r| r());
        n
    }

    #[test]
    fn an_unmarked_slot_is_served_at_once() {
        let (c, kicks) = closing();
        let (_, resume) = counter();
        assert!(c.park(7, resume()).is_err());
        assert_eq!(kicks.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_release_lets_its_waiters_go_and_no_other() {
        let (c, kicks) = closing();
        let (served, resume) = counter();
        c.flushed(7);
        c.flushed(8);
        assert!(c.park(7, resume()).is_ok());
        assert!(c.park(8, resume()).is_ok());
        assert_eq!(kicks.load(Ordering::SeqCst), 1, "one fence for both");
        assert_eq!(run(c.released(7)), 1);
        assert_eq!(served.load(Ordering::SeqCst), 1);
        assert!(!c.is_marked(7) && c.is_marked(8));
        assert!(c.park(7, resume()).is_err(), "released: served at once");
    }

    #[test]
    fn a_fence_lets_go_only_what_waited_before_it_started() {
        let (c, kicks) = closing();
        let (served, resume) = counter();
        c.flushed(7);
        assert!(c.park(7, resume()).is_ok());
        let n = c.begin_fence();
        assert!(c.park(7, resume()).is_ok(), "waits from after the start");
        assert_eq!(run(c.fence_passed(n)), 1);
        assert_eq!(served.load(Ordering::SeqCst), 1);
        assert_eq!(
            kicks.load(Ordering::SeqCst),
            2,
            "another fence for the rest"
        );
        // The flush was just now: the mark stays, the close may be on its way.
        assert!(c.is_marked(7));
        let n = c.begin_fence();
        assert_eq!(run(c.fence_passed(n)), 1);
        assert_eq!(kicks.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_mark_older_than_the_grace_goes_with_a_fence() {
        let (c, _) = closing();
        c.flushed(7);
        c.inner.lock().marked.insert(7, Instant::now() - GRACE * 2);
        let n = c.begin_fence();
        c.fence_passed(n);
        assert!(!c.is_marked(7) && !c.any());
    }

    #[test]
    fn without_fences_nothing_is_marked() {
        let c = Closing::default();
        c.flushed(7);
        assert!(!c.any());
    }
}
