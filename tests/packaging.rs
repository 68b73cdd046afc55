//! The two ways onto a machine: `mount-scripts/install.sh` (and its
//! `--uninstall`), staged in a temporary root, and the Debian package,
//! built with cargo-deb and checked by lintian. install.sh and the package
//! refuse each other. Nothing here is skipped: a missing cargo-deb or
//! lintian fails (tests/run-all.sh installs both).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Every file and directory under `root`, relative to it, sorted.
fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() && !path.is_symlink() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn install_sh(destdir: &Path, args: &[&str]) -> Output {
    Command::new(repo().join("mount-scripts/install.sh"))
        .args(args)
        .env("DESTDIR", destdir)
        .env("PREFIX", "/usr/local")
        .output()
        .unwrap()
}

#[test]
fn install_and_uninstall_in_a_temporary_root_leave_nothing_behind() {
    let root = tempfile::tempdir().unwrap();
    let dest = root.path();
    ok(install_sh(dest, &[]), "install.sh");

    let installed = tree(dest);
    for want in [
        "usr/local/bin/mailslotfs",
        "usr/local/bin/mailslot",
        "usr/local/share/man/man8/mailslotfs.8",
        "usr/local/share/man/man1/mailslot.1",
        "usr/local/share/man/man1/mailslot-listen.1",
        "usr/local/share/bash-completion/completions/mailslot",
        "usr/local/share/bash-completion/completions/mailslotfs",
        "usr/local/share/zsh/site-functions/_mailslot",
        "usr/local/share/fish/vendor_completions.d/mailslotfs.fish",
        "etc/systemd/system/mailslotfs.service",
        "usr/local/share/mailslotfs/install-manifest",
    ] {
        assert!(
            installed.iter().any(|p| p == want),
            "{want} missing: {installed:#?}"
        );
    }
    // Nothing outside the prefix but the unit; no mount helper any more
    // (fuse3's mount.fuse3 runs `mailslotfs SOURCE MOUNTPOINT -o ...`).
    for p in &installed {
        assert!(
            p.starts_with("usr") || p.starts_with("etc"),
            "{p} outside the prefix and the unit"
        );
        assert!(!p.contains("sbin"), "{p}: no mount helper is installed");
    }
    let unit = std::fs::read_to_string(dest.join("etc/systemd/system/mailslotfs.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/mailslotfs --foreground"),
        "{unit}"
    );

    // The staged daemon works: it mounts, and --stop stops it.
    let mnt = dest.join("m");
    std::fs::create_dir(&mnt).unwrap();
    let daemon = dest.join("usr/local/bin/mailslotfs");
    ok(
        Command::new(&daemon)
            .arg("--log-file")
            .arg(dest.join("log"))
            .arg(&mnt)
            .output()
            .unwrap(),
        "the installed mailslotfs",
    );
    assert!(common::is_mounted(&mnt));
    ok(
        Command::new(&daemon)
            .arg("--stop")
            .arg(&mnt)
            .output()
            .unwrap(),
        "mailslotfs --stop",
    );
    assert!(!common::is_mounted(&mnt));
    std::fs::remove_dir(&mnt).unwrap();
    std::fs::remove_file(dest.join("log")).unwrap();

    // Running it again upgrades in place and keeps one manifest.
    ok(install_sh(dest, &[]), "install.sh, again");
    assert_eq!(tree(dest), installed);

    let out = ok(install_sh(dest, &["--uninstall"]), "install.sh --uninstall");
    assert!(out.contains("uninstalled"), "{out}");
    assert_eq!(tree(dest), Vec::<String>::new(), "left behind");
    let again = install_sh(dest, &["--uninstall"]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("nothing to uninstall"));
}

