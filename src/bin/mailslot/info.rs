//! `mailslot info` (GetMailslotInfo of one slot) and `mailslot ls` (every
//! slot with its counts).

use std::io::{self, Write};
use std::path::Path;

use crate::failure::Failure;
use serde::Serialize;

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
        let number = |key: &str| -> Result<i64, Failure> {
            let value = fields
                .iter()
                .find(|(k, _)| *k == key)
                .map_or("", |(_, v)| v.as_str());
            value
                .parse()
                .map_err(|_| Failure::Other(format!("{slot}: unexpected {key} value '{value}'")))
        };
        let timeout = fields
            .iter()
            .find(|(k, _)| *k == "read_timeout_ms")
            .map_or("", |(_, v)| v.as_str());
        let info = InfoJson {
            name: &slot.relative,
            windows_name: slot.windows_name(),
            path: slot.path.to_string_lossy().into_owned(),
            max_message_size: number("max_message_size")?,
            next_message_size: number("next_message_size")?,
            message_count: number("message_count")?,
            queued_bytes: number("queued_bytes")?,
            read_timeout_ms: match timeout {
                "forever" => None,
                _ => Some(number("read_timeout_ms")?),
            },
        };
        json_line(&info, &mut out);
    } else {
        let mut rows = vec![
            ("name", slot.relative.clone()),
            ("windows_name", slot.windows_name()),
            ("path", slot.path.display().to_string()),
        ];
        rows.extend(fields);
        for (key, value) in rows {
            out.extend_from_slice(format!("{key:<18} {value}\n").as_bytes());
        }
    }
    print(&out)
}

/// `info --json`: every GetMailslotInfo field a number; a read timeout of
/// forever (MAILSLOT_WAIT_FOREVER) is `null`.
#[derive(Serialize)]
/// `name` and `windows_name` mean what they mean in `ls --json`.
struct InfoJson<'a> {
    name: &'a str,
    windows_name: String,
    path: String,
    max_message_size: i64,
    next_message_size: i64,
    message_count: i64,
    queued_bytes: i64,
    read_timeout_ms: Option<i64>,
}

/// `ls --json`, one slot: counts of a slot we may not read are `null`.
#[derive(Serialize)]
struct LsJson<'a> {
    name: &'a str,
    windows_name: String,
    message_count: Option<u64>,
    queued_bytes: Option<u64>,
}

fn json_line(value: &impl Serialize, out: &mut Vec<u8>) {
    // Into a Vec, of strings and numbers only: this cannot fail.
    serde_json::to_writer(&mut *out, value).expect("plain fields always serialize");
    out.push(b'\n');
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
            let line = LsJson {
                name: &s.relative,
                windows_name: format!(r"\\.\mailslot\{}", s.relative.replace('/', r"\")),
                message_count: count.and_then(|c| c.parse().ok()),
                queued_bytes: bytes.and_then(|b| b.parse().ok()),
            };
            json_line(&line, &mut out);
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
        Err(e) => Err(Failure::Other(format!(
            "writing to stdout: {}",
            mailslotfs::cli::error_text(&e)
        ))),
    }
}
