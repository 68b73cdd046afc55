//! The network side at run time: the datagram and name sockets, sending
//! client writes to remote targets, delivering received mailslot writes
//! into local slots, and NetBIOS name queries (answering for our own name,
//! asking for others'). Off unless the daemon is given an interface or an
//! address.
//!
//! What it takes in, and why:
//!
//! - **Only the configured address.** Each port has two sockets: one bound
//!   to the address (unicast traffic, and everything sent) and one bound to
//!   the broadcast address (Linux delivers subnet broadcasts only to sockets
//!   bound to that address or to the wildcard). Nothing binds the wildcard,
//!   so no other interface's traffic arrives; with `--interface` both are
//!   also tied to that device. Samba's nmbd binds the same pair per subnet.
//! - **Only names this host has.** A mailslot write is accepted for this
//!   computer's name (`<00>`, `<03>`, `<20>`) and for the workgroup's
//!   member and browser-election group names (`<00>`, `<1E>`), the names
//!   a Windows workstation registers; not for `<1B>`, `<1C>`, `<1D>` or
//!   `__MSBROWSE__`, which only domain controllers and browsers own.
//! - **Not its own datagrams.** A datagram from this host's address and
//!   datagram port is its own broadcast looped back, dropped as nmbd drops
//!   it. What this host sends to itself (a write to its own name, or to a
//!   group it is in, which Windows also delivers locally) is delivered
//!   locally by the sender, once, under the same rules as a received one,
//!   as a message from the local writer (`local uid=… via=@HOST`): a write
//!   to this computer's own name never touches the wire, and a group
//!   write's copy on the wire comes back only to be dropped.
//! - **Only answers to its own questions.** A name query response counts
//!   only if it has the transaction id, the name and the type of a query
//!   this daemon has open, arrived addressed to it, and comes from the
//!   address it gives for the name (a B node answers for itself). The
//!   cache of answers is bounded; a flood of forged answers changes
//!   nothing and costs no memory.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

mod beside;
mod citizen;

use super::names::{NameQuery, NameQueryResponse, NbAddress, NetbiosName};
use super::registration::{self, NameRequest, NameResponse, NodeStatusRequest, QueryAnswer};
use super::wire::{self, ErrorClass, MailslotDatagram, MessageType, SizeLimit};
use crate::core::{
    Account, Error, Mailslots, RemoteSender, RemoteTarget, Resource, Result, SendDone, TargetKind,
    Uncharge,
};

/// Name queries are sent this many times, this far apart, before a
/// computer name counts as unresolvable (RFC 1002's BCAST_REQ_RETRY_COUNT
/// and timeout, shortened: a writer waits for the answer).
const QUERY_TRIES: u32 = 3;
const QUERY_INTERVAL: Duration = Duration::from_millis(250);
/// Resolved names are kept at most this long, whatever TTL the owner gave.
const MAX_CACHE: Duration = Duration::from_secs(600);
/// Resolved names kept at once; the least recently used goes first.
pub const NAME_CACHE_CAPACITY: usize = 256;
/// Names being resolved at once; a write that would need one more fails
/// with ENOSPC rather than grow the daemon (never EAGAIN, which Windows
/// programs under Wine retry for ever). Each user may hold at most
/// `max_user_resolutions` writes waiting for names (EDQUOT past that), and
/// unprivileged users together leave the last [`RESERVED_NAMES`] to root
/// and the mount's owner. A waiting write's name is asked for at most
/// `QUERY_TRIES` times per WINS server and on the segment, so what one user
/// can make the host send is bounded: `max_user_resolutions * QUERY_TRIES`
/// queries per `QUERY_TRIES * QUERY_INTERVAL` (64 a second by default).
pub const MAX_PENDING_NAMES: usize = 256;
/// Pending names kept for root and the mount's owner.
pub const RESERVED_NAMES: usize = MAX_PENDING_NAMES / 8;
/// Larger than any datagram a Windows host sends (594 bytes).
const RECV_BUFFER: usize = 2048;
/// Receive buffer asked of the kernel for each socket (it doubles it for
/// its bookkeeping). The default (`net.core.rmem_default`, 208 KiB) holds
/// about 170 NETLOGON-sized datagrams: a few milliseconds of a busy
/// segment, which one scheduling delay on a loaded host overflows, as the
/// receive benchmark shows for a plain UDP reader too. 2 MiB rides out
/// such delays; it is memory only while datagrams wait, and the kernel
/// still bounds all UDP memory (`net.ipv4.udp_mem`). Root gets it whatever
/// `net.core.rmem_max` says (SO_RCVBUFFORCE); others get what it allows.
pub const SOCKET_BUFFER: usize = 2 << 20;

/// Name types of this computer's own name that take mailslot writes.
const OWN_NAME_TYPES: [u8; 3] = [0x00, 0x03, 0x20];
/// Group names of the workgroup a Windows workstation is a member of:
/// the domain's members `<00>` and the browser election group `<1E>`.
const WORKGROUP_NAME_TYPES: [u8; 2] = [0x00, 0x1E];

/// How large writes to other machines may be (`--datagram-limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DatagramLimit {
    /// [MS-MAIL]'s limit (443 bytes of name and data; 424 bytes of data to
    /// a domain), and Samba's for the mailslots Samba's nmbd serves.
    #[default]
    Protocol,
    /// Every write within what Samba's nmbd reads: the whole datagram at
    /// most 576 bytes.
    Samba,
}

