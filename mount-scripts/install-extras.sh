#!/usr/bin/env bash
# Installs what accompanies the mailslotfs daemon: the `mailslot` command,
# the man pages mailslotfs(8) and mailslot(1) (with one page per
# subcommand), and bash completions for both commands. install.sh runs it;
# run it as root from anywhere. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/usr/local}
MANDIR=${MANDIR:-$PREFIX/share/man}
BASH_COMPLETIONS=${BASH_COMPLETIONS:-/usr/share/bash-completion/completions}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

if [ "$(id -u)" != 0 ]; then
    echo "install-extras.sh: run as root (it installs into $PREFIX and /usr/share)" >&2
    exit 1
fi

echo "== building mailslot (release)"
cargo build --release --locked --bin mailslot
mailslot=$TARGET_DIR/release/mailslot

# Pages and completions come from the same clap definitions that parse the
# command lines, so they always match the binaries being installed.
echo "== generating man pages and completions into target/man and target/completions"
"$mailslot" generate target

echo "== installing mailslot into $PREFIX/bin, man pages into $MANDIR, completions into $BASH_COMPLETIONS"
install -D -m 755 "$mailslot" "$PREFIX/bin/mailslot"
install -d "$MANDIR/man1" "$MANDIR/man8" "$BASH_COMPLETIONS"
install -m 644 target/man/*.1 "$MANDIR/man1/"
install -m 644 target/man/*.8 "$MANDIR/man8/"
install -m 644 target/completions/bash/mailslot target/completions/bash/mailslotfs "$BASH_COMPLETIONS/"

# So that `man -k mailslot` (apropos) finds the new pages at once.
if command -v mandb >/dev/null; then
    mandb -q "$MANDIR" >/dev/null 2>&1 || true
fi
echo "installed: mailslot, man mailslot, man mailslotfs, bash completions"
