//! The FUSE session: the INIT handshake, the threads that take requests
//! from a [`Transport`], replies that may be sent later from any thread,
//! and FUSE_INTERRUPT as the kernel documents it
//! (`Documentation/filesystems/fuse.rst`, "Interrupting filesystem
//! operations").
//!
//! Threads. Each thread receives on a channel of its own (a cloned
//! `/dev/fuse` descriptor), all fed from the kernel's one queue, so the
//! kernel wakes one sleeping thread per request and threads never take
//! turns. Receiving never blocks: a thread sleeps only in
//! [`Transport::wait`], holding nothing.
//!
//! Order. A request the handler calls a barrier (a release) must be
//! complete before any request the kernel queued after it is handled: with
//! any number of threads, a slot whose server closed is gone before the
//! next open of its name. The kernel hands requests out in its queue's
//! order, but two threads that took two requests one after the other may
//! get on with them in either order. So every thread says when it is
//! receiving (a count that is odd while it is in `receive`), and publishes
//! what it took (a barrier's ticket, a waiting request's entry in the
//! interrupt table) before it says it is done receiving. A thread that took
//! a request first waits until no other thread is still in a `receive` it
//! had begun by then (a non-blocking call: a short wait), and then until
//! every barrier published by that time is complete. Whatever the kernel
//! queued before the request has then been published, and every barrier
//! among it is done.
//!
//! Interrupts. Every request that may be answered later is entered in a
//! table by its `unique` before its thread is done receiving, and an
//! interrupt, which the kernel queues only once the request was taken, is
//! handled only after that, so it always finds it. The
//! handler names what stops a waiting request ([`Interrupts::on_interrupt`]);
//! an interrupt that finds it calls that; one that comes while the request
//! is still being handled is remembered and applied as soon as the handler
//! has parked it; one for a request not in the table (already answered, or
//! never seen) is answered EAGAIN, which the kernel ignores for the first
//! and requeues for the second.

use std::collections::BTreeSet;
use std::io::{self, IoSlice};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use dashmap::DashMap;
use parking_lot::{Condvar, Mutex};

use super::abi::{self, InHeader, InitIn, InitOut};
use super::channel::{Received, Transport};

/// One request as the kernel sent it.
pub struct Request<'a> {
    pub header: InHeader,
    /// The opcode's arguments, after the header.
    pub body: &'a [u8],
}

impl Request<'_> {
    pub fn args(&self) -> abi::Args<'_> {
        abi::Args::new(self.body)
    }
}

/// What a filesystem tells the session.
pub trait Handler: Send + Sync + 'static {
    /// The answer to FUSE_INIT, or the errno that refuses the kernel.
    fn init(&self, offered: &InitIn) -> Result<InitOut, i32>;

    /// Whether requests with `opcode` may be answered after `dispatch`
    /// returns (and so can be interrupted while they wait).
    fn may_wait(&self, opcode: u32) -> bool;

    /// Whether a request must be complete before later ones are read.
    fn is_barrier(&self, opcode: u32) -> bool;

    /// Handles one request. `reply` answers it, now or later; requests
    /// that take no reply (FORGET, BATCH_FORGET) get none.
    fn dispatch(&self, req: &Request<'_>, reply: Option<Reply>);
}

/// A waiting request, as the interrupt table sees it.
enum InFlight {
    /// Read, and being handled.
    Handling,
    /// An interrupt came while it was being handled.
    Interrupted,
    /// Parked by the handler: this stops the wait.
    Waiting(Box<dyn FnOnce() + Send + Sync>),
}

/// The most pieces a reply body is made of.
const MAX_PARTS: usize = 3;

struct Shared {
    /// Where notifications go: any descriptor of the connection will do.
    transport: Arc<dyn Transport>,
    /// Thread i receives on channel i; a request is answered on the
    /// channel it came from, as the kernel requires.
    channels: Vec<Arc<dyn Transport>>,
    in_flight: DashMap<u64, InFlight>,
    /// The protocol minor agreed at INIT (0 before).
    minor: AtomicU32,
    order: Order,
}