#[derive(Debug, Clone)]
pub struct NetConfig {
    /// The interface to bind to, when given by name.
    pub interface: Option<String>,
    pub address: Ipv4Addr,
    pub broadcast: Ipv4Addr,
    /// This computer's NetBIOS name.
    pub netbios_name: String,
    pub workgroup: String,
    pub dgram_port: u16,
    pub name_port: u16,
    /// Computer names that resolve without asking the network.
    pub hosts: Vec<(String, Ipv4Addr)>,
    pub datagram_limit: DatagramLimit,
    /// WINS servers, in the order they are asked.
    pub wins: Vec<Ipv4Addr>,
    /// The TTL asked for this computer's names, in seconds.
    pub name_ttl: u32,
    /// Whether to leave UDP 137 and 138 to a Samba nmbd on this host.
    pub samba: super::samba::SambaMode,
    /// nmbd's socket directory.
    pub samba_socket_dir: std::path::PathBuf,
}

macro_rules! counters {
    ($($field:ident: $doc:literal,)*) => {
        /// What the network side did, shown as `user.mailslot.net.*` on the
        /// mount root and logged at exit.
        #[derive(Default)]
        pub struct Counters { $(#[doc = $doc] pub $field: AtomicU64,)* }

        impl Counters {
            pub fn snapshot(&self) -> Vec<(String, String)> {
                vec![$((
                    format!("user.mailslot.net.{}", stringify!($field)),
                    self.$field.load(Ordering::Relaxed).to_string(),
                ),)*]
            }
        }
    };
}

counters! {
    sent: "mailslot datagrams sent",
    received: "datagrams received on the datagram port",
    delivered: "messages queued into a local slot",
    dropped_malformed: "received datagrams that did not parse",
    dropped_fragment: "fragments of larger datagrams (not reassembled)",
    dropped_oversized: "mailslot writes larger than the protocol allows (name and data over 443 bytes)",
    dropped_foreign: "datagram-service packets that are not mailslot writes",
    dropped_not_for_us: "mailslot writes addressed to a name this host does not have",
    dropped_own: "this host's own datagrams, looped back (delivered locally when sent)",
    dropped_no_slot: "mailslot writes for a slot that does not exist here",
    dropped_denied: "mailslot writes for a slot (or under a directory) closed to other users",
    dropped_too_large: "mailslot writes larger than the slot's maximum",
    dropped_queue_full: "mailslot writes refused by the slot's or mount's quota",
    dropped_socket: "datagrams the kernel dropped because the datagram socket's receive buffer was full (SO_RXQ_OVFL): they never reached the daemon",
    name_queries_answered: "name queries for this computer answered",
    name_answers_ignored: "name query responses that answer no open query of ours",
    resolve_failures: "computer names that did not resolve",
    names_registered: "this computer's names registered (on the segment or with WINS), retries included",
    name_conflicts: "registrations of this computer's unique names refused by another node or WINS (the name is then in conflict: see user.mailslot.net.names)",
    name_queries_refused: "unicast name queries for a name this computer does not hold, answered negatively (RCODE 3)",
    dropped_source_share: "mailslot writes refused because their source address already holds its share of the network's queued bytes",
    names_defended: "other nodes' registrations of this computer's names refused",
    name_refreshes: "names refreshed with a WINS server",
    node_status_answered: "node status requests (nmblookup -A, nbtstat -A) answered",
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

type NameKey = (String, u8);

struct PendingSend {
    msg_type: MessageType,
    destination: NetbiosName,
    mailslot: String,
    limit: SizeLimit,
    data: Vec<u8>,
    done: SendDone,
    /// Who wrote it; while it waits for a name, the writer's user is
    /// charged one of its `max_user_resolutions`, given back with this.
    writer: Account,
    _charge: Option<Uncharge>,
}

struct Resolution {
    trn_id: u16,
    /// Which WINS server is being asked; past the last one, the segment.
    phase: usize,
    tries: u32,
    next_at: Instant,
    sends: Vec<PendingSend>,
    /// The user whose write started the resolution (named in the log).
    starter: Account,
}

impl Resolution {
    /// Moves on to the next WINS server, or past the last one to the
    /// segment, with a fresh transaction id.
    fn next_phase(&mut self, now: Instant) {
        self.phase += 1;
        self.tries = 1;
        self.trn_id = random_id();
        self.next_at = now + QUERY_INTERVAL;
    }
}

struct Cached {
    ip: Ipv4Addr,
    until: Instant,
    used: u64,
}

/// Resolved computer names, at most [`NAME_CACHE_CAPACITY`].
#[derive(Default)]
struct NameCache {
    entries: HashMap<NameKey, Cached>,
    clock: u64,
}

impl NameCache {
    fn get(&mut self, key: &NameKey) -> Option<Ipv4Addr> {
        self.clock += 1;
        let now = Instant::now();
        match self.entries.get_mut(key) {
            Some(c) if c.until > now => {
                c.used = self.clock;
                Some(c.ip)
            }
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&mut self, key: NameKey, ip: Ipv4Addr, ttl: Duration) {
        self.clock += 1;
        if !self.entries.contains_key(&key) && self.entries.len() >= NAME_CACHE_CAPACITY {
            let now = Instant::now();
            self.entries.retain(|_, c| c.until > now);
            if self.entries.len() >= NAME_CACHE_CAPACITY
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, c)| c.used)
                    .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(
            key,
            Cached {
                ip,
                until: Instant::now() + ttl,
                used: self.clock,
            },
        );
    }
}

/// A socket that is replaced at run time: the ports are handed to a
/// Samba nmbd that starts on this host, and taken back when it goes (see
/// `beside`). Threads keep the socket they were started with.
#[derive(Default)]
struct Slot(parking_lot::RwLock<Option<Arc<UdpSocket>>>);

impl Slot {
    fn get(&self) -> Option<Arc<UdpSocket>> {
        self.0.read().clone()
    }

    fn set(&self, socket: Option<UdpSocket>) {
        *self.0.write() = socket.map(Arc::new);
    }

    fn send_to(&self, buf: &[u8], to: SocketAddrV4) -> io::Result<usize> {
        match self.get() {
            Some(s) => s.send_to(buf, to),
            None => Err(io::Error::from_raw_os_error(libc::ENETDOWN)),
        }
    }

    fn local_port(&self) -> Option<u16> {
        self.get()?.local_addr().ok().map(|a| a.port())
    }
}

/// One port's two sockets: the address's and the broadcast address's
/// (beside nmbd: one socket on a port of the kernel's choosing).
#[derive(Default)]
struct Port {
    unicast: Slot,
    broadcast: Slot,
}

impl Port {
    fn set(&self, (unicast, broadcast): (UdpSocket, Option<UdpSocket>)) {
        self.unicast.set(Some(unicast));
        self.broadcast.set(broadcast);
    }
}

pub struct Network {
    config: NetConfig,
    me: NetbiosName,
    dgram: Port,
    names: Port,
    core: Weak<Mailslots>,
    counters: Counters,
    cache: Mutex<NameCache>,
    pending: Mutex<HashMap<NameKey, Resolution>>,
    /// The names this computer holds (see `citizen`).
    held: Mutex<Vec<citizen::Held>>,
    /// Where answers to registrations, refreshes and releases go while one
    /// is open.
    replies: Mutex<Option<std::sync::mpsc::Sender<(NameResponse, SocketAddrV4)>>>,
    exchanging: Mutex<()>,
    stopping: AtomicBool,
    /// Bumped whenever the sockets are replaced; receiving threads of an
    /// older epoch stop.
    epoch: AtomicU64,
    /// How the ports are shared with Samba's nmbd, as the mount root shows it.
    samba_state: Mutex<String>,
}

fn bind(address: Ipv4Addr, port: u16, interface: Option<&str>) -> io::Result<UdpSocket> {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, setsockopt, socket, sockopt,
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // Others (an nmbd, another mount on another address) may hold the same
    // port on other addresses of this host.
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    setsockopt(&fd, sockopt::Broadcast, &true)?;
    // The kernel then tells, with each datagram, how many it dropped for a
    // full receive buffer: no loss goes uncounted.
    setsockopt(&fd, sockopt::RxqOvfl, &1)?;
    if setsockopt(&fd, sockopt::RcvBufForce, &SOCKET_BUFFER).is_err() {
        // Not privileged: as much as net.core.rmem_max allows.
        let _ = setsockopt(&fd, sockopt::RcvBuf, &SOCKET_BUFFER);
    }
    if let Some(iface) = interface {
        setsockopt(&fd, sockopt::BindToDevice, &std::ffi::OsString::from(iface))?;
    }
    nix::sys::socket::bind(
        fd.as_raw_fd(),
        &SockaddrIn::from(SocketAddrV4::new(address, port)),
    )
    .map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("binding {address}:{port}: {e}"),
        )
    })?;
    Ok(UdpSocket::from(fd))
}

