//! `mailslot listen`: CreateMailslot, then ReadFile until told to stop.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::failure::Failure;
use crate::slot::Slot;
use crate::{ListenArgs, mounted, output, xattr};

pub fn run(mount: &Path, args: &ListenArgs) -> Result<(), Failure> {
    let mount = mounted::check(mount)?;
    let slot = Slot::parse(&mount, &args.name)?;
    make_parents(&mount, &slot)?;
    // Public, as a Windows mailslot is: 666, since on a mailslot the read
    // bit means "may open as a client" (Windows clients open for reading
    // and writing) and only the server handle ever reads.
    let mode = if args.private {
        0o600
    } else {
        args.mode.unwrap_or(PUBLIC_MODE)
    };
    let mut server = create(&slot, mode)?;

    if let Some(size) = args.max_message_size {
        xattr::fset(&server, xattr::MAX_MESSAGE_SIZE, &size.to_string())
            .map_err(|e| setting_failed(&slot, "the maximum message size", &e))?;
    }
    if let Some(timeout) = args.timeout {
        let value = mailslotfs::core::xattr::format_timeout(timeout);
        xattr::fset(&server, xattr::READ_TIMEOUT_MS, &value)
            .map_err(|e| setting_failed(&slot, "the read timeout", &e))?;
    }
    // A buffer of the slot's maximum never meets EMSGSIZE.
    let mut buf = vec![0u8; max_message_size(&server, &slot)?];

    let mut stdout = io::stdout().lock();
    let mut rendered = Vec::new();
    let mut received = 0u64;
    while args.count.is_none_or(|n| received < n) {
        let n = match server.read(&mut buf) {
            // The slot's read timeout passed with nothing to read.
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                // Only if someone raised the maximum since we asked.
                let grown = max_message_size(&server, &slot)?.max(next_message_size(&server));
                if grown <= buf.len() {
                    return Err(Failure::io(&slot.to_string(), &e));
                }
                buf.resize(grown, 0);
                continue;
            }
            Err(e) => return Err(Failure::io(&format!("reading {slot}"), &e)),
        };
        received += 1;
        rendered.clear();
        // The only reader of its slot: the last message taken is this one.
        let sender = (args.format == crate::Format::Json)
            .then(|| xattr::fget(&server, xattr::LAST_SENDER).ok())
            .flatten();
        output::render(args.format, &buf[..n], sender.as_deref(), &mut rendered);
        if let Err(e) = stdout.write_all(&rendered).and_then(|()| stdout.flush()) {
            // Whoever read our output has gone (`listen | head -1`): done.
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(Failure::Other(format!(
                "writing to stdout: {}",
                mailslotfs::cli::error_text(&e)
            )));
        }
    }
    Ok(())
}

/// CreateMailslot makes the whole `\\.\mailslot\a\b\` path; so does listen.
fn make_parents(mount: &Path, slot: &Slot) -> Result<(), Failure> {
    let Some(parent) = slot.path.parent().filter(|p| *p != mount) else {
        return Ok(());
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o777)
        .create(parent)
        .map_err(|e| Failure::io(&format!("creating {}", parent.display()), &e))
}

const PUBLIC_MODE: u32 = 0o666;

fn create(slot: &Slot, mode: u32) -> Result<File, Failure> {
    let mut options = std::fs::OpenOptions::new();
    // O_EXCL: an existing name belongs to another server; without it the
    // open would quietly make this process one of its clients.
    options
        .read(true)
        .custom_flags(libc::O_CREAT | libc::O_EXCL)
        .mode(mode);
    // SAFETY: umask only swaps the process mask; it is restored below.
    let old = unsafe { libc::umask(0) };
    let opened = options.open(&slot.path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    opened.map_err(|e| match e.raw_os_error() {
        Some(libc::EEXIST) if slot.path.is_dir() => {
            Failure::Other(format!("{slot} is a directory, not a slot"))
        }
        Some(libc::EEXIST) => Failure::Exists(format!(
            "{slot}: the slot exists: another server holds the name"
        )),
        Some(libc::EINVAL) => Failure::Usage(format!(
            "{slot}: not a valid slot name (UTF-8 without control characters)"
        )),
        _ => Failure::io(&format!("creating {slot}"), &e),
    })
}

fn setting_failed(slot: &Slot, what: &str, e: &io::Error) -> Failure {
    match e.raw_os_error() {
        Some(libc::EINVAL) => Failure::Usage(format!("{slot}: the mount refuses {what}")),
        _ => Failure::io(&format!("setting {what} of {slot}"), e),
    }
}

fn max_message_size(server: &File, slot: &Slot) -> Result<usize, Failure> {
    let value = xattr::fget(server, xattr::MAX_MESSAGE_SIZE)
        .map_err(|e| Failure::io(&format!("reading the maximum message size of {slot}"), &e))?;
    match value.parse::<usize>() {
        // "Any size": start small; EMSGSIZE and next_message_size grow it.
        Ok(0) => Ok(ANY_SIZE_BUFFER),
        Ok(n) => Ok(n),
        Err(_) => Err(Failure::Other(format!(
            "{slot}: unexpected max_message_size '{value}'"
        ))),
    }
}

/// The first read buffer of a slot that takes any size.
const ANY_SIZE_BUFFER: usize = 64 << 10;

fn next_message_size(server: &File) -> usize {
    xattr::fget(server, xattr::NEXT_MESSAGE_SIZE)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
