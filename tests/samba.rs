//! Against a real Samba: Debian's nmbd as a classic primary domain
//! controller (`domain logons = yes`, `domain master = yes`) of TESTDOM, in
//! a namespace of the test's own segment, with its own smb.conf and its
//! own lock, state, cache, private, pid and log directories in the test's
//! temporary directory, so it never touches the machine's Samba. Needs
//! nmbd and nmblookup (the `samba` and `samba-common-bin` packages, which
//! tests/run-all.sh installs); fails, never skips, without them.

mod common;
mod lan;

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lan::{BROADCAST, Lan, py};
use mailslotfs::net::names::NetbiosName;
use mailslotfs::net::wire::{MailslotDatagram, MessageType, SizeLimit};

/// Starts nmbd on host `i` as PEERDC, the PDC of TESTDOM, and waits until
/// it has registered TESTDOM<1C> (a few seconds after it starts).
fn start_nmbd(lan: &mut Lan, i: usize) {
    let conf = lan::nmbd(
        lan,
        i,
        "PEERDC",
        "domain logons = yes\ndomain master = yes\nwins support = no",
    );
    // Ask the segment from host 0 (nmblookup asks from a port of its own)
    // until nmbd answers for the domain controllers' name.
    lan::await_nmbd(lan, &conf, &["-B", BROADCAST, "TESTDOM#1c"], "TESTDOM<1c>");
}

fn nmbd_log(lan: &Lan) -> String {
    lan::nmbd_log(lan)
}

/// A LOGON_PRIMARY_QUERY ([MS-ADTS] 6.3.5 and Samba's nbt.idl,
/// `nbt_netlogon_query_for_pdc`) from HOST0 asking for the answer in
/// `\MAILSLOT\NET\<reply>`, padded with zeros to `size` bytes (nmbd reads
/// the fields it needs and ignores what follows them).
const QUERY: &str = r#"
def query(reply, size=None):
    body = struct.pack('<H', 7) + b'HOST0\0' + ('\\MAILSLOT\\NET\\' + reply).encode() + b'\0'
    body += b'\0' * (len(body) % 2) + 'HOST0'.encode('utf-16-le') + b'\0\0'
    body += struct.pack('<IHH', 0x0B, 0xFFFF, 0xFFFF)
    if size is not None:
        assert len(body) <= size
        body += b'\0' * (size - len(body))
    return body
"#;

