//! Starting, stopping and surviving the daemon: start-up errors, daemon mode,
//! umount, SIGTERM, SIGKILL, --stop, the unmount watcher and mount.fuse3.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{BIN, Mount, is_mounted, state_of, wait_until};
use nix::sys::signal::Signal;

fn start_error(args: &[&str], mountpoint: &Path) -> String {
    failure(1, args, Some(mountpoint))
}

/// Runs the daemon, expects exit status `code` and one clear line on
/// stderr, free of library wording, and returns that line.
fn failure(code: i32, args: &[&str], mountpoint: Option<&Path>) -> String {
    let out = Command::new(BIN)
        .args(args)
        .args(mountpoint)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(code), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "one clear line, got: {err}");
    for leak in ["os error", "expected number", "\\\\", "Some(", "\"\\"] {
        assert!(!err.contains(leak), "library text {leak:?} in: {err}");
    }
    err
}

/// Every command-line mistake is a usage error (exit 2, as --help says),
/// told in one line that names what was wrong.
#[test]
fn command_line_mistakes_exit_2_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let m = Some(dir.path());
    assert!(failure(2, &[], None).contains("<MOUNTPOINT>"));
    assert!(failure(2, &["-o", "bogus"], m).contains("unknown mount option 'bogus'"));
    assert!(failure(2, &["-o", "threads=0"], m).contains("threads=0"));
    assert!(failure(2, &["-o", "read_timeout=soon"], m).contains("'soon' is not a timeout"));
    assert!(failure(2, &["--read-timeout", "soon"], m).contains("'soon' is not a timeout"));
    assert!(failure(2, &["--max-queued-bytes", r"\x"], m).contains(r"'\x' is not a size"));
    let err = failure(2, &["--read-timeout", "5s", "-o", "read_timeout=1s"], m);
    assert!(err.contains("disagrees with --read-timeout"), "{err}");
    let err = failure(
        2,
        &["--max-queued-bytes", "2MiB", "--max-total-bytes", "1MiB"],
        m,
    );
    assert!(err.contains("above max_total_bytes"), "{err}");
    // Checked only once the kernel's ceiling is known, and still the
    // command line's mistake.
    let err = failure(2, &["-f", "--max-message-size", "2M"], m);
    assert!(
        err.contains("--max-message-size 2097152 is larger"),
        "{err}"
    );
    assert!(failure(2, &["-f", "--address", "198.18.0.1"], m).contains("--address needs"));
    assert!(failure(1, &["-f"], Some(&dir.path().join("missing"))).contains("mount point"));
    let err = failure(1, &["-f", "--interface", "nosuch0"], m);
    assert!(err.contains("there is no interface nosuch0"), "{err}");
}

#[test]
fn start_errors_are_one_clear_line() {
    common::require_fuse();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    assert!(start_error(&["-f"], &missing).contains("No such file"));
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    assert!(start_error(&["-f"], &file).contains("not a directory"));
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("x"), b"x").unwrap();
    assert!(start_error(&["-f"], &full).contains("not empty"));
    // An unprivileged user on a mount point it may not use.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let bin = common::copy_for_other_users(BIN, dir.path());
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .arg("-f")
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // Where /dev/fuse is open to all, fusermount3 may add its own line.
    let err = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("mailslotfs:"))
        .collect();
    assert_eq!(ours.len(), 1, "one clear line, got: {err}");
    assert!(
        ours[0].to_lowercase().contains("permission") || ours[0].contains("access"),
        "{err}"
    );
}

/// The daemonized form returns only once the mount answers, and `umount`
/// ends it.
#[test]
fn daemon_mode_returns_when_ready_and_umount_ends_it() {
    common::require_fuse();
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("m");
    std::fs::create_dir(&mnt).unwrap();
    let log = dir.path().join("log");
    let status = Command::new(BIN)
        .arg("--log-file")
        .arg(&log)
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(status.success());
    // Ready means usable right now, with no waiting.
    assert!(is_mounted(&mnt));
    std::fs::File::options()
        .read(true)
        .create(true)
        .truncate(false)
        .write(true)
        .open(mnt.join("ready"))
        .unwrap();
    let pids = daemon_pids(&mnt);
    assert_eq!(pids.len(), 2, "daemon and watcher: {pids:?}");
    assert!(Command::new("umount").arg(&mnt).status().unwrap().success());
    wait_until(
        "the daemon to exit after umount",
        Duration::from_secs(10),
        || daemon_pids(&mnt).is_empty(),
    );
    assert!(!is_mounted(&mnt));
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("INFO mounted "), "{log}");
    assert!(log.contains("was unmounted; exiting"), "{log}");
}

