#!/usr/bin/env bash
# Builds the Debian package (mailslotfs_<version>-1_<arch>.deb, under the
# cargo target directory in debian/) and prints its path. Needs cargo-deb:
#     cargo install --locked cargo-deb
# Arguments go on to cargo deb, e.g. --deb-revision 2. Install the result
# with dpkg -i, remove it with dpkg -r mailslotfs. It refuses to install
# over an installation made by install.sh (remove that with
# install.sh --uninstall first).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR=${CARGO_TARGET_DIR:-target}

if ! cargo deb --version >/dev/null 2>&1; then
    echo "build-deb.sh: cargo-deb is missing; install it with: cargo install --locked cargo-deb" >&2
    exit 1
fi

# The package's assets name these generated files (see [package.metadata.deb]
# in Cargo.toml), so they must exist before cargo deb runs.
cargo build --release --locked --bin mailslotfs --bin mailslot
rm -rf target/package
mkdir -p target/package/scripts
"$TARGET_DIR/release/mailslot" generate target/package

# The repository's unit runs /usr/local/bin/mailslotfs (where install.sh
# puts it); a package installs into /usr/bin.
sed 's|/usr/local/bin/mailslotfs|/usr/bin/mailslotfs|g' mount-scripts/mailslotfs.service \
    > target/package/scripts/mailslotfs.service
grep -q '^ExecStart=/usr/bin/mailslotfs ' target/package/scripts/mailslotfs.service || {
    echo "build-deb.sh: mount-scripts/mailslotfs.service no longer runs /usr/local/bin/mailslotfs; update this script" >&2
    exit 1
}
cp mount-scripts/debian/preinst mount-scripts/debian/postinst mount-scripts/debian/prerm \
    mount-scripts/debian/postrm target/package/scripts/

cargo deb --locked --no-build "$@"
