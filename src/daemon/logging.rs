//! Log output: stderr in the foreground, syslog (the journal under systemd)
//! when daemonized. fuser's own per-request debug lines are kept out unless
//! trace output is asked for.

use log::{LevelFilter, Log, Metadata, Record};

struct Filtered<L> {
    inner: L,
    level: LevelFilter,
}

impl<L: Log> Filtered<L> {
    fn wanted(&self, m: &Metadata) -> bool {
        let limit = if m.target().starts_with("fuser") && self.level < LevelFilter::Trace {
            LevelFilter::Warn
        } else {
            self.level
        };
        m.level() <= limit
    }
}

impl<L: Log> Log for Filtered<L> {
    fn enabled(&self, m: &Metadata) -> bool {
        self.wanted(m) && self.inner.enabled(m)
    }

    fn log(&self, record: &Record) {
        if self.wanted(record.metadata()) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

fn install(inner: impl Log + 'static, level: LevelFilter) {
    if log::set_boxed_logger(Box::new(Filtered { inner, level })).is_ok() {
        log::set_max_level(level);
    }
}

pub fn init(foreground: bool, level: LevelFilter) {
    if !foreground {
        let formatter = syslog::Formatter3164 {
            facility: syslog::Facility::LOG_DAEMON,
            hostname: None,
            process: "mailslotfs".into(),
            pid: std::process::id(),
        };
        if let Ok(logger) = syslog::unix(formatter) {
            return install(syslog::BasicLogger::new(logger), level);
        }
    }
    let logger = env_logger::Builder::new()
        .filter_level(LevelFilter::Trace)
        .format_target(false)
        .build();
    install(logger, level);
}
