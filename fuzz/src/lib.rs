//! What every parser of mailslotfs must keep, whatever bytes it is given:
//! it never panics, and what it accepts it reads back the same way after
//! writing it out. The fuzz targets in `fuzz_targets/` feed these functions;
//! `tests/reliability` replays the kept corpus (`fuzz/corpus/<target>/`)
//! through the very same functions on every test run.
//!
//! The input of each target is one value as the daemon would receive it:
//! a command-line value, a NUL-separated argument vector, an xattr value,
//! a sequence of FUSE requests, a file name, a UDP payload, a mailslot name
//! in Windows form as `mailslot send` is given it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use clap::Parser;
use mailslotfs::cli::{self, Options};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mailslotfs::core::{
    Error, Limits, Mailslots, RemoteTarget, Server, TargetKind, WindowsName, names, xattr,
};
use mailslotfs::fuse::{MailslotFs, PANICS, abi, channel::Scripted, session::Session};
use mailslotfs::net::names::{NameQuery, NameQueryResponse, NetbiosName};
use mailslotfs::net::registration::{
    NameRequest, NameResponse, NodeStatusRequest, NodeStatusResponse, NsPacket, QueryAnswer,
};
use mailslotfs::net::wire::{self, MailslotDatagram, SizeLimit};

/// The names of the targets, which are also the corpus directories.
pub const TARGETS: [&str; 8] = [
    "cli_values",
    "cli_options",
    "xattr_values",
    "fuse_requests",
    "names",
    "wire",
    "windows_names",
    "name_service",
];

/// Runs the target called `name` on `data`; false for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "cli_values" => cli_values(data),
        "cli_options" => cli_options(data),
        "xattr_values" => xattr_values(data),
        "fuse_requests" => fuse_requests(data),
        "names" => self::names(data),
        "wire" => self::wire(data),
        "windows_names" => self::windows_names(data),
        "name_service" => name_service(data),
        _ => return false,
    }
    true
}

/// `--max-message-size`, `--max-queued-bytes`, `--max-total-bytes`,
/// `--read-timeout` and `--host` values (and their `-o` forms).
pub fn cli_values(data: &[u8]) {
    // clap hands value parsers UTF-8 only; other bytes never reach them.
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(n) = cli::parse_size(s) {
        assert_eq!(cli::parse_size(&n.to_string()), Ok(n), "size {s:?}");
    }
    // A plain number is that number, or refused when it does not fit.
    let digits = s.trim();
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let plain = digits
            .parse::<u64>()
            .ok()
            .and_then(|n| usize::try_from(n).ok());
        assert_eq!(cli::parse_size(s).ok(), plain, "plain number {s:?}");
    }
    match cli::parse_timeout(s) {
        Ok(None) => assert!(matches!(s.trim(), "forever" | "-1"), "forever from {s:?}"),
        Ok(Some(t)) => {
            // Every read on an empty slot adds its timeout to the clock: an
            // accepted timeout must be one the daemon can wait for.
            assert!(
                std::time::Instant::now().checked_add(t).is_some(),
                "read timeout {s:?} ({t:?}) overflows the clock"
            );
            if t.subsec_nanos() % 1_000_000 == 0 && t.as_millis() <= u128::from(u64::MAX) {
                let ms = t.as_millis().to_string();
                assert_eq!(cli::parse_timeout(&ms), Ok(Some(t)), "timeout {s:?}");
            }
        }
        Err(_) => {}
    }
    // `--host NAME=IPV4`
    if let Ok((name, ip)) = cli::parse_host(s) {
        assert!((1..=15).contains(&name.len()), "{name:?}");
        assert_eq!(name, name.to_ascii_uppercase());
        assert_eq!(cli::parse_host(&format!("{name}={ip}")), Ok((name, ip)));
    }
}

/// A whole command line (arguments separated by NUL, as in
/// `/proc/<pid>/cmdline`), and the same bytes as one `-o` list, as
/// mount(8) and /etc/fstab pass it.
pub fn cli_options(data: &[u8]) {
    let args = data
        .split(|&b| b == 0)
        .map(|a| OsString::from_vec(a.to_vec()));
    let argv = std::iter::once(OsString::from("mailslotfs")).chain(args);
    if let Ok(opts) = Options::try_parse_from(argv) {
        check_options(opts);
    }
    let argv = [
        OsString::from("mailslotfs"),
        OsString::from("-o"),
        OsString::from_vec(data.to_vec()),
        OsString::from("/mailslot"),
    ];
    if let Ok(opts) = Options::try_parse_from(argv) {
        check_options(opts);
    }
}

fn check_options(mut opts: Options) {
    let before = opts.clone();
    if opts.apply_mount_options().is_ok() {
        assert!(opts.options.is_empty(), "-o lists are folded away");
        assert!((1..=64).contains(&opts.threads), "threads {}", opts.threads);
        let _ = opts.log_level();
    }
    if before.options.is_empty() {
        let mut again = before.clone();
        assert_eq!(again.apply_mount_options(), Ok(()));
        assert_eq!(again, before, "no -o list changes nothing");
    }
}

