#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration
# tests that mount real filesystems and talk to them with real processes.
# Run as root (the tests mount, switch users and make network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "run-all.sh: run as root: the tests mount filesystems and switch users" >&2
    exit 1
fi
source mount-scripts/prerequisites.sh
extra=()
have node || extra+=(nodejs)            # the Node.js example
[ -e /usr/include/stdio.h ] || extra+=(libc6-dev)   # the C example
# samba and samba-common-bin: nmbd and nmblookup for tests/samba.rs (the
# services are not started; the tests run nmbd in a namespace of their own).
install_prerequisites fuse3 python3 attr iproute2 util-linux tshark samba samba-common-bin "${extra[@]}"
if [ ! -e /dev/fuse ]; then
    echo "run-all.sh: /dev/fuse is missing; load the fuse module (modprobe fuse)" >&2
    exit 1
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --all-targets --locked
