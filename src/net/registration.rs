//! The name service packets a NetBIOS citizen exchanges besides queries
//! (RFC 1002 §4.2): name registration, refresh and release requests and
//! their responses (WACK included), and node status (`nbtstat -A`,
//! `nmblookup -A`) requests and responses.
//!
//! One reader, [`NsPacket::parse`], takes any name service packet apart
//! into header, first question and first resource record; the typed
//! readers below interpret that. Nothing here touches a socket, so every
//! packet can be tested and fuzzed byte for byte.

use std::net::Ipv4Addr;

use super::codec::{Reader, WireError};
use super::names::{
    CLASS_IN, FLAG_AUTHORITATIVE, FLAG_BROADCAST, FLAG_RECURSION_DESIRED, FLAG_RESPONSE,
    NB_FLAG_GROUP, NB_ONT_SHIFT, NS_HEADER_LEN, NbAddress, NetbiosName, NodeType, OPCODE_QUERY,
    OPCODE_SHIFT, TYPE_NB, put_ns_header,
};

/// Name service operations (the OPCODE field; a query is 0).
pub const OPCODE_REGISTRATION: u8 = 5;
pub const OPCODE_RELEASE: u8 = 6;
pub const OPCODE_WACK: u8 = 7;
/// RFC 1002 says 8; some implementations send 9. Both are refreshes.
pub const OPCODE_REFRESH: u8 = 8;
pub const OPCODE_REFRESH_ALT: u8 = 9;
/// Windows' multi-homed registration; defended like a registration.
pub const OPCODE_MULTIHOMED: u8 = 15;

/// RCODEs of negative responses.
pub const RCODE_NAME_ERROR: u8 = 3;
pub const RCODE_REFUSED: u8 = 5;
/// The name is owned by another node (the answer a defender sends).
pub const RCODE_ACTIVE: u8 = 6;
/// A conflict the name server found after the fact.
pub const RCODE_CONFLICT: u8 = 7;

const FLAG_RECURSION_AVAILABLE: u16 = 0x0080;
const TYPE_NBSTAT: u16 = 0x0021;
/// A compression pointer to the question's name, right after the header:
/// what Windows and Samba put as the additional record's name.
const POINTER_TO_QUESTION: [u8; 2] = [0xC0, NS_HEADER_LEN as u8];
/// NAME_FLAGS of a node status entry: the name is active (registered).
const NAME_FLAG_ACTIVE: u16 = 0x0400;
/// The statistics block after the names: 46 bytes, starting with the
/// unit id (a MAC address; mailslotfs gives none).
const STATISTICS_LEN: usize = 46;
/// More names than this do not fit one node status RDATA's count byte.
pub const MAX_STATUS_NAMES: usize = 255;

/// A name service packet taken apart: what every typed reader needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsPacket<'a> {
    pub trn_id: u16,
    pub response: bool,
    pub opcode: u8,
    pub broadcast: bool,
    pub rcode: u8,
    /// The first question: its name and QTYPE.
    pub question: Option<(NetbiosName, u16)>,
    /// The first resource record (answer or additional section).
    pub record: Option<Record<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub name: NetbiosName,
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: &'a [u8],
}

