//! Who sent a message. No peer tells a mailslot server who wrote to it
//! (Windows does not either), so mailslotfs remembers it per message: for a
//! local writer its uid, gid and thread id as the kernel reported them with
//! the write; for a datagram its source address and port and the NetBIOS
//! name it came from.
//!
//! Every queued message carries 12 bytes of sender. A local sender fits in
//! them; a network sender is kept once in a table shared by the mount and
//! counted by the messages that name it, and the message carries its number.
//! The table holds no more origins than there are queued network messages,
//! so it is bounded by the same byte limits as the queues.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddrV4;

use parking_lot::Mutex;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sender {
    /// A process on this machine, through the mount.
    Local {
        uid: u32,
        gid: u32,
        /// The writing thread's id in the daemon's PID namespace (the
        /// process id of a single-threaded writer); 0 when the writer is in
        /// a PID namespace the daemon cannot see.
        pid: u32,
    },
    /// A datagram from the network.
    Network {
        source: SocketAddrV4,
        /// The datagram's NetBIOS source name, as `NAME<xx>`.
        name: String,
    },
}

impl fmt::Display for Sender {
    /// The form `user.mailslot.next_sender` shows: `local uid=U gid=G
    /// pid=P` or `network address=A:P name=NAME<xx>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sender::Local { uid, gid, pid } => write!(f, "local uid={uid} gid={gid} pid={pid}"),
            Sender::Network { source, name } => write!(f, "network address={source} name={name}"),
        }
    }
}

/// A sender as a queued message stores it.
pub type SenderCode = [u8; 12];

/// The network origins named by queued messages.
#[derive(Default)]
pub struct Origins {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    by_origin: HashMap<(SocketAddrV4, String), u32>,
    by_id: HashMap<u32, Entry>,
    next_id: u32,
}

struct Entry {
    source: SocketAddrV4,
    name: String,
    messages: usize,
}

impl Origins {
    /// The code a message stores for `sender`; a network sender is counted
    /// once more in the table (undone by [`Origins::release`]). Returns
    /// whether the code names a network origin.
    pub fn encode(&self, sender: &Sender) -> (SenderCode, bool) {
        let mut code = [0u8; 12];
        match sender {
            Sender::Local { uid, gid, pid } => {
                code[0..4].copy_from_slice(&uid.to_ne_bytes());
                code[4..8].copy_from_slice(&gid.to_ne_bytes());
                code[8..12].copy_from_slice(&pid.to_ne_bytes());
                (code, false)
            }
            Sender::Network { source, name } => {
                let mut t = self.table.lock();
                let key = (*source, name.clone());
                let id = match t.by_origin.get(&key) {
                    Some(&id) => id,
                    None => {
                        let mut id = t.next_id;
                        while t.by_id.contains_key(&id) {
                            id = id.wrapping_add(1);
                        }
                        t.next_id = id.wrapping_add(1);
                        t.by_origin.insert(key, id);
                        t.by_id.insert(
                            id,
                            Entry {
                                source: *source,
                                name: name.clone(),
                                messages: 0,
                            },
                        );
                        id
                    }
                };
                t.by_id.get_mut(&id).expect("just found").messages += 1;
                code[0..4].copy_from_slice(&id.to_ne_bytes());
                (code, true)
            }
        }
    }

    pub fn decode(&self, code: &SenderCode, network: bool) -> Option<Sender> {
        let word = |i: usize| u32::from_ne_bytes(code[i..i + 4].try_into().expect("4 bytes"));
        if !network {
            return Some(Sender::Local {
                uid: word(0),
                gid: word(4),
                pid: word(8),
            });
        }
        let t = self.table.lock();
        t.by_id.get(&word(0)).map(|e| Sender::Network {
            source: e.source,
            name: e.name.clone(),
        })
    }

    /// A message naming a network origin left its queue.
    pub fn release(&self, code: &SenderCode) {
        let id = u32::from_ne_bytes(code[0..4].try_into().expect("4 bytes"));
        let mut t = self.table.lock();
        let gone = match t.by_id.get_mut(&id) {
            Some(e) => {
                e.messages -= 1;
                e.messages == 0
            }
            None => false,
        };
        if gone && let Some(e) = t.by_id.remove(&id) {
            t.by_origin.remove(&(e.source, e.name));
        }
    }

    /// Origins still named by a queued message (for tests).
    pub fn len(&self) -> usize {
        self.table.lock().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_senders_need_no_table() {
        let o = Origins::default();
        let s = Sender::Local {
            uid: 1000,
            gid: 100,
            pid: 4242,
        };
        let (code, network) = o.encode(&s);
        assert!(!network && o.is_empty());
        assert_eq!(o.decode(&code, network), Some(s.clone()));
        assert_eq!(s.to_string(), "local uid=1000 gid=100 pid=4242");
    }

    #[test]
    fn network_origins_live_as_long_as_their_messages() {
        let o = Origins::default();
        let a = Sender::Network {
            source: "198.18.0.2:138".parse().unwrap(),
            name: "HOSTA<00>".into(),
        };
        let (c1, _) = o.encode(&a);
        let (c2, net) = o.encode(&a);
        assert!(net);
        assert_eq!(c1, c2);
        assert_eq!(o.len(), 1);
        assert_eq!(o.decode(&c1, true), Some(a.clone()));
        assert_eq!(
            a.to_string(),
            "network address=198.18.0.2:138 name=HOSTA<00>"
        );
        o.release(&c1);
        assert_eq!(o.len(), 1);
        o.release(&c2);
        assert!(o.is_empty());
        assert_eq!(o.decode(&c1, true), None);
    }
}
