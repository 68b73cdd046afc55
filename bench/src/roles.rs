//! The processes of a workload, each this binary re-run with a hidden
//! subcommand, so that writers and readers are separate processes as they
//! are for users. A role prints `ready` once set up, then acts on commands
//! read from stdin and answers each with `result JSON`.

pub use crate::util::{now_ns, say};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::FileExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::systems::{Reader, System, Target, Writer};

pub const SUBCOMMAND: &str = "__role";

/// Time a latency writer lets pass once the reader sleeps, so that the
/// reader's request has reached the server and is parked there.
const SETTLE: Duration = Duration::from_micros(50);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "kebab-case")]
pub enum Role {
    /// Receives `writers × per_writer` messages; with `verify`, checks each
    /// arrived exactly once and in each writer's order.
    Reader {
        target: Target,
        writers: u32,
        per_writer: u64,
        verify: bool,
        /// Where it counts the messages it has read, for a writer held
        /// within a lead of it.
        #[serde(default)]
        progress: Option<String>,
    },
    Writer {
        target: Target,
        writer_id: u32,
        count: u64,
        #[serde(default)]
        lead: Option<Lead>,
    },
    /// Blocks on an empty queue `rounds` times; each message carries the
    /// time it was sent.
    LatencyReader {
        target: Target,
        rounds: u32,
        fifo: String,
    },
    /// Sends one message per round, once the reader is asleep in its read.
    LatencyWriter {
        target: Target,
        rounds: u32,
        fifo: String,
        reader_pid: i32,
    },
    /// The floor's answer to a wake-up: a write then a read, timed.
    RoundTrip { target: Target, rounds: u32 },
    /// Holds `n` slots (queues, sockets) and runs the create, list, read and
    /// close phases on command.
    SlotsServer {
        system: System,
        dir: String,
        prefix: String,
        n: usize,
    },
    /// Opens each of `n` slots, writes one message, closes it.
    SlotsWriter {
        system: System,
        dir: String,
        prefix: String,
        n: usize,
    },
    /// `count` threads, each the server of a slot of its own
    /// (`{dir}/{prefix}{i}`) and blocked reading it; answers once the
    /// daemon counts every one of them as waiting, and exits (ending them
    /// all) when told.
    Waiters {
        dir: String,
        prefix: String,
        count: usize,
    },
    /// A thread blocked reading an empty `blocker`, hit by SIGUSR1 (handled,
    /// no SA_RESTART) from another thread `rounds` times: the time from the
    /// signal to its read returning EINTR.
    Interrupt {
        blocker: Blocker,
        path: String,
        rounds: u32,
    },
    /// A neighbour flooding the mount (run as another user): `slots` slots
    /// of its own under `dir`, written with `size`-byte messages as fast as
    /// the daemon takes them (a slot refused as full or over the user's
    /// allowance is drained and written again), while a second thread opens
    /// `hold` client handles of its first slot and closes them all, over
    /// and over: releases, which the kernel sends in the background. Runs
    /// from `go` until `stop`.
    Flood {
        dir: String,
        prefix: String,
        slots: usize,
        size: usize,
        hold: usize,
    },
    /// The receive workload's server: reads `count` numbered `size`-byte
    /// messages from a slot it creates, or a plain UDP socket, as fast as
    /// it can (see `receive::serve`).
    RecvServer {
        source: crate::receive::Source,
        count: u64,
        size: usize,
    },
    /// The receive workload's sender: `count` mailslot writes to
    /// `\MAILSLOT\{mailslot}` at `to`, paced at `rate` a second.
    RecvSender {
        from: String,
        to: String,
        mailslot: String,
        size: usize,
        rate: u64,
        count: u64,
    },
}

/// What a reader waits on in the interrupt workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Blocker {
    /// read() on a slot's server handle.
    Mailslotfs,
    /// read() on a FIFO opened for reading and writing, so it never sees
    /// end of file.
    Fifo,
    /// mq_receive() on a POSIX queue.
    Mqueue,
}

impl Blocker {
    pub const ALL: [Blocker; 3] = [Blocker::Mailslotfs, Blocker::Fifo, Blocker::Mqueue];

    pub fn name(self) -> &'static str {
        match self {
            Blocker::Mailslotfs => "mailslotfs",
            Blocker::Fifo => "fifo",
            Blocker::Mqueue => "mqueue",
        }
    }
}

