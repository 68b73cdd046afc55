//! The core without FUSE: the same contract as the integration tests,
//! driven by direct calls, plus what only the core can show (waiters,
//! node lifetimes, accounting).

use std::ffi::OsStr;
use std::sync::mpsc;
use std::time::Duration;

use super::*;

const ROOT_USER: Caller = Caller {
    uid: 0,
    gid: 0,
    pid: 0,
};
/// Who the helper `write` writes as.
const WRITER: Caller = Caller {
    uid: 1234,
    gid: 56,
    pid: 789,
};
const OTHER: Caller = Caller {
    uid: 1000,
    gid: 1000,
    pid: 0,
};

fn fs() -> Mailslots {
    let mut limits = Limits::new(1000);
    limits.max_queued_bytes = 100;
    limits.max_total_bytes = 150;
    Mailslots::new(limits, 0, 0)
}

fn n(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn server(m: &Mailslots, name: &str) -> (Ino, Fh) {
    let (attr, fh, role) = m
        .create(ROOT, n(name), 0o666, 0o022, libc::O_RDONLY, ROOT_USER)
        .unwrap();
    assert_eq!(role, Role::Server { writable: false });
    (attr.ino, fh)
}

/// Reads through `fh` and returns the answer if it came within `wait`.
fn read(
    m: &Mailslots,
    fh: Fh,
    size: usize,
    nonblock: bool,
    wait: Duration,
) -> Option<Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    m.read(fh, ReadCall::default(), size, nonblock, move |r| {
        let _ = tx.send(r.map(|b| b.to_vec()));
    });
    rx.recv_timeout(wait).ok()
}

/// Writes through `fh`; local writes answer at once.
fn write(m: &Mailslots, fh: Fh, data: &[u8]) -> Result<usize> {
    write_as(m, fh, data, WRITER)
}

fn write_as(m: &Mailslots, fh: Fh, data: &[u8], caller: Caller) -> Result<usize> {
    let (tx, rx) = mpsc::channel();
    m.write(fh, data, caller, move |r| tx.send(r).unwrap());
    rx.recv_timeout(Duration::from_secs(1)).expect("answered")
}

fn now(m: &Mailslots, fh: Fh, size: usize) -> Result<Vec<u8>> {
    read(m, fh, size, true, Duration::from_secs(1)).expect("answered at once")
}

#[test]
fn create_read_write_round_trip() {
    let m = fs();
    let (ino, s) = server(&m, "box");
    let c = m.open(ino).unwrap();
    assert_eq!(write(&m, c, b"hello"), Ok(5));
    assert_eq!(write(&m, c, b""), Ok(0));
    assert_eq!(m.getattr(ino).unwrap().size, 5);
    assert_eq!(now(&m, s, 3), Err(Error::BufferTooSmall));
    assert_eq!(now(&m, s, 5).unwrap(), b"hello");
    assert_eq!(now(&m, s, 5), Err(Error::WouldBlock));
    assert_eq!(now(&m, c, 5), Err(Error::ReadAccessDenied));
    assert_eq!(write(&m, s, b"x"), Err(Error::NotWritable));
    assert_eq!(now(&m, 9999, 5), Err(Error::BadHandle));
}

#[test]
fn every_open_of_an_existing_slot_is_a_client_that_writes_and_cannot_read() {
    let m = fs();
    let (ino, s) = server(&m, "box");
    let opened = m.open(ino).unwrap();
    let (_, created, role) = m
        .create(
            ROOT,
            n("BOX"),
            0o666,
            0,
            libc::O_CREAT | libc::O_RDWR,
            OTHER,
        )
        .unwrap();
    assert_eq!(role, Role::Client);
    for (c, text) in [(opened, &b"one"[..]), (created, b"two")] {
        assert_eq!(write(&m, c, text), Ok(3));
        assert_eq!(now(&m, c, 100), Err(Error::ReadAccessDenied));
    }
    assert_eq!(now(&m, s, 100).unwrap(), b"one");
    assert_eq!(now(&m, s, 100).unwrap(), b"two");
}

