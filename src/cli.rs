//! The `mailslotfs` command line: options, their parsing, and the mount(8)
//! style `-o` list that the mount helper and /etc/fstab pass.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};

use crate::core::limits::{DEFAULT_MAX_QUEUED_BYTES, DEFAULT_MAX_TOTAL_BYTES};
pub use crate::net::service::DatagramLimit;

/// The CPUs this process may run on, at most 4: beyond that, threads only
/// wait their turn to read requests (see docs/interrupts.md).
pub fn default_threads() -> u16 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4) as u16)
}

#[derive(Parser, Debug, Clone, PartialEq)]
#[command(
    name = "mailslotfs",
    version,
    about = "Mount Windows-style mailslots: one process creates a slot and alone reads it, \
             any process writes whole messages into it.",
    after_help = "Exit status: 0 once the mount is ready (or, with --foreground, after a clean \
                  unmount); 1 when the mount cannot be made; 2 when the command line is wrong \
                  (the reason is printed, on one line).\n\
                  Sizes take suffixes (424, 64KiB, 1M); timeouts are `forever`, milliseconds \
                  (1500) or with a unit (2s, 500ms).\n\
                  See README.md and docs/ for the mapping of the Windows mailslot calls."
)]
pub struct Options {
    /// Directory to mount on (empty; usually /mailslot).
    pub mountpoint: PathBuf,

    /// Stay attached to the terminal and log to stderr instead of syslog.
    #[arg(short = 'f', long)]
    pub foreground: bool,

    /// Default largest message of a new slot; 0 means the largest the mount can carry.
    #[arg(long, value_parser = parse_size, default_value = "0")]
    pub max_message_size: usize,

    /// Default read timeout of a new slot: `forever` or a duration.
    #[arg(long, value_parser = parse_timeout, default_value = "forever")]
    pub read_timeout: Timeout,

    /// Bytes one slot may hold queued (each message counts 4 bytes more than its length).
    #[arg(long, value_parser = parse_size, default_value_t = DEFAULT_MAX_QUEUED_BYTES)]
    pub max_queued_bytes: usize,

    /// Bytes all slots of the mount may hold together.
    #[arg(long, value_parser = parse_size, default_value_t = DEFAULT_MAX_TOTAL_BYTES)]
    pub max_total_bytes: usize,

    /// Let every user of the machine use the mount (the kernel checks permissions).
    #[arg(long)]
    pub allow_other: bool,

    /// Threads serving FUSE requests [default: the CPUs, at most 4]. Any
    /// number keeps the order that matters: a closed slot is gone before
    /// the next request for its name is served.
    #[arg(long, default_value_t = default_threads(), hide_default_value = true,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,

    /// Mount options, comma-separated, as mount(8) passes them: allow_other,
    /// max_message_size=N, read_timeout=T, max_queued_bytes=N, max_total_bytes=N, threads=N,
    /// and the network options (interface=, address=, ..., datagram_limit=).
    #[arg(short = 'o', value_name = "OPTIONS")]
    pub options: Vec<String>,

    /// Turn the network side on, on this interface (its IPv4 address and broadcast address).
    #[arg(
        long,
        help_heading = "Network (off unless --interface or --address is given)"
    )]
    pub interface: Option<String>,

    /// Turn the network side on with this IPv4 address (with --broadcast).
    #[arg(
        long,
        help_heading = "Network (off unless --interface or --address is given)"
    )]
    pub address: Option<Ipv4Addr>,

    /// Broadcast address for domain writes and name queries.
    #[arg(
        long,
        help_heading = "Network (off unless --interface or --address is given)"
    )]
    pub broadcast: Option<Ipv4Addr>,

    /// This computer's NetBIOS name [default: the host name, upper-cased, at most 15 characters].
    #[arg(
        long,
        help_heading = "Network (off unless --interface or --address is given)"
    )]
    pub netbios_name: Option<String>,

    /// The workgroup or domain this computer is in (`/mailslot/@@/...` writes to it).
    #[arg(
        long,
        default_value = "WORKGROUP",
        help_heading = "Network (off unless --interface or --address is given)"
    )]
    pub workgroup: String,

    /// UDP port of the NetBIOS datagram service.
    #[arg(
        long,
        default_value_t = 138,
        help_heading = "Network (off unless --interface or --address is given)"
    )]
    pub dgram_port: u16,

    /// UDP port of the NetBIOS name service.
    #[arg(
        long,
        default_value_t = 137,
        help_heading = "Network (off unless --interface or --address is given)"
    )]
    pub name_port: u16,

    /// How large a write to another machine may be: `protocol` ([MS-MAIL]'s
    /// limit; Samba's for the mailslots Samba serves) or `samba` (every
    /// datagram within the 576 bytes Samba's nmbd reads).
    #[arg(
        long,
        value_enum,
        default_value = "protocol",
        help_heading = "Network (off unless --interface or --address is given)"
    )]
    pub datagram_limit: DatagramLimit,

    /// A computer name that resolves without a name query: NAME=IPV4 (repeatable).
    #[arg(long = "host", value_name = "NAME=IPV4", value_parser = parse_host, help_heading = "Network (off unless --interface or --address is given)")]
    pub hosts: Vec<(String, Ipv4Addr)>,

    /// More log output (-v debug, -vv trace).
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,

    /// Less log output (-q warnings only, -qq errors only).
    #[arg(short, long, action = ArgAction::Count)]
    pub quiet: u8,
}

