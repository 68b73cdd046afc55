//! Hostile local users and hostile hosts on the segment against the
//! network side and the namespace (docs/reliability.md, "Attacks"). Every
//! test here is a reproduction that succeeded against earlier versions:
//! other uids through `setpriv --reuid 4242 --regid 4242 --clear-groups`,
//! hosts in namespaces the test makes (see `lan`).

mod common;
mod lan;

use std::fs;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::wait_until;
use lan::{Lan, py, py_as, run};
use mailslotfs::net::names::NetbiosName;
use mailslotfs::net::wire::{MailslotDatagram, MessageType, SizeLimit};

const STRANGER: u32 = 4242;
const OTHER: u32 = 4243;

/// Point 2: root's slots closed to other users stay closed when the
/// writer goes round through the network: its own host name, its domain,
/// `*`, or another host.
#[test]
fn the_network_is_other_and_opens_no_side_door() {
    let mut lan = Lan::new(2);
    let a = lan.start_with(0, &["--allow-other"]);
    let b = lan.start(1);
    let out = py(
        &format!(
            r#"
A, B = sys.argv[1:3]
secret = server(A + '/secret', 0o600)
os.mkdir(A + '/rootonly', 0o700)
inner = server(A + '/rootonly/inner', 0o600)
public = server(A + '/public')                      # 0622: other users may write
stranger = r'''
import os, sys, errno
A = sys.argv[1]
def write(p, data):
    # As `echo ... > p` opens it.
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try: return os.write(fd, data)
        finally: os.close(fd)
    except OSError as e:
        return errno.errorcode[e.errno]
print(write(A + '/secret', b'direct'), write(A + '/rootonly/inner', b'direct'))
for path in ('@host0/secret', '@HOST0/rootonly/inner', '@@testdom/secret', '@@/rootonly/inner',
             '@@testdom/rootonly/inner', '@host0/public'):
    print(path, write(A + '/' + path, b'via ' + path.encode()))
'''
r = subprocess.run(['setpriv', '--reuid={STRANGER}', '--regid={STRANGER}', '--clear-groups',
                    '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else 'python3',
                    '-c', stranger, A], capture_output=True, text=True)
assert r.returncode == 0, r.stderr
lines = r.stdout.splitlines()
assert lines[0] == 'EACCES EACCES', lines      # the checks a local user meets
# Another host (root there) is "other" here too.
assert write_sh(B + '/@host0/secret', b'from host1') == 10
assert write_sh(B + '/@host0/public', b'from host1') == 10
time.sleep(0.5)
print(take(secret, 0), take(inner, 0))
# Datagrams carry no refusal back; what may arrive does.
assert all(l.split()[-1].isdigit() for l in lines[1:]), lines
assert take(public) == b'via @host0/public'
assert take(public) == b'from host1'
assert take(public, 0) is None
"#
        ),
        &[&a, &b],
    );
    assert_eq!(out, "None None\n", "{}", lan.log(0));
    assert!(lan.counter(0, "dropped_denied") >= 6, "{}", lan.log(0));
}

/// A process in host 1's namespace that answers name queries for VICTIM2
/// with an address that is not its own, and counts the datagrams sent to it.
const FORGER: &str = r#"
import socket, struct, sys, threading, os
out = sys.argv[1]
def encode(name, suffix=0):
    raw = name.ljust(15).encode()[:15] + bytes([suffix])
    return bytes([32]) + bytes(c for b in raw for c in (65 + (b >> 4), 65 + (b & 15))) + b'\0'
def answer(trn, name, ip):
    return (struct.pack('>HHHHHH', trn, 0x8500, 0, 1, 0, 0) + encode(name)
            + struct.pack('>HHIH', 0x20, 1, 300000, 6) + b'\0\0' + socket.inet_aton(ip))
names = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
names.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
names.bind(('0.0.0.0', 137))
dgrams = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dgrams.bind(('0.0.0.0', 138))
def count():
    n = 0
    while True:
        dgrams.recv(2048)
        n += 1
        open(out + '/dgrams', 'w').write(str(n))
