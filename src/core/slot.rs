//! One mailslot: its queue, the readers waiting on it, and its settings.
//!
//! As in the kernel's ipc/mqueue.c, a message is handed to a waiting reader
//! under the slot's lock, so at every moment it is either queued or owned by
//! exactly one reader.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use super::error::{Error, Result};
use super::monitor::Monitor;
use super::queue::{FRAME, MessageQueue};
use super::signals::{SignalProbe, Verdict};

/// Answers one read: `Ok(bytes)` is the message (empty for end of file).
pub type Responder = Box<dyn FnOnce(Result<&[u8]>) + Send>;
/// Called once when a polled slot becomes readable or goes away.
pub type Waker = Box<dyn FnOnce() + Send>;

/// Bytes queued across the whole mount, against `--max-total-bytes`.
pub struct Accounting {
    total: AtomicUsize,
    max_total: usize,
}

impl Accounting {
    pub fn new(max_total: usize) -> Self {
        Self {
            total: AtomicUsize::new(0),
            max_total,
        }
    }

    fn charge(&self, n: usize) -> bool {
        self.total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                t.checked_add(n).filter(|&s| s <= self.max_total)
            })
            .is_ok()
    }

    fn release(&self, n: usize) {
        self.total.fetch_sub(n, Ordering::AcqRel);
    }

    pub fn total(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    pub fn max_total(&self) -> usize {
        self.max_total
    }
}

struct Waiter {
    id: u64,
    size: usize,
    deadline: Option<Instant>,
    probe: Option<Arc<SignalProbe>>,
    /// A process-wide signal was pending at the last look.
    suspect: bool,
    respond: Responder,
}

/// What GetMailslotInfo reports, plus what `stat` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotInfo {
    pub max_message_size: usize,
    pub next_message_size: Option<usize>,
    pub message_count: usize,
    pub queued_bytes: usize,
    pub charged_bytes: usize,
    pub read_timeout: Option<Duration>,
    pub last_message: SystemTime,
    pub open: bool,
}

struct SlotState {
    /// Why the slot no longer takes messages, once it does not.
    closed: Option<Error>,
    queue: MessageQueue,
    waiters: VecDeque<Waiter>,
    next_waiter: u64,
    /// The monitor holds this slot in its list.
    watched: bool,
    wakers: Vec<(u64, Waker)>,
    /// The probe of the last thread that waited here: a server usually reads
    /// from the same thread, and reusing it saves an open and a close of
    /// /proc per wait.
    last_probe: Option<(u32, Arc<SignalProbe>)>,
    max_message_size: usize,
    read_timeout: Option<Duration>,
    last_message: SystemTime,
}

pub struct Slot {
    state: Mutex<SlotState>,
    max_queued: usize,
    accounting: Arc<Accounting>,
    monitor: Arc<Monitor>,
}

/// Poll state of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub readable: bool,
    pub closed: bool,
}

/// A thread that has gone cannot come back; its thread id can, much later,
/// for a new thread, which must get a probe of its own.
fn forget_probe_if_gone(st: &mut SlotState, probe: &Arc<SignalProbe>, verdict: Verdict) {
    if verdict == Verdict::Gone
        && st
            .last_probe
            .as_ref()
            .is_some_and(|(_, p)| Arc::ptr_eq(p, probe))
    {
        st.last_probe = None;
    }
}

impl Slot {
    pub fn new(
        max_message_size: usize,
        read_timeout: Option<Duration>,
        max_queued: usize,
        accounting: Arc<Accounting>,
        monitor: Arc<Monitor>,
    ) -> Self {
        Self {
            state: Mutex::new(SlotState {
                closed: None,
                queue: MessageQueue::new(),
                waiters: VecDeque::new(),
                next_waiter: 0,
                watched: false,
                wakers: Vec::new(),
                last_probe: None,
                max_message_size,
                read_timeout,
                last_message: SystemTime::now(),
            }),
            max_queued,
            accounting,
            monitor,
        }
    }

