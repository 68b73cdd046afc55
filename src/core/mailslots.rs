//! The mailslot namespace: directories, slots, open handles, and every
//! operation the filesystem offers, in terms that know nothing of FUSE.
//!
//! A path is a name, not property. On Windows `\\.\mailslot\net\netlogon`
//! is one string; directories exist here only because the kernel walks a
//! path one component at a time. So every directory is shared: owned by the
//! mount's owner, mode 1777 whatever `mkdir` asked, made by whoever needs it
//! first, and nobody's to close. An empty directory that nothing uses is
//! kept (paths made once keep working) until the mount holds more than
//! [`KEPT_DIRECTORIES`]; beyond that it goes as soon as it is idle.
//!
//! Remote targets (`@HOST`, `@@DOMAIN`) are views, not stores: under each,
//! the directories are the mount's own directories, and every other name is
//! a write-only mailslot name of that target. View nodes exist only while
//! the kernel holds them, one per target, path and kind.
//!
//! Lock order: the remote views map before any directory; a directory's
//! entries before its child's; a slot's own lock is never held while
//! taking a directory lock.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::SystemTime;

use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};

use super::closing::Closing;
use super::error::{Error, Result};
use super::limits::Limits;
use super::names;
use super::quota::{Account, Quotas, Resource};
use super::remote::{RemoteSender, RemoteTarget};
use super::sender::{Origins, Sender};
use super::slot::{ReadCall, Readiness, Slot, SlotInfo, Waker};
use super::timer::Timer;
use super::xattr::{self, Attribute};

pub type Ino = u64;
pub type Fh = u64;
pub const ROOT: Ino = 1;

/// Spellings of one name remembered for cache invalidation.
const MAX_SPELLINGS: usize = 8;
/// Directories the mount keeps although they are empty and unused. Past
/// this many directories in all, an empty one goes once nothing uses it,
/// so a flood of `mkdir` cannot grow the daemon without end.
pub const KEPT_DIRECTORIES: usize = 4096;
/// Mode of every directory, whatever `mkdir` asked: anyone may make slots
/// in it, nobody may take it.
const SHARED_DIR_MODE: u16 = 0o1777;
/// Mode of a remote name, that of a public slot: anyone may open it as a
/// client (the read bit too, for Windows clients' `O_RDWR`); nobody reads.
const REMOTE_NAME_MODE: u16 = 0o666;
/// Directories every mount has from the start, which nobody can remove and
/// no slot can take: Windows uses `\mailslot\net\` as the prefix of the
/// machine's own mailslots (`net\netlogon`, `net\ntlogon`, `net\getdc…`),
/// and a path has one file type here, so a user's slot named `net` would
/// keep everybody else from them.
pub const PRESET_DIRECTORIES: [&str; 1] = ["net"];
/// The root attribute listing what each user holds against its limits.
pub const USERS_ATTRIBUTE: &str = "user.mailslot.users";
/// First directory cookie after `.` (1) and `..` (2).
const FIRST_COOKIE: u64 = 3;

/// Who is asking: from the request, as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    /// Thread id of the caller (0 when not visible to the daemon).
    pub pid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Directory,
    Slot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub ino: Ino,
    pub kind: Kind,
    /// Bytes queued, for a slot.
    pub size: u64,
    pub blocks: u64,
    /// Permission bits, sticky bit included.
    pub perm: u16,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: SystemTime,
    /// For a slot: its last message.
    pub mtime: SystemTime,
    /// For a slot: its creation.
    pub ctime: SystemTime,
    pub crtime: SystemTime,
}

/// Changes asked of `setattr`; `None` leaves a field as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    pub block_size: u32,
    pub blocks: u64,
    pub blocks_free: u64,
    /// Free blocks for unprivileged users: the free ones less root's
    /// reserve, as ext4 reports it.
    pub blocks_available: u64,
    pub files: u64,
    pub files_free: u64,
    pub name_max: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The creator's open file description: the only one that reads.
    Server {
        writable: bool,
    },
    Client,
}

/// Gives back one unit of a user's resource when dropped: held by what
/// uses it (a waiting read's answer), so that every way it ends gives it back.
pub struct Uncharge {
    pub quotas: Arc<Quotas>,
    pub who: Account,
    pub what: Resource,
}

impl Drop for Uncharge {
    fn drop(&mut self) {
        self.quotas.release(self.who, self.what, 1);
    }
}

/// Names one waiting read, so it can be ended early.
#[derive(Debug, Clone)]
pub struct WaitToken {
    slot: std::sync::Weak<Slot>,
    id: u64,
}

/// A name under a remote target: where a remote client's writes go.
#[derive(Debug)]
struct RemotePath {
    target: Arc<RemoteTarget>,
    /// The target's component, folded: `@@testdom#1c`.
    target_key: String,
    /// The mailslot path below the target, as spelled.
    path: Vec<String>,
    /// The same, folded, to find the mount's directories by.
    folded: Vec<String>,
}

impl RemotePath {
    fn child(&self, name: &str, key: &str) -> RemotePath {
        let mut path = self.path.clone();
        path.push(name.to_owned());
        let mut folded = self.folded.clone();
        folded.push(key.to_owned());
        RemotePath {
            target: self.target.clone(),
            target_key: self.target_key.clone(),
            path,
            folded,
        }
    }
}

/// One view node per target, path and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ViewKey {
    target: String,
    path: Vec<String>,
    dir: bool,
}

impl ViewKey {
    fn of(at: &RemotePath, dir: bool) -> ViewKey {
        ViewKey {
            target: at.target_key.clone(),
            path: at.folded.clone(),
            dir,
        }
    }
}

#[derive(Clone)]
enum Target {
    Local(Arc<Slot>),
    Remote(Arc<RemotePath>),
}

struct Handle {
    target: Target,
    ino: Ino,
    role: Role,
    /// For a server handle: the user its slot is charged to until it closes.
    creator: Option<u32>,
}

struct Meta {
    perm: u16,
    uid: u32,
    gid: u32,
    mtime: SystemTime,
}

struct Entry {
    ino: Ino,
    name: OsString,
    kind: Kind,
}

