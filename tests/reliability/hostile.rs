//! Point 6 of docs/reliability.md.
//!
//! Hostile input.
//!
//! Names at and past the length limit, names with control bytes, `.`/`..`
//! tricks, a 10,000-deep directory chain, writes of nothing and of more
//! than the kernel's max_write, reads with 1-byte and absurd buffers,
//! setxattr with garbage, negative and huge numbers, O_TRUNC, O_APPEND,
//! O_DIRECT, mmap, lseek, fallocate, hard and symbolic links, chmod/chown
//! by a stranger. Each gets the errno in `EXPECTED` (the table in
//! docs/reliability.md), the daemon neither panics nor dies, and a slot
//! created before the barrage still carries messages after it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{BIN, Mount, is_mounted};
use crate::util::{self, figures, py_within};

/// Case, and what it gets: an errno name, or `OK`.
pub const EXPECTED: &[(&str, &str)] = &[
    // names
    ("name_255_bytes", "OK"),
    ("name_256_bytes", "ENAMETOOLONG"),
    ("name_1025_bytes", "ENAMETOOLONG"),
    ("name_5000_bytes", "ENAMETOOLONG"),
    ("name_255_bytes_multibyte", "OK"),
    ("name_folds_past_255_create", "OK"),
    ("name_folds_past_255_lower_spelling", "ENAMETOOLONG"),
    ("name_folds_past_255_same_spelling", "OK"),
    ("name_ctrl_01", "EINVAL"),
    ("name_ctrl_newline", "EINVAL"),
    ("name_ctrl_tab", "EINVAL"),
    ("name_ctrl_escape_sequence", "EINVAL"),
    ("name_ctrl_del", "EINVAL"),
    ("name_ctrl_c1_u0085", "EINVAL"),
    ("name_not_utf8", "EINVAL"),
    ("name_backslash", "EINVAL"),
    ("name_space", "OK"),
    ("name_three_dots", "OK"),
    ("name_remote_target_network_off", "ENETDOWN"),
    ("name_bad_remote_target_network_off", "ENETDOWN"),
    ("mkdir_remote_target_network_off", "ENETDOWN"),
    ("open_creat_dot", "EISDIR"),
    ("open_creat_dotdot", "EISDIR"),
    ("mkdir_dot", "EEXIST"),
    ("mkdir_dotdot", "EEXIST"),
    ("rmdir_dot", "EINVAL"),
    ("rmdir_dotdot", "ENOTEMPTY"),
    ("create_through_sub_dotdot", "OK"),
    ("symlink_to_dotdot", "EPERM"),
    // depth
    ("deep_mkdir_10000", "OK"),
    ("deep_slot_round_trip", "OK"),
    ("deep_path_beyond_path_max", "ENAMETOOLONG"),
    ("deep_rmdir_all", "OK"),
    // writes
    ("write_0_bytes", "OK"),
    ("write_0_bytes_queues_nothing", "OK"),
    ("write_ceiling_plus_1", "EMSGSIZE"),
    ("write_max_write_plus_1", "EMSGSIZE"),
    ("write_16_mib", "EMSGSIZE"),
    ("oversized_writes_queue_nothing", "OK"),
    // reads
    ("read_1_byte_buffer_2_byte_message", "EMSGSIZE"),
    ("read_1_byte_buffer_message_stays", "OK"),
    ("read_1_byte_buffer_1_byte_message", "OK"),
    ("read_0_bytes", "OK"),
    ("read_0_bytes_takes_nothing", "OK"),
    ("readv_8_one_byte_buffers", "OK"),
    ("read_count_2_pow_63", "EFAULT"),
    ("read_count_2_pow_63_takes_nothing", "OK"),
    ("read_through_client", "EBADF"),
    ("write_through_rdonly_server", "EBADF"),
    // extended attributes
    ("xattr_timeout_empty", "EINVAL"),
    ("xattr_timeout_nul", "EINVAL"),
    ("xattr_timeout_word", "EINVAL"),
    ("xattr_timeout_minus_5", "EINVAL"),
    ("xattr_timeout_minus_1", "OK"),
    ("xattr_timeout_plus_5", "EINVAL"),
    ("xattr_timeout_hex", "EINVAL"),
    ("xattr_timeout_leading_space", "EINVAL"),
    ("xattr_timeout_trailing_space", "EINVAL"),
    ("xattr_timeout_exponent", "EINVAL"),
    ("xattr_timeout_2_pow_32", "EINVAL"),
    ("xattr_timeout_2_pow_64", "EINVAL"),
    ("xattr_timeout_20_digits", "EINVAL"),
    ("xattr_timeout_not_utf8", "EINVAL"),
    ("xattr_timeout_64_kib", "EINVAL"),
    ("xattr_timeout_64_kib_plus_1", "E2BIG"),
    ("xattr_size_minus_1", "EINVAL"),
    ("xattr_size_ceiling_plus_1", "EINVAL"),
    ("xattr_size_2_pow_64", "EINVAL"),
    ("xattr_size_garbage", "EINVAL"),
    ("xattr_read_only_attribute", "EPERM"),
    ("xattr_unknown_mailslot_name", "ENODATA"),
    ("xattr_other_user_name", "ENODATA"),
    ("xattr_trusted", "ENODATA"),
    ("xattr_security", "ENODATA"),
    ("xattr_posix_acl_garbage", "EOPNOTSUPP"),
    ("xattr_flag_create", "EEXIST"),
    ("xattr_flag_replace", "OK"),
    ("xattr_remove", "EPERM"),
    ("xattr_on_directory", "ENODATA"),
    ("xattr_get_1_byte_buffer", "ERANGE"),
    ("xattr_list_1_byte_buffer", "ERANGE"),
    // open flags
    ("open_trunc", "OK"),
    ("open_trunc_keeps_messages", "OK"),
    ("open_append_and_write", "OK"),
    ("open_direct_and_write", "OK"),
    ("open_directory_flag_on_slot", "ENOTDIR"),
    ("open_excl_existing", "EEXIST"),
    ("open_rdwr_existing", "OK"),
    ("open_directory_for_writing", "EISDIR"),
    // mapping, seeking, sizes
    ("mmap_shared_server", "ENODEV"),
    ("mmap_shared_client_write", "EACCES"),
    ("mmap_private_server", "OK"),
    ("mmap_private_touch_is_sigbus_and_takes_nothing", "OK"),
    ("lseek", "ESPIPE"),
    ("pread", "ESPIPE"),
    ("pwrite", "ESPIPE"),
    // a client opened O_RDWR, as Wine opens every CreateFile client, is
    // seekable: positioned writes are messages, reads are refused
    ("rdwr_client_pwrite_is_one_message", "OK"),
    ("rdwr_client_lseek", "OK"),
    ("rdwr_client_pread", "EACCES"),
    ("rdwr_client_read", "EACCES"),
    ("rdwr_client_mmap_shared", "ENODEV"),
    ("fallocate", "EOPNOTSUPP"),
    ("posix_fallocate", "ESPIPE"),
    ("ftruncate_0", "OK"),
    ("ftruncate_5", "EINVAL"),
    ("ftruncate_2_pow_62", "EINVAL"),
    ("truncate_minus_1", "EINVAL"),
    ("ioctl_fionread", "OK"),
    ("ioctl_tcgets", "ENOTTY"),
    // links and names of others
    ("link", "EPERM"),
    ("link_from_outside", "EXDEV"),
    ("symlink", "EPERM"),
    ("rename", "EPERM"),
    ("rename_from_outside", "EXDEV"),
    ("unlink", "EPERM"),
    ("unlink_directory", "EISDIR"),
    ("rmdir_slot", "ENOTDIR"),
    ("mknod_fifo", "EPERM"),
    ("mknod_char_device", "EPERM"),
    // a stranger (uid 65534) at root's slot
    ("stranger_chmod", "EPERM"),
    ("stranger_chown", "EPERM"),
    ("stranger_chown_own_slot_to_root", "EPERM"),
    ("stranger_utime_explicit", "EPERM"),
    ("stranger_truncate", "EACCES"),
    ("owner_chmod", "OK"),
];

