//! Point 9 of docs/reliability.md: waiting readers cost the daemon nothing
//! and a signal always reaches them, however many there are and whichever
//! PID namespace they are in; and a closed slot is gone before its name is
//! used again, with the daemon's default threads.

use std::time::Duration;

use crate::common::Mount;
use crate::util::{self, figure, figures, pick, py_within};

/// Readers in `PROCS` processes with `THREADS` threads each, every process
/// on a slot of its own (forked from the server, so it holds the server
/// handle). The parent keeps every server handle, so a killed reader's
/// slot lives on: the message written after the kill must stay queued.
const MANY_READERS: &str = r#"
threading.stack_size(64 * 1024)
slots = [server('many%d' % p, os.O_RDONLY, 0o600) for p in range(PROCS)]
ready_r, ready_w = os.pipe()
kids = []
for p in range(PROCS):
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        def reader():
            os.read(slots[p], 64)
        ts = [threading.Thread(target=reader, daemon=True) for _ in range(THREADS)]
        for t in ts: t.start()
        os.write(ready_w, b'x')
        for t in ts: t.join()
        os._exit(0)
    kids.append(pid)
os.close(ready_w)
got = 0
while got < PROCS:
    got += len(os.read(ready_r, PROCS))
# Wait until the daemon holds every read: each slot shows THREADS waiters.
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    if all(int(xattr('many%d' % p, 'waiting_readers')) == THREADS for p in range(PROCS)):
        break
    time.sleep(0.2)
waiting = sum(int(xattr('many%d' % p, 'waiting_readers')) for p in range(PROCS))
print('waiting=%d' % waiting)
fds = len(os.listdir('/proc/%d/fd' % DAEMON))
print('daemon_fds=%d' % fds)
slowest = 0.0
kept = 0
for p in range(KILLS):
    t = time.monotonic()
    os.kill(kids[p], signal.SIGKILL)
    os.waitpid(kids[p], 0)
    slowest = max(slowest, time.monotonic() - t)
    send('many%d' % p, b'next')
    kept += int(xattr('many%d' % p, 'message_count'))
print('slowest_kill_ms=%d' % (slowest * 1000))
print('kept=%d' % kept)
for pid in kids[KILLS:]:
    os.kill(pid, signal.SIGKILL)
for pid in kids[KILLS:]:
    os.waitpid(pid, 0)
"#;

#[test]
fn ten_thousand_waiting_readers_under_a_1024_descriptor_limit() {
    let m = Mount::wrapped(&["prlimit", "--nofile=1024:1024"], &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", m.pid())).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(" 1024 ")),
        "the daemon runs under a 1024-descriptor limit:\n{limits}"
    );
    let (procs, threads, kills) = (100, 100, 20);
    let vars = format!(
        "PROCS = {procs}\nTHREADS = {threads}\nKILLS = {kills}\nDAEMON = {}\n",
        m.pid()
    );
    let out = py_within(&m, &vars, MANY_READERS, Duration::from_secs(600));
    util::report("waiting", &out);
    let f = figures(&out);
    assert_eq!(figure(&f, "waiting"), procs * threads, "{out}");
    // Descriptors do not grow with waiting readers: /dev/fuse, the log,
    // the watcher's pipe and the standard ones.
    assert!(figure(&f, "daemon_fds") < 32, "{out}");
    assert!(
        figure(&f, "slowest_kill_ms") < 1000,
        "a SIGKILLed reader took a second or more to go:\n{out}"
    );
    assert_eq!(
        figure(&f, "kept"),
        kills,
        "a message went to a dead reader:\n{out}"
    );
    util::assert_daemon_healthy(&m);
}

/// A waiting reader, started by `START` (a command prefix such as
/// `unshare --pid --fork`), is hit by a handled signal and then by SIGKILL;
/// each must end its read within a second and take nothing.
const SIGNAL_ONE_READER: &str = r#"
import subprocess
s = server('ns', os.O_RDONLY, 0o600)
os.set_inheritable(s, True)
# libc's read() itself, so EINTR is seen (Python's os.read would retry).
reader = r'''
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = int(sys.argv[1])
signal.signal(signal.SIGUSR1, lambda *a: None)
buf = ctypes.create_string_buffer(64)
sys.stdout.write('ready\n'); sys.stdout.flush()
n = libc.read(fd, buf, 64)
print('eintr' if n < 0 and ctypes.get_errno() == 4 else 'read_returned_%d' % n)
sys.stdout.flush()
libc.read(fd, buf, 64)
print('second_read_returned')
'''
def wait_waiting(n):
    deadline = time.monotonic() + 10
    while int(xattr('ns', 'waiting_readers')) != n:
        assert time.monotonic() < deadline, 'the reader never waited'
        time.sleep(0.01)
child = subprocess.Popen(START + ['python3', '-c', reader, str(s)], pass_fds=[s],
                         stdout=subprocess.PIPE, text=True)
assert child.stdout.readline() == 'ready\n'
wait_waiting(1)
# The python process itself: `unshare --fork` runs it as its child.
kids = open('/proc/%d/task/%d/children' % (child.pid, child.pid)).read().split()
target = int(kids[0]) if kids else child.pid
t = time.monotonic()
os.kill(target, signal.SIGUSR1)
line = child.stdout.readline().strip()
print('handled=%s' % line)
print('handled_ms=%d' % ((time.monotonic() - t) * 1000))
print('count_after_handled=%s' % xattr('ns', 'message_count'))
wait_waiting(1)
t = time.monotonic()
os.kill(target, signal.SIGKILL)
child.wait()
print('killed_ms=%d' % ((time.monotonic() - t) * 1000))
send('ns', b'after')
print('count_after_kill=%s' % xattr('ns', 'message_count'))
"#;

