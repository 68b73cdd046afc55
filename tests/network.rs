//! The network side between hosts in network namespaces the test makes
//! itself (198.18.0.0/24 on a bridge of their own, see `lan`); nothing is
//! sent from or to the root namespace. Needs root, `ip`, `nsenter`, `tshark`
//! and a C compiler; fails, never skips, without them.

mod common;
mod lan;

use std::fs;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::wait_until;
use lan::{Lan, MAILSLOT, py, run};
use mailslotfs::net::names::NetbiosName;
use mailslotfs::net::wire::{MailslotDatagram, MessageType, SizeLimit};

#[test]
fn domain_host_and_primary_domain_writes_reach_the_right_slots() {
    let mut lan = Lan::new(3);
    let (a, b, c) = (lan.start(0), lan.start(1), lan.start(2));
    let out = py(
        r#"
A, B, C = sys.argv[1:4]
b = server(B + '/Name'); c = server(C + '/name'); c_other = server(C + '/other')
assert write(A + '/@@testdom/NAME', b'to the domain') == 13
assert take(b) == b'to the domain' and take(c) == b'to the domain'
assert take(c_other, 0.5) is None, 'a slot of another name got it'
assert write(A + '/@host1/name', b'to host1') == 8
assert take(b) == b'to host1'
assert take(c, 0.5) is None, 'a write to @host1 reached host2'
assert write(A + '/@@/name', b'primary') == 7
assert take(b) == b'primary' and take(c) == b'primary'
assert write(A + '/@@testdom/name', b'x' * 425) == 'EMSGSIZE'
assert take(b, 0.5) is None
assert write(A + '/@@testdom/name', b'y' * 424) == 424
assert take(b) == b'y' * 424
assert write(A + '/@nosuchhost/name', b'x') == 'EHOSTUNREACH'
# Any open of a remote name is a client: reading it is refused.
fd = os.open(A + '/@host1/name', os.O_RDONLY)
try:
    os.read(fd, 100)
    raise SystemExit('a remote name was read')
except PermissionError:
    pass
os.close(fd)
# The directories under a target are the mount's own.
os.makedirs(A + '/net', exist_ok=True); os.makedirs(B + '/net', exist_ok=True); n = server(B + '/net/NetLogon')
assert os.path.isdir(A + '/@@TESTDOM#1C/net')
assert write(A + '/@@testdom/net/netlogon', b'to members') == 10
assert take(n) == b'to members'
# TESTDOM<1C> is the domain controllers' name: host1 is none of them.
assert write(A + '/@@TESTDOM#1C/net/netlogon', b'query') == 5
assert take(n, 0.5) is None
print('ok')
"#,
        &[&a, &b, &c],
    );
    assert_eq!(out, "ok\n", "{}", lan.log(0));
    assert!(lan.counter(0, "sent") >= 6);
    assert!(lan.counter(1, "delivered") >= 5);
    assert!(lan.counter(1, "dropped_not_for_us") >= 1);
    assert!(lan.counter(1, "name_queries_answered") >= 1);
}

/// A C client, as Windows code ported to Linux writes it: fopen(p, "w").
const FOPEN_CLIENT: &str = r#"
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "w");
    if (!f) { perror("fopen"); return 1; }
    setvbuf(f, NULL, _IONBF, 0);              /* one fwrite, one message */
    if (fwrite(argv[2], 1, strlen(argv[2]), f) != strlen(argv[2])) { perror("fwrite"); return 1; }
    return fclose(f) ? 1 : 0;
}
"#;

