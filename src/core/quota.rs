//! Per-user limits, in the spirit of the kernel's POSIX message queues
//! (`RLIMIT_MSGQUEUE` per user, `queues_max` per system): what one user may
//! hold of the mount, so that no single user can take what the others need.
//!
//! Every resource is counted per account: a local user (by uid) or the
//! network (every remote host together is one account, "other"). Root and
//! the mount's owner are counted but not limited per user, and they alone
//! may use the last [`RESERVE_DIVISOR`]th of the mount's bytes, as ext4
//! keeps reserved blocks for root: a mount that the others filled still
//! takes root's messages.
//!
//! A message is charged to its writer, not to its slot's owner. Charged to
//! the owner, a hostile writer could spend a victim's allowance by filling
//! the victim's slots, and the victim could then queue nothing anywhere;
//! charged to the writer, what a writer can hold is bounded by its own
//! allowance whatever slots it writes to, and a slot full of others'
//! messages costs its owner nothing (the slot's own `--max-queued-bytes`
//! still bounds it, and the owner empties it by reading).
//!
//! Inside the network's account each source address is counted too
//! ([`Account::Host`]): one host may queue at most 1/[`HOST_SHARE_DIVISOR`]
//! of the network's bytes, so a host flooding the segment leaves room for
//! the others' messages.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;

use super::error::{Error, Result};

/// The mount's bytes kept for root and the mount's owner: 1/20 (5 %, as
/// ext4's reserved blocks).
pub const RESERVE_DIVISOR: usize = 20;
/// A user's default share of the mount's bytes: 1/8.
pub const DEFAULT_USER_BYTES_DIVISOR: usize = 8;
/// Slots one user may have open at once (mqueue's `queues_max` is 256 for
/// the whole system; a slot here costs about a kilobyte while empty).
pub const DEFAULT_MAX_USER_SLOTS: usize = 1024;
/// Directories one user may have made that still exist (about 1.1 KiB each).
pub const DEFAULT_MAX_USER_DIRS: usize = 1024;
/// Reads of one user waiting for a message at once.
pub const DEFAULT_MAX_USER_WAITING_READS: usize = 1024;
/// Writes of one user waiting for a computer's name to be resolved.
pub const DEFAULT_MAX_USER_RESOLUTIONS: usize = 16;

/// A source address may hold this part of the network's bytes: 1/4, so
/// that a flooding host leaves three quarters to the others.
pub const HOST_SHARE_DIVISOR: usize = 4;

/// What is counted per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Bytes queued (payload plus 16 a message), charged to the writer.
    Bytes = 0,
    /// Slots open, charged to their creator.
    Slots = 1,
    /// Directories that exist, charged to whoever made them.
    Dirs = 2,
    /// Reads waiting for a message, charged to the reader.
    WaitingReads = 3,
    /// Writes waiting for a name resolution, charged to the writer.
    Resolutions = 4,
}

impl Resource {
    pub const ALL: [Resource; 5] = [
        Resource::Bytes,
        Resource::Slots,
        Resource::Dirs,
        Resource::WaitingReads,
        Resource::Resolutions,
    ];

    /// The mount option that sets its limit.
    pub fn option(self) -> &'static str {
        match self {
            Resource::Bytes => "max_user_bytes",
            Resource::Slots => "max_user_slots",
            Resource::Dirs => "max_user_dirs",
            Resource::WaitingReads => "max_user_waiting_reads",
            Resource::Resolutions => "max_user_resolutions",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Resource::Bytes => "bytes queued",
            Resource::Slots => "slots",
            Resource::Dirs => "directories",
            Resource::WaitingReads => "waiting reads",
            Resource::Resolutions => "writes waiting for a name resolution",
        }
    }
}

/// Who is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Account {
    User(u32),
    /// Every remote host together.
    Network,
    /// One source address, inside [`Account::Network`]: only bytes.
    Host(std::net::Ipv4Addr),
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::User(uid) => write!(f, "uid {uid}"),
            Account::Network => f.write_str("the network"),
            Account::Host(ip) => write!(f, "host {ip}"),
        }
    }
}

/// The per-user limits of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserLimits {
    pub bytes: usize,
    pub slots: usize,
    pub dirs: usize,
    pub waiting_reads: usize,
    pub resolutions: usize,
}

impl UserLimits {
    /// The defaults for a mount of `max_total_bytes`.
    pub fn defaults(max_total_bytes: usize) -> Self {
        Self {
            bytes: (max_total_bytes / DEFAULT_USER_BYTES_DIVISOR).max(1),
            slots: DEFAULT_MAX_USER_SLOTS,
            dirs: DEFAULT_MAX_USER_DIRS,
            waiting_reads: DEFAULT_MAX_USER_WAITING_READS,
            resolutions: DEFAULT_MAX_USER_RESOLUTIONS,
        }
    }

