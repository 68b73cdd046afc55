//! The network side between hosts in network namespaces the test makes
//! itself (198.18.0.0/24 on a bridge of their own); nothing is sent from
//! or to the root namespace. Needs root, `ip`, `nsenter` and `tshark`; fails,
//! never skips, without them.

mod common;

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{BIN, is_mounted, wait_until};
use mailslotfs::net::names::NetbiosName;
use mailslotfs::net::wire::{MailslotDatagram, MessageType, SizeLimit};

static NEXT: AtomicU32 = AtomicU32::new(0);

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

struct Host {
    ns: String,
    addr: Ipv4Addr,
    mount: PathBuf,
    daemon: Option<Child>,
}

/// Hosts on one segment: each its own network namespace with an `eth0`
/// plugged into a bridge that lives in a namespace of its own.
struct Lan {
    dir: tempfile::TempDir,
    switch: String,
    hosts: Vec<Host>,
}

impl Lan {
    fn new(n: usize) -> Lan {
        common::require_fuse();
        for tool in ["ip", "nsenter", "tshark"] {
            assert!(
                Command::new("sh")
                    .arg("-c")
                    .arg(format!("command -v {tool}"))
                    .status()
                    .unwrap()
                    .success(),
                "{tool} is needed by the network tests (tests/run-all.sh installs it)"
            );
        }
        let tag = format!(
            "msfs{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let switch = format!("{tag}sw");
        ip(&["netns", "add", &switch]);
        let mut lan = Lan {
            dir: tempfile::tempdir().unwrap(),
            switch,
            hosts: Vec::new(),
        };
        ip(&["-n", &lan.switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &lan.switch, "link", "set", "br0", "up"]);
        for i in 0..n {
            let ns = format!("{tag}h{i}");
            let addr = Ipv4Addr::new(198, 18, 0, 1 + i as u8);
            ip(&["netns", "add", &ns]);
            let port = format!("p{i}");
            ip(&[
                "-n",
                &ns,
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &lan.switch,
            ]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "broadcast",
                "198.18.0.255",
                "dev",
                "eth0",
            ]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&["-n", &lan.switch, "link", "set", &port, "master", "br0"]);
            ip(&["-n", &lan.switch, "link", "set", &port, "up"]);
            let mount = lan.dir.path().join(format!("host{i}"));
            fs::create_dir(&mount).unwrap();
            lan.hosts.push(Host {
                ns,
                addr,
                mount,
                daemon: None,
            });
        }
        lan
    }

    /// Starts host `i`'s daemon as `HOST<i>` in workgroup TESTDOM; host 0
    /// finds its address from the interface, the others are given theirs.
    fn start(&mut self, i: usize) -> &Path {
        let h = &mut self.hosts[i];
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", h.ns))
            .arg("--")
            .arg(BIN)
            .args(["-f", "-v"]);
        if i == 0 {
            cmd.args(["--interface", "eth0"]);
        } else {
            cmd.args([
                "--address",
                &h.addr.to_string(),
                "--broadcast",
                "198.18.0.255",
            ]);
        }
        cmd.args([
            "--netbios-name",
            &format!("host{i}"),
            "--workgroup",
            "testdom",
        ])
        .arg(&h.mount)
        .stderr(fs::File::create(self.dir.path().join(format!("daemon{i}.log"))).unwrap());
        h.daemon = Some(cmd.spawn().unwrap());
        let mount = h.mount.clone();
        wait_until("a host's mount", Duration::from_secs(20), || {
            is_mounted(&mount)
        });
        &self.hosts[i].mount
    }

    fn log(&self, i: usize) -> String {
        fs::read_to_string(self.dir.path().join(format!("daemon{i}.log"))).unwrap_or_default()
    }

