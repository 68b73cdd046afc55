//! The Remote Mailslot Protocol on the wire: an SMB_COM_TRANSACTION
//! "mailslot write" ([MS-MAIL] §2.2.1, [MS-CIFS] §2.2.4.33) carried as the
//! user data of a NetBIOS datagram (RFC 1002 §4.4), sent to UDP port 138.
//!
//! ```text
//! NetBIOS datagram header, big-endian           SMB part, little-endian
//!  0  MSG_TYPE  0x10 unique / 0x11 group /        0  FF 'S' 'M' 'B'
//!               0x12 broadcast                    4  command 0x25, then 27 zero bytes
//!  1  FLAGS     bit0 MORE, bit1 FIRST,           32  WordCount 17
//!               bits 2-3 node type               33  TotalParameterCount, TotalDataCount,
//!  2  DGM_ID                                         MaxParameterCount, MaxDataCount,
//!  4  SOURCE_IP                                      MaxSetupCount, reserved, Flags,
//!  8  SOURCE_PORT                                    Timeout (u32), reserved,
//! 10  DGM_LENGTH    bytes after offset 14            ParameterCount, ParameterOffset,
//! 12  PACKET_OFFSET 0 unless fragmented              DataCount, DataOffset,
//! 14  SOURCE_NAME       34 bytes                     SetupCount 3, reserved,
//! 48  DESTINATION_NAME  34 bytes                     Setup: 1 (write), priority, class
//! 82  SMB part                                   67  ByteCount
//!                                                69  "\MAILSLOT\..." NUL, padding, data
//! ```
//!
//! Everything here is pure: bytes in, values out, no sockets, no clock.
//! Parsing never panics and never reads outside its input, whatever the
//! input; every way a packet can be wrong has its own [`WireError`], and
//! [`WireError::class`] sorts them for the daemon's counters.
//!
//! # Choices that follow real senders
//!
//! - **Padding.** [MS-MAIL] §2.2.1 says the data MUST start on a 4-byte
//!   boundary of the SMB message, and Windows pads accordingly (its example
//!   capture has DataOffset 104 after a name ending at 101). Samba does not
//!   pad. Both Windows and Samba locate the data by DataOffset, so padded
//!   datagrams are read correctly by every known receiver; mailslotfs pads
//!   as the specification and Windows do. For `\MAILSLOT\NET\NETLOGON` no
//!   padding is needed: DataOffset is 92 either way.
//! - **ParameterOffset.** A mailslot write has no parameters. Windows puts
//!   DataOffset in ParameterOffset (an empty parameter block where the data
//!   starts; the capture in [MS-MAIL] §4 shows 104 and 104), Samba leaves it
//!   0, and Samba, Windows and Wireshark all ignore it when ParameterCount
//!   is 0. mailslotfs writes DataOffset, like Windows, and ignores the field
//!   on receipt.
//! - **Fragments.** The protocol has no segmentation ([MS-MAIL] §3.1.5), so
//!   a datagram with the MORE flag or a non-zero PACKET_OFFSET is refused
//!   ([`WireError::Fragment`]): mailslotfs drops fragments rather than
//!   deliver part of a message.
//! - **Receipt.** Fields [MS-MAIL] says to ignore on receipt are ignored:
//!   the SMB header beyond protocol and command, parameter counts and
//!   offset, Max* counts, Flags, Timeout, priority, class, and ByteCount
//!   (beyond refusing one that runs past the packet).

use std::net::Ipv4Addr;

// The error, the size limits and the reading every packet parser shares
// live in codec, which names (and so the datagrams' names) build on too.
use super::codec::Reader;
pub use super::codec::{ErrorClass, MAX_UDP_PAYLOAD, SizeLimit, WireError};
use super::names::{ENCODED_NAME_LEN, NameQuery, NameQueryResponse, NetbiosName, NodeType};

/// UDP port of the NetBIOS datagram service.
pub const DATAGRAM_PORT: u16 = 138;

/// Microsoft's limit on the data of a write to a domain or to `*`.
pub const MAX_DATA_DOMAIN: usize = 424;
/// [MS-MAIL] §2.1: over UDP the mailslot name (with its NUL and any
/// padding) plus the data SHOULD be at most this. It is 512, the largest
/// SMB message Windows sends or accepts, minus the 69 bytes before the name.
pub const MAX_NAME_PLUS_DATA: usize = 443;
/// Samba's nmbd reads at most this many bytes of a datagram (the whole UDP
/// payload); anything longer is cut short and dropped as malformed.
pub const MAX_DATAGRAM: usize = 576;

/// How every mailslot name on the wire starts; compared without case.
pub const MAILSLOT_PREFIX: &str = "\\MAILSLOT\\";

/// [MS-MAIL] priorities run 0–9; Samba sends 1, and receivers ignore it.
pub const DEFAULT_PRIORITY: u16 = 1;
/// Class 1: reliable, never broadcast; not used over datagrams.
pub const CLASS_RELIABLE: u16 = 1;
/// Class 2: unreliable and broadcast, what every datagram write carries.
pub const CLASS_UNRELIABLE: u16 = 2;

const DGM_HEADER_LEN: usize = 14;
/// Header plus source and destination names: where the SMB part starts.
const DGM_SMB_START: usize = DGM_HEADER_LEN + 2 * ENCODED_NAME_LEN;
const FLAG_MORE: u8 = 0x01;
const FLAG_FIRST: u8 = 0x02;
const NODE_TYPE_SHIFT: u8 = 2;

const SMB_PROTOCOL: [u8; 4] = [0xFF, b'S', b'M', b'B'];
const SMB_COM_TRANSACTION: u8 = 0x25;
const SMB_HEADER_LEN: usize = 32;
const TRANS_WORD_COUNT: u8 = 17;
const TRANS_SETUP_COUNT: u8 = 3;
const MAILSLOT_WRITE: u16 = 1;
/// SMB header, WordCount, 17 words, ByteCount: where the name starts.
const SMB_NAME_OFFSET: usize = SMB_HEADER_LEN + 1 + 2 * TRANS_WORD_COUNT as usize + 2;