/// `setfattr` values of `user.mailslot.max_message_size` (with the mount's
/// ceiling in the first four bytes) and `user.mailslot.read_timeout_ms`.
pub fn xattr_values(data: &[u8]) {
    let (ceiling, value) = match data.split_first_chunk::<4>() {
        Some((c, rest)) => (u32::from_le_bytes(*c) as usize, rest),
        None => (1_044_480, data),
    };
    match xattr::parse_max_message_size(value, ceiling) {
        Ok(xattr::ANY_SIZE) => assert!(
            value.iter().all(|&b| b == b'0' || b == b'\0' || b == b'\n'),
            "only 0 means any size: {value:?}"
        ),
        Ok(n) => {
            assert!(n <= ceiling, "{n} over the ceiling {ceiling}");
            assert!(n > 0, "0 means any size");
        }
        Err(e) => assert_eq!(e, Error::InvalidArgument),
    }
    match xattr::parse_read_timeout(value) {
        Ok(t) => {
            // What getfattr shows sets the same timeout again.
            let shown = xattr::format_timeout(t);
            assert_eq!(
                xattr::parse_read_timeout(shown.as_bytes()),
                Ok(t),
                "{shown}"
            );
        }
        Err(e) => assert_eq!(e, Error::InvalidArgument),
    }
}

/// Requests as the kernel could send them to the FUSE adapter, after
/// FUSE_INIT. The input is split at 0xFE bytes; each piece is one request:
/// its first byte picks the opcode, its second the node, the rest is the
/// body. Whatever the bytes, nothing panics, every reply is a whole reply
/// (its header's length is its length), and no request is answered twice.
pub fn fuse_requests(data: &[u8]) {
    let offer = abi::InitIn {
        major: abi::MAJOR,
        minor: abi::MINOR,
        max_readahead: 0,
        flags: u32::MAX,
    };
    let mut requests = vec![abi::InHeader::request(abi::op::INIT, 2, 1, &offer.encode())];
    for (i, piece) in data.split(|&b| b == 0xFE).take(64).enumerate() {
        let Some((&opcode, rest)) = piece.split_first() else {
            continue;
        };
        let (node, body) = rest.split_first().unwrap_or((&1, &[]));
        let unique = 2 * (i as u64 + 2);
        requests.push(abi::InHeader::request(
            u32::from(opcode % 54),
            unique,
            u64::from(node % 8),
            body,
        ));
    }
    let core = Arc::new(Mailslots::new(Limits::new(4096), 0, 0));
    let fs = Arc::new(MailslotFs::new(core.clone(), 8192, 2));
    let transport = Arc::new(Scripted::new(requests));
    let before = PANICS.load(Ordering::Relaxed);
    Session::spawn(transport.clone(), fs, 1, 16384)
        .expect("a session thread")
        .join()
        .expect("the script plays to its end");
    assert_eq!(PANICS.load(Ordering::Relaxed), before, "a request panicked");
    core.shutdown();
    let mut answered = std::collections::HashSet::new();
    for reply in transport.sent() {
        assert!(reply.len() >= abi::OUT_HEADER_LEN, "{reply:?}");
        let len = u32::from_ne_bytes(reply[0..4].try_into().unwrap()) as usize;
        assert_eq!(len, reply.len(), "a reply's header gives its length");
        let unique = u64::from_ne_bytes(reply[8..16].try_into().unwrap());
        if unique != 0 {
            assert!(answered.insert(unique), "request {unique} answered twice");
        }
    }
}

/// A file name as the kernel hands it to the daemon: a slot or directory
/// name, or a remote target (`@HOST`, `@@DOMAIN#1C`).
pub fn names(data: &[u8]) {
    match names::fold(OsStr::from_bytes(data)) {
        Ok(key) => {
            assert!(data.len() <= names::NAME_MAX);
            assert!(!key.is_empty() && key != "." && key != "..", "{key:?}");
            assert!(
                !key.contains(['/', '\\']) && !key.chars().any(char::is_control),
                "{key:?}"
            );
            // A key finds itself: folding twice changes nothing (lower case
            // may be longer than the name, so it may pass NAME_MAX).
            match names::fold(OsStr::new(&key)) {
                Ok(again) => assert_eq!(again, key),
                Err(e) => assert_eq!(e, Error::NameTooLong, "{key:?}"),
            }
            // ASCII case never matters.
            let upper = OsString::from_vec(data.to_ascii_uppercase());
            assert_eq!(names::fold(&upper), Ok(key));
        }
        Err(e) => assert!(
            matches!(e, Error::NameTooLong | Error::InvalidName),
            "{e:?}"
        ),
    }
    // Names under the root that begin with `@` are remote targets.
    if let Ok(text) = std::str::from_utf8(data) {
        match RemoteTarget::parse(text) {
            None => assert!(!text.starts_with('@')),
            Some(Err(e)) => assert_eq!(e, Error::InvalidName),
            Some(Ok(t)) => {
                assert!(text.starts_with('@'));
                let _ = t.describe();
                assert!(
                    t.name.len() <= 15 && t.name == t.name.to_ascii_uppercase(),
                    "{t:?}"
                );
                assert_eq!(
                    t.name.is_empty(),
                    t.kind == TargetKind::PrimaryDomain,
                    "{t:?}"
                );
                // The target spelled back parses to itself.
                let mut spelling = match t.kind {
                    TargetKind::Computer => format!("@{}", t.name),
                    TargetKind::Domain => format!("@@{}", t.name),
                    TargetKind::PrimaryDomain => "@@".to_string(),
                };
                if let Some(suffix) = t.suffix {
                    spelling.push_str(&format!("#{suffix:02X}"));
                }
                assert_eq!(RemoteTarget::parse(&spelling), Some(Ok(t)), "{spelling}");
            }
        }
    }
}

