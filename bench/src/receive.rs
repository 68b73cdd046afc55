//! The receive workload: how many NETLOGON-sized mailslot datagrams a
//! second the network side takes from the segment into a slot whose server
//! reads them out, with nothing lost, next to a plain UDP reader of the
//! same datagrams (the wire's floor) and to the same server reading a
//! pre-filled local slot (the FUSE read floor, which bounds any receive
//! path through a mount).
//!
//! The segment is two network namespaces the benchmark makes, joined by a
//! veth pair (198.18.0.1 receives, 198.18.0.2 sends; RFC 2544's range), and
//! removes by name on every exit path. Nothing is sent from or to the root
//! namespace.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::util::{now_ns, say};

/// The receiving host's address, and the sender's.
pub const RX_ADDR: &str = "198.18.0.1";
pub const TX_ADDR: &str = "198.18.0.2";
pub const BROADCAST: &str = "198.18.0.255";
/// The port the plain UDP reader listens on, beside the daemon's 138.
pub const FLOOR_PORT: u16 = 13_800;
/// The daemon's NetBIOS name and workgroup on the segment.
pub const NETBIOS_NAME: &str = "BENCHRX";
pub const WORKGROUP: &str = "BENCH";
/// Data bytes per datagram: a NETLOGON request's size. With the mailslot
/// name the whole UDP payload is under 576 bytes.
pub const MESSAGE_SIZE: usize = 400;
/// Every message starts with a writer id and a sequence number, as the
/// other workloads' messages do.
const HEADER: usize = 12;

/// The two namespaces of the segment, named after this run's pid.
pub struct Segment {
    pub rx: String,
    pub tx: String,
}

