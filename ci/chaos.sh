#!/usr/bin/env bash
# Issue 18: the chaos run (benches/src/bin/chaos.rs) — workers take every primitive in random
# orders with timeouts while the driver SIGKILLs, pauses and signals them; any double hold, torn
# or lost update, untold death, overrun wait or hang fails it. Barrier parties and, on a
# 1-member etcd cluster started here, etcd lock clients run beside them. First a self-test: a
# run with a fault of each kind planted must fail naming each, or the checks could not catch one.
# CHAOS_SECONDS (default 30) for the real run. Without etcd on PATH the etcd lock is left out,
# said on stderr; under CI=true that fails instead.
set -euo pipefail
cd "$(dirname "$0")"/..
# The workspace's one release build (ci/examples.sh says why not `-p interlock-bench`).
cargo build --release --workspace --bins --examples
chaos="${CARGO_TARGET_DIR:-target}/release/chaos"

etcd=()
if command -v etcd >/dev/null; then
    eval "$(bash ci/etcd-cluster.sh start 1)"
    trap 'bash ci/etcd-cluster.sh stop >/dev/null 2>&1 || true' EXIT
    etcd=(--etcd "$INTERLOCK_ETCD_ENDPOINTS")
    unset INTERLOCK_ETCD_ENDPOINTS
elif [[ "${CI:-}" == true ]]; then
    echo "chaos: etcd is not installed (ci/install.sh installs it): the etcd lock cannot be tried" >&2
    exit 1
else
    echo "chaos: etcd is not installed: the etcd lock is left out of this run" >&2
fi

if planted="$("$chaos" --seconds 5 --plant-double-hold "${etcd[@]}" 2>&1)"; then
    echo "$planted" | tail -n 5
    echo "chaos: the planted faults went unnoticed: the checks are broken" >&2
    exit 1
fi
expect() {
    grep -q "$1" <<<"$planted" || {
        echo "$planted" | tail -n 5
        echo "chaos: the planted $2 went unnoticed" >&2
        exit 1
    }
}
expect 'Lock (slot 0): .*not told of a death' 'double hold of the Lock'
expect 'RwLock: worker .* while worker 0 .* writes' 'write beside readers of the RwLock'
expect "Event: worker 0's wait returned set, but no set began" 'timed-out Event wait reported as set'
expect 'Barrier: party .* passed its arrival .* but party' 'Barrier arrival that passed at once'
planted_what="a Lock, an RwLock, an Event, a Barrier"
if ((${#etcd[@]})); then
    expect 'etcd lock: .*two holders\|etcd lock: .*not told of a death' 'hold of the etcd lock claimed without taking it'
    planted_what+=", the etcd lock"
fi
echo "chaos self-test: the planted faults ($planted_what) were caught"
"$chaos" --seconds "${CHAOS_SECONDS:-30}" "${etcd[@]}"
