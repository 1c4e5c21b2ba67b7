#!/usr/bin/env bash
# Every example runs and its output is checked.
set -euxo pipefail
cd "$(dirname "$0")"/..
# One release build of every binary and example of the workspace, run below straight from the
# target directory. Not `cargo run -p PKG`: each package alone resolves its own dependency
# features and rebuilt tokio, tonic, serde... once per set. The whole workspace with its
# dev-dependencies (which examples need) is the feature set of the release tests (ci/test.sh),
# the benchmark binaries (ci/bench-smoke.sh) and the chaos run (ci/chaos.sh): they reuse this
# build, and build it themselves when run alone.
cargo build --release --workspace --bins --examples
examples="${CARGO_TARGET_DIR:-target}/release/examples"
out=$("$examples/counter")
echo "$out"
grep -qx 'Final Result: 20' <<<"$out"
grep -qx 'Expected Value: 20' <<<"$out"
grep -qx '>> Success: Counted correctly due to exclusive control.' <<<"$out"

out=$("$examples/rlock")
echo "$out"
[ "$out" = $'Layer 3: Holding lock\nLayer 2: Holding lock\nLayer 1: Holding lock' ]

out=$("$examples/logging" --procs 4 --loops 25)
grep -qx 'Final Result: 100' <<<"$out"
# Each update is a begin/counter/end block of one process: no other line may fall inside it.
python3 - "$out" <<'PY'
import re, sys
lines = [l for l in sys.argv[1].splitlines() if l.startswith("[Process-")]
assert len(lines) == 300, len(lines)
for i in range(0, len(lines), 3):
    names = {re.match(r"\[(Process-\d+)\]", l).group(1) for l in lines[i:i + 3]}
    assert len(names) == 1 and "begin" in lines[i] and "end" in lines[i + 2], lines[i:i + 3]
print("logging: 100 blocks, none interleaved")
PY

# The CLI's demo is the README's main command.
out=$(cargo run -q --release -p interlock-cli -- demo counter)
echo "$out"
grep -qx '>> Success: Counted correctly due to exclusive control.' <<<"$out"

# The multiprocessing counter example on a crash-safe SharedFile.
for flag in "" --slots; do
    out=$("$examples/shared_counter" $flag)
    echo "$out"
    grep -qx 'Final Result: 20' <<<"$out"
    grep -qx '>> Success: Counted correctly due to exclusive control.' <<<"$out"
done

# The multiprocessing counter example as a shared Value.
out=$("$examples/value_counter" --procs 4 --loops 1000)
echo "$out"
grep -qx 'Final Result: 4000' <<<"$out"

# The etcd backend's fencing example (issue 16): a paused holder's late write is refused by
# the store, on a throwaway 3-member cluster (ports chosen per run, members killed by pid).
eval "$(bash ci/etcd-cluster.sh start 3)"
trap 'bash ci/etcd-cluster.sh stop' EXIT
out=$("$examples/fenced_store" "$INTERLOCK_ETCD_ENDPOINTS")
echo "$out"
grep -q '^\[holder\] late write rejected token=[0-9]* newest=[0-9]* lease_lost=true$' <<<"$out"
grep -qx ">> Success: the paused holder's write was fenced off." <<<"$out"
