//! `mailslot generate DIR`: man pages and shell completions for `mailslot`
//! and `mailslotfs`, made from the same clap definitions that parse their
//! command lines, so they cannot drift apart. Packaging runs this first.

use std::fs;
use std::path::Path;

use clap::{ArgAction, Command, CommandFactory};
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};

use crate::Cli;
use crate::failure::{EXIT_CODES, Failure};

pub fn run(dir: &Path) -> Result<(), Failure> {
    write_all(dir).map_err(|e| {
        Failure::Other(format!(
            "writing into {}: {}",
            dir.display(),
            mailslotfs::cli::error_text(&e)
        ))
    })
}

fn write_all(dir: &Path) -> std::io::Result<()> {
    let man = dir.join("man");
    fs::create_dir_all(&man)?;

    let mailslot = without_after_help(Cli::command()).disable_help_subcommand(true);
    let mut built = mailslot.clone();
    built.build();
    let usage = synopsis(&built, &[]);
    write_page(
        &man,
        mailslot.override_usage(usage),
        "1",
        mailslot_sections(),
    )?;
    for sub in built.get_subcommands().filter(|s| !s.is_hide_set()) {
        let usage = synopsis(sub, &["mailslot"]);
        write_page(
            &man,
            without_after_help(sub.clone()).override_usage(usage),
            "1",
            sub_sections(sub.get_name()),
        )?;
    }

    let mut daemon = mailslotfs::cli::Options::command();
    daemon.build();
    let notes: Vec<String> = daemon
        .get_after_help()
        .map(|h| h.to_string().lines().map(str::to_owned).collect())
        .unwrap_or_default();
    let usage = format!(
        "{}\nmailslotfs --stop MOUNTPOINT\nmount -t fuse.mailslotfs mailslotfs MOUNTPOINT [-o OPTIONS]",
        synopsis(&daemon, &[])
    );
    write_page(
        &man,
        without_after_help(daemon).override_usage(usage),
        "8",
        daemon_sections(&notes),
    )?;

    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let out = dir.join("completions").join(shell.to_string());
        fs::create_dir_all(&out)?;
        for mut cmd in [
            without_hidden_subcommands(Cli::command()),
            mailslotfs::cli::Options::command(),
        ] {
            let name = cmd.get_name().to_string();
            let file = match shell {
                // bash-completion looks completions up by the command's name.
                Shell::Bash => name.clone(),
                Shell::Zsh => format!("_{name}"),
                _ => format!("{name}.fish"),
            };
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, &name, &mut text);
            fs::write(out.join(file), text)?;
        }
    }
    Ok(())
}

/// The command with its hidden subcommands (`generate`) left out, for the
/// completions, which would otherwise offer them: clap can hide a
/// subcommand from help but has no way to take one out.
fn without_hidden_subcommands(cmd: Command) -> Command {
    // Unbuilt, the command has no --help, --version or help subcommand yet:
    // the copy gets its own, which name only the visible subcommands.
    let mut out = Command::new("mailslot").version(env!("CARGO_PKG_VERSION"));
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    for arg in cmd.get_arguments() {
        out = out.arg(arg.clone());
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out = out.subcommand(sub.clone());
    }
    out
}

/// The synopsis line clap_mangen would write, but with every option's value
/// named (`[--max-message-size SIZE]`, where it writes `[--max-message-size]`).
fn synopsis(cmd: &Command, parents: &[&str]) -> String {
    let mut words: Vec<String> = parents.iter().map(|p| p.to_string()).collect();
    words.push(cmd.get_name().to_string());
    for arg in cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
    {
        let flag = match (arg.get_short(), arg.get_long()) {
            (Some(s), Some(l)) => format!("-{s}|--{l}"),
            (Some(s), None) => format!("-{s}"),
            (None, Some(l)) => format!("--{l}"),
            (None, None) => continue,
        };
        let value = if arg.get_action().takes_values() {
            let names = arg
                .get_value_names()
                .map(|v| v.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
            format!(" {names}")
        } else {
            String::new()
        };
        let repeats = matches!(arg.get_action(), ArgAction::Append | ArgAction::Count);
        words.push(format!(
            "[{flag}{value}]{}",
            if repeats { "..." } else { "" }
        ));
    }
    for arg in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let name = arg
            .get_value_names()
            .and_then(|v| v.first())
            .map_or_else(|| arg.get_id().as_str().to_uppercase(), |n| n.to_string());
        let repeats = matches!(arg.get_action(), ArgAction::Append);
        let dots = if repeats { "..." } else { "" };
        words.push(if arg.is_required_set() {
            format!("{name}{dots}")
        } else {
            format!("[{name}]{dots}")
        });
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        words.push("COMMAND".into());
    }
    words.join(" ")
}

