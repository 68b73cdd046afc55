//! This computer's names on the segment and at WINS: registration after
//! the mount is up, defence, node status, refresh, release at stop
//! (RFC 1002 §4.2.2–4.2.6 and §5.1.1–5.1.2; Windows' H node when WINS
//! servers are given, its B node otherwise). See docs/network.md, "Names".
//!
//! Nothing here can keep the mount from starting or stopping: names are
//! registered by a thread of their own while the mount already serves, a
//! name another node holds is put in conflict (not answered, takes no
//! datagrams) and tried again later, and every exchange has a hard end.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use super::{Network, bump, random_id};
use crate::net::names::{NbAddress, NetbiosName, NodeType};
use crate::net::registration::{
    NameRequest, NameResponse, NodeStatusRequest, NodeStatusResponse, Operation, RCODE_ACTIVE,
    StatusName,
};

/// A B node asks three times, 250 ms apart (RFC 1002's
/// BCAST_REQ_RETRY_COUNT and BCAST_REQ_RETRY_TIMEOUT).
const BCAST_TRIES: u32 = 3;
const BCAST_INTERVAL: Duration = Duration::from_millis(250);
/// A name server is asked three times, a second apart.
const UCAST_TRIES: u32 = 3;
const UCAST_INTERVAL: Duration = Duration::from_secs(1);
/// The longest one exchange with a name server may be drawn out by its
/// WACKs, however many it sends: a WACK extends the wait, never past this
/// after the exchange began (on top of its own tries).
pub const MAX_WACK: Duration = Duration::from_secs(30);
/// A refresh that got no answer is tried again this soon.
const REFRESH_RETRY: Duration = Duration::from_secs(30);
/// A name in conflict is registered again this long after (Windows keeps
/// it in conflict until `nbtstat -RR`; mailslotfs has no such command, so
/// it tries again by itself: a forged refusal heals, a real owner keeps
/// the name).
pub const CONFLICT_RETRY: Duration = Duration::from_secs(300);
/// Exchanges look at `stopping` this often, so a stop never waits on one.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// Where one of this computer's names stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NameState {
    /// Being registered: takes datagrams, not yet answered for.
    Registering,
    /// Registered: answered for, defended (unique names), takes datagrams.
    Registered,
    /// Held by nmbd beside this daemon (docs/network.md, "On a Samba
    /// host"): takes datagrams, which nmbd passes on; this daemon neither
    /// answers for it, defends, refreshes nor releases it.
    Nmbd,
    /// Another node holds it (a unique name), or the group was refused:
    /// `holder` says who, as the answer gave it. A unique name in conflict
    /// is neither answered nor defended and takes no datagrams.
    Conflict {
        holder: String,
        rcode: u8,
        retry_at: Instant,
    },
}

/// One of this computer's names.
#[derive(Debug, Clone)]
pub(super) struct Held {
    pub name: NetbiosName,
    pub group: bool,
    pub state: NameState,
    /// The WINS server that registered it; `None`: held on the segment.
    pub server: Option<Ipv4Addr>,
    /// When to refresh it at the server.
    pub refresh_at: Option<Instant>,
    /// The TTL it is held for: what WINS granted, or what this host
    /// claims on the segment. Name query answers carry it.
    pub ttl: u32,
}

impl Held {
    /// Whether the name may take mailslot datagrams: anything but a unique
    /// name in conflict.
    pub fn takes_datagrams(&self) -> bool {
        self.group || !matches!(self.state, NameState::Conflict { .. })
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// A positive answer, with the TTL granted.
    Granted(u32),
    /// A negative answer: RCODE, who sent it, and the owner's address the
    /// answer gives, when it gives one.
    Refused(u8, Ipv4Addr, Option<Ipv4Addr>),
    /// No answer at all (for a broadcast registration: nobody objects).
    Silent,
}

/// A registration, refresh or release waiting for its answer.
struct Asking {
    request: NameRequest,
    to: Ipv4Addr,
    outcome: Option<Outcome>,
}

impl Network {
    pub(super) fn node_type(&self) -> NodeType {
        if self.config.wins.is_empty() {
            NodeType::B
        } else {
            NodeType::H
        }
    }

