//! Processes, mounts and system settings the benchmark starts or changes,
//! and the promise to undo every one of them: on a normal end, on an error,
//! on a panic and on SIGINT/SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::Result;
use crate::roles::{self, Role};

#[derive(Default)]
struct Undo {
    /// Our child processes and the signal that stops each cleanly.
    pids: Vec<(i32, i32)>,
    mounts: Vec<PathBuf>,
    /// Settings changed, with the value to put back.
    sysctls: Vec<(PathBuf, String)>,
    /// Directory of everything the run creates on disk.
    work: Option<PathBuf>,
    /// Prefix of the POSIX queues this run creates.
    mq_prefix: Option<String>,
    mq_dir: Option<PathBuf>,
    /// Network namespaces made for the receive workload, by name.
    netns: Vec<String>,
}

static UNDO: Mutex<Undo> = Mutex::new(Undo {
    pids: Vec::new(),
    mounts: Vec::new(),
    sysctls: Vec::new(),
    work: None,
    mq_prefix: None,
    mq_dir: None,
    netns: Vec::new(),
});

fn undo() -> std::sync::MutexGuard<'static, Undo> {
    UNDO.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn track_pid(pid: i32, stop_signal: i32) {
    undo().pids.push((pid, stop_signal));
}

pub fn untrack_pid(pid: i32) {
    undo().pids.retain(|(p, _)| *p != pid);
}

pub fn track_mount(path: &Path) {
    undo().mounts.push(path.to_owned());
}

pub fn untrack_mount(path: &Path) {
    undo().mounts.retain(|p| p != path);
}

pub fn track_netns(name: &str) {
    undo().netns.push(name.to_owned());
}

pub fn untrack_netns(name: &str) {
    undo().netns.retain(|n| n != name);
}

/// A copy of this program in the run's work directory, which other users
/// may search: the one built may sit where only its owner may enter (a
/// checkout in a 0700 directory), and roles run as other users need it.
fn exe_for_other_users() -> Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    static COPY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    if let Some(p) = COPY.get() {
        return Ok(p.clone());
    }
    let work = undo()
        .work
        .clone()
        .ok_or("roles as other users need the run's work directory")?;
    let copy = work.join("mailslot-bench-role");
    std::fs::copy(std::env::current_exe()?, &copy)?;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))?;
    Ok(COPY.get_or_init(|| copy).clone())
}

pub fn track_work_dir(path: &Path, mq_prefix: &str, mq_dir: &Path) {
    let mut u = undo();
    u.work = Some(path.to_owned());
    u.mq_prefix = Some(mq_prefix.to_owned());
    u.mq_dir = Some(mq_dir.to_owned());
}

/// Undoes everything still tracked. Safe to call more than once.
pub fn clean_up() {
    let mut u = undo();
    // Workers first (they hold files open on the mounts), servers last.
    for (pid, sig) in std::mem::take(&mut u.pids).into_iter().rev() {
        // SAFETY: signalling a child of ours by pid.
        unsafe { libc::kill(pid, sig) };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut status = 0;
            // SAFETY: reaping our own child.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r != 0 {
                break;
            }
            if Instant::now() > deadline {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                unsafe { libc::waitpid(pid, &mut status, 0) };
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    if let (Some(prefix), Some(dir)) = (u.mq_prefix.clone(), u.mq_dir.clone())
        && let Ok(entries) = std::fs::read_dir(&dir)
    {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix)
                && let Ok(c) = std::ffi::CString::new(format!("/{name}"))
            {
                // SAFETY: valid C string.
                unsafe { libc::mq_unlink(c.as_ptr()) };
            }
        }
    }
    for m in std::mem::take(&mut u.mounts).into_iter().rev() {
        if is_mounted(&m) {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    // Only the namespaces this run made, by name; their processes are gone.
    for ns in std::mem::take(&mut u.netns) {
        let _ = Command::new("ip")
            .args(["netns", "del", &ns])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    for (path, value) in std::mem::take(&mut u.sysctls).into_iter().rev() {
        let _ = std::fs::write(&path, &value);
    }
    if let Some(work) = u.work.take() {
        // Never delete through a mount that is somehow still there.
        if mounts_under(&work).is_empty() {
            let _ = std::fs::remove_dir_all(&work);
        } else {
            eprintln!(
                "mailslot-bench: mounts remain under {}; left in place",
                work.display()
            );
        }
    }
}

/// Cleans up on SIGINT/SIGTERM/SIGHUP, then exits.
pub fn clean_up_on_signals() -> Result<()> {
    let mut signals =
        signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP])?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            eprintln!("mailslot-bench: signal {sig}, cleaning up");
            clean_up();
            std::process::exit(128 + sig);
        }
    });
    Ok(())
}

/// Raises a /proc/sys setting to at least `min`, remembering the old value.
pub fn raise_sysctl(path: &str, min: u64) {
    let Ok(old) = std::fs::read_to_string(path) else {
        return;
    };
    let Ok(current) = old.trim().parse::<u64>() else {
        return;
    };
    if current >= min {
        return;
    }
    match std::fs::write(path, min.to_string()) {
        Ok(()) => undo()
            .sysctls
            .push((PathBuf::from(path), old.trim().to_owned())),
        Err(e) => eprintln!("mailslot-bench: cannot raise {path} to {min}: {e}"),
    }
}