/// One datagram into `buf`: its length, its IPv4 source, and how many the
/// kernel dropped since the last call (from SO_RXQ_OVFL's running count in
/// `overflowed`).
fn recv_counting_drops(
    socket: &UdpSocket,
    buf: &mut [u8],
    overflowed: &mut u32,
) -> io::Result<(usize, SocketAddrV4, u32)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg};
    let mut control = nix::cmsg_space!(u32);
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let mut dropped = 0;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::RxqOvfl(count) = c {
                dropped = drops_since(count, overflowed);
            }
        }
    }
    let from = msg
        .address
        .map(|a| SocketAddrV4::new(a.ip(), a.port()))
        .ok_or_else(|| io::Error::other("a datagram without a source address"))?;
    Ok((msg.bytes, from, dropped))
}

/// How far the kernel's running drop count `count` is past `overflowed`,
/// which then takes it. A datagram carries the count from when it was
/// queued, so an older one can carry less than already seen: never
/// counted twice, never backwards.
fn drops_since(count: u32, overflowed: &mut u32) -> u32 {
    let ahead = count.wrapping_sub(*overflowed);
    if ahead == 0 || ahead > u32::MAX / 2 {
        return 0;
    }
    *overflowed = count;
    ahead
}

/// The kernel's running count of datagrams dropped on `socket`
/// (SO_MEMINFO's SK_MEMINFO_DROPS: the count SO_RXQ_OVFL reports).
fn socket_drops(socket: &UdpSocket) -> Option<u32> {
    // SK_MEMINFO_VARS and SK_MEMINFO_DROPS, from linux/sock_diag.h.
    let mut info = [0u32; 9];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: a buffer of `len` bytes for the kernel to fill.
    let r = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (r == 0 && len as usize >= std::mem::size_of_val(&info)).then_some(info[8])
}

