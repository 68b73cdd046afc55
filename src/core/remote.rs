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
//!
//! [`WindowsName`] reads the Windows spelling itself (`\\HOST\mailslot\a`),
//! for tools that are handed such names and must find the path in the mount.

use std::ffi::OsStr;

use super::error::{Error, Result};
use super::names;

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
    /// The directory in the mount root that stands for this target:
    /// `@HOST`, `@@DOMAIN#1C`, `@@`. It parses back to the same target.
    pub fn component(&self) -> String {
        let mut out = match self.kind {
            TargetKind::Computer => format!("@{}", self.name),
            TargetKind::Domain => format!("@@{}", self.name),
            TargetKind::PrimaryDomain => "@@".to_string(),
        };
        if let Some(s) = self.suffix {
            out.push_str(&format!("#{s:02X}"));
        }
        out
    }
}

/// NetBIOS name types that only exist as group names ([MS-BRWS] §2.1.1:
/// `<1C>` the domain controllers, `<1E>` the browser election group): a
/// write to one goes to every host of the group.
const GROUP_SUFFIXES: [u8; 2] = [0x1C, 0x1E];

/// Where a Windows mailslot name points, before it is known whether a
/// name means a computer or a domain (Windows spells both alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    /// `\\*\mailslot\…`: the primary domain.
    PrimaryDomain,
    /// `\\NAME\mailslot\…`, with the type when one was given
    /// (`NAME<1C>` or `NAME#1C`). Upper-cased.
    Named { name: String, suffix: Option<u8> },
}

/// A mailslot name in Windows form: `\\.\mailslot\a\b` (this machine),
/// `\\NAME\mailslot\a\b`, `\\NAME<1C>\mailslot\a\b`, `\\*\mailslot\a\b`.
/// `/` may stand for `\`; `mailslot` is compared without case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsName {
    /// `None` for `\\.`: a slot on this machine.
    pub server: Option<Server>,
    /// The mailslot path below `\mailslot\`, as spelled.
    pub path: Vec<String>,
}

impl WindowsName {
    /// `None` when `spelling` does not start with `\\` (or `//`); an
    /// error when it does but is no mailslot name.
    pub fn parse(spelling: &str) -> Option<Result<WindowsName>> {
        let unified = spelling.replace('\\', "/");
        let rest = unified.strip_prefix("//")?;
        Some(Self::parse_unc(rest))
    }

    fn parse_unc(rest: &str) -> Result<WindowsName> {
        let mut parts = rest.split('/');
        let server = parts.next().unwrap_or_default();
        if !parts
            .next()
            .is_some_and(|m| m.eq_ignore_ascii_case("mailslot"))
        {
            return Err(Error::InvalidName);
        }
        let mut path = Vec::new();
        for part in parts.filter(|p| !p.is_empty()) {
            names::fold(OsStr::new(part))?;
            path.push(part.to_string());
        }
        let server = match server {
            "." => None,
            "*" => Some(Server::PrimaryDomain),
            _ => Some(parse_server(server)?),
        };
        Ok(WindowsName { server, path })
    }

    /// The Windows spelling, `\\NAME<1c>\mailslot\a\b`; parses back to itself.
    pub fn spelling(&self) -> String {
        let server = match &self.server {
            None => ".".to_string(),
            Some(Server::PrimaryDomain) => "*".to_string(),
            Some(Server::Named { name, suffix: None }) => name.clone(),
            Some(Server::Named {
                name,
                suffix: Some(s),
            }) => format!("{name}<{s:02x}>"),
        };
        let mut out = format!("\\\\{server}\\mailslot");
        for p in &self.path {
            out.push('\\');
            out.push_str(p);
        }
        out
    }
}

fn parse_server(server: &str) -> Result<Server> {
    let (name, suffix) = if let Some(inner) = server.strip_suffix('>') {
        let (name, hex) = inner.rsplit_once('<').ok_or(Error::InvalidName)?;
        (name, Some(hex_byte(hex)?))
    } else if let Some((name, hex)) = server.rsplit_once('#') {
        (name, Some(hex_byte(hex)?))
    } else {
        (server, None)
    };
    // The same rules as the mount's `@NAME` spelling.
    let target = RemoteTarget::parse_target(name)?;
    if target.kind != TargetKind::Computer {
        return Err(Error::InvalidName);
    }
    Ok(Server::Named {
        name: target.name,
        suffix,
    })
}

fn hex_byte(hex: &str) -> Result<u8> {
    if hex.len() != 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::InvalidName);
    }
    u8::from_str_radix(hex, 16).map_err(|_| Error::InvalidName)
}

