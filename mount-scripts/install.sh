#!/usr/bin/env bash
# Builds mailslotfs, installs it with its mount helper and systemd unit, and
# mounts /mailslot for every user of the machine. Run as root on a
# Debian-like system; safe to run again (it upgrades and remounts).
set -euo pipefail
cd "$(dirname "$0")/.."

MOUNTPOINT=/mailslot
PREFIX=${PREFIX:-/usr/local}

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (it installs packages and mounts $MOUNTPOINT)" >&2
    exit 1
fi

source mount-scripts/prerequisites.sh
install_prerequisites fuse3

echo "== building mailslotfs (release)"
cargo build --release --locked

echo "== installing into $PREFIX/bin, /sbin and /etc/systemd/system"
install -D -m 755 target/release/mailslotfs "$PREFIX/bin/mailslotfs"
install -D -m 755 mount-scripts/mount.fuse.mailslotfs /sbin/mount.fuse.mailslotfs
install -D -m 644 mount-scripts/mailslotfs.service /etc/systemd/system/mailslotfs.service

echo "== installing the mailslot command, man pages and bash completions"
PREFIX="$PREFIX" ./mount-scripts/install-extras.sh

mounted() { grep -q " $MOUNTPOINT fuse.mailslotfs " /proc/mounts; }

echo "== mounting $MOUNTPOINT"
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable mailslotfs.service >/dev/null
    systemctl restart mailslotfs.service
else
    # No systemd here (a container, say): mount directly; the daemon
    # returns once the mount answers.
    if mounted; then
        umount "$MOUNTPOINT" || { echo "install.sh: $MOUNTPOINT is busy; close what uses it and run again" >&2; exit 1; }
        for _ in $(seq 50); do mounted || break; sleep 0.1; done
    fi
    mkdir -p "$MOUNTPOINT"
    "$PREFIX/bin/mailslotfs" --allow-other "$MOUNTPOINT"
fi

if ! mounted; then
    echo "install.sh: $MOUNTPOINT is not mounted; see the log (journalctl -u mailslotfs or syslog)" >&2
    exit 1
fi
echo "mailslotfs is mounted at $MOUNTPOINT. Try:"
echo "  mailslot listen demo &  mailslot send demo hello"
echo "  exec 3<>$MOUNTPOINT/demo; echo hello > $MOUNTPOINT/demo; timeout 1 cat <&3"
