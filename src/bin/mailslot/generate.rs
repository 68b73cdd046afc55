//! `mailslot generate DIR`: man pages and shell completions for `mailslot`
//! and `mailslotfs`, made from the same clap definitions that parse their
//! command lines, so they cannot drift apart. Packaging runs this first.

use std::fs;
use std::path::Path;

use clap::{Command, CommandFactory};
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
    write_page(&man, mailslot.clone(), "1", mailslot_sections())?;
    let mut built = mailslot.clone();
    built.build();
    for sub in built.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_page(
            &man,
            without_after_help(sub.clone()),
            "1",
            sub_sections(sub.get_name()),
        )?;
    }

    let daemon = mailslotfs::cli::Options::command();
    let notes: Vec<String> = daemon
        .get_after_help()
        .map(|h| h.to_string().lines().map(str::to_owned).collect())
        .unwrap_or_default();
    write_page(
        &man,
        without_after_help(daemon),
        "8",
        daemon_sections(&notes),
    )?;

    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let out = dir.join("completions").join(shell.to_string());
        fs::create_dir_all(&out)?;
        for mut cmd in [Cli::command(), mailslotfs::cli::Options::command()] {
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
    let mut r = Roff::new();
    r.control("SH", ["NOTES"]);
    for note in notes {
        paragraph(&mut r, note);
    }
    r.control("SH", ["EXAMPLES"]);
    example(
        &mut r,
        &[
            "mailslotfs --allow-other /mailslot",
            "mount -t fuse.mailslotfs mailslotfs /mailslot -o allow_other",
            "mailslotfs  /mailslot  fuse.mailslotfs  allow_other,read_timeout=forever  0  0",
        ],
    );
    paragraph(
        &mut r,
        "The last line is for /etc/fstab. The daemon stops, unmounting, on umount(8), \
         SIGTERM, SIGINT or SIGHUP. Under systemd the unit mailslotfs.service \
         (Type=notify) is ready once the mount answers.",
    );
    r.control("SH", ["FILES"]);
    item(
        &mut r,
        "/sbin/mount.fuse.mailslotfs",
        "The helper through which mount(8) and /etc/fstab mount mailslotfs.",
    );
    see_also(
        &mut r,
        &["mailslot(1)", "mount(8)", "fusermount3(1)", "getfattr(1)"],
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