    fn counter(&self, i: usize, name: &str) -> u64 {
        let v = xattr(&self.hosts[i].mount, &format!("user.mailslot.net.{name}"));
        v.parse()
            .unwrap_or_else(|_| panic!("counter {name}: {v:?}"))
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for h in &mut self.hosts {
            if let Some(mut child) = h.daemon.take() {
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                let _ = child.wait();
            }
            if is_mounted(&h.mount) {
                let _ = Command::new("umount").arg("-l").arg(&h.mount).status();
            }
            let _ = Command::new("ip").args(["netns", "del", &h.ns]).status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.switch])
            .status();
    }
}

fn xattr(path: &Path, name: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2]).decode())",
        ])
        .arg(path)
        .arg(name)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs Python with the given paths as argv[1..]; fails the test on error.
fn py(script: &str, args: &[&Path]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!("import os, sys, errno, time\n{script}"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

const HELPERS: &str = r#"
def server(p): return os.open(p, os.O_CREAT | os.O_RDONLY | os.O_NONBLOCK)
def take(fd, wait=5.0):
    end = time.time() + wait
    while True:
        try:
            return os.read(fd, 2000)
        except BlockingIOError:
            if time.time() > end: return None
            time.sleep(0.02)
def write(p, data):
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o666)
        try: return os.write(fd, data)
        finally: os.close(fd)
    except OSError as e:
        return errno.errorcode[e.errno]
"#;

#[test]
fn domain_host_and_primary_domain_writes_reach_the_right_slots() {
    let mut lan = Lan::new(3);
    let (a, b, c) = (
        lan.start(0).to_owned(),
        lan.start(1).to_owned(),
        lan.start(2).to_owned(),
    );
    let out = py(
        &format!(
            "{HELPERS}
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
try:
    os.open(A + '/@host1/name', os.O_RDONLY | os.O_CREAT)
    raise SystemExit('remote targets must be write-only')
except PermissionError:
    pass
os.makedirs(A + '/@@TESTDOM#1C/net', exist_ok=True)
os.mkdir(B + '/net'); n = server(B + '/net/NetLogon')
assert write(A + '/@@TESTDOM#1C/net/netlogon', b'query') == 5
assert take(n) == b'query'
print('ok')
"
        ),
        &[&a, &b, &c],
    );
    assert_eq!(out, "ok\n", "{}", lan.log(0));
    assert!(lan.counter(0, "sent") >= 5);
    assert!(lan.counter(1, "delivered") >= 5);
    assert!(lan.counter(1, "name_queries_answered") >= 1);
}

#[test]
fn the_bytes_on_the_wire_decode_as_smb_mailslot_writes() {
    let mut lan = Lan::new(2);
    let (a, b) = (lan.start(0).to_owned(), lan.start(1).to_owned());
    let pcap = lan.dir.path().join("capture.pcap");
    let mut tshark = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lan.hosts[1].ns,
            "tshark",
            "-i",
            "eth0",
            "-f",
            "udp port 138",
            "-w",
        ])
        .arg(&pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // tshark says "Capturing on" once it listens.
    let mut err = tshark.stderr.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("Capturing on") {
        let n = std::io::Read::read(&mut err, &mut buf).unwrap();
        assert!(n > 0, "tshark ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    py(
        &format!(
            "{HELPERS}
A, B = sys.argv[1:3]
s = server(B + '/wire')
assert write(A + '/@@testdom/wire', b'hello over the wire') == 19
assert take(s) == b'hello over the wire'
"
        ),
        &[&a, &b],
    );
    std::thread::sleep(Duration::from_millis(500));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(tshark.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = tshark.wait();
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .arg("-V")
        .output()
        .unwrap();
    let decode = String::from_utf8_lossy(&out.stdout);
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
    let hex = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .arg("-x")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&hex.stdout).contains("hello over the"),
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
        .args(["-c", "import os, sys, time\nfd = os.open(sys.argv[1], os.O_CREAT | os.O_RDONLY)\nprint(os.read(fd, 100).decode(), flush=True)"])
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
