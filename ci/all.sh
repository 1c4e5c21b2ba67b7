#!/usr/bin/env bash
# The whole suite, as CI runs it (.ci/run calls this). Each step is runnable alone. Every step's
# wall time is printed as it ends and again in a summary, so that the suite's budget (under
# 15 minutes on a 2-core machine) can be watched step by step.
set -euo pipefail
cd "$(dirname "$0")"/..
export RUSTFLAGS="${RUSTFLAGS:--D warnings}"
# A fresh clone builds everything once: incremental compilation's caches only cost time here.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
took=()
step() {
    local started=$SECONDS
    echo "+ bash ci/$1.sh" >&2
    bash "ci/$1.sh"
    took+=("$(printf '%-12s %4d s' "$1" $((SECONDS - started)))")
    echo "ci/all.sh: $1 took $((SECONDS - started)) s" >&2
}
for name in install fmt clippy msrv non-linux package deps doc layers loom fuzz miri examples \
    bench-smoke chaos test python; do
    step "$name"
done
echo "ci/all.sh: every step passed in ${SECONDS} s:" >&2
printf '  %s\n' "${took[@]}" >&2
