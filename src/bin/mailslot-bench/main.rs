//! mailslot-bench: how fast mailslotfs moves messages, next to a FUSE floor
//! (the least any FUSE filesystem can cost), POSIX message queues and
//! AF_UNIX datagram sockets. One run mounts what it needs, measures every
//! workload on every system (alternating them so drift hits all alike),
//! prints a table and writes results.json, throughput.svg and table.txt.
//!
//! See docs/performance.md for what is measured and the latest results.

mod floor;
mod harness;
mod report;
mod roles;
mod systems;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use harness::{Mounted, Result, Worker};
use report::{Flow, MemorySample, Raw, SlotPhases};
use roles::{LatencySummary, Phase, Role, Timing};
use systems::{System, Target};

#[derive(Parser, Debug)]
#[command(
    name = "mailslot-bench",
    about = "Benchmark mailslotfs against a FUSE floor, POSIX mqueue and AF_UNIX datagrams.",
    after_help = "Needs root (or FUSE mount rights) and /dev/fuse. Mounts, processes and the \
                  mqueue/unix settings it raises are all undone when it ends."
)]
struct Options {
    /// Fewer messages, for a fast look (3 runs unless --runs is given).
    #[arg(long)]
    quick: bool,
    /// Tiny counts: the whole run in seconds, for the test suite (1 run).
    #[arg(long, conflicts_with = "quick")]
    smoke: bool,
    /// Runs of every measurement; the report gives medians [default: 5].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    runs: Option<u32>,
    /// Where results.json, throughput.svg and table.txt go.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// FUSE threads for mailslotfs and the floor alike (mailslotfs --threads).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,
    /// The mailslotfs binary [default: the one next to this binary].
    #[arg(long)]
    daemon: Option<PathBuf>,
    /// Run only these workloads (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Workload>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    Pairs,
    FanIn,
    Latency,
    Slots,
    Memory,
}

struct Plan {
    mode: &'static str,
    runs: usize,
    pair_sizes: Vec<(usize, u64)>,
    fan_in_writers: u32,
    fan_in_per_writer: u64,
    latency_rounds: u32,
    slot_counts: Vec<usize>,
    memory_messages: u64,
    /// Longest any one step may take before it counts as hung.
    timeout: Duration,
    workloads: Vec<Workload>,
}

const LATENCY_SIZE: usize = 64;
const FAN_IN_SIZE: usize = 64;
const MEMORY_SIZE: usize = 64;

impl Plan {
    fn new(o: &Options) -> Self {
        let workloads = if o.only.is_empty() {
            vec![
                Workload::Pairs,
                Workload::FanIn,
                Workload::Latency,
                Workload::Slots,
                Workload::Memory,
            ]
        } else {
            o.only.clone()
        };
        let runs = |default: u32| o.runs.unwrap_or(default) as usize;
        if o.smoke {
            Plan {
                mode: "smoke",
                runs: runs(1),
                pair_sizes: vec![(16, 300), (64, 300), (424, 300), (4096, 100), (61440, 30)],
                fan_in_writers: 16,
                fan_in_per_writer: 20,
                latency_rounds: 30,
                slot_counts: vec![100],
                memory_messages: 2_000,
                timeout: Duration::from_secs(60),
                workloads,
            }
        } else if o.quick {
            Plan {
                mode: "quick",
                runs: runs(3),
                pair_sizes: vec![
                    (16, 20_000),
                    (64, 20_000),
                    (424, 20_000),
                    (4096, 10_000),
                    (61440, 2_000),
                ],
                fan_in_writers: 16,
                fan_in_per_writer: 2_000,
                latency_rounds: 2_000,
                slot_counts: vec![1_000, 10_000],
                memory_messages: 200_000,
                timeout: Duration::from_secs(300),
                workloads,
            }
        } else {
            Plan {
                mode: "full",
                runs: runs(5),
                pair_sizes: vec![
                    (16, 100_000),
                    (64, 100_000),
                    (424, 100_000),
                    (4096, 50_000),
                    (61440, 10_000),
                ],
                fan_in_writers: 16,
                fan_in_per_writer: 10_000,
                latency_rounds: 10_000,
                slot_counts: vec![1_000, 10_000, 100_000],
                memory_messages: 1_000_000,
                timeout: Duration::from_secs(600),
                workloads,
            }
        }
    }