#[test]
fn clients_open_remote_names_as_windows_clients_do() {
    lan::require(&["cc"]);
    let mut lan = Lan::new(3);
    let (a, b, c) = (lan.start(0), lan.start(1), lan.start(2));
    let src = lan.dir.path().join("fopen.c");
    let exe = lan.dir.path().join("fopen");
    fs::write(&src, FOPEN_CLIENT).unwrap();
    run(Command::new("cc").arg("-o").arg(&exe).arg(&src));
    let out = py(
        r#"
A, B, C, FOPEN = sys.argv[1:5]
MS = os.environ['MAILSLOT']
b = server(B + '/chat'); c = server(C + '/chat')
os.mkdir(B + '/deep'); deep = server(B + '/deep/inbox')
def expect(fd, what):
    got = take(fd)
    assert got == what, (got, what)
def send(*args):
    r = subprocess.run([MS, '--mount', A, 'send', *args], capture_output=True)
    return r.returncode, r.stderr.decode()
# Python: os.open without O_CREAT, and open(p, 'wb').
fd = os.open(A + '/@host1/chat', os.O_WRONLY); os.write(fd, b'os.open'); os.close(fd)
expect(b, b'os.open')
with open(A + '/@HOST1/Chat', 'wb', buffering=0) as f: f.write(b'open wb')
expect(b, b'open wb')
# C: fopen(p, "w") truncates what it opens; that is harmless.
subprocess.run([FOPEN, A + '/@@testdom/chat', 'fopen to the domain'], check=True)
expect(b, b'fopen to the domain'); expect(c, b'fopen to the domain')
# The shell's > as well.
subprocess.run(['sh', '-c', 'printf shell > "$1"', 'sh', A + '/@host2/chat'], check=True)
expect(c, b'shell')
# O_RDWR, as Wine opens every CreateFile client: a client that writes, with
# an offset too (overlapped WriteFile), and whose reads are refused.
for flags in (os.O_RDWR, os.O_RDWR | os.O_CREAT):
    fd = os.open(A + '/@host1/chat', flags)
    assert os.pwrite(fd, b'rdwr pwrite', 512) == 11
    expect(b, b'rdwr pwrite')
    try:
        os.read(fd, 100); raise SystemExit('read a remote name')
    except PermissionError:
        pass
    os.close(fd)
# mailslot send, Windows forms and mount forms.
assert send(r'\\HOST1\mailslot\chat', 'unc host') == (0, ''), send
expect(b, b'unc host')
assert send('@host1/chat', 'mount host')[0] == 0
expect(b, b'mount host')
assert send(r'\\TESTDOM\mailslot\chat', 'unc domain')[0] == 0      # the mount's workgroup
expect(b, b'unc domain'); expect(c, b'unc domain')
assert send(r'\\*\mailslot\chat', 'unc star')[0] == 0
expect(b, b'unc star'); expect(c, b'unc star')
assert send('@@testdom/chat', 'mount domain')[0] == 0
expect(b, b'mount domain'); expect(c, b'mount domain')
assert send('--domain', r'\\testdom<00>\mailslot\chat', 'forced domain')[0] == 0
expect(b, b'forced domain'); expect(c, b'forced domain')
# A path with directories: send makes them in the mount.
assert not os.path.exists(A + '/deep')
assert send(r'\\host1\mailslot\deep\inbox', 'deep') == (0, '')
expect(deep, b'deep')
assert os.path.isdir(A + '/deep') and os.path.isdir(A + '/@host1/deep')
# Precise refusals.
code, err = send(r'\\nosuchhost\mailslot\chat', 'x')
assert code == 9 and 'NOSUCHHOST' in err and 'name query' in err, (code, err)
code, err = send(r'\\host1\mailslot\chat', 'x' * 429)
assert code == 5 and 'at most 428' in err and 'nothing was sent' in err, (code, err)
code, err = send(r'\\testdom\mailslot\chat', 'x' * 425)
assert code == 5 and 'at most 424' in err, (code, err)
assert take(b, 0.5) is None and take(c, 0.2) is None
print('ok')
"#,
        &[&a, &b, &c, &exe],
    );
    assert_eq!(out, "ok\n", "{}", lan.log(0));
}