fn bind_port(config: &NetConfig, port: u16) -> io::Result<(UdpSocket, Option<UdpSocket>)> {
    let iface = config.interface.as_deref();
    let unicast = bind(config.address, port, iface)?;
    let broadcast = if config.broadcast == config.address {
        None
    } else {
        Some(bind(config.broadcast, port, iface)?)
    };
    Ok((unicast, broadcast))
}

fn os_error(e: &io::Error) -> Error {
    Error::Network(e.raw_os_error().unwrap_or(libc::EIO))
}

/// A transaction id nobody on the segment can guess in advance.
fn random_id() -> u16 {
    let mut bytes = [0u8; 2];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into the buffer.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != 2 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        return (nanos ^ (nanos >> 16)) as u16;
    }
    u16::from_ne_bytes(bytes)
}

/// Mailslots that Samba's nmbd serves, or hands on from the 576-byte
/// buffer it reads every datagram into (`source3/nmbd/nmbd_packets.c`,
/// `read_packet` and `process_dgram`): writes to them are held to what
/// it reads, so that none is dropped as "malformed" there.
pub fn samba_mailslot(mailslot: &str) -> bool {
    let m = mailslot.to_ascii_uppercase();
    m.starts_with("\\MAILSLOT\\NET\\") || m == "\\MAILSLOT\\BROWSE" || m == "\\MAILSLOT\\LANMAN"
}

impl Network {
    /// Binds both ports and starts the receiving threads.
    pub fn start(config: NetConfig, core: &Arc<Mailslots>) -> io::Result<Arc<Network>> {
        let invalid = |what: &str, e: wire::WireError| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
        };
        let me = NetbiosName::new(&config.netbios_name, 0x00)
            .map_err(|e| invalid("--netbios-name", e))?;
        NetbiosName::new(&config.workgroup, 0x00).map_err(|e| invalid("--workgroup", e))?;
        let net = Arc::new(Network {
            me,
            dgram: Port::default(),
            names: Port::default(),
            core: Arc::downgrade(core),
            counters: Counters::default(),
            cache: Mutex::new(NameCache::default()),
            pending: Mutex::new(HashMap::new()),
            held: Mutex::new(Vec::new()),
            replies: Mutex::new(None),
            exchanging: Mutex::new(()),
            stopping: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            samba_state: Mutex::new(String::new()),
            config,
        });
        // Binds the ports, or leaves them to nmbd (see `beside`).
        let own_ports = net.take_ports()?;
        log::info!(
            "network on: {} (broadcast {}{}) as {} in workgroup {}, datagrams on port {}, names on port {}{}",
            net.config.address,
            net.config.broadcast,
            net.config
                .interface
                .as_deref()
                .map(|i| format!(", interface {i}"))
                .unwrap_or_default(),
            net.me.name(),
            net.config.workgroup,
            net.config.dgram_port,
            net.config.name_port,
            if own_ports { "" } else { " (held by nmbd)" }
        );
        if own_ports {
            net.start_registering()?;
        } else {
            net.leave_names_to_nmbd();
        }
        Ok(net)
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The attributes of the mount root: the counters, and this host's
    /// names and address, so tools can tell a domain from a computer.
    pub fn attributes(&self) -> Vec<(String, String)> {
        let mut out = self.counters.snapshot();
        for (name, value) in [
            ("netbios_name", self.me.name().to_string()),
            ("workgroup", self.config.workgroup.clone()),
            ("address", self.config.address.to_string()),
            ("samba", self.samba_state.lock().clone()),
            ("names", self.names_status()),
        ] {
            out.push((format!("user.mailslot.net.{name}"), value));
        }
        out
    }

    /// Whether this host has `name`, as a Windows workstation would: see
    /// the module documentation.
    /// A unique name in conflict is another node's, and a scoped name is
    /// another scope's: neither takes datagrams here.
    fn listens_to(&self, name: &NetbiosName) -> bool {
        self.held
            .lock()
            .iter()
            .any(|h| h.name.same_name(name) && h.takes_datagrams())
    }

    fn in_conflict(&self, name: &NetbiosName) -> bool {
        self.held.lock().iter().any(|h| {
            h.name.same_name(name) && matches!(h.state, citizen::NameState::Conflict { .. })
        })
    }

    /// The registered name of this computer that `name` is, if any.
    fn registered(&self, name: &NetbiosName) -> Option<citizen::Held> {
        self.held
            .lock()
            .iter()
            .find(|h| h.name.same_name(name) && h.state == citizen::NameState::Registered)
            .cloned()
    }

    /// The size limit of a write to `mailslot`, to a group or one computer.
    fn limit(&self, group: bool, mailslot: &str) -> SizeLimit {
        if self.config.datagram_limit == DatagramLimit::Samba || samba_mailslot(mailslot) {
            // Stricter than the other two for every name.
            SizeLimit::Samba
        } else if group {
            SizeLimit::Domain
        } else {
            SizeLimit::Protocol
        }
    }

