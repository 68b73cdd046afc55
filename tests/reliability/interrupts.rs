//! Point 1 of docs/reliability.md.
//!
//! Interrupted readers lose nothing.
//!
//! Readers blocked in read() on one slot are hit by SIGINT, SIGALRM (with
//! and without SA_RESTART) and SIGKILL at random moments while writers keep
//! writing. Afterwards every message written has been read exactly once:
//! by a reader, or by the next reader, which drains the slot.
//!
//! Each reader reads straight into a shared memory page, one buffer per
//! message, and counts a message as its own once read() has returned it.
//! After a reader dies, its page tells apart the messages it got, a message
//! the daemon handed to it as it died (in its buffer, but read() never
//! returned: delivered to a dying reader, which counts as lost), and
//! anything else: a message the daemon dropped or duplicated.
//!
//! Readers come in four kinds, all forked from the slot's server and so
//! holding its server handle: C-like (libc read() through ctypes; EINTR is
//! seen and the read repeated; SIGINT keeps its default action and kills)
//! and Python (os.readv, repeated on EINTR by Python itself; SIGINT has a
//! handler), each with its SIGALRM handler installed with SA_RESTART and
//! without. No handler raises: an exception thrown between read() returning
//! and the reader's count would lose a message in the reader, not in the
//! daemon.
//!
//! Where fatal signals go. A message goes to the reader that has waited
//! longest. A reader killed while it is that reader and a message is on its
//! way loses the message: the daemon's last look at the reader's signals
//! comes before the reply, and after the reply the kernel still has to wake
//! the reader and return it to user space, which on a busy machine takes
//! milliseconds. So:
//! - `Fatal::Newest` (the normal suite, and a long run) kills the reader
//!   that began waiting last, behind at least two other waiting readers.
//!   Messages reach it only after those, so the kill lands well before any
//!   message does; the
//!   daemon must still notice, at hand-over or in its next sweep, that the
//!   reader is dying and give its message to the next one. No loss allowed.
//! - `Fatal::Anyone` kills any reader, the one at the head of the queue
//!   included, and measures how often a message is in flight to it;
//!   docs/reliability.md gives the figures and the long run's threshold.

use std::time::Duration;

use crate::common::Mount;
use crate::util::{self, figure, figures, pick, py_within};

#[derive(Clone, Copy, Debug)]
pub enum Fatal {
    Newest,
    Anyone,
}

const SCRIPT: &str = r#"
import ctypes, mmap, random, traceback
rng = random.Random(SEED)
libc = ctypes.CDLL(None, use_errno=True)
libc.read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.read.restype = ctypes.c_ssize_t

MAGIC = b'MSLT'
SLOT = 128          # one received message per buffer
CAP = 256           # messages a reader takes before it retires (and is replaced)
HDR = 64
# counters at the start of a reader's page
H_COMMITTED, H_EINTR, H_ALRM, H_INT, H_READ_AT = 0, 4, 8, 12, 16   # u32 x4, then u64
H_SENT_AT, H_MAX_HANDLED = 24, 32   # u64: when the parent signalled; slowest handler (ns)
WRITERS = 2
KINDS = [('c', True), ('c', False), ('py', True), ('py', False)]   # (style, SA_RESTART)
SIGNALS = {signal.SIGINT, signal.SIGALRM, signal.SIGUSR1}

def get(buf, off): return struct.unpack_from('<I', buf, off)[0]
def put(buf, off, v): struct.pack_into('<I', buf, off, v)
def bump(buf, off): put(buf, off, get(buf, off) + 1)
def waiting_since(page, now=None): struct.pack_into('<Q', page, H_READ_AT, now if now is not None else time.monotonic_ns())
def handled(page):
    # How long after the parent's kill() the handler ran: the read ended.
    sent = struct.unpack_from('<Q', page, H_SENT_AT)[0]
    if sent:
        took = time.monotonic_ns() - sent
        if took > struct.unpack_from('<Q', page, H_MAX_HANDLED)[0]:
            struct.pack_into('<Q', page, H_MAX_HANDLED, took)

s = server('intr', os.O_RDONLY, 0o600)

# ---- writers: never signalled, so their count of accepted writes is exact
wshm = mmap.mmap(-1, 4096)
STOP = 2048
def message(w, seq):
    size = 14 + (seq * 7 + w * 13) % 87
    return struct.pack('<4sIIH', MAGIC, w, seq, size) + bytes([seq & 0xff]) * (size - 14)

