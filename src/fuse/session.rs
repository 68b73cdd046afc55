//! The FUSE session: the INIT handshake, the threads that take requests
//! from a [`Transport`], replies that may be sent later from any thread,
//! and FUSE_INTERRUPT as the kernel documents it
//! (`Documentation/filesystems/fuse.rst`, "Interrupting filesystem
//! operations").
//!
//! Threads. Each thread receives on a channel of its own (a cloned
//! `/dev/fuse` descriptor), all fed from the kernel's one queue, blocking
//! in `read(2)` as the kernel means it: the kernel wakes one sleeping thread
//! per request, and threads never take turns.
//!
//! Order. A request the handler calls a barrier (a release) must be
//! complete before any request the kernel queued after it is handled: with
//! any number of threads, a slot whose server closed is gone before the
//! next open of its name (for a release the kernel numbered late, behind a
//! flood of background requests, the adapter waits: `core::closing`). Two threads that took two requests one after the
//! other may get on with them in either order, so the order comes from the
//! kernel's request numbers: Linux numbers a request as it joins the queue,
//! under the queue's lock, and hands the queue out in that order, so
//! whatever it queued before a request has a lower number (numbers go up by
//! 2; interrupts use odd ones). Every thread publishes the number of what
//! it took (and whether it is a barrier) before it does anything with it. A
//! request is handled once every lower number is published and every
//! barrier among them complete; a barrier waits for nothing, so there is no
//! cycle. A number can be missing for good: its caller was killed while the
//! request was still queued, and the kernel took it back. Every thread says
//! when it is receiving (a count that is odd from before its `read(2)`
//! until it has published), so a thread that finds a number missing waits
//! until every thread that was receiving has moved on; then nobody holds
//! it. A thread asleep in `read(2)` holds nothing but does not move on by
//! itself: after a moment a signal ends its wait.
//!
//! Interrupts. Every request that may be answered later is entered in a
//! table by its `unique` before it is published, and an interrupt, which
//! the kernel queues only once the request was taken, is handled only once
//! that number is published, so it always finds it. The
//! handler names what stops a waiting request ([`Interrupts::on_interrupt`]);
//! an interrupt that finds it calls that; one that comes while the request
//! is still being handled is remembered and applied as soon as the handler
//! has parked it; one for a request not in the table (already answered, or
//! never seen) is answered EAGAIN, which the kernel ignores for the first
//! and requeues for the second.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, IoSlice};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use dashmap::DashMap;
use parking_lot::{Condvar, Mutex, MutexGuard};

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
    /// What the slow path needs to know of each thread.
    threads: Vec<ThreadState>,
    /// Every request number below this is published or was never handed
    /// out: `State::floor`, to look at without the lock.
    floor: AtomicU64,
    /// Barriers published and not yet complete (a fast way to see none).
    open: AtomicUsize,
    state: Mutex<State>,
    /// Something was published, a thread moved on, or a barrier completed.
    changed: Condvar,
}

/// One cache line per thread, so threads that say they are receiving do
/// not slow each other down.
#[repr(align(64))]
#[derive(Default)]
struct ThreadState {
    /// Odd while the thread is in `receive` or has not yet published what
    /// it took.
    receiving: AtomicU64,
    /// Its kernel thread id while it runs (0 before and after), where a
    /// signal ends its wait in `receive`.
    tid: AtomicI32,
}

struct State {
    /// How far apart the kernel's request numbers are: 2 since Linux 5.0,
    /// where odd numbers belong to interrupts; 1 before.
    step: u64,
    /// The lowest request number not yet published; `None` before the
    /// first request.
    floor: Option<u64>,
    /// Whether `floor + i × step` is published, for each i.
    ahead: VecDeque<bool>,
    /// Barriers published and not complete, by request number (a count,
    /// so a number the kernel repeated does not end the other early).
    barriers: BTreeMap<u64, u32>,
}

/// What a thread took in one receive.
#[derive(Clone, Copy)]
enum Took {
    Nothing,
    /// FUSE_INIT: its number says how the kernel counts.
    Init(u64),
    Request {
        unique: u64,
        barrier: bool,
    },
}

/// A hole in the numbers this far ahead of the lowest is not a request
/// anybody still holds: it cannot be, with a handful of threads.
const MAX_AHEAD: usize = 1 << 20;

