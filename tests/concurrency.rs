//! Many writers, one reader: every message arrives exactly once, and each
//! writer's messages arrive in the order it wrote them.

mod common;

use common::{Mount, py, state_of, wait_until};

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

/// The daemon is stopped (SIGSTOP) while the guard lives, and continued
/// however the test ends, so a failure never leaves it stopped.
struct Stopped(nix::unistd::Pid);

impl Stopped {
    /// Returns once every thread of the daemon is stopped: kill(2) only
    /// starts the stop, and a thread asleep in `read(2)` that nothing has
    /// told yet would otherwise take and answer a request first.
    fn new(pid: i32) -> Stopped {
        let stopped = Stopped(nix::unistd::Pid::from_raw(pid));
        nix::sys::signal::kill(stopped.0, nix::sys::signal::Signal::SIGSTOP).unwrap();
        wait_until(
            "every daemon thread stopped",
            std::time::Duration::from_secs(10),
            || {
                std::fs::read_dir(format!("/proc/{pid}/task"))
                    .unwrap()
                    .filter_map(|t| t.ok())
                    .all(|t| state_of(&t.path().join("stat")).is_none_or(|s| s == 'T'))
            },
        );
        stopped
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGCONT);
    }
}

/// Writers into one slot do not wait for each other in the kernel: slots
/// are opened for parallel direct writes. With the daemon stopped, two
/// writes into one slot are both sent and waiting for their answers
/// (`request_wait_answer`), where the kernel's exclusive inode lock would
/// keep the second asleep on that lock (in `fuse_file_write_iter`).
#[test]
fn writes_into_one_slot_are_in_flight_together() {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    use std::time::Duration;

    let m = Mount::start();
    let path = m.p("parallel");
    let mut server = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CREAT | libc::O_EXCL)
        .open(&path)
        .unwrap();
    let client = std::sync::Arc::new(std::fs::OpenOptions::new().write(true).open(&path).unwrap());
    // The kernel lets a write go in parallel only up to what it takes for
    // the file's size; a first write of this length raises it that far.
    let msg = [b'p'; 64];
    (&*client).write_all(&msg).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(server.read(&mut buf).unwrap(), 64);

    let stopped = Stopped::new(m.pid());
    let (tx, rx) = std::sync::mpsc::channel();
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (client, tx) = (client.clone(), tx.clone());
            std::thread::spawn(move || {
                // SAFETY: gettid has no preconditions.
                tx.send(unsafe { libc::gettid() }).unwrap();
                (&*client).write(&msg).map(|n| n == msg.len())
            })
        })
        .collect();
    let tids: Vec<i32> = (0..2).map(|_| rx.recv().unwrap()).collect();
    let wchan = |tid: i32| {
        std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan")).unwrap_or_default()
    };
    let start = std::time::Instant::now();
    while !tids.iter().all(|&t| wchan(t) == "request_wait_answer") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "both writes should be waiting for the stopped daemon's answer; the writers wait in {:?}",
            tids.iter().map(|&t| wchan(t)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(stopped);
    for w in writers {
        assert!(w.join().unwrap().unwrap(), "a write was cut short");
    }
    for _ in 0..2 {
        assert_eq!(server.read(&mut buf).unwrap(), 64);
    }
}