def writer(w):
    c = client('intr')
    wr = random.Random(SEED * 31 + w)
    seq = 0
    while wshm[STOP] == 0:
        try:
            os.write(c, message(w, seq))
        except OSError as e:
            if e.errno != errno.ENOSPC:
                print('writer', w, 'write failed:', errno.errorcode[e.errno], file=sys.stderr)
                os._exit(3)
            time.sleep(0.001)
            continue
        seq += 1
        struct.pack_into('<Q', wshm, 8 * w, seq)
        time.sleep(wr.uniform(0, 2 * WRITE_GAP))
    os._exit(0)

# ---- readers
def reader(page, style, restart):
    stopped = [False]
    # A handler runs just before Python repeats an interrupted os.readv: the
    # repeated read joins the daemon's queue of waiting readers anew.
    def on_alarm(sig, frame): handled(page); bump(page, H_ALRM); waiting_since(page)
    def on_int(sig, frame): handled(page); bump(page, H_INT); waiting_since(page)
    def on_stop(sig, frame): stopped[0] = True
    signal.signal(signal.SIGALRM, on_alarm)
    signal.siginterrupt(signal.SIGALRM, not restart)   # False: SA_RESTART
    signal.signal(signal.SIGUSR1, on_stop)
    signal.signal(signal.SIGINT, signal.SIG_DFL if style == 'c' else on_int)
    # Signals sent before this point waited, blocked since the fork.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    base = ctypes.addressof(ctypes.c_char.from_buffer(page))
    view = memoryview(page)
    while not stopped[0]:
        k = get(page, H_COMMITTED)
        if k >= CAP:
            return
        waiting_since(page)
        if style == 'c':
            n = libc.read(s, base + HDR + k * SLOT, SLOT)
            e = ctypes.get_errno() if n < 0 else 0
        else:
            n = os.readv(s, [view[HDR + k * SLOT:HDR + (k + 1) * SLOT]])
            e = 0
        if n > 0:
            put(page, H_COMMITTED, k + 1)
        elif e == errno.EINTR:
            bump(page, H_EINTR)
        elif n == 0 and stopped[0]:
            return          # the stop sets a read timeout of 0: end of file
        else:
            print(style, 'reader: read gave', n, errno.errorcode.get(e), file=sys.stderr)
            os._exit(4)

readers = {}
def spawn(kind):
    page = mmap.mmap(-1, HDR + CAP * SLOT)
    # A signal arriving before the child has its own handlers must wait for
    # them, not meet the handlers it inherited from this process.
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    pid = os.fork()
    if pid == 0:
        try:
            reader(page, *kind)
        except BaseException:
            traceback.print_exc()
            os._exit(7)
        os._exit(0)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    readers[pid] = (page, kind)

stats = dict(rounds=0, sigint_fatal=0, sigint_handled=0, sigalrm_restart=0, sigalrm_norestart=0,
             sigkill=0, hit_blocked=0, reader_deaths=0, retired=0, eintr_seen=0,
             sigint_handler_ran=0, sigalrm_handler_ran=0, slowest_death_ms=0, slowest_handler_ms=0)
received = {}          # (writer, seq) -> times read
delivered_to_dying = []

def check_message(buf, where):
    magic, w, seq, size = struct.unpack_from('<4sIIH', buf, 0)
    assert magic == MAGIC and 0 <= w < WRITERS and size == len(buf), (where, bytes(buf[:16]), len(buf))
    assert bytes(buf) == message(w, seq), ('corrupted message', where, w, seq)
    return w, seq

def take(key):
    received[key] = received.get(key, 0) + 1

def account(pid, status):
    page, kind = readers.pop(pid)
    died = os.WIFSIGNALED(status)
    if not died and os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit('reader %d %s failed with status %d' % (pid, kind, status))
    committed = get(page, H_COMMITTED)
    last = {}
    for k in range(CAP):
        off = HDR + k * SLOT
        if bytes(page[off:off + 4]) != MAGIC:
            assert k >= committed, ('counted buffer without a message', pid, k, committed)
            break
        size = struct.unpack_from('<H', page, off + 12)[0]
        key = check_message(page[off:off + size], ('reader', pid, k))
        if k < committed or not died:
            # one reader gets each writer's messages in the order written
            assert last.get(key[0], -1) < key[1], ('out of order', pid, key, last)
            last[key[0]] = key[1]
            take(key)
        else:
            delivered_to_dying.append(key)
    stats['eintr_seen'] += get(page, H_EINTR)
    stats['sigint_handler_ran'] += get(page, H_INT)
    stats['sigalrm_handler_ran'] += get(page, H_ALRM)
    slowest = struct.unpack_from('<Q', page, H_MAX_HANDLED)[0] // 1000000
    stats['slowest_handler_ms'] = max(stats['slowest_handler_ms'], slowest)
    page.close()