/// `mailslotfs --stop` stops a daemon whose slots are held open, where
/// umount(8) says "target is busy": the waiting reader gets ENOTCONN.
#[test]
fn stop_works_while_a_server_holds_a_slot() {
    let m = Mount::start();
    let out = common::py(
        &m,
        r#"
import subprocess
s = server('busy')
r = subprocess.run(['umount', M], capture_output=True)
print('umount', r.returncode != 0 and b'busy' in r.stderr)
t = threading.Thread(target=lambda: print('reader', err(os.read, s, 100)))
t.start()
await_waiting('busy', 1)
r = subprocess.run([sys.argv[2], '--stop', M], capture_output=True)
print('stop', r.returncode, r.stderr.decode().strip())
t.join(10)
print('mounted', subprocess.run(['mountpoint', '-q', M]).returncode == 0)
"#
        .replace("sys.argv[2]", &format!("{BIN:?}"))
        .as_str(),
    );
    assert_eq!(
        out,
        "umount True\nreader ENOTCONN\nstop 0 \nmounted False\n",
        "{}",
        m.log()
    );
    let mut m = m;
    let status = m.child.take().unwrap().wait().unwrap();
    assert!(status.success(), "the daemon exits 0: {status}");
    assert!(m.log().contains("SIGTERM: unmounting"), "{}", m.log());
}

/// Processes whose command line names `mnt` (the daemon and its watcher).
fn daemon_pids(mnt: &Path) -> Vec<i32> {
    let needle = mnt.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let zombie = state_of(Path::new(&format!("/proc/{pid}/stat"))) == Some('Z');
            !zombie
                && cmd.split(|&b| b == 0).any(|a| a == needle.as_bytes())
                && std::fs::read_link(format!("/proc/{pid}/exe"))
                    .is_ok_and(|exe| exe == Path::new(BIN))
        })
        .collect()
}

/// A Python reader blocked in read() on `name`; prints what ended its read.
fn blocked_reader(m: &Mount, name: &str) -> std::process::Child {
    let child = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import os, errno\nfd = os.open({:?}, os.O_CREAT | os.O_RDONLY)\nprint('waiting', flush=True)\n\
             try:\n    print('got', os.read(fd, 100))\nexcept OSError as e:\n    print('error', errno.errorcode[e.errno])",
            m.p(name)
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The daemon's own count: the slot exists before its reader waits.
    wait_until("the reader waiting", Duration::from_secs(10), || {
        m.p(name).exists() && xattr(&m.p(name), "user.mailslot.waiting_readers") == "1"
    });
    child
}

fn finished_within(mut child: std::process::Child, secs: u64) -> String {
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("the blocked reader hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

#[test]
fn sigterm_unmounts_answers_waiting_readers_and_exits_0() {
    let mut m = Mount::start();
    let reader = blocked_reader(&m, "waiting");
    let status = m.signal_and_wait(Signal::SIGTERM);
    assert!(status.success(), "{status}: {}", m.log());
    let out = finished_within(reader, 10);
    assert!(out.contains("error"), "{out}");
    wait_until("the mount to go", Duration::from_secs(5), || {
        !is_mounted(&m.path)
    });
}

#[test]
fn sigkill_leaves_no_dead_mount_and_mounting_again_works() {
    let mut m = Mount::start();
    let reader = blocked_reader(&m, "waiting");
    m.signal_and_wait(Signal::SIGKILL);
    let out = finished_within(reader, 10);
    assert!(out.contains("error"), "{out}");
    wait_until("the watcher to unmount", Duration::from_secs(10), || {
        !is_mounted(&m.path)
    });
    assert!(
        std::fs::read_dir(&m.path).is_ok(),
        "mount point usable again"
    );
    // Mount again at once on the same path.
    let again = Command::new(BIN)
        .arg("-f")
        .arg(&m.path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = again.id() as i32;
    wait_until("the second mount", Duration::from_secs(10), || {
        is_mounted(&m.path)
    });
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    let status = again.wait_with_output().unwrap().status;
    assert!(status.success());
}

/// A watcher whose daemon dies must not unmount a later mount at the same
/// path made by someone else.
#[test]
fn a_stale_watcher_never_unmounts_a_later_mount() {
    let mut first = Mount::start();
    let path: PathBuf = first.path.clone();
    // Keep the first mount's connection alive while it is detached, so its
    // daemon (and watcher) outlive the second mount's start.
    let holder = Command::new("sleep")
        .arg("60")
        .current_dir(&path)
        .spawn()
        .unwrap();
    assert!(
        Command::new("umount")
            .arg("-l")
            .arg(&path)
            .status()
            .unwrap()
            .success()
    );
    let second = Command::new(BIN)
        .arg("-f")
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the second mount", Duration::from_secs(10), || {
        is_mounted(&path)
    });
    first.signal_and_wait(Signal::SIGKILL);
    // Give the first watcher every chance to do the wrong thing.
    std::thread::sleep(Duration::from_millis(500));
    assert!(is_mounted(&path), "the later mount must survive");
    std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path.join("alive"))
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(second.id() as i32);
    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    assert!(second.wait_with_output().unwrap().status.success());
    let mut holder = holder;
    let _ = holder.kill();
    let _ = holder.wait();
}