// Here rather than beside the type in codec: the limits are computed from
// the datagram's layout, which is this module's.
impl SizeLimit {
    /// The largest message (data bytes) that may go to `mailslot` under
    /// this limit; `None` if the name alone leaves no room. For
    /// `\MAILSLOT\NET\NETLOGON`: Domain 420, Protocol 420, Samba 402.
    pub fn max_data_len(self, mailslot: &str) -> Option<usize> {
        let data_offset = data_offset_for(mailslot.len());
        let format = (MAX_UDP_PAYLOAD - DGM_SMB_START).checked_sub(data_offset);
        let protocol = MAX_NAME_PLUS_DATA.checked_sub(data_offset - SMB_NAME_OFFSET);
        let limit = match self {
            SizeLimit::Format => format,
            SizeLimit::Protocol => protocol,
            SizeLimit::Domain => protocol.map(|p| p.min(MAX_DATA_DOMAIN)),
            SizeLimit::Samba => (MAX_DATAGRAM - DGM_SMB_START).checked_sub(data_offset),
        };
        limit.zip(format).map(|(l, f)| l.min(f))
    }
}

/// Where the data starts in the SMB message for a name of `name_len`
/// bytes: after the name and its NUL, rounded up to 4 ([MS-MAIL] §2.2.1).
fn data_offset_for(name_len: usize) -> usize {
    (SMB_NAME_OFFSET + name_len + 1).next_multiple_of(4)
}

/// The three datagram types that carry user data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 0x10: to a unique name.
    DirectUnique,
    /// 0x11: to a group name (Windows uses it for `DOMAIN<1C>`).
    DirectGroup,
    /// 0x12: to every node listening.
    Broadcast,
}

impl MessageType {
    pub fn code(self) -> u8 {
        match self {
            MessageType::DirectUnique => 0x10,
            MessageType::DirectGroup => 0x11,
            MessageType::Broadcast => 0x12,
        }
    }

    /// The type of a MSG_TYPE byte; [`WireError::NotDatagram`] for the
    /// other datagram-service messages, which the daemon skips.
    pub fn from_code(code: u8) -> Result<MessageType, WireError> {
        match code {
            0x10 => Ok(MessageType::DirectUnique),
            0x11 => Ok(MessageType::DirectGroup),
            0x12 => Ok(MessageType::Broadcast),
            0x13..=0x16 => Err(WireError::NotDatagram(code)),
            _ => Err(WireError::UnknownMessageType(code)),
        }
    }
}

/// One mailslot write as it travels in a NetBIOS datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailslotDatagram {
    pub msg_type: MessageType,
    /// Sender's node type, from the datagram flags. Receivers ignore it.
    pub node_type: NodeType,
    /// Datagram id; RFC 1002 uses it only to reassemble fragments.
    pub dgm_id: u16,
    pub source_ip: Ipv4Addr,
    pub source_port: u16,
    pub source: NetbiosName,
    pub destination: NetbiosName,
    /// The full name as sent, such as `\MAILSLOT\NET\NETLOGON`.
    pub mailslot: String,
    pub data: Vec<u8>,
    pub priority: u16,
    pub class: u16,
    /// Milliseconds; 0 or 1000 in practice, ignored by receivers.
    pub timeout: u32,
}

impl MailslotDatagram {
    /// A write with the usual defaults: B node, datagram id 0, source port
    /// 138, priority 1, class 2, timeout 0.
    pub fn new(
        msg_type: MessageType,
        source: NetbiosName,
        source_ip: Ipv4Addr,
        destination: NetbiosName,
        mailslot: impl Into<String>,
        data: Vec<u8>,
    ) -> MailslotDatagram {
        MailslotDatagram {
            msg_type,
            node_type: NodeType::B,
            dgm_id: 0,
            source_ip,
            source_port: DATAGRAM_PORT,
            source,
            destination,
            mailslot: mailslot.into(),
            data,
            priority: DEFAULT_PRIORITY,
            class: CLASS_UNRELIABLE,
            timeout: 0,
        }
    }

    /// The UDP payload. Refuses a mailslot name that is not `\MAILSLOT\`
    /// plus printable ASCII ([`WireError::BadMailslotName`]) and data over
    /// `limit` ([`WireError::TooLarge`], which the daemon reports as
    /// EMSGSIZE).
    pub fn build(&self, limit: SizeLimit) -> Result<Vec<u8>, WireError> {
        check_mailslot_name(self.mailslot.as_bytes())?;
        let max = limit.max_data_len(&self.mailslot);
        if max.is_none_or(|max| self.data.len() > max) {
            return Err(WireError::TooLarge {
                limit,
                len: self.data.len(),
                max,
            });
        }
        let data_offset = data_offset_for(self.mailslot.len());
        let smb_len = data_offset + self.data.len();
        // The limit check keeps every length within its field; a failure
        // here would be a bug, reported rather than sent wrong.
        let too_large = |_| WireError::TooLarge {
            limit,
            len: self.data.len(),
            max,
        };
        let dgm_length = u16::try_from(smb_len + 2 * ENCODED_NAME_LEN).map_err(too_large)?;
        let data_offset16 = u16::try_from(data_offset).map_err(too_large)?;
        let data_len16 = u16::try_from(self.data.len()).map_err(too_large)?;
        let byte_count = u16::try_from(smb_len - SMB_NAME_OFFSET).map_err(too_large)?;

        let mut out = Vec::with_capacity(DGM_SMB_START + smb_len);
        out.push(self.msg_type.code());
        out.push(FLAG_FIRST | (self.node_type.code() << NODE_TYPE_SHIFT));
        out.extend_from_slice(&self.dgm_id.to_be_bytes());
        out.extend_from_slice(&self.source_ip.octets());
        out.extend_from_slice(&self.source_port.to_be_bytes());
        out.extend_from_slice(&dgm_length.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes()); // PACKET_OFFSET
        self.source.encode_into(&mut out);
        self.destination.encode_into(&mut out);

        // SMB header: protocol, command, and zeros, as Samba and Windows
        // servers send it ([MS-MAIL] footnotes 3–5).
        out.extend_from_slice(&SMB_PROTOCOL);
        out.push(SMB_COM_TRANSACTION);
        out.resize(DGM_SMB_START + SMB_HEADER_LEN, 0);
        out.push(TRANS_WORD_COUNT);
        let le16 = |out: &mut Vec<u8>, v: u16| out.extend_from_slice(&v.to_le_bytes());
        le16(&mut out, 0); // TotalParameterCount
        le16(&mut out, data_len16); // TotalDataCount
        le16(&mut out, 0); // MaxParameterCount
        le16(&mut out, 0); // MaxDataCount
        out.push(0); // MaxSetupCount
        out.push(0); // Reserved
        le16(&mut out, 0); // Flags
        out.extend_from_slice(&self.timeout.to_le_bytes());
        le16(&mut out, 0); // Reserved2
        le16(&mut out, 0); // ParameterCount
        le16(&mut out, data_offset16); // ParameterOffset: as Windows, see above
        le16(&mut out, data_len16); // DataCount
        le16(&mut out, data_offset16); // DataOffset
        out.push(TRANS_SETUP_COUNT);
        out.push(0); // Reserved3
        le16(&mut out, MAILSLOT_WRITE);
        le16(&mut out, self.priority);
        le16(&mut out, self.class);
        le16(&mut out, byte_count);
        out.extend_from_slice(self.mailslot.as_bytes());
        out.push(0);
        out.resize(DGM_SMB_START + data_offset, 0); // padding
        out.extend_from_slice(&self.data);
        Ok(out)
    }