impl Role {
    pub fn describe(&self) -> String {
        match self {
            Role::Reader { target, .. } => format!("{} reader", target.system.name()),
            Role::Writer {
                target, writer_id, ..
            } => format!("{} writer {writer_id}", target.system.name()),
            Role::LatencyReader { target, .. } => {
                format!("{} latency reader", target.system.name())
            }
            Role::LatencyWriter { target, .. } => {
                format!("{} latency writer", target.system.name())
            }
            Role::RoundTrip { target, .. } => format!("{} round trip", target.system.name()),
            Role::SlotsServer { system, .. } => format!("{} slots server", system.name()),
            Role::SlotsWriter { system, .. } => format!("{} slots writer", system.name()),
            Role::Waiters { prefix, .. } => format!("waiting readers {prefix}"),
            Role::Interrupt { blocker, .. } => format!("{} interrupted reader", blocker.name()),
            Role::Flood { prefix, .. } => format!("flooding neighbour {prefix}"),
            Role::RecvServer { source, .. } => format!("receiving server ({source:?})"),
            Role::RecvSender { to, rate, .. } => format!("sender to {to} at {rate}/s"),
        }
    }
}

/// What one reader or writer did, on the shared monotonic clock.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timing {
    pub start_ns: u64,
    pub end_ns: u64,
    pub messages: u64,
    /// Times a full slot made the writer wait and retry.
    pub full_waits: u64,
    pub duplicates: u64,
    pub missing: u64,
    pub malformed: u64,
    pub out_of_order: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LatencySummary {
    pub rounds: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub mean_ns: u64,
    pub min_ns: u64,
    pub max_ns: u64,
}

impl LatencySummary {
    pub fn of(mut samples: Vec<u64>) -> Self {
        samples.sort_unstable();
        let n = samples.len();
        if n == 0 {
            return Self::default();
        }
        let rank = |p: f64| samples[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        Self {
            rounds: n as u64,
            p50_ns: rank(0.50),
            p99_ns: rank(0.99),
            mean_ns: samples.iter().sum::<u64>() / n as u64,
            min_ns: samples[0],
            max_ns: samples[n - 1],
        }
    }
}

/// What a group of waiting readers reports once all of them wait.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Parked {
    pub readers: u64,
    /// From the first slot created to the daemon counting the last reader.
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Phase {
    pub seconds: f64,
    /// Entries listed, for the list phase.
    pub entries: u64,
}

pub fn main(args: &[OsString]) -> ExitCode {
    let role = match args
        .first()
        .map(|a| serde_json::from_str::<Role>(&a.to_string_lossy()))
    {
        Some(Ok(role)) => role,
        Some(Err(e)) => {
            println!("error bad role: {e}");
            return ExitCode::FAILURE;
        }
        None => {
            println!("error no role given");
            return ExitCode::FAILURE;
        }
    };
    match run(role) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("error {e}");
            ExitCode::FAILURE
        }
    }
}

struct Control {
    lines: std::io::Lines<std::io::StdinLock<'static>>,
}

impl Control {
    fn new() -> Self {
        Self {
            lines: std::io::stdin().lock().lines(),
        }
    }

    fn next(&mut self) -> Result<Option<String>> {
        Ok(self.lines.next().transpose()?)
    }

    fn expect(&mut self, command: &str) -> Result<()> {
        match self.next()? {
            Some(c) if c == command => Ok(()),
            other => Err(format!("expected {command:?}, got {other:?}").into()),
        }
    }
}

fn answer<T: Serialize>(value: &T) -> Result<()> {
    say(&format!("result {}", serde_json::to_string(value)?));
    Ok(())
}

/// Every message begins with who sent it and its number.
const HEADER: usize = 12;

/// A writer held at most `ahead` messages in front of its reader, whose
/// count of messages read is the 8-byte file `path` both map.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lead {
    pub path: String,
    pub ahead: u64,
}

/// A count two processes share through a mapped file.
struct SharedCount {
    ptr: std::ptr::NonNull<std::sync::atomic::AtomicU64>,
}

