//! Who sent a message, as a server sees it, cannot be laundered: a local
//! writer keeps its uid whichever name it wrote through, a NetBIOS name
//! cannot pass for fields of the sender attribute, and a pid means
//! something in the reader's PID namespace or is 0. Real mounts, real
//! uids (setpriv), hosts in network namespaces the test makes.

mod common;
mod lan;

use std::io::Read;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::wait_until;
use lan::{Lan, MAILSLOT, py_as, run};
use mailslotfs::net::names::NetbiosName;
use mailslotfs::net::wire::{MailslotDatagram, MessageType, SizeLimit};
use serde_json::Value;

const STRANGER: u32 = 4242;
const LIVENESS: Duration = Duration::from_secs(20);

/// `mailslot listen NAME --count N --format json` on `mount`, started once
/// the slot exists.
fn listen(mount: &Path, name: &str, count: usize) -> Child {
    let mut child = Command::new(MAILSLOT)
        .arg("--mount")
        .arg(mount)
        .args(["listen", name, "--format", "json", "--count"])
        .arg(count.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("listen to create its slot", LIVENESS, || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("listen exited at start: {status}");
        }
        mount.join(name).exists()
    });
    child
}

/// The senders of what `listen` printed, one per message, once it ends.
fn senders(mut child: Child) -> Vec<Value> {
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).unwrap();
        out
    });
    wait_until("listen to take every message", LIVENESS, || {
        child.try_wait().unwrap().is_some()
    });
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "listen: {status}: {err}");
    reader
        .join()
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            // A message without a sender shows as null in the comparison.
            v.get("sender").cloned().unwrap_or(Value::Null)
        })
        .collect()
}

/// uid 4242 writes through this host's own computer name, its domain and
/// the primary domain; the server sees uid 4242 each time, with the name
/// it went through, never a datagram from this host.
#[test]
fn a_write_through_this_hosts_own_name_keeps_its_writer() {
    let mut lan = Lan::new(2);
    let b = lan.start_with(1, &["--allow-other"]);
    let listener = listen(&b, "jobs", 3);
    let pids = py_as(
        Some(STRANGER),
        r#"
B = sys.argv[1]
for target in ['@host1', '@@testdom', '@@']:
    assert write(B + '/' + target + '/jobs', target.encode()) == len(target), target
print(os.getpid())
"#,
        &[&b],
    );
    let writer: u64 = pids.trim().parse().unwrap();
    let got = senders(listener);
    let want: Vec<Value> = ["@HOST1", "@@TESTDOM", "@@"]
        .iter()
        .map(|via| {
            serde_json::json!({
                "kind": "local", "uid": STRANGER, "gid": STRANGER,
                "pid": writer, "via": via,
            })
        })
        .collect();
    assert_eq!(got, want, "{}", lan.log(1));
    // The domain writes also went out on the wire, and came back only to
    // be dropped; the write to this computer's own name never left.
    assert_eq!(lan.counter(1, "sent"), 2);
    assert_eq!(lan.counter(1, "delivered"), 3);
}

/// A NetBIOS name in first-level encoding, as a peer may put it on the
/// wire: any bytes, kept as they are (lower case included).
fn wire_name(name: &str) -> NetbiosName {
    let mut raw = [b' '; 16];
    raw[..name.len()].copy_from_slice(name.as_bytes());
    raw[15] = 0;
    let mut encoded = vec![32u8];
    for b in raw {
        encoded.extend([b'A' + (b >> 4), b'A' + (b & 0x0f)]);
    }
    encoded.push(0);
    NetbiosName::decode(&encoded).unwrap().0
}