/// install.sh refuses a machine where the Debian package is installed,
/// before it changes anything (its unit in /etc would shadow the package's).
#[test]
fn install_sh_refuses_when_the_package_is_installed() {
    let admin = tempfile::tempdir().unwrap();
    std::fs::create_dir(admin.path().join("info")).unwrap();
    std::fs::write(
        admin.path().join("status"),
        "Package: mailslotfs\nStatus: install ok installed\nVersion: 0.1.0-1\n\
         Architecture: amd64\nMaintainer: mailslotfs maintainers <m@example.org>\n\
         Description: mailslots\n\n",
    )
    .unwrap();
    let stage = tempfile::tempdir().unwrap();
    let out = Command::new(repo().join("mount-scripts/install.sh"))
        .env("DPKG_ADMINDIR", admin.path())
        .env("DESTDIR", stage.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains("Debian package is installed") && err.contains("dpkg -r mailslotfs"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(tree(stage.path()), Vec::<String>::new(), "nothing staged");
}

/// The package, built once for every test here: tests run side by side, and
/// a second build rewriting the file under a test that reads it would give
/// that test half a package.
fn build_deb() -> PathBuf {
    static DEB: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DEB.get_or_init(|| {
        let out = Command::new(repo().join("mount-scripts/build-deb.sh"))
            .output()
            .unwrap();
        let stdout = ok(
            out,
            "build-deb.sh (needs cargo-deb: cargo install --locked cargo-deb)",
        );
        let deb = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
        assert!(deb.extension().is_some_and(|e| e == "deb"), "{stdout}");
        deb
    })
    .clone()
}

#[test]
fn the_debian_package_builds_and_lintian_finds_nothing_wrong() {
    let deb = build_deb();
    // lintian warns when run as root; it runs as nobody, on a copy it may read.
    let scratch = tempfile::tempdir().unwrap();
    let copy = common::copy_for_other_users(deb.to_str().unwrap(), scratch.path());
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["lintian", "--fail-on", "error,warning"])
        .arg(&copy)
        .env("HOME", scratch.path())
        .env("TMPDIR", scratch.path())
        // Not the checkout, which nobody may not enter (a clone in a mktemp -d).
        .current_dir(scratch.path())
        .output()
        .expect("lintian is needed (apt-get install lintian)");
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "lintian: {report}");
    for line in report.lines() {
        assert!(
            !line.starts_with("E:") && !line.starts_with("W:"),
            "lintian: {line}"
        );
    }

    let contents = ok(
        Command::new("dpkg-deb")
            .arg("--contents")
            .arg(&deb)
            .output()
            .unwrap(),
        "dpkg-deb --contents",
    );
    for want in [
        "./usr/bin/mailslotfs",
        "./usr/bin/mailslot",
        "./usr/share/man/man8/mailslotfs.8.gz",
        "./usr/share/doc/mailslotfs/copyright",
        "./usr/share/doc/mailslotfs/changelog.Debian.gz",
        "./usr/lib/systemd/system/mailslotfs.service",
        "./usr/share/zsh/vendor-completions/_mailslot",
        "./usr/share/fish/vendor_completions.d/mailslot.fish",
    ] {
        assert!(contents.contains(want), "{want} missing:\n{contents}");
    }
    assert!(!contents.contains("sbin/"), "no mount helper:\n{contents}");
    let fields = ok(
        Command::new("dpkg-deb")
            .arg("--field")
            .arg(&deb)
            .output()
            .unwrap(),
        "dpkg-deb --field",
    );
    assert!(fields.contains("Depends: fuse3"), "{fields}");
    assert!(
        fields.contains("Maintainer: mailslotfs maintainers"),
        "{fields}"
    );

    // The maintainer scripts: preinst refuses an install.sh installation,
    // postinst says what it did without systemd.
    let control = scratch.path().join("control");
    ok(
        Command::new("dpkg-deb")
            .arg("-e")
            .arg(&deb)
            .arg(&control)
            .output()
            .unwrap(),
        "dpkg-deb -e",
    );
    let fake_root = scratch.path().join("root");
    let preinst = |root: &Path| {
        Command::new(control.join("preinst"))
            .arg("install")
            .env("DPKG_ROOT", root)
            .output()
            .unwrap()
    };
    std::fs::create_dir_all(&fake_root).unwrap();
    ok(preinst(&fake_root), "preinst on a clean machine");
    let manifest = fake_root.join("usr/local/share/mailslotfs/install-manifest");
    std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    std::fs::write(&manifest, "f /usr/local/bin/mailslotfs\n").unwrap();
    let refused = preinst(&fake_root);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        text(&refused.stderr).contains("install.sh --uninstall"),
        "{refused:?}"
    );
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(
        postinst.contains("systemd is not running here, so nothing was mounted"),
        "{postinst}"
    );
}