impl SharedCount {
    fn open(path: &str) -> Result<Self> {
        use std::os::fd::AsRawFd;
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        if file.metadata()?.len() < 8 {
            return Err(format!("{path}: not a shared count").into());
        }
        // SAFETY: a fresh shared mapping of the file's first 8 bytes.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mapping {path}: {}", std::io::Error::last_os_error()).into());
        }
        let ptr = std::ptr::NonNull::new(p.cast()).ok_or("mmap returned null")?;
        Ok(Self { ptr })
    }

    fn get(&self) -> &std::sync::atomic::AtomicU64 {
        // SAFETY: mapped, page-aligned and alive as long as `self`; every
        // access to it is atomic.
        unsafe { self.ptr.as_ref() }
    }
}

impl Drop for SharedCount {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), 8) };
    }
}

fn stamp(msg: &mut [u8], writer: u32, seq: u64) {
    msg[..4].copy_from_slice(&writer.to_le_bytes());
    msg[4..12].copy_from_slice(&seq.to_le_bytes());
}

fn run(role: Role) -> Result<()> {
    let mut control = Control::new();
    match role {
        Role::Reader {
            target,
            writers,
            per_writer,
            verify,
            progress,
        } => {
            let mut reader = Reader::create(&target)?;
            let progress = progress.as_deref().map(SharedCount::open).transpose()?;
            say("ready");
            control.expect("go")?;
            let timing = receive(
                &mut reader,
                &target,
                writers,
                per_writer,
                verify,
                progress.as_ref(),
            )?;
            answer(&timing)?;
            // The slot (queue, socket) goes away only once told, so that a
            // measurement of the drained daemon still sees it open.
            let _ = control.next();
            drop(reader);
        }
        Role::Writer {
            target,
            writer_id,
            count,
            lead,
        } => {
            if target.size < HEADER {
                return Err(
                    format!("messages of {} bytes are too small to number", target.size).into(),
                );
            }
            let mut writer = Writer::open(&target)?;
            let lead = match lead {
                Some(l) => Some((SharedCount::open(&l.path)?, l.ahead)),
                None => None,
            };
            let mut msg = vec![0x5a; target.size];
            say("ready");
            control.expect("go")?;
            let mut t = Timing {
                start_ns: now_ns(),
                ..Timing::default()
            };
            for seq in 0..count {
                if let Some((read, ahead)) = &lead {
                    while seq.saturating_sub(read.get().load(std::sync::atomic::Ordering::Acquire))
                        >= *ahead
                    {
                        std::thread::yield_now();
                    }
                }
                stamp(&mut msg, writer_id, seq);
                t.full_waits += writer.send(&msg)?;
            }
            t.end_ns = now_ns();
            t.messages = count;
            drop(writer);
            answer(&t)?;
        }
        Role::LatencyReader {
            target,
            rounds,
            fifo,
        } => {
            let mut reader = Reader::create(&target)?;
            let mut fifo = OpenOptions::new().read(true).write(true).open(&fifo)?;
            let mut buf = vec![0u8; target.size];
            say("ready");
            control.expect("go")?;
            let mut samples = Vec::with_capacity(rounds as usize);
            for _ in 0..rounds {
                fifo.write_all(&[1])?;
                let n = reader.recv(&mut buf)?;
                let t1 = now_ns();
                if n < 8 {
                    return Err(format!("a {n}-byte message cannot carry its send time").into());
                }
                let t0 = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
                samples.push(t1.saturating_sub(t0));
            }
            answer(&LatencySummary::of(samples))?;
            let _ = control.next();
        }
        Role::LatencyWriter {
            target,
            rounds,
            fifo,
            reader_pid,
        } => {
            let mut writer = Writer::open(&target)?;
            let mut fifo = OpenOptions::new().read(true).write(true).open(&fifo)?;
            let stat = File::open(format!("/proc/{reader_pid}/stat"))?;
            let mut msg = vec![0x5a; target.size];
            say("ready");
            control.expect("go")?;
            let start = now_ns();
            for _ in 0..rounds {
                let mut token = [0u8; 1];
                fifo.read_exact(&mut token)?;
                wait_until_asleep(&stat)?;
                std::thread::sleep(SETTLE);
                msg[..8].copy_from_slice(&now_ns().to_le_bytes());
                writer.send(&msg)?;
            }
            answer(&Timing {
                start_ns: start,
                end_ns: now_ns(),
                messages: u64::from(rounds),
                ..Timing::default()
            })?;
        }
        Role::RoundTrip { target, rounds } => {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&target.path)?;
            let msg = vec![0x5a; target.size];
            let mut buf = vec![0u8; target.size];
            say("ready");
            control.expect("go")?;
            let mut samples = Vec::with_capacity(rounds as usize);
            for _ in 0..rounds {
                // The same idle pause the other systems see before a wake-up.
                std::thread::sleep(SETTLE);
                let t0 = now_ns();
                file.write_all(&msg)?;
                let n = file.read(&mut buf)?;
                samples.push(now_ns() - t0);
                if n != target.size {
                    return Err(format!("floor read returned {n} bytes").into());
                }
            }
            answer(&LatencySummary::of(samples))?;
        }
        Role::SlotsServer {
            system,
            dir,
            prefix,
            n,
        } => slots_server(&mut control, system, &dir, &prefix, n)?,
        Role::SlotsWriter {
            system,
            dir,
            prefix,
            n,
        } => {
            say("ready");
            control.expect("go")?;
            let msg = vec![0x5a; SLOT_MESSAGE];
            let started = Instant::now();
            for i in 0..n {
                let mut w = Writer::open(&slot_target(system, &dir, &prefix, i))?;
                w.send(&msg)?;
            }
            answer(&Phase {
                seconds: started.elapsed().as_secs_f64(),
                entries: 0,
            })?;
        }
        Role::Waiters { dir, prefix, count } => waiters(&mut control, &dir, &prefix, count)?,
        Role::Interrupt {
            blocker,
            path,
            rounds,
        } => interrupted(&mut control, blocker, &path, rounds)?,
        Role::Flood {
            dir,
            prefix,
            slots,
            size,
            hold,
        } => flood(&mut control, &dir, &prefix, slots, size, hold)?,
        Role::RecvServer {
            source,
            count,
            size,
        } => crate::receive::serve(|| control.next(), source, count, size)?,
        Role::RecvSender {
            from,
            to,
            mailslot,
            size,
            rate,
            count,
        } => crate::receive::send(|| control.next(), &from, &to, &mailslot, size, rate, count)?,
    }
    Ok(())
}