threading.Thread(target=count, daemon=True).start()
# Unsolicited: nobody asked for VICTIM yet.
names.sendto(answer(0x1234, 'VICTIM', '198.18.0.2'), ('198.18.0.1', 137))
open(out + '/ready', 'w').write('1')
while True:
    q, src = names.recvfrom(2048)
    if len(q) >= 46 and q[2] & 0x80 == 0 and q[13:45] == encode('VICTIM2')[1:33]:
        trn = struct.unpack('>H', q[:2])[0]
        # The right transaction id, but an address that is not the sender's.
        names.sendto(answer(trn, 'VICTIM2', '198.18.0.99'), src)
        open(out + '/answered', 'w').write('1')
"#;

/// Point 3: unsolicited or forged name query responses redirect nothing,
/// and a flood of them does not grow the daemon.
#[test]
fn forged_name_answers_neither_redirect_nor_grow_the_daemon() {
    let mut lan = Lan::new(3);
    let a = lan.start(0);
    let c = lan.start(2);
    let out = lan.dir.path().join("forger");
    fs::create_dir(&out).unwrap();
    let mut forger = lan.in_ns(1, "python3");
    forger.args(["-c", FORGER]).arg(&out);
    lan.spawn(1, forger);
    wait_until("the forger", Duration::from_secs(10), || {
        out.join("ready").exists()
    });
    std::thread::sleep(Duration::from_millis(200));
    let result = py(
        r#"
A, C = sys.argv[1:3]
s = server(C + '/x')
print(write_sh(A + '/@victim/x', b'for the victim'), write_sh(A + '/@victim2/x', b'for victim2'))
# Real names still resolve: host2 answers for itself.
assert write_sh(A + '/@host2/x', b'real') == 4 and take(s) == b'real'
"#,
        &[&a, &c],
    );
    assert_eq!(
        result,
        "EHOSTUNREACH EHOSTUNREACH\n",
        "forged answers were believed: {}",
        lan.log(0)
    );
    assert!(out.join("answered").exists(), "the forger saw the query");
    assert!(!out.join("dgrams").exists(), "a write reached the forger");

    // The flood: forged answers for 300,000 names nobody asked for.
    let before = lan.daemon_rss_kib(0);
    let ignored_before = lan.counter(0, "name_answers_ignored");
    let flood = r#"
import socket, struct
def encode(name):
    raw = name.ljust(15).encode()[:15] + b'\0'
    return bytes([32]) + bytes(c for b in raw for c in (65 + (b >> 4), 65 + (b & 15))) + b'\0'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tail = struct.pack('>HHIH', 0x20, 1, 300000, 6) + b'\0\0' + socket.inet_aton('198.18.0.2')
for i in range(300000):
    s.sendto(struct.pack('>HHHHHH', i & 0xFFFF, 0x8500, 0, 1, 0, 0) + encode('F%014d' % i) + tail,
             ('198.18.0.1', 137))
"#;
    let started = Instant::now();
    run(lan.in_ns(1, "python3").args(["-c", flood]));
    let sent_in = started.elapsed();
    // Wait until the daemon has read what reached it.
    let mut last = 0;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = lan.counter(0, "name_answers_ignored");
        if now == last {
            break;
        }
        last = now;
    }
    let after = lan.daemon_rss_kib(0);
    let ignored = last - ignored_before;
    eprintln!(
        "forged answers: 300000 sent in {:.1} s, {ignored} read and ignored; daemon VmRSS {before} -> {after} KiB",
        sent_in.as_secs_f64()
    );
    assert!(ignored > 10_000, "the flood did not reach the daemon");
    assert!(
        after <= before + 2048,
        "the daemon grew from {before} to {after} KiB under {ignored} forged answers"
    );
    let again = py(
        r#"
A, C = sys.argv[1:3]
s = server(C + '/y')
print(write_sh(A + '/@victim/y', b'x'), write_sh(A + '/@F00000000000007/y', b'x'), write_sh(A + '/@host2/y', b'real'), take(s))
"#,
        &[&a, &c],
    );
    assert_eq!(again, "EHOSTUNREACH EHOSTUNREACH 4 b'real'\n");
    assert!(!out.join("dgrams").exists(), "a write reached the forger");
}

