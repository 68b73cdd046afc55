//! Read timeouts. One thread sleeps until the earliest deadline of any
//! waiting reader and ends the reads whose time has come; a reader without
//! a timeout costs it nothing, and nothing runs between deadlines.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// What a deadline is for: its owner is told when it passes. The timer
/// knows no slots; a slot is one such owner.
pub trait Expire: Send + Sync {
    /// The deadline of `waiter` passed (and was not cancelled).
    fn expire(&self, waiter: u64);
}

/// Names one deadline so it can be cancelled: deadlines are unique by
/// their sequence number even when two fall on the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerKey {
    at: Instant,
    seq: u64,
}

struct Due {
    owner: Weak<dyn Expire>,
    waiter: u64,
}

#[derive(Default)]
struct State {
    due: BTreeMap<TimerKey, Due>,
    next_seq: u64,
    stop: bool,
}

#[derive(Default)]
pub struct Timer {
    state: Mutex<State>,
    cv: Condvar,
}

impl Timer {
    pub fn start() -> Arc<Self> {
        let timer = Arc::new(Self::default());
        let runner = timer.clone();
        thread::Builder::new()
            .name("mailslot-timer".into())
            .spawn(move || runner.run())
            .expect("spawning the timer thread");
        timer
    }

    /// At `at`, `owner` is told the time of its `waiter` is up (unless the
    /// deadline was cancelled first).
    pub fn add<O: Expire + 'static>(&self, at: Instant, owner: Weak<O>, waiter: u64) -> TimerKey {
        let owner: Weak<dyn Expire> = owner;
        let mut st = self.state.lock();
        let key = TimerKey {
            at,
            seq: st.next_seq,
        };
        st.next_seq += 1;
        // The thread sleeps until the first deadline; it needs waking only
        // when this one comes before it.
        let earliest = st.due.first_key_value().is_none_or(|(k, _)| key < *k);
        st.due.insert(key, Due { owner, waiter });
        if earliest {
            self.cv.notify_one();
        }
        key
    }

    pub fn cancel(&self, key: TimerKey) {
        self.state.lock().due.remove(&key);
    }

    pub fn stop(&self) {
        self.state.lock().stop = true;
        self.cv.notify_one();
    }

    /// Deadlines not yet due or cancelled (for tests).
    pub fn pending(&self) -> usize {
        self.state.lock().due.len()
    }

    fn run(&self) {
        loop {
            let due = {
                let mut st = self.state.lock();
                loop {
                    if st.stop {
                        return;
                    }
                    let now = Instant::now();
                    match st.due.first_key_value().map(|(k, _)| k.at) {
                        None => self.cv.wait(&mut st),
                        Some(at) if at > now => {
                            self.cv.wait_until(&mut st, at);
                        }
                        Some(_) => break,
                    }
                }
                let now = Instant::now();
                let mut due = Vec::new();
                while let Some(entry) = st.due.first_entry() {
                    if entry.key().at > now {
                        break;
                    }
                    due.push(entry.remove());
                }
                due
            };
            for d in due {
                if let Some(owner) = d.owner.upgrade() {
                    // A panic while answering one reader must not stop the
                    // thread every other reader's timeout depends on.
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        owner.expire(d.waiter)
                    }));
                    if r.is_err() {
                        log::error!("internal error (panic) while ending a timed-out read");
                    }
                }
            }
        }
    }
}