#[derive(Default)]
struct DirEntries {
    by_key: HashMap<String, u64>,
    by_cookie: BTreeMap<u64, Entry>,
    next_cookie: u64,
    subdirs: u32,
    removed: bool,
    /// Who this directory is charged to; `None` for the root and the
    /// directories the mount makes itself.
    maker: Option<Account>,
}

impl DirEntries {
    fn new() -> Self {
        Self {
            next_cookie: FIRST_COOKIE,
            ..Default::default()
        }
    }
}

enum Body {
    Dir(RwLock<DirEntries>),
    Slot(Arc<Slot>),
    /// A remote target, or one of the mount's directories seen under it.
    /// It stores nothing: its listing is that of the mount's directory at
    /// the same path, directories only (remote names are never listed).
    RemoteDir(Arc<RemotePath>),
    /// A name under a remote target: write-only.
    RemoteSlot(Arc<RemotePath>),
}

struct Node {
    ino: Ino,
    parent: Ino,
    created: SystemTime,
    meta: Mutex<Meta>,
    nlookup: AtomicU64,
    detached: AtomicBool,
    /// Its cookie in the parent directory, so it can leave in O(log n).
    cookie: AtomicU64,
    spellings: Mutex<Vec<OsString>>,
    body: Body,
}

impl Node {
    fn dir(&self) -> Result<&RwLock<DirEntries>> {
        match &self.body {
            Body::Dir(d) => Ok(d),
            Body::RemoteDir(_) => Err(Error::NotPermitted),
            Body::Slot(_) | Body::RemoteSlot(_) => Err(Error::NotDirectory),
        }
    }

    fn slot(&self) -> Result<&Arc<Slot>> {
        match &self.body {
            Body::Slot(s) => Ok(s),
            _ => Err(Error::IsDirectory),
        }
    }

    fn remote(&self) -> Option<&Arc<RemotePath>> {
        match &self.body {
            Body::RemoteDir(r) | Body::RemoteSlot(r) => Some(r),
            _ => None,
        }
    }

    fn view_key(&self) -> Option<ViewKey> {
        match &self.body {
            Body::RemoteDir(r) => Some(ViewKey::of(r, true)),
            Body::RemoteSlot(r) => Some(ViewKey::of(r, false)),
            _ => None,
        }
    }

    fn kind(&self) -> Kind {
        match self.body {
            Body::Dir(_) | Body::RemoteDir(_) => Kind::Directory,
            Body::Slot(_) | Body::RemoteSlot(_) => Kind::Slot,
        }
    }

    fn remember_spelling(&self, name: &OsStr) {
        let mut sp = self.spellings.lock();
        if sp.len() < MAX_SPELLINGS && !sp.iter().any(|s| s == name) {
            sp.push(name.to_owned());
        }
    }
}

type InvalidateHook = Box<dyn Fn(Ino, &OsStr) + Send + Sync>;
type RootAttributes = Box<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

pub struct Mailslots {
    nodes: DashMap<Ino, Arc<Node>>,
    handles: DashMap<Fh, Handle>,
    next_ino: AtomicU64,
    next_fh: AtomicU64,
    limits: Limits,
    accounting: Arc<Quotas>,
    timer: Arc<Timer>,
    origins: Arc<Origins>,
    shutting_down: AtomicBool,
    invalidate: RwLock<Option<InvalidateHook>>,
    remote: RwLock<Option<Arc<dyn RemoteSender>>>,
    /// The view nodes the kernel holds, by target, path and kind.
    remote_views: Mutex<HashMap<ViewKey, Ino>>,
    /// Directories below the root.
    pub(super) dirs: AtomicUsize,
    root_attributes: RwLock<Option<RootAttributes>>,
    /// Slots whose server handle is being closed.
    closing: Closing,
}

impl Drop for Mailslots {
    fn drop(&mut self) {
        self.timer.stop();
    }
}

impl Mailslots {
    /// A fresh namespace whose root belongs to `uid:gid`, mode 1777 so that
    /// every user may create slots and nobody may disturb another's.
    pub fn new(limits: Limits, uid: u32, gid: u32) -> Self {
        let nodes = DashMap::new();
        let now = SystemTime::now();
        nodes.insert(
            ROOT,
            Arc::new(Node {
                ino: ROOT,
                parent: ROOT,
                created: now,
                meta: Mutex::new(Meta {
                    perm: 0o1777,
                    uid,
                    gid,
                    mtime: now,
                }),
                nlookup: AtomicU64::new(1),
                detached: AtomicBool::new(false),
                cookie: AtomicU64::new(0),
                spellings: Mutex::new(Vec::new()),
                body: Body::Dir(RwLock::new(DirEntries::new())),
            }),
        );
        let m = Self {
            nodes,
            handles: DashMap::new(),
            next_ino: AtomicU64::new(ROOT + 1),
            next_fh: AtomicU64::new(1),
            accounting: Arc::new(Quotas::new(limits.user, limits.max_total_bytes, uid)),
            limits,
            timer: Timer::start(),
            origins: Arc::new(Origins::default()),
            shutting_down: AtomicBool::new(false),
            invalidate: RwLock::new(None),
            remote: RwLock::new(None),
            remote_views: Mutex::new(HashMap::new()),
            dirs: AtomicUsize::new(0),
            root_attributes: RwLock::new(None),
            closing: Closing::default(),
        };
        let root = m.node(ROOT).expect("just made");
        for name in PRESET_DIRECTORIES {
            let key = names::fold(OsStr::new(name)).expect("a valid name");
            m.make_dir(&root, OsStr::new(name), key, None)
                .expect("a fresh root is empty");
        }
        m
    }

