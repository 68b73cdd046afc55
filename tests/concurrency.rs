//! Many writers, one reader: every message arrives exactly once, and each
//! writer's messages arrive in the order it wrote them.

mod common;

use common::{Mount, py};

#[test]
fn eight_writers_ten_thousand_messages_each() {
    let m = Mount::start();
    let out = py(
        &m,
        r#"
WRITERS, EACH = 8, 10000
s = server('fanin')
kids = []
for w in range(WRITERS):
    pid = os.fork()
    if pid == 0:
        c = client('fanin')
        for i in range(EACH):
            msg = b'%d:%d:' % (w, i)
            msg += b'.' * (i % 50)   # varied sizes; bytes never interleave
            while True:
                try:
                    os.write(c, msg); break
                except OSError as e:
                    if e.errno != errno.ENOSPC: raise
                    time.sleep(0.001)
        os._exit(0)
    kids.append(pid)
next_i = [0] * WRITERS
for n in range(WRITERS * EACH):
    msg = os.read(s, 4096)
    w, i, pad = msg.split(b':')
    w, i = int(w), int(i)
    assert i == next_i[w], (w, i, next_i[w])
    assert pad == b'.' * (i % 50)
    next_i[w] += 1
for pid in kids:
    assert os.waitpid(pid, 0)[1] == 0
assert next_i == [EACH] * WRITERS
assert xattr('fanin', 'message_count') == '0'
print("all", WRITERS * EACH, "arrived once, in order")
"#,
    );
    assert!(out.contains("all 80000 arrived once"), "{out}");
}

/// Writers on threads of one process share one client handle.
#[test]
fn threads_sharing_a_client_handle() {
    let m = Mount::start();
    py(
        &m,
        r#"
s = server('threads')
c = client('threads')
def writer(t):
    for i in range(500):
        os.write(c, b'%d-%d' % (t, i))
ts = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
for t in ts: t.start()
got = set()
for _ in range(2000):
    got.add(os.read(s, 100))
for t in ts: t.join()
assert len(got) == 2000
print("ok")
"#,
    );
}
