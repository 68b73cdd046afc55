//! mailslotfs and Samba's nmbd on ONE host (docs/network.md, "On a Samba
//! host"): Debian's nmbd, a primary domain controller with its own smb.conf
//! and `nmbd:socket dir` in the test's directory, and a mailslotfs daemon
//! in the same namespace, started in either order, under nmbd's own name or
//! under a name of its own (which nmbd holds through `netbios aliases`), and
//! across an nmbd restart. From another host of the segment (a second
//! mailslotfs): `nmblookup -U` of nmbd's name answers, the PDC answers a
//! NETLOGON query to its own name, a `mailslot send` to the mailslotfs name
//! arrives in its slot, and the Samba host's own `mailslot send` arrives
//! at the peer. Before mailslotfs left the ports to nmbd, whichever started
//! second took all unicast traffic and some of this failed. Needs nmbd and
//! nmblookup; fails, never skips, without them.

mod common;
mod lan;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lan::{BROADCAST, Lan, py};

/// Starts nmbd on host `i` as `name`, PDC of TESTDOM, holding `aliases`
/// too, and waits until it answers for its name and TESTDOM<1C>.
fn start_nmbd(lan: &mut Lan, i: usize, name: &str, aliases: Option<&str>) -> PathBuf {
    let mut settings = "domain logons = yes\ndomain master = yes\nwins support = no".to_string();
    if let Some(a) = aliases {
        settings += &format!("\nnetbios aliases = {a}");
    }
    let conf = lan::nmbd(lan, i, name, &settings);
    let addr = lan.hosts[i].addr.to_string();
    lan::await_nmbd(lan, &conf, &["-B", BROADCAST, "TESTDOM#1c"], "TESTDOM<1c>");
    lan::await_nmbd(
        lan,
        &conf,
        &["-U", &addr, name],
        &format!("{addr} {}<00>", name.to_ascii_uppercase()),
    );
    conf
}

/// Stops the nmbd started on host `i` (the last process started there).
fn stop_nmbd(lan: &mut Lan, i: usize) {
    let mut child = lan.hosts[i].others.pop().expect("nmbd started");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    child.wait().unwrap();
}

fn samba_state(lan: &Lan, i: usize) -> String {
    lan::xattr(&lan.mount(i), "user.mailslot.net.samba")
}

