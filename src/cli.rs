//! The `mailslotfs` command line: options, their parsing, and the mount(8)
//! style `-o` list that mount.fuse3 (for mount(8) and /etc/fstab) passes.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};

use crate::core::limits::{DEFAULT_MAX_QUEUED_BYTES, DEFAULT_MAX_TOTAL_BYTES};
pub use crate::net::service::DatagramLimit;

/// Two threads, or one on a single CPU. On 2 CPUs `mailslot-bench` found
/// two fastest for pairs (64,696/s with 2 against 20,944 with 1 and 41,167
/// with 4) and fan-in level between 2 and 4 (29,596 and 30,556, within
/// the spread of its runs; 17,913 with 1): a second thread takes the next
/// request while the first wakes a client, and more threads than CPUs only
/// take CPU time from the clients (docs/performance.md).
pub fn default_threads() -> u16 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2) as u16)
}

#[derive(Parser, Debug, Clone, PartialEq)]
#[command(
    name = "mailslotfs",
    version,
    about = "Mount Windows-style mailslots: one process creates a slot and alone reads it, \
             any process writes whole messages into it.",
    after_help = "Exit status: 0 once the mount is ready (or, with --foreground, after a clean \
                  unmount; with --stop, once the daemon has exited); 1 when the mount cannot be \
                  made or stopped; 2 when the command line or an -o option is wrong (the reason \
                  is printed, on one line); 3 when --stop --if-served-by left the mount running \
                  because another executable serves it.\n\
                  Sizes take suffixes (424, 64KiB, 1M); timeouts are `forever`, milliseconds \
                  (1500) or with a unit (2s, 500ms).\n\
                  An -o option that disagrees with a flag given on the same command line is \
                  refused; among -o options the last one wins, as with mount(8).\n\
                  See docs/behaviour.md for the mapping of the Windows mailslot calls.",
    // `mailslotfs [SOURCE] MOUNTPOINT`: mount.fuse3 (and so mount(8) and
    // /etc/fstab) runs `mailslotfs SOURCE MOUNTPOINT -o OPTIONS`, as for sshfs.
    allow_missing_positional = true
)]
pub struct Options {
    /// What mount(8) and /etc/fstab name as the device; anything (by
    /// convention `mailslotfs`), and the mount shows `mailslotfs` whatever it is.
    #[arg(value_name = "SOURCE")]
    pub source: Option<String>,

    /// Directory to mount on (empty; usually /mailslot).
    #[arg(value_name = "MOUNTPOINT")]
    pub mountpoint: PathBuf,

    /// Stay attached to the terminal and log to stderr (without timestamps
    /// under systemd, whose journal adds its own).
    #[arg(short = 'f', long)]
    pub foreground: bool,

    /// Stop the daemon serving MOUNTPOINT and wait until it has exited: it
    /// unmounts even while servers hold slots open (their reads then fail
    /// with ENOTCONN), where umount(8) would say "target is busy".
    #[arg(long)]
    pub stop: bool,

    /// With --stop: stop the daemon only if it runs EXE (its /proc/PID/exe,
    /// even once EXE was replaced or removed); a mount served by another
    /// mailslotfs executable is left running, and the exit status is 3.
    #[arg(long, value_name = "EXE", requires = "stop")]
    pub if_served_by: Option<PathBuf>,

