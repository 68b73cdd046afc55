//! The message queue of one slot: a single ring of bytes holding each message
//! as a 4-byte length, its 12-byte sender (`sender.rs`) and its payload.
//!
//! One contiguous ring instead of one allocation per message keeps the cost
//! of a queued message at its payload plus 16 bytes, and lets the memory go
//! back to the allocator as soon as the queue drains.

use std::collections::VecDeque;

use super::sender::SenderCode;

/// Bytes of framing stored with every message; charged against the quotas so
/// that the limits bound real memory, not just payload.
pub const FRAME: usize = 16;
/// Set in the length word of a message whose sender is a network origin.
const NETWORK: u32 = 1 << 31;

/// Capacity kept when the queue empties; anything larger is released.
const KEEP_CAPACITY: usize = 4096;

#[derive(Default)]
pub struct MessageQueue {
    ring: VecDeque<u8>,
    count: usize,
    payload: usize,
}

impl MessageQueue {
    pub fn new() -> Self {
        Self::default()
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
            let doubled = self.ring.capacity().saturating_mul(2).max(KEEP_CAPACITY);
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

    /// Removes the oldest message; returns the bytes it was charged and its
    /// sender.
    pub fn pop_front(&mut self) -> Option<(usize, SenderCode, bool)> {
        let len = self.front_len()?;
        let (code, network) = self.front_sender()?;
        self.ring.drain(..FRAME + len);
        self.count -= 1;
        self.payload -= len;
        if self.count == 0 && self.ring.capacity() > KEEP_CAPACITY {
            self.ring = VecDeque::new();
        }
        Some((FRAME + len, code, network))
    }

    /// Discards everything and releases the memory; returns the bytes that
    /// were charged and the senders of the messages from the network.
    pub fn clear(&mut self) -> (usize, Vec<SenderCode>) {
        let charged = self.ring.len();
        let mut network = Vec::new();
        while let Some((_, code, from_network)) = self.pop_front() {
            if from_network {
                network.push(code);
            }
        }
        *self = Self::default();
        (charged, network)
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
        let mut q = MessageQueue::new();
        for _ in 0..10_000 {
            q.push(&[7u8; 64], &NOBODY, false, usize::MAX);
        }
        assert!(q.ring.capacity() >= 10_000 * (64 + FRAME));
        while q.pop_front().is_some() {}
        assert!(q.ring.capacity() <= KEEP_CAPACITY);
    }

    #[test]
    fn growth_is_bounded_by_the_hint() {
        let mut q = MessageQueue::new();
        for _ in 0..1000 {
            q.push(&[1u8; 100], &NOBODY, false, 116 * 1000);
        }
        assert!(q.ring.capacity() <= 116 * 1000 + KEEP_CAPACITY);
        assert_eq!(q.clear(), (116 * 1000, Vec::new()));
    }
}