/// Raises a resource limit as far as `want` (or the hard limit when not
/// privileged). Returns the soft limit in force afterwards.
pub fn raise_rlimit(resource: libc::__rlimit_resource_t, want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid rlimit pointer.
    unsafe { libc::getrlimit(resource, &mut lim) };
    let wanted = libc::rlimit {
        rlim_cur: want,
        rlim_max: lim.rlim_max.max(want),
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(resource, &wanted) } != 0 {
        let soft = libc::rlimit {
            rlim_cur: want.min(lim.rlim_max),
            rlim_max: lim.rlim_max,
        };
        unsafe { libc::setrlimit(resource, &soft) };
    }
    unsafe { libc::getrlimit(resource, &mut lim) };
    lim.rlim_cur
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mount_points() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split(' ')
                .nth(4)
                .map(|p| PathBuf::from(unescape_mountinfo(p)))
        })
        .collect()
}

pub fn is_mounted(path: &Path) -> bool {
    mount_points().iter().any(|p| p == path)
}

pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    mount_points()
        .into_iter()
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// Makes a spawned process die with us, so none outlives the benchmark
/// even when it is killed outright.
fn die_with_parent(cmd: &mut Command, sig: i32) {
    // SAFETY: getpid before the fork.
    let parent = unsafe { libc::getpid() };
    // SAFETY: prctl and getppid are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Makes a spawned process enter network namespace `netns` (a name under
/// /run/netns) before it runs; the returned descriptor must outlive the
/// spawn.
fn enter_netns(cmd: &mut Command, netns: Option<&str>) -> Result<Option<std::fs::File>> {
    let Some(name) = netns else {
        return Ok(None);
    };
    let file = std::fs::File::open(format!("/run/netns/{name}"))
        .map_err(|e| format!("network namespace {name}: {e}"))?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    // SAFETY: setns is async-signal-safe; the descriptor stays open in the
    // parent until the child has exec'd.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(Some(file))
}

/// CPU time all threads of `pid` have run, in nanoseconds (schedstat),
/// or `None` if the process cannot be read.
pub fn cpu_ns(pid: i32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let text = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// Resident memory of `pid` in bytes.
pub fn rss_bytes(pid: i32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or("no VmRSS line")?;
    Ok(kib * 1024)
}

/// A mounted filesystem served by a child process: the mailslotfs daemon or
/// the floor.
pub struct Mounted {
    child: Child,
    pub mountpoint: PathBuf,
    log: Option<PathBuf>,
    _lines: Option<Receiver<String>>,
}

impl Mounted {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// `mailslotfs --foreground [extra] MOUNTPOINT`, ready once the mount is
    /// listed in mountinfo and answers.
    pub fn mailslotfs(
        binary: &Path,
        mountpoint: &Path,
        extra: &[String],
        log: &Path,
    ) -> Result<Self> {
        Self::mailslotfs_in(binary, mountpoint, extra, log, None)
    }

    /// As [`Mounted::mailslotfs`], the daemon in network namespace `netns`.
    pub fn mailslotfs_in(
        binary: &Path,
        mountpoint: &Path,
        extra: &[String],
        log: &Path,
        netns: Option<&str>,
    ) -> Result<Self> {
        let mut cmd = Command::new(binary);
        cmd.arg("--foreground")
            .args(extra)
            .arg(mountpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?);
        die_with_parent(&mut cmd, libc::SIGTERM);
        let ns = enter_netns(&mut cmd, netns)?;
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        drop(ns);
        track_pid(child.id() as i32, libc::SIGTERM);
        track_mount(mountpoint);
        let mut m = Self {
            child,
            mountpoint: mountpoint.to_owned(),
            log: Some(log.to_owned()),
            _lines: None,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(is_mounted(mountpoint) && mailslotfs::daemon::is_fuse(mountpoint)) {
            if let Some(status) = m.child.try_wait()? {
                untrack_pid(m.pid());
                return Err(format!(
                    "mailslotfs exited ({status}) while mounting: {}",
                    m.log_text()
                )
                .into());
            }
            if Instant::now() > deadline {
                return Err(
                    format!("mailslotfs did not mount {} in time", mountpoint.display()).into(),
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::fs::metadata(mountpoint)?;
        Ok(m)
    }

    /// A floor, served by this same binary in a child process.
    pub fn floor(mountpoint: &Path, kind: crate::floor::FloorKind) -> Result<Self> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg(crate::floor::SUBCOMMAND)
            .arg(mountpoint)
            .arg(kind.name())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        die_with_parent(&mut cmd, libc::SIGTERM);
        let mut child = cmd.spawn()?;
        track_pid(child.id() as i32, libc::SIGTERM);
        track_mount(mountpoint);
        let lines = line_reader(child.stdout.take().expect("piped stdout"));
        let m = Self {
            child,
            mountpoint: mountpoint.to_owned(),
            log: None,
            _lines: None,
        };
        match lines.recv_timeout(Duration::from_secs(20)) {
            Ok(l) if l == "ready" => Ok(Self {
                _lines: Some(lines),
                ..m
            }),
            Ok(l) => Err(format!("floor {}: {l}", kind.name()).into()),
            Err(_) => Err(format!("the floor filesystem {} did not start", kind.name()).into()),
        }
    }

    fn log_text(&self) -> String {
        self.log
            .as_ref()
            .and_then(|l| std::fs::read_to_string(l).ok())
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// SIGTERM, which unmounts; waits; makes sure the mount is gone.
    pub fn stop(mut self) -> Result<()> {
        let pid = self.pid();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = self.child.try_wait()? {
                break Some(s);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        untrack_pid(pid);
        let left = is_mounted(&self.mountpoint);
        if left {
            let _ = nix::mount::umount2(&self.mountpoint, nix::mount::MntFlags::MNT_DETACH);
        }
        untrack_mount(&self.mountpoint);
        match status {
            Some(s) if s.success() && !left => Ok(()),
            Some(s) => Err(format!(
                "{} server exited with {s}{}",
                self.mountpoint.display(),
                if left {
                    " and left its mount behind"
                } else {
                    ""
                }
            )
            .into()),
            None => Err(format!(
                "{} server did not stop on SIGTERM",
                self.mountpoint.display()
            )
            .into()),
        }
    }
}

fn line_reader<R: std::io::Read + Send + 'static>(r: R) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// One process of a workload: this binary re-run with a hidden role. It
/// prints `ready` once set up, waits for a command on stdin, and answers
/// each with one `result JSON` line.
pub struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    what: String,
    timeout: Duration,
}

impl Worker {
    pub fn spawn(role: &Role, timeout: Duration) -> Result<Self> {
        Self::spawn_as(role, timeout, None)
    }

    /// As [`Worker::spawn`], the process running as user `uid` (its group
    /// `uid` too, no supplementary groups) when given.
    pub fn spawn_as(role: &Role, timeout: Duration, uid: Option<u32>) -> Result<Self> {
        Self::spawn_in(role, timeout, uid, None)
    }

    /// As [`Worker::spawn_as`], the process in network namespace `netns`.
    pub fn spawn_in(
        role: &Role,
        timeout: Duration,
        uid: Option<u32>,
        netns: Option<&str>,
    ) -> Result<Self> {
        let json = serde_json::to_string(role)?;
        let mut cmd = match uid {
            Some(uid) => {
                let mut c = Command::new(exe_for_other_users()?);
                c.uid(uid).gid(uid);
                c
            }
            None => Command::new(std::env::current_exe()?),
        };
        cmd.arg(roles::SUBCOMMAND)
            .arg(&json)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        die_with_parent(&mut cmd, libc::SIGKILL);
        let ns = enter_netns(&mut cmd, netns)?;
        let mut child = cmd.spawn()?;
        drop(ns);
        track_pid(child.id() as i32, libc::SIGKILL);
        let lines = line_reader(child.stdout.take().expect("piped stdout"));
        Ok(Self {
            stdin: child.stdin.take(),
            child,
            lines,
            what: role.describe(),
            timeout,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn line(&self) -> Result<String> {
        match self.lines.recv_timeout(self.timeout) {
            Ok(l) => match l.strip_prefix("error ") {
                Some(e) => Err(format!("{}: {e}", self.what).into()),
                None => Ok(l),
            },
            Err(RecvTimeoutError::Timeout) => {
                Err(format!("{}: no answer within {:?}", self.what, self.timeout).into())
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(format!("{}: exited unexpectedly", self.what).into())
            }
        }
    }

    /// Runs `role` from start to end: ready, go, its one result, a clean
    /// exit.
    pub fn run<T: DeserializeOwned>(role: &Role, timeout: Duration) -> Result<T> {
        let mut worker = Self::spawn(role, timeout)?;
        worker.ready()?;
        worker.send("go")?;
        let result = worker.result()?;
        worker.finish()?;
        Ok(result)
    }

    pub fn ready(&self) -> Result<()> {
        match self.line()?.as_str() {
            "ready" => Ok(()),
            other => Err(format!("{}: expected ready, got {other:?}", self.what).into()),
        }
    }

    pub fn send(&mut self, command: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        stdin.write_all(format!("{command}\n").as_bytes())?;
        stdin.flush()?;
        Ok(())
    }

    pub fn result<T: DeserializeOwned>(&self) -> Result<T> {
        let line = self.line()?;
        let json = line
            .strip_prefix("result ")
            .ok_or_else(|| format!("{}: unexpected output {line:?}", self.what))?;
        Ok(serde_json::from_str(json)?)
    }

    /// Closes stdin and waits for a clean exit.
    pub fn finish(mut self) -> Result<()> {
        self.stdin = None;
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                untrack_pid(self.pid());
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!("{}: exited with {status}", self.what).into())
                };
            }
            if Instant::now() > deadline {
                return Err(format!("{}: did not exit", self.what).into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        untrack_pid(self.child.id() as i32);
    }
}
