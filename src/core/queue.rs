//! The message queue of one slot: a single ring of bytes holding each message
//! as a 4-byte length, its 12-byte sender (`sender.rs`) and its payload.
//!
//! One contiguous ring instead of one allocation per message keeps the cost
//! of a queued message at its payload plus 16 bytes. The ring's capacity
//! follows what is queued, both ways: it doubles when full and halves (or
//! less) once a quarter or less of it is in use, so a slot that was filled
//! to its quota and then mostly read holds memory for what it still queues,
//! not for its peak.
//!
//! The shrinking waits [`SHRINK_GRACE`]: a ring that fell under a quarter
//! full keeps its capacity until it has stayed there that long, so a writer
//! that runs ahead again soon after finds memory the daemon already has. A
//! large ring lives in a mapping of its own, given back to the system when
//! freed, and every page of a fresh one costs a page fault when first
//! written (about 40 µs for a 60 KiB message on a small virtual machine,
//! twice what a do-nothing FUSE filesystem spends on the whole message).
//! What is kept this way is bounded: each ring stays within its slot's
//! quota (see `push`), and all drained rings of the process together keep at
//! most [`KEEP_BUDGET`] bytes; a ring that finds the budget spent shrinks at
//! once, as before. Its owner arms a timer for [`MessageQueue::shrink_due`],
//! so an idle slot shrinks too.
//!
//! A reader takes the oldest message out with [`MessageQueue::take_front`],
//! so that it is answered after the slot's lock is let go. When a small ring
//! held that message only (a reader keeping up with its writers), the ring
//! itself goes with it, uncopied: an empty small ring would be freed anyway.
//! Otherwise the message is copied into a buffer each thread keeps for
//! that, so taking a message allocates nothing.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::sender::SenderCode;

/// Bytes of framing stored with every message; charged against the quotas so
/// that the limits bound real memory, not just payload.
pub const FRAME: usize = 16;
/// Set in the length word of a message whose sender is kept in the
/// mount's table of senders (a network origin, or a local writer that came
/// through a name: see `sender`).
const NETWORK: u32 = 1 << 31;

/// Capacity kept when the queue empties; anything larger is released
/// once [`SHRINK_GRACE`] has passed.
const KEEP_CAPACITY: usize = 4096;
/// How long a ring under a quarter full keeps its capacity. Backlogs of a
/// writer running ahead of its reader come and go within milliseconds; a
/// slot read back and left alone gives its memory back well within a
/// second (docs/performance.md, "Large messages").
pub const SHRINK_GRACE: Duration = Duration::from_millis(100);
/// The most capacity the drained rings of the whole process keep beyond
/// what they queue, so that slots drained one after another within the
/// grace do not add up to more than the quotas allow plus this constant.
pub const KEEP_BUDGET: usize = 64 << 20;
/// Capacity drained rings keep now, against [`KEEP_BUDGET`].
static KEPT: AtomicUsize = AtomicUsize::new(0);

fn reserve_kept(bytes: usize) -> bool {
    KEPT.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |kept| {
        kept.checked_add(bytes).filter(|&k| k <= KEEP_BUDGET)
    })
    .is_ok()
}

fn release_kept(bytes: usize) {
    KEPT.fetch_sub(bytes, Ordering::Relaxed);
}
/// Largest buffer a thread keeps for copying messages out (one per FUSE
/// thread, so a constant, not a charge); a larger message is copied into
/// a buffer of its own.
const KEEP_COPY_BUFFER: usize = 128 << 10;

