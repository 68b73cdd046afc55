//! Seeing whether a blocked reader has a signal waiting for it.
//!
//! fuser answers FUSE_INTERRUPT with ENOSYS, after which the kernel stops
//! sending interrupts and waits for the daemon's reply even when the caller
//! is killed. So the daemon looks for itself: the FUSE request names the
//! caller's thread, and `/proc/<tid>/status` shows that thread's pending and
//! blocked signals. A reader with a signal it will act on is answered EINTR
//! (see docs/interrupts.md for the whole argument).

use std::fs::File;
use std::os::unix::fs::FileExt;

/// The signal lines of one `/proc/<tid>/status` reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignalState {
    pub threads: u64,
    pub thread_pending: u64,
    pub process_pending: u64,
    pub blocked: u64,
}

/// What a reading means for a blocked reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing pending that the thread will act on.
    Calm,
    /// A signal aimed at this thread (SIGKILL and every fatal signal end up
    /// here, as the kernel turns them into a SIGKILL per thread), or a
    /// process-wide one in a single-threaded process.
    Interrupt,
    /// A process-wide signal in a multi-threaded process: another thread may
    /// take it, so only a signal still pending at the next look interrupts.
    MaybeElsewhere,
    /// The thread is gone; it can take nothing, so it counts as interrupted.
    Gone,
}

impl Verdict {
    /// Whether a waiting reader with this verdict must be answered EINTR now.
    pub fn interrupts(self) -> bool {
        matches!(self, Verdict::Interrupt | Verdict::Gone)
    }
}

impl SignalState {
    pub fn verdict(&self) -> Verdict {
        if self.thread_pending & !self.blocked != 0 {
            Verdict::Interrupt
        } else if self.process_pending & !self.blocked != 0 {
            if self.threads <= 1 {
                Verdict::Interrupt
            } else {
                Verdict::MaybeElsewhere
            }
        } else {
            Verdict::Calm
        }
    }
}

/// Parses the lines of `/proc/<tid>/status` that matter; `None` when any of
/// them is missing or malformed.
pub fn parse_status(text: &[u8]) -> Option<SignalState> {
    let mut state = SignalState::default();
    let mut seen = 0u8;
    for line in text.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (key, value) = (&line[..colon], trim(&line[colon + 1..]));
        let value = std::str::from_utf8(value).ok();
        let (slot, bit, radix) = match key {
            b"Threads" => (&mut state.threads, 1, 10),
            b"SigPnd" => (&mut state.thread_pending, 2, 16),
            b"ShdPnd" => (&mut state.process_pending, 4, 16),
            b"SigBlk" => (&mut state.blocked, 8, 16),
            _ => continue,
        };
        *slot = u64::from_str_radix(value?, radix).ok()?;
        seen |= bit;
    }
    (seen == 15).then_some(state)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
        s = rest;
    }
    s
}

/// An open `/proc/<tid>/status` of one waiting reader. Kept open for the
/// whole wait so each look is one `pread`.
pub struct SignalProbe {
    file: File,
}

impl SignalProbe {
    /// `None` when the thread cannot be seen (tid 0: the caller lives in a
    /// pid namespace the daemon cannot see into).
    pub fn open(tid: u32) -> Option<Self> {
        if tid == 0 {
            return None;
        }
        File::open(format!("/proc/{tid}/status"))
            .ok()
            .map(|file| Self { file })
    }

    /// The reader's verdict now.
    pub fn look(&self) -> Verdict {
        let mut buf = [0u8; 8192];
        match self.file.read_at(&mut buf, 0) {
            Ok(n) => parse_status(&buf[..n]).map_or(Verdict::Gone, |s| s.verdict()),
            Err(_) => Verdict::Gone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"Name:\tcat\nThreads:\t1\nSigQ:\t0/94\nSigPnd:\t0000000000000000\n\
ShdPnd:\t0000000000000002\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n";

    #[test]
    fn parses_the_status_lines() {
        let s = parse_status(SAMPLE).unwrap();
        assert_eq!(s.threads, 1);
        assert_eq!(s.process_pending, 2);
        assert_eq!(s.verdict(), Verdict::Interrupt);
    }

    #[test]
    fn blocked_signals_do_not_interrupt() {
        let s = SignalState {
            threads: 1,
            thread_pending: 1 << 13,
            process_pending: 1 << 1,
            blocked: (1 << 13) | (1 << 1),
        };
        assert_eq!(s.verdict(), Verdict::Calm);
    }

    #[test]
    fn shared_signal_in_threaded_process_waits_a_look() {
        let s = SignalState {
            threads: 4,
            thread_pending: 0,
            process_pending: 1 << 1,
            blocked: 0,
        };
        assert_eq!(s.verdict(), Verdict::MaybeElsewhere);
        let killed = SignalState {
            thread_pending: 1 << 8,
            ..s
        };
        assert_eq!(killed.verdict(), Verdict::Interrupt);
    }

    #[test]
    fn malformed_status_is_rejected() {
        assert_eq!(parse_status(b"Threads:\t1\nSigPnd:\tzz\n"), None);
        assert_eq!(parse_status(b""), None);
    }

    #[test]
    fn probe_of_own_thread_is_calm() {
        let tid = unsafe { libc::gettid() } as u32;
        let probe = SignalProbe::open(tid).unwrap();
        assert_eq!(probe.look(), Verdict::Calm);
        assert!(SignalProbe::open(0).is_none());
    }
}