#[test]
fn mailslot_send_says_when_the_network_is_off() {
    let m = common::Mount::start();
    let out = Command::new(MAILSLOT)
        .args(["--mount", &m.s(), "send", r"\\hostb\mailslot\chat", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("network side of this mount is off"));
}

#[test]
fn writes_over_the_limit_put_nothing_on_the_wire() {
    let mut lan = Lan::new(2);
    let (a, b) = (lan.start(0), lan.start(1));
    py("os.makedirs(sys.argv[1] + '/net', exist_ok=True)", &[&a]);
    let mut capture = lan.capture(1, "udp port 138 or udp port 137");
    let out = py(
        r#"
A = sys.argv[1]
MS = os.environ['MAILSLOT']
assert write(A + '/@@testdom/name', b'x' * 425) == 'EMSGSIZE'   # Microsoft's domain limit
assert write(A + '/@@/name', b'x' * 425) == 'EMSGSIZE'
assert write(A + '/@host1/name', b'x' * 429) == 'EMSGSIZE'      # [MS-MAIL]: 443 of name and data
assert write(A + '/@nosuchhost/name', b'x' * 429) == 'EMSGSIZE' # refused before any name query
assert write(A + '/@@TESTDOM#1C/net/netlogon', b'x' * 403) == 'EMSGSIZE'   # what nmbd reads
r = subprocess.run([MS, '--mount', A, 'send', r'\\TESTDOM<1C>\mailslot\net\netlogon', 'x' * 403], capture_output=True)
assert r.returncode == 5 and b'at most 402' in r.stderr, r
print('ok')
"#,
        &[&a],
    );
    assert_eq!(out, "ok\n");
    capture.stop();
    assert_eq!(capture.packets(), 0, "refused writes reached the wire");
    // The capture does see what is sent: the largest writes that fit.
    let mut capture = lan.capture(1, "udp port 138");
    py(
        r#"
A, B = sys.argv[1:3]
s = server(B + '/name')
assert write(A + '/@@testdom/name', b'd' * 424) == 424
assert take(s) == b'd' * 424
assert write(A + '/@host1/name', b'h' * 428) == 428
assert take(s) == b'h' * 428
"#,
        &[&a, &b],
    );
    capture.stop();
    assert_eq!(capture.packets(), 2);
}

#[test]
fn the_bytes_on_the_wire_decode_as_smb_mailslot_writes() {
    let mut lan = Lan::new(2);
    let (a, b) = (lan.start(0), lan.start(1));
    let mut capture = lan.capture(1, "udp port 138");
    py(
        r#"
A, B = sys.argv[1:3]
s = server(B + '/wire')
assert write(A + '/@@testdom/wire', b'hello over the wire') == 19
assert take(s) == b'hello over the wire'
"#,
        &[&a, &b],
    );
    let decode = capture.stop();
    for expected in [
        "NetBIOS Datagram Service",
        "Direct_group datagram",
        "Source name: HOST0<00>",
        "Destination name: TESTDOM<00>",
        "SMB (Server Message Block Protocol)",
        "Trans Request (0x25)",
        "SMB MailSlot Protocol",
        "Opcode: Write Mail Slot (1)",
        "Mailslot Name: \\MAILSLOT\\WIRE",
    ] {
        assert!(
            decode.contains(expected),
            "missing {expected:?} in:\n{decode}"
        );
    }
    assert!(
        capture.hex().contains("hello over the"),
        "payload on the wire"
    );
}

fn datagram(to: &str, mailslot: &str, data: &[u8]) -> Vec<u8> {
    MailslotDatagram::new(
        MessageType::DirectUnique,
        NetbiosName::new("RAWSENDER", 0).unwrap(),
        Ipv4Addr::new(198, 18, 0, 1),
        NetbiosName::new(to, 0).unwrap(),
        mailslot,
        data.to_vec(),
    )
    .build(SizeLimit::Format)
    .unwrap()
}

#[test]
fn malformed_truncated_and_oversized_datagrams_are_counted_and_ignored() {
    let mut lan = Lan::new(2);
    let b = lan.start(1).to_owned();
    let good = datagram("HOST1", "\\MAILSLOT\\INBOX", b"good");
    let mut fragment = good.clone();
    fragment[1] |= 0x01; // MORE: a piece of a larger datagram
    let packets: Vec<(&str, Vec<u8>)> = vec![
        ("malformed", b"\x10\x02\x00\x01".to_vec()),
        ("malformed", good[..60].to_vec()),
        ("malformed", good[..good.len() - 2].to_vec()),
        (
            "oversized",
            datagram("HOST1", "\\MAILSLOT\\INBOX", &[b'z'; 1000]),
        ),
        ("fragment", fragment),
        (
            "not_for_us",
            datagram("SOMEONEELSE", "\\MAILSLOT\\INBOX", b"not ours"),
        ),
        (
            "no_slot",
            datagram("HOST1", "\\MAILSLOT\\NOBODY", b"nobody home"),
        ),
        ("good", good),
    ];
    let dir = lan.dir.path().join("packets");
    fs::create_dir(&dir).unwrap();
    for (i, (_, bytes)) in packets.iter().enumerate() {
        fs::write(dir.join(format!("{i:02}")), bytes).unwrap();
    }
    // The raw sender lives in host 0's namespace, which runs no daemon.
    let sender = format!(
        "import os, socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         for f in sorted(os.listdir(sys.argv[1])):\n    s.sendto(open(os.path.join(sys.argv[1], f), 'rb').read(), ('{}', 138))",
        lan.hosts[1].addr
    );
    // A slot must exist while the datagrams arrive: hold its server handle.
    let holder = Command::new("python3")
        .args(["-c", "import os, sys, time\nos.umask(0); fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDONLY, 0o622)\nprint(os.read(fd, 100).decode(), flush=True)"])
        .arg(b.join("inbox"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the inbox slot", Duration::from_secs(10), || {
        b.join("inbox").exists()
    });
    run(Command::new("ip")
        .args(["netns", "exec", &lan.hosts[0].ns, "python3", "-c", &sender])
        .arg(&dir));
    let got = holder.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        "good\n",
        "{}",
        lan.log(1)
    );
    wait_until("the counters", Duration::from_secs(5), || {
        lan.counter(1, "received") >= 8
    });
    assert_eq!(lan.counter(1, "dropped_malformed"), 3, "{}", lan.log(1));
    assert_eq!(lan.counter(1, "dropped_oversized"), 1);
    assert_eq!(lan.counter(1, "dropped_fragment"), 1);
    assert_eq!(lan.counter(1, "dropped_not_for_us"), 1);
    assert_eq!(lan.counter(1, "dropped_no_slot"), 1);
    assert_eq!(lan.counter(1, "dropped_denied"), 0);
    assert_eq!(lan.counter(1, "delivered"), 1);
    assert!(
        lan.log(1).contains("dropped"),
        "each drop is logged at debug level"
    );
}

