//! mailslotfs as a NetBIOS citizen: it registers its names at start,
//! defends them, answers node status, releases them at a clean stop, and
//! with `--wins` registers, refreshes and resolves through a WINS server
//! across a router. The peer is Debian's nmbd (with its own smb.conf, in
//! a namespace of the test's own segment); packets are checked as tshark
//! decodes them. All traffic stays in namespaces the test makes
//! (198.18.0.0/24 and, behind a router namespace, 198.18.2.0/24).

mod common;
mod lan;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};
use std::time::Duration;

use lan::{BROADCAST, Lan, MAILSLOT, nmblookup};
use mailslotfs::net::names::NetbiosName;
use mailslotfs::net::wire::{MailslotDatagram, MessageType, SizeLimit};

/// A smb.conf for nmblookup alone (no nmbd reads it).
fn lookup_conf(lan: &Lan) -> PathBuf {
    let conf = lan.dir.path().join("nmblookup.conf");
    fs::write(
        &conf,
        "[global]\n    interfaces = eth0\n    disable netbios = no\n",
    )
    .unwrap();
    conf
}

/// Python run in host `i`'s namespace; its stdout.
fn py_in(lan: &Lan, i: usize, script: &str) -> String {
    lan::run(lan.in_ns(i, "python3").arg("-c").arg(script))
}

/// Starts a Python peer in host `i`'s namespace (stopped with the host)
/// and waits until it prints `ready`; returns its further output.
fn spawn_py_in(lan: &mut Lan, i: usize, script: &str) -> BufReader<ChildStdout> {
    let mut child = lan
        .in_ns(i, "python3")
        .arg("-c")
        .arg(script)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    lan.hosts[i].others.push(child);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n", "the peer did not start");
    out
}

/// Encodes a NetBIOS name (first level, no scope) in Python.
const PY_NAMES: &str = r#"
import socket, struct, sys, time
def enc(name, suffix):
    raw = name.upper().ljust(15).encode() + bytes([suffix])
    return b'\x20' + bytes(c for b in raw for c in (0x41 + (b >> 4), 0x41 + (b & 15))) + b'\0'
def registration(trn, name, suffix, ip):
    return (struct.pack('>HHHHHH', trn, 0x2910, 1, 0, 0, 1) + enc(name, suffix)
            + struct.pack('>HH', 0x20, 1) + b'\xc0\x0c'
            + struct.pack('>HHIHH', 0x20, 1, 300000, 6, 0) + socket.inet_aton(ip))
"#;

