//! Every example in examples/ against a real mount: each server with each
//! client, so every language both reads and writes whole messages. The C
//! examples are compiled with cc, the Rust ones built by cargo. A missing
//! toolchain (sh, python3, cc, node) fails the test; nothing is skipped.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use common::Mount;

/// Generous: these bound a hang, they do not measure anything.
const LIVENESS: Duration = Duration::from_secs(60);

/// Messages every client sends: plain, non-ASCII, a literal backslash, then
/// the word that stops every server.
const MESSAGES: [&str; 4] = ["hello", "héllo wörld", r"back\slash n\n", "quit"];

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// The C examples, compiled once per test run.
fn c_binaries() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mailslotfs-c-examples");
        std::fs::create_dir_all(&out).unwrap();
        let build = |name: &str| {
            let exe = out.join(name);
            let status = Command::new("cc")
                .args(["-Wall", "-Wextra", "-Werror", "-o"])
                .arg(&exe)
                .arg(examples_dir().join("c").join(format!("{name}.c")))
                .status()
                .expect("cc is needed to build the C examples (apt-get install gcc)");
            assert!(status.success(), "cc failed on examples/c/{name}.c");
            exe
        };
        (build("server"), build("client"))
    })
}

/// The Rust examples as cargo builds them. `cargo test --all-targets` builds
/// examples only as test harnesses (their main replaced), so the runnable
/// binaries come from `cargo build --examples`, once per test run; cargo
/// names the executables in its JSON messages, wherever its target dir is.
fn rust_examples() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let out = Command::new(cargo)
            .args([
                "build",
                "--examples",
                "--message-format=json-render-diagnostics",
            ])
            .arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .stdin(Stdio::null())
            .output()
            .expect("running cargo build --examples");
        assert!(
            out.status.success(),
            "cargo build --examples failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let messages = String::from_utf8_lossy(&out.stdout);
        let executable = |name: &str| -> PathBuf {
            messages
                .lines()
                .filter(|l| l.contains("\"reason\":\"compiler-artifact\""))
                .filter(|l| l.contains(&format!("\"name\":\"{name}\"")))
                .find_map(|l| {
                    let rest = &l[l.find("\"executable\":\"")? + "\"executable\":\"".len()..];
                    Some(PathBuf::from(&rest[..rest.find('"')?]))
                })
                .unwrap_or_else(|| panic!("cargo built no executable for the example {name}"))
        };
        (executable("rust_server"), executable("rust_client"))
    })
}

#[derive(Clone, Copy, Debug)]
enum Lang {
    Shell,
    Python,
    PythonAsyncio,
    C,
    Node,
    Rust,
}

const CLIENTS: [Lang; 5] = [Lang::Shell, Lang::Python, Lang::C, Lang::Node, Lang::Rust];

fn server_command(lang: Lang) -> Command {
    let ex = examples_dir();
    match lang {
        Lang::Shell => with_arg("sh", ex.join("shell/server.sh")),
        Lang::Python => with_arg("python3", ex.join("python/server.py")),
        Lang::PythonAsyncio => with_arg("python3", ex.join("python/asyncio_server.py")),
        Lang::C => Command::new(&c_binaries().0),
        Lang::Node => with_arg("node", ex.join("node/server.js")),
        Lang::Rust => Command::new(&rust_examples().0),
    }
}

fn client_command(lang: Lang) -> Command {
    let ex = examples_dir();
    match lang {
        Lang::Shell => with_arg("sh", ex.join("shell/client.sh")),
        Lang::Python | Lang::PythonAsyncio => with_arg("python3", ex.join("python/client.py")),
        Lang::C => Command::new(&c_binaries().1),
        Lang::Node => with_arg("node", ex.join("node/client.js")),
        Lang::Rust => Command::new(&rust_examples().1),
    }
}

fn with_arg(program: &str, script: PathBuf) -> Command {
    let mut c = Command::new(program);
    c.arg(script);
    c
}

/// A started server; killed (by its pid) if the test fails before it ends.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn start_server(lang: Lang, slot: &Path) -> Server {
    let mut child = server_command(lang)
        .arg(slot)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("starting the {lang:?} server: {e} (is its toolchain installed?)")
        });
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Server { child, lines }
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

