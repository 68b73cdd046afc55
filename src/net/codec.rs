//! What every NetBIOS packet parser and builder here shares, the datagram
//! service's (`wire`), the name service's (`names`) and name
//! registration's: bounds-checked reading and the one error type, with the
//! size limits it reports. Pure, like its users: bytes in, values out.

use std::fmt;

/// The largest UDP payload over IPv4.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// Why a packet was refused or could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    // Names given by the user.
    /// A NetBIOS name with no characters.
    NameEmpty,
    /// A NetBIOS name over 15 characters (the count is given).
    NameTooLong(usize),
    /// A character that cannot be in a NetBIOS name.
    NameBadChar(char),
    /// Trailing spaces, which are the padding on the wire.
    NameTrailingSpace,
    /// A suffix spelled other than `<xx>` or `#xx`.
    NameBadSpelling,

    // Names on the wire.
    /// The packet ends before the named part.
    Truncated(&'static str),
    /// A DNS compression pointer where a NetBIOS name label should be.
    NameCompressed,
    /// A first label not 32 long, or a label with reserved type bits.
    NameBadLength(u8),
    /// A byte outside `A`–`P` in the encoded name.
    NameBadLetter(u8),
    /// Name and scope over 255 bytes.
    NameTooLongOnWire,

    // Datagram header.
    /// A datagram-service packet that carries no data: an error (0x13) or
    /// a datagram query or response (0x14–0x16).
    NotDatagram(u8),
    /// A MSG_TYPE RFC 1002 does not define.
    UnknownMessageType(u8),
    /// One piece of a fragmented datagram; mailslotfs drops these.
    Fragment { more: bool, packet_offset: u16 },
    /// DGM_LENGTH shorter than what follows the header (a longer one is
    /// [`Truncated`](Self::Truncated)).
    DgmLengthMismatch { dgm_length: u16, actual: usize },

    // SMB part.
    /// The user data is not an SMB message.
    NotSmb,
    /// An SMB command other than SMB_COM_TRANSACTION.
    NotTransaction(u8),
    /// WordCount other than 17.
    BadWordCount(u8),
    /// SetupCount other than 3.
    BadSetupCount(u8),
    /// A transaction other than a mailslot write (`Setup[0]` ≠ 1).
    NotMailslotWrite(u16),
    /// TotalDataCount above DataCount: the rest would come in secondary
    /// requests, which datagrams cannot carry.
    IncompleteTransaction {
        total_data_count: u16,
        data_count: u16,
    },
    /// ByteCount running past the end of the packet.
    ByteCountOutOfRange { byte_count: u16, available: usize },
    /// The mailslot name has no terminating NUL.
    MailslotNameUnterminated,
    /// DataOffset pointing into the header or the mailslot name.
    DataOverlapsName { data_offset: u16, name_end: usize },
    /// DataOffset plus DataCount running past the end of the packet.
    DataOutOfRange {
        data_offset: u16,
        data_count: u16,
        smb_len: usize,
    },
    /// A mailslot name mailslotfs cannot send or deliver; says why.
    BadMailslotName(&'static str),

    // Building.
    /// The message is larger than `limit` allows (`max` is `None` when even
    /// the mailslot name alone does not fit).
    TooLarge {
        limit: SizeLimit,
        len: usize,
        max: Option<usize>,
    },
    /// A positive name query response needs at least one address.
    NoAddresses,
    /// More addresses than one response can hold.
    TooManyAddresses(usize),

    // Name service.
    /// A response where a request was expected.
    NotRequest,
    /// A request where a response was expected.
    NotResponse,
    /// A name service operation other than a query (registration, release,
    /// WACK, refresh…).
    UnexpectedOpcode(u8),
    /// A query with other than one question.
    BadQuestionCount(u16),
    /// A question or record type other than NB (0x21 is a node status).
    UnexpectedType(u16),
    /// A class other than IN.
    UnexpectedClass(u16),
    /// A negative response, with its RCODE (3: no such name).
    NegativeResponse(u8),
    /// A positive response without an answer record.
    NoAnswer,
    /// RDLENGTH not a non-zero multiple of 6.
    BadRdLength(u16),
}

/// Broad kinds of [`WireError`], for counting what arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Well-formed traffic that is simply not a mailslot write or not the
    /// answer looked for: other datagram types, non-SMB payloads, other
    /// transactions, other name service operations.
    Foreign,
    /// A fragment of a larger datagram.
    Fragment,
    /// A negative name query response.
    Negative,
    /// Broken or hostile packets.
    Malformed,
    /// A message too large for the chosen [`SizeLimit`].
    TooLarge,
    /// Values refused when building a packet or a name.
    InvalidInput,
}

