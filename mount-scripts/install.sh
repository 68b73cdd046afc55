#!/usr/bin/env bash
# Builds mailslotfs, installs it (the daemon, the mailslot command, man
# pages, bash/zsh/fish completions and the systemd unit) and mounts
# /mailslot for every user of the machine. Run as root on a Debian-like
# system; safe to run again (it upgrades and remounts).
#
#   install.sh               install, or upgrade, and mount
#   install.sh --uninstall   stop, unmount and remove everything it installed
#
# Environment: PREFIX (default /usr/local); MOUNTPOINT (default /mailslot);
# DESTDIR, to stage the files under another root: then nothing is built
# into the system, started or mounted, and --uninstall removes the staged
# files. Every file and directory it creates is listed in
# $PREFIX/share/mailslotfs/install-manifest, which --uninstall follows.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/usr/local}
MOUNTPOINT=${MOUNTPOINT:-/mailslot}
DESTDIR=${DESTDIR:-}
UNIT_DIR=/etc/systemd/system
MANIFEST=$PREFIX/share/mailslotfs/install-manifest
TARGET_DIR=${CARGO_TARGET_DIR:-target}

say() { echo "== $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

uninstall=0
case ${1:-} in
    "") ;;
    --uninstall) uninstall=1 ;;
    -h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
esac

if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
    die "run as root (it installs packages, writes $PREFIX and mounts $MOUNTPOINT)"
fi

systemd() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; }
mounted() { grep -q " $MOUNTPOINT fuse.mailslotfs " /proc/mounts; }

# The Debian package installs the same commands, pages and unit into /usr
# and its own unit would be shadowed by ours in /etc: one or the other.
package_installed() {
    local status
    status=$(dpkg-query ${DPKG_ADMINDIR:+--admindir="$DPKG_ADMINDIR"} \
        -W -f='${db:Status-Status}' mailslotfs 2>/dev/null) || return 1
    [ "$status" = installed ]
}

# Stops the daemon serving $MOUNTPOINT, with `mailslotfs` binary $1. --stop
# works while servers hold slots open; a daemon older than --stop only
# goes by umount, which refuses while slots are open.
stop_mount() {
    mounted || return 0
    if "$1" --stop "$MOUNTPOINT" 2>/dev/null || umount "$MOUNTPOINT"; then
        for _ in $(seq 50); do mounted || return 0; sleep 0.1; done
    fi
    die "$MOUNTPOINT is busy and its daemon cannot be stopped; close what holds it (fuser -vm $MOUNTPOINT) or \`umount -l $MOUNTPOINT\`, then run again. Nothing was changed."
}

# Refreshes every man-db index, not just $PREFIX/share/man's: the same
# pages are also indexed through other paths to them (Debian's
# /usr/local/man -> share/man has an index of its own), and an index left
# alone keeps listing removed pages in `man -k`.
refresh_man_index() {
    if command -v mandb >/dev/null; then mandb -q >/dev/null 2>&1 || true; fi
}

if [ "$uninstall" = 1 ]; then
    manifest=$DESTDIR$MANIFEST
    [ -f "$manifest" ] || die "nothing to uninstall: no $manifest (was mailslotfs installed by install.sh with PREFIX=$PREFIX?)"
    if systemd && [ -f "$UNIT_DIR/mailslotfs.service" ]; then
        say "stopping and disabling mailslotfs.service"
        systemctl disable --now mailslotfs.service >/dev/null 2>&1 || true
    fi
    if [ -z "$DESTDIR" ]; then
        say "unmounting $MOUNTPOINT"
        stop_mount "$PREFIX/bin/mailslotfs"
    fi
    say "removing the files listed in $manifest"
    # It lists itself: read it whole first. Files, then the directories
    # install.sh made, deepest first.
    listed=$(cat "$manifest")
    grep '^f ' <<<"$listed" | cut -c3- | while IFS= read -r f; do
        rm -f -- "$DESTDIR$f"
    done
    grep '^d ' <<<"$listed" | cut -c3- | sort -r | while IFS= read -r d; do
        [ "$DESTDIR$d" = "$DESTDIR$MOUNTPOINT" ] && mounted && continue
        rmdir -- "$DESTDIR$d" 2>/dev/null || true
    done
    rm -f -- "$manifest"
    rmdir -- "$(dirname "$manifest")" 2>/dev/null || true
    if [ -z "$DESTDIR" ]; then
        # The daemon's own log, where it had no syslog to write to.
        rm -f /var/log/mailslotfs.log
        systemd && systemctl daemon-reload
        refresh_man_index
    fi
    echo "mailslotfs is uninstalled."
    exit 0
fi

# (A staged install skips this, unless DPKG_ADMINDIR names a dpkg database.)
if { [ -z "$DESTDIR" ] || [ -n "${DPKG_ADMINDIR:-}" ]; } && package_installed; then
    die "the mailslotfs Debian package is installed; remove it first (dpkg -r mailslotfs) or keep using it"