/// Point 5, on one machine: one user's `mkdir` does not make a path its
/// property; every user can use it, nobody can close it.
#[test]
fn a_path_is_a_name_not_property() {
    let m = common::Mount::with_args(&["--allow-other"]);
    fs::set_permissions(
        m.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mount = m.path.clone();
    let first = py_as(
        Some(STRANGER),
        r#"
M = sys.argv[1]
os.umask(0o077)
os.makedirs(M + '/net', 0o700, exist_ok=True)
os.makedirs(M + '/a/b/c', 0o700)
st = os.stat(M + '/net')
print(oct(st.st_mode & 0o7777), st.st_uid)
def err(f, *a):
    try: f(*a); return 'OK'
    except OSError as e: return errno.errorcode[e.errno]
print(err(os.chmod, M + '/net', 0o700), err(os.rmdir, M + '/a/b/c'))
"#,
        &[&mount],
    );
    assert_eq!(first, "0o1777 0\nEPERM EPERM\n");
    let second = py_as(
        Some(OTHER),
        r#"
M = sys.argv[1]
s = server(M + '/net/netlogon')
t = server(M + '/a/b/c/deep')
assert write(M + '/net/netlogon', b'mine too') == 8 and take(s) == b'mine too'
print(sorted(os.listdir(M)), os.listdir(M + '/a/b/c'))
"#,
        &[&mount],
    );
    assert_eq!(second, "['a', 'net'] ['deep']\n", "{}", m.log());
}

/// Point 5, under remote targets: the directories there are the mount's
/// own, so they neither leak nodes nor vanish when the kernel drops its
/// caches, and one user's directory is every user's path.
#[test]
fn remote_target_directories_neither_leak_nor_vanish() {
    let mut lan = Lan::new(2);
    let a = lan.start_with(0, &["--allow-other"]);
    let b = lan.start(1);
    py_as(
        Some(STRANGER),
        "os.makedirs(sys.argv[1] + '/net', 0o700, exist_ok=True)",
        &[&a],
    );
    let other = py_as(
        Some(OTHER),
        r#"
A, B = sys.argv[1:3]
print(write(A + '/@@testdom/net/x', b'via the domain'), sorted(os.listdir(A + '/@@testdom')))
"#,
        &[&a, &b],
    );
    assert_eq!(other, "14 ['net']\n", "{}", lan.log(0));
    let out = py(
        r#"
A, B = sys.argv[1:3]
for i in range(200):
    os.mkdir(A + '/d%d' % i)
os.mkdir(B + '/d7'); s = server(B + '/d7/x')
files = lambda: os.statvfs(A).f_files
before = files()
for i in range(200):
    assert write(A + '/@@testdom/d%d/x' % i, b'x') == 1
    assert os.path.isdir(A + '/@host1/d%d' % i)
assert take(s) == b'x'
during = files()
open('/proc/sys/vm/drop_caches', 'w').write('3')
deadline = time.time() + 10
while files() > before and time.time() < deadline:
    time.sleep(0.1)
after = files()
assert len(os.listdir(A + '/@@testdom')) == 201
assert write(A + '/@@testdom/d7/x', b'after drop_caches') == 17
assert take(s) == b'after drop_caches'
print(before, during, after)
"#,
        &[&a, &b],
    );
    let nums: Vec<u64> = out.split_whitespace().map(|n| n.parse().unwrap()).collect();
    eprintln!(
        "nodes: {} before, {} with 200 remote paths in use, {} after drop_caches",
        nums[0], nums[1], nums[2]
    );
    assert!(nums[1] > nums[0], "the views were counted");
    assert!(nums[2] <= nums[0], "views leaked: {out}");
}

fn datagram(to: NetbiosName, data: &[u8]) -> Vec<u8> {
    MailslotDatagram::new(
        MessageType::DirectGroup,
        NetbiosName::new("RAWSENDER", 0).unwrap(),
        Ipv4Addr::new(198, 18, 0, 1),
        to,
        "\\MAILSLOT\\INBOX",
        data.to_vec(),
    )
    .build(SizeLimit::Format)
    .unwrap()
}

/// Sends the files in `dir` (sorted) as datagrams to `to`, from `ns`.
fn send_raw(lan: &Lan, host: usize, dir: &std::path::Path, to: &str) {
    let script = format!(
        "import os, socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)\n\
         for f in sorted(os.listdir(sys.argv[1])):\n    s.sendto(open(os.path.join(sys.argv[1], f), 'rb').read(), ('{to}', 138))"
    );
    run(lan.in_ns(host, "python3").args(["-c", &script]).arg(dir));
}

/// Point 6: sockets on the configured address only, mailslot writes only
/// for this host's names, and no second copy of its own broadcasts.
#[test]
fn listens_only_where_asked_and_only_for_its_own_names() {
    let mut lan = Lan::new(2);
    let outside = lan.second_segment(1);
    let b = lan.start(1); // --address 198.18.0.2 --broadcast 198.18.0.255
    // What is bound, from /proc/net/udp of host 1's namespace.
    let udp = run(lan.in_ns(1, "cat").arg("/proc/net/udp"));
    let mut bound: Vec<String> = udp
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|local| {
            let (ip, port) = local.split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            let ip = Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.swap_bytes());
            [137, 138].contains(&port).then(|| format!("{ip}:{port}"))
        })
        .collect();
    bound.sort();
    assert_eq!(
        bound,
        [
            "198.18.0.255:137",
            "198.18.0.255:138",
            "198.18.0.2:137",
            "198.18.0.2:138",
        ]
    );
    let holder = lan.dir.path().join("inbox.py");
    fs::write(
        &holder,
        format!(
            "{}\nimport sys\ns = server(sys.argv[1] + '/inbox')\nos.makedirs(sys.argv[1] + '/net', exist_ok=True)\n\
             n = server(sys.argv[1] + '/net/netlogon')\nc = server(sys.argv[1] + '/chat')\n\
             open(sys.argv[2], 'w').write('ready')\nimport time\ntime.sleep(120)",
            lan::HELPERS
        ),
    )
    .unwrap();
    let ready = lan.dir.path().join("ready");
    let mut holding = Command::new("python3");
    holding.arg(&holder).arg(&b).arg(&ready);
    lan.spawn(1, holding);
    wait_until("the slots", Duration::from_secs(10), || ready.exists());

    // From the other segment: host 1's address there reaches no socket.
    let dir = lan.dir.path().join("outside");
    fs::create_dir(&dir).unwrap();
    fs::write(
        dir.join("0"),
        datagram(NetbiosName::new("HOST1", 0).unwrap(), b"outside"),
    )
    .unwrap();
    let script = "import os, socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)\n\
         d = open(os.path.join(sys.argv[1], '0'), 'rb').read()\n\
         for to in ('198.18.1.1', '198.18.1.255'): s.sendto(d, (to, 138))";
    run(Command::new("ip")
        .args(["netns", "exec", &outside, "python3", "-c", script])
        .arg(&dir));

    // From the segment: only this host's names are delivered.
    let names = [
        ("TESTDOM", 0x1C, false),
        ("TESTDOM", 0x1B, false),
        ("TESTDOM", 0x1D, false),
        ("HOST1", 0x1C, false),
        ("OTHERDOM", 0x00, false),
        ("TESTDOM", 0x00, true),
        ("TESTDOM", 0x1E, true),
        ("HOST1", 0x00, true),
        ("HOST1", 0x03, true),
        ("host1", 0x20, true),
    ];
    let dir = lan.dir.path().join("segment");
    fs::create_dir(&dir).unwrap();
    for (i, (name, suffix, _)) in names.iter().enumerate() {
        let to = NetbiosName::new(name, *suffix).unwrap();
        fs::write(
            dir.join(format!("{i:02}")),
            datagram(to.clone(), to.to_string().as_bytes()),
        )
        .unwrap();
    }
    send_raw(&lan, 0, &dir, "198.18.0.255");
    // Its own writes: a domain write reaches its own slot once (as on
    // Windows), a write to the domain controllers' name does not.
    let own = py(
        r#"
B = sys.argv[1]
assert write(B + '/@@testdom/chat', b'own domain write') == 16
assert write(B + '/@host1/chat', b'own host write') == 14
assert write(B + '/@@TESTDOM#1C/net/netlogon', b'to the DCs') == 10
time.sleep(1)
print(count(B + '/chat'), count(B + '/net/netlogon'), count(B + '/inbox'))
"#,
        &[&b],
    );
    let expected_inbox = names.iter().filter(|n| n.2).count();
    assert_eq!(own, format!("2 0 {expected_inbox}\n"), "{}", lan.log(1));
    assert_eq!(lan.counter(1, "dropped_not_for_us"), 5, "{}", lan.log(1));
    // Nothing from the other segment arrived at all; what did arrive beyond
    // the raw sender's ten is this host's own broadcasts, looped back.
    assert_eq!(
        lan.counter(1, "received") - lan.counter(1, "dropped_own"),
        names.len() as u64,
        "{}",
        lan.log(1)
    );
}