impl WireError {
    pub fn class(&self) -> ErrorClass {
        use WireError::*;
        match self {
            NotDatagram(_) | NotSmb | NotTransaction(_) | NotMailslotWrite(_) | NotRequest
            | NotResponse | UnexpectedOpcode(_) | UnexpectedType(_) => ErrorClass::Foreign,
            Fragment { .. } => ErrorClass::Fragment,
            NegativeResponse(_) => ErrorClass::Negative,
            TooLarge { .. } => ErrorClass::TooLarge,
            NameEmpty | NameTooLong(_) | NameBadChar(_) | NameTrailingSpace | NameBadSpelling
            | NoAddresses | TooManyAddresses(_) => ErrorClass::InvalidInput,
            Truncated(_)
            | NameCompressed
            | NameBadLength(_)
            | NameBadLetter(_)
            | NameTooLongOnWire
            | UnknownMessageType(_)
            | DgmLengthMismatch { .. }
            | BadWordCount(_)
            | BadSetupCount(_)
            | IncompleteTransaction { .. }
            | ByteCountOutOfRange { .. }
            | MailslotNameUnterminated
            | DataOverlapsName { .. }
            | DataOutOfRange { .. }
            | BadMailslotName(_)
            | BadQuestionCount(_)
            | UnexpectedClass(_)
            | NoAnswer
            | BadRdLength(_) => ErrorClass::Malformed,
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use WireError::*;
        match self {
            NameEmpty => write!(f, "empty NetBIOS name"),
            NameTooLong(n) => write!(f, "NetBIOS name of {n} characters (at most 15)"),
            NameBadChar(c) => write!(f, "character {c:?} cannot be in a NetBIOS name"),
            NameTrailingSpace => write!(f, "NetBIOS name ends in a space"),
            NameBadSpelling => write!(
                f,
                "NetBIOS name suffix must be two hex digits, as NAME<1C> or NAME#1C"
            ),
            Truncated(what) => write!(f, "packet ends inside {what}"),
            NameCompressed => write!(f, "compressed NetBIOS name"),
            NameBadLength(n) => write!(f, "bad NetBIOS name label length 0x{n:02x}"),
            NameBadLetter(b) => write!(f, "bad letter 0x{b:02x} in encoded NetBIOS name"),
            NameTooLongOnWire => write!(f, "NetBIOS name and scope over 255 bytes"),
            NotDatagram(t) => write!(f, "datagram service message 0x{t:02x} carries no data"),
            UnknownMessageType(t) => write!(f, "unknown datagram message type 0x{t:02x}"),
            Fragment {
                more,
                packet_offset,
            } => write!(
                f,
                "datagram fragment (more: {more}, offset {packet_offset}) dropped"
            ),
            DgmLengthMismatch { dgm_length, actual } => write!(
                f,
                "DGM_LENGTH {dgm_length} but {actual} bytes follow the header"
            ),
            NotSmb => write!(f, "datagram data is not an SMB message"),
            NotTransaction(c) => write!(f, "SMB command 0x{c:02x} is not a transaction"),
            BadWordCount(n) => write!(f, "transaction WordCount {n} (mailslot writes have 17)"),
            BadSetupCount(n) => write!(f, "transaction SetupCount {n} (mailslot writes have 3)"),
            NotMailslotWrite(op) => write!(f, "transaction opcode {op} is not a mailslot write"),
            IncompleteTransaction {
                total_data_count,
                data_count,
            } => write!(
                f,
                "TotalDataCount {total_data_count} above DataCount {data_count}"
            ),
            ByteCountOutOfRange {
                byte_count,
                available,
            } => write!(f, "ByteCount {byte_count} but {available} bytes follow"),
            MailslotNameUnterminated => write!(f, "mailslot name without NUL"),
            DataOverlapsName {
                data_offset,
                name_end,
            } => write!(
                f,
                "DataOffset {data_offset} inside the header or name (ending at {name_end})"
            ),
            DataOutOfRange {
                data_offset,
                data_count,
                smb_len,
            } => write!(
                f,
                "data at {data_offset}, {data_count} bytes, past the {smb_len}-byte SMB message"
            ),
            BadMailslotName(why) => write!(f, "bad mailslot name: {why}"),
            TooLarge { limit, len, max } => match max {
                Some(max) => write!(
                    f,
                    "message of {len} bytes over the {max}-byte limit ({limit})"
                ),
                None => write!(f, "mailslot name too long for any message ({limit})"),
            },
            NoAddresses => write!(f, "positive name query response without addresses"),
            TooManyAddresses(n) => write!(f, "{n} addresses do not fit in one response"),
            NotRequest => write!(f, "name service response where a request was expected"),
            NotResponse => write!(f, "name service request where a response was expected"),
            UnexpectedOpcode(op) => write!(f, "name service opcode {op} is not a query"),
            BadQuestionCount(n) => write!(f, "name query with {n} questions"),
            UnexpectedType(t) => write!(f, "record type 0x{t:04x} is not NB"),
            UnexpectedClass(c) => write!(f, "record class 0x{c:04x} is not IN"),
            NegativeResponse(rcode) => write!(f, "negative name query response (RCODE {rcode})"),
            NoAnswer => write!(f, "name query response without an answer"),
            BadRdLength(n) => write!(f, "RDLENGTH {n} is not a non-zero multiple of 6"),
        }
    }
}

impl std::error::Error for WireError {}

/// How large a message
/// [`MailslotDatagram::build`](super::wire::MailslotDatagram::build)
/// accepts. Every limit also keeps the packet within what its 16-bit
/// fields and UDP can carry; the limits themselves are computed in `wire`,
/// from the datagram's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SizeLimit {
    /// Writes to a domain or to all hosts: data at most [`MAX_DATA_DOMAIN`](super::wire::MAX_DATA_DOMAIN),
    /// and within [`Protocol`](Self::Protocol).
    Domain,
    /// [MS-MAIL] §2.1: name, NUL, padding and data at most
    /// [`MAX_NAME_PLUS_DATA`](super::wire::MAX_NAME_PLUS_DATA); exactly the largest write Windows sends.
    Protocol,
    /// The whole UDP payload at most [`MAX_DATAGRAM`](super::wire::MAX_DATAGRAM), so that Samba's
    /// nmbd reads it whole; stricter than `Protocol` for every name.
    Samba,
    /// Only what the format and UDP can carry, for tests and tools.
    Format,
}

impl fmt::Display for SizeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SizeLimit::Domain => "domain write",
            SizeLimit::Protocol => "Remote Mailslot Protocol",
            SizeLimit::Samba => "Samba datagram size",
            SizeLimit::Format => "datagram format",
        })
    }
}

/// Bounds-checked reading; every read names what it was after, which is
/// what [`WireError::Truncated`] reports.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Moves past `n` bytes of [`rest`](Self::rest) that were read by hand.
    pub(super) fn skip(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.buf.len());
    }

    pub(super) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated(what))?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or(WireError::Truncated(what))?;
        self.pos = end;
        Ok(bytes)
    }

    pub(super) fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    pub(super) fn be16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(super) fn be32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(super) fn le16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub(super) fn le32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
}
