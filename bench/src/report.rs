//! From raw runs to what a reader of the results wants: medians, ratios to
//! the best floor and to mqueue, the targets met or missed; printed as a
//! table, written as JSON and as an SVG plot.

pub use crate::util::{grouped, median};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use comfy_table::{CellAlignment, Table};
use plotters::prelude::*;
use serde::Serialize;

use crate::Result;
use crate::floor::FloorKind;
use crate::roles::{Blocker, FloodStats, LatencySummary};
use crate::systems::System;

/// One run of a throughput workload.
#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    pub messages: u64,
    pub size: usize,
    pub seconds: f64,
    pub full_waits: u64,
    /// Every message arrived once and in its writer's order (`None` for
    /// the floor, which carries no messages).
    pub verified: Option<bool>,
    /// CPU the FUSE server process spent on the run (mailslotfs and floor).
    pub server_cpu_ns: Option<u64>,
}

impl Flow {
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.seconds
    }

    /// Two rounds of one workload as one: their messages over their time,
    /// so a slow round weighs by how long it took, as in one longer run.
    pub fn and(self, other: Flow) -> Flow {
        Flow {
            messages: self.messages + other.messages,
            size: self.size,
            seconds: self.seconds + other.seconds,
            full_waits: self.full_waits + other.full_waits,
            verified: match (self.verified, other.verified) {
                (Some(a), Some(b)) => Some(a && b),
                (a, b) => a.or(b),
            },
            server_cpu_ns: self
                .server_cpu_ns
                .zip(other.server_cpu_ns)
                .map(|(a, b)| a + b),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SlotPhases {
    pub create_s: f64,
    pub write_s: f64,
    pub list_s: f64,
    pub read_s: f64,
    pub close_s: f64,
    pub listed: u64,
}

impl SlotPhases {
    fn total_s(&self) -> f64 {
        self.create_s + self.write_s + self.read_s + self.close_s
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MemorySample {
    pub messages: u64,
    pub rss_before: u64,
    pub rss_queued: u64,
    pub rss_drained: u64,
    pub rss_closed: u64,
    pub write_s: f64,
    pub drain_s: f64,
    pub verified: bool,
}

impl MemorySample {
    pub fn bytes_per_message(&self) -> f64 {
        (self.rss_queued as f64 - self.rss_before as f64) / self.messages as f64
    }
}

/// One run of the waiting workload: the daemon with no reader waiting, with
/// every reader waiting (and idle for `idle_s`), and after they ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WaitingSample {
    pub readers: u64,
    pub workers: u32,
    /// From starting the reader processes until the daemon counted the
    /// last reader as waiting.
    pub park_s: f64,
    pub idle_s: f64,
    pub daemon_cpu_ns: u64,
    pub fds_before: u64,
    pub fds_waiting: u64,
    pub rss_before: u64,
    pub rss_waiting: u64,
    /// From telling the reader processes to end until the last slot was gone.
    pub end_s: f64,
    pub fds_after: u64,
    pub rss_after: u64,
}

impl WaitingSample {
    pub fn cpu_percent(&self) -> f64 {
        self.daemon_cpu_ns as f64 / (self.idle_s * 1e9) * 100.0
    }
}

/// One measurement of the neighbours workload: the victim's pairs and
/// wake-ups, quiet or under the flood.
#[derive(Debug, Clone, Serialize)]
pub struct NeighboursSample {
    pub run: usize,
    pub round: usize,
    pub flooded: bool,
    pub pairs: Flow,
    pub latency: LatencySummary,
    /// What the flooding user did meanwhile.
    pub flood: Option<FloodStats>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NeighboursSettings {
    pub victim_uid: u32,
    pub flood_uid: u32,
    pub message_size: usize,
    pub flood_message_size: usize,
    pub flood_handles: usize,
}

/// The victim under the flood against itself quiet: medians over the
/// rounds, and each round's ratio (quiet and flood measured one after the
/// other), whose lowest and highest are the spread.
#[derive(Debug, Clone, Serialize)]
pub struct NeighboursRow {
    pub rounds: usize,
    pub quiet_msgs_per_s: f64,
    pub flood_msgs_per_s: f64,
    /// flood / quiet, median of the rounds' ratios, and their range.
    pub pairs_ratio: f64,
    pub pairs_ratio_range: (f64, f64),
    pub quiet_p50_us: f64,
    pub flood_p50_us: f64,
    pub quiet_p99_us: f64,
    pub flood_p99_us: f64,
    pub p99_ratio: f64,
    pub p99_ratio_range: (f64, f64),
    /// The flood's accepted writes, refusals and releases per second.
    pub flood_writes_per_s: f64,
    pub flood_refused_per_s: f64,
    pub flood_releases_per_s: f64,
    pub verified: bool,
    pub runs: Vec<NeighboursSample>,
}

/// The two steps of the threads workload.
/// Pairs with the writer held within a few messages of its reader.
pub const NEAR_PAIRS: &str = "pairs-near";
pub const THREADS_PAIRS: &str = "pairs";
pub const THREADS_FAN_IN: &str = "fan-in";

#[derive(Default)]
pub struct Raw {
    /// mailslotfs, mqueue and unix-dgram; the floors are kept apart, by kind,
    /// until the best of them is known.
    pub pairs: BTreeMap<usize, BTreeMap<System, Vec<Flow>>>,
    pub floor_pairs: BTreeMap<usize, BTreeMap<FloorKind, Vec<Flow>>>,
    /// Pairs again, each writer held within a few messages of its reader.
    pub near_pairs: BTreeMap<usize, BTreeMap<System, Vec<Flow>>>,
    pub floor_near_pairs: BTreeMap<usize, BTreeMap<FloorKind, Vec<Flow>>>,
    pub fan_in: BTreeMap<System, Vec<Flow>>,
    pub floor_fan_in: BTreeMap<FloorKind, Vec<Flow>>,
    pub latency: BTreeMap<System, Vec<LatencySummary>>,
    pub floor_latency: BTreeMap<FloorKind, Vec<LatencySummary>>,
    pub slots: BTreeMap<usize, BTreeMap<System, Vec<SlotPhases>>>,
    pub floor_slots: BTreeMap<usize, BTreeMap<FloorKind, Vec<SlotPhases>>>,
    pub memory: Vec<MemorySample>,
    /// mailslotfs by `--threads`, in the steps [`THREADS_PAIRS`] and
    /// [`THREADS_FAN_IN`], with the floors measured in the same steps.
    pub threads: BTreeMap<&'static str, BTreeMap<u16, Vec<Flow>>>,
    pub threads_floors: BTreeMap<&'static str, BTreeMap<FloorKind, Vec<Flow>>>,
    pub waiting: Vec<WaitingSample>,
    pub interrupt: BTreeMap<Blocker, Vec<LatencySummary>>,
    pub neighbours: Vec<NeighboursSample>,
    pub receive_steps: Vec<crate::receive::Step>,
    pub receive_ladders: Vec<crate::receive::Ladder>,
    pub receive_local: Vec<crate::receive::LocalRead>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub kernel: String,
    /// /proc/loadavg when measuring began and ended: other work on the
    /// machine shows up in every number.
    pub load_start: String,
    pub load_end: String,
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Machine {
    pub fn probe(load_start: String) -> Self {
        let kernel = nix::sys::utsname::uname()
            .map(|u| {
                format!(
                    "{} {}",
                    u.sysname().to_string_lossy(),
                    u.release().to_string_lossy()
                )
            })
            .unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel,
            load_start,
            load_end: loadavg(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub mode: String,
    pub runs: usize,
    /// In words: mailslotfs's thread count and the floors'.
    pub fuse_threads: String,
    /// `--threads` given to mailslotfs; `None`: its default.
    pub mailslotfs_threads: Option<u16>,
    /// The floors measured in every throughput, latency and slots step.
    pub floors: Vec<FloorKind>,
    /// How far a writer of the `pairs-near` workload may run ahead.
    pub near_ahead: u64,
    /// mailslotfs `--threads` values of the threads workload.
    pub thread_counts: Vec<u16>,
    pub pair_sizes: Vec<(usize, u64)>,
    pub fan_in_writers: u32,
    pub fan_in_messages_per_writer: u64,
    /// Fan-in rounds in each run, added up into the run's figure.
    pub fan_in_rounds: usize,
    /// How mailslotfs's writers open their slot: `wronly` or `rdwr`.
    pub client_open: String,
    pub latency_rounds: u32,
    pub latency_message_size: usize,
    pub slot_counts: Vec<usize>,
    pub memory_messages: u64,
    pub queue_bytes: usize,
    pub waiting_readers: usize,
    pub waiting_readers_per_process: usize,
    pub waiting_idle_s: f64,
    pub interrupt_rounds: u32,
    pub neighbours_rounds: usize,
    pub receive_rounds: usize,
    pub neighbours: NeighboursSettings,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThroughputRow {
    pub workload: String,
    pub writers: u32,
    pub size: usize,
    pub messages: u64,
    pub system: System,
    pub msgs_per_s: f64,
    pub mb_per_s: f64,
    /// Against the best floor of this workload, named in `floor`.
    pub vs_floor: Option<f64>,
    pub vs_mqueue: Option<f64>,
    /// The best floor of this workload; the `floor` row's figures are its.
    pub floor: Option<FloorKind>,
    pub runs_msgs_per_s: Vec<f64>,
    pub verified: Option<bool>,
    pub full_waits: u64,
    /// Median CPU time of the FUSE server per message: what the daemon
    /// itself costs, less disturbed by scheduling than messages/s.
    pub server_cpu_us_per_msg: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyRow {
    pub system: System,
    pub what: &'static str,
    pub p50_us: f64,
    pub p99_us: f64,
    pub vs_floor_p50: Option<f64>,
    pub vs_mqueue_p50: Option<f64>,
    /// The floor with the lowest round trip; the `floor` row is its.
    pub floor: Option<FloorKind>,
    pub runs: Vec<LatencySummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlotsRow {
    pub slots: usize,
    pub system: System,
    pub create_s: f64,
    pub write_s: f64,
    /// `None` for the floor, whose directory holds its one file only.
    pub list_s: Option<f64>,
    pub read_s: f64,
    pub close_s: f64,
    /// For the floor row: the floor with the least time in all phases.
    pub floor: Option<FloorKind>,
    pub runs: Vec<SlotPhases>,
}

/// One floor in one workload: how it compares with the best floor there.
#[derive(Debug, Clone, Serialize)]
pub struct FloorRow {
    pub workload: String,
    pub floor: FloorKind,
    pub description: String,
    /// Median of the runs, in `unit`.
    pub figure: f64,
    pub unit: &'static str,
    /// This floor's speed as a fraction of the best's (1.00: the best).
    pub vs_best: f64,
    pub best: bool,
    pub server_cpu_us_per_msg: Option<f64>,
    pub runs: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThreadsRow {
    pub workload: String,
    pub writers: u32,
    pub size: usize,
    /// mailslotfs `--threads`.
    pub threads: u16,
    pub msgs_per_s: f64,
    /// Against the best floor measured in the same step, named in `floor`.
    pub vs_floor: Option<f64>,
    pub floor: Option<FloorKind>,
    pub server_cpu_us_per_msg: Option<f64>,
    pub verified: Option<bool>,
    pub runs_msgs_per_s: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaitingRow {
    pub readers: u64,
    pub workers: u32,
    pub idle_s: f64,
    /// Daemon CPU while every reader waited, as % of one CPU.
    pub cpu_percent_of_core: f64,
    pub fds_before: f64,
    pub fds_waiting: f64,
    pub fds_per_reader: f64,
    pub rss_before_kib: f64,
    pub rss_waiting_kib: f64,
    pub rss_bytes_per_reader: f64,
    /// Each run, with how long the readers took to park and to end and
    /// what the daemon held after.
    pub runs: Vec<WaitingSample>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InterruptRow {
    pub system: Blocker,
    pub p50_us: f64,
    pub p99_us: f64,
    pub vs_fifo_p50: Option<f64>,
    pub vs_mqueue_p50: Option<f64>,
    pub vs_fifo_p99: Option<f64>,
    pub vs_mqueue_p99: Option<f64>,
    pub runs: Vec<LatencySummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetRow {
    pub name: &'static str,
    pub goal: &'static str,
    pub measured: String,
    /// `None` when the run did not measure it (a workload left out, or too
    /// few slots).
    pub met: Option<bool>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub benchmark: &'static str,
    pub machine: Machine,
    pub settings: Settings,
    pub systems: Vec<System>,
    pub throughput: Vec<ThroughputRow>,
    pub latency: Vec<LatencyRow>,
    pub slots: Vec<SlotsRow>,
    pub memory: Option<MemoryRow>,
    /// Every floor in every workload: how the best floor was chosen.
    pub floors: Vec<FloorRow>,
    pub threads: Vec<ThreadsRow>,
    pub waiting: Option<WaitingRow>,
    pub interrupt: Vec<InterruptRow>,
    pub neighbours: Option<NeighboursRow>,
    pub receive: Option<crate::receive::ReceiveRow>,
    pub targets: Vec<TargetRow>,
    /// What could not be measured on this machine, and why.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryRow {
    pub messages: u64,
    pub message_size: usize,
    pub rss_before_kib: f64,
    pub rss_queued_kib: f64,
    pub rss_drained_kib: f64,
    pub rss_closed_kib: f64,
    pub bytes_per_message: f64,
    pub overhead_bytes_per_message: f64,
    pub drained_vs_before: f64,
    pub runs: Vec<MemorySample>,
}

fn median_rate(flows: &[Flow]) -> f64 {
    median(flows.iter().map(Flow::rate).collect())
}

fn cpu_per_msg(flows: &[Flow]) -> Option<f64> {
    flows
        .iter()
        .map(|f| {
            f.server_cpu_ns
                .map(|ns| ns as f64 / 1e3 / f.messages as f64)
        })
        .collect::<Option<Vec<f64>>>()
        .map(median)
}

/// The key whose runs score best by their median (highest, or lowest when
/// `lower_is_better`).
fn best<K: Copy + Ord, V>(
    by: &BTreeMap<K, Vec<V>>,
    score: impl Fn(&V) -> f64,
    lower_is_better: bool,
) -> Option<K> {
    let scored = by
        .iter()
        .map(|(&k, runs)| (k, median(runs.iter().map(&score).collect())))
        .filter(|(_, s)| s.is_finite());
    if lower_is_better {
        scored.min_by(|a, b| a.1.total_cmp(&b.1)).map(|p| p.0)
    } else {
        scored.max_by(|a, b| a.1.total_cmp(&b.1)).map(|p| p.0)
    }
}

/// Rows for every floor of one workload, best first marked.
fn floor_rows<V>(
    workload: &str,
    by: &BTreeMap<FloorKind, Vec<V>>,
    unit: &'static str,
    score: impl Fn(&V) -> f64,
    lower_is_better: bool,
    cpu: impl Fn(&[V]) -> Option<f64>,
) -> (Option<FloorKind>, Vec<FloorRow>) {
    let Some(top) = best(by, &score, lower_is_better) else {
        return (None, Vec::new());
    };
    let figure = |runs: &[V]| median(runs.iter().map(&score).collect());
    let top_figure = figure(&by[&top]);
    let rows = by
        .iter()
        .map(|(&floor, runs)| {
            let f = figure(runs);
            FloorRow {
                workload: workload.to_owned(),
                floor,
                description: floor.describe(),
                figure: f,
                unit,
                vs_best: if lower_is_better {
                    top_figure / f
                } else {
                    f / top_figure
                },
                best: floor == top,
                server_cpu_us_per_msg: cpu(runs),
                runs: runs.iter().map(&score).collect(),
            }
        })
        .collect();
    (Some(top), rows)
}

fn throughput_rows(
    workload: &str,
    writers: u32,
    by_system: &BTreeMap<System, Vec<Flow>>,
    floor: Option<FloorKind>,
) -> Vec<ThroughputRow> {
    let rate = |s: System| by_system.get(&s).map(|f| median_rate(f));
    let floor_rate = rate(System::Floor);
    let mq = rate(System::Mqueue);
    by_system
        .iter()
        .map(|(&system, flows)| {
            let r = median_rate(flows);
            let size = flows.first().map_or(0, |f| f.size);
            ThroughputRow {
                workload: workload.to_owned(),
                writers,
                size,
                messages: flows.first().map_or(0, |f| f.messages),
                system,
                msgs_per_s: r,
                mb_per_s: r * size as f64 / 1e6,
                vs_floor: floor_rate.map(|f| r / f),
                vs_mqueue: mq.map(|m| r / m),
                floor,
                runs_msgs_per_s: flows.iter().map(Flow::rate).collect(),
                verified: flows
                    .iter()
                    .map(|f| f.verified)
                    .try_fold(true, |all, v| v.map(|v| all && v)),
                full_waits: flows.iter().map(|f| f.full_waits).sum(),
                server_cpu_us_per_msg: cpu_per_msg(flows),
            }
        })
        .collect()
}

/// Throughput rows of one workload, its floor row being the best floor's.
fn with_best_floor(
    workload: &str,
    label: &str,
    writers: u32,
    systems: &BTreeMap<System, Vec<Flow>>,
    floors: &BTreeMap<FloorKind, Vec<Flow>>,
    floor_table: &mut Vec<FloorRow>,
) -> Vec<ThroughputRow> {
    let (top, rows) = floor_rows(label, floors, "msg/s", Flow::rate, false, cpu_per_msg);
    floor_table.extend(rows);
    let mut all = systems.clone();
    if let Some(t) = top {
        all.insert(System::Floor, floors[&t].clone());
    }
    throughput_rows(workload, writers, &all, top)
}

pub fn build(raw: &Raw, machine: Machine, settings: Settings, notes: Vec<String>) -> Report {
    let mut floors = Vec::new();
    let mut throughput = Vec::new();
    let no_floors = BTreeMap::new();
    for (&size, by_system) in &raw.pairs {
        throughput.extend(with_best_floor(
            "pairs",
            &format!("pairs 1→1 {}", size_label(size)),
            1,
            by_system,
            raw.floor_pairs.get(&size).unwrap_or(&no_floors),
            &mut floors,
        ));
    }
    for (&size, by_system) in &raw.near_pairs {
        throughput.extend(with_best_floor(
            NEAR_PAIRS,
            &format!("{NEAR_PAIRS} 1→1 {}", size_label(size)),
            1,
            by_system,
            raw.floor_near_pairs.get(&size).unwrap_or(&no_floors),
            &mut floors,
        ));
    }
    if !raw.fan_in.is_empty() || !raw.floor_fan_in.is_empty() {
        throughput.extend(with_best_floor(
            "fan-in",
            &format!("fan-in {}→1 64 B", settings.fan_in_writers),
            settings.fan_in_writers,
            &raw.fan_in,
            &raw.floor_fan_in,
            &mut floors,
        ));
    }

    let (floor_latency, rows) = floor_rows(
        "wake-up round trip",
        &raw.floor_latency,
        "µs p50",
        |l: &LatencySummary| l.p50_ns as f64 / 1e3,
        true,
        |_| None,
    );
    floors.extend(rows);
    let mut latency_runs = raw.latency.clone();
    if let Some(t) = floor_latency {
        latency_runs.insert(System::Floor, raw.floor_latency[&t].clone());
    }
    let p50 = |s: System| {
        latency_runs
            .get(&s)
            .map(|runs| median(runs.iter().map(|r| r.p50_ns as f64 / 1e3).collect()))
    };
    let latency = latency_runs
        .iter()
        .map(|(&system, runs)| {
            let own = median(runs.iter().map(|r| r.p50_ns as f64 / 1e3).collect());
            LatencyRow {
                system,
                what: if system == System::Floor {
                    "write-then-read round trip"
                } else {
                    "blocked reader woken by a write"
                },
                p50_us: own,
                p99_us: median(runs.iter().map(|r| r.p99_ns as f64 / 1e3).collect()),
                vs_floor_p50: p50(System::Floor).map(|f| own / f),
                vs_mqueue_p50: p50(System::Mqueue).map(|m| own / m),
                floor: floor_latency,
                runs: runs.clone(),
            }
        })
        .collect();

    let mut slots = Vec::new();
    let slot_counts: std::collections::BTreeSet<usize> = raw
        .slots
        .keys()
        .chain(raw.floor_slots.keys())
        .copied()
        .collect();
    for n in slot_counts {
        let (top, rows) = floor_rows(
            &format!("{} slots, all phases", grouped(n as f64)),
            raw.floor_slots.get(&n).unwrap_or(&BTreeMap::new()),
            "s",
            SlotPhases::total_s,
            true,
            |_| None,
        );
        floors.extend(rows);
        let mut by_system = raw.slots.get(&n).cloned().unwrap_or_default();
        if let Some(t) = top {
            by_system.insert(System::Floor, raw.floor_slots[&n][&t].clone());
        }
        for (system, runs) in by_system {
            let m = |f: fn(&SlotPhases) -> f64| median(runs.iter().map(f).collect());
            slots.push(SlotsRow {
                slots: n,
                system,
                create_s: m(|p| p.create_s),
                write_s: m(|p| p.write_s),
                list_s: (system != System::Floor).then(|| m(|p| p.list_s)),
                read_s: m(|p| p.read_s),
                close_s: m(|p| p.close_s),
                floor: (system == System::Floor).then_some(top).flatten(),
                runs,
            });
        }
    }

    let memory = (!raw.memory.is_empty()).then(|| {
        let runs = &raw.memory;
        let m = |f: fn(&MemorySample) -> f64| median(runs.iter().map(f).collect());
        let per = m(MemorySample::bytes_per_message);
        MemoryRow {
            messages: runs[0].messages,
            message_size: 64,
            rss_before_kib: m(|s| s.rss_before as f64 / 1024.0),
            rss_queued_kib: m(|s| s.rss_queued as f64 / 1024.0),
            rss_drained_kib: m(|s| s.rss_drained as f64 / 1024.0),
            rss_closed_kib: m(|s| s.rss_closed as f64 / 1024.0),
            bytes_per_message: per,
            overhead_bytes_per_message: per - 64.0,
            drained_vs_before: m(|s| s.rss_drained as f64 / s.rss_before as f64),
            runs: runs.clone(),
        }
    });

    let mut threads = Vec::new();
    let steps = [THREADS_PAIRS, THREADS_FAN_IN];
    for (step, by_threads) in steps.iter().filter_map(|s| raw.threads.get_key_value(s)) {
        let (writers, label) = if *step == THREADS_FAN_IN {
            (
                settings.fan_in_writers,
                format!("threads: fan-in {}→1 64 B", settings.fan_in_writers),
            )
        } else {
            (1, "threads: pairs 1→1 64 B".to_owned())
        };
        let (top, rows) = floor_rows(
            &label,
            raw.threads_floors.get(step).unwrap_or(&no_floors),
            "msg/s",
            Flow::rate,
            false,
            cpu_per_msg,
        );
        floors.extend(rows);
        let floor_rate = top.map(|t| median_rate(&raw.threads_floors[step][&t]));
        for (&n, flows) in by_threads {
            let r = median_rate(flows);
            threads.push(ThreadsRow {
                workload: (*step).to_owned(),
                writers,
                size: flows.first().map_or(0, |f| f.size),
                threads: n,
                msgs_per_s: r,
                vs_floor: floor_rate.map(|f| r / f),
                floor: top,
                server_cpu_us_per_msg: cpu_per_msg(flows),
                verified: flows
                    .iter()
                    .map(|f| f.verified)
                    .try_fold(true, |all, v| v.map(|v| all && v)),
                runs_msgs_per_s: flows.iter().map(Flow::rate).collect(),
            });
        }
    }

    let waiting = (!raw.waiting.is_empty()).then(|| {
        let runs = &raw.waiting;
        let m = |f: &dyn Fn(&WaitingSample) -> f64| median(runs.iter().map(f).collect());
        let readers = runs[0].readers;
        WaitingRow {
            readers,
            workers: runs[0].workers,
            idle_s: m(&|s| s.idle_s),
            cpu_percent_of_core: m(&WaitingSample::cpu_percent),
            fds_before: m(&|s| s.fds_before as f64),
            fds_waiting: m(&|s| s.fds_waiting as f64),
            fds_per_reader: m(&|s| {
                (s.fds_waiting as f64 - s.fds_before as f64) / s.readers.max(1) as f64
            }),
            rss_before_kib: m(&|s| s.rss_before as f64 / 1024.0),
            rss_waiting_kib: m(&|s| s.rss_waiting as f64 / 1024.0),
            rss_bytes_per_reader: m(&|s| {
                (s.rss_waiting as f64 - s.rss_before as f64) / s.readers.max(1) as f64
            }),
            runs: runs.clone(),
        }
    });

    let ip = |b: Blocker, f: fn(&LatencySummary) -> u64| {
        raw.interrupt
            .get(&b)
            .map(|runs| median(runs.iter().map(|r| f(r) as f64 / 1e3).collect()))
    };
    let interrupt = raw
        .interrupt
        .iter()
        .map(|(&system, runs)| {
            let p50 = median(runs.iter().map(|r| r.p50_ns as f64 / 1e3).collect());
            let p99 = median(runs.iter().map(|r| r.p99_ns as f64 / 1e3).collect());
            InterruptRow {
                system,
                p50_us: p50,
                p99_us: p99,
                vs_fifo_p50: ip(Blocker::Fifo, |r| r.p50_ns).map(|x| p50 / x),
                vs_mqueue_p50: ip(Blocker::Mqueue, |r| r.p50_ns).map(|x| p50 / x),
                vs_fifo_p99: ip(Blocker::Fifo, |r| r.p99_ns).map(|x| p99 / x),
                vs_mqueue_p99: ip(Blocker::Mqueue, |r| r.p99_ns).map(|x| p99 / x),
                runs: runs.clone(),
            }
        })
        .collect();

    let mut report = Report {
        benchmark: "mailslot-bench",
        machine,
        settings,
        systems: System::ALL.to_vec(),
        throughput,
        latency,
        slots,
        memory,
        floors,
        threads,
        waiting,
        interrupt,
        neighbours: neighbours_row(&raw.neighbours),
        receive: crate::receive::row(&raw.receive_steps, &raw.receive_ladders, &raw.receive_local),
        targets: Vec::new(),
        notes,
    };
    report.targets = targets(&report);
    report
}

fn neighbours_row(samples: &[NeighboursSample]) -> Option<NeighboursRow> {
    if samples.is_empty() {
        return None;
    }
    let of = |flooded: bool| samples.iter().filter(move |s| s.flooded == flooded);
    let rate = |flooded| median(of(flooded).map(|s| s.pairs.rate()).collect());
    let us = |flooded, f: fn(&LatencySummary) -> u64| {
        median(of(flooded).map(|s| f(&s.latency) as f64 / 1e3).collect())
    };
    // Each round's flood figure against its own quiet one.
    let mut pairs_ratios = Vec::new();
    let mut p99_ratios = Vec::new();
    for q in of(false) {
        if let Some(f) = of(true).find(|f| f.run == q.run && f.round == q.round) {
            pairs_ratios.push(f.pairs.rate() / q.pairs.rate());
            p99_ratios.push(f.latency.p99_ns as f64 / q.latency.p99_ns.max(1) as f64);
        }
    }
    let range = |v: &[f64]| {
        (
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    let floods: Vec<&FloodStats> = samples.iter().filter_map(|s| s.flood.as_ref()).collect();
    let seconds: f64 = floods.iter().map(|f| f.seconds).sum::<f64>().max(1e-9);
    let per_s =
        |f: fn(&FloodStats) -> u64| floods.iter().map(|s| f(s)).sum::<u64>() as f64 / seconds;
    Some(NeighboursRow {
        rounds: pairs_ratios.len(),
        quiet_msgs_per_s: rate(false),
        flood_msgs_per_s: rate(true),
        pairs_ratio: median(pairs_ratios.clone()),
        pairs_ratio_range: range(&pairs_ratios),
        quiet_p50_us: us(false, |l| l.p50_ns),
        flood_p50_us: us(true, |l| l.p50_ns),
        quiet_p99_us: us(false, |l| l.p99_ns),
        flood_p99_us: us(true, |l| l.p99_ns),
        p99_ratio: median(p99_ratios.clone()),
        p99_ratio_range: range(&p99_ratios),
        flood_writes_per_s: per_s(|f| f.writes),
        flood_refused_per_s: per_s(|f| f.refused),
        flood_releases_per_s: per_s(|f| f.releases),
        verified: samples.iter().all(|s| s.pairs.verified != Some(false)),
        runs: samples.to_vec(),
    })
}

fn floor_name(f: Option<FloorKind>) -> String {
    f.map_or_else(|| "floor".into(), |f| format!("floor ({})", f.name()))
}

/// A target that the measured `x` must reach from below (`at_least`) or
/// stay under.
fn bound_target(
    name: &'static str,
    goal: &'static str,
    x: Option<f64>,
    limit: f64,
    at_least: bool,
    shown: impl Fn(f64) -> String,
) -> TargetRow {
    let Some(x) = x.filter(|v| v.is_finite()) else {
        return not_measured(name, goal);
    };
    let met = if at_least { x >= limit } else { x <= limit };
    let detail = match (met, at_least) {
        (true, true) => format!("met with {:.0}% to spare", (x / limit - 1.0) * 100.0),
        (false, true) => format!("missed: {:.0}% below the target", (1.0 - x / limit) * 100.0),
        (true, false) => format!("met with {:.0}% to spare", (1.0 - x / limit) * 100.0),
        (false, false) => format!("missed: {:.0}% above the target", (x / limit - 1.0) * 100.0),
    };
    TargetRow {
        name,
        goal,
        measured: shown(x),
        met: Some(met),
        detail,
    }
}

fn not_measured(name: &'static str, goal: &'static str) -> TargetRow {
    TargetRow {
        name,
        goal,
        measured: "not measured".into(),
        met: None,
        detail: "not part of this run".into(),
    }
}

/// Ratio targets hold for mailslotfs as users run it: its default settings,
/// unless the benchmark was told another `--threads`.
fn targets(r: &Report) -> Vec<TargetRow> {
    let ms = |workload: &str, size: usize| {
        r.throughput
            .iter()
            .find(|t| t.workload == workload && t.size == size && t.system == System::Mailslotfs)
    };
    let vs = |row: Option<&ThroughputRow>| {
        let row = row?;
        Some((row.vs_floor?, row.floor))
    };
    let mut out = Vec::new();
    for (size, name, goal) in [
        (64, "pairs-64B", "pairs at 64 B ≥ 0.90 × best floor"),
        (4096, "pairs-4KiB", "pairs at 4 KiB ≥ 0.90 × best floor"),
        (61440, "pairs-60KiB", "pairs at 60 KiB ≥ 0.90 × best floor"),
    ] {
        let pairs = vs(ms("pairs", size));
        out.push(bound_target(
            name,
            goal,
            pairs.map(|p| p.0),
            0.90,
            true,
            |x| format!("{x:.2} × {}", floor_name(pairs.and_then(|p| p.1))),
        ));
    }
    let fan = vs(ms("fan-in", 64));
    out.push(bound_target(
        "fan-in",
        "fan-in 16→1 ≥ 0.90 × best floor",
        fan.map(|p| p.0),
        0.90,
        true,
        |x| format!("{x:.2} × {}", floor_name(fan.and_then(|p| p.1))),
    ));
    let wake = r.latency.iter().find(|l| l.system == System::Mailslotfs);
    out.push(bound_target(
        "wake-up",
        "wake-up p50 ≤ 1.10 × best floor round trip",
        wake.and_then(|l| l.vs_floor_p50),
        1.10,
        false,
        |x| format!("{x:.2} × {}", floor_name(wake.and_then(|l| l.floor))),
    ));
    out.push(bound_target(
        "waiting-cpu",
        "waiting readers: daemon idle CPU < 1% of a core",
        r.waiting.as_ref().map(|w| w.cpu_percent_of_core),
        1.0,
        false,
        |x| {
            format!(
                "{x:.3}% ({} readers)",
                grouped(r.waiting.as_ref().map_or(0, |w| w.readers) as f64)
            )
        },
    ));
    out.push(bound_target(
        "interrupt-p99",
        "interrupt latency p99 ≤ 10 ms",
        r.interrupt
            .iter()
            .find(|i| i.system == Blocker::Mailslotfs)
            .map(|i| i.p99_us / 1e3),
        10.0,
        false,
        |x| format!("{x:.3} ms"),
    ));
    out.push(bound_target(
        "memory-overhead",
        "≤ 24 bytes overhead per 64-byte message",
        r.memory.as_ref().map(|m| m.overhead_bytes_per_message),
        24.0,
        false,
        |x| format!("{x:.1} bytes"),
    ));
    out.push(bound_target(
        "memory-drained",
        "RSS after draining within 10% of before",
        r.memory.as_ref().map(|m| m.drained_vs_before),
        1.10,
        false,
        |x| format!("{:+.1}%", (x - 1.0) * 100.0),
    ));
    out.push(bound_target(
        "listing-10k",
        "listing 10,000 slots < 0.25 s",
        r.slots
            .iter()
            .find(|s| s.slots == 10_000 && s.system == System::Mailslotfs)
            .and_then(|s| s.list_s),
        0.25,
        false,
        |x| format!("{x:.3} s"),
    ));
    out.push(bound_target(
        "receive",
        "loss-free network receive rate ≥ 0.90 × the local read floor",
        r.receive
            .as_ref()
            .map(|n| n.vs_local_read)
            .filter(|x| x.is_finite()),
        0.90,
        true,
        |x| {
            format!(
                "{x:.2} × ({} of {} datagrams/s)",
                grouped(r.receive.as_ref().map_or(0.0, |n| n.mailslotfs_msgs_per_s)),
                grouped(r.receive.as_ref().map_or(0.0, |n| n.local_read_msgs_per_s))
            )
        },
    ));
    out
}

pub fn size_label(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

fn opt(x: Option<f64>, prec: usize) -> String {
    x.filter(|v| v.is_finite())
        .map_or_else(|| "—".into(), |v| format!("{v:.prec$}"))
}

/// A table in the look of the rest of the output: no lines, the header
/// row first; `align` has an `r` for each right-aligned (number) column.
fn grid(header: &[&str], align: &str, rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_style(comfy_table::presets::NOTHING)
        .set_header(header.to_vec())
        .add_rows(rows);
    for (c, a) in t.column_iter_mut().zip(align.chars()) {
        if a == 'r' {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t.trim_fmt() + "\n"
}

fn floor_label(system: System, floor: Option<FloorKind>) -> String {
    match (system, floor) {
        (System::Floor, Some(f)) => f.name(),
        _ => String::new(),
    }
}

fn lost(verified: Option<bool>) -> &'static str {
    if verified == Some(false) {
        " (LOST/REORDERED MESSAGES)"
    } else {
        ""
    }
}

pub fn table(r: &Report) -> String {
    let mut t = String::new();
    let s = &r.settings;
    let _ = writeln!(
        t,
        "mailslot-bench ({} mode, median of {} run(s); {} CPUs, {}; FUSE threads: {}; \
         mailslotfs writers open {})",
        s.mode,
        s.runs,
        r.machine.cpus,
        r.machine.kernel,
        s.fuse_threads,
        if s.client_open == "rdwr" {
            "O_RDWR (seekable)"
        } else {
            "O_WRONLY (streams)"
        }
    );
    let _ = writeln!(
        t,
        "load average {} at the start, {} at the end",
        r.machine.load_start, r.machine.load_end
    );
    let _ = writeln!(
        t,
        "floor = the best of the floors in each workload (named in the last column; all in \"floors\" below)"
    );
    let _ = writeln!(
        t,
        "fan-in: {} round(s) of {} × {} messages per run, the systems taking turns; a run's rate is all its rounds' messages over their time\n",
        s.fan_in_rounds,
        s.fan_in_writers,
        grouped(s.fan_in_messages_per_writer as f64)
    );
    if r.throughput.iter().any(|t| t.workload == NEAR_PAIRS) {
        let _ = writeln!(
            t,
            "{NEAR_PAIRS}: pairs again, the writer waiting whenever it is {} messages ahead of its reader: a message's cost without a backlog's\n",
            s.near_ahead
        );
    }
    let workload = |name: &str, writers: u32| {
        if name == THREADS_FAN_IN {
            format!("fan-in {writers}→1")
        } else {
            format!("{name} 1→1")
        }
    };
    t += &grid(
        &[
            "workload",
            "size",
            "system",
            "messages/s",
            "MB/s",
            "vs floor",
            "vs mqueue",
            "server µs/msg",
            "floor",
        ],
        "lrlrrrrrl",
        r.throughput
            .iter()
            .map(|row| {
                vec![
                    workload(&row.workload, row.writers),
                    size_label(row.size),
                    row.system.name().to_owned(),
                    grouped(row.msgs_per_s),
                    format!("{:.2}", row.mb_per_s),
                    opt(row.vs_floor, 2),
                    opt(row.vs_mqueue, 2),
                    opt(row.server_cpu_us_per_msg, 2),
                    format!(
                        "{}{}",
                        floor_label(row.system, row.floor),
                        lost(row.verified)
                    ),
                ]
            })
            .collect(),
    );

    if !r.threads.is_empty() {
        t += "\nmailslotfs by --threads (vs the best floor measured in the same step)\n";
        t += &grid(
            &[
                "workload",
                "size",
                "threads",
                "messages/s",
                "vs floor",
                "server µs/msg",
                "floor",
            ],
            "lrrrrrl",
            r.threads
                .iter()
                .map(|row| {
                    vec![
                        workload(&row.workload, row.writers),
                        size_label(row.size),
                        row.threads.to_string(),
                        grouped(row.msgs_per_s),
                        opt(row.vs_floor, 2),
                        opt(row.server_cpu_us_per_msg, 2),
                        format!(
                            "{}{}",
                            row.floor.map(FloorKind::name).unwrap_or_default(),
                            lost(row.verified)
                        ),
                    ]
                })
                .collect(),
        );
    }

    if !r.latency.is_empty() {
        let _ = writeln!(
            t,
            "\nwake-up latency, µs ({} rounds; floor: its write-then-read round trip)",
            s.latency_rounds
        );
        t += &grid(
            &[
                "system",
                "p50",
                "p99",
                "p50 vs floor",
                "p50 vs mqueue",
                "floor",
            ],
            "lrrrrl",
            r.latency
                .iter()
                .map(|l| {
                    vec![
                        l.system.name().to_owned(),
                        format!("{:.1}", l.p50_us),
                        format!("{:.1}", l.p99_us),
                        opt(l.vs_floor_p50, 2),
                        opt(l.vs_mqueue_p50, 2),
                        floor_label(l.system, l.floor),
                    ]
                })
                .collect(),
        );
    }

    if !r.interrupt.is_empty() {
        let _ = writeln!(
            t,
            "\ninterrupt latency, µs ({} rounds: SIGUSR1, handled without SA_RESTART, until the blocked read returns EINTR)",
            s.interrupt_rounds
        );
        t += &grid(
            &[
                "system",
                "p50",
                "p99",
                "p50 vs fifo",
                "p50 vs mqueue",
                "p99 vs fifo",
                "p99 vs mqueue",
            ],
            "lrrrrrr",
            r.interrupt
                .iter()
                .map(|i| {
                    vec![
                        i.system.name().to_owned(),
                        format!("{:.1}", i.p50_us),
                        format!("{:.1}", i.p99_us),
                        opt(i.vs_fifo_p50, 2),
                        opt(i.vs_mqueue_p50, 2),
                        opt(i.vs_fifo_p99, 2),
                        opt(i.vs_mqueue_p99, 2),
                    ]
                })
                .collect(),
        );
    }

    if let Some(w) = &r.waiting {
        let _ = writeln!(
            t,
            "\nwaiting: {} readers blocked on empty slots ({} reader processes), a fresh mailslotfs daemon",
            grouped(w.readers as f64),
            w.workers
        );
        let _ = writeln!(
            t,
            "  CPU over {:.0} idle seconds: {:.3}% of one core; descriptors {:.0} → {:.0} ({:.4} per reader); \
             VmRSS {:.0} → {:.0} KiB ({:.0} bytes per reader)",
            w.idle_s,
            w.cpu_percent_of_core,
            w.fds_before,
            w.fds_waiting,
            w.fds_per_reader,
            w.rss_before_kib,
            w.rss_waiting_kib,
            w.rss_bytes_per_reader
        );
    }

    if !r.slots.is_empty() {
        t += "\nmany slots, seconds per phase (write = open, write one message, close)\n";
        t += &grid(
            &[
                "slots", "system", "create", "write", "list", "read", "close", "floor",
            ],
            "rlrrrrrl",
            r.slots
                .iter()
                .map(|row| {
                    vec![
                        grouped(row.slots as f64),
                        row.system.name().to_owned(),
                        format!("{:.3}", row.create_s),
                        format!("{:.3}", row.write_s),
                        opt(row.list_s, 3),
                        format!("{:.3}", row.read_s),
                        format!("{:.3}", row.close_s),
                        row.floor.map(FloorKind::name).unwrap_or_default(),
                    ]
                })
                .collect(),
        );
    }

    if let Some(m) = &r.memory {
        let _ = writeln!(
            t,
            "\nmemory: {} messages of {} B queued in one mailslotfs slot, daemon VmRSS",
            grouped(m.messages as f64),
            m.message_size
        );
        let _ = writeln!(
            t,
            "  before {:.0} KiB, queued {:.0} KiB, drained {:.0} KiB ({:+.1}%), slot closed {:.0} KiB; \
             {:.1} bytes per queued message = {} payload + {:.1} overhead",
            m.rss_before_kib,
            m.rss_queued_kib,
            m.rss_drained_kib,
            (m.drained_vs_before - 1.0) * 100.0,
            m.rss_closed_kib,
            m.bytes_per_message,
            m.message_size,
            m.overhead_bytes_per_message
        );
    }

    if let Some(n) = &r.receive {
        t += &crate::receive::table(n, grid);
    }

    if let Some(n) = &r.neighbours {
        let ns = &s.neighbours;
        let _ = writeln!(
            t,
            "\nneighbours: uid {} does pairs ({} B) and wake-ups on a slot of its own, quiet and while uid {} floods \
             the mount ({} B writes into its own slots, {} client handles opened and closed at a time); \
             a fresh mailslotfs with --allow-other, {} round(s), the two taking turns",
            ns.victim_uid,
            ns.message_size,
            ns.flood_uid,
            ns.flood_message_size,
            ns.flood_handles,
            n.rounds
        );
        t += &grid(
            &["figure", "quiet", "flood", "flood/quiet", "spread"],
            "lrrrl",
            vec![
                vec![
                    "pairs msg/s".into(),
                    grouped(n.quiet_msgs_per_s),
                    grouped(n.flood_msgs_per_s),
                    format!("{:.2}", n.pairs_ratio),
                    format!("{:.2}–{:.2}", n.pairs_ratio_range.0, n.pairs_ratio_range.1),
                ],
                vec![
                    "wake-up p50 µs".into(),
                    format!("{:.1}", n.quiet_p50_us),
                    format!("{:.1}", n.flood_p50_us),
                    format!("{:.2}", n.flood_p50_us / n.quiet_p50_us),
                    String::new(),
                ],
                vec![
                    "wake-up p99 µs".into(),
                    format!("{:.1}", n.quiet_p99_us),
                    format!("{:.1}", n.flood_p99_us),
                    format!("{:.2}", n.p99_ratio),
                    format!("{:.2}–{:.2}", n.p99_ratio_range.0, n.p99_ratio_range.1),
                ],
            ],
        );
        let _ = writeln!(
            t,
            "  the flood, per second: {} writes accepted, {} refused (slot full or allowance spent), {} handles released{}",
            grouped(n.flood_writes_per_s),
            grouped(n.flood_refused_per_s),
            grouped(n.flood_releases_per_s),
            if n.verified {
                ""
            } else {
                "; VICTIM'S MESSAGES LOST OR REORDERED"
            }
        );
    }

    if !r.floors.is_empty() {
        t += "\nfloors: every do-nothing FUSE filesystem in every workload (* the best, which the workload is held against)\n";
        t += &grid(
            &["workload", "floor", "median", "vs best", "server µs/msg"],
            "llrrr",
            r.floors
                .iter()
                .map(|f| {
                    let figure = match f.unit {
                        "msg/s" => format!("{} msg/s", grouped(f.figure)),
                        "s" => format!("{:.3} s", f.figure),
                        _ => format!("{:.1} µs", f.figure),
                    };
                    vec![
                        f.workload.clone(),
                        format!("{}{}", f.floor.name(), if f.best { " *" } else { "" }),
                        figure,
                        format!("{:.2}", f.vs_best),
                        opt(f.server_cpu_us_per_msg, 2),
                    ]
                })
                .collect(),
        );
    }

    if !r.notes.is_empty() {
        t += "\n";
        for n in &r.notes {
            let _ = writeln!(t, "note: {n}");
        }
    }

    let _ = writeln!(
        t,
        "\ntargets (mailslotfs with {})",
        match s.mailslotfs_threads {
            None => "its default settings".to_owned(),
            Some(n) => format!("--threads {n}"),
        }
    );
    t += &grid(
        &["", "target", "measured", ""],
        "llrl",
        r.targets
            .iter()
            .map(|g| {
                let mark = match g.met {
                    Some(true) => "MET",
                    Some(false) => "MISS",
                    None => "--",
                };
                vec![
                    mark.to_owned(),
                    g.goal.to_owned(),
                    g.measured.clone(),
                    g.detail.clone(),
                ]
            })
            .collect(),
    );
    t
}

fn color(s: System) -> RGBColor {
    match s {
        System::Mailslotfs => RGBColor(0xd6, 0x27, 0x28),
        System::Floor => RGBColor(0x7f, 0x7f, 0x7f),
        System::Mqueue => RGBColor(0x1f, 0x77, 0xb4),
        System::Unix => RGBColor(0x2c, 0xa0, 0x2c),
    }
}

/// The one plot: messages/s of pairs against message size, log-log, a line
/// per system (the floor's is the best floor at each size).
fn plot(r: &Report, out: &mut String) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let rows: Vec<&ThroughputRow> = r
        .throughput
        .iter()
        .filter(|t| t.workload == "pairs" && t.msgs_per_s.is_finite() && t.msgs_per_s > 0.0)
        .collect();
    let root = SVGBackend::with_string(out, (640, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (Some(x_lo), Some(x_hi)) = (
        rows.iter().map(|r| r.size).min(),
        rows.iter().map(|r| r.size).max(),
    ) else {
        return Ok(root.present()?);
    };
    let rates = rows.iter().map(|r| r.msgs_per_s);
    let y_lo = rates.clone().fold(f64::INFINITY, f64::min) / 2.0;
    let y_hi = rates.fold(0.0, f64::max) * 2.0;
    let mut sizes: Vec<f64> = rows.iter().map(|r| r.size as f64).collect();
    sizes.dedup();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "messages/s, 1 writer → 1 reader ({} mode, {} run(s), {} CPUs)",
                r.settings.mode, r.settings.runs, r.machine.cpus
            ),
            ("sans-serif", 15),
        )
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (x_lo as f64 / 1.3..x_hi as f64 * 1.3)
                .log_scale()
                .with_key_points(sizes),
            (y_lo..y_hi).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_label_formatter(&|v| size_label(v.round() as usize))
        .y_label_formatter(&|v| grouped(*v))
        .x_desc("message size")
        .draw()?;
    // mailslotfs last, so that its line is drawn over the others.
    for sys in [
        System::Floor,
        System::Mqueue,
        System::Unix,
        System::Mailslotfs,
    ] {
        let pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.system == sys)
            .map(|r| (r.size as f64, r.msgs_per_s))
            .collect();
        let c = color(sys);
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)).point_size(3))?
            .label(sys.name())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(root.present()?)
}

pub fn svg(r: &Report) -> String {
    let mut out = String::new();
    if let Err(e) = plot(r, &mut out) {
        eprintln!("mailslot-bench: drawing throughput.svg: {e}");
    }
    out
}

/// results.json and throughput.svg; the table is what was printed.
pub fn write_files(r: &Report, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(r)? + "\n",
    )?;
    std::fs::write(out.join("throughput.svg"), svg(r))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::floor::Library;

    fn flow(rate: f64) -> Flow {
        Flow {
            messages: rate as u64,
            size: 64,
            seconds: 1.0,
            full_waits: 0,
            verified: None,
            server_cpu_ns: None,
        }
    }

    #[test]
    fn rounds_add_up_as_one_longer_run() {
        let fast = Flow {
            verified: Some(true),
            server_cpu_ns: Some(10),
            ..flow(300.0)
        };
        let slow = Flow {
            messages: 100,
            seconds: 2.0,
            full_waits: 3,
            verified: Some(false),
            server_cpu_ns: Some(5),
            ..flow(0.0)
        };
        let both = fast.and(slow);
        assert_eq!(both.messages, 400);
        assert!((both.rate() - 400.0 / 3.0).abs() < 1e-9);
        assert_eq!(both.full_waits, 3);
        assert_eq!(both.verified, Some(false));
        assert_eq!(both.server_cpu_ns, Some(15));
        let floor = flow(1.0).and(flow(1.0));
        assert_eq!(floor.verified, None);
        assert_eq!(floor.server_cpu_ns, None);
    }

    #[test]
    fn each_workload_is_held_against_its_best_floor_by_median() {
        let one = FloorKind {
            library: Library::Fuser,
            threads: 1,
        };
        let two = FloorKind {
            library: Library::Session,
            threads: 2,
        };
        // `two` has the single fastest run, `one` the better median.
        let floors = BTreeMap::from([
            (one, vec![flow(100.0), flow(110.0), flow(90.0)]),
            (two, vec![flow(200.0), flow(80.0), flow(70.0)]),
        ]);
        let systems = BTreeMap::from([(System::Mailslotfs, vec![flow(90.0)])]);
        let mut table = Vec::new();
        let rows = with_best_floor("pairs", "pairs 64 B", 1, &systems, &floors, &mut table);
        let ms = rows
            .iter()
            .find(|r| r.system == System::Mailslotfs)
            .unwrap();
        assert_eq!(ms.floor, Some(one));
        assert!((ms.vs_floor.unwrap() - 0.9).abs() < 1e-9);
        assert_eq!(table.iter().filter(|r| r.best).count(), 1);
        let slow = table.iter().find(|r| r.floor == two).unwrap();
        assert!((slow.vs_best - 0.8).abs() < 1e-9);
    }
}
