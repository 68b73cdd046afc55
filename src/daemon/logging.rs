//! Log output: stderr in the foreground, syslog (the journal under systemd)
//! when daemonized.

use log::LevelFilter;

pub fn init(foreground: bool, level: LevelFilter) {
    if !foreground {
        let formatter = syslog::Formatter3164 {
            facility: syslog::Facility::LOG_DAEMON,
            hostname: None,
            process: "mailslotfs".into(),
            pid: std::process::id(),
        };
        if let Ok(logger) = syslog::unix(formatter) {
            let boxed = Box::new(syslog::BasicLogger::new(logger));
            if log::set_boxed_logger(boxed).is_ok() {
                log::set_max_level(level);
                return;
            }
        }
    }
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("MAILSLOTFS_LOG")
        .format_target(false)
        .init();
}