    /// Reads one UDP payload received on port 138.
    pub fn parse(packet: &[u8]) -> Result<MailslotDatagram, WireError> {
        let mut r = Reader::new(packet);
        let msg_type = MessageType::from_code(r.u8("datagram header")?)?;
        let flags = r.u8("datagram header")?;
        let dgm_id = r.be16("datagram header")?;
        let ip = r.take(4, "datagram header")?;
        let source_ip = Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]);
        let source_port = r.be16("datagram header")?;
        let dgm_length = r.be16("datagram header")?;
        let packet_offset = r.be16("datagram header")?;
        let more = flags & FLAG_MORE != 0;
        if more || packet_offset != 0 {
            return Err(WireError::Fragment {
                more,
                packet_offset,
            });
        }
        let body = r.rest();
        if body.len() < usize::from(dgm_length) {
            return Err(WireError::Truncated("datagram (DGM_LENGTH)"));
        }
        if body.len() > usize::from(dgm_length) {
            return Err(WireError::DgmLengthMismatch {
                dgm_length,
                actual: body.len(),
            });
        }
        let mut r = Reader::new(body);
        let source = NetbiosName::read(&mut r)?;
        let destination = NetbiosName::read(&mut r)?;
        let smb = parse_smb(r.rest())?;
        Ok(MailslotDatagram {
            msg_type,
            node_type: NodeType::from_code(flags >> NODE_TYPE_SHIFT),
            dgm_id,
            source_ip,
            source_port,
            source,
            destination,
            mailslot: smb.mailslot,
            data: smb.data,
            priority: smb.priority,
            class: smb.class,
            timeout: smb.timeout,
        })
    }
}

struct SmbWrite {
    mailslot: String,
    data: Vec<u8>,
    priority: u16,
    class: u16,
    timeout: u32,
}

fn parse_smb(smb: &[u8]) -> Result<SmbWrite, WireError> {
    let mut r = Reader::new(smb);
    if r.take(4, "SMB header")? != SMB_PROTOCOL {
        return Err(WireError::NotSmb);
    }
    let command = r.u8("SMB header")?;
    if command != SMB_COM_TRANSACTION {
        return Err(WireError::NotTransaction(command));
    }
    r.take(SMB_HEADER_LEN - 5, "SMB header")?;
    let word_count = r.u8("WordCount")?;
    if word_count != TRANS_WORD_COUNT {
        return Err(WireError::BadWordCount(word_count));
    }
    let _total_parameter_count = r.le16("transaction words")?;
    let total_data_count = r.le16("transaction words")?;
    let _max_parameter_count = r.le16("transaction words")?;
    let _max_data_count = r.le16("transaction words")?;
    let _max_setup_count = r.u8("transaction words")?;
    let _reserved = r.u8("transaction words")?;
    let _flags = r.le16("transaction words")?;
    let timeout = r.le32("transaction words")?;
    let _reserved2 = r.le16("transaction words")?;
    let _parameter_count = r.le16("transaction words")?;
    let _parameter_offset = r.le16("transaction words")?;
    let data_count = r.le16("transaction words")?;
    let data_offset = r.le16("transaction words")?;
    let setup_count = r.u8("transaction words")?;
    let _reserved3 = r.u8("transaction words")?;
    if setup_count != TRANS_SETUP_COUNT {
        return Err(WireError::BadSetupCount(setup_count));
    }
    let opcode = r.le16("transaction setup")?;
    if opcode != MAILSLOT_WRITE {
        return Err(WireError::NotMailslotWrite(opcode));
    }
    let priority = r.le16("transaction setup")?;
    let class = r.le16("transaction setup")?;
    let byte_count = r.le16("ByteCount")?;
    if total_data_count > data_count {
        return Err(WireError::IncompleteTransaction {
            total_data_count,
            data_count,
        });
    }
    let bytes = r.rest();
    if usize::from(byte_count) > bytes.len() {
        return Err(WireError::ByteCountOutOfRange {
            byte_count,
            available: bytes.len(),
        });
    }
    let nul = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or(WireError::MailslotNameUnterminated)?;
    let name = &bytes[..nul];
    check_mailslot_name(name)?;
    let name_end = SMB_NAME_OFFSET + nul + 1;
    let start = usize::from(data_offset);
    if start < name_end {
        return Err(WireError::DataOverlapsName {
            data_offset,
            name_end,
        });
    }
    let data =
        smb.get(start..start + usize::from(data_count))
            .ok_or(WireError::DataOutOfRange {
                data_offset,
                data_count,
                smb_len: smb.len(),
            })?;
    Ok(SmbWrite {
        mailslot: name.iter().map(|&b| char::from(b)).collect(),
        data: data.to_vec(),
        priority,
        class,
        timeout,
    })
}

