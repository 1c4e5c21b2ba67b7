#!/usr/bin/env bash
# Issue 18: the chaos run (benches/src/bin/chaos.rs) — workers take every primitive in random
# orders with timeouts while the driver SIGKILLs, pauses and signals them; any double hold, torn
# or lost update, untold death, overrun wait or hang fails it. First a self-test: a run with a
# planted double hold must fail, or the checks could not catch one.
# CHAOS_SECONDS (default 30) for the real run.
set -euo pipefail
cd "$(dirname "$0")"/..
cargo build --release -p interlock-bench --bin chaos
chaos="${CARGO_TARGET_DIR:-target}/release/chaos"
if planted="$("$chaos" --seconds 2 --plant-double-hold 2>&1)"; then
    echo "$planted" | tail -n 5
    echo "chaos: the planted double hold went unnoticed: the checks are broken" >&2
    exit 1
fi
grep -q 'not told of a death' <<<"$planted" || { echo "$planted" | tail -n 5; exit 1; }
grep -q 'RwLock: worker .* while worker 0 .* writes' <<<"$planted" || { echo "$planted" | tail -n 5; exit 1; }
echo "chaos self-test: the planted double hold (a Lock) and write (an RwLock) were caught"
"$chaos" --seconds "${CHAOS_SECONDS:-30}"