/// How long a thread waits for others to say what they took before it
/// wakes those still in `receive`, in case they are asleep there.
const WAKE_AFTER: std::time::Duration = std::time::Duration::from_micros(500);

/// The signal that ends a thread's wait in `receive`. SIGURG, because
/// nothing else in the daemon uses it and, unhandled, it does nothing.
const WAKE_SIGNAL: nix::sys::signal::Signal = nix::sys::signal::Signal::SIGURG;

/// Installs the handler that lets [`WAKE_SIGNAL`] end a blocking
/// `read(2)` with EINTR (no SA_RESTART) and do nothing else.
fn install_wake_handler() -> io::Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, sigaction};
    extern "C" fn nothing(_: libc::c_int) {}
    static INSTALLED: std::sync::OnceLock<Result<(), nix::errno::Errno>> =
        std::sync::OnceLock::new();
    let action = SigAction::new(
        SigHandler::Handler(nothing),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler touches nothing, so it is async-signal-safe.
    (*INSTALLED.get_or_init(|| unsafe { sigaction(WAKE_SIGNAL, &action) }.map(|_| ())))
        .map_err(io::Error::from)
}

impl State {
    fn publish(&mut self, unique: u64) {
        let floor = *self.floor.get_or_insert(unique);
        if unique < floor || !(unique - floor).is_multiple_of(self.step) {
            // An interrupt's odd number, or one below the floor: nothing
            // waits for it.
            return;
        }
        let i = ((unique - floor) / self.step) as usize;
        if i > MAX_AHEAD {
            log::warn!("request {unique} is far ahead of {floor}; the numbers between are skipped");
            self.skip_to(unique);
            return self.publish(unique);
        }
        if self.ahead.len() <= i {
            self.ahead.resize(i + 1, false);
        }
        self.ahead[i] = true;
        self.advance();
    }

    fn advance(&mut self) {
        let Some(floor) = self.floor.as_mut() else {
            return;
        };
        while self.ahead.front() == Some(&true) {
            self.ahead.pop_front();
            *floor += self.step;
        }
    }

    /// The numbers below `unique` not published are holes nobody holds.
    fn skip_to(&mut self, unique: u64) {
        let Some(floor) = self.floor.as_mut() else {
            return;
        };
        while *floor < unique {
            self.ahead.pop_front();
            *floor += self.step;
        }
        self.advance();
    }

    fn floor(&self) -> u64 {
        self.floor.unwrap_or(0)
    }

    /// Everything numbered below `unique` is published.
    fn settled(&self, unique: u64) -> bool {
        self.floor.is_some_and(|f| f > unique)
    }

    fn published(&self, unique: u64) -> bool {
        let Some(floor) = self.floor else {
            return false;
        };
        if unique < floor {
            return true;
        }
        (unique - floor).is_multiple_of(self.step)
            && self
                .ahead
                .get(((unique - floor) / self.step) as usize)
                .is_some_and(|&p| p)
    }
}

impl Order {
    fn new(threads: usize) -> Self {
        Self {
            threads: (0..threads).map(|_| ThreadState::default()).collect(),
            floor: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            state: Mutex::new(State {
                step: 2,
                floor: None,
                ahead: VecDeque::new(),
                barriers: BTreeMap::new(),
            }),
            changed: Condvar::new(),
        }
    }

    fn receiving(&self, me: usize) {
        // Before the kernel hands out anything: a thread that takes a later
        // request then sees this one receiving.
        self.threads[me].receiving.fetch_add(1, Ordering::SeqCst);
    }

