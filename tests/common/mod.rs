//! Mounting a real mailslotfs in a temporary directory and talking to it
//! with real processes. No test skips: a machine without FUSE fails loudly.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mailslotfs");

pub fn require_fuse() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: these tests need FUSE (modprobe fuse; apt-get install fuse3)"
    );
    assert!(
        nix::unistd::geteuid().is_root(),
        "the integration tests mount filesystems and switch users: run them as root"
    );
}

/// A copy of the executable `bin` in `dir` (made 0755, like its new copy),
/// for tests that run it as another user: the checkout, and so `target/`,
/// may sit where only its owner may enter (a clone in a `mktemp -d`).
pub fn copy_for_other_users(bin: &str, dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join(Path::new(bin).file_name().unwrap());
    fs::copy(bin, &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// Runs `sh -c script` in a mount namespace of its own (mounts made there,
/// such as a private /dev, vanish with it), with `envs` set. Returns
/// (exit status, stdout, stderr).
pub fn in_mount_namespace(script: &str, envs: &[(&str, &Path)]) -> (i32, String, String) {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", script]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("unshare (util-linux) is needed by the tests");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Shell lines that give a mount namespace a /dev of its own with only
/// null and fuse in it: no /dev/log, as in many containers.
pub const PRIVATE_DEV: &str = "
mount -t tmpfs -o mode=755 mailslotfs-test-dev /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/fuse c 10 229
";

/// Whether `path` is currently a mount point of ours, per mountinfo.
pub fn is_mounted(path: &Path) -> bool {
    let path = path.to_string_lossy();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(&*path) && l.contains("fuse.mailslotfs"))
}

/// The state letter (R, S, D, T, Z, …) in a process's or thread's `stat`
/// file; `None` once it is gone.
pub fn state_of(stat: &Path) -> Option<char> {
    let stat = fs::read_to_string(stat).ok()?;
    stat.rsplit(')').next()?.trim_start().chars().next()
}

pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A mailslotfs daemon in the foreground on a fresh temporary directory.
pub struct Mount {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub child: Option<Child>,
    log: PathBuf,
}

impl Mount {
    pub fn start() -> Mount {
        Self::with_args(&[])
    }

    pub fn with_args(args: &[&str]) -> Mount {
        Self::wrapped(&[], args)
    }

    /// The daemon started through `prefix` (such as `prlimit --nofile=…` or
    /// `unshare --pid --fork`), which runs it or forks it.
    pub fn wrapped(prefix: &[&str], args: &[&str]) -> Mount {
        require_fuse();
        let dir = tempfile::Builder::new()
            .prefix("mailslotfs-test")
            .tempdir()
            .unwrap();
        let path = dir.path().join("m");
        fs::create_dir(&path).unwrap();
        let log = dir.path().join("daemon.log");
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let child = cmd
            .arg("--foreground")
            .arg("-v")
            .args(args)
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting mailslotfs");
        let mut m = Mount {
            dir,
            path,
            child: Some(child),
            log,
        };
        let start = Instant::now();
        while !is_mounted(&m.path) {
            if let Some(status) = m.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("mailslotfs exited at start ({status}): {}", m.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "mount never appeared: {}",
                m.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // Mounted is not yet answering: wait until a stat goes through.
        fs::metadata(&m.path).unwrap();
        m
    }

    pub fn p(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn s(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// The daemon's pid: the child itself, or the one process a wrapper
    /// that forks (such as `unshare --fork`) started.
    pub fn pid(&self) -> i32 {
        let child = self.child.as_ref().unwrap().id() as i32;
        let exe = fs::read_link(format!("/proc/{child}/exe")).unwrap_or_default();
        if exe.file_name() == Path::new(BIN).file_name() {
            return child;
        }
        let children =
            fs::read_to_string(format!("/proc/{child}/task/{child}/children")).unwrap_or_default();
        children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(child)
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `sig` to the daemon and waits for it to exit.
    pub fn signal_and_wait(&mut self, sig: nix::sys::signal::Signal) -> std::process::ExitStatus {
        let daemon = self.pid();
        let mut child = self.child.take().expect("daemon still ours");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon), sig).unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("daemon did not exit after {sig}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.signal_and_wait(nix::sys::signal::Signal::SIGTERM);
        }
        // The watcher unmounts after a crash; give it a moment, then make
        // sure nothing of ours is left mounted.
        let start = Instant::now();
        while is_mounted(&self.path) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if is_mounted(&self.path) {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// Runs `sh -c script` with `M` set to the mount point.
pub fn sh(m: &Mount, script: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("M", &m.path)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs a Python script with the mount point as `M` (a str) and helpers
/// preloaded; returns (stdout, stderr) and fails the test on a non-zero exit.
pub fn py(m: &Mount, script: &str) -> String {
    let out = py_output(m, script);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}\n--- daemon\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        m.log()
    );
    stdout
}

pub const PY_PRELUDE: &str = r#"
import os, sys, errno, time, signal, select, socket, struct, threading
M = sys.argv[1]
def P(name): return os.path.join(M, name)
def err(f, *a):
    try:
        f(*a)
    except OSError as e:
        return errno.errorcode[e.errno]
    return "OK"
def server(name, flags=os.O_RDONLY, mode=0o666):
    return os.open(P(name), os.O_CREAT | flags, mode)
def client(name):
    return os.open(P(name), os.O_WRONLY)
def send(name, data):
    fd = client(name)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)
def xattr(name, attr):
    return os.getxattr(P(name), "user.mailslot." + attr).decode()
def until(done, what):
    t = time.time()
    while not done():
        assert time.time() - t < 10, "timed out waiting for " + what()
        time.sleep(0.005)
def await_waiting(name, n):
    # The daemon's own count, not a pause: on a busy machine a reader
    # forked a moment ago may not have reached its read yet.
    until(lambda: xattr(name, "waiting_readers") == str(n),
          lambda: "%s waiting on %s, not %d" % (xattr(name, "waiting_readers"), name, n))
"#;

pub fn py_output(m: &Mount, script: &str) -> Output {
    let mut child = Command::new("python3")
        .arg("-u")
        .arg("-")
        .arg(&m.path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed by the tests");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(PY_PRELUDE.as_bytes()).unwrap();
    stdin.write_all(script.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}
