//! Point 2 of docs/reliability.md.
//!
//! Readers that vanish.
//!
//! The server of a slot is killed while clients keep writing into it: the
//! clients' writes fail with EPIPE from then on, the name leaves the
//! directory, a new client cannot open it, the inode goes once the last
//! client handle closes, and the messages queued in the slot are given back:
//! the daemon's resident memory returns to what it was before.

use std::time::Duration;

use crate::common::Mount;
use crate::util::{self, figure, figures, pick, py_within, settled_rss_kib};

/// Queued bytes reached before the server is killed: large next to the
/// daemon's own few MiB, so memory kept after a slot goes cannot hide.
const FILL_BYTES: u64 = 24 << 20;
/// What the daemon may keep over its baseline after the slots are gone:
/// allocator slack (a few partly used pages per arena) and fuser's buffers.
const TOLERANCE_KIB: u64 = 4 << 10;

const CYCLE: &str = r#"
import random
rng = random.Random(SEED)
base_files = os.statvfs(M).f_files
CLIENTS = 4
res = {'epipe': 0, 'ok_writes': 0, 'enospc': 0}
for cycle in range(CYCLES):
    name = 'vanish%d' % (cycle % 3)
    ready_r, ready_w = os.pipe()
    server_pid = os.fork()
    if server_pid == 0:
        s = server(name, os.O_RDONLY, 0o622)
        os.write(ready_w, b'x')
        while True:
            os.read(s, 1 << 20)      # reads a little, then waits until killed
            time.sleep(0.05)
    os.read(ready_r, 1)
    # Clients: write until the slot goes; report how each write ended.
    report_r, report_w = os.pipe()
    kids = []
    for i in range(CLIENTS):
        pid = os.fork()
        if pid == 0:
            os.close(report_r)
            c = client(name)
            ok = enospc = 0
            end = 'none'
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    os.write(c, bytes([i]) * rng.randrange(1, 64 << 10))
                    ok += 1
                except OSError as e:
                    if e.errno == errno.ENOSPC:
                        enospc += 1
                        time.sleep(0.002)
                        continue
                    end = errno.errorcode[e.errno]
                    break
            # every later write fails the same way
            again = err(os.write, c, b'late')
            os.write(report_w, ('%d %d %s %s\n' % (ok, enospc, end, again)).encode())
            os._exit(0)
        kids.append(pid)
    os.close(report_w)
    deadline = time.time() + 30
    while int(xattr(name, 'queued_bytes')) < FILL:
        assert time.time() < deadline, 'the slot never filled: %s' % xattr(name, 'queued_bytes')
        time.sleep(0.01)
    peak = int(open('/proc/%d/status' % DAEMON).read().split('VmRSS:')[1].split()[0])
    res['peak_kib'] = max(res.get('peak_kib', 0), peak)
    time.sleep(rng.uniform(0, 0.05))
    os.kill(server_pid, signal.SIGKILL)
    os.waitpid(server_pid, 0)
    # the name goes with its server
    deadline = time.time() + 2
    while name in os.listdir(M):
        assert time.time() < deadline, 'slot still listed 2s after its server died'
        time.sleep(0.005)
    assert err(os.stat, P(name)) == 'ENOENT', err(os.stat, P(name))
    assert err(client, name) == 'ENOENT', err(client, name)
    reports = b''
    while True:
        chunk = os.read(report_r, 4096)
        if not chunk:
            break
        reports += chunk
    os.close(report_r)
    for pid in kids:
        assert os.waitpid(pid, 0)[1] == 0
    for line in reports.decode().splitlines():
        ok, enospc, end, again = line.split()
        assert end == 'EPIPE' and again == 'EPIPE', line
        res['epipe'] += 1
        res['ok_writes'] += int(ok)
        res['enospc'] += int(enospc)
# every inode of the slots is gone once their last handles are
deadline = time.time() + 5
while os.statvfs(M).f_files != base_files:
    assert time.time() < deadline, (os.statvfs(M).f_files, base_files)
    time.sleep(0.01)
res['cycles'] = CYCLES
for k, v in res.items():
    print('%s=%s' % (k, v))
"#;

fn cycles(m: &Mount, cycles: u32) -> String {
    let vars = format!(
        "SEED = {}\nCYCLES = {cycles}\nFILL = {FILL_BYTES}\nDAEMON = {}\n",
        util::seed(),
        m.pid()
    );
    py_within(
        m,
        &vars,
        CYCLE,
        Duration::from_secs(60 + 20 * u64::from(cycles)),
    )
}

#[test]
fn a_killed_server_gives_clients_epipe_and_leaves_nothing_behind() {
    let m = Mount::with_args(&["--max-queued-bytes", "32MiB"]);
    let n = pick(3, 40);
    let out = cycles(&m, n);
    util::report("vanish", &out);
    let f = figures(&out);
    assert_eq!(figure(&f, "cycles"), u64::from(n), "{out}");
    assert_eq!(figure(&f, "epipe"), 4 * u64::from(n), "{out}");
    util::assert_daemon_healthy(&m);
}

/// The queued messages of a slot whose server died go back to the system:
/// the daemon's resident memory returns to its baseline. (glibc keeps freed
/// large blocks in its arenas once its mmap threshold has risen, which the
/// daemon prevents by fixing the threshold at start; this test is what
/// notices if that ever stops working.)
#[test]
fn the_daemon_gives_back_the_memory_of_slots_that_went() {
    let m = Mount::with_args(&["--max-queued-bytes", "32MiB"]);
    let pid = m.pid();
    // One cycle first, so that the threads, buffers and allocator arenas a
    // daemon keeps for its whole life exist before the baseline is taken.
    cycles(&m, 1);
    let baseline = settled_rss_kib(pid);
    let out = cycles(&m, pick(10, 40));
    let after = settled_rss_kib(pid);
    let report = format!("{out}baseline_kib={baseline}\nafter_kib={after}\n");
    util::report("vanish-memory", &report);
    let f = figures(&report);
    assert!(
        figure(&f, "peak_kib") > baseline + (FILL_BYTES >> 10) / 2,
        "the queued messages should have shown in the daemon's memory:\n{report}"
    );
    assert!(
        after <= baseline + TOLERANCE_KIB,
        "the daemon kept {} KiB after its slots went (tolerance {TOLERANCE_KIB} KiB):\n{report}",
        after.saturating_sub(baseline)
    );
    util::assert_daemon_healthy(&m);
}