    fn my_address(&self, group: bool) -> NbAddress {
        NbAddress {
            ip: self.config.address,
            group,
            node_type: self.node_type(),
        }
    }

    /// The names a Windows workstation registers: its own `<00>`, `<03>`
    /// and `<20>`, and its workgroup's `<00>` and `<1E>` groups.
    fn own_names(&self) -> Vec<(NetbiosName, bool)> {
        let mut names = Vec::new();
        for suffix in super::OWN_NAME_TYPES {
            if let Ok(n) = NetbiosName::new(self.me.name(), suffix) {
                names.push((n, false));
            }
        }
        for suffix in super::WORKGROUP_NAME_TYPES {
            if let Ok(n) = NetbiosName::new(&self.config.workgroup, suffix) {
                names.push((n, true));
            }
        }
        names
    }

    /// Sends each request to its address (`to`, port 137) and collects the
    /// answers: a broadcast request may be answered by anyone, a unicast
    /// one only by the address it went to; every answer must carry the
    /// request's transaction id and name. A WACK extends the wait of a
    /// unicast request, up to [`MAX_WACK`] after the exchange began; a WACK
    /// to a broadcast request is ignored (only a name server sends WACKs,
    /// and a broadcast goes to no name server). With `abortable`, a stop
    /// ends the exchange at once, its open requests silent.
    fn exchange(
        &self,
        mut asking: Vec<Asking>,
        tries: u32,
        interval: Duration,
        abortable: bool,
    ) -> Vec<Asking> {
        let _one_at_a_time = self.exchanging.lock();
        let (tx, rx) = mpsc::channel::<(NameResponse, SocketAddrV4)>();
        *self.replies.lock() = Some(tx);
        let hard_end = Instant::now() + interval * tries + MAX_WACK;
        let mut waiting_for_wack: Vec<bool> = vec![false; asking.len()];
        'tries: for _ in 0..tries {
            for (a, &wack) in asking.iter().zip(&waiting_for_wack) {
                if a.outcome.is_none() && !wack {
                    let to = SocketAddrV4::new(a.to, self.config.name_port);
                    if let Err(e) = self.names.unicast.send_to(&a.request.build(), to) {
                        log::warn!("name {} to {to}: {e}", a.request.name);
                    }
                }
            }
            let mut deadline = Instant::now() + interval;
            while asking.iter().any(|a| a.outcome.is_none()) {
                let now = Instant::now();
                if abortable && self.stopping.load(Ordering::Relaxed) {
                    break 'tries;
                }
                if now >= deadline.min(hard_end) {
                    break;
                }
                let slice = (deadline.min(hard_end) - now).min(STOP_CHECK);
                let Ok((resp, from)) = rx.recv_timeout(slice) else {
                    continue;
                };
                let Some(i) = asking.iter().position(|a| {
                    a.outcome.is_none()
                        && a.request.trn_id == resp.trn_id
                        && a.request.name.same_name(&resp.name)
                        && (a.to == self.config.broadcast || a.to == *from.ip())
                        && *from.ip() != self.config.address
                }) else {
                    bump(&self.counters.name_answers_ignored);
                    log::debug!(
                        "an answer about {} from {from} ignored: it answers no request of ours",
                        resp.name
                    );
                    continue;
                };
                if resp.is_wack() {
                    if asking[i].request.broadcast {
                        bump(&self.counters.name_answers_ignored);
                        log::debug!(
                            "a WACK about {} from {from} ignored: a broadcast registration has no name server to wait for",
                            resp.name
                        );
                        continue;
                    }
                    let wait = Duration::from_secs(u64::from(resp.ttl)).min(MAX_WACK);
                    log::debug!("{from} asks to wait {wait:?} for {}", resp.name);
                    waiting_for_wack[i] = true;
                    deadline = deadline.max(Instant::now() + wait).min(hard_end);
                    continue;
                }
                asking[i].outcome = Some(if resp.rcode == 0 {
                    Outcome::Granted(resp.ttl)
                } else {
                    Outcome::Refused(resp.rcode, *from.ip(), resp.address.map(|a| a.ip))
                });
            }
            if asking.iter().all(|a| a.outcome.is_some()) || Instant::now() >= hard_end {
                break;
            }
        }
        *self.replies.lock() = None;
        for a in &mut asking {
            a.outcome.get_or_insert(Outcome::Silent);
        }
        asking
    }

