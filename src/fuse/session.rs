//! The FUSE session: the INIT handshake, the threads that take requests
//! from a [`Transport`], replies that may be sent later from any thread,
//! and FUSE_INTERRUPT as the kernel documents it
//! (`Documentation/filesystems/fuse.rst`, "Interrupting filesystem
//! operations").
//!
//! Threads take turns as the one that reads (leader/follower): a thread
//! holds the turn while it reads one request, and passes it on before it
//! handles the request, so handling runs on as many threads as there are.
//! A request the handler calls a barrier (a release) is handled before the
//! turn passes on, so its effects are complete before any request the
//! kernel queued after it is even read: with any number of threads, a slot
//! whose server closed is gone before the next open of its name.
//!
//! Interrupts. Every request that may be answered later is entered in a
//! table by its `unique` before the turn passes on, so an interrupt, which
//! the kernel queues only once the request was read, always finds it. The
//! handler names what stops a waiting request ([`Interrupts::on_interrupt`]);
//! an interrupt that finds it calls that; one that comes while the request
//! is still being handled is remembered and applied as soon as the handler
//! has parked it; one for a request not in the table (already answered, or
//! never seen) is answered EAGAIN, which the kernel ignores for the first
//! and requeues for the second.

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

use dashmap::DashMap;
use parking_lot::Mutex;

use super::abi::{self, InHeader, InitIn, InitOut};
use super::channel::Transport;

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
    transport: Arc<dyn Transport>,
    in_flight: DashMap<u64, InFlight>,
    /// The protocol minor agreed at INIT (0 before).
    minor: AtomicU32,
}

impl Shared {
    fn send(&self, parts: &[IoSlice<'_>]) {
        if let Err(e) = self.transport.send(parts) {
            log::warn!("a reply to the kernel failed: {e}");
        }
    }

    fn reply(&self, unique: u64, error: i32, body: &[&[u8]]) {
        let len = abi::OUT_HEADER_LEN + body.iter().map(|b| b.len()).sum::<usize>();
        let header = abi::out_header(len, error, unique);
        // Replies are on every request's path: no allocation for them.
        let mut parts = [IoSlice::new(&[]); MAX_PARTS + 1];
        parts[0] = IoSlice::new(&header);
        for (part, b) in parts[1..].iter_mut().zip(body) {
            *part = IoSlice::new(b);
        }
        debug_assert!(body.len() <= MAX_PARTS);
        self.send(&parts[..=body.len().min(MAX_PARTS)]);
    }

    fn interrupt(&self, interrupt_unique: u64, target: u64) {
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
                self.reply(interrupt_unique, -libc::EAGAIN, &[]);
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
        self.shared.reply(self.unique, error, body);
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
        let shared = Arc::new(Shared {
            transport,
            in_flight: DashMap::new(),
            minor: AtomicU32::new(0),
        });
        let turn = Arc::new(Mutex::new(()));
        let buffer = buffer.max(abi::MIN_READ_BUFFER);
        let mut handles = Vec::new();
        for i in 0..threads.max(1) {
            let worker = Worker {
                shared: shared.clone(),
                handler: handler.clone(),
                turn: turn.clone(),
            };
            handles.push(
                std::thread::Builder::new()
                    .name(format!("fuse-{i}"))
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
    turn: Arc<Mutex<()>>,
}

impl<H: Handler> Worker<H> {
    fn run(self, buffer: usize) -> io::Result<()> {
        let mut buf = vec![0u8; buffer];
        loop {
            let turn = self.turn.lock();
            let n = match self.shared.transport.receive(&mut buf) {
                Ok(Some(n)) => n,
                Ok(None) => return Ok(()),
                Err(e) => return Err(e),
            };
            let Some(header) = abi::InHeader::parse(&buf[..n]) else {
                log::error!("a request of {n} bytes is shorter than its header; ignored");
                continue;
            };
            let end = (header.len as usize).clamp(abi::IN_HEADER_LEN, n);
            let req = Request {
                header,
                body: &buf[abi::IN_HEADER_LEN..end],
            };
            match header.opcode {
                abi::op::INTERRUPT => {
                    drop(turn);
                    match req.args().u64() {
                        Some(target) => self.shared.interrupt(header.unique, target),
                        None => log::warn!("a malformed FUSE_INTERRUPT was ignored"),
                    }
                    continue;
                }
                abi::op::INIT => {
                    // Nothing else arrives before INIT is answered.
                    self.init(&req);
                    continue;
                }
                // The answer to a retrieve, which mailslotfs never asks for.
                abi::op::NOTIFY_REPLY => continue,
                abi::op::FORGET | abi::op::BATCH_FORGET => {
                    drop(turn);
                    self.handler.dispatch(&req, None);
                    continue;
                }
                _ => {}
            }
            let tracked = self.handler.may_wait(header.opcode);
            if tracked {
                self.shared
                    .in_flight
                    .insert(header.unique, InFlight::Handling);
            }
            let reply = Reply {
                unique: header.unique,
                tracked,
                shared: self.shared.clone(),
                sent: false,
            };
            if self.handler.is_barrier(header.opcode) {
                self.handler.dispatch(&req, Some(reply));
                drop(turn);
            } else {
                drop(turn);
                self.handler.dispatch(&req, Some(reply));
            }
        }
    }

    fn init(&self, req: &Request<'_>) {
        let unique = req.header.unique;
        let Some(offered) = InitIn::parse(&mut req.args()) else {
            log::error!("a malformed FUSE_INIT was refused");
            return self.shared.reply(unique, -libc::EINVAL, &[]);
        };
        if offered.major > abi::MAJOR {
            // The kernel asks again with our major version.
            let mut out = abi::Out::default();
            out.u32(abi::MAJOR).u32(abi::MINOR);
            return self.shared.reply(unique, 0, &[&out.bytes]);
        }
        match self.handler.init(&offered) {
            Ok(answer) => {
                self.shared.minor.store(answer.minor, Ordering::Relaxed);
                self.shared.reply(unique, 0, &[&answer.encode().bytes]);
            }
            Err(errno) => self.shared.reply(unique, -errno, &[]),
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
