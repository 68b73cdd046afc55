//! Point 4 of docs/reliability.md.
//!
//! Load: 64 writer processes, 8 slots, messages of random sizes up to
//! the slot's maximum, on a mount with small queue limits so that writes
//! are often refused.
//!
//! Every message is accounted for: read exactly once, or refused with an
//! errno its writer saw (ENOSPC, the only refusal allowed here). Each
//! writer's messages to a slot arrive in the order it wrote them, nothing
//! stalls, and the daemon's memory stays within what the limits allow.

use std::time::Duration;

use crate::common::Mount;
use crate::util::{self, RssWatch, figure, figures, pick, py_within, settled_rss_kib};

const MAX_MESSAGE: u64 = 64 << 10;
const MAX_QUEUED: u64 = 256 << 10;
const MAX_TOTAL: u64 = 1 << 20;
const SLOTS: u64 = 8;
/// Memory the daemon may use under load beyond its idle baseline and the
/// queues themselves: fuser's request buffer (max_write, 1 MiB), the reply
/// kept for each waiting read, allocator slack. Measured: under 3 MiB;
/// see docs/reliability.md.
const OVERHEAD_KIB: u64 = 8 << 10;

const SCRIPT: &str = r#"
import mmap, random
WRITERS = 64
HDR = struct.Struct('<4sHHIII')          # magic, writer, slot, seq, size, pad byte
MAGIC = b'LOAD'
# shared counters: per (writer, slot) accepted writes; per writer refusals
shm = mmap.mmap(-1, 8 * (WRITERS * SLOTS + 2 * WRITERS + SLOTS + 16))
def acc_off(w, k): return 8 * (w * SLOTS + k)
def refused_off(w): return 8 * (WRITERS * SLOTS + w)
def other_off(w): return 8 * (WRITERS * SLOTS + WRITERS + w)
def read_off(k): return 8 * (WRITERS * SLOTS + 2 * WRITERS + k)
def get(off): return struct.unpack_from('<Q', shm, off)[0]
def add(off, n=1): struct.pack_into('<Q', shm, off, get(off) + n)

def payload_byte(w, seq): return (w * 7 + seq) & 0xff

servers = [server('load%d' % k, os.O_RDONLY, 0o600) for k in range(SLOTS)]
readers = []
for k in range(SLOTS):
    pid = os.fork()
    if pid == 0:
        s = servers[k]
        expect = [0] * WRITERS
        while True:
            msg = os.read(s, MAX_MESSAGE)
            if msg == b'END':
                break
            magic, w, slot, seq, size, pad = HDR.unpack_from(msg)
            assert magic == MAGIC and slot == k and size == len(msg), (k, msg[:HDR.size], len(msg))
            # each writer's messages to this slot: in order, none missing, none twice
            assert seq == expect[w], ('writer', w, 'slot', k, 'got seq', seq, 'expected', expect[w])
            assert msg.count(bytes([pad]), HDR.size) == size - HDR.size, ('payload', w, seq)
            expect[w] += 1
            add(read_off(k))
            if sum(expect) % 64 == 0:
                time.sleep(0.02)     # a slow reader now and then lets the queues fill
        for w in range(WRITERS):
            assert expect[w] == get(acc_off(w, k)), ('slot', k, 'writer', w, 'read', expect[w], 'accepted', get(acc_off(w, k)))
        os._exit(0)
    readers.append(pid)

