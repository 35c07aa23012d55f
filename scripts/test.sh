#!/usr/bin/env bash
# The full test suite, from a fresh Debian machine:
#   scripts/test.sh
# Installs what it needs (Debian packages, a Kubernetes v1.20.2 control plane
# built from Debian's source package), caching it outside the repository in
# ${CARAVEL_CACHE:-~/.cache/caravel}, then runs formatting and lint checks,
# unit and component tests, and the end-to-end suite against a real
# kube-apiserver, real Redis and real Git.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARAVEL_CACHE="${CARAVEL_CACHE:-$HOME/.cache/caravel}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CARAVEL_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }
start=$(date +%s)

step "dependencies"
bash scripts/deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build binaries"
cargo build --workspace --bins --locked

step "tests (unit, component, end-to-end)"
cargo test --workspace --locked --no-fail-fast

step "done in $(( $(date +%s) - start ))s"