/// Keeps barriers in the kernel's order across threads (see the module's
/// documentation).
struct Order {
    /// Per thread: odd while it is in `receive` or has not yet published
    /// what it took.
    receiving: Vec<Padded>,
    /// Barriers published and not yet complete (a fast way to see none).
    open: AtomicUsize,
    barriers: Mutex<Barriers>,
    complete: Condvar,
    /// Threads asleep until another moves on from receiving: a thread that
    /// lost its CPU in the middle of a receive is waited for without
    /// taking the CPU it needs.
    sleepers: AtomicUsize,
    moved_on: Mutex<()>,
    moved_on_cv: Condvar,
}

/// One cache line per thread, so threads that say they are receiving do
/// not slow each other down.
#[repr(align(64))]
struct Padded(AtomicU64);

#[derive(Default)]
struct Barriers {
    next: u64,
    open: BTreeSet<u64>,
}

impl Order {
    fn new(threads: usize) -> Self {
        Self {
            receiving: (0..threads).map(|_| Padded(AtomicU64::new(0))).collect(),
            open: AtomicUsize::new(0),
            barriers: Mutex::new(Barriers::default()),
            complete: Condvar::new(),
            sleepers: AtomicUsize::new(0),
            moved_on: Mutex::new(()),
            moved_on_cv: Condvar::new(),
        }
    }

    fn receiving(&self, me: usize) {
        // Before the kernel hands out anything: a thread that takes a later
        // request then sees this one receiving.
        self.receiving[me].0.fetch_add(1, Ordering::SeqCst);
    }

    /// Everything taken in this `receive` is published.
    fn received(&self, me: usize) {
        self.receiving[me].0.fetch_add(1, Ordering::SeqCst);
        // A sleeper counted itself before it looked at the counts: either
        // it saw this one move, or it is counted here and woken.
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.moved_on.lock();
            self.moved_on_cv.notify_all();
        }
    }

    /// Publishes a barrier just taken; returns its ticket.
    fn open_barrier(&self) -> u64 {
        let mut b = self.barriers.lock();
        let ticket = b.next;
        b.next += 1;
        b.open.insert(ticket);
        self.open.fetch_add(1, Ordering::SeqCst);
        ticket
    }

    fn close_barrier(&self, ticket: u64) {
        let mut b = self.barriers.lock();
        b.open.remove(&ticket);
        self.open.fetch_sub(1, Ordering::SeqCst);
        drop(b);
        self.complete.notify_all();
    }

    /// Returns once every request the kernel handed out before the one
    /// thread `me` just took is published and every barrier among them
    /// complete.
    fn wait_for_earlier(&self, me: usize) {
        for (other, state) in self.receiving.iter().enumerate() {
            if other == me {
                continue;
            }
            let seen = state.0.load(Ordering::SeqCst);
            if seen & 1 == 0 {
                continue;
            }
            // A non-blocking receive, then a few stores: this is short,
            // unless that thread lost its CPU; then sleep until it moves.
            let mut spins = 0u32;
            while state.0.load(Ordering::Acquire) == seen {
                if spins < 200 {
                    spins += 1;
                    std::hint::spin_loop();
                    continue;
                }
                let mut guard = self.moved_on.lock();
                self.sleepers.fetch_add(1, Ordering::SeqCst);
                while state.0.load(Ordering::SeqCst) == seen {
                    self.moved_on_cv.wait(&mut guard);
                }
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
            }
        }
        if self.open.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut b = self.barriers.lock();
        let published = b.next;
        while b.open.range(..published).next().is_some() {
            self.complete.wait(&mut b);
        }
    }
}

