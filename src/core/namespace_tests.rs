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
    let net = m.mkdir(ROOT, n("net"), 0o700, 0o022, ALICE).unwrap();
    assert_eq!((net.perm, net.uid, net.gid), (0o1777, 0, 0));
    // Alice cannot make it hers afterwards either.
    assert_eq!(
        m.setattr(
            net.ino,
            SetAttr {
                mode: Some(0o700),
                ..Default::default()
            }
        )
        .map(|_| ()),
        Err(Error::NotPermitted)
    );
    assert_eq!(
        m.mkdir(ROOT, n("NET"), 0o755, 0, ROOT_USER).map(|_| ()),
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
    // Before `net` exists it is a name like any other.
    assert_eq!(walk(&m, "@@TESTDOM#1C/net").unwrap().kind, Kind::Slot);
    assert_eq!(
        walk(&m, "@@TESTDOM#1C/net/netlogon"),
        Err(Error::NotDirectory)
    );
    m.mkdir(ROOT, n("Net"), 0o755, 0, ALICE).unwrap();
    let net = walk(&m, "@@TESTDOM#1C/net").unwrap();
    assert_eq!(net.kind, Kind::Directory);
    let logon = walk(&m, "@@TESTDOM#1C/NET/NetLogon").unwrap();
    let fh = m.open(logon.ino).unwrap();
    assert_eq!(write(&m, fh, b"query"), Ok(5));
    // The view keeps the spelling it was first looked up by; names go out
    // upper-cased anyway.
    let path = sent.sent.lock().unwrap()[0].1.join("\\").to_lowercase();
    assert_eq!(path, "net\\netlogon");
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
            ("Net".into(), Kind::Directory)
        ]
    );
    m.release(s.1);
}

#[test]
fn views_are_freed_when_forgotten_and_found_again() {
    let (m, _) = fs();
    m.mkdir(ROOT, n("net"), 0o755, 0, ROOT_USER).unwrap();
    let before = m.statfs().files;
    let mut held = Vec::new();
    for i in 0..200 {
        for path in ["@@testdom", "@@testdom/net", &format!("@@testdom/net/x{i}")] {
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
    assert_eq!(walk(&m, "@@testdom/net").unwrap().kind, Kind::Directory);
}

#[test]
fn idle_directories_are_kept_up_to_a_bound() {
    let (m, _) = fs();
    let a = m.mkdir(ROOT, n("a"), 0o755, 0, ROOT_USER).unwrap();
    m.forget(a.ino, 1);
    assert!(walk(&m, "a").is_ok(), "an idle directory is kept");
    for i in 0..KEPT_DIRECTORIES + 10 {
        let d = m.mkdir(ROOT, n(&format!("d{i}")), 0o755, 0, ALICE).unwrap();
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