impl<'a> NsPacket<'a> {
    /// Reads the header, the first question (others are skipped), and the
    /// first record after the questions. A record's name may be a pointer
    /// to the first question's name (offset 12), as registrations carry
    /// it; any other pointer is refused.
    pub fn parse(packet: &'a [u8]) -> Result<NsPacket<'a>, WireError> {
        let mut r = Reader::new(packet);
        let trn_id = r.be16("name service header")?;
        let flags = r.be16("name service header")?;
        let mut counts = [0u16; 4];
        for c in &mut counts {
            *c = r.be16("name service header")?;
        }
        let mut question = None;
        for i in 0..counts[0] {
            let name = NetbiosName::read(&mut r)?;
            let qtype = r.be16("question type")?;
            let class = r.be16("question class")?;
            if class != CLASS_IN {
                return Err(WireError::UnexpectedClass(class));
            }
            if i == 0 {
                question = Some((name, qtype));
            }
        }
        let records = counts[1..].iter().map(|&c| u32::from(c)).sum::<u32>();
        let record = if records == 0 {
            None
        } else {
            let name = if r.rest().starts_with(&POINTER_TO_QUESTION) {
                r.take(2, "record name")?;
                question
                    .as_ref()
                    .map(|(n, _)| n.clone())
                    .ok_or(WireError::NameCompressed)?
            } else {
                NetbiosName::read(&mut r)?
            };
            let rtype = r.be16("record type")?;
            let class = r.be16("record class")?;
            if class != CLASS_IN {
                return Err(WireError::UnexpectedClass(class));
            }
            let ttl = r.be32("TTL")?;
            let rdlength = r.be16("RDLENGTH")?;
            let rdata = r.take(usize::from(rdlength), "RDATA")?;
            Some(Record {
                name,
                rtype,
                ttl,
                rdata,
            })
        };
        Ok(NsPacket {
            trn_id,
            response: flags & FLAG_RESPONSE != 0,
            opcode: ((flags >> OPCODE_SHIFT) & 0xF) as u8,
            broadcast: flags & FLAG_BROADCAST != 0,
            rcode: (flags & 0xF) as u8,
            question,
            record,
        })
    }

    /// Refuses a response where a request is expected, and the reverse.
    fn expect_response(&self, response: bool) -> Result<(), WireError> {
        match (self.response, response) {
            (true, false) => Err(WireError::NotRequest),
            (false, true) => Err(WireError::NotResponse),
            _ => Ok(()),
        }
    }

    /// [`expect_response`](Self::expect_response), for a query (or its
    /// answer) and nothing else.
    fn expect_query(&self, response: bool) -> Result<(), WireError> {
        self.expect_response(response)?;
        if self.opcode != OPCODE_QUERY {
            return Err(WireError::UnexpectedOpcode(self.opcode));
        }
        Ok(())
    }

    /// The record's single NB address (six bytes of RDATA), if it has one.
    fn nb_address(&self) -> Option<NbAddress> {
        let rec = self.record.as_ref().filter(|r| r.rtype == TYPE_NB)?;
        let e = rec.rdata.get(..6)?;
        let nb_flags = u16::from_be_bytes([e[0], e[1]]);
        Some(NbAddress {
            ip: Ipv4Addr::new(e[2], e[3], e[4], e[5]),
            group: nb_flags & NB_FLAG_GROUP != 0,
            node_type: NodeType::from_code((nb_flags >> NB_ONT_SHIFT) as u8),
        })
    }
}

/// What a request asks of the owners of a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Register,
    Refresh,
    Release,
}

impl Operation {
    fn opcode(self) -> u8 {
        match self {
            Operation::Register => OPCODE_REGISTRATION,
            Operation::Refresh => OPCODE_REFRESH,
            Operation::Release => OPCODE_RELEASE,
        }
    }

    fn of_opcode(opcode: u8) -> Option<Operation> {
        match opcode {
            OPCODE_REGISTRATION | OPCODE_MULTIHOMED => Some(Operation::Register),
            OPCODE_REFRESH | OPCODE_REFRESH_ALT => Some(Operation::Refresh),
            OPCODE_RELEASE => Some(Operation::Release),
            _ => None,
        }
    }
}

/// A NAME REGISTRATION, REFRESH or RELEASE REQUEST (RFC 1002 §4.2.2,
/// §4.2.4, §4.2.9): the name, and the owner's TTL and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRequest {
    pub trn_id: u16,
    pub operation: Operation,
    pub name: NetbiosName,
    /// Sent to the segment (B flag) rather than to a name server.
    pub broadcast: bool,
    pub ttl: u32,
    pub address: NbAddress,
}

