//! Point 5 of docs/reliability.md.
//!
//! Flood: writers that never stop against servers that never read.
//!
//! Writes start failing with ENOSPC exactly at the slot's limit, and at the
//! mount's limit once several slots are flooded; the daemon's memory stays
//! under the mount's limit plus a fixed overhead; other slots keep working;
//! and once the server reads, writes succeed again. Nothing accepted is
//! lost or reordered along the way.

use std::time::Duration;

use crate::common::Mount;
use crate::util::{self, RssWatch, figure, figures, pick, py_within, settled_rss_kib};

const MAX_QUEUED: u64 = 4 << 20;
const MAX_TOTAL: u64 = 16 << 20;
/// What the daemon may hold beyond its idle baseline and the bytes queued:
/// ring buffers round up to the next message, fuser's request buffer,
/// allocator slack. Measured: under 2 MiB; see docs/reliability.md.
const OVERHEAD_KIB: u64 = 8 << 10;

const SCRIPT: &str = r#"
import mmap
SIZE = 1000
FRAME = 16
FLOODERS = 5
shm = mmap.mmap(-1, 4096)
# per flooder: accepted (u64), refused (u64), accepted when first refused (i64), go flag, stop flag
def off(i, f): return 64 * i + 8 * f
ACC, REF, FIRST, GO, STOP = range(5)
def get(i, f): return struct.unpack_from('<q', shm, off(i, f))[0]
def put(i, f, v): struct.pack_into('<q', shm, off(i, f), v)
def message(i, seq): return struct.pack('<II', i, seq) + bytes([seq & 0xff]) * (SIZE - 8)

servers = [server('flood%d' % i) for i in range(FLOODERS)]
ok = server('ok')
for i in range(FLOODERS):
    put(i, FIRST, -1)
    pid = os.fork()
    if pid == 0:
        while get(i, GO) == 0:
            time.sleep(0.005)
        c = client('flood%d' % i)
        seq = 0
        while get(i, STOP) == 0:
            try:
                os.write(c, message(i, seq))
            except OSError as e:
                assert e.errno == errno.ENOSPC, errno.errorcode[e.errno]
                if get(i, FIRST) < 0:
                    put(i, FIRST, seq)
                put(i, REF, get(i, REF) + 1)
                time.sleep(0.0002)       # never stops, but leaves the CPU to others
                continue
            seq += 1
            put(i, ACC, seq)
        os._exit(0)

def wait_refused(i):
    deadline = time.time() + 60
    while get(i, FIRST) < 0:
        assert time.time() < deadline, 'flooder %d never refused' % i
        time.sleep(0.01)

def round_trips(n):
    c = client('ok')
    for j in range(n):
        os.write(c, b'ok %d' % j)
        assert os.read(ok, 100) == b'ok %d' % j
    os.close(c)

# Phase A: one slot flooded; its writes stop exactly at the slot's limit.
put(0, GO, 1)
wait_refused(0)
per_slot = MAX_QUEUED // (SIZE + FRAME)
assert get(0, FIRST) == per_slot, (get(0, FIRST), per_slot)
t = time.time()
while time.time() - t < FLOOD_SECONDS:
    round_trips(50)                   # other slots keep working meanwhile
    s = server('fresh')               # and new slots come and go
    send('fresh', b'hi')
    assert os.read(s, 10) == b'hi'
    os.close(s)
assert get(0, ACC) == per_slot, 'a full slot took more: %d' % get(0, ACC)
assert int(xattr('flood0', 'queued_bytes')) == per_slot * SIZE
print('phase_a_refused=%d' % get(0, REF))
print('per_slot_messages=%d' % per_slot)

# Phase B: more slots flooded until the mount's limit refuses.
for i in range(1, FLOODERS):
    put(i, GO, 1)
    wait_refused(i)
time.sleep(FLOOD_SECONDS)
charged = sum(get(i, ACC) for i in range(FLOODERS)) * (SIZE + FRAME)
assert MAX_TOTAL - (SIZE + FRAME) < charged <= MAX_TOTAL, (charged, MAX_TOTAL)
# the mount is full: other slots still answer, and refuse what does not fit
# with ENOSPC (a message as large as the flood's)
assert err(send, 'ok', b'x' * SIZE) == 'ENOSPC'
assert xattr('ok', 'message_count') == '0'
os.set_blocking(ok, False)
assert err(os.read, ok, 10) == 'EAGAIN'
os.set_blocking(ok, True)
s = server('fresh')
assert err(send, 'fresh', b'x' * SIZE) == 'ENOSPC'
os.close(s)
print('charged_at_mount_limit=%d' % charged)
print('phase_b_refused=%d' % sum(get(i, REF) for i in range(1, FLOODERS)))

# Phase C: the server of flood0 reads; writes succeed again.
before = get(0, ACC)
for n in range(200):
    msg = os.read(servers[0], SIZE)
    assert msg == message(0, n), ('flood0', n)
deadline = time.time() + 10
while get(0, ACC) <= before:
    assert time.time() < deadline, 'writes never succeeded again after the server read'
    time.sleep(0.01)
# (The flooders take back at once whatever the read freed: the mount stays
# full, as it should, until they stop.)
for i in range(FLOODERS):
    put(i, STOP, 1)
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        break
# every accepted message is still there, whole and in order
for i in range(FLOODERS):
    first = 200 if i == 0 else 0
    os.set_blocking(servers[i], False)
    n = first
    while True:
        try:
            msg = os.read(servers[i], SIZE)
        except BlockingIOError:
            break
        assert msg == message(i, n), ('flood%d' % i, n)
        n += 1
    assert n == get(i, ACC), ('flood%d' % i, 'read', n, 'accepted', get(i, ACC))
round_trips(10)                       # the flood read, every slot works again
print('accepted_total=%d' % sum(get(i, ACC) for i in range(FLOODERS)))
print('refused_total=%d' % sum(get(i, REF) for i in range(FLOODERS)))
"#;

#[test]
fn a_flood_stops_at_the_limits_and_leaves_other_slots_working() {
    let m = Mount::with_args(&[
        "--max-queued-bytes",
        &MAX_QUEUED.to_string(),
        "--max-total-bytes",
        &MAX_TOTAL.to_string(),
    ]);
    let baseline = settled_rss_kib(m.pid());
    let seconds = pick(1, 30);
    let vars =
        format!("FLOOD_SECONDS = {seconds}\nMAX_QUEUED = {MAX_QUEUED}\nMAX_TOTAL = {MAX_TOTAL}\n");
    let watch = RssWatch::start(m.pid());
    let out = py_within(&m, &vars, SCRIPT, Duration::from_secs(120 + 3 * seconds));
    let peak = watch.stop();
    let bound = baseline + (MAX_TOTAL >> 10) + OVERHEAD_KIB;
    let report = format!(
        "{out}baseline_kib={baseline}\npeak_kib={peak}\nbound_kib={bound}\nover_limit_kib={}\n",
        peak.saturating_sub(baseline + (MAX_TOTAL >> 10))
    );
    util::report("flood", &report);
    let f = figures(&report);
    assert!(figure(&f, "refused_total") > 0, "{report}");
    assert!(
        peak <= bound,
        "the daemon's memory ({peak} KiB) passed the mount's limit plus overhead ({bound} KiB):\n{report}"
    );
    util::assert_daemon_healthy(&m);
}
