//! NetBIOS names and the name service (RFC 1001 §14, RFC 1002 §4.1–4.2).
//!
//! A mailslot write is addressed to a NetBIOS name, not to an address, so
//! mailslotfs needs three things from this module: the 34-byte wire form of
//! a name (in every datagram), the spelling users type in file names
//! (`/mailslot/@DOMAIN<1C>/net/netlogon`), and the name-query packets that
//! turn a computer name into IPv4 addresses (and let other hosts find us).
//!
//! # Spelling
//!
//! The canonical spelling is `NAME<xx>`: the name, then the suffix byte
//! (the name type) as two hex digits in angle brackets. It is what
//! [`Display`](std::fmt::Display) prints, and what Samba and Wireshark print,
//! so a name copied from a capture or a Samba log works unchanged.
//! [`NetbiosName::parse`] also takes `NAME#xx`, the form of `lmhosts` and
//! `nmblookup`, which needs no quoting in a shell, and a bare `NAME`, which
//! gets the suffix the caller chooses (`<00>` for a computer, `<1C>` for a
//! domain's controllers). Hex digits may be in either case.

use std::fmt;
use std::net::Ipv4Addr;

use super::codec::{MAX_UDP_PAYLOAD, Reader, WireError};

/// UDP port of the NetBIOS name service.
pub const NAME_SERVICE_PORT: u16 = 137;

/// Name types (the 16th byte) that mailslot traffic uses.
pub const SUFFIX_WORKSTATION: u8 = 0x00;
pub const SUFFIX_MESSENGER: u8 = 0x03;
pub const SUFFIX_PRIMARY_DC: u8 = 0x1B;
pub const SUFFIX_DOMAIN_CONTROLLERS: u8 = 0x1C;
pub const SUFFIX_MASTER_BROWSER: u8 = 0x1D;
pub const SUFFIX_BROWSER_ELECTION: u8 = 0x1E;
pub const SUFFIX_FILE_SERVER: u8 = 0x20;

/// TTL Windows and Samba put in name query responses (seconds).
pub const DEFAULT_TTL: u32 = 300_000;

/// Characters in the name part, before the suffix byte.
pub const NAME_LEN: usize = 15;

/// Length byte, 32 letters, terminating zero: a name without scope.
pub const ENCODED_NAME_LEN: usize = 34;

/// The first label of an encoded name is always 32 letters (16 bytes).
const FIRST_LABEL_LEN: u8 = 0x20;
/// RFC 1035 limit on a whole domain name, which an encoded name is.
const MAX_WIRE_NAME_LEN: usize = 255;
/// Windows refuses these in computer and domain names; `/` also cannot be
/// part of the file name the spelling ends up in, and `<`, `>` would make
/// the spelling ambiguous.
const FORBIDDEN_CHARS: &[char] = &['\\', '/', ':', '*', '?', '"', '<', '>', '|'];

/// The kind of NetBIOS node (RFC 1001 §10), as carried in the datagram
/// flags (bits 2–3) and in the NB_FLAGS of a name record (bits 13–14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeType {
    /// Broadcast node: resolves names by broadcasting on the segment.
    B,
    /// Point-to-point node: asks a name server (WINS) only.
    P,
    /// Mixed node: broadcasts first, then asks the name server.
    M,
    /// Value 3: "NBDD" in RFC 1002's datagram flags and "reserved" in its
    /// NB_FLAGS; Windows uses it for its default hybrid (H) node.
    H,
}

impl NodeType {
    /// The two-bit code.
    pub fn code(self) -> u8 {
        match self {
            NodeType::B => 0,
            NodeType::P => 1,
            NodeType::M => 2,
            NodeType::H => 3,
        }
    }

    /// The node type of a two-bit code; higher bits are ignored.
    pub fn from_code(code: u8) -> NodeType {
        match code & 3 {
            0 => NodeType::B,
            1 => NodeType::P,
            2 => NodeType::M,
            _ => NodeType::H,
        }
    }
}

/// A NetBIOS name: up to 15 characters and a suffix byte (the name type).
///
/// Names built from user input ([`new`](Self::new), [`parse`](Self::parse))
/// are printable ASCII and upper case. Names decoded from the wire keep the
/// bytes exactly as sent, case included, because a reply has to go back to
/// the very name the sender used; bytes outside ASCII are kept as the
/// characters U+0080–U+00FF so that nothing is lost. Compare a received
/// name with one of ours with [`same_name`](Self::same_name), which ignores
/// case as Samba and Windows do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetbiosName {
    name: String,
    suffix: u8,
    /// Decoded from the wire with a NetBIOS scope (labels after the name).
    /// mailslotfs has no scope, and scoped and unscoped names are
    /// different names (RFC 1001 §9): a scoped name is never one of ours.
    scoped: bool,
}