/// clap_mangen would print the after-help text as one filled paragraph;
/// the pages get it as proper sections instead.
fn without_after_help(cmd: Command) -> Command {
    cmd.after_help(None::<&str>).after_long_help(None::<&str>)
}

fn write_page(dir: &Path, cmd: Command, section: &str, extra: Roff) -> std::io::Result<()> {
    let man = Man::new(cmd)
        .section(section)
        .source(concat!("mailslotfs ", env!("CARGO_PKG_VERSION")))
        .manual("mailslotfs");
    let mut page = Vec::new();
    man.render(&mut page)?;
    extra.to_writer(&mut page)?;
    fs::write(dir.join(man.get_filename()), page)
}

fn paragraph(roff: &mut Roff, text: &str) {
    roff.control("PP", []).text([roman(text)]);
}

fn item(roff: &mut Roff, tag: &str, text: &str) {
    roff.control("TP", []).text([bold(tag)]).text([roman(text)]);
}

fn example(roff: &mut Roff, lines: &[&str]) {
    roff.control("PP", [])
        .control("nf", [])
        .control("RS", ["4"]);
    for line in lines {
        roff.text([roman(*line)]);
    }
    roff.control("RE", []).control("fi", []);
}

fn mailslot_sections() -> Roff {
    let mut r = Roff::new();
    r.control("SH", ["NAMES"]);
    paragraph(
        &mut r,
        "A slot is named as jobs, dir/jobs, or in the Windows form \\\\.\\mailslot\\dir\\jobs \
         (the prefix is case-insensitive, as are slot names). Names are looked up below the \
         mount point.",
    );
    r.control("SH", ["ENVIRONMENT"]);
    item(
        &mut r,
        "MAILSLOT_MOUNT",
        "The mailslotfs mount point when --mount is not given; /mailslot when neither is.",
    );
    r.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in EXIT_CODES {
        item(&mut r, &code.to_string(), meaning);
    }
    r.control("SH", ["EXAMPLES"]);
    example(
        &mut r,
        &[
            "mailslot listen jobs | while read -r m; do echo \"got $m\"; done",
            "mailslot send jobs 'first job' 'second job'",
            "printf 'a\\nb\\n' | mailslot send --lines jobs",
            "mailslot listen --format json --count 1 --timeout 5000 jobs",
            "mailslot info '\\\\.\\mailslot\\jobs'",
            "mailslot ls",
        ],
    );
    see_also(&mut r, &["mailslotfs(8)", "getfattr(1)", "setfattr(1)"]);
    r
}

fn sub_sections(name: &str) -> Roff {
    let mut r = Roff::new();
    match name {
        "listen" => {
            r.control("SH", ["FORMATS"]);
            item(
                &mut r,
                "lines",
                "One message a line. A backslash is written as \\\\ and a newline inside the \
                 message as \\n; one newline at the very end of a message is dropped, since \
                 echo adds one. printf '%b\\n' \"$m\" restores such a line. Other bytes pass \
                 unchanged.",
            );
            item(
                &mut r,
                "json",
                "One object a line: {\"size\":5,\"text\":\"hello\"} when the message is UTF-8, \
                 else {\"size\":N,\"base64\":\"...\"}.",
            );
            item(
                &mut r,
                "nul",
                "The bytes of each message followed by a NUL byte (read them back with \
                 mailslot send --nul, or xargs -0).",
            );
            item(
                &mut r,
                "raw",
                "The bytes as they are, nothing between messages.",
            );
            paragraph(
                &mut r,
                "Output is flushed after every message. The read buffer is the slot's \
                 max_message_size, so no message is ever too large to read. The slot, and \
                 whatever is still queued in it, goes away when listen ends.",
            );
        }
        "send" => {
            paragraph(
                &mut r,
                "Every message is one write(2), which the server reads whole. A zero-length \
                 write never reaches the filesystem, so empty messages cannot be sent: an \
                 empty argument is an error, empty lines with --lines are skipped.",
            );
        }
        _ => {}
    }
    r.control("SH", ["EXIT STATUS"]);
    paragraph(&mut r, "As listed in mailslot(1).");
    see_also(&mut r, &["mailslot(1)", "mailslotfs(8)"]);
    r
}

