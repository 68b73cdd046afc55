//! Where the log goes, so that it always goes somewhere:
//!
//! - `--log-file FILE`: appended to FILE, one timestamped line each;
//! - `--foreground` under systemd (stderr is the journal's stream): plain
//!   lines with `<N>` priority prefixes, since the journal adds the
//!   timestamps and reads the priorities;
//! - `--foreground` elsewhere: stderr, timestamped;
//! - daemonized: syslog (`/dev/log`), or where there is none (a container,
//!   say) a file, named on stderr before the daemon detaches.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use log::{Level, LevelFilter, Log, Metadata, Record};
use parking_lot::Mutex;

use crate::cli::{Options, error_text};

/// A chosen log destination, opened (or connected) before the daemon
/// detaches, so that a failure is still reported on the terminal.
pub enum Sink {
    Stderr,
    Journal,
    Syslog(syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>),
    File(File),
}

/// Where the daemon's log goes when it is daemonized and no syslog answers.
pub fn fallback_log_file() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/log/mailslotfs.log");
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    state.join("mailslotfs.log")
}

pub fn choose(opts: &Options) -> Result<Sink, String> {
    if let Some(path) = &opts.log_file {
        return open_log_file(path).map(Sink::File);
    }
    if opts.foreground {
        return Ok(if stderr_is_the_journal() {
            Sink::Journal
        } else {
            Sink::Stderr
        });
    }
    let formatter = syslog::Formatter3164 {
        facility: syslog::Facility::LOG_DAEMON,
        hostname: None,
        process: "mailslotfs".into(),
        pid: std::process::id(),
    };
    if let Ok(logger) = syslog::unix(formatter) {
        return Ok(Sink::Syslog(logger));
    }
    let path = fallback_log_file();
    match open_log_file(&path) {
        Ok(file) => {
            eprintln!(
                "mailslotfs: no syslog here (nothing listens on /dev/log); logging to {}",
                path.display()
            );
            Ok(Sink::File(file))
        }
        Err(e) => Err(format!(
            "no syslog here (nothing listens on /dev/log) and {e}; \
             give --log-file FILE, or run with --foreground"
        )),
    }
}

fn open_log_file(path: &Path) -> Result<File, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .map_err(|e| {
            format!(
                "cannot write the log file {}: {}",
                path.display(),
                error_text(&e)
            )
        })
}

/// systemd sets JOURNAL_STREAM to the device and inode of the stream it
/// connected to stderr; a match means the journal reads what we write.
fn stderr_is_the_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let Ok(st) = nix::sys::stat::fstat(std::io::stderr()) else {
        return false;
    };
    dev.parse::<u64>().ok() == Some(st.st_dev) && ino.parse::<u64>().ok() == Some(st.st_ino)
}

struct Filtered<L> {
    inner: L,
    level: LevelFilter,
}

impl<L: Log> Filtered<L> {
    fn wanted(&self, m: &Metadata) -> bool {
        m.level() <= self.level
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

/// One line per record: `TIME mailslotfs[PID]: LEVEL message`. The file is
/// opened for appending, so lines of the daemon and its watcher never
/// overwrite each other.
struct FileLogger {
    file: Mutex<File>,
}

impl Log for FileLogger {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        let line = format!(
            "{} mailslotfs[{}]: {} {}\n",
            humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
            std::process::id(),
            record.level(),
            record.args()
        );
        let _ = self.file.lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = self.file.lock().flush();
    }
}

/// sd-daemon(3) priorities, which the journal reads from the start of a line.
fn journal_priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

fn install(inner: impl Log + 'static, level: LevelFilter) {
    if log::set_boxed_logger(Box::new(Filtered { inner, level })).is_ok() {
        log::set_max_level(level);
    }
}

pub fn init(sink: Sink, level: LevelFilter) {
    match sink {
        Sink::Syslog(logger) => install(syslog::BasicLogger::new(logger), level),
        Sink::File(file) => install(
            FileLogger {
                file: Mutex::new(file),
            },
            level,
        ),
        Sink::Journal => install(
            env_logger::Builder::new()
                .filter_level(LevelFilter::Trace)
                .format(|out, record| {
                    writeln!(
                        out,
                        "<{}>{}",
                        journal_priority(record.level()),
                        record.args()
                    )
                })
                .build(),
            level,
        ),
        Sink::Stderr => install(
            env_logger::Builder::new()
                .filter_level(LevelFilter::Trace)
                .format_target(false)
                .build(),
            level,
        ),
    }
}