    fn runs_workload(&self, w: Workload) -> bool {
        self.workloads.contains(&w)
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    match args.get(1).and_then(|a| a.to_str()) {
        Some(floor::SUBCOMMAND) => return floor::main(&args[2..]),
        Some(roles::SUBCOMMAND) => return roles::main(&args[2..]),
        _ => {}
    }
    let opts = Options::parse();
    let outcome = std::panic::catch_unwind(|| run(&opts));
    harness::clean_up();
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("mailslot-bench: {e}");
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::FAILURE,
    }
}

fn run(opts: &Options) -> Result<()> {
    let plan = Plan::new(opts);
    if !Path::new("/dev/fuse").exists() {
        return Err("no /dev/fuse: load the fuse module (modprobe fuse)".into());
    }
    let daemon = match &opts.daemon {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .ok_or("no directory for this binary")?
            .join("mailslotfs"),
    };
    if !daemon.is_file() {
        return Err(format!(
            "no mailslotfs binary at {} (build it with `cargo build --release`, or pass --daemon)",
            daemon.display()
        )
        .into());
    }

    let pid = std::process::id();
    let work = std::env::temp_dir().join(format!("mailslot-bench.{pid}"));
    let mq_prefix = format!("mailslot-bench.{pid}.");
    let dirs = Dirs {
        mailslot: work.join("mailslotfs"),
        floor: work.join("floor"),
        memory: work.join("memory"),
        mqueue: work.join("mqueue"),
        unix: work.join("unix"),
        fifo: work.join("fifo"),
    };
    std::fs::create_dir_all(&work)?;
    harness::track_work_dir(&work, &mq_prefix, &dirs.mqueue);
    harness::clean_up_on_signals()?;
    for d in [
        &dirs.mailslot,
        &dirs.floor,
        &dirs.memory,
        &dirs.mqueue,
        &dirs.unix,
        &dirs.fifo,
    ] {
        std::fs::create_dir_all(d)?;
    }

    let max_slots = plan.slot_counts.iter().copied().max().unwrap_or(0);
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1 << 20);
    let nofile = harness::raise_rlimit(libc::RLIMIT_NOFILE, nr_open);
    // Without CAP_SYS_RESOURCE this stays at its hard limit (often 800
    // KiB), which then bounds the queues' depth and count.
    let mq_budget = harness::raise_rlimit(libc::RLIMIT_MSGQUEUE, libc::RLIM_INFINITY);
    let largest = plan.pair_sizes.iter().map(|p| p.0).max().unwrap_or(64);
    harness::raise_sysctl(
        "/proc/sys/fs/mqueue/msg_max",
        systems::MQ_HARD_MSGMAX as u64,
    );
    harness::raise_sysctl("/proc/sys/fs/mqueue/msgsize_max", largest as u64);
    harness::raise_sysctl("/proc/sys/fs/mqueue/queues_max", max_slots as u64 + 1024);
    harness::raise_sysctl(
        "/proc/sys/net/unix/max_dgram_qlen",
        systems::MQ_HARD_MSGMAX as u64,
    );
    let mut notes = Vec::new();
    let slot_counts: Vec<usize> = plan
        .slot_counts
        .iter()
        .copied()
        .filter(|&n| {
            let fits = (n as u64) + 256 <= nofile;
            if !fits {
                notes.push(format!(
                    "{} slots not measured: the open-file limit (RLIMIT_NOFILE) is {nofile} and cannot be raised further",
                    report::grouped(n as f64)
                ));
            }
            fits
        })
        .collect();
    if mq_budget != libc::RLIM_INFINITY {
        notes.push(format!(
            "POSIX queues are limited by RLIMIT_MSGQUEUE = {mq_budget} bytes per user (not raisable here): \
             queue depths {}",
            plan.pair_sizes
                .iter()
                .map(|&(size, _)| format!("{}: {}", report::size_label(size), systems::mq_depth_for(size, mq_budget)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    nix::mount::mount(
        Some("mqueue"),
        &dirs.mqueue,
        Some("mqueue"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| {
        format!(
            "mounting an mqueue filesystem on {}: {e}",
            dirs.mqueue.display()
        )
    })?;
    harness::track_mount(&dirs.mqueue);

    let threads = vec!["--threads".to_owned(), opts.threads.to_string()];
    let mailslot = Mounted::mailslotfs(
        &daemon,
        &dirs.mailslot,
        &threads,
        &work.join("mailslotfs.log"),
    )?;
    let floor = Mounted::floor(&dirs.floor, usize::from(opts.threads))?;

    let mut bench = Bench {
        servers: BTreeMap::from([
            (System::Mailslotfs, mailslot.pid()),
            (System::Floor, floor.pid()),
        ]),
        mq_budget,
        notes,
        plan: &plan,
        dirs: &dirs,
        daemon: &daemon,
        threads: opts.threads,
        mq_prefix,
        seq: 0,
        raw: Raw::default(),
    };
    let started = std::time::Instant::now();
    let load_start = report::loadavg();
    let measured = bench.measure_all(&slot_counts, &work);
    let stopped = [mailslot.stop(), floor.stop()];
    measured?;
    for s in stopped {
        s?;
    }
    let _ = nix::mount::umount2(&dirs.mqueue, nix::mount::MntFlags::MNT_DETACH);
    harness::untrack_mount(&dirs.mqueue);
    eprintln!("measured in {:.0} s", started.elapsed().as_secs_f64());

    let settings = report::Settings {
        mode: plan.mode.to_owned(),
        runs: plan.runs,
        fuse_threads: opts.threads,
        pair_sizes: plan.pair_sizes.clone(),
        fan_in_writers: plan.fan_in_writers,
        fan_in_messages_per_writer: plan.fan_in_per_writer,
        latency_rounds: plan.latency_rounds,
        latency_message_size: LATENCY_SIZE,
        slot_counts,
        memory_messages: plan.memory_messages,
        queue_bytes: systems::QUEUE_BYTES,
    };
    let r = report::build(
        &bench.raw,
        report::Machine::probe(load_start),
        settings,
        bench.notes.clone(),
    );
    print!("{}", report::table(&r));
    report::write_files(&r, &opts.out)?;
    eprintln!(
        "wrote {}/results.json, throughput.svg and table.txt",
        opts.out.display()
    );
    let lost = r.throughput.iter().any(|t| t.verified == Some(false))
        || r.memory
            .as_ref()
            .is_some_and(|m| m.runs.iter().any(|s| !s.verified));
    if lost {
        return Err("messages were lost, duplicated or reordered (see the table)".into());
    }
    Ok(())
}

struct Dirs {
    mailslot: PathBuf,
    floor: PathBuf,
    memory: PathBuf,
    mqueue: PathBuf,
    unix: PathBuf,
    fifo: PathBuf,
}

struct Bench<'a> {
    /// Pids of the processes serving the FUSE systems.
    servers: BTreeMap<System, i32>,
    mq_budget: u64,
    /// What could not be measured here, and why.
    notes: Vec<String>,
    plan: &'a Plan,
    dirs: &'a Dirs,
    daemon: &'a Path,
    threads: u16,
    mq_prefix: String,
    seq: u64,
    raw: Raw,
}

/// The systems in the order run `run` visits them at step `step`: rotated,
/// so that no system always goes first or last.
fn order(run: usize, step: usize) -> [System; 4] {
    let mut s = System::ALL;
    s.rotate_left((run + step) % System::ALL.len());
    s
}

impl Bench<'_> {
    fn measure_all(&mut self, slot_counts: &[usize], work: &Path) -> Result<()> {
        let plan = self.plan;
        for run in 0..plan.runs {
            let tag = format!("run {}/{}", run + 1, plan.runs);
            let mut step = 0;
            if plan.runs_workload(Workload::Pairs) {
                for &(size, count) in &plan.pair_sizes {
                    for sys in order(run, step) {
                        let target = self.target(sys, size);
                        let flow = self.flow(target, 1, count)?;
                        eprintln!(
                            "{tag}: pairs {:>7} {:<11} {:>10} msg/s",
                            report::size_label(size),
                            sys.name(),
                            report::grouped(flow.rate())
                        );
                        self.raw
                            .pairs
                            .entry(size)
                            .or_default()
                            .entry(sys)
                            .or_default()
                            .push(flow);
                    }
                    step += 1;
                }
            }
            if plan.runs_workload(Workload::FanIn) {
                for sys in order(run, step) {
                    let target = self.target(sys, FAN_IN_SIZE);
                    let flow = self.flow(target, plan.fan_in_writers, plan.fan_in_per_writer)?;
                    eprintln!(
                        "{tag}: fan-in {}→1 {:<11} {:>10} msg/s",
                        plan.fan_in_writers,
                        sys.name(),
                        report::grouped(flow.rate())
                    );
                    self.raw.fan_in.entry(sys).or_default().push(flow);
                }
                step += 1;
            }
            if plan.runs_workload(Workload::Latency) {
                for sys in order(run, step) {
                    let l = self.latency(sys)?;
                    eprintln!(
                        "{tag}: wake-up {:<11} p50 {:>7.1} µs  p99 {:>7.1} µs",
                        sys.name(),
                        l.p50_ns as f64 / 1e3,
                        l.p99_ns as f64 / 1e3
                    );
                    self.raw.latency.entry(sys).or_default().push(l);
                }
                step += 1;
            }
            if plan.runs_workload(Workload::Slots) {
                for &n in slot_counts {
                    for sys in order(run, step) {
                        let need = n as u64
                            * (roles::SLOT_MESSAGE + systems::MQ_CHARGE_PER_MESSAGE) as u64;
                        if sys == System::Mqueue && need > self.mq_budget {
                            if run == 0 {
                                self.notes.push(format!(
                                    "mqueue: {} queues need about {need} bytes of RLIMIT_MSGQUEUE, {} allowed; not measured",
                                    report::grouped(n as f64),
                                    self.mq_budget
                                ));
                            }
                            continue;
                        }
                        let p = self.slots(sys, n)?;
                        eprintln!(
                            "{tag}: {n} slots {:<11} create {:.3} s, write {:.3} s, list {:.3} s, read {:.3} s, close {:.3} s",
                            sys.name(),
                            p.create_s,
                            p.write_s,
                            p.list_s,
                            p.read_s,
                            p.close_s
                        );
                        self.raw
                            .slots
                            .entry(n)
                            .or_default()
                            .entry(sys)
                            .or_default()
                            .push(p);
                    }
                    step += 1;
                }
            }
            if plan.runs_workload(Workload::Memory) {
                let m = self.memory(work)?;
                eprintln!(
                    "{tag}: memory {:.1} bytes per queued 64-byte message, RSS {} → {} → {} KiB",
                    m.bytes_per_message(),
                    m.rss_before / 1024,
                    m.rss_queued / 1024,
                    m.rss_drained / 1024
                );
                self.raw.memory.push(m);
            }
        }
        Ok(())
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn target(&mut self, system: System, size: usize) -> Target {
        let n = self.next();
        let path = match system {
            System::Mailslotfs => self
                .dirs
                .mailslot
                .join(format!("p{n}"))
                .display()
                .to_string(),
            System::Floor => self.dirs.floor.join(floor::FILE_NAME).display().to_string(),
            System::Mqueue => format!("/{}p{n}", self.mq_prefix),
            System::Unix => self.dirs.unix.join(format!("p{n}")).display().to_string(),
        };
        let depth = match system {
            System::Mqueue => systems::mq_depth_for(size, self.mq_budget),
            _ => systems::depth_for(size),
        };
        Target {
            system,
            path,
            size,
            depth,
        }
    }

    /// `writers` processes each send `per_writer` messages to one reader
    /// process. Timed from the first send to the last receive.
    fn flow(&mut self, target: Target, writers: u32, per_writer: u64) -> Result<Flow> {
        let timeout = self.plan.timeout;
        let verify = target.system != System::Floor;
        let mut reader = Worker::spawn(
            &Role::Reader {
                target: target.clone(),
                writers,
                per_writer,
                verify,
            },
            timeout,
        )?;
        reader.ready()?;
        let mut ws = Vec::new();
        for writer_id in 0..writers {
            ws.push(Worker::spawn(
                &Role::Writer {
                    target: target.clone(),
                    writer_id,
                    count: per_writer,
                },
                timeout,
            )?);
        }
        for w in &ws {
            w.ready()?;
        }
        let server = self.servers.get(&target.system).copied();
        let cpu_before = server.and_then(harness::cpu_ns);
        reader.send("go")?;
        for w in &mut ws {
            w.send("go")?;
        }
        let mut timings: Vec<Timing> = Vec::new();
        for w in &ws {
            timings.push(w.result()?);
        }
        let got: Timing = reader.result()?;
        let cpu_after = server.and_then(harness::cpu_ns);
        reader.send("done")?;
        for w in ws {
            w.finish()?;
        }
        reader.finish()?;
        let start = timings
            .iter()
            .map(|t| t.start_ns)
            .min()
            .unwrap_or(got.start_ns);
        let end = timings
            .iter()
            .map(|t| t.end_ns)
            .max()
            .unwrap_or(0)
            .max(got.end_ns);
        Ok(Flow {
            messages: got.messages,
            size: target.size,
            seconds: (end - start) as f64 / 1e9,
            full_waits: timings.iter().map(|t| t.full_waits).sum(),
            verified: verify.then_some(
                got.duplicates == 0
                    && got.missing == 0
                    && got.malformed == 0
                    && got.out_of_order == 0,
            ),
            server_cpu_ns: cpu_before.zip(cpu_after).map(|(b, a)| a.saturating_sub(b)),
        })
    }

    fn latency(&mut self, system: System) -> Result<LatencySummary> {
        let timeout = self.plan.timeout;
        let rounds = self.plan.latency_rounds;
        let target = self.target(system, LATENCY_SIZE);
        if system == System::Floor {
            let mut w = Worker::spawn(&Role::RoundTrip { target, rounds }, timeout)?;
            w.ready()?;
            w.send("go")?;
            let l = w.result()?;
            w.finish()?;
            return Ok(l);
        }
        let fifo = self.dirs.fifo.join(format!("f{}", self.next()));
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
        let fifo_s = fifo.display().to_string();
        let mut reader = Worker::spawn(
            &Role::LatencyReader {
                target: target.clone(),
                rounds,
                fifo: fifo_s.clone(),
            },
            timeout,
        )?;
        reader.ready()?;
        let mut writer = Worker::spawn(
            &Role::LatencyWriter {
                target,
                rounds,
                fifo: fifo_s,
                reader_pid: reader.pid(),
            },
            timeout,
        )?;
        writer.ready()?;
        reader.send("go")?;
        writer.send("go")?;
        let _: Timing = writer.result()?;
        let l: LatencySummary = reader.result()?;
        reader.send("done")?;
        writer.finish()?;
        reader.finish()?;
        std::fs::remove_file(&fifo)?;
        Ok(l)
    }

    fn slots(&mut self, system: System, n: usize) -> Result<SlotPhases> {
        let timeout = self.plan.timeout;
        let k = self.next();
        let (dir, prefix) = match system {
            System::Mailslotfs => (self.dirs.mailslot.clone(), format!("s{k}-")),
            System::Floor => (self.dirs.floor.clone(), String::new()),
            System::Mqueue => (self.dirs.mqueue.clone(), format!("{}s{k}-", self.mq_prefix)),
            System::Unix => {
                let d = self.dirs.unix.join(format!("s{k}"));
                std::fs::create_dir_all(&d)?;
                (d, "s".to_owned())
            }
        };
        let dir_s = dir.display().to_string();
        let mut server = Worker::spawn(
            &Role::SlotsServer {
                system,
                dir: dir_s.clone(),
                prefix: prefix.clone(),
                n,
            },
            timeout,
        )?;
        server.ready()?;
        let mut phase = |cmd: &str| -> Result<Phase> {
            server.send(cmd)?;
            server.result()
        };
        let create = phase("create")?;
        let mut writer = Worker::spawn(
            &Role::SlotsWriter {
                system,
                dir: dir_s,
                prefix,
                n,
            },
            timeout,
        )?;
        writer.ready()?;
        writer.send("go")?;
        let write: Phase = writer.result()?;
        writer.finish()?;
        let list = phase("list")?;
        let read = phase("read")?;
        let close = phase("close")?;
        server.finish()?;
        if system != System::Floor && list.entries != n as u64 {
            return Err(format!(
                "{}: listed {} entries for {n} slots",
                system.name(),
                list.entries
            )
            .into());
        }
        if system == System::Unix {
            std::fs::remove_dir(&dir)?;
        }
        Ok(SlotPhases {
            create_s: create.seconds,
            write_s: write.seconds,
            list_s: list.seconds,
            read_s: read.seconds,
            close_s: close.seconds,
            listed: list.entries,
        })
    }

    /// A fresh daemon with room for every message; its RSS before, with the
    /// messages queued, drained, and with the slot closed.
    fn memory(&mut self, work: &Path) -> Result<MemorySample> {
        let timeout = self.plan.timeout;
        let count = self.plan.memory_messages;
        let need = count as usize * (MEMORY_SIZE + 4);
        let quota = (2 * need).max(64 << 20);
        let args = vec![
            "--threads".to_owned(),
            self.threads.to_string(),
            "--max-queued-bytes".to_owned(),
            quota.to_string(),
            "--max-total-bytes".to_owned(),
            quota.max(1 << 30).to_string(),
        ];
        let daemon = Mounted::mailslotfs(
            self.daemon,
            &self.dirs.memory,
            &args,
            &work.join("memory.log"),
        )?;
        let measured = (|| -> Result<MemorySample> {
            let pid = daemon.pid();
            let settle = || std::thread::sleep(Duration::from_millis(200));
            let target = Target {
                system: System::Mailslotfs,
                path: self.dirs.memory.join("queued").display().to_string(),
                size: MEMORY_SIZE,
                depth: 0,
            };
            let mut reader = Worker::spawn(
                &Role::Reader {
                    target: target.clone(),
                    writers: 1,
                    per_writer: count,
                    verify: true,
                },
                timeout,
            )?;
            reader.ready()?;
            settle();
            let rss_before = harness::rss_bytes(pid)?;
            let mut writer = Worker::spawn(
                &Role::Writer {
                    target,
                    writer_id: 0,
                    count,
                },
                timeout,
            )?;
            writer.ready()?;
            writer.send("go")?;
            let wrote: Timing = writer.result()?;
            writer.finish()?;
            settle();
            let rss_queued = harness::rss_bytes(pid)?;
            reader.send("go")?;
            let got: Timing = reader.result()?;
            settle();
            let rss_drained = harness::rss_bytes(pid)?;
            reader.send("done")?;
            reader.finish()?;
            settle();
            let rss_closed = harness::rss_bytes(pid)?;
            Ok(MemorySample {
                messages: count,
                rss_before,
                rss_queued,
                rss_drained,
                rss_closed,
                write_s: (wrote.end_ns - wrote.start_ns) as f64 / 1e9,
                drain_s: (got.end_ns - got.start_ns) as f64 / 1e9,
                verified: got.duplicates == 0
                    && got.missing == 0
                    && got.malformed == 0
                    && got.out_of_order == 0
                    && wrote.full_waits == 0,
            })
        })();
        let stopped = daemon.stop();
        let sample = measured?;
        stopped?;
        Ok(sample)
    }
}