/// `\MAILSLOT\` (any case), then at least one printable ASCII character;
/// [MS-MAIL] makes the name ASCII and the part after the prefix non-empty.
fn check_mailslot_name(name: &[u8]) -> Result<(), WireError> {
    let prefix = MAILSLOT_PREFIX.as_bytes();
    match name.get(..prefix.len()) {
        Some(p) if p.eq_ignore_ascii_case(prefix) => {}
        _ => {
            return Err(WireError::BadMailslotName(
                "does not start with \\MAILSLOT\\",
            ));
        }
    }
    if name.len() == prefix.len() {
        return Err(WireError::BadMailslotName("nothing after \\MAILSLOT\\"));
    }
    if !name.iter().all(|b| (b' '..=b'~').contains(b)) {
        return Err(WireError::BadMailslotName("not printable ASCII"));
    }
    Ok(())
}

/// The components of a mailslot name below `\MAILSLOT\`, as sent (case
/// included; the caller's lookup ignores case): `\MAILSLOT\NET\NETLOGON`
/// gives `["NET", "NETLOGON"]`. Refuses names that cannot be a path under
/// the mount: empty components, `.`, `..`, or a `/`.
pub fn mailslot_components(mailslot: &str) -> Result<Vec<&str>, WireError> {
    check_mailslot_name(mailslot.as_bytes())?;
    let rest = mailslot.get(MAILSLOT_PREFIX.len()..).unwrap_or_default();
    rest.split('\\')
        .map(|c| check_component(c).map(|()| c))
        .collect()
}

/// The wire name for path components below the mount's mailslot root:
/// `["net", "netlogon"]` gives `\MAILSLOT\net\netlogon` (the prefix in
/// upper case as Windows writes it, the rest as given, since names compare
/// without case). Refuses no components, empty ones, `.`, `..`, `\`, `/`,
/// NUL and anything outside printable ASCII, which the wire cannot carry.
pub fn mailslot_name<S: AsRef<str>>(components: &[S]) -> Result<String, WireError> {
    if components.is_empty() {
        return Err(WireError::BadMailslotName("nothing after \\MAILSLOT\\"));
    }
    let mut name = String::from(MAILSLOT_PREFIX);
    for (i, c) in components.iter().enumerate() {
        let c = c.as_ref();
        check_component(c)?;
        if !c.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(WireError::BadMailslotName("not printable ASCII"));
        }
        if i > 0 {
            name.push('\\');
        }
        name.push_str(c);
    }
    Ok(name)
}

fn check_component(c: &str) -> Result<(), WireError> {
    if c.is_empty() {
        return Err(WireError::BadMailslotName("empty component"));
    }
    if c == "." || c == ".." {
        return Err(WireError::BadMailslotName("component . or .."));
    }
    if c.contains(['/', '\\', '\0']) {
        return Err(WireError::BadMailslotName("component holds / \\ or NUL"));
    }
    Ok(())
}

/// Any packet mailslotfs reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyPacket {
    Datagram(MailslotDatagram),
    NameQuery(NameQuery),
    NameQueryResponse(NameQueryResponse),
}

