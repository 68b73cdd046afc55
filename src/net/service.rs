//! The network side at run time: the datagram and name sockets, sending
//! client writes to remote targets, delivering received mailslot writes
//! into local slots, and NetBIOS name queries (answering for our own name,
//! asking for others'). Off unless the daemon is given an interface or an
//! address.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::names::{DEFAULT_TTL, NameQuery, NameQueryResponse, NbAddress, NetbiosName, NodeType};
use super::wire::{self, ErrorClass, MailslotDatagram, MessageType, SizeLimit};
use crate::core::{Error, Mailslots, RemoteSender, RemoteTarget, Result, SendDone, TargetKind};

/// Name queries are sent this many times, this far apart, before a
/// computer name counts as unresolvable (RFC 1002's BCAST_REQ_RETRY_COUNT
/// and timeout, shortened: a writer waits for the answer).
const QUERY_TRIES: u32 = 3;
const QUERY_INTERVAL: Duration = Duration::from_millis(250);
/// Resolved names are kept at most this long, whatever TTL the owner gave.
const MAX_CACHE: Duration = Duration::from_secs(600);
/// Larger than any datagram a Windows host sends (594 bytes).
const RECV_BUFFER: usize = 2048;

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
    dropped_not_for_us: "mailslot writes addressed to another name",
    dropped_no_slot: "mailslot writes for a slot that does not exist here",
    dropped_too_large: "mailslot writes larger than the slot's maximum",
    dropped_queue_full: "mailslot writes refused by the slot's or mount's quota",
    name_queries_answered: "name queries for this computer answered",
    resolve_failures: "computer names that did not resolve",
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

type NameKey = (String, u8);

struct PendingSend {
    msg_type: MessageType,
    destination: NetbiosName,
    mailslot: String,
    data: Vec<u8>,
    done: SendDone,
}

struct Resolution {
    trn_id: u16,
    tries: u32,
    next_at: Instant,
    sends: Vec<PendingSend>,
}

pub struct Network {
    config: NetConfig,
    me: NetbiosName,
    dgram: UdpSocket,
    names: UdpSocket,
    core: Weak<Mailslots>,
    counters: Counters,
    cache: Mutex<HashMap<NameKey, (Ipv4Addr, Instant)>>,
    pending: Mutex<HashMap<NameKey, Resolution>>,
    next_id: AtomicU16,
}

fn bind(port: u16, interface: Option<&str>) -> io::Result<UdpSocket> {
    // Broadcasts only reach a socket bound to the wildcard address.
    let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))?;
    socket.set_broadcast(true)?;
    if let Some(iface) = interface {
        let name = std::ffi::OsString::from(iface);
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::BindToDevice, &name)
            .map_err(io::Error::from)?;
    }
    Ok(socket)
}