impl NetbiosName {
    /// A name from user input. Refuses empty names, names longer than 15
    /// characters, characters outside printable ASCII or that Windows
    /// refuses in computer names (`\ / : * ? " < > |`), and trailing spaces
    /// (they are the padding on the wire and would vanish). Upper-cases.
    pub fn new(name: &str, suffix: u8) -> Result<NetbiosName, WireError> {
        if name.is_empty() {
            return Err(WireError::NameEmpty);
        }
        let chars = name.chars().count();
        if chars > NAME_LEN {
            return Err(WireError::NameTooLong(chars));
        }
        if let Some(c) = name
            .chars()
            .find(|&c| !(' '..='~').contains(&c) || FORBIDDEN_CHARS.contains(&c))
        {
            return Err(WireError::NameBadChar(c));
        }
        if name.ends_with(' ') {
            return Err(WireError::NameTrailingSpace);
        }
        Ok(NetbiosName {
            name: name.to_ascii_uppercase(),
            suffix,
            scoped: false,
        })
    }

    /// A name from its spelling: `NAME<xx>` (canonical), `NAME#xx`, or a bare
    /// `NAME`, which gets `default_suffix`. See the module documentation.
    pub fn parse(spelling: &str, default_suffix: u8) -> Result<NetbiosName, WireError> {
        let (name, suffix) = split_suffix(spelling)?;
        let name = name.unwrap_or(spelling);
        if name.contains(['<', '>']) {
            return Err(WireError::NameBadSpelling);
        }
        NetbiosName::new(name, suffix.unwrap_or(default_suffix))
    }

    /// The name without its padding.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name type, the 16th byte.
    pub fn suffix(&self) -> u8 {
        self.suffix
    }

    /// Whether `other` names the same thing: same suffix, name equal
    /// without regard to ASCII case.
    pub fn same_name(&self, other: &NetbiosName) -> bool {
        self.suffix == other.suffix
            && self.scoped == other.scoped
            && self.name.eq_ignore_ascii_case(&other.name)
    }

    /// Whether the name came with a NetBIOS scope.
    pub fn is_scoped(&self) -> bool {
        self.scoped
    }

    /// The wildcard `*<00>` that node status requests ask about.
    pub fn wildcard() -> NetbiosName {
        NetbiosName {
            name: "*".into(),
            suffix: 0,
            scoped: false,
        }
    }

    /// The 16 bytes before encoding: the name padded to 15, then the suffix.
    pub(crate) fn raw(&self) -> [u8; 16] {
        // The wildcard `*` is padded with NULs, not spaces (RFC 1002 §4.1;
        // Samba and Windows agree), so that it decodes as `*` again.
        let pad = if self.name == "*" { 0 } else { b' ' };
        let mut raw = [pad; 16];
        for (slot, c) in raw.iter_mut().zip(self.name.chars()) {
            // Every constructor keeps characters at or below U+00FF.
            *slot = u8::try_from(u32::from(c)).unwrap_or(b'?');
        }
        raw[15] = self.suffix;
        raw
    }

    /// Appends the first-level encoding (RFC 1001 §14.1): length 0x20, each
    /// of the 16 bytes as two letters `'A' + nibble`, then the empty label
    /// that ends the name. No scope: mailslotfs does not use NetBIOS scopes.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(FIRST_LABEL_LEN);
        for b in self.raw() {
            out.push(b'A' + (b >> 4));
            out.push(b'A' + (b & 0x0F));
        }
        out.push(0);
    }

    /// The encoded name, [`ENCODED_NAME_LEN`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENCODED_NAME_LEN);
        self.encode_into(&mut out);
        out
    }

    /// Decodes a name at the start of `bytes`, returning it and the number of
    /// bytes it took. A scope (further labels) is accepted, skipped and
    /// remembered ([`is_scoped`](Self::is_scoped)): scoped hosts cannot
    /// talk to unscoped ones, but their packets must not be mistaken for
    /// malformed ones. Refuses compression pointers
    /// (never used in the packets mailslotfs reads, and a classic loop
    /// hazard), a first label other than 32 letters, letters outside
    /// `A`–`P`, scope labels over 63 bytes and names over 255 bytes.
    pub fn decode(bytes: &[u8]) -> Result<(NetbiosName, usize), WireError> {
        let mut r = Reader::new(bytes);
        let len = r.u8("NetBIOS name")?;
        check_label_len(len)?;
        if len != FIRST_LABEL_LEN {
            return Err(WireError::NameBadLength(len));
        }
        let letters = r.take(32, "NetBIOS name")?;
        let mut raw = [0u8; 16];
        for (slot, pair) in raw.iter_mut().zip(letters.chunks_exact(2)) {
            let hi = letter_value(pair[0])?;
            let lo = letter_value(pair[1])?;
            *slot = (hi << 4) | lo;
        }
        let mut scoped = false;
        loop {
            let label = r.u8("NetBIOS name scope")?;
            if label == 0 {
                break;
            }
            scoped = true;
            // Labels over 63 have a type bit set and are refused here.
            check_label_len(label)?;
            r.take(usize::from(label), "NetBIOS name scope")?;
            if r.pos() > MAX_WIRE_NAME_LEN {
                return Err(WireError::NameTooLongOnWire);
            }
        }
        let mut name = NetbiosName::from_raw(&raw);
        name.scoped = scoped;
        Ok((name, r.pos()))
    }

    /// Decodes the name at `r`'s position and moves past it.
    pub(super) fn read(r: &mut Reader<'_>) -> Result<NetbiosName, WireError> {
        let (name, used) = NetbiosName::decode(r.rest())?;
        r.skip(used);
        Ok(name)
    }

    pub(crate) fn from_raw(raw: &[u8; 16]) -> NetbiosName {
        let (body, suffix) = raw.split_at(15);
        let body = if body[0] == b'*' && body[1..].iter().all(|&b| b == 0) {
            &body[..1]
        } else {
            let end = body.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
            &body[..end]
        };
        NetbiosName {
            name: body.iter().map(|&b| char::from(b)).collect(),
            suffix: suffix[0],
            scoped: false,
        }
    }
}

