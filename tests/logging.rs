//! The daemon's log always lands somewhere a sysadmin can read it back:
//! syslog when something listens on /dev/log, a file it names on stderr
//! when nothing does (a container), `--log-file`, and under systemd plain
//! lines with journal priorities. Each case runs the real daemon in a mount
//! namespace with a /dev of its own, so /dev/log is what the test makes it.

mod common;

use std::path::Path;

use common::{BIN, PRIVATE_DEV, in_mount_namespace};

fn dirs() -> (tempfile::TempDir, std::path::PathBuf) {
    common::require_fuse();
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("m");
    std::fs::create_dir(&mnt).unwrap();
    (dir, mnt)
}

/// What every case does once the daemon runs: a refused write (a debug
/// line with -v), a slot made and closed, then --stop.
const USE_AND_STOP: &str = r#"
echo hi > "$MNT/nobody" 2>/dev/null || true
exec 3<>"$MNT/slot"
exec 3<&-
"$BIN" --stop "$MNT"
"#;

#[test]
fn without_dev_log_the_daemon_names_its_log_file_and_writes_it() {
    let (dir, mnt) = dirs();
    // /var/log is a tmpfs of the namespace too: the test leaves no file.
    let script = format!(
        r#"set -e
{PRIVATE_DEV}
mount -t tmpfs mailslotfs-test-log /var/log
test ! -e /dev/log
"$BIN" -v "$MNT"
{USE_AND_STOP}
cat /var/log/mailslotfs.log
"#
    );
    let (code, log, err) = in_mount_namespace(&script, &[("BIN", Path::new(BIN)), ("MNT", &mnt)]);
    assert_eq!(code, 0, "stdout: {log}\nstderr: {err}");
    assert!(
        err.contains(
            "no syslog here (nothing listens on /dev/log); logging to /var/log/mailslotfs.log"
        ),
        "{err}"
    );
    for want in [
        "INFO mounted ",
        "DEBUG slot /slot created by uid 0",
        "DEBUG slot /slot closed by its server",
        "INFO SIGTERM: unmounting ",
    ] {
        assert!(log.contains(want), "{want:?} missing from the log:\n{log}");
    }
    // One timestamp each, the daemon's pid, no Rust debug text.
    for line in log.lines() {
        assert!(line.contains(" mailslotfs["), "{line}");
        assert!(
            !line.contains("Some(") && !line.contains("os error"),
            "{line}"
        );
    }
    drop(dir);
}

#[test]
fn with_a_listener_on_dev_log_the_daemon_logs_to_syslog() {
    let (dir, mnt) = dirs();
    let received = dir.path().join("syslog");
    let script = format!(
        r#"set -e
{PRIVATE_DEV}
python3 -c '
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
print("ready", flush=True)
with open(sys.argv[1], "ab") as out:
    while True:
        out.write(s.recv(65536) + b"\n"); out.flush()
' "$RECEIVED" > "$RECEIVED.ready" &
listener=$!
while ! grep -q ready "$RECEIVED.ready" 2>/dev/null; do sleep 0.05; done
"$BIN" -v "$MNT"
{USE_AND_STOP}
sleep 0.2
kill $listener
"#
    );
    let (code, out, err) = in_mount_namespace(
        &script,
        &[
            ("BIN", Path::new(BIN)),
            ("MNT", &mnt),
            ("RECEIVED", &received),
        ],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(!err.contains("no syslog"), "{err}");
    let log = std::fs::read_to_string(&received).unwrap();
    // RFC 3164, facility daemon: <30> is info, <31> debug.
    assert!(log.contains("<30>") && log.contains("mailslotfs["), "{log}");
    assert!(log.contains("mounted "), "{log}");
    assert!(
        log.contains("<31>") && log.contains("slot /slot created"),
        "{log}"
    );
    assert!(log.contains("SIGTERM: unmounting"), "{log}");
}

#[test]
fn a_log_file_takes_the_log_even_in_the_foreground() {
    let (dir, mnt) = dirs();
    let file = dir.path().join("daemon.log");
    let script = format!(
        r#"set -e
{PRIVATE_DEV}
"$BIN" --foreground --log-file "$LOG" "$MNT" 2> "$LOG.stderr" &
while ! mountpoint -q "$MNT"; do sleep 0.05; done
{USE_AND_STOP}
wait
"#
    );
    let (code, out, err) = in_mount_namespace(
        &script,
        &[("BIN", Path::new(BIN)), ("MNT", &mnt), ("LOG", &file)],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let log = std::fs::read_to_string(&file).unwrap();
    assert!(
        log.contains("INFO mounted ") && log.contains("SIGTERM"),
        "{log}"
    );
    let stderr = std::fs::read_to_string(dir.path().join("daemon.log.stderr")).unwrap();
    assert_eq!(stderr, "", "the log went to the file, not stderr");
}

/// Under systemd stderr is the journal (JOURNAL_STREAM names it): lines
/// carry `<N>` priorities and no timestamps, which the journal adds.
#[test]
fn under_the_journal_lines_carry_priorities_and_no_timestamps() {
    let (dir, mnt) = dirs();
    let stream = dir.path().join("journal");
    let script = r#"set -e
: > "$STREAM"
exec 2>> "$STREAM"
export JOURNAL_STREAM=$(stat -c '%d:%i' "$STREAM")
"$BIN" --foreground -v "$MNT" &
while ! mountpoint -q "$MNT"; do sleep 0.05; done
exec 3<>"$MNT/slot"
exec 3<&-
"$BIN" --stop "$MNT"
wait
"#;
    let (code, out, err) = in_mount_namespace(
        script,
        &[("BIN", Path::new(BIN)), ("MNT", &mnt), ("STREAM", &stream)],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let log = std::fs::read_to_string(&stream).unwrap();
    assert!(
        log.contains("\n<6>SIGTERM: unmounting ") || log.starts_with("<6>"),
        "{log}"
    );
    assert!(log.lines().any(|l| l.starts_with("<6>mounted ")), "{log}");
    assert!(
        log.lines().any(|l| l.starts_with("<7>slot /slot created")),
        "{log}"
    );
    for line in log.lines() {
        assert!(
            line.starts_with('<') && !line.contains("Z INFO") && !line.contains("Z DEBUG"),
            "a timestamp or no priority: {line}"
        );
    }
}