/// fuse3's mount.fuse3, which mount(8) and /etc/fstab run for a
/// `fuse.mailslotfs` entry, runs `mailslotfs SOURCE MOUNTPOINT -o OPTIONS`.
#[test]
fn mount_fuse3_mounts_with_options() {
    common::require_fuse();
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("m");
    std::fs::create_dir(&mnt).unwrap();
    let log = dir.path().join("log");
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let mount = |mnt: &Path| {
        Command::new("/sbin/mount.fuse3")
            .arg("mailslotfs")
            .arg(mnt)
            .args(["-t", "fuse.mailslotfs", "-o"])
            .arg(format!(
                "rw,nosuid,nodev,allow_other,max_message_size=424,log_file={}",
                log.display()
            ))
            .env("PATH", &path)
            .output()
            .expect("mount.fuse3 (Debian package fuse3)")
    };
    let out = mount(&mnt);
    assert!(out.status.success(), "{out:?}");
    assert!(is_mounted(&mnt));
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = mountinfo
        .lines()
        .find(|l| l.contains(&*mnt.to_string_lossy()))
        .unwrap();
    assert!(line.contains("allow_other"), "{line}");
    assert!(line.contains(" - fuse.mailslotfs mailslotfs "), "{line}");
    let _server = std::fs::File::options()
        .read(true)
        .create(true)
        .truncate(false)
        .write(true)
        .open(mnt.join("s"))
        .unwrap();
    let size = xattr(&mnt.join("s"), "user.mailslot.max_message_size");
    assert_eq!(size, "424");
    drop(_server);
    // Asked again, as `mount -a` may ask, it is already done.
    let again = mount(&mnt);
    assert!(again.status.success(), "{again:?}");
    // and says nothing: `mount -a` stays quiet.
    assert!(again.stderr.is_empty(), "{again:?}");
    assert!(Command::new("umount").arg(&mnt).status().unwrap().success());
    wait_until("the daemon to exit", Duration::from_secs(10), || {
        daemon_pids(&mnt).is_empty()
    });
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("max message 424 bytes"), "{log}");
}

fn xattr(path: &Path, name: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2]).decode())")
        .arg(path)
        .arg(name)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `mount -a` with an /etc/fstab entry for mailslotfs, run twice from a
/// directory holding a folder named `mailslotfs`: mount(8) then takes the
/// source for that folder and misses the mounted entry, and asks again;
/// the daemon answers that it is mounted (exit 0), and no second mount
/// stacks on the first.
#[test]
fn mount_a_twice_beside_a_folder_named_mailslotfs() {
    common::require_fuse();
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("m");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::create_dir_all(cwd.join("mailslotfs")).unwrap();
    let fstab = dir.path().join("fstab");
    std::fs::write(
        &fstab,
        format!(
            "mailslotfs {} fuse.mailslotfs allow_other,log_file={} 0 0\n",
            mnt.display(),
            dir.path().join("log").display()
        ),
    )
    .unwrap();
    let script = r#"set -e
# A helper an older install.sh left takes precedence over fuse3's; here,
# fuse3's takes its place, as on a machine without it.
for h in /sbin/mount.fuse.mailslotfs /usr/sbin/mount.fuse.mailslotfs; do
    if [ -e "$h" ]; then mount --bind /sbin/mount.fuse3 "$h"; fi
done
# mount(8) runs helpers with a PATH of its own, which starts with
# /usr/local/sbin: the daemon under test is found there.
test -d /usr/local/sbin
mount -t tmpfs mailslotfs-test-sbin /usr/local/sbin
ln -s "$BIN" /usr/local/sbin/mailslotfs
cd "$CWD"
mount -T "$FSTAB" -a
mount -T "$FSTAB" -a
echo "mounts: $(grep -c " $MNT " /proc/self/mountinfo)"
umount "$MNT"
"#;
    let (code, out, err) = common::in_mount_namespace(
        script,
        &[
            ("BIN", Path::new(BIN)),
            ("MNT", &mnt),
            ("CWD", &cwd),
            ("FSTAB", &fstab),
        ],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(out.trim(), "mounts: 1", "{err}");
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert_eq!(log.matches("INFO mounted ").count(), 1, "{log}");
}