fn signal_one_reader(m: &Mount, start: &[&str]) {
    let list: Vec<String> = start.iter().map(|s| format!("{s:?}")).collect();
    let vars = format!("START = [{}]\n", list.join(", "));
    let out = py_within(m, &vars, SIGNAL_ONE_READER, Duration::from_secs(60));
    let f = figures(&out);
    assert_eq!(f.get("handled").map(String::as_str), Some("eintr"), "{out}");
    assert!(figure(&f, "handled_ms") < 1000, "{out}");
    assert_eq!(figure(&f, "count_after_handled"), 0, "{out}");
    assert!(figure(&f, "killed_ms") < 1000, "{out}");
    assert_eq!(
        figure(&f, "count_after_kill"),
        1,
        "the message written after the kill must stay queued:\n{out}"
    );
}

#[test]
fn readers_in_any_pid_namespace_can_be_interrupted() {
    // The daemon in a PID namespace of its own: readers outside it are
    // invisible to it (the kernel reports their pid as 0).
    let m = Mount::wrapped(&["unshare", "--pid", "--fork"], &[]);
    let ns = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    assert_ne!(ns(m.pid()), ns(std::process::id() as i32));
    signal_one_reader(&m, &[]);
    signal_one_reader(&m, &["unshare", "--pid", "--fork"]);
    util::assert_daemon_healthy(&m);
    drop(m);
    // And the daemon in the usual namespace, the reader in its own.
    let m = Mount::start();
    signal_one_reader(&m, &["unshare", "--pid", "--fork"]);
    util::assert_daemon_healthy(&m);
}

#[test]
fn a_reader_with_1500_groups_waits_undisturbed() {
    let m = Mount::start();
    let groups: Vec<String> = (1..=1500).map(|g| (10_000 + g).to_string()).collect();
    let script = r#"
import subprocess
s = server('groups', os.O_RDONLY, 0o600)
os.setxattr(P('groups'), 'user.mailslot.read_timeout_ms', b'2000')
os.set_inheritable(s, True)
reader = r'''
import os, sys, time
print('groups=%d' % len(os.getgroups()))
t = time.monotonic()
try:
    n = len(os.read(int(sys.argv[1]), 64))
    print('result=eof' if n == 0 else 'result=data')
except InterruptedError:
    print('result=eintr')
print('waited_ms=%d' % ((time.monotonic() - t) * 1000))
'''
out = subprocess.run(['setpriv', '--groups', GROUPS, 'python3', '-c', reader, str(s)],
                     pass_fds=[s], capture_output=True, text=True, check=True)
print(out.stdout)
"#;
    let vars = format!("GROUPS = {:?}\n", groups.join(","));
    let out = py_within(&m, &vars, script, Duration::from_secs(60));
    let f = figures(&out);
    assert_eq!(figure(&f, "groups"), 1500, "{out}");
    assert_eq!(f.get("result").map(String::as_str), Some("eof"), "{out}");
    assert!(figure(&f, "waited_ms") >= 1900, "{out}");
}

/// Servers close and new ones take the name with O_EXCL while other slots
/// carry load; a client that opened the old slot writes after the close.
const RECREATE: &str = r#"
import random
load_pids = []
for i in range(2):
    pid = os.fork()
    if pid == 0:
        s = server('busy%d' % i, os.O_RDONLY, 0o600)
        c = client('busy%d' % i)
        while True:
            os.write(c, b'load')
            os.read(s, 64)
    load_pids.append(pid)
eexist = landed = 0
for i in range(ROUNDS):
    try:
        s = os.open(P('again'), os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o600)
    except FileExistsError:
        eexist += 1
        continue
    c = client('again')
    os.close(s)
    try:
        os.write(c, b'late')
        landed += 1
    except BrokenPipeError:
        pass
    os.close(c)
for pid in load_pids:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
print('rounds=%d' % ROUNDS)
print('eexist=%d' % eexist)
print('landed_in_dead_slot=%d' % landed)
"#;

fn recreate(m: &Mount, rounds: u64) {
    let out = py_within(
        m,
        &format!("ROUNDS = {rounds}\n"),
        RECREATE,
        Duration::from_secs(1200),
    );
    util::report("recreate", &out);
    let f = figures(&out);
    assert_eq!(figure(&f, "rounds"), rounds, "{out}");
    assert_eq!(figure(&f, "eexist"), 0, "{out}");
    assert_eq!(figure(&f, "landed_in_dead_slot"), 0, "{out}");
    util::assert_daemon_healthy(m);
}

#[test]
fn a_closed_slot_is_gone_before_its_name_is_used_again() {
    // Four threads, where the order could be lost without the release
    // barrier; then the default (one thread on a 2-CPU machine).
    let m = Mount::with_args(&["--threads", "4"]);
    recreate(&m, pick(100_000, 300_000));
    drop(m);
    recreate(&Mount::start(), pick(20_000, 100_000));
}