#[test]
fn only_the_owner_and_root_see_who_sent_a_message() {
    let m = fs();
    let (ino, _s) = server(&m, "who");
    let c = m.open(ino).unwrap();
    assert_eq!(write_as(&m, c, b"x", OTHER), Ok(1));
    for attribute in ["user.mailslot.next_sender", "user.mailslot.last_sender"] {
        assert_eq!(m.getxattr(ino, n(attribute), OTHER), Err(Error::OwnerOnly));
        assert!(m.getxattr(ino, n(attribute), ROOT_USER).is_ok());
    }
    assert_eq!(
        m.getxattr(ino, n("user.mailslot.message_count"), OTHER)
            .unwrap(),
        b"1"
    );
}

#[test]
fn write_only_never_creates_and_exclusive_create_fails_on_existing() {
    let m = fs();
    let wr = libc::O_WRONLY | libc::O_CREAT;
    assert_eq!(
        m.create(ROOT, n("x"), 0o666, 0, wr, ROOT_USER).map(|r| r.1),
        Err(Error::NotFound)
    );
    server(&m, "x");
    let excl = libc::O_RDONLY | libc::O_EXCL;
    assert_eq!(
        m.create(ROOT, n("X"), 0o666, 0, excl, ROOT_USER)
            .map(|r| r.1),
        Err(Error::Exists)
    );
    let (_, _, role) = m.create(ROOT, n("X"), 0o666, 0, wr, ROOT_USER).unwrap();
    assert_eq!(role, Role::Client);
}

#[test]
fn a_waiting_reader_gets_the_next_message() {
    let m = fs();
    let (ino, s) = server(&m, "w");
    let (tx, rx) = mpsc::channel();
    m.read(s, ReadCall::default(), 100, false, move |r| {
        let _ = tx.send(r.map(|b| b.to_vec()));
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "still waiting"
    );
    let c = m.open(ino).unwrap();
    write(&m, c, b"wake").unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)).unwrap().unwrap(),
        b"wake"
    );
    // Handed over directly: nothing stays queued.
    assert_eq!(m.slot_info(ino).unwrap().message_count, 0);
}

#[test]
fn a_waiter_with_a_small_buffer_is_told_and_the_message_stays() {
    let m = fs();
    let (ino, s) = server(&m, "w");
    let (tx, rx) = mpsc::channel();
    m.read(s, ReadCall::default(), 2, false, move |r| {
        let _ = tx.send(r.map(|b| b.to_vec()));
    });
    let c = m.open(ino).unwrap();
    write(&m, c, b"toolong").unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)).unwrap(),
        Err(Error::BufferTooSmall)
    );
    assert_eq!(now(&m, s, 100).unwrap(), b"toolong");
}

#[test]
fn read_timeout_ends_a_wait_with_end_of_file() {
    let m = fs();
    let (ino, s) = server(&m, "t");
    m.setxattr(ino, n("user.mailslot.read_timeout_ms"), b"30", 0, ROOT_USER)
        .unwrap();
    let answer = read(&m, s, 10, false, Duration::from_secs(5)).expect("timeout fired");
    assert_eq!(answer.unwrap(), b"");
    m.setxattr(ino, n("user.mailslot.read_timeout_ms"), b"0", 0, ROOT_USER)
        .unwrap();
    assert_eq!(
        read(&m, s, 10, false, Duration::from_millis(100))
            .unwrap()
            .unwrap(),
        b""
    );
}

#[test]
fn closing_the_server_removes_the_slot_and_clients_get_epipe() {
    let m = fs();
    let removed = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let seen = removed.clone();
    m.set_invalidate_hook(move |parent, name| seen.lock().push((parent, name.to_owned())));
    let (ino, s) = server(&m, "gone");
    let c = m.open(ino).unwrap();
    write(&m, c, b"discarded").unwrap();
    m.lookup(ROOT, n("GONE")).unwrap();
    m.release(s);
    assert_eq!(
        m.lookup(ROOT, n("gone")).map(|a| a.ino),
        Err(Error::NotFound)
    );
    assert_eq!(write(&m, c, b"late"), Err(Error::ServerGone));
    assert_eq!(m.statfs().blocks_free, m.statfs().blocks, "quota returned");
    // Both spellings the kernel may have cached are invalidated.
    assert_eq!(removed.lock().len(), 2);
    // The node lives until the kernel forgets it: create 1 + lookup 1.
    assert!(m.getattr(ino).is_ok());
    m.forget(ino, 2);
    assert_eq!(m.getattr(ino).map(|a| a.ino), Err(Error::NotFound));
    // The name is free again at once.
    server(&m, "gone");
}

