//! mailslot-bench: how fast mailslotfs moves messages, next to a FUSE floor
//! (the least any FUSE filesystem can cost: the best of several do-nothing
//! filesystems), POSIX message queues and AF_UNIX datagram sockets; what
//! readers waiting on empty slots cost the daemon; how fast a signal ends a
//! waiting read. One run mounts what it needs, measures every workload on
//! every system (alternating them so drift hits all alike), prints a table
//! and writes results.json and throughput.svg.
//!
//! See docs/performance.md for what is measured and the latest results.

mod floor;
mod harness;
mod receive;
mod report;
mod roles;
mod systems;
mod util;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use floor::FloorKind;
use harness::{Mounted, Worker};
use report::{Flow, MemorySample, Raw, SlotPhases, WaitingSample};
use roles::{Blocker, LatencySummary, Parked, Phase, Role, Timing};
use systems::{System, Target};

/// The benchmark's errors: each becomes one line on standard error.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

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
    /// Where results.json and throughput.svg go.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// FUSE threads for mailslotfs (its --threads) and the multi-threaded
    /// floors [default: mailslotfs's own default; the floors: one per CPU].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: Option<u16>,
    /// The mailslotfs binary [default: the one next to this binary].
    #[arg(long)]
    daemon: Option<PathBuf>,
    /// Run only these workloads (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Workload>,
    /// How mailslotfs's writers open their slot: write-only (a stream) or
    /// read-write, as Windows clients under Wine do (a seekable handle).
    #[arg(long, value_enum, default_value_t = ClientOpen::Wronly)]
    client_open: ClientOpen,
}

/// Passed to the writer processes through the environment, which they
/// inherit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ClientOpen {
    Wronly,
    Rdwr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    Pairs,
    FanIn,
    /// mailslotfs at 1, 2 and 4 threads: pairs at 64 B and fan-in.
    Threads,
    Latency,
    /// Signal to a waiting reader until its read returns EINTR.
    Interrupt,
    /// Many readers waiting on empty slots: the daemon's idle cost.
    Waiting,
    Slots,
    Memory,
    /// One user's pairs and wake-ups while another floods the mount.
    Neighbours,
    /// Mailslot datagrams from another network namespace into a slot, at
    /// increasing rates, next to a plain UDP reader and a local read.
    Receive,
}

struct Plan {
    mode: &'static str,
    runs: usize,
    pair_sizes: Vec<(usize, u64)>,
    fan_in_writers: u32,
    fan_in_per_writer: u64,
    /// Fan-in rounds per run, the systems taking turns in each: one round
    /// is a few seconds, and on a small machine its rate swings by a third
    /// from one round to the next for every system alike.
    fan_in_rounds: usize,
    latency_rounds: u32,
    slot_counts: Vec<usize>,
    memory_messages: u64,
    interrupt_rounds: u32,
    waiting_readers: usize,
    waiting_per_process: usize,
    waiting_idle: Duration,
    /// Rounds of the neighbours workload per run, each measuring the
    /// victim once quiet and once under the flood, in turns.
    neighbours_rounds: usize,
    /// The receive workload: rounds per run (the three systems taking
    /// turns in each), the first rate and the highest of the doubling
    /// ladder, datagrams per step (`receive_step_s` seconds' worth, at
    /// least `receive_min_count`), halvings of the gap between the last
    /// loss-free rate and the first lossy one, and messages of the local
    /// read floor.
    receive_rounds: usize,
    receive_first_rate: u64,
    receive_max_rate: u64,
    receive_step_s: f64,
    receive_min_count: u64,
    receive_refine: u32,
    receive_local_count: u64,
    /// Longest any one step may take before it counts as hung.
    timeout: Duration,
    workloads: Vec<Workload>,
}

const LATENCY_SIZE: usize = 64;
const FAN_IN_SIZE: usize = 64;
const MEMORY_SIZE: usize = 64;
/// Pairs of this size or more run a second time with the writer held at
/// most [`NEAR_AHEAD`] messages in front of its reader (2 MiB at 60 KiB,
/// within this machine's caches), so that the table tells the cost of a
/// message from the cost of a backlog.
const NEAR_FROM: usize = 4096;
const NEAR_AHEAD: u64 = 32;
/// The neighbours workload: the victim's message size, its user and the
/// flooding user's, the flood's message size and how many client handles
/// it opens before closing them all.
const NEIGHBOURS_SIZE: usize = 64;
const VICTIM_UID: u32 = 4343;
const FLOOD_UID: u32 = 4242;
const FLOOD_SIZE: usize = 4096;
const FLOOD_HOLD: usize = 1000;

