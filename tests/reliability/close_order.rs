//! A server's close is complete before its next request, whatever another
//! user does: uid 4242 closes 19,000 descriptors at once (directory
//! descriptors, or client handles of a slot of its own), which overflows the
//! kernel's background queue (`max_background`), while uid 4343 closes its
//! server handle. Right after the close, re-creating the name with `O_EXCL`
//! succeeds, and a write through a client opened before the close is
//! refused (EPIPE) instead of landing in the dead slot; every message a
//! write accepted is read once by the new server.

use std::time::Duration;

use crate::common::Mount;
use crate::util::{self, figure, figures, py_within};

const NEIGHBOURS: &str = r#"
import ctypes, resource, subprocess, traceback
libc = ctypes.CDLL(None, use_errno=True)
SYS_close_range = 436

def expect(fd, what):
    r, _, _ = select.select([fd], [], [], 120)
    assert r, 'no %r within 120 s' % what
    got = os.read(fd, 1)
    assert got == what, 'expected %r, got %r' % (what, got)

# The kernel's count of requests waiting on this connection, read through
# fusectl mounted in a mount namespace of its own (the host's stays as it is).
d = os.stat(M).st_dev
conn = (os.major(d) << 20) | os.minor(d)
sampler = subprocess.Popen(
    ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
     'mount -t fusectl fusectl /sys/fs/fuse/connections || exit 1; '
     'while read x; do cat /sys/fs/fuse/connections/%d/waiting || exit 1; done' % conn],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
def waiting():
    sampler.stdin.write('\n')
    sampler.stdin.flush()
    line = sampler.stdout.readline()
    assert line.strip().isdigit(), 'fusectl gave %r' % line
    return int(line)

f_cmd_r, f_cmd_w = os.pipe()
f_ev_r, f_ev_w = os.pipe()
flooder = os.fork()
if flooder == 0:
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (FDS + 1000, FDS + 1000))
        os.setgroups([])
        os.setgid(4242)
        os.setuid(4242)
        if MODE == 'clients':
            own = os.open(P('flood'), os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o600)
        # No holes below: the flood's descriptors are one range.
        top = max(int(x) for x in os.listdir('/proc/self/fd'))
        while True:
            x = os.open('/dev/null', os.O_RDONLY)
            if x > top:
                os.close(x)
                break
        while True:
            cmd = os.read(f_cmd_r, 1)
            if cmd == b'o':
                if MODE == 'dirs':
                    fds = [os.open(M, os.O_RDONLY | os.O_DIRECTORY) for _ in range(FDS)]
                else:
                    fds = [os.open(P('flood'), os.O_WRONLY) for _ in range(FDS)]
                lo, hi = min(fds), max(fds)
                assert hi - lo + 1 == FDS, (lo, hi)
                os.write(f_ev_w, b'r')
            elif cmd == b'c':
                # One call: every release is queued as the call returns.
                assert libc.syscall(SYS_close_range, lo, hi, 0) == 0, ctypes.get_errno()
                os.write(f_ev_w, b'c')
            else:
                os._exit(0)
    except BaseException:
        traceback.print_exc()
        os._exit(1)

v_cmd_r, v_cmd_w = os.pipe()
v_ev_r, v_ev_w = os.pipe()
victim = os.fork()
if victim == 0:
    try:
        os.setgroups([])
        os.setgid(4343)
        os.setuid(4343)
        EXCL = os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_NONBLOCK
        def recreate():
            global eexist
            try:
                return os.open(P('victim'), EXCL, 0o600)
            except FileExistsError:
                eexist += 1
            # The name comes free once the release is served.
            t = time.monotonic()
            while True:
                try:
                    return os.open(P('victim'), EXCL, 0o600)
                except FileExistsError:
                    assert time.monotonic() - t < 120, 'the name never came free'
                    time.sleep(0.01)
        eexist = accepted = refused = read = 0
        s = os.open(P('victim'), EXCL, 0o600)
        for r in range(ROUNDS):
            c = client('victim')
            os.write(v_ev_w, b'r')
            expect(v_cmd_r, b'g')
            os.close(s)
            def late():
                global accepted, refused
                try:
                    os.write(c, b'late%d' % r)
                    accepted += 1
                except (BrokenPipeError, FileNotFoundError):
                    refused += 1
            # Both orders: the write first, then the create first.
            if r % 2 == 0:
                late()
                s = recreate()
            else:
                s = recreate()
                late()
            os.close(c)
            c2 = client('victim')
            os.write(c2, b'new%d' % r)
            accepted += 1
            os.close(c2)
            while True:
                try:
                    os.read(s, 64)
                    read += 1
                except BlockingIOError:
                    break
            os.write(v_ev_w, b'd')
        print('eexist=%d' % eexist)
        print('accepted=%d' % accepted)
        print('refused=%d' % refused)
        print('read=%d' % read)
        sys.stdout.flush()
        os._exit(0)
    except BaseException:
        traceback.print_exc()
        os._exit(1)