    pub fn get(&self, r: Resource) -> usize {
        match r {
            Resource::Bytes => self.bytes,
            Resource::Slots => self.slots,
            Resource::Dirs => self.dirs,
            Resource::WaitingReads => self.waiting_reads,
            Resource::Resolutions => self.resolutions,
        }
    }
}

#[derive(Default)]
struct Usage([AtomicUsize; 5]);

/// Usage per account against [`UserLimits`], and the mount's bytes against
/// `--max-total-bytes` with root's reserve.
pub struct Quotas {
    limits: UserLimits,
    owner: u32,
    users: DashMap<Account, std::sync::Arc<Usage>>,
    total: AtomicUsize,
    max_total: usize,
}

impl Quotas {
    pub fn new(limits: UserLimits, max_total: usize, owner: u32) -> Self {
        Self {
            limits,
            owner,
            users: DashMap::new(),
            total: AtomicUsize::new(0),
            max_total,
        }
    }

    pub fn limits(&self) -> &UserLimits {
        &self.limits
    }

    /// Root and the mount's owner: not limited per user, and they may use
    /// the reserve.
    pub fn privileged(&self, who: Account) -> bool {
        matches!(who, Account::User(uid) if uid == 0 || uid == self.owner)
    }

    fn usage(&self, who: Account) -> std::sync::Arc<Usage> {
        if let Some(u) = self.users.get(&who) {
            return u.clone();
        }
        self.users.entry(who).or_default().clone()
    }