def proc(pid, name):
    try:
        with open('/proc/%d/%s' % (pid, name)) as f:
            return f.read()
    except OSError as e:
        return str(e)

def wait_dead(pid, what):
    deadline = time.time() + 5
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.time() > deadline:
            raise SystemExit('reader %d still alive 5s after %s\nsyscall: %s\nstack:\n%s\nstatus:\n%s' % (
                pid, what, proc(pid, 'syscall'), proc(pid, 'stack'), proc(pid, 'status')))
        time.sleep(0.002)

def blocked_in_read(pid):
    # read or readv in progress, and asleep (not woken with a reply yet)
    call = proc(pid, 'syscall').split()
    state = proc(pid, 'stat').rsplit(')', 1)[-1].split()
    return bool(call) and call[0] in ('0', '19') and bool(state) and state[0] in 'DS'

def newest_waiter():
    # The reader that began waiting last, behind at least two others, so
    # that two messages must reach readers before one can reach it.
    waiting = [(struct.unpack_from('<Q', readers[p][0], H_READ_AT)[0], p) for p in readers if blocked_in_read(p)]
    return max(waiting)[1] if len(waiting) >= 3 else None

writers = []
for w in range(WRITERS):
    pid = os.fork()
    if pid == 0:
        writer(w)
    writers.append(pid)
for kind in KINDS:
    spawn(kind)

start = time.time()
while stats['rounds'] < ROUNDS:
    time.sleep(rng.uniform(0, 2 * ROUND_GAP))
    for pid in list(readers):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            kind = readers[pid][1]
            account(pid, status)
            stats['retired'] += 1
            spawn(kind)
    sig = rng.choice([signal.SIGINT, signal.SIGALRM, signal.SIGKILL])
    pid = rng.choice(sorted(readers))
    fatal = sig == signal.SIGKILL or (sig == signal.SIGINT and readers[pid][1][0] == 'c')
    if fatal and FATAL == 'newest':
        pid = newest_waiter()
        if pid is None:
            continue          # nobody waits right now: another moment
        fatal = sig == signal.SIGKILL or (sig == signal.SIGINT and readers[pid][1][0] == 'c')
        if not fatal:
            continue
    style, restart = readers[pid][1]
    if blocked_in_read(pid):
        stats['hit_blocked'] += 1
    struct.pack_into('<Q', readers[pid][0], H_SENT_AT, time.monotonic_ns())
    sent_at = time.monotonic()
    os.kill(pid, sig)
    stats['rounds'] += 1
    if sig == signal.SIGALRM:
        stats['sigalrm_restart' if restart else 'sigalrm_norestart'] += 1
    elif sig == signal.SIGINT:
        stats['sigint_fatal' if fatal else 'sigint_handled'] += 1
    else:
        stats['sigkill'] += 1
    if fatal:
        status = wait_dead(pid, signal.Signals(sig).name)
        stats['slowest_death_ms'] = max(stats['slowest_death_ms'], int((time.monotonic() - sent_at) * 1000))
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == sig, (pid, status)
        stats['reader_deaths'] += 1
        account(pid, status)
        spawn((style, restart))

wshm[STOP] = 1
for pid in writers:
    _, status = os.waitpid(pid, 0)
    assert status == 0, ('writer', status)
written = [struct.unpack_from('<Q', wshm, 8 * w)[0] for w in range(WRITERS)]
# Stop the readers: reads that start from now on end at once (a read
# timeout of 0), and SIGUSR1 ends the reads that wait.
os.setxattr(P('intr'), 'user.mailslot.read_timeout_ms', b'0')
for pid in list(readers):
    os.kill(pid, signal.SIGUSR1)
for pid in list(readers):
    account(pid, wait_dead(pid, 'SIGUSR1 (stop)'))
# the next reader: whatever is still queued
drained = 0
os.set_blocking(s, False)
while True:
    try:
        msg = os.read(s, 4096)
    except BlockingIOError:
        break
    take(check_message(msg, 'drain'))
    drained += 1