    fn request(
        &self,
        operation: Operation,
        name: &NetbiosName,
        group: bool,
        to: Ipv4Addr,
    ) -> Asking {
        Asking {
            request: NameRequest {
                trn_id: random_id(),
                operation,
                name: name.clone(),
                broadcast: to == self.config.broadcast,
                ttl: if operation == Operation::Release {
                    0
                } else {
                    self.config.name_ttl
                },
                address: self.my_address(group),
            },
            to,
            outcome: None,
        }
    }

    /// This computer's names, all in `state`: what the network side
    /// starts with.
    fn initial_names(&self, state: NameState) -> Vec<Held> {
        self.own_names()
            .into_iter()
            .map(|(name, group)| Held {
                name,
                group,
                state: state.clone(),
                server: None,
                refresh_at: None,
                ttl: self.config.name_ttl,
            })
            .collect()
    }

    /// Starts registering this computer's names on a thread of its own:
    /// the mount already serves, and no host on the segment can hold its
    /// start (see docs/network.md).
    pub(super) fn start_registering(self: &Arc<Self>) -> std::io::Result<()> {
        *self.held.lock() = self.initial_names(NameState::Registering);
        let keeper = self.clone();
        std::thread::Builder::new()
            .name("mailslot-register".into())
            .spawn(move || keeper.keep_names())
            .map(drop)
    }

    /// Beside nmbd: the names are nmbd's to hold and answer for; they only
    /// take the datagrams nmbd passes on. Dropped without a release (a
    /// release would take them from nmbd at WINS and on the segment).
    pub(super) fn leave_names_to_nmbd(&self) {
        *self.held.lock() = self.initial_names(NameState::Nmbd);
    }

    /// Registers the names, then keeps them: refreshes at WINS, and tries
    /// names in conflict again. Runs on a thread of its own, started with
    /// the network side; it ends when nothing is left to do, or at a stop.
    pub(super) fn keep_names(&self) {
        let all: Vec<(NetbiosName, bool)> = self.own_names();
        self.register(all);
        loop {
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            let next = self
                .held
                .lock()
                .iter()
                .filter_map(|h| match &h.state {
                    NameState::Conflict { retry_at, .. } => Some(*retry_at),
                    _ => h.refresh_at,
                })
                .min();
            let Some(next) = next else {
                return;
            };
            let now = Instant::now();
            if next > now {
                std::thread::park_timeout((next - now).min(Duration::from_secs(1)));
                continue;
            }
            let retry: Vec<(NetbiosName, bool)> = self
                .held
                .lock()
                .iter()
                .filter(|h| {
                    matches!(&h.state, NameState::Conflict { retry_at, .. } if *retry_at <= now)
                })
                .map(|h| (h.name.clone(), h.group))
                .collect();
            if !retry.is_empty() {
                log::info!("registering {} name(s) in conflict again", retry.len());
                self.register(retry);
            }
            self.refresh_due(now);
        }
    }

