#!/usr/bin/env bash
# Doc tests, then unit, integration (real processes, real SIGKILL) and CLI tests (and the
# library's again with TMPDIR on tmpfs); the
# multi-process tests again in release, where timing windows differ. nextest's summary of
# that last run closes the output.
set -euxo pipefail
cd "$(dirname "$0")"/..
cargo test --workspace --doc
cargo nextest run --workspace --profile ci
# The library's multi-process tests again with their files on tmpfs, as many systems' /tmp is:
# trust decisions must not depend on the file system (issue 11: a tmpfs file was once trusted).
TMPDIR=/dev/shm cargo nextest run -p interlock-ipc --profile ci -E 'kind(test)'
cargo nextest run --workspace --profile ci --release -E 'kind(test)'
