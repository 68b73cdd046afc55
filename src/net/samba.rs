//! Living beside Samba's nmbd on one host: finding nmbd's socket directory
//! and reading the datagrams nmbd does not handle itself from its
//! "unexpected" socket, as Samba's own tools do. See docs/network.md,
//! "On a Samba host".
//!
//! Two processes that both bind UDP 137 and 138 with SO_REUSEADDR split
//! the traffic silently: Linux gives each unicast datagram to the socket
//! bound last, and broadcasts to both. So where nmbd runs, mailslotfs binds
//! neither port for receiving: nmbd keeps the name service, and hands every
//! datagram it does not serve itself (mailslots other than BROWSE, LANMAN,
//! NET\NETLOGON and NET\NTLOGON, and names it does not hold) to the readers
//! of `<nmbd:socket dir>/unexpected`.
//!
//! The socket's protocol is nmbd's internal one, in native C layouts
//! (Samba's `source3/libsmb/unexpected.c`, read for the facts, nothing
//! copied): a reader sends `struct nb_packet_query { enum packet_type type;
//! size_t mailslot_namelen; int trn_id; }` and the mailslot name (none:
//! every datagram), nmbd answers one byte, 0, and then writes one `struct
//! nb_packet_client_header { size_t len; enum packet_type type; time_t
//! timestamp; struct in_addr ip; int port; }` and `len` bytes of packet per
//! datagram. The reader must never write again (nmbd drops a reader that
//! does). Those layouts are known here for 64-bit Linux (LP64) only; on any
//! other target the socket counts as unusable.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where Debian's Samba (4.17) keeps nmbd's socket unless smb.conf says
/// otherwise (its compiled-in NMBDSOCKETDIR).
pub const DEFAULT_SOCKET_DIR: &str = "/run/samba/nmbd";
/// Samba's configuration, read for `nmbd:socket dir`.
pub const DEFAULT_SMB_CONF: &str = "/etc/samba/smb.conf";

/// `enum packet_type`'s DGRAM_PACKET.
const DGRAM_PACKET: i32 = 1;
/// The query and record header as LP64 Linux lays them out.
pub const QUERY_LEN: usize = 24;
pub const HEADER_LEN: usize = 32;
/// nmbd builds each packet into a buffer of this size before writing it.
const MAX_PACKET: usize = 1024;
/// How long nmbd may take to acknowledge a reader.
const ACK_WAIT: Duration = Duration::from_secs(2);

/// Whether mailslotfs uses nmbd's socket when nmbd runs (`--samba`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SambaMode {
    /// Where nmbd runs, receive through its socket and leave it UDP 137
    /// and 138; otherwise bind them, and hand them over when nmbd starts.
    #[default]
    Auto,
    /// Always bind UDP 137 and 138 (a warning is logged if nmbd runs).
    Off,
}

/// Whether this build knows the socket's C layouts.
pub fn layout_known() -> bool {
    cfg!(all(target_os = "linux", target_pointer_width = "64"))
}

/// nmbd's socket directory: `nmbd:socket dir` in the `[global]` section of
/// `smb_conf`, else Debian's compiled-in default.
pub fn socket_dir_from(smb_conf: &Path) -> PathBuf {
    std::fs::read_to_string(smb_conf)
        .ok()
        .and_then(|text| parse_socket_dir(&text))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET_DIR))
}

/// Samba compares parameter names without case and without spaces.
fn parse_socket_dir(smb_conf: &str) -> Option<PathBuf> {
    let mut global = true;
    let mut found = None;
    for line in smb_conf.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            let section = section.trim_end_matches(']').trim();
            global = section.eq_ignore_ascii_case("global");
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key: String = key
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if global && key == "nmbd:socketdir" && !value.trim().is_empty() {
            found = Some(PathBuf::from(value.trim()));
        }
    }
    found
}

/// Why nmbd's socket could not be read.
#[derive(Debug)]
pub enum Failure {
    /// No nmbd listens there (no socket, or a stale one): nothing to share.
    Absent(io::Error),
    /// nmbd is there, but mailslotfs cannot read its socket.
    Unusable(String),
}

/// The bytes of a query for every datagram nmbd does not handle.
pub fn query() -> [u8; QUERY_LEN] {
    let mut q = [0u8; QUERY_LEN];
    q[0..4].copy_from_slice(&DGRAM_PACKET.to_ne_bytes());
    q[8..16].copy_from_slice(&0u64.to_ne_bytes());
    // No transaction id filter (nmbd applies it to name packets only).
    q[16..20].copy_from_slice(&(-1i32).to_ne_bytes());
    q
}