    /// Registers `names`: with the WINS servers in order when given (an H
    /// node), on the segment for what no server answered (or with no
    /// servers: a B node). Each name ends registered or in conflict.
    fn register(&self, names: Vec<(NetbiosName, bool)>) {
        let mut open = names;
        for (n, _) in &open {
            self.set_state(n, NameState::Registering, None, None, self.config.name_ttl);
        }
        for &server in &self.config.wins {
            if open.is_empty() {
                return;
            }
            let asking = open
                .iter()
                .map(|(n, g)| self.request(Operation::Register, n, *g, server))
                .collect();
            let asked = self.exchange(asking, UCAST_TRIES, UCAST_INTERVAL, true);
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            self.settle(asked, Some(server), &mut open);
            if !open.is_empty() {
                log::warn!("WINS {server} did not answer for {} name(s)", open.len());
            }
        }
        if !open.is_empty() {
            let asking = open
                .iter()
                .map(|(n, g)| self.request(Operation::Register, n, *g, self.config.broadcast))
                .collect();
            let asked = self.exchange(asking, BCAST_TRIES, BCAST_INTERVAL, true);
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            self.settle(asked, None, &mut open);
        }
    }

    /// Records how each registration ended; a name no server answered for
    /// stays in `open` for the next server or the segment.
    fn settle(
        &self,
        asked: Vec<Asking>,
        server: Option<Ipv4Addr>,
        open: &mut Vec<(NetbiosName, bool)>,
    ) {
        for a in asked {
            let name = a.request.name.clone();
            let group = a.request.address.group;
            let outcome = a.outcome.unwrap_or(Outcome::Silent);
            if outcome == Outcome::Silent && server.is_some() {
                continue;
            }
            open.retain(|(n, _)| *n != name);
            match (outcome, server) {
                (Outcome::Refused(rcode, by, owner), _) => {
                    let holder = holder(by, owner, server, self.config.address);
                    if group {
                        log::warn!(
                            "group name {name} refused: {holder} (rcode {rcode}); this host stays a member (the workgroup's writes arrive by broadcast) but does not answer for it; trying again in {} s",
                            CONFLICT_RETRY.as_secs()
                        );
                    } else {
                        bump(&self.counters.name_conflicts);
                        log::error!(
                            "NetBIOS name conflict: {name} {holder} (rcode {rcode}); the name is neither answered nor takes datagrams; local slots and the other names go on; trying again in {} s (or choose another --netbios-name)",
                            CONFLICT_RETRY.as_secs()
                        );
                    }
                    let state = NameState::Conflict {
                        holder,
                        rcode,
                        retry_at: Instant::now() + CONFLICT_RETRY,
                    };
                    self.set_state(&name, state, None, None, self.config.name_ttl);
                }
                (Outcome::Granted(ttl), Some(s)) => {
                    log::info!("registered {name} with WINS {s} for {ttl} s");
                    bump(&self.counters.names_registered);
                    self.set_state(
                        &name,
                        NameState::Registered,
                        Some(s),
                        refresh_time(ttl),
                        ttl,
                    );
                }
                // Only a server refreshes: a positive answer to a broadcast
                // (no one sends one but a forger) must not leave a name due
                // for ever.
                (outcome @ (Outcome::Granted(_) | Outcome::Silent), _) => {
                    let how = if outcome == Outcome::Silent {
                        "nobody objected"
                    } else {
                        "a positive answer, taken as no objection"
                    };
                    log::info!("registered {name} on the segment ({how})");
                    bump(&self.counters.names_registered);
                    self.set_state(
                        &name,
                        NameState::Registered,
                        None,
                        None,
                        self.config.name_ttl,
                    );
                }
            }
        }
    }

    fn set_state(
        &self,
        name: &NetbiosName,
        state: NameState,
        server: Option<Ipv4Addr>,
        refresh_at: Option<Instant>,
        ttl: u32,
    ) {
        // A registration still under way when nmbd took the names over
        // leaves them to nmbd.
        if let Some(h) = self
            .held
            .lock()
            .iter_mut()
            .find(|h| h.name == *name && h.state != NameState::Nmbd)
        {
            h.state = state;
            h.server = server;
            h.refresh_at = refresh_at;
            h.ttl = ttl;
        }
    }

