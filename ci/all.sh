#!/usr/bin/env bash
# The whole suite, as CI runs it (.ci/run calls this). Each step is runnable alone. Every step's
# wall time is printed as it ends and again in a summary, so that the suite's budget (under
# 15 minutes on a 2-core machine) can be watched step by step.
set -euo pipefail
cd "$(dirname "$0")"/..
export RUSTFLAGS="${RUSTFLAGS:--D warnings}"
# A fresh clone builds everything once: incremental compilation's caches only cost time here.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# Debug info is for a debugger or a profiler, which CI runs neither of; it costs compile and link
# time in every build of the run (release: the examples', benchmarks', release tests', the static
# CLI's, loom's, the fuzzers' and the wheel's; dev: the tests'). No check looks at it: the code
# generated is the same, and a failing test's backtrace keeps its file:line from the dev line
# tables (release backtraces keep the function names). Cargo.toml's profiles (release debug = 1,
# for perf) are left as they are for builds outside CI; a step run alone uses them.
export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-0}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
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