impl NameRequest {
    /// The packet as Windows sends it: QDCOUNT 1 and ARCOUNT 1, the
    /// question, then the owner's record under a pointer to the question's
    /// name. Registrations ask for recursion (a name server registers the
    /// name for us); refreshes and releases do not.
    pub fn build(&self) -> Vec<u8> {
        let mut flags = u16::from(self.operation.opcode()) << OPCODE_SHIFT;
        if self.operation == Operation::Register {
            flags |= FLAG_RECURSION_DESIRED;
        }
        if self.broadcast {
            flags |= FLAG_BROADCAST;
        }
        let mut out = Vec::with_capacity(68);
        put_ns_header(&mut out, self.trn_id, flags, [1, 0, 0, 1]);
        self.name.encode_into(&mut out);
        out.extend_from_slice(&TYPE_NB.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&POINTER_TO_QUESTION);
        nb_record_tail(&mut out, self.ttl, &self.address);
        out
    }

    /// Reads a request for a name (NB question and an NB record with an
    /// address). Refuses responses and other operations.
    pub fn parse(packet: &[u8]) -> Result<NameRequest, WireError> {
        let p = NsPacket::parse(packet)?;
        p.expect_response(false)?;
        let operation =
            Operation::of_opcode(p.opcode).ok_or(WireError::UnexpectedOpcode(p.opcode))?;
        let (name, qtype) = p.question.clone().ok_or(WireError::BadQuestionCount(0))?;
        if qtype != TYPE_NB {
            return Err(WireError::UnexpectedType(qtype));
        }
        let address = p.nb_address().ok_or(WireError::NoAnswer)?;
        let ttl = p.record.as_ref().map_or(0, |r| r.ttl);
        Ok(NameRequest {
            trn_id: p.trn_id,
            operation,
            name,
            broadcast: p.broadcast,
            ttl,
            address,
        })
    }
}

/// The answer to a registration, refresh or release: positive (RCODE 0),
/// negative, or a WACK (wait: the name server is checking the owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameResponse {
    pub trn_id: u16,
    pub opcode: u8,
    pub rcode: u8,
    pub name: NetbiosName,
    /// The TTL granted; for a WACK, the seconds to wait.
    pub ttl: u32,
    /// The owner's address as the responder gives it (none in a WACK).
    pub address: Option<NbAddress>,
}

impl NameResponse {
    /// The answer to `request` with `rcode`: RCODE 6 is what an owner
    /// sends to defend its name; it names the owner's own address.
    pub fn answer(request: &NameRequest, rcode: u8, owner: NbAddress) -> NameResponse {
        NameResponse {
            trn_id: request.trn_id,
            opcode: request.operation.opcode(),
            rcode,
            name: request.name.clone(),
            ttl: 0,
            address: Some(owner),
        }
    }

    pub fn is_wack(&self) -> bool {
        self.opcode == OPCODE_WACK
    }

    /// Flags 0xAD80 | RCODE for a registration (response, authoritative,
    /// recursion desired and available, as Samba and Windows answer).
    pub fn build(&self) -> Vec<u8> {
        let flags = FLAG_RESPONSE
            | (u16::from(self.opcode & 0xF) << OPCODE_SHIFT)
            | FLAG_AUTHORITATIVE
            | FLAG_RECURSION_DESIRED
            | FLAG_RECURSION_AVAILABLE
            | u16::from(self.rcode & 0xF);
        let mut out = Vec::with_capacity(62);
        put_ns_header(&mut out, self.trn_id, flags, [0, 1, 0, 0]);
        self.name.encode_into(&mut out);
        match &self.address {
            Some(a) => nb_record_tail(&mut out, self.ttl, a),
            None => {
                out.extend_from_slice(&TYPE_NB.to_be_bytes());
                out.extend_from_slice(&CLASS_IN.to_be_bytes());
                out.extend_from_slice(&self.ttl.to_be_bytes());
                out.extend_from_slice(&0u16.to_be_bytes());
            }
        }
        out
    }

    /// Reads a response to a registration, refresh or release, or a WACK.
    pub fn parse(packet: &[u8]) -> Result<NameResponse, WireError> {
        let p = NsPacket::parse(packet)?;
        p.expect_response(true)?;
        if Operation::of_opcode(p.opcode).is_none() && p.opcode != OPCODE_WACK {
            return Err(WireError::UnexpectedOpcode(p.opcode));
        }
        let record = p.record.as_ref().ok_or(WireError::NoAnswer)?;
        Ok(NameResponse {
            trn_id: p.trn_id,
            opcode: p.opcode,
            rcode: p.rcode,
            name: record.name.clone(),
            ttl: record.ttl,
            address: p.nb_address(),
        })
    }
}

