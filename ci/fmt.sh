#!/usr/bin/env bash
set -euxo pipefail
cd "$(dirname "$0")"/..
cargo fmt --all --check
