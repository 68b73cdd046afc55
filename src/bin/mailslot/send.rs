//! `mailslot send`: CreateFile on the slot, then one WriteFile per message.
//! The slot may be on another machine: then each message is one datagram.

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use mailslotfs::core::TargetKind;

use crate::failure::Failure;
use crate::slot::Slot;
use crate::{SendArgs, mounted};

pub fn run(mount: &Path, args: &SendArgs) -> Result<(), Failure> {
    // Refuse bad arguments before anything reaches the slot, so a failed
    // command sends nothing rather than half of its messages.
    if args.messages.iter().any(|m| m.is_empty()) {
        return Err(Failure::Usage(
            "empty messages cannot be sent (a zero-length write never reaches the filesystem)"
                .into(),
        ));
    }
    let mount = mounted::check(mount)?;
    let kind = match (args.domain, args.computer) {
        (true, _) => Some(TargetKind::Domain),
        (_, true) => Some(TargetKind::Computer),
        _ => None,
    };
    let workgroup = || crate::xattr::get(&mount, crate::xattr::NET_WORKGROUP).ok();
    let slot = Slot::parse_send(&mount, &args.name, workgroup, kind)?;
    if let Some(dirs) = slot.remote_dirs(&mount) {
        // The directories under a target are the mount's own (shared by
        // every user), so the path needs them here.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o777)
            .create(&dirs)
            .map_err(|e| opening_failed(&slot, &e))?;
    }
    let mut client = open(&slot)?;

    if !args.messages.is_empty() {
        for message in &args.messages {
            write(&mut client, &slot, message.as_bytes())?;
        }
        return Ok(());
    }
    let stdin = io::stdin();
    let mut input = stdin.lock();
    if args.lines || args.nul {
        let delimiter = if args.nul { b'\0' } else { b'\n' };
        let mut record = Vec::new();
        loop {
            record.clear();
            let n = input.read_until(delimiter, &mut record).map_err(|e| {
                Failure::Other(format!(
                    "reading stdin: {}",
                    mailslotfs::cli::error_text(&e)
                ))
            })?;
            if n == 0 {
                return Ok(());
            }
            let message = record.strip_suffix(&[delimiter]).unwrap_or(&record);
            if !message.is_empty() {
                write(&mut client, &slot, message)?;
            }
        }
    }
    let mut message = Vec::new();
    input.read_to_end(&mut message).map_err(|e| {
        Failure::Other(format!(
            "reading stdin: {}",
            mailslotfs::cli::error_text(&e)
        ))
    })?;
    if message.is_empty() {
        return Err(Failure::Usage(
            "nothing to send: stdin was empty (give messages as arguments, or pipe one in)".into(),
        ));
    }
    write(&mut client, &slot, &message)
}

/// CreateFile(GENERIC_WRITE): a plain write-only open, never O_CREAT,
/// for a local slot and a remote name alike.
fn open(slot: &Slot) -> Result<File, Failure> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(&slot.path)
        .map_err(|e| opening_failed(slot, &e))
}

fn opening_failed(slot: &Slot, e: &io::Error) -> Failure {
    match e.raw_os_error() {
        Some(libc::ENOENT) if slot.remote.is_none() => {
            Failure::NoSuchSlot(format!("{slot}: no such slot (no server has created it)"))
        }
        Some(libc::EISDIR) => Failure::Other(format!("{slot} is a directory, not a slot")),
        Some(libc::ENETDOWN) => network_off(slot),
        Some(libc::EACCES) => Failure::PermissionDenied(format!(
            "{slot}: permission denied: its server made it closed to you (mode {}); a slot \
             every user may send to is made with `mailslot listen` (mode 666) or created \
             with mode 0666 and umask 0",
            mode_of(&slot.path)
        )),
        _ => Failure::io(&format!("opening {slot}"), e),
    }
}

fn mode_of(path: &std::path::Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map_or_else(
        |_| "unknown".into(),
        |m| format!("{:03o}", m.permissions().mode() & 0o777),
    )
}

fn network_off(slot: &Slot) -> Failure {
    Failure::NetworkOff(format!(
        "{slot}: the network side of this mount is off (mailslotfs was started without \
         --interface or --address), so no other machine can be reached"
    ))
}

fn too_large(slot: &Slot, len: usize) -> Failure {
    let max = match crate::xattr::get(&slot.path, crate::xattr::MAX_MESSAGE_SIZE).as_deref() {
        Ok("0") => " (it takes any size the mount carries whole)".to_string(),
        Ok(max) => format!(" (at most {max})"),
        Err(_) => String::new(),
    };
    match &slot.remote {
        None => Failure::TooLarge(format!(
            "{slot}: a message of {len} bytes is larger than the slot accepts{max}"
        )),
        Some(_) => Failure::TooLarge(format!(
            "{slot}: a message of {len} bytes is larger than one datagram to this target \
             may carry{max}; nothing was sent"
        )),
    }
}

fn write(client: &mut File, slot: &Slot, message: &[u8]) -> Result<(), Failure> {
    // One write(2) per message, never write_all: a message must not be split.
    let err = loop {
        match client.write(message) {
            Ok(n) if n == message.len() => return Ok(()),
            Ok(n) => {
                return Err(Failure::Other(format!(
                    "{slot}: only {n} of {} bytes were taken",
                    message.len()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break e,
        }
    };
    Err(match err.raw_os_error() {
        Some(libc::EMSGSIZE) => too_large(slot, message.len()),
        Some(libc::EHOSTUNREACH) => {
            let name = slot
                .remote
                .as_ref()
                .map_or(String::new(), |t| t.name.clone());
            Failure::Unreachable(format!(
                "{slot}: no computer named {name} answered a name query, so nothing was \
                 sent (if {name} is a domain or workgroup, give --domain)"
            ))
        }
        Some(libc::ENETDOWN) => network_off(slot),
        Some(libc::ENOSPC) if slot.remote.is_some() => Failure::QueueFull(format!(
            "{slot}: too many computer names are being resolved at once; nothing was sent"
        )),
        Some(libc::EDQUOT) => Failure::QueueFull(format!(
            "{slot}: your user's limit on this mount is reached (docs/limits.md); nothing was \
             queued or sent"
        )),
        Some(libc::ENOSPC) => Failure::QueueFull(format!(
            "{slot}: queue full: the slot (or the whole mount) holds as much as it may; \
             nothing was queued"
        )),
        _ => Failure::io(&format!("sending to {slot}"), &err),
    })
}
