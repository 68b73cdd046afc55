//! Point 12 of docs/reliability.md.
//!
//! Memory follows what is queued: slots filled to their quota and then read
//! back but for one message each leave the daemon holding memory for those
//! few messages, not for every slot's peak, once the grace a drained ring
//! keeps its capacity for has passed.

use std::time::Duration;

use mailslotfs::core::queue::SHRINK_GRACE;

use crate::common::Mount;
use crate::util::{self, figure, figures, py_within};

const MAX_QUEUED: u64 = 16 << 20;
/// Slots filled and read back, each kept open with one message queued.
const SLOTS: u64 = 8;
/// What the daemon may hold beyond its baseline once the slots are read
/// back: what is still queued (a few hundred KiB), allocator slack, request
/// buffers. Well under one slot's quota, so a ring that keeps its peak
/// capacity fails the test on its own.
const OVERHEAD_KIB: u64 = 8 << 10;

const SCRIPT: &str = r#"
FRAME = 16
SIZE = 16 * 1024 - FRAME        # each message charged exactly 16 KiB
def message(slot, n):
    return struct.pack('<II', slot, n) + bytes([(slot + n) & 0xff]) * (SIZE - 8)
def rss():
    with open('/proc/%d/status' % DAEMON) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS for the daemon')
def settled_rss():
    # The smallest of a few readings: one taken while a request is being
    # served is not the daemon's settled size.
    readings = []
    for _ in range(5):
        time.sleep(0.1)
        readings.append(rss())
    return min(readings)
def drained_rss(bound):
    # A drained ring keeps its capacity for GRACE before its timer gives it
    # back, so the daemon's size is read after that. Readings go on while
    # over the bound, up to a deadline that is liveness only: a timer that
    # never fires fails the bound, not this wait.
    time.sleep(GRACE)
    deadline = time.monotonic() + 30
    best = settled_rss()
    while best > bound and time.monotonic() < deadline:
        best = min(best, settled_rss())
    return best

def fill_and_read_back(slot, keep):
    name = 'slot%d' % slot
    s = server(name)
    c = client(name)
    n = 0
    while True:
        try:
            os.write(c, message(slot, n))
        except OSError as e:
            assert e.errno == errno.ENOSPC, errno.errorcode[e.errno]
            break
        n += 1
    os.close(c)
    assert n == MAX_QUEUED // (SIZE + FRAME), (name, n)
    for i in range(n - keep):
        assert os.read(s, SIZE) == message(slot, i), (name, i)
    assert xattr(name, 'message_count') == str(keep)
    return s, n - keep

# One cycle first: the threads, buffers and arenas a daemon keeps for its
# life exist after it, so the baseline holds them.
s, _ = fill_and_read_back(100, 0)
os.close(s)
time.sleep(GRACE)
baseline = settled_rss()
kept = [fill_and_read_back(i, 1) for i in range(SLOTS)]
after = drained_rss(baseline + OVERHEAD_KIB)
queued = sum(int(xattr('slot%d' % i, 'queued_bytes')) for i in range(SLOTS))
# nothing was lost on the way: each slot still gives its last message
for i, (s, last) in enumerate(kept):
    assert os.read(s, SIZE) == message(i, last), ('slot%d' % i, last)
    os.close(s)
print('baseline_kib=%d' % baseline)
print('after_kib=%d' % after)
print('queued_bytes=%d' % queued)
"#;

#[test]
fn slots_read_back_but_for_one_message_give_their_memory_back() {
    let m = Mount::with_args(&["--max-queued-bytes", &MAX_QUEUED.to_string()]);
    let vars = format!(
        "DAEMON = {}\nMAX_QUEUED = {MAX_QUEUED}\nSLOTS = {SLOTS}\nOVERHEAD_KIB = {OVERHEAD_KIB}\n\
         GRACE = {}\n",
        m.pid(),
        SHRINK_GRACE.as_secs_f64()
    );
    let out = py_within(&m, &vars, SCRIPT, Duration::from_secs(300));
    util::report("memory", &out);
    let f = figures(&out);
    let (baseline, after) = (figure(&f, "baseline_kib"), figure(&f, "after_kib"));
    let bound = baseline + OVERHEAD_KIB;
    assert!(
        after <= bound,
        "{SLOTS} slots filled to {} MiB and read back but for one message left the daemon at \
         {after} KiB, over its baseline plus {} MiB ({bound} KiB), for {} bytes queued:\n{out}",
        MAX_QUEUED >> 20,
        OVERHEAD_KIB >> 10,
        figure(&f, "queued_bytes")
    );
    util::assert_daemon_healthy(&m);
}
