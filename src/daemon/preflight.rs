//! Everything checked before mounting, so that a start that cannot work
//! fails with one clear line instead of a FUSE error.

use std::path::{Path, PathBuf};

use crate::cli::{Options, error_text};
use crate::core::Limits;
use crate::core::limits::message_ceiling;
use crate::net::service::NetConfig;

/// Kernel default of fs.fuse.max_pages_limit, used when the sysctl is absent.
const DEFAULT_MAX_PAGES: usize = 256;

pub struct Plan {
    pub mountpoint: PathBuf,
    /// The network side's settings, when it is on.
    pub network: Option<NetConfig>,
    pub limits: Limits,
    /// max_write for the FUSE session: the largest request the kernel builds.
    pub max_write: u32,
    /// max_pages for the FUSE session: pages in one request.
    pub max_pages: u16,
}

/// Why a start cannot work: a wrong command line (exit status 2, as every
/// other wrong option) or a machine that cannot take the mount (1).
#[derive(Debug)]
pub enum Refusal {
    Usage(String),
    Environment(String),
}

impl From<String> for Refusal {
    fn from(text: String) -> Self {
        Refusal::Environment(text)
    }
}

impl From<&str> for Refusal {
    fn from(text: &str) -> Self {
        Refusal::Environment(text.into())
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (Refusal::Usage(t) | Refusal::Environment(t)) = self;
        f.write_str(t)
    }
}

pub fn check(opts: &Options) -> Result<Plan, Refusal> {
    let shown = opts.mountpoint.display();
    let mountpoint = match opts.mountpoint.canonicalize() {
        Ok(p) => p,
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            return Err(format!(
                "mount point {shown} is a dead FUSE mount (Transport endpoint is not connected); \
                 run `umount -l {shown}` first"
            )
            .into());
        }
        Err(e) => return Err(format!("mount point {shown}: {}", error_text(&e)).into()),
    };
    if !mountpoint.is_dir() {
        return Err(format!("mount point {shown} is not a directory").into());
    }
    if is_fuse(&mountpoint) {
        return Err(format!("{shown} is already a FUSE mount; unmount it first").into());
    }
    match std::fs::read_dir(&mountpoint) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(format!("mount point {shown} is not empty").into());
            }
        }
        Err(e) => return Err(format!("mount point {shown}: {}", error_text(&e)).into()),
    }
    if !Path::new("/dev/fuse").exists() {
        return Err("no /dev/fuse: load the fuse module (modprobe fuse) or install fuse3".into());
    }
    let root = nix::unistd::geteuid().is_root();
    if !root && !on_path("fusermount3") {
        return Err("mounting as a non-root user needs fusermount3 (Debian package fuse3)".into());
    }
    let rw = nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::W_OK;
    if !root && nix::unistd::access("/dev/fuse", rw).is_err() {
        return Err(
            "no permission to use /dev/fuse as this user; mount as root, \
                    or make /dev/fuse mode 0666 as most distributions do"
                .into(),
        );
    }

    let max_pages = std::fs::read_to_string("/proc/sys/fs/fuse/max_pages_limit")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(DEFAULT_MAX_PAGES);
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as usize);
    let ceiling = message_ceiling(max_pages, page);
    if ceiling == 0 {
        return Err(
            format!("fs.fuse.max_pages_limit is {max_pages}; mailslotfs needs at least 2").into(),
        );
    }
    let mut limits = Limits::new(ceiling);
    limits.max_message_size = match opts.max_message_size {
        0 => ceiling,
        n if n <= ceiling => n,
        n => {
            return Err(Refusal::Usage(format!(
                "--max-message-size {n} is larger than the largest message this mount can carry whole: \
                 {ceiling} bytes ((fs.fuse.max_pages_limit {max_pages} - 1) x {page}-byte pages)"
            )));
        }
    };
    limits.read_timeout = opts.read_timeout;
    limits.max_queued_bytes = opts.max_queued_bytes;
    limits.max_total_bytes = opts.max_total_bytes;
    if limits.max_queued_bytes == 0 || limits.max_total_bytes == 0 {
        return Err(Refusal::Usage(
            "--max-queued-bytes and --max-total-bytes must be above 0".into(),
        ));
    }
    limits.user = crate::core::UserLimits {
        bytes: opts
            .max_user_bytes
            .unwrap_or(crate::core::UserLimits::defaults(limits.max_total_bytes).bytes),
        slots: opts.max_user_slots,
        dirs: opts.max_user_dirs,
        waiting_reads: opts.max_user_waiting_reads,
        resolutions: opts.max_user_resolutions,
    };
    // Each session thread keeps a buffer this large; 16 MiB bounds it.
    let max_write = (max_pages * page).min(16 << 20) as u32;
    let max_pages = u16::try_from(max_pages).unwrap_or(u16::MAX);
    Ok(Plan {
        // The network's refusals that name an option are a wrong command
        // line; the others (an interface that is not there) the machine's.
        network: network(opts).map_err(|e| {
            if e.starts_with("--") {
                Refusal::Usage(e)
            } else {
                Refusal::Environment(e)
            }
        })?,
        mountpoint,
        limits,
        max_write,
        max_pages,
    })
}