/// One record's header: the packet's length and where it came from.
pub fn parse_header(h: &[u8; HEADER_LEN]) -> Result<(usize, SocketAddrV4), String> {
    let len = u64::from_ne_bytes(h[0..8].try_into().expect("8 bytes"));
    let kind = i32::from_ne_bytes(h[8..12].try_into().expect("4 bytes"));
    let ip = Ipv4Addr::new(h[24], h[25], h[26], h[27]);
    let port = i32::from_ne_bytes(h[28..32].try_into().expect("4 bytes"));
    if kind != DGRAM_PACKET {
        return Err(format!("a record of packet type {kind}, not a datagram"));
    }
    if len == 0 || len > MAX_PACKET as u64 {
        return Err(format!("a record of {len} bytes"));
    }
    let port = u16::try_from(port).map_err(|_| format!("a record from port {port}"))?;
    Ok((len as usize, SocketAddrV4::new(ip, port)))
}

/// A connection to nmbd's unexpected socket, past the acknowledgement.
pub struct Reader {
    stream: UnixStream,
    pub path: PathBuf,
}

impl Reader {
    /// Connects to `<dir>/unexpected` and asks for every datagram.
    pub fn connect(dir: &Path) -> Result<Reader, Failure> {
        let path = dir.join("unexpected");
        let stream = match UnixStream::connect(&path) {
            Ok(s) => s,
            Err(e) => {
                return Err(match e.raw_os_error() {
                    Some(libc::EACCES | libc::EPERM) => {
                        Failure::Unusable(format!("no access to {}: {e}", path.display()))
                    }
                    _ => Failure::Absent(e),
                });
            }
        };
        if !layout_known() {
            return Err(Failure::Unusable(format!(
                "nmbd listens on {}, but its socket's C layouts are known for 64-bit Linux only",
                path.display()
            )));
        }
        let unknown = |what: &str| {
            Failure::Unusable(format!(
                "{} does not speak the protocol mailslotfs knows ({what})",
                path.display()
            ))
        };
        let setup = || -> io::Result<u8> {
            stream.set_read_timeout(Some(ACK_WAIT))?;
            stream.set_write_timeout(Some(ACK_WAIT))?;
            (&stream).write_all(&query())?;
            let mut ack = [0u8; 1];
            (&stream).read_exact(&mut ack)?;
            stream.set_read_timeout(None)?;
            Ok(ack[0])
        };
        match setup() {
            Ok(0) => Ok(Reader { stream, path }),
            Ok(b) => Err(unknown(&format!("acknowledgement {b}"))),
            Err(e) => Err(unknown(&format!("no acknowledgement: {e}"))),
        }
    }

    /// The next datagram nmbd hands on, and the address it came from.
    /// An error of kind InvalidData: the records are not what this build
    /// knows; any other: the connection is gone.
    pub fn next_datagram(&mut self) -> io::Result<(Vec<u8>, SocketAddrV4)> {
        let mut h = [0u8; HEADER_LEN];
        self.stream.read_exact(&mut h)?;
        let (len, from) =
            parse_header(&h).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut packet = vec![0u8; len];
        self.stream.read_exact(&mut packet)?;
        Ok((packet, from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_dir_comes_from_the_global_section() {
        let conf = "[global]\n  workgroup = X\n  NMBD : Socket Dir = /tmp/n\n[share]\nnmbd:socket dir = /no\n";
        assert_eq!(parse_socket_dir(conf), Some(PathBuf::from("/tmp/n")));
        assert_eq!(parse_socket_dir("[global]\n; nmbd:socket dir = /x\n"), None);
        assert_eq!(
            socket_dir_from(Path::new("/nonexistent/smb.conf")),
            PathBuf::from(DEFAULT_SOCKET_DIR)
        );
    }

    #[test]
    fn records_parse_as_lp64_lays_them_out() {
        assert_eq!(&query()[..4], &1i32.to_ne_bytes());
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&120u64.to_ne_bytes());
        h[8..12].copy_from_slice(&1i32.to_ne_bytes());
        h[24..28].copy_from_slice(&[198, 18, 0, 2]);
        h[28..32].copy_from_slice(&138i32.to_ne_bytes());
        assert_eq!(
            parse_header(&h),
            Ok((120, SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 138)))
        );
        h[8..12].copy_from_slice(&0i32.to_ne_bytes());
        assert!(parse_header(&h).is_err(), "a name packet");
        h[8..12].copy_from_slice(&1i32.to_ne_bytes());
        h[0..8].copy_from_slice(&5000u64.to_ne_bytes());
        assert!(parse_header(&h).is_err(), "too long");
    }
}