fn ip(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip (iproute2): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Segment {
    pub fn create() -> Result<Segment> {
        let pid = std::process::id();
        let seg = Segment {
            rx: format!("msbench{pid}rx"),
            tx: format!("msbench{pid}tx"),
        };
        for ns in [&seg.rx, &seg.tx] {
            ip(&["netns", "add", ns])?;
            crate::harness::track_netns(ns);
        }
        ip(&[
            "-n", &seg.rx, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns",
            &seg.tx,
        ])?;
        for (ns, addr) in [(&seg.rx, RX_ADDR), (&seg.tx, TX_ADDR)] {
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "broadcast",
                BROADCAST,
                "dev",
                "eth0",
            ])?;
            ip(&["-n", ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(seg)
    }

    /// Datagrams the veth pair itself dropped (both ends, both ways): a
    /// loss before any socket, counted here so that none goes unseen.
    pub fn link_drops(&self) -> Result<u64> {
        let mut total = 0;
        for ns in [&self.rx, &self.tx] {
            let json = ip(&["-n", ns, "-s", "-j", "link", "show", "dev", "eth0"])?;
            let v: serde_json::Value = serde_json::from_str(&json)?;
            let stats = &v[0]["stats64"];
            for dir in ["rx", "tx"] {
                total += stats[dir]["dropped"].as_u64().unwrap_or(0);
            }
        }
        Ok(total)
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        for ns in [&self.rx, &self.tx] {
            let _ = ip(&["netns", "del", ns]);
            crate::harness::untrack_netns(ns);
        }
    }
}

/// The kernel's UDP counters of the namespace `pid` lives in
/// (/proc/PID/net/snmp).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct UdpStats {
    pub in_datagrams: u64,
    pub in_errors: u64,
    pub rcvbuf_errors: u64,
}

impl UdpStats {
    pub fn of(pid: i32) -> Result<UdpStats> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/snmp"))?;
        let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
        let (names, values) = (
            lines.next().ok_or("no Udp line in snmp")?,
            lines.next().ok_or("no Udp values in snmp")?,
        );
        let get = |name: &str| -> u64 {
            names
                .split_whitespace()
                .zip(values.split_whitespace())
                .find(|(n, _)| *n == name)
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(UdpStats {
            in_datagrams: get("InDatagrams"),
            in_errors: get("InErrors"),
            rcvbuf_errors: get("RcvbufErrors"),
        })
    }

    pub fn since(self, before: UdpStats) -> UdpStats {
        UdpStats {
            in_datagrams: self.in_datagrams.saturating_sub(before.in_datagrams),
            in_errors: self.in_errors.saturating_sub(before.in_errors),
            rcvbuf_errors: self.rcvbuf_errors.saturating_sub(before.rcvbuf_errors),
        }
    }
}

/// The daemon's `user.mailslot.net.*` counters on the mount root, by name
/// without that prefix (every one that is a number).
pub fn net_counters(mount: &str) -> Result<BTreeMap<String, u64>> {
    const PREFIX: &str = "user.mailslot.net.";
    let path = CString::new(mount)?;
    let mut names = vec![0u8; 8192];
    // SAFETY: valid C string and a buffer of the length given.
    let n = unsafe { libc::listxattr(path.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n < 0 {
        return Err(format!(
            "listing the attributes of {mount}: {}",
            io::Error::last_os_error()
        )
        .into());
    }
    let mut out = BTreeMap::new();
    for name in names[..n as usize].split(|&b| b == 0) {
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        let Some(short) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let c = CString::new(name)?;
        let mut buf = [0u8; 64];
        // SAFETY: as above.
        let len = unsafe {
            libc::getxattr(
                path.as_ptr(),
                c.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if len < 0 {
            continue;
        }
        if let Some(v) = std::str::from_utf8(&buf[..len as usize])
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
        {
            out.insert(short.to_owned(), v);
        }
    }
    Ok(out)
}

/// Where a receiving server takes its messages from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A public slot (mode 0666, so the network may write to it) it
    /// creates and holds the server handle of.
    Slot { path: String },
    /// A plain UDP socket bound to this address: it gets the whole
    /// datagram, the message its last `size` bytes.
    Udp { bind: String },
}

/// What a receiving server read, on the shared monotonic clock.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Received {
    /// When it was told to start reading, and when its last message came.
    pub go_ns: u64,
    pub last_ns: u64,
    pub read: u64,
    pub duplicates: u64,
    pub malformed: u64,
}

#[derive(Default)]
struct Shared {
    read: AtomicU64,
    duplicates: AtomicU64,
    malformed: AtomicU64,
    last_ns: AtomicU64,
    failed: AtomicBool,
}

/// The server role: reads as fast as it can, from `go` on, in a thread of
/// its own (it may block for ever on an empty slot), checking that each of
/// `count` numbered messages came once; answers `count` with how many so
/// far and `stop` with everything, then exits.
pub fn serve(
    mut next: impl FnMut() -> Result<Option<String>>,
    source: Source,
    count: u64,
    size: usize,
) -> Result<()> {
    enum Handle {
        File(std::fs::File),
        Udp(UdpSocket),
    }
    let handle = match &source {
        // Public as `mailslot listen` makes them: the umask must not
        // close it to the network.
        Source::Slot { path } => Handle::File(
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_CREAT | libc::O_EXCL)
                .mode(0o666)
                .open(path)
                .and_then(|f| {
                    use std::os::unix::fs::PermissionsExt;
                    f.set_permissions(std::fs::Permissions::from_mode(0o666))?;
                    Ok(f)
                })
                .map_err(|e| format!("creating {path}: {e}"))?,
        ),
        Source::Udp { bind } => {
            let addr: SocketAddrV4 = bind.parse()?;
            let socket = UdpSocket::bind(addr).map_err(|e| format!("binding {bind}: {e}"))?;
            // The receive buffer the daemon asks for, so that the two
            // readers ride out the same scheduling delays.
            let size = mailslotfs::net::service::SOCKET_BUFFER as libc::c_int;
            // SAFETY: an int option of its size.
            let r = unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if r != 0 {
                return Err(format!("SO_RCVBUFFORCE: {}", io::Error::last_os_error()).into());
            }
            Handle::Udp(socket)
        }
    };
    say("ready");
    match next()? {
        Some(c) if c == "go" => {}
        other => return Err(format!("expected go, got {other:?}").into()),
    }
    let go_ns = now_ns();
    let shared = Arc::new(Shared::default());
    {
        let shared = shared.clone();
        std::thread::spawn(move || {
            let mut seen = vec![0u64; count.div_ceil(64) as usize];
            let mut buf = vec![0u8; 2048];
            loop {
                let got = match &handle {
                    Handle::File(f) => io::Read::read(&mut &*f, &mut buf),
                    Handle::Udp(s) => s.recv(&mut buf),
                };
                let n = match got {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        shared.failed.store(true, Ordering::Relaxed);
                        return;
                    }
                };
                let msg = match (&handle, n.checked_sub(size)) {
                    (Handle::File(_), _) if n == size => &buf[..n],
                    (Handle::Udp(_), Some(at)) => &buf[at..n],
                    _ => {
                        shared.malformed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                let seq = u64::from_le_bytes(msg[4..HEADER].try_into().expect("8 bytes"));
                let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
                if seq >= count {
                    shared.malformed.fetch_add(1, Ordering::Relaxed);
                } else if seen[word] & bit != 0 {
                    shared.duplicates.fetch_add(1, Ordering::Relaxed);
                } else {
                    seen[word] |= bit;
                    shared.read.fetch_add(1, Ordering::Relaxed);
                }
                shared.last_ns.store(now_ns(), Ordering::Relaxed);
            }
        });
    }
    loop {
        let snapshot = || Received {
            go_ns,
            last_ns: shared.last_ns.load(Ordering::Relaxed),
            read: shared.read.load(Ordering::Relaxed),
            duplicates: shared.duplicates.load(Ordering::Relaxed),
            malformed: shared.malformed.load(Ordering::Relaxed),
        };
        if shared.failed.load(Ordering::Relaxed) {
            return Err("the reading thread failed".into());
        }
        match next()?.as_deref() {
            Some("count") => say(&format!("result {}", serde_json::to_string(&snapshot())?)),
            Some("stop") => {
                say(&format!("result {}", serde_json::to_string(&snapshot())?));
                // The reading thread may be blocked on an empty slot: the
                // process's exit ends it and closes the slot.
                return Ok(());
            }
            other => return Err(format!("unexpected command {other:?}").into()),
        }
    }
}

/// What a sender did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sent {
    pub start_ns: u64,
    pub end_ns: u64,
    pub sent: u64,
    /// UDP payload bytes of each datagram.
    pub datagram_bytes: usize,
    /// Sends the local stack refused (ENOBUFS, EAGAIN) and that were
    /// tried again: not sent, so not lost.
    pub retried: u64,
}

/// Datagrams sent per sendmmsg call at most.
const BATCH: usize = 32;

/// The sender role: `count` mailslot writes of `size` bytes to
/// `\MAILSLOT\{mailslot}` on `to`, from `from`, paced at `rate` a second.
pub fn send(
    mut next: impl FnMut() -> Result<Option<String>>,
    from: &str,
    to: &str,
    mailslot: &str,
    size: usize,
    rate: u64,
    count: u64,
) -> Result<()> {
    use mailslotfs::net::names::NetbiosName;
    use mailslotfs::net::wire::{MailslotDatagram, MessageType, SizeLimit};
    let from: SocketAddrV4 = from.parse()?;
    let to: SocketAddrV4 = to.parse()?;
    let dgram = MailslotDatagram::new(
        MessageType::DirectUnique,
        NetbiosName::new("BENCHTX", 0x00)?,
        *from.ip(),
        NetbiosName::new(NETBIOS_NAME, 0x00)?,
        format!("\\MAILSLOT\\{mailslot}"),
        vec![0x5a; size],
    );
    let template = dgram.build(SizeLimit::Protocol)?;
    // The data is the datagram's tail: its header is patched in place.
    let at = template.len() - size;
    let socket = UdpSocket::bind(from).map_err(|e| format!("binding {from}: {e}"))?;
    socket.connect(to)?;
    let mut packets: Vec<Vec<u8>> = vec![template.clone(); BATCH];
    say("ready");
    match next()? {
        Some(c) if c == "go" => {}
        other => return Err(format!("expected go, got {other:?}").into()),
    }
    let start = now_ns();
    let mut s = Sent {
        start_ns: start,
        datagram_bytes: template.len(),
        ..Sent::default()
    };
    let ns_per = 1e9 / rate.max(1) as f64;
    while s.sent < count {
        let elapsed = now_ns() - start;
        let due = ((elapsed as f64 / ns_per) as u64 + 1).min(count);
        if due <= s.sent {
            let wait = ((s.sent as f64 * ns_per) as u64).saturating_sub(elapsed);
            if wait > 20_000 {
                std::thread::sleep(std::time::Duration::from_nanos(wait));
            } else {
                std::hint::spin_loop();
            }
            continue;
        }
        let n = ((due - s.sent) as usize).min(BATCH);
        for (i, p) in packets.iter_mut().take(n).enumerate() {
            p[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
            p[at + 4..at + HEADER].copy_from_slice(&(s.sent + i as u64).to_le_bytes());
        }
        let mut iov: Vec<libc::iovec> = packets[..n]
            .iter_mut()
            .map(|p| libc::iovec {
                iov_base: p.as_mut_ptr().cast(),
                iov_len: p.len(),
            })
            .collect();
        // SAFETY: zeroed mmsghdr is valid (no name, no control).
        let mut msgs: Vec<libc::mmsghdr> = iov
            .iter_mut()
            .map(|v| {
                let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                m.msg_hdr.msg_iov = v;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();
        // SAFETY: each header points at one live buffer of its length.
        let r = unsafe { libc::sendmmsg(socket.as_raw_fd(), msgs.as_mut_ptr(), n as u32, 0) };
        if r < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENOBUFS | libc::EAGAIN | libc::EINTR) => s.retried += 1,
                _ => return Err(format!("sending to {to}: {e}").into()),
            }
            continue;
        }
        s.sent += r as u64;
    }
    s.end_ns = now_ns();
    say(&format!("result {}", serde_json::to_string(&s)?));
    Ok(())
}

/// One step: `system` at one paced rate.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub run: usize,
    pub round: usize,
    pub system: &'static str,
    pub rate: u64,
    /// The rate the sender kept.
    pub sent_per_s: f64,
    pub sent: u64,
    pub datagram_bytes: usize,
    /// Read by the server, each once.
    pub read: u64,
    pub duplicates: u64,
    pub malformed: u64,
    /// The daemon's counters over the step (mailslotfs only).
    pub received: Option<u64>,
    pub delivered: Option<u64>,
    /// Drops the kernel reported on the receiving socket: the daemon's
    /// dropped_socket, or the namespace's UDP RcvbufErrors for the floor.
    pub dropped_socket: u64,
    /// The daemon's other dropped_* counters, by name, where not zero.
    pub dropped_other: BTreeMap<String, u64>,
    /// Dropped by the veth pair, before any socket.
    pub dropped_link: u64,
    /// dropped_socket + other drops + link drops.
    pub lost: u64,
    /// sent − read − lost: a loss nobody counted. Must be 0.
    pub unaccounted: i64,
    /// The kernel's UDP counters of the receiving namespace over the step.
    pub udp: UdpStats,
    /// CPU time of the receiving process (the daemon, or the plain
    /// reader) over the step, per datagram sent.
    pub cpu_ns_per_datagram: f64,
}

impl Step {
    pub fn lossless(&self) -> bool {
        self.read == self.sent && self.lost == 0 && self.duplicates == 0 && self.malformed == 0
    }
}

/// The same server reading a pre-filled local slot.
#[derive(Debug, Clone, Serialize)]
pub struct LocalRead {
    pub run: usize,
    pub round: usize,
    pub messages: u64,
    pub seconds: f64,
    pub msgs_per_s: f64,
    pub verified: bool,
}

/// One round of one system's ladder: the highest rate it kept with
/// nothing lost.
#[derive(Debug, Clone, Serialize)]
pub struct Ladder {
    pub run: usize,
    pub round: usize,
    pub system: &'static str,
    /// `None` when even the lowest rate lost datagrams.
    pub max_lossless: Option<u64>,
    /// The lowest rate that lost any, if one was reached.
    pub first_loss: Option<u64>,
    /// Whether the ladder ended because the sender could not keep a rate.
    pub sender_bound: bool,
    /// CPU per datagram at the highest loss-free rate.
    pub cpu_ns_per_datagram: Option<f64>,
}

pub const MAILSLOTFS: &str = "mailslotfs";
pub const UDP_FLOOR: &str = "udp-floor";

/// Everything the receive workload measured, summed up: medians over the
/// rounds (every run's), each round's ratios (the systems measured one
/// after another in it), whose lowest and highest are the spread.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiveRow {
    pub rounds: usize,
    pub message_size: usize,
    pub datagram_bytes: usize,
    /// Highest loss-free rate, median over the rounds (a round that lost
    /// datagrams even at the lowest rate counts as 0), and the range.
    pub mailslotfs_msgs_per_s: f64,
    pub mailslotfs_range: (f64, f64),
    /// The daemon's CPU per datagram at its highest loss-free rate.
    pub mailslotfs_cpu_ns_per_datagram: Option<f64>,
    pub udp_floor_msgs_per_s: f64,
    pub udp_floor_range: (f64, f64),
    /// The plain reader's CPU per datagram at its highest loss-free rate.
    pub udp_floor_cpu_ns_per_datagram: Option<f64>,
    /// Whether any ladder stopped because the sender could not go faster.
    pub sender_bound: bool,
    /// The same server reading a pre-filled local slot.
    pub local_read_msgs_per_s: f64,
    pub local_read_range: (f64, f64),
    /// mailslotfs's loss-free rate against the local read floor and the
    /// UDP floor, each the median of the rounds' ratios, and the range.
    pub vs_local_read: f64,
    pub vs_local_read_range: (f64, f64),
    pub vs_udp_floor: f64,
    pub vs_udp_floor_range: (f64, f64),
    /// Every datagram sent was read or counted as dropped, in every step.
    pub accounted: bool,
    pub steps: Vec<Step>,
    pub ladders: Vec<Ladder>,
    pub local_reads: Vec<LocalRead>,
}

