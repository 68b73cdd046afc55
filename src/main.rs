fn main() -> std::process::ExitCode {
    mailslotfs::daemon::main()
}