    /// Counts `n` of `r` to `who`, or refuses with [`Error::QuotaExceeded`]
    /// (and a rate-limited log line naming `who`) when that would pass its
    /// limit.
    pub fn charge(&self, who: Account, r: Resource, n: usize) -> Result<()> {
        let limit = match who {
            _ if self.privileged(who) => usize::MAX,
            Account::Host(_) => (self.limits.get(r) / HOST_SHARE_DIVISOR).max(1),
            _ => self.limits.get(r),
        };
        let usage = self.usage(who);
        let ok = usage.0[r as usize]
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|&s| s <= limit)
            })
            .is_ok();
        if !ok {
            crate::ratelimit::log(
                log::Level::Info,
                "user limit",
                &who.to_string(),
                format_args!(
                    "{who} reached its limit of {} {} ({}); refused with EDQUOT",
                    limit,
                    r.noun(),
                    match who {
                        Account::Host(_) => "a quarter of the network's max_user_bytes",
                        _ => r.option(),
                    }
                ),
            );
            return Err(Error::QuotaExceeded);
        }
        Ok(())
    }

    pub fn release(&self, who: Account, r: Resource, n: usize) {
        if let Some(u) = self.users.get(&who) {
            let _ = u.0[r as usize].fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                Some(c.saturating_sub(n))
            });
        }
    }

    /// Queues `n` bytes for `who`: within its own limit, then within the
    /// mount's (less the reserve, unless `who` is privileged).
    pub fn charge_bytes(&self, who: Account, n: usize) -> Result<()> {
        self.charge(who, Resource::Bytes, n)?;
        let max = if self.privileged(who) {
            self.max_total
        } else {
            self.max_total - self.max_total / RESERVE_DIVISOR
        };
        let ok = self
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                t.checked_add(n).filter(|&s| s <= max)
            })
            .is_ok();
        if !ok {
            self.release(who, Resource::Bytes, n);
            crate::ratelimit::log(
                log::Level::Info,
                "mount full",
                &who.to_string(),
                format_args!(
                    "the mount's max_total_bytes ({}) is reached: a write of {who} refused with ENOSPC",
                    self.max_total
                ),
            );
            return Err(Error::QueueFull);
        }
        Ok(())
    }

    pub fn release_bytes(&self, who: Account, n: usize) {
        self.release(who, Resource::Bytes, n);
        self.total.fetch_sub(n, Ordering::AcqRel);
    }

    /// Counts `n` bytes from the network to the source address `ip`, on
    /// top of [`charge_bytes`](Self::charge_bytes) to the network; refuses
    /// with [`Error::SourceShareExceeded`] past the host's share.
    pub fn charge_host(&self, ip: std::net::Ipv4Addr, n: usize) -> Result<()> {
        self.charge(Account::Host(ip), Resource::Bytes, n)
            .map_err(|_| Error::SourceShareExceeded)
    }

    pub fn release_host(&self, ip: std::net::Ipv4Addr, n: usize) {
        self.release(Account::Host(ip), Resource::Bytes, n);
        // A host that holds nothing is forgotten: addresses come and go.
        self.users.remove_if(&Account::Host(ip), |_, u| {
            u.0.iter().all(|c| c.load(Ordering::Acquire) == 0)
        });
    }

    pub fn total(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    pub fn max_total(&self) -> usize {
        self.max_total
    }

    /// What `who` holds of `r`.
    pub fn used(&self, who: Account, r: Resource) -> usize {
        self.users
            .get(&who)
            .map_or(0, |u| u.0[r as usize].load(Ordering::Acquire))
    }

    /// `user.mailslot.users`: the limits, then one line per account that
    /// holds anything: `uid 4242 bytes=… slots=… dirs=… waiting_reads=…
    /// resolutions=…`.
    pub fn report(&self) -> String {
        let l = &self.limits;
        let mut out = format!(
            "limits bytes={} slots={} dirs={} waiting_reads={} resolutions={} (root and uid {} unlimited; reserve {} bytes)\n",
            l.bytes,
            l.slots,
            l.dirs,
            l.waiting_reads,
            l.resolutions,
            self.owner,
            self.max_total / RESERVE_DIVISOR
        );
        let mut rows: Vec<(Account, [usize; 5])> = self
            .users
            .iter()
            .map(|e| {
                let u = e.value();
                (
                    *e.key(),
                    std::array::from_fn(|i| u.0[i].load(Ordering::Acquire)),
                )
            })
            .filter(|(_, v)| v.iter().any(|&x| x != 0))
            .collect();
        rows.sort();
        for (who, v) in rows {
            let who = match who {
                Account::User(uid) => format!("uid {uid}"),
                Account::Network => "network".to_string(),
                Account::Host(ip) => format!("network host {ip}"),
            };
            out.push_str(&format!(
                "{who} bytes={} slots={} dirs={} waiting_reads={} resolutions={}\n",
                v[0], v[1], v[2], v[3], v[4]
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quotas() -> Quotas {
        let limits = UserLimits {
            bytes: 100,
            slots: 2,
            dirs: 2,
            waiting_reads: 1,
            resolutions: 1,
        };
        Quotas::new(limits, 1000, 1000)
    }

    #[test]
    fn one_source_address_holds_a_quarter_of_the_network() {
        let q = quotas();
        let (a, b) = (
            "198.18.0.9".parse().unwrap(),
            "198.18.0.10".parse().unwrap(),
        );
        q.charge_host(a, 25).unwrap();
        assert_eq!(q.charge_host(a, 1), Err(Error::SourceShareExceeded));
        q.charge_host(b, 25).unwrap();
        q.release_host(a, 25);
        assert_eq!(q.used(Account::Host(a), Resource::Bytes), 0);
        // Forgotten once it holds nothing: spoofed addresses cost nothing.
        assert!(!q.report().contains("198.18.0.9"));
        assert!(q.report().contains("network host 198.18.0.10 bytes=25"));
        q.charge_host(a, 25).unwrap();
    }

    #[test]
    fn a_user_stops_at_its_own_limit_and_others_go_on() {
        let q = quotas();
        let a = Account::User(4242);
        let b = Account::User(4343);
        q.charge_bytes(a, 100).unwrap();
        assert_eq!(q.charge_bytes(a, 1), Err(Error::QuotaExceeded));
        assert_eq!(q.used(a, Resource::Bytes), 100);
        q.charge_bytes(b, 100).unwrap();
        q.release_bytes(a, 60);
        q.charge_bytes(a, 60).unwrap();
        assert_eq!(q.total(), 200);
        for r in [Resource::Slots, Resource::Dirs] {
            q.charge(a, r, 2).unwrap();
            assert_eq!(q.charge(a, r, 1), Err(Error::QuotaExceeded));
            q.charge(b, r, 1).unwrap();
        }
    }

    #[test]
    fn root_and_the_owner_keep_the_reserve() {
        let q = quotas();
        // Ten users of 100 bytes would fill 1000; they stop at 950.
        let mut refused = None;
        for uid in 2000..2010 {
            if let Err(e) = q.charge_bytes(Account::User(uid), 100) {
                refused = Some((uid, e));
                break;
            }
        }
        assert_eq!(refused, Some((2009, Error::QueueFull)));
        assert_eq!(q.total(), 900);
        q.charge_bytes(Account::User(2009), 50).unwrap();
        assert_eq!(
            q.charge_bytes(Account::User(2009), 1),
            Err(Error::QueueFull)
        );
        // The refused charge left nothing behind.
        assert_eq!(q.used(Account::User(2009), Resource::Bytes), 50);
        q.charge_bytes(Account::User(0), 30).unwrap();
        q.charge_bytes(Account::User(1000), 20).unwrap();
        assert_eq!(q.charge_bytes(Account::User(0), 1), Err(Error::QueueFull));
        // Privileged users are not limited per user.
        q.charge(Account::User(0), Resource::Slots, 100).unwrap();
        // The network is never privileged.
        assert!(!q.privileged(Account::Network));
    }

    #[test]
    fn the_report_names_each_user() {
        let q = quotas();
        q.charge(Account::User(4242), Resource::Slots, 1).unwrap();
        q.charge_bytes(Account::Network, 10).unwrap();
        let r = q.report();
        assert!(r.contains("uid 4242 bytes=0 slots=1 dirs=0"), "{r}");
        assert!(r.contains("network bytes=10"), "{r}");
        q.release(Account::User(4242), Resource::Slots, 1);
        assert!(!q.report().contains("uid 4242"));
    }
}