fi

if [ -z "$DESTDIR" ]; then
    source mount-scripts/prerequisites.sh
    # bash-completion loads the completions; without it they do nothing.
    install_prerequisites fuse3 bash-completion
fi

say "building mailslotfs and mailslot (release)"
cargo build --release --locked --bin mailslotfs --bin mailslot
release=$TARGET_DIR/release

# Pages and completions come from the same clap definitions that parse the
# command lines, so they always match the binaries being installed.
generated=$(mktemp -d)
trap 'rm -rf "$generated"' EXIT
"$release/mailslot" generate "$generated"
sed "s|/usr/local/bin/mailslotfs|$PREFIX/bin/mailslotfs|g" mount-scripts/mailslotfs.service \
    > "$generated/mailslotfs.service"

# Check before replacing anything: a mount that cannot be stopped leaves
# the old installation as it was.
if [ -z "$DESTDIR" ] && ! systemd; then
    stop_mount "$release/mailslotfs"
fi

# Files of an install.sh that kept no manifest, or of this one's older
# layout: gone now, so none is left behind or shadows the new ones.
legacy=(/sbin/mount.fuse.mailslotfs /usr/sbin/mount.fuse.mailslotfs
        /usr/share/bash-completion/completions/mailslot
        /usr/share/bash-completion/completions/mailslotfs)
if [ -z "$DESTDIR" ] && [ ! -f "$MANIFEST" ] && [ -x "$PREFIX/bin/mailslotfs" ]; then
    rm -f "${legacy[@]}"
fi

say "installing into $DESTDIR$PREFIX and $DESTDIR$UNIT_DIR"
entries=$(mktemp)
trap 'rm -rf "$generated" "$entries"' EXIT
[ -f "$DESTDIR$MANIFEST" ] && cat "$DESTDIR$MANIFEST" > "$entries"
# Makes directory $1 (under DESTDIR), noting each level it creates.
makedir() {
    local missing=() d=$1
    while [ ! -d "$DESTDIR$d" ]; do missing+=("$d"); d=$(dirname "$d"); done
    for ((i=${#missing[@]}-1; i>=0; i--)); do
        mkdir -m 755 "$DESTDIR${missing[i]}"
        echo "d ${missing[i]}" >> "$entries"
    done
}
# put MODE SOURCE DIR [NAME]
put() {
    local dest=$3/${4:-$(basename "$2")}
    makedir "$3"
    install -m "$1" "$2" "$DESTDIR$dest"
    echo "f $dest" >> "$entries"
}
put 755 "$release/mailslotfs" "$PREFIX/bin"
put 755 "$release/mailslot" "$PREFIX/bin"
for page in "$generated"/man/*.1; do put 644 "$page" "$PREFIX/share/man/man1"; done
put 644 "$generated/man/mailslotfs.8" "$PREFIX/share/man/man8"
for cmd in mailslot mailslotfs; do
    put 644 "$generated/completions/bash/$cmd" "$PREFIX/share/bash-completion/completions"
    put 644 "$generated/completions/zsh/_$cmd" "$PREFIX/share/zsh/site-functions"
    put 644 "$generated/completions/fish/$cmd.fish" "$PREFIX/share/fish/vendor_completions.d"
done
put 644 "$generated/mailslotfs.service" "$UNIT_DIR"
makedir "$(dirname "$MANIFEST")"
echo "f $MANIFEST" >> "$entries"
[ -z "$DESTDIR" ] && makedir "$MOUNTPOINT"
sort -u "$entries" > "$DESTDIR$MANIFEST"
chmod 644 "$DESTDIR$MANIFEST"

if [ -n "$DESTDIR" ]; then
    echo "staged under $DESTDIR; remove with DESTDIR=$DESTDIR $0 --uninstall"
    exit 0
fi

# So that `man -k mailslot` (apropos) finds the new pages at once.
refresh_man_index

say "mounting $MOUNTPOINT"
if systemd; then
    systemctl daemon-reload
    systemctl enable mailslotfs.service >/dev/null
    systemctl restart mailslotfs.service
    log="journalctl -u mailslotfs"
else
    # No systemd here (a container, say): mount directly; the daemon
    # returns once the mount answers, and says where its log goes.
    "$PREFIX/bin/mailslotfs" --allow-other "$MOUNTPOINT"
    log="syslog, or /var/log/mailslotfs.log where there is none"
fi
mounted || die "$MOUNTPOINT is not mounted; see the log ($log)"
echo "mailslotfs is mounted at $MOUNTPOINT (log: $log). Try:"
echo "  mailslot listen demo           # in one terminal: the server, prints what arrives"
echo "  mailslot send demo hello       # in another, once listen runs"
echo "  exec 3<>$MOUNTPOINT/demo; echo hello > $MOUNTPOINT/demo; timeout 1 cat <&3"
echo "Stop it with \`mailslotfs --stop $MOUNTPOINT\`; remove everything with \`$0 --uninstall\`."