#[test]
fn samba_answers_netlogon_queries_written_with_mailslot_send() {
    let mut lan = Lan::new(2);
    let a = lan.start(0);
    start_nmbd(&mut lan, 1);
    let out = py(
        &format!(
            r#"{QUERY}
A = sys.argv[1]
MS = os.environ['MAILSLOT']
def listen(name):
    return subprocess.Popen([MS, '--mount', A, 'listen', '--network', '--format', 'json',
                             '--count', '1', '--timeout', '10s', name], stdout=subprocess.PIPE)
def send(data, name=r'\\TESTDOM<1C>\mailslot\net\netlogon'):
    t = time.time()
    r = subprocess.run([MS, '--mount', A, 'send', name], input=data, capture_output=True)
    return r.returncode, r.stderr.decode(), t
def answered(listener, sent_at):
    line = listener.stdout.readline()
    listener.wait()
    assert line, 'no answer from nmbd'
    return line.decode(), time.time() - sent_at
os.makedirs(A + '/net', exist_ok=True)   # the mount's directories show under every target
max_size = int(os.getxattr(A + '/@@TESTDOM#1C/net/netlogon', 'user.mailslot.max_message_size'))
assert max_size == 402, max_size
results = []
for reply, size in (('GETDC0042', None), ('GETDC0043', max_size)):
    l = listen('net/' + reply)
    deadline = time.time() + 5
    while not os.path.exists(A + '/net/' + reply) and time.time() < deadline:
        time.sleep(0.01)
    q = query(reply, size)
    code, err, t = send(q)
    assert code == 0, err
    line, took = answered(l, t)
    assert 'PEERDC' in line or 'base64' in line, line
    results.append('%d bytes answered in %.0f ms: %s' % (len(q), took * 1000, line.strip()))
# One byte more is refused here, and so never silently lost there.
code, err, _ = send(query('GETDC0044', max_size + 1))
assert code == 5 and 'at most 402' in err, (code, err)
print('\n'.join(results))
"#
        ),
        &[&a],
    );
    eprintln!("{out}");
    assert_eq!(out.lines().count(), 2, "{out}\n{}", nmbd_log(&lan));
    assert!(
        out.lines().all(|l| l.contains("\"size\"")),
        "{out}\n{}",
        nmbd_log(&lan)
    );
    // Each answer names the PDC (LOGON_PRIMARY_RESPONSE, pdc_name PEERDC).
    for line in out.lines() {
        let json = line.split_once(": ").unwrap().1;
        let text = decode_json_message(json);
        assert_eq!(&text[..2], b"\x0c\x00", "LOGON_PRIMARY_RESPONSE: {line}");
        assert!(
            text.windows(6).any(|w| w == b"PEERDC"),
            "the PDC's name in {line}"
        );
    }
    assert!(!nmbd_log(&lan).contains("malformed"), "{}", nmbd_log(&lan));
    assert!(lan.counter(0, "delivered") >= 2);

    // Why 402: the same query one byte longer, sent raw (mailslotfs will
    // not send it), is more than the 576 bytes nmbd reads, and nmbd drops it.
    let mut query = b"\x07\x00HOST0\x00\\MAILSLOT\\NET\\GETDC0045\x00".to_vec();
    query.resize(403, 0);
    let raw = MailslotDatagram::new(
        MessageType::DirectGroup,
        NetbiosName::new("HOST0", 0).unwrap(),
        Ipv4Addr::new(198, 18, 0, 1),
        NetbiosName::new("TESTDOM", 0x1C).unwrap(),
        "\\MAILSLOT\\NET\\NETLOGON",
        query,
    )
    .build(SizeLimit::Format)
    .unwrap();
    assert_eq!(raw.len(), 577);
    let file = lan.dir.path().join("raw");
    fs::write(&file, &raw).unwrap();
    lan::run(
        lan.in_ns(0, "python3")
            .args([
                "-c",
                "import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                 s.sendto(open(sys.argv[1], 'rb').read(), ('198.18.0.2', 138))",
            ])
            .arg(&file),
    );
    common::wait_until("nmbd to drop it", Duration::from_secs(10), || {
        nmbd_log(&lan).contains("malformed")
    });
}

/// The bytes of a `listen --format json` line.
fn decode_json_message(json: &str) -> Vec<u8> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, base64\nm = json.loads(sys.argv[1])\n\
             d = base64.b64decode(m['base64']) if 'base64' in m else m['text'].encode('latin-1')\n\
             sys.stdout.buffer.write(d)",
            json,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{json}");
    out.stdout
}

#[test]
fn samba_resolves_mailslotfs_and_mailslotfs_resolves_samba() {
    let mut lan = Lan::new(2);
    let a = lan.start(0);
    start_nmbd(&mut lan, 1);
    // nmbd's nmblookup finds the mailslotfs host by its name.
    let conf = lan.dir.path().join("samba/smb.conf");
    let out = lan
        .in_ns(1, "nmblookup")
        .arg("-s")
        .arg(&conf)
        .args(["-B", BROADCAST, "HOST0"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("198.18.0.1 HOST0<00>"), "{text}");
    // And a write to @PEERDC resolves through nmbd's answer (a write that
    // does not resolve fails with EHOSTUNREACH).
    let out = py(
        r#"
A = sys.argv[1]
assert write(A + '/@peerdc/lanman', struct.pack('<B', 2) + b'\0HOST0\0') == 8
print('ok')
"#,
        &[Path::new(&a)],
    );
    assert_eq!(out, "ok\n");
    assert!(lan.counter(0, "resolve_failures") == 0, "{}", lan.log(0));
}