/// A read timeout; `None` waits forever.
pub type Timeout = Option<Duration>;

/// A size: a whole number with an optional unit: `K`/`KiB`, `M`/`MiB`,
/// `G`/`GiB`, `T`/`TiB` (powers of 1024), `KB`/`MB`/`GB`/`TB` (powers of
/// 1000), `B`. Checked arithmetic throughout: a size the machine cannot hold
/// is refused, never wrapped.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let text = s.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return Err(format!(
            "{s:?} is not a size (a number, then K, M, G, KiB, MB, ...)"
        ));
    }
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "{s:?} is not a size: unknown unit {:?}",
                unit.trim()
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("{s:?} is too large"))
}

pub fn parse_host(s: &str) -> Result<(String, Ipv4Addr), String> {
    let (name, ip) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not NAME=IPV4"))?;
    let ip = ip
        .parse()
        .map_err(|_| format!("{ip:?} is not an IPv4 address"))?;
    if name.is_empty() || name.len() > 15 {
        return Err(format!(
            "{name:?} is not a NetBIOS name (1 to 15 characters)"
        ));
    }
    Ok((name.to_ascii_uppercase(), ip))
}

/// `forever`, milliseconds (as the `read_timeout_ms` attribute takes them),
/// or a duration with a unit. Bounded as Windows bounds it: the longest
/// finite timeout is 4,294,967,294 ms (about 49.7 days).
pub fn parse_timeout(s: &str) -> Result<Timeout, String> {
    let s = s.trim();
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'-') || s == "forever" {
        return crate::core::xattr::parse_read_timeout(s.as_bytes())
            .map_err(|_| format!("{s:?} is not `forever` or a timeout of at most 4294967294 ms"));
    }
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not `forever` or a duration ({e})"))?;
    if d.as_millis() >= u128::from(u32::MAX) {
        return Err(format!(
            "{s:?} is longer than the longest timeout, 4294967294 ms (about 49.7 days); use forever"
        ));
    }
    Ok(Some(d))
}

/// Options mount(8) passes on that mean nothing to a mailslot mount.
const IGNORED: &[&str] = &[
    "rw",
    "defaults",
    "auto",
    "noauto",
    "user",
    "nouser",
    "users",
    "nofail",
    "_netdev",
    "dev",
    "nodev",
    "suid",
    "nosuid",
    "exec",
    "noexec",
    "atime",
    "noatime",
    "relatime",
    "strictatime",
    "nodiratime",
    "async",
    "sync",
    "default_permissions",
];

impl Options {
    /// Folds the `-o` lists into the options they name.
    pub fn apply_mount_options(&mut self) -> Result<(), String> {
        for list in std::mem::take(&mut self.options) {
            for opt in list.split(',').filter(|o| !o.is_empty()) {
                self.apply_one(opt)?;
            }
        }
        Ok(())
    }