    fn transmit(&self, p: PendingSend, to: Ipv4Addr) {
        let PendingSend {
            msg_type,
            destination,
            mailslot,
            limit,
            data,
            done,
            ..
        } = p;
        let mut dgram = MailslotDatagram::new(
            msg_type,
            self.me.clone(),
            self.config.address,
            destination,
            mailslot,
            data,
        );
        // The port it is sent from (beside nmbd, not 138): answers to the
        // header's port and to the UDP source port both reach this daemon.
        dgram.source_port = self.own_dgram_port();
        dgram.dgm_id = random_id();
        // What this host is, as nmbd says M or H once it has a name server.
        dgram.node_type = self.node_type();
        let result = match dgram.build(limit) {
            Ok(bytes) => self
                .dgram
                .unicast
                .send_to(&bytes, SocketAddrV4::new(to, self.config.dgram_port))
                .map(|_| bump(&self.counters.sent))
                .map_err(|e| {
                    log::warn!("sending to {} {}: {e}", dgram.destination, dgram.mailslot);
                    os_error(&e)
                }),
            Err(e) if e.class() == ErrorClass::TooLarge => {
                log::debug!("write to {} refused: {e}", dgram.destination);
                Err(Error::MessageTooLarge)
            }
            Err(e) => {
                log::debug!("cannot build a datagram for {}: {e}", dgram.mailslot);
                Err(Error::InvalidName)
            }
        };
        done(result);
    }

