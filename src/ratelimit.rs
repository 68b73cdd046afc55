//! Log lines that users and hosts provoke, rate-limited per cause and per
//! who provoked them: the disk and the syslog are everybody's. Each (cause,
//! who) gets at most [`BURST`] lines per [`WINDOW`]; past that its lines are
//! counted, one line says that they are being suppressed, and once the
//! window is over one summary line says how many were. So whatever one user
//! or host does costs at most `(BURST + 2) * 60 / WINDOW` lines a minute
//! per cause.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use log::Level;
use parking_lot::Mutex;

pub const WINDOW: Duration = Duration::from_secs(10);
pub const BURST: u32 = 5;
/// Keys remembered at once; past this, new ones share one key, so that
/// hosts with ever new addresses cannot grow the table.
const MAX_KEYS: usize = 4096;
const OTHERS: &str = "others";

struct Entry {
    started: Instant,
    level: Level,
    emitted: u32,
    suppressed: u64,
}

#[derive(Default)]
struct Limiter {
    entries: Mutex<HashMap<(&'static str, String), Entry>>,
}

static LIMITER: LazyLock<Limiter> = LazyLock::new(Limiter::default);

fn summary(cause: &str, who: &str, e: &Entry) {
    log::log!(
        e.level,
        "{} more '{cause}' line(s) for {who} suppressed in the last {}s",
        e.suppressed,
        WINDOW.as_secs()
    );
}

/// Logs `args` at `level` unless `who` has had its [`BURST`] of `cause`
/// lines in this window.
pub fn log(level: Level, cause: &'static str, who: &str, args: fmt::Arguments<'_>) {
    if !log::log_enabled!(level) {
        return;
    }
    let now = Instant::now();
    let (emit, notice) = {
        let mut entries = LIMITER.entries.lock();
        let who_key = if entries.len() >= MAX_KEYS && !entries.contains_key(&(cause, who.into())) {
            OTHERS
        } else {
            who
        };
        let e = entries
            .entry((cause, who_key.to_string()))
            .or_insert_with(|| Entry {
                started: now,
                level,
                emitted: 0,
                suppressed: 0,
            });
        if now.duration_since(e.started) >= WINDOW {
            if e.suppressed > 0 {
                summary(cause, who_key, e);
            }
            e.started = now;
            e.emitted = 0;
            e.suppressed = 0;
        }
        if e.emitted < BURST {
            e.emitted += 1;
            (true, false)
        } else {
            e.suppressed += 1;
            (false, e.suppressed == 1)
        }
    };
    if emit {
        log::log!(level, "{args}");
    } else if notice {
        log::log!(
            level,
            "more '{cause}' lines for {who} are suppressed for up to {}s",
            WINDOW.as_secs()
        );
    }
}

/// Writes the summary of every window that is over, and forgets keys that
/// have been quiet for a window; called about once a second.
pub fn flush() {
    let now = Instant::now();
    LIMITER.entries.lock().retain(|(cause, who), e| {
        if now.duration_since(e.started) < WINDOW {
            return true;
        }
        if e.suppressed > 0 {
            summary(cause, who, e);
        }
        false
    });
}

/// Starts the thread that calls [`flush`], once.
pub fn start_flusher() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("mailslot-logsum".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    flush();
                }
            });
    });
}
