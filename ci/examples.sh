#!/usr/bin/env bash
# Every example runs and its output is checked.
set -euxo pipefail
cd "$(dirname "$0")"/..
out=$(cargo run -q --release -p interlock-ipc --example counter)
echo "$out"
grep -qx 'Final Result: 20' <<<"$out"
grep -qx 'Expected Value: 20' <<<"$out"
grep -qx '>> Success: Counted correctly due to exclusive control.' <<<"$out"

out=$(cargo run -q --release -p interlock-ipc --example rlock)
echo "$out"
[ "$out" = $'Layer 3: Holding lock\nLayer 2: Holding lock\nLayer 1: Holding lock' ]

out=$(cargo run -q --release -p interlock-ipc --example logging -- --procs 4 --loops 25)
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
    out=$(cargo run -q --release -p interlock-ipc --example shared_counter -- $flag)
    echo "$out"
    grep -qx 'Final Result: 20' <<<"$out"
    grep -qx '>> Success: Counted correctly due to exclusive control.' <<<"$out"
done

# The multiprocessing counter example as a shared Value.
out=$(cargo run -q --release -p interlock-ipc --example value_counter -- --procs 4 --loops 1000)
echo "$out"
grep -qx 'Final Result: 4000' <<<"$out"

# The etcd backend's fencing example (issue 16): a paused holder's late write is refused by
# the store, on a throwaway 3-member cluster (ports chosen per run, members killed by pid).
eval "$(bash ci/etcd-cluster.sh start 3)"
trap 'bash ci/etcd-cluster.sh stop' EXIT
out=$(cargo run -q --release -p interlock-etcd --example fenced_store -- "$INTERLOCK_ETCD_ENDPOINTS")
echo "$out"
grep -q '^\[holder\] late write rejected token=[0-9]* newest=[0-9]* lease_lost=true$' <<<"$out"
grep -qx ">> Success: the paused holder's write was fenced off." <<<"$out"