    /// The address of a computer name, if known without asking.
    fn known_address(&self, key: &NameKey) -> Option<Ipv4Addr> {
        if let Some((_, ip)) = self
            .config
            .hosts
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&key.0))
        {
            return Some(*ip);
        }
        self.cache.lock().get(key)
    }

    /// Asks WINS server number `phase` (unicast), or past the last one
    /// the segment (broadcast), who has `name`.
    fn query(&self, name: &NetbiosName, trn_id: u16, phase: usize) {
        let (packet, to) = match self.config.wins.get(phase) {
            Some(&server) => (registration::unicast_query(trn_id, name), server),
            None => (
                NameQuery::broadcast(trn_id, name.clone()).build(),
                self.config.broadcast,
            ),
        };
        let to = SocketAddrV4::new(to, self.config.name_port);
        if let Err(e) = self.names.unicast.send_to(&packet, to) {
            log::warn!("name query for {name}: {e}");
        }
    }

    fn receive_datagrams(&self, socket: Arc<UdpSocket>, epoch: u64) {
        let mut buf = [0u8; RECV_BUFFER];
        // The socket's own count of drops, as last reported.
        let mut overflowed = 0u32;
        while self.epoch.load(Ordering::Relaxed) == epoch {
            match recv_counting_drops(&socket, &mut buf, &mut overflowed) {
                // A datagram that reached a socket being replaced may be on
                // its way through nmbd as well: the new sockets take over.
                Ok(_) if self.epoch.load(Ordering::Relaxed) != epoch => return,
                Ok((n, from, dropped)) => {
                    self.count_socket_drops(dropped);
                    self.handle_datagram(&buf[..n], from);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    // Drops are otherwise told only with the next datagram:
                    // once the socket is idle, the last burst's are counted
                    // now, not whenever another datagram comes.
                    if let Some(count) = socket_drops(&socket) {
                        self.count_socket_drops(drops_since(count, &mut overflowed));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::error!("datagram socket: {e}");
                    return;
                }
            }
        }
    }

    fn count_socket_drops(&self, dropped: u32) {
        if dropped == 0 {
            return;
        }
        self.counters
            .dropped_socket
            .fetch_add(u64::from(dropped), Ordering::Relaxed);
        crate::ratelimit::log(
            log::Level::Warn,
            "socket overflow",
            "the network",
            format_args!(
                "the kernel dropped {dropped} datagram(s) for a full receive \
                 buffer (user.mailslot.net.dropped_socket)"
            ),
        );
    }

    /// The port this daemon's datagrams leave from.
    fn own_dgram_port(&self) -> u16 {
        self.dgram
            .unicast
            .local_port()
            .unwrap_or(self.config.dgram_port)
    }

    fn handle_datagram(&self, packet: &[u8], from: SocketAddrV4) {
        let c = &self.counters;
        bump(&c.received);
        if *from.ip() == self.config.address && from.port() == self.own_dgram_port() {
            // Our own broadcast, looped back; it was delivered locally when sent.
            bump(&c.dropped_own);
            return;
        }
        let dgram = match MailslotDatagram::parse(packet) {
            Ok(d) => d,
            Err(e) => {
                bump(match e.class() {
                    ErrorClass::Fragment => &c.dropped_fragment,
                    ErrorClass::Foreign | ErrorClass::Negative => &c.dropped_foreign,
                    _ => &c.dropped_malformed,
                });
                log::debug!("datagram from {from} dropped: {e}");
                return;
            }
        };
        if !self.listens_to(&dgram.destination) {
            bump(&c.dropped_not_for_us);
            log::debug!(
                "datagram from {from} for {} {} dropped: not a name of this host",
                dgram.destination,
                dgram.mailslot
            );
            return;
        }
        if SizeLimit::Protocol
            .max_data_len(&dgram.mailslot)
            .is_none_or(|max| dgram.data.len() > max)
        {
            bump(&c.dropped_oversized);
            log::debug!(
                "datagram from {from} for {} dropped: {} bytes is over the protocol's limit",
                dgram.mailslot,
                dgram.data.len()
            );
            return;
        }
        // The sender as the datagram tells it: the UDP source and the
        // NetBIOS source name, neither of them proof (UDP and NetBIOS have
        // no authentication).
        let sender = crate::core::Sender::Network {
            source: from,
            name: dgram.source.to_string(),
        };
        self.deliver(&dgram.mailslot, &dgram.data, &sender);
    }

    /// Queues `data` into the local slot of `mailslot`, as a message from
    /// `sender`; counts and logs what could not be. Whoever sent it, the
    /// slot is reached under the network's rule (other users' rights):
    /// going round through a name gains nobody anything.
    fn deliver(&self, mailslot: &str, data: &[u8], sender: &crate::core::Sender) {
        let c = &self.counters;
        let Ok(path) = wire::mailslot_components(mailslot) else {
            bump(&c.dropped_malformed);
            log::debug!("message from {sender} dropped: bad mailslot name {mailslot:?}");
            return;
        };
        let Some(core) = self.core.upgrade() else {
            return;
        };
        match core.deliver_to_path(&path, data, sender) {
            Ok(()) => bump(&c.delivered),
            Err(e) => {
                bump(match e {
                    Error::MessageTooLarge => &c.dropped_too_large,
                    Error::QueueFull | Error::QuotaExceeded => &c.dropped_queue_full,
                    Error::SourceShareExceeded => &c.dropped_source_share,
                    Error::NotOpenToNetwork => &c.dropped_denied,
                    _ => &c.dropped_no_slot,
                });
                log::debug!("message from {sender} for {mailslot} dropped: {e}");
            }
        }
    }

    /// Answers queries for this computer's name, collects answers to our
    /// own queries, and retries or gives up on the ones still open.
    fn serve_names(&self, socket: Arc<UdpSocket>, broadcast: bool, epoch: u64) {
        let mut buf = [0u8; RECV_BUFFER];
        while self.epoch.load(Ordering::Relaxed) == epoch {
            match socket.recv_from(&mut buf) {
                Ok(_) if self.epoch.load(Ordering::Relaxed) != epoch => return,
                Ok((n, SocketAddr::V4(from))) => {
                    self.handle_name_packet(&buf[..n], from, broadcast)
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::error!("name socket: {e}");
                    return;
                }
            }
            self.retry_resolutions();
        }
    }

    fn handle_name_packet(&self, packet: &[u8], from: SocketAddrV4, broadcast: bool) {
        if let Ok(query) = NameQuery::parse(packet) {
            if from == SocketAddrV4::new(self.config.address, self.config.name_port) {
                return;
            }
            return self.answer_query(&query, from, broadcast);
        }
        if let Ok(request) = NodeStatusRequest::parse(packet) {
            return self.node_status(&request, from);
        }
        if let Ok(request) = NameRequest::parse(packet) {
            return self.name_request(&request, from);
        }
        if let Ok(response) = NameResponse::parse(packet) {
            return self.name_response(response, from);
        }
        if self.wins_answer(packet, from) {
            return;
        }
        let Ok(response) = NameQueryResponse::parse(packet) else {
            return;
        };
        if response.name.is_scoped() {
            bump(&self.counters.name_answers_ignored);
            return;
        }
        let key = (
            response.name.name().to_ascii_uppercase(),
            response.name.suffix(),
        );
        // Answers to a broadcast query come back addressed to the asker,
        // from the owner, who gives its own address.
        let from_owner = !broadcast
            && response
                .addresses
                .iter()
                .any(|a| !a.group && a.ip == *from.ip());
        let resolution = {
            let mut pending = self.pending.lock();
            match pending.get(&key) {
                Some(r)
                    if r.trn_id == response.trn_id
                        && from_owner
                        && r.phase >= self.config.wins.len() =>
                {
                    pending.remove(&key)
                }
                _ => None,
            }
        };
        let Some(resolution) = resolution else {
            bump(&self.counters.name_answers_ignored);
            log::trace!(
                "name query response for {} from {from} ignored: no such query open, or not from the owner",
                response.name
            );
            return;
        };
        let ttl = Duration::from_secs(u64::from(response.ttl));
        self.resolved(key, *from.ip(), ttl, resolution);
    }

    /// Answers a query for a registered name of this computer, unique or a
    /// group it is a member of (so workgroup listings find it, as nmbd
    /// answers), with the TTL it holds the name for. A unicast query for
    /// any other name gets "no such name" (RCODE 3) at once, as from nmbd;
    /// a broadcast one gets nothing, as on any segment.
    fn answer_query(&self, query: &NameQuery, from: SocketAddrV4, broadcast: bool) {
        let Some(held) = self.registered(&query.name) else {
            if !broadcast && !query.broadcast && !query.name.is_scoped() {
                let bytes = registration::negative_query_response(
                    query.trn_id,
                    &query.name,
                    registration::RCODE_NAME_ERROR,
                );
                if self.names.unicast.send_to(&bytes, from).is_ok() {
                    bump(&self.counters.name_queries_refused);
                }
            }
            return;
        };
        let answer = NameQueryResponse::answer(
            query,
            held.ttl,
            vec![NbAddress {
                ip: self.config.address,
                group: held.group,
                node_type: self.node_type(),
            }],
        );
        if let Ok(bytes) = answer.build()
            && self.names.unicast.send_to(&bytes, from).is_ok()
        {
            bump(&self.counters.name_queries_answered);
        }
    }

    fn resolved(&self, key: NameKey, ip: Ipv4Addr, ttl: Duration, resolution: Resolution) {
        self.cache.lock().insert(key, ip, ttl.min(MAX_CACHE));
        for send in resolution.sends {
            self.transmit(send, ip);
        }
    }

    /// An answer from the WINS server being asked: the owner's address, or
    /// "no such name", which moves the query on to the next server or the
    /// segment at once. Whether `packet` was such an answer.
    fn wins_answer(&self, packet: &[u8], from: SocketAddrV4) -> bool {
        if self.config.wins.is_empty() {
            return false;
        }
        let Ok(answer) = QueryAnswer::parse(packet) else {
            return false;
        };
        let mut pending = self.pending.lock();
        let Some(key) = pending
            .iter()
            .find(|(k, r)| {
                r.trn_id == answer.trn_id
                    && self.config.wins.get(r.phase) == Some(from.ip())
                    && answer.name.as_ref().is_none_or(|n| {
                        !n.is_scoped() && n.suffix() == k.1 && n.name().eq_ignore_ascii_case(&k.0)
                    })
            })
            .map(|(k, _)| k.clone())
        else {
            return false;
        };
        match answer.unique_address {
            Some(ip) if answer.rcode == 0 => {
                let resolution = pending.remove(&key).expect("just found");
                drop(pending);
                let ttl = Duration::from_secs(u64::from(answer.ttl));
                log::debug!(
                    "WINS {} resolved {}<{:02x}> to {ip}",
                    from.ip(),
                    key.0,
                    key.1
                );
                self.resolved(key, ip, ttl, resolution);
            }
            _ => {
                let r = pending.get_mut(&key).expect("just found");
                log::debug!(
                    "WINS {} does not know {}<{:02x}> (rcode {})",
                    from.ip(),
                    key.0,
                    key.1,
                    answer.rcode
                );
                r.next_phase(Instant::now());
                let (trn_id, phase) = (r.trn_id, r.phase);
                drop(pending);
                if let Ok(n) = NetbiosName::new(&key.0, key.1) {
                    self.query(&n, trn_id, phase);
                }
            }
        }
        true
    }

    fn retry_resolutions(&self) {
        let now = Instant::now();
        let mut failed = Vec::new();
        let mut resend = Vec::new();
        {
            let mut pending = self.pending.lock();
            pending.retain(|key, r| {
                if r.next_at > now {
                    return true;
                }
                if r.tries >= QUERY_TRIES {
                    if r.phase >= self.config.wins.len() {
                        failed.push((key.clone(), r.starter, std::mem::take(&mut r.sends)));
                        return false;
                    }
                    // That server is silent: the next one, or the segment.
                    r.next_phase(now);
                } else {
                    r.tries += 1;
                    r.next_at = now + QUERY_INTERVAL;
                }
                resend.push((key.clone(), r.trn_id, r.phase));
                true
            });
        }
        for ((name, suffix), trn_id, phase) in resend {
            if let Ok(n) = NetbiosName::new(&name, suffix) {
                self.query(&n, trn_id, phase);
            }
        }
        for ((name, suffix), starter, sends) in failed {
            bump(&self.counters.resolve_failures);
            crate::ratelimit::log(
                log::Level::Info,
                "name not resolved",
                &starter.to_string(),
                format_args!(
                    "{name}<{suffix:02x}> did not answer a name query; {} write(s) refused (first by {starter})",
                    sends.len()
                ),
            );
            for s in sends {
                (s.done)(Err(Error::HostUnreachable));
            }
        }
    }
}