impl fmt::Display for NetbiosName {
    /// `NAME<xx>`. Bytes outside printable ASCII (possible only in names
    /// from the wire, such as the browsers' `\x01\x02__MSBROWSE__\x02<01>`)
    /// and `\` itself are shown as `\xNN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.name.chars() {
            if (' '..='~').contains(&c) && c != '\\' {
                write!(f, "{c}")?;
            } else {
                write!(f, "\\x{:02x}", u32::from(c))?;
            }
        }
        write!(f, "<{:02x}>", self.suffix)
    }
}

/// Splits `NAME<xx>` or `NAME#xx` into name and suffix; `(None, None)` when
/// the spelling has neither form of suffix.
fn split_suffix(spelling: &str) -> Result<(Option<&str>, Option<u8>), WireError> {
    if let Some(inner) = spelling.strip_suffix('>') {
        let (name, hex) = inner.rsplit_once('<').ok_or(WireError::NameBadSpelling)?;
        return Ok((Some(name), Some(parse_hex_byte(hex)?)));
    }
    if let Some((name, hex)) = spelling.rsplit_once('#')
        && hex.len() == 2
        && let Ok(suffix) = parse_hex_byte(hex)
    {
        return Ok((Some(name), Some(suffix)));
    }
    Ok((None, None))
}

fn parse_hex_byte(hex: &str) -> Result<u8, WireError> {
    if hex.len() != 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WireError::NameBadSpelling);
    }
    u8::from_str_radix(hex, 16).map_err(|_| WireError::NameBadSpelling)
}

fn check_label_len(len: u8) -> Result<(), WireError> {
    match len & 0xC0 {
        0 => Ok(()),
        0xC0 => Err(WireError::NameCompressed),
        // 0x40 and 0x80 are label types RFC 1035 reserves.
        _ => Err(WireError::NameBadLength(len)),
    }
}

fn letter_value(letter: u8) -> Result<u8, WireError> {
    if (b'A'..=b'P').contains(&letter) {
        Ok(letter - b'A')
    } else {
        Err(WireError::NameBadLetter(letter))
    }
}

// Name service header (RFC 1002 §4.2.1.1), big-endian: NAME_TRN_ID,
// flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
pub(crate) const NS_HEADER_LEN: usize = 12;
pub(crate) const FLAG_RESPONSE: u16 = 0x8000;
pub(crate) const OPCODE_SHIFT: u16 = 11;
const OPCODE_MASK: u16 = 0xF;
pub(crate) const OPCODE_QUERY: u8 = 0;
pub(crate) const FLAG_AUTHORITATIVE: u16 = 0x0400;
pub(crate) const FLAG_RECURSION_DESIRED: u16 = 0x0100;
pub(crate) const FLAG_BROADCAST: u16 = 0x0010;
const RCODE_MASK: u16 = 0x000F;
/// QTYPE/RR_TYPE NB: a name-to-address record.
pub(crate) const TYPE_NB: u16 = 0x0020;
/// QCLASS/RR_CLASS IN.
pub(crate) const CLASS_IN: u16 = 0x0001;
/// NB_FLAGS: G (group name) and ONT (owner node type).
pub(crate) const NB_FLAG_GROUP: u16 = 0x8000;
pub(crate) const NB_ONT_SHIFT: u16 = 13;
/// NB_FLAGS plus an IPv4 address.
const NB_ADDRESS_LEN: usize = 6;

/// A NAME QUERY REQUEST (RFC 1002 §4.2.12): who owns this name?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameQuery {
    pub trn_id: u16,
    pub name: NetbiosName,
    /// Sent to the broadcast address (B flag) rather than to a name server.
    pub broadcast: bool,
    pub recursion_desired: bool,
}

impl NameQuery {
    /// A query as a B node sends it: broadcast, recursion desired
    /// (flags 0x0110, as Windows and Samba send them).
    pub fn broadcast(trn_id: u16, name: NetbiosName) -> NameQuery {
        NameQuery {
            trn_id,
            name,
            broadcast: true,
            recursion_desired: true,
        }
    }

