//! `mailslotfs --stop MOUNTPOINT`: the stop that works while servers hold
//! slots open. umount(8) refuses a busy mount ("target is busy"), and
//! `umount -l` only hides it: the daemon keeps serving the open slots. The
//! daemon's own SIGTERM path detaches the mount and answers every waiting
//! reader, so --stop asks the daemon its pid (an attribute of the mount
//! root) and sends it SIGTERM.

use std::path::{Path, PathBuf};
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

/// What --stop did when it did not fail.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    Yes,
    /// --if-served-by named another executable; the text says which runs.
    LeftRunning(String),
}

/// Stops the daemon of `mountpoint`; with `only_exe`, only if it runs that
/// executable, so that removing one installation's binary cannot stop the
/// mounts of another.
pub fn stop(mountpoint: &Path, only_exe: Option<&Path>) -> Result<Stopped, String> {
    let shown = mountpoint.display();
    let path = match mountpoint.canonicalize() {
        Ok(p) => p,
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            // The daemon is gone and its watcher too: only the mount is left.
            return nix::mount::umount2(mountpoint, nix::mount::MntFlags::MNT_DETACH)
                .map_err(|e| {
                    format!(
                        "{shown} is a dead FUSE mount and cannot be detached: {}",
                        e.desc()
                    )
                })
                .map(|()| Stopped::Yes);
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
    if let Some(want) = only_exe {
        let runs = daemon_exe(pid).map_err(|why| {
            format!("cannot tell which executable serves {shown} (pid {pid}): {why}")
        })?;
        // The daemon's exe is resolved; so must the path it is compared with
        // be, unless it is gone (a removed package's binary).
        let want = want.canonicalize().unwrap_or_else(|_| want.to_path_buf());
        if runs != want {
            return Ok(Stopped::LeftRunning(format!(
                "{shown} is served by {} (pid {pid}), not {}: left running",
                runs.display(),
                want.display()
            )));
        }
    }
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
            return Ok(Stopped::Yes);
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

/// The executable `pid` runs, as it was named when the daemon started.
fn daemon_exe(pid: Pid) -> Result<PathBuf, String> {
    let link = std::fs::read_link(format!("/proc/{pid}/exe")).map_err(|e| error_text(&e))?;
    Ok(without_deleted_mark(link))
}

/// The kernel marks an executable replaced or removed since the process
/// started, as an upgrade or a removal of the package does, with
/// " (deleted)"; the process still runs what was at that path.
fn without_deleted_mark(link: PathBuf) -> PathBuf {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let bytes = link.as_os_str().as_bytes();
    match bytes.strip_suffix(b" (deleted)") {
        Some(kept) => PathBuf::from(std::ffi::OsString::from_vec(kept.to_vec())),
        None => link,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_executable_is_known_by_its_path() {
        assert_eq!(
            without_deleted_mark(PathBuf::from("/usr/bin/mailslotfs (deleted)")),
            PathBuf::from("/usr/bin/mailslotfs")
        );
        assert_eq!(
            without_deleted_mark(PathBuf::from("/opt/my mailslotfs")),
            PathBuf::from("/opt/my mailslotfs")
        );
    }
}
