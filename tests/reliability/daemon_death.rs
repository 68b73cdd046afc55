//! Point 3 of docs/reliability.md.
//!
//! The daemon dies, or is stopped, while many readers wait.
//!
//! tests/daemon.rs shows one waiting reader answered on SIGTERM and on
//! SIGKILL, the watcher's unmount and mounting again. Here many callers wait
//! at once, in every way a caller can wait: processes sharing one server
//! handle, threads of one process, poll(), select(), epoll, a read with a
//! finite timeout, and a writer that keeps writing. Every one of them must
//! come back with the documented error, none may hang, and after SIGKILL
//! the same directory takes a new mount at once.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::common::{BIN, Mount, is_mounted, wait_until};
use crate::util::PyChild;

/// Sets up the waiting callers, prints `ready` once they all wait, then
/// prints one line per caller: `<kind> <outcome> <seconds>`.
const WAITERS: &str = r#"
res_r, res_w = os.pipe()
def report(line):
    os.write(res_w, (line + '\n').encode())
def outcome(f):
    try:
        r = f()
        return 'OK:%s' % (r,)
    except OSError as e:
        return errno.errorcode[e.errno]
kids = []
def child(fn):
    pid = os.fork()
    if pid == 0:
        try:
            fn()
        finally:
            os._exit(0)
    kids.append(pid)
# processes sharing one server handle, on several slots
for i in range(SLOTS):
    s = server('many%d' % i)
    for j in range(READERS_PER_SLOT):
        child(lambda s=s: report('read %s' % outcome(lambda: os.read(s, 100))))
# threads of one process, all waiting on the same slot
t = server('threads')
def threads():
    done = []
    def one():
        done.append(outcome(lambda: os.read(t, 100)))
    ts = [threading.Thread(target=one) for _ in range(THREADS)]
    for x in ts: x.start()
    for x in ts: x.join()
    for o in done:
        report('thread %s' % o)
child(threads)
def events(mask):
    names = [n for n in ('POLLIN', 'POLLERR', 'POLLHUP') if mask & getattr(select, n)]
    return '|'.join(names) or 'none'
p = server('poll')
def do_poll():
    po = select.poll()
    po.register(p, select.POLLIN)
    got = po.poll(60000)
    report('poll %s read=%s' % (events(got[0][1]) if got else 'timeout', outcome(lambda: os.read(p, 100))))
child(do_poll)
q = server('select')
def do_select():
    r, _, x = select.select([q], [], [q], 60)
    report('select %s read=%s' % ('ready' if r or x else 'timeout', outcome(lambda: os.read(q, 100))))
child(do_select)
e = server('epoll')
def do_epoll():
    ep = select.epoll()
    ep.register(e, select.EPOLLIN)
    got = ep.poll(60)
    report('epoll %s read=%s' % (events(got[0][1]) if got else 'timeout', outcome(lambda: os.read(e, 100))))
child(do_epoll)
d = server('timed')
os.setxattr(P('timed'), 'user.mailslot.read_timeout_ms', b'60000')
child(lambda: report('timed %s' % outcome(lambda: os.read(d, 100))))
w = server('written')
def writer():
    c = client('written')
    n = 0
    while True:
        try:
            os.write(c, b'x' * 1000)
            n += 1
        except OSError as ex:
            if ex.errno == errno.ENOSPC:
                time.sleep(0.005)
                continue
            report('write %s' % errno.errorcode[ex.errno])
            return
child(writer)
# Everyone waits once their threads are asleep in the kernel.
def asleep(pid):
    tasks = os.listdir('/proc/%d/task' % pid)
    states = [open('/proc/%d/task/%s/stat' % (pid, t)).read().rsplit(')', 1)[1].split()[0] for t in tasks]
    return all(s in 'SD' for s in states)
deadline = time.time() + 20
while not all(asleep(k) for k in kids):
    assert time.time() < deadline, 'the waiters never all waited'
    time.sleep(0.05)
time.sleep(0.3)
print('ready', flush=True)
os.close(res_w)
out = b''
while True:
    chunk = os.read(res_r, 65536)
    if not chunk:
        break
    out += chunk
for k in kids:
    os.waitpid(k, 0)
print(out.decode().strip())
"#;

const SLOTS: usize = 4;
const READERS_PER_SLOT: usize = 6;
const THREADS: usize = 4;

fn waiters(m: &Mount) -> PyChild {
    let vars =
        format!("SLOTS = {SLOTS}\nREADERS_PER_SLOT = {READERS_PER_SLOT}\nTHREADS = {THREADS}\n");
    let mut py = PyChild::spawn(&m.path, &vars, WAITERS);
    py.expect_line("ready", Duration::from_secs(60));
    py
}