    /// What each user holds against its limits.
    pub fn quotas(&self) -> &Arc<Quotas> {
        &self.accounting
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Called with (parent, name) for every cached name of a slot that went
    /// away, so the kernel can drop it at once. Called without locks held,
    /// but from inside a request: it must not wait for another request.
    pub fn set_invalidate_hook(&self, hook: impl Fn(Ino, &OsStr) + Send + Sync + 'static) {
        *self.invalidate.write() = Some(Box::new(hook));
    }

    /// Turns on remote targets (`/mailslot/@…`): writes to them go to `sender`.
    pub fn set_remote_sender(&self, sender: Arc<dyn RemoteSender>) {
        *self.remote.write() = Some(sender);
    }

    /// Extended attributes shown on the mount root (the network counters).
    pub fn set_root_attributes(
        &self,
        f: impl Fn() -> Vec<(String, String)> + Send + Sync + 'static,
    ) {
        *self.root_attributes.write() = Some(Box::new(f));
    }

    fn node(&self, ino: Ino) -> Result<Arc<Node>> {
        self.nodes
            .get(&ino)
            .map(|n| n.clone())
            .ok_or(Error::NotFound)
    }

    fn handle(&self, fh: Fh) -> Result<(Target, Role)> {
        self.handles
            .get(&fh)
            .map(|h| (h.target.clone(), h.role))
            .ok_or(Error::BadHandle)
    }

    fn attr_of(&self, node: &Node) -> Attr {
        let meta = node.meta.lock();
        let mut attr = Attr {
            ino: node.ino,
            kind: node.kind(),
            size: 0,
            blocks: 0,
            perm: meta.perm,
            nlink: 1,
            uid: meta.uid,
            gid: meta.gid,
            atime: meta.mtime,
            mtime: meta.mtime,
            ctime: node.created,
            crtime: node.created,
        };
        drop(meta);
        match &node.body {
            Body::Dir(d) => attr.nlink = 2 + d.read().subdirs,
            Body::RemoteDir(_) => attr.nlink = 2,
            Body::RemoteSlot(_) => {}
            Body::Slot(slot) => {
                let info = slot.info();
                attr.size = info.queued_bytes as u64;
                attr.blocks = (info.charged_bytes as u64).div_ceil(512);
                attr.mtime = info.last_message;
                attr.atime = info.last_message;
                attr.nlink = u32::from(info.open);
            }
        }
        attr
    }

    /// The path of `ino` under the mount as its creators spelled it, for
    /// log lines (`#ino` for a node the daemon no longer knows).
    pub fn path_of(&self, ino: Ino) -> String {
        let mut parts = Vec::new();
        let mut at = ino;
        while at != ROOT && parts.len() < 256 {
            let Ok(node) = self.node(at) else {
                parts.push(format!("#{at}"));
                break;
            };
            let name = node
                .spellings
                .lock()
                .first()
                .map(|n| n.to_string_lossy().into_owned());
            parts.push(name.unwrap_or_else(|| format!("#{at}")));
            at = node.parent;
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    pub fn getattr(&self, ino: Ino) -> Result<Attr> {
        Ok(self.attr_of(&*self.node(ino)?))
    }

    /// Finds `name` in `parent`, case-insensitively. Counts one kernel
    /// reference to the result (released by `forget`).
    pub fn lookup(&self, parent: Ino, name: &OsStr) -> Result<Attr> {
        let key = match names::fold(name) {
            Ok(key) => key,
            Err(Error::NameTooLong) => return Err(Error::NameTooLong),
            Err(_) => return Err(Error::NotFound),
        };
        if parent == ROOT && key.starts_with('@') {
            return self.lookup_remote_root(name, &key);
        }
        let dir = self.node(parent)?;
        if let Body::RemoteDir(at) = &dir.body {
            let at = at.child(name.to_str().ok_or(Error::InvalidName)?, &key);
            let is_dir = self.shared_dir(&at.folded).is_some();
            return Ok(self.view(parent, name, at, is_dir));
        }
        let entries = dir.dir()?.read();
        let cookie = entries.by_key.get(&key).ok_or(Error::NotFound)?;
        let ino = entries.by_cookie[cookie].ino;
        let node = self.node(ino)?;
        // Counted under the directory lock, so a concurrent removal cannot
        // free the node between finding and counting it.
        node.nlookup.fetch_add(1, Ordering::AcqRel);
        drop(entries);
        node.remember_spelling(name);
        Ok(self.attr_of(&node))
    }

    /// `@HOST`, `@@DOMAIN`, `@@` in the root: a directory standing for that
    /// target, made on first use. It is not listed, and is freed once the
    /// kernel forgets it.
    fn lookup_remote_root(&self, name: &OsStr, key: &str) -> Result<Attr> {
        if self.remote.read().is_none() {
            return Err(Error::NetworkDown);
        }
        let text = name.to_str().ok_or(Error::InvalidName)?;
        let target = RemoteTarget::parse(text).expect("starts with @")?;
        let at = RemotePath {
            target: Arc::new(target),
            target_key: key.to_owned(),
            path: Vec::new(),
            folded: Vec::new(),
        };
        Ok(self.view(ROOT, name, at, true))
    }

    /// The view node of `at` (a directory view when `dir`), counting one
    /// kernel reference to it; made if the kernel holds none.
    fn view(&self, parent: Ino, name: &OsStr, at: RemotePath, dir: bool) -> Attr {
        let key = ViewKey::of(&at, dir);
        let mut views = self.remote_views.lock();
        if let Some(node) = views
            .get(&key)
            .and_then(|ino| self.nodes.get(ino))
            .map(|n| n.clone())
        {
            // Counted under the views lock, so `forget` cannot free it in between.
            node.nlookup.fetch_add(1, Ordering::AcqRel);
            drop(views);
            node.remember_spelling(name);
            return self.attr_of(&node);
        }
        let owner = self.owner();
        let at = Arc::new(at);
        let (perm, body) = if dir {
            (SHARED_DIR_MODE, Body::RemoteDir(at))
        } else {
            (REMOTE_NAME_MODE, Body::RemoteSlot(at))
        };
        let node = self.new_node(parent, name, perm, owner, body);
        node.detached.store(true, Ordering::Release);
        views.insert(key, node.ino);
        drop(views);
        self.attr_of(&node)
    }

    /// The mount's owner, who owns every directory and remote name.
    fn owner(&self) -> Caller {
        let root = self.node(ROOT).expect("the root is never removed");
        let meta = root.meta.lock();
        Caller {
            uid: meta.uid,
            gid: meta.gid,
            pid: 0,
        }
    }

    /// The mount's directory at `folded` (the root for an empty path).
    fn shared_dir(&self, folded: &[String]) -> Option<Arc<Node>> {
        let mut node = self.node(ROOT).ok()?;
        for key in folded {
            let next = {
                let entries = node.dir().ok()?.read();
                let cookie = entries.by_key.get(key)?;
                let entry = &entries.by_cookie[cookie];
                if entry.kind != Kind::Directory {
                    return None;
                }
                entry.ino
            };
            node = self.node(next).ok()?;
        }
        Some(node)
    }

    /// The kernel dropped `n` references to `ino`.
    pub fn forget(&self, ino: Ino, n: u64) {
        if ino == ROOT {
            return;
        }
        let Some(node) = self.nodes.get(&ino).map(|n| n.clone()) else {
            return;
        };
        if let Some(key) = node.view_key() {
            // Under the views lock, so `view` cannot count a node being freed.
            let mut views = self.remote_views.lock();
            if Self::drop_references(&node, n) == 0 {
                self.nodes.remove(&ino);
                if views.get(&key) == Some(&ino) {
                    views.remove(&key);
                }
            }
            return;
        }
        if Self::drop_references(&node, n) == 0 {
            if node.detached.load(Ordering::Acquire) {
                self.nodes.remove(&ino);
            } else if matches!(node.body, Body::Dir(_)) {
                self.retire_idle_dirs(node);
            }
        }
    }

    /// Takes `n` kernel references off `node`; returns how many are left.
    fn drop_references(node: &Node, n: u64) -> u64 {
        node.nlookup
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                Some(c.saturating_sub(n))
            })
            .map_or(0, |before| before.saturating_sub(n))
    }

    /// Whether an idle empty directory made by `maker` goes: when the
    /// mount holds more than [`KEPT_DIRECTORIES`], or its maker holds half
    /// its directory limit or more (so that what a user made and left does
    /// not use up its allowance while nothing uses it).
    fn retires(&self, maker: Account) -> bool {
        if self.dirs.load(Ordering::Acquire) > KEPT_DIRECTORIES {
            return true;
        }
        !self.accounting.privileged(maker)
            && self.accounting.used(maker, Resource::Dirs) * 2 >= self.accounting.limits().dirs
    }

    /// Removes `dir` and then its parents for as long as each is empty,
    /// held by nobody, and [`Self::retires`] says so.
    fn retire_idle_dirs(&self, mut dir: Arc<Node>) {
        while dir.ino != ROOT {
            let Ok(parent) = self.node(dir.parent) else {
                return;
            };
            let Ok(parent_entries) = parent.dir() else {
                return;
            };
            let mut entries = parent_entries.write();
            {
                let Ok(child) = dir.dir() else {
                    return;
                };
                let mut child_entries = child.write();
                // Lookups count under the parent's lock, which is held: no
                // reference can appear while this looks.
                let Some(maker) = child_entries.maker else {
                    return;
                };
                if child_entries.removed
                    || !child_entries.by_key.is_empty()
                    || dir.nlookup.load(Ordering::Acquire) != 0
                    || !self.retires(maker)
                {
                    return;
                }
                child_entries.removed = true;
                self.accounting.release(maker, Resource::Dirs, 1);
            }
            let cookie = dir.cookie.load(Ordering::Acquire);
            if let Some(entry) = entries.by_cookie.remove(&cookie)
                && let Ok(key) = names::fold(&entry.name)
            {
                entries.by_key.remove(&key);
            }
            entries.subdirs = entries.subdirs.saturating_sub(1);
            drop(entries);
            self.dirs.fetch_sub(1, Ordering::AcqRel);
            log::debug!("idle directory {} removed", self.path_of(dir.ino));
            self.detach(&dir);
            dir = parent;
        }
    }

    fn new_node(
        &self,
        parent: Ino,
        name: &OsStr,
        perm: u16,
        caller: Caller,
        body: Body,
    ) -> Arc<Node> {
        let now = SystemTime::now();
        let ino = self.next_ino.fetch_add(1, Ordering::Relaxed);
        let node = Arc::new(Node {
            ino,
            parent,
            created: now,
            meta: Mutex::new(Meta {
                perm,
                uid: caller.uid,
                gid: caller.gid,
                mtime: now,
            }),
            nlookup: AtomicU64::new(1),
            detached: AtomicBool::new(false),
            cookie: AtomicU64::new(0),
            spellings: Mutex::new(vec![name.to_owned()]),
            body,
        });
        self.nodes.insert(ino, node.clone());
        node
    }

    fn insert_entry(entries: &mut DirEntries, key: String, node: &Node, name: &OsStr) {
        let cookie = entries.next_cookie;
        entries.next_cookie += 1;
        node.cookie.store(cookie, Ordering::Release);
        entries.by_key.insert(key, cookie);
        entries.by_cookie.insert(
            cookie,
            Entry {
                ino: node.ino,
                name: name.to_owned(),
                kind: node.kind(),
            },
        );
        if node.kind() == Kind::Directory {
            entries.subdirs += 1;
        }
    }

    fn touch_dir(dir: &Node) {
        dir.meta.lock().mtime = SystemTime::now();
    }

    fn check_open(&self) -> Result<()> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(Error::ShuttingDown);
        }
        Ok(())
    }

    /// `mkdir`: a shared directory (see the module documentation), owned by
    /// the mount's owner with mode 1777 whoever asks and whatever mode is
    /// asked for. Under a remote target it makes the mount's directory of
    /// that path, which every target then shows.
    pub fn mkdir(
        &self,
        parent: Ino,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        caller: Caller,
    ) -> Result<Attr> {
        self.check_open()?;
        let key = names::fold(name)?;
        if parent == ROOT && key.starts_with('@') {
            // Remote targets exist by being named.
            return self.lookup_remote_root(name, &key).and(Err(Error::Exists));
        }
        let dir = self.node(parent)?;
        if let Body::RemoteDir(at) = &dir.body {
            let shared = self.shared_dir(&at.folded).ok_or(Error::NotFound)?;
            let made =
                self.make_dir(&shared, name, key.clone(), Some(Account::User(caller.uid)))?;
            // The kernel gets the view, not the mount's own node.
            made.nlookup.fetch_sub(1, Ordering::AcqRel);
            let at = at.child(name.to_str().ok_or(Error::InvalidName)?, &key);
            return Ok(self.view(parent, name, at, true));
        }
        let made = self.make_dir(&dir, name, key, Some(Account::User(caller.uid)))?;
        Ok(self.attr_of(&made))
    }

    /// Makes directory `name` in `dir`, charged to `maker` (`None`: the
    /// mount's own, never charged, removed or retired).
    fn make_dir(
        &self,
        dir: &Node,
        name: &OsStr,
        key: String,
        maker: Option<Account>,
    ) -> Result<Arc<Node>> {
        let mut entries = dir.dir()?.write();
        if entries.removed {
            return Err(Error::NotFound);
        }
        if entries.by_key.contains_key(&key) {
            return Err(Error::Exists);
        }
        if let Some(who) = maker {
            self.accounting.charge(who, Resource::Dirs, 1)?;
        }
        let mut made = DirEntries::new();
        made.maker = maker;
        let node = self.new_node(
            dir.ino,
            name,
            SHARED_DIR_MODE,
            self.owner(),
            Body::Dir(RwLock::new(made)),
        );
        Self::insert_entry(&mut entries, key, &node, name);
        drop(entries);
        self.dirs.fetch_add(1, Ordering::AcqRel);
        Self::touch_dir(dir);
        log::debug!(
            "directory {} made by {} (shared, mode 1777)",
            self.path_of(node.ino),
            maker.map_or_else(|| "the mount".to_string(), |m| m.to_string())
        );
        Ok(node)
    }

    pub fn rmdir(&self, parent: Ino, name: &OsStr) -> Result<()> {
        let key = names::fold(name).map_err(|_| Error::NotFound)?;
        if parent == ROOT && key.starts_with('@') {
            return Err(Error::NotPermitted);
        }
        let dir = self.node(parent)?;
        // Under a remote target nothing is stored; removing the mount's
        // directory is done in the mount.
        let mut entries = dir.dir()?.write();
        let cookie = *entries.by_key.get(&key).ok_or(Error::NotFound)?;
        let child = self.node(entries.by_cookie[&cookie].ino)?;
        let maker = {
            let mut child_entries = child.dir()?.write();
            let Some(maker) = child_entries.maker else {
                return Err(Error::NotPermitted);
            };
            if !child_entries.by_key.is_empty() {
                return Err(Error::DirectoryNotEmpty);
            }
            child_entries.removed = true;
            maker
        };
        self.accounting.release(maker, Resource::Dirs, 1);
        entries.by_key.remove(&key);
        entries.by_cookie.remove(&cookie);
        entries.subdirs -= 1;
        drop(entries);
        self.dirs.fetch_sub(1, Ordering::AcqRel);
        Self::touch_dir(&dir);
        self.detach(&child);
        Ok(())
    }

    fn detach(&self, node: &Node) {
        node.detached.store(true, Ordering::Release);
        if node.nlookup.load(Ordering::Acquire) == 0 {
            self.nodes.remove(&node.ino);
        }
    }

    fn new_handle(&self, target: Target, ino: Ino, role: Role) -> Fh {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.handles.insert(
            fh,
            Handle {
                target,
                ino,
                role,
                creator: None,
            },
        );
        fh
    }

    /// A client handle on a name under a remote target, whatever access it
    /// asks for (reads on it fail, as on every client handle). Nothing is
    /// checked against the network here: mailslot datagrams have no
    /// listener to ask, so an open never fails for lack of one. (The kernel
    /// finds remote names by lookup and opens them with `open`; this is
    /// only reached when a create races a lookup.)
    fn create_remote(
        &self,
        dir: &Node,
        at: &RemotePath,
        name: &OsStr,
        key: &str,
    ) -> Result<(Attr, Fh, Role)> {
        let at = at.child(name.to_str().ok_or(Error::InvalidName)?, key);
        if self.shared_dir(&at.folded).is_some() {
            return Err(Error::IsDirectory);
        }
        let attr = self.view(dir.ino, name, at, false);
        let node = self.node(attr.ino)?;
        let path = node.remote().expect("a view").clone();
        let fh = self.new_handle(Target::Remote(path), attr.ino, Role::Client);
        Ok((attr, fh, Role::Client))
    }

    /// `open(O_CREAT)` on `parent/name`. A name that does not exist becomes
    /// a new slot whose server handle is returned, if the open asks to read;
    /// a write-only open never creates. An existing slot opens as a client
    /// whatever access the open asks for, as Windows' `OPEN_ALWAYS` and
    /// `CreateFile(GENERIC_READ | GENERIC_WRITE)` do: only the open that
    /// created the name reads, and `O_EXCL` is how a would-be server learns
    /// that the name was taken.
    pub fn create(
        &self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        caller: Caller,
    ) -> Result<(Attr, Fh, Role)> {
        self.check_open()?;
        let key = names::fold(name)?;
        if parent == ROOT && key.starts_with('@') {
            return Err(Error::IsDirectory);
        }
        let dir = self.node(parent)?;
        if let Some(at) = dir.remote() {
            return self.create_remote(&dir, &at.clone(), name, &key);
        }
        let mut entries = dir.dir()?.write();
        if entries.removed {
            return Err(Error::NotFound);
        }
        if let Some(cookie) = entries.by_key.get(&key) {
            if flags & libc::O_EXCL != 0 {
                return Err(Error::Exists);
            }
            let node = self.node(entries.by_cookie[cookie].ino)?;
            let slot = node.slot()?.clone();
            node.nlookup.fetch_add(1, Ordering::AcqRel);
            drop(entries);
            node.remember_spelling(name);
            let fh = self.new_handle(Target::Local(slot), node.ino, Role::Client);
            return Ok((self.attr_of(&node), fh, Role::Client));
        }
        let role = match flags & libc::O_ACCMODE {
            libc::O_WRONLY => return Err(Error::NotFound),
            libc::O_RDWR => Role::Server { writable: true },
            _ => Role::Server { writable: false },
        };
        // Charged to its creator until its server handle is released.
        self.accounting
            .charge(Account::User(caller.uid), Resource::Slots, 1)?;
        let slot = Arc::new(Slot::new(
            self.limits.max_message_size,
            self.limits.read_timeout,
            self.limits.max_queued_bytes,
            self.accounting.clone(),
            self.timer.clone(),
            self.origins.clone(),
        ));
        let node = self.new_node(
            parent,
            name,
            perm_of(mode, umask),
            caller,
            Body::Slot(slot.clone()),
        );
        Self::insert_entry(&mut entries, key, &node, name);
        drop(entries);
        Self::touch_dir(&dir);
        let fh = self.new_handle(Target::Local(slot), node.ino, role);
        if let Some(mut h) = self.handles.get_mut(&fh) {
            h.creator = Some(caller.uid);
        }
        log::debug!(
            "slot {} created by uid {} (ino {})",
            self.path_of(node.ino),
            caller.uid,
            node.ino
        );
        Ok((self.attr_of(&node), fh, role))
    }

    /// `open` without creating: a client handle, whatever access it asks
    /// for. Windows lets a client open a mailslot for reading and writing
    /// (Wine's `CreateFile` always asks for both); reading it then fails.
    pub fn open(&self, ino: Ino) -> Result<Fh> {
        self.check_open()?;
        let node = self.node(ino)?;
        if let Body::RemoteSlot(path) = &node.body {
            return Ok(self.new_handle(Target::Remote(path.clone()), ino, Role::Client));
        }
        let slot = node.slot()?;
        if !slot.info().open {
            return Err(Error::NotFound);
        }
        Ok(self.new_handle(Target::Local(slot.clone()), ino, Role::Client))
    }

    /// One whole message through `fh` for a buffer of `size` bytes, as
    /// part of `call`; the answer goes to `respond`, now or when the wait
    /// ends. A read that waits returns its token, with which
    /// [`Mailslots::cancel_wait`] ends the wait.
    pub fn read<F>(
        &self,
        fh: Fh,
        call: ReadCall,
        size: usize,
        nonblock: bool,
        respond: F,
    ) -> Option<WaitToken>
    where
        F: FnOnce(Result<&[u8]>) + Send + 'static,
    {
        match self.handle(fh) {
            Ok((Target::Local(slot), Role::Server { .. })) => {
                // A read that may wait is charged to its caller until it is
                // answered: the charge goes with the answer. A read that
                // cannot be charged still takes a queued message; only its
                // wait is refused.
                let who = Account::User(call.uid);
                let charged = nonblock
                    || self
                        .accounting
                        .charge(who, Resource::WaitingReads, 1)
                        .is_ok();
                let quotas = self.accounting.clone();
                let uncharge = (charged && !nonblock).then(|| Uncharge {
                    quotas,
                    who,
                    what: Resource::WaitingReads,
                });
                let respond = move |r: Result<&[u8]>| {
                    drop(uncharge);
                    respond(r)
                };
                slot.read(call, size, nonblock || !charged, move |r| match r {
                    Err(Error::WouldBlock) if !charged && !nonblock => {
                        respond(Err(Error::QuotaExceeded))
                    }
                    r => respond(r),
                })
                .map(|id| WaitToken {
                    slot: Arc::downgrade(&slot),
                    id,
                })
            }
            // A client opened for reading: Windows refuses its reads with
            // ERROR_ACCESS_DENIED, which is what Wine makes of EACCES.
            Ok((_, Role::Client)) => {
                respond(Err(Error::ReadAccessDenied));
                None
            }
            _ => {
                respond(Err(Error::BadHandle));
                None
            }
        }
    }

    /// Ends a waiting read with EINTR (a signal reached its caller), if it
    /// still waits; it takes nothing from the queue. Returns whether it
    /// still waited.
    pub fn cancel_wait(&self, token: &WaitToken) -> bool {
        let cancelled = token.slot.upgrade().is_some_and(|s| s.cancel(token.id));
        if cancelled {
            log::debug!("a waiting read was interrupted by a signal");
        }
        cancelled
    }

    /// Read timeouts not yet due (for tests).
    pub fn pending_timeouts(&self) -> usize {
        self.timer.pending()
    }

    /// One whole message from `data`, written by `caller`. The answer goes
    /// to `respond`: at once for a local slot, once the datagram has left
    /// for a remote target.
    pub fn write<F>(&self, fh: Fh, data: &[u8], caller: Caller, respond: F)
    where
        F: FnOnce(Result<usize>) + Send + 'static,
    {
        let (target, role) = match self.handle(fh) {
            Ok(h) => h,
            Err(e) => return respond(Err(e)),
        };
        if role == (Role::Server { writable: false }) {
            return respond(Err(Error::NotWritable));
        }
        if data.is_empty() {
            // Unix has no empty messages: a zero-length write queues nothing.
            return respond(Ok(0));
        }
        let len = data.len();
        match target {
            // A slot of "any size" still takes no more than the mount
            // carries whole: the kernel splits a larger write, and its
            // first piece, over the ceiling, must not queue as a message.
            Target::Local(_) if len > self.limits.message_ceiling => {
                respond(Err(Error::MessageTooLarge))
            }
            Target::Local(slot) => {
                let sender = Sender::local(caller.uid, caller.gid, caller.pid);
                respond(slot.deliver(data, &sender).map(|()| len))
            }
            Target::Remote(at) => {
                let Some(sender) = self.remote.read().clone() else {
                    return respond(Err(Error::NetworkDown));
                };
                match sender.max_message_size(&at.target, &at.path) {
                    Ok(max) if len <= max => sender.send(
                        &at.target,
                        &at.path,
                        data.to_vec(),
                        Sender::local(caller.uid, caller.gid, caller.pid),
                        Box::new(move |r| respond(r.map(|()| len))),
                    ),
                    Ok(_) => respond(Err(Error::MessageTooLarge)),
                    Err(e) => respond(Err(e)),
                }
            }
        }
    }

    /// Delivers a message that arrived from the network into the local slot
    /// at `path` (components compared case-insensitively), within that
    /// slot's limits, as a message from `sender`. The network is "other":
    /// every directory on the way must let other users search it and the
    /// slot must let them write, the checks a local user without rights
    /// would meet, so that nobody gains by going round through the network.
    pub fn deliver_to_path<S: AsRef<str>>(
        &self,
        path: &[S],
        data: &[u8],
        sender: &Sender,
    ) -> Result<()> {
        let mut node = self.node(ROOT)?;
        for component in path {
            if node.meta.lock().perm & 0o001 == 0 {
                return Err(Error::NotOpenToNetwork);
            }
            let key = names::fold(OsStr::new(component.as_ref())).map_err(|_| Error::NotFound)?;
            let ino = {
                let entries = node.dir().map_err(|_| Error::NotFound)?.read();
                let cookie = entries.by_key.get(&key).ok_or(Error::NotFound)?;
                entries.by_cookie[cookie].ino
            };
            node = self.node(ino)?;
        }
        let slot = node.slot().map_err(|_| Error::NotFound)?;
        if node.meta.lock().perm & 0o002 == 0 {
            return Err(Error::NotOpenToNetwork);
        }
        if data.is_empty() {
            return Ok(());
        }
        if data.len() > self.limits.message_ceiling {
            return Err(Error::MessageTooLarge);
        }
        slot.deliver(data, sender)
    }

    /// The last reference to an open file description went away. For the
    /// server handle, the slot goes with it: its name leaves the directory
    /// at once and its messages are discarded.
    pub fn release(&self, fh: Fh) {
        let Some((_, handle)) = self.handles.remove(&fh) else {
            return;
        };
        let Target::Local(slot) = &handle.target else {
            return;
        };
        if handle.role == Role::Client {
            return;
        }
        if let Some(uid) = handle.creator {
            self.accounting
                .release(Account::User(uid), Resource::Slots, 1);
        }
        slot.close(Error::ServerGone);
        let Ok(node) = self.node(handle.ino) else {
            self.closing
                .released(handle.ino)
                .into_iter()
                .for_each(|r| r());
            return;
        };
        if let Ok(dir) = self.node(node.parent) {
            let mut entries = dir.dir().expect("a slot's parent is a directory").write();
            let cookie = node.cookie.load(Ordering::Acquire);
            if entries
                .by_cookie
                .get(&cookie)
                .is_some_and(|e| e.ino == node.ino)
                && let Some(entry) = entries.by_cookie.remove(&cookie)
                && let Ok(key) = names::fold(&entry.name)
            {
                entries.by_key.remove(&key);
            }
            drop(entries);
            Self::touch_dir(&dir);
            if dir.nlookup.load(Ordering::Acquire) == 0 {
                self.retire_idle_dirs(dir);
            }
        }
        let spellings = node.spellings.lock().clone();
        // Named before the detach, which makes the node unknown.
        let path = self.path_of(node.ino);
        self.detach(&node);
        log::debug!("slot {path} closed by its server (ino {})", node.ino);
        if let Some(hook) = self.invalidate.read().as_ref() {
            for name in &spellings {
                hook(node.parent, name);
            }
        }
        // Last: what waited for the close finds the slot gone.
        self.closing
            .released(node.ino)
            .into_iter()
            .for_each(|r| r());
    }

    /// A descriptor of `fh` is being closed (FLUSH). For a server handle
    /// it may be the last: see [`Closing`].
    pub fn flush(&self, fh: Fh) {
        if let Some(h) = self.handles.get(&fh)
            && matches!((&h.target, h.role), (Target::Local(_), Role::Server { .. }))
        {
            let ino = h.ino;
            drop(h);
            self.closing.flushed(ino);
        }
    }

    pub fn closing(&self) -> &Closing {
        &self.closing
    }

    /// The slot a request on `fh` would reach, if it is being closed.
    pub fn closing_by_handle(&self, fh: Fh) -> Option<Ino> {
        if !self.closing.any() {
            return None;
        }
        let ino = self.handles.get(&fh)?.ino;
        self.closing.is_marked(ino).then_some(ino)
    }

    /// The slot named `name` in `parent`, if it is being closed.
    pub fn closing_by_name(&self, parent: Ino, name: &OsStr) -> Option<Ino> {
        if !self.closing.any() {
            return None;
        }
        let key = names::fold(name).ok()?;
        let dir = self.node(parent).ok()?;
        let entries = dir.dir().ok()?.read();
        let ino = entries.by_cookie.get(entries.by_key.get(&key)?)?.ino;
        drop(entries);
        self.closing.is_marked(ino).then_some(ino)
    }

    /// Poll state of `fh` and what it may do. For a server handle with
    /// nothing to read, `waker` is kept and called once a message arrives.
    pub fn poll(&self, fh: Fh, key: u64, waker: Option<Waker>) -> Result<(Readiness, Role)> {
        let (target, role) = self.handle(fh)?;
        let readiness = match (target, role) {
            (Target::Local(slot), Role::Server { .. }) => slot.poll(key, waker),
            (Target::Local(slot), Role::Client) => Readiness {
                readable: false,
                closed: !slot.info().open,
            },
            (Target::Remote(_), _) => Readiness {
                readable: false,
                closed: false,
            },
        };
        Ok((readiness, role))
    }

    /// Entries of directory `ino` after `cookie`, handed to `add(ino, next
    /// cookie, kind, name)` until it returns true (its buffer is full).
    pub fn readdir(
        &self,
        ino: Ino,
        cookie: u64,
        mut add: impl FnMut(Ino, u64, Kind, &OsStr) -> bool,
    ) -> Result<()> {
        let node = self.node(ino)?;
        // A view lists the mount's directories at its path.
        let (listed, dirs_only) = match &node.body {
            Body::RemoteDir(at) => match self.shared_dir(&at.folded) {
                Some(shared) => (shared, true),
                None => (node.clone(), true),
            },
            _ => (node.clone(), false),
        };
        if cookie < 1 && add(ino, 1, Kind::Directory, OsStr::new(".")) {
            return Ok(());
        }
        if cookie < 2 && add(node.parent, 2, Kind::Directory, OsStr::new("..")) {
            return Ok(());
        }
        let Ok(entries) = listed.dir() else {
            return Ok(());
        };
        let entries = entries.read();
        // The cookie comes from the caller (seekdir sets any offset).
        let after = (
            std::ops::Bound::Excluded(cookie.max(2)),
            std::ops::Bound::Unbounded,
        );
        for (c, e) in entries.by_cookie.range(after) {
            if dirs_only && e.kind != Kind::Directory {
                continue;
            }
            if add(e.ino, *c, e.kind, &e.name) {
                break;
            }
        }
        Ok(())
    }

    pub fn setattr(&self, ino: Ino, change: SetAttr) -> Result<Attr> {
        let node = self.node(ino)?;
        if let Some(size) = change.size {
            if !matches!(node.body, Body::Slot(_) | Body::RemoteSlot(_)) {
                return Err(Error::IsDirectory);
            }
            // Shells truncate what they redirect into; that is harmless here.
            if size != 0 {
                return Err(Error::InvalidArgument);
            }
        }
        let owned = change.mode.is_some() || change.uid.is_some() || change.gid.is_some();
        if owned && !matches!(node.body, Body::Slot(_)) {
            // Directories and remote names are names, nobody's property.
            return Err(Error::NotPermitted);
        }
        {
            let mut meta = node.meta.lock();
            if let Some(mode) = change.mode {
                meta.perm = (mode & 0o7777) as u16;
            }
            if let Some(uid) = change.uid {
                meta.uid = uid;
            }
            if let Some(gid) = change.gid {
                meta.gid = gid;
            }
        }
        Ok(self.attr_of(&node))
    }

    fn slot_attr(&self, ino: Ino, name: &OsStr) -> Result<(Arc<Node>, Arc<Slot>, Attribute)> {
        let node = self.node(ino)?;
        let attribute = Attribute::from_name(name).ok_or(Error::NoAttribute)?;
        let slot = node.slot().map_err(|_| Error::NoAttribute)?.clone();
        Ok((node, slot, attribute))
    }

    fn root_attributes(&self) -> Vec<(String, String)> {
        self.root_attributes
            .read()
            .as_ref()
            .map(|f| f())
            .unwrap_or_default()
    }

    /// The value of attribute `name` of `ino`, as `caller` may see it: who
    /// sent a slot's messages is its owner's to know (and root's), since
    /// public slots are readable by all, and the read bit of a slot means
    /// only "may open it as a client".
    pub fn getxattr(&self, ino: Ino, name: &OsStr, caller: Caller) -> Result<Vec<u8>> {
        if ino == ROOT {
            if name == USERS_ATTRIBUTE {
                return Ok(self.accounting.report().into_bytes());
            }
            return self
                .root_attributes()
                .into_iter()
                .find(|(n, _)| OsStr::new(n) == name)
                .map(|(_, v)| v.into_bytes())
                .ok_or(Error::NoAttribute);
        }
        if let Some(max) = self.remote_max_message_size(ino, name)? {
            return Ok(max.to_string().into_bytes());
        }
        let (node, slot, attribute) = self.slot_attr(ino, name)?;
        let sender = match attribute {
            Attribute::NextSender | Attribute::LastSender
                if caller.uid != 0 && caller.uid != node.meta.lock().uid =>
            {
                return Err(Error::OwnerOnly);
            }
            Attribute::NextSender => slot.next_sender(),
            Attribute::LastSender => slot.last_sender(),
            _ => None,
        }
        .map(|s| s.seen_by(caller.pid));
        Ok(attribute.format(&slot.info(), sender.as_ref()).into_bytes())
    }

    /// For a remote name: the largest message the network side sends to it
    /// (GetMailslotInfo's maximum, as the target allows it).
    fn remote_max_message_size(&self, ino: Ino, name: &OsStr) -> Result<Option<usize>> {
        let node = self.node(ino)?;
        let Body::RemoteSlot(at) = &node.body else {
            return Ok(None);
        };
        if Attribute::from_name(name) != Some(Attribute::MaxMessageSize) {
            return Err(Error::NoAttribute);
        }
        let sender = self.remote.read().clone().ok_or(Error::NetworkDown)?;
        sender.max_message_size(&at.target, &at.path).map(Some)
    }

    pub fn listxattr(&self, ino: Ino) -> Result<Vec<u8>> {
        let node = self.node(ino)?;
        let mut out = Vec::new();
        if ino == ROOT {
            out.extend_from_slice(USERS_ATTRIBUTE.as_bytes());
            out.push(0);
            for (name, _) in self.root_attributes() {
                out.extend_from_slice(name.as_bytes());
                out.push(0);
            }
        }
        if node.slot().is_ok() {
            for a in Attribute::ALL {
                out.extend_from_slice(a.name().as_bytes());
                out.push(0);
            }
        }
        if matches!(node.body, Body::RemoteSlot(_)) {
            out.extend_from_slice(Attribute::MaxMessageSize.name().as_bytes());
            out.push(0);
        }
        Ok(out)
    }

    /// SetMailslotInfo: the owner (or root) may change the read timeout and
    /// the maximum message size.
    pub fn setxattr(
        &self,
        ino: Ino,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        caller: Caller,
    ) -> Result<()> {
        let (node, slot, attribute) = self.slot_attr(ino, name)?;
        let owner = node.meta.lock().uid;
        if !attribute.settable() || (caller.uid != 0 && caller.uid != owner) {
            return Err(Error::NotPermitted);
        }
        if flags & libc::XATTR_CREATE != 0 {
            return Err(Error::Exists);
        }
        match attribute {
            Attribute::MaxMessageSize => slot.set_max_message_size(xattr::parse_max_message_size(
                value,
                self.limits.message_ceiling,
            )?),
            Attribute::ReadTimeoutMs => slot.set_read_timeout(xattr::parse_read_timeout(value)?),
            _ => unreachable!("only settable attributes get here"),
        }
        Ok(())
    }

    pub fn removexattr(&self, ino: Ino, name: &OsStr) -> Result<()> {
        self.slot_attr(ino, name)?;
        Err(Error::NotPermitted)
    }

    /// Network origins named by queued messages (for tests).
    pub fn network_origins(&self) -> usize {
        self.origins.len()
    }

    pub fn slot_info(&self, ino: Ino) -> Result<SlotInfo> {
        Ok(self.node(ino)?.slot()?.info())
    }

    pub fn statfs(&self) -> StatFs {
        let block = 4096u64;
        let total = self.accounting.max_total() as u64;
        let used = self.accounting.total() as u64;
        StatFs {
            block_size: block as u32,
            blocks: total / block,
            blocks_free: total.saturating_sub(used) / block,
            blocks_available: (total - total / super::quota::RESERVE_DIVISOR as u64)
                .saturating_sub(used)
                / block,
            files: self.nodes.len() as u64,
            files_free: u64::from(u32::MAX),
            name_max: names::NAME_MAX as u32,
        }
    }

    /// The daemon is stopping: every waiting reader is answered with an
    /// error now, and nothing new opens.
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        let slots: Vec<Arc<Slot>> = self
            .nodes
            .iter()
            .filter_map(|n| n.slot().ok().cloned())
            .collect();
        for slot in slots {
            slot.close(Error::ShuttingDown);
        }
    }
}

fn perm_of(mode: u32, umask: u32) -> u16 {
    (mode & !umask & 0o7777) as u16
}
