#!/usr/bin/env bash
set -euxo pipefail
cd "$(dirname "$0")"/..
cargo fmt --all --check
cargo fmt --manifest-path fuzz/Cargo.toml --check
