#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration
# tests that mount real filesystems, talk to them with real processes,
# install and uninstall in a temporary prefix, and build and lint the
# Debian package. Run as root (the tests mount, switch users and make
# network and mount namespaces). Ends with one line: N passed, M failed.
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
# attr: getfattr/setfattr; util-linux: setpriv, unshare, mountpoint;
# lintian, man-db and bash-completion: the package, page and completion tests;
# samba and samba-common-bin: nmbd and nmblookup for tests/samba.rs (the
# services are not started; the tests run nmbd in a namespace of their own).
install_prerequisites fuse3 python3 attr iproute2 util-linux tshark \
    lintian man-db bash-completion samba samba-common-bin wine64 gcc-mingw-w64-x86-64 \
    "${extra[@]}"
install_cargo_deb
if [ ! -e /dev/fuse ]; then
    echo "run-all.sh: /dev/fuse is missing; load the fuse module (modprobe fuse)" >&2
    exit 1
fi

start=$SECONDS
passed=0
failed=0
failures=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# step NAME COMMAND...: one check that passes or fails as a whole.
step() {
    local name=$1
    shift
    echo "== $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$name")
    fi
}

# Both crates of the workspace: mailslotfs and its benchmark (bench/).
step "cargo fmt --check" cargo fmt --all -- --check
step "no two files import each other" python3 tests/imports.py
step "cargo clippy" cargo clippy --workspace --all-targets --locked --quiet -- -D warnings
# The packaging tests install and package the release build; built here
# once, where its progress shows, they find it up to date.
step "cargo build --release" cargo build --release --locked --bin mailslotfs --bin mailslot

# Every target but benches (there are none) of both crates, every test
# binary even after one fails; examples are built as the programs
# tests/examples.rs runs, not as test harnesses. The benchmark's smoke test
# (bench/tests/smoke.rs) runs the mailslotfs daemon this builds.
echo "== cargo test"
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
while read -r ok bad; do
    passed=$((passed + ok))
    failed=$((failed + bad))
done < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log")
if [ "$status" != 0 ] && ! grep -q '^test result: FAILED' "$log"; then
    # It failed before any test could report (a build error, say).
    failed=$((failed + 1))
    failures+=("cargo test (no result)")
fi
grep -q '^test result: FAILED' "$log" && failures+=("cargo test")

elapsed=$((SECONDS - start))
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "== took $((elapsed / 60)) min $((elapsed % 60)) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
