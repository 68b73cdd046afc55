//! Windows programs as clients: a small Win32 program (tests/wine/client.c,
//! built here with mingw-w64) runs under Debian's Wine, as another user,
//! in a prefix set up by `mailslot wine`, and writes to mailslotfs the way
//! Windows code does: CreateFileA/W with GENERIC_WRITE and with
//! GENERIC_READ|GENERIC_WRITE, overlapped writes, to `\\.\mailslot\x`,
//! `\\HOST\mailslot\x` and `\\DOMAIN\mailslot\x`. Needs wine64 and
//! gcc-mingw-w64-x86-64 (tests/run-all.sh installs them); fails, never
//! skips, without them.

mod common;
mod lan;

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::Mount;
use lan::Lan;

const WINE: &str = "/usr/lib/wine/wine64";
const MINGW: &str = "x86_64-w64-mingw32-gcc";
/// The Windows programs' user: not root, so the sender a server sees is
/// the program's own uid, not the test's.
const WINE_UID: u32 = 4242;

/// The client, built once per test binary, and a directory other users
/// may enter for the prefixes.
struct Tools {
    dir: tempfile::TempDir,
    client: PathBuf,
    mailslot: PathBuf,
}

fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        common::require_fuse();
        assert!(
            Path::new(WINE).exists(),
            "{WINE} is missing: install Debian's wine64 (tests/run-all.sh does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let mailslot = common::copy_for_other_users(env!("CARGO_BIN_EXE_mailslot"), dir.path());
        let client = dir.path().join("client.exe");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wine/client.c");
        let out = Command::new(MINGW)
            .args(["-O2", "-Wall", "-Werror", "-o"])
            .arg(&client)
            .arg(&source)
            .output()
            .unwrap_or_else(|e| {
                panic!("{MINGW}: {e}: install gcc-mingw-w64-x86-64 (tests/run-all.sh does)")
            });
        assert!(
            out.status.success(),
            "building the Windows client: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::set_permissions(&client, fs::Permissions::from_mode(0o755)).unwrap();
        Tools {
            dir,
            client,
            mailslot,
        }
    })
}

/// A Wine prefix of its own, owned by the Windows programs' user, with
/// `mailslot wine` run in it against `mount` with `options`.
struct Prefix {
    path: PathBuf,
}

impl Prefix {
    fn new(name: &str, mount: &Path, options: &[&str]) -> Prefix {
        let path = tools().dir.path().join(name);
        fs::create_dir(&path).unwrap();
        std::os::unix::fs::chown(&path, Some(WINE_UID), Some(WINE_UID)).unwrap();
        let p = Prefix { path };
        // The first program run makes the prefix (dosdevices among it).
        let (status, out) = p.wine(&[]);
        assert!(status, "Wine could not make its prefix: {out}");
        let out = p
            .as_user(&tools().mailslot)
            .arg("--mount")
            .arg(mount)
            .arg("wine")
            .args(options)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mailslot wine: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        p
    }

