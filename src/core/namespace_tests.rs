//! The namespace as its users meet it: shared directories, remote
//! names that open without creating, views that neither leak nor vanish,
//! and the network treated as "other".

use std::ffi::OsStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex as StdMutex, mpsc};
use std::time::Duration;

use super::*;

/// A datagram's sender, for messages that come from the network.
fn net() -> Sender {
    Sender::Network {
        source: "198.18.0.7:138".parse().unwrap(),
        name: "PEER<00>".into(),
    }
}

const ROOT_USER: Caller = Caller {
    uid: 0,
    gid: 0,
    pid: 0,
};
const ALICE: Caller = Caller {
    uid: 4242,
    gid: 4242,
    pid: 0,
};
const BOB: Caller = Caller {
    uid: 4343,
    gid: 4343,
    pid: 0,
};

/// A message as it would have gone out: target component, path, data.
type Sent = (String, Vec<String>, Vec<u8>);

/// Records what would have gone out; 50 bytes at most per message.
#[derive(Default)]
struct Recorder {
    sent: StdMutex<Vec<Sent>>,
}

impl RemoteSender for Recorder {
    fn max_message_size(&self, _target: &RemoteTarget, _path: &[String]) -> Result<usize> {
        Ok(50)
    }

    fn send(
        &self,
        target: &RemoteTarget,
        path: &[String],
        data: Vec<u8>,
        _writer: Sender,
        done: SendDone,
    ) {
        self.sent
            .lock()
            .unwrap()
            .push((target.component(), path.to_vec(), data));
        done(Ok(()));
    }
}