impl Shared {
    fn send(&self, channel: usize, parts: &[IoSlice<'_>]) {
        if let Err(e) = self.channels[channel].send(parts) {
            log::warn!("a reply to the kernel failed: {e}");
        }
    }

    fn reply(&self, channel: usize, unique: u64, error: i32, body: &[&[u8]]) {
        let len = abi::OUT_HEADER_LEN + body.iter().map(|b| b.len()).sum::<usize>();
        let header = abi::out_header(len, error, unique);
        // Replies are on every request's path: no allocation for them.
        let mut parts = [IoSlice::new(&[]); MAX_PARTS + 1];
        parts[0] = IoSlice::new(&header);
        for (part, b) in parts[1..].iter_mut().zip(body) {
            *part = IoSlice::new(b);
        }
        debug_assert!(body.len() <= MAX_PARTS);
        self.send(channel, &parts[..=body.len().min(MAX_PARTS)]);
    }

    fn interrupt(&self, channel: usize, interrupt_unique: u64, target: u64) {
        let stop = match self.in_flight.get_mut(&target) {
            Some(mut entry) => match std::mem::replace(&mut *entry, InFlight::Interrupted) {
                InFlight::Waiting(stop) => {
                    drop(entry);
                    self.in_flight.remove(&target);
                    Some(stop)
                }
                InFlight::Handling | InFlight::Interrupted => None,
            },
            None => {
                self.reply(channel, interrupt_unique, -libc::EAGAIN, &[]);
                return;
            }
        };
        if let Some(stop) = stop {
            stop();
        }
    }
}

/// Answers one request, once. Dropping it unanswered answers EIO, so a
/// request is never left waiting because a handler forgot it.
pub struct Reply {
    unique: u64,
    channel: usize,
    tracked: bool,
    shared: Arc<Shared>,
    sent: bool,
}

impl Reply {
    pub fn unique(&self) -> u64 {
        self.unique
    }

    /// The handle through which the handler says how to stop this request
    /// if it is interrupted while it waits.
    pub fn interrupts(&self) -> Interrupts {
        Interrupts {
            unique: self.tracked.then_some(self.unique),
            shared: self.shared.clone(),
        }
    }

    /// The protocol minor version agreed with the kernel.
    pub fn minor(&self) -> u32 {
        self.shared.minor.load(Ordering::Relaxed)
    }

    fn finish(&mut self, error: i32, body: &[&[u8]]) {
        self.sent = true;
        if self.tracked {
            self.shared.in_flight.remove(&self.unique);
        }
        self.shared.reply(self.channel, self.unique, error, body);
    }

    /// Success, with the body made of `parts` in order.
    pub fn ok(mut self, parts: &[&[u8]]) {
        self.finish(0, parts);
    }

    /// Failure with `errno` (positive, as in `libc::ENOENT`).
    pub fn error(mut self, errno: i32) {
        self.finish(-errno, &[]);
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if !self.sent {
            log::warn!("request {} was left unanswered; answering EIO", self.unique);
            self.finish(-libc::EIO, &[]);
        }
    }
}

/// See [`Reply::interrupts`].
pub struct Interrupts {
    unique: Option<u64>,
    shared: Arc<Shared>,
}

impl Interrupts {
    /// The request now waits; `stop` ends the wait (by answering it EINTR)
    /// if an interrupt comes. Called after the request was already
    /// answered, it does nothing; after an interrupt already came, it stops
    /// the wait at once.
    pub fn on_interrupt(self, stop: impl FnOnce() + Send + Sync + 'static) {
        let Some(unique) = self.unique else { return };
        let interrupted = match self.shared.in_flight.get_mut(&unique) {
            None => return,
            Some(mut entry) => match &*entry {
                InFlight::Interrupted => true,
                _ => {
                    *entry = InFlight::Waiting(Box::new(stop));
                    return;
                }
            },
        };
        if interrupted {
            self.shared.in_flight.remove(&unique);
            stop();
        }
    }
}

/// Sends notifications (unsolicited messages) to the kernel.
#[derive(Clone)]
pub struct Notifier {
    shared: Arc<Shared>,
}

impl Notifier {
    /// Tells the kernel to forget its cached `parent`/`name` entry.
    pub fn inval_entry(&self, parent: u64, name: &[u8]) -> io::Result<()> {
        let mut out = abi::Out::with_capacity(16);
        out.u64(parent).u32(name.len() as u32).u32(0);
        self.notify(abi::notify::INVAL_ENTRY, &[&out.bytes, name, b"\0"])
    }