/// One server, one client: the server must print every message, whole and
/// in order, then end, and its slot must be gone.
fn exchange(m: &Mount, server_lang: Lang, client_lang: Lang) {
    let what = format!("{server_lang:?} server, {client_lang:?} client");
    let slot = m.p(&format!("{server_lang:?}-{client_lang:?}"));
    let mut server = start_server(server_lang, &slot);
    match server.lines.recv_timeout(LIVENESS) {
        Ok(line) => assert_eq!(line, "ready", "{what}"),
        Err(_) => panic!(
            "{what}: the server never said ready: {}",
            stderr_of(&mut server.child)
        ),
    }
    assert!(slot.exists(), "{what}: no slot after ready");

    let out = client_command(client_lang)
        .arg(&slot)
        .args(MESSAGES)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: starting the client: {e}"));
    let client_stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what}: client failed ({}): {client_stdout} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Vec<String> = MESSAGES.iter().map(|t| format!("sent: {t}")).collect();
    assert_eq!(client_stdout.lines().collect::<Vec<_>>(), sent, "{what}");

    let mut received = Vec::new();
    while received.len() < MESSAGES.len() {
        match server.lines.recv_timeout(LIVENESS) {
            Ok(line) => received.push(line),
            Err(_) => panic!(
                "{what}: the server printed only {received:?}: {}",
                stderr_of(&mut server.child)
            ),
        }
    }
    let expected: Vec<String> = MESSAGES.iter().map(|t| format!("received: {t}")).collect();
    assert_eq!(received, expected, "{what}");

    common::wait_until(&format!("{what}: the server to exit"), LIVENESS, || {
        server.child.try_wait().unwrap().is_some()
    });
    let status = server.child.wait().unwrap();
    assert!(
        status.success(),
        "{what}: server exited with {status}: {}",
        stderr_of(&mut server.child)
    );
    assert!(!slot.exists(), "{what}: the slot outlived its server");
}

fn every_client_against(server: Lang) {
    let m = Mount::start();
    for client in CLIENTS {
        exchange(&m, server, client);
    }
}

#[test]
fn shell_server() {
    every_client_against(Lang::Shell);
}

#[test]
fn python_server() {
    every_client_against(Lang::Python);
}

#[test]
fn python_asyncio_server() {
    every_client_against(Lang::PythonAsyncio);
}

#[test]
fn c_server_with_poll() {
    every_client_against(Lang::C);
}

#[test]
fn node_server() {
    every_client_against(Lang::Node);
}

#[test]
fn rust_server() {
    every_client_against(Lang::Rust);
}

/// Servers refuse a name another server holds, and clients a name nobody
/// created: the examples report both instead of hanging or creating files.
#[test]
fn examples_fail_cleanly_without_a_server_or_with_a_taken_name() {
    let m = Mount::start();
    for client in CLIENTS {
        let out = client_command(client)
            .arg(m.p("nobody"))
            .arg("hi")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{client:?} client sent to nobody");
    }
    assert!(!m.p("nobody").exists());

    let mut holder = start_server(Lang::Python, &m.p("taken"));
    assert_eq!(holder.lines.recv_timeout(LIVENESS).unwrap(), "ready");
    for server in [
        Lang::Python,
        Lang::PythonAsyncio,
        Lang::C,
        Lang::Node,
        Lang::Rust,
    ] {
        let out = server_command(server)
            .arg(m.p("taken"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{server:?} server took a held name");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("exists") || err.contains("EEXIST"),
            "{server:?}: {err}"
        );
    }
    // `<>` has no O_EXCL (it would open a client): the shell server looks
    // first and refuses.
    let out = server_command(Lang::Shell)
        .arg(m.p("taken"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the shell server took a held name");

    let out = client_command(Lang::Python)
        .arg(m.p("taken"))
        .arg("quit")
        .output()
        .unwrap();
    assert!(out.status.success());
    common::wait_until("the holder to exit", LIVENESS, || {
        holder.child.try_wait().unwrap().is_some()
    });
}