    /// The packet: header with QDCOUNT 1, the name, QTYPE NB, QCLASS IN.
    pub fn build(&self) -> Vec<u8> {
        let mut flags = u16::from(OPCODE_QUERY) << OPCODE_SHIFT;
        if self.recursion_desired {
            flags |= FLAG_RECURSION_DESIRED;
        }
        if self.broadcast {
            flags |= FLAG_BROADCAST;
        }
        let mut out = Vec::with_capacity(NS_HEADER_LEN + ENCODED_NAME_LEN + 4);
        put_ns_header(&mut out, self.trn_id, flags, [1, 0, 0, 0]);
        self.name.encode_into(&mut out);
        out.extend_from_slice(&TYPE_NB.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out
    }

    /// Reads a query, so mailslotfs can answer for its own names. Anything
    /// but a single-question NB query is refused: registrations, releases
    /// and refreshes by opcode, node status requests (NBSTAT) by type.
    pub fn parse(packet: &[u8]) -> Result<NameQuery, WireError> {
        let mut r = Reader::new(packet);
        let (trn_id, flags, counts) = read_ns_header(&mut r)?;
        if flags & FLAG_RESPONSE != 0 {
            return Err(WireError::NotRequest);
        }
        check_opcode(flags)?;
        if counts[0] != 1 {
            return Err(WireError::BadQuestionCount(counts[0]));
        }
        let name = NetbiosName::read(&mut r)?;
        check_type_class(&mut r)?;
        Ok(NameQuery {
            trn_id,
            name,
            broadcast: flags & FLAG_BROADCAST != 0,
            recursion_desired: flags & FLAG_RECURSION_DESIRED != 0,
        })
    }
}

/// One owner of a name, from the RDATA of a name record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NbAddress {
    pub ip: Ipv4Addr,
    /// The name is a group name (G bit) rather than a unique one.
    pub group: bool,
    /// Owner node type (ONT).
    pub node_type: NodeType,
}

/// A POSITIVE NAME QUERY RESPONSE (RFC 1002 §4.2.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameQueryResponse {
    pub trn_id: u16,
    pub name: NetbiosName,
    /// Seconds the answer may be cached.
    pub ttl: u32,
    pub addresses: Vec<NbAddress>,
}

impl NameQueryResponse {
    /// The answer to `query`: same transaction id and name.
    pub fn answer(query: &NameQuery, ttl: u32, addresses: Vec<NbAddress>) -> NameQueryResponse {
        NameQueryResponse {
            trn_id: query.trn_id,
            name: query.name.clone(),
            ttl,
            addresses,
        }
    }

    /// The packet: flags 0x8500 (response, opcode query, authoritative,
    /// recursion desired), ANCOUNT 1, then one NB record whose RDATA holds
    /// six bytes per address. Refuses an empty address list, which would
    /// be a malformed positive answer, and lists too long for the 16-bit
    /// RDLENGTH or a UDP datagram.
    pub fn build(&self) -> Result<Vec<u8>, WireError> {
        let n = self.addresses.len();
        if n == 0 {
            return Err(WireError::NoAddresses);
        }
        let rdata_len = n
            .checked_mul(NB_ADDRESS_LEN)
            .filter(|&l| l <= usize::from(u16::MAX))
            .ok_or(WireError::TooManyAddresses(n))?;
        let total = NS_HEADER_LEN + ENCODED_NAME_LEN + 10 + rdata_len;
        if total > MAX_UDP_PAYLOAD {
            return Err(WireError::TooManyAddresses(n));
        }
        let rdlength = u16::try_from(rdata_len).map_err(|_| WireError::TooManyAddresses(n))?;
        let flags = FLAG_RESPONSE
            | (u16::from(OPCODE_QUERY) << OPCODE_SHIFT)
            | FLAG_AUTHORITATIVE
            | FLAG_RECURSION_DESIRED;
        let mut out = Vec::with_capacity(total);
        put_ns_header(&mut out, self.trn_id, flags, [0, 1, 0, 0]);
        self.name.encode_into(&mut out);
        out.extend_from_slice(&TYPE_NB.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&self.ttl.to_be_bytes());
        out.extend_from_slice(&rdlength.to_be_bytes());
        for a in &self.addresses {
            let mut nb_flags = u16::from(a.node_type.code()) << NB_ONT_SHIFT;
            if a.group {
                nb_flags |= NB_FLAG_GROUP;
            }
            out.extend_from_slice(&nb_flags.to_be_bytes());
            out.extend_from_slice(&a.ip.octets());
        }
        Ok(out)
    }

