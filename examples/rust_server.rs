//! A mailslot server with the standard library only: creates the slot,
//! prints each message as it arrives, and stops after the message "quit".
//!
//!     cargo run --example rust_server -- /mailslot/example

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: rust_server SLOT_PATH");
        return ExitCode::from(2);
    };
    // Opening with read access and O_CREAT creates the slot: this file is the
    // server handle, the only one that may read. std wants write access for
    // create_new, and a server may also write to its own slot. create_new
    // (O_EXCL) fails if another server holds the name.
    let mut server = match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o666)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: {e}", path.to_string_lossy());
            return ExitCode::FAILURE;
        }
    };
    // Public, as a Windows mailslot is: every user may open it as a client
    // (the umask, usually 022, took the write bits from the mode above).
    if let Err(e) = server.set_permissions(std::fs::Permissions::from_mode(0o666)) {
        eprintln!("{}: {e}", path.to_string_lossy());
        return ExitCode::FAILURE;
    }
    // At least the largest message a mount carries by default (1044480
    // bytes): std cannot read the user.mailslot.max_message_size attribute,
    // and a smaller buffer could fail with EMSGSIZE.
    let mut buf = vec![0u8; 1 << 20];
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready");
    loop {
        // One read() is one whole message.
        let n = match server.read(&mut buf) {
            // The slot's read timeout passed (none is set here).
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("read: {e}");
                return ExitCode::FAILURE;
            }
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        let _ = writeln!(out, "received: {text}");
        let _ = out.flush();
        if text == "quit" {
            break;
        }
    }
    // Dropping the server handle removes the slot.
    ExitCode::SUCCESS
}