#[test]
fn quotas_per_slot_and_per_mount() {
    let m = fs();
    let (a, _sa) = server(&m, "a");
    let (b, _sb) = server(&m, "b");
    let ca = m.open(a).unwrap();
    let cb = m.open(b).unwrap();
    for _ in 0..4 {
        write(&m, ca, &[0u8; 8]).unwrap(); // 24 charged each
    }
    assert_eq!(
        write(&m, ca, &[0u8; 8]),
        Err(Error::QueueFull),
        "slot quota 100"
    );
    write(&m, cb, &[0u8; 8]).unwrap();
    assert_eq!(
        write(&m, cb, &[0u8; 8]),
        Err(Error::QueueFull),
        "mount quota 150, less root's reserve of 7 for other users"
    );
    write_as(&m, cb, &[0u8; 8], ROOT_USER).unwrap();
    assert_eq!(
        write_as(&m, cb, &[0u8; 8], ROOT_USER),
        Err(Error::QueueFull),
        "mount quota 150 for root"
    );
    assert_eq!(write(&m, ca, &[0u8; 1001]), Err(Error::MessageTooLarge));
}

#[test]
fn names_fold_case_and_directories_nest() {
    let m = fs();
    let dir = m.mkdir(ROOT, n("Lan"), 0o755, 0, ROOT_USER).unwrap();
    assert_eq!(
        m.mkdir(ROOT, n("LAN"), 0o755, 0, ROOT_USER).map(|a| a.ino),
        Err(Error::Exists)
    );
    let (attr, _s, _) = m
        .create(dir.ino, n("Logon"), 0o600, 0, libc::O_RDWR, OTHER)
        .unwrap();
    assert_eq!((attr.uid, attr.perm), (1000, 0o600));
    assert_eq!(m.lookup(dir.ino, n("LOGON")).unwrap().ino, attr.ino);
    assert_eq!(m.rmdir(ROOT, n("lan")), Err(Error::DirectoryNotEmpty));
    let mut names = Vec::new();
    m.readdir(dir.ino, 0, |_, _, _, name| {
        names.push(name.to_owned());
        false
    })
    .unwrap();
    assert_eq!(names, [".", "..", "Logon"]);
    assert_eq!(m.path_of(attr.ino), "/Lan/Logon");
    assert_eq!(
        m.mkdir(ROOT, n("bad\\name"), 0o755, 0, ROOT_USER)
            .map(|a| a.ino),
        Err(Error::InvalidName)
    );
}

#[test]
fn only_the_owner_sets_mailslot_info() {
    let m = fs();
    let (ino, _s) = server(&m, "own");
    let set = |who, attr: &str, v: &[u8]| m.setxattr(ino, n(attr), v, 0, who);
    assert_eq!(
        set(OTHER, "user.mailslot.read_timeout_ms", b"5"),
        Err(Error::NotPermitted)
    );
    assert_eq!(
        set(ROOT_USER, "user.mailslot.message_count", b"5"),
        Err(Error::NotPermitted)
    );
    assert_eq!(
        set(ROOT_USER, "user.mailslot.nope", b"5"),
        Err(Error::NoAttribute)
    );
    assert_eq!(
        set(ROOT_USER, "user.mailslot.max_message_size", b"2000"),
        Err(Error::InvalidArgument)
    );
    set(ROOT_USER, "user.mailslot.max_message_size", b"10").unwrap();
    assert_eq!(
        m.getxattr(ino, n("user.mailslot.max_message_size"), ROOT_USER)
            .unwrap(),
        b"10"
    );
    assert_eq!(
        m.getxattr(ino, n("user.mailslot.next_message_size"), ROOT_USER)
            .unwrap(),
        b"-1"
    );
    assert_eq!(
        m.removexattr(ino, n("user.mailslot.queued_bytes")),
        Err(Error::NotPermitted)
    );
    // 0 is CreateMailslot's "any size": it reads back 0, and the mount's
    // ceiling still holds.
    set(ROOT_USER, "user.mailslot.max_message_size", b"0").unwrap();
    assert_eq!(
        m.getxattr(ino, n("user.mailslot.max_message_size"), ROOT_USER)
            .unwrap(),
        b"0"
    );
    let c = m.open(ino).unwrap();
    assert_eq!(write(&m, c, &[0u8; 1001]), Err(Error::MessageTooLarge));
    assert_eq!(write(&m, c, &[0u8; 80]), Ok(80));
}