thread_local! {
    static COPY_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The oldest message, taken off the queue: its bytes, what it was
/// charged, and its sender.
pub struct Taken {
    bytes: TakenBytes,
    len: usize,
    pub charged: usize,
    pub sender: SenderCode,
    pub network: bool,
}

enum TakenBytes {
    /// The queue's whole ring, which held this message only, frame first.
    Ring(VecDeque<u8>),
    /// A copy, in this thread's buffer (given back on drop) or its own.
    Copy(Vec<u8>),
}

impl Taken {
    pub fn message(&mut self) -> &[u8] {
        match &mut self.bytes {
            TakenBytes::Ring(ring) => &ring.make_contiguous()[FRAME..FRAME + self.len],
            TakenBytes::Copy(v) => v,
        }
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if let TakenBytes::Copy(v) = &mut self.bytes
            && v.capacity() <= KEEP_COPY_BUFFER
        {
            let v = std::mem::take(v);
            // Not there while a thread answers from it; never re-entered.
            let _ = COPY_BUFFER.try_with(|b| {
                if let Ok(mut b) = b.try_borrow_mut() {
                    *b = v;
                }
            });
        }
    }
}
/// The ring shrinks once its bytes in use fall below `1 / SHRINK_BELOW` of
/// its capacity, to twice those bytes. The gap between the two (a shrunk
/// ring is half full; it shrinks again at a quarter, grows again when full)
/// means a queue going back and forth around one size does not reallocate
/// each time, and every reallocation moves at most twice the bytes that
/// were pushed or popped since the last one: O(1) per byte queued, amortised.
const SHRINK_BELOW: usize = 4;

pub struct MessageQueue {
    ring: VecDeque<u8>,
    count: usize,
    payload: usize,
    /// When the ring fell under a quarter full, while it keeps its capacity.
    low_since: Option<Instant>,
    /// Bytes reserved against [`KEEP_BUDGET`] while `low_since` is set.
    kept: usize,
    grace: Duration,
}

impl Default for MessageQueue {
    fn default() -> Self {
        Self::with_grace(SHRINK_GRACE)
    }
}

impl Drop for MessageQueue {
    fn drop(&mut self) {
        release_kept(std::mem::take(&mut self.kept));
    }
}

impl MessageQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// A queue whose ring shrinks `grace` after falling under a quarter
    /// full (at once for zero).
    pub fn with_grace(grace: Duration) -> Self {
        Self {
            ring: VecDeque::new(),
            count: 0,
            payload: 0,
            low_since: None,
            kept: 0,
            grace,
        }
    }

    /// When the ring is due to shrink, if it keeps capacity it does not use.
    pub fn shrink_due(&self) -> Option<Instant> {
        self.low_since.map(|at| at + self.grace)
    }

    /// Shrinks the ring if it has stayed under a quarter full for the grace
    /// as of `now`; returns when it is due otherwise.
    pub fn shrink_if_due(&mut self, now: Instant) -> Option<Instant> {
        let due = self.shrink_due()?;
        if now >= due {
            self.shrink();
            return None;
        }
        Some(due)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Payload bytes queued (what `st_size` shows).
    pub fn payload_bytes(&self) -> usize {
        self.payload
    }

    /// Bytes charged against the quotas: payload plus framing.
    pub fn charged_bytes(&self) -> usize {
        self.ring.len()
    }

    /// Appends one message. `cap_hint` bounds how far the ring grows ahead of
    /// need, so a slot never holds much more memory than its quota.
    pub fn push(&mut self, msg: &[u8], sender: &SenderCode, network: bool, cap_hint: usize) {
        let need = self.ring.len() + FRAME + msg.len();
        if need > self.ring.capacity() {
            // An empty ring starts with room for a second message like
            // this one, so a writer one message ahead of its reader does
            // not move the first to make room (capacity stays within twice
            // what is queued).
            let doubled = self
                .ring
                .capacity()
                .max(need)
                .saturating_mul(2)
                .max(KEEP_CAPACITY);
            let target = doubled.min(cap_hint.max(need)).max(need);
            self.ring.reserve_exact(target - self.ring.len());
        }
        let len = u32::try_from(msg.len())
            .ok()
            .filter(|&l| l & NETWORK == 0)
            .expect("message length checked by the caller");
        let word = if network { len | NETWORK } else { len };
        self.ring.extend(word.to_le_bytes().iter());
        self.ring.extend(sender.iter());
        self.ring.extend(msg.iter());
        self.count += 1;
        self.payload += msg.len();
        if self.low_since.is_some() && !self.under_a_quarter() {
            self.low_since = None;
            release_kept(std::mem::take(&mut self.kept));
        }
    }

    fn under_a_quarter(&self) -> bool {
        self.ring.len() < self.ring.capacity() / SHRINK_BELOW
    }

    fn front_word(&self) -> Option<u32> {
        if self.count == 0 {
            return None;
        }
        let mut word = [0u8; 4];
        for (dst, src) in word.iter_mut().zip(self.ring.range(..4)) {
            *dst = *src;
        }
        Some(u32::from_le_bytes(word))
    }

    /// Length of the oldest message.
    pub fn front_len(&self) -> Option<usize> {
        self.front_word().map(|w| (w & !NETWORK) as usize)
    }

    /// The sender of the oldest message, and whether it is a network origin.
    pub fn front_sender(&self) -> Option<(SenderCode, bool)> {
        let word = self.front_word()?;
        let mut code = [0u8; 12];
        for (dst, src) in code.iter_mut().zip(self.ring.range(4..FRAME)) {
            *dst = *src;
        }
        Some((code, word & NETWORK != 0))
    }

    /// Hands the oldest message to `f` without removing it. The bytes are
    /// borrowed from the ring; only a message that wraps around the end of
    /// the ring is copied.
    pub fn with_front<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let len = self.front_len()?;
        let (a, b) = self.ring.as_slices();
        let (start, end) = (FRAME, FRAME + len);
        if end <= a.len() {
            Some(f(&a[start..end]))
        } else if start >= a.len() {
            Some(f(&b[start - a.len()..end - a.len()]))
        } else {
            let mut joined = Vec::with_capacity(len);
            joined.extend_from_slice(&a[start..]);
            joined.extend_from_slice(&b[..end - a.len()]);
            Some(f(&joined))
        }
    }

    /// Removes the oldest message and hands it over, to be answered without
    /// the queue: see the module's documentation.
    pub fn take_front(&mut self) -> Option<Taken> {
        let len = self.front_len()?;
        let (sender, network) = self.front_sender()?;
        let charged = FRAME + len;
        // A large ring stays for the next backlog: copying a message out
        // costs less than the page faults of a fresh ring.
        if self.count == 1 && (self.ring.capacity() <= KEEP_CAPACITY || self.grace.is_zero()) {
            let ring = std::mem::take(&mut self.ring);
            *self = Self::with_grace(self.grace);
            return Some(Taken {
                bytes: TakenBytes::Ring(ring),
                len,
                charged,
                sender,
                network,
            });
        }
        let mut copy = if len <= KEEP_COPY_BUFFER {
            COPY_BUFFER
                .try_with(|b| b.try_borrow_mut().map(|mut b| std::mem::take(&mut *b)))
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        copy.clear();
        let (a, b) = self.ring.as_slices();
        let (start, end) = (FRAME, FRAME + len);
        if end <= a.len() {
            copy.extend_from_slice(&a[start..end]);
        } else if start >= a.len() {
            copy.extend_from_slice(&b[start - a.len()..end - a.len()]);
        } else {
            copy.extend_from_slice(&a[start..]);
            copy.extend_from_slice(&b[..end - a.len()]);
        }
        self.pop_front();
        Some(Taken {
            bytes: TakenBytes::Copy(copy),
            len,
            charged,
            sender,
            network,
        })
    }

    /// Removes the oldest message; returns the bytes it was charged and its
    /// sender.
    pub fn pop_front(&mut self) -> Option<(usize, SenderCode, bool)> {
        let len = self.front_len()?;
        let (code, network) = self.front_sender()?;
        self.ring.drain(..FRAME + len);
        self.count -= 1;
        self.payload -= len;
        self.give_back_unused();
        Some((FRAME + len, code, network))
    }

    fn give_back_unused(&mut self) {
        let capacity = self.ring.capacity();
        if capacity <= KEEP_CAPACITY || !(self.ring.is_empty() || self.under_a_quarter()) {
            return;
        }
        match self.low_since {
            Some(_) => {
                // The timer shrinks an idle ring; a busy one checks here.
                let _ = self.shrink_if_due(Instant::now());
            }
            None if !self.grace.is_zero() && reserve_kept(capacity) => {
                self.low_since = Some(Instant::now());
                self.kept = capacity;
            }
            None => self.shrink(),
        }
    }

    fn shrink(&mut self) {
        self.low_since = None;
        release_kept(std::mem::take(&mut self.kept));
        let used = self.ring.len();
        if self.ring.capacity() > KEEP_CAPACITY {
            if used == 0 {
                self.ring = VecDeque::new();
            } else if self.under_a_quarter() {
                self.ring.shrink_to((used * 2).max(KEEP_CAPACITY));
            }
        }
    }

    /// Discards everything and releases the memory, handing each message's
    /// charged bytes and sender to `each`, so that it can be uncharged.
    pub fn clear(&mut self, mut each: impl FnMut(usize, SenderCode, bool)) {
        while let Some((charged, code, from_network)) = self.pop_front() {
            each(charged, code, from_network);
        }
        *self = Self::with_grace(self.grace);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn front(q: &MessageQueue) -> Option<Vec<u8>> {
        q.with_front(|m| m.to_vec())
    }

    const NOBODY: SenderCode = [0; 12];

    #[test]
    fn fifo_whole_messages() {
        let mut q = MessageQueue::new();
        q.push(b"one", &NOBODY, false, usize::MAX);
        q.push(b"", &[7; 12], true, usize::MAX);
        q.push(b"three!", &NOBODY, false, usize::MAX);
        assert_eq!(q.len(), 3);
        assert_eq!(q.payload_bytes(), 9);
        assert_eq!(q.charged_bytes(), 9 + 3 * FRAME);
        assert_eq!(front(&q).unwrap(), b"one");
        assert_eq!(q.pop_front(), Some((3 + FRAME, NOBODY, false)));
        assert_eq!(front(&q).unwrap(), b"");
        assert_eq!(q.front_sender(), Some(([7; 12], true)));
        assert_eq!(q.front_len(), Some(0));
        q.pop_front();
        assert_eq!(q.front_len(), Some(6));
        assert_eq!(front(&q).unwrap(), b"three!");
        q.pop_front();
        assert!(q.is_empty());
        assert_eq!(q.pop_front(), None);
        assert_eq!(front(&q), None);
    }

    #[test]
    fn messages_that_wrap_the_ring_come_back_intact() {
        let mut q = MessageQueue::new();
        // Keep the ring small and cycling so headers and payloads straddle
        // the end of the buffer at every possible offset.
        for round in 0..5000u32 {
            let msg: Vec<u8> = (0..(round % 97)).map(|i| (i ^ round) as u8).collect();
            q.push(&msg, &[round as u8; 12], round % 2 == 0, 256);
            if q.len() > 3 {
                let expect_round = round - 3;
                let expect: Vec<u8> = (0..(expect_round % 97))
                    .map(|i| (i ^ expect_round) as u8)
                    .collect();
                assert_eq!(front(&q).unwrap(), expect, "round {round}");
                let sender = ([expect_round as u8; 12], expect_round % 2 == 0);
                assert_eq!(q.front_sender(), Some(sender), "round {round}");
                q.pop_front();
            }
        }
    }

    #[test]
    fn memory_is_released_when_drained() {
        let mut q = MessageQueue::with_grace(Duration::ZERO);
        for _ in 0..10_000 {
            q.push(&[7u8; 64], &NOBODY, false, usize::MAX);
        }
        assert!(q.ring.capacity() >= 10_000 * (64 + FRAME));
        while q.pop_front().is_some() {}
        assert!(q.ring.capacity() <= KEEP_CAPACITY);
    }

    /// The bound every operation keeps: at most four times the bytes in use,
    /// or the small capacity an empty queue may keep.
    fn assert_capacity_follows(q: &MessageQueue, at: &str) {
        let (used, capacity) = (q.charged_bytes(), q.ring.capacity());
        assert!(
            capacity <= (SHRINK_BELOW * used).max(KEEP_CAPACITY),
            "{at}: capacity {capacity} for {used} bytes queued"
        );
    }

    #[test]
    fn capacity_follows_occupancy_down_to_the_last_message() {
        let mut q = MessageQueue::with_grace(Duration::ZERO);
        // A slot filled to a 16 MiB quota, then read back but for one message.
        let quota = 16 << 20;
        let msg = [3u8; 1000];
        while q.charged_bytes() + FRAME + msg.len() <= quota {
            q.push(&msg, &NOBODY, false, quota);
            assert_capacity_follows(&q, "filling");
        }
        assert!(q.ring.capacity() >= quota / 2);
        while q.len() > 1 {
            q.pop_front();
            assert_capacity_follows(&q, "draining");
        }
        assert_eq!(q.charged_bytes(), FRAME + msg.len());
        assert!(q.ring.capacity() <= KEEP_CAPACITY);
        assert_eq!(front(&q).unwrap(), msg);
    }

    #[test]
    fn wrapped_messages_survive_a_shrink() {
        let mut q = MessageQueue::with_grace(Duration::ZERO);
        let msg = |i: u32| -> Vec<u8> { (0..100 + i % 50).map(|b| (b ^ i) as u8).collect() };
        // Pop and push until the ring's contents wrap around its end, then
        // drain far enough for it to shrink.
        for i in 0..2000 {
            q.push(&msg(i), &[i as u8; 12], false, usize::MAX);
        }
        for i in 0..1500 {
            assert_eq!(front(&q).unwrap(), msg(i));
            q.pop_front();
        }
        for i in 2000..2600 {
            q.push(&msg(i), &[i as u8; 12], false, usize::MAX);
        }
        let before = q.ring.capacity();
        for i in 1500..2550 {
            assert_eq!(front(&q).unwrap(), msg(i), "message {i}");
            assert_eq!(q.front_sender(), Some(([i as u8; 12], false)));
            q.pop_front();
        }
        assert!(q.ring.capacity() < before / 2);
        for i in 2550..2600 {
            assert_eq!(front(&q).unwrap(), msg(i), "message {i}");
            q.pop_front();
        }
        assert!(q.is_empty());
    }

    #[test]
    fn a_queue_going_back_and_forth_keeps_its_capacity() {
        let mut q = MessageQueue::with_grace(Duration::ZERO);
        for _ in 0..10_000 {
            q.push(&[5u8; 84], &NOBODY, false, usize::MAX);
        }
        // Drain until the ring has just shrunk, the worst place to start.
        let mut capacity = q.ring.capacity();
        while q.ring.capacity() == capacity {
            q.pop_front();
        }
        capacity = q.ring.capacity();
        // One message in, one out, and bursts of a few: none of it crosses
        // the room left on either side, so nothing is reallocated.
        for round in 0..10_000 {
            let burst = 1 + round % 7;
            for _ in 0..burst {
                q.push(&[6u8; 84], &NOBODY, false, usize::MAX);
            }
            for _ in 0..burst {
                q.pop_front();
            }
            assert_eq!(q.ring.capacity(), capacity, "round {round}");
        }
    }

    #[test]
    fn growth_is_bounded_by_the_hint() {
        let mut q = MessageQueue::new();
        for _ in 0..1000 {
            q.push(&[1u8; 100], &NOBODY, false, 116 * 1000);
        }
        assert!(q.ring.capacity() <= 116 * 1000 + KEEP_CAPACITY);
        let mut charged = 0;
        q.clear(|c, _, network| {
            assert!(!network);
            charged += c;
        });
        assert_eq!(charged, 116 * 1000);
    }

    /// Tests that need the budget (or spend it) take turns.
    static BUDGET: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn a_drained_ring_keeps_its_capacity_for_the_grace() {
        let _turn = BUDGET.lock().unwrap_or_else(|e| e.into_inner());
        let grace = Duration::from_secs(3600);
        let mut q = MessageQueue::with_grace(grace);
        let msg = [9u8; 60 << 10];
        for _ in 0..64 {
            q.push(&msg, &NOBODY, false, usize::MAX);
        }
        let peak = q.ring.capacity();
        assert!(peak >= 64 * (msg.len() + FRAME));
        assert_eq!(q.shrink_due(), None, "a full ring is not due to shrink");
        // Read back to the last message, then that one too: the ring keeps
        // its capacity and says when it will give it back.
        while q.len() > 1 {
            q.take_front().unwrap();
        }
        let due = q.shrink_due().expect("a drained ring is due to shrink");
        assert_eq!(q.ring.capacity(), peak);
        assert_eq!(q.take_front().unwrap().message(), &msg[..]);
        assert_eq!(q.ring.capacity(), peak, "the last message leaves the ring");
        assert_eq!(
            q.shrink_due(),
            Some(due),
            "the grace counts from the first fall"
        );
        // A backlog within the grace reuses the ring and ends the wait.
        for _ in 0..32 {
            q.push(&msg, &NOBODY, false, usize::MAX);
        }
        assert_eq!(q.ring.capacity(), peak);
        assert_eq!(q.shrink_due(), None);
        while q.len() > 1 {
            q.pop_front();
        }
        let due = q.shrink_due().expect("drained again");
        // Not before the deadline; at it, down to what is queued.
        let before = due - Duration::from_millis(1);
        assert_eq!(q.shrink_if_due(before), Some(due));
        assert_eq!(q.ring.capacity(), peak);
        assert_eq!(q.shrink_if_due(due), None);
        assert_capacity_follows(&q, "after the grace");
        assert_eq!(q.shrink_due(), None);
        assert_eq!(front(&q).unwrap(), msg);
        q.pop_front();
        // Empty now, with the two messages' worth it shrank to: that waits
        // its grace too, then goes.
        let due = q.shrink_due().expect("an empty ring keeps its capacity");
        q.shrink_if_due(due);
        assert!(q.ring.capacity() <= KEEP_CAPACITY);
    }

    #[test]
    fn a_ring_past_its_grace_shrinks_when_next_read() {
        let _turn = BUDGET.lock().unwrap_or_else(|e| e.into_inner());
        let mut q = MessageQueue::with_grace(Duration::from_millis(1));
        for _ in 0..1000 {
            q.push(&[4u8; 1000], &NOBODY, false, usize::MAX);
        }
        while q.len() > 10 {
            q.pop_front();
        }
        assert!(q.shrink_due().is_some());
        std::thread::sleep(Duration::from_millis(5));
        q.pop_front();
        assert_eq!(q.shrink_due(), None);
        assert_capacity_follows(&q, "read after the grace");
    }

    #[test]
    fn kept_capacity_is_returned_to_the_budget() {
        let _turn = BUDGET.lock().unwrap_or_else(|e| e.into_inner());
        let grace = Duration::from_secs(3600);
        let mut q = MessageQueue::with_grace(grace);
        for _ in 0..100 {
            q.push(&[1u8; 10_000], &NOBODY, false, usize::MAX);
        }
        while q.pop_front().is_some() {}
        let kept = q.kept;
        assert!(kept > 0 && kept == q.ring.capacity());
        assert!(KEPT.load(Ordering::Relaxed) >= kept);
        // Dropped with its capacity: the reservation goes with it.
        let mut other = MessageQueue::with_grace(grace);
        other.push(&[1u8; 10], &NOBODY, false, usize::MAX);
        drop(q);
        // A ring that finds the budget spent shrinks at once.
        let spent = KEEP_BUDGET - KEPT.load(Ordering::Relaxed);
        assert!(reserve_kept(spent));
        let mut r = MessageQueue::with_grace(grace);
        for _ in 0..100 {
            r.push(&[1u8; 10_000], &NOBODY, false, usize::MAX);
        }
        while r.pop_front().is_some() {}
        release_kept(spent);
        assert_eq!(r.shrink_due(), None);
        assert!(r.ring.capacity() <= KEEP_CAPACITY);
    }
}