/// The network settings the options ask for; `None` leaves the network off.
fn network(opts: &Options) -> Result<Option<NetConfig>, String> {
    if opts.interface.is_none() && opts.address.is_none() {
        if !opts.wins.is_empty() {
            return Err("--wins needs the network side on (--interface or --address)".into());
        }
        return Ok(None);
    }
    let (mut address, mut broadcast) = (opts.address, opts.broadcast);
    if let Some(iface) = &opts.interface {
        let (a, b) = interface_addresses(iface)?;
        address = address.or(Some(a));
        broadcast = broadcast.or(Some(b));
    }
    let (Some(address), Some(broadcast)) = (address, broadcast) else {
        return Err("--address needs --broadcast (or name the --interface)".into());
    };
    let netbios_name = match &opts.netbios_name {
        Some(n) => n.clone(),
        None => {
            let host = nix::unistd::gethostname()
                .map_err(|e| format!("cannot read the host name: {}", e.desc()))?;
            let host = host.to_string_lossy();
            let first = host.split('.').next().unwrap_or("");
            first
                .chars()
                .take(15)
                .collect::<String>()
                .to_ascii_uppercase()
        }
    };
    Ok(Some(NetConfig {
        interface: opts.interface.clone(),
        address,
        broadcast,
        netbios_name,
        workgroup: opts.workgroup.to_ascii_uppercase(),
        dgram_port: opts.dgram_port,
        name_port: opts.name_port,
        hosts: opts.hosts.clone(),
        wins: opts.wins.clone(),
        name_ttl: opts.name_ttl,
        datagram_limit: opts.datagram_limit,
        samba: opts.samba,
        samba_socket_dir: opts.samba_socket_dir.clone().unwrap_or_else(|| {
            crate::net::samba::socket_dir_from(std::path::Path::new(
                crate::net::samba::DEFAULT_SMB_CONF,
            ))
        }),
    }))
}

/// The first IPv4 address of `iface` and its broadcast address.
fn interface_addresses(iface: &str) -> Result<(std::net::Ipv4Addr, std::net::Ipv4Addr), String> {
    let addrs: Vec<_> = nix::ifaddrs::getifaddrs()
        .map_err(|e| format!("cannot list interfaces: {}", e.desc()))?
        .filter(|a| a.interface_name == iface)
        .collect();
    if addrs.is_empty() {
        return Err(format!(
            "there is no interface {iface} (`ip -brief link` lists them)"
        ));
    }
    for a in addrs {
        let Some(ip) = a
            .address
            .as_ref()
            .and_then(|s| s.as_sockaddr_in())
            .map(|s| s.ip())
        else {
            continue;
        };
        let mask = a
            .netmask
            .as_ref()
            .and_then(|s| s.as_sockaddr_in())
            .map(|s| s.ip());
        let bcast = a
            .broadcast
            .as_ref()
            .and_then(|s| s.as_sockaddr_in())
            .map(|s| s.ip())
            .or_else(|| mask.map(|m| std::net::Ipv4Addr::from(u32::from(ip) | !u32::from(m))));
        return bcast.map(|b| (ip, b)).ok_or_else(|| {
            format!("interface {iface} has no broadcast address; give --address and --broadcast")
        });
    }
    Err(format!("interface {iface} has no IPv4 address"))
}

pub fn is_fuse(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::FUSE_SUPER_MAGIC)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