impl Server {
    /// The target a Windows client would reach. `*` is the primary domain.
    /// A name is a domain when `kind` says so, when its type is a group
    /// type (`<1C>`, `<1E>`), or when it is `workgroup` (this computer's
    /// own domain, compared without case); otherwise a computer.
    pub fn target(&self, workgroup: Option<&str>, kind: Option<TargetKind>) -> RemoteTarget {
        match self {
            Server::PrimaryDomain => RemoteTarget {
                kind: TargetKind::PrimaryDomain,
                name: String::new(),
                suffix: None,
            },
            Server::Named { name, suffix } => {
                let group = suffix.is_some_and(|s| GROUP_SUFFIXES.contains(&s))
                    || (suffix.is_none_or(|s| s == 0)
                        && workgroup.is_some_and(|w| w.eq_ignore_ascii_case(name)));
                let kind = match kind {
                    Some(TargetKind::Computer) => TargetKind::Computer,
                    Some(_) => TargetKind::Domain,
                    None if group => TargetKind::Domain,
                    None => TargetKind::Computer,
                };
                RemoteTarget {
                    kind,
                    name: name.clone(),
                    suffix: *suffix,
                }
            }
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

    /// Sends one message written by the local process `writer`; `done`
    /// is called once it left or was refused (perhaps later, after
    /// resolving a computer's name, which is charged to the writer's
    /// user). Where the target is this host's own name, the copy delivered
    /// here names `writer`, never this host.
    fn send(
        &self,
        target: &RemoteTarget,
        path: &[String],
        data: Vec<u8>,
        writer: super::Sender,
        done: SendDone,
    );
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

    fn w(s: &str) -> Option<Result<WindowsName>> {
        WindowsName::parse(s)
    }

    #[test]
    fn windows_spellings() {
        assert!(w("jobs").is_none() && w("/mailslot/x").is_none());
        let local = w(r"\\.\MailSlot\a\b").unwrap().unwrap();
        assert_eq!(
            (local.server, local.path),
            (None, vec!["a".into(), "b".into()])
        );
        let star = w(r"\\*\mailslot\x").unwrap().unwrap();
        assert_eq!(star.server, Some(Server::PrimaryDomain));
        for spelling in [
            r"\\testdom<1C>\mailslot\net\netlogon",
            "//TESTDOM#1c/mailslot/net/netlogon",
        ] {
            let n = w(spelling).unwrap().unwrap();
            assert_eq!(
                n.server,
                Some(Server::Named {
                    name: "TESTDOM".into(),
                    suffix: Some(0x1c)
                })
            );
            assert_eq!(n.spelling(), r"\\TESTDOM<1c>\mailslot\net\netlogon");
        }
        for bad in [
            r"\\host\pipe\x",
            r"\\host",
            r"\\a.b\mailslot\x",
            r"\\host<1>\mailslot\x",
            r"\\host#zz\mailslot\x",
            r"\\\mailslot\x",
            r"\\@@x\mailslot\x",
            "\\\\host\\mailslot\\a\u{7}",
        ] {
            assert_eq!(w(bad), Some(Err(Error::InvalidName)), "{bad}");
        }
    }

    #[test]
    fn computers_and_domains() {
        let named = |s: &str| w(s).unwrap().unwrap().server.unwrap();
        let kind = |s: &str, wg, forced| named(s).target(wg, forced).kind;
        use TargetKind::*;
        assert_eq!(kind(r"\\hostb\mailslot\x", Some("TESTDOM"), None), Computer);
        assert_eq!(kind(r"\\testdom\mailslot\x", Some("TESTDOM"), None), Domain);
        assert_eq!(
            kind(r"\\testdom<00>\mailslot\x", Some("TESTDOM"), None),
            Domain
        );
        assert_eq!(
            kind(r"\\testdom<20>\mailslot\x", Some("TESTDOM"), None),
            Computer
        );
        assert_eq!(kind(r"\\other<1c>\mailslot\x", None, None), Domain);
        assert_eq!(kind(r"\\other\mailslot\x", None, Some(Domain)), Domain);
        assert_eq!(
            kind(r"\\testdom\mailslot\x", Some("TESTDOM"), Some(Computer)),
            Computer
        );
        let t = named(r"\\Corp<1C>\mailslot\x").target(None, None);
        assert_eq!(t.component(), "@@CORP#1C");
        assert_eq!(RemoteTarget::parse(&t.component()), Some(Ok(t)));
        let all = named(r"\\*\mailslot\x").target(None, None);
        assert_eq!(all.component(), "@@");
    }
}