    /// Refreshes each WINS-held name due by `now` (at half the TTL it was
    /// granted).
    fn refresh_due(&self, now: Instant) {
        let due: Vec<Held> = self
            .held
            .lock()
            .iter()
            .filter(|h| h.state == NameState::Registered && h.refresh_at.is_some_and(|t| t <= now))
            .cloned()
            .collect();
        if due.is_empty() {
            return;
        }
        let asking = due
            .iter()
            .filter_map(|h| {
                let server = h.server?;
                Some(self.request(Operation::Refresh, &h.name, h.group, server))
            })
            .collect();
        let asked = self.exchange(asking, UCAST_TRIES, UCAST_INTERVAL, true);
        if self.stopping.load(Ordering::Relaxed) {
            return;
        }
        let mut held = self.held.lock();
        for a in asked {
            let Some(h) = held.iter_mut().find(|h| h.name == a.request.name) else {
                continue;
            };
            match a.outcome.unwrap_or(Outcome::Silent) {
                Outcome::Granted(ttl) => {
                    bump(&self.counters.name_refreshes);
                    log::debug!("refreshed {} for {ttl} s", h.name);
                    h.refresh_at = refresh_time(ttl);
                    h.ttl = ttl;
                }
                Outcome::Refused(rcode, by, _) => {
                    log::error!(
                        "WINS {by} refused to refresh {} (rcode {rcode}): the name is no longer ours there",
                        h.name
                    );
                    h.refresh_at = None;
                }
                Outcome::Silent => {
                    log::warn!(
                        "WINS {} did not answer the refresh of {}; trying again in {REFRESH_RETRY:?}",
                        a.to,
                        h.name
                    );
                    h.refresh_at = Some(Instant::now() + REFRESH_RETRY);
                }
            }
        }
    }

    /// `user.mailslot.net.names`: one line per name of this computer,
    /// `NAME<xx> unique|group STATE` and what the state says.
    pub(super) fn names_status(&self) -> String {
        let now = Instant::now();
        let mut out = String::new();
        for h in self.held.lock().iter() {
            let kind = if h.group { "group" } else { "unique" };
            let state = match &h.state {
                NameState::Registering => "registering".to_string(),
                NameState::Nmbd => "held by nmbd on this host".to_string(),
                NameState::Registered => match h.server {
                    Some(s) => format!("registered with WINS {s} ttl {}", h.ttl),
                    None => format!("registered on the segment ttl {}", h.ttl),
                },
                NameState::Conflict {
                    holder,
                    rcode,
                    retry_at,
                } => format!(
                    "conflict: {holder} (rcode {rcode}); retry in {} s",
                    retry_at.saturating_duration_since(now).as_secs()
                ),
            };
            out.push_str(&format!("{} {kind} {state}\n", h.name));
        }
        out
    }

    /// Gives the names back: to the WINS server that holds each, and on
    /// the segment for the others. Called once, at a clean stop.
    pub fn release_names(&self) {
        if self.stopping.swap(true, Ordering::Relaxed) {
            return;
        }
        // Only what was registered is given back: a name in conflict is
        // another node's, and one still being registered was never ours.
        let held: Vec<Held> = std::mem::take(&mut *self.held.lock())
            .into_iter()
            .filter(|h| h.state == NameState::Registered)
            .collect();
        let (at_wins, on_segment): (Vec<_>, Vec<_>) = held.iter().partition(|h| h.server.is_some());
        if !at_wins.is_empty() {
            let asking = at_wins
                .iter()
                .filter_map(|h| Some(self.request(Operation::Release, &h.name, h.group, h.server?)))
                .collect();
            for a in self.exchange(asking, 1, UCAST_INTERVAL, false) {
                log::debug!(
                    "released {} at WINS {}: {:?}",
                    a.request.name,
                    a.to,
                    a.outcome
                );
            }
        }
        if !on_segment.is_empty() {
            // Nobody answers a broadcast release; it is sent once.
            let asking = on_segment
                .iter()
                .map(|h| self.request(Operation::Release, &h.name, h.group, self.config.broadcast))
                .collect();
            self.exchange(asking, 1, Duration::ZERO, false);
        }
        if !held.is_empty() {
            log::info!("released {} NetBIOS name(s)", held.len());
        }
    }

