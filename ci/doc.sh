#!/usr/bin/env bash
set -euxo pipefail
cd "$(dirname "$0")"/..
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --document-private-items