/// What a flooding neighbour did while it ran.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FloodStats {
    pub seconds: f64,
    /// Messages the daemon accepted.
    pub writes: u64,
    /// Writes refused: a full slot (ENOSPC) or the user's allowance spent
    /// (EDQUOT).
    pub refused: u64,
    /// Messages the flood read back from its own slots to make room.
    pub drained: u64,
    /// Client handles opened and closed.
    pub releases: u64,
}

fn flood(
    control: &mut Control,
    dir: &str,
    prefix: &str,
    slots: usize,
    size: usize,
    hold: usize,
) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let paths: Vec<String> = (0..slots.max(1))
        .map(|i| format!("{dir}/{prefix}{i}"))
        .collect();
    // Server handles, non-blocking so that draining stops at an empty slot.
    let mut servers = Vec::new();
    let mut clients = Vec::new();
    for p in &paths {
        servers.push(
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_CREAT | libc::O_EXCL | libc::O_NONBLOCK)
                .mode(0o600)
                .open(p)
                .map_err(|e| format!("creating {p}: {e}"))?,
        );
        clients.push(OpenOptions::new().write(true).open(p)?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let releases = Arc::new(AtomicU64::new(0));
    say("ready");
    control.expect("go")?;
    let started = Instant::now();
    let releaser = {
        let (stop, releases, path) = (stop.clone(), releases.clone(), paths[0].clone());
        std::thread::spawn(move || -> std::result::Result<(), String> {
            let mut held = Vec::with_capacity(hold);
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..hold {
                    held.push(
                        OpenOptions::new()
                            .write(true)
                            .open(&path)
                            .map_err(|e| format!("opening {path}: {e}"))?,
                    );
                }
                releases.fetch_add(held.len() as u64, Ordering::Relaxed);
                held.clear();
            }
            Ok(())
        })
    };
    let writer = {
        let stop = stop.clone();
        // Hands the handles back, so that the slots outlive the releaser's
        // last round.
        type Ended = (FloodStats, Vec<File>, Vec<File>);
        std::thread::spawn(move || -> std::result::Result<Ended, String> {
            let msg = vec![0x42u8; size];
            let mut buf = vec![0u8; size];
            let mut st = FloodStats::default();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let k = i % clients.len();
                i += 1;
                match clients[k].write(&msg) {
                    Ok(_) => st.writes += 1,
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) => {
                        st.refused += 1;
                        loop {
                            match servers[k].read(&mut buf) {
                                Ok(n) if n > 0 => st.drained += 1,
                                Ok(_) => break,
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                                Err(e) => return Err(format!("draining: {e}")),
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("flood write: {e}")),
                }
            }
            Ok((st, servers, clients))
        })
    };
    control.expect("stop")?;
    stop.store(true, Ordering::Relaxed);
    let wrote = writer.join().map_err(|_| "the flood writer panicked")?;
    let released = releaser
        .join()
        .map_err(|_| "the releasing thread panicked")?;
    // A writer that failed closed the slots, which fails the releaser:
    // its error says why.
    let (mut st, servers, clients) = wrote?;
    released?;
    drop((servers, clients));
    st.releases = releases.load(Ordering::Relaxed);
    st.seconds = started.elapsed().as_secs_f64();
    answer(&st)?;
    Ok(())
}

