//! `mailslotfs --stop MOUNTPOINT`: the stop that works while servers hold
//! slots open. umount(8) refuses a busy mount ("target is busy"), and
//! `umount -l` only hides it: the daemon keeps serving the open slots. The
//! daemon's own SIGTERM path detaches the mount and answers every waiting
//! reader, so --stop asks the daemon its pid (an attribute of the mount
//! root) and sends it SIGTERM.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::identity::MountIdentity;
use super::mountinfo;
use crate::cli::error_text;

/// The root attribute that holds the daemon's pid.
pub const PID_ATTRIBUTE: &str = "user.mailslot.daemon_pid";

/// How long a daemon gets to answer and then to exit.
const PATIENCE: Duration = Duration::from_secs(10);

pub fn stop(mountpoint: &Path) -> Result<(), String> {
    let shown = mountpoint.display();
    let path = match mountpoint.canonicalize() {
        Ok(p) => p,
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            // The daemon is gone and its watcher too: only the mount is left.
            return nix::mount::umount2(mountpoint, nix::mount::MntFlags::MNT_DETACH).map_err(
                |e| {
                    format!(
                        "{shown} is a dead FUSE mount and cannot be detached: {}",
                        e.desc()
                    )
                },
            );
        }
        Err(e) => return Err(format!("{shown}: {}", error_text(&e))),
    };
    let table = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {}", error_text(&e)))?;
    match mountinfo::fs_type_at(&table, &path) {
        Some((fs_type, source)) if mountinfo::is_mailslotfs(&fs_type, &source) => {}
        Some((fs_type, _)) => return Err(format!("{shown} is a {fs_type} mount, not mailslotfs")),
        None => return Err(format!("nothing is mounted on {shown}")),
    }
    let identity =
        MountIdentity::of(&path).ok_or_else(|| format!("cannot identify the mount on {shown}"))?;
    let pid = daemon_pid(&path).map_err(|why| {
        format!("cannot learn which process serves {shown}: {why}; `umount -l {shown}` detaches it")
    })?;
    kill(pid, Signal::SIGTERM).map_err(|e| {
        format!(
            "cannot signal the daemon (pid {pid}) of {shown}: {}",
            e.desc()
        )
    })?;
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        let unmounted = MountIdentity::of(&path) != Some(identity);
        let exited = gone(pid);
        if unmounted && exited {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "the daemon (pid {pid}) of {shown} did not stop within {} s",
        PATIENCE.as_secs()
    ))
}

/// Reads the pid attribute from a thread of its own, so that a daemon that
/// no longer answers cannot hang --stop.
fn daemon_pid(root: &Path) -> Result<Pid, String> {
    let (tx, rx) = mpsc::channel();
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(xattr::get(&root, PID_ATTRIBUTE));
    });
    let value = match rx.recv_timeout(PATIENCE) {
        Ok(Ok(Some(value))) => value,
        Ok(Ok(None)) => return Err("the mount does not name its daemon".into()),
        Ok(Err(e)) => return Err(error_text(&e)),
        Err(_) => return Err("the daemon does not answer".into()),
    };
    let pid = std::str::from_utf8(&value)
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .filter(|&p| p > 1)
        .ok_or_else(|| "the mount names no valid pid".to_string())?;
    // Only a mailslotfs process gets the signal, whatever the mount says.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() != "mailslotfs" {
        return Err(format!("pid {pid} is not a mailslotfs process"));
    }
    Ok(Pid::from_raw(pid))
}

/// Whether `pid` has exited: no such process, or a zombie its parent has
/// not yet collected.
fn gone(pid: Pid) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => kill(pid, None).is_err(),
    }
}