fn tshark_fields(pcap: &Path, fields: &[&str]) -> String {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap).args(["-Y", "nbns", "-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A Python peer's socket on the name service port, ready once it says so.
const PY_ON_NAME_PORT: &str = "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', 137))
print('ready', flush=True)
";

#[test]
fn names_are_registered_defended_listed_and_released() {
    let mut lan = Lan::new(3);
    let conf = lookup_conf(&lan);
    let mut cap = lan.capture(1, "udp port 137");
    // Host 2 answers every registration it sees with forgeries: a negative
    // answer with the wrong transaction id, one with the right id for
    // another name, and a positive one (nobody answers a broadcast
    // registration positively). None may stop host 0 from taking its
    // names, and the positive one may not make it refresh them: there is no
    // server to refresh them with.
    let mut forged = spawn_py_in(
        &mut lan,
        2,
        &format!(
            r#"{PY_NAMES}
{PY_ON_NAME_PORT}while True:
    p, frm = s.recvfrom(2048)
    trn, flags = struct.unpack('>HH', p[:4])
    if flags & 0x8000 or (flags >> 11) & 15 != 5 or frm[0] != '198.18.0.1':
        continue
    q = p[12:46]
    for t, f, ttl, name in ((trn ^ 0x5555, 0xAD86, 0, q), (trn, 0xAD86, 0, enc('SOMEONE', 0)),
                            (trn, 0xAD80, 300, q)):
        s.sendto(struct.pack('>HHHHHH', t, f, 0, 1, 0, 0) + name
                 + struct.pack('>HHIHH', 0x20, 1, ttl, 6, 0) + socket.inet_aton('198.18.0.3'), frm)
    print('forged', flush=True)
"#
        ),
    );
    let mut line = String::new();

    lan.start(0);
    assert_eq!(lan.counter(0, "names_registered"), 5, "{}", lan.log(0));
    assert!(
        lan.counter(0, "name_answers_ignored") >= 2,
        "{}",
        lan.log(0)
    );
    line.clear();
    forged.read_line(&mut line).unwrap();
    assert_eq!(line, "forged\n", "the forger saw no registration");
    let threads: Vec<String> = fs::read_dir(format!("/proc/{}/task", lan.daemon_pid(0)))
        .unwrap()
        .map(|t| fs::read_to_string(t.unwrap().path().join("comm")).unwrap())
        .collect();
    assert!(
        !threads.iter().any(|t| t.starts_with("mailslot-refres")),
        "a refresh thread with no WINS server: {threads:?}"
    );

    // nmblookup -A (nbtstat -A) lists the five names, B node, active.
    let status = nmblookup(&lan, 1, &conf, &["-A", "198.18.0.1"]);
    for want in [
        "HOST0           <00> -         B <ACTIVE>",
        "HOST0           <03> -         B <ACTIVE>",
        "HOST0           <20> -         B <ACTIVE>",
        "TESTDOM         <00> - <GROUP> B <ACTIVE>",
        "TESTDOM         <1e> - <GROUP> B <ACTIVE>",
    ] {
        assert!(status.contains(want), "no {want:?} in:\n{status}");
    }
    assert_eq!(lan.counter(0, "node_status_answered"), 1);

    // Another node registering HOST0<00> is told the name is taken
    // (RCODE 6, ACT_ERR) and where it lives; a registration of a name
    // that is not ours gets no answer.
    let answer = py_in(
        &lan,
        1,
        &format!(
            r#"{PY_NAMES}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind(('198.18.0.2', 0))
s.settimeout(2)
s.sendto(registration(0x4242, 'HOST0', 0, '198.18.0.2'), ('{BROADCAST}', 137))
s.sendto(registration(0x4343, 'NOBODY', 0, '198.18.0.2'), ('{BROADCAST}', 137))
p, frm = s.recvfrom(2048)
trn, flags = struct.unpack('>HH', p[:4])
print(hex(trn), hex(flags), frm[0], socket.inet_ntoa(p[-4:]))
try:
    p, frm = s.recvfrom(2048)
    print('and', hex(struct.unpack('>H', p[:2])[0]))
except socket.timeout:
    pass
"#
        ),
    );
    assert_eq!(answer, "0x4242 0xad86 198.18.0.1 198.18.0.1\n");
    assert_eq!(lan.counter(0, "names_defended"), 1);
    assert!(
        lan.log(0)
            .contains("198.18.0.2 tried to register HOST0<00>"),
        "{}",
        lan.log(0)
    );

    // A clean stop releases the names.
    assert!(lan.stop(0).success(), "{}", lan.log(0));
    let full = cap.stop();
    // opcode, response flag, rcode, name, B flag, per packet as tshark reads it.
    let fields = tshark_fields(
        &cap.pcap,
        &[
            "ip.src",
            "nbns.flags.opcode",
            "nbns.flags.response",
            "nbns.flags.rcode",
            "nbns.name",
            "nbns.flags.broadcast",
        ],
    );
    let from_host0: Vec<&str> = fields
        .lines()
        .filter(|l| l.starts_with("198.18.0.1\t"))
        .collect();
    for (opcode, name) in [
        ("5", "HOST0<00>"),
        ("5", "HOST0<03>"),
        ("5", "HOST0<20>"),
        ("5", "TESTDOM<00>"),
        ("5", "TESTDOM<1e>"),
        ("6", "HOST0<00>"),
        ("6", "TESTDOM<1e>"),
    ] {
        assert!(
            from_host0.iter().any(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                f[1] == opcode && f[2] == "0" && f[4].starts_with(name) && f[5] == "1"
            }),
            "no broadcast opcode {opcode} for {name} from host 0:\n{fields}"
        );
    }
    // The node status answer and the defence decode too.
    assert!(full.contains("Type: NBSTAT"), "{full}");
    assert!(full.contains("Name: HOST0<20> (Server service)"), "{full}");
    assert!(
        from_host0.iter().any(|l| l.split('\t').nth(3) == Some("6")),
        "no defence (rcode 6) from host 0:\n{fields}"
    );
    assert!(!full.contains("Malformed"), "{full}");
}

/// A name service query from Python, and how it was answered: `silent`,
/// `rcode N`, or the first address record's TTL, owner node type, group
/// bit and address.
const PY_QUERY: &str = r#"
def query(trn, name, suffix, bcast=False, scope=None):
    q = enc(name, suffix)
    if scope:
        q = q[:-1] + bytes([len(scope)]) + scope.encode() + b'\0'
    return (struct.pack('>HHHHHH', trn, 0x0110 if bcast else 0x0100, 1, 0, 0, 0)
            + q + struct.pack('>HH', 0x20, 1))
def ask(packet, to, wait=1.5):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.settimeout(wait)
    s.sendto(packet, (to, 137))
    try:
        p, frm = s.recvfrom(2048)
    except socket.timeout:
        return 'silent'
    flags = struct.unpack('>H', p[2:4])[0]
    if flags & 15:
        return 'rcode %d' % (flags & 15)
    off = 12 + 34 + 4
    ttl, rdlen, nbf = struct.unpack('>IHH', p[off:off + 8])
    return 'ttl %d ont %d group %d %s' % (ttl, (nbf >> 13) & 3, nbf >> 15,
                                          socket.inet_ntoa(p[off + 8:off + 12]))
"#;

/// Writes to a slot of host `i`'s mount and reads it back: the local
/// side works whatever the network side is doing.
fn local_slot_works(lan: &Lan, i: usize) {
    let out = lan::py(
        r#"
import os, sys
p = os.path.join(sys.argv[1], 'localcheck')
srv = os.open(p, os.O_CREAT | os.O_RDONLY, 0o600)
c = os.open(p, os.O_WRONLY)
os.write(c, b'still local')
print(os.read(srv, 100).decode())
"#,
        &[&lan.mount(i)],
    );
    assert_eq!(out, "still local\n", "{}", lan.log(i));
}

/// A raw mailslot write to `to<00>` (or `<xx>`), sent from host `i`'s
/// namespace, where no daemon runs.
fn send_raw(lan: &Lan, i: usize, dest: &str, to: &NetbiosName, mailslot: &str, data: &[u8]) {
    let bytes = MailslotDatagram::new(
        MessageType::DirectUnique,
        NetbiosName::new("RAWSENDER", 0).unwrap(),
        lan.hosts[i].addr,
        to.clone(),
        mailslot,
        data.to_vec(),
    )
    .build(SizeLimit::Protocol)
    .unwrap();
    let file = lan.dir.path().join("raw-datagram");
    fs::write(&file, bytes).unwrap();
    lan::run(
        lan.in_ns(i, "python3")
            .arg("-c")
            .arg(format!(
                "import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                 s.sendto(open(sys.argv[1], 'rb').read(), ('{dest}', 138))"
            ))
            .arg(&file),
    );
}

/// nmbd holds PEERDC: a mailslotfs host started under that name mounts
/// all the same, its PEERDC<00> in conflict, shown and logged, its other
/// names registered.
#[test]
fn a_name_nmbd_holds_is_a_conflict_and_the_mount_stays() {
    let mut lan = Lan::new(2);
    let conf = lan::nmbd(&mut lan, 1, "PEERDC", "wins support = no");
    lan::await_nmbd(
        &lan,
        &conf,
        &["-B", BROADCAST, "PEERDC"],
        "198.18.0.2 PEERDC<00>",
    );
    let m = lan.start_with(0, &["--netbios-name", "peerdc"]);
    let names = lan::xattr(&m, "user.mailslot.net.names");
    assert!(
        names.contains("PEERDC<00> unique conflict: is held by 198.18.0.2 (rcode 6)"),
        "{names}"
    );
    assert!(names.contains("TESTDOM<1e> group registered"), "{names}");
    let log = lan.log(0);
    assert!(
        log.contains("NetBIOS name conflict: PEERDC<00> is held by 198.18.0.2"),
        "{log}"
    );
    assert!(log.contains("choose another --netbios-name"), "{log}");
    local_slot_works(&lan, 0);
    // nmbd still answers for its name; this host does not.
    let out = nmblookup(&lan, 1, &conf, &["-U", "198.18.0.1", "PEERDC"]);
    assert!(!out.contains("198.18.0.1 PEERDC<00>"), "{out}");
}

/// A forger answers every broadcast registration of host 0 with a WACK,
/// and again every 2 s, for 75 s. Before, each WACK pushed the end of
/// the registration on and the mount waited for it (81 s measured); now
/// the mount comes first and WACKs to a broadcast count for nothing.
#[test]
fn a_wack_flood_never_holds_the_mount() {
    let mut lan = Lan::new(3);
    let mut forger = spawn_py_in(
        &mut lan,
        2,
        &format!(
            r#"{PY_NAMES}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', 137))
seen = {{}}
end = time.time() + 75
print('ready', flush=True)
told = False
while time.time() < end:
    s.settimeout(2)
    try:
        p, frm = s.recvfrom(2048)
        trn, flags = struct.unpack('>HH', p[:4])
        if not flags & 0x8000 and (flags >> 11) & 15 == 5 and frm[0] == '198.18.0.1':
            seen[p[12:46]] = (trn, frm)
    except socket.timeout:
        pass
    for name, (trn, frm) in seen.items():
        s.sendto(struct.pack('>HHHHHH', trn, 0xBC00, 0, 1, 0, 0) + name
                 + struct.pack('>HHIHH', 0x20, 1, 30, 2, 0x2910), frm)
    if seen and not told:
        print('wack', flush=True)
        told = True
"#
        ),
    );
    lan.start_mounted(0, &[]);
    local_slot_works(&lan, 0);
    let mut line = String::new();
    forger.read_line(&mut line).unwrap();
    assert_eq!(line, "wack\n", "the forger saw no registration");
    // The names settle while the forger still sends.
    let m = lan.mount(0);
    common::wait_until("the names to settle", Duration::from_secs(20), || {
        !lan::xattr(&m, "user.mailslot.net.names").contains("registering")
    });
    assert!(
        lan.hosts[2].others[0].try_wait().unwrap().is_none(),
        "the forger stopped early"
    );
    assert_eq!(lan.counter(0, "names_registered"), 5, "{}", lan.log(0));
    assert!(lan.counter(0, "name_answers_ignored") >= 5);
    assert!(
        lan.log(0)
            .contains("a broadcast registration has no name server")
    );
}

/// One forged negative answer (RCODE 6) to HOST0<00>: before, the daemon
/// exited 1 and nothing was mounted. Now the mount is up, local slots
/// work, the name is in conflict (shown, logged, neither answered nor
/// taking datagrams) and the other names work.
#[test]
fn a_forged_refusal_puts_one_name_in_conflict() {
    let mut lan = Lan::new(3);
    let mut forger = spawn_py_in(
        &mut lan,
        2,
        &format!(
            r#"{PY_NAMES}
{PY_ON_NAME_PORT}while True:
    p, frm = s.recvfrom(2048)
    trn, flags = struct.unpack('>HH', p[:4])
    if flags & 0x8000 or (flags >> 11) & 15 != 5 or p[12:46] != enc('HOST0', 0):
        continue
    s.sendto(struct.pack('>HHHHHH', trn, 0xAD86, 0, 1, 0, 0) + p[12:46]
             + struct.pack('>HHIHH', 0x20, 1, 0, 6, 0) + socket.inet_aton('198.18.0.3'), frm)
    print('refused', flush=True)
    break
"#
        ),
    );
    let m = lan.start(0);
    let mut line = String::new();
    forger.read_line(&mut line).unwrap();
    assert_eq!(line, "refused\n");
    local_slot_works(&lan, 0);
    let names = lan::xattr(&m, "user.mailslot.net.names");
    assert!(
        names.contains("HOST0<00> unique conflict: is held by 198.18.0.3 (rcode 6); retry in"),
        "{names}"
    );
    assert!(
        names.contains("HOST0<20> unique registered on the segment"),
        "{names}"
    );
    assert!(
        lan.log(0)
            .contains("NetBIOS name conflict: HOST0<00> is held by 198.18.0.3"),
        "{}",
        lan.log(0)
    );
    assert_eq!(lan.counter(0, "name_conflicts"), 1);
    assert_eq!(lan.counter(0, "names_registered"), 4);
    // Not answered (a unicast query gets "no such name"), the others are.
    let answers = py_in(
        &lan,
        1,
        &format!(
            "{PY_NAMES}{PY_QUERY}\nprint(ask(query(1, 'HOST0', 0), '198.18.0.1'))\nprint(ask(query(2, 'HOST0', 0x20), '198.18.0.1'))"
        ),
    );
    assert_eq!(
        answers,
        "rcode 3\nttl 300000 ont 0 group 0 198.18.0.1\n",
        "{}",
        lan.log(0)
    );
    // A write to HOST0<00> is not taken; one to HOST0<20> is.
    let listener = Command::new(MAILSLOT)
        .arg("--mount")
        .arg(&m)
        .args([
            "listen",
            "--network",
            "--count",
            "1",
            "--timeout",
            "20s",
            "inbox",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_until("the slot", Duration::from_secs(10), || {
        m.join("inbox").exists()
    });
    let host0 = |suffix| NetbiosName::new("HOST0", suffix).unwrap();
    send_raw(
        &lan,
        1,
        "198.18.0.1",
        &host0(0),
        "\\MAILSLOT\\INBOX",
        b"to the conflict",
    );
    common::wait_until("the drop", Duration::from_secs(10), || {
        lan.counter(0, "dropped_not_for_us") == 1
    });
    send_raw(
        &lan,
        1,
        "198.18.0.1",
        &host0(0x20),
        "\\MAILSLOT\\INBOX",
        b"to the server name",
    );
    let out = listener.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "to the server name\n");
}

/// Queries answered as nmbd answers them: "no such name" at once to a
/// unicast query for a name this host does not hold (before: silence,
/// and nmblookup waited out its retries); the workgroup's groups to a
/// broadcast (before: silence, so workgroup listings missed the host);
/// nothing for a scoped name (before: answered as if unscoped).
#[test]
fn queries_are_answered_as_nmbd_answers_them() {
    let mut lan = Lan::new(2);
    let conf = lookup_conf(&lan);
    lan.start(0);
    let mut cap = lan.capture(1, "udp port 137");
    let out = nmblookup(&lan, 1, &conf, &["-U", "198.18.0.1", "NOBODY"]);
    assert!(
        out.contains("name_query failed to find name NOBODY"),
        "{out}"
    );
    for (group, want) in [
        ("TESTDOM#1e", "198.18.0.1 TESTDOM<1e>"),
        ("TESTDOM#00", "198.18.0.1 TESTDOM<00>"),
    ] {
        let out = nmblookup(&lan, 1, &conf, &["-B", BROADCAST, group]);
        assert!(out.contains(want), "{out}\n{}", lan.log(0));
    }
    let answers = py_in(
        &lan,
        1,
        &format!(
            r#"{PY_NAMES}{PY_QUERY}
print(ask(query(1, 'NOBODY', 0), '198.18.0.1', wait=5))
print(ask(query(2, 'TESTDOM', 0x1e, bcast=True), '{BROADCAST}'))
print(ask(query(3, 'HOST0', 0, scope='OTHER'), '198.18.0.1'))
print(ask(query(4, 'HOST0', 0, bcast=True, scope='OTHER'), '{BROADCAST}'))
print(ask(query(5, 'HOST0', 0), '198.18.0.1'))
"#
        ),
    );
    assert_eq!(
        answers,
        "rcode 3\nttl 300000 ont 0 group 1 198.18.0.1\nsilent\nsilent\nttl 300000 ont 0 group 0 198.18.0.1\n"
    );
    assert!(lan.counter(0, "name_queries_refused") >= 2);
    cap.stop();
    let fields = tshark_fields(
        &cap.pcap,
        &[
            "ip.src",
            "nbns.flags.response",
            "nbns.flags.rcode",
            "nbns.name",
        ],
    );
    assert!(
        fields
            .lines()
            .any(|l| l.starts_with("198.18.0.1\t1\t3\tNOBODY<00>")),
        "no RCODE 3 answer for NOBODY from host 0:\n{fields}"
    );
}

/// With a WINS server that grants 120 s: answers carry 120 s (before:
/// 300000 always), the node type is H in name answers and in the
/// datagram header (before: B in the header); a name the server refuses
/// while echoing this host's own address is "refused by WINS server X"
/// (before: "held by X").
#[test]
fn wins_ttl_and_node_type_are_truthful() {
    let mut lan = Lan::new(3);
    let _wins = spawn_py_in(
        &mut lan,
        2,
        &format!(
            r#"{PY_NAMES}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('198.18.0.3', 137))
print('ready', flush=True)
while True:
    p, frm = s.recvfrom(2048)
    trn, flags = struct.unpack('>HH', p[:4])
    opcode, name = (flags >> 11) & 15, p[12:46]
    if flags & 0x8000 or flags & 0x10 or opcode not in (5, 8, 9):
        continue
    rcode = 6 if name == enc('HOST0', 3) else 0
    s.sendto(struct.pack('>HHHHHH', trn, 0x8580 | (opcode << 11) | rcode, 0, 1, 0, 0) + name
             + struct.pack('>HHIH', 0x20, 1, 0 if rcode else 120, 6) + p[-6:], frm)
"#
        ),
    );
    let m = lan.start_with(0, &["--wins", "198.18.0.3"]);
    let names = lan::xattr(&m, "user.mailslot.net.names");
    assert!(
        names.contains("HOST0<00> unique registered with WINS 198.18.0.3 ttl 120"),
        "{names}"
    );
    assert!(
        names
            .contains("HOST0<03> unique conflict: was refused by WINS server 198.18.0.3 (rcode 6)"),
        "{names}"
    );
    assert!(
        !lan.log(0).contains("is held by 198.18.0.3"),
        "{}",
        lan.log(0)
    );
    let answer = py_in(
        &lan,
        1,
        &format!("{PY_NAMES}{PY_QUERY}\nprint(ask(query(1, 'HOST0', 0), '198.18.0.1'))"),
    );
    assert_eq!(answer, "ttl 120 ont 3 group 0 198.18.0.1\n");
    let mut cap = lan.capture(1, "udp port 138");
    let sent = Command::new(MAILSLOT)
        .arg("--mount")
        .arg(&m)
        .args(["send", "\\\\*\\mailslot\\nodetype", "H"])
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    common::wait_until("the datagram", Duration::from_secs(10), || {
        cap.packets() >= 1
    });
    cap.stop();
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&cap.pcap)
        .args([
            "-Y",
            "nbdgm",
            "-T",
            "fields",
            "-e",
            "nbdgm.src.ip",
            "-e",
            "nbdgm.node_type",
        ])
        .output()
        .unwrap();
    let fields = String::from_utf8_lossy(&out.stdout);
    assert_eq!(fields.trim(), "198.18.0.1\t3", "{fields}");
}

#[test]
fn wins_joins_two_subnets() {
    let mut lan = Lan::new(2);
    let b = lan.routed_host();
    let conf = lan::nmbd(
        &mut lan,
        1,
        "WINSSRV",
        "wins support = yes\nmin wins ttl = 6\nmax wins ttl = 6",
    );
    let wins = ["-U", "198.18.0.2", "--recursion"];
    lan::await_nmbd(
        &lan,
        &conf,
        &[&wins[..], &["WINSSRV"]].concat(),
        "198.18.0.2 WINSSRV<00>",
    );
    let mut cap = lan.capture(1, "udp port 137");
    let a = lan.start_with(0, &["--wins", "198.18.0.2"]);
    let bm = lan.start_with(b, &["-o", "wins=198.18.0.2"]);
    for (name, addr) in [("HOST0", "198.18.0.1"), ("HOST2", "198.18.2.2")] {
        let out = nmblookup(&lan, 0, &conf, &["-U", "198.18.0.2", "--recursion", name]);
        assert!(out.contains(&format!("{addr} {name}<00>")), "{out}");
    }
    // Each reaches the other across the router by name, which only WINS
    // can resolve: broadcasts stay on their segment.
    for (from, to, to_mount) in [(&a, "HOST2", &bm), (&bm, "HOST0", &a)] {
        let listener = Command::new(MAILSLOT)
            .arg("--mount")
            .arg(to_mount)
            .args([
                "listen",
                "--network",
                "--count",
                "1",
                "--timeout",
                "20s",
                "chat",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let slot = to_mount.join("chat");
        common::wait_until("the listener's slot", Duration::from_secs(10), || {
            slot.exists()
        });
        let sent = Command::new(MAILSLOT)
            .arg("--mount")
            .arg(from)
            .args([
                "send",
                &format!("\\\\{to}\\mailslot\\chat"),
                "over the router",
            ])
            .output()
            .unwrap();
        assert!(
            sent.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&sent.stderr),
            lan.log(0)
        );
        let out = listener.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "over the router\n");
    }
    // nmbd grants 6 s; the names are refreshed at half of it.
    common::wait_until("a refresh", Duration::from_secs(30), || {
        lan.counter(0, "name_refreshes") >= 5 && lan.counter(b, "name_refreshes") >= 5
    });
    assert!(lan.stop(0).success(), "{}", lan.log(0));
    assert!(lan.stop(b).success(), "{}", lan.log(b));
    let out = nmblookup(
        &lan,
        0,
        &conf,
        &["-U", "198.18.0.2", "--recursion", "HOST0"],
    );
    assert!(
        !out.contains("198.18.0.1 HOST0<00>"),
        "still registered: {out}"
    );
    let full = cap.stop();
    let fields = tshark_fields(
        &cap.pcap,
        &[
            "ip.src",
            "nbns.flags.opcode",
            "nbns.flags.response",
            "nbns.name",
            "nbns.flags.broadcast",
        ],
    );
    for src in ["198.18.0.1", "198.18.2.2"] {
        for opcode in ["5", "8", "6"] {
            assert!(
                fields.lines().any(|l| {
                    let f: Vec<&str> = l.split('\t').collect();
                    f[0] == src
                        && f[1] == opcode
                        && f[2] == "0"
                        && f[3].starts_with("HOST")
                        && f[4] == "0"
                }),
                "no unicast opcode {opcode} from {src}:\n{fields}"
            );
        }
    }
    assert!(!full.contains("Malformed"), "{full}");
}

/// The strongest forger: one that knows the transaction id (here it is
/// the WINS server's own host, answering from a second address first).
/// Answers count only from the server asked: a forged refusal does not
/// stop the registration, and a forged address for a name the server does
/// not know is not used.
#[test]
fn wins_answers_count_only_from_the_server_asked() {
    let mut lan = Lan::new(3);
    lan::ip(&[
        "-n",
        lan.ns(2),
        "addr",
        "add",
        "198.18.0.4/24",
        "dev",
        "eth0",
    ]);
    let mut said = spawn_py_in(
        &mut lan,
        2,
        &format!(
            r#"{PY_NAMES}
real = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
real.bind(('198.18.0.3', 137))
fake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fake.bind(('198.18.0.4', 137))
print('ready', flush=True)
while True:
    p, frm = real.recvfrom(2048)
    trn, flags = struct.unpack('>HH', p[:4])
    opcode, name = (flags >> 11) & 15, p[12:46]
    if flags & 0x8000 or flags & 0x10:
        continue
    if opcode == 5:
        rec = lambda f, ttl: (struct.pack('>HHHHHH', trn, f, 0, 1, 0, 0) + name
            + struct.pack('>HHIHH', 0x20, 1, ttl, 6, 0) + socket.inet_aton('198.18.0.1'))
        fake.sendto(rec(0xAD86, 0), frm)
        real.sendto(rec(0xAD80, 300), frm)
    elif opcode == 0:
        fake.sendto(struct.pack('>HHHHHH', trn, 0x8500, 0, 1, 0, 0) + name
            + struct.pack('>HHIHH', 0x20, 1, 300, 6, 0) + socket.inet_aton('198.18.0.66'), frm)
        real.sendto(struct.pack('>HHHHHH', trn, 0x8583, 0, 0, 0, 0), frm)
        print('query', flush=True)
"#
        ),
    );
    let mut line = String::new();

    let a = lan.start_with(0, &["--wins", "198.18.0.3"]);
    assert_eq!(lan.counter(0, "names_registered"), 5, "{}", lan.log(0));
    assert!(
        lan.log(0)
            .contains("registered HOST0<00> with WINS 198.18.0.3 for 300 s"),
        "{}",
        lan.log(0)
    );
    let refused = lan.counter(0, "name_answers_ignored");
    assert!(
        refused >= 5,
        "the forged refusals were not ignored: {refused}"
    );

    let mut cap = lan.capture(1, "host 198.18.0.66");
    let sent = Command::new(MAILSLOT)
        .arg("--mount")
        .arg(&a)
        .args(["send", "\\\\NAMEX\\mailslot\\x", "for namex"])
        .output()
        .unwrap();
    assert_eq!(
        sent.status.code(),
        Some(9),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    line.clear();
    said.read_line(&mut line).unwrap();
    assert_eq!(line, "query\n", "WINS was not asked first");
    assert_eq!(lan.counter(0, "resolve_failures"), 1);
    assert!(lan.counter(0, "name_answers_ignored") > refused);
    cap.stop();
    assert_eq!(cap.packets(), 0, "something went to the forged address");
}