#[test]
fn poll_wakes_once_a_message_arrives() {
    let m = fs();
    let (ino, s) = server(&m, "p");
    let (tx, rx) = mpsc::channel();
    let (ready, _) = m
        .poll(s, 7, Some(Box::new(move || tx.send(()).unwrap())))
        .unwrap();
    assert!(!ready.readable);
    let c = m.open(ino).unwrap();
    write(&m, c, b"x").unwrap();
    rx.recv_timeout(Duration::from_secs(1)).expect("woken");
    assert!(m.poll(s, 7, None).unwrap().0.readable);
}

#[test]
fn shutdown_answers_every_waiting_reader() {
    let m = fs();
    let (_, s) = server(&m, "s");
    let (tx, rx) = mpsc::channel();
    m.read(s, ReadCall::default(), 10, false, move |r| {
        tx.send(r.map(|b| b.to_vec())).unwrap()
    });
    m.shutdown();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)).unwrap(),
        Err(Error::ShuttingDown)
    );
    assert_eq!(
        m.create(ROOT, n("new"), 0o666, 0, libc::O_RDONLY, ROOT_USER)
            .map(|r| r.1),
        Err(Error::ShuttingDown)
    );
}

/// Starts a read that is expected to wait; its answer arrives on the
/// returned channel.
fn park(m: &Mailslots, fh: Fh, size: usize) -> (WaitToken, mpsc::Receiver<Result<Vec<u8>>>) {
    let (tx, rx) = mpsc::channel();
    let token = m
        .read(fh, ReadCall::default(), size, false, move |r| {
            let _ = tx.send(r.map(|b| b.to_vec()));
        })
        .expect("the read waits");
    (token, rx)
}

#[test]
fn a_cancelled_wait_gets_eintr_and_takes_nothing() {
    let m = fs();
    let (ino, s) = server(&m, "c");
    let (token, rx) = park(&m, s, 100);
    assert_eq!(m.slot_info(ino).unwrap().waiting_readers, 1);
    assert!(m.cancel_wait(&token));
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)).unwrap(),
        Err(Error::Interrupted)
    );
    // Cancelling again, or after the slot went away, changes nothing.
    assert!(!m.cancel_wait(&token));
    let c = m.open(ino).unwrap();
    write(&m, c, b"kept").unwrap();
    assert_eq!(m.slot_info(ino).unwrap().message_count, 1);
    assert_eq!(now(&m, s, 100).unwrap(), b"kept");
    m.release(s);
    assert!(!m.cancel_wait(&token));
}

#[test]
fn a_wait_answered_by_a_message_cannot_be_cancelled_afterwards() {
    let m = fs();
    let (ino, s) = server(&m, "h");
    let (token, rx) = park(&m, s, 100);
    let c = m.open(ino).unwrap();
    write(&m, c, b"mine").unwrap();
    assert!(!m.cancel_wait(&token));
    assert_eq!(rx.recv().unwrap().unwrap(), b"mine");
}

#[test]
fn a_reader_refused_for_its_small_buffer_strands_nobody() {
    let m = fs();
    let (ino, s) = server(&m, "strand");
    let (_, small) = park(&m, s, 4);
    let (_, big) = park(&m, s, 64 * 1024);
    let c = m.open(ino).unwrap();
    write(&m, c, b"longer than four").unwrap();
    assert_eq!(
        small.recv_timeout(Duration::from_secs(1)).unwrap(),
        Err(Error::BufferTooSmall)
    );
    assert_eq!(
        big.recv_timeout(Duration::from_secs(1)).unwrap().unwrap(),
        b"longer than four"
    );
    assert_eq!(m.slot_info(ino).unwrap().message_count, 0);
    // With only small buffers waiting, the message is queued and every
    // waiting reader hears why it got nothing.
    let (_, a) = park(&m, s, 2);
    let (_, b) = park(&m, s, 3);
    write(&m, c, b"still too long").unwrap();
    for rx in [a, b] {
        assert_eq!(rx.recv().unwrap(), Err(Error::BufferTooSmall));
    }
    assert_eq!(m.slot_info(ino).unwrap().waiting_readers, 0);
    assert_eq!(now(&m, s, 100).unwrap(), b"still too long");
}

