//! The mailslot contract, point by point, through a real mount and real
//! processes (shell, cat, Python's os module, fork, threads, signals).

mod common;

use common::{Mount, py, sh};

// 1. Create = server; owner, mode, shared root.
#[test]
fn create_makes_the_server_owned_by_the_creator() {
    let m = Mount::with_args(&["--allow-other"]);
    py(
        &m,
        r#"
st = os.stat(M)
assert st.st_mode & 0o7777 == 0o1777, oct(st.st_mode)
opts = [l for l in open('/proc/self/mountinfo') if (' ' + M + ' ') in l][0]
assert 'default_permissions' in opts and 'allow_other' in opts, opts
os.umask(0o022)
fd = server('mine', os.O_RDONLY, 0o666)
st = os.stat(P('mine'))
assert st.st_mode & 0o777 == 0o644, oct(st.st_mode)
assert (st.st_uid, st.st_gid) == (0, 0)
os.umask(0)
fd2 = server('rw', os.O_RDWR, 0o622)
assert os.stat(P('rw')).st_mode & 0o777 == 0o622
# another user creates its own slot: it owns it
pid = os.fork()
if pid == 0:
    os.setgid(65534); os.setuid(65534)
    f = server('nobodys', os.O_RDONLY, 0o600)
    st = os.stat(P('nobodys'))
    assert (st.st_uid, st.st_gid) == (65534, 65534), (st.st_uid, st.st_gid)
    # the sticky, shared root: this user cannot remove root's slot
    assert err(os.unlink, P('mine')) in ('EPERM', 'EACCES')
    os._exit(0)
_, status = os.waitpid(pid, 0)
assert status == 0, status
print("ok")
"#,
    );
}

// 2. Only the server reads.
#[test]
fn only_the_server_handle_reads() {
    let m = Mount::start();
    py(
        &m,
        r#"
s = server('solo')
c = client('solo')
os.write(c, b'one')
# a write-only handle: the kernel refuses the read itself
assert err(os.read, c, 100) == 'EBADF', err(os.read, c, 100)
# every other open of an existing slot is a client too, as on Windows: it
# writes, and its reads fail with EACCES and take nothing
for flags in (os.O_RDONLY, os.O_RDWR, os.O_RDWR | os.O_CREAT, os.O_RDONLY | os.O_CREAT):
    h = os.open(P('solo'), flags)
    assert err(os.read, h, 100) == 'EACCES', (flags, err(os.read, h, 100))
    os.close(h)
assert err(os.open, P('solo'), os.O_RDWR | os.O_CREAT | os.O_EXCL) == 'EEXIST'
# a forked child holds the same open file description and reads
pid = os.fork()
if pid == 0:
    os._exit(0 if os.read(s, 100) == b'one' else 1)
assert os.waitpid(pid, 0)[1] == 0
# SCM_RIGHTS: another process receives the server handle and reads
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
pid = os.fork()
if pid == 0:
    a.close()
    msg, fds, _, _ = socket.recv_fds(b, 10, 1)
    os._exit(0 if os.read(fds[0], 100) == b'two' else 1)
b.close()
socket.send_fds(a, [b'x'], [s])
os.write(c, b'two')
assert os.waitpid(pid, 0)[1] == 0
print("ok")
"#,
    );
    // Every refusal is a log line naming the slot and the errno.
    let log = m.log();
    assert!(
        log.contains("read \"/solo\": only the server handle reads"),
        "{log}"
    );
}