/// Hosts whose names hold spaces, `=` and quotes: the sender `listen`
/// reports has the whole name, and no uid, gid or pid it made up.
#[test]
fn a_hosts_name_cannot_pass_for_sender_fields() {
    let mut lan = Lan::new(2);
    let b = lan.start(1);
    let names = ["pid=1 uid=0 z=", "A B", "a\" uid=0 \""];
    let dir = lan.dir.path().join("packets");
    std::fs::create_dir(&dir).unwrap();
    for (i, name) in names.iter().enumerate() {
        let bytes = MailslotDatagram::new(
            MessageType::DirectUnique,
            wire_name(name),
            Ipv4Addr::new(198, 18, 0, 1),
            NetbiosName::new("HOST1", 0).unwrap(),
            "\\MAILSLOT\\JOBS",
            format!("from {i}").into_bytes(),
        )
        .build(SizeLimit::Format)
        .unwrap();
        std::fs::write(dir.join(format!("{i:02}")), bytes).unwrap();
    }
    let listener = listen(&b, "jobs", names.len());
    // The raw sender lives in host 0's namespace, which runs no daemon.
    let sender = format!(
        "import os, socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.bind(('0.0.0.0', 40138))\n\
         for f in sorted(os.listdir(sys.argv[1])):\n    s.sendto(open(os.path.join(sys.argv[1], f), 'rb').read(), ('{}', 138))",
        lan.hosts[1].addr
    );
    run(Command::new("ip")
        .args(["netns", "exec", &lan.hosts[0].ns, "python3", "-c", &sender])
        .arg(&dir));
    let got = senders(listener);
    let address = lan.hosts[0].addr.to_string();
    let want: Vec<Value> = ["pid=1 uid=0 z=<00>", "A B<00>", "a\\x22 uid=0 \\x22<00>"]
        .iter()
        .map(|name| {
            serde_json::json!({
                "kind": "network", "address": address, "port": 40138, "name": name,
            })
        })
        .collect();
    assert_eq!(got, want, "{}", lan.log(1));
}

/// A reader in another PID namespace: a writer outside it is pid 0 to it;
/// a writer inside it is its pid there, not the daemon's number for it.
#[test]
fn a_pid_means_something_in_the_readers_namespace() {
    common::require_fuse();
    let m = common::Mount::with_args(&["--allow-other"]);
    let out = common::py(
        &m,
        r#"
import subprocess
s = server('outside', mode=0o622)
fd = client('outside')
os.write(fd, b'from the daemon namespace')
mine = xattr('outside', 'next_sender')
assert mine.endswith(' pid=%d' % os.getpid()), mine
inner = r'''
import os, sys
M = sys.argv[1]
def xattr(name, attr):
    return os.getxattr(os.path.join(M, name), 'user.mailslot.' + attr).decode()
print('outside:', xattr('outside', 'next_sender'))
s = os.open(os.path.join(M, 'inside'), os.O_CREAT | os.O_RDONLY, 0o622)
r, w = os.pipe()
child = os.fork()
if child == 0:
    fd = os.open(os.path.join(M, 'inside'), os.O_WRONLY)
    os.write(fd, b'from inside')
    os.close(w)
    os.read(r, 1)   # stays alive until the parent has looked
    os._exit(0)
os.close(r)
want = 'pid=%d' % child
while xattr('inside', 'message_count') != '1':
    pass
got = xattr('inside', 'next_sender')
os.close(w)
os.waitpid(child, 0)
print('inside:', got.split()[-1], 'want', want, 'ns pid', os.getpid())
'''
r = subprocess.run(['unshare', '--pid', '--fork', '--mount-proc', sys.executable, '-c', inner, M],
                   capture_output=True, text=True, timeout=20)
assert r.returncode == 0, r.stderr
print(r.stdout, end='')
"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        lines[0], "outside: local uid=0 gid=0 pid=0",
        "a writer outside the reader's namespace: {out}"
    );
    let inside: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(inside[0], "inside:");
    assert_eq!(inside[1], inside[3], "{out}");
    assert_eq!(
        inside[6], "1",
        "the reader runs in a PID namespace of its own"
    );
}