expected = {(w, q) for w in range(WRITERS) for q in range(written[w])}
missing = expected - set(received) - set(delivered_to_dying)
stats.update(written=sum(written), read=sum(received.values()), drained=drained,
             lost=len(delivered_to_dying), vanished=len(missing),
             duplicates=sum(1 for n in received.values() if n > 1),
             unknown=len(set(received) - expected), seconds=int(time.time() - start))
for k, v in stats.items():
    print('%s=%s' % (k, v))
print('lost_messages: %s' % sorted(delivered_to_dying)[:20])
print('vanished_messages: %s' % sorted(missing)[:20])
"#;

/// Runs the storm of signals and returns its figures.
pub fn storm(m: &Mount, rounds: u32, fatal: Fatal) -> String {
    let seed = util::seed();
    eprintln!("[interrupts] seed={seed} (MAILSLOTFS_SEED replays)");
    let vars = format!(
        "SEED = {seed}\nROUNDS = {rounds}\nROUND_GAP = 0.01\nWRITE_GAP = 0.01\nFATAL = {:?}\n",
        match fatal {
            Fatal::Newest => "newest",
            Fatal::Anyone => "anyone",
        }
    );
    let limit = Duration::from_secs(120 + u64::from(rounds) / 5);
    py_within(m, &vars, SCRIPT, limit)
}

/// The accounting every storm must pass; losses up to `allowed`.
pub fn check(out: &str, rounds: u32, allowed: u64) {
    let f = figures(out);
    assert_eq!(figure(&f, "rounds"), u64::from(rounds), "{out}");
    assert_eq!(
        figure(&f, "duplicates"),
        0,
        "a message was read twice:\n{out}"
    );
    assert_eq!(
        figure(&f, "unknown"),
        0,
        "a message nobody wrote was read:\n{out}"
    );
    assert_eq!(
        figure(&f, "vanished"),
        0,
        "messages were written but neither read nor handed to a dying reader:\n{out}"
    );
    assert!(
        figure(&f, "lost") <= allowed,
        "{} messages went to readers that died (allowed {allowed}):\n{out}",
        figure(&f, "lost")
    );
    assert_eq!(
        figure(&f, "written"),
        figure(&f, "read") + figure(&f, "lost"),
        "{out}"
    );
    assert!(
        figure(&f, "hit_blocked") * 2 >= u64::from(rounds),
        "most signals should find their reader blocked in read():\n{out}"
    );
    // Signals found their readers waiting and the readers went on.
    assert!(figure(&f, "eintr_seen") > 0, "{out}");
    assert!(figure(&f, "reader_deaths") > 0, "{out}");
    // Every round ended within a second: the killed reader was gone, the
    // handler of a handled signal had run.
    assert!(
        figure(&f, "slowest_death_ms") < 1000,
        "a killed reader took a second or more to go:\n{out}"
    );
    assert!(
        figure(&f, "slowest_handler_ms") < 1000,
        "a handled signal took a second or more to end its read:\n{out}"
    );
}

#[test]
fn interrupted_readers_lose_nothing() {
    let m = Mount::start();
    let rounds = pick(1000, 3000);
    let out = storm(&m, rounds, Fatal::Newest);
    util::report("interrupts", &out);
    // Losing a message takes three hand-overs before the daemon reads the
    // kernel's interrupt for the killed reader: none on a quiet machine; a
    // scheduling delay on a loaded one can let it happen (docs/interrupts.md).
    let deaths = figure(&figures(&out), "reader_deaths");
    check(&out, rounds, deaths / 100);
    util::assert_daemon_healthy(&m);
}

/// Fatal signals for any reader, the one at the head of the queue
/// included, while messages flow. A message in flight to a reader as it
/// dies is lost (counted, and it must be in that reader's buffer: nothing
/// may vanish or arrive twice). How often that happens depends on how
/// busy the machine is, so only the long run holds it to a rate: at most
/// 5% of the readers killed (docs/reliability.md has the figures).
#[test]
fn head_of_queue_kills_lose_only_the_message_in_flight() {
    let m = Mount::start();
    let rounds = pick(150, 1500);
    let out = storm(&m, rounds, Fatal::Anyone);
    util::report("interrupts-anyone", &out);
    let deaths = figure(&figures(&out), "reader_deaths");
    check(&out, rounds, pick(u64::MAX, deaths / 20));
    util::assert_daemon_healthy(&m);
}
