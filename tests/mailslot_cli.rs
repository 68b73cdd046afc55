//! The `mailslot` command through real mounts: listen in every format, send
//! from arguments and stdin, info, ls, Windows-form names, the mount point
//! from the environment, every documented exit status, and the generated
//! man pages and completions.

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{Mount, py, wait_until};

const MAILSLOT: &str = env!("CARGO_BIN_EXE_mailslot");

/// Generous: these bound a hang, they do not measure anything.
const LIVENESS: Duration = Duration::from_secs(30);

fn mailslot(m: &Mount) -> Command {
    let mut c = Command::new(MAILSLOT);
    c.arg("--mount").arg(&m.path);
    c
}

fn run<S: AsRef<OsStr>>(m: &Mount, args: &[S]) -> Output {
    mailslot(m)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn run_with_stdin<S: AsRef<OsStr>>(m: &Mount, args: &[S], input: &[u8]) -> Output {
    let mut child = mailslot(m)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// `listen --format json` output with each line's sender taken out, after
/// checking that every line names one: a local writer (these tests write
/// as root).
fn json_text(bytes: &[u8]) -> String {
    let out = text(bytes);
    let mut kept = String::new();
    for line in out.lines() {
        let at = line
            .find(",\"sender\":{\"kind\":\"local\",\"uid\":0,")
            .unwrap_or_else(|| panic!("no local sender in {line}"));
        let end = at + line[at..].find('}').unwrap() + 1;
        kept.push_str(&line[..at]);
        kept.push_str(&line[end..]);
        kept.push('\n');
    }
    kept
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "mailslot failed ({}): {}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Asserts the exit status and that stderr says something with `words`.
#[track_caller]
fn assert_fails(out: &Output, code: i32, words: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout {:?}, stderr {:?}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let err = text(&out.stderr);
    assert!(err.starts_with("mailslot: ") || code == 2, "{err}");
    assert!(err.contains(words), "{err:?} does not mention {words:?}");
}

/// A running `mailslot listen`, killed by its pid if the test fails first.
struct Listener {
    child: Child,
}

impl Listener {
    /// Starts listen and waits until the slot at `relative` exists.
    fn start<S: AsRef<OsStr>>(m: &Mount, relative: &str, args: &[S]) -> Listener {
        let child = mailslot(m)
            .arg("listen")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut l = Listener { child };
        wait_until(&format!("listen to create {relative}"), LIVENESS, || {
            if let Some(status) = l.child.try_wait().unwrap() {
                panic!("listen exited at start ({status}): {}", l.stderr());
            }
            m.p(relative).exists()
        });
        l
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }

    /// Waits for listen to end on its own; its exit status and all it printed.
    fn finish(mut self) -> (std::process::ExitStatus, Vec<u8>, String) {
        let mut stdout = self.child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            stdout.read_to_end(&mut out).unwrap();
            out
        });
        wait_until("listen to exit", LIVENESS, || {
            self.child.try_wait().unwrap().is_some()
        });
        let status = self.child.wait().unwrap();
        let stderr = self.stderr();
        (status, reader.join().unwrap(), stderr)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a Python script with `MAILSLOT` set to the binary under test.
fn py_mailslot(m: &Mount, script: &str) -> String {
    py(m, &format!("MAILSLOT = {MAILSLOT:?}\n{script}"))
}

// listen: formats

#[test]
fn listen_prints_one_escaped_line_per_message() {
    let m = Mount::start();
    let l = Listener::start(&m, "jobs", &["jobs", "--count", "4"]);
    assert_ok(&run(
        &m,
        &[
            "send",
            "jobs",
            "plain",
            "two\nlines",
            r"back\slash",
            "echoed\n",
        ],
    ));
    let (status, out, err) = l.finish();
    assert!(status.success(), "{status}: {err}");
    assert_eq!(
        text(&out),
        "plain\ntwo\\nlines\nback\\\\slash\nechoed\n",
        "lines format"
    );
    assert!(!m.p("jobs").exists(), "the slot outlived listen");
}

#[test]
fn lines_suit_a_shell_read_loop_and_printf_b_restores_them() {
    let m = Mount::start();
    let script = r#"mailslot --mount "$M" listen jobs --count 3 |
        while read -r m; do printf '[%b]\n' "$m"; done"#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("M", &m.path)
        .env(
            "PATH",
            format!(
                "{}:{}",
                Path::new(MAILSLOT).parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the slot", LIVENESS, || m.p("jobs").exists());
    assert_ok(&run(&m, &["send", "jobs", "one", "a\nb", r"c:\temp\new"]));
    wait_until("the pipeline to end", LIVENESS, || {
        child.try_wait().unwrap().is_some()
    });
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, "[one]\n[a\nb]\n[c:\\temp\\new]\n");
}

#[test]
fn listen_prints_json_with_text_or_base64() {
    let m = Mount::start();
    let l = Listener::start(&m, "j", &["j", "--format", "json", "--count", "4"]);
    assert_ok(&run(&m, &["send", "j", "say \"hi\"\n", "é\t"]));
    assert_ok(&run(
        &m,
        &[
            OsStr::new("send"),
            OsStr::new("j"),
            OsStr::from_bytes(b"\xff\xfe"),
        ],
    ));
    assert_ok(&run_with_stdin(&m, &["send", "j"], b"nul\0inside"));
    let (status, out, err) = l.finish();
    assert!(status.success(), "{status}: {err}");
    assert_eq!(
        json_text(&out),
        concat!(
            "{\"size\":9,\"text\":\"say \\\"hi\\\"\\n\"}\n",
            "{\"size\":3,\"text\":\"é\\t\"}\n",
            "{\"size\":2,\"base64\":\"//4=\"}\n",
            "{\"size\":10,\"text\":\"nul\\u0000inside\"}\n",
        )
    );
    // And a JSON parser agrees.
    let parsed = py(
        &m,
        &format!(
            "import json, base64\nfor l in {:?}.splitlines():\n    o = json.loads(l)\n    \
             b = o['text'].encode() if 'text' in o else base64.b64decode(o['base64'])\n    \
             assert len(b) == o['size'], o\n    print(repr(b))\n",
            text(&out)
        ),
    );
    assert_eq!(
        parsed,
        "b'say \"hi\"\\n'\nb'\\xc3\\xa9\\t'\nb'\\xff\\xfe'\nb'nul\\x00inside'\n"
    );
}

#[test]
fn listen_prints_nul_terminated_and_raw() {
    let m = Mount::start();
    let l = Listener::start(&m, "n", &["n", "--format", "nul", "--count", "2"]);
    assert_ok(&run(&m, &["send", "n", "a b", "c\nd"]));
    let (status, out, err) = l.finish();
    assert!(status.success(), "{status}: {err}");
    assert_eq!(out, b"a b\0c\nd\0");

    let l = Listener::start(&m, "r", &["r", "-f", "raw", "-n", "2"]);
    assert_ok(&run(&m, &["send", "r", "ab\n", "cd"]));
    let (status, out, err) = l.finish();
    assert!(status.success(), "{status}: {err}");
    assert_eq!(out, b"ab\ncd");
}

#[test]
fn nul_output_feeds_send_nul_without_changing_a_byte() {
    let m = Mount::start();
    let first = Listener::start(&m, "in", &["in", "-f", "nul", "-n", "3"]);
    let messages: [&[u8]; 3] = [b"x\ny", b"back\\slash\n", b"\xff"];
    for msg in messages {
        assert_ok(&run(
            &m,
            &[OsStr::new("send"), OsStr::new("in"), OsStr::from_bytes(msg)],
        ));
    }
    let (_, relayed, _) = first.finish();
    let second = Listener::start(&m, "out", &["out", "-f", "json", "-n", "3"]);
    assert_ok(&run_with_stdin(&m, &["send", "--nul", "out"], &relayed));
    let (status, out, err) = second.finish();
    assert!(status.success(), "{err}");
    assert_eq!(
        json_text(&out),
        "{\"size\":3,\"text\":\"x\\ny\"}\n{\"size\":11,\"text\":\"back\\\\slash\\n\"}\n\
         {\"size\":1,\"base64\":\"/w==\"}\n"
    );
}

// listen: timeout, count, the reader going away, the buffer

#[test]
fn timeout_ends_listen_with_status_0() {
    let m = Mount::start();
    // Without the timeout this listen would wait forever and fail finish().
    let l = Listener::start(&m, "quiet", &["quiet", "--timeout", "300"]);
    let (status, out, err) = l.finish();
    assert!(status.success(), "{status}: {err}");
    assert!(out.is_empty());
    assert!(!m.p("quiet").exists());

    // A message first, then the timeout (long enough for the send to come first).
    let l = Listener::start(&m, "once", &["once", "--timeout", "5s"]);
    assert_ok(&run(&m, &["send", "once", "only"]));
    let (status, out, _) = l.finish();
    assert!(status.success());
    assert_eq!(text(&out), "only\n");
}

#[test]
fn timeout_sets_the_slots_read_timeout() {
    let m = Mount::start();
    let l = Listener::start(&m, "slow", &["slow", "--timeout", "1h", "-n", "1"]);
    wait_until("listen to set the timeout", LIVENESS, || {
        text(&run(&m, &["info", "slow"]).stdout).contains("read_timeout_ms    3600000\n")
    });
    assert_ok(&run(&m, &["send", "slow", "done"]));
    let (status, out, _) = l.finish();
    assert!(status.success());
    assert_eq!(text(&out), "done\n");

    let l = Listener::start(&m, "never", &["never", "--timeout", "forever", "-n", "1"]);
    wait_until("listen to set the timeout", LIVENESS, || {
        text(&run(&m, &["info", "never"]).stdout).contains("read_timeout_ms    forever\n")
    });
    assert_ok(&run(&m, &["send", "never", "done"]));
    assert!(l.finish().0.success());
}

#[test]
fn count_ends_listen_after_that_many_messages() {
    let m = Mount::start();
    let l = Listener::start(&m, "c", &["c", "--count", "2"]);
    assert_ok(&run(&m, &["send", "c", "1"]));
    assert_ok(&run(&m, &["send", "c", "2"]));
    let (status, out, _) = l.finish();
    assert!(status.success());
    assert_eq!(text(&out), "1\n2\n");
    assert!(!m.p("c").exists());
}

#[test]
fn listen_ends_quietly_when_its_reader_goes_away() {
    let m = Mount::start();
    let mut l = Listener::start(&m, "head", &["head"]);
    assert_ok(&run(&m, &["send", "head", "first"]));
    let mut first = String::new();
    let mut stdout = BufReader::new(l.child.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first, "first\n");
    drop(stdout);
    assert_ok(&run(&m, &["send", "head", "second"]));
    wait_until("listen to exit", LIVENESS, || {
        l.child.try_wait().unwrap().is_some()
    });
    let status = l.child.wait().unwrap();
    assert!(status.success(), "{status}: {}", l.stderr());
}

#[test]
fn listen_reads_messages_of_the_slots_maximum_size() {
    let m = Mount::start();
    let l = Listener::start(&m, "big", &["big", "-f", "json", "-n", "2"]);
    let max: usize = py(&m, "print(xattr('big', 'max_message_size'))")
        .trim()
        .parse()
        .unwrap();
    let big = vec![b'z'; max];
    assert_ok(&run_with_stdin(&m, &["send", "big"], &big));
    let l2 = Listener::start(
        &m,
        "small",
        &["small", "--max-message-size", "16", "-n", "1"],
    );
    assert_eq!(
        py(&m, "print(xattr('small', 'max_message_size'))").trim(),
        "16"
    );
    assert_ok(&run(&m, &["send", "small", "sixteen bytes!!!"]));
    let (status, out, _) = l2.finish();
    assert!(status.success());
    assert_eq!(text(&out), "sixteen bytes!!!\n");
    assert_ok(&run(&m, &["send", "big", "end"]));
    let (status, out, err) = l.finish();
    assert!(status.success(), "{err}");
    let out = json_text(&out);
    let mut lines = out.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(&format!("{{\"size\":{max},\"text\":\"zzz"))
    );
    assert_eq!(lines.next(), Some("{\"size\":3,\"text\":\"end\"}"));
}

/// A slot of "any size" (max_message_size 0, as CreateMailslot's 0) reads
/// back 0, and listen still reads a message larger than its first buffer.
#[test]
fn listen_on_a_slot_of_any_size_reads_large_messages() {
    let m = Mount::start();
    let l = Listener::start(
        &m,
        "any",
        &["any", "--max-message-size", "0", "-f", "json", "-n", "2"],
    );
    assert_eq!(
        py(&m, "print(xattr('any', 'max_message_size'))").trim(),
        "0"
    );
    let big = vec![b'a'; 300_000];
    assert_ok(&run_with_stdin(&m, &["send", "any"], &big));
    assert_ok(&run(&m, &["send", "any", "small"]));
    let (status, out, err) = l.finish();
    assert!(status.success(), "{err}");
    let out = text(&out);
    let sizes: Vec<&str> = out.lines().map(|l| &l[..l.find(',').unwrap()]).collect();
    assert_eq!(sizes, ["{\"size\":300000", "{\"size\":5"], "{out}");
}

// send: from stdin

#[test]
fn send_takes_stdin_whole_or_line_by_line_or_by_nul() {
    let m = Mount::start();
    let l = Listener::start(&m, "s", &["s", "-f", "json", "-n", "6"]);
    assert_ok(&run_with_stdin(&m, &["send", "s"], b"line 1\nline 2\n"));
    assert_ok(&run_with_stdin(
        &m,
        &["send", "--lines", "s"],
        b"a\n\nb\nno newline",
    ));
    assert_ok(&run_with_stdin(&m, &["send", "-0", "s"], b"x\0\0y"));
    let (status, out, err) = l.finish();
    assert!(status.success(), "{err}");
    assert_eq!(
        json_text(&out),
        concat!(
            "{\"size\":14,\"text\":\"line 1\\nline 2\\n\"}\n",
            "{\"size\":1,\"text\":\"a\"}\n",
            "{\"size\":1,\"text\":\"b\"}\n",
            "{\"size\":10,\"text\":\"no newline\"}\n",
            "{\"size\":1,\"text\":\"x\"}\n",
            "{\"size\":1,\"text\":\"y\"}\n",
        )
    );
}

#[test]
fn send_lines_forwards_each_line_as_it_comes() {
    let m = Mount::start();
    let mut l = Listener::start(&m, "live", &["live", "-n", "2"]);
    let mut sender = mailslot(&m)
        .args(["send", "--lines", "live"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = sender.stdin.take().unwrap();
    input.write_all(b"early\n").unwrap();
    input.flush().unwrap();
    // The first line arrives while stdin is still open.
    let mut stdout = BufReader::new(l.child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "early\n");
    input.write_all(b"late\n").unwrap();
    drop(input);
    assert!(sender.wait().unwrap().success());
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "late\n");
}

// names, info, ls

#[test]
fn windows_names_nested_directories_and_case() {
    let m = Mount::start();
    let l = Listener::start(&m, "Dept/Jobs", &[r"\\.\mailslot\Dept\Jobs", "-n", "4"]);
    assert!(m.p("Dept").is_dir(), "listen makes the directories");
    assert_ok(&run(&m, &["send", r"\\.\MAILSLOT\dept\jobs", "windows"]));
    assert_ok(&run(&m, &["send", "DEPT/JOBS", "unix"]));
    assert_ok(&run(&m, &["send", "//./mailslot/dept/jobs", "slashes"]));
    // info and ls show the creator's spelling, whatever spelling was asked for.
    let info = assert_ok(&run(&m, &["info", r"\\.\mailslot\dept\jobs"]));
    assert!(
        info.starts_with(
            "name               Dept/Jobs\nwindows_name       \\\\.\\mailslot\\Dept\\Jobs\n"
        ),
        "{info}"
    );
    let ls = assert_ok(&run(&m, &["ls"]));
    assert!(ls.ends_with("  Dept/Jobs\n"), "{ls:?}");
    let ls = assert_ok(&run(&m, &["ls", "DEPT"]));
    assert!(ls.ends_with("  Dept/Jobs\n"), "{ls:?}");
    assert_ok(&run(&m, &["send", "dept/jobs", "last"]));
    let (status, out, err) = l.finish();
    assert!(status.success(), "{err}");
    assert_eq!(text(&out), "windows\nunix\nslashes\nlast\n");
    assert!(
        m.p("Dept").is_dir(),
        "directories stay, as others may use them"
    );
}

#[test]
fn the_mount_point_comes_from_the_environment_unless_given() {
    let m = Mount::start();
    let l = Listener::start(&m, "env", &["env", "-n", "2"]);
    let out = Command::new(MAILSLOT)
        .args(["send", "env", "from the environment"])
        .env("MAILSLOT_MOUNT", &m.path)
        .output()
        .unwrap();
    assert_ok(&out);
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new(MAILSLOT)
        .arg("--mount")
        .arg(&m.path)
        .args(["send", "env", "from --mount"])
        .env("MAILSLOT_MOUNT", elsewhere.path())
        .output()
        .unwrap();
    assert_ok(&out);
    let out = Command::new(MAILSLOT)
        .args(["send", "env", "lost"])
        .env("MAILSLOT_MOUNT", elsewhere.path())
        .output()
        .unwrap();
    assert_fails(&out, 4, "not a mailslotfs mount");
    let (_, out, _) = l.finish();
    assert_eq!(text(&out), "from the environment\nfrom --mount\n");
}

#[test]
fn info_shows_the_get_mailslot_info_fields() {
    let m = Mount::start();
    let out = py_mailslot(
        &m,
        r#"
import json, subprocess
s = server('box')
os.setxattr(P('box'), 'user.mailslot.read_timeout_ms', b'2500')
c = client('box')
os.write(c, b'first'); os.write(c, b'second!')
def info(*args):
    r = subprocess.run([MAILSLOT, '--mount', M, 'info', *args], capture_output=True)
    assert r.returncode == 0, r
    return r.stdout.decode()
table = info('box')
print(table, end='')
fields = dict(l.split(None, 1) for l in table.splitlines())
for a in ['max_message_size', 'next_message_size', 'message_count', 'queued_bytes', 'read_timeout_ms']:
    assert fields[a] == xattr('box', a), (a, fields[a], xattr('box', a))
j = json.loads(info('--json', r'\\.\mailslot\BOX'))
assert j['windows_name'] == r'\\.\mailslot\box' and j['path'] == P('box'), j
assert j['message_count'] == 2 and j['next_message_size'] == 5, j
assert j['read_timeout_ms'] == 2500 and j['queued_bytes'] == int(xattr('box', 'queued_bytes')), j
os.read(s, 100); os.read(s, 100)
os.setxattr(P('box'), 'user.mailslot.read_timeout_ms', b'forever')
j = json.loads(info('--json', 'box'))
assert j['next_message_size'] == -1 and j['message_count'] == 0, j
assert j['read_timeout_ms'] is None, j       # forever: every field a number or null
assert (j['name'], j['windows_name']) == ('box', r'\\.\mailslot\box'), j   # as in ls --json
assert all(isinstance(j[k], int) for k in ['max_message_size', 'next_message_size', 'message_count', 'queued_bytes']), j
"#,
    );
    let rows: Vec<&str> = out.lines().collect();
    let keys: Vec<&str> = rows
        .iter()
        .map(|r| r.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "name",
            "windows_name",
            "path",
            "max_message_size",
            "next_message_size",
            "message_count",
            "queued_bytes",
            "read_timeout_ms"
        ]
    );
    assert_eq!(rows[4], "next_message_size  5");
    assert_eq!(rows[5], "message_count      2");
    assert_eq!(rows[7], "read_timeout_ms    2500");
}

#[test]
fn ls_lists_every_slot_with_its_counts() {
    let m = Mount::start();
    py_mailslot(
        &m,
        r#"
import json, subprocess
def ls(*args, code=0):
    r = subprocess.run([MAILSLOT, '--mount', M, 'ls', *args], capture_output=True)
    assert r.returncode == code, r
    return r.stdout.decode()
assert ls() == ''
a = server('Alpha')
os.mkdir(P('dir')); os.mkdir(P('empty'))
b = server('dir/beta')
c = client('Alpha'); os.write(c, b'12345'); os.write(c, b'6')
rows = [l.split() for l in ls().splitlines()]
qa = xattr('Alpha', 'queued_bytes')
assert rows == [['2', qa, 'Alpha'], ['0', '0', 'dir/beta']], rows
assert ls('dir').split() == ['0', '0', 'dir/beta']
assert ls(r'\\.\mailslot\DIR').split() == ['0', '0', 'dir/beta']
assert ls('empty') == ''
objs = [json.loads(l) for l in ls('--json').splitlines()]
assert objs[0] == {'name': 'Alpha', 'windows_name': r'\\.\mailslot\Alpha',
                   'message_count': 2, 'queued_bytes': int(qa)}, objs
assert objs[1]['name'] == 'dir/beta'
ls('nowhere', code=3)
ls('Alpha', code=1)
print('ok')
"#,
    );
}

// Every exit status

#[test]
fn exit_3_no_such_slot() {
    let m = Mount::start();
    assert_fails(&run(&m, &["send", "nobody", "hi"]), 3, "no such slot");
    assert_fails(&run(&m, &["info", "nobody"]), 3, "no such slot");
    assert_fails(&run(&m, &["send", "no/dir", "hi"]), 3, "no such slot");
    assert!(!m.p("nobody").exists());
}

#[test]
fn exit_3_when_the_server_closes_while_sending() {
    let m = Mount::start();
    py_mailslot(
        &m,
        r#"
import subprocess
s = server('gone')
p = subprocess.Popen([MAILSLOT, '--mount', M, 'send', '--lines', 'gone'],
                     stdin=subprocess.PIPE, stderr=subprocess.PIPE)
p.stdin.write(b'one\n'); p.stdin.flush()
assert os.read(s, 100) == b'one'     # send has the slot open now
os.close(s)
p.stdin.write(b'two\n'); p.stdin.close()
assert p.wait(30) == 3, p.returncode
err = p.stderr.read().decode()
assert 'server closed it' in err, err
"#,
    );
}

#[test]
fn exit_4_not_mounted() {
    let m = Mount::start();
    let plain = tempfile::tempdir().unwrap();
    for args in [
        &["listen", "x", "-n", "1"][..],
        &["send", "x", "hi"],
        &["info", "x"],
        &["ls"],
    ] {
        let out = Command::new(MAILSLOT)
            .arg("--mount")
            .arg(plain.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_fails(&out, 4, "is not a mailslotfs mount");
        let out = Command::new(MAILSLOT)
            .arg("--mount")
            .arg(plain.path().join("missing"))
            .args(args)
            .output()
            .unwrap();
        assert_fails(&out, 4, "no such directory");
    }
    assert_eq!(
        std::fs::read_dir(plain.path()).unwrap().count(),
        0,
        "listen created a file in a plain directory"
    );
    // A directory inside the mount is not the mount point.
    std::fs::create_dir(m.p("sub")).unwrap();
    let out = Command::new(MAILSLOT)
        .arg("--mount")
        .arg(m.p("sub"))
        .args(["ls"])
        .output()
        .unwrap();
    assert_fails(&out, 4, "nothing is mounted there");
}

/// A listener waiting when its daemon is killed outright (the kernel ends
/// the wait with ECONNABORTED) exits 4, as any "not mounted" does.
#[test]
fn exit_4_when_the_daemon_is_killed_under_a_waiting_listen() {
    let mut m = Mount::start();
    let l = Listener::start(&m, "w", &["w"]);
    wait_until("listen to wait", LIVENESS, || {
        xattr::get(m.p("w"), "user.mailslot.waiting_readers")
            .ok()
            .flatten()
            .is_some_and(|v| v == b"1")
    });
    m.signal_and_wait(nix::sys::signal::Signal::SIGKILL);
    let (status, _, err) = l.finish();
    assert_eq!(status.code(), Some(4), "{err}");
    assert!(err.contains("mailslotfs mount stopped"), "{err}");
}

#[test]
fn exit_5_message_too_large() {
    let m = Mount::start();
    let l = Listener::start(&m, "tiny", &["tiny", "--max-message-size", "8", "-n", "1"]);
    assert_eq!(
        py(&m, "print(xattr('tiny', 'max_message_size'))").trim(),
        "8"
    );
    assert_fails(
        &run(&m, &["send", "tiny", "123456789"]),
        5,
        "larger than the slot accepts (at most 8)",
    );
    // Larger than any slot of the mount takes: the kernel would split such
    // a write, and the whole of it is refused instead.
    let huge = vec![b'h'; 2 << 20];
    assert_fails(
        &run_with_stdin(&m, &["send", "tiny"], &huge),
        5,
        "larger than the slot accepts",
    );
    assert_ok(&run(&m, &["send", "tiny", "12345678"]));
    let (status, out, _) = l.finish();
    assert!(status.success());
    assert_eq!(text(&out), "12345678\n");
}

#[test]
fn exit_6_queue_full() {
    let m = Mount::with_args(&["--max-queued-bytes", "64"]);
    py_mailslot(
        &m,
        r#"
import subprocess
s = server('full')
def send(msg):
    return subprocess.run([MAILSLOT, '--mount', M, 'send', 'full', msg], capture_output=True)
assert send('x' * 40).returncode == 0
r = send('y' * 40)
assert r.returncode == 6, r
assert b'queue full' in r.stderr, r.stderr
assert xattr('full', 'message_count') == '1'
"#,
    );
}

#[test]
fn exit_7_slot_exists() {
    let m = Mount::start();
    let l = Listener::start(&m, "taken", &["taken", "-n", "1"]);
    for name in ["taken", "TAKEN", r"\\.\mailslot\Taken"] {
        assert_fails(
            &run(&m, &["listen", name, "-n", "1"]),
            7,
            "another server holds the name",
        );
    }
    assert_ok(&run(&m, &["send", "taken", "still mine"]));
    let (_, out, _) = l.finish();
    assert_eq!(text(&out), "still mine\n");
}

#[test]
fn exit_8_permission_denied() {
    let m = Mount::with_args(&["--allow-other"]);
    let anyones = common::copy_for_other_users(MAILSLOT, m.dir.path());
    let script = r#"
import subprocess
os.umask(0o022)
s = server('private', os.O_RDONLY, 0o644)     # only root may write
os.mkdir(P('rootdir'), 0o755)
def as_nobody(*args):
    def drop():
        os.setgroups([]); os.setgid(65534); os.setuid(65534)
    return subprocess.run([ANYONES_MAILSLOT, '--mount', M, *args], capture_output=True, preexec_fn=drop)
r = as_nobody('send', 'private', 'hi')
assert r.returncode == 8 and b'permission denied' in r.stderr, r
# and says what to do about it
assert b'mode 644' in r.stderr and b'mailslot listen' in r.stderr, r
# Directories are shared: root's 0755 `mkdir` does not close rootdir.
r = as_nobody('listen', 'rootdir/mine', '--timeout', '0')
assert r.returncode == 0, r
r = as_nobody('listen', 'rootdir/sub/mine', '--timeout', '0')
assert r.returncode == 0, r
assert xattr('private', 'message_count') == '0'
"#;
    py_mailslot(&m, &format!("ANYONES_MAILSLOT = {anyones:?}\n{script}"));
}

/// The first promise: any process that knows the name writes. `listen`
/// makes its slot 666 whatever the umask, open to every user's clients,
/// Windows-style `O_RDWR` ones too; `--private` makes it 600.
#[test]
fn listen_makes_public_slots_and_private_ones_on_request() {
    let m = Mount::with_args(&["--allow-other"]);
    let anyones = common::copy_for_other_users(MAILSLOT, m.dir.path());
    let script = r#"
import subprocess
def listen(*args):
    p = subprocess.Popen([MAILSLOT, '--mount', M, 'listen', *args], stdout=subprocess.PIPE,
                         preexec_fn=lambda: os.umask(0o077))
    until(lambda: os.path.exists(P(args[0])), lambda: 'listen to create ' + args[0])
    return p
public = listen('pub', '-n', '2')
private = listen('mine', '--private', '-n', '1')
assert os.stat(P('pub')).st_mode & 0o777 == 0o666, oct(os.stat(P('pub')).st_mode)
assert os.stat(P('mine')).st_mode & 0o777 == 0o600, oct(os.stat(P('mine')).st_mode)
def drop():
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
r = subprocess.run([ANYONES_MAILSLOT, '--mount', M, 'send', 'pub', 'from nobody'],
                   capture_output=True, preexec_fn=drop)
assert r.returncode == 0, r
pid = os.fork()
if pid == 0:
    drop()
    fd = os.open(P('pub'), os.O_RDWR)
    os.pwrite(fd, b'rdwr from nobody', 100)
    os._exit(0)
assert os.waitpid(pid, 0)[1] == 0
assert public.communicate(timeout=30)[0] == b'from nobody\nrdwr from nobody\n'
r = subprocess.run([ANYONES_MAILSLOT, '--mount', M, 'send', 'mine', 'x'],
                   capture_output=True, preexec_fn=drop)
assert r.returncode == 8, r
send('mine', b'from root')
assert private.communicate(timeout=30)[0] == b'from root\n'
"#;
    py_mailslot(&m, &format!("ANYONES_MAILSLOT = {anyones:?}\n{script}"));
}

#[test]
fn exit_2_usage() {
    let m = Mount::start();
    let l = Listener::start(&m, "u", &["u", "-n", "1"]);
    assert_fails(&run(&m, &["send", "u", "ok", ""]), 2, "empty messages");
    assert_fails(
        &run_with_stdin(&m, &["send", "u"], b""),
        2,
        "stdin was empty",
    );
    assert_fails(
        &run(&m, &["listen", r"\\server\mailslot\u"]),
        2,
        "only `mailslot send` reaches them",
    );
    assert_fails(
        &run(&m, &["send", r"\\server\pipe\u", "hi"]),
        2,
        "is not a mailslot name",
    );
    assert_fails(&run(&m, &["send", "a/../u", "hi"]), 2, "not slot names");
    assert_fails(&run(&m, &["send", "/elsewhere/u", "hi"]), 2, "not below");
    assert_fails(
        &run(&m, &["send", "--lines", "u", "arg"]),
        2,
        "cannot be used",
    );
    assert_fails(&run(&m, &["listen", "x", "--format", "xml"]), 2, "xml");
    assert_fails(&run(&m, &["listen", "x", "--timeout", "soon"]), 2, "soon");
    assert_fails(&run(&m, &["frobnicate"]), 2, "frobnicate");
    assert!(!m.p("x").exists());
    // An absolute path below the mount names the slot.
    assert_ok(&run(
        &m,
        &[OsStr::new("send"), m.p("u").as_os_str(), OsStr::new("fine")],
    ));
    let (_, out, _) = l.finish();
    assert_eq!(text(&out), "fine\n", "nothing of the refused sends arrived");
}

#[test]
fn exit_1_other_failures() {
    let m = Mount::start();
    std::fs::create_dir(m.p("dir")).unwrap();
    assert_fails(&run(&m, &["info", "dir"]), 1, "is a directory");
    assert_fails(&run(&m, &["send", "dir", "hi"]), 1, "is a directory");
    assert_fails(&run(&m, &["listen", "dir"]), 1, "is a directory");
}

#[test]
fn help_documents_every_exit_status() {
    let out = Command::new(MAILSLOT).arg("--help").output().unwrap();
    let help = assert_ok(&out);
    for (code, words) in [
        (0, "success"),
        (1, "other"),
        (2, "usage"),
        (3, "no such slot"),
        (4, "not mounted"),
        (5, "too large"),
        (6, "queue full"),
        (7, "slot exists"),
        (8, "permission denied"),
    ] {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{code}  ")))
            .unwrap_or_else(|| panic!("exit status {code} missing from --help:\n{help}"));
        assert!(line.contains(words), "{line}");
    }
    assert!(help.contains("MAILSLOT_MOUNT"));
    let listen = assert_ok(
        &Command::new(MAILSLOT)
            .args(["listen", "--help"])
            .output()
            .unwrap(),
    );
    assert!(
        listen.contains("A backslash is written as \\\\"),
        "{listen}"
    );
}

// Man pages and completions

#[test]
fn generate_writes_man_pages_and_completions() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(MAILSLOT)
        .arg("generate")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_ok(&out);
    let man = dir.path().join("man");
    let pages = [
        ("mailslotfs.8", ".TH mailslotfs 8"),
        ("mailslot.1", ".TH mailslot 1"),
        ("mailslot-listen.1", ".TH mailslot-listen 1"),
        ("mailslot-send.1", ".TH mailslot-send 1"),
        ("mailslot-info.1", ".TH mailslot-info 1"),
        ("mailslot-ls.1", ".TH mailslot-ls 1"),
    ];
    for (page, title) in pages {
        let roff = std::fs::read_to_string(man.join(page)).unwrap();
        // Only the apostrophe set-up (.ie/.el) may come before the title.
        let first_macro = roff
            .lines()
            .find(|l| !l.starts_with(".ie") && !l.starts_with(".el"))
            .unwrap();
        assert!(first_macro.starts_with(title), "{page}: {first_macro}");
    }
    let mailslot_page = std::fs::read_to_string(man.join("mailslot.1")).unwrap();
    assert!(mailslot_page.contains("EXIT STATUS") && mailslot_page.contains("queue full"));
    assert!(
        std::fs::read_to_string(man.join("mailslotfs.8"))
            .unwrap()
            .contains("allow\\-other")
    );
    assert!(
        !man.join("mailslot-generate.1").exists(),
        "the generator is internal"
    );

    // mailslotfs(8) is a page a sysadmin can work from, and its synopsis
    // names every option's value.
    let daemon_page = std::fs::read_to_string(man.join("mailslotfs.8")).unwrap();
    for section in [
        "BEHAVIOUR",
        "MOUNT OPTIONS",
        "NETWORK",
        "EXTENDED ATTRIBUTES",
        "ERRORS",
        "LOGGING",
        "STOPPING",
        "EXIT STATUS",
        "FILES",
        "EXAMPLES",
    ] {
        assert!(
            daemon_page.contains(&format!(".SH \"{section}\""))
                || daemon_page.contains(&format!(".SH {section}\n")),
            "mailslotfs.8 lacks {section}"
        );
    }
    for synopsis in [
        "[\\-\\-max\\-message\\-size SIZE]",
        "[\\-o OPTIONS]",
        "[\\-\\-log\\-file FILE]",
        "[SOURCE] MOUNTPOINT",
        "user.mailslot.read_timeout_ms",
    ] {
        assert!(
            daemon_page.contains(synopsis),
            "mailslotfs.8 lacks {synopsis}"
        );
    }
    {
        for (page, _) in pages {
            let out = Command::new("man")
                .arg("-l")
                .arg(man.join(page))
                .env("MANPAGER", "cat")
                .env("MANWIDTH", "80")
                .output()
                .unwrap();
            let shown = assert_ok(&out);
            assert!(
                shown.contains("NAME") && shown.contains("SYNOPSIS"),
                "{page}: {shown}"
            );
            assert!(
                !text(&out.stderr).contains("warning"),
                "{page}: {}",
                text(&out.stderr)
            );
        }
    }

    let completions = dir.path().join("completions");
    for (file, needle) in [
        ("bash/mailslot", "complete "),
        ("bash/mailslotfs", "complete "),
        ("zsh/_mailslot", "#compdef mailslot"),
        ("zsh/_mailslotfs", "#compdef mailslotfs"),
        ("fish/mailslot.fish", "complete -c mailslot"),
        ("fish/mailslotfs.fish", "complete -c mailslotfs"),
    ] {
        let script = std::fs::read_to_string(completions.join(file)).unwrap();
        assert!(script.contains(needle), "{file}");
    }
    let bash = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {0}/bash/mailslot && source {0}/bash/mailslotfs && complete -p mailslot mailslotfs",
            completions.display()
        ))
        .output()
        .expect("bash checks the completions");
    let registered = assert_ok(&bash);
    assert!(registered.contains("mailslot") && registered.contains("mailslotfs"));
    // What bash offers after `mailslot `: the subcommands, not the internal
    // generator.
    let offered = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}/bash/mailslot; COMP_WORDS=(mailslot ''); COMP_CWORD=1; \
             COMP_LINE='mailslot '; COMP_POINT=9; _mailslot mailslot '' mailslot; \
             echo \"${{COMPREPLY[@]}}\"",
            completions.display()
        ))
        .output()
        .unwrap();
    let offered = assert_ok(&offered);
    assert!(
        offered.contains("listen") && offered.contains("send"),
        "{offered}"
    );
    for file in ["bash/mailslot", "zsh/_mailslot", "fish/mailslot.fish"] {
        let script = std::fs::read_to_string(completions.join(file)).unwrap();
        assert!(!script.contains("generate"), "{file} offers generate");
    }
}