#[test]
fn a_full_queue_refuses_the_writer_and_leaves_small_readers_waiting() {
    let m = fs();
    let (ino, s) = server(&m, "full");
    let c = m.open(ino).unwrap();
    let (token, rx) = park(&m, s, 2);
    // The per-slot quota is 100 bytes: 96 bytes of payload do not fit.
    assert_eq!(write(&m, c, &[b'x'; 97]), Err(Error::QueueFull));
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    assert!(m.cancel_wait(&token));
}

#[test]
fn timeouts_cost_nothing_once_a_wait_ends() {
    let m = fs();
    let (ino, s) = server(&m, "timers");
    m.setxattr(
        ino,
        n("user.mailslot.read_timeout_ms"),
        b"60000",
        0,
        ROOT_USER,
    )
    .unwrap();
    let c = m.open(ino).unwrap();
    let mut tokens = Vec::new();
    for _ in 0..100 {
        tokens.push(park(&m, s, 100));
    }
    assert_eq!(m.pending_timeouts(), 100);
    for (token, _) in &tokens[..50] {
        assert!(m.cancel_wait(token));
    }
    write(&m, c, b"one").unwrap();
    assert_eq!(m.pending_timeouts(), 49);
    m.release(s);
    assert_eq!(m.pending_timeouts(), 0);
    let answered = tokens
        .iter()
        .filter(|(_, rx)| rx.try_recv().is_ok())
        .count();
    assert_eq!(answered, 100);
}

fn sender_attr(m: &Mailslots, ino: Ino, which: &str) -> String {
    let name = format!("user.mailslot.{which}_sender");
    // A reader the daemon can see, in its own PID namespace.
    let reader = Caller {
        pid: std::process::id(),
        ..ROOT_USER
    };
    String::from_utf8(m.getxattr(ino, n(&name), reader).unwrap()).unwrap()
}

#[test]
fn every_message_remembers_its_sender() {
    let m = fs();
    // Open to others, so that the network may write to it too.
    let (attr, s, _) = m
        .create(ROOT, n("who"), 0o622, 0, libc::O_RDONLY, ROOT_USER)
        .unwrap();
    let ino = attr.ino;
    let c = m.open(ino).unwrap();
    assert_eq!(sender_attr(&m, ino, "next"), "none");
    assert_eq!(sender_attr(&m, ino, "last"), "none");
    write(&m, c, b"local").unwrap();
    let from_net = Sender::Network {
        source: "198.18.0.9:138".parse().unwrap(),
        name: "PEER<20>".into(),
    };
    m.deliver_to_path(&["who"], b"remote", &from_net).unwrap();
    assert_eq!(m.network_origins(), 1);
    assert_eq!(
        sender_attr(&m, ino, "next"),
        "local uid=1234 gid=56 pid=789"
    );
    assert_eq!(now(&m, s, 100).unwrap(), b"local");
    assert_eq!(
        sender_attr(&m, ino, "last"),
        "local uid=1234 gid=56 pid=789"
    );
    assert_eq!(
        sender_attr(&m, ino, "next"),
        "network address=198.18.0.9:138 name=\"PEER<20>\""
    );
    assert_eq!(now(&m, s, 100).unwrap(), b"remote");
    assert_eq!(
        sender_attr(&m, ino, "last"),
        "network address=198.18.0.9:138 name=\"PEER<20>\""
    );
    // The origin leaves the table with its last message.
    assert_eq!(m.network_origins(), 0);
    // A message handed straight to a waiting reader is the last taken too.
    let (_, rx) = park(&m, s, 100);
    write(&m, c, b"direct").unwrap();
    assert_eq!(rx.recv().unwrap().unwrap(), b"direct");
    assert_eq!(
        sender_attr(&m, ino, "last"),
        "local uid=1234 gid=56 pid=789"
    );
    // Discarded messages let go of their origins as well.
    m.deliver_to_path(&["who"], b"dropped", &from_net).unwrap();
    assert_eq!(m.network_origins(), 1);
    m.release(s);
    assert_eq!(m.network_origins(), 0);
}