/// A slot's `user.mailslot.waiting_readers`, or `None` if it cannot be read.
pub fn waiting_readers(path: &str) -> Option<u64> {
    let c = std::ffi::CString::new(path).ok()?;
    let name = c"user.mailslot.waiting_readers";
    let mut buf = [0u8; 32];
    // SAFETY: valid C strings and a buffer of the length given.
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    std::str::from_utf8(&buf[..n as usize])
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Stack of each waiting reader thread: it only calls read(), so the
/// default 2 MiB would be address space spent on nothing.
const WAITER_STACK: usize = 64 * 1024;

fn waiters(control: &mut Control, dir: &str, prefix: &str, count: usize) -> Result<()> {
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel::<std::result::Result<(), String>>();
    let paths: Vec<String> = (0..count).map(|i| format!("{dir}/{prefix}{i}")).collect();
    for path in &paths {
        let tx = tx.clone();
        let target = Target {
            system: System::Mailslotfs,
            path: path.clone(),
            size: 64,
            depth: 0,
        };
        std::thread::Builder::new()
            .stack_size(WAITER_STACK)
            .spawn(move || {
                let mut reader = match Reader::create(&target) {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.send(Err(format!("creating {}: {e}", target.path)));
                        return;
                    }
                };
                let _ = tx.send(Ok(()));
                let mut buf = [0u8; 64];
                // Nothing is ever sent: this read lasts until the process
                // ends, or reports what ended it early.
                let r = reader.recv(&mut buf);
                let _ = tx.send(Err(format!(
                    "a waiting read on {} returned {r:?}",
                    target.path
                )));
            })?;
    }
    drop(tx);
    for _ in 0..count {
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err("a reader thread ended before creating its slot".into()),
        }
    }
    let mut pending: Vec<&String> = paths.iter().collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !pending.is_empty() {
        pending.retain(|p| waiting_readers(p) != Some(1));
        if let Ok(Err(e)) = rx.try_recv() {
            return Err(e.into());
        }
        if Instant::now() > deadline {
            return Err(format!("{} readers never counted as waiting", pending.len()).into());
        }
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    say("ready");
    answer(&Parked {
        readers: count as u64,
        seconds: started.elapsed().as_secs_f64(),
    })?;
    let _ = control.next();
    if let Ok(Err(e)) = rx.try_recv() {
        return Err(e.into());
    }
    // Exiting ends every blocked reader the way a process's end does for
    // users: each thread killed in its read, each server handle closed.
    let _ = std::io::stdout().flush();
    std::process::exit(0);
}

extern "C" fn on_signal(_: libc::c_int) {}

/// The thread's state letter from /proc/self/task/TID/stat.
fn task_state(stat: &File) -> Result<u8> {
    let mut buf = [0u8; 512];
    let n = stat.read_at(&mut buf, 0)?;
    let text = &buf[..n];
    text.iter()
        .rposition(|&b| b == b')')
        .and_then(|i| text.get(i + 2))
        .copied()
        .ok_or_else(|| "unreadable stat".into())
}