most = 0
for r in range(ROUNDS):
    os.write(f_cmd_w, b'o')
    expect(f_ev_r, b'r')
    expect(v_ev_r, b'r')
    os.write(f_cmd_w, b'c')
    expect(f_ev_r, b'c')
    os.write(v_cmd_w, b'g')
    most = max(most, waiting())
    expect(v_ev_r, b'd')
os.write(f_cmd_w, b'q')
for pid in (victim, flooder):
    _, status = os.waitpid(pid, 0)
    assert status == 0, 'a child failed: %d' % status
sampler.stdin.close()
sampler.wait()
print('rounds=%d' % ROUNDS)
print('most_waiting=%d' % most)
"#;

fn neighbours(m: &Mount, mode: &str) {
    let rounds = 10;
    let vars = format!("MODE = {mode:?}\nROUNDS = {rounds}\nFDS = 19000\n");
    let out = py_within(m, &vars, NEIGHBOURS, Duration::from_secs(900));
    util::report(&format!("close_order_{mode}"), &out);
    let f = figures(&out);
    assert_eq!(figure(&f, "rounds"), rounds, "{out}");
    // The flood really overflowed the kernel's background budget (1,024).
    assert!(figure(&f, "most_waiting") > 2048, "{out}");
    assert_eq!(figure(&f, "eexist"), 0, "create after close: {out}");
    assert_eq!(
        figure(&f, "read"),
        figure(&f, "accepted"),
        "a message a write accepted was not read by the new server: {out}"
    );
    assert_eq!(
        figure(&f, "accepted") + figure(&f, "refused"),
        2 * rounds,
        "{out}"
    );
    util::assert_daemon_healthy(m);
}

#[test]
fn a_flood_of_directory_closes_does_not_reorder_a_server_close() {
    neighbours(&Mount::with_args(&["--allow-other"]), "dirs");
}

#[test]
fn a_flood_of_client_closes_does_not_reorder_a_server_close() {
    neighbours(
        &Mount::with_args(&["--allow-other", "--threads", "1"]),
        "clients",
    );
}

/// A FLUSH also comes when a copy of the server handle is closed while
/// another stays open (a dup, a forked child that exits): the slot stays,
/// serving its name and its clients, and nothing waits for ever.
#[test]
fn closing_a_copy_of_the_server_handle_keeps_the_slot() {
    let m = Mount::start();
    let script = r#"
s = server('kept', os.O_RDONLY | os.O_NONBLOCK, 0o600)
c = client('kept')
got = []
for i in range(20):
    d = os.dup(s)
    os.close(d)
    if os.fork() == 0:
        os._exit(0)
    os.wait()
    os.write(c, b'm%d' % i)
    send('kept', b'n%d' % i)
    print('excl_%d=%s' % (i, err(os.open, P('kept'), os.O_CREAT | os.O_EXCL | os.O_RDONLY)))
    got.append(os.read(s, 64))
    got.append(os.read(s, 64))
print('read=%d' % len(got))
print('in_order=%s' % (got == [x for i in range(20) for x in (b'm%d' % i, b'n%d' % i)]))
"#;
    let out = py_within(&m, "", script, Duration::from_secs(120));
    let f = figures(&out);
    assert_eq!(figure(&f, "read"), 40, "{out}");
    assert_eq!(f.get("in_order").map(String::as_str), Some("True"), "{out}");
    for i in 0..20 {
        assert_eq!(
            f.get(&format!("excl_{i}")).map(String::as_str),
            Some("EEXIST"),
            "{out}"
        );
    }
    util::assert_daemon_healthy(&m);
}
