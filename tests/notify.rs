//! Service readiness as systemd sees it (Type=notify): READY=1 arrives only
//! once the mount answers, and STOPPING=1 when SIGTERM stops the daemon,
//! which then exits 0.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, is_mounted, require_fuse, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Generous: a bound on a hang, not a measurement.
const LIVENESS: Duration = Duration::from_secs(30);

/// Waits for a datagram that has the line `wanted`; earlier other states are
/// collected and returned for the failure message.
fn await_state(socket: &UnixDatagram, wanted: &str, seen: &mut Vec<String>) -> bool {
    let deadline = Instant::now() + LIVENESS;
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match socket.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let found = msg.lines().any(|l| l == wanted);
                seen.push(msg);
                if found {
                    return true;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn ready_once_the_mount_answers_and_stopping_on_sigterm() {
    require_fuse();
    let dir = tempfile::Builder::new()
        .prefix("mailslotfs-notify")
        .tempdir()
        .unwrap();
    let mountpoint = dir.path().join("m");
    std::fs::create_dir(&mountpoint).unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let log = dir.path().join("daemon.log");

    let mut daemon = Command::new(BIN)
        .arg("--foreground")
        .arg(&mountpoint)
        .env("NOTIFY_SOCKET", &socket_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting mailslotfs");
    let pid = Pid::from_raw(daemon.id() as i32);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

    // Whatever happens below, the daemon we started does not outlive the test.
    struct Reap<'a>(&'a mut std::process::Child, &'a Path);
    impl Drop for Reap<'_> {
        fn drop(&mut self) {
            if self.0.try_wait().ok().flatten().is_none() {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
            if is_mounted(self.1) {
                let _ = Command::new("umount").arg("-l").arg(self.1).status();
            }
        }
    }
    let reap = Reap(&mut daemon, &mountpoint);

    let mut seen = Vec::new();
    assert!(
        await_state(&socket, "READY=1", &mut seen),
        "no READY=1 (got {seen:?}): {}",
        read_log()
    );
    // At the moment READY arrives the mount must already answer.
    assert!(is_mounted(&mountpoint), "READY=1 before the mount exists");
    let meta = std::fs::metadata(&mountpoint).expect("stat of the mount right after READY");
    assert!(meta.is_dir());
    // Nothing but the shared `net` directory, which exists from the start.
    let names: Vec<_> = std::fs::read_dir(&mountpoint)
        .expect("listing the mount right after READY")
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["net"]);
    assert!(
        !seen.iter().any(|m| m.contains("STOPPING=1")),
        "STOPPING before SIGTERM: {seen:?}"
    );

    kill(pid, Signal::SIGTERM).unwrap();
    let mut after = Vec::new();
    assert!(
        await_state(&socket, "STOPPING=1", &mut after),
        "no STOPPING=1 after SIGTERM (got {after:?}): {}",
        read_log()
    );
    wait_until("the daemon to exit after SIGTERM", LIVENESS, || {
        reap.0.try_wait().unwrap().is_some()
    });
    let status = reap.0.wait().unwrap();
    assert!(status.success(), "exit status {status}: {}", read_log());
    wait_until("the mount to go", LIVENESS, || !is_mounted(&mountpoint));
    drop(reap);
}
