#!/usr/bin/env bash
set -euxo pipefail
cd "$(dirname "$0")"/..
cargo clippy --workspace --all-targets -- -D warnings
