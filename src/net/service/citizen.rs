//! This computer's names on the segment and at WINS: registration at
//! start, defence, node status, refresh, release at stop (RFC 1002
//! §4.2.2–4.2.6 and §5.1.1–5.1.2; Windows' H node when WINS servers are
//! given, its B node otherwise). See docs/network.md, "Names".

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
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
/// The longest wait a WACK may ask for, so a hostile server cannot hold
/// the start for long.
const MAX_WACK: Duration = Duration::from_secs(30);
/// A refresh that got no answer is tried again this soon.
const REFRESH_RETRY: Duration = Duration::from_secs(30);

/// A name this computer holds.
#[derive(Debug, Clone)]
pub(super) struct Held {
    pub name: NetbiosName,
    pub group: bool,
    /// The WINS server that registered it; `None`: held on the segment.
    pub server: Option<Ipv4Addr>,
    /// When to refresh it at the server.
    pub refresh_at: Option<Instant>,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// A positive answer, with the TTL granted.
    Granted(u32),
    /// A negative answer: RCODE and who sent it.
    Refused(u8, Ipv4Addr),
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
    /// request's transaction id and name. A WACK extends the wait.
    fn exchange(&self, mut asking: Vec<Asking>, tries: u32, interval: Duration) -> Vec<Asking> {
        let _one_at_a_time = self.exchanging.lock();
        let (tx, rx) = mpsc::channel::<(NameResponse, SocketAddrV4)>();
        *self.replies.lock() = Some(tx);
        let mut waiting_for_wack: Vec<bool> = vec![false; asking.len()];
        for _ in 0..tries {
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
                if now >= deadline {
                    break;
                }
                let Ok((resp, from)) = rx.recv_timeout(deadline - now) else {
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
                    let wait = Duration::from_secs(u64::from(resp.ttl)).min(MAX_WACK);
                    log::debug!("{from} asks to wait {wait:?} for {}", resp.name);
                    waiting_for_wack[i] = true;
                    deadline = deadline.max(Instant::now() + wait);
                    continue;
                }
                asking[i].outcome = Some(if resp.rcode == 0 {
                    Outcome::Granted(resp.ttl)
                } else {
                    Outcome::Refused(resp.rcode, *from.ip())
                });
            }
            if asking.iter().all(|a| a.outcome.is_some()) {
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

    /// Registers this computer's names: with the WINS servers in order when
    /// given (an H node), on the segment for what no server answered (or
    /// with no servers: a B node). A unique name another node holds is an
    /// error, and the network side does not start.
    pub(super) fn register_names(self: &Arc<Self>) -> io::Result<()> {
        let mut open: Vec<(NetbiosName, bool)> = self.own_names();
        let mut held = Vec::new();
        let mut conflicts = Vec::new();
        let mut settle = |asked: Vec<Asking>,
                          server: Option<Ipv4Addr>,
                          open: &mut Vec<(NetbiosName, bool)>| {
            for a in asked {
                let name = a.request.name.clone();
                let group = a.request.address.group;
                let outcome = a.outcome.unwrap_or(Outcome::Silent);
                if outcome == Outcome::Silent && server.is_some() {
                    // Still open: the next server, or the segment, is asked.
                    continue;
                }
                open.retain(|(n, _)| *n != name);
                let refresh_at = match (outcome, server) {
                    (Outcome::Refused(rcode, by), _) if group => {
                        log::warn!(
                            "group name {name} refused by {by} (rcode {rcode}); the workgroup's writes still arrive by broadcast"
                        );
                        continue;
                    }
                    (Outcome::Refused(rcode, by), _) => {
                        conflicts.push(format!(
                            "{name} is held by {by} (negative answer, rcode {rcode})"
                        ));
                        continue;
                    }
                    (Outcome::Granted(ttl), Some(s)) => {
                        log::info!("registered {name} with WINS {s} for {ttl} s");
                        refresh_time(ttl)
                    }
                    // Only a server refreshes: a positive answer to a
                    // broadcast (no one sends one but a forger) must not
                    // leave a name due for ever.
                    (Outcome::Granted(_), None) => {
                        log::info!("registered {name} with the segment");
                        None
                    }
                    (Outcome::Silent, _) => {
                        log::info!("registered {name} on the segment (nobody objected)");
                        None
                    }
                };
                held.push(Held {
                    name,
                    group,
                    server,
                    refresh_at,
                });
            }
        };
        for &server in &self.config.wins {
            if open.is_empty() {
                break;
            }
            let asking = open
                .iter()
                .map(|(n, g)| self.request(Operation::Register, n, *g, server))
                .collect();
            let asked = self.exchange(asking, UCAST_TRIES, UCAST_INTERVAL);
            settle(asked, Some(server), &mut open);
            if !open.is_empty() {
                log::warn!("WINS {server} did not answer for {} name(s)", open.len());
            }
        }
        if !open.is_empty() {
            let asking = open
                .iter()
                .map(|(n, g)| self.request(Operation::Register, n, *g, self.config.broadcast))
                .collect();
            let asked = self.exchange(asking, BCAST_TRIES, BCAST_INTERVAL);
            settle(asked, None, &mut open);
        }
        self.counters
            .names_registered
            .store(held.len() as u64, Ordering::Relaxed);
        let refreshing = held.iter().any(|h| h.refresh_at.is_some());
        *self.held.lock() = held;
        if !conflicts.is_empty() {
            let text = format!(
                "NetBIOS name conflict: {}; choose another --netbios-name",
                conflicts.join("; ")
            );
            log::error!("{text}");
            self.release_names();
            return Err(io::Error::new(io::ErrorKind::AddrInUse, text));
        }
        if refreshing {
            let me = self.clone();
            std::thread::Builder::new()
                .name("mailslot-refresh".into())
                .spawn(move || me.refresh_names())?;
        }
        Ok(())
    }

    /// Refreshes each WINS-held name at half the TTL it was granted.
    fn refresh_names(&self) {
        loop {
            let next = self.held.lock().iter().filter_map(|h| h.refresh_at).min();
            let Some(next) = next else {
                return;
            };
            let now = Instant::now();
            if next > now {
                std::thread::park_timeout(next - now);
                continue;
            }
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            let due: Vec<Held> = self
                .held
                .lock()
                .iter()
                .filter(|h| h.refresh_at.is_some_and(|t| t <= now))
                .cloned()
                .collect();
            let asking = due
                .iter()
                .filter_map(|h| {
                    let server = h.server?;
                    Some(self.request(Operation::Refresh, &h.name, h.group, server))
                })
                .collect();
            let asked = self.exchange(asking, UCAST_TRIES, UCAST_INTERVAL);
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
                    }
                    Outcome::Refused(rcode, by) => {
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
    }

    /// Gives the names back: to the WINS server that holds each, and on
    /// the segment for the others. Called once, at a clean stop.
    pub fn release_names(&self) {
        if self.stopping.swap(true, Ordering::Relaxed) {
            return;
        }
        let held = std::mem::take(&mut *self.held.lock());
        let (at_wins, on_segment): (Vec<_>, Vec<_>) = held.iter().partition(|h| h.server.is_some());
        if !at_wins.is_empty() {
            let asking = at_wins
                .iter()
                .filter_map(|h| Some(self.request(Operation::Release, &h.name, h.group, h.server?)))
                .collect();
            for a in self.exchange(asking, 1, UCAST_INTERVAL) {
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
            self.exchange(asking, 1, Duration::ZERO);
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
        let ours = self
            .held
            .lock()
            .iter()
            .any(|h| !h.group && h.name.same_name(&request.name));
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
        if n != "*" && !n.eq_ignore_ascii_case(self.me.name()) {
            return;
        }
        let node_type = self.node_type();
        let names = self
            .held
            .lock()
            .iter()
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
