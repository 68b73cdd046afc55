//! `mailslot info` (GetMailslotInfo of one slot) and `mailslot ls` (every
//! slot with its counts).

use std::io::{self, Write};
use std::path::Path;

use crate::failure::Failure;
use crate::output::json_string;
use crate::slot::Slot;
use crate::{InfoArgs, LsArgs, mounted, xattr};

pub fn info(mount: &Path, args: &InfoArgs) -> Result<(), Failure> {
    let mount = mounted::check(mount)?;
    let slot = Slot::parse(&mount, &args.name)?.as_created(&mount);
    match std::fs::metadata(&slot.path) {
        Ok(meta) if meta.is_dir() => {
            return Err(Failure::Other(format!("{slot} is a directory, not a slot")));
        }
        Ok(_) => {}
        Err(e) => return Err(Failure::io(&slot.to_string(), &e)),
    }
    let mut fields = Vec::new();
    for attr in xattr::ALL {
        let value = xattr::get(&slot.path, attr).map_err(|e| Failure::io(&slot.to_string(), &e))?;
        fields.push((xattr::short(attr), value));
    }
    let mut out = Vec::new();
    if args.json {
        out.extend_from_slice(b"{\"name\":");
        json_string(&slot.windows_name(), &mut out);
        out.extend_from_slice(b",\"path\":");
        json_string(&slot.path.to_string_lossy(), &mut out);
        for (key, value) in &fields {
            out.extend_from_slice(format!(",\"{key}\":").as_bytes());
            json_value(value, &mut out);
        }
        out.extend_from_slice(b"}\n");
    } else {
        let mut rows = vec![
            ("name", slot.windows_name()),
            ("path", slot.path.display().to_string()),
        ];
        rows.extend(fields);
        for (key, value) in rows {
            out.extend_from_slice(format!("{key:<18} {value}\n").as_bytes());
        }
    }
    print(&out)
}

/// Numbers as JSON numbers, anything else (`forever`) as a string.
fn json_value(value: &str, out: &mut Vec<u8>) {
    if value.parse::<i64>().is_ok() {
        out.extend_from_slice(value.as_bytes());
    } else {
        json_string(value, out);
    }
}

/// A value we could not read (no permission to the slot) is `null`.
fn json_option(value: Option<&str>, out: &mut Vec<u8>) {
    match value {
        Some(v) => json_value(v, out),
        None => out.extend_from_slice(b"null"),
    }
}

struct Listed {
    relative: String,
    message_count: Option<String>,
    queued_bytes: Option<String>,
}

pub fn ls(mount: &Path, args: &LsArgs) -> Result<(), Failure> {
    let mount = mounted::check(mount)?;
    let top = Slot::parse_dir(&mount, args.dir.as_deref())?.as_created(&mount);
    match std::fs::metadata(&top.path) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(Failure::Other(format!(
                "{} is a slot, not a directory (mailslot info shows one slot)",
                top.path.display()
            )));
        }
        Err(e) => {
            return Err(match e.raw_os_error() {
                Some(libc::ENOENT) => {
                    Failure::NoSuchSlot(format!("{}: no such directory", top.path.display()))
                }
                _ => Failure::io(&top.path.display().to_string(), &e),
            });
        }
    }
    let mut slots = Vec::new();
    walk(&top.path, &top.relative, &mut slots)?;
    slots.sort_by(|a, b| {
        a.relative
            .to_lowercase()
            .cmp(&b.relative.to_lowercase())
            .then_with(|| a.relative.cmp(&b.relative))
    });

    let mut out = Vec::new();
    for s in &slots {
        let count = s.message_count.as_deref();
        let bytes = s.queued_bytes.as_deref();
        if args.json {
            out.extend_from_slice(b"{\"name\":");
            json_string(&s.relative, &mut out);
            out.extend_from_slice(b",\"windows_name\":");
            json_string(
                &format!(r"\\.\mailslot\{}", s.relative.replace('/', r"\")),
                &mut out,
            );
            out.extend_from_slice(b",\"message_count\":");
            json_option(count, &mut out);
            out.extend_from_slice(b",\"queued_bytes\":");
            json_option(bytes, &mut out);
            out.extend_from_slice(b"}\n");
        } else {
            out.extend_from_slice(
                format!(
                    "{:>8} {:>10}  {}\n",
                    count.unwrap_or("-"),
                    bytes.unwrap_or("-"),
                    s.relative
                )
                .as_bytes(),
            );
        }
    }
    print(&out)
}

/// Collects every slot below `dir`. Slots may go away while we look: those
/// are skipped, not reported.
fn walk(dir: &Path, relative: &str, slots: &mut Vec<Listed>) -> Result<(), Failure> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && !relative.is_empty() => {
            return Ok(());
        }
        Err(e) => return Err(Failure::io(&format!("listing {}", dir.display()), &e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Failure::io(&format!("listing {}", dir.display()), &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let child_relative = if relative.is_empty() {
            name
        } else {
            format!("{relative}/{name}")
        };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            walk(&path, &child_relative, slots)?;
        } else {
            let message_count = xattr::get(&path, xattr::MESSAGE_COUNT);
            if matches!(&message_count, Err(e) if e.raw_os_error() == Some(libc::ENOENT)) {
                continue;
            }
            slots.push(Listed {
                relative: child_relative,
                message_count: message_count.ok(),
                queued_bytes: xattr::get(&path, xattr::QUEUED_BYTES).ok(),
            });
        }
    }
    Ok(())
}

fn print(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Other(format!("writing to stdout: {e}"))),
    }
}