    /// Append the log to FILE (default: syslog when daemonized, stderr with --foreground).
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Default largest message of a new slot; 0 means the largest the mount can carry.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "0")]
    pub max_message_size: usize,

    /// Default read timeout of a new slot: `forever` or a duration.
    #[arg(long, value_name = "TIME", value_parser = parse_timeout, default_value = "forever")]
    pub read_timeout: Timeout,

    /// Bytes one slot may hold queued (each message counts 16 bytes more
    /// than its length); at most --max-total-bytes.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value_t = DEFAULT_MAX_QUEUED_BYTES)]
    pub max_queued_bytes: usize,

    /// Bytes all slots of the mount may hold together.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value_t = DEFAULT_MAX_TOTAL_BYTES)]
    pub max_total_bytes: usize,

    /// Bytes one user's messages may take queued, wherever they are
    /// (charged to the writer) [default: an eighth of --max-total-bytes].
    /// Root and the mount's owner are not limited per user.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_user_bytes: Option<usize>,

    /// Slots one user may have open at once.
    #[arg(long, value_name = "N", default_value_t = crate::core::quota::DEFAULT_MAX_USER_SLOTS)]
    pub max_user_slots: usize,

    /// Directories one user may have made that still exist.
    #[arg(long, value_name = "N", default_value_t = crate::core::quota::DEFAULT_MAX_USER_DIRS)]
    pub max_user_dirs: usize,

    /// Reads of one user that may wait for a message at once.
    #[arg(long, value_name = "N", default_value_t = crate::core::quota::DEFAULT_MAX_USER_WAITING_READS)]
    pub max_user_waiting_reads: usize,

    /// Writes of one user that may wait for a computer's name to resolve.
    #[arg(long, value_name = "N", default_value_t = crate::core::quota::DEFAULT_MAX_USER_RESOLUTIONS)]
    pub max_user_resolutions: usize,

    /// Let every user of the machine use the mount (the kernel checks permissions).
    #[arg(long)]
    pub allow_other: bool,

    /// Threads serving FUSE requests [default: 2, or 1 on a single CPU]. Any
    /// number keeps the order that matters: a closed slot is gone before
    /// the next request for its name is served.
    #[arg(long, value_name = "N", default_value_t = default_threads(), hide_default_value = true,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,

    /// Mount options, comma-separated, as mount(8) passes them: allow_other,
    /// max_message_size=SIZE, read_timeout=TIME, max_queued_bytes=SIZE,
    /// max_total_bytes=SIZE, max_user_bytes=SIZE, max_user_slots=N,
    /// max_user_dirs=N, max_user_waiting_reads=N, max_user_resolutions=N,
    /// threads=N, log_file=FILE, and the network
    /// options by their long names (interface=IFACE, ..., datagram_limit=, samba=,
    /// samba_socket_dir=).
    #[arg(short = 'o', value_name = "OPTIONS")]
    pub options: Vec<String>,

    /// Turn the network side on, on this interface (its IPv4 address and broadcast address).
    #[arg(long, value_name = "IFACE", help_heading = NET)]
    pub interface: Option<String>,

    /// Turn the network side on with this IPv4 address (with --broadcast).
    #[arg(long, value_name = "IPV4", help_heading = NET)]
    pub address: Option<Ipv4Addr>,

    /// Broadcast address for domain writes and name queries.
    #[arg(long, value_name = "IPV4", help_heading = NET)]
    pub broadcast: Option<Ipv4Addr>,

    /// This computer's NetBIOS name [default: the host name, upper-cased, at most 15 characters].
    #[arg(long, value_name = "NAME", help_heading = NET)]
    pub netbios_name: Option<String>,

    /// The workgroup or domain this computer is in (`/mailslot/@@/...` writes to it).
    #[arg(long, value_name = "NAME", default_value = "WORKGROUP", help_heading = NET)]
    pub workgroup: String,

    /// UDP port of the NetBIOS datagram service.
    #[arg(long, value_name = "PORT", default_value_t = 138, help_heading = NET)]
    pub dgram_port: u16,

    /// UDP port of the NetBIOS name service.
    #[arg(long, value_name = "PORT", default_value_t = 137, help_heading = NET)]
    pub name_port: u16,

    /// How large a write to another machine may be: `protocol` ([MS-MAIL]'s
    /// limit; Samba's for the mailslots Samba serves) or `samba` (every
    /// datagram within the 576 bytes Samba's nmbd reads).
    #[arg(
        long,
        value_enum,
        default_value = "protocol",
        help_heading = NET
    )]
    pub datagram_limit: DatagramLimit,

    /// A computer name that resolves without a name query: NAME=IPV4 (repeatable).
    #[arg(long = "host", value_name = "NAME=IPV4", value_parser = parse_host, help_heading = NET)]
    pub hosts: Vec<(String, Ipv4Addr)>,

    /// A WINS server (NetBIOS name server) to register this computer's names
    /// with and to resolve computer names through, before broadcasting
    /// (repeatable: tried in order).
    #[arg(long = "wins", value_name = "IPV4", help_heading = NET)]
    pub wins: Vec<Ipv4Addr>,

    /// The time to live, in seconds, this computer asks for its names; a
    /// WINS server may grant less, and names are refreshed at half of it.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::net::names::DEFAULT_TTL,
          value_parser = clap::value_parser!(u32).range(1..), help_heading = NET)]
    pub name_ttl: u32,

    /// Where Samba's nmbd runs on this host: `auto` leaves it UDP 137 and
    /// 138 and receives the datagrams it does not serve through its
    /// socket (docs/network.md, "On a Samba host"); `off` binds the ports
    /// whatever runs.
    #[arg(long, value_enum, default_value = "auto", help_heading = NET)]
    pub samba: crate::net::samba::SambaMode,

    /// nmbd's socket directory (`nmbd:socket dir`) [default: from
    /// /etc/samba/smb.conf, else /run/samba/nmbd].
    #[arg(long, value_name = "DIR", help_heading = NET)]
    pub samba_socket_dir: Option<std::path::PathBuf>,

    /// More log output (-v debug, -vv trace).
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,

    /// Less log output (-q warnings only, -qq errors only).
    #[arg(short, long, action = ArgAction::Count)]
    pub quiet: u8,

    /// The settings given explicitly, by flag or by -o, as clap names them
    /// (`read_timeout`, `hosts`): a flag and an -o option may not disagree.
    #[arg(skip)]
    pub explicit: Vec<String>,
}