/// Runs every parser on `bytes` and returns the first success, or the
/// datagram parser's error. For fuzzing: every parser sees every input.
pub fn parse_any(bytes: &[u8]) -> Result<AnyPacket, WireError> {
    let datagram = MailslotDatagram::parse(bytes);
    let query = NameQuery::parse(bytes);
    let response = NameQueryResponse::parse(bytes);
    let _ = NetbiosName::decode(bytes);
    match (datagram, query, response) {
        (Ok(d), _, _) => Ok(AnyPacket::Datagram(d)),
        (_, Ok(q), _) => Ok(AnyPacket::NameQuery(q)),
        (_, _, Ok(r)) => Ok(AnyPacket::NameQueryResponse(r)),
        (Err(e), _, _) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::names::{NbAddress, SUFFIX_DOMAIN_CONTROLLERS};

    const NETLOGON: &str = "\\MAILSLOT\\NET\\NETLOGON";
    /// Start of the SMB part in a datagram without scopes.
    const SMB: usize = DGM_SMB_START;

    fn name(s: &str, suffix: u8) -> NetbiosName {
        NetbiosName::new(s, suffix).unwrap()
    }

    /// HOST<00> at 192.168.1.10:138 writes "hi" to DOMAIN<1C>'s NETLOGON.
    fn sample() -> MailslotDatagram {
        MailslotDatagram {
            dgm_id: 0x1234,
            ..MailslotDatagram::new(
                MessageType::DirectGroup,
                name("HOST", 0),
                Ipv4Addr::new(192, 168, 1, 10),
                name("DOMAIN", SUFFIX_DOMAIN_CONTROLLERS),
                NETLOGON,
                b"hi".to_vec(),
            )
        }
    }

    fn set_le16(p: &mut [u8], at: usize, v: u16) {
        p[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn set_be16(p: &mut [u8], at: usize, v: u16) {
        p[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    /// Rewrites DGM_LENGTH to match the packet, after an edit changed its size.
    fn fix_dgm_length(p: &mut [u8]) {
        let len = u16::try_from(p.len() - DGM_HEADER_LEN).unwrap();
        set_be16(p, 10, len);
    }

    use crate::net::test_rng::Rng;

    #[test]
    fn exact_bytes_of_a_netlogon_write() {
        let mut expected: Vec<u8> = vec![
            0x11, // MSG_TYPE: DIRECT_GROUP
            0x02, // FLAGS: FIRST, node type B, not MORE
            0x12, 0x34, // DGM_ID
            192, 168, 1, 10, // SOURCE_IP
            0x00, 0x8A, // SOURCE_PORT 138
            0x00, 0xA2, // DGM_LENGTH 162 = 34 + 34 + 94-byte SMB part
            0x00, 0x00, // PACKET_OFFSET
        ];
        // SOURCE_NAME "HOST" + 11 spaces + 0x00: H=48→EI O=4F→EP S=53→FD
        // T=54→FE, space=20→CA, 00→AA.
        expected.push(0x20);
        expected.extend_from_slice(b"EIEPFDFECACACACACACACACACACACAAA");
        expected.push(0x00);
        // DESTINATION_NAME "DOMAIN" + 9 spaces + 0x1C: D=44→EE O→EP M=4D→EN
        // A=41→EB I=49→EJ N=4E→EO, 1C→BM.
        expected.push(0x20);
        expected.extend_from_slice(b"EEEPENEBEJEOCACACACACACACACACABM");
        expected.push(0x00);
        // SMB header.
        expected.extend_from_slice(&[0xFF, b'S', b'M', b'B']); // Protocol
        expected.push(0x25); // Command: SMB_COM_TRANSACTION
        expected.extend_from_slice(&[0; 27]); // Status .. MID, all zero
        expected.extend_from_slice(&[
            0x11, // WordCount 17
            0x00, 0x00, // TotalParameterCount
            0x02, 0x00, // TotalDataCount 2
            0x00, 0x00, // MaxParameterCount
            0x00, 0x00, // MaxDataCount
            0x00, // MaxSetupCount
            0x00, // Reserved
            0x00, 0x00, // Flags
            0x00, 0x00, 0x00, 0x00, // Timeout
            0x00, 0x00, // Reserved2
            0x00, 0x00, // ParameterCount
            0x5C, 0x00, // ParameterOffset 92 (= DataOffset, as Windows)
            0x02, 0x00, // DataCount 2
            0x5C, 0x00, // DataOffset 92 = 69 + 22-byte name + NUL, 4-aligned
            0x03, // SetupCount
            0x00, // Reserved3
            0x01, 0x00, // Setup[0]: write mailslot
            0x01, 0x00, // Setup[1]: priority 1
            0x02, 0x00, // Setup[2]: class 2
            0x19, 0x00, // ByteCount 25 = 22 + NUL + 2
        ]);
        expected.extend_from_slice(b"\\MAILSLOT\\NET\\NETLOGON\0"); // name
        expected.extend_from_slice(b"hi"); // data
        assert_eq!(expected.len(), 176);

        let built = sample().build(SizeLimit::Protocol).unwrap();
        assert_eq!(built, expected);
        assert_eq!(MailslotDatagram::parse(&expected).unwrap(), sample());
    }

    #[test]
    fn windows_client_to_domain_controllers() {
        // A primary query from an H-node Windows client, as [MS-MAIL]
        // footnote 13 describes the datagram: DIRECT_GROUP for a group
        // name, FIRST set, node type 3.
        let mut data = vec![0x07, 0x00]; // LOGON_PRIMARY_QUERY
        data.extend_from_slice(b"CLIENT1\0\\MAILSLOT\\NET\\GETDC123\0\0");
        for c in "CLIENT1\0".encode_utf16() {
            data.extend_from_slice(&c.to_le_bytes());
        }
        data.extend_from_slice(&[0x0B, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        let dgram = MailslotDatagram {
            node_type: NodeType::H,
            dgm_id: 0x8001,
            ..MailslotDatagram::new(
                MessageType::DirectGroup,
                NetbiosName::parse("client1", 0).unwrap(),
                Ipv4Addr::new(10, 1, 2, 3),
                NetbiosName::parse("DOMAIN<1C>", 0).unwrap(),
                NETLOGON,
                data.clone(),
            )
        };
        let wire = dgram.build(SizeLimit::Domain).unwrap();
        assert_eq!(wire[0], 0x11);
        assert_eq!(wire[1], 0x0E);
        let data_offset = u16::from_le_bytes([wire[SMB + 57], wire[SMB + 58]]);
        assert_eq!(data_offset, 92);
        let parameter_offset = u16::from_le_bytes([wire[SMB + 53], wire[SMB + 54]]);
        assert_eq!(parameter_offset, 92);
        let dgm_length = u16::from_be_bytes([wire[10], wire[11]]);
        assert_eq!(usize::from(dgm_length), 68 + 92 + data.len());
        assert_eq!(wire.len(), 14 + 68 + 92 + data.len());
        assert_eq!(&wire[SMB + 92..], &data[..]);
        let back = MailslotDatagram::parse(&wire).unwrap();
        assert_eq!(back, dgram);
        assert_eq!(back.destination.to_string(), "DOMAIN<1c>");
    }

    /// The SMB message of the capture in [MS-MAIL] §4, sent by Windows.
    const MS_MAIL_EXAMPLE: &[u8] = &[
        0xFF, 0x53, 0x4D, 0x42, 0x25, 0x00, 0x00, 0x00, 0x00, 0x18, 0x04, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFE, 0x00, 0x00,
        0x00, 0x00, 0x11, 0x00, 0x00, 0x24, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x68, 0x00, 0x24, 0x00, 0x68, 0x00, 0x03,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x47, 0x00, 0x5C, 0x4D, 0x41, 0x49, 0x4C, 0x53,
        0x4C, 0x4F, 0x54, 0x5C, 0x74, 0x65, 0x73, 0x74, 0x31, 0x5C, 0x73, 0x61, 0x6D, 0x70, 0x6C,
        0x65, 0x5F, 0x6D, 0x61, 0x69, 0x6C, 0x73, 0x6C, 0x6F, 0x74, 0x00, 0x00, 0x00, 0x00, 0xCA,
        0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA,
        0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA, 0xCA,
        0xCA, 0xCA, 0xCA, 0xCA, 0xCA,
    ];

    fn ms_mail_datagram() -> Vec<u8> {
        let mut p = sample().build(SizeLimit::Format).unwrap();
        p.truncate(SMB);
        p.extend_from_slice(MS_MAIL_EXAMPLE);
        fix_dgm_length(&mut p);
        p
    }

    #[test]
    fn reads_the_windows_example_and_writes_it_alike() {
        let d = MailslotDatagram::parse(&ms_mail_datagram()).unwrap();
        assert_eq!(d.mailslot, "\\MAILSLOT\\test1\\sample_mailslot");
        assert_eq!(d.data, vec![0xCA; 36]);
        assert_eq!(d.priority, 0);
        assert_eq!(d.class, CLASS_UNRELIABLE);
        // Ours differs only where Windows clients put values receivers
        // ignore: SMB Flags 0x18, Flags2 0x04, PIDLow 0xFEFF,
        // MaxParameterCount 2, transaction Flags 2.
        let mut ours = d.build(SizeLimit::Protocol).unwrap().split_off(SMB);
        for (at, v) in [
            (9, 0x18),
            (10, 0x04),
            (26, 0xFF),
            (27, 0xFE),
            (37, 2),
            (43, 2),
        ] {
            assert_eq!(ours[at], 0);
            ours[at] = v;
        }
        assert_eq!(ours, MS_MAIL_EXAMPLE);
    }

    #[test]
    fn reads_unpadded_samba_style_writes() {
        // Samba: no padding, ParameterOffset 0, Timeout 1000 (source4).
        let d = MailslotDatagram {
            mailslot: "\\MAILSLOT\\BROWSE".into(),
            ..sample()
        };
        let mut p = d.build(SizeLimit::Format).unwrap();
        // Name ends at 69 + 16 + 1 = 86; we pad to 88.
        assert_eq!(u16::from_le_bytes([p[SMB + 57], p[SMB + 58]]), 88);
        assert_eq!(&p[SMB + 86..SMB + 88], &[0, 0]);
        p.drain(SMB + 86..SMB + 88);
        set_le16(&mut p, SMB + 57, 86); // DataOffset
        set_le16(&mut p, SMB + 53, 0); // ParameterOffset
        set_le16(&mut p, SMB + 67, 17 + 2); // ByteCount
        p[SMB + 45..SMB + 49].copy_from_slice(&1000u32.to_le_bytes());
        fix_dgm_length(&mut p);
        let back = MailslotDatagram::parse(&p).unwrap();
        assert_eq!(back, MailslotDatagram { timeout: 1000, ..d });
    }

    #[test]
    fn padding_aligns_the_data() {
        for len in 11..40 {
            let mailslot = format!("\\MAILSLOT\\{}", "x".repeat(len - 10));
            let d = MailslotDatagram {
                mailslot,
                ..sample()
            };
            let p = d.build(SizeLimit::Protocol).unwrap();
            let data_offset = usize::from(u16::from_le_bytes([p[SMB + 57], p[SMB + 58]]));
            assert_eq!(data_offset % 4, 0);
            // Name, NUL, then 0–3 bytes of padding.
            let name_end = SMB_NAME_OFFSET + len + 1;
            assert!((name_end..name_end + 4).contains(&data_offset));
            let byte_count = usize::from(u16::from_le_bytes([p[SMB + 67], p[SMB + 68]]));
            assert_eq!(SMB + SMB_NAME_OFFSET + byte_count, p.len());
            assert_eq!(MailslotDatagram::parse(&p).unwrap(), d);
        }
    }

    #[test]
    fn size_limits() {
        // Windows' table ([MS-MAIL] footnote 2): 432 minus the name
        // after \MAILSLOT\ rounded up to 4.
        assert_eq!(SizeLimit::Protocol.max_data_len("\\MAILSLOT\\A"), Some(428));
        assert_eq!(
            SizeLimit::Protocol.max_data_len("\\MAILSLOT\\ABCDE"),
            Some(424)
        );
        assert_eq!(SizeLimit::Protocol.max_data_len(NETLOGON), Some(420));
        assert_eq!(SizeLimit::Domain.max_data_len("\\MAILSLOT\\A"), Some(424));
        assert_eq!(SizeLimit::Domain.max_data_len(NETLOGON), Some(420));
        assert_eq!(SizeLimit::Samba.max_data_len(NETLOGON), Some(402));
        assert_eq!(SizeLimit::Format.max_data_len(NETLOGON), Some(65_333));
        let long = format!("\\MAILSLOT\\{}", "x".repeat(500));
        assert_eq!(SizeLimit::Protocol.max_data_len(&long), None);
        assert!(SizeLimit::Format.max_data_len(&long).is_some());

        let with = |mailslot: &str, n: usize| MailslotDatagram {
            mailslot: mailslot.into(),
            data: vec![0x5A; n],
            ..sample()
        };
        for (limit, mailslot, max) in [
            (SizeLimit::Protocol, "\\MAILSLOT\\A", 428),
            (SizeLimit::Domain, "\\MAILSLOT\\A", 424),
            (SizeLimit::Protocol, NETLOGON, 420),
            (SizeLimit::Samba, NETLOGON, 402),
            (SizeLimit::Format, NETLOGON, 65_333),
        ] {
            let p = with(mailslot, max).build(limit).unwrap();
            assert_eq!(MailslotDatagram::parse(&p).unwrap(), with(mailslot, max));
            let err = with(mailslot, max + 1).build(limit).unwrap_err();
            assert_eq!(
                err,
                WireError::TooLarge {
                    limit,
                    len: max + 1,
                    max: Some(max)
                }
            );
            assert_eq!(err.class(), ErrorClass::TooLarge);
        }
        assert_eq!(
            with(NETLOGON, 402).build(SizeLimit::Samba).unwrap().len(),
            MAX_DATAGRAM
        );
        assert_eq!(
            with(NETLOGON, 65_333)
                .build(SizeLimit::Format)
                .unwrap()
                .len(),
            MAX_UDP_PAYLOAD
        );
        assert_eq!(
            with(&long, 0).build(SizeLimit::Protocol),
            Err(WireError::TooLarge {
                limit: SizeLimit::Protocol,
                len: 0,
                max: None
            })
        );
        let huge = format!("\\MAILSLOT\\{}", "x".repeat(70_000));
        assert!(matches!(
            with(&huge, 0).build(SizeLimit::Format),
            Err(WireError::TooLarge { max: None, .. })
        ));
        // Empty messages are valid (Samba's nmbd ignores them, though).
        let p = with(NETLOGON, 0).build(SizeLimit::Protocol).unwrap();
        assert_eq!(MailslotDatagram::parse(&p).unwrap().data, b"");
    }

    #[test]
    fn build_refuses_bad_mailslot_names() {
        for bad in [
            "NETLOGON",
            "\\MAILSLOT",
            "\\MAILSLOT\\",
            "\\PIPE\\X",
            "\\MAILSLOT\\Ä",
            "\\MAILSLOT\\a\tb",
        ] {
            let d = MailslotDatagram {
                mailslot: bad.into(),
                ..sample()
            };
            let err = d.build(SizeLimit::Format).unwrap_err();
            assert!(matches!(err, WireError::BadMailslotName(_)), "{bad}: {err}");
        }
        let d = MailslotDatagram {
            mailslot: "\\mailslot\\x".into(),
            ..sample()
        };
        assert!(d.build(SizeLimit::Format).is_ok());
    }

    #[test]
    fn header_rejections() {
        let good = sample().build(SizeLimit::Format).unwrap();
        let parse = MailslotDatagram::parse;
        assert_eq!(parse(&[]), Err(WireError::Truncated("datagram header")));
        assert_eq!(
            parse(&good[..13]),
            Err(WireError::Truncated("datagram header"))
        );
        for t in 0x13..=0x16 {
            let mut p = good.clone();
            p[0] = t;
            assert_eq!(parse(&p), Err(WireError::NotDatagram(t)));
            assert_eq!(parse(&p[..1]), Err(WireError::NotDatagram(t)));
            assert_eq!(WireError::NotDatagram(t).class(), ErrorClass::Foreign);
        }
        for t in [0x00, 0x0F, 0x17, 0xFF] {
            let mut p = good.clone();
            p[0] = t;
            assert_eq!(parse(&p), Err(WireError::UnknownMessageType(t)));
        }
        let mut p = good.clone();
        p[1] |= FLAG_MORE;
        assert_eq!(
            parse(&p),
            Err(WireError::Fragment {
                more: true,
                packet_offset: 0
            })
        );
        let mut p = good.clone();
        set_be16(&mut p, 12, 100);
        let err = parse(&p).unwrap_err();
        assert_eq!(
            err,
            WireError::Fragment {
                more: false,
                packet_offset: 100
            }
        );
        assert_eq!(err.class(), ErrorClass::Fragment);
        // A datagram without FIRST but otherwise whole is still whole.
        let mut p = good.clone();
        p[1] &= !FLAG_FIRST;
        assert!(parse(&p).is_ok());

        let mut p = good.clone();
        set_be16(&mut p, 10, 163);
        assert_eq!(
            parse(&p),
            Err(WireError::Truncated("datagram (DGM_LENGTH)"))
        );
        set_be16(&mut p, 10, 161);
        assert_eq!(
            parse(&p),
            Err(WireError::DgmLengthMismatch {
                dgm_length: 161,
                actual: 162
            })
        );
        let mut p = good.clone();
        p.push(0);
        assert_eq!(
            parse(&p),
            Err(WireError::DgmLengthMismatch {
                dgm_length: 162,
                actual: 163
            })
        );
        let mut p = good.clone();
        p[20] = b'Z';
        assert_eq!(parse(&p), Err(WireError::NameBadLetter(b'Z')));
        let mut p = good.clone();
        p[48] = 0xC0;
        assert_eq!(parse(&p), Err(WireError::NameCompressed));
    }

    #[test]
    fn smb_rejections() {
        let good = sample().build(SizeLimit::Format).unwrap();
        let check = |edit: &dyn Fn(&mut Vec<u8>), want: WireError| {
            let mut p = good.clone();
            edit(&mut p);
            assert_eq!(MailslotDatagram::parse(&p), Err(want.clone()), "{want}");
            assert!(!want.to_string().is_empty());
        };
        check(&|p| p[SMB] = 0xFE, WireError::NotSmb);
        check(&|p| p[SMB + 3] = b'X', WireError::NotSmb);
        check(&|p| p[SMB + 4] = 0x32, WireError::NotTransaction(0x32));
        check(&|p| p[SMB + 32] = 16, WireError::BadWordCount(16));
        check(&|p| p[SMB + 59] = 2, WireError::BadSetupCount(2));
        check(
            &|p| set_le16(p, SMB + 61, 2),
            WireError::NotMailslotWrite(2),
        );
        check(
            &|p| set_le16(p, SMB + 35, 3),
            WireError::IncompleteTransaction {
                total_data_count: 3,
                data_count: 2,
            },
        );
        check(
            &|p| set_le16(p, SMB + 67, 26),
            WireError::ByteCountOutOfRange {
                byte_count: 26,
                available: 25,
            },
        );
        check(
            &|p| p[SMB + 69 + 22] = b'X',
            WireError::MailslotNameUnterminated,
        );
        check(
            &|p| p[SMB + 70] = b'X',
            WireError::BadMailslotName("does not start with \\MAILSLOT\\"),
        );
        check(
            &|p| p[SMB + 81] = 0x01,
            WireError::BadMailslotName("not printable ASCII"),
        );
        check(
            &|p| p[SMB + 79] = 0,
            WireError::BadMailslotName("nothing after \\MAILSLOT\\"),
        );
        check(
            &|p| set_le16(p, SMB + 57, 91),
            WireError::DataOverlapsName {
                data_offset: 91,
                name_end: 92,
            },
        );
        check(
            &|p| set_le16(p, SMB + 57, 0),
            WireError::DataOverlapsName {
                data_offset: 0,
                name_end: 92,
            },
        );
        for (offset, count) in [(93, 2), (92, 3), (0xFFFF, 2), (92, 0xFFFF)] {
            check(
                &|p| {
                    set_le16(p, SMB + 57, offset);
                    set_le16(p, SMB + 55, count);
                    set_le16(p, SMB + 35, count);
                },
                WireError::DataOutOfRange {
                    data_offset: offset,
                    data_count: count,
                    smb_len: 94,
                },
            );
        }
        // Receivers ignore these, and so does mailslotfs.
        let mut p = good.clone();
        p[SMB + 9] = 0x18;
        set_le16(&mut p, SMB + 53, 0); // ParameterOffset
        set_le16(&mut p, SMB + 51, 7); // ParameterCount
        set_le16(&mut p, SMB + 35, 0); // TotalDataCount below DataCount
        set_le16(&mut p, SMB + 67, 0); // ByteCount
        set_le16(&mut p, SMB + 65, 1); // class 1
        p[SMB + 70..SMB + 79].copy_from_slice(b"mailslot\\");
        let d = MailslotDatagram::parse(&p).unwrap();
        assert_eq!(d.mailslot, "\\mailslot\\NET\\NETLOGON");
        assert_eq!(d.data, b"hi");
        assert_eq!(d.class, CLASS_RELIABLE);
    }

    #[test]
    fn every_truncation_is_refused() {
        for good in [
            sample().build(SizeLimit::Format).unwrap(),
            ms_mail_datagram(),
        ] {
            for cut in 0..good.len() {
                let p = &good[..cut];
                assert!(
                    matches!(MailslotDatagram::parse(p), Err(WireError::Truncated(_))),
                    "cut at {cut}"
                );
                // The same with DGM_LENGTH telling the truth: refused as
                // malformed wherever the cut falls.
                if cut >= DGM_HEADER_LEN {
                    let mut p = p.to_vec();
                    fix_dgm_length(&mut p);
                    let err = MailslotDatagram::parse(&p).unwrap_err();
                    assert_eq!(err.class(), ErrorClass::Malformed, "cut at {cut}: {err}");
                }
            }
        }
    }

    #[test]
    fn never_panics_on_mutations() {
        let seeds = [
            sample().build(SizeLimit::Format).unwrap(),
            MailslotDatagram {
                mailslot: "\\MAILSLOT\\BROWSE".into(),
                data: (0..40).collect(),
                ..sample()
            }
            .build(SizeLimit::Format)
            .unwrap(),
            ms_mail_datagram(),
        ];
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut accepted = 0;
        for seed in &seeds {
            for _ in 0..20_000 {
                let mut p = seed.clone();
                for _ in 0..=rng.below(3) {
                    match rng.below(6) {
                        0 | 1 => rng.scramble_byte(&mut p),
                        2 => {
                            // Hit the counts and offsets, where bugs hide.
                            let i = SMB + 33 + 2 * rng.below(17);
                            let v = rng.next() as u16;
                            if i + 2 <= p.len() {
                                set_le16(&mut p, i, v);
                            }
                        }
                        3 => p.truncate(rng.below(p.len() + 1)),
                        4 => {
                            let i = rng.below(p.len() + 1);
                            p.insert(i, rng.next() as u8);
                        }
                        _ => {
                            let i = rng.below(p.len());
                            p.remove(i);
                        }
                    }
                    if p.is_empty() {
                        p.push(0x11);
                    }
                }
                if rng.below(2) == 0 && p.len() >= DGM_HEADER_LEN {
                    fix_dgm_length(&mut p);
                }
                if let Ok(d) = MailslotDatagram::parse(&p) {
                    accepted += 1;
                    let again = d.build(SizeLimit::Format).unwrap();
                    assert_eq!(MailslotDatagram::parse(&again).unwrap(), d);
                }
                let _ = parse_any(&p);
            }
        }
        assert!(accepted > 1000, "mutations too destructive: {accepted}");
        for _ in 0..20_000 {
            let len = rng.below(200);
            let mut p: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if len > 0 {
                p[0] = 0x10 + rng.below(3) as u8;
            }
            let _ = parse_any(&p);
        }
    }

    #[test]
    fn components() {
        assert_eq!(mailslot_components(NETLOGON).unwrap(), ["NET", "NETLOGON"]);
        assert_eq!(
            mailslot_components("\\mailslot\\Net\\x").unwrap(),
            ["Net", "x"]
        );
        assert_eq!(
            mailslot_components("\\MAILSLOT\\BROWSE").unwrap(),
            ["BROWSE"]
        );
        for bad in [
            "MAILSLOT\\A",
            "\\MAILSLOT\\",
            "\\MAILSLOT\\A\\\\B",
            "\\MAILSLOT\\A\\",
            "\\MAILSLOT\\\\A",
            "\\MAILSLOT\\..",
            "\\MAILSLOT\\A\\.",
            "\\MAILSLOT\\A/B",
            "\\MAILSLOT\\A\0",
        ] {
            assert!(
                matches!(mailslot_components(bad), Err(WireError::BadMailslotName(_))),
                "{bad:?}"
            );
        }

        assert_eq!(
            mailslot_name(&["net", "netlogon"]).unwrap(),
            "\\MAILSLOT\\net\\netlogon"
        );
        assert_eq!(mailslot_name(&["BROWSE"]).unwrap(), "\\MAILSLOT\\BROWSE");
        let none: [&str; 0] = [];
        for bad in [
            &none[..],
            &[""],
            &["a\\b"],
            &["a\0"],
            &["a/b"],
            &[".."],
            &["ä"],
            &["a\n"],
        ] {
            assert!(
                matches!(mailslot_name(bad), Err(WireError::BadMailslotName(_))),
                "{bad:?}"
            );
        }
        for parts in [vec!["a"], vec!["net", "GetDC1234"], vec!["x y", "z-1"]] {
            let name = mailslot_name(&parts).unwrap();
            assert_eq!(mailslot_components(&name).unwrap(), parts);
        }
    }

    #[test]
    fn parse_any_tells_packets_apart() {
        let d = sample();
        assert_eq!(
            parse_any(&d.build(SizeLimit::Format).unwrap()),
            Ok(AnyPacket::Datagram(d))
        );
        let q = NameQuery::broadcast(0x4242, name("HOST", 0));
        assert_eq!(parse_any(&q.build()), Ok(AnyPacket::NameQuery(q.clone())));
        let r = NameQueryResponse::answer(
            &q,
            60,
            vec![NbAddress {
                ip: Ipv4Addr::LOCALHOST,
                group: false,
                node_type: NodeType::B,
            }],
        );
        assert_eq!(
            parse_any(&r.build().unwrap()),
            Ok(AnyPacket::NameQueryResponse(r))
        );
        assert!(parse_any(b"").is_err());
    }

    #[test]
    fn error_classes_and_messages() {
        let errors = [
            WireError::NameEmpty,
            WireError::Truncated("x"),
            WireError::NotDatagram(0x14),
            WireError::Fragment {
                more: true,
                packet_offset: 0,
            },
            WireError::NotSmb,
            WireError::NegativeResponse(3),
            WireError::TooLarge {
                limit: SizeLimit::Domain,
                len: 500,
                max: Some(424),
            },
            WireError::BadRdLength(5),
        ];
        let classes = [
            ErrorClass::InvalidInput,
            ErrorClass::Malformed,
            ErrorClass::Foreign,
            ErrorClass::Fragment,
            ErrorClass::Foreign,
            ErrorClass::Negative,
            ErrorClass::TooLarge,
            ErrorClass::Malformed,
        ];
        for (e, c) in errors.iter().zip(classes) {
            assert_eq!(e.class(), c, "{e}");
        }
        let texts: std::collections::HashSet<String> =
            errors.iter().map(ToString::to_string).collect();
        assert_eq!(texts.len(), errors.len());
        assert_eq!(
            errors[6].to_string(),
            "message of 500 bytes over the 424-byte limit (domain write)"
        );
    }
}
