//! The thread that watches waiting readers: it ends waits whose read timeout
//! has passed and those whose thread has a signal to act on. Readers wait as
//! kept replies, not as blocked threads, so this one thread serves them all.

use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::slot::Slot;

/// How often a waiting reader's signals are looked at. Half a second is
/// the promise for a signal to end a read; this leaves room for scheduling.
pub const LOOK_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Default)]
struct State {
    slots: Vec<Weak<Slot>>,
    wake_at: Option<Instant>,
    stop: bool,
}

#[derive(Default)]
pub struct Monitor {
    state: Mutex<State>,
    cv: Condvar,
}

impl Monitor {
    pub fn start() -> Arc<Self> {
        let monitor = Arc::new(Self::default());
        let runner = monitor.clone();
        thread::Builder::new()
            .name("mailslot-monitor".into())
            .spawn(move || runner.run())
            .expect("spawning the monitor thread");
        monitor
    }

    /// A slot got a waiting reader (`slot` is `Some` the first time), with
    /// an optional deadline.
    pub fn watch(&self, slot: Option<Weak<Slot>>, deadline: Option<Instant>) {
        let mut st = self.state.lock();
        // The thread needs waking only to learn of work it would otherwise
        // sleep through: a first slot to look at, or an earlier deadline.
        let mut wake = false;
        if let Some(slot) = slot {
            wake |= st.slots.is_empty();
            st.slots.push(slot);
        }
        if let Some(d) = deadline
            && st.wake_at.is_none_or(|w| d < w)
        {
            st.wake_at = Some(d);
            wake = true;
        }
        if wake {
            self.cv.notify_one();
        }
    }

    pub fn stop(&self) {
        self.state.lock().stop = true;
        self.cv.notify_one();
    }

    fn run(&self) {
        loop {
            let slots = {
                let mut st = self.state.lock();
                loop {
                    if st.stop {
                        return;
                    }
                    let now = Instant::now();
                    let tick = (!st.slots.is_empty()).then(|| now + LOOK_INTERVAL);
                    let until = match (tick, st.wake_at) {
                        (Some(t), Some(w)) => Some(t.min(w)),
                        (t, w) => t.or(w),
                    };
                    match until {
                        None => self.cv.wait(&mut st),
                        Some(u) if u > now => {
                            if self.cv.wait_until(&mut st, u).timed_out() {
                                break;
                            }
                        }
                        Some(_) => break,
                    }
                }
                st.wake_at = None;
                std::mem::take(&mut st.slots)
            };
            let now = Instant::now();
            let mut kept = Vec::with_capacity(slots.len());
            let mut next: Option<Instant> = None;
            for weak in slots {
                let Some(slot) = weak.upgrade() else { continue };
                // A panic while answering one slot's readers must not stop
                // the thread every other waiting reader depends on.
                let swept =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| slot.sweep(now)));
                let Ok((waiting, deadline)) = swept else {
                    log::error!("internal error (panic) while sweeping waiting readers");
                    continue;
                };
                if waiting {
                    kept.push(weak);
                }
                next = match (next, deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            let mut st = self.state.lock();
            st.slots.extend(kept);
            st.wake_at = match (st.wake_at, next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
}
