//! One mailslot: its queue, the readers waiting on it, and its settings.
//!
//! As in the kernel's ipc/mqueue.c, a message is handed to a waiting reader
//! under the slot's lock, so at every moment it is either queued or owned by
//! exactly one reader.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use super::error::{Error, Result};
use super::queue::{FRAME, MessageQueue, Taken};
use super::quota::{Account, Quotas};
use super::sender::{Origins, Sender};
use super::timer::{Expire, Timer, TimerKey};

/// Answers one read: `Ok(bytes)` is the message (empty for end of file).
pub type Responder = Box<dyn FnOnce(Result<&[u8]>) + Send>;
/// Called once when a polled slot becomes readable or goes away.
pub type Waker = Box<dyn FnOnce() + Send>;

/// A read as part of its caller's system call. The kernel may carry one
/// readv(2) in several reads when it cannot pin the whole buffer for one:
/// the next follows from the same thread only if the last was filled to the
/// byte, and says how many bytes the call has returned so far. A call's
/// first read has returned nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadCall {
    /// The calling thread; 0 when the kernel could not name it.
    pub thread: u32,
    /// The caller's user, charged for the read while it waits.
    pub uid: u32,
    /// Bytes the call returned before this read.
    pub returned: u64,
}

/// Calls that got a message filling their read to the byte, and so may go
/// on, remembered per slot. The kernel sends the next read right after the
/// answer, so a few suffice; the oldest is forgotten first.
const FILLED_CALLS: usize = 64;

/// The timer's name for a slot's shrink deadline; readers are numbered from
/// 0 and never get this far.
const SHRINK: u64 = u64::MAX;

/// Who a message is charged to: its writer (see `quota.rs` for why).
pub fn account_of(sender: &Sender) -> Account {
    match sender {
        Sender::Local { uid, .. } => Account::User(*uid),
        #[allow(unreachable_patterns)]
        _ => Account::Network,
    }
}

/// The source address a network message is also charged to (see
/// `quota.rs`): its share inside the network's account.
fn source_of(sender: Option<&Sender>) -> Option<std::net::Ipv4Addr> {
    match sender {
        Some(Sender::Network { source, .. }) => Some(*source.ip()),
        _ => None,
    }
}

struct Waiter {
    size: usize,
    call: ReadCall,
    deadline: Option<TimerKey>,
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
    /// Reads waiting for a message.
    pub waiting_readers: usize,
}

struct SlotState {
    /// Why the slot no longer takes messages, once it does not.
    closed: Option<Error>,
    queue: MessageQueue,
    /// Waiting readers by arrival: the first waited longest. There are
    /// waiters only while the queue is empty.
    waiters: BTreeMap<u64, Waiter>,
    next_waiter: u64,
    wakers: Vec<(u64, Waker)>,
    max_message_size: usize,
    read_timeout: Option<Duration>,
    last_message: SystemTime,
    /// Who sent the message a reader took last.
    last_sender: Option<Sender>,
    /// (thread, bytes returned) of calls whose last read a message filled
    /// exactly: a read from that thread which says it has returned those
    /// bytes continues that call, which already has its message.
    filled: Vec<(u32, u64)>,
    /// The timer that shrinks a drained queue's ring even if nobody reads
    /// again, and the deadline it was set for.
    shrink_timer: Option<(TimerKey, Instant)>,
}

impl SlotState {
    /// A reader of `call` with a `size`-byte buffer takes a message of `len`
    /// bytes. Only a message that fills the read to the byte lets the kernel
    /// go on with the call, so only then is the call worth remembering.
    fn handed(&mut self, call: ReadCall, size: usize, len: usize) {
        if len != size || len == 0 {
            return;
        }
        let mark = (call.thread, call.returned + len as u64);
        if self.filled.contains(&mark) {
            return;
        }
        if self.filled.len() == FILLED_CALLS {
            self.filled.remove(0);
        }
        self.filled.push(mark);
    }