    /// Wakes the pollers of poll handle `kh`.
    pub fn poll_wakeup(&self, kh: u64) -> io::Result<()> {
        self.notify(abi::notify::POLL, &[&kh.to_ne_bytes()])
    }

    fn notify(&self, code: i32, body: &[&[u8]]) -> io::Result<()> {
        let len = abi::OUT_HEADER_LEN + body.iter().map(|b| b.len()).sum::<usize>();
        let header = abi::out_header(len, code, 0);
        let mut parts = vec![IoSlice::new(&header)];
        parts.extend(body.iter().map(|b| IoSlice::new(b)));
        self.shared.transport.send(&parts)
    }
}

/// A running session: its threads end when the filesystem is unmounted.
pub struct Session {
    threads: Vec<JoinHandle<io::Result<()>>>,
    notifier: Notifier,
}

impl Session {
    /// Serves `handler` on `transport` with `threads` threads (at least 1),
    /// each with a request buffer of `buffer` bytes.
    pub fn spawn<H: Handler>(
        transport: Arc<dyn Transport>,
        handler: Arc<H>,
        threads: usize,
        buffer: usize,
    ) -> io::Result<Session> {
        // One thread receives on the descriptor itself, blocking; more
        // each get a channel. Where no channel can be made (a container
        // that was handed the descriptor but cannot open /dev/fuse), one
        // thread still serves everything, in order.
        let channels = match threads.max(1) {
            1 => vec![transport.clone()],
            n => match transport.clone().channels(n) {
                Ok(channels) => channels,
                Err(e) => {
                    log::warn!(
                        "cannot give each of {n} threads a FUSE descriptor of its own ({e}); \
                         serving with one thread"
                    );
                    vec![transport.clone()]
                }
            },
        };
        let threads = channels.len();
        let shared = Arc::new(Shared {
            transport,
            channels,
            in_flight: DashMap::new(),
            minor: AtomicU32::new(0),
            order: Order::new(threads),
        });
        let buffer = buffer.max(abi::MIN_READ_BUFFER);
        let mut handles = Vec::new();
        for me in 0..threads {
            let worker = Worker {
                shared: shared.clone(),
                handler: handler.clone(),
                me,
            };
            handles.push(
                std::thread::Builder::new()
                    .name(format!("fuse-{me}"))
                    .spawn(move || worker.run(buffer))?,
            );
        }
        Ok(Session {
            threads: handles,
            notifier: Notifier { shared },
        })
    }

    pub fn notifier(&self) -> Notifier {
        self.notifier.clone()
    }

