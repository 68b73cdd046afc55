//! A segment of hosts for the network tests, made of network namespaces
//! the test creates itself: one namespace per host, each with an `eth0`
//! plugged into a bridge that lives in a namespace of its own, addresses
//! from 198.18.0.0/24 (RFC 2544's benchmarking range). Nothing is sent from
//! or to the root namespace. Namespace names carry the test's pid, so runs
//! side by side do not collide; everything is removed on drop, and only
//! the processes the test started are stopped, by pid.
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::common::{BIN, is_mounted, wait_until};

static NEXT: AtomicU32 = AtomicU32::new(0);

pub const MAILSLOT: &str = env!("CARGO_BIN_EXE_mailslot");
pub const BROADCAST: &str = "198.18.0.255";

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// Fails the test, loudly, when a tool it needs is missing.
pub fn require(tools: &[&str]) {
    crate::common::require_fuse();
    for tool in tools {
        assert!(
            Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {tool}"))
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success(),
            "{tool} is needed by the network tests (tests/run-all.sh installs it)"
        );
    }
}

pub struct Host {
    pub ns: String,
    pub addr: Ipv4Addr,
    pub mount: PathBuf,
    pub daemon: Option<Child>,
    /// Other processes started in this namespace, stopped on drop.
    pub others: Vec<Child>,
}

pub struct Lan {
    pub dir: tempfile::TempDir,
    switch: String,
    tag: String,
    pub hosts: Vec<Host>,
    extra_ns: Vec<String>,
}

impl Lan {
    pub fn new(n: usize) -> Lan {
        require(&["ip", "nsenter", "tshark", "python3"]);
        let tag = format!(
            "msfs{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let switch = format!("{tag}sw");
        ip(&["netns", "add", &switch]);
        let dir = tempfile::tempdir().unwrap();
        // Other users (the permission tests) must reach the mounts.
        fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let mut lan = Lan {
            dir,
            switch,
            tag,
            hosts: Vec::new(),
            extra_ns: Vec::new(),
        };
        ip(&["-n", &lan.switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &lan.switch, "link", "set", "br0", "up"]);
        for i in 0..n {
            let ns = format!("{}h{i}", lan.tag);
            let addr = Ipv4Addr::new(198, 18, 0, 1 + i as u8);
            ip(&["netns", "add", &ns]);
            lan.plug(&ns, &format!("p{i}"));
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "broadcast",
                BROADCAST,
                "dev",
                "eth0",
            ]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            let mount = lan.dir.path().join(format!("host{i}"));
            fs::create_dir(&mount).unwrap();
            lan.hosts.push(Host {
                ns,
                addr,
                mount,
                daemon: None,
                others: Vec::new(),
            });
        }
        lan
    }

    /// Gives namespace `ns` an `eth0` whose other end, `port`, is plugged
    /// into the bridge and up.
    fn plug(&self, ns: &str, port: &str) {
        ip(&[
            "-n",
            ns,
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            port,
            "netns",
            &self.switch,
        ]);
        ip(&["-n", &self.switch, "link", "set", port, "master", "br0"]);
        ip(&["-n", &self.switch, "link", "set", port, "up"]);
    }