/// A UDP payload from port 137 or 138: every parser sees every input, and
/// what parses builds into a packet that parses to the same value.
pub fn wire(data: &[u8]) {
    let _ = wire::parse_any(data);
    if let Ok(d) = MailslotDatagram::parse(data) {
        let _ = wire::mailslot_components(&d.mailslot);
        if let Ok(bytes) = d.build(SizeLimit::Format) {
            assert_eq!(MailslotDatagram::parse(&bytes).as_ref(), Ok(&d));
        }
    }
    if let Ok(q) = NameQuery::parse(data) {
        assert_eq!(NameQuery::parse(&q.build()).as_ref(), Ok(&q));
    }
    if let Ok(r) = NameQueryResponse::parse(data)
        && let Ok(bytes) = r.build()
    {
        assert_eq!(NameQueryResponse::parse(&bytes).as_ref(), Ok(&r));
    }
    if let Ok((name, used)) = NetbiosName::decode(data) {
        assert!(used <= data.len());
        let _ = name.to_string();
        let again = NetbiosName::decode(&name.encode()).map(|(n, _)| n);
        assert_eq!(again.as_ref(), Ok(&name));
    }
    if let Ok(spelling) = std::str::from_utf8(data)
        && let Ok(name) = NetbiosName::parse(spelling, 0x20)
    {
        let canonical = name.to_string();
        assert_eq!(
            NetbiosName::parse(&canonical, 0).as_ref(),
            Ok(&name),
            "{canonical}"
        );
    }
}

/// The name service packets of `net::registration` (a UDP payload on port
/// 137): registrations, refreshes, releases, their answers, node status.
/// What parses builds into bytes that parse to the same value.
pub fn name_service(data: &[u8]) {
    let _ = NsPacket::parse(data);
    let _ = QueryAnswer::parse(data);
    if let Ok(r) = NameRequest::parse(data) {
        assert_eq!(NameRequest::parse(&r.build()).as_ref(), Ok(&r));
    }
    if let Ok(r) = NameResponse::parse(data) {
        assert_eq!(NameResponse::parse(&r.build()).as_ref(), Ok(&r));
    }
    if let Ok(r) = NodeStatusRequest::parse(data) {
        assert_eq!(NodeStatusRequest::parse(&r.build()).as_ref(), Ok(&r));
    }
    if let Ok(r) = NodeStatusResponse::parse(data) {
        assert_eq!(NodeStatusResponse::parse(&r.build()).as_ref(), Ok(&r));
    }
}

/// `\\HOST\mailslot\a\b`, `\\DOMAIN<1C>\mailslot\...`, `\\*\mailslot\...`,
/// `\\.\mailslot\...` (`/` for `\` too): what parses spells back to
/// itself, its path components are mailslot names, and whatever it is
/// taken to be (a computer or a domain, with or without a workgroup to
/// compare with) it is a directory of the mount root that parses back to
/// the same target.
pub fn windows_names(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(parsed) = WindowsName::parse(text) else {
        assert!(!text.replace('\\', "/").starts_with("//"), "{text:?}");
        return;
    };
    let name = match parsed {
        Ok(name) => name,
        Err(e) => {
            // A component over 255 bytes is too long; anything else is no name.
            return assert!(
                matches!(e, Error::InvalidName | Error::NameTooLong),
                "{e:?}"
            );
        }
    };
    let spelling = name.spelling();
    assert_eq!(
        WindowsName::parse(&spelling),
        Some(Ok(name.clone())),
        "{spelling}"
    );
    for part in &name.path {
        assert!(names::fold(OsStr::new(part)).is_ok(), "{part:?}");
    }
    let Some(server) = &name.server else {
        return;
    };
    let own = match server {
        Server::Named { name, .. } => Some(name.as_str()),
        Server::PrimaryDomain => None,
    };
    for workgroup in [None, Some("WORKGROUP"), own] {
        for kind in [None, Some(TargetKind::Computer), Some(TargetKind::Domain)] {
            let target = server.target(workgroup, kind);
            let component = target.component();
            assert_eq!(
                RemoteTarget::parse(&component),
                Some(Ok(target.clone())),
                "{component}"
            );
            match (server, kind) {
                (Server::PrimaryDomain, _) => {
                    assert_eq!(target.kind, TargetKind::PrimaryDomain)
                }
                (_, Some(k)) => assert_eq!(target.kind, k),
                (_, None) => assert_ne!(target.kind, TargetKind::PrimaryDomain),
            }
        }
    }
}