impl RemoteSender for Network {
    fn max_message_size(&self, target: &RemoteTarget, path: &[String]) -> Result<usize> {
        let mailslot = wire::mailslot_name(path).map_err(|_| Error::InvalidName)?;
        let group = target.kind != TargetKind::Computer;
        self.limit(group, &mailslot)
            .max_data_len(&mailslot)
            .ok_or(Error::InvalidName)
    }

    fn send(
        &self,
        target: &RemoteTarget,
        path: &[String],
        data: Vec<u8>,
        writer: crate::core::Sender,
        done: SendDone,
    ) {
        // Mailslot names compare without case, but Windows clients send them
        // upper-cased, and some receivers match the well-known ones exactly.
        let mailslot = match wire::mailslot_name(path) {
            Ok(m) => m.to_ascii_uppercase(),
            Err(_) => return done(Err(Error::InvalidName)),
        };
        let (name, msg_type) = match target.kind {
            TargetKind::Computer => (target.name.as_str(), MessageType::DirectUnique),
            TargetKind::Domain => (target.name.as_str(), MessageType::DirectGroup),
            TargetKind::PrimaryDomain => (self.config.workgroup.as_str(), MessageType::DirectGroup),
        };
        let destination = match NetbiosName::new(name, target.suffix.unwrap_or(0x00)) {
            Ok(n) => n,
            Err(_) => return done(Err(Error::InvalidName)),
        };
        let group = msg_type == MessageType::DirectGroup;
        let limit = self.limit(group, &mailslot);
        if limit
            .max_data_len(&mailslot)
            .is_none_or(|max| data.len() > max)
        {
            return done(Err(Error::MessageTooLarge));
        }
        let account = crate::core::slot::account_of(&writer);
        let ours = self.listens_to(&destination);
        // A name of this computer in conflict is another node's now: a
        // write to it goes to that node, as on Windows.
        let to_me = !group
            && destination.name().eq_ignore_ascii_case(self.me.name())
            && !self.in_conflict(&destination);
        if ours {
            // Windows delivers a write to this computer, or to a group it
            // is in, to its own slot of that name as well. That copy never
            // crosses the wire, so it is the writer's, not this host's:
            // naming the host would hide the uid behind a datagram.
            let writer = match writer {
                crate::core::Sender::Local { uid, gid, pid, .. } => crate::core::Sender::Local {
                    uid,
                    gid,
                    pid,
                    via: Some(target.component()),
                },
                other => other,
            };
            self.deliver(&mailslot, &data, &writer);
        }
        if to_me {
            if !ours {
                bump(&self.counters.dropped_not_for_us);
                log::debug!("write to {destination}: not a name of this host");
            }
            return done(Ok(()));
        }
        let send = PendingSend {
            msg_type,
            destination,
            mailslot,
            limit,
            data,
            done,
            writer: account,
            _charge: None,
        };
        if group {
            return self.transmit(send, self.config.broadcast);
        }
        let key = (
            send.destination.name().to_ascii_uppercase(),
            send.destination.suffix(),
        );
        if let Some(ip) = self.known_address(&key) {
            return self.transmit(send, ip);
        }
        // Ask the segment; the writer's reply waits until the answer (or
        // the last retry) comes, without holding a FUSE thread.
        let Some(core) = self.core.upgrade() else {
            return (send.done)(Err(Error::ShuttingDown));
        };
        let quotas = core.quotas().clone();
        let mut send = send;
        let who = send.writer;
        if let Err(e) = quotas.charge(who, Resource::Resolutions, 1) {
            return (send.done)(Err(e));
        }
        send._charge = Some(Uncharge {
            quotas: quotas.clone(),
            who,
            what: Resource::Resolutions,
        });
        let first_query = {
            let mut pending = self.pending.lock();
            let fresh = !pending.contains_key(&key);
            let room = if quotas.privileged(who) {
                MAX_PENDING_NAMES
            } else {
                MAX_PENDING_NAMES - RESERVED_NAMES
            };
            if fresh && pending.len() >= room {
                drop(pending);
                crate::ratelimit::log(
                    log::Level::Info,
                    "resolver full",
                    &who.to_string(),
                    format_args!(
                        "{} names are being resolved; a write of {who} to {} refused with ENOSPC",
                        pending_len(&self.pending),
                        send.destination
                    ),
                );
                return (send.done)(Err(Error::ResolverBusy));
            }
            let r = pending.entry(key).or_insert_with(|| Resolution {
                trn_id: random_id(),
                phase: 0,
                tries: 1,
                next_at: Instant::now() + QUERY_INTERVAL,
                sends: Vec::new(),
                starter: who,
            });
            let name = send.destination.clone();
            r.sends.push(send);
            fresh.then_some((name, r.trn_id))
        };
        if let Some((name, trn_id)) = first_query {
            self.query(&name, trn_id, 0);
        }
    }
}