/// A NODE STATUS REQUEST (RFC 1002 §4.2.17): which names do you have?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatusRequest {
    pub trn_id: u16,
    /// `*<00>` (what `nmblookup -A` and `nbtstat -A` ask) or a name.
    pub name: NetbiosName,
}

impl NodeStatusRequest {
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(50);
        put_ns_header(&mut out, self.trn_id, 0, [1, 0, 0, 0]);
        self.name.encode_into(&mut out);
        out.extend_from_slice(&TYPE_NBSTAT.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out
    }

    pub fn parse(packet: &[u8]) -> Result<NodeStatusRequest, WireError> {
        let p = NsPacket::parse(packet)?;
        p.expect_query(false)?;
        match p.question {
            Some((name, TYPE_NBSTAT)) => Ok(NodeStatusRequest {
                trn_id: p.trn_id,
                name,
            }),
            Some((_, qtype)) => Err(WireError::UnexpectedType(qtype)),
            None => Err(WireError::BadQuestionCount(0)),
        }
    }
}

/// One name in a node status response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusName {
    pub name: NetbiosName,
    pub group: bool,
    pub node_type: NodeType,
}

/// A NODE STATUS RESPONSE (RFC 1002 §4.2.18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatusResponse {
    pub trn_id: u16,
    /// The name asked about, echoed.
    pub name: NetbiosName,
    pub names: Vec<StatusName>,
}

impl NodeStatusResponse {
    /// Flags 0x8400 (response, authoritative); one NBSTAT record: the
    /// count, 18 bytes a name (16 raw, NAME_FLAGS with ACT set), then a
    /// statistics block of zeros. At most [`MAX_STATUS_NAMES`] names.
    pub fn build(&self) -> Vec<u8> {
        let names = &self.names[..self.names.len().min(MAX_STATUS_NAMES)];
        let rdlength = 1 + names.len() * 18 + STATISTICS_LEN;
        let mut out = Vec::with_capacity(56 + rdlength);
        put_ns_header(
            &mut out,
            self.trn_id,
            FLAG_RESPONSE | FLAG_AUTHORITATIVE,
            [0, 1, 0, 0],
        );
        self.name.encode_into(&mut out);
        out.extend_from_slice(&TYPE_NBSTAT.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        // 1 + 255 * 18 + 46 is far below u16::MAX.
        out.extend_from_slice(&(rdlength as u16).to_be_bytes());
        out.push(names.len() as u8);
        for n in names {
            out.extend_from_slice(&n.name.raw());
            let mut flags = NAME_FLAG_ACTIVE | (u16::from(n.node_type.code()) << NB_ONT_SHIFT);
            if n.group {
                flags |= NB_FLAG_GROUP;
            }
            out.extend_from_slice(&flags.to_be_bytes());
        }
        out.resize(out.len() + STATISTICS_LEN, 0);
        out
    }

    /// Reads the names of a node status response; the statistics are not
    /// read (nothing in mailslotfs uses them).
    pub fn parse(packet: &[u8]) -> Result<NodeStatusResponse, WireError> {
        let p = NsPacket::parse(packet)?;
        p.expect_query(true)?;
        let rec = p.record.ok_or(WireError::NoAnswer)?;
        if rec.rtype != TYPE_NBSTAT {
            return Err(WireError::UnexpectedType(rec.rtype));
        }
        let mut r = Reader::new(rec.rdata);
        let count = r.u8("node status name count")?;
        let mut names = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let raw: [u8; 16] = r
                .take(16, "node status name")?
                .try_into()
                .map_err(|_| WireError::Truncated("node status name"))?;
            let flags = r.be16("node status name flags")?;
            names.push(StatusName {
                name: NetbiosName::from_raw(&raw),
                group: flags & NB_FLAG_GROUP != 0,
                node_type: NodeType::from_code((flags >> NB_ONT_SHIFT) as u8),
            });
        }
        Ok(NodeStatusResponse {
            trn_id: p.trn_id,
            name: rec.name,
            names,
        })
    }
}

