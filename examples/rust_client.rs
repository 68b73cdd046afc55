//! A mailslot client with the standard library only: sends each argument as
//! one message.
//!
//!     cargo run --example rust_client -- /mailslot/example hello world

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: rust_client SLOT_PATH MESSAGE...");
        return ExitCode::from(2);
    };
    // Write-only opens never create: NotFound means no server made the slot.
    let mut client = match OpenOptions::new().write(true).open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: {e}", path.to_string_lossy());
            return ExitCode::FAILURE;
        }
    };
    for message in args {
        let bytes = message.as_bytes();
        // write, not write_all: one write() is one message, taken whole or
        // refused (EMSGSIZE, ENOSPC, EPIPE); write_all would hide a split.
        match client.write(bytes) {
            Ok(n) if n == bytes.len() => println!("sent: {}", message.to_string_lossy()),
            Ok(n) => {
                eprintln!("short write: {n} of {} bytes", bytes.len());
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("write: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
