//! Point 10 of docs/reliability.md, the local side doors: no way into a
//! slot but `read(2)` takes a message, no user can hold up another user's
//! slots through the kernel's page cache, a reader refused for its small
//! buffer strands nobody, and a server can tell who sent each message.

use std::time::Duration;

use crate::common::Mount;
use crate::util::{self, figure, figures, py_within};

/// uid 4242 fills its own slot (24 MB, seen by a stat so the kernel's size
/// of the file says so), drains it without a stat, then asks the page cache
/// to read the slot in every way it can. Meanwhile uid 4343's server closes
/// a slot that a client holds open; the name must be free at once and the
/// client's write must fail.
const PAGE_CACHE: &str = r#"
import ctypes, mmap, subprocess
attacker = r'''
import ctypes, mmap, os, sys, time
M = sys.argv[1]
p = os.path.join(M, 'mine')
s = os.open(p, os.O_CREAT | os.O_RDONLY, 0o600)
c = os.open(p, os.O_WRONLY)
chunk = b'a' * 65536
for _ in range(366):
    os.write(c, chunk)
print('queued=%d' % os.fstat(s).st_size, flush=True)
for _ in range(366):
    os.read(s, 65536)
for i in range(20):
    os.posix_fadvise(s, i * 1200000, 1200000, os.POSIX_FADV_WILLNEED)
out = os.open('/dev/null', os.O_WRONLY)
for name, call in [('sendfile', lambda: os.sendfile(out, s, None, 65536)),
                   ('splice', lambda: os.splice(s, os.pipe()[1], 65536)),
                   ('copy_file_range', lambda: os.copy_file_range(s, out, 65536))]:
    try:
        call()
    except OSError:
        pass
os.write(c, b'still here')
pid = os.fork()
if pid == 0:
    m = mmap.mmap(s, 4096, mmap.MAP_PRIVATE, mmap.PROT_READ)
    m[0]
    os._exit(0)
os.waitpid(pid, 0)
print('messages_after=%s' % os.getxattr(p, 'user.mailslot.message_count').decode())
print('attacker_done=1', flush=True)
'''
def run_as(uid, code):
    return subprocess.Popen(['setpriv', '--reuid', str(uid), '--regid', str(uid), '--clear-groups',
                             'python3', '-c', code, M], stdout=subprocess.PIPE, text=True)
a = run_as(4242, attacker)
try:
    out, _ = a.communicate(timeout=60)
except subprocess.TimeoutExpired:
    state = open('/proc/%d/stat' % a.pid).read().rsplit(')', 1)[1].split()[0]
    print('attacker_state=%s' % state)
    raise SystemExit('the attacker did not finish in 60 s (state %s)' % state)
print(out)
victim = r'''
import errno, os, sys
M = sys.argv[1]
p = os.path.join(M, 'victim')
os.umask(0)
closes = listed = eexist = landed = 0
for i in range(200):
    s = os.open(p, os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o622)
    c = os.open(p, os.O_WRONLY)
    os.close(s)
    listed += 'victim' in os.listdir(M)
    try:
        os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o622))
    except FileExistsError:
        eexist += 1
    try:
        os.write(c, b'lost?')
        landed += 1
    except BrokenPipeError:
        pass
    os.close(c)
    closes += 1
print('victim_rounds=%d' % closes)
print('still_listed=%d' % listed)
print('eexist=%d' % eexist)
print('landed_in_dead_slot=%d' % landed)
'''
v = run_as(4343, victim)
out, _ = v.communicate(timeout=60)
print(out)
"#;

#[test]
fn page_cache_reads_never_wait_take_or_hold_up_anyone() {
    let m = Mount::with_args(&["--allow-other"]);
    let out = py_within(&m, "", PAGE_CACHE, Duration::from_secs(180));
    util::report("page-cache", &out);
    let f = figures(&out);
    assert_eq!(figure(&f, "queued"), 366 * 65536, "{out}");
    assert_eq!(figure(&f, "attacker_done"), 1, "{out}");
    assert_eq!(
        figure(&f, "messages_after"),
        1,
        "the page cache took a message:\n{out}"
    );
    assert_eq!(figure(&f, "victim_rounds"), 200, "{out}");
    assert_eq!(figure(&f, "still_listed"), 0, "{out}");
    assert_eq!(figure(&f, "eexist"), 0, "{out}");
    assert_eq!(figure(&f, "landed_in_dead_slot"), 0, "{out}");
    util::assert_daemon_healthy(&m);
}

#[test]
fn a_reader_refused_for_a_small_buffer_strands_nobody() {
    let m = Mount::start();
    let script = r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
s = server('strand', os.O_RDONLY, 0o600)
results = {}
def reader(name, size):
    buf = ctypes.create_string_buffer(size)
    n = libc.read(s, buf, size)
    results[name] = (n, ctypes.get_errno())
def wait_for(n):
    deadline = time.monotonic() + 10
    while int(xattr('strand', 'waiting_readers')) != n:
        assert time.monotonic() < deadline
        time.sleep(0.01)
small = threading.Thread(target=reader, args=('small', 4)); small.start(); wait_for(1)
big = threading.Thread(target=reader, args=('big', 65536)); big.start(); wait_for(2)
send('strand', b'longer than four bytes')
small.join(5); big.join(5)
print('small=%s' % ('EMSGSIZE' if results.get('small') == (-1, errno.EMSGSIZE) else results.get('small')))
print('big=%s' % results.get('big', ('still waiting',))[0])
print('queued=%s' % xattr('strand', 'message_count'))
"#;
    let out = py_within(&m, "", script, Duration::from_secs(60));
    let f = figures(&out);
    assert_eq!(
        f.get("small").map(String::as_str),
        Some("EMSGSIZE"),
        "{out}"
    );
    assert_eq!(
        figure(&f, "big"),
        22,
        "the larger reader was stranded:\n{out}"
    );
    assert_eq!(figure(&f, "queued"), 0, "{out}");
}

#[test]
fn a_server_can_tell_who_sent_each_message() {
    let m = Mount::with_args(&["--allow-other"]);
    let script = r#"
import subprocess
os.umask(0)
s = server('who', os.O_RDONLY, 0o622)
print('before=%s' % xattr('who', 'next_sender'))
w = subprocess.Popen(['setpriv', '--reuid', '4242', '--regid', '4343', '--clear-groups',
                      'python3', '-c', 'import os,sys; os.write(os.open(sys.argv[1], os.O_WRONLY), b"hi")',
                      P('who')])
w.wait()
print('writer_pid=%d' % w.pid)
print('next=%s' % xattr('who', 'next_sender'))
assert os.read(s, 64) == b'hi'
print('last=%s' % xattr('who', 'last_sender'))
print('after=%s' % xattr('who', 'next_sender'))
"#;
    let out = py_within(&m, "", script, Duration::from_secs(60));
    let f = figures(&out);
    let pid = figure(&f, "writer_pid");
    let expect = format!("local uid=4242 gid=4343 pid={pid}");
    assert_eq!(f.get("before").map(String::as_str), Some("none"), "{out}");
    assert_eq!(f.get("next"), Some(&expect), "{out}");
    assert_eq!(f.get("last"), Some(&expect), "{out}");
    assert_eq!(f.get("after").map(String::as_str), Some("none"), "{out}");
}
