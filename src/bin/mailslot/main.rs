//! mailslot: the command-line client of mailslotfs. `listen` is a server
//! (it creates the slot and prints what arrives), `send` is a client, `info`
//! and `ls` show GetMailslotInfo. Failures exit with a distinct status each,
//! listed in `--help` and in mailslot(1).

mod failure;
mod generate;
mod info;
mod listen;
mod mounted;
mod output;
mod send;
mod slot;
mod wine;
mod xattr;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use failure::{EXIT_CODES, Failure};

/// Where the filesystem is mounted when neither --mount nor the environment says.
const DEFAULT_MOUNT: &str = "/mailslot";
const MOUNT_ENV: &str = "MAILSLOT_MOUNT";

#[derive(Parser, Debug)]
#[command(
    name = "mailslot",
    version,
    about = "Listen on, send to and inspect mailslots (mailslotfs).",
    long_about = "Listen on, send to and inspect mailslots on a mailslotfs mount.\n\n\
                  A mailslot is created by one process, the server, which alone reads it; \
                  any process that knows its name sends whole messages into it. \
                  `mailslot listen` is such a server, `mailslot send` a client.",
    after_help = after_help(),
    propagate_version = true
)]
pub struct Cli {
    /// The mailslotfs mount point [default: $MAILSLOT_MOUNT, else /mailslot].
    #[arg(long, global = true, value_name = "DIR")]
    mount: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a slot, be its server, and print each message as it arrives.
    #[command(after_help = LISTEN_HELP)]
    Listen(ListenArgs),
    /// Send messages to a slot: each argument, each line of stdin, or stdin whole.
    #[command(after_help = SEND_HELP)]
    Send(SendArgs),
    /// Show a slot's GetMailslotInfo fields.
    Info(InfoArgs),
    /// List the slots under the mount (or under one directory of it) with their counts.
    Ls(LsArgs),
    /// Point a Wine prefix's \\.\mailslot\ and \\NAME\mailslot\ paths at the mount,
    /// so Windows programs under Wine write to mailslotfs.
    #[command(after_help = WINE_HELP)]
    Wine(WineArgs),
    /// Write man pages and shell completions into DIR/man and DIR/completions.
    #[command(hide = true)]
    Generate(GenerateArgs),
}

#[derive(Args, Debug)]
pub struct ListenArgs {
    /// The slot: jobs, dir/jobs or \\.\mailslot\dir\jobs.
    pub name: String,

    /// Read timeout of the slot: stop (exit 0) once no message came for this long.
    /// Milliseconds, a duration (2s, 500ms) or `forever` [default: the mount's].
    #[arg(long, short = 't', value_name = "MS", value_parser = parse_timeout)]
    pub timeout: Option<mailslotfs::cli::Timeout>,

    /// Stop (exit 0) after this many messages.
    #[arg(long, short = 'n', value_name = "N")]
    pub count: Option<u64>,

    /// How each message is printed.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Lines)]
    pub format: Format,

    /// Largest message the slot accepts [default: the mount's].
    #[arg(long, value_name = "SIZE", value_parser = mailslotfs::cli::parse_size)]
    pub max_message_size: Option<usize>,

    /// Permission bits of the new slot, in octal, exactly (the umask does
    /// not apply). The default, 666, lets every user send, and other
    /// machines too when the mount's network side is on, as on Windows;
    /// 600 lets only you send [default: 666].
    #[arg(long, value_name = "OCTAL", value_parser = parse_mode)]
    pub mode: Option<u32>,

    /// Only your own processes may send (mode 600): closed to other users
    /// and to the network.
    #[arg(long, conflicts_with_all = ["mode", "network"])]
    pub private: bool,

    /// Open to other users and machines: the default, kept for scripts
    /// written when it was not.
    #[arg(long, hide = true, conflicts_with = "mode")]
    pub network: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The bytes as they are, nothing between messages.
    Raw,
    /// One message a line; see below for the escaping.
    Lines,
    /// One JSON object a line: {"size":N,"text":"..."} or {"size":N,"base64":"..."}.
    Json,
    /// Each message followed by a NUL byte.
    Nul,
}

#[derive(Args, Debug)]
pub struct SendArgs {
    /// The slot: jobs, dir/jobs, \\.\mailslot\dir\jobs; on other machines
    /// \\HOST\mailslot\jobs, \\DOMAIN\mailslot\jobs, \\*\mailslot\jobs,
    /// \\DOMAIN<1C>\mailslot\net\netlogon, or @HOST/jobs, @@DOMAIN/jobs, @@/jobs.
    pub name: String,

    /// \\NAME\mailslot\... names a domain (or workgroup): the message goes to
    /// every host in it. [default: only for the mount's own workgroup and
    /// group types such as <1C>]
    #[arg(long, conflicts_with = "computer")]
    pub domain: bool,

    /// \\NAME\mailslot\... names one computer, even if it is spelled like the
    /// mount's workgroup.
    #[arg(long)]
    pub computer: bool,

    /// Messages, one per argument. Without any, stdin is read.
    pub messages: Vec<OsString>,

    /// Send each line of stdin as one message (without its newline; empty lines are skipped).
    #[arg(long, short = 'l', conflicts_with_all = ["messages", "nul"])]
    pub lines: bool,

    /// Send each NUL-terminated record of stdin as one message (what `listen --format nul` prints).
    #[arg(long, short = '0', conflicts_with = "messages")]
    pub nul: bool,
}