/// One blocking receive that returns the errno it failed with, without
/// retrying on EINTR.
fn blocking_receive(blocker: Blocker, fd: i32, mqd: libc::mqd_t, buf: &mut [u8]) -> i32 {
    // SAFETY: buf is valid for its length; fd and mqd are open.
    let n = unsafe {
        match blocker {
            Blocker::Mqueue => libc::mq_receive(
                mqd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                std::ptr::null_mut(),
            ),
            _ => libc::read(fd, buf.as_mut_ptr().cast(), buf.len()),
        }
    };
    if n < 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    } else {
        0
    }
}

fn interrupted(control: &mut Control, blocker: Blocker, path: &str, rounds: u32) -> Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    use std::os::fd::AsRawFd;
    use std::os::unix::thread::JoinHandleExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, mpsc};

    // No SA_RESTART: the read must come back with EINTR, as it does for a
    // program that handles signals itself.
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    unsafe { sigaction(Signal::SIGUSR1, &action) }?;

    let size = 64;
    let target = Target {
        system: match blocker {
            Blocker::Mqueue => System::Mqueue,
            _ => System::Mailslotfs,
        },
        path: path.to_owned(),
        size,
        depth: 1,
    };
    let (reader, fifo) = match blocker {
        Blocker::Fifo => (
            None,
            Some(OpenOptions::new().read(true).write(true).open(path)?),
        ),
        _ => (Some(Reader::create(&target)?), None),
    };
    let (fd, mqd) = match (&reader, &fifo) {
        (Some(Reader::File(f)), _) | (_, Some(f)) => (f.as_raw_fd(), -1),
        (Some(Reader::Mq { mqd, .. }), _) => (-1, *mqd),
        _ => return Err("no receiving end".into()),
    };

    let (arm_tx, arm_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<std::result::Result<u64, String>>();
    let reading = Arc::new(AtomicBool::new(false));
    let flag = reading.clone();
    let (tid_tx, tid_rx) = mpsc::channel::<i32>();
    let thread = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        let _ = tid_tx.send(unsafe { libc::gettid() });
        let mut buf = vec![0u8; size];
        while arm_rx.recv().is_ok() {
            flag.store(true, Ordering::SeqCst);
            let errno = blocking_receive(blocker, fd, mqd, &mut buf);
            let t1 = now_ns();
            flag.store(false, Ordering::SeqCst);
            let r = if errno == libc::EINTR {
                Ok(t1)
            } else {
                Err(format!(
                    "the blocked receive ended with errno {errno}, not EINTR"
                ))
            };
            if done_tx.send(r).is_err() {
                break;
            }
        }
    });
    let tid = tid_rx.recv()?;
    let stat = File::open(format!("/proc/self/task/{tid}/stat"))?;
    let pthread = thread.as_pthread_t();
    say("ready");
    control.expect("go")?;
    let mut samples = Vec::with_capacity(rounds as usize);
    for _ in 0..rounds {
        arm_tx.send(())?;
        let deadline = Instant::now() + Duration::from_secs(10);
        // Asleep after being armed means asleep in the receive; for a slot,
        // the daemon must also count the read as waiting, so that the
        // signal meets a read the daemon holds, not one still on its way.
        loop {
            let asleep = reading.load(Ordering::SeqCst)
                && matches!(task_state(&stat)?, b'S' | b'D')
                && (blocker != Blocker::Mailslotfs || waiting_readers(path) == Some(1));
            if asleep {
                break;
            }
            if Instant::now() > deadline {
                return Err("the reader never went to sleep in its receive".into());
            }
            std::thread::yield_now();
        }
        std::thread::sleep(SETTLE);
        let t0 = now_ns();
        // SAFETY: the thread is alive (it waits in its receive).
        let rc = unsafe { libc::pthread_kill(pthread, libc::SIGUSR1) };
        if rc != 0 {
            return Err(format!("pthread_kill: errno {rc}").into());
        }
        match done_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(t1)) => samples.push(t1.saturating_sub(t0)),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err("the signalled receive did not return within 10 s".into()),
        }
    }
    drop(arm_tx);
    let _ = thread.join();
    answer(&LatencySummary::of(samples))?;
    drop(reader);
    drop(fifo);
    Ok(())
}

