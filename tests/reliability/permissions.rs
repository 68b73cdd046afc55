//! Point 7 of docs/reliability.md.
//!
//! Permissions: with `--allow-other`, a second unprivileged user
//! (uid/gid 65534) reaches only what the slots' modes give it. It never
//! reads another user's slot (only the server reads, and root is no
//! exception), writes only where the mode lets it, cannot change another's
//! slot or its attributes, and cannot take over a name. The kernel checks
//! the modes itself: `default_permissions` is on. Without `--allow-other`
//! the mount is closed to everyone but its owner.

use std::process::Command;
use std::time::Duration;

use crate::common::Mount;
use crate::util::{self, figures, py_within};

/// What the stranger (uid 65534) gets, case by case.
const STRANGER: &[(&str, &str)] = &[
    // Public (0666): every open is a client, reads through it are refused.
    ("write_public_0666", "OK"),
    ("rdwr_open_public_writes", "OK"),
    ("rdwr_client_read_public", "EACCES"),
    ("rdonly_client_read_public", "EACCES"),
    ("create_over_public", "OK"),
    ("create_over_public_other_case", "OK"),
    ("excl_create_over_public", "EEXIST"),
    ("getxattr_public", "OK"),
    ("next_sender_public", "EACCES"),
    ("last_sender_public", "EACCES"),
    // Write-only for others (0622): write-only opens alone.
    ("write_writeonly_0622", "OK"),
    ("rdwr_open_writeonly", "EACCES"),
    ("write_private_0600", "EACCES"),
    ("write_readable_0644", "EACCES"),
    ("rdonly_client_read_readable", "EACCES"),
    ("getxattr_private", "EACCES"),
    ("getxattr_readable", "OK"),
    ("setxattr_public", "EPERM"),
    ("setxattr_private", "EACCES"),
    ("setxattr_readable", "EACCES"),
    ("removexattr_public", "EPERM"),
    ("chmod_public", "EPERM"),
    ("chown_public", "EPERM"),
    ("unlink_public", "EPERM"),
    ("rename_public", "EPERM"),
    ("steal_server_fd_via_proc", "EACCES"),
    // Directories are shared (a path is a name, not property): root's
    // `mkdir 0755` leaves rootdir open to every user, as on Windows.
    ("create_in_roots_directory", "OK"),
    ("mkdir_in_roots_directory", "OK"),
    ("chmod_roots_directory", "EPERM"),
    ("rmdir_roots_directory", "EPERM"),
    ("own_slot_in_shared_root", "OK"),
];

const SCRIPT: &str = r#"
mi = [l for l in open('/proc/self/mountinfo') if (' ' + M + ' ') in l][0]
super_options = mi.split(' - ')[1].split()[2].split(',')
print('default_permissions=%s' % ('OK' if 'default_permissions' in super_options else 'missing'))
print('allow_other=%s' % ('OK' if 'allow_other' in super_options else 'missing'))
os.umask(0)
private = server('private', os.O_RDONLY, 0o600)
public = server('public', os.O_RDONLY, 0o666)
writeonly = server('writeonly', os.O_RDONLY, 0o622)
readable = server('readable', os.O_RDONLY, 0o644)
os.mkdir(P('rootdir'), 0o755)
os.umask(0o022)
def read_via(name, flags):
    fd = os.open(P(name), flags)
    try:
        os.read(fd, 100)
    finally:
        os.close(fd)