    /// Hands an answer to a registration, refresh or release to the
    /// exchange waiting for it.
    pub(super) fn name_response(&self, response: NameResponse, from: SocketAddrV4) {
        match &*self.replies.lock() {
            Some(tx) => {
                let _ = tx.send((response, from));
            }
            None => {
                bump(&self.counters.name_answers_ignored);
                log::debug!(
                    "an answer about {} from {from} ignored: no request of ours is open",
                    response.name
                );
            }
        }
    }

    /// Defends a unique name this computer holds against another node's
    /// registration, as a B node does: a negative answer (ACT_ERR) to it.
    pub(super) fn name_request(&self, request: &NameRequest, from: SocketAddrV4) {
        if request.operation != Operation::Register
            || *from.ip() == self.config.address
            || request.address.ip == self.config.address
        {
            return;
        }
        let ours = self.held.lock().iter().any(|h| {
            !h.group && h.state == NameState::Registered && h.name.same_name(&request.name)
        });
        if !ours {
            return;
        }
        let answer = NameResponse::answer(request, RCODE_ACTIVE, self.my_address(false));
        if self.names.unicast.send_to(&answer.build(), from).is_ok() {
            bump(&self.counters.names_defended);
            log::warn!(
                "{} tried to register {}, a name of this computer: defended",
                from.ip(),
                request.name
            );
        }
    }

    /// Answers `nmblookup -A` and `nbtstat -A`: the names this computer
    /// holds, for the wildcard or any of its own names.
    pub(super) fn node_status(&self, request: &NodeStatusRequest, from: SocketAddrV4) {
        let n = request.name.name();
        if request.name.is_scoped() || (n != "*" && !n.eq_ignore_ascii_case(self.me.name())) {
            return;
        }
        let node_type = self.node_type();
        let names = self
            .held
            .lock()
            .iter()
            .filter(|h| h.state == NameState::Registered)
            .map(|h| StatusName {
                name: h.name.clone(),
                group: h.group,
                node_type,
            })
            .collect();
        let response = NodeStatusResponse {
            trn_id: request.trn_id,
            name: request.name.clone(),
            names,
        };
        if self.names.unicast.send_to(&response.build(), from).is_ok() {
            bump(&self.counters.node_status_answered);
        }
    }
}

/// When to refresh a name granted for `ttl` seconds: at half of it; never
/// for a TTL of 0 (infinite).
fn refresh_time(ttl: u32) -> Option<Instant> {
    (ttl > 0).then(|| Instant::now() + Duration::from_secs(u64::from(ttl).div_ceil(2)))
}

/// Who holds a name, as a negative answer from `by` tells it: a defender
/// on the segment answers with its own address; a WINS server answers for
/// the owner, with the owner's address when it gives one (not this
/// host's own, which some servers echo from the request).
fn holder(by: Ipv4Addr, owner: Option<Ipv4Addr>, server: Option<Ipv4Addr>, me: Ipv4Addr) -> String {
    match (server, owner) {
        (None, _) => format!("is held by {by}"),
        (Some(s), Some(o)) if o != me => {
            format!("is held by {o} (says WINS server {s})")
        }
        (Some(s), _) => format!("was refused by WINS server {s}"),
    }
}