fn daemon_sections(notes: &[String]) -> Roff {
    use mailslotfs::core::xattr::Attribute;
    let mut r = Roff::new();
    r.control("SH", ["BEHAVIOUR"]);
    paragraph(
        &mut r,
        "A mailslot is a file in memory. The process that creates it (open(2) with O_CREAT \
         and O_RDONLY or O_RDWR) is its server and alone reads it; the descriptor it gets is \
         the server handle, and passes on like any open file description (fork(2), \
         SCM_RIGHTS). Every other open of an existing slot, O_WRONLY, O_RDWR (as Windows \
         code asking GENERIC_READ|GENERIC_WRITE, and every CreateFile under Wine, opens it), \
         O_RDONLY, or O_CREAT without O_EXCL, is a client: it writes, and a read through it \
         fails with EACCES. A write-only open never creates (ENOENT); O_CREAT|O_EXCL on an \
         existing name fails with EEXIST. Clients opened with read access are seekable, so \
         pwrite(2) and overlapped WriteFile under Wine send one message, the offset ignored.",
    );
    paragraph(
        &mut r,
        "Every write(2) is one whole message and every read(2) takes one whole message, \
         oldest first; messages are never merged or split. A read with too small a buffer \
         fails with EMSGSIZE and leaves the message queued. A file copied in with cp(1) or \
         cat(1) arrives as many messages, one per write those programs make (128 KiB or \
         4 KiB pieces); mailslot send NAME < FILE sends a file as one message. A zero-length \
         write never reaches the filesystem, so there are no empty messages.",
    );
    paragraph(
        &mut r,
        "A read of an empty slot waits for as long as the slot's read timeout (default: \
         forever), then returns 0, end of file; with O_NONBLOCK it fails with EAGAIN. Any \
         signal with a handler, and SIGKILL, ends a waiting read at once (EINTR, also \
         under SA_RESTART) and consumes nothing; a waiting reader holds no thread or \
         descriptor of the daemon. poll(2), select(2) and epoll(7) work on the server \
         handle.",
    );
    paragraph(
        &mut r,
        "When the server's open file description is released the slot leaves the directory \
         at once, with everything queued in it; clients still holding it get EPIPE. Names \
         compare case-insensitively, must be UTF-8 without control characters or \\, and \
         directories (mkdir(2)) build the \\\\.\\mailslot\\path\\name hierarchy. rm and mv \
         of a slot fail with EPERM.",
    );
    paragraph(
        &mut r,
        "Limits: a message is at most (fs.fuse.max_pages_limit - 1) pages (1044480 bytes by \
         default) and at most the slot's max_message_size (EMSGSIZE beyond); a slot holds at \
         most --max-queued-bytes and the mount at most --max-total-bytes, every message \
         counting its length plus 16 bytes (ENOSPC beyond; nothing is ever dropped). Per \
         user (root and the mount's owner excepted, who also keep 5 % of --max-total-bytes \
         in reserve): bytes queued, charged to the writer (--max-user-bytes, default an \
         eighth of --max-total-bytes), open slots (--max-user-slots, 1024), directories \
         made (--max-user-dirs, 1024), waiting reads (--max-user-waiting-reads, 1024) and \
         writes waiting for a name resolution (--max-user-resolutions, 16); EDQUOT beyond. \
         The figures are in the user.mailslot.users attribute of the mount root. The \
         directory net exists from the start; no slot can take it. With \
         --allow-other every user may use the mount; the kernel checks permissions, the root \
         is mode 1777, and a slot's mode comes from the create call and the umask. A public \
         slot is mode 666: on a mailslot the read bit means \"may open it as a client\", \
         since only the server handle ever reads, and only the slot's owner and root may \
         read its sender attributes. mailslot listen makes 666 slots unless told otherwise.",
    );
    r.control("SH", ["MOUNT OPTIONS"]);
    paragraph(
        &mut r,
        "-o takes the long options by their names with underscores (max_message_size=SIZE, \
         read_timeout=TIME, max_queued_bytes=SIZE, max_total_bytes=SIZE, max_user_bytes=SIZE, \
         max_user_slots=N, max_user_dirs=N, max_user_waiting_reads=N, \
         max_user_resolutions=N, threads=N, \
         log_file=FILE, allow_other, interface=IFACE, address=IPV4, broadcast=IPV4, \
         netbios_name=NAME, workgroup=NAME, dgram_port=PORT, name_port=PORT, \
         host=NAME=IPV4, datagram_limit=LIMIT, wins=IPV4, name_ttl=SECONDS, samba=MODE, \
         samba_socket_dir=DIR). Options mount(8) passes that mean nothing here (rw, defaults, \
         nosuid, nodev, noexec, noatime, relatime, nofail, _netdev, user, x-*, ...) are \
         accepted and ignored; ro is refused. An -o option that disagrees with a flag on the \
         same command line is refused; among -o options the last one wins.",
    );
    r.control("SH", ["NETWORK"]);
    paragraph(
        &mut r,
        "Off unless --interface or --address is given. Then mailslotfs speaks the Remote \
         Mailslot Protocol (NetBIOS datagrams, UDP 138) and the NetBIOS name service (UDP \
         137): once the mount is up it registers its computer name (<00>, <03>, <20>) \
         and its workgroup's <00> and <1E> groups, on the segment or with each --wins \
         server; a name another node holds is put in conflict (not answered, takes no \
         datagrams, one log line naming the holder, shown in user.mailslot.net.names, \
         registered again every 5 minutes) while the mount and the other names go on; \
         it defends its names, answers node status (nmblookup -A), \
         refreshes WINS registrations at half their TTL and releases its names at a clean \
         stop. Computer names resolve through --host, then WINS, then broadcast; domain \
         writes stay on the segment. Details: docs/network.md.",
    );
    r.control("SH", ["MOUNTING"]);
    paragraph(
        &mut r,
        "mount(8) and /etc/fstab mount mailslotfs through fuse3's mount.fuse3, which runs \
         mailslotfs SOURCE MOUNTPOINT -o OPTIONS; SOURCE may be anything and the mount shows \
         mailslotfs as its source. Asked to mount where a mailslotfs mount already is, in \
         that form, the daemon exits 0 and prints nothing, as mount -a does for a mounted \
         entry.",
    );
    r.control("SH", ["EXTENDED ATTRIBUTES"]);
    paragraph(
        &mut r,
        "GetMailslotInfo and SetMailslotInfo are extended attributes of a slot, read with \
         getfattr(1) or getxattr(2), values in decimal ASCII:",
    );
    for a in Attribute::ALL {
        let text = match a {
            Attribute::MaxMessageSize => {
                "The largest message the slot takes. Settable by the slot's owner; 0 means any \
                 size the mount carries (CreateMailslot's 0) and reads back 0."
            }
            Attribute::NextMessageSize => {
                "Size of the oldest queued message; -1 when none \
                 (MAILSLOT_NO_MESSAGE)."
            }
            Attribute::MessageCount => "Messages queued.",
            Attribute::QueuedBytes => {
                "Bytes of payload queued (each message is charged 16 bytes more against the limits)."
            }
            Attribute::ReadTimeoutMs => {
                "How long a read waits on an empty slot, in milliseconds, or forever. \
                 Settable by the slot's owner: milliseconds, a duration (2s, 500ms), forever, \
                 -1 or 4294967295 (MAILSLOT_WAIT_FOREVER); at most 4294967294 ms."
            }
            Attribute::WaitingReaders => {
                "Reads waiting for a message now (not part of GetMailslotInfo; for \
                 operators)."
            }
            Attribute::NextSender => {
                "Who sent the oldest queued message: `local uid=U gid=G pid=P` (P is the \
                 writing thread; 0 when it is in a PID namespace the daemon cannot see), \
                 `network address=A:PORT name=NAME<xx>` for a datagram, or `none`."
            }
            Attribute::LastSender => {
                "Who sent the message a read took last, in the same form; `none` before \
                 the first."
            }
        };
        item(&mut r, a.name(), text);
    }
    paragraph(
        &mut r,
        "The mount root has user.mailslot.daemon_pid, the daemon's process id (used by \
         --stop), and with the network side on the user.mailslot.net.* counters.",
    );
    r.control("SH", ["ERRORS"]);
    for (errno, text) in [
        (
            "ENOENT",
            "open or write of a slot nobody created; a write-only O_CREAT.",
        ),
        (
            "EEXIST",
            "O_CREAT|O_EXCL or mkdir(2) on an existing name, in any case.",
        ),
        (
            "EACCES",
            "read through a client handle; an open the slot's mode does not allow; another \
             user's getxattr of a sender attribute.",
        ),
        (
            "EBADF",
            "read through a write-only handle; write through a read-only one.",
        ),
        (
            "EMSGSIZE",
            "a message over the slot's or the mount's maximum; a read buffer smaller than the next message.",
        ),
        (
            "ENOSPC",
            "the slot's or the mount's queue limit would pass, or too many names are being resolved; nothing was queued.",
        ),
        (
            "EDQUOT",
            "the caller's per-user limit (bytes, slots, directories, waiting reads, name resolutions) would pass.",
        ),
        ("EAGAIN", "O_NONBLOCK read of an empty slot."),
        ("EINTR", "a waiting read ended by a signal."),
        ("EPIPE", "write after the server closed the slot."),
        (
            "EPERM",
            "rm or mv of a slot; setxattr by anyone but the owner, or of a read-only attribute.",
        ),
        ("EINVAL", "an invalid name or attribute value."),
        (
            "ENOTCONN",
            "the daemon is stopping; waiting readers get it when it stops.",
        ),
    ] {
        item(&mut r, errno, text);
    }
    paragraph(
        &mut r,
        "Every refusal is logged at debug level (-v) with the slot's path and the reason.",
    );
    r.control("SH", ["LOGGING"]);
    paragraph(
        &mut r,
        "With --log-file FILE the log is appended to FILE. Otherwise, daemonized, it goes \
         to syslog (facility daemon, tag mailslotfs); where nothing listens on /dev/log (a \
         container, say) it goes to /var/log/mailslotfs.log (for other users than root \
         $XDG_STATE_HOME/mailslotfs.log), and the daemon says so on stderr before it \
         detaches. With --foreground it goes to stderr, timestamped, except under systemd, \
         where stderr is the journal: there lines carry journal priorities and no timestamps \
         (journalctl -u mailslotfs). -v adds debug lines, -vv trace; -q keeps warnings only, \
         -qq errors only.",
    );
    r.control("SH", ["STOPPING"]);
    paragraph(
        &mut r,
        "umount(8) or fusermount3 -u stop the daemon cleanly while no slot is open. While a \
         server holds a slot, umount(8) says \"target is busy\": mailslotfs --stop MOUNTPOINT \
         (or systemctl stop mailslotfs under systemd) sends the daemon SIGTERM, which \
         detaches the mount, answers waiting readers with ENOTCONN, and exits 0; --stop \
         returns once it has. SIGINT and SIGHUP do the same. If the daemon dies, even by \
         SIGKILL, a watcher process it forked at start unmounts the dead mount, so the mount \
         point never stays behind as \"Transport endpoint is not connected\".",
    );
    r.control("SH", ["EXIT STATUS"]);
    for note in notes.iter().filter(|n| n.starts_with("Exit status")) {
        paragraph(&mut r, note);
    }
    r.control("SH", ["NOTES"]);
    for note in notes.iter().filter(|n| !n.starts_with("Exit status")) {
        paragraph(&mut r, note);
    }
    paragraph(
        &mut r,
        "A non-zero fs.fuse.default_request_timeout sysctl makes the kernel abort the whole \
         mount when a request waits longer, and a read on an empty slot is such a request: \
         leave it at 0, or give slots a read timeout below it.",
    );
    r.control("SH", ["FILES"]);
    item(&mut r, "/mailslot", "The usual mount point.");
    item(
        &mut r,
        "/etc/fstab",
        "mailslotfs  /mailslot  fuse.mailslotfs  allow_other  0  0 mounts it at boot.",
    );
    item(
        &mut r,
        "mailslotfs.service",
        "The systemd unit (Type=notify: ready once the mount answers).",
    );
    item(
        &mut r,
        "/var/log/mailslotfs.log",
        "The log when daemonized without syslog and without --log-file.",
    );
    item(
        &mut r,
        "/dev/fuse",
        "The FUSE device; the fuse module must be loaded.",
    );
    item(
        &mut r,
        "/proc/sys/fs/fuse/max_pages_limit",
        "Sets the largest message the mount can carry whole.",
    );
    r.control("SH", ["EXAMPLES"]);
    example(
        &mut r,
        &[
            "mkdir -p /mailslot && mailslotfs --allow-other /mailslot",
            "mount -t fuse.mailslotfs mailslotfs /mailslot -o allow_other,read_timeout=5s",
            "mailslotfs --stop /mailslot",
            "exec 3<>/mailslot/demo; echo hello > /mailslot/demo; timeout 1 cat <&3",
            "setfattr -n user.mailslot.read_timeout_ms -v 2s /mailslot/demo",
            "getfattr -d -m user.mailslot /mailslot/demo",
        ],
    );
    see_also(
        &mut r,
        &[
            "mailslot(1)",
            "mount(8)",
            "mount.fuse3(8)",
            "fusermount3(1)",
            "getfattr(1)",
            "setfattr(1)",
        ],
    );
    r
}

fn see_also(r: &mut Roff, pages: &[&str]) {
    r.control("SH", ["SEE ALSO"]);
    let mut inlines = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        if i > 0 {
            inlines.push(roman(", "));
        }
        let (name, section) = page.split_once('(').unwrap_or((page, ""));
        inlines.push(italic(name));
        inlines.push(roman(format!("({section}")));
    }
    r.text(inlines);
}