fn await_state(lan: &Lan, i: usize, prefix: &str) {
    let start = Instant::now();
    while !samba_state(lan, i).starts_with(prefix) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "mailslotfs never got to {prefix:?}: {:?}\n{}",
            samba_state(lan, i),
            lan.log(i)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A LOGON_PRIMARY_QUERY asking for the answer in `\MAILSLOT\NET\<reply>`
/// ([MS-ADTS] 6.3.5), and the steps run from the peer.
const CHECKS: &str = r#"
def query(reply):
    body = struct.pack('<H', 7) + b'HOST9\0' + ('\\MAILSLOT\\NET\\' + reply).encode() + b'\0'
    body += b'\0' * (len(body) % 2) + 'HOST9'.encode('utf-16-le') + b'\0\0'
    return body + struct.pack('<IHH', 0x0B, 0xFFFF, 0xFFFF)
MS = os.environ['MAILSLOT']
def send(mount, target, data):
    r = subprocess.run([MS, '--mount', mount, 'send', target], input=data, capture_output=True)
    assert r.returncode == 0, (target, r.returncode, r.stderr.decode())
def arrives(mount, slot, sender, target, data):
    fd = server(mount + '/' + slot, 0o666)
    try:
        for attempt in range(3):
            send(sender, target, data)
            got = take(fd, 5.0)
            if got is not None:
                assert got == data, got
                return
        raise AssertionError('%s never arrived in %s' % (target, slot))
    finally:
        os.close(fd)
def netlogon(peer, dc, reply):
    os.makedirs(peer + '/net', exist_ok=True)
    for attempt in range(3):
        l = subprocess.Popen([MS, '--mount', peer, 'listen', '--network', '--format', 'json',
                              '--count', '1', '--timeout', '8s', 'net/' + reply + str(attempt)],
                             stdout=subprocess.PIPE)
        deadline = time.time() + 5
        while not os.path.exists(peer + '/net/' + reply + str(attempt)) and time.time() < deadline:
            time.sleep(0.01)
        send(peer, '\\\\' + dc + '\\mailslot\\net\\netlogon', query(reply + str(attempt)))
        line = l.stdout.readline()
        l.wait()
        if line:
            return line.decode()
    raise AssertionError('the PDC %s never answered a NETLOGON query' % dc)
"#;

/// Everything that must hold with nmbd (`nmbd_name`) and mailslotfs
/// (`msfs_name`) on host `s`, seen from host `p`.
fn check(lan: &Lan, conf: &Path, s: usize, p: usize, nmbd_name: &str, msfs_name: &str) {
    let addr = lan.hosts[s].addr.to_string();
    for name in [nmbd_name, msfs_name] {
        let out = lan::nmblookup(lan, p, conf, &["-U", &addr, name]);
        assert!(
            out.contains(&format!("{addr} {}<00>", name.to_ascii_uppercase())),
            "nmblookup -U {addr} {name}: {out}\n{}\n{}",
            lan::nmbd_log(lan),
            lan.log(s)
        );
    }
    let (sm, pm) = (lan.mount(s), lan.mount(p));
    let out = py(
        &format!(
            r#"{CHECKS}
S, P = sys.argv[1], sys.argv[2]
line = netlogon(P, '{nmbd_name}', 'GETDC')
print('netlogon: ' + line.strip())
# The Samba host's own query, broadcast from mailslotfs's own port: the
# PDC's answer comes back to that port.
line = netlogon(S, 'TESTDOM<1C>', 'GETDCS')
print('own netlogon: ' + line.strip())
arrives(S, 'chat', P, r'\\{msfs_name}\mailslot\chat', b'to the samba host')
print('in: ok')
arrives(P, 'chat', S, r'\\HOST{p}\mailslot\chat', b'from the samba host')
print('out: ok')
"#
        ),
        &[&sm, &pm],
    );
    assert!(
        out.contains("in: ok") && out.contains("out: ok"),
        "{out}\n{}",
        lan.log(s)
    );
    assert!(out.contains("own netlogon: "), "{out}");
}

enum Order {
    NmbdFirst,
    MailslotfsFirst,
}

/// Host `s` runs nmbd and mailslotfs (host 0 is started with
/// `--interface eth0`, the others with `--address`); the other host is
/// the peer. With `own_name`, nmbd is PEERDC and holds mailslotfs's
/// `HOST<s>` as an alias; otherwise nmbd itself is `HOST<s>`.
fn scenario(s: usize, order: Order, own_name: bool, restart: bool) {
    let mut lan = Lan::new(2);
    let p = 1 - s;
    let msfs_name = format!("HOST{s}");
    let (nmbd_name, aliases) = if own_name {
        ("PEERDC".to_string(), Some(msfs_name.as_str()))
    } else {
        (msfs_name.clone(), None)
    };
    let dir = lan.dir.path().join("samba/nmbd").display().to_string();
    let extra = ["--samba-socket-dir", dir.as_str()];
    lan.start(p);
    let conf = match order {
        Order::NmbdFirst => {
            let conf = start_nmbd(&mut lan, s, &nmbd_name, aliases);
            lan.start_with(s, &extra);
            conf
        }
        Order::MailslotfsFirst => {
            lan.start_with(s, &extra);
            start_nmbd(&mut lan, s, &nmbd_name, aliases)
        }
    };
    await_state(&lan, s, "beside nmbd");
    check(&lan, &conf, s, p, &nmbd_name, &msfs_name);
    if !restart {
        return;
    }
    // nmbd gone: mailslotfs takes the ports back and serves alone.
    stop_nmbd(&mut lan, s);
    await_state(&lan, s, "own ports");
    let out = py(
        &format!(
            r#"{CHECKS}
arrives(sys.argv[1], 'alone', sys.argv[2], r'\\{msfs_name}\mailslot\alone', b'no nmbd')
print('ok')
"#
        ),
        &[&lan.mount(s), &lan.mount(p)],
    );
    assert_eq!(out, "ok\n", "{}", lan.log(s));
    // nmbd back: mailslotfs leaves it the ports again.
    let conf = start_nmbd(&mut lan, s, &nmbd_name, aliases);
    await_state(&lan, s, "beside nmbd");
    check(&lan, &conf, s, p, &nmbd_name, &msfs_name);
    let log = lan.log(s);
    assert!(log.contains("nmbd is gone"), "{log}");
    assert!(log.contains("nmbd started on this host"), "{log}");
}

#[test]
fn nmbd_first_mailslotfs_under_nmbds_name_with_interface_and_a_restart() {
    scenario(0, Order::NmbdFirst, false, true);
}

#[test]
fn mailslotfs_first_under_its_own_name_with_address_and_a_restart() {
    scenario(1, Order::MailslotfsFirst, true, true);
}

#[test]
fn mailslotfs_first_under_nmbds_name_with_address() {
    scenario(1, Order::MailslotfsFirst, false, false);
}

#[test]
fn nmbd_first_mailslotfs_under_its_own_name_with_interface() {
    scenario(0, Order::NmbdFirst, true, false);
}