    /// Waits for the end of the session: the first error a thread met, or
    /// `Ok` once the filesystem was unmounted.
    pub fn join(self) -> io::Result<()> {
        let mut result = Ok(());
        for t in self.threads {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a session thread panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

struct Worker<H> {
    shared: Arc<Shared>,
    handler: Arc<H>,
    /// This thread's number, and its channel's.
    me: usize,
}

impl<H: Handler> Worker<H> {
    fn run(self, buffer: usize) -> io::Result<()> {
        let mut buf = vec![0u8; buffer];
        let channel = self.shared.channels[self.me].clone();
        let order = &self.shared.order;
        loop {
            // Waiting first costs a busy channel one quick call, but spares
            // an idle one the receive that would find nothing.
            channel.wait()?;
            order.receiving(self.me);
            let n = match channel.receive(&mut buf) {
                Ok(Received::Request(n)) => n,
                other => {
                    order.received(self.me);
                    match other {
                        Ok(Received::Unmounted) => return Ok(()),
                        Err(e) => return Err(e),
                        _ => continue,
                    }
                }
            };
            let Some(header) = abi::InHeader::parse(&buf[..n]) else {
                order.received(self.me);
                log::error!("a request of {n} bytes is shorter than its header; ignored");
                continue;
            };
            let end = (header.len as usize).clamp(abi::IN_HEADER_LEN, n);
            let req = Request {
                header,
                body: &buf[abi::IN_HEADER_LEN..end],
            };
            let answered = !matches!(
                header.opcode,
                abi::op::INTERRUPT
                    | abi::op::INIT
                    | abi::op::NOTIFY_REPLY
                    | abi::op::FORGET
                    | abi::op::BATCH_FORGET
            );
            // Published before this thread is done receiving: an interrupt
            // finds the request, a later request finds the barrier.
            let tracked = answered && self.handler.may_wait(header.opcode);
            if tracked {
                self.shared
                    .in_flight
                    .insert(header.unique, InFlight::Handling);
            }
            let barrier =
                (answered && self.handler.is_barrier(header.opcode)).then(|| order.open_barrier());
            order.received(self.me);
            match header.opcode {
                abi::op::INTERRUPT => {
                    // Its request was taken before it was queued: once that
                    // is published, the table says whether it waits.
                    order.wait_for_earlier(self.me);
                    match req.args().u64() {
                        Some(target) => self.shared.interrupt(self.me, header.unique, target),
                        None => log::warn!("a malformed FUSE_INTERRUPT was ignored"),
                    }
                    continue;
                }
                // Nothing else arrives before INIT is answered.
                abi::op::INIT => {
                    self.init(&req);
                    continue;
                }
                // The answer to a retrieve, which mailslotfs never asks for.
                abi::op::NOTIFY_REPLY => continue,
                abi::op::FORGET | abi::op::BATCH_FORGET => {
                    self.handler.dispatch(&req, None);
                    continue;
                }
                _ => {}
            }
            let reply = Reply {
                unique: header.unique,
                channel: self.me,
                tracked,
                shared: self.shared.clone(),
                sent: false,
            };
            match barrier {
                Some(ticket) => {
                    self.handler.dispatch(&req, Some(reply));
                    order.close_barrier(ticket);
                }
                None => {
                    order.wait_for_earlier(self.me);
                    self.handler.dispatch(&req, Some(reply));
                }
            }
        }
    }

    fn init(&self, req: &Request<'_>) {
        let unique = req.header.unique;
        let Some(offered) = InitIn::parse(&mut req.args()) else {
            log::error!("a malformed FUSE_INIT was refused");
            return self.shared.reply(self.me, unique, -libc::EINVAL, &[]);
        };
        if offered.major > abi::MAJOR {
            // The kernel asks again with our major version.
            let mut out = abi::Out::default();
            out.u32(abi::MAJOR).u32(abi::MINOR);
            return self.shared.reply(self.me, unique, 0, &[&out.bytes]);
        }
        match self.handler.init(&offered) {
            Ok(answer) => {
                self.shared.minor.store(answer.minor, Ordering::Relaxed);
                self.shared
                    .reply(self.me, unique, 0, &[&answer.encode().bytes]);
            }
            Err(errno) => self.shared.reply(self.me, unique, -errno, &[]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuse::channel::Scripted;

    /// Test-only opcode: registers the interrupt handler of the read kept
    /// by an earlier request, as a handler that parks late would.
    const PARK_LATER: u32 = 9000;

    type Stop = Box<dyn FnOnce() + Send + Sync>;

    #[derive(Default)]
    struct Parking {
        /// Reads whose interrupt handler is registered by a later request.
        later: Mutex<Vec<(Interrupts, Stop)>>,
        park_at_once: bool,
    }

    impl Handler for Parking {
        fn init(&self, offered: &InitIn) -> Result<InitOut, i32> {
            Ok(InitOut {
                minor: offered.minor,
                max_readahead: 0,
                flags: 0,
                max_background: 16,
                congestion_threshold: 12,
                max_write: 4096,
                max_pages: 1,
            })
        }
        fn may_wait(&self, opcode: u32) -> bool {
            opcode == abi::op::READ
        }
        fn is_barrier(&self, _: u32) -> bool {
            false
        }
        fn dispatch(&self, req: &Request<'_>, reply: Option<Reply>) {
            let Some(reply) = reply else { return };
            match req.header.opcode {
                abi::op::READ => {
                    let interrupts = reply.interrupts();
                    let stop: Stop = Box::new(move || reply.error(libc::EINTR));
                    if self.park_at_once {
                        interrupts.on_interrupt(stop);
                    } else {
                        self.later.lock().push((interrupts, stop));
                    }
                }
                PARK_LATER => {
                    reply.ok(&[]);
                    let (interrupts, stop) = self.later.lock().pop().expect("a kept read");
                    interrupts.on_interrupt(stop);
                }
                abi::op::GETATTR => drop(reply),
                _ => reply.ok(&[]),
            }
        }
    }

    fn request(opcode: u32, unique: u64, body: &[u8]) -> Vec<u8> {
        InHeader::request(opcode, unique, 1, body)
    }

    fn init() -> Vec<u8> {
        let offer = InitIn {
            major: abi::MAJOR,
            minor: abi::MINOR,
            max_readahead: 0,
            flags: 0,
        };
        request(abi::op::INIT, 1, &offer.encode())
    }

    fn interrupt(unique: u64, target: u64) -> Vec<u8> {
        request(abi::op::INTERRUPT, unique, &target.to_ne_bytes())
    }

    /// Plays `requests` and returns each reply as (unique, error).
    fn play(handler: Parking, requests: Vec<Vec<u8>>) -> Vec<(u64, i32)> {
        let transport = Arc::new(Scripted::new(requests));
        Session::spawn(transport.clone(), Arc::new(handler), 1, 8192)
            .unwrap()
            .join()
            .unwrap();
        transport
            .sent()
            .iter()
            .map(|r| {
                (
                    u64::from_ne_bytes(r[8..16].try_into().unwrap()),
                    i32::from_ne_bytes(r[4..8].try_into().unwrap()),
                )
            })
            .collect()
    }

    #[test]
    fn a_request_taken_later_waits_for_a_barrier_taken_earlier() {
        use std::sync::atomic::AtomicBool;
        let order = Arc::new(Order::new(2));
        let done = Arc::new(AtomicBool::new(false));
        // Thread 0 is in its receive: it may hold something not yet published.
        order.receiving(0);
        let waiter = {
            let (order, done) = (order.clone(), done.clone());
            std::thread::spawn(move || {
                // Thread 1 took a request after thread 0's.
                order.wait_for_earlier(1);
                done.load(Ordering::SeqCst)
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        // What thread 0 took was a barrier: published, then complete.
        let ticket = order.open_barrier();
        order.received(0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        done.store(true, Ordering::SeqCst);
        order.close_barrier(ticket);
        assert!(
            waiter.join().unwrap(),
            "the later request went ahead of the barrier"
        );
    }

    #[test]
    fn a_request_waits_for_nothing_taken_after_it() {
        let order = Order::new(3);
        // Thread 0 took a barrier long ago and finished it; thread 2 is idle.
        let old = order.open_barrier();
        order.close_barrier(old);
        order.receiving(2);
        order.received(2);
        // Returns at once: nothing published is open, nobody is receiving.
        order.wait_for_earlier(1);
    }

    #[test]
    fn several_threads_answer_every_request_once() {
        // Every request is answered once, on the one script, whichever of
        // four threads takes it.
        let mut requests = vec![init()];
        requests.extend((0..200).map(|i| request(abi::op::STATFS, 10 + 2 * i, &[])));
        let transport = Arc::new(Scripted::new(requests));
        Session::spawn(transport.clone(), Arc::new(Parking::default()), 4, 8192)
            .unwrap()
            .join()
            .unwrap();
        let mut answered: Vec<u64> = transport
            .sent()
            .iter()
            .map(|r| u64::from_ne_bytes(r[8..16].try_into().unwrap()))
            .collect();
        answered.sort_unstable();
        let mut expected: Vec<u64> = std::iter::once(1)
            .chain((0..200).map(|i| 10 + 2 * i))
            .collect();
        expected.sort_unstable();
        assert_eq!(answered, expected);
    }

    /// A script on a connection that cannot give threads channels.
    struct NoChannels(Scripted);

    impl Transport for NoChannels {
        fn receive(&self, buf: &mut [u8]) -> io::Result<Received> {
            self.0.receive(buf)
        }
        fn wait(&self) -> io::Result<()> {
            self.0.wait()
        }
        fn send(&self, parts: &[IoSlice<'_>]) -> io::Result<()> {
            self.0.send(parts)
        }
        fn channels(self: Arc<Self>, _: usize) -> io::Result<Vec<Arc<dyn Transport>>> {
            Err(io::Error::from_raw_os_error(libc::EACCES))
        }
    }

    #[test]
    fn without_channels_one_thread_serves_everything() {
        let requests = vec![init(), request(abi::op::STATFS, 2, &[])];
        let transport = Arc::new(NoChannels(Scripted::new(requests)));
        let session = Session::spawn(transport.clone(), Arc::new(Parking::default()), 4, 8192)
            .expect("a session despite no channels");
        assert_eq!(session.threads.len(), 1);
        session.join().unwrap();
        assert_eq!(transport.0.sent().len(), 2);
    }

    #[test]
    fn an_interrupt_ends_a_parked_request_with_eintr() {
        let handler = Parking {
            park_at_once: true,
            ..Default::default()
        };
        let sent = play(
            handler,
            vec![init(), request(abi::op::READ, 2, &[]), interrupt(3, 2)],
        );
        assert_eq!(sent, vec![(1, 0), (2, -libc::EINTR)]);
    }

    #[test]
    fn an_interrupt_during_handling_applies_once_the_request_parks() {
        let sent = play(
            Parking::default(),
            vec![
                init(),
                request(abi::op::READ, 2, &[]),
                interrupt(3, 2),
                request(PARK_LATER, 4, &[]),
            ],
        );
        assert_eq!(sent, vec![(1, 0), (4, 0), (2, -libc::EINTR)]);
    }

    #[test]
    fn an_interrupt_for_an_unknown_request_is_answered_eagain() {
        let sent = play(
            Parking::default(),
            vec![init(), request(abi::op::STATFS, 2, &[]), interrupt(5, 2)],
        );
        // The statfs was answered at once; its interrupt finds nothing.
        assert_eq!(sent, vec![(1, 0), (2, 0), (5, -libc::EAGAIN)]);
    }

    #[test]
    fn a_request_left_unanswered_gets_eio() {
        let sent = play(
            Parking::default(),
            vec![init(), request(abi::op::GETATTR, 2, &[])],
        );
        assert_eq!(sent, vec![(1, 0), (2, -libc::EIO)]);
    }

    #[test]
    fn a_newer_kernel_is_asked_to_speak_our_major_version() {
        let offer = InitIn {
            major: 8,
            minor: 0,
            max_readahead: 0,
            flags: 0,
        };
        let sent = play(
            Parking::default(),
            vec![request(abi::op::INIT, 1, &offer.encode())],
        );
        assert_eq!(sent, vec![(1, 0)]);
    }
}
