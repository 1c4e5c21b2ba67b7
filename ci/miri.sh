#!/usr/bin/env bash
# Issue 18: Miri over the parts of the library that are pure computation on memory — the lock
# word's state machine (`word::tests`: atomics and futex calls Miri emulates), the segment header
# codec and the hand-over variable's parser — where it checks for undefined behaviour and data
# races that ordinary runs cannot see. The rest (shared mappings, the robust list, pidfds) is
# system calls Miri does not model: loom (ci/loom.sh) and the multi-process tests cover it.
# Nightly with the miri and rust-src components, installed here when missing.
set -euxo pipefail
cd "$(dirname "$0")"/..
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal --component miri,rust-src
fi
# rustix's futex call passes the value as a pointer-sized integer: permissive provenance says so.
# Not the stable lints of ci/all.sh (`-D warnings`): a nightly lint must not fail this step.
export RUSTFLAGS=""
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-permissive-provenance}"
# Its own target directory: Miri's builds are of another kind and would evict the others.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/miri" \
    cargo +nightly miri test -p interlock-ipc --lib -- word::tests shm::header::tests handles::inherit::tests
