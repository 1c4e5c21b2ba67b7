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
# `--workspace` and a filter rather than `-p interlock-ipc`: the same build as the run above
# (the library alone resolves other features for rustix, serde, syn... and recompiled them,
# ~17 s); the tests differ only by the `serde` feature's derives, which the CLI turns on.
TMPDIR=/dev/shm cargo nextest run --workspace --profile ci -E 'package(interlock-ipc) & kind(test)'
# `--test '*'`: only the integration test binaries, the ones `kind(test)` runs, are built in
# release; the unit-test harnesses (13 binaries, the benchmark crate's in one codegen unit)
# would be built only to be skipped. The dependencies come from ci/examples.sh's release build.
cargo nextest run --workspace --profile ci --release --test '*' -E 'kind(test)'
