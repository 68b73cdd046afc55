//! Remote targets. Names under the mount root that begin with `@` stand for
//! other machines, the way `\\HOST\mailslot\…` and `\\DOMAIN\mailslot\…` do
//! on Windows:
//!
//! | path | Windows form |
//! |---|---|
//! | `/mailslot/@HOST/a/b` | `\\HOST\mailslot\a\b` |
//! | `/mailslot/@@DOMAIN/a/b` | `\\DOMAIN\mailslot\a\b` |
//! | `/mailslot/@@/a/b` (or `@*`) | `\\*\mailslot\a\b` (the primary domain) |
//!
//! A `#XX` suffix names the NetBIOS name type in hex (`@@CORP#1C` is
//! `CORP<1C>`, the domain controllers), spelled with `#` because `<>` would
//! need quoting in a shell. The core only keeps these names apart and
//! checks them; sending is the network side's job, behind [`RemoteSender`].

use super::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// One computer, by its NetBIOS name: a unique name, resolved.
    Computer,
    /// Every host of a domain or workgroup: a group name, broadcast.
    Domain,
    /// The sender's own domain (`\\*\mailslot`).
    PrimaryDomain,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemoteTarget {
    pub kind: TargetKind,
    /// Upper-cased NetBIOS name; empty for the primary domain.
    pub name: String,
    /// The NetBIOS name type when the path gave one.
    pub suffix: Option<u8>,
}

/// Characters a NetBIOS name cannot hold (Microsoft's list), plus `#`,
/// which introduces the suffix here, and `@`, which introduces a target.
const FORBIDDEN: &[char] = &[
    '\\', '/', ':', '*', '?', '"', '<', '>', '|', '#', '.', ' ', '@',
];

impl RemoteTarget {
    /// `None` when `component` is an ordinary name; an error when it starts
    /// with `@` but is not a valid target.
    pub fn parse(component: &str) -> Option<Result<RemoteTarget>> {
        let rest = component.strip_prefix('@')?;
        Some(Self::parse_target(rest))
    }

    fn parse_target(rest: &str) -> Result<RemoteTarget> {
        let (body, suffix) = match rest.split_once('#') {
            Some((body, hex)) => {
                if hex.len() != 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Error::InvalidName);
                }
                let value = u8::from_str_radix(hex, 16).map_err(|_| Error::InvalidName)?;
                (body, Some(value))
            }
            None => (rest, None),
        };
        let (kind, name) = match body {
            "@" | "*" => (TargetKind::PrimaryDomain, ""),
            _ => match body.strip_prefix('@') {
                Some(domain) => (TargetKind::Domain, domain),
                None => (TargetKind::Computer, body),
            },
        };
        if kind != TargetKind::PrimaryDomain
            && (name.is_empty()
                || name.len() > 15
                || !name
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !FORBIDDEN.contains(&c)))
        {
            return Err(Error::InvalidName);
        }
        Ok(RemoteTarget {
            kind,
            name: name.to_ascii_uppercase(),
            suffix,
        })
    }

    /// The Windows spelling, for logs: `\\HOST`, `\\DOMAIN<1c>`, `\\*`.
    pub fn describe(&self) -> String {
        let name = if self.kind == TargetKind::PrimaryDomain {
            "*"
        } else {
            &self.name
        };
        match self.suffix {
            Some(s) => format!("\\\\{name}<{s:02x}>"),
            None => format!("\\\\{name}"),
        }
    }
}

/// Called when a write has been sent, or refused.
pub type SendDone = Box<dyn FnOnce(Result<()>) + Send>;

/// What carries client writes to remote targets: the network side.
pub trait RemoteSender: Send + Sync {
    /// The largest message that may go to `path` under `target`, or an
    /// error when no message can (an unusable name).
    fn max_message_size(&self, target: &RemoteTarget, path: &[String]) -> Result<usize>;

    /// Sends one message; `done` is called once it left or was refused
    /// (perhaps later, after resolving a computer's name).
    fn send(&self, target: &RemoteTarget, path: &[String], data: Vec<u8>, done: SendDone);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<Result<RemoteTarget>> {
        RemoteTarget::parse(s)
    }

    #[test]
    fn spellings() {
        assert!(p("plain").is_none());
        let host = p("@Host").unwrap().unwrap();
        assert_eq!(
            (host.kind, host.name.as_str(), host.suffix),
            (TargetKind::Computer, "HOST", None)
        );
        let dc = p("@@corp#1C").unwrap().unwrap();
        assert_eq!(
            (dc.kind, dc.name.as_str(), dc.suffix),
            (TargetKind::Domain, "CORP", Some(0x1c))
        );
        assert_eq!(dc.describe(), "\\\\CORP<1c>");
        for all in ["@@", "@*"] {
            assert_eq!(p(all).unwrap().unwrap().kind, TargetKind::PrimaryDomain);
        }
        assert_eq!(p("@@#1d").unwrap().unwrap().suffix, Some(0x1d));
    }

    #[test]
    fn refused() {
        for bad in [
            "@",
            "@@@x",
            "@a#1",
            "@a#zz",
            "@a#123",
            "@sixteen-chars-xx",
            "@a.b",
            "@a b",
            "@a<1c>",
        ] {
            assert_eq!(p(bad).unwrap(), Err(Error::InvalidName), "{bad}");
        }
    }
}