/// The help heading of the network options.
const NET: &str = "Network (off unless --interface or --address is given)";

/// A read timeout; `None` waits forever.
pub type Timeout = Option<Duration>;

/// A count for a per-user limit: a whole number.
fn parse_count(s: &str) -> Result<usize, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number"))
}

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
            "'{s}' is not a size (a number, then K, M, G, KiB, MB, ...)"
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
                "'{s}' is not a size: unknown unit '{}' (K, M, G, T, KiB, MB, ...)",
                unit.trim()
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("'{s}' is too large"))
}

pub fn parse_host(s: &str) -> Result<(String, Ipv4Addr), String> {
    let (name, ip) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not NAME=IPV4"))?;
    let ip = ip
        .parse()
        .map_err(|_| format!("'{ip}' is not an IPv4 address"))?;
    if name.is_empty() || name.len() > 15 {
        return Err(format!(
            "'{name}' is not a NetBIOS name (1 to 15 characters)"
        ));
    }
    Ok((name.to_ascii_uppercase(), ip))
}

/// `forever`, milliseconds (as the `read_timeout_ms` attribute takes them),
/// or a duration with a unit; the same spellings `setfattr` may give.
/// Bounded as Windows bounds it: the longest finite timeout is
/// 4,294,967,294 ms (about 49.7 days).
pub fn parse_timeout(s: &str) -> Result<Timeout, String> {
    crate::core::xattr::parse_read_timeout(s.trim().as_bytes()).map_err(|_| {
        format!(
            "'{s}' is not a timeout: `forever`, milliseconds (1500) or a duration \
             (2s, 500ms, 1h 30m) of at most 4294967294 ms (about 49.7 days)"
        )
    })
}