    /// Queues one message, or hands it straight to the oldest waiting reader.
    pub fn deliver(&self, msg: &[u8]) -> Result<()> {
        let mut refused: Vec<(Responder, Error)> = Vec::new();
        let mut wakers = Vec::new();
        let result = {
            let mut st = self.state.lock();
            let result = self.deliver_locked(&mut st, msg, &mut refused);
            if result.is_ok() {
                st.last_message = SystemTime::now();
                if !st.queue.is_empty() {
                    wakers = std::mem::take(&mut st.wakers);
                }
            }
            result
        };
        for (respond, err) in refused {
            respond(Err(err));
        }
        for (_, wake) in wakers {
            wake();
        }
        result
    }

    fn deliver_locked(
        &self,
        st: &mut SlotState,
        msg: &[u8],
        refused: &mut Vec<(Responder, Error)>,
    ) -> Result<()> {
        if let Some(err) = st.closed {
            return Err(err);
        }
        if msg.len() > st.max_message_size {
            return Err(Error::MessageTooLarge);
        }
        while st.queue.is_empty() {
            let Some(waiter) = st.waiters.pop_front() else {
                break;
            };
            // A reader about to act on a signal must not be handed a message
            // it would never see: answer it EINTR and try the next one.
            if let Some(probe) = &waiter.probe {
                let verdict = probe.look();
                if verdict.interrupts() {
                    forget_probe_if_gone(st, probe, verdict);
                    refused.push((waiter.respond, Error::Interrupted));
                    continue;
                }
            }
            if waiter.size < msg.len() {
                // The message stays queued for a reader with room for it;
                // this reader learns why it got nothing.
                if let Err(err) = self.enqueue(st, msg) {
                    st.waiters.push_front(waiter);
                    return Err(err);
                }
                refused.push((waiter.respond, Error::BufferTooSmall));
                return Ok(());
            }
            (waiter.respond)(Ok(msg));
            return Ok(());
        }
        self.enqueue(st, msg)
    }

    fn enqueue(&self, st: &mut SlotState, msg: &[u8]) -> Result<()> {
        let charge = FRAME + msg.len();
        if st.queue.charged_bytes() + charge > self.max_queued || !self.accounting.charge(charge) {
            return Err(Error::QueueFull);
        }
        st.queue.push(msg, self.max_queued);
        Ok(())
    }

    /// Takes the oldest message for a reader with a `size`-byte buffer, or
    /// parks the reader until one arrives, its timeout passes or a signal
    /// reaches it. `tid` is the reader's thread, watched for signals.
    pub fn read<F>(self: &Arc<Self>, size: usize, nonblock: bool, tid: u32, respond: F)
    where
        F: FnOnce(Result<&[u8]>) + Send + 'static,
    {
        let mut probe = None;
        let mut probe_tried = false;
        loop {
            let mut st = self.state.lock();
            if let Some(err) = st.closed {
                drop(st);
                return respond(Err(err));
            }
            if let Some(len) = st.queue.front_len() {
                if len > size {
                    drop(st);
                    return respond(Err(Error::BufferTooSmall));
                }
                st.queue.with_front(|msg| respond(Ok(msg)));
                if let Some(charged) = st.queue.pop_front() {
                    self.accounting.release(charged);
                }
                return;
            }
            if nonblock {
                drop(st);
                return respond(Err(Error::WouldBlock));
            }
            if st.read_timeout == Some(Duration::ZERO) {
                drop(st);
                return respond(Ok(&[]));
            }
            if !probe_tried {
                probe_tried = true;
                match &st.last_probe {
                    Some((t, p)) if *t == tid => probe = Some(p.clone()),
                    _ => {
                        // Opening /proc is slow; do it unlocked, then look again.
                        drop(st);
                        probe = SignalProbe::open(tid).map(Arc::new);
                        if let Some(p) = &probe {
                            self.state.lock().last_probe = Some((tid, p.clone()));
                        }
                        continue;
                    }
                }
            }
            // A timeout too far out to be a point in time is forever.
            let deadline = st.read_timeout.and_then(|t| Instant::now().checked_add(t));
            let id = st.next_waiter;
            st.next_waiter += 1;
            st.waiters.push_back(Waiter {
                id,
                size,
                deadline,
                probe,
                suspect: false,
                respond: Box::new(respond),
            });
            let newly_watched = !std::mem::replace(&mut st.watched, true);
            drop(st);
            self.monitor
                .watch(newly_watched.then(|| Arc::downgrade(self)), deadline);
            return;
        }
    }

