//! GetMailslotInfo and SetMailslotInfo as extended attributes: the names,
//! how values are shown (decimal ASCII) and how set values are parsed.

use std::ffi::OsStr;
use std::time::Duration;

use super::error::{Error, Result};
use super::sender::Sender;
use super::slot::SlotInfo;

/// Windows' MAILSLOT_WAIT_FOREVER, `(DWORD)-1`, accepted as a spelling of forever.
const WAIT_FOREVER: u64 = u32::MAX as u64;

/// The maximum message size of a slot set to 0, CreateMailslot's "any
/// size": every message the mount can carry whole (the write path holds
/// messages to the mount's ceiling). It reads back as 0, as on Windows.
pub const ANY_SIZE: usize = usize::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    MaxMessageSize,
    NextMessageSize,
    MessageCount,
    QueuedBytes,
    ReadTimeoutMs,
    /// Reads waiting for a message (not in GetMailslotInfo; for operators).
    WaitingReaders,
    /// Who sent the next message (no Windows call tells; see sender.rs).
    NextSender,
    /// Who sent the message a reader took last.
    LastSender,
}

impl Attribute {
    pub const ALL: [Attribute; 8] = [
        Attribute::MaxMessageSize,
        Attribute::NextMessageSize,
        Attribute::MessageCount,
        Attribute::QueuedBytes,
        Attribute::ReadTimeoutMs,
        Attribute::WaitingReaders,
        Attribute::NextSender,
        Attribute::LastSender,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Attribute::MaxMessageSize => "user.mailslot.max_message_size",
            Attribute::NextMessageSize => "user.mailslot.next_message_size",
            Attribute::MessageCount => "user.mailslot.message_count",
            Attribute::QueuedBytes => "user.mailslot.queued_bytes",
            Attribute::ReadTimeoutMs => "user.mailslot.read_timeout_ms",
            Attribute::WaitingReaders => "user.mailslot.waiting_readers",
            Attribute::NextSender => "user.mailslot.next_sender",
            Attribute::LastSender => "user.mailslot.last_sender",
        }
    }

    pub fn from_name(name: &OsStr) -> Option<Self> {
        Self::ALL.into_iter().find(|a| OsStr::new(a.name()) == name)
    }

    /// Only what SetMailslotInfo (and CreateMailslot) can set.
    pub fn settable(self) -> bool {
        matches!(self, Attribute::MaxMessageSize | Attribute::ReadTimeoutMs)
    }

    /// The value shown; `sender` is the sender the attribute names (the next
    /// message's or the last one taken), for the two sender attributes.
    pub fn format(self, info: &SlotInfo, sender: Option<&Sender>) -> String {
        match self {
            Attribute::MaxMessageSize => match info.max_message_size {
                ANY_SIZE => "0".to_string(),
                n => n.to_string(),
            },
            Attribute::NextMessageSize => info
                .next_message_size
                .map_or_else(|| "-1".to_string(), |n| n.to_string()),
            Attribute::MessageCount => info.message_count.to_string(),
            Attribute::QueuedBytes => info.queued_bytes.to_string(),
            Attribute::ReadTimeoutMs => format_timeout(info.read_timeout),
            Attribute::WaitingReaders => info.waiting_readers.to_string(),
            // `none`, like MAILSLOT_NO_MESSAGE's -1 for the size.
            Attribute::NextSender | Attribute::LastSender => {
                sender.map_or_else(|| "none".to_string(), Sender::to_string)
            }
        }
    }
}

/// `forever`, or whole milliseconds.
pub fn format_timeout(timeout: Option<Duration>) -> String {
    timeout.map_or_else(|| "forever".to_string(), |t| t.as_millis().to_string())
}

/// The value as text, forgiving one trailing newline or NUL (as `echo` and C
/// callers leave them).
fn text(value: &[u8]) -> Result<&str> {
    let value = value
        .strip_suffix(b"\0")
        .or_else(|| value.strip_suffix(b"\n"))
        .unwrap_or(value);
    let s = std::str::from_utf8(value).map_err(|_| Error::InvalidArgument)?;
    if s.is_empty() || s.len() > 32 {
        return Err(Error::InvalidArgument);
    }
    Ok(s)
}

