#!/usr/bin/env bash
# Doc tests, then unit, integration (real processes, real SIGKILL) and CLI tests; the
# multi-process tests again in release, where timing windows differ. nextest's summary of
# that last run closes the output.
set -euxo pipefail
cd "$(dirname "$0")"/..
cargo test --workspace --doc
cargo nextest run --workspace --profile ci
cargo nextest run --workspace --profile ci --release -E 'kind(test)'
