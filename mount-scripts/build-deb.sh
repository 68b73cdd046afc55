#!/usr/bin/env bash
# Builds the Debian package (mailslotfs_<version>-1_<arch>.deb, under the
# cargo target directory in debian/). Needs cargo-deb:
#     cargo install cargo-deb
# Arguments go on to cargo deb, e.g. --maintainer "Name <mail>" or
# --deb-revision 2. Install the result with dpkg -i, remove it with
# dpkg -r mailslotfs.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deb --version >/dev/null 2>&1; then
    echo "build-deb.sh: cargo-deb is missing; install it with: cargo install cargo-deb" >&2
    exit 1
fi

# The package's assets name these generated files (see [package.metadata.deb]
# in Cargo.toml), so they must exist before cargo deb runs.
echo "== generating man pages and completions into target/man and target/completions"
cargo run --release --locked --quiet --bin mailslot -- generate target

# The repository's unit runs /usr/local/bin/mailslotfs (where install.sh
# puts it); a package installs into /usr/bin.
echo "== writing target/systemd/mailslotfs.service for /usr/bin"
mkdir -p target/systemd
sed 's|/usr/local/bin/mailslotfs|/usr/bin/mailslotfs|g' mount-scripts/mailslotfs.service \
    > target/systemd/mailslotfs.service
grep -q '^ExecStart=/usr/bin/mailslotfs ' target/systemd/mailslotfs.service || {
    echo "build-deb.sh: mount-scripts/mailslotfs.service no longer runs /usr/local/bin/mailslotfs; update this script" >&2
    exit 1
}

echo "== cargo deb"
cargo deb --locked "$@"