    /// One pass of the monitor: ends waits whose timeout passed (end of file)
    /// and those of readers with a signal to act on (EINTR). Returns whether
    /// readers still wait, and the earliest deadline among them.
    pub(crate) fn sweep(&self, now: Instant) -> (bool, Option<Instant>) {
        let mut expired = Vec::new();
        let mut to_look = Vec::new();
        {
            let mut st = self.state.lock();
            let mut kept = VecDeque::with_capacity(st.waiters.len());
            for w in st.waiters.drain(..) {
                if w.deadline.is_some_and(|d| d <= now) {
                    expired.push(w.respond);
                } else {
                    if let Some(p) = &w.probe {
                        to_look.push((w.id, p.clone(), w.suspect));
                    }
                    kept.push_back(w);
                }
            }
            st.waiters = kept;
        }
        for respond in expired {
            respond(Ok(&[]));
        }
        let mut interrupt = Vec::new();
        let mut suspect = Vec::new();
        let mut gone = Vec::new();
        for (id, probe, was_suspect) in to_look {
            match probe.look() {
                Verdict::Interrupt => interrupt.push(id),
                Verdict::Gone => {
                    interrupt.push(id);
                    gone.push(probe);
                }
                Verdict::MaybeElsewhere if was_suspect => interrupt.push(id),
                Verdict::MaybeElsewhere => suspect.push(id),
                Verdict::Calm => {}
            }
        }
        let mut interrupted = Vec::new();
        let (waiting, next) = {
            let mut st = self.state.lock();
            let mut kept = VecDeque::with_capacity(st.waiters.len());
            for mut w in st.waiters.drain(..) {
                if interrupt.contains(&w.id) {
                    interrupted.push(w.respond);
                } else {
                    w.suspect = suspect.contains(&w.id);
                    kept.push_back(w);
                }
            }
            st.waiters = kept;
            for probe in &gone {
                forget_probe_if_gone(&mut st, probe, Verdict::Gone);
            }
            let next = st.waiters.iter().filter_map(|w| w.deadline).min();
            let waiting = !st.waiters.is_empty();
            st.watched = waiting;
            (waiting, next)
        };
        if !interrupted.is_empty() {
            log::debug!(
                "{} waiting read(s) interrupted by a signal",
                interrupted.len()
            );
        }
        for respond in interrupted {
            respond(Err(Error::Interrupted));
        }
        (waiting, next)
    }

    /// Stops the slot: queued messages are discarded, waiting readers and
    /// pollers are answered, later writes get `reason`.
    pub fn close(&self, reason: Error) {
        let (waiters, wakers) = {
            let mut st = self.state.lock();
            st.closed.get_or_insert(reason);
            let charged = st.queue.clear();
            self.accounting.release(charged);
            (
                std::mem::take(&mut st.waiters),
                std::mem::take(&mut st.wakers),
            )
        };
        for w in waiters {
            (w.respond)(Err(reason));
        }
        for (_, wake) in wakers {
            wake();
        }
    }

    /// Readiness for poll(2). When nothing is readable, `waker` (keyed so a
    /// repeated poll replaces rather than piles up) is kept and called once
    /// the slot becomes readable.
    pub fn poll(&self, key: u64, waker: Option<Waker>) -> Readiness {
        let mut st = self.state.lock();
        let readiness = Readiness {
            readable: !st.queue.is_empty(),
            closed: st.closed.is_some(),
        };
        if let Some(waker) = waker.filter(|_| !readiness.readable && !readiness.closed) {
            st.wakers.retain(|(k, _)| *k != key);
            st.wakers.push((key, waker));
        }
        readiness
    }

    pub fn info(&self) -> SlotInfo {
        let st = self.state.lock();
        SlotInfo {
            max_message_size: st.max_message_size,
            next_message_size: st.queue.front_len(),
            message_count: st.queue.len(),
            queued_bytes: st.queue.payload_bytes(),
            charged_bytes: st.queue.charged_bytes(),
            read_timeout: st.read_timeout,
            last_message: st.last_message,
            open: st.closed.is_none(),
        }
    }

    pub fn set_max_message_size(&self, size: usize) {
        self.state.lock().max_message_size = size;
    }

    /// Applies to reads that start after the change, as SetMailslotInfo does.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        self.state.lock().read_timeout = timeout;
    }
}
