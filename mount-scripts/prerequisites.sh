# Sourced by install.sh and tests/run-all.sh: installs the Debian packages,
# the Rust toolchain and the cargo tools that are missing, and nothing that
# is present. What it installs it says, with apt's and cargo's own progress.

have() { command -v "$1" >/dev/null 2>&1; }

# install_prerequisites PACKAGE... : Debian packages beyond the build's own.
install_prerequisites() {
    local want=("$@") missing=()
    have cc || want+=(gcc libc6-dev)
    have curl || want+=(curl ca-certificates)
    for pkg in "${want[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # Packages with daemons (samba's nmbd and smbd) must not start them:
        # the tests run their own nmbd inside a network namespace, and a
        # system nmbd would broadcast on the machine's own network. Debian's
        # maintainer scripts ask policy-rc.d first; 101 means "do not start".
        local policy=/usr/sbin/policy-rc.d made_policy=
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
        fi
        apt-get update -q
        local status=0
        # One line per package as it unpacks and sets up; no dialogs.
        apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}" || status=$?
        if [ -n "$made_policy" ]; then rm -f "$policy"; fi
        [ "$status" = 0 ] || return "$status"
    fi
    if ! have cargo && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! have cargo; then
        # Debian's own cargo is too old for this crate (edition 2024).
        echo "== installing the Rust toolchain (rustup, stable)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
}

# install_cargo_deb : cargo-deb, which builds the Debian package.
install_cargo_deb() {
    if ! cargo deb --version >/dev/null 2>&1; then
        echo "== installing cargo-deb (cargo install --locked cargo-deb; a few minutes)"
        cargo install --locked cargo-deb
    fi
}