    /// Whether `call` continues one that already got its whole message;
    /// forgets the call if so, since its next read (if any) starts anew.
    fn continues_a_whole_message(&mut self, call: ReadCall) -> bool {
        if call.returned == 0 {
            return false;
        }
        let mark = (call.thread, call.returned);
        match self.filled.iter().position(|m| *m == mark) {
            Some(i) => {
                self.filled.remove(i);
                true
            }
            None => false,
        }
    }
}

pub struct Slot {
    state: Mutex<SlotState>,
    max_queued: usize,
    accounting: Arc<Quotas>,
    timer: Arc<Timer>,
    origins: Arc<Origins>,
}

/// Poll state of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub readable: bool,
    pub closed: bool,
}

impl Slot {
    pub fn new(
        max_message_size: usize,
        read_timeout: Option<Duration>,
        max_queued: usize,
        accounting: Arc<Quotas>,
        timer: Arc<Timer>,
        origins: Arc<Origins>,
    ) -> Self {
        Self {
            state: Mutex::new(SlotState {
                closed: None,
                queue: MessageQueue::new(),
                waiters: BTreeMap::new(),
                next_waiter: 0,
                wakers: Vec::new(),
                max_message_size,
                read_timeout,
                last_message: SystemTime::now(),
                last_sender: None,
                filled: Vec::new(),
                shrink_timer: None,
            }),
            max_queued,
            accounting,
            timer,
            origins,
        }
    }

    /// Queues one message from `sender`, or hands it straight to the oldest
    /// waiting reader with room for it.
    pub fn deliver(&self, msg: &[u8], sender: &Sender) -> Result<()> {
        let mut refused: Vec<Responder> = Vec::new();
        let mut wakers = Vec::new();
        let taker = {
            let mut st = self.state.lock();
            // A refused message refuses no reader and wakes no poller.
            let taker = self.deliver_locked(&mut st, msg, sender, &mut refused)?;
            st.last_message = SystemTime::now();
            if !st.queue.is_empty() {
                wakers = std::mem::take(&mut st.wakers);
            }
            taker
        };
        // Answers go to the kernel after the lock is let go: a thread that
        // loses its CPU to the reader it just woke holds up nobody else.
        if let Some(respond) = taker {
            respond(Ok(msg));
        }
        for respond in refused {
            respond(Err(Error::BufferTooSmall));
        }
        for (_, wake) in wakers {
            wake();
        }
        Ok(())
    }

    fn take_waiter(&self, st: &mut SlotState, id: u64) -> Option<Waiter> {
        let w = st.waiters.remove(&id)?;
        if let Some(key) = w.deadline {
            self.timer.cancel(key);
        }
        Some(w)
    }

    fn deliver_locked(
        &self,
        st: &mut SlotState,
        msg: &[u8],
        sender: &Sender,
        refused: &mut Vec<Responder>,
    ) -> Result<Option<Responder>> {
        if let Some(err) = st.closed {
            return Err(err);
        }
        if msg.len() > st.max_message_size {
            return Err(Error::MessageTooLarge);
        }
        if st.waiters.is_empty() {
            return self.enqueue(st, msg, sender).map(|()| None);
        }
        // The message is the next one for every waiting reader: those ahead
        // of the first with room for it learn it is too large for them
        // (EMSGSIZE, as ReadFile's ERROR_INSUFFICIENT_BUFFER), and the
        // first with room takes it.
        let taker = st
            .waiters
            .iter()
            .find(|(_, w)| w.size >= msg.len())
            .map(|(id, _)| *id);
        let Some(taker) = taker else {
            // Nobody can take it: it waits in the queue for a reader with a
            // larger buffer, and every waiting reader hears why it got
            // nothing. Only once it is queued: a full queue refuses the
            // writer and leaves the readers waiting.
            self.enqueue(st, msg, sender)?;
            let ids: Vec<u64> = st.waiters.keys().copied().collect();
            refused.extend(
                ids.into_iter()
                    .filter_map(|id| self.take_waiter(st, id))
                    .map(|w| w.respond),
            );
            return Ok(None);
        };
        let ahead: Vec<u64> = st.waiters.range(..taker).map(|(id, _)| *id).collect();
        refused.extend(
            ahead
                .into_iter()
                .filter_map(|id| self.take_waiter(st, id))
                .map(|w| w.respond),
        );
        let w = self.take_waiter(st, taker).expect("found above");
        st.last_sender = Some(sender.clone());
        st.handed(w.call, w.size, msg.len());
        Ok(Some(w.respond))
    }