    fn as_user(&self, program: &Path) -> Command {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={WINE_UID}"),
            &format!("--regid={WINE_UID}"),
            "--clear-groups",
        ])
        .arg(program)
        .env("HOME", &self.path)
        .env("WINEPREFIX", &self.path)
        .env("WINEDEBUG", "-all")
        // No Mono or Gecko: nothing to install, nothing to ask.
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .env_remove("DISPLAY");
        c
    }

    /// Runs the client with `steps`; (success, what it printed).
    fn wine(&self, steps: &[String]) -> (bool, String) {
        let out = self
            .as_user(Path::new(WINE))
            .arg(&tools().client)
            .args(steps)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// Runs the client's `steps` and returns its own lines, in order.
    fn run(&self, steps: &[String]) -> Vec<String> {
        let (ok, out) = self.wine(steps);
        assert!(ok, "the Windows client failed: {out}");
        out.lines()
            .filter(|l| {
                ["write ", "open ", "info "]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        // The prefix's wineserver lingers a few seconds after its last
        // program; it is ours, so stop it now.
        let _ = self
            .as_user(Path::new("/usr/lib/wine/wineserver"))
            .arg("-k")
            .status();
    }
}

/// A server handle on `path`, public (0666) as `mailslot listen` makes it.
fn server(path: &Path) -> fs::File {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CREAT | libc::O_EXCL | libc::O_NONBLOCK)
        .mode(0o666)
        .open(path)
        .unwrap();
    f.set_permissions(fs::Permissions::from_mode(0o666))
        .unwrap();
    f
}

/// Every message queued in `server`, each with its sender.
fn drain(server: &fs::File, path: &Path) -> Vec<(Vec<u8>, String)> {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match (&*server).read(&mut buf) {
            Ok(n) => {
                let sender = xattr::get(path, "user.mailslot.last_sender")
                    .unwrap()
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_default();
                got.push((buf[..n].to_vec(), sender));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return got,
            Err(e) => panic!("reading the server handle: {e}"),
        }
    }
}

/// What client.c writes for a tag and size: the tag, padded with dots.
fn message(tag: &str, size: usize) -> Vec<u8> {
    let mut m = vec![b'.'; size];
    let n = tag.len().min(size);
    m[..n].copy_from_slice(&tag.as_bytes()[..n]);
    m
}

fn write_step(name: &str, api: &str, access: &str, mode: &str, size: usize, tag: &str) -> String {
    format!("write:{name}:{api}:{access}:{mode}:{size}:{tag}")
}

#[test]
fn windows_clients_under_wine_write_whole_messages_to_local_slots() {
    let m = Mount::with_args(&["--allow-other"]);
    let prefix = Prefix::new("local", &m.path, &[]);
    let slot = m.p("jobs");
    let s = server(&slot);
    let name = r"\\.\mailslot\jobs";
    let mut steps = vec![
        format!("info:{name}"),
        r"open:\\.\mailslot\nobody".to_string(),
    ];
    let mut want = Vec::new();
    for api in ["A", "W"] {
        for access in ["w", "rw"] {
            for mode in ["sync", "overlapped", "offset"] {
                for size in [1, 424, 65536] {
                    let tag = format!("{api}-{access}-{mode}-{size}");
                    steps.push(write_step(name, api, access, mode, size, &tag));
                    want.push((tag, size));
                }
            }
        }
    }
    let lines = prefix.run(&steps);
    // A client handle: a disk file to Windows code (a slot is a regular
    // file), its size the bytes queued; GetMailslotInfo is the server's
    // (ERROR_INVALID_HANDLE) and reading it is refused
    // (ERROR_ACCESS_DENIED), as Windows refuses a client's ReadFile.
    assert_eq!(
        lines[0], "info type 1 size 0 mailslotinfo err 6 read err 5",
        "{lines:?}"
    );
    assert_eq!(lines[1], "open err 2", "a slot nobody created");
    for ((tag, size), line) in want.iter().zip(&lines[2..]) {
        assert_eq!(*line, format!("write {tag} ok {size}"), "{lines:?}");
    }
    let got = drain(&s, &slot);
    assert_eq!(got.len(), want.len(), "every write one message, once");
    for ((tag, size), (data, sender)) in want.iter().zip(&got) {
        assert!(
            *data == message(tag, *size),
            "{tag}: not whole or not in order"
        );
        assert!(
            sender.starts_with(&format!("local uid={WINE_UID} gid={WINE_UID} pid=")),
            "{tag}: sender {sender}"
        );
    }
    // Over the mount's maximum: refused whole, nothing queued.
    let lines = prefix.run(&[write_step(name, "A", "w", "sync", 1_044_481, "big")]);
    assert!(lines[0].starts_with("write big err write "), "{lines:?}");
    assert!(drain(&s, &slot).is_empty());
}

#[test]
fn windows_clients_under_wine_write_to_other_hosts_and_domains() {
    let mut lan = Lan::new(2);
    let a = lan.start_with(0, &["--allow-other"]);
    let b = lan.start_with(1, &["--allow-other"]);
    // host0's own name, host1 and the workgroup, as the subcommand maps
    // them: \\HOST0 is local, \\HOST1 the other host, \\TESTDOM both.
    let prefix = Prefix::new("lan", &a, &["--host", "host1"]);
    let (sa, sb) = (server(&a.join("chat")), server(&b.join("chat")));
    let mut steps = Vec::new();
    let mut cases = Vec::new();
    for (to, limit) in [("HOST1", 428), ("TESTDOM", 424), ("host0", 1_044_480)] {
        for size in [1, 424, 425, 428, 429] {
            let tag = format!("{to}-{size}");
            let api = if size % 2 == 0 { "W" } else { "A" };
            let mode = if size == 424 { "overlapped" } else { "sync" };
            steps.push(write_step(
                &format!(r"\\{to}\mailslot\chat"),
                api,
                "w",
                mode,
                size,
                &tag,
            ));
            cases.push((to, tag, size, size <= limit));
        }
    }
    let lines = prefix.run(&steps);
    assert_eq!(lines.len(), cases.len(), "{lines:?}");
    for ((_, tag, size, fits), line) in cases.iter().zip(&lines) {
        if *fits {
            assert_eq!(*line, format!("write {tag} ok {size}"), "{lines:?}");
        } else {
            // EMSGSIZE, which Wine reports as ERROR_GEN_FAILURE: nothing sent.
            assert_eq!(*line, format!("write {tag} err write 31"), "{lines:?}");
        }
    }
    // A host does not take back its own domain broadcasts.
    let expected = |host: &str, domain: bool| -> Vec<Vec<u8>> {
        cases
            .iter()
            .filter(|(to, _, _, fits)| {
                *fits && ((domain && *to == "TESTDOM") || to.eq_ignore_ascii_case(host))
            })
            .map(|(_, tag, size, _)| message(tag, *size))
            .collect()
    };
    let wait_for = |s: &fs::File, path: &Path, n: usize| {
        let mut got = Vec::new();
        common::wait_until("the datagrams", std::time::Duration::from_secs(10), || {
            got.extend(drain(s, path));
            got.len() >= n
        });
        got
    };
    let on_b = wait_for(&sb, &b.join("chat"), expected("host1", true).len());
    let on_a = wait_for(&sa, &a.join("chat"), expected("host0", true).len());
    let data = |got: &[(Vec<u8>, String)]| got.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>();
    assert!(
        data(&on_b) == expected("host1", true),
        "host1 got {} messages",
        on_b.len()
    );
    // \\HOST0 is this host: local, and the Windows program's uid stays.
    // A domain write reaches this host's own slot too, as on Windows, on
    // its own path: the two kinds may interleave, each once.
    let (mut got_a, mut want_a) = (data(&on_a), expected("host0", true));
    got_a.sort();
    want_a.sort();
    assert!(got_a == want_a, "host0 got {} messages", on_a.len());
    for (d, sender) in &on_a {
        if d.starts_with(b"host0-") {
            assert!(
                sender.starts_with(&format!("local uid={WINE_UID} ")),
                "{sender}"
            );
        }
    }
    // Nothing more arrives: every message once.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(drain(&sb, &b.join("chat")).is_empty());
    assert!(drain(&sa, &a.join("chat")).is_empty());
}