/// An I/O error as one plain phrase: the system's text for its errno,
/// without Rust's " (os error N)".
pub fn error_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
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
    /// Parses a command line as the daemon does, noting which settings it
    /// gives explicitly.
    pub fn from_args<I, T>(args: I) -> Result<Options, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Options::command().try_get_matches_from(args)?;
        let mut opts = Options::from_arg_matches(&matches)?;
        opts.explicit = matches
            .ids()
            .filter(|id| {
                matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
            })
            .map(|id| id.as_str().to_string())
            .filter(|id| id != "options")
            .collect();
        Ok(opts)
    }

    /// Folds the `-o` lists into the options they name, then checks that
    /// the limits fit together.
    pub fn apply_mount_options(&mut self) -> Result<(), String> {
        let flags = self.explicit.clone();
        for list in std::mem::take(&mut self.options) {
            for opt in list.split(',').filter(|o| !o.is_empty()) {
                let before = self.clone();
                let id = self.apply_one(opt)?;
                if let Some(id) = id {
                    if flags.iter().any(|f| f == id) && *self != before {
                        return Err(format!(
                            "-o {opt} disagrees with --{} on the same command line; give one",
                            id.replace('_', "-")
                        ));
                    }
                    if !self.explicit.iter().any(|e| e == id) {
                        self.explicit.push(id.to_string());
                    }
                }
            }
        }
        self.settle_limits()
    }

    /// One slot can never hold more than the whole mount: a per-slot limit
    /// given above the mount's is refused; the default one follows the mount's.
    fn settle_limits(&mut self) -> Result<(), String> {
        if self.max_queued_bytes <= self.max_total_bytes {
            return Ok(());
        }
        if self.explicit.iter().any(|e| e == "max_queued_bytes") {
            return Err(format!(
                "max_queued_bytes ({}) is above max_total_bytes ({}): one slot can never hold \
                 more than the whole mount",
                self.max_queued_bytes, self.max_total_bytes
            ));
        }
        self.max_queued_bytes = self.max_total_bytes;
        Ok(())
    }

    /// Applies one `-o` option; returns the setting it gives (its clap id),
    /// if it is one a flag may also give.
    fn apply_one(&mut self, opt: &str) -> Result<Option<&'static str>, String> {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (opt, None),
        };
        let need = || value.ok_or_else(|| format!("mount option {key} needs a value ({key}=...)"));
        let bad = |what: &str| format!("-o {opt}: {what}");
        let id = match key {
            "allow_other" => {
                self.allow_other = true;
                "allow_other"
            }
            "foreground" => {
                self.foreground = true;
                "foreground"
            }
            "log_file" => {
                self.log_file = Some(PathBuf::from(need()?));
                "log_file"
            }
            "max_message_size" => {
                self.max_message_size = parse_size(need()?).map_err(|e| bad(&e))?;
                "max_message_size"
            }
            "read_timeout" => {
                self.read_timeout = parse_timeout(need()?).map_err(|e| bad(&e))?;
                "read_timeout"
            }
            "max_queued_bytes" => {
                self.max_queued_bytes = parse_size(need()?).map_err(|e| bad(&e))?;
                "max_queued_bytes"
            }
            "max_total_bytes" => {
                self.max_total_bytes = parse_size(need()?).map_err(|e| bad(&e))?;
                "max_total_bytes"
            }
            "max_user_bytes" => {
                self.max_user_bytes = Some(parse_size(need()?).map_err(|e| bad(&e))?);
                "max_user_bytes"
            }
            "max_user_slots" => {
                self.max_user_slots = parse_count(need()?).map_err(|e| bad(&e))?;
                "max_user_slots"
            }
            "max_user_dirs" => {
                self.max_user_dirs = parse_count(need()?).map_err(|e| bad(&e))?;
                "max_user_dirs"
            }
            "max_user_waiting_reads" => {
                self.max_user_waiting_reads = parse_count(need()?).map_err(|e| bad(&e))?;
                "max_user_waiting_reads"
            }
            "max_user_resolutions" => {
                self.max_user_resolutions = parse_count(need()?).map_err(|e| bad(&e))?;
                "max_user_resolutions"
            }
            "threads" => {
                self.threads = need()?
                    .parse()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or_else(|| bad("not a number from 1 to 64"))?;
                "threads"
            }
            "interface" => {
                self.interface = Some(need()?.to_string());
                "interface"
            }
            "address" => {
                self.address = Some(need()?.parse().map_err(|_| bad("not an IPv4 address"))?);
                "address"
            }
            "broadcast" => {
                self.broadcast = Some(need()?.parse().map_err(|_| bad("not an IPv4 address"))?);
                "broadcast"
            }
            "netbios_name" => {
                self.netbios_name = Some(need()?.to_string());
                "netbios_name"
            }
            "workgroup" => {
                self.workgroup = need()?.to_string();
                "workgroup"
            }
            "dgram_port" => {
                self.dgram_port = need()?.parse().map_err(|_| bad("not a port"))?;
                "dgram_port"
            }
            "name_port" => {
                self.name_port = need()?.parse().map_err(|_| bad("not a port"))?;
                "name_port"
            }
            // Repeatable: -o host=... adds to the --host list.
            "host" => {
                self.hosts.push(parse_host(need()?).map_err(|e| bad(&e))?);
                return Ok(None);
            }
            // Repeatable: -o wins=... adds to the --wins list.
            "wins" => {
                self.wins
                    .push(need()?.parse().map_err(|_| bad("not an IPv4 address"))?);
                return Ok(None);
            }
            "name_ttl" => {
                self.name_ttl = need()?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad("not a number of seconds from 1"))?;
                "name_ttl"
            }
            "datagram_limit" => {
                self.datagram_limit = match need()? {
                    "protocol" => DatagramLimit::Protocol,
                    "samba" => DatagramLimit::Samba,
                    _ => return Err(bad("`protocol` or `samba`")),
                };
                "datagram_limit"
            }
            "samba" => {
                self.samba = match need()? {
                    "auto" => crate::net::samba::SambaMode::Auto,
                    "off" => crate::net::samba::SambaMode::Off,
                    _ => return Err(bad("`auto` or `off`")),
                };
                "samba"
            }
            "samba_socket_dir" => {
                self.samba_socket_dir = Some(need()?.into());
                "samba_socket_dir"
            }
            "ro" => return Err("a mailslot mount cannot be read-only".into()),
            k if IGNORED.contains(&k) || k.starts_with("x-") || k.starts_with("comment=") => {
                return Ok(None);
            }
            _ => return Err(format!("unknown mount option '{opt}'")),
        };
        Ok(Some(id))
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
        let o = parse(&[
            "--wins",
            "198.18.0.2",
            "-o",
            "wins=198.18.1.2,name_ttl=60",
            "m",
        ]);
        assert_eq!(
            o.wins,
            [Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 18, 1, 2)]
        );
        assert_eq!(o.name_ttl, 60);
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
    fn the_mount_helper_form_names_a_source_first() {
        let o = Options::from_args(["mailslotfs", "/mailslot"]).unwrap();
        assert_eq!((o.source, o.mountpoint), (None, PathBuf::from("/mailslot")));
        let o =
            Options::from_args(["mailslotfs", "mailslotfs", "/m", "-o", "rw,allow_other"]).unwrap();
        assert_eq!(o.source.as_deref(), Some("mailslotfs"));
        assert_eq!(o.mountpoint, PathBuf::from("/m"));
        assert!(Options::from_args(["mailslotfs", "a", "b", "c"]).is_err());
        assert!(Options::from_args(["mailslotfs"]).is_err());
    }

    #[test]
    fn a_flag_and_an_o_option_may_not_disagree() {
        let settle = |args: &[&str]| {
            let mut o =
                Options::from_args(std::iter::once("mailslotfs").chain(args.iter().copied()))
                    .unwrap();
            o.apply_mount_options().map(|()| o)
        };
        let err = settle(&["--read-timeout", "5s", "-o", "read_timeout=1s", "m"]).unwrap_err();
        assert!(err.contains("--read-timeout"), "{err}");
        // The same value twice is no disagreement; among -o the last wins.
        let o = settle(&["--read-timeout", "1s", "-o", "read_timeout=1000", "m"]).unwrap();
        assert_eq!(o.read_timeout, Some(Duration::from_secs(1)));
        let o = settle(&["-o", "threads=2", "-o", "threads=3", "m"]).unwrap();
        assert_eq!(o.threads, 3);
        let o = settle(&["--allow-other", "-o", "allow_other", "m"]).unwrap();
        assert!(o.allow_other);
    }

    #[test]
    fn a_slot_may_not_hold_more_than_the_mount() {
        let settle = |args: &[&str]| {
            let mut o =
                Options::from_args(std::iter::once("mailslotfs").chain(args.iter().copied()))
                    .unwrap();
            o.apply_mount_options().map(|()| o)
        };
        let err =
            settle(&["--max-queued-bytes", "2M", "--max-total-bytes", "1M", "m"]).unwrap_err();
        assert!(err.contains("above max_total_bytes"), "{err}");
        assert!(settle(&["-o", "max_queued_bytes=2M,max_total_bytes=1M", "m"]).is_err());
        // The default per-slot limit follows a smaller mount limit.
        let o = settle(&["--max-total-bytes", "1M", "m"]).unwrap();
        assert_eq!(o.max_queued_bytes, 1 << 20);
    }

    #[test]
    fn messages_carry_no_library_text() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(error_text(&e), "No such file or directory");
        let err = parse_timeout("soon").unwrap_err();
        assert!(
            !err.contains("expected") && err.starts_with("'soon'"),
            "{err}"
        );
        assert!(parse_size(r"\\x").unwrap_err().starts_with(r"'\\x'"));
    }

    #[test]
    fn verbosity() {
        assert_eq!(parse(&["-vv", "m"]).log_level(), log::LevelFilter::Trace);
        assert_eq!(parse(&["-q", "m"]).log_level(), log::LevelFilter::Warn);
    }
}
