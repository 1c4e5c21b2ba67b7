#!/usr/bin/env bash
# The whole suite, as CI runs it (.ci/run calls this). Each step is runnable alone.
set -euxo pipefail
cd "$(dirname "$0")"/..
export RUSTFLAGS="${RUSTFLAGS:--D warnings}"
bash ci/install.sh
bash ci/fmt.sh
bash ci/clippy.sh
bash ci/msrv.sh
bash ci/non-linux.sh
bash ci/package.sh
bash ci/deps.sh
bash ci/doc.sh
bash ci/layers.sh
bash ci/loom.sh
bash ci/fuzz.sh
bash ci/miri.sh
bash ci/examples.sh
bash ci/bench-smoke.sh
bash ci/chaos.sh
bash ci/test.sh
bash ci/python.sh