    fn enqueue(&self, st: &mut SlotState, msg: &[u8], sender: &Sender) -> Result<()> {
        let charge = FRAME + msg.len();
        if st.queue.charged_bytes() + charge > self.max_queued {
            return Err(Error::QueueFull);
        }
        self.accounting.charge_bytes(account_of(sender), charge)?;
        if let Some(ip) = source_of(Some(sender))
            && let Err(e) = self.accounting.charge_host(ip, charge)
        {
            self.accounting.release_bytes(account_of(sender), charge);
            return Err(e);
        }
        let (code, network) = self.origins.encode(sender);
        st.queue.push(msg, &code, network, self.max_queued);
        Ok(())
    }

    /// Accounts for the oldest message, which a reader took off the queue.
    fn taken(&self, st: &mut SlotState, taken: &Taken) {
        st.last_sender = self.origins.decode(&taken.sender, taken.network);
        self.uncharge(taken.charged, st.last_sender.as_ref(), taken.network);
        if taken.network {
            self.origins.release(&taken.sender);
        }
    }

    fn uncharge(&self, charged: usize, sender: Option<&Sender>, network: bool) {
        let who = match sender {
            Some(s) => account_of(s),
            // An origin no longer known can only have been the network's.
            None if network => Account::Network,
            None => Account::User(0),
        };
        self.accounting.release_bytes(who, charged);
        if let Some(ip) = source_of(sender) {
            self.accounting.release_host(ip, charged);
        }
    }

    fn discard(&self, st: &mut SlotState) {
        // Summed per writer first: a queue holds few writers and many messages.
        let mut per_writer: Vec<(Account, usize)> = Vec::new();
        let mut per_host: Vec<(std::net::Ipv4Addr, usize)> = Vec::new();
        st.queue.clear(|charged, code, network| {
            let sender = self.origins.decode(&code, network);
            if let Some(ip) = source_of(sender.as_ref()) {
                match per_host.iter_mut().find(|(h, _)| *h == ip) {
                    Some((_, n)) => *n += charged,
                    None => per_host.push((ip, charged)),
                }
            }
            let who = match sender {
                Some(s) => account_of(&s),
                None => Account::Network,
            };
            if network {
                self.origins.release(&code);
            }
            match per_writer.iter_mut().find(|(w, _)| *w == who) {
                Some((_, n)) => *n += charged,
                None => per_writer.push((who, charged)),
            }
        });
        for (who, n) in per_writer {
            self.accounting.release_bytes(who, n);
        }
        for (ip, n) in per_host {
            self.accounting.release_host(ip, n);
        }
    }

    /// Takes the oldest message for a reader with a `size`-byte buffer, or
    /// parks the reader until a message arrives or its timeout passes.
    /// Returns the waiter's id when it was parked: [`Slot::cancel`] with it
    /// ends the wait.
    ///
    /// Each call gets one whole message: a read that continues a call which
    /// already has one gets end of file at once and takes nothing, which
    /// ends the call with that message.
    pub fn read<F>(
        self: &Arc<Self>,
        call: ReadCall,
        size: usize,
        nonblock: bool,
        respond: F,
    ) -> Option<u64>
    where
        F: FnOnce(Result<&[u8]>) + Send + 'static,
    {
        let mut st = self.state.lock();
        if st.continues_a_whole_message(call) {
            drop(st);
            respond(Ok(&[]));
            return None;
        }
        if let Some(err) = st.closed {
            drop(st);
            respond(Err(err));
            return None;
        }
        if let Some(len) = st.queue.front_len() {
            if len > size {
                drop(st);
                respond(Err(Error::BufferTooSmall));
                return None;
            }
            // Taken out, so the answer goes to the kernel without the lock.
            let Some(mut taken) = st.queue.take_front() else {
                unreachable!("a front message was just seen");
            };
            self.taken(&mut st, &taken);
            st.handed(call, size, len);
            self.arm_shrink(&mut st);
            drop(st);
            respond(Ok(taken.message()));
            return None;
        }
        if nonblock {
            drop(st);
            respond(Err(Error::WouldBlock));
            return None;
        }
        if st.read_timeout == Some(Duration::ZERO) {
            drop(st);
            respond(Ok(&[]));
            return None;
        }
        let id = st.next_waiter;
        st.next_waiter += 1;
        // A timeout too far out to be a point in time is forever.
        let deadline = st
            .read_timeout
            .and_then(|t| Instant::now().checked_add(t))
            .map(|at| self.timer.add(at, Arc::downgrade(self), id));
        st.waiters.insert(
            id,
            Waiter {
                size,
                call,
                deadline,
                respond: Box::new(respond),
            },
        );
        Some(id)
    }