fn range(v: &[f64]) -> (f64, f64) {
    (
        v.iter().copied().fold(f64::INFINITY, f64::min),
        v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

pub fn row(steps: &[Step], ladders: &[Ladder], local: &[LocalRead]) -> Option<ReceiveRow> {
    if ladders.is_empty() && local.is_empty() {
        return None;
    }
    let median = crate::util::median;
    let of = |system: &'static str| ladders.iter().filter(move |l| l.system == system);
    let rate = |l: &Ladder| l.max_lossless.unwrap_or(0) as f64;
    let rates = |system| of(system).map(rate).collect::<Vec<_>>();
    let cpu = |system| {
        let v: Vec<f64> = of(system).filter_map(|l| l.cpu_ns_per_datagram).collect();
        (!v.is_empty()).then(|| median(v))
    };
    let locals: Vec<f64> = local.iter().map(|l| l.msgs_per_s).collect();
    let mut vs_local = Vec::new();
    let mut vs_udp = Vec::new();
    for m in of(MAILSLOTFS) {
        let same = |l: &&Ladder| l.run == m.run && l.round == m.round;
        if let Some(l) = local.iter().find(|l| l.run == m.run && l.round == m.round) {
            vs_local.push(rate(m) / l.msgs_per_s);
        }
        if let Some(u) = of(UDP_FLOOR).find(same)
            && rate(u) > 0.0
        {
            vs_udp.push(rate(m) / rate(u));
        }
    }
    let nonempty = |v: Vec<f64>| if v.is_empty() { vec![f64::NAN] } else { v };
    Some(ReceiveRow {
        rounds: local.len().max(of(MAILSLOTFS).count()),
        message_size: MESSAGE_SIZE,
        datagram_bytes: steps.first().map_or(0, |s| s.datagram_bytes),
        mailslotfs_msgs_per_s: median(nonempty(rates(MAILSLOTFS))),
        mailslotfs_range: range(&rates(MAILSLOTFS)),
        mailslotfs_cpu_ns_per_datagram: cpu(MAILSLOTFS),
        udp_floor_msgs_per_s: median(nonempty(rates(UDP_FLOOR))),
        udp_floor_range: range(&rates(UDP_FLOOR)),
        udp_floor_cpu_ns_per_datagram: cpu(UDP_FLOOR),
        sender_bound: ladders.iter().any(|l| l.sender_bound),
        local_read_msgs_per_s: median(nonempty(locals.clone())),
        local_read_range: range(&locals),
        vs_local_read: median(nonempty(vs_local.clone())),
        vs_local_read_range: range(&vs_local),
        vs_udp_floor: median(nonempty(vs_udp.clone())),
        vs_udp_floor_range: range(&vs_udp),
        accounted: steps.iter().all(|s| s.unaccounted == 0),
        steps: steps.to_vec(),
        ladders: ladders.to_vec(),
        local_reads: local.to_vec(),
    })
}

/// The receive section of the printed table.
pub fn table(r: &ReceiveRow, grid: impl Fn(&[&str], &str, Vec<Vec<String>>) -> String) -> String {
    use crate::util::grouped;
    let mut t = format!(
        "\nreceive: {} B mailslot writes ({} B datagrams) from another network namespace, paced, \
         into a public slot whose server reads them; highest rate with nothing lost, {} round(s), \
         the systems taking turns{}\n",
        r.message_size,
        r.datagram_bytes,
        r.rounds,
        if r.sender_bound {
            "; some ladder stopped where the sender could go no faster"
        } else {
            ""
        }
    );
    let us = |x: Option<f64>| x.map_or("–".into(), |x| format!("{:.2}", x / 1e3));
    let spread = |(a, b): (f64, f64)| {
        if a.is_finite() {
            format!("{}–{}", grouped(a), grouped(b))
        } else {
            String::new()
        }
    };
    let ratio = |x: f64, (a, b): (f64, f64)| {
        if x.is_finite() {
            format!("{x:.2} ({a:.2}–{b:.2})")
        } else {
            "–".into()
        }
    };
    t += &grid(
        &[
            "system",
            "loss-free msg/s",
            "spread",
            "CPU µs/datagram",
            "vs local read",
            "vs UDP floor",
        ],
        "lrrrrr",
        vec![
            vec![
                "mailslotfs (network → slot → server)".into(),
                grouped(r.mailslotfs_msgs_per_s),
                spread(r.mailslotfs_range),
                us(r.mailslotfs_cpu_ns_per_datagram),
                ratio(r.vs_local_read, r.vs_local_read_range),
                ratio(r.vs_udp_floor, r.vs_udp_floor_range),
            ],
            vec![
                "UDP floor (plain reader, same namespace)".into(),
                grouped(r.udp_floor_msgs_per_s),
                spread(r.udp_floor_range),
                us(r.udp_floor_cpu_ns_per_datagram),
                String::new(),
                String::new(),
            ],
            vec![
                "local read floor (same server, pre-filled slot)".into(),
                grouped(r.local_read_msgs_per_s),
                spread(r.local_read_range),
                String::new(),
                String::new(),
                String::new(),
            ],
        ],
    );
    // Every step, summed over the rounds by system and rate: what was sent,
    // read and counted as dropped, and anything nobody counted.
    let mut sums: BTreeMap<(&str, u64), Step> = BTreeMap::new();
    let mut lossless: BTreeMap<(&str, u64), (usize, usize)> = BTreeMap::new();
    for s in &r.steps {
        let k = (s.system, s.rate);
        let e = lossless.entry(k).or_default();
        e.1 += 1;
        if s.lossless() {
            e.0 += 1;
        }
        match sums.get_mut(&k) {
            None => {
                sums.insert(k, s.clone());
            }
            Some(sum) => {
                sum.sent += s.sent;
                sum.read += s.read;
                sum.dropped_socket += s.dropped_socket;
                sum.dropped_link += s.dropped_link;
                for (n, v) in &s.dropped_other {
                    *sum.dropped_other.entry(n.clone()).or_default() += v;
                }
                sum.lost += s.lost;
                sum.unaccounted += s.unaccounted;
                sum.cpu_ns_per_datagram += s.cpu_ns_per_datagram;
                sum.sent_per_s += s.sent_per_s;
            }
        }
    }
    let rows = sums
        .iter()
        .map(|(k, s)| {
            let (ok, n) = lossless[k];
            vec![
                s.system.to_owned(),
                grouped(s.rate as f64),
                grouped(s.sent_per_s / n as f64),
                format!("{ok}/{n}"),
                grouped(s.sent as f64),
                grouped(s.read as f64),
                grouped(s.dropped_socket as f64),
                s.dropped_other
                    .iter()
                    .map(|(n, v)| format!("{n} {}", grouped(*v as f64)))
                    .collect::<Vec<_>>()
                    .join(", "),
                grouped(s.dropped_link as f64),
                grouped(s.lost as f64),
                s.unaccounted.to_string(),
                format!("{:.2}", s.cpu_ns_per_datagram / n as f64 / 1e3),
            ]
        })
        .collect();
    t += "\nreceive steps (summed over the rounds; dropped_socket: the daemon's, or the kernel's UDP RcvbufErrors for the floor):\n";
    t += &grid(
        &[
            "system",
            "rate/s",
            "sent/s",
            "loss-free",
            "sent",
            "read",
            "dropped_socket",
            "other dropped_*",
            "link",
            "lost",
            "uncounted",
            "CPU µs/dgram",
        ],
        "lrrrrrrlrrrr",
        rows,
    );
    t
}
