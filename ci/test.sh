#!/usr/bin/env bash
# Unit, integration (real processes, real SIGKILL) and doc tests; the multi-process tests again
# in release, where timing windows differ.
set -euxo pipefail
cd "$(dirname "$0")"/..
cargo nextest run --workspace --profile ci
cargo nextest run --workspace --profile ci --release -E 'kind(test)'
cargo test --workspace --doc
