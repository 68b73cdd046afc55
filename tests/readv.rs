//! readv(2) and preadv(2) of a server handle take exactly one whole message
//! (or fail and take none) whatever the layout of their buffers.
//!
//! The kernel carries a direct-I/O readv whose buffers it cannot pin at once
//! (more pages than the mount's max_pages, and at least one page for every
//! buffer) in several reads, and goes on to the next only when the last was
//! filled to the byte. So a message exactly as long as the first piece used
//! to be followed by a second message in the same call, or by a wait for
//! one. Each test builds its buffers in page-aligned memory, so where the
//! kernel cuts the call is known, and puts a message exactly there.

mod common;

use common::{Mount, py};

const LAYOUTS: &str = r#"
import mmap
PAGE = mmap.PAGESIZE
# The daemon asks for the kernel's limit, which the kernel grants.
MAX_PAGES = int(open('/proc/sys/fs/fuse/max_pages_limit').read())
area = mmap.mmap(-1, 3 * MAX_PAGES * PAGE + (4 << 20))
view = memoryview(area)
def at(page, offset, length):
    start = page * PAGE + offset
    return view[start:start + length]
def gathered(iovs, n):
    return b''.join(bytes(v) for v in iovs)[:n]
def readv_one(s, iovs, expect, how=os.readv):
    n = how(s, iovs) if how is os.readv else how(s, iovs, -1)
    got = gathered(iovs, n)
    assert got == expect, 'got %d bytes (%r...), wanted the %d-byte message' % (
        n, got[:16], len(expect))
def queued(name):
    return int(xattr(name, 'message_count'))

def one_call_one_message(name, iovs, first_piece, how=os.readv):
    """A message exactly as long as the kernel's first piece, another behind
    it: the call returns the first alone, the next call the second."""
    s = server(name)
    exact, behind = os.urandom(first_piece), os.urandom(100)
    send(name, exact)
    send(name, behind)
    readv_one(s, iovs, exact, how)
    assert queued(name) == 1, queued(name)
    readv_one(s, iovs, behind, how)
    assert queued(name) == 0
    os.close(s)

def does_not_wait_for_a_second(name, iovs, first_piece):
    """Only the exact message queued: the call returns it, and does not wait
    (as a waiting reader, counted by the daemon) for another."""
    s = server(name)
    exact = os.urandom(first_piece)
    send(name, exact)
    result = []
    def reader():
        n = os.readv(s, iovs)
        result.append(gathered(iovs, n))
    t = threading.Thread(target=reader)
    t.start()
    until(lambda: not t.is_alive() or xattr(name, 'waiting_readers') == '1',
          lambda: 'the readv to end or to wait')
    if t.is_alive():
        send(name, b'unblock')
        t.join()
        raise AssertionError('readv took the %d-byte message and waited for a second; got %d bytes'
                             % (first_piece, len(result[0])))
    t.join()
    assert result == [exact], [len(r) for r in result]
    assert queued(name) == 0
    os.close(s)
"#;

fn run(script: &str) {
    let m = Mount::start();
    let out = py(&m, &format!("{LAYOUTS}\n{script}"));
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn many_small_buffers_take_one_message() {
    run(r#"
# One page pinned per buffer: the first piece is MAX_PAGES buffers.
small = [at(i, 0, 10) for i in range(MAX_PAGES + 44)]
one_call_one_message('small', small, 10 * MAX_PAGES)
one_call_one_message('small_preadv', small, 10 * MAX_PAGES, os.preadv)
# Buffers that straddle a page boundary pin two pages each.
straddling = [at(2 * i, PAGE - 4, 10) for i in range(MAX_PAGES)]
one_call_one_message('straddling', straddling, 10 * (MAX_PAGES // 2))
# A message shorter than the first piece ends the call in the kernel.
s = server('others')
for size in (1, 10 * MAX_PAGES - 1):
    msg = os.urandom(size)
    send('others', msg)
    readv_one(s, small, msg)
# A longer one does not fit the first piece: EMSGSIZE, and it stays queued,
# though the buffers hold it all.
msg = os.urandom(10 * MAX_PAGES + 1)
send('others', msg)
assert err(os.readv, s, small) == 'EMSGSIZE'
assert queued('others') == 1
readv_one(s, [at(0, 0, len(msg))], msg)
print('ok')
"#);
}

#[test]
fn a_buffer_longer_than_max_pages_cut_at_an_odd_place_takes_one_message() {
    run(r#"
# 5 bytes on one page, then a buffer starting on the last byte of a page
# and running past MAX_PAGES pages: the first piece ends inside it.
iovs = [at(0, 100, 5), at(1, PAGE - 1, (MAX_PAGES + 8) * PAGE)]
first_piece = 5 + 1 + (MAX_PAGES - 2) * PAGE
one_call_one_message('odd', iovs, first_piece)
one_call_one_message('odd_preadv', iovs, first_piece, os.preadv)
print('ok')
"#);
}

#[test]
fn a_first_buffer_smaller_than_the_message_takes_one_message_or_none() {
    run(r#"
# 1,000 bytes across a page boundary, then single pages of 10 bytes: the
# message is longer than the first buffer and ends where the kernel cuts,
# with room behind the cut for the next message.
iovs = [at(0, PAGE - 300, 1000)] + [at(2 + i, 0, 10) for i in range(MAX_PAGES + 20)]
one_call_one_message('first_small', iovs, 1000 + 10 * (MAX_PAGES - 2))
# A first piece too small for the message (MAX_PAGES one-byte buffers in
# front of 64 KiB): EMSGSIZE, and the message stays queued for a call whose
# first piece holds it.
s = server('too_small')
msg = os.urandom(1000)
send('too_small', msg)
tiny_first = [at(i, 0, 1) for i in range(MAX_PAGES)] + [at(MAX_PAGES, 0, 65536)]
assert err(os.readv, s, tiny_first) == 'EMSGSIZE'
assert queued('too_small') == 1
readv_one(s, [at(0, 0, 1), at(1, 0, 65536)], msg)
print('ok')
"#);
}

#[test]
fn buffers_larger_than_the_message_do_not_wait_for_a_second() {
    run(r#"
small = [at(i, 0, 10) for i in range(MAX_PAGES + 44)]
does_not_wait_for_a_second('small', small, 10 * MAX_PAGES)
iovs = [at(0, 100, 5), at(1, PAGE - 1, (MAX_PAGES + 8) * PAGE)]
does_not_wait_for_a_second('odd', iovs, 5 + 1 + (MAX_PAGES - 2) * PAGE)
print('ok')
"#);
}