const SCRIPT: &str = r#"
import ctypes, mmap, fcntl, termios
libc = ctypes.CDLL(None, use_errno=True)
libc.read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.read.restype = ctypes.c_ssize_t
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
libc.getxattr.restype = ctypes.c_ssize_t
libc.listxattr.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
libc.listxattr.restype = ctypes.c_ssize_t
MAP_FAILED = ctypes.c_void_p(-1).value

def case(name, result):
    print('%s=%s' % (name, result), flush=True)
def check(name, cond):
    case(name, 'OK' if cond else 'WRONG')
def outcome(f, *a):
    r = err(f, *a)
    return 'OK' if r == 'OK' else r
def try_case(name, f, *a):
    case(name, outcome(f, *a))
def c_call(f):
    # a libc call: -1 and errno, or OK
    ctypes.set_errno(0)
    r = f()
    if r == -1 or (r == MAP_FAILED and r is not None):
        return errno.errorcode[ctypes.get_errno()]
    return 'OK'
def count(name): return int(xattr(name, 'message_count'))

os.umask(0)
survivor = server('survivor', os.O_RDONLY, 0o622)
send('survivor', b'before')
s = server('target', os.O_RDWR, 0o644)
c = client('target')
ro = server('ro-server', os.O_RDONLY, 0o644)
os.mkdir(P('dir'))