fn receive(
    reader: &mut Reader,
    target: &Target,
    writers: u32,
    per_writer: u64,
    verify: bool,
    progress: Option<&SharedCount>,
) -> Result<Timing> {
    let total = u64::from(writers) * per_writer;
    let mut buf = vec![0u8; target.size];
    let words = per_writer.div_ceil(64) as usize;
    let mut seen: Vec<Vec<u64>> = if verify {
        vec![vec![0; words]; writers as usize]
    } else {
        Vec::new()
    };
    let mut next = vec![0u64; if verify { writers as usize } else { 0 }];
    let mut t = Timing {
        start_ns: now_ns(),
        ..Timing::default()
    };
    for done in 1..=total {
        let n = reader.recv(&mut buf)?;
        if let Some(p) = progress {
            p.get().store(done, std::sync::atomic::Ordering::Release);
        }
        if !verify {
            continue;
        }
        if n != target.size {
            t.malformed += 1;
            continue;
        }
        let w = u32::from_le_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
        let seq = u64::from_le_bytes(buf[4..12].try_into().expect("8 bytes"));
        if w >= writers as usize || seq >= per_writer {
            t.malformed += 1;
            continue;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if seen[w][word] & bit != 0 {
            t.duplicates += 1;
            continue;
        }
        seen[w][word] |= bit;
        if seq != next[w] {
            t.out_of_order += 1;
        }
        next[w] = seq + 1;
    }
    t.end_ns = now_ns();
    t.messages = total;
    if verify {
        let arrived: u64 = seen
            .iter()
            .flatten()
            .map(|w| u64::from(w.count_ones()))
            .sum();
        t.missing = total - arrived;
    }
    Ok(t)
}

/// Waits until the reader process sleeps (state S, or D for a FUSE request
/// waiting killably), that is, sits in its read.
fn wait_until_asleep(stat: &File) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 512];
    loop {
        let n = stat.read_at(&mut buf, 0)?;
        let text = &buf[..n];
        let state = text
            .iter()
            .rposition(|&b| b == b')')
            .and_then(|i| text.get(i + 2))
            .copied();
        if matches!(state, Some(b'S' | b'D')) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the reader never went to sleep in its read".into());
        }
        std::thread::yield_now();
    }
}

/// Size of the one message each of many slots gets.
pub const SLOT_MESSAGE: usize = 64;

pub fn slot_target(system: System, dir: &str, prefix: &str, i: usize) -> Target {
    let path = match system {
        System::Floor => format!("{dir}/{}", crate::floor::FILE_NAME),
        System::Mqueue => format!("/{prefix}{i}"),
        System::Mailslotfs | System::Unix => format!("{dir}/{prefix}{i}"),
    };
    Target {
        system,
        path,
        size: SLOT_MESSAGE,
        depth: 1,
    }
}

fn slots_server(
    control: &mut Control,
    system: System,
    dir: &str,
    prefix: &str,
    n: usize,
) -> Result<()> {
    let mut slots: Vec<Reader> = Vec::with_capacity(n);
    let mut buf = vec![0u8; SLOT_MESSAGE];
    say("ready");
    while let Some(command) = control.next()? {
        let started = Instant::now();
        let mut entries = 0;
        match command.as_str() {
            "create" => {
                for i in 0..n {
                    slots.push(Reader::create(&slot_target(system, dir, prefix, i))?);
                }
            }
            "list" => {
                // A queue's directory is the mqueue filesystem, shared with
                // everyone's queues, and a mailslotfs root holds the
                // mount's own `net` directory: count ours only.
                for e in std::fs::read_dir(dir)? {
                    let e = e?;
                    if system == System::Floor
                        || e.file_name().to_string_lossy().starts_with(prefix)
                    {
                        entries += 1;
                    }
                }
            }
            "read" => {
                for s in &mut slots {
                    let got = s.recv(&mut buf)?;
                    if got != SLOT_MESSAGE {
                        return Err(format!("read {got} bytes, expected {SLOT_MESSAGE}").into());
                    }
                }
            }
            "close" => slots.clear(),
            other => return Err(format!("unknown command {other:?}").into()),
        }
        answer(&Phase {
            seconds: started.elapsed().as_secs_f64(),
            entries,
        })?;
    }
    Ok(())
}
