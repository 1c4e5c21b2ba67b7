#!/usr/bin/env bash
set -euxo pipefail
cd "$(dirname "$0")"/..
cargo clippy --workspace --all-targets -- -D warnings
# The fuzzers' entry points exist only with the `fuzzing` feature (crates/interlock/src/fuzzing.rs).
cargo clippy -p interlock-ipc --features fuzzing --lib -- -D warnings
# The CLI's, with the `fuzzing` feature and without `etcd`, as fuzz/ builds it.
cargo clippy -p interlock-cli --no-default-features --features fuzzing --lib -- -D warnings
