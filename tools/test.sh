#!/usr/bin/env bash
# The whole test suite, as a new user runs it and as CI runs it (through .ci/run):
# unit, integration and doc tests of every crate, then the loom model of the epoch
# protocol. Works from any directory; needs only cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo test --workspace --all-features (unit, integration, doc tests)"
cargo test --workspace --all-features

step "loom model of the epoch/shutdown protocol (RUSTFLAGS=--cfg loom)"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p corelane --test loom_epoch --profile loom

step "all tests passed"
