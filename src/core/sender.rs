//! Who sent a message. No peer tells a mailslot server who wrote to it
//! (Windows does not either), so mailslotfs remembers it per message: for a
//! local writer its uid, gid and thread id as the kernel reported them with
//! the write (and, when it wrote through this host's own computer or domain
//! name, which name); for a datagram its source address and port and the
//! NetBIOS name it came from.
//!
//! Every queued message carries 12 bytes of sender. A plain local sender
//! fits in them; any other sender is kept once in a table shared by the
//! mount and counted by the messages that name it, and the message carries
//! its number. The table holds no more senders than there are queued
//! messages that need it, so it is bounded by the same byte limits as the
//! queues.
//!
//! The attribute form ([`Sender`]'s `Display`) is parsed by programs, so it
//! is unambiguous whatever bytes a NetBIOS name holds: fields are
//! `key=value` separated by one space; every value but the name is a
//! number, an address or a target component, none of which holds a space
//! or a quote; the name is always in double quotes, and inside them a
//! byte outside printable ASCII, `\` and `"` are written `\xNN`, so the
//! first `"` after the opening one closes it.

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
        /// a PID namespace the daemon cannot see. Readers see it through
        /// [`Sender::seen_by`].
        pid: u32,
        /// The target the writer addressed when it reached this host's own
        /// slot through this host's computer or domain name (`@HOSTA`,
        /// `@@CORP`, `@@`); `None` for a write to the slot itself.
        via: Option<String>,
    },
    /// A datagram from the network.
    Network {
        source: SocketAddrV4,
        /// The datagram's NetBIOS source name, as `NAME<xx>` with `\xNN`
        /// for bytes outside printable ASCII and for `\`.
        name: String,
    },
}

impl Sender {
    /// A local writer of a slot, as the request named it.
    pub fn local(uid: u32, gid: u32, pid: u32) -> Sender {
        Sender::Local {
            uid,
            gid,
            pid,
            via: None,
        }
    }

    /// The sender as a reader whose thread id in the daemon's PID namespace
    /// is `reader_pid` may see it: the writer's pid in the reader's PID
    /// namespace, or 0 where the reader cannot see the writer (see
    /// [`super::pidns`]).
    pub fn seen_by(self, reader_pid: u32) -> Sender {
        match self {
            Sender::Local { uid, gid, pid, via } => Sender::Local {
                uid,
                gid,
                pid: super::pidns::translate(pid, reader_pid),
                via,
            },
            network => network,
        }
    }
}

impl fmt::Display for Sender {
    /// The form `user.mailslot.next_sender` shows: `local uid=U gid=G
    /// pid=P`, followed by ` via=TARGET` for a write through this host's
    /// own name, or `network address=A:P name="NAME<xx>"` (see the module
    /// documentation for the quoting).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sender::Local { uid, gid, pid, via } => {
                write!(f, "local uid={uid} gid={gid} pid={pid}")?;
                match via {
                    Some(via) => write!(f, " via={via}"),
                    None => Ok(()),
                }
            }
            Sender::Network { source, name } => {
                write!(f, "network address={source} name=\"")?;
                for c in name.chars() {
                    match c {
                        '"' => f.write_str("\\x22")?,
                        ' '..='~' => write!(f, "{c}")?,
                        // Names come spelled, so only a caller that built
                        // one by hand gets here; keep the rule anyway.
                        c => write!(f, "\\x{:02x}", u32::from(c) & 0xff)?,
                    }
                }
                f.write_str("\"")
            }
        }
    }
}

/// A sender as a queued message stores it.
pub type SenderCode = [u8; 12];

/// The senders that do not fit in a message's 12 bytes, named by queued
/// messages: network origins, and local writers that came through a name.
#[derive(Default)]
pub struct Origins {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    by_sender: HashMap<Sender, u32>,
    by_id: HashMap<u32, Entry>,
    next_id: u32,
}

struct Entry {
    sender: Sender,
    messages: usize,
}

impl Origins {
    /// The code a message stores for `sender`; a sender that does not fit
    /// is counted once more in the table (undone by [`Origins::release`]).
    /// Returns whether the code names a table entry.
    pub fn encode(&self, sender: &Sender) -> (SenderCode, bool) {
        let mut code = [0u8; 12];
        if let Sender::Local {
            uid,
            gid,
            pid,
            via: None,
        } = sender
        {
            code[0..4].copy_from_slice(&uid.to_ne_bytes());
            code[4..8].copy_from_slice(&gid.to_ne_bytes());
            code[8..12].copy_from_slice(&pid.to_ne_bytes());
            return (code, false);
        }
        let mut t = self.table.lock();
        let id = match t.by_sender.get(sender) {
            Some(&id) => id,
            None => {
                let mut id = t.next_id;
                while t.by_id.contains_key(&id) {
                    id = id.wrapping_add(1);
                }
                t.next_id = id.wrapping_add(1);
                t.by_sender.insert(sender.clone(), id);
                t.by_id.insert(
                    id,
                    Entry {
                        sender: sender.clone(),
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

    pub fn decode(&self, code: &SenderCode, tabled: bool) -> Option<Sender> {
        let word = |i: usize| u32::from_ne_bytes(code[i..i + 4].try_into().expect("4 bytes"));
        if !tabled {
            return Some(Sender::local(word(0), word(4), word(8)));
        }
        let t = self.table.lock();
        t.by_id.get(&word(0)).map(|e| e.sender.clone())
    }

    /// A message naming a table entry left its queue.
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
            t.by_sender.remove(&e.sender);
        }
    }

    /// Senders still named by a queued message (for tests).
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
        let s = Sender::local(1000, 100, 4242);
        let (code, tabled) = o.encode(&s);
        assert!(!tabled && o.is_empty());
        assert_eq!(o.decode(&code, tabled), Some(s.clone()));
        assert_eq!(s.to_string(), "local uid=1000 gid=100 pid=4242");
    }

    #[test]
    fn a_write_through_a_name_keeps_its_writer_and_the_name() {
        let o = Origins::default();
        let s = Sender::Local {
            uid: 4242,
            gid: 4242,
            pid: 77,
            via: Some("@@CORP".into()),
        };
        let (code, tabled) = o.encode(&s);
        assert!(tabled);
        assert_eq!(o.decode(&code, tabled), Some(s.clone()));
        assert_eq!(s.to_string(), "local uid=4242 gid=4242 pid=77 via=@@CORP");
        o.release(&code);
        assert!(o.is_empty());
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
            "network address=198.18.0.2:138 name=\"HOSTA<00>\""
        );
        o.release(&c1);
        assert_eq!(o.len(), 1);
        o.release(&c2);
        assert!(o.is_empty());
        assert_eq!(o.decode(&c1, true), None);
    }

    #[test]
    fn a_name_cannot_leave_its_quotes() {
        let s = |name: &str| {
            Sender::Network {
                source: "198.18.0.2:138".parse().unwrap(),
                name: name.into(),
            }
            .to_string()
        };
        assert_eq!(
            s("pid=1 uid=0 z=<00>"),
            "network address=198.18.0.2:138 name=\"pid=1 uid=0 z=<00>\""
        );
        assert_eq!(
            s("A\" uid=0 \"<00>"),
            "network address=198.18.0.2:138 name=\"A\\x22 uid=0 \\x22<00>\""
        );
        assert_eq!(
            s("\\x01\\x02__MSBROWSE__\\x02<01>"),
            "network address=198.18.0.2:138 name=\"\\x01\\x02__MSBROWSE__\\x02<01>\""
        );
    }
}