    fn apply_one(&mut self, opt: &str) -> Result<(), String> {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (opt, None),
        };
        let need = || value.ok_or_else(|| format!("mount option {key} needs a value ({key}=...)"));
        match key {
            "allow_other" => self.allow_other = true,
            "foreground" => self.foreground = true,
            "max_message_size" => self.max_message_size = parse_size(need()?)?,
            "read_timeout" => self.read_timeout = parse_timeout(need()?)?,
            "max_queued_bytes" => self.max_queued_bytes = parse_size(need()?)?,
            "max_total_bytes" => self.max_total_bytes = parse_size(need()?)?,
            "threads" => {
                self.threads = need()?
                    .parse()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "threads={} is not a number from 1 to 64",
                            value.unwrap_or("")
                        )
                    })?
            }
            "interface" => self.interface = Some(need()?.to_string()),
            "address" => {
                self.address = Some(
                    need()?
                        .parse()
                        .map_err(|_| format!("{opt}: not an IPv4 address"))?,
                )
            }
            "broadcast" => {
                self.broadcast = Some(
                    need()?
                        .parse()
                        .map_err(|_| format!("{opt}: not an IPv4 address"))?,
                )
            }
            "netbios_name" => self.netbios_name = Some(need()?.to_string()),
            "workgroup" => self.workgroup = need()?.to_string(),
            "dgram_port" => {
                self.dgram_port = need()?.parse().map_err(|_| format!("{opt}: not a port"))?
            }
            "name_port" => {
                self.name_port = need()?.parse().map_err(|_| format!("{opt}: not a port"))?
            }
            "host" => self.hosts.push(parse_host(need()?)?),
            "datagram_limit" => {
                self.datagram_limit = match need()? {
                    "protocol" => DatagramLimit::Protocol,
                    "samba" => DatagramLimit::Samba,
                    v => return Err(format!("datagram_limit={v}: `protocol` or `samba`")),
                }
            }
            "ro" => return Err("a mailslot mount cannot be read-only".into()),
            k if IGNORED.contains(&k) || k.starts_with("x-") || k.starts_with("comment=") => {}
            _ => return Err(format!("unknown mount option {opt:?}")),
        }
        Ok(())
    }

    /// The log level the -v/-q counts ask for.
    pub fn log_level(&self) -> log::LevelFilter {
        use log::LevelFilter::*;
        match i16::from(self.verbose) - i16::from(self.quiet) {
            i16::MIN..=-2 => Error,
            -1 => Warn,
            0 => Info,
            1 => Debug,
            _ => Trace,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        let mut o =
            Options::try_parse_from(std::iter::once("mailslotfs").chain(args.iter().copied()))
                .unwrap();
        o.apply_mount_options().unwrap();
        o
    }

    #[test]
    fn defaults() {
        let o = parse(&["/mailslot"]);
        assert_eq!(o.max_message_size, 0);
        assert_eq!(o.read_timeout, None);
        assert_eq!(o.max_queued_bytes, 64 << 20);
        assert!(!o.allow_other && !o.foreground);
        assert_eq!(o.threads, default_threads());
        assert_eq!(o.log_level(), log::LevelFilter::Info);
    }

    #[test]
    fn sizes_and_timeouts() {
        let o = parse(&[
            "--max-message-size",
            "424",
            "--read-timeout",
            "1500",
            "--max-queued-bytes",
            "1MiB",
            "m",
        ]);
        assert_eq!(o.max_message_size, 424);
        assert_eq!(o.read_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(o.max_queued_bytes, 1 << 20);
        assert_eq!(parse_timeout("2s"), Ok(Some(Duration::from_secs(2))));
        assert!(parse_timeout("soon").is_err());
        assert_eq!(parse_timeout("4294967295"), Ok(None));
        for bad in [
            "4294967296",
            "50days",
            "10000000000000000000s",
            "388781008818y",
            "-5",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("2 MB"), Ok(2_000_000));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        for bad in [
            "184467440737095516159",
            "18446744073709551615K",
            "16777216T",
            "1.5M",
            "5 parsecs",
            "",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mount_option_list() {
        let o = parse(&[
            "-o",
            "rw,nosuid,allow_other,read_timeout=0,max_queued_bytes=4096,x-systemd.after=x",
            "m",
        ]);
        assert!(o.allow_other);
        assert_eq!(o.read_timeout, Some(Duration::ZERO));
        assert_eq!(o.max_queued_bytes, 4096);
        for bad in [
            "ro",
            "bogus",
            "threads=0",
            "threads",
            "max_message_size=huge",
        ] {
            let mut o = Options::try_parse_from(["mailslotfs", "-o", bad, "m"]).unwrap();
            assert!(o.apply_mount_options().is_err(), "{bad}");
        }
    }

    #[test]
    fn network_options() {
        let o = parse(&[
            "--address",
            "198.18.0.1",
            "--broadcast",
            "198.18.0.255",
            "--host",
            "dc=198.18.0.9",
            "m",
        ]);
        assert_eq!(o.address, Some(Ipv4Addr::new(198, 18, 0, 1)));
        assert_eq!(o.hosts, [("DC".to_string(), Ipv4Addr::new(198, 18, 0, 9))]);
        assert_eq!(
            (o.dgram_port, o.name_port, o.workgroup.as_str()),
            (138, 137, "WORKGROUP")
        );
        let o = parse(&["-o", "workgroup=CORP,dgram_port=1138,netbios_name=box", "m"]);
        assert_eq!((o.dgram_port, o.workgroup.as_str()), (1138, "CORP"));
        assert_eq!(o.datagram_limit, DatagramLimit::Protocol);
        let o = parse(&["-o", "datagram_limit=samba", "m"]);
        assert_eq!(o.datagram_limit, DatagramLimit::Samba);
        let o = parse(&["--datagram-limit", "samba", "m"]);
        assert_eq!(o.datagram_limit, DatagramLimit::Samba);
        let mut bad =
            Options::try_parse_from(["mailslotfs", "-o", "datagram_limit=huge", "m"]).unwrap();
        assert!(bad.apply_mount_options().is_err());
        assert!(parse_host("x").is_err() && parse_host("x=1.2.3").is_err());
    }

    #[test]
    fn verbosity() {
        assert_eq!(parse(&["-vv", "m"]).log_level(), log::LevelFilter::Trace);
        assert_eq!(parse(&["-q", "m"]).log_level(), log::LevelFilter::Warn);
    }
}
