//! What the reliability tests share: the long/short switch, Python runs
//! that cannot hang the suite, the daemon's memory and health.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::{Mount, PY_PRELUDE};

/// `MAILSLOTFS_LONG=1` asks for the long variants.
pub fn long() -> bool {
    std::env::var("MAILSLOTFS_LONG").is_ok_and(|v| v == "1")
}

/// `short` in the normal suite, `long` under `MAILSLOTFS_LONG=1`.
pub fn pick<T>(short: T, long_value: T) -> T {
    if long() { long_value } else { short }
}

/// A seed for the random choices of a test: `MAILSLOTFS_SEED` to replay a
/// run, otherwise the clock. Tests print it so any failure can be replayed.
pub fn seed() -> u64 {
    std::env::var("MAILSLOTFS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                % 1_000_000_007
        })
}

/// Python with the prelude, `vars` and `script` on its stdin and the mount
/// point as its argument, in a process group of its own (so a hang can be
/// ended with every child it forked).
fn spawn_python(mount_point: &std::path::Path, vars: &str, script: &str) -> std::process::Child {
    let mut child = Command::new("python3")
        .arg("-u")
        .arg("-")
        .arg(mount_point)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("python3 is needed by the tests");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(PY_PRELUDE.as_bytes()).unwrap();
    stdin.write_all(vars.as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.write_all(script.as_bytes()).unwrap();
    drop(stdin);
    child
}

/// Runs the prelude, `vars` (Python assignments) and `script` with the
/// mount point as argument, in a process group of its own. Fails the test
/// when Python fails or is still running after `limit`: then the whole
/// group (Python and every child it forked) is killed, so a hang is a
/// failure with a message, never a suite that never ends.
pub fn py_within(m: &Mount, vars: &str, script: &str, limit: Duration) -> String {
    let mut child = spawn_python(&m.path, vars, script);
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > limit {
            let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
            let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Children forked by the script may outlive it; they belong to its group.
    let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
    let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
    let stdout = out.join().unwrap();
    let stderr = err.join().unwrap();
    match status {
        Some(s) if s.success() => stdout,
        Some(s) => panic!(
            "python failed ({s}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- daemon log (tail)\n{}",
            log_tail(m)
        ),
        None => panic!(
            "python still running after {limit:?}: a hang\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- daemon log (tail)\n{}",
            log_tail(m)
        ),
    }
}

/// A Python script left running while the test does something to the
/// daemon; its stdout arrives line by line.
pub struct PyChild {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Option<JoinHandle<String>>,
}

impl PyChild {
    pub fn spawn(mount_point: &std::path::Path, vars: &str, script: &str) -> PyChild {
        let mut child = spawn_python(mount_point, vars, script);
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Some(drain(child.stderr.take().unwrap()));
        PyChild {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    /// Waits for a line equal to `line`.
    pub fn expect_line(&mut self, line: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l == line => return,
                Ok(l) => self.seen.push(l),
                Err(_) => panic!(
                    "no line {line:?} from python within {limit:?}; output so far:\n{}\n{}",
                    self.seen.join("\n"),
                    self.stop()
                ),
            }
        }
    }

    /// Waits until the script exits, at most `limit`; returns its output
    /// after the lines already consumed. Fails on a non-zero exit or a hang.
    pub fn finish(mut self, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let rest: Vec<String> = self.lines.iter().collect();
                self.seen.extend(rest);
                let out = self.seen.join("\n");
                let err = self.stderr.take().unwrap().join().unwrap();
                self.kill_group();
                assert!(
                    status.success(),
                    "python failed ({status}):\n{out}\n--- stderr\n{err}"
                );
                return out;
            }
            if start.elapsed() > limit {
                panic!(
                    "python still running after {limit:?}: a hang\n{}",
                    self.stop()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill_group(&mut self) {
        let group = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
    }

    fn stop(&mut self) -> String {
        self.kill_group();
        let _ = self.child.wait();
        let rest: Vec<String> = self.lines.try_iter().collect();
        let err = self
            .stderr
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        format!("{}\n--- stderr\n{err}", rest.join("\n"))
    }
}

impl Drop for PyChild {
    fn drop(&mut self) {
        self.kill_group();
        let _ = self.child.wait();
    }
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// The last lines of the daemon's log, for failure messages.
pub fn log_tail(m: &Mount) -> String {
    let log = m.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// `key=value` lines of a script's output.
pub fn figures(out: &str) -> HashMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

pub fn figure(f: &HashMap<String, String>, key: &str) -> u64 {
    f.get(key)
        .unwrap_or_else(|| panic!("figure {key} missing from {f:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("figure {key} is not a number: {f:?}"))
}

/// Resident memory of `pid` in KiB, from `/proc/<pid>/status`.
pub fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading the status of pid {pid}: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for pid {pid}"))
}

/// The daemon's resident memory once it has settled: the smallest of a few
/// readings, so a reading taken while a request is being served does not
/// count as the baseline or as a leak.
pub fn settled_rss_kib(pid: i32) -> u64 {
    (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            rss_kib(pid)
        })
        .min()
        .unwrap()
}

/// Samples a process's resident memory in the background; `stop` returns
/// the highest reading.
pub struct RssWatch {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl RssWatch {
    pub fn start(pid: i32) -> RssWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    && let Some(kib) = text
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssWatch {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The daemon still runs (not exited, not a zombie) and its log has no
/// panic: every refusal on the way was an answer, not a crash.
pub fn assert_daemon_healthy(m: &Mount) {
    let pid = m.pid();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(')').next().unwrap_or("").trim_start();
    assert!(
        !stat.is_empty() && !state.starts_with('Z') && !state.starts_with('X'),
        "the daemon (pid {pid}) is gone: {stat:?}\n{}",
        log_tail(m)
    );
    let log = m.log();
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("panic") || l.contains("internal error")
        })
        .collect();
    assert!(
        bad.is_empty(),
        "the daemon log reports a crash:\n{}",
        bad.join("\n")
    );
}

/// Writes a line of figures to the test's captured stderr: shown for a
/// failing test, and by `cargo test -- --nocapture`, where the long runs'
/// figures in docs/reliability.md come from; not in every run's output.
pub fn report(test: &str, out: &str) {
    for line in out.lines().filter(|l| l.contains('=')) {
        eprintln!("[{test}] {line}");
    }
}