def write_via(name, flags, data):
    fd = os.open(P(name), flags)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    out = []
    def case(name, f, *a):
        res = err(f, *a)
        out.append('%s=%s' % (name, res))
    case('write_public_0666', send, 'public', b'from the stranger')
    case('rdwr_open_public_writes', write_via, 'public', os.O_RDWR, b'rdwr from the stranger')
    case('rdwr_client_read_public', read_via, 'public', os.O_RDWR)
    case('rdonly_client_read_public', read_via, 'public', os.O_RDONLY)
    case('create_over_public', write_via, 'public', os.O_CREAT | os.O_RDWR, b'create from the stranger')
    case('create_over_public_other_case', os.open, P('PUBLIC'), os.O_CREAT | os.O_RDONLY, 0o600)
    case('excl_create_over_public', os.open, P('Public'), os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o600)
    case('getxattr_public', os.getxattr, P('public'), 'user.mailslot.message_count')
    case('next_sender_public', os.getxattr, P('public'), 'user.mailslot.next_sender')
    case('last_sender_public', os.getxattr, P('public'), 'user.mailslot.last_sender')
    case('write_writeonly_0622', send, 'writeonly', b'x')
    case('rdwr_open_writeonly', os.open, P('writeonly'), os.O_RDWR)
    case('write_private_0600', send, 'private', b'x')
    case('write_readable_0644', send, 'readable', b'x')
    case('rdonly_client_read_readable', read_via, 'readable', os.O_RDONLY)
    case('getxattr_private', os.getxattr, P('private'), 'user.mailslot.message_count')
    case('getxattr_readable', os.getxattr, P('readable'), 'user.mailslot.message_count')
    case('setxattr_public', os.setxattr, P('public'), 'user.mailslot.read_timeout_ms', b'0')
    case('setxattr_private', os.setxattr, P('private'), 'user.mailslot.read_timeout_ms', b'0')
    case('setxattr_readable', os.setxattr, P('readable'), 'user.mailslot.read_timeout_ms', b'0')
    case('removexattr_public', os.removexattr, P('public'), 'user.mailslot.read_timeout_ms')
    case('chmod_public', os.chmod, P('public'), 0o666)
    case('chown_public', os.chown, P('public'), 65534, 65534)
    case('unlink_public', os.unlink, P('public'))
    case('rename_public', os.rename, P('public'), P('mine-now'))
    case('steal_server_fd_via_proc', os.open, '/proc/%d/fd/%d' % (os.getppid(), public), os.O_RDONLY)
    case('create_in_roots_directory', os.open, P('rootdir/x'), os.O_CREAT | os.O_RDONLY, 0o600)
    case('mkdir_in_roots_directory', os.mkdir, P('rootdir/y'))
    case('chmod_roots_directory', os.chmod, P('rootdir'), 0o700)
    case('rmdir_roots_directory', os.rmdir, P('rootdir/y'))
    case('own_slot_in_shared_root', server, 'strangers', os.O_RDONLY, 0o600)
    os.write(w, ('\n'.join(out) + '\n').encode())
    os.close(w)
    # hold the slot open until root has tried it
    deadline = time.time() + 60
    while err(os.stat, P('done')) == 'ENOENT' and time.time() < deadline:
        time.sleep(0.01)
    os._exit(0)
os.close(w)
got = b''
while True:
    chunk = os.read(r, 65536)
    if not chunk:
        break
    got += chunk
print(got.decode().strip())
# the messages the stranger could leave are the ones the modes allowed, and
# its client reads took none of them
assert os.read(public, 100) == b'from the stranger'
assert os.read(public, 100) == b'rdwr from the stranger'
assert os.read(public, 100) == b'create from the stranger'
assert os.read(writeonly, 100) == b'x'
for s in (private, readable, public, writeonly):
    os.set_blocking(s, False)
    assert err(os.read, s, 100) == 'EAGAIN'
# root is no exception: another user's slot is written, never read
print('root_writes_strangers_slot=%s' % err(send, 'strangers', b'from root'))
print('root_reads_strangers_slot=%s' % err(read_via, 'strangers', os.O_RDONLY))
print('root_creates_over_strangers_slot=%s' % err(read_via, 'strangers', os.O_CREAT | os.O_RDWR))
print('root_excl_creates_over_strangers_slot=%s' % err(os.open, P('strangers'), os.O_CREAT | os.O_EXCL | os.O_RDWR))
done = server('done')
os.waitpid(pid, 0)
"#;