    /// A second segment, 198.18.1.0/24, between host `i` (as `eth1`,
    /// 198.18.1.1) and a namespace of its own (198.18.1.2), whose name is
    /// returned.
    pub fn second_segment(&mut self, i: usize) -> String {
        let ns = format!("{}x{}", self.tag, self.extra_ns.len());
        ip(&["netns", "add", &ns]);
        self.extra_ns.push(ns.clone());
        let host = self.hosts[i].ns.clone();
        ip(&[
            "-n", &host, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns",
            &ns,
        ]);
        ip(&[
            "-n",
            &host,
            "addr",
            "add",
            "198.18.1.1/24",
            "broadcast",
            "198.18.1.255",
            "dev",
            "eth1",
        ]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            "198.18.1.2/24",
            "broadcast",
            "198.18.1.255",
            "dev",
            "eth0",
        ]);
        for (n, dev) in [(&host, "eth1"), (&ns, "eth0"), (&ns, "lo")] {
            ip(&["-n", n, "link", "set", dev, "up"]);
        }
        ns
    }

    /// Starts host `i`'s daemon as `HOST<i>` in workgroup TESTDOM; host 0
    /// finds its address from the interface, the others are given theirs.
    pub fn start(&mut self, i: usize) -> PathBuf {
        self.start_with(i, &[])
    }

    /// Starts host `i`'s daemon and waits until its names are settled
    /// (registered or in conflict): the names are registered after the
    /// mount is up.
    pub fn start_with(&mut self, i: usize, extra: &[&str]) -> PathBuf {
        let mount = self.start_mounted(i, extra);
        wait_until("the names to settle", Duration::from_secs(60), || {
            !xattr(&mount, "user.mailslot.net.names").contains("registering")
        });
        mount
    }

    /// Starts host `i`'s daemon and returns as soon as the mount answers,
    /// whatever its names' registration is doing.
    pub fn start_mounted(&mut self, i: usize, extra: &[&str]) -> PathBuf {
        let log = fs::File::create(self.dir.path().join(format!("daemon{i}.log"))).unwrap();
        let h = &mut self.hosts[i];
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", h.ns))
            .arg("--")
            .arg(BIN)
            .args(["-f", "-v"]);
        if i == 0 {
            cmd.args(["--interface", "eth0"]);
        } else {
            let [a, b, c, _] = h.addr.octets();
            let broadcast = Ipv4Addr::new(a, b, c, 255).to_string();
            cmd.args(["--address", &h.addr.to_string(), "--broadcast", &broadcast]);
        }
        if !extra.contains(&"--netbios-name") {
            cmd.args(["--netbios-name", &format!("host{i}")]);
        }
        cmd.args(["--workgroup", "testdom"])
            .args(extra)
            .arg(&h.mount)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        h.daemon = Some(cmd.spawn().unwrap());
        let mount = h.mount.clone();
        let start = Instant::now();
        while !is_mounted(&mount) {
            let exited = self.hosts[i].daemon.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && start.elapsed() < Duration::from_secs(20),
                "host {i}'s mount did not come up ({exited:?}):\n{}",
                self.log(i)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        fs::metadata(&mount).unwrap();
        mount
    }

    /// Stops host `i`'s daemon with SIGTERM (a clean stop) and returns how
    /// it exited.
    pub fn stop(&mut self, i: usize) -> std::process::ExitStatus {
        let mut child = self.hosts[i].daemon.take().expect("daemon started");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = child.wait().unwrap();
        let mount = self.hosts[i].mount.clone();
        wait_until("the mount to go", Duration::from_secs(10), || {
            !is_mounted(&mount)
        });
        status
    }

    /// Runs host `i`'s daemon as [`start_with`](Self::start_with) does,
    /// expecting it to refuse to start: returns its exit status and log.
    pub fn start_refused(
        &mut self,
        i: usize,
        extra: &[&str],
    ) -> (std::process::ExitStatus, String) {
        let h = &self.hosts[i];
        let out = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", h.ns))
            .arg("--")
            .arg(BIN)
            .args([
                "-f",
                "-v",
                "--address",
                &h.addr.to_string(),
                "--broadcast",
                BROADCAST,
            ])
            .args(["--workgroup", "testdom"])
            .args(extra)
            .arg(&h.mount)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!is_mounted(&h.mount), "the daemon mounted");
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Adds a host on a second segment, 198.18.2.0/24, behind a router
    /// namespace (198.18.0.254 on this segment, 198.18.2.1 on the other)
    /// that forwards between them; every host made so far routes there
    /// through it. Returns the new host's index; its address is
    /// 198.18.2.2. Broadcasts stay on each segment, as routers keep them.
    pub fn routed_host(&mut self) -> usize {
        let router = format!("{}r", self.tag);
        ip(&["netns", "add", &router]);
        self.extra_ns.push(router.clone());
        self.plug(&router, "pr");
        ip(&[
            "-n",
            &router,
            "addr",
            "add",
            "198.18.0.254/24",
            "dev",
            "eth0",
        ]);
        let i = self.hosts.len();
        let ns = format!("{}h{i}", self.tag);
        ip(&["netns", "add", &ns]);
        ip(&[
            "-n", &router, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns",
            &ns,
        ]);
        ip(&["-n", &router, "addr", "add", "198.18.2.1/24", "dev", "eth1"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            "198.18.2.2/24",
            "broadcast",
            "198.18.2.255",
            "dev",
            "eth0",
        ]);
        for (n, dev) in [
            (&router, "eth0"),
            (&router, "eth1"),
            (&router, "lo"),
            (&ns, "eth0"),
            (&ns, "lo"),
        ] {
            ip(&["-n", n, "link", "set", dev, "up"]);
        }
        run(Command::new("ip").args([
            "netns",
            "exec",
            &router,
            "sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv4/ip_forward",
        ]));
        ip(&["-n", &ns, "route", "add", "default", "via", "198.18.2.1"]);
        for h in &self.hosts {
            ip(&[
                "-n",
                &h.ns,
                "route",
                "add",
                "198.18.2.0/24",
                "via",
                "198.18.0.254",
            ]);
        }
        let mount = self.dir.path().join(format!("host{i}"));
        fs::create_dir(&mount).unwrap();
        self.hosts.push(Host {
            ns,
            addr: Ipv4Addr::new(198, 18, 2, 2),
            mount,
            daemon: None,
            others: Vec::new(),
        });
        i
    }

    pub fn mount(&self, i: usize) -> PathBuf {
        self.hosts[i].mount.clone()
    }

    pub fn ns(&self, i: usize) -> &str {
        &self.hosts[i].ns
    }

    pub fn daemon_pid(&self, i: usize) -> u32 {
        self.hosts[i].daemon.as_ref().expect("daemon started").id()
    }

    /// The daemon's resident memory, in KiB.
    pub fn daemon_rss_kib(&self, i: usize) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.daemon_pid(i))).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// `cmd` run in host `i`'s namespace.
    pub fn in_ns(&self, i: usize, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.ns(i), program]);
        c
    }

    /// Starts `cmd` as a process of host `i`, stopped (by pid) on drop.
    pub fn spawn(&mut self, i: usize, mut cmd: Command) -> u32 {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        let pid = child.id();
        self.hosts[i].others.push(child);
        pid
    }

    pub fn log(&self, i: usize) -> String {
        fs::read_to_string(self.dir.path().join(format!("daemon{i}.log"))).unwrap_or_default()
    }

    pub fn counter(&self, i: usize, name: &str) -> u64 {
        let v = xattr(&self.hosts[i].mount, &format!("user.mailslot.net.{name}"));
        v.parse()
            .unwrap_or_else(|_| panic!("counter {name}: {v:?}"))
    }

    /// Captures `filter` on host `i`'s `eth0` until [`Capture::stop`].
    pub fn capture(&mut self, i: usize, filter: &str) -> Capture {
        let pcap = self.dir.path().join(format!(
            "capture{}.pcap",
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                self.ns(i),
                "tshark",
                "-i",
                "eth0",
                "-f",
                filter,
                "-w",
            ])
            .arg(&pcap)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // tshark says "Capturing on" once it listens.
        let mut err = child.stderr.take().unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 256];
        while !seen.contains("Capturing on") {
            let n = err.read(&mut buf).unwrap();
            assert!(n > 0, "tshark ended: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        // tshark says so a moment before dumpcap's filter is in place;
        // packets sent at once were seen to be missed.
        std::thread::sleep(Duration::from_millis(500));
        Capture {
            child: Some(child),
            pcap,
        }
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for h in &mut self.hosts {
            for child in h.others.iter_mut().chain(h.daemon.as_mut()) {
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                let start = Instant::now();
                while child.try_wait().ok().flatten().is_none() {
                    if start.elapsed() > Duration::from_secs(10) {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            if is_mounted(&h.mount) {
                let _ = Command::new("umount").arg("-l").arg(&h.mount).status();
            }
            let _ = Command::new("ip").args(["netns", "del", &h.ns]).status();
        }
        for ns in self.extra_ns.iter().chain(std::iter::once(&self.switch)) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A running tshark; [`stop`](Capture::stop) ends it and decodes the file.
pub struct Capture {
    child: Option<Child>,
    pub pcap: PathBuf,
}

impl Capture {
    /// Stops the capture (after a moment, for packets still in flight) and
    /// returns `tshark -V` of what it saw, one packet a frame.
    pub fn stop(&mut self) -> String {
        std::thread::sleep(Duration::from_millis(500));
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGINT,
            );
            let _ = child.wait();
        }
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&self.pcap)
            .arg("-V")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The number of packets the capture holds (after [`stop`](Capture::stop)).
    pub fn packets(&self) -> usize {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&self.pcap)
            .args(["-T", "fields", "-e", "frame.number"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    }

    pub fn hex(&self) -> String {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&self.pcap)
            .arg("-x")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn xattr(path: &Path, name: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2]).decode())",
        ])
        .arg(path)
        .arg(name)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Helpers every network test's Python starts with.
pub const HELPERS: &str = r#"
import os, sys, errno, time, struct, subprocess
os.umask(0)
def server(p, mode=0o622):
    """A slot other users (and so the network) may write to, unless mode says otherwise."""
    return os.open(p, os.O_CREAT | os.O_RDONLY | os.O_NONBLOCK, mode)
def take(fd, wait=5.0):
    end = time.time() + wait
    while True:
        try:
            return os.read(fd, 2000)
        except BlockingIOError:
            if time.time() > end: return None
            time.sleep(0.02)
def write(p, data):
    """CreateFile + WriteFile: a write-only open, no O_CREAT."""
    try:
        fd = os.open(p, os.O_WRONLY)
        try: return os.write(fd, data)
        finally: os.close(fd)
    except OSError as e:
        return errno.errorcode[e.errno]
def write_sh(p, data):
    """What the shell's > does: O_WRONLY|O_CREAT|O_TRUNC."""
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try: return os.write(fd, data)
        finally: os.close(fd)
    except OSError as e:
        return errno.errorcode[e.errno]
def count(fd_path):
    return int(os.getxattr(fd_path, 'user.mailslot.message_count'))
"#;

/// Runs Python with `args` as argv[1..] (as `uid` when given, through
/// setpriv); fails the test on error.
pub fn py_as(uid: Option<u32>, script: &str, args: &[&Path]) -> String {
    let mut cmd = match uid {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
                system_python(),
            ]);
            c
        }
        None => Command::new("python3"),
    };
    let out = cmd
        .arg("-c")
        .arg(format!("{HELPERS}\n{script}"))
        .args(args)
        .env("MAILSLOT", MAILSLOT)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A Python every user may run: a root user's own interpreter (pyenv in