fn pending_len(pending: &Mutex<HashMap<NameKey, Resolution>>) -> usize {
    pending.lock().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_bounded_and_keeps_what_is_used() {
        let mut cache = NameCache::default();
        let ip = Ipv4Addr::new(198, 18, 0, 9);
        let ttl = Duration::from_secs(60);
        cache.insert(("KEEP".into(), 0), ip, ttl);
        for i in 0..10 * NAME_CACHE_CAPACITY {
            cache.insert((format!("N{i}"), 0), ip, ttl);
            assert_eq!(cache.get(&("KEEP".into(), 0)), Some(ip), "after {i}");
        }
        assert_eq!(cache.entries.len(), NAME_CACHE_CAPACITY);
        cache.insert(("GONE".into(), 0), ip, Duration::ZERO);
        assert_eq!(cache.get(&("GONE".into(), 0)), None);
    }

    #[test]
    fn socket_drops_are_counted_once_and_never_backwards() {
        let mut seen = 0;
        assert_eq!(drops_since(0, &mut seen), 0);
        assert_eq!(drops_since(5, &mut seen), 5);
        // An older datagram queued before those drops.
        assert_eq!(drops_since(3, &mut seen), 0);
        assert_eq!(drops_since(5, &mut seen), 0);
        assert_eq!(drops_since(9, &mut seen), 4);
        let mut seen = u32::MAX - 1;
        assert_eq!(drops_since(2, &mut seen), 4, "the count wraps");
    }

    #[test]
    fn samba_served_mailslots() {
        for m in [
            "\\MAILSLOT\\NET\\NETLOGON",
            "\\mailslot\\net\\GetDC12",
            "\\MAILSLOT\\BROWSE",
            "\\MAILSLOT\\LANMAN",
        ] {
            assert!(samba_mailslot(m), "{m}");
        }
        assert!(!samba_mailslot("\\MAILSLOT\\CHAT"));
        assert!(!samba_mailslot("\\MAILSLOT\\NETLOGON"));
        // 576 − 82 (datagram header and names) − 92 (SMB part up to the data).
        assert_eq!(
            SizeLimit::Samba.max_data_len("\\MAILSLOT\\NET\\NETLOGON"),
            Some(402)
        );
    }
}