# ---- names
def create(name):
    return os.close(os.open(os.path.join(M.encode(), name) if isinstance(name, bytes) else P(name), os.O_CREAT | os.O_RDWR))
keep = []
def create_keep(name):
    keep.append(os.open(os.path.join(M.encode(), name) if isinstance(name, bytes) else P(name), os.O_CREAT | os.O_RDWR))
try_case('name_255_bytes', create_keep, 'n' * 255)
try_case('name_256_bytes', create, 'n' * 256)
try_case('name_1025_bytes', create, 'n' * 1025)
try_case('name_5000_bytes', create, 'n' * 5000)
try_case('name_255_bytes_multibyte', create_keep, '\u20ac' * 85)
folds = '\u0130' * 127 + 'a'      # 255 bytes; lower case is 382 bytes
try_case('name_folds_past_255_create', create_keep, folds)
try_case('name_folds_past_255_lower_spelling', lambda: os.close(os.open(P(folds.lower()), os.O_WRONLY)))
try_case('name_folds_past_255_same_spelling', lambda: os.close(os.open(P(folds), os.O_WRONLY)))
for label, name in [('01', 'a\x01b'), ('newline', 'a\nb'), ('tab', 'a\tb'), ('escape_sequence', '\x1b[31mred'),
                    ('del', 'a\x7fb'), ('c1_u0085', 'a\u0085b')]:
    try_case('name_ctrl_' + label, create, name)
try_case('name_not_utf8', create, b'\xff\xfe')
try_case('name_backslash', create, 'a\\b')
try_case('name_space', create_keep, ' ')
try_case('name_three_dots', create_keep, '...')
# `@` names are other machines; this mount has no network side
try_case('name_remote_target_network_off', create, '@HOST')
try_case('name_bad_remote_target_network_off', create, '@not a host name at all')
try_case('mkdir_remote_target_network_off', os.mkdir, P('@@CORP#1C'))
try_case('open_creat_dot', create, '.')
try_case('open_creat_dotdot', create, '..')
try_case('mkdir_dot', os.mkdir, P('.'))
try_case('mkdir_dotdot', os.mkdir, P('..'))
try_case('rmdir_dot', os.rmdir, P('.'))
try_case('rmdir_dotdot', os.rmdir, P('..'))
try_case('create_through_sub_dotdot', create_keep, 'dir/../viaparent')
try_case('symlink_to_dotdot', os.symlink, '..', P('up'))