#[test]
fn a_directory_read_from_any_offset_ends() {
    let m = fs();
    server(&m, "one");
    for cookie in [u64::MAX, u64::MAX - 1, 1 << 40] {
        let mut seen = 0;
        m.readdir(ROOT, cookie, |_, _, _, _| {
            seen += 1;
            false
        })
        .unwrap();
        assert_eq!(seen, 0, "offset {cookie}");
    }
}

/// A read that belongs to `call`, answered at once (it must not wait).
fn part(m: &Mailslots, fh: Fh, thread: u32, returned: u64, size: usize) -> Result<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    let call = ReadCall {
        thread,
        returned,
        ..Default::default()
    };
    m.read(fh, call, size, false, move |r| {
        let _ = tx.send(r.map(|b| b.to_vec()));
    });
    rx.recv_timeout(Duration::from_secs(1))
        .expect("answered at once")
}

#[test]
fn a_call_that_got_a_whole_message_gets_nothing_more() {
    let m = fs();
    let (ino, s) = server(&m, "v");
    let c = m.open(ino).unwrap();
    write(&m, c, b"exact").unwrap();
    write(&m, c, b"next").unwrap();
    // The message fills the first read to the byte, so the kernel goes on
    // with the call: that read ends it and takes nothing.
    assert_eq!(part(&m, s, 7, 0, 5).unwrap(), b"exact");
    assert_eq!(part(&m, s, 7, 5, 100).unwrap(), b"");
    assert_eq!(m.slot_info(ino).unwrap().message_count, 1);
    // Once ended, the thread's next call starts anew.
    assert_eq!(part(&m, s, 7, 0, 100).unwrap(), b"next");
    // With nothing queued, the continuation does not wait for a message.
    write(&m, c, b"alone").unwrap();
    assert_eq!(part(&m, s, 7, 0, 5).unwrap(), b"alone");
    assert_eq!(part(&m, s, 7, 5, 100).unwrap(), b"");
    assert_eq!(m.slot_info(ino).unwrap().waiting_readers, 0);
}

#[test]
fn a_waiting_read_filled_to_the_byte_ends_its_call_too() {
    let m = fs();
    let (ino, s) = server(&m, "w");
    let (tx, rx) = mpsc::channel();
    let call = ReadCall {
        thread: 9,
        returned: 0,
        ..Default::default()
    };
    m.read(s, call, 4, false, move |r| {
        let _ = tx.send(r.map(|b| b.to_vec()));
    })
    .expect("the read waits");
    let c = m.open(ino).unwrap();
    write(&m, c, b"four").unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)).unwrap().unwrap(),
        b"four"
    );
    write(&m, c, b"more").unwrap();
    assert_eq!(part(&m, s, 9, 4, 100).unwrap(), b"");
    assert_eq!(now(&m, s, 100).unwrap(), b"more");
}

#[test]
fn only_a_read_where_a_whole_message_ended_its_call_is_a_continuation() {
    let m = fs();
    let (ino, s) = server(&m, "x");
    let c = m.open(ino).unwrap();
    for msg in [&b"short"[..], b"exact", b"third"] {
        write(&m, c, msg).unwrap();
    }
    // A message shorter than the read ends the call in the kernel: a read at
    // that offset afterwards is not a continuation, and gets a message.
    assert_eq!(part(&m, s, 7, 0, 10).unwrap(), b"short");
    assert_eq!(part(&m, s, 7, 5, 10).unwrap(), b"exact");
    write(&m, c, b"fourth").unwrap();
    write(&m, c, b"fifth").unwrap();
    // Another thread, or another offset, does not continue thread 7's call.
    assert_eq!(part(&m, s, 7, 0, 5).unwrap(), b"third");
    assert_eq!(part(&m, s, 8, 5, 10).unwrap(), b"fourth");
    assert_eq!(part(&m, s, 7, 6, 10).unwrap(), b"fifth");
    assert_eq!(part(&m, s, 7, 5, 10).unwrap(), b"");
    // A first read too small for the message takes nothing.
    write(&m, c, b"too long").unwrap();
    assert_eq!(part(&m, s, 7, 0, 3), Err(Error::BufferTooSmall));
    assert_eq!(part(&m, s, 7, 0, 8).unwrap(), b"too long");
}