#[test]
fn remote_targets_are_refused_while_the_network_is_off() {
    let m = common::Mount::start();
    let out = common::py(
        &m,
        "print(err(os.open, P('@@testdom/x'), os.O_WRONLY | os.O_CREAT), err(os.listxattr, M))",
    );
    assert_eq!(out, "ENETDOWN OK\n");
}

/// A process serving `inbox` under mount `b`, open to the network (0622
/// whatever the umask), that runs `then` (Python, with the slot's `fd`)
/// once a line arrives on its standard input.
fn inbox_holder(b: &std::path::Path, then: &str) -> std::process::Child {
    let holder = Command::new("python3")
        .args([
            "-c",
            &format!(
                "import os, sys\nos.umask(0)\nfd = os.open(sys.argv[1], os.O_CREAT | os.O_RDONLY, 0o622)\n\
                 print('ready', flush=True)\nsys.stdin.readline()\n{then}"
            ),
        ])
        .arg(b.join("inbox"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the inbox slot", Duration::from_secs(10), || {
        b.join("inbox").exists()
    });
    holder
}

/// One host floods a slot that nobody reads; another host's writes still
/// arrive. Each source address may queue a quarter of the network's
/// bytes (`max_user_bytes`, here 40000: 10000 a host, 24 messages of 400
/// bytes and 16 of overhead). Before, the flood took the network's whole
/// share and the second host's writes were dropped as "queue full".
#[test]
fn one_host_cannot_take_the_whole_network_share() {
    let mut lan = Lan::new(3);
    let b = lan.start_with(1, &["-o", "max_user_bytes=40000"]);
    let holder = inbox_holder(
        &b,
        "os.set_blocking(fd, False)\ngot = []\n\
         while True:\n    try:\n        got.append(os.read(fd, 1000)[:1].decode())\n    except BlockingIOError:\n        break\n\
         print(got.count('A'), got.count('B'))",
    );
    let dir = lan.dir.path().to_owned();
    for (i, byte, count) in [(0usize, b'A', 200), (2, b'B', 5)] {
        let file = dir.join(format!("flood{i}"));
        fs::write(&file, datagram("HOST1", "\\MAILSLOT\\INBOX", &[byte; 400])).unwrap();
        let sender = format!(
            "import socket, sys, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             p = open(sys.argv[1], 'rb').read()\nfor _ in range({count}):\n    s.sendto(p, ('{}', 138))\n    time.sleep(0.002)",
            lan.hosts[1].addr
        );
        run(Command::new("ip")
            .args(["netns", "exec", &lan.hosts[i].ns, "python3", "-c", &sender])
            .arg(&file));
        let want = if i == 0 { 200 } else { 205 };
        wait_until("the datagrams", Duration::from_secs(10), || {
            lan.counter(1, "received") >= want
        });
    }
    use std::io::Write;
    let mut holder = holder;
    holder.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = holder.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    let counts: Vec<u64> = out
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split(' ')
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(counts.len(), 2, "{out}");
    let (a, bs) = (counts[0], counts[1]);
    assert_eq!(
        bs,
        5,
        "the second host's writes were dropped: {out}\n{}",
        lan.log(1)
    );
    assert!(a >= 1 && a * 416 <= 10_000, "the flooding host queued {a}");
    assert_eq!(lan.counter(1, "dropped_source_share"), 200 - a);
    assert_eq!(lan.counter(1, "delivered"), a + 5);
    assert!(
        lan.log(1).contains("host 198.18.0.1 reached its limit"),
        "{}",
        lan.log(1)
    );
}

