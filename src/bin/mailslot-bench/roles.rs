//! The processes of a workload, each this binary re-run with a hidden
//! subcommand, so that writers and readers are separate processes as they
//! are for users. A role prints `ready` once set up, then acts on commands
//! read from stdin and answers each with `result JSON`.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::FileExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::harness::{Result, now_ns};
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
    },
    Writer {
        target: Target,
        writer_id: u32,
        count: u64,
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

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn answer<T: Serialize>(value: &T) -> Result<()> {
    say(&format!("result {}", serde_json::to_string(value)?));
    Ok(())
}

/// Every message begins with who sent it and its number.
const HEADER: usize = 12;

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
        } => {
            let mut reader = Reader::create(&target)?;
            say("ready");
            control.expect("go")?;
            let timing = receive(&mut reader, &target, writers, per_writer, verify)?;
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
        } => {
            if target.size < HEADER {
                return Err(
                    format!("messages of {} bytes are too small to number", target.size).into(),
                );
            }
            let mut writer = Writer::open(&target)?;
            let mut msg = vec![0x5a; target.size];
            say("ready");
            control.expect("go")?;
            let mut t = Timing {
                start_ns: now_ns(),
                ..Timing::default()
            };
            for seq in 0..count {
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
    }
    Ok(())
}

fn receive(
    reader: &mut Reader,
    target: &Target,
    writers: u32,
    per_writer: u64,
    verify: bool,
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
    for _ in 0..total {
        let n = reader.recv(&mut buf)?;
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
                // everyone's queues: count ours only.
                for e in std::fs::read_dir(dir)? {
                    let e = e?;
                    if system != System::Mqueue
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
