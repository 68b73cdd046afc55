//! From raw runs to what a reader of the results wants: medians, ratios to
//! the floor and to mqueue, the targets met or missed; printed as a table,
//! written as JSON and as an SVG plot.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::harness::Result;
use crate::roles::LatencySummary;
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

#[derive(Default)]
pub struct Raw {
    pub pairs: BTreeMap<usize, BTreeMap<System, Vec<Flow>>>,
    pub fan_in: BTreeMap<System, Vec<Flow>>,
    pub latency: BTreeMap<System, Vec<LatencySummary>>,
    pub slots: BTreeMap<usize, BTreeMap<System, Vec<SlotPhases>>>,
    pub memory: Vec<MemorySample>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub memory_mib: u64,
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
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let kernel = nix::sys::utsname::uname()
            .map(|u| {
                format!(
                    "{} {}",
                    u.sysname().to_string_lossy(),
                    u.release().to_string_lossy()
                )
            })
            .unwrap_or_default();
        let memory_mib = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |k| k / 1024);
        Self {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            kernel,
            memory_mib,
            load_start,
            load_end: loadavg(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub mode: String,
    pub runs: usize,
    pub fuse_threads: u16,
    pub pair_sizes: Vec<(usize, u64)>,
    pub fan_in_writers: u32,
    pub fan_in_messages_per_writer: u64,
    pub latency_rounds: u32,
    pub latency_message_size: usize,
    pub slot_counts: Vec<usize>,
    pub memory_messages: u64,
    pub queue_bytes: usize,
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
    pub vs_floor: Option<f64>,
    pub vs_mqueue: Option<f64>,
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
    pub runs: Vec<SlotPhases>,
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
    pub targets: Vec<TargetRow>,
    /// What could not be measured on this machine, and why.
    pub notes: Vec<String>,
}

pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn throughput_rows(
    workload: &str,
    writers: u32,
    by_system: &BTreeMap<System, Vec<Flow>>,
) -> Vec<ThroughputRow> {
    let rate = |s: System| {
        by_system
            .get(&s)
            .map(|f| median(f.iter().map(Flow::rate).collect()))
    };
    let floor = rate(System::Floor);
    let mq = rate(System::Mqueue);
    by_system
        .iter()
        .map(|(&system, flows)| {
            let r = median(flows.iter().map(Flow::rate).collect());
            let size = flows.first().map_or(0, |f| f.size);
            ThroughputRow {
                workload: workload.to_owned(),
                writers,
                size,
                messages: flows.first().map_or(0, |f| f.messages),
                system,
                msgs_per_s: r,
                mb_per_s: r * size as f64 / 1e6,
                vs_floor: floor.map(|f| r / f),
                vs_mqueue: mq.map(|m| r / m),
                runs_msgs_per_s: flows.iter().map(Flow::rate).collect(),
                verified: flows
                    .iter()
                    .map(|f| f.verified)
                    .try_fold(true, |all, v| v.map(|v| all && v)),
                full_waits: flows.iter().map(|f| f.full_waits).sum(),
                server_cpu_us_per_msg: flows
                    .iter()
                    .map(|f| {
                        f.server_cpu_ns
                            .map(|ns| ns as f64 / 1e3 / f.messages as f64)
                    })
                    .collect::<Option<Vec<f64>>>()
                    .map(median),
            }
        })
        .collect()
}

pub fn build(raw: &Raw, machine: Machine, settings: Settings, notes: Vec<String>) -> Report {
    let mut throughput = Vec::new();
    for by_system in raw.pairs.values() {
        throughput.extend(throughput_rows("pairs", 1, by_system));
    }
    throughput.extend(throughput_rows(
        "fan-in",
        settings.fan_in_writers,
        &raw.fan_in,
    ));

    let p50 = |s: System| {
        raw.latency
            .get(&s)
            .map(|runs| median(runs.iter().map(|r| r.p50_ns as f64 / 1e3).collect()))
    };
    let latency = raw
        .latency
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
                runs: runs.clone(),
            }
        })
        .collect();

    let mut slots = Vec::new();
    for (&n, by_system) in &raw.slots {
        for (&system, runs) in by_system {
            let m = |f: fn(&SlotPhases) -> f64| median(runs.iter().map(f).collect());
            slots.push(SlotsRow {
                slots: n,
                system,
                create_s: m(|p| p.create_s),
                write_s: m(|p| p.write_s),
                list_s: (system != System::Floor).then(|| m(|p| p.list_s)),
                read_s: m(|p| p.read_s),
                close_s: m(|p| p.close_s),
                runs: runs.clone(),
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

    let mut report = Report {
        benchmark: "mailslot-bench",
        machine,
        settings,
        systems: System::ALL.to_vec(),
        throughput,
        latency,
        slots,
        memory,
        targets: Vec::new(),
        notes,
    };
    report.targets = targets(&report);
    report
}

fn ratio_target(
    name: &'static str,
    goal: &'static str,
    min: f64,
    row: Option<&ThroughputRow>,
) -> TargetRow {
    match row.and_then(|r| r.vs_floor) {
        Some(r) => TargetRow {
            name,
            goal,
            measured: format!("{r:.2} × floor"),
            met: Some(r >= min),
            detail: if r >= min {
                format!("met with {:.0}% to spare", (r / min - 1.0) * 100.0)
            } else {
                format!("missed: {:.0}% below the target", (1.0 - r / min) * 100.0)
            },
        },
        None => not_measured(name, goal),
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

fn targets(r: &Report) -> Vec<TargetRow> {
    let ms = |workload: &str, size: usize| {
        r.throughput
            .iter()
            .find(|t| t.workload == workload && t.size == size && t.system == System::Mailslotfs)
    };
    let mut out = vec![
        ratio_target(
            "pairs-64B",
            "pairs at 64 B ≥ 0.90 × floor",
            0.90,
            ms("pairs", 64),
        ),
        ratio_target("fan-in", "fan-in ≥ 0.85 × floor", 0.85, ms("fan-in", 64)),
    ];

    let (name, goal) = ("wake-up", "wake-up p50 ≤ 1.3 × floor round trip");
    out.push(
        match r
            .latency
            .iter()
            .find(|l| l.system == System::Mailslotfs)
            .and_then(|l| l.vs_floor_p50)
        {
            Some(x) => TargetRow {
                name,
                goal,
                measured: format!("{x:.2} × floor"),
                met: Some(x <= 1.3),
                detail: if x <= 1.3 {
                    format!("met with {:.0}% to spare", (1.0 - x / 1.3) * 100.0)
                } else {
                    format!("missed: {:.0}% above the target", (x / 1.3 - 1.0) * 100.0)
                },
            },
            None => not_measured(name, goal),
        },
    );

    let (name, goal) = ("memory-overhead", "≤ 24 bytes overhead per 64-byte message");
    out.push(match &r.memory {
        Some(m) => {
            let o = m.overhead_bytes_per_message;
            TargetRow {
                name,
                goal,
                measured: format!("{o:.1} bytes"),
                met: Some(o <= 24.0),
                detail: if o <= 24.0 {
                    format!("met with {:.1} bytes to spare", 24.0 - o)
                } else {
                    format!("missed by {:.1} bytes", o - 24.0)
                },
            }
        }
        None => not_measured(name, goal),
    });
    let (name, goal) = ("memory-drained", "RSS after draining within 10% of before");
    out.push(match &r.memory {
        Some(m) => {
            let d = m.drained_vs_before;
            TargetRow {
                name,
                goal,
                measured: format!("{:+.1}%", (d - 1.0) * 100.0),
                met: Some(d <= 1.10),
                detail: if d <= 1.10 {
                    "met".into()
                } else {
                    format!("missed by {:.1} points", (d - 1.10) * 100.0)
                },
            }
        }
        None => not_measured(name, goal),
    });

    let (name, goal) = ("listing-10k", "listing 10,000 slots < 0.25 s");
    out.push(
        match r
            .slots
            .iter()
            .find(|s| s.slots == 10_000 && s.system == System::Mailslotfs)
            .and_then(|s| s.list_s)
        {
            Some(t) => TargetRow {
                name,
                goal,
                measured: format!("{t:.3} s"),
                met: Some(t < 0.25),
                detail: if t < 0.25 {
                    format!("met with {:.0}% to spare", (1.0 - t / 0.25) * 100.0)
                } else {
                    format!("missed: {:.0}% over", (t / 0.25 - 1.0) * 100.0)
                },
            },
            None => not_measured(name, goal),
        },
    );
    out
}

pub fn size_label(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// 1234567.8 → "1,234,568".
pub fn grouped(x: f64) -> String {
    if !x.is_finite() {
        return "—".into();
    }
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 { format!("-{out}") } else { out }
}

fn opt(x: Option<f64>, prec: usize) -> String {
    x.filter(|v| v.is_finite())
        .map_or_else(|| "—".into(), |v| format!("{v:.prec$}"))
}

pub fn table(r: &Report) -> String {
    let mut t = String::new();
    let s = &r.settings;
    let _ = writeln!(
        t,
        "mailslot-bench ({} mode, median of {} run{}; {} CPUs, {}; FUSE threads {})",
        s.mode,
        s.runs,
        if s.runs == 1 { "" } else { "s" },
        r.machine.cpus,
        r.machine.kernel,
        s.fuse_threads
    );
    let _ = writeln!(
        t,
        "load average {} at the start, {} at the end",
        r.machine.load_start, r.machine.load_end
    );
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "{:<14} {:>7}  {:<11} {:>12} {:>10} {:>9} {:>10} {:>14}",
        "workload",
        "size",
        "system",
        "messages/s",
        "MB/s",
        "vs floor",
        "vs mqueue",
        "server µs/msg"
    );
    for row in &r.throughput {
        let workload = if row.workload == "fan-in" {
            format!("fan-in {}→1", row.writers)
        } else {
            format!("{} 1→1", row.workload)
        };
        let mark = if row.verified == Some(false) {
            "  (LOST/REORDERED MESSAGES)"
        } else {
            ""
        };
        let _ = writeln!(
            t,
            "{:<14} {:>7}  {:<11} {:>12} {:>10.2} {:>9} {:>10} {:>14}{mark}",
            workload,
            size_label(row.size),
            row.system.name(),
            grouped(row.msgs_per_s),
            row.mb_per_s,
            opt(row.vs_floor, 2),
            opt(row.vs_mqueue, 2),
            opt(row.server_cpu_us_per_msg, 2),
        );
    }

    if !r.latency.is_empty() {
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "wake-up latency, µs ({} rounds; floor: its write-then-read round trip)",
            s.latency_rounds
        );
        let _ = writeln!(
            t,
            "{:<11} {:>9} {:>9} {:>13} {:>14}",
            "system", "p50", "p99", "p50 vs floor", "p50 vs mqueue"
        );
        for l in &r.latency {
            let _ = writeln!(
                t,
                "{:<11} {:>9.1} {:>9.1} {:>13} {:>14}",
                l.system.name(),
                l.p50_us,
                l.p99_us,
                opt(l.vs_floor_p50, 2),
                opt(l.vs_mqueue_p50, 2)
            );
        }
    }

    if !r.slots.is_empty() {
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "many slots, seconds per phase (write = open, write one message, close)"
        );
        let _ = writeln!(
            t,
            "{:>8}  {:<11} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "slots", "system", "create", "write", "list", "read", "close"
        );
        for row in &r.slots {
            let _ = writeln!(
                t,
                "{:>8}  {:<11} {:>8.3} {:>8.3} {:>8} {:>8.3} {:>8.3}",
                grouped(row.slots as f64),
                row.system.name(),
                row.create_s,
                row.write_s,
                opt(row.list_s, 3),
                row.read_s,
                row.close_s
            );
        }
    }

    if let Some(m) = &r.memory {
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "memory: {} messages of {} B queued in one mailslotfs slot, daemon VmRSS",
            grouped(m.messages as f64),
            m.message_size
        );
        let _ = writeln!(
            t,
            "  before {:.0} KiB, queued {:.0} KiB, drained {:.0} KiB ({:+.1}%), slot closed {:.0} KiB",
            m.rss_before_kib,
            m.rss_queued_kib,
            m.rss_drained_kib,
            (m.drained_vs_before - 1.0) * 100.0,
            m.rss_closed_kib
        );
        let _ = writeln!(
            t,
            "  {:.1} bytes per queued message = 64 payload + {:.1} overhead",
            m.bytes_per_message, m.overhead_bytes_per_message
        );
    }

    if !r.notes.is_empty() {
        let _ = writeln!(t);
        for n in &r.notes {
            let _ = writeln!(t, "note: {n}");
        }
    }

    let _ = writeln!(t);
    let _ = writeln!(t, "targets");
    for g in &r.targets {
        let mark = match g.met {
            Some(true) => "MET ",
            Some(false) => "MISS",
            None => " -- ",
        };
        let _ = writeln!(
            t,
            "  [{mark}] {:<42} {:>14}  {}",
            g.goal, g.measured, g.detail
        );
    }
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

fn si(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{}G", v / 1e9),
        v if v >= 1e6 => format!("{}M", v / 1e6),
        v if v >= 1e3 => format!("{}k", v / 1e3),
        v => format!("{v}"),
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// One log-log panel: x is the message size (ticks at the measured sizes),
/// y the value, one line per system.
fn panel(
    area: &Area,
    title: &str,
    rows: &[&ThroughputRow],
    value: fn(&ThroughputRow) -> f64,
    legend: bool,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut sizes: Vec<usize> = rows.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let vals: Vec<f64> = rows
        .iter()
        .map(|r| value(r))
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if sizes.is_empty() || vals.is_empty() {
        return Ok(());
    }
    let lo = 10f64.powf(
        vals.iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .log10()
            .floor(),
    );
    let hi = 10f64.powf(
        vals.iter()
            .copied()
            .fold(0.0, f64::max)
            .log10()
            .ceil()
            .max(lo.log10() + 1.0),
    );
    let xs: Vec<f64> = sizes.iter().map(|&s| s as f64).collect();
    let (x_lo, x_hi) = (xs[0] / 1.3, xs[xs.len() - 1] * 1.3);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(50)
        .build_cartesian_2d(
            (x_lo..x_hi).log_scale().with_key_points(xs),
            (lo..hi).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_label_formatter(&|v| size_label(v.round() as usize))
        .y_label_formatter(&|v| si(*v))
        .x_desc("message size")
        .light_line_style(WHITE)
        .draw()?;
    // mailslotfs last, so that its line is drawn over the others.
    for sys in [
        System::Floor,
        System::Mqueue,
        System::Unix,
        System::Mailslotfs,
    ] {
        let mut pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.system == sys)
            .map(|r| (r.size as f64, value(r)))
            .filter(|(_, v)| v.is_finite() && *v > 0.0)
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        if pts.is_empty() {
            continue;
        }
        let c = color(sys);
        let line = chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?;
        if legend {
            line.label(sys.name())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(3)));
        }
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
    }
    if legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    Ok(())
}

pub fn svg(r: &Report) -> String {
    let rows: Vec<&ThroughputRow> = r
        .throughput
        .iter()
        .filter(|t| t.workload == "pairs")
        .collect();
    let mut out = String::new();
    let drawn = (|| -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::with_string(&mut out, (880, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        let (body, footer) = root.split_vertically(340);
        let panels = body.split_evenly((1, 2));
        panel(
            &panels[0],
            "messages/s, 1 writer → 1 reader",
            &rows,
            |r| r.msgs_per_s,
            true,
        )?;
        panel(
            &panels[1],
            "MB/s, 1 writer → 1 reader",
            &rows,
            |r| r.mb_per_s,
            false,
        )?;
        footer.draw(&Text::new(
            format!(
                "{} mode, median of {} run(s), {} CPUs, FUSE threads {}",
                r.settings.mode, r.settings.runs, r.machine.cpus, r.settings.fuse_threads
            ),
            (10, 2),
            ("sans-serif", 11)
                .into_font()
                .color(&RGBColor(0x66, 0x66, 0x66)),
        ))?;
        root.present()?;
        Ok(())
    })();
    if let Err(e) = drawn {
        eprintln!("mailslot-bench: drawing throughput.svg: {e}");
    }
    out
}

pub fn write_files(r: &Report, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(r)? + "\n",
    )?;
    std::fs::write(out.join("throughput.svg"), svg(r))?;
    std::fs::write(out.join("table.txt"), table(r))?;
    Ok(())
}
