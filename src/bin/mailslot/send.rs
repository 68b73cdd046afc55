//! `mailslot send`: CreateFile on the slot, then one WriteFile per message.

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

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
    let slot = Slot::parse(&mount, &args.name)?;
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

fn open(slot: &Slot) -> Result<File, Failure> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(&slot.path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => {
                Failure::NoSuchSlot(format!("{slot}: no such slot (no server has created it)"))
            }
            Some(libc::EISDIR) => Failure::Other(format!("{slot} is a directory, not a slot")),
            _ => Failure::io(&format!("opening {slot}"), &e),
        })
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
        Some(libc::EMSGSIZE) => Failure::TooLarge(format!(
            "{slot}: a message of {} bytes is larger than the slot accepts{}",
            message.len(),
            match crate::xattr::get(&slot.path, crate::xattr::MAX_MESSAGE_SIZE).as_deref() {
                Ok("0") => " (it takes any size the mount carries whole)".to_string(),
                Ok(max) => format!(" (at most {max})"),
                Err(_) => String::new(),
            }
        )),
        Some(libc::ENOSPC) => Failure::QueueFull(format!(
            "{slot}: queue full: the slot (or the whole mount) holds as much as it may; \
             nothing was queued"
        )),
        _ => Failure::io(&format!("sending to {slot}"), &err),
    })
}
