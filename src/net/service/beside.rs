//! Sharing the host with Samba's nmbd (docs/network.md, "On a Samba
//! host"). Where nmbd runs, this daemon binds neither UDP 137 nor 138: it
//! receives what nmbd does not serve through nmbd's "unexpected" socket
//! (`crate::net::samba`), and sends, and hears the answers to what it sent,
//! on ports of the kernel's choosing. nmbd is the host's one name service:
//! it registers, defends and answers for the names. Where nmbd does not
//! run, the daemon binds the ports as usual and watches for nmbd; it hands
//! the ports over when nmbd starts and takes them back when nmbd is gone.

use std::io;
use std::net::{SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Network, QUERY_INTERVAL, bind, bind_port, random_id};
use crate::net::names::NetbiosName;
use crate::net::registration::{QueryAnswer, unicast_query};
use crate::net::samba::{Failure, Reader, SambaMode};

/// How often a daemon holding the ports looks for nmbd's socket.
const POLL: Duration = Duration::from_secs(1);
/// Waits before each reconnection when nmbd's socket closes (nmbd drops
/// its oldest reader when it has too many, and restarts take a moment);
/// past the last, nmbd counts as gone.
const RECONNECT: [Duration; 5] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
];
/// How long nmbd may take to start answering for this daemon's name
/// before the missing `netbios aliases` line is reported.
const NAME_CHECK: Duration = Duration::from_secs(30);

