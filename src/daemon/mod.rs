//! The daemon's life: check, daemonize, fork the watcher, mount, report
//! ready, serve, and on a signal or an unmount stop cleanly.

mod identity;
mod logging;
pub mod mount;
pub mod mountinfo;
mod preflight;
mod stop;
mod watcher;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc;

use nix::unistd::{ForkResult, fork, pipe, setsid};

pub use identity::{MountIdentity, unmount_if_ours};
pub use mount::{FS_TYPE, SOURCE};
pub use preflight::is_fuse;

use crate::cli::{Options, error_text};
use crate::core::Mailslots;
use crate::fuse::MailslotFs;
use crate::fuse::session::Session;

/// Entry point of the `mailslotfs` binary.
pub fn main() -> ExitCode {
    return_freed_queues_to_the_system();
    let mut opts = match Options::from_args(std::env::args_os()) {
        Ok(opts) => opts,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("mailslotfs: {} (see --help)", one_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    if let Err(e) = opts.apply_mount_options() {
        eprintln!("mailslotfs: {e} (see --help)");
        return ExitCode::from(2);
    }
    if opts.stop {
        return match stop::stop(&opts.mountpoint, opts.if_served_by.as_deref()) {
            Ok(stop::Stopped::Yes) => ExitCode::SUCCESS,
            Ok(stop::Stopped::LeftRunning(why)) => {
                eprintln!("mailslotfs: {why}");
                ExitCode::from(3)
            }
            Err(e) => {
                eprintln!("mailslotfs: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if opts.source.is_some() && already_mailslotfs(&opts.mountpoint) {
        // mount(8) asked again for what is mounted: `mount -a` does when a
        // file named like the source (./mailslotfs) makes it miss the entry.
        // Nothing to do, and nothing to say: `mount -a` stays quiet.
        return ExitCode::SUCCESS;
    }
    let plan = match preflight::check(&opts) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("mailslotfs: {e}");
            return match e {
                preflight::Refusal::Usage(_) => ExitCode::from(2),
                preflight::Refusal::Environment(_) => ExitCode::FAILURE,
            };
        }
    };
    let sink = match logging::choose(&opts) {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!("mailslotfs: {e}");
            return ExitCode::FAILURE;
        }
    };

    let starter = if opts.foreground {
        None
    } else {
        match daemonize() {
            Ok(Some(link)) => Some(link),
            Ok(None) => unreachable!("the starting parent exits inside daemonize"),
            Err(e) => {
                eprintln!("mailslotfs: cannot daemonize: {}", error_text(&e));
                return ExitCode::FAILURE;
            }
        }
    };
    logging::init(sink, opts.log_level());

    let close_in_watcher: Vec<i32> = starter.iter().map(|fd| fd.as_raw_fd()).collect();
    let watcher = match watcher::spawn(&plan.mountpoint, &close_in_watcher) {
        Ok(w) => w,
        Err(e) => {
            return fail(
                starter,
                &format!("cannot start the unmount watcher: {}", error_text(&e)),
            );
        }
    };

    match serve(&opts, plan, watcher, starter) {
        Ok(()) => ExitCode::SUCCESS,
        Err(()) => ExitCode::FAILURE,
    }
}

/// clap's message without its usage block, on one line: the reason and,
/// for a missing argument, its name.
fn one_line(text: &str) -> String {
    let reason = text.split("\n\n").next().unwrap_or("invalid command line");
    reason
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string()
}

/// Whether the mount on top at `path` is a mailslotfs mount already.
fn already_mailslotfs(path: &std::path::Path) -> bool {
    let Ok(path) = path.canonicalize() else {
        return false;
    };
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|table| {
        mountinfo::fs_type_at(&table, &path).is_some_and(|(t, s)| mountinfo::is_mailslotfs(&t, &s))
    })
}

/// A drained slot frees its ring at once, but glibc, after the first large
/// free, raises its mmap threshold (up to 32 MiB) and serves later rings from
/// per-thread arenas that it never gives back. A fixed threshold keeps every
/// large ring in its own mapping, returned to the system when freed.
fn return_freed_queues_to_the_system() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes allocator parameters; called before any
    // thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Reports a failure to start: on stderr in the foreground, through the
/// start pipe to the waiting parent otherwise.
fn fail(starter: Option<OwnedFd>, msg: &str) -> ExitCode {
    match starter {
        Some(fd) => {
            log::error!("{msg}");
            let _ = std::fs::File::from(fd).write_all(format!("E{msg}").as_bytes());
        }
        // In the foreground the log is stderr too: say it once.
        None => eprintln!("mailslotfs: {msg}"),
    }
    ExitCode::FAILURE
}

/// Forks; the parent waits until the child reports the mount ready (exit 0)
/// or failed (the reason, exit 1). The child gets the pipe to report on.
fn daemonize() -> std::io::Result<Option<OwnedFd>> {
    let (rx, tx) = pipe()?;
    // SAFETY: single-threaded at this point.
    match unsafe { fork() }? {
        ForkResult::Parent { .. } => {
            drop(tx);
            let mut text = String::new();
            let _ = std::fs::File::from(rx).read_to_string(&mut text);
            match text.as_bytes().first() {
                Some(b'R') => std::process::exit(0),
                Some(b'E') => eprintln!("mailslotfs: {}", &text[1..]),
                _ => eprintln!("mailslotfs: the daemon exited while starting"),
            }
            std::process::exit(1)
        }
        ForkResult::Child => {
            drop(rx);
            setsid()?;
            let null = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")?;
            for fd in 0..=2 {
                // SAFETY: plain dup2 onto the standard descriptors.
                if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            std::env::set_current_dir("/")?;
            Ok(Some(tx))
        }
    }
}

enum Event {
    Signal(i32),
    SessionEnded(std::io::Result<()>),
}

fn serve(
    opts: &Options,
    plan: preflight::Plan,
    watcher: watcher::WatcherLink,
    starter: Option<OwnedFd>,
) -> Result<(), ()> {
    // Handlers go in before the mount exists, so a SIGTERM at any moment
    // after it appears takes the clean way out, not the default death.
    let (tx, rx) = mpsc::channel();
    let mut signals =
        match signal_hook::iterator::Signals::new([libc::SIGTERM, libc::SIGINT, libc::SIGHUP]) {
            Ok(s) => s,
            Err(e) => {
                fail(
                    starter,
                    &format!("cannot install signal handlers: {}", error_text(&e)),
                );
                return Err(());
            }
        };
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for sig in signals.forever() {
                let _ = tx.send(Event::Signal(sig));
            }
        });
    }
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let core = Arc::new(Mailslots::new(plan.limits.clone(), uid, gid));
    let network = match plan.network.clone() {
        Some(config) => match crate::net::service::Network::start(config, &core) {
            Ok(net) => {
                core.set_remote_sender(net.clone());
                Some(net)
            }
            Err(e) => {
                fail(
                    starter,
                    &format!("cannot start the network side: {}", error_text(&e)),
                );
                return Err(());
            }
        },
        None => None,
    };
    // The root names the daemon's pid, for `mailslotfs --stop`, and the
    // network counters when the network side is on.
    let pid = std::process::id().to_string();
    let counters = network.clone();
    core.set_root_attributes(move || {
        let mut attributes = vec![(stop::PID_ATTRIBUTE.to_string(), pid.clone())];
        if let Some(net) = &counters {
            attributes.extend(net.attributes());
        }
        attributes
    });
    let fs = Arc::new(MailslotFs::new(
        core.clone(),
        plan.max_write,
        plan.max_pages,
    ));
    let notifier = fs.notifier_slot();

    let mountpoint = plan.mountpoint.clone();
    let dev = match mount::mount_fuse(&mountpoint, opts.allow_other) {
        Ok(dev) => dev,
        Err(e) => {
            let hint = if opts.allow_other && !nix::unistd::geteuid().is_root() {
                " (allow_other for a non-root user needs user_allow_other in /etc/fuse.conf)"
            } else {
                ""
            };
            fail(
                starter,
                &format!(
                    "cannot mount {}: {}{hint}",
                    mountpoint.display(),
                    error_text(&e)
                ),
            );
            return Err(());
        }
    };
    let Some(identity) = MountIdentity::of(&mountpoint) else {
        fail(
            starter,
            &format!("cannot identify the new mount at {}", mountpoint.display()),
        );
        return Err(());
    };
    watcher.mounted(&identity);

    let transport = Arc::new(crate::fuse::channel::DevFuse::new(dev));
    let buffer = plan.max_write as usize + 4096;
    let fences = fs.clone();
    let session = match Session::spawn(transport, fs, usize::from(opts.threads), buffer) {
        Ok(s) => s,
        Err(e) => {
            unmount_if_ours(&mountpoint, &identity);
            fail(
                starter,
                &format!("cannot start serving: {}", error_text(&e)),
            );
            return Err(());
        }
    };
    let _ = notifier.set(session.notifier());
    std::thread::spawn(move || {
        let _ = tx.send(Event::SessionEnded(session.join()));
    });

    // Ready means the mount answers, not merely that mount(2) returned.
    if let Err(e) = std::fs::metadata(&mountpoint) {
        unmount_if_ours(&mountpoint, &identity);
        fail(
            starter,
            &format!("the new mount does not answer: {}", error_text(&e)),
        );
        return Err(());
    }
    fences.start_fences(&mountpoint);
    let user = &plan.limits.user;
    log::info!(
        "mounted {} (max message {} bytes, queue {} bytes per slot, {} in all, read timeout {}; \
         per user: {} bytes, {} slots, {} directories, {} waiting reads, {} name resolutions)",
        mountpoint.display(),
        plan.limits.max_message_size,
        plan.limits.max_queued_bytes,
        plan.limits.max_total_bytes,
        crate::core::xattr::format_timeout(plan.limits.read_timeout),
        user.bytes,
        user.slots,
        user.dirs,
        user.waiting_reads,
        user.resolutions,
    );
    crate::ratelimit::start_flusher();
    if let Some(fd) = starter {
        let _ = std::fs::File::from(fd).write_all(b"R");
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    let result = wait(rx, &mountpoint, &identity, &core);
    if let Some(net) = network {
        net.release_names();
        let counts: Vec<String> = net
            .counters()
            .snapshot()
            .into_iter()
            .map(|(k, v)| format!("{}={v}", &k[18..]))
            .collect();
        log::info!("network counters: {}", counts.join(" "));
    }
    result
}

/// Serves until a signal or the end of the session, then stops cleanly.
fn wait(
    rx: mpsc::Receiver<Event>,
    mountpoint: &std::path::Path,
    identity: &MountIdentity,
    core: &Mailslots,
) -> Result<(), ()> {
    match rx.recv() {
        Ok(Event::Signal(sig)) => {
            let name = nix::sys::signal::Signal::try_from(sig)
                .map_or_else(|_| format!("signal {sig}"), |s| s.to_string());
            log::info!("{name}: unmounting {}", mountpoint.display());
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
            // Detach first so nothing new opens, then answer every waiting
            // reader, then exit: closing /dev/fuse ends what is left.
            unmount_if_ours(mountpoint, identity);
            core.shutdown();
            Ok(())
        }
        Ok(Event::SessionEnded(Ok(()))) => {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
            log::info!("{} was unmounted; exiting", mountpoint.display());
            Ok(())
        }
        Ok(Event::SessionEnded(Err(e))) => {
            log::error!("FUSE session failed: {}", error_text(&e));
            core.shutdown();
            unmount_if_ours(mountpoint, identity);
            Err(())
        }
        Err(_) => Err(()),
    }
}