    /// Publishes what thread `me` took, and says it is done receiving.
    fn publish(&self, me: usize, took: Took) {
        let mut s = self.state.lock();
        match took {
            Took::Nothing => {}
            Took::Init(unique) => {
                s.step = if unique % 2 == 0 { 2 } else { 1 };
                s.publish(unique);
            }
            Took::Request { unique, barrier } => {
                s.publish(unique);
                if barrier {
                    *s.barriers.entry(unique).or_default() += 1;
                    self.open.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        self.floor.store(s.floor(), Ordering::Release);
        // Under the lock, like every change a waiter looks at: it cannot
        // miss it between looking and sleeping.
        self.threads[me].receiving.fetch_add(1, Ordering::SeqCst);
        drop(s);
        self.changed.notify_all();
    }

    fn close_barrier(&self, unique: u64) {
        let mut s = self.state.lock();
        if let Some(n) = s.barriers.get_mut(&unique) {
            *n -= 1;
            if *n == 0 {
                s.barriers.remove(&unique);
            }
        }
        self.open.fetch_sub(1, Ordering::SeqCst);
        drop(s);
        self.changed.notify_all();
    }

    /// Returns once every request the kernel handed out before `unique`
    /// (which thread `me` took) is published and every barrier among them
    /// complete.
    fn wait_for_earlier(&self, me: usize, unique: u64) {
        if self.floor.load(Ordering::Acquire) <= unique {
            // Another thread took the one before and is a few stores from
            // saying so, unless it lost its CPU.
            for _ in 0..200 {
                std::hint::spin_loop();
                if self.floor.load(Ordering::Acquire) > unique {
                    break;
                }
            }
        }
        if self.floor.load(Ordering::Acquire) > unique && self.open.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut s = self.state.lock();
        if !self.settle(me, &mut s, |s| s.settled(unique)) {
            // Every thread that could hold a number below this one has
            // moved on: those still missing were never handed out (their
            // callers were killed before the kernel sent them).
            log::debug!(
                "request numbers {}..{unique} were never handed out",
                s.floor()
            );
            s.skip_to(unique);
            self.floor.store(s.floor(), Ordering::Release);
        }
        while s.barriers.range(..unique).next().is_some() {
            self.changed.wait(&mut s);
        }
    }

    /// Returns once request `unique` is published, or nobody can be holding
    /// it (then it was never handed out).
    fn wait_published(&self, me: usize, unique: u64) {
        let mut s = self.state.lock();
        self.settle(me, &mut s, |s| s.published(unique));
    }

    /// Ends the wait of thread `other` in `receive`, if it is still in the
    /// one it was in when its count was `seen`.
    fn wake(&self, other: usize, seen: u64) {
        let tid = self.threads[other].tid.load(Ordering::SeqCst);
        if tid == 0 || self.threads[other].receiving.load(Ordering::SeqCst) != seen {
            return;
        }
        // SAFETY: tgkill takes plain integers; the thread group is ours, so
        // the signal never reaches another process.
        let r = unsafe {
            libc::syscall(
                libc::SYS_tgkill,
                libc::getpid(),
                tid,
                WAKE_SIGNAL as libc::c_int,
            )
        };
        if r < 0 {
            log::debug!("cannot wake thread {tid}: {}", io::Error::last_os_error());
        }
    }

    /// Thread `me` runs as kernel thread `tid` (0: it has ended).
    fn running_as(&self, me: usize, tid: i32) {
        self.threads[me].tid.store(tid, Ordering::SeqCst);
    }

    /// Waits until `done` holds, or until every other thread that was
    /// receiving when it began has moved on without making it hold; says
    /// which. A thread asleep in `receive` holds nothing but never moves on
    /// by itself: after a while, a signal ends its wait.
    fn settle(
        &self,
        me: usize,
        s: &mut MutexGuard<'_, State>,
        done: impl Fn(&State) -> bool,
    ) -> bool {
        if done(s) {
            return true;
        }
        let receiving: Vec<(usize, u64)> = self
            .threads
            .iter()
            .enumerate()
            .filter(|&(other, _)| other != me)
            .map(|(other, t)| (other, t.receiving.load(Ordering::SeqCst)))
            .filter(|&(_, seen)| seen & 1 == 1)
            .collect();
        loop {
            if done(s) {
                return true;
            }
            let moved_on = receiving
                .iter()
                .all(|&(other, seen)| self.threads[other].receiving.load(Ordering::SeqCst) != seen);
            if moved_on {
                return false;
            }
            if self.changed.wait_for(s, WAKE_AFTER).timed_out() {
                for &(other, seen) in &receiving {
                    self.wake(other, seen);
                }
            }
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
            n => match install_wake_handler().and_then(|()| transport.clone().channels(n)) {
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
        // SAFETY: gettid has no preconditions.
        order.running_as(self.me, unsafe { libc::gettid() });
        let result = self.serve(&mut buf, &*channel);
        order.running_as(self.me, 0);
        result
    }

    fn serve(&self, buf: &mut [u8], channel: &dyn Transport) -> io::Result<()> {
        let order = &self.shared.order;
        loop {
            order.receiving(self.me);
            let n = match channel.receive(buf) {
                Ok(Received::Request(n)) => n,
                Ok(Received::Interrupted) => {
                    order.publish(self.me, Took::Nothing);
                    continue;
                }
                other => {
                    order.publish(self.me, Took::Nothing);
                    return other.map(|_| ());
                }
            };
            let Some(header) = abi::InHeader::parse(&buf[..n]) else {
                order.publish(self.me, Took::Nothing);
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
            let barrier = answered && self.handler.is_barrier(header.opcode);
            let unique = header.unique;
            order.publish(
                self.me,
                match header.opcode {
                    abi::op::INIT => Took::Init(unique),
                    // Numbered by us, not by the kernel's count.
                    abi::op::NOTIFY_REPLY => Took::Nothing,
                    _ => Took::Request { unique, barrier },
                },
            );
            match header.opcode {
                abi::op::INTERRUPT => {
                    // Its request was taken before it was queued: once that
                    // is published, the table says whether it waits.
                    match req.args().u64() {
                        Some(target) => {
                            order.wait_published(self.me, target);
                            self.shared.interrupt(self.me, unique, target);
                        }
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
                unique,
                channel: self.me,
                tracked,
                shared: self.shared.clone(),
                sent: false,
            };
            if barrier {
                self.handler.dispatch(&req, Some(reply));
                order.close_barrier(unique);
            } else {
                order.wait_for_earlier(self.me, unique);
                self.handler.dispatch(&req, Some(reply));
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
        request(abi::op::INIT, 2, &offer.encode())
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

    /// Thread `me` receives and publishes `took`.
    fn take(order: &Order, me: usize, took: Took) {
        order.receiving(me);
        order.publish(me, took);
    }

    fn request_took(unique: u64) -> Took {
        Took::Request {
            unique,
            barrier: false,
        }
    }

    #[test]
    fn a_request_taken_later_waits_for_a_barrier_taken_earlier() {
        use std::sync::atomic::AtomicBool;
        let order = Arc::new(Order::new(2));
        take(&order, 0, Took::Init(2));
        let done = Arc::new(AtomicBool::new(false));
        // Thread 0 is in its receive and takes request 4; thread 1 took
        // request 6, the one after it, and has published it.
        order.receiving(0);
        order.receiving(1);
        order.publish(1, request_took(6));
        let waiter = {
            let (order, done) = (order.clone(), done.clone());
            std::thread::spawn(move || {
                order.wait_for_earlier(1, 6);
                done.load(Ordering::SeqCst)
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        // What thread 0 took was a barrier: published, then complete.
        order.publish(
            0,
            Took::Request {
                unique: 4,
                barrier: true,
            },
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        done.store(true, Ordering::SeqCst);
        order.close_barrier(4);
        assert!(
            waiter.join().unwrap(),
            "the later request went ahead of the barrier"
        );
    }

    #[test]
    fn a_request_waits_for_nothing_taken_after_it() {
        let order = Order::new(3);
        take(&order, 0, Took::Init(2));
        // A barrier taken earlier and finished, one taken later and open.
        for (unique, barrier) in [(4, true), (6, false), (8, true)] {
            take(&order, 0, Took::Request { unique, barrier });
        }
        order.close_barrier(4);
        // Thread 2 is receiving, but everything before 6 is published.
        order.receiving(2);
        order.wait_for_earlier(1, 6);
    }

    #[test]
    fn a_number_never_handed_out_stalls_nothing() {
        install_wake_handler().unwrap();
        let order = Arc::new(Order::new(2));
        take(&order, 0, Took::Init(2));
        // Request 4 was taken back by the kernel (its caller was killed);
        // thread 1 took 6. With nobody receiving, nobody can hold 4.
        take(&order, 1, request_took(6));
        order.wait_for_earlier(1, 6);
        // Now 10 after a missing 8, while thread 0 sleeps in a blocking
        // read(2) holding nothing: a signal ends its wait, it moves on, and
        // 10 goes ahead.
        let (rx, _tx) = nix::unistd::pipe().unwrap();
        let (started_tx, started) = std::sync::mpsc::channel();
        let sleeper = {
            let order = order.clone();
            std::thread::spawn(move || {
                // SAFETY: gettid has no preconditions.
                order.running_as(0, unsafe { libc::gettid() });
                order.receiving(0);
                started_tx.send(()).unwrap();
                let r = nix::unistd::read(&rx, &mut [0u8; 1]);
                order.publish(0, Took::Nothing);
                order.running_as(0, 0);
                r
            })
        };
        started.recv().unwrap();
        take(&order, 1, request_took(10));
        order.wait_for_earlier(1, 10);
        assert!(order.state.lock().settled(10));
        assert_eq!(sleeper.join().unwrap(), Err(nix::errno::Errno::EINTR));
    }

    #[test]
    fn request_numbers_count_from_init_in_its_steps() {
        let order = Order::new(1);
        take(&order, 0, Took::Init(2));
        for unique in [6, 4, 7, 8] {
            order.publish(0, request_took(unique));
        }
        // 7 is an interrupt's number: not part of the count.
        let s = order.state.lock();
        assert_eq!(s.floor(), 10);
        assert!(s.published(3) && s.published(8) && !s.published(10));
        drop(s);
        // Before Linux 5.0 numbers went up by 1.
        let old = Order::new(1);
        take(&old, 0, Took::Init(1));
        take(&old, 0, request_took(3));
        assert_eq!(old.state.lock().floor(), 2);
        take(&old, 0, request_took(2));
        assert_eq!(old.state.lock().floor(), 4);
    }

    #[test]
    fn several_threads_answer_every_request_once() {
        // Every request is answered once, on the one script, whichever of
        // four threads takes it.
        let mut requests = vec![init()];
        requests.extend((0..200).map(|i| request(abi::op::STATFS, 4 + 2 * i, &[])));
        let transport = Arc::new(Scripted::new(requests));
        Session::spawn(transport.clone(), Arc::new(Parking::default()), 4, 8192)
            .unwrap()
            .join()
            .unwrap();
        // (Notifications, numbered 0, are not answers.)
        let mut answered: Vec<u64> = transport
            .sent()
            .iter()
            .map(|r| u64::from_ne_bytes(r[8..16].try_into().unwrap()))
            .filter(|&unique| unique != 0)
            .collect();
        answered.sort_unstable();
        let mut expected: Vec<u64> = std::iter::once(2)
            .chain((0..200).map(|i| 4 + 2 * i))
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
        fn send(&self, parts: &[IoSlice<'_>]) -> io::Result<()> {
            self.0.send(parts)
        }
        fn channels(self: Arc<Self>, _: usize) -> io::Result<Vec<Arc<dyn Transport>>> {
            Err(io::Error::from_raw_os_error(libc::EACCES))
        }
    }

    #[test]
    fn without_channels_one_thread_serves_everything() {
        let requests = vec![init(), request(abi::op::STATFS, 4, &[])];
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
            vec![init(), request(abi::op::READ, 4, &[]), interrupt(5, 4)],
        );
        assert_eq!(sent, vec![(2, 0), (4, -libc::EINTR)]);
    }

    #[test]
    fn an_interrupt_during_handling_applies_once_the_request_parks() {
        let sent = play(
            Parking::default(),
            vec![
                init(),
                request(abi::op::READ, 4, &[]),
                interrupt(5, 4),
                request(PARK_LATER, 6, &[]),
            ],
        );
        assert_eq!(sent, vec![(2, 0), (6, 0), (4, -libc::EINTR)]);
    }

    #[test]
    fn an_interrupt_for_an_unknown_request_is_answered_eagain() {
        let sent = play(
            Parking::default(),
            vec![init(), request(abi::op::STATFS, 4, &[]), interrupt(5, 4)],
        );
        // The statfs was answered at once; its interrupt finds nothing.
        assert_eq!(sent, vec![(2, 0), (4, 0), (5, -libc::EAGAIN)]);
    }

    #[test]
    fn a_request_left_unanswered_gets_eio() {
        let sent = play(
            Parking::default(),
            vec![init(), request(abi::op::GETATTR, 4, &[])],
        );
        assert_eq!(sent, vec![(2, 0), (4, -libc::EIO)]);
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
