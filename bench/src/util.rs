//! Small helpers the roles, the report and the receive workload all use,
//! kept apart so that none of those modules needs another's.

use std::io::Write;

use num_format::{Locale, ToFormattedString};

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of a run,
/// so that a writer's start and a reader's end can be subtracted.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid timespec pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
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

/// 1234567.8 → "1,234,568".
pub fn grouped(x: f64) -> String {
    if x.is_finite() {
        (x.round() as i64).to_formatted_string(&Locale::en)
    } else {
        "—".into()
    }
}