    /// Makes sure a ring keeping capacity it does not use is shrunk when
    /// its grace ends (see `queue.rs`), whether or not anyone reads again.
    /// Only a read lowers what is queued, so only a read calls this.
    fn arm_shrink(self: &Arc<Self>, st: &mut SlotState) {
        let due = st.queue.shrink_due();
        if st.shrink_timer.map(|(_, at)| at) == due {
            return;
        }
        if let Some((key, _)) = st.shrink_timer.take() {
            self.timer.cancel(key);
        }
        st.shrink_timer = due.map(|at| (self.timer.add(at, Arc::downgrade(self), SHRINK), at));
    }

    /// Ends the wait of reader `id` with EINTR, if it still waits: nothing
    /// is taken from the queue.
    pub fn cancel(&self, id: u64) -> bool {
        let w = self.take_waiter(&mut self.state.lock(), id);
        match w {
            Some(w) => {
                (w.respond)(Err(Error::Interrupted));
                true
            }
            None => false,
        }
    }

    /// The read timeout of reader `id` passed: it gets end of file.
    pub(crate) fn expire(&self, id: u64) {
        if id == SHRINK {
            let mut st = self.state.lock();
            st.shrink_timer = None;
            // The deadline armed is the queue's latest: the ring is due now,
            // or a write filled it past a quarter again and it keeps all.
            st.queue.shrink_if_due(Instant::now());
            return;
        }
        let w = self.state.lock().waiters.remove(&id);
        if let Some(w) = w {
            (w.respond)(Ok(&[]));
        }
    }

    /// Stops the slot: queued messages are discarded, waiting readers and
    /// pollers are answered, later writes get `reason`.
    pub fn close(&self, reason: Error) {
        let (waiters, wakers) = {
            let mut st = self.state.lock();
            st.closed.get_or_insert(reason);
            self.discard(&mut st);
            if let Some((key, _)) = st.shrink_timer.take() {
                self.timer.cancel(key);
            }
            let waiters = std::mem::take(&mut st.waiters);
            for w in waiters.values() {
                if let Some(key) = w.deadline {
                    self.timer.cancel(key);
                }
            }
            (waiters, std::mem::take(&mut st.wakers))
        };
        for (_, w) in waiters {
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
            waiting_readers: st.waiters.len(),
        }
    }

    /// Who sent the next message (`user.mailslot.next_sender`).
    pub fn next_sender(&self) -> Option<Sender> {
        let st = self.state.lock();
        let (code, network) = st.queue.front_sender()?;
        self.origins.decode(&code, network)
    }

    /// Who sent the message a reader took last (`user.mailslot.last_sender`).
    pub fn last_sender(&self) -> Option<Sender> {
        self.state.lock().last_sender.clone()
    }

    pub fn set_max_message_size(&self, size: usize) {
        self.state.lock().max_message_size = size;
    }

    /// Applies to reads that start after the change, as SetMailslotInfo does.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        self.state.lock().read_timeout = timeout;
    }
}

impl Expire for Slot {
    fn expire(&self, waiter: u64) {
        Slot::expire(self, waiter);
    }
}