impl Plan {
    fn new(o: &Options) -> Self {
        let workloads = if o.only.is_empty() {
            vec![
                Workload::Pairs,
                Workload::FanIn,
                Workload::Threads,
                Workload::Latency,
                Workload::Interrupt,
                Workload::Waiting,
                Workload::Slots,
                Workload::Memory,
                Workload::Neighbours,
                Workload::Receive,
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
                fan_in_rounds: 2,
                latency_rounds: 30,
                slot_counts: vec![100],
                memory_messages: 2_000,
                interrupt_rounds: 20,
                waiting_readers: 200,
                waiting_per_process: 100,
                waiting_idle: Duration::from_secs(1),
                neighbours_rounds: 1,
                receive_rounds: 1,
                receive_first_rate: 5_000,
                receive_max_rate: 10_000,
                receive_step_s: 0.0,
                receive_min_count: 200,
                receive_refine: 0,
                receive_local_count: 300,
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
                fan_in_rounds: 2,
                latency_rounds: 2_000,
                slot_counts: vec![1_000, 10_000],
                memory_messages: 200_000,
                interrupt_rounds: 500,
                waiting_readers: 10_000,
                waiting_per_process: 1_000,
                waiting_idle: Duration::from_secs(10),
                neighbours_rounds: 2,
                receive_rounds: 2,
                receive_first_rate: 5_000,
                receive_max_rate: 640_000,
                receive_step_s: 1.0,
                receive_min_count: 5_000,
                receive_refine: 2,
                receive_local_count: 50_000,
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
                fan_in_rounds: 3,
                latency_rounds: 10_000,
                slot_counts: vec![1_000, 10_000, 100_000],
                memory_messages: 1_000_000,
                interrupt_rounds: 2_000,
                waiting_readers: 10_000,
                waiting_per_process: 1_000,
                waiting_idle: Duration::from_secs(10),
                neighbours_rounds: 3,
                receive_rounds: 3,
                receive_first_rate: 5_000,
                receive_max_rate: 640_000,
                receive_step_s: 2.0,
                receive_min_count: 10_000,
                receive_refine: 3,
                receive_local_count: 100_000,
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
    if opts.client_open == ClientOpen::Rdwr {
        // SAFETY: no other thread runs yet.
        unsafe { std::env::set_var(systems::CLIENT_OPEN_ENV, "rdwr") };
    }
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

/// mailslotfs `--threads` values of the threads workload.
const THREAD_COUNTS: [u16; 3] = [1, 2, 4];

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
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let floor_threads = opts
        .threads
        .unwrap_or_else(|| u16::try_from(cpus.clamp(1, 64)).unwrap_or(1));
    let floor_kinds = FloorKind::all(floor_threads);

    let pid = std::process::id();
    let work = std::env::temp_dir().join(format!("mailslot-bench.{pid}"));
    let mq_prefix = format!("mailslot-bench.{pid}.");
    let dirs = Dirs {
        mailslot: work.join("mailslotfs"),
        floors: floor_kinds
            .iter()
            .map(|&k| (k, work.join(format!("floor-{}", k.name()))))
            .collect(),
        threads: THREAD_COUNTS
            .iter()
            .map(|&n| (n, work.join(format!("mailslotfs-threads-{n}"))))
            .collect(),
        memory: work.join("memory"),
        waiting: work.join("waiting"),
        neighbours: work.join("neighbours"),
        receive: work.join("receive"),
        mqueue: work.join("mqueue"),
        unix: work.join("unix"),
        fifo: work.join("fifo"),
    };
    std::fs::create_dir_all(&work)?;
    harness::track_work_dir(&work, &mq_prefix, &dirs.mqueue);
    harness::clean_up_on_signals()?;
    for d in [
        &dirs.mailslot,
        &dirs.memory,
        &dirs.waiting,
        &dirs.neighbours,
        &dirs.receive,
        &dirs.mqueue,
        &dirs.unix,
        &dirs.fifo,
    ]
    .into_iter()
    .chain(dirs.floors.values())
    .chain(dirs.threads.values())
    {
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
    let mut waiting_per_process = plan.waiting_per_process;
    if plan.runs_workload(Workload::Waiting) && (waiting_per_process as u64) + 256 > nofile {
        waiting_per_process = nofile.saturating_sub(256).max(1) as usize;
        notes.push(format!(
            "waiting readers: {waiting_per_process} per process, as the open-file limit (RLIMIT_NOFILE) is {nofile}"
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

    // mailslotfs as users run it: its own default thread count, unless the
    // benchmark was told one.
    let threads_args: Vec<String> = opts
        .threads
        .map(|n| vec!["--threads".to_owned(), n.to_string()])
        .unwrap_or_default();
    let mut mounted = Vec::new();
    let mut servers = BTreeMap::new();
    let started_all = (|| -> Result<()> {
        let m = Mounted::mailslotfs(
            &daemon,
            &dirs.mailslot,
            &threads_args,
            &work.join("mailslotfs.log"),
        )?;
        servers.insert(Subject::Mailslotfs, m.pid());
        mounted.push(m);
        for (&kind, dir) in &dirs.floors {
            let m = Mounted::floor(dir, kind)?;
            servers.insert(Subject::Floor(kind), m.pid());
            mounted.push(m);
        }
        if plan.runs_workload(Workload::Threads) {
            for (&n, dir) in &dirs.threads {
                let m = Mounted::mailslotfs(
                    &daemon,
                    dir,
                    &["--threads".to_owned(), n.to_string()],
                    &work.join(format!("mailslotfs-threads-{n}.log")),
                )?;
                servers.insert(Subject::Threads(n), m.pid());
                mounted.push(m);
            }
        }
        Ok(())
    })();

    let mut bench = Bench {
        servers,
        floors: floor_kinds.clone(),
        mq_budget,
        notes,
        plan: &plan,
        dirs: &dirs,
        daemon: &daemon,
        threads: opts.threads,
        waiting_per_process,
        mq_prefix,
        seq: 0,
        as_uid: None,
        raw: Raw::default(),
    };
    let started = std::time::Instant::now();
    let load_start = report::loadavg();
    let measured = started_all.and_then(|()| bench.measure_all(&slot_counts, &work));
    let stopped: Vec<Result<()>> = mounted.into_iter().map(Mounted::stop).collect();
    measured?;
    for s in stopped {
        s?;
    }
    let _ = nix::mount::umount2(&dirs.mqueue, nix::mount::MntFlags::MNT_DETACH);
    harness::untrack_mount(&dirs.mqueue);
    eprintln!("measured in {:.0} s", started.elapsed().as_secs_f64());

    let floor_list = floor_kinds
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ");
    let settings = report::Settings {
        mode: plan.mode.to_owned(),
        runs: plan.runs,
        fuse_threads: match opts.threads {
            None => format!("mailslotfs its default; floors {floor_list}"),
            Some(n) => format!("mailslotfs {n}; floors {floor_list}"),
        },
        mailslotfs_threads: opts.threads,
        floors: floor_kinds,
        thread_counts: THREAD_COUNTS.to_vec(),
        pair_sizes: plan.pair_sizes.clone(),
        fan_in_writers: plan.fan_in_writers,
        fan_in_messages_per_writer: plan.fan_in_per_writer,
        fan_in_rounds: plan.fan_in_rounds,
        near_ahead: NEAR_AHEAD,
        client_open: match opts.client_open {
            ClientOpen::Wronly => "wronly".into(),
            ClientOpen::Rdwr => "rdwr".into(),
        },
        latency_rounds: plan.latency_rounds,
        latency_message_size: LATENCY_SIZE,
        slot_counts,
        memory_messages: plan.memory_messages,
        queue_bytes: systems::QUEUE_BYTES,
        waiting_readers: plan.waiting_readers,
        waiting_readers_per_process: waiting_per_process,
        waiting_idle_s: plan.waiting_idle.as_secs_f64(),
        interrupt_rounds: plan.interrupt_rounds,
        neighbours_rounds: plan.neighbours_rounds,
        receive_rounds: plan.receive_rounds,
        neighbours: report::NeighboursSettings {
            victim_uid: VICTIM_UID,
            flood_uid: FLOOD_UID,
            message_size: NEIGHBOURS_SIZE,
            flood_message_size: FLOOD_SIZE,
            flood_handles: FLOOD_HOLD,
        },
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
        "wrote {}/results.json and throughput.svg",
        opts.out.display()
    );
    let lost = r.throughput.iter().any(|t| t.verified == Some(false))
        || r.threads.iter().any(|t| t.verified == Some(false))
        || r.neighbours.as_ref().is_some_and(|n| !n.verified)
        || r.receive
            .as_ref()
            .is_some_and(|n| !n.accounted || n.local_reads.iter().any(|l| !l.verified))
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
    floors: BTreeMap<FloorKind, PathBuf>,
    /// Mounts of the threads workload, by `--threads`.
    threads: BTreeMap<u16, PathBuf>,
    memory: PathBuf,
    waiting: PathBuf,
    /// The neighbours workload's mount (`--allow-other`).
    neighbours: PathBuf,
    /// The receive workload's mount, its daemon on the segment.
    receive: PathBuf,
    mqueue: PathBuf,
    unix: PathBuf,
    fifo: PathBuf,
}

/// What one step measures: a system, one of the floors, or mailslotfs at a
/// given thread count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Subject {
    /// mailslotfs with its default settings (or the `--threads` given).
    Mailslotfs,
    Floor(FloorKind),
    Mqueue,
    Unix,
    /// mailslotfs started with `--threads N`, for the threads workload.
    Threads(u16),
    /// The neighbours workload's mailslotfs (`--allow-other`).
    Neighbours,
}

impl Subject {
    fn system(self) -> System {
        match self {
            Subject::Mailslotfs | Subject::Threads(_) | Subject::Neighbours => System::Mailslotfs,
            Subject::Floor(_) => System::Floor,
            Subject::Mqueue => System::Mqueue,
            Subject::Unix => System::Unix,
        }
    }

    fn name(self) -> String {
        match self {
            Subject::Floor(k) => format!("floor {}", k.name()),
            Subject::Threads(n) => format!("mailslotfs --threads {n}"),
            Subject::Neighbours => "mailslotfs (neighbours)".to_owned(),
            s => s.system().name().to_owned(),
        }
    }
}

struct Bench<'a> {
    /// Pids of the processes serving the FUSE subjects.
    servers: BTreeMap<Subject, i32>,
    floors: Vec<FloorKind>,
    mq_budget: u64,
    /// What could not be measured here, and why.
    notes: Vec<String>,
    plan: &'a Plan,
    dirs: &'a Dirs,
    daemon: &'a Path,
    threads: Option<u16>,
    waiting_per_process: usize,
    mq_prefix: String,
    seq: u64,
    /// The user the readers and writers of a step run as (`None`: this
    /// process's).
    as_uid: Option<u32>,
    raw: Raw,
}

/// `items` rotated by `k`, so that no subject always goes first or last.
fn rotated<T: Copy>(items: &[T], k: usize) -> Vec<T> {
    let mut v = items.to_vec();
    if !v.is_empty() {
        let n = v.len();
        v.rotate_left(k % n);
    }
    v
}

fn count_fds(pid: i32) -> Result<u64> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64)
}

impl Bench<'_> {
    /// Every system of the main workloads, every floor among them.
    fn subjects(&self) -> Vec<Subject> {
        let mut v = vec![Subject::Mailslotfs];
        v.extend(self.floors.iter().map(|&k| Subject::Floor(k)));
        v.extend([Subject::Mqueue, Subject::Unix]);
        v
    }

    fn record(&mut self, size: Option<usize>, subject: Subject, flow: Flow) {
        let raw = &mut self.raw;
        match (size, subject) {
            (Some(size), Subject::Floor(k)) => raw
                .floor_pairs
                .entry(size)
                .or_default()
                .entry(k)
                .or_default()
                .push(flow),
            (Some(size), s) => raw
                .pairs
                .entry(size)
                .or_default()
                .entry(s.system())
                .or_default()
                .push(flow),
            (None, Subject::Floor(k)) => raw.floor_fan_in.entry(k).or_default().push(flow),
            (None, s) => raw.fan_in.entry(s.system()).or_default().push(flow),
        }
    }

    fn record_near(&mut self, size: usize, subject: Subject, flow: Flow) {
        let raw = &mut self.raw;
        match subject {
            Subject::Floor(k) => raw
                .floor_near_pairs
                .entry(size)
                .or_default()
                .entry(k)
                .or_default()
                .push(flow),
            s => raw
                .near_pairs
                .entry(size)
                .or_default()
                .entry(s.system())
                .or_default()
                .push(flow),
        }
    }

    fn measure_all(&mut self, slot_counts: &[usize], work: &Path) -> Result<()> {
        let plan = self.plan;
        let subjects = self.subjects();
        for run in 0..plan.runs {
            let tag = format!("run {}/{}", run + 1, plan.runs);
            let mut step = 0;
            if plan.runs_workload(Workload::Pairs) {
                for &(size, count) in &plan.pair_sizes {
                    for subject in rotated(&subjects, run + step) {
                        let target = self.target(subject, size);
                        let flow = self.flow(subject, target, 1, count, None)?;
                        eprintln!(
                            "{tag}: pairs {:>7} {:<26} {:>10} msg/s",
                            report::size_label(size),
                            subject.name(),
                            report::grouped(flow.rate())
                        );
                        self.record(Some(size), subject, flow);
                    }
                    step += 1;
                }
                // The large sizes again, the writer held near its reader:
                // what a backlog costs, apart from what a message costs.
                for &(size, count) in plan.pair_sizes.iter().filter(|(s, _)| *s >= NEAR_FROM) {
                    for subject in rotated(&subjects, run + step) {
                        let target = self.target(subject, size);
                        let flow = self.flow(subject, target, 1, count, Some(NEAR_AHEAD))?;
                        eprintln!(
                            "{tag}: pairs {:>7} {:<26} {:>10} msg/s (writer ≤ {NEAR_AHEAD} ahead)",
                            report::size_label(size),
                            subject.name(),
                            report::grouped(flow.rate())
                        );
                        self.record_near(size, subject, flow);
                    }
                    step += 1;
                }
            }
            if plan.runs_workload(Workload::FanIn) {
                let what = format!("{tag}: fan-in {}→1", plan.fan_in_writers);
                for (subject, flow) in self.fan_in(&what, &subjects, run + step)? {
                    self.record(None, subject, flow);
                }
                step += 1;
            }
            if plan.runs_workload(Workload::Threads) {
                self.threads_step(&tag, run + step)?;
                step += 2;
            }
            if plan.runs_workload(Workload::Latency) {
                for subject in rotated(&subjects, run + step) {
                    let l = self.latency(subject)?;
                    eprintln!(
                        "{tag}: wake-up {:<26} p50 {:>7.1} µs  p99 {:>7.1} µs",
                        subject.name(),
                        l.p50_ns as f64 / 1e3,
                        l.p99_ns as f64 / 1e3
                    );
                    match subject {
                        Subject::Floor(k) => self.raw.floor_latency.entry(k).or_default().push(l),
                        s => self.raw.latency.entry(s.system()).or_default().push(l),
                    }
                }
                step += 1;
            }
            if plan.runs_workload(Workload::Interrupt) {
                for blocker in rotated(&Blocker::ALL, run + step) {
                    let l = self.interrupt(blocker)?;
                    eprintln!(
                        "{tag}: interrupt {:<11} p50 {:>7.1} µs  p99 {:>7.1} µs",
                        blocker.name(),
                        l.p50_ns as f64 / 1e3,
                        l.p99_ns as f64 / 1e3
                    );
                    self.raw.interrupt.entry(blocker).or_default().push(l);
                }
                step += 1;
            }
            if plan.runs_workload(Workload::Waiting) {
                let w = self.waiting(work)?;
                eprintln!(
                    "{tag}: waiting {} readers: daemon CPU {:.3}% of a core, fds {} → {}, RSS {} → {} KiB",
                    w.readers,
                    w.cpu_percent(),
                    w.fds_before,
                    w.fds_waiting,
                    w.rss_before / 1024,
                    w.rss_waiting / 1024
                );
                self.raw.waiting.push(w);
            }
            if plan.runs_workload(Workload::Slots) {
                for &n in slot_counts {
                    for subject in rotated(&subjects, run + step) {
                        let system = subject.system();
                        let need = n as u64
                            * (roles::SLOT_MESSAGE + systems::MQ_CHARGE_PER_MESSAGE) as u64;
                        if system == System::Mqueue && need > self.mq_budget {
                            if run == 0 {
                                self.notes.push(format!(
                                    "mqueue: {} queues need about {need} bytes of RLIMIT_MSGQUEUE, {} allowed; not measured",
                                    report::grouped(n as f64),
                                    self.mq_budget
                                ));
                            }
                            continue;
                        }
                        let p = self.slots(subject, n)?;
                        eprintln!(
                            "{tag}: {n} slots {:<26} create {:.3} s, write {:.3} s, list {:.3} s, read {:.3} s, close {:.3} s",
                            subject.name(),
                            p.create_s,
                            p.write_s,
                            p.list_s,
                            p.read_s,
                            p.close_s
                        );
                        match subject {
                            Subject::Floor(k) => self
                                .raw
                                .floor_slots
                                .entry(n)
                                .or_default()
                                .entry(k)
                                .or_default()
                                .push(p),
                            s => self
                                .raw
                                .slots
                                .entry(n)
                                .or_default()
                                .entry(s.system())
                                .or_default()
                                .push(p),
                        }
                    }
                    step += 1;
                }
            }
            if plan.runs_workload(Workload::Neighbours) {
                self.neighbours(&tag, work, run)?;
            }
            if plan.runs_workload(Workload::Receive) {
                self.receive(&tag, work, run)?;
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

    /// mailslotfs at each of [`THREAD_COUNTS`], alternating with the floors
    /// so that each ratio comes from one stretch of time: pairs at 64 B,
    /// then fan-in.
    fn threads_step(&mut self, tag: &str, k: usize) -> Result<()> {
        let plan = self.plan;
        let pairs_count = plan
            .pair_sizes
            .iter()
            .find(|p| p.0 == 64)
            .map_or(plan.fan_in_per_writer, |p| p.1);
        let mut subjects: Vec<Subject> =
            THREAD_COUNTS.iter().map(|&n| Subject::Threads(n)).collect();
        subjects.extend(self.floors.iter().map(|&f| Subject::Floor(f)));
        let mut flows = Vec::new();
        for subject in rotated(&subjects, k) {
            let target = self.target(subject, 64);
            let flow = self.flow(subject, target, 1, pairs_count, None)?;
            eprintln!(
                "{tag}: threads {:<6} {:<26} {:>10} msg/s",
                report::THREADS_PAIRS,
                subject.name(),
                report::grouped(flow.rate())
            );
            flows.push((report::THREADS_PAIRS, subject, flow));
        }
        let what = format!("{tag}: threads {:<6}", report::THREADS_FAN_IN);
        for (subject, flow) in self.fan_in(&what, &subjects, k + 1)? {
            flows.push((report::THREADS_FAN_IN, subject, flow));
        }
        for (name, subject, flow) in flows {
            match subject {
                Subject::Threads(n) => self
                    .raw
                    .threads
                    .entry(name)
                    .or_default()
                    .entry(n)
                    .or_default()
                    .push(flow),
                Subject::Floor(f) => self
                    .raw
                    .threads_floors
                    .entry(name)
                    .or_default()
                    .entry(f)
                    .or_default()
                    .push(flow),
                _ => {}
            }
        }
        Ok(())
    }

    /// Fan-in `plan.fan_in_rounds` times, the subjects taking turns in each
    /// round (the order rotated from `k` on); one flow per subject, its
    /// rounds added up.
    fn fan_in(
        &mut self,
        what: &str,
        subjects: &[Subject],
        k: usize,
    ) -> Result<Vec<(Subject, Flow)>> {
        let plan = self.plan;
        let mut sums: BTreeMap<Subject, Flow> = BTreeMap::new();
        for round in 0..plan.fan_in_rounds {
            for subject in rotated(subjects, k + round) {
                let target = self.target(subject, FAN_IN_SIZE);
                let flow = self.flow(
                    subject,
                    target,
                    plan.fan_in_writers,
                    plan.fan_in_per_writer,
                    None,
                )?;
                eprintln!(
                    "{what} {:<26} {:>10} msg/s (round {}/{})",
                    subject.name(),
                    report::grouped(flow.rate()),
                    round + 1,
                    plan.fan_in_rounds
                );
                let sum = match sums.remove(&subject) {
                    Some(sum) => sum.and(flow),
                    None => flow,
                };
                sums.insert(subject, sum);
            }
        }
        Ok(subjects
            .iter()
            .filter_map(|s| sums.remove(s).map(|f| (*s, f)))
            .collect())
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn target(&mut self, subject: Subject, size: usize) -> Target {
        let n = self.next();
        let path = match subject {
            Subject::Mailslotfs => self
                .dirs
                .mailslot
                .join(format!("p{n}"))
                .display()
                .to_string(),
            Subject::Threads(t) => self.dirs.threads[&t]
                .join(format!("p{n}"))
                .display()
                .to_string(),
            Subject::Neighbours => self
                .dirs
                .neighbours
                .join(format!("p{n}"))
                .display()
                .to_string(),
            Subject::Floor(k) => self.dirs.floors[&k]
                .join(floor::FILE_NAME)
                .display()
                .to_string(),
            Subject::Mqueue => format!("/{}p{n}", self.mq_prefix),
            Subject::Unix => self.dirs.unix.join(format!("p{n}")).display().to_string(),
        };
        let system = subject.system();
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
    /// process. Timed from the first send to the last receive. With
    /// `ahead`, each writer waits while it is that many messages in front
    /// of what the reader has read.
    fn flow(
        &mut self,
        subject: Subject,
        target: Target,
        writers: u32,
        per_writer: u64,
        ahead: Option<u64>,
    ) -> Result<Flow> {
        let timeout = self.plan.timeout;
        let verify = target.system != System::Floor;
        let uid = self.as_uid;
        let lead = match ahead {
            Some(ahead) => {
                let path = self.dirs.fifo.join(format!("lead{}", self.next()));
                std::fs::write(&path, 0u64.to_le_bytes())?;
                Some(roles::Lead {
                    path: path.display().to_string(),
                    ahead,
                })
            }
            None => None,
        };
        let mut reader = Worker::spawn_as(
            &Role::Reader {
                target: target.clone(),
                writers,
                per_writer,
                verify,
                progress: lead.as_ref().map(|l| l.path.clone()),
            },
            timeout,
            uid,
        )?;
        reader.ready()?;
        let mut ws = Vec::new();
        for writer_id in 0..writers {
            ws.push(Worker::spawn_as(
                &Role::Writer {
                    target: target.clone(),
                    writer_id,
                    count: per_writer,
                    lead: lead.clone(),
                },
                timeout,
                uid,
            )?);
        }
        for w in &ws {
            w.ready()?;
        }
        let server = self.servers.get(&subject).copied();
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

    fn latency(&mut self, subject: Subject) -> Result<LatencySummary> {
        let timeout = self.plan.timeout;
        let rounds = self.plan.latency_rounds;
        let target = self.target(subject, LATENCY_SIZE);
        if target.system == System::Floor {
            let mut w = Worker::spawn(&Role::RoundTrip { target, rounds }, timeout)?;
            w.ready()?;
            w.send("go")?;
            let l = w.result()?;
            w.finish()?;
            return Ok(l);
        }
        let fifo = self.dirs.fifo.join(format!("f{}", self.next()));
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
        let uid = self.as_uid;
        if let Some(uid) = uid {
            std::os::unix::fs::chown(&fifo, Some(uid), Some(uid))?;
        }
        let fifo_s = fifo.display().to_string();
        let mut reader = Worker::spawn_as(
            &Role::LatencyReader {
                target: target.clone(),
                rounds,
                fifo: fifo_s.clone(),
            },
            timeout,
            uid,
        )?;
        reader.ready()?;
        let mut writer = Worker::spawn_as(
            &Role::LatencyWriter {
                target,
                rounds,
                fifo: fifo_s,
                reader_pid: reader.pid(),
            },
            timeout,
            uid,
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

    /// A reader blocked on an empty `blocker`, signalled `rounds` times.
    fn interrupt(&mut self, blocker: Blocker) -> Result<LatencySummary> {
        let n = self.next();
        let path = match blocker {
            Blocker::Mailslotfs => self.dirs.mailslot.join(format!("i{n}")),
            Blocker::Fifo => {
                let p = self.dirs.fifo.join(format!("i{n}"));
                nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
                p
            }
            Blocker::Mqueue => PathBuf::from(format!("/{}i{n}", self.mq_prefix)),
        };
        let mut w = Worker::spawn(
            &Role::Interrupt {
                blocker,
                path: path.display().to_string(),
                rounds: self.plan.interrupt_rounds,
            },
            self.plan.timeout,
        )?;
        w.ready()?;
        w.send("go")?;
        let l: LatencySummary = w.result()?;
        w.finish()?;
        if blocker == Blocker::Fifo {
            std::fs::remove_file(&path)?;
        }
        Ok(l)
    }

    /// Readers parked on empty slots of a fresh mailslotfs daemon (default
    /// settings, or the `--threads` given), a group per process: its
    /// descriptors and memory before and with them, and its CPU while they
    /// all wait and nothing else happens. Fresh, so that memory left free
    /// by earlier workloads does not hide what the readers cost.
    fn waiting(&mut self, work: &Path) -> Result<WaitingSample> {
        let args: Vec<String> = self
            .threads
            .map(|n| vec!["--threads".to_owned(), n.to_string()])
            .unwrap_or_default();
        let daemon = Mounted::mailslotfs(
            self.daemon,
            &self.dirs.waiting,
            &args,
            &work.join("waiting.log"),
        )?;
        let measured = self.waiting_on(daemon.pid());
        let stopped = daemon.stop();
        let sample = measured?;
        stopped?;
        Ok(sample)
    }

    fn waiting_on(&mut self, pid: i32) -> Result<WaitingSample> {
        let plan = self.plan;
        let k = self.next();
        let prefix = format!("w{k}-");
        let settle = |ms| std::thread::sleep(Duration::from_millis(ms));
        settle(300);
        let fds_before = count_fds(pid)?;
        let rss_before = harness::rss_bytes(pid)?;
        let per = self.waiting_per_process.max(1);
        let started = std::time::Instant::now();
        let mut groups = Vec::new();
        let mut left = plan.waiting_readers;
        let mut i = 0;
        while left > 0 {
            let count = left.min(per);
            groups.push(Worker::spawn(
                &Role::Waiters {
                    dir: self.dirs.waiting.display().to_string(),
                    prefix: format!("{prefix}{i}-"),
                    count,
                },
                plan.timeout,
            )?);
            left -= count;
            i += 1;
        }
        let mut readers = 0;
        for g in &groups {
            g.ready()?;
            let p: Parked = g.result()?;
            readers += p.readers;
        }
        let park_s = started.elapsed().as_secs_f64();
        // The last getxattr calls and thread starts die down first.
        settle(1_000);
        let fds_waiting = count_fds(pid)?;
        let rss_waiting = harness::rss_bytes(pid)?;
        let cpu_before = harness::cpu_ns(pid).ok_or("cannot read the daemon's CPU time")?;
        let idle_started = std::time::Instant::now();
        std::thread::sleep(plan.waiting_idle);
        let cpu_after = harness::cpu_ns(pid).ok_or("cannot read the daemon's CPU time")?;
        let idle_s = idle_started.elapsed().as_secs_f64();
        let workers = groups.len() as u32;
        let ending = std::time::Instant::now();
        for g in &mut groups {
            g.send("end")?;
        }
        for g in groups {
            g.finish()?;
        }
        let deadline = ending + plan.timeout;
        loop {
            let left = std::fs::read_dir(&self.dirs.waiting)?
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .count();
            if left == 0 {
                break;
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("{left} slots of ended waiting readers remain").into());
            }
            settle(5);
        }
        let end_s = ending.elapsed().as_secs_f64();
        settle(300);
        Ok(WaitingSample {
            readers,
            workers,
            park_s,
            idle_s,
            daemon_cpu_ns: cpu_after.saturating_sub(cpu_before),
            fds_before,
            fds_waiting,
            rss_before,
            rss_waiting,
            end_s,
            fds_after: count_fds(pid)?,
            rss_after: harness::rss_bytes(pid)?,
        })
    }

    fn slots(&mut self, subject: Subject, n: usize) -> Result<SlotPhases> {
        let timeout = self.plan.timeout;
        let k = self.next();
        let system = subject.system();
        let (dir, prefix) = match subject {
            Subject::Mailslotfs => (self.dirs.mailslot.clone(), format!("s{k}-")),
            Subject::Threads(t) => (self.dirs.threads[&t].clone(), format!("s{k}-")),
            Subject::Neighbours => (self.dirs.neighbours.clone(), format!("s{k}-")),
            Subject::Floor(f) => (self.dirs.floors[&f].clone(), String::new()),
            Subject::Mqueue => (self.dirs.mqueue.clone(), format!("{}s{k}-", self.mq_prefix)),
            Subject::Unix => {
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
        let write: Phase = Worker::run(
            &Role::SlotsWriter {
                system,
                dir: dir_s,
                prefix,
                n,
            },
            timeout,
        )?;
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

    /// One user's pairs and wake-ups on a slot of its own, on a fresh
    /// `--allow-other` daemon, once quiet and once while another user
    /// floods the mount, the two taking turns in each round.
    fn neighbours(&mut self, tag: &str, work: &Path, run: usize) -> Result<()> {
        let mut args = vec!["--allow-other".to_owned()];
        if let Some(n) = self.threads {
            args.extend(["--threads".to_owned(), n.to_string()]);
        }
        // Another user must reach the mount point: every directory above
        // it must let others search it.
        let mut dir = self.dirs.neighbours.parent();
        while let Some(d) = dir {
            let mode = std::fs::metadata(d)?.permissions().mode();
            if mode & 0o001 == 0 {
                return Err(format!(
                    "the neighbours workload runs as uid {VICTIM_UID} and {FLOOD_UID}, who cannot reach {} \
                     ({} is mode {:o}): use a TMPDIR others may search",
                    self.dirs.neighbours.display(),
                    d.display(),
                    mode & 0o7777
                )
                .into());
            }
            dir = d.parent();
        }
        let daemon = Mounted::mailslotfs(
            self.daemon,
            &self.dirs.neighbours,
            &args,
            &work.join("neighbours.log"),
        )?;
        self.servers.insert(Subject::Neighbours, daemon.pid());
        let measured = (|| -> Result<()> {
            for round in 0..self.plan.neighbours_rounds {
                let order = if (run + round).is_multiple_of(2) {
                    [false, true]
                } else {
                    [true, false]
                };
                for flooded in order {
                    let sample = self.neighbours_once(flooded)?;
                    eprintln!(
                        "{tag}: neighbours {:<5} pairs {:>10} msg/s, wake-up p99 {:>8.1} µs (round {}/{})",
                        if flooded { "flood" } else { "quiet" },
                        report::grouped(sample.pairs.rate()),
                        sample.latency.p99_ns as f64 / 1e3,
                        round + 1,
                        self.plan.neighbours_rounds
                    );
                    self.raw.neighbours.push(report::NeighboursSample {
                        run,
                        round,
                        ..sample
                    });
                }
            }
            Ok(())
        })();
        self.as_uid = None;
        self.servers.remove(&Subject::Neighbours);
        let stopped = daemon.stop();
        measured?;
        stopped
    }

    fn neighbours_once(&mut self, flooded: bool) -> Result<report::NeighboursSample> {
        let timeout = self.plan.timeout;
        let mut flood = if flooded {
            let k = self.next();
            let mut w = Worker::spawn_as(
                &Role::Flood {
                    dir: self.dirs.neighbours.display().to_string(),
                    prefix: format!("flood{k}-"),
                    slots: 2,
                    size: FLOOD_SIZE,
                    hold: FLOOD_HOLD,
                },
                timeout,
                Some(FLOOD_UID),
            )?;
            w.ready()?;
            w.send("go")?;
            // Under way before the victim starts: the queues filling and
            // the first handles closing.
            std::thread::sleep(Duration::from_millis(200));
            Some(w)
        } else {
            None
        };
        self.as_uid = Some(VICTIM_UID);
        let count = self
            .plan
            .pair_sizes
            .iter()
            .find(|p| p.0 == NEIGHBOURS_SIZE)
            .map_or(1_000, |p| p.1);
        let measured = (|| -> Result<(Flow, LatencySummary)> {
            let target = self.target(Subject::Neighbours, NEIGHBOURS_SIZE);
            let pairs = self.flow(Subject::Neighbours, target, 1, count, None)?;
            let latency = self.latency(Subject::Neighbours)?;
            Ok((pairs, latency))
        })();
        self.as_uid = None;
        let stats = match flood.as_mut() {
            Some(w) => {
                w.send("stop")?;
                Some(w.result::<roles::FloodStats>()?)
            }
            None => None,
        };
        if let Some(w) = flood {
            w.finish()?;
        }
        let (pairs, latency) = measured?;
        Ok(report::NeighboursSample {
            run: 0,
            round: 0,
            flooded,
            pairs,
            latency,
            flood: stats,
        })
    }

    /// A fresh daemon with room for every message; its RSS before, with the
    /// messages queued, drained, and with the slot closed.
    fn memory(&mut self, work: &Path) -> Result<MemorySample> {
        let timeout = self.plan.timeout;
        let count = self.plan.memory_messages;
        let need = count as usize * (MEMORY_SIZE + 4);
        let quota = (2 * need).max(64 << 20);
        let mut args = vec![
            "--max-queued-bytes".to_owned(),
            quota.to_string(),
            "--max-total-bytes".to_owned(),
            quota.max(1 << 30).to_string(),
        ];
        if let Some(n) = self.threads {
            args.extend(["--threads".to_owned(), n.to_string()]);
        }
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
                    progress: None,
                },
                timeout,
            )?;
            reader.ready()?;
            settle();
            let rss_before = harness::rss_bytes(pid)?;
            let wrote: Timing = Worker::run(
                &Role::Writer {
                    target,
                    writer_id: 0,
                    count,
                    lead: None,
                },
                timeout,
            )?;
            settle();
            let rss_queued = harness::rss_bytes(pid)?;
            reader.send("go")?;
            let got: Timing = reader.result()?;
            // A drained ring keeps its capacity for a grace before giving
            // it back (src/core/queue.rs): the drained figure is after it.
            std::thread::sleep(mailslotfs::core::queue::SHRINK_GRACE);
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

/// The receive workload's three systems, taking turns in each round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receiver {
    Mailslotfs,
    UdpFloor,
    LocalRead,
}

impl Bench<'_> {
    /// A segment of two network namespaces, a mailslotfs daemon on it with
    /// the network side on, and `receive_rounds` rounds of: mailslotfs's
    /// ladder of rates, the plain UDP reader's, and the local read floor,
    /// in turns.
    fn receive(&mut self, tag: &str, work: &Path, run: usize) -> Result<()> {
        let segment = receive::Segment::create()?;
        let mut args: Vec<String> = [
            "--address",
            receive::RX_ADDR,
            "--broadcast",
            receive::BROADCAST,
            "--netbios-name",
            receive::NETBIOS_NAME,
            "--workgroup",
            receive::WORKGROUP,
            // No nmbd in a namespace of our own: the ports are the daemon's.
            "--samba",
            "off",
        ]
        .map(str::to_owned)
        .to_vec();
        if let Some(n) = self.threads {
            args.extend(["--threads".to_owned(), n.to_string()]);
        }
        let daemon = Mounted::mailslotfs_in(
            self.daemon,
            &self.dirs.receive,
            &args,
            &work.join("receive.log"),
            Some(&segment.rx),
        )?;
        let measured = (|| -> Result<()> {
            let mount = self.dirs.receive.display().to_string();
            // Its names' registration (broadcasts looped back) is over
            // before anything is counted.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while xattr_text(&mount, "user.mailslot.net.names")?.contains("registering") {
                if std::time::Instant::now() > deadline {
                    return Err("the receive daemon's names did not settle".into());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let systems = [
                Receiver::Mailslotfs,
                Receiver::UdpFloor,
                Receiver::LocalRead,
            ];
            for round in 0..self.plan.receive_rounds {
                for system in rotated(&systems, run + round) {
                    match system {
                        Receiver::LocalRead => {
                            let l = self.local_read(run, round)?;
                            eprintln!(
                                "{tag}: receive local read {:>10} msg/s (round {}/{})",
                                report::grouped(l.msgs_per_s),
                                round + 1,
                                self.plan.receive_rounds
                            );
                            self.raw.receive_local.push(l);
                        }
                        s => {
                            let l = self.ladder(tag, &segment, daemon.pid(), s, run, round)?;
                            eprintln!(
                                "{tag}: receive {:<10} loss-free up to {} datagrams/s (round {}/{})",
                                l.system,
                                l.max_lossless
                                    .map_or("none".into(), |r| report::grouped(r as f64)),
                                round + 1,
                                self.plan.receive_rounds
                            );
                            self.raw.receive_ladders.push(l);
                        }
                    }
                }
            }
            Ok(())
        })();
        let stopped = daemon.stop();
        drop(segment);
        measured?;
        stopped
    }

    /// Rates doubling from the first until one loses a datagram (or the
    /// sender can go no faster), then the gap between the last loss-free
    /// rate and that one halved `receive_refine` times.
    fn ladder(
        &mut self,
        tag: &str,
        segment: &receive::Segment,
        daemon: i32,
        system: Receiver,
        run: usize,
        round: usize,
    ) -> Result<receive::Ladder> {
        let plan = self.plan;
        let name = match system {
            Receiver::Mailslotfs => receive::MAILSLOTFS,
            _ => receive::UDP_FLOOR,
        };
        let mut good: Option<(u64, f64)> = None;
        let mut bad: Option<u64> = None;
        let mut sender_bound = false;
        let step = |this: &mut Self, rate: u64| -> Result<receive::Step> {
            let s = this.receive_step(segment, daemon, system, rate, run, round)?;
            eprintln!(
                "{tag}: receive {name:<10} {:>8}/s: sent {} at {}/s, read {}, lost {} (socket {}), uncounted {}, CPU {:.2} µs/datagram",
                report::grouped(rate as f64),
                s.sent,
                report::grouped(s.sent_per_s),
                s.read,
                s.lost,
                s.dropped_socket,
                s.unaccounted,
                s.cpu_ns_per_datagram / 1e3
            );
            this.raw.receive_steps.push(s.clone());
            Ok(s)
        };
        let mut rate = plan.receive_first_rate;
        loop {
            let s = step(self, rate)?;
            let kept = s.sent_per_s >= 0.9 * rate as f64;
            if s.lossless() {
                good = Some((
                    if kept { rate } else { s.sent_per_s as u64 },
                    s.cpu_ns_per_datagram,
                ));
            } else {
                bad = Some(rate);
            }
            if !kept {
                sender_bound = true;
                break;
            }
            if bad.is_some() || rate * 2 > plan.receive_max_rate {
                break;
            }
            rate *= 2;
        }
        if let (Some((mut lo, _)), Some(mut hi)) = (good, bad)
            && !sender_bound
        {
            for _ in 0..plan.receive_refine {
                let mid = ((lo as f64 * hi as f64).sqrt() / 100.0).round() as u64 * 100;
                if mid <= lo || mid >= hi {
                    break;
                }
                let s = step(self, mid)?;
                if s.lossless() {
                    lo = mid;
                    good = Some((mid, s.cpu_ns_per_datagram));
                } else {
                    hi = mid;
                    bad = Some(mid);
                }
            }
        }
        Ok(receive::Ladder {
            run,
            round,
            system: name,
            max_lossless: good.map(|g| g.0),
            first_loss: bad,
            sender_bound,
            cpu_ns_per_datagram: good.map(|g| g.1),
        })
    }

    /// One paced step: a fresh server (a public slot of the daemon, or a
    /// plain UDP socket in the receiving namespace), the sender in the
    /// other namespace; then, once everything sent is accounted for at the
    /// receiving socket and read (or nothing moves for a while), what was
    /// read and what each counter says was dropped.
    fn receive_step(
        &mut self,
        segment: &receive::Segment,
        daemon: i32,
        system: Receiver,
        rate: u64,
        run: usize,
        round: usize,
    ) -> Result<receive::Step> {
        let plan = self.plan;
        let timeout = plan.timeout;
        let count = ((rate as f64 * plan.receive_step_s) as u64).max(plan.receive_min_count);
        let k = self.next();
        let slot = format!("r{k}");
        let mount = self.dirs.receive.display().to_string();
        let ms = system == Receiver::Mailslotfs;
        let (source, to, netns) = if ms {
            (
                receive::Source::Slot {
                    path: format!("{mount}/{slot}"),
                },
                format!("{}:138", receive::RX_ADDR),
                None,
            )
        } else {
            let to = format!("{}:{}", receive::RX_ADDR, receive::FLOOR_PORT);
            (
                receive::Source::Udp { bind: to.clone() },
                to,
                Some(segment.rx.as_str()),
            )
        };
        let mut server = Worker::spawn_in(
            &Role::RecvServer {
                source,
                count,
                size: receive::MESSAGE_SIZE,
            },
            timeout,
            None,
            netns,
        )?;
        server.ready()?;
        let receiver = if ms { daemon } else { server.pid() };
        let counters = || -> Result<BTreeMap<String, u64>> {
            if ms {
                receive::net_counters(&mount)
            } else {
                Ok(BTreeMap::new())
            }
        };
        let counters_before = counters()?;
        let udp_before = receive::UdpStats::of(receiver)?;
        let link_before = segment.link_drops()?;
        let cpu_before = harness::cpu_ns(receiver).ok_or("cannot read the receiver's CPU time")?;
        server.send("go")?;
        let mut sender = Worker::spawn_in(
            &Role::RecvSender {
                from: format!("{}:138", receive::TX_ADDR),
                to,
                mailslot: slot.to_uppercase(),
                size: receive::MESSAGE_SIZE,
                rate,
                count,
            },
            timeout,
            None,
            Some(&segment.tx),
        )?;
        sender.ready()?;
        sender.send("go")?;
        let sent: receive::Sent = sender.result()?;
        sender.finish()?;
        // Settled: every datagram sent has reached the socket or been
        // dropped there, the server has read all that was queued for it,
        // and the daemon has counted what it lost (a socket's drops after
        // its last queued datagram are counted once the socket falls idle,
        // up to 125 ms later); or nothing has moved for half a second.
        let mut last = (u64::MAX, u64::MAX, u64::MAX);
        let mut still_since = std::time::Instant::now();
        let deadline = std::time::Instant::now() + timeout;
        let since_before = |now: &BTreeMap<String, u64>, name: &str| {
            now.get(name)
                .copied()
                .unwrap_or(0)
                .saturating_sub(counters_before.get(name).copied().unwrap_or(0))
        };
        loop {
            server.send("count")?;
            let got: receive::Received = server.result()?;
            let udp = receive::UdpStats::of(receiver)?.since(udp_before);
            let at_socket = udp.in_datagrams + udp.rcvbuf_errors >= sent.sent;
            let (queued, counted) = if ms {
                let now = counters()?;
                let dropped: u64 = now
                    .keys()
                    .filter(|n| n.starts_with("dropped_"))
                    .map(|n| since_before(&now, n))
                    .sum();
                (since_before(&now, "delivered"), dropped)
            } else {
                (udp.in_datagrams, udp.rcvbuf_errors)
            };
            let read = got.read + got.duplicates + got.malformed;
            if at_socket && read >= queued && read + counted >= sent.sent {
                break;
            }
            let now = (got.read, udp.in_datagrams + udp.rcvbuf_errors, counted);
            if now != last {
                last = now;
                still_since = std::time::Instant::now();
            } else if still_since.elapsed() > Duration::from_millis(500) {
                break;
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("receive step at {rate}/s did not settle").into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let cpu_after = harness::cpu_ns(receiver).ok_or("cannot read the receiver's CPU time")?;
        let counters_after = counters()?;
        let udp = receive::UdpStats::of(receiver)?.since(udp_before);
        let dropped_link = segment.link_drops()?.saturating_sub(link_before);
        server.send("stop")?;
        let got: receive::Received = server.result()?;
        server.finish()?;
        let delta = |name: &str| since_before(&counters_after, name);
        let (dropped_socket, dropped_other) = if ms {
            let other: BTreeMap<String, u64> = counters_after
                .keys()
                .filter(|n| n.starts_with("dropped_") && *n != "dropped_socket")
                .map(|n| (n.clone(), delta(n)))
                .filter(|(_, v)| *v > 0)
                .collect();
            (delta("dropped_socket"), other)
        } else {
            (udp.rcvbuf_errors, BTreeMap::new())
        };
        let lost = dropped_socket + dropped_other.values().sum::<u64>() + dropped_link;
        let seconds = (sent.end_ns - sent.start_ns) as f64 / 1e9;
        Ok(receive::Step {
            run,
            round,
            system: if ms {
                receive::MAILSLOTFS
            } else {
                receive::UDP_FLOOR
            },
            rate,
            sent_per_s: sent.sent as f64 / seconds.max(1e-9),
            sent: sent.sent,
            datagram_bytes: sent.datagram_bytes,
            read: got.read,
            duplicates: got.duplicates,
            malformed: got.malformed,
            received: ms.then(|| delta("received")),
            delivered: ms.then(|| delta("delivered")),
            dropped_socket,
            dropped_other,
            dropped_link,
            lost,
            unaccounted: sent.sent as i64 - got.read as i64 - lost as i64,
            udp,
            cpu_ns_per_datagram: cpu_after.saturating_sub(cpu_before) as f64
                / sent.sent.max(1) as f64,
        })
    }

    /// The same server reading `receive_local_count` messages a local
    /// writer queued in its slot beforehand.
    fn local_read(&mut self, run: usize, round: usize) -> Result<receive::LocalRead> {
        let timeout = self.plan.timeout;
        let count = self.plan.receive_local_count;
        let path = self
            .dirs
            .receive
            .join(format!("l{}", self.next()))
            .display()
            .to_string();
        let mut server = Worker::spawn(
            &Role::RecvServer {
                source: receive::Source::Slot { path: path.clone() },
                count,
                size: receive::MESSAGE_SIZE,
            },
            timeout,
        )?;
        server.ready()?;
        let _: Timing = Worker::run(
            &Role::Writer {
                target: Target {
                    system: System::Mailslotfs,
                    path,
                    size: receive::MESSAGE_SIZE,
                    depth: 0,
                },
                writer_id: 0,
                count,
                lead: None,
            },
            timeout,
        )?;
        server.send("go")?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            server.send("count")?;
            let got: receive::Received = server.result()?;
            if got.read + got.duplicates + got.malformed >= count {
                break;
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("the local read floor read {} of {count}", got.read).into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        server.send("stop")?;
        let got: receive::Received = server.result()?;
        server.finish()?;
        let seconds = got.last_ns.saturating_sub(got.go_ns) as f64 / 1e9;
        Ok(receive::LocalRead {
            run,
            round,
            messages: got.read,
            seconds,
            msgs_per_s: got.read as f64 / seconds.max(1e-9),
            verified: got.read == count && got.duplicates == 0 && got.malformed == 0,
        })
    }
}

/// An attribute's text, or an error naming it.
fn xattr_text(path: &str, name: &str) -> Result<String> {
    let p = std::ffi::CString::new(path)?;
    let n = std::ffi::CString::new(name)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid C strings and a buffer of the length given.
    let len = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return Err(format!("{name} of {path}: {}", std::io::Error::last_os_error()).into());
    }
    buf.truncate(len as usize);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