// 3. Clients write whole messages; an O_RDWR creator writes to its own slot.
#[test]
fn each_write_is_one_message_and_rdwr_creator_may_write() {
    let m = Mount::start();
    let out = sh(
        &m,
        r#"exec 3<>"$M/box"; echo first > "$M/box"; printf 'second' > "$M/box"; echo third >&3;
           python3 -c 'import os,sys
for _ in range(3): print(repr(os.read(3, 65536)))'"#,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "b'first\\n'\nb'second'\nb'third\\n'\n");
}

// 4. No slot, no write; write-only never creates; O_EXCL.
#[test]
fn writing_to_a_missing_slot_fails_and_leaves_nothing() {
    let m = Mount::start();
    let out = sh(&m, r#"echo hi > "$M/nobody""#);
    assert!(!out.status.success());
    // dash words ENOENT on a redirection as "Directory nonexistent".
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        msg.contains("No such file") || msg.contains("nonexistent"),
        "{out:?}"
    );
    py(
        &m,
        r#"
assert os.listdir(M) == ['net'], os.listdir(M)  # the shared net directory
assert err(os.open, P('nobody'), os.O_WRONLY | os.O_CREAT) == 'ENOENT'
assert err(os.open, P('nobody'), os.O_WRONLY) == 'ENOENT'
s = server('here')
assert err(os.open, P('here'), os.O_CREAT | os.O_EXCL | os.O_RDONLY) == 'EEXIST'
assert err(os.open, P('HERE'), os.O_CREAT | os.O_EXCL | os.O_WRONLY) == 'EEXIST'
assert sorted(os.listdir(M)) == ['here', 'net']
print("ok")
"#,
    );
}

// 5. One whole message per read; small buffers; the ceiling; empty writes.
#[test]
fn reads_return_whole_messages_and_small_buffers_get_emsgsize() {
    let m = Mount::start();
    py(
        &m,
        r#"
import mmap
s = server('w')
for msg in (b'a', b'bb', b'ccc'):
    send('w', msg)
assert os.read(s, 1 << 20) == b'a'
assert os.read(s, 2) == b'bb'
assert err(os.read, s, 2) == 'EMSGSIZE'
assert xattr('w', 'next_message_size') == '3' and xattr('w', 'message_count') == '1'
assert os.read(s, 3) == b'ccc'
# the largest message, from a buffer that is not page-aligned, arrives whole
ceiling = 255 * 4096
big = bytes(range(256)) * (ceiling // 256)
buf = mmap.mmap(-1, ceiling + 4096)
buf[100:100 + ceiling] = big
c = client('w')
assert os.write(c, memoryview(buf)[100:100 + ceiling]) == ceiling
assert os.read(s, 4 << 20) == big
# one byte more is refused whole, nothing queued
assert err(os.write, c, big + b'x') == 'EMSGSIZE'
assert xattr('w', 'message_count') == '0'
# two big messages never merge into one read
os.write(c, big); os.write(c, big[:1000])
assert len(os.read(s, 8 << 20)) == ceiling
assert len(os.read(s, 8 << 20)) == 1000
# a zero-length write returns 0 and queues nothing
assert os.write(c, b'') == 0
assert xattr('w', 'message_count') == '0' and xattr('w', 'next_message_size') == '-1'
print("ok")
"#,
    );
}

#[test]
fn a_message_size_above_the_mount_ceiling_is_refused_at_start() {
    common::require_fuse();
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["--foreground", "--max-message-size", "1044481"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1044480") && err.contains("max_pages_limit"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

// 6. Empty slot: EAGAIN, timeouts as end of file, many waiters, signals.
#[test]
fn empty_slot_nonblocking_and_timeout() {
    let m = Mount::start();
    py(
        &m,
        r#"
s = server('e')
os.set_blocking(s, False)
assert err(os.read, s, 100) == 'EAGAIN'
os.set_blocking(s, True)
os.setxattr(P('e'), 'user.mailslot.read_timeout_ms', b'300')
t = time.time()
assert os.read(s, 100) == b''          # timeout reads as end of file
assert 0.25 < time.time() - t < 10
os.setxattr(P('e'), 'user.mailslot.read_timeout_ms', b'0')
assert os.read(s, 100) == b''
print("ok")
"#,
    );
    // `cat <&3` drains the queue and exits once the timeout passes.
    let out = sh(
        &m,
        r#"exec 3<>"$M/drain"; setfattr -n user.mailslot.read_timeout_ms -v 200 "$M/drain" 2>/dev/null ||
           python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.mailslot.read_timeout_ms", b"200")' "$M/drain";
           echo one > "$M/drain"; echo two > "$M/drain"; cat <&3; echo "rc=$?""#,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "one\ntwo\nrc=0\n",
        "{out:?}"
    );
}

#[test]
fn many_readers_wait_at_once_without_holding_threads() {
    // One FUSE thread serves everything: if a waiting read held it, the
    // writes below could never arrive.
    let m = Mount::with_args(&["--threads", "1"]);
    py(
        &m,
        r#"
s = server('crowd')
kids = []
for i in range(40):
    pid = os.fork()
    if pid == 0:
        msg = os.read(s, 100)
        os._exit(0 if msg.startswith(b'm') else 1)
    kids.append(pid)
time.sleep(0.5)
c = client('crowd')
for i in range(40):
    os.write(c, b'm%d' % i)
for pid in kids:
    assert os.waitpid(pid, 0)[1] == 0
assert xattr('crowd', 'message_count') == '0'
print("ok")
"#,
    );
}

#[test]
fn a_waiting_reader_can_always_be_stopped_and_loses_nothing() {
    let m = Mount::start();
    py(
        &m,
        r#"
s = server('sig')
def blocked_reader(setup):
    pid = os.fork()
    if pid == 0:
        setup()
        try:
            os.read(s, 100)
            os._exit(10)   # got a message: must not happen
        except InterruptedError:
            os._exit(4)    # EINTR after the handler ran
    return pid
def handler(sig, frame): raise InterruptedError()
cases = [
    (signal.SIGINT, lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), -signal.SIGINT),
    (signal.SIGTERM, lambda: None, -signal.SIGTERM),
    (signal.SIGKILL, lambda: None, -signal.SIGKILL),
    (signal.SIGUSR1, lambda: signal.signal(signal.SIGUSR1, handler), 4),
    (signal.SIGALRM, lambda: signal.signal(signal.SIGALRM, handler), 4),
]
for sig, setup, want in cases:
    await_waiting('sig', 0)
    pid = blocked_reader(setup)
    await_waiting('sig', 1)
    t = time.time()
    os.kill(pid, sig)
    _, status = os.waitpid(pid, 0)
    took = time.time() - t
    code = os.waitstatus_to_exitcode(status)
    assert code == want, (sig, code)
    assert took < 5, (sig, took)
    print(sig, "stopped after %.3fs" % took)
# nothing was consumed: the next message goes to the next reader
send('sig', b'after')
assert os.read(s, 100) == b'after'
# a thread blocked in read() inside a process that gets Ctrl-C
pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    threading.Thread(target=lambda: os.read(s, 100), daemon=True).start()
    time.sleep(60)
    os._exit(0)
await_waiting('sig', 1)
os.kill(pid, signal.SIGINT)
assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == -signal.SIGINT
send('sig', b'still here')
assert os.read(s, 100) == b'still here'
print("ok")
"#,
    );
}

// 7. poll/select/epoll on the server handle.
#[test]
fn poll_reports_readable_when_a_message_is_queued() {
    let m = Mount::start();
    py(
        &m,
        r#"
s = server('p')
assert select.select([s], [], [], 0)[0] == []
send('p', b'x')
assert select.select([s], [], [], 0)[0] == [s]
os.read(s, 10)
assert select.select([s], [], [], 0)[0] == []
# a blocking wait wakes when another process writes
pid = os.fork()
if pid == 0:
    time.sleep(0.3); send('p', b'y'); os._exit(0)
ep = select.epoll()
ep.register(s, select.EPOLLIN)
t = time.time()
events = ep.poll(10)
assert events and events[0][0] == s, events
assert os.read(s, 10) == b'y'
os.waitpid(pid, 0)
c = client('p')
assert select.select([], [c], [], 0)[1] == [c]
print("ok")
"#,
    );
}

// 8. Size limit per slot and mount-wide default.
#[test]
fn message_size_limit() {
    let m = Mount::with_args(&["--max-message-size", "100"]);
    py(
        &m,
        r#"
s = server('sz')
assert xattr('sz', 'max_message_size') == '100'
c = client('sz')
assert err(os.write, c, b'x' * 101) == 'EMSGSIZE'
assert os.write(c, b'x' * 100) == 100
os.setxattr(P('sz'), 'user.mailslot.max_message_size', b'10')
assert err(os.write, c, b'x' * 11) == 'EMSGSIZE'
assert os.write(c, b'x' * 10) == 10
assert xattr('sz', 'message_count') == '2'
os.setxattr(P('sz'), 'user.mailslot.max_message_size', b'0')
assert xattr('sz', 'max_message_size') == '0'     # "any size", as on Windows
assert os.write(c, b'x' * (255 * 4096)) == 255 * 4096
assert err(os.write, c, b'x' * (255 * 4096 + 1)) == 'EMSGSIZE'
os.setxattr(P('sz'), 'user.mailslot.read_timeout_ms', b'2s')
assert xattr('sz', 'read_timeout_ms') == '2000'   # as the command line takes it
print("ok")
"#,
    );
}

// 9. Queue limits per slot and for the mount.
#[test]
fn queue_limits_refuse_with_enospc_and_drop_nothing() {
    let m = Mount::with_args(&["--max-queued-bytes", "1000", "--max-total-bytes", "1500"]);
    py(
        &m,
        r#"
a = server('a'); b = server('b')
c = client('a')
n = 0
while err(os.write, c, b'x' * 100) == 'OK':
    n += 1
assert n == 8, n      # 8 x (100 + 16) fits in 1000, the 9th does not
assert xattr('a', 'message_count') == '8'
d = client('b')
m = 0
while err(os.write, d, b'y' * 100) == 'OK':
    m += 1
assert m == 4, m      # the mount total (1500) stops b first
os.read(a, 200)
assert err(os.write, d, b'y' * 100) == 'OK'
for _ in range(7): assert os.read(a, 200) == b'x' * 100
print("ok")
"#,
    );
}

// 10. Lifetime.
#[test]
fn the_slot_goes_when_its_server_closes() {
    let m = Mount::start();
    py(
        &m,
        r#"
base = os.statvfs(M).f_files
s = server('life')
c = client('life')
os.write(c, b'lost with the slot')
os.close(s)
assert os.listdir(M) == ['net']
assert err(os.stat, P('life')) == 'ENOENT'
assert err(os.write, c, b'late') == 'EPIPE'
# a new server may take the name at once, again and again
for i in range(200):
    s = server('life')
    os.close(s)
s = server('life')
assert xattr('life', 'message_count') == '0'
c2 = client('life'); os.write(c2, b'new'); assert os.read(s, 10) == b'new'
os.close(c2); os.close(s); os.close(c)
# nothing of the old slots stays behind once every handle is closed (the
# kernel sends the last releases after close(2) has returned)
until(lambda: os.statvfs(M).f_files == base,
      lambda: "%d files, not %d" % (os.statvfs(M).f_files, base))
# the server's process exiting counts as closing
pid = os.fork()
if pid == 0:
    server('exiting'); os._exit(0)
os.waitpid(pid, 0)
assert os.listdir(M) == ['net']
print("ok")
"#,
    );
    let out = sh(
        &m,
        r#"exec 3<>"$M/keep"; rm "$M/keep" 2>&1; mv "$M/keep" "$M/moved" 2>&1;
           echo via-shell > "$M/keep"; echo "truncate-rc=$?"; ls "$M""#,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.matches("Operation not permitted").count() >= 2,
        "{text}"
    );
    assert!(
        text.contains("truncate-rc=0") && text.ends_with("keep\nnet\n"),
        "{text}"
    );
}

// 11. Names: case-insensitive, directories.
#[test]
fn names_are_case_insensitive_and_directories_nest() {
    let m = Mount::start();
    py(
        &m,
        r#"
s = server('MixedCase')
send('mIXEDcASE', b'hi')
assert os.read(s, 10) == b'hi'
assert sorted(os.listdir(M)) == ['MixedCase', 'net']
assert err(os.open, P('MIXEDCASE'), os.O_CREAT | os.O_EXCL | os.O_RDONLY) == 'EEXIST'
os.mkdir(P('lan'))
os.mkdir(P('lan/sub'))
assert err(os.mkdir, P('LAN')) == 'EEXIST'
t = server('lan/sub/logon')
send('LAN/Sub/LOGON', b'deep')
assert os.read(t, 10) == b'deep'
assert err(os.rmdir, P('lan/sub')) == 'ENOTEMPTY'
os.close(t)
os.rmdir(P('lan/sub'))
os.rmdir(P('lan'))
assert sorted(os.listdir(M)) == ['MixedCase', 'net']
for bad in ('a\nb', 'back\\slash'):
    assert err(server, bad) == 'EINVAL', bad
assert err(server, 'x' * 256) == 'ENAMETOOLONG'
print("ok")
"#,
    );
}

// 12. What a listing shows.
#[test]
fn listing_shows_queued_bytes_and_times() {
    let m = Mount::start();
    py(
        &m,
        r#"
s = server('ls')
st0 = os.stat(P('ls'))
assert st0.st_size == 0
time.sleep(0.05)
send('ls', b'12345'); send('ls', b'678')
st1 = os.stat(P('ls'))
assert st1.st_size == 8, st1.st_size
assert st1.st_mtime_ns > st0.st_mtime_ns
assert st1.st_ctime_ns == st0.st_ctime_ns
os.read(s, 10)
assert os.stat(P('ls')).st_size == 3
os.close(s)
assert 'ls' not in os.listdir(M)
print("ok")
"#,
    );
    let out = sh(
        &m,
        r#"exec 3<>"$M/shown"; echo abc > "$M/shown"; ls -l "$M""#,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(" 4 ") && text.contains("shown"), "{text}");
}

// 13. GetMailslotInfo / SetMailslotInfo as extended attributes.
#[test]
fn mailslot_info_as_extended_attributes() {
    let m = Mount::with_args(&["--allow-other"]);
    py(
        &m,
        r#"
os.umask(0)
s = server('info', os.O_RDONLY, 0o666)
names = sorted(n for n in os.listxattr(P('info')))
assert names == sorted('user.mailslot.' + n for n in
    ['max_message_size', 'next_message_size', 'message_count', 'queued_bytes', 'read_timeout_ms', 'waiting_readers', 'next_sender', 'last_sender']), names
assert xattr('info', 'next_message_size') == '-1'
assert xattr('info', 'read_timeout_ms') == 'forever'
send('info', b'hello')
assert xattr('info', 'next_message_size') == '5'
assert xattr('info', 'message_count') == '1'
assert xattr('info', 'queued_bytes') == '5'
os.setxattr(P('info'), 'user.mailslot.read_timeout_ms', b'1500')
assert xattr('info', 'read_timeout_ms') == '1500'
os.setxattr(P('info'), 'user.mailslot.read_timeout_ms', b'forever')
assert err(os.setxattr, P('info'), 'user.mailslot.read_timeout_ms', b'soon') == 'EINVAL'
assert err(os.setxattr, P('info'), 'user.mailslot.message_count', b'3') == 'EPERM'
assert err(os.getxattr, P('info'), 'user.mailslot.bogus') == 'ENODATA'
pid = os.fork()
if pid == 0:
    os.setgid(65534); os.setuid(65534)
    # may write to the slot (mode 666), but SetMailslotInfo is the owner's
    r = err(os.setxattr, P('info'), 'user.mailslot.read_timeout_ms', b'5')
    os._exit(0 if r == 'EPERM' else 1)
assert os.waitpid(pid, 0)[1] == 0
print("ok")
"#,
    );
}

// 2b. The same from C: a client opened O_RDWR, as Windows code ported or
// run under Wine opens one, writes with write(2) and pwrite(2) at any
// offset, and its read(2) is refused without taking anything.
#[test]
fn a_c_client_opened_read_write_writes_and_positioned_writes_are_messages() {
    let m = Mount::start();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("rdwr.c");
    std::fs::write(
        &source,
        r#"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int c = open(argv[1], O_RDWR);
    if (c < 0) { perror("open"); return 1; }
    if (write(c, "plain", 5) != 5) { perror("write"); return 1; }
    if (pwrite(c, "at 4096", 7, 4096) != 7) { perror("pwrite"); return 1; }
    if (lseek(c, 100, SEEK_SET) != 100) { perror("lseek"); return 1; }
    char buf[64];
    if (read(c, buf, sizeof buf) != -1 || errno != EACCES) { puts("read not refused"); return 1; }
    if (pread(c, buf, sizeof buf, 0) != -1 || errno != EACCES) { puts("pread not refused"); return 1; }
    puts("ok");
    return 0;
}
"#,
    )
    .unwrap();
    let exe = dir.path().join("rdwr");
    let built = std::process::Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(&source)
        .output()
        .expect("cc is needed by the tests (tests/run-all.sh installs it)");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let out = py(
        &m,
        &format!(
            r#"
import subprocess
s = server('rdwr')
r = subprocess.run([{exe:?}, P('rdwr')], capture_output=True, text=True)
assert r.returncode == 0 and r.stdout == 'ok\n', r
assert os.read(s, 100) == b'plain'
assert os.read(s, 100) == b'at 4096'
os.set_blocking(s, False)
assert err(os.read, s, 100) == 'EAGAIN'
print('ok')
"#
        ),
    );
    assert_eq!(out, "ok\n");
}