/// The kernel's UDP `RcvbufErrors` in host `i`'s namespace: datagrams
/// dropped at a full socket buffer, which only the daemon's socket there
/// can have.
fn rcvbuf_errors(lan: &Lan, i: usize) -> u64 {
    let snmp = run(lan.in_ns(i, "cat").arg("/proc/net/snmp"));
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
    let at = names
        .split_whitespace()
        .position(|n| n == "RcvbufErrors")
        .expect("RcvbufErrors in /proc/net/snmp");
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}

/// A burst larger than the socket's buffer while the daemon cannot read:
/// the kernel drops the rest, and no datagram after it carries the count
/// (SO_RXQ_OVFL tells drops only with a later datagram). The daemon
/// still counts every drop once its socket falls idle (SO_MEMINFO), so
/// `dropped_socket` is the kernel's own count and nothing is lost
/// silently.
#[test]
fn socket_drops_are_counted_when_no_datagram_follows_them() {
    let mut lan = Lan::new(2);
    let b = lan.start(1);
    let holder = inbox_holder(&b, "");
    let file = lan.dir.path().join("burst");
    fs::write(&file, datagram("HOST1", "\\MAILSLOT\\INBOX", &[b'x'; 400])).unwrap();
    let errors_before = rcvbuf_errors(&lan, 1);
    let daemon = nix::unistd::Pid::from_raw(lan.daemon_pid(1) as i32);
    nix::sys::signal::kill(daemon, nix::sys::signal::Signal::SIGSTOP).unwrap();
    // 2 MiB of socket buffer holds a few thousand of these; the rest drop.
    let sender = format!(
        "import socket, sys, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         p = open(sys.argv[1], 'rb').read()\nfor i in range(12000):\n    s.sendto(p, ('{}', 138))\n    \
         if i % 200 == 0: time.sleep(0.001)",
        lan.hosts[1].addr
    );
    let sent = lan
        .in_ns(0, "python3")
        .args(["-c", &sender])
        .arg(&file)
        .status();
    nix::sys::signal::kill(daemon, nix::sys::signal::Signal::SIGCONT).unwrap();
    // Nothing more is sent: the count stays what the burst left.
    let dropped = rcvbuf_errors(&lan, 1) - errors_before;
    assert!(sent.is_ok_and(|s| s.success()), "the sender failed");
    assert!(dropped > 0, "the burst did not overflow the socket");
    wait_until(
        "the daemon to count the socket's drops",
        Duration::from_secs(10),
        || lan.counter(1, "dropped_socket") >= dropped,
    );
    assert_eq!(lan.counter(1, "dropped_socket"), dropped);
    let (received, delivered) = (lan.counter(1, "received"), lan.counter(1, "delivered"));
    assert!(
        received > 0 && delivered == received,
        "{received} {delivered}"
    );
    assert!(
        lan.log(1).contains("for a full receive buffer"),
        "{}",
        lan.log(1)
    );
    drop(holder);
}