impl Network {
    /// Binds the ports, or leaves them to nmbd, at start; whether this
    /// daemon holds them (and so registers its names).
    pub(super) fn take_ports(self: &Arc<Self>) -> io::Result<bool> {
        let dir = self.config.samba_socket_dir.clone();
        let socket = dir.join("unexpected");
        if self.config.samba == SambaMode::Off {
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                log::warn!(
                    "nmbd runs on this host ({} answers) and --samba is off: both bind UDP {} and {}, \
                     and whichever bound last receives all unicast traffic",
                    socket.display(),
                    self.config.name_port,
                    self.config.dgram_port
                );
            }
            self.install(true)?;
            self.set_samba_state("off".into());
            return Ok(true);
        }
        match Reader::connect(&dir) {
            Ok(reader) => {
                self.install(false)?;
                log::info!(
                    "nmbd runs on this host: UDP {} and {} stay nmbd's; datagrams it does not serve \
                     arrive through {} (at most 576 bytes each)",
                    self.config.name_port,
                    self.config.dgram_port,
                    socket.display()
                );
                self.now_beside(&socket);
                self.spawn_watch(Some(reader))?;
                Ok(false)
            }
            Err(Failure::Absent(_)) => {
                self.install(true)?;
                self.set_samba_state(format!("own ports; watching {}", socket.display()));
                self.spawn_watch(None)?;
                Ok(true)
            }
            Err(Failure::Unusable(why)) => {
                // Binding the ports would split them with nmbd, silently
                // for both: this daemon sends, and hears only the answers.
                self.install(false)?;
                log::error!(
                    "{why}: nmbd holds UDP {} and {}, so this host receives no mailslot datagrams \
                     (answers to its own writes still arrive; local slots work); give access to \
                     the socket, or --samba off to share the ports with nmbd",
                    self.config.name_port,
                    self.config.dgram_port
                );
                self.set_samba_state(format!("unusable: {why}"));
                Ok(false)
            }
        }
    }

    fn set_samba_state(&self, state: String) {
        *self.samba_state.lock() = state;
    }

    /// Replaces the sockets: the ports themselves (`own`), or one socket
    /// each on a port of the kernel's choosing; starts their threads.
    fn install(self: &Arc<Self>, own: bool) -> io::Result<()> {
        let (dgram, names) = if own {
            (
                bind_port(&self.config, self.config.dgram_port)?,
                bind_port(&self.config, self.config.name_port)?,
            )
        } else {
            let iface = self.config.interface.as_deref();
            (
                (bind(self.config.address, 0, iface)?, None),
                (bind(self.config.address, 0, iface)?, None),
            )
        };
        for s in [&dgram, &names]
            .into_iter()
            .flat_map(|(u, b)| std::iter::once(u).chain(b))
        {
            s.set_read_timeout(Some(QUERY_INTERVAL / 2))?;
        }
        let epoch = self.epoch.fetch_add(1, Ordering::Relaxed) + 1;
        self.dgram.set(dgram);
        self.names.set(names);
        let sockets = [
            (false, false, self.dgram.unicast.get()),
            (false, true, self.dgram.broadcast.get()),
            (true, false, self.names.unicast.get()),
            (true, true, self.names.broadcast.get()),
        ];
        for (names, broadcast, socket) in sockets {
            let Some(socket) = socket else { continue };
            let me = self.clone();
            let kind = if names { "names" } else { "dgram" };
            let suffix = if broadcast { "-bcast" } else { "" };
            std::thread::Builder::new()
                .name(format!("mailslot-{kind}{suffix}"))
                .spawn(move || {
                    if names {
                        me.serve_names(socket, broadcast, epoch)
                    } else {
                        me.receive_datagrams(socket, epoch)
                    }
                })?;
        }
        Ok(())
    }

    /// Beside nmbd: its names are nmbd's to hold, so this daemon's are
    /// dropped without a release (a release would take them from nmbd at
    /// WINS and on the segment).
    fn now_beside(self: &Arc<Self>, socket: &std::path::Path) {
        self.leave_names_to_nmbd();
        self.set_samba_state(format!(
            "beside nmbd; receiving through {}",
            socket.display()
        ));
        let me = self.clone();
        let _ = std::thread::Builder::new()
            .name("mailslot-namecheck".into())
            .spawn(move || me.check_nmbd_holds_my_name());
    }

    fn spawn_watch(self: &Arc<Self>, reader: Option<Reader>) -> io::Result<()> {
        let me = self.clone();
        std::thread::Builder::new()
            .name("mailslot-samba".into())
            .spawn(move || me.watch(reader))?;
        Ok(())
    }

    /// Reads nmbd's socket while nmbd runs; holds the ports while it does
    /// not, looking for it every [`POLL`].
    fn watch(self: Arc<Self>, mut reader: Option<Reader>) {
        let dir = self.config.samba_socket_dir.clone();
        let socket = dir.join("unexpected");
        let mut reported = false;
        loop {
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            if let Some(mut r) = reader.take() {
                let e = loop {
                    match r.next_datagram() {
                        Ok((packet, from)) => self.handle_datagram(&packet, from),
                        Err(e) => break e,
                    }
                };
                if e.kind() == io::ErrorKind::InvalidData {
                    log::error!(
                        "{} sent {e}, not what this build knows: no more datagrams arrive through it \
                         (answers to this host's writes still do); --samba off shares the ports with nmbd",
                        socket.display()
                    );
                    self.set_samba_state(format!("unusable: {e}"));
                    return;
                }
                log::debug!("nmbd's socket closed ({e}); connecting again");
                for wait in RECONNECT {
                    std::thread::sleep(wait);
                    match Reader::connect(&dir) {
                        Ok(r) => {
                            reader = Some(r);
                            break;
                        }
                        Err(Failure::Absent(_)) => {}
                        Err(Failure::Unusable(why)) => {
                            log::error!("{why}: no more datagrams arrive through nmbd");
                            self.set_samba_state(format!("unusable: {why}"));
                            return;
                        }
                    }
                }
                if reader.is_some() {
                    continue;
                }
                if self.stopping.load(Ordering::Relaxed) {
                    return;
                }
                log::warn!(
                    "nmbd is gone from this host ({} does not answer): taking UDP {} and {} back",
                    socket.display(),
                    self.config.name_port,
                    self.config.dgram_port
                );
                if let Err(e) = self.install(true) {
                    log::error!("cannot take the ports back: {e}; receiving nothing");
                    continue;
                }
                self.set_samba_state(format!("own ports; watching {}", socket.display()));
                if let Err(e) = self.start_registering() {
                    log::error!("registering this computer's names again: {e}");
                }
                continue;
            }
            std::thread::sleep(POLL);
            match Reader::connect(&dir) {
                Ok(r) => {
                    log::info!(
                        "nmbd started on this host: UDP {} and {} are its now; datagrams it does not \
                         serve arrive through {} (at most 576 bytes each)",
                        self.config.name_port,
                        self.config.dgram_port,
                        socket.display()
                    );
                    if let Err(e) = self.install(false) {
                        log::error!("cannot open a socket to send from: {e}");
                        continue;
                    }
                    self.now_beside(&socket);
                    reader = Some(r);
                    reported = false;
                }
                Err(Failure::Absent(_)) => {}
                Err(Failure::Unusable(why)) if !reported => {
                    reported = true;
                    log::error!(
                        "{why}: nmbd and this daemon both bind UDP {} and {}, and nmbd, bound last, \
                         receives all unicast traffic",
                        self.config.name_port,
                        self.config.dgram_port
                    );
                    self.set_samba_state(format!("sharing the ports with nmbd: {why}"));
                }
                Err(Failure::Unusable(_)) => {}
            }
        }
    }

    /// Asks nmbd, as another host would, whether it answers for this
    /// daemon's name: beside nmbd, only nmbd can (it is nmbd's own name,
    /// or Samba's `netbios aliases` lists it).
    fn check_nmbd_holds_my_name(&self) {
        let Ok(name) = NetbiosName::new(self.me.name(), 0x00) else {
            return;
        };
        let to = SocketAddrV4::new(self.config.address, self.config.name_port);
        let Ok(socket) = bind(self.config.address, 0, self.config.interface.as_deref()) else {
            return;
        };
        let _ = socket.set_read_timeout(Some(Duration::from_secs(1)));
        let start = Instant::now();
        let mut last = "no answer".to_string();
        while start.elapsed() < NAME_CHECK {
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            let trn_id = random_id();
            if socket.send_to(&unicast_query(trn_id, &name), to).is_ok()
                && let Some(answer) = await_answer(&socket, trn_id)
            {
                if answer.rcode == 0 && answer.unique_address == Some(self.config.address) {
                    log::info!("nmbd answers for {name}: other hosts find this computer");
                    return;
                }
                last = format!("rcode {}", answer.rcode);
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        log::warn!(
            "nmbd does not answer for {name} ({last}): datagrams to it still arrive, but other hosts \
             cannot resolve it; add `netbios aliases = {}` to smb.conf's [global] and reload nmbd, \
             or run mailslotfs under nmbd's name",
            self.me.name()
        );
    }
}

fn await_answer(socket: &UdpSocket, trn_id: u16) -> Option<QueryAnswer> {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        let (n, _) = socket.recv_from(&mut buf).ok()?;
        if let Ok(a) = QueryAnswer::parse(&buf[..n])
            && a.trn_id == trn_id
        {
            return Some(a);
        }
    }
    None
}