fn os_error(e: &io::Error) -> Error {
    Error::Network(e.raw_os_error().unwrap_or(libc::EIO))
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
        let dgram = bind(config.dgram_port, config.interface.as_deref())?;
        let names = bind(config.name_port, config.interface.as_deref())?;
        names.set_read_timeout(Some(QUERY_INTERVAL / 2))?;
        let net = Arc::new(Network {
            me,
            dgram,
            names,
            core: Arc::downgrade(core),
            counters: Counters::default(),
            cache: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU16::new(std::process::id() as u16),
            config,
        });
        let receiver = net.clone();
        std::thread::Builder::new()
            .name("mailslot-dgram".into())
            .spawn(move || receiver.receive_datagrams())?;
        let namer = net.clone();
        std::thread::Builder::new()
            .name("mailslot-names".into())
            .spawn(move || namer.serve_names())?;
        log::info!(
            "network on: {} as {} in workgroup {}, datagrams on port {}, names on port {}",
            net.config.address,
            net.me.name(),
            net.config.workgroup,
            net.config.dgram_port,
            net.config.name_port
        );
        Ok(net)
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    fn next_id(&self) -> u16 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn transmit(&self, p: PendingSend, to: Ipv4Addr) {
        let PendingSend {
            msg_type,
            destination,
            mailslot,
            data,
            done,
        } = p;
        let mut dgram = MailslotDatagram::new(
            msg_type,
            self.me.clone(),
            self.config.address,
            destination,
            mailslot,
            data,
        );
        dgram.source_port = self.config.dgram_port;
        dgram.dgm_id = self.next_id();
        let limit = if msg_type == MessageType::DirectGroup {
            SizeLimit::Domain
        } else {
            SizeLimit::Protocol
        };
        let result = match dgram.build(limit) {
            Ok(bytes) => self
                .dgram
                .send_to(&bytes, SocketAddrV4::new(to, self.config.dgram_port))
                .map(|_| bump(&self.counters.sent))
                .map_err(|e| {
                    log::warn!("sending to {} {}: {e}", dgram.destination, dgram.mailslot);
                    os_error(&e)
                }),
            Err(e) if e.class() == ErrorClass::TooLarge => Err(Error::MessageTooLarge),
            Err(e) => {
                log::debug!("cannot build a datagram for {}: {e}", dgram.mailslot);
                Err(Error::InvalidName)
            }
        };
        done(result);
    }

    /// The address of a computer name, if known without asking.
    fn known_address(&self, key: &NameKey) -> Option<Ipv4Addr> {
        if key.0.eq_ignore_ascii_case(self.me.name()) {
            return Some(self.config.address);
        }
        if let Some((_, ip)) = self
            .config
            .hosts
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&key.0))
        {
            return Some(*ip);
        }
        let mut cache = self.cache.lock();
        match cache.get(key) {
            Some((ip, until)) if *until > Instant::now() => Some(*ip),
            Some(_) => {
                cache.remove(key);
                None
            }
            None => None,
        }
    }

    fn query(&self, name: &NetbiosName, trn_id: u16) {
        let packet = NameQuery::broadcast(trn_id, name.clone()).build();
        let to = SocketAddrV4::new(self.config.broadcast, self.config.name_port);
        if let Err(e) = self.names.send_to(&packet, to) {
            log::warn!("name query for {name}: {e}");
        }
    }

    fn receive_datagrams(&self) {
        let mut buf = [0u8; RECV_BUFFER];
        loop {
            match self.dgram.recv_from(&mut buf) {
                Ok((n, from)) => self.handle_datagram(&buf[..n], from),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::error!("datagram socket: {e}");
                    return;
                }
            }
        }
    }

    fn handle_datagram(&self, packet: &[u8], from: SocketAddr) {
        let c = &self.counters;
        bump(&c.received);
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
        let to_us = dgram.msg_type == MessageType::Broadcast
            || dgram
                .destination
                .name()
                .eq_ignore_ascii_case(self.me.name())
            || dgram
                .destination
                .name()
                .eq_ignore_ascii_case(&self.config.workgroup);
        if !to_us {
            bump(&c.dropped_not_for_us);
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
        let Ok(path) = wire::mailslot_components(&dgram.mailslot) else {
            bump(&c.dropped_malformed);
            return;
        };
        let Some(core) = self.core.upgrade() else {
            return;
        };
        // The sender as the packet came, not as its NetBIOS header claims.
        let source = match from {
            SocketAddr::V4(v4) => v4,
            SocketAddr::V6(_) => std::net::SocketAddrV4::new(dgram.source_ip, dgram.source_port),
        };
        let sender = crate::core::Sender::Network {
            source,
            name: dgram.source.to_string(),
        };
        match core.deliver_to_path(&path, &dgram.data, &sender) {
            Ok(()) => bump(&c.delivered),
            Err(e) => {
                bump(match e {
                    Error::MessageTooLarge => &c.dropped_too_large,
                    Error::QueueFull => &c.dropped_queue_full,
                    _ => &c.dropped_no_slot,
                });
                log::debug!("datagram from {from} for {} dropped: {e}", dgram.mailslot);
            }
        }
    }

    /// Answers queries for this computer's name, collects answers to our
    /// own queries, and retries or gives up on the ones still open.
    fn serve_names(&self) {
        let mut buf = [0u8; RECV_BUFFER];
        loop {
            match self.names.recv_from(&mut buf) {
                Ok((n, from)) => self.handle_name_packet(&buf[..n], from),
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

    fn handle_name_packet(&self, packet: &[u8], from: SocketAddr) {
        if let Ok(query) = NameQuery::parse(packet) {
            let ours = query.name.name().eq_ignore_ascii_case(self.me.name())
                && [0x00, 0x03, 0x20].contains(&query.name.suffix());
            if !ours
                || from
                    == SocketAddr::V4(SocketAddrV4::new(
                        self.config.address,
                        self.config.name_port,
                    ))
            {
                return;
            }
            let answer = NameQueryResponse::answer(
                &query,
                DEFAULT_TTL,
                vec![NbAddress {
                    ip: self.config.address,
                    group: false,
                    node_type: NodeType::B,
                }],
            );
            if let Ok(bytes) = answer.build()
                && self.names.send_to(&bytes, from).is_ok()
            {
                bump(&self.counters.name_queries_answered);
            }
            return;
        }
        let Ok(response) = NameQueryResponse::parse(packet) else {
            return;
        };
        let key = (
            response.name.name().to_ascii_uppercase(),
            response.name.suffix(),
        );
        let Some(ip) = response.addresses.iter().find(|a| !a.group).map(|a| a.ip) else {
            return;
        };
        let resolution = {
            let mut pending = self.pending.lock();
            match pending.get(&key) {
                Some(r) if r.trn_id == response.trn_id => pending.remove(&key),
                _ => None,
            }
        };
        let ttl = Duration::from_secs(u64::from(response.ttl)).min(MAX_CACHE);
        self.cache.lock().insert(key, (ip, Instant::now() + ttl));
        for send in resolution.map(|r| r.sends).unwrap_or_default() {
            self.transmit(send, ip);
        }
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
                    failed.push((key.clone(), std::mem::take(&mut r.sends)));
                    return false;
                }
                r.tries += 1;
                r.next_at = now + QUERY_INTERVAL;
                resend.push((key.clone(), r.trn_id));
                true
            });
        }
        for ((name, suffix), trn_id) in resend {
            if let Ok(n) = NetbiosName::new(&name, suffix) {
                self.query(&n, trn_id);
            }
        }
        for ((name, suffix), sends) in failed {
            bump(&self.counters.resolve_failures);
            log::info!(
                "{name}<{suffix:02x}> did not answer a name query; {} write(s) refused",
                sends.len()
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
        let limit = match target.kind {
            TargetKind::Computer => SizeLimit::Protocol,
            TargetKind::Domain | TargetKind::PrimaryDomain => SizeLimit::Domain,
        };
        limit.max_data_len(&mailslot).ok_or(Error::InvalidName)
    }

    fn send(&self, target: &RemoteTarget, path: &[String], data: Vec<u8>, done: SendDone) {
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
        let send = PendingSend {
            msg_type,
            destination,
            mailslot,
            data,
            done,
        };
        if msg_type == MessageType::DirectGroup {
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
        let first_query = {
            let mut pending = self.pending.lock();
            let fresh = !pending.contains_key(&key);
            let trn_id = self.next_id();
            let r = pending.entry(key).or_insert_with(|| Resolution {
                trn_id,
                tries: 1,
                next_at: Instant::now() + QUERY_INTERVAL,
                sends: Vec::new(),
            });
            let name = send.destination.clone();
            r.sends.push(send);
            fresh.then_some((name, r.trn_id))
        };
        if let Some((name, trn_id)) = first_query {
            self.query(&name, trn_id);
        }
    }
}
