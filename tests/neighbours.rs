//! Neighbours on one mount (docs/limits.md): no user can take another's
//! capacity or names. Other users are real uids (fork + setuid through
//! `setpriv`); the resolver flood runs in network namespaces (see `lan`).

mod common;
mod lan;

use std::time::{Duration, Instant};

use common::{Mount, wait_until};
use lan::{Lan, py};

/// Python run as root: `spawn(uid, code, *args)` starts `code` as `uid`
/// with stdin and stdout as pipes, `line(p)` reads one line of its output.
const SPAWN: &str = r#"
import subprocess
PY = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else 'python3'
def spawn(uid, code, *args):
    return subprocess.Popen(['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid, '--clear-groups',
                             PY, '-c', code] + [str(a) for a in args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
def line(p):
    l = p.stdout.readline()
    assert l, 'the child ended early (%s)' % p.wait()
    return l.split()
def finish(p):
    if p.stdin and not p.stdin.closed:
        p.stdin.close()
    out = p.stdout.read()
    assert p.wait(timeout=60) == 0, p.returncode
    return out.split()
"#;

/// Fills slots of its own with 64 KiB messages (65,536 bytes charged each)
/// until refused; says how many it queued and why it stopped, waits for its
/// stdin to close, then reads everything back.
const FILLER: &str = r#"
import os, sys, errno
M, tag, slots = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.umask(0)
chunk = b'x' * (65536 - 16)
queued, err, fds = 0, 'none', []
for i in range(slots):
    p = os.path.join(M, '%s%d' % (tag, i))
    fds.append((os.open(p, os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_NONBLOCK, 0o666),
                os.open(p, os.O_WRONLY)))
    try:
        for _ in range(32):
            os.write(fds[-1][1], chunk)
            queued += 1
    except OSError as e:
        err = errno.errorcode[e.errno]
        break
print(queued, err, flush=True)
sys.stdin.read()
back = 0
for s, _ in fds:
    while True:
        try:
            assert len(os.read(s, 65536)) == len(chunk)
            back += 1
        except BlockingIOError:
            break
print(back, flush=True)
"#;

/// Item 1 of "Neighbours on one mount", at the default limits: uid 4242
/// used to queue the whole mount for itself, after which every other
/// user's write, root's too, failed with ENOSPC. Now a user stops at its
/// own share (EDQUOT), another user's write to its own slot still works,
/// unprivileged users together stop short of root's reserve (ENOSPC), root
/// still writes, nothing already queued is lost, and the log names the user.
#[test]
fn one_user_cannot_fill_the_mount_for_everybody() {
    // Per user: 32 MiB / 8 = 4 MiB; root's reserve 32 MiB / 20.
    let m = Mount::with_args(&["--allow-other", "--max-total-bytes", "32M"]);
    let out = py(
        &format!(
            r#"{SPAWN}
M = sys.argv[1]
FILLER = {FILLER:?}
hostile = spawn(4242, FILLER, M, 'h', 64)
print('hostile', *line(hostile))
# Another user's write to its own slot.
victim = spawn(4343, '''
import os, sys, errno
p = os.path.join(sys.argv[1], 'mine')
s = os.open(p, os.O_CREAT | os.O_RDONLY, 0o600)
try:
    print(os.write(os.open(p, os.O_WRONLY), b'still mine'), os.read(s, 100).decode())
except OSError as e:
    print(errno.errorcode[e.errno])
''', M)
print('victim', *finish(victim))
# Eight more users fill what is left for unprivileged users.
others = [spawn(5000 + i, FILLER, M, 'o%d-' % i, 64) for i in range(8)]
print('others', *sorted(set(line(p)[1] for p in others)))
# Root keeps its reserve.
os.umask(0)
r = os.open(M + '/root', os.O_CREAT | os.O_RDONLY | os.O_NONBLOCK, 0o600)
print('root', os.write(os.open(M + '/root', os.O_WRONLY), b'r' * 1000000))
print('users', os.getxattr(M, 'user.mailslot.users').decode().replace(chr(10), ';'))
for p in [hostile] + others:
    p.stdin.close()
print('hostile_back', *finish(hostile))
for p in others:
    finish(p)
"#
        ),
        &[&m.path],
    );
    let f: std::collections::HashMap<&str, &str> =
        out.lines().filter_map(|l| l.split_once(' ')).collect();
    // 4 MiB of 64 KiB messages: 64 of them, then EDQUOT.
    assert_eq!(f["hostile"], "64 EDQUOT", "{out}\n{}", m.log());
    assert_eq!(f["victim"], "10 still mine", "{out}\n{}", m.log());
    assert_eq!(f["others"], "EDQUOT ENOSPC", "{out}\n{}", m.log());
    assert_eq!(f["root"], "1000000", "{out}\n{}", m.log());
    assert!(f["users"].contains("uid 4242 bytes=4194304"), "{out}");
    assert_eq!(f["hostile_back"], "64", "{out}");
    let log = m.log();
    assert!(
        log.contains("uid 4242 reached its limit of 4194304 bytes queued (max_user_bytes)"),
        "{log}"
    );
}

/// Item 2 (directories), at the default limit: a chain of nested
/// directories by one user used to grow without end (100,000 of them grew
/// the daemon by 107 MiB). Now the user stops at 1,024 directories with
/// EDQUOT and every other user still makes its own.
#[test]
fn a_chain_of_directories_is_bounded_per_user() {
    let m = Mount::with_args(&["--allow-other"]);
    let out = py(
        &format!(
            r#"{SPAWN}
M = sys.argv[1]
chain = spawn(4242, '''
import os, sys, errno
os.chdir(sys.argv[1])
depth, err = 0, 'none'
try:
    while depth < 1500:
        os.mkdir('d')
        os.chdir('d')
        depth += 1
except OSError as e:
    err = errno.errorcode[e.errno]
print(depth, err)
''', M)
print('chain', *finish(chain))
other = spawn(4343, '''
import os, sys
os.mkdir(os.path.join(sys.argv[1], 'elsewhere'))
os.mkdir(os.path.join(sys.argv[1], 'elsewhere', 'deeper'))
print('ok')
''', M)
print('other', *finish(other))
os.makedirs(M + '/rootdir/a/b')
print('root ok')
"#
        ),
        &[&m.path],
    );
    let chain = out.lines().find(|l| l.starts_with("chain ")).unwrap();
    let mut it = chain.split_whitespace().skip(1);
    let depth: usize = it.next().unwrap().parse().unwrap();
    assert_eq!(it.next(), Some("EDQUOT"), "{out}\n{}", m.log());
    assert!((1024..1030).contains(&depth), "{out}");
    assert!(out.contains("other ok"), "{out}");
    assert!(out.contains("root ok"), "{out}");
    assert!(
        m.log()
            .contains("uid 4242 reached its limit of 1024 directories (max_user_dirs)"),
        "{}",
        m.log()
    );
}

/// Item 5: uid 4242 used to create a slot named `net` and so keep root
/// from `net/getdc1` and `net/netlogon` (ENOTDIR). `net` is a directory
/// from the start that no slot can take.
#[test]
fn a_slot_cannot_take_net() {
    let m = Mount::with_args(&["--allow-other"]);
    let out = py(
        &format!(
            r#"{SPAWN}
M = sys.argv[1]
taker = spawn(4242, '''
import os, sys, errno
out = []
for flags in (os.O_CREAT | os.O_EXCL | os.O_RDONLY, os.O_CREAT | os.O_RDONLY):
    try:
        os.open(os.path.join(sys.argv[1], 'NET'), flags, 0o600)
        out.append('taken')
    except OSError as e:
        out.append(errno.errorcode[e.errno])
try:
    os.rmdir(os.path.join(sys.argv[1], 'net'))
except OSError as e:
    out.append(errno.errorcode[e.errno])
print(*out)
sys.stdin.read()
''', M)
print('taker', *line(taker))
os.makedirs(M + '/net/getdc1', exist_ok=True)
s = os.open(M + '/net/netlogon', os.O_CREAT | os.O_RDONLY | os.O_NONBLOCK, 0o666)
os.write(os.open(M + '/net/netlogon', os.O_WRONLY), b'logon')
print('root', os.read(s, 100).decode())
try:
    os.rmdir(M + '/net')
except OSError as e:
    print('rmdir', errno.errorcode[e.errno])
taker.stdin.close()
taker.wait()
"#
        ),
        &[&m.path],
    );
    assert!(out.contains("taker EEXIST EISDIR EPERM"), "{out}");
    assert!(out.contains("root logon"), "{out}");
    assert!(out.contains("rmdir EPERM"), "{out}");
}

/// Per-user limits set by `-o`: slots, waiting reads and bytes. The limited
/// user gets EDQUOT, every other user keeps working, nothing queued is
/// lost, and the log names the user.
#[test]
fn limits_set_by_o_hold_per_user() {
    let m = Mount::with_args(&[
        "--allow-other",
        "-o",
        "max_user_slots=8,max_user_waiting_reads=2,max_user_bytes=64K",
    ]);
    let out = py(
        &format!(
            r#"{SPAWN}
M = sys.argv[1]
limited = spawn(4242, '''
import os, sys, errno, threading
M = sys.argv[1]
os.umask(0)
def err(f):
    try:
        f()
        return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
slots = [os.open(os.path.join(M, 's%d' % i), os.O_CREAT | os.O_RDONLY, 0o666) for i in range(8)]
print('ninth', err(lambda: os.open(os.path.join(M, 's8'), os.O_CREAT | os.O_RDONLY, 0o666)), flush=True)
got = []
readers = [threading.Thread(target=lambda: got.append(os.read(slots[0], 100))) for _ in range(2)]
for t in readers:
    t.start()
import time
time.sleep(0.5)
print('third_read', err(lambda: os.read(slots[0], 100)), flush=True)
c = os.open(os.path.join(M, 's1'), os.O_WRONLY)
n = 0
while True:
    r = err(lambda: os.write(c, b'b' * 1000))
    if r != 'ok':
        break
    n += 1
print('bytes', n, r, flush=True)
sys.stdin.readline()
for t in readers:
    t.join(10)
print('readers', *sorted(g.decode() for g in got), flush=True)
back = 0
os.set_blocking(slots[1], False)
while True:
    try:
        os.read(slots[1], 2000)
        back += 1
    except BlockingIOError:
        break
print('back', back, flush=True)
''', M)
for _ in range(3):
    print(*line(limited))
other = spawn(4343, '''
import os, sys
M = sys.argv[1]
s = os.open(os.path.join(M, 'theirs'), os.O_CREAT | os.O_RDONLY | os.O_NONBLOCK, 0o600)
for i in range(2):
    os.write(os.open(os.path.join(M, 's0'), os.O_WRONLY), b'wake%d' % i)
# Charged to this writer, not to the slot's owner.
os.write(os.open(os.path.join(M, 's1'), os.O_WRONLY), b'c' * 1000)
print('other ok')
''', M)
print(*finish(other))
print('users', os.getxattr(M, 'user.mailslot.users').decode().replace(chr(10), ';'))
limited.stdin.write('go\n')
limited.stdin.flush()
print(*line(limited))
print(*line(limited))
limited.wait()
"#
        ),
        &[&m.path],
    );
    assert!(out.contains("ninth EDQUOT"), "{out}\n{}", m.log());
    assert!(out.contains("third_read EDQUOT"), "{out}\n{}", m.log());
    // 64 KiB of 1,016-byte charges: 64 messages.
    assert!(out.contains("bytes 64 EDQUOT"), "{out}\n{}", m.log());
    assert!(out.contains("other ok"), "{out}");
    assert!(out.contains("uid 4242 bytes=65024 slots=8"), "{out}");
    assert!(out.contains("readers wake0 wake1"), "{out}");
    assert!(out.contains("back 65"), "{out}");
    let log = m.log();
    for what in [
        "uid 4242 reached its limit of 8 slots (max_user_slots)",
        "uid 4242 reached its limit of 2 waiting reads (max_user_waiting_reads)",
        "uid 4242 reached its limit of 65536 bytes queued (max_user_bytes)",
    ] {
        assert!(log.contains(what), "{what}: {log}");
    }
}

/// Items 4 and 8: uid 4242 writing to hundreds of names nobody has used to
/// take every pending resolution of the mount (everybody else's writes to
/// computers not yet cached failed with EAGAIN) and to write one log line
/// per refused name (5-6 MB in 5 s). Now it gets EDQUOT past its own share,
/// uid 4343's write to a computer that answers resolves and arrives, and
/// its lines in the log are bounded, with a summary naming it.
#[test]
fn one_user_cannot_hold_the_resolver_or_the_log() {
    let mut lan = Lan::new(2);
    let a = lan.start_with(0, &["--allow-other", "-q"]);
    let b = lan.start(1);
    let out = py(
        &format!(
            r#"{SPAWN}
A, B = sys.argv[1:3]
flood = spawn(4242, '''
import os, sys, errno, threading, time
A = sys.argv[1]
errs = {{}}
lock = threading.Lock()
end = time.time() + 12
def writer(i):
    while time.time() < end:
        try:
            fd = os.open(A + '/@nobody%d/x' % i, os.O_WRONLY)
            try:
                os.write(fd, b'flood')
            finally:
                os.close(fd)
            r = 'ok'
        except OSError as e:
            r = errno.errorcode[e.errno]
        with lock:
            errs[r] = errs.get(r, 0) + 1
threads = [threading.Thread(target=writer, args=(i,)) for i in range(300)]
for t in threads:
    t.start()
print('started', flush=True)
for t in threads:
    t.join()
print(*sorted(errs), flush=True)
''', A)
line(flood)
time.sleep(2)
inbox = server(B + '/inbox')
victim = spawn(4343, '''
import os, sys, errno
try:
    fd = os.open(sys.argv[1] + '/@host1/inbox', os.O_WRONLY)
    print(os.write(fd, b'through'))
except OSError as e:
    print(errno.errorcode[e.errno])
''', A)
print('victim', *finish(victim))
print('arrived', take(inbox))
print('flood', *finish(flood))
"#
        ),
        &[&a, &b],
    );
    assert!(out.contains("victim 7"), "{out}\n{}", lan.log(0));
    assert!(out.contains("arrived b'through'"), "{out}");
    let flood = out.lines().find(|l| l.starts_with("flood")).unwrap();
    assert!(flood.contains("EDQUOT"), "{out}");
    assert!(!flood.contains("EAGAIN"), "{out}");
    // The summary of what was suppressed comes once the window is over.
    let start = Instant::now();
    wait_until("the summary line", Duration::from_secs(30), || {
        lan.log(0).contains("line(s) for uid 4242 suppressed")
    });
    let log = lan.log(0);
    let unresolved = log.matches("did not answer a name query").count();
    // 5 lines and a notice per 10 s window, over the 12 s flood and the wait.
    let windows = (14 + start.elapsed().as_secs()) / 10 + 1;
    assert!(
        unresolved as u64 <= 6 * windows,
        "{unresolved} lines in {windows} windows:\n{log}"
    );
    eprintln!(
        "log: {} bytes, {unresolved} unresolved-name lines in {windows} windows",
        log.len()
    );
    assert!(log.len() < 64 * 1024, "{} bytes of log:\n{log}", log.len());
}