#[derive(Args, Debug)]
pub struct WineArgs {
    /// The Wine prefix [default: $WINEPREFIX, else ~/.wine].
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<PathBuf>,

    /// A computer whose \\HOST\mailslot\... Windows programs write to
    /// (repeatable). This computer's own name is always mapped, to the
    /// local slots.
    #[arg(long = "host", value_name = "NAME")]
    pub hosts: Vec<String>,

    /// A domain or workgroup whose \\DOMAIN\mailslot\... Windows
    /// programs write to (repeatable) [default: the mount's workgroup,
    /// when its network side is on].
    #[arg(long = "domain", value_name = "NAME")]
    pub domains: Vec<String>,

    /// Remove the links these options name instead of making them.
    #[arg(long)]
    pub remove: bool,
}

const WINE_HELP: &str = "\
Makes $WINEPREFIX/dosdevices/mailslot and dosdevices/unc/NAME/mailslot links
into the mount, and prints each. Run it in an existing prefix (after any Wine
program has run once there, or `wineboot -i`); run it again to add names.
Under Wine, \\\\*\\mailslot\\x cannot work (Wine refuses the name), and
CreateMailslot stays inside Wine: Windows programs are clients here, servers
are Linux processes. See docs/wine.md.";

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The slot: jobs, dir/jobs or \\.\mailslot\dir\jobs.
    pub name: String,

    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// A directory of the mount to list [default: all of it].
    pub dir: Option<String>,

    /// One JSON object a line instead of columns.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Output directory; man pages go to DIR/man, completions to DIR/completions/{bash,zsh,fish}.
    pub dir: PathBuf,
}

const LISTEN_HELP: &str = "\
Formats:
  lines  One message a line. A backslash is written as \\\\ and a newline inside the
         message as \\n; one newline at the very end of a message is dropped (echo adds
         one). `printf '%b\\n' \"$m\"` restores such a line. Other bytes pass unchanged.
  json   {\"size\":5,\"text\":\"hello\"} when the message is UTF-8, else
         {\"size\":N,\"base64\":\"...\"}. Exact, one object a line.
  nul    The bytes, then a NUL. Exact unless a message holds a NUL itself.
  raw    The bytes, nothing between messages.
Output is flushed after every message, so `mailslot listen jobs | while read -r m; do ...; done`
sees each message as it arrives. Directories in the name are created as needed
(CreateMailslot needs none). The slot goes away when listen ends; messages still
queued then are lost. A reader of the output that goes away ends listen (exit 0).
Exit status: see `mailslot --help`.";

const SEND_HELP: &str = "\
Every message is one write(2), so the server reads it whole. Empty messages cannot
be sent (a zero-length write never reaches the filesystem): an empty argument is an
error, empty lines with --lines are skipped. Lines are sent as they arrive, so
`tail -f log | mailslot send --lines jobs` forwards each line at once.
Names on other machines need the mount's network side (mailslotfs --interface).
Each message is then one datagram; nobody confirms it, so success means it left.
The largest message depends on the target and the mailslot name (424 bytes or less
to a domain, 402 to \\\\DOMAIN<1C>\\mailslot\\net\\netlogon; see docs/network.md):
a larger one is refused (exit 5) and nothing is sent. The directories of such a name
(net in \\\\DC\\mailslot\\net\\netlogon) are made in the mount as needed.
Exit status: see `mailslot --help`.";

fn after_help() -> String {
    let mut s = String::from(
        "Names: jobs, dir/jobs or \\\\.\\mailslot\\dir\\jobs (the Windows form; the prefix is \
         case-insensitive, like slot names); `send` also takes names on other machines \
         (\\\\HOST\\mailslot\\jobs, \\\\*\\mailslot\\jobs, @HOST/jobs). The mount point is \
         --mount, else $MAILSLOT_MOUNT, else /mailslot.\n\nExit status:\n",
    );
    for (code, meaning) in EXIT_CODES {
        s.push_str(&format!("  {code}  {meaning}\n"));
    }
    s.pop();
    s
}

fn parse_timeout(s: &str) -> Result<mailslotfs::cli::Timeout, String> {
    mailslotfs::cli::parse_timeout(s)
}

fn parse_mode(s: &str) -> Result<u32, String> {
    let mode = u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .map_err(|_| format!("'{s}' is not an octal mode such as 622"))?;
    if mode > 0o777 {
        return Err(format!(
            "'{s}': a slot's mode has permission bits only (at most 777)"
        ));
    }
    Ok(mode)
}

impl Cli {
    fn mount_point(&self) -> PathBuf {
        self.mount
            .clone()
            .or_else(|| {
                std::env::var_os(MOUNT_ENV)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MOUNT))
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let mount = cli.mount_point();
    match &cli.command {
        Command::Listen(args) => listen::run(&mount, args),
        Command::Send(args) => send::run(&mount, args),
        Command::Info(args) => info::info(&mount, args),
        Command::Ls(args) => info::ls(&mount, args),
        Command::Wine(args) => wine::run(&mount, args),
        Command::Generate(args) => generate::run(&args.dir),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("mailslot: {failure}");
            ExitCode::from(failure.code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("622"), Ok(0o622));
        assert_eq!(parse_mode("0622"), Ok(0o622));
        assert!(parse_mode("1777").is_err());
        assert!(parse_mode("9").is_err());
    }
}