    /// Reads a positive response. A negative one (RCODE ≠ 0) is
    /// [`WireError::NegativeResponse`]; a WACK or any other opcode is
    /// [`WireError::UnexpectedOpcode`]. Questions echoed before the answer
    /// are skipped; only the first answer record is read.
    pub fn parse(packet: &[u8]) -> Result<NameQueryResponse, WireError> {
        let mut r = Reader::new(packet);
        let (trn_id, flags, counts) = read_ns_header(&mut r)?;
        if flags & FLAG_RESPONSE == 0 {
            return Err(WireError::NotResponse);
        }
        check_opcode(flags)?;
        let rcode = (flags & RCODE_MASK) as u8;
        if rcode != 0 {
            return Err(WireError::NegativeResponse(rcode));
        }
        if counts[1] == 0 {
            return Err(WireError::NoAnswer);
        }
        for _ in 0..counts[0] {
            NetbiosName::read(&mut r)?;
            r.take(4, "question type and class")?;
        }
        let name = NetbiosName::read(&mut r)?;
        check_type_class(&mut r)?;
        let ttl = r.be32("TTL")?;
        let rdlength = r.be16("RDLENGTH")?;
        if rdlength == 0 || usize::from(rdlength) % NB_ADDRESS_LEN != 0 {
            return Err(WireError::BadRdLength(rdlength));
        }
        let rdata = r.take(usize::from(rdlength), "RDATA")?;
        let addresses = rdata
            .chunks_exact(NB_ADDRESS_LEN)
            .map(|e| {
                let nb_flags = u16::from_be_bytes([e[0], e[1]]);
                NbAddress {
                    ip: Ipv4Addr::new(e[2], e[3], e[4], e[5]),
                    group: nb_flags & NB_FLAG_GROUP != 0,
                    node_type: NodeType::from_code((nb_flags >> NB_ONT_SHIFT) as u8),
                }
            })
            .collect();
        Ok(NameQueryResponse {
            trn_id,
            name,
            ttl,
            addresses,
        })
    }
}

pub(crate) fn put_ns_header(out: &mut Vec<u8>, trn_id: u16, flags: u16, counts: [u16; 4]) {
    out.extend_from_slice(&trn_id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        out.extend_from_slice(&c.to_be_bytes());
    }
}

/// Transaction id, flags, and QDCOUNT/ANCOUNT/NSCOUNT/ARCOUNT.
fn read_ns_header(r: &mut Reader<'_>) -> Result<(u16, u16, [u16; 4]), WireError> {
    let trn_id = r.be16("name service header")?;
    let flags = r.be16("name service header")?;
    let mut counts = [0u16; 4];
    for c in &mut counts {
        *c = r.be16("name service header")?;
    }
    Ok((trn_id, flags, counts))
}

fn check_opcode(flags: u16) -> Result<(), WireError> {
    let opcode = ((flags >> OPCODE_SHIFT) & OPCODE_MASK) as u8;
    if opcode != OPCODE_QUERY {
        return Err(WireError::UnexpectedOpcode(opcode));
    }
    Ok(())
}