/// install.sh for real, not staged, in a mount namespace whose /usr/local,
/// /etc/systemd/system, /var/log, /var/cache/man and /dev are its own: it
/// mounts, a second run upgrades while a server holds a slot open (checked
/// and stopped before anything is replaced), and --uninstall leaves none of
/// it behind, not even the mount point or the daemon's log, nor the pages
/// in `man -k` (indexed through /usr/local/man too, as on Debian).
#[test]
fn install_upgrade_with_a_busy_mount_and_uninstall_for_real() {
    common::require_fuse();
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mailslot");
    let script = format!(
        r#"set -e
{dev}
for d in /usr/local /etc/systemd/system /var/log /var/cache/man; do
    mkdir -p "$d"
    mount -t tmpfs mailslotfs-test "$d"
done
# As on Debian, where man-db's daily run indexes the pages through this
# link too, in an index of its own.
ln -s share/man /usr/local/man
# Under systemd install.sh would use it; here it must mount by itself.
if [ -d /run/systemd/system ]; then mount -t tmpfs mailslotfs-test /run/systemd; fi
export MOUNTPOINT="$MNT"
"$REPO/mount-scripts/install.sh" > "$OUT/first" 2>&1 || {{ cat "$OUT/first"; exit 1; }}
mountpoint -q "$MNT"
/usr/local/bin/mailslot --mount "$MNT" ls > /dev/null
man -k mailslotfs | grep -q '^mailslotfs (8)'
mandb -q /usr/local/man
exec 3<>"$MNT/busy"
"$REPO/mount-scripts/install.sh" > "$OUT/second" 2>&1 || {{ cat "$OUT/second"; exit 1; }}
exec 3<&-
mountpoint -q "$MNT"
echo hi > "$MNT/nobody" 2>/dev/null || true
"$REPO/mount-scripts/install.sh" --uninstall > "$OUT/third" 2>&1 || {{ cat "$OUT/third"; exit 1; }}
! mountpoint -q "$MNT" 2>/dev/null
echo "left: $(find /usr/local /etc/systemd/system /var/log -mindepth 1 ! -path /usr/local/man | tr '\n' ' ')"
echo "man -k: $(man -k mailslot 2>&1)"
echo "mount point: $(test -e "$MNT" && echo kept || echo removed)"
"#,
        dev = common::PRIVATE_DEV
    );
    let (code, out, err) = common::in_mount_namespace(
        &script,
        &[("REPO", repo()), ("MNT", &mnt), ("OUT", dir.path())],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(
        out, "left: \nman -k: mailslot: nothing appropriate.\nmount point: removed\n",
        "{err}"
    );
    let first = std::fs::read_to_string(dir.path().join("first")).unwrap();
    assert!(
        first.contains("logging to /var/log/mailslotfs.log")
            && first.contains("mailslotfs is mounted at"),
        "{first}"
    );
    let third = std::fs::read_to_string(dir.path().join("third")).unwrap();
    assert!(third.contains("mailslotfs is uninstalled"), "{third}");
}

/// The package for real, installed with apt-get in a mount namespace whose
/// /usr, /etc and /var are overlays on temporary directories (so that the
/// machine's own are untouched, and what the package leaves behind is what
/// the overlays gained). Beside it runs an unrelated mailslotfs: another
/// executable, a copy of the release build, with a server holding a slot
/// and one message queued. Removal and purge stop the package's own mounts
/// (by hand and by mount -t) and not that one, whose message is read
/// afterwards; removal leaves no mask that stops installing again; purge
/// leaves nothing of the package's on disk, its log included.
#[test]
fn remove_and_purge_stop_only_the_packages_mounts_and_purge_leaves_nothing() {
    common::require_fuse();
    let deb = build_deb();
    let dir = tempfile::tempdir().unwrap();
    let other_bin = dir.path().join("other/bin");
    std::fs::create_dir_all(&other_bin).unwrap();
    // Named mailslotfs, as --stop asks of the process it signals.
    std::fs::copy(
        repo().join("target/release/mailslotfs"),
        other_bin.join("mailslotfs"),
    )
    .unwrap();
    let script = format!(
        r#"set -e
OTHER_BIN="$DIR/other/bin/mailslotfs"
OTHER="$DIR/other/m"
OWN="$DIR/own"
OWN_T="$DIR/own-t"
mkdir -p "$OTHER" "$OWN" "$OWN_T"
# Whatever happens, nothing started here outlives the test: the mounts
# are stopped by their daemons, the unrelated daemon by its pid.
other_pid=
cleanup() {{
    exec 3<&-
    for m in "$OWN" "$OWN_T" "$OTHER"; do
        if mountpoint -q "$m"; then "$OTHER_BIN" --stop "$m" || umount -l "$m"; fi
    done
    if [ -n "$other_pid" ]; then kill "$other_pid" 2>/dev/null || true; fi
}}
trap cleanup EXIT
# Other mailslotfs mounts of the machine are detached from this namespace
# only, so that no removal here can reach them. Other tests run meanwhile:
# a mount whose directory they have already removed cannot be reached by
# any path, and that is all this asks.
awk '$3 == "fuse.mailslotfs" {{ print $2 }}' /proc/mounts | while read -r m; do
    p="$(printf '%b' "$(printf '%s' "$m" | sed 's/\\\([0-7][0-7][0-7]\)/\\0\1/g')")"
    umount -l "$p" 2>/dev/null || [ ! -e "$p" ] || ! mountpoint -q "$p"
done
for d in usr etc var; do mkdir -p "$DIR/upper/$d" "$DIR/work/$d"; done
# The machine's apt may be at work: the overlays are made, and dpkg's state
# copied up into them, under its own locks (of the machine's files, opened
# before the overlay hides them), so that this namespace starts from one
# consistent state and the machine's later changes cannot reach it.
python3 - <<'PY'
import fcntl, os, subprocess
locks = []
for name in ("lock-frontend", "lock"):
    fd = os.open("/var/lib/dpkg/" + name, os.O_RDWR | os.O_CREAT, 0o640)
    fcntl.lockf(fd, fcntl.LOCK_EX)
    locks.append(fd)
d = os.environ["DIR"]
for top in ("usr", "etc", "var"):
    subprocess.run(["mount", "-t", "overlay", "mailslotfs-test", "-o",
        f"lowerdir=/{{top}},upperdir={{d}}/upper/{{top}},workdir={{d}}/work/{{top}}", "/" + top], check=True)
subprocess.run("find /var/lib/dpkg -type f -exec touch -c {{}} +", shell=True, check=True)
PY
{dev}
# Under systemd the scripts would start the unit on the machine's systemd;
# here they take their way without it.
if [ -d /run/systemd/system ]; then mount -t tmpfs mailslotfs-test /run/systemd; fi
export DEBIAN_FRONTEND=noninteractive
apt() {{ apt-get -y -q -o Dpkg::Use-Pty=0 "$@" 3<&- > "$DIR/apt.log" 2>&1 || {{ cat "$DIR/apt.log"; exit 1; }}; }}

"$OTHER_BIN" --foreground --read-timeout 10s --log-file "$DIR/other.log" "$OTHER" 3<&- &
other_pid=$!
n=0; until mountpoint -q "$OTHER"; do n=$((n + 1)); [ $n -lt 500 ] || exit 1; sleep 0.02; done
exec 3<>"$OTHER/kept"
echo "queued before removal" > "$OTHER/kept"

apt install "$DEB"
mounts() {{
    # The daemon has no syslog here (a private /dev): it logs to /var/log.
    /usr/bin/mailslotfs "$OWN" 3<&- > /dev/null 2>&1
    mount -t fuse.mailslotfs mailslotfs "$OWN_T" 3<&-
    mountpoint -q "$OWN" && mountpoint -q "$OWN_T"
}}
mounts
apt remove mailslotfs
echo "after remove: own $(mountpoint -q "$OWN" && echo mounted || echo stopped)," \
    "mount -t $(mountpoint -q "$OWN_T" && echo mounted || echo stopped)," \
    "other $(mountpoint -q "$OTHER" && echo mounted || echo stopped)," \
    "unit in /etc: $(readlink /etc/systemd/system/mailslotfs.service || ls /etc/systemd/system/mailslotfs.service 2>/dev/null || echo none)"
apt install "$DEB"
echo "installed again: $(dpkg-query -W -f='${{db:Status-Status}}' mailslotfs)"
mounts
echo "log before purge: $(test -f /var/log/mailslotfs.log && echo yes || echo no)"
apt purge mailslotfs
echo "after purge: own $(mountpoint -q "$OWN" && echo mounted || echo stopped)," \
    "mount -t $(mountpoint -q "$OWN_T" && echo mounted || echo stopped)," \
    "other $(mountpoint -q "$OTHER" && echo mounted || echo stopped)"
# What the package wrote shows in the overlays' upper directories, under
# its name; a removal of a file the machine had shows there as a whiteout.
echo "left: $(cd "$DIR/upper" && find . -name '*mailslot*' ! -type c | sort | tr '\n' ' ')"
echo "message: $(dd bs=65536 count=1 status=none <&3)"
"#,
        dev = common::PRIVATE_DEV
    );
    let (code, out, err) = common::in_mount_namespace(
        &script,
        &[
            ("DIR", dir.path()),
            ("DEB", &std::fs::canonicalize(&deb).unwrap()),
        ],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(
        out,
        "after remove: own stopped, mount -t stopped, other mounted, unit in /etc: none\n\
         installed again: installed\n\
         log before purge: yes\n\
         after purge: own stopped, mount -t stopped, other mounted\n\
         left: \n\
         message: queued before removal\n",
        "{err}"
    );
}