/// Lines of `out` whose first word is `kind`, without it.
fn outcomes<'a>(out: &'a str, kind: &str) -> Vec<&'a str> {
    out.lines()
        .filter_map(|l| l.strip_prefix(kind)?.strip_prefix(' '))
        .collect()
}

fn assert_all(out: &str, kind: &str, count: usize, ok: impl Fn(&str) -> bool) {
    let got = outcomes(out, kind);
    assert_eq!(got.len(), count, "{kind}: {got:?}\n{out}");
    for o in &got {
        assert!(ok(o), "{kind} ended with {o:?}\n{out}");
    }
}

#[test]
fn sigkill_answers_every_kind_of_waiter_and_the_mount_comes_back() {
    let mut m = Mount::start();
    let py = waiters(&m);
    let status = m.signal_and_wait(Signal::SIGKILL);
    assert_eq!(status.code(), None, "killed: {status}");
    // The kernel aborts the connection: requests in flight end with
    // ECONNABORTED, later ones with ENOTCONN.
    let out = py.finish(Duration::from_secs(10));
    eprintln!("[daemon-death sigkill]\n{out}");
    assert_all(&out, "read", SLOTS * READERS_PER_SLOT, |o| {
        o == "ECONNABORTED"
    });
    assert_all(&out, "thread", THREADS, |o| o == "ECONNABORTED");
    assert_all(&out, "timed", 1, |o| o == "ECONNABORTED");
    assert_all(&out, "write", 1, |o| o == "ECONNABORTED" || o == "ENOTCONN");
    for kind in ["poll", "epoll"] {
        assert_all(&out, kind, 1, |o| {
            (o.starts_with("POLLERR") || o.starts_with("POLLHUP")) && o.ends_with("read=ENOTCONN")
        });
    }
    assert_all(&out, "select", 1, |o| o == "ready read=ENOTCONN");
    wait_until(
        "the watcher to unmount the dead mount",
        Duration::from_secs(10),
        || !is_mounted(&m.path),
    );
    // Not wedged: the directory answers, and takes a new mount at once.
    std::fs::read_dir(&m.path).expect("the mount point is usable again");
    mount_again_and_use(&m.path);
}

#[test]
fn sigterm_answers_every_kind_of_waiter_and_exits_0() {
    let mut m = Mount::start();
    let py = waiters(&m);
    let status = m.signal_and_wait(Signal::SIGTERM);
    assert!(status.success(), "{status}: {}", m.log());
    let out = py.finish(Duration::from_secs(10));
    eprintln!("[daemon-death sigterm]\n{out}");
    assert_all(&out, "read", SLOTS * READERS_PER_SLOT, |o| o == "ENOTCONN");
    assert_all(&out, "thread", THREADS, |o| o == "ENOTCONN");
    assert_all(&out, "timed", 1, |o| o == "ENOTCONN");
    // A write the kernel had queued as the daemon closed /dev/fuse is
    // aborted by the kernel rather than answered by the daemon.
    assert_all(&out, "write", 1, |o| o == "ENOTCONN" || o == "ECONNABORTED");
    // A poller woken by the stop reads again; that read meets either the
    // stopping daemon (ENOTCONN) or the kernel ending the connection after
    // it (ECONNABORTED).
    let stopped = |o: &str| o.ends_with("read=ENOTCONN") || o.ends_with("read=ECONNABORTED");
    for kind in ["poll", "epoll"] {
        assert_all(&out, kind, 1, |o| {
            (o.starts_with("POLLERR") || o.starts_with("POLLHUP")) && stopped(o)
        });
    }
    assert_all(&out, "select", 1, |o| o.starts_with("ready ") && stopped(o));
    assert!(!is_mounted(&m.path), "a clean stop unmounts");
}

/// A new daemon on `path`, at once, and one message through it.
fn mount_again_and_use(path: &Path) {
    let mut again = Command::new(BIN)
        .arg("-f")
        .arg(path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the new mount", Duration::from_secs(10), || {
        is_mounted(path)
    });
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import os, sys\n\
             s = os.open(sys.argv[1] + '/again', os.O_CREAT | os.O_RDONLY)\n\
             c = os.open(sys.argv[1] + '/again', os.O_WRONLY)\n\
             os.write(c, b'after the crash')\n\
             print(os.read(s, 100).decode())",
        )
        .arg(path)
        .output()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(again.id() as i32);
    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    assert!(again.wait().unwrap().success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "after the crash",
        "{out:?}"
    );
}