fn check_type_class(r: &mut Reader<'_>) -> Result<(), WireError> {
    let rtype = r.be16("record type")?;
    if rtype != TYPE_NB {
        return Err(WireError::UnexpectedType(rtype));
    }
    let class = r.be16("record class")?;
    if class != CLASS_IN {
        return Err(WireError::UnexpectedClass(class));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str, suffix: u8) -> NetbiosName {
        NetbiosName::new(s, suffix).unwrap()
    }

    use crate::net::test_rng::Rng;

    #[test]
    fn constructor_validates_and_upper_cases() {
        let n = name("host-1", 0x20);
        assert_eq!(n.name(), "HOST-1");
        assert_eq!(n.suffix(), 0x20);
        assert_eq!(NetbiosName::new("", 0), Err(WireError::NameEmpty));
        assert_eq!(
            NetbiosName::new("ABCDEFGHIJKLMNOP", 0),
            Err(WireError::NameTooLong(16))
        );
        assert!(NetbiosName::new("ABCDEFGHIJKLMNO", 0).is_ok());
        assert_eq!(
            NetbiosName::new("A\tB", 0),
            Err(WireError::NameBadChar('\t'))
        );
        assert_eq!(NetbiosName::new("Ä", 0), Err(WireError::NameBadChar('Ä')));
        assert_eq!(NetbiosName::new("A/B", 0), Err(WireError::NameBadChar('/')));
        assert_eq!(NetbiosName::new("A<B", 0), Err(WireError::NameBadChar('<')));
        assert_eq!(
            NetbiosName::new("AB ", 0),
            Err(WireError::NameTrailingSpace)
        );
        assert!(NetbiosName::new("MY HOST", 0).is_ok());
    }

    #[test]
    fn spellings() {
        let dc = name("DOMAIN", 0x1C);
        assert_eq!(NetbiosName::parse("DOMAIN<1C>", 0).unwrap(), dc);
        assert_eq!(NetbiosName::parse("domain<1c>", 0).unwrap(), dc);
        assert_eq!(NetbiosName::parse("DOMAIN#1C", 0).unwrap(), dc);
        assert_eq!(NetbiosName::parse("Domain#1c", 0).unwrap(), dc);
        assert_eq!(NetbiosName::parse("DOMAIN", 0x1C).unwrap(), dc);
        assert_eq!(NetbiosName::parse("HOST", 0).unwrap(), name("HOST", 0));
        // A `#` not followed by exactly two hex digits is part of the name.
        assert_eq!(NetbiosName::parse("A#B", 0).unwrap(), name("A#B", 0));
        assert_eq!(NetbiosName::parse("A#1", 0).unwrap(), name("A#1", 0));
        for bad in [
            "DOMAIN<1C",
            "DOMAIN1C>",
            "DOMAIN<1>",
            "DOMAIN<1CC>",
            "D<X>",
            "D<zz>",
        ] {
            assert_eq!(
                NetbiosName::parse(bad, 0),
                Err(WireError::NameBadSpelling),
                "{bad}"
            );
        }
        assert_eq!(NetbiosName::parse("<1C>", 0), Err(WireError::NameEmpty));
        assert_eq!(
            NetbiosName::parse("ABCDEFGHIJKLMNOP<00>", 0),
            Err(WireError::NameTooLong(16))
        );
    }

    #[test]
    fn display_round_trips_through_parse() {
        let dc = name("DOMAIN", 0x1C);
        assert_eq!(dc.to_string(), "DOMAIN<1c>");
        assert_eq!(NetbiosName::parse(&dc.to_string(), 0).unwrap(), dc);
        assert_eq!(name("A#B", 0).to_string(), "A#B<00>");
        assert_eq!(NetbiosName::parse("A#B<00>", 7).unwrap(), name("A#B", 0));
    }

    #[test]
    fn exact_encoding() {
        // "HOST" padded with 11 spaces, suffix 0x20; each byte b becomes
        // 'A'+(b>>4), 'A'+(b&15): H=0x48→EI O=0x4F→EP S=0x53→FD T=0x54→FE,
        // space=0x20→CA, 0x20 suffix→CA.
        let mut expected = vec![0x20];
        expected.extend_from_slice(b"EIEPFDFE");
        expected.extend_from_slice(&b"CA".repeat(11));
        expected.extend_from_slice(b"CA");
        expected.push(0x00);
        assert_eq!(name("host", 0x20).encode(), expected);
        assert_eq!(expected.len(), ENCODED_NAME_LEN);

        // "DOMAIN"<1C>: D=44→EE O→EP M=4D→EN A=41→EB I=49→EJ N=4E→EO,
        // 9 spaces, 0x1C→BM.
        let mut expected = vec![0x20];
        expected.extend_from_slice(b"EEEPENEBEJEO");
        expected.extend_from_slice(&b"CA".repeat(9));
        expected.extend_from_slice(b"BM");
        expected.push(0x00);
        assert_eq!(name("DOMAIN", 0x1C).encode(), expected);
    }

    #[test]
    fn wildcard_is_nul_padded() {
        // RFC 1002's "*" name: '*'=0x2A→CK, then 15 NUL bytes→AA.
        let star = NetbiosName::decode(b"\x20CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x00")
            .unwrap()
            .0;
        assert_eq!(star.name(), "*");
        assert_eq!(star.suffix(), 0);
        assert_eq!(
            star.encode(),
            b"\x20CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x00".to_vec()
        );
    }

    #[test]
    fn decode_round_trip_and_consumed() {
        for n in [
            name("A", 0),
            name("DOMAIN", 0x1C),
            name("ABCDEFGHIJKLMNO", 0xFF),
        ] {
            let mut wire = n.encode();
            wire.extend_from_slice(b"trailing");
            assert_eq!(NetbiosName::decode(&wire).unwrap(), (n, ENCODED_NAME_LEN));
        }
    }

    #[test]
    fn decode_keeps_wire_bytes() {
        // The browsers' \x01\x02__MSBROWSE__\x02<01>, and a lower-case name.
        let mut raw = *b"\x01\x02__MSBROWSE__\x02\x01";
        let encode = |raw: &[u8; 16]| {
            let mut wire = vec![0x20];
            for b in raw {
                wire.push(b'A' + (b >> 4));
                wire.push(b'A' + (b & 15));
            }
            wire.push(0);
            wire
        };
        let (browse, _) = NetbiosName::decode(&encode(&raw)).unwrap();
        assert_eq!(browse.suffix(), 1);
        assert_eq!(browse.to_string(), "\\x01\\x02__MSBROWSE__\\x02<01>");
        assert_eq!(browse.encode(), encode(&raw));

        raw = *b"host           \x00";
        let (lower, _) = NetbiosName::decode(&encode(&raw)).unwrap();
        assert_eq!(lower.name(), "host");
        assert_eq!(lower.encode(), encode(&raw));
        assert!(lower.same_name(&name("HOST", 0)));
        assert!(!lower.same_name(&name("HOST", 0x20)));
        assert_ne!(lower, name("HOST", 0));

        raw = *b"\xc4RGER          \x00";
        let (latin, _) = NetbiosName::decode(&encode(&raw)).unwrap();
        assert_eq!(latin.name(), "\u{c4}RGER");
        assert_eq!(latin.encode(), encode(&raw));
    }

    #[test]
    fn decode_skips_scope() {
        let mut wire = name("HOST", 0).encode();
        wire.pop();
        wire.extend_from_slice(b"\x07example\x03com\x00rest");
        let (n, used) = NetbiosName::decode(&wire).unwrap();
        assert_eq!(n.name(), "HOST");
        assert!(n.is_scoped());
        // Another scope's HOST<00> is another name.
        assert!(!n.same_name(&name("HOST", 0)));
        assert_ne!(n, name("HOST", 0));
        assert!(!name("HOST", 0).is_scoped());
        assert_eq!(used, wire.len() - 4);
    }

    #[test]
    fn decode_rejections() {
        let good = name("HOST", 0).encode();
        assert_eq!(
            NetbiosName::decode(b"\xc0\x0c"),
            Err(WireError::NameCompressed)
        );
        let mut bad = good.clone();
        bad[0] = 0x1F;
        assert_eq!(
            NetbiosName::decode(&bad),
            Err(WireError::NameBadLength(0x1F))
        );
        bad[0] = 0x60;
        assert_eq!(
            NetbiosName::decode(&bad),
            Err(WireError::NameBadLength(0x60))
        );
        let mut bad = good.clone();
        bad[5] = b'Q';
        assert_eq!(
            NetbiosName::decode(&bad),
            Err(WireError::NameBadLetter(b'Q'))
        );
        bad[5] = b'a';
        assert_eq!(
            NetbiosName::decode(&bad),
            Err(WireError::NameBadLetter(b'a'))
        );
        // Pointer inside the scope.
        let mut bad = good.clone();
        bad.pop();
        bad.extend_from_slice(b"\xc0\x0c");
        assert_eq!(NetbiosName::decode(&bad), Err(WireError::NameCompressed));
        // Scope label over 63.
        let mut bad = good.clone();
        bad.pop();
        bad.push(64);
        bad.extend_from_slice(&[b'x'; 64]);
        bad.push(0);
        assert_eq!(NetbiosName::decode(&bad), Err(WireError::NameBadLength(64)));
        // Scope over 255 bytes in all.
        let mut bad = good.clone();
        bad.pop();
        for _ in 0..4 {
            bad.push(63);
            bad.extend_from_slice(&[b'x'; 63]);
        }
        bad.push(0);
        assert_eq!(NetbiosName::decode(&bad), Err(WireError::NameTooLongOnWire));
        // Every truncation.
        for cut in 0..good.len() {
            assert!(
                matches!(
                    NetbiosName::decode(&good[..cut]),
                    Err(WireError::Truncated(_))
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn query_exact_bytes() {
        let q = NameQuery::broadcast(0x1234, name("DOMAIN", 0x1C));
        let mut expected = vec![
            0x12, 0x34, // NAME_TRN_ID
            0x01, 0x10, // flags: opcode 0 (query), RD, B
            0x00, 0x01, // QDCOUNT
            0x00, 0x00, // ANCOUNT
            0x00, 0x00, // NSCOUNT
            0x00, 0x00, // ARCOUNT
        ];
        expected.push(0x20); // QUESTION_NAME: "DOMAIN"<1C>
        expected.extend_from_slice(b"EEEPENEBEJEOCACACACACACACACACABM");
        expected.push(0x00);
        expected.extend_from_slice(&[
            0x00, 0x20, // QUESTION_TYPE NB
            0x00, 0x01, // QUESTION_CLASS IN
        ]);
        assert_eq!(q.build(), expected);
        assert_eq!(NameQuery::parse(&expected).unwrap(), q);
    }

    #[test]
    fn query_rejections() {
        let good = NameQuery::broadcast(7, name("HOST", 0)).build();
        let mut bad = good.clone();
        bad[2] |= 0x80;
        assert_eq!(NameQuery::parse(&bad), Err(WireError::NotRequest));
        let mut bad = good.clone();
        bad[2] |= 5 << 3; // registration
        assert_eq!(NameQuery::parse(&bad), Err(WireError::UnexpectedOpcode(5)));
        let mut bad = good.clone();
        bad[5] = 2;
        assert_eq!(NameQuery::parse(&bad), Err(WireError::BadQuestionCount(2)));
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 3] = 0x21; // NBSTAT
        assert_eq!(NameQuery::parse(&bad), Err(WireError::UnexpectedType(0x21)));
        let mut bad = good.clone();
        bad[n - 1] = 0x02;
        assert_eq!(NameQuery::parse(&bad), Err(WireError::UnexpectedClass(2)));
        for cut in 0..good.len() {
            assert!(
                matches!(NameQuery::parse(&good[..cut]), Err(WireError::Truncated(_))),
                "cut at {cut}"
            );
        }
    }

    fn sample_response() -> NameQueryResponse {
        NameQueryResponse {
            trn_id: 0x1234,
            name: name("HOST", 0x20),
            ttl: DEFAULT_TTL,
            addresses: vec![NbAddress {
                ip: Ipv4Addr::new(192, 168, 1, 10),
                group: false,
                node_type: NodeType::B,
            }],
        }
    }

    #[test]
    fn response_exact_bytes() {
        let mut expected = vec![
            0x12, 0x34, // NAME_TRN_ID
            0x85, 0x00, // flags: R, opcode 0, AA, RD; RCODE 0
            0x00, 0x00, // QDCOUNT
            0x00, 0x01, // ANCOUNT
            0x00, 0x00, // NSCOUNT
            0x00, 0x00, // ARCOUNT
        ];
        expected.push(0x20); // RR_NAME: "HOST"<20>
        expected.extend_from_slice(b"EIEPFDFECACACACACACACACACACACACA");
        expected.push(0x00);
        expected.extend_from_slice(&[
            0x00, 0x20, // RR_TYPE NB
            0x00, 0x01, // RR_CLASS IN
            0x00, 0x04, 0x93, 0xE0, // TTL 300000
            0x00, 0x06, // RDLENGTH
            0x00, 0x00, // NB_FLAGS: unique, ONT B
            192, 168, 1, 10, // NB_ADDRESS
        ]);
        let r = sample_response();
        assert_eq!(r.build().unwrap(), expected);
        assert_eq!(NameQueryResponse::parse(&expected).unwrap(), r);
    }

    #[test]
    fn response_group_and_several_addresses() {
        let q = NameQuery::broadcast(9, name("DOMAIN", 0x1C));
        let addrs = vec![
            NbAddress {
                ip: Ipv4Addr::new(10, 0, 0, 1),
                group: true,
                node_type: NodeType::H,
            },
            NbAddress {
                ip: Ipv4Addr::new(10, 0, 0, 2),
                group: true,
                node_type: NodeType::M,
            },
        ];
        let r = NameQueryResponse::answer(&q, 60, addrs);
        let wire = r.build().unwrap();
        // NB_FLAGS of the first entry: G (0x8000) | ONT H (3 << 13).
        assert_eq!(&wire[62 - 6..62 - 4], &[0xE0, 0x00]);
        assert_eq!(NameQueryResponse::parse(&wire).unwrap(), r);
    }

    #[test]
    fn response_skips_echoed_question() {
        let r = sample_response();
        let wire = r.build().unwrap();
        let mut with_q = wire[..12].to_vec();
        with_q[5] = 1; // QDCOUNT 1
        with_q.extend_from_slice(&NameQuery::broadcast(1, r.name.clone()).build()[12..]);
        with_q.extend_from_slice(&wire[12..]);
        assert_eq!(NameQueryResponse::parse(&with_q).unwrap(), r);
    }

    #[test]
    fn response_rejections() {
        let good = sample_response().build().unwrap();
        let mut bad = good.clone();
        bad[2] &= 0x7F;
        assert_eq!(NameQueryResponse::parse(&bad), Err(WireError::NotResponse));
        let mut bad = good.clone();
        bad[3] |= 0x03; // RCODE NAM_ERR
        assert_eq!(
            NameQueryResponse::parse(&bad),
            Err(WireError::NegativeResponse(3))
        );
        let mut bad = good.clone();
        bad[2] = 0x80 | (7 << 3); // WACK
        assert_eq!(
            NameQueryResponse::parse(&bad),
            Err(WireError::UnexpectedOpcode(7))
        );
        let mut bad = good.clone();
        bad[7] = 0;
        assert_eq!(NameQueryResponse::parse(&bad), Err(WireError::NoAnswer));
        let mut bad = good.clone();
        bad[12 + 34 + 9] = 5; // RDLENGTH 5
        assert_eq!(
            NameQueryResponse::parse(&bad),
            Err(WireError::BadRdLength(5))
        );
        bad[12 + 34 + 9] = 0;
        assert_eq!(
            NameQueryResponse::parse(&bad),
            Err(WireError::BadRdLength(0))
        );
        let mut bad = good.clone();
        bad[12 + 34 + 9] = 12; // claims two entries, carries one
        assert!(matches!(
            NameQueryResponse::parse(&bad),
            Err(WireError::Truncated(_))
        ));
        for cut in 0..good.len() {
            assert!(
                matches!(
                    NameQueryResponse::parse(&good[..cut]),
                    Err(WireError::Truncated(_))
                ),
                "cut at {cut}"
            );
        }
        let mut empty = sample_response();
        empty.addresses.clear();
        assert_eq!(empty.build(), Err(WireError::NoAddresses));
    }

    #[test]
    fn never_panics_on_mutations() {
        let seeds = [
            NameQuery::broadcast(1, name("DOMAIN", 0x1C)).build(),
            sample_response().build().unwrap(),
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for seed in &seeds {
            for _ in 0..5000 {
                let mut p = seed.clone();
                for _ in 0..=rng.below(4) {
                    match rng.below(4) {
                        0 | 1 => rng.scramble_byte(&mut p),
                        2 => p.truncate(rng.below(p.len() + 1)),
                        _ => p.push(rng.next() as u8),
                    }
                    if p.is_empty() {
                        p.push(0);
                    }
                }
                if let Ok(q) = NameQuery::parse(&p) {
                    assert_eq!(NameQuery::parse(&q.build()).unwrap(), q);
                }
                if let Ok(r) = NameQueryResponse::parse(&p) {
                    assert_eq!(NameQueryResponse::parse(&r.build().unwrap()).unwrap(), r);
                }
                let _ = NetbiosName::decode(&p);
            }
        }
        for _ in 0..5000 {
            let len = rng.below(80);
            let p: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let _ = NameQuery::parse(&p);
            let _ = NameQueryResponse::parse(&p);
            let _ = NetbiosName::decode(&p);
        }
    }
}