# ---- a 10,000-deep chain of directories, made and removed through dir fds
def deep():
    fd = os.open(M, os.O_RDONLY | os.O_DIRECTORY)
    for i in range(DEPTH):
        os.mkdir('d', dir_fd=fd)
        nfd = os.open('d', os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    return fd
try:
    fd = deep()
    case('deep_mkdir_10000', 'OK')
except OSError as e:
    case('deep_mkdir_10000', errno.errorcode[e.errno])
    raise
bs = os.open('slot', os.O_CREAT | os.O_RDONLY, dir_fd=fd)
bc = os.open('slot', os.O_WRONLY, dir_fd=fd)
os.write(bc, b'from the bottom')
check('deep_slot_round_trip', os.read(bs, 100) == b'from the bottom')
os.close(bc); os.close(bs)
try_case('deep_path_beyond_path_max', os.stat, M + '/d' * 3000)
for i in range(DEPTH):
    up = os.open('..', os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = up
    os.rmdir('d', dir_fd=fd)
os.close(fd)
check('deep_rmdir_all', 'd' not in os.listdir(M))

# ---- writes
case('write_0_bytes', 'OK' if os.write(c, b'') == 0 else 'WRONG')
check('write_0_bytes_queues_nothing', count('target') == 0)
ceiling = 255 * 4096
try_case('write_ceiling_plus_1', os.write, c, b'w' * (ceiling + 1))
try_case('write_max_write_plus_1', os.write, c, b'w' * (256 * 4096 + 1))
try_case('write_16_mib', os.write, c, b'w' * (16 << 20))
check('oversized_writes_queue_nothing', count('target') == 0)

# ---- reads
os.write(c, b'ab')
try_case('read_1_byte_buffer_2_byte_message', os.read, s, 1)
check('read_1_byte_buffer_message_stays', count('target') == 1 and os.read(s, 2) == b'ab')
os.write(c, b'z')
check('read_1_byte_buffer_1_byte_message', os.read(s, 1) == b'z')
os.write(c, b'kept')
case('read_0_bytes', 'OK' if os.read(s, 0) == b'' else 'WRONG')
check('read_0_bytes_takes_nothing', count('target') == 1 and os.read(s, 4) == b'kept')
os.write(c, b'abcdefgh')
bufs = [bytearray(1) for _ in range(8)]
check('readv_8_one_byte_buffers', os.readv(s, bufs) == 8 and b''.join(bufs) == b'abcdefgh')
os.write(c, b'xyz')
small = ctypes.create_string_buffer(16)
case('read_count_2_pow_63', c_call(lambda: libc.read(s, small, 2 ** 63)))
check('read_count_2_pow_63_takes_nothing', count('target') == 1 and os.read(s, 3) == b'xyz')
try_case('read_through_client', os.read, c, 10)
try_case('write_through_rdonly_server', os.write, ro, b'x')

# ---- extended attributes
def setx(attr, value, flags=0):
    return os.setxattr(P('target'), 'user.mailslot.' + attr, value, flags)
for label, value in [('empty', b''), ('nul', b'\0'), ('word', b'soon'), ('minus_5', b'-5'), ('minus_1', b'-1'),
                     ('plus_5', b'+5'), ('hex', b'0x10'), ('leading_space', b' 5'), ('trailing_space', b'5 '),
                     ('exponent', b'1e3'), ('2_pow_32', b'4294967296'), ('2_pow_64', b'18446744073709551616'),
                     ('20_digits', b'9' * 20), ('not_utf8', b'\xff\xfe'), ('64_kib', b'1' * 65536),
                     ('64_kib_plus_1', b'1' * 65537)]:
    try_case('xattr_timeout_' + label, setx, 'read_timeout_ms', value)
try_case('xattr_size_minus_1', setx, 'max_message_size', b'-1')
try_case('xattr_size_ceiling_plus_1', setx, 'max_message_size', str(ceiling + 1).encode())
try_case('xattr_size_2_pow_64', setx, 'max_message_size', b'18446744073709551616')
try_case('xattr_size_garbage', setx, 'max_message_size', bytes(range(256)))
try_case('xattr_read_only_attribute', setx, 'message_count', b'0')
try_case('xattr_unknown_mailslot_name', setx, 'nope', b'1')
try_case('xattr_other_user_name', os.setxattr, P('target'), 'user.comment', b'1')
try_case('xattr_trusted', os.setxattr, P('target'), 'trusted.x', b'1')
try_case('xattr_security', os.setxattr, P('target'), 'security.x', b'1')
try_case('xattr_posix_acl_garbage', os.setxattr, P('target'), 'system.posix_acl_access', b'garbage')
try_case('xattr_flag_create', setx, 'read_timeout_ms', b'5', os.XATTR_CREATE)
try_case('xattr_flag_replace', setx, 'read_timeout_ms', b'forever', os.XATTR_REPLACE)
try_case('xattr_remove', os.removexattr, P('target'), 'user.mailslot.read_timeout_ms')
try_case('xattr_on_directory', os.setxattr, P('dir'), 'user.mailslot.read_timeout_ms', b'5')
one = ctypes.create_string_buffer(1)
case('xattr_get_1_byte_buffer', c_call(lambda: libc.getxattr(P('target').encode(), b'user.mailslot.read_timeout_ms', one, 1)))
case('xattr_list_1_byte_buffer', c_call(lambda: libc.listxattr(P('target').encode(), one, 1)))

# ---- open flags
os.write(c, b'stays')
try_case('open_trunc', lambda: os.close(os.open(P('target'), os.O_WRONLY | os.O_TRUNC)))
check('open_trunc_keeps_messages', count('target') == 1 and os.read(s, 10) == b'stays')
def open_write(flags, data):
    fd = os.open(P('target'), os.O_WRONLY | flags)
    os.write(fd, data)
    os.close(fd)
    assert os.read(s, 100) == data
try_case('open_append_and_write', open_write, os.O_APPEND, b'appended')
try_case('open_direct_and_write', open_write, os.O_DIRECT, b'direct')
try_case('open_directory_flag_on_slot', os.open, P('target'), os.O_RDONLY | os.O_DIRECTORY)
try_case('open_excl_existing', os.open, P('target'), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
try_case('open_rdwr_existing', os.open, P('target'), os.O_RDWR)
try_case('open_directory_for_writing', os.open, P('dir'), os.O_WRONLY)

# ---- mapping, seeking, sizes
def mapping(fd, prot, flags):
    return lambda: libc.mmap(None, 4096, prot, flags, fd, 0)
case('mmap_shared_server', c_call(mapping(s, mmap.PROT_READ, mmap.MAP_SHARED)))
case('mmap_shared_client_write', c_call(mapping(c, mmap.PROT_WRITE, mmap.MAP_SHARED)))
case('mmap_private_server', c_call(mapping(s, mmap.PROT_READ, mmap.MAP_PRIVATE)))
# A private mapping of the server handle would read through the page cache;
# page-cache reads never take a message, so the page is past the end of an
# empty file: touching it is SIGBUS (in a child), and both messages stay.
os.write(c, b'mapped'); os.write(c, b'next')
pid = os.fork()
if pid == 0:
    addr = libc.mmap(None, 4096, mmap.PROT_READ, mmap.MAP_PRIVATE, s, 0)
    ctypes.string_at(addr, 6)
    os._exit(0)
_, status = os.waitpid(pid, 0)
check('mmap_private_touch_is_sigbus_and_takes_nothing',
      os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGBUS
      and count('target') == 2 and os.read(s, 10) == b'mapped' and os.read(s, 10) == b'next')
try_case('lseek', os.lseek, c, 0, os.SEEK_SET)
try_case('pread', os.pread, s, 10, 0)
try_case('pwrite', os.pwrite, c, b'x', 0)
rw = os.open(P('target'), os.O_RDWR)
def rdwr_pwrites():
    assert os.pwrite(rw, b'at 4096', 4096) == 7
    assert os.pwrite(rw, b'at 0', 0) == 4
    assert os.read(s, 100) == b'at 4096' and os.read(s, 100) == b'at 0'
try_case('rdwr_client_pwrite_is_one_message', rdwr_pwrites)
try_case('rdwr_client_lseek', os.lseek, rw, 12345, os.SEEK_SET)
os.write(rw, b'left queued')
try_case('rdwr_client_pread', os.pread, rw, 100, 0)
try_case('rdwr_client_read', os.read, rw, 100)
case('rdwr_client_mmap_shared', c_call(mapping(rw, mmap.PROT_WRITE, mmap.MAP_SHARED)))
assert os.read(s, 100) == b'left queued'
os.close(rw)
case('fallocate', c_call(lambda: libc.fallocate(c, 0, 0, 4096)))
try_case('posix_fallocate', os.posix_fallocate, c, 0, 4096)
try_case('ftruncate_0', os.ftruncate, c, 0)
try_case('ftruncate_5', os.ftruncate, c, 5)
try_case('ftruncate_2_pow_62', os.ftruncate, c, 2 ** 62)
try_case('truncate_minus_1', os.truncate, P('target'), -1)
os.write(c, b'four')
check('ioctl_fionread', struct.unpack('<i', fcntl.ioctl(s, termios.FIONREAD, b'\0' * 4))[0] == 4)
os.read(s, 4)
try_case('ioctl_tcgets', fcntl.ioctl, s, termios.TCGETS, b'\0' * 64)

# ---- links and names
outside = os.path.join(os.path.dirname(M), 'outside-file')
open(outside, 'w').close()
try_case('link', os.link, P('target'), P('hard'))
try_case('link_from_outside', os.link, outside, P('hard'))
try_case('symlink', os.symlink, P('target'), P('soft'))
try_case('rename', os.rename, P('target'), P('renamed'))
try_case('rename_from_outside', os.rename, outside, P('renamed'))
try_case('unlink', os.unlink, P('target'))
try_case('unlink_directory', os.unlink, P('dir'))
try_case('rmdir_slot', os.rmdir, P('target'))
try_case('mknod_fifo', os.mkfifo, P('fifo'))
try_case('mknod_char_device', os.mknod, P('chr'), 0o600 | 0o020000, os.makedev(1, 3))

# ---- a stranger at root's slot
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    out = []
    out.append('stranger_chmod=%s' % outcome(os.chmod, P('target'), 0o666))
    out.append('stranger_chown=%s' % outcome(os.chown, P('target'), 65534, 65534))
    mine = server('strangers', os.O_RDONLY, 0o600)
    out.append('stranger_chown_own_slot_to_root=%s' % outcome(os.chown, P('strangers'), 0, 0))
    out.append('stranger_utime_explicit=%s' % outcome(os.utime, P('target'), (1, 1)))
    out.append('stranger_truncate=%s' % outcome(os.truncate, P('target'), 0))
    os.write(w, ('\n'.join(out) + '\n').encode())
    os._exit(0)
os.close(w)
print(os.read(r, 65536).decode().strip(), flush=True)
assert os.waitpid(pid, 0)[1] == 0
try_case('owner_chmod', os.chmod, P('target'), 0o622)

# ---- the slot made before all this still works
send('survivor', b'after')
assert os.read(survivor, 100) == b'before'
assert os.read(survivor, 100) == b'after'
print('survivor=OK')
"#;

#[test]
fn hostile_input_gets_defined_errnos_and_harms_nothing() {
    let m = Mount::with_args(&["--allow-other"]);
    let out = py_within(&m, "DEPTH = 10000\n", SCRIPT, Duration::from_secs(600));
    let got = figures(&out);
    let mut wrong = Vec::new();
    for (case, want) in EXPECTED {
        // One errno, two names: Python calls 95 ENOTSUP.
        match got.get(*case).map(|g| {
            if g == "ENOTSUP" {
                "EOPNOTSUPP"
            } else {
                g.as_str()
            }
        }) {
            Some(g) if g == *want => {}
            Some(g) => wrong.push(format!("{case}: expected {want}, got {g}")),
            None => wrong.push(format!("{case}: expected {want}, never reported")),
        }
    }
    let known: Vec<&str> = EXPECTED.iter().map(|(c, _)| *c).collect();
    for case in got.keys() {
        if !known.contains(&case.as_str()) && case != "survivor" {
            wrong.push(format!("{case}: reported but not in the table"));
        }
    }
    assert!(
        wrong.is_empty(),
        "hostile cases with another outcome than the table's:\n{}\n--- output\n{out}",
        wrong.join("\n")
    );
    assert_eq!(got.get("survivor").map(String::as_str), Some("OK"));
    util::assert_daemon_healthy(&m);
}

/// A command-line size too large for 64 bits is refused with one line, as
/// every other bad value is; it must not become 0 (every write refused) or
/// crash the start.
#[test]
fn a_size_past_64_bits_is_refused_at_start() {
    crate::common::require_fuse();
    let dir = tempfile::tempdir().unwrap();
    for opt in [
        "--max-queued-bytes",
        "--max-total-bytes",
        "--max-message-size",
    ] {
        let out = Command::new(BIN)
            .args(["--foreground", opt, "184467440737095516159"])
            .arg(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        // A value the command line refuses is a usage error: exit 2.
        assert_eq!(out.status.code(), Some(2), "{opt}: {err}");
        assert_eq!(err.lines().count(), 1, "{opt}: one clear line, got: {err}");
    }
}

/// A read timeout longer than the clock can count is either refused at
/// start or waits (as forever); it must not make every waiting read fail.
#[test]
fn an_absurd_read_timeout_never_fails_reads() {
    crate::common::require_fuse();
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("m");
    std::fs::create_dir(&mnt).unwrap();
    let log = dir.path().join("log");
    let mut daemon = Command::new(BIN)
        .args([
            "--foreground",
            "-v",
            "--read-timeout",
            "10000000000000000000s",
        ])
        .arg(&mnt)
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !is_mounted(&mnt) {
        if let Some(status) = daemon.try_wait().unwrap() {
            // Refused at start (a usage error): fine, if it says why in one line.
            let text = std::fs::read_to_string(&log).unwrap();
            assert_eq!(status.code(), Some(2), "{text}");
            assert_eq!(text.lines().count(), 1, "{text}");
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "never mounted");
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import os, sys, time, errno\n\
             s = os.open(sys.argv[1] + '/t', os.O_CREAT | os.O_RDONLY)\n\
             pid = os.fork()\n\
             if pid == 0:\n\
             \x20   time.sleep(0.5)\n\
             \x20   c = os.open(sys.argv[1] + '/t', os.O_WRONLY)\n\
             \x20   os.write(c, b'late')\n\
             \x20   os._exit(0)\n\
             try:\n\
             \x20   print(os.read(s, 100).decode())\n\
             except OSError as e:\n\
             \x20   print(errno.errorcode[e.errno])\n\
             os.waitpid(pid, 0)",
        )
        .arg(&mnt)
        .output()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let _ = daemon.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "late",
        "the waiting read failed: {out:?}\n{text}"
    );
    assert!(!text.contains("panic"), "{text}");
}