start = time.time()
writers = []
for w in range(WRITERS):
    pid = os.fork()
    if pid == 0:
        rng = random.Random(SEED * 1000 + w)
        handles = [client('load%d' % k) for k in range(SLOTS)]
        seq = [0] * SLOTS
        while time.time() - start < DURATION:
            k = rng.randrange(SLOTS)
            # sizes spread from the header alone up to the slot's maximum
            size = min(MAX_MESSAGE, max(HDR.size, int(2 ** rng.uniform(4, 16.2))))
            pad = payload_byte(w, seq[k])
            msg = HDR.pack(MAGIC, w, k, seq[k], size, pad) + bytes([pad]) * (size - HDR.size)
            try:
                os.write(handles[k], msg)
            except OSError as e:
                if e.errno == errno.ENOSPC:
                    add(refused_off(w))
                    time.sleep(0.0005)
                    continue
                add(other_off(w))
                print('writer', w, 'got', errno.errorcode[e.errno], file=sys.stderr)
                os._exit(3)
            # counted before the next write, so a reader never sees more than this
            add(acc_off(w, k))
            seq[k] += 1
        os._exit(0)
    writers.append(pid)

# No deadlock: reads keep coming while writers write.
def reap(pids, what):
    for p in list(pids):
        done, status = os.waitpid(p, os.WNOHANG)
        if done:
            assert status == 0, (what, p, status)
            pids.remove(p)
live = list(writers)
last, last_change = -1, time.time()
while live:
    reap(live, 'writer')
    n = sum(get(read_off(k)) for k in range(SLOTS))
    if n != last:
        last, last_change = n, time.time()
    assert time.time() - last_change < 20, 'no message read for 20s: a stall (%d read)' % n
    assert time.time() - start < DURATION + 60, 'writers still writing 60s after their end'
    time.sleep(0.2)
writing = time.time() - start
# every reader ends on its END, after every accepted message
for k in range(SLOTS):
    c = client('load%d' % k)
    while err(os.write, c, b'END') == 'ENOSPC':
        time.sleep(0.01)
deadline = time.time() + 60
live = list(readers)
while live:
    reap(live, 'reader')
    assert time.time() < deadline, 'readers did not finish within 60s of the END'
    time.sleep(0.05)
accepted = sum(get(acc_off(w, k)) for w in range(WRITERS) for k in range(SLOTS))
read = sum(get(read_off(k)) for k in range(SLOTS))
refused = sum(get(refused_off(w)) for w in range(WRITERS))
print('writers=%d' % WRITERS)
print('slots=%d' % SLOTS)
print('seconds=%d' % round(writing))
print('accepted=%d' % accepted)
print('read=%d' % read)
print('refused_enospc=%d' % refused)
print('other_errors=%d' % sum(get(other_off(w)) for w in range(WRITERS)))
print('messages_per_second=%d' % (read / writing))
"#;

#[test]
fn sixty_four_writers_eight_slots_every_message_accounted_for() {
    let m = Mount::with_args(&[
        "--max-message-size",
        &MAX_MESSAGE.to_string(),
        "--max-queued-bytes",
        &MAX_QUEUED.to_string(),
        "--max-total-bytes",
        &MAX_TOTAL.to_string(),
    ]);
    let baseline = settled_rss_kib(m.pid());
    let duration = pick(5, 60);
    let vars = format!(
        "SEED = {}\nDURATION = {duration}\nSLOTS = {SLOTS}\nMAX_MESSAGE = {MAX_MESSAGE}\n",
        util::seed()
    );
    let watch = RssWatch::start(m.pid());
    let out = py_within(&m, &vars, SCRIPT, Duration::from_secs(duration + 180));
    let peak = watch.stop();
    let bound = baseline + SLOTS * (MAX_QUEUED >> 10) + OVERHEAD_KIB;
    let report = format!("{out}baseline_kib={baseline}\npeak_kib={peak}\nbound_kib={bound}\n");
    util::report("load", &report);
    let f = figures(&report);
    assert_eq!(figure(&f, "accepted"), figure(&f, "read"), "{report}");
    assert_eq!(figure(&f, "other_errors"), 0, "{report}");
    assert!(figure(&f, "read") > 0, "{report}");
    // The limits were small enough to be met.
    assert!(figure(&f, "refused_enospc") > 0, "{report}");
    assert!(
        peak <= bound,
        "the daemon's memory ({peak} KiB) passed what its queue limits allow ({bound} KiB):\n{report}"
    );
    util::assert_daemon_healthy(&m);
}