fn n(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn fs() -> (Mailslots, Arc<Recorder>) {
    let m = Mailslots::new(Limits::new(1000), 0, 0);
    let r = Arc::new(Recorder::default());
    m.set_remote_sender(r.clone());
    (m, r)
}

fn write(m: &Mailslots, fh: Fh, data: &[u8]) -> Result<usize> {
    let (tx, rx) = mpsc::channel();
    m.write(fh, data, ROOT_USER, move |r| tx.send(r).unwrap());
    rx.recv_timeout(Duration::from_secs(1)).expect("answered")
}

/// Looks `path` up as the kernel does, one component at a time; every
/// component looked up is one more kernel reference, as `inos` records.
fn walk_counted(m: &Mailslots, path: &str, inos: &mut Vec<Ino>) -> Result<Attr> {
    let mut at = ROOT;
    let mut attr = m.getattr(ROOT)?;
    for part in path.split('/') {
        attr = m.lookup(at, n(part))?;
        inos.push(attr.ino);
        at = attr.ino;
    }
    Ok(attr)
}

fn walk(m: &Mailslots, path: &str) -> Result<Attr> {
    walk_counted(m, path, &mut Vec::new())
}

#[test]
fn directories_are_shared_whoever_makes_them() {
    let (m, _) = fs();
    let lan = m.mkdir(ROOT, n("lan"), 0o700, 0o022, ALICE).unwrap();
    assert_eq!((lan.perm, lan.uid, lan.gid), (0o1777, 0, 0));
    // Alice cannot make it hers afterwards either.
    assert_eq!(
        m.setattr(
            lan.ino,
            SetAttr {
                mode: Some(0o700),
                ..Default::default()
            }
        )
        .map(|_| ()),
        Err(Error::NotPermitted)
    );
    assert_eq!(
        m.mkdir(ROOT, n("LAN"), 0o755, 0, ROOT_USER).map(|_| ()),
        Err(Error::Exists)
    );
}

#[test]
fn remote_names_open_as_clients_without_create() {
    let (m, sent) = fs();
    let host = m.lookup(ROOT, n("@HostB")).unwrap();
    let chat = m.lookup(host.ino, n("chat")).unwrap();
    assert_eq!((chat.kind, chat.perm), (Kind::Slot, 0o666));
    let fh = m.open(chat.ino).unwrap();
    let (tx, rx) = mpsc::channel();
    m.read(fh, ReadCall::default(), 100, true, move |r| {
        tx.send(r.map(<[u8]>::to_vec)).unwrap()
    });
    assert_eq!(rx.recv().unwrap(), Err(Error::ReadAccessDenied));
    // Shell `>` truncates what it opens.
    m.setattr(
        chat.ino,
        SetAttr {
            size: Some(0),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(write(&m, fh, b"hi"), Ok(2));
    assert_eq!(write(&m, fh, &[b'x'; 51]), Err(Error::MessageTooLarge));
    assert_eq!(
        m.getxattr(chat.ino, n("user.mailslot.max_message_size"), ALICE),
        Ok(b"50".to_vec())
    );
    let sent = sent.sent.lock().unwrap();
    assert_eq!(
        *sent,
        vec![(
            "@HOSTB".to_string(),
            vec!["chat".to_string()],
            b"hi".to_vec()
        )]
    );
}

#[test]
fn under_a_target_the_mounts_directories_are_directories() {
    let (m, sent) = fs();
    // Before `lan` exists it is a name like any other.
    assert_eq!(walk(&m, "@@TESTDOM#1C/lan").unwrap().kind, Kind::Slot);
    assert_eq!(
        walk(&m, "@@TESTDOM#1C/lan/lanlogon"),
        Err(Error::NotDirectory)
    );
    m.mkdir(ROOT, n("Lan"), 0o755, 0, ALICE).unwrap();
    let lan = walk(&m, "@@TESTDOM#1C/lan").unwrap();
    assert_eq!(lan.kind, Kind::Directory);
    let logon = walk(&m, "@@TESTDOM#1C/LAN/LanLogon").unwrap();
    let fh = m.open(logon.ino).unwrap();
    assert_eq!(write(&m, fh, b"query"), Ok(5));
    // The view keeps the spelling it was first looked up by; names go out
    // upper-cased anyway.
    let path = sent.sent.lock().unwrap()[0].1.join("\\").to_lowercase();
    assert_eq!(path, "lan\\lanlogon");
    // The listing shows the hierarchy, directories only.
    let s = m
        .create(ROOT, n("slot"), 0o622, 0, libc::O_RDONLY, ROOT_USER)
        .unwrap();
    let target = walk(&m, "@@TESTDOM#1C").unwrap();
    let mut listed = Vec::new();
    m.readdir(target.ino, 0, |_, _, kind, name| {
        listed.push((name.to_string_lossy().into_owned(), kind));
        false
    })
    .unwrap();
    assert_eq!(
        listed,
        vec![
            (".".into(), Kind::Directory),
            ("..".into(), Kind::Directory),
            ("net".into(), Kind::Directory),
            ("Lan".into(), Kind::Directory)
        ]
    );
    m.release(s.1);
}

#[test]
fn views_are_freed_when_forgotten_and_found_again() {
    let (m, _) = fs();
    m.mkdir(ROOT, n("lan"), 0o755, 0, ROOT_USER).unwrap();
    let before = m.statfs().files;
    let mut held = Vec::new();
    for i in 0..200 {
        for path in ["@@testdom", "@@testdom/lan", &format!("@@testdom/lan/x{i}")] {
            walk_counted(&m, path, &mut held).unwrap();
        }
    }
    // One node per target, path and kind, however often it is looked up.
    assert_eq!(m.statfs().files, before + 2 + 200);
    for ino in held {
        m.forget(ino, 1);
    }
    assert_eq!(
        m.statfs().files,
        before,
        "views outlived the kernel's references"
    );
    // Nothing vanished: the same path still leads to a directory.
    assert_eq!(walk(&m, "@@testdom/lan").unwrap().kind, Kind::Directory);
}

#[test]
fn idle_directories_are_kept_up_to_a_bound() {
    let (m, _) = fs();
    let a = m.mkdir(ROOT, n("a"), 0o755, 0, ROOT_USER).unwrap();
    m.forget(a.ino, 1);
    assert!(walk(&m, "a").is_ok(), "an idle directory is kept");
    for i in 0..KEPT_DIRECTORIES + 10 {
        let d = m
            .mkdir(ROOT, n(&format!("d{i}")), 0o755, 0, ROOT_USER)
            .unwrap();
        m.forget(d.ino, 1);
    }
    assert!(m.dirs.load(Ordering::Acquire) <= KEPT_DIRECTORIES);
    // A directory that holds a slot stays, and goes once idle past the bound.
    let busy = m.mkdir(ROOT, n("busy"), 0o755, 0, ROOT_USER).unwrap();
    let s = m
        .create(busy.ino, n("s"), 0o622, 0, libc::O_RDONLY, ROOT_USER)
        .unwrap();
    assert!(walk(&m, "busy/s").is_ok());
    m.forget(busy.ino, 2);
    assert!(walk(&m, "busy").is_ok());
    m.forget(busy.ino, 1);
    m.release(s.1);
    assert_eq!(m.lookup(ROOT, n("busy")).map(|_| ()), Err(Error::NotFound));
}

#[test]
fn the_network_is_other() {
    let (m, _) = fs();
    let mk = |name: &str, mode| {
        m.create(ROOT, n(name), mode, 0, libc::O_RDONLY, ROOT_USER)
            .unwrap()
    };
    mk("secret", 0o600);
    mk("group", 0o620);
    mk("open", 0o622);
    assert_eq!(
        m.deliver_to_path(&["secret"], b"x", &net()),
        Err(Error::NotOpenToNetwork)
    );
    assert_eq!(
        m.deliver_to_path(&["group"], b"x", &net()),
        Err(Error::NotOpenToNetwork)
    );
    assert_eq!(m.deliver_to_path(&["OPEN"], b"x", &net()), Ok(()));
    assert_eq!(
        m.deliver_to_path(&["nobody"], b"x", &net()),
        Err(Error::NotFound)
    );
    assert_eq!(Error::NotOpenToNetwork.errno(), libc::EACCES);
}

#[test]
fn net_is_everybodys_directory_from_the_start() {
    let (m, _) = fs();
    let net = walk(&m, "NET").unwrap();
    assert_eq!(net.kind, Kind::Directory);
    // No slot can take it, nobody can remove it, and it holds slots.
    assert_eq!(
        m.create(
            ROOT,
            n("net"),
            0o666,
            0,
            libc::O_RDONLY | libc::O_EXCL,
            ALICE
        )
        .map(|_| ()),
        Err(Error::Exists)
    );
    assert_eq!(
        m.create(ROOT, n("net"), 0o666, 0, libc::O_RDONLY, ALICE)
            .map(|_| ()),
        Err(Error::IsDirectory)
    );
    assert_eq!(m.rmdir(ROOT, n("net")), Err(Error::NotPermitted));
    let (s, fh, _) = m
        .create(net.ino, n("netlogon"), 0o666, 0, libc::O_RDONLY, ROOT_USER)
        .unwrap();
    assert_eq!(m.path_of(s.ino), "/net/netlogon");
    m.release(fh);
    assert!(m.mkdir(net.ino, n("getdc1"), 0o755, 0, ROOT_USER).is_ok());
}

#[test]
fn directories_are_charged_to_their_maker_and_bounded() {
    let mut limits = Limits::new(1000);
    limits.user.dirs = 4;
    let m = Mailslots::new(limits, 0, 0);
    // A chain: each directory is held by the next.
    let mut at = ROOT;
    for i in 0..4 {
        at = m
            .mkdir(at, n(&format!("c{i}")), 0o755, 0, ALICE)
            .unwrap()
            .ino;
    }
    assert_eq!(
        m.mkdir(at, n("c4"), 0o755, 0, ALICE).map(|_| ()),
        Err(Error::QuotaExceeded)
    );
    assert_eq!(m.quotas().used(Account::User(4242), Resource::Dirs), 4);
    // Everybody else goes on.
    assert!(m.mkdir(at, n("c4"), 0o755, 0, ROOT_USER).is_ok());
    // Forgotten and empty, the leaf goes and gives back its charge.
    let leaf = walk(&m, "c0/c1/c2/c3/c4").unwrap();
    m.forget(leaf.ino, 2);
    assert!(m.rmdir(at, n("c4")).is_ok());
    // Made (1) and walked through (1).
    m.forget(at, 2);
    assert_eq!(m.quotas().used(Account::User(4242), Resource::Dirs), 3);
}

#[test]
fn slots_and_waiting_reads_are_charged_per_user() {
    let mut limits = Limits::new(1000);
    limits.user.slots = 2;
    limits.user.waiting_reads = 1;
    let m = Mailslots::new(limits, 0, 0);
    let mk = |name: &str, who| m.create(ROOT, n(name), 0o666, 0, libc::O_RDONLY, who);
    let (_, a, _) = mk("a", ALICE).unwrap();
    let (_, _b, _) = mk("b", ALICE).unwrap();
    assert_eq!(mk("c", ALICE).map(|_| ()), Err(Error::QuotaExceeded));
    assert!(mk("c", ROOT_USER).is_ok());
    m.release(a);
    let (_, a, _) = mk("a", ALICE).unwrap();
    // One waiting read; a second gets EDQUOT, not EAGAIN, and takes nothing.
    let alice = ReadCall {
        uid: 4242,
        ..Default::default()
    };
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    assert!(
        m.read(a, alice, 100, false, move |r| {
            let _ = tx.send(r.map(|b| b.to_vec()));
        })
        .is_some()
    );
    assert!(
        m.read(a, alice, 100, false, move |r| {
            let _ = tx2.send(r.map(|b| b.to_vec()));
        })
        .is_none()
    );
    assert_eq!(rx.recv().unwrap(), Err(Error::QuotaExceeded));
    assert_eq!(
        m.quotas().used(Account::User(4242), Resource::WaitingReads),
        1
    );
    let c = m.open(walk(&m, "a").unwrap().ino).unwrap();
    assert_eq!(write(&m, c, b"hi"), Ok(2));
    assert_eq!(rx.recv().unwrap(), Ok(b"hi".to_vec()));
    assert_eq!(
        m.quotas().used(Account::User(4242), Resource::WaitingReads),
        0
    );
}

#[test]
fn messages_are_charged_to_their_writer() {
    let mut limits = Limits::new(1000);
    limits.user.bytes = 100;
    let m = Mailslots::new(limits, 0, 0);
    let (victim, s, _) = m
        .create(ROOT, n("victim"), 0o666, 0, libc::O_RDONLY, BOB)
        .unwrap();
    let c = m.open(victim.ino).unwrap();
    let as_ = |who: Caller| {
        let (tx, rx) = mpsc::channel();
        m.write(c, &[0u8; 34], who, move |r| tx.send(r).unwrap());
        rx.recv().unwrap()
    };
    assert_eq!(as_(ALICE), Ok(34));
    assert_eq!(as_(ALICE), Ok(34));
    assert_eq!(as_(ALICE), Err(Error::QuotaExceeded));
    // Alice's messages cost Bob nothing.
    assert_eq!(as_(BOB), Ok(34));
    assert_eq!(m.quotas().used(Account::User(4242), Resource::Bytes), 100);
    // The server's close gives back every writer's charge.
    m.release(s);
    assert_eq!(m.quotas().used(Account::User(4242), Resource::Bytes), 0);
    assert_eq!(m.quotas().used(Account::User(4343), Resource::Bytes), 0);
    assert_eq!(m.quotas().total(), 0);
}