fn decimal(s: &str) -> Result<u64> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::InvalidArgument);
    }
    s.parse().map_err(|_| Error::InvalidArgument)
}

/// A maximum message size: 0 means "any size" ([`ANY_SIZE`]), as
/// `nMaxMessageSize = 0` does to CreateMailslot; larger than the ceiling is
/// refused.
pub fn parse_max_message_size(value: &[u8], ceiling: usize) -> Result<usize> {
    match decimal(text(value)?)? {
        0 => Ok(ANY_SIZE),
        n if n <= ceiling as u64 => Ok(n as usize),
        _ => Err(Error::InvalidArgument),
    }
}

/// A read timeout: milliseconds, or a duration with a unit (`2s`, `500ms`,
/// as the command line takes it); `forever`, `-1` or 4294967295 wait
/// forever. Bounded as Windows bounds it: the longest finite timeout is
/// 4,294,967,294 ms (about 49.7 days).
pub fn parse_read_timeout(value: &[u8]) -> Result<Option<Duration>> {
    match text(value)? {
        "forever" | "-1" => Ok(None),
        s if s.bytes().all(|b| b.is_ascii_digit()) => match decimal(s)? {
            WAIT_FOREVER => Ok(None),
            n if n < WAIT_FOREVER => Ok(Some(Duration::from_millis(n))),
            _ => Err(Error::InvalidArgument),
        },
        // A leading digit keeps humantime's looser spellings (" 5s") out.
        s if s.as_bytes()[0].is_ascii_digit() => {
            let d = humantime::parse_duration(s).map_err(|_| Error::InvalidArgument)?;
            if d.as_millis() >= u128::from(WAIT_FOREVER) {
                return Err(Error::InvalidArgument);
            }
            Ok(Some(d))
        }
        _ => Err(Error::InvalidArgument),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Attribute::ALL {
            assert_eq!(Attribute::from_name(OsStr::new(a.name())), Some(a));
        }
        assert_eq!(Attribute::from_name(OsStr::new("user.mailslot.nope")), None);
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_read_timeout(b"forever"), Ok(None));
        assert_eq!(parse_read_timeout(b"-1"), Ok(None));
        assert_eq!(parse_read_timeout(b"4294967295"), Ok(None));
        assert_eq!(parse_read_timeout(b"0"), Ok(Some(Duration::ZERO)));
        assert_eq!(
            parse_read_timeout(b"1500\n"),
            Ok(Some(Duration::from_millis(1500)))
        );
        assert_eq!(parse_read_timeout(b"2s"), Ok(Some(Duration::from_secs(2))));
        assert_eq!(
            parse_read_timeout(b"500ms\n"),
            Ok(Some(Duration::from_millis(500)))
        );
        for bad in [
            &b""[..],
            b"-5",
            b"1e3",
            b" 5",
            b"4294967296",
            b"\xff",
            b"99999999999999999999999",
            b"50days",
            b"soon",
            b"s",
        ] {
            assert_eq!(
                parse_read_timeout(bad),
                Err(Error::InvalidArgument),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_max_message_size(b"0", 1000), Ok(ANY_SIZE));
        let any = SlotInfo {
            max_message_size: ANY_SIZE,
            next_message_size: None,
            message_count: 0,
            queued_bytes: 0,
            charged_bytes: 0,
            read_timeout: None,
            last_message: std::time::SystemTime::UNIX_EPOCH,
            open: true,
            waiting_readers: 0,
        };
        assert_eq!(Attribute::MaxMessageSize.format(&any, None), "0");
        assert_eq!(parse_max_message_size(b"424\0", 1000), Ok(424));
        assert_eq!(
            parse_max_message_size(b"1001", 1000),
            Err(Error::InvalidArgument)
        );
        assert_eq!(
            parse_max_message_size(b"-1", 1000),
            Err(Error::InvalidArgument)
        );
        assert_eq!(format_timeout(Some(Duration::from_millis(20))), "20");
    }
}