#[test]
fn another_user_reaches_only_what_the_modes_give() {
    let m = Mount::with_args(&["--allow-other"]);
    let out = py_within(&m, "", SCRIPT, Duration::from_secs(120));
    let got = figures(&out);
    let mut expected: Vec<(&str, &str)> = STRANGER.to_vec();
    expected.extend([
        ("default_permissions", "OK"),
        ("allow_other", "OK"),
        ("root_writes_strangers_slot", "OK"),
        ("root_reads_strangers_slot", "EACCES"),
        ("root_creates_over_strangers_slot", "EACCES"),
        ("root_excl_creates_over_strangers_slot", "EEXIST"),
    ]);
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(case, want)| got.get(*case).map(String::as_str) != Some(*want))
        .map(|(case, want)| format!("{case}: expected {want}, got {:?}", got.get(*case)))
        .collect();
    assert!(
        wrong.is_empty(),
        "permission cases with another outcome:\n{}\n--- output\n{out}",
        wrong.join("\n")
    );
    util::assert_daemon_healthy(&m);
}

/// The same through setpriv and the shell, as an administrator would try it.
#[test]
fn another_user_through_setpriv_and_the_shell() {
    let m = Mount::with_args(&["--allow-other"]);
    let setup = r#"
os.umask(0)
private = server('private', os.O_RDONLY, 0o600)
public = server('public', os.O_RDONLY, 0o666)
print('ready', flush=True)
"#;
    let mut holder = util::PyChild::spawn(&m.path, "", &format!("{setup}time.sleep(60)\n"));
    holder.expect_line("ready", Duration::from_secs(30));
    let stranger = |script: &str| {
        let out = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "sh",
                "-c",
            ])
            .arg(script)
            .env("M", &m.path)
            .output()
            .expect("setpriv (util-linux) is needed by the tests");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _) = stranger(r#"id -u | grep -qx 65534"#);
    assert_eq!(code, Some(0), "setpriv did not switch users");
    let (code, _) = stranger(r#"echo hi > "$M/public""#);
    assert_eq!(code, Some(0), "mode 0666 lets everyone write");
    let (code, err) = stranger(r#"echo hi > "$M/private""#);
    assert_ne!(code, Some(0));
    assert!(err.contains("Permission denied"), "{err}");
    // cat opens a client (the read bit of a slot means "may open it as a
    // client"), and its read is refused.
    let (code, err) = stranger(r#"cat "$M/public""#);
    assert_ne!(code, Some(0));
    assert!(err.contains("Permission denied"), "{err}");
    let (code, err) = stranger(r#"getfattr -n user.mailslot.next_sender "$M/public""#);
    assert_ne!(code, Some(0));
    assert!(err.contains("Permission denied"), "{err}");
    let (code, err) = stranger(r#"setfattr -n user.mailslot.read_timeout_ms -v 0 "$M/public""#);
    assert_ne!(code, Some(0));
    assert!(err.contains("not permitted"), "{err}");
    drop(holder);
}

/// Without `--allow-other` nobody but the mounting user gets in at all.
#[test]
fn without_allow_other_the_mount_is_closed_to_others() {
    let m = Mount::start();
    let out = py_within(
        &m,
        "",
        r#"
s = server('mine', os.O_RDONLY, 0o666)
pid = os.fork()
if pid == 0:
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
    print('stat_root=%s' % err(os.stat, M))
    print('write_slot=%s' % err(send, 'mine', b'x'))
    print('list_root=%s' % err(os.listdir, M))
    os._exit(0)
os.waitpid(pid, 0)
"#,
        Duration::from_secs(60),
    );
    let got = figures(&out);
    for case in ["stat_root", "write_slot", "list_root"] {
        assert_eq!(
            got.get(case).map(String::as_str),
            Some("EACCES"),
            "{case}\n{out}"
        );
    }
}