/// root's home, say) may be out of other users' reach.
fn system_python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

pub fn py(script: &str, args: &[&Path]) -> String {
    py_as(None, script, args)
}

/// Starts Debian's nmbd on host `i` as `name` in workgroup TESTDOM, with
/// `settings` (smb.conf lines) added to a base that keeps every file it
/// writes in the test's directory, so it never touches the machine's
/// Samba: its unix socket too (`nmbd:socket dir`; by default every nmbd
/// binds `/run/samba/nmbd/unexpected`, so two at once would fail). Returns the smb.conf (for `nmblookup -s`). Fails, never skips,
/// without nmbd.
pub fn nmbd(lan: &mut Lan, i: usize, name: &str, settings: &str) -> PathBuf {
    require(&["nmbd", "nmblookup"]);
    let root = lan.dir.path().join("samba");
    for sub in [
        "lock", "state", "cache", "private", "pid", "log", "ncalrpc", "nmbd",
    ] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    let r = |sub: &str| root.join(sub).display().to_string();
    let conf = root.join("smb.conf");
    fs::write(
        &conf,
        format!(
            "[global]
    workgroup = TESTDOM
    netbios name = {name}
    security = user
    local master = yes
    preferred master = yes
    os level = 65
    interfaces = eth0
    bind interfaces only = yes
    disable netbios = no
    dns proxy = no
    lock directory = {}
    state directory = {}
    cache directory = {}
    private dir = {}
    pid directory = {}
    ncalrpc dir = {}
    log file = {}/log.%m
    log level = 3
    passdb backend = tdbsam:{}/passdb.tdb
    nmbd:socket dir = {}
    {}
",
            r("lock"),
            r("state"),
            r("cache"),
            r("private"),
            r("pid"),
            r("ncalrpc"),
            r("log"),
            r("private"),
            r("nmbd"),
            settings.replace('\n', "\n    "),
        ),
    )
    .unwrap();
    let log = fs::File::create(root.join("nmbd.out")).unwrap();
    let mut cmd = lan.in_ns(i, "nmbd");
    cmd.args(["--foreground", "--no-process-group", "--debug-stdout"])
        .arg(format!("--configfile={}", conf.display()))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    lan.spawn(i, cmd);
    conf
}

pub fn nmbd_log(lan: &Lan) -> String {
    fs::read_to_string(lan.dir.path().join("samba/nmbd.out")).unwrap_or_default()
}

/// `nmblookup -s conf ARGS` run in host `i`'s namespace: stdout and stderr.
pub fn nmblookup(lan: &Lan, i: usize, conf: &Path, args: &[&str]) -> String {
    let out = lan
        .in_ns(i, "nmblookup")
        .arg("-s")
        .arg(conf)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Asks `nmblookup ARGS` from host 0, every half second, until its output
/// contains `want` (nmbd takes a few seconds to register and to serve).
pub fn await_nmbd(lan: &Lan, conf: &Path, args: &[&str], want: &str) {
    let start = Instant::now();
    loop {
        let out = nmblookup(lan, 0, conf, args);
        if out.contains(want) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "nmbd never gave {want:?} to nmblookup {args:?}: {out}\n{}",
            nmbd_log(lan)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