/// A NAME QUERY REQUEST to a name server: unicast, recursion desired, no B
/// flag (flags 0x0100), as an H node asks WINS.
pub fn unicast_query(trn_id: u16, name: &NetbiosName) -> Vec<u8> {
    let mut out = Vec::with_capacity(50);
    put_ns_header(&mut out, trn_id, FLAG_RECURSION_DESIRED, [1, 0, 0, 0]);
    name.encode_into(&mut out);
    out.extend_from_slice(&TYPE_NB.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// RR_TYPE NULL: the type of a negative query response's record.
const TYPE_NULL: u16 = 0x000A;

/// A NEGATIVE NAME QUERY RESPONSE (RFC 1002 §4.2.14): what an owner of
/// no such name answers to a unicast query at once, as nmbd does, so the
/// asker need not wait out its retries. Flags 0x8580 | RCODE (response,
/// authoritative, recursion desired and available), one NULL record with
/// the name asked, TTL 0, no RDATA.
pub fn negative_query_response(trn_id: u16, name: &NetbiosName, rcode: u8) -> Vec<u8> {
    let flags = FLAG_RESPONSE
        | FLAG_AUTHORITATIVE
        | FLAG_RECURSION_DESIRED
        | FLAG_RECURSION_AVAILABLE
        | u16::from(rcode & 0xF);
    let mut out = Vec::with_capacity(56);
    put_ns_header(&mut out, trn_id, flags, [0, 1, 0, 0]);
    name.encode_into(&mut out);
    out.extend_from_slice(&TYPE_NULL.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out
}

/// A query response, positive or negative, as a name server sends it:
/// the transaction id, RCODE and the first unique address it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryAnswer {
    pub trn_id: u16,
    pub rcode: u8,
    pub name: Option<NetbiosName>,
    /// Seconds the answer may be cached.
    pub ttl: u32,
    pub unique_address: Option<Ipv4Addr>,
}

impl QueryAnswer {
    pub fn parse(packet: &[u8]) -> Result<QueryAnswer, WireError> {
        let p = NsPacket::parse(packet)?;
        p.expect_query(true)?;
        let unique_address = p
            .record
            .as_ref()
            .filter(|r| r.rtype == TYPE_NB)
            .and_then(|r| {
                r.rdata.chunks_exact(6).find_map(|e| {
                    let group = u16::from_be_bytes([e[0], e[1]]) & NB_FLAG_GROUP != 0;
                    (!group).then(|| Ipv4Addr::new(e[2], e[3], e[4], e[5]))
                })
            });
        Ok(QueryAnswer {
            trn_id: p.trn_id,
            rcode: p.rcode,
            ttl: p.record.as_ref().map_or(0, |r| r.ttl),
            name: p.record.map(|r| r.name),
            unique_address,
        })
    }
}

/// TYPE NB, CLASS IN, TTL, RDLENGTH 6, NB_FLAGS and the address.
fn nb_record_tail(out: &mut Vec<u8>, ttl: u32, a: &NbAddress) {
    out.extend_from_slice(&TYPE_NB.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&6u16.to_be_bytes());
    let mut nb_flags = u16::from(a.node_type.code()) << NB_ONT_SHIFT;
    if a.group {
        nb_flags |= NB_FLAG_GROUP;
    }
    out.extend_from_slice(&nb_flags.to_be_bytes());
    out.extend_from_slice(&a.ip.octets());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::test_rng::Rng;

    fn name(s: &str, suffix: u8) -> NetbiosName {
        NetbiosName::new(s, suffix).unwrap()
    }

    fn owner(group: bool) -> NbAddress {
        NbAddress {
            ip: Ipv4Addr::new(198, 18, 0, 1),
            group,
            node_type: NodeType::B,
        }
    }

    #[test]
    fn a_broadcast_registration_is_what_windows_sends() {
        let req = NameRequest {
            trn_id: 0x1234,
            operation: Operation::Register,
            name: name("HOSTA", 0x00),
            broadcast: true,
            ttl: 300_000,
            address: owner(false),
        };
        let bytes = req.build();
        // Flags 0x2910, QDCOUNT 1, ARCOUNT 1.
        assert_eq!(
            &bytes[..12],
            &[0x12, 0x34, 0x29, 0x10, 0, 1, 0, 0, 0, 0, 0, 1]
        );
        // The additional record's name points at the question's.
        assert_eq!(&bytes[50..52], &[0xC0, 0x0C]);
        assert_eq!(bytes.len(), 68);
        assert_eq!(NameRequest::parse(&bytes).unwrap(), req);
    }

    #[test]
    fn refresh_and_release_round_trip() {
        for (operation, flags) in [
            (Operation::Refresh, 0x4000u16),
            (Operation::Release, 0x3000),
        ] {
            let req = NameRequest {
                trn_id: 7,
                operation,
                name: name("TESTDOM", 0x1E),
                broadcast: false,
                ttl: 60,
                address: owner(true),
            };
            let bytes = req.build();
            assert_eq!(u16::from_be_bytes([bytes[2], bytes[3]]), flags);
            assert_eq!(NameRequest::parse(&bytes).unwrap(), req);
        }
        // Opcode 9 is a refresh as well.
        let mut bytes = NameRequest {
            trn_id: 7,
            operation: Operation::Refresh,
            name: name("X", 0),
            broadcast: false,
            ttl: 1,
            address: owner(false),
        }
        .build();
        bytes[2] = 0x48;
        assert_eq!(
            NameRequest::parse(&bytes).unwrap().operation,
            Operation::Refresh
        );
    }

    #[test]
    fn a_defence_is_a_negative_registration_response() {
        let req = NameRequest {
            trn_id: 99,
            operation: Operation::Register,
            name: name("HOSTA", 0x20),
            broadcast: true,
            ttl: 300_000,
            address: NbAddress {
                ip: Ipv4Addr::new(198, 18, 0, 9),
                group: false,
                node_type: NodeType::B,
            },
        };
        let answer = NameResponse::answer(&req, RCODE_ACTIVE, owner(false));
        let bytes = answer.build();
        assert_eq!(&bytes[2..4], &[0xAD, 0x86]);
        let back = NameResponse::parse(&bytes).unwrap();
        assert_eq!(back, answer);
        assert_eq!(back.address.unwrap().ip, Ipv4Addr::new(198, 18, 0, 1));
        assert!(NameRequest::parse(&bytes).is_err());
    }

    #[test]
    fn a_wack_says_how_long_to_wait() {
        let wack = NameResponse {
            trn_id: 5,
            opcode: OPCODE_WACK,
            rcode: 0,
            name: name("HOSTA", 0),
            ttl: 15,
            address: None,
        };
        let back = NameResponse::parse(&wack.build()).unwrap();
        assert!(back.is_wack());
        assert_eq!(back.ttl, 15);
        assert_eq!(back.address, None);
    }

    #[test]
    fn node_status_lists_names_with_flags() {
        let req = NodeStatusRequest {
            trn_id: 3,
            name: NetbiosName::wildcard(),
        };
        let bytes = req.build();
        // The wildcard is padded with NULs: 'C' 'K' then "AA" pairs.
        assert_eq!(&bytes[13..15], b"CK");
        assert_eq!(&bytes[15..17], b"AA");
        assert_eq!(NodeStatusRequest::parse(&bytes).unwrap(), req);
        let resp = NodeStatusResponse {
            trn_id: 3,
            name: req.name.clone(),
            names: vec![
                StatusName {
                    name: name("HOSTA", 0x00),
                    group: false,
                    node_type: NodeType::H,
                },
                StatusName {
                    name: name("TESTDOM", 0x1E),
                    group: true,
                    node_type: NodeType::H,
                },
            ],
        };
        let bytes = resp.build();
        assert_eq!(bytes.len(), 56 + 1 + 2 * 18 + 46);
        // HOSTA<00>: unique, H node, active.
        assert_eq!(&bytes[57..73], b"HOSTA          \0");
        assert_eq!(&bytes[73..75], &[0x64, 0x00]);
        assert_eq!(&bytes[91..93], &[0xE4, 0x00]);
        assert_eq!(NodeStatusResponse::parse(&bytes).unwrap(), resp);
        // A name query is not a node status request, nor the reverse.
        assert!(NodeStatusRequest::parse(&unicast_query(3, &req.name)).is_err());
    }

    #[test]
    fn a_name_server_answer_gives_the_unique_address() {
        let q = crate::net::names::NameQuery::broadcast(8, name("HOSTB", 0));
        let resp = crate::net::names::NameQueryResponse::answer(
            &q,
            60,
            vec![
                owner(true),
                NbAddress {
                    ip: Ipv4Addr::new(198, 18, 1, 2),
                    group: false,
                    node_type: NodeType::H,
                },
            ],
        );
        let a = QueryAnswer::parse(&resp.build().unwrap()).unwrap();
        assert_eq!(a.trn_id, 8);
        assert_eq!(a.rcode, 0);
        assert_eq!(a.unique_address, Some(Ipv4Addr::new(198, 18, 1, 2)));
        // A negative answer (flags 0x8583: no such name) carries its RCODE.
        let mut neg = unicast_query(8, &name("HOSTB", 0));
        neg[2] = 0x85;
        neg[3] = 0x83;
        neg[5] = 0;
        let a = QueryAnswer::parse(&neg).unwrap();
        assert_eq!(a.rcode, RCODE_NAME_ERROR);
        assert_eq!(a.unique_address, None);
        // What mailslotfs itself answers for a name it does not hold.
        let ours = negative_query_response(9, &name("NOBODY", 0), RCODE_NAME_ERROR);
        assert_eq!(&ours[2..8], &[0x85, 0x83, 0, 0, 0, 1]);
        let a = QueryAnswer::parse(&ours).unwrap();
        assert_eq!((a.trn_id, a.rcode, a.ttl), (9, RCODE_NAME_ERROR, 0));
        assert_eq!(a.name, Some(name("NOBODY", 0)));
        assert_eq!(a.unique_address, None);
    }

    #[test]
    fn pointers_other_than_to_the_question_are_refused() {
        let mut bytes = NameRequest {
            trn_id: 1,
            operation: Operation::Register,
            name: name("A", 0),
            broadcast: true,
            ttl: 1,
            address: owner(false),
        }
        .build();
        bytes[51] = 0x00;
        assert!(NsPacket::parse(&bytes).is_err());
        // A pointer with no question to point at.
        let mut lone = Vec::new();
        put_ns_header(&mut lone, 1, 0x2910, [0, 0, 0, 1]);
        lone.extend_from_slice(&POINTER_TO_QUESTION);
        lone.extend_from_slice(&bytes[52..]);
        assert_eq!(NsPacket::parse(&lone), Err(WireError::NameCompressed));
    }

    #[test]
    fn mangled_packets_never_panic() {
        let mut rng = Rng(0x5eed_0013);
        let seeds = [
            NameRequest {
                trn_id: 1,
                operation: Operation::Register,
                name: name("HOSTA", 0),
                broadcast: true,
                ttl: 1,
                address: owner(false),
            }
            .build(),
            NodeStatusResponse {
                trn_id: 2,
                name: NetbiosName::wildcard(),
                names: vec![StatusName {
                    name: name("HOSTA", 0),
                    group: false,
                    node_type: NodeType::B,
                }],
            }
            .build(),
        ];
        for seed in &seeds {
            for _ in 0..20_000 {
                let mut p = seed.clone();
                for _ in 0..=rng.below(4) {
                    rng.scramble_byte(&mut p);
                }
                p.truncate(rng.below(p.len() + 1));
                let _ = NsPacket::parse(&p);
                let _ = NameRequest::parse(&p);
                let _ = NameResponse::parse(&p);
                let _ = NodeStatusRequest::parse(&p);
                let _ = NodeStatusResponse::parse(&p);
                let _ = QueryAnswer::parse(&p);
            }
        }
    }
}
