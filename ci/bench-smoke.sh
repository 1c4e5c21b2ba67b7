#!/usr/bin/env bash
# The multi-process benchmark harness with tiny parameters (a few seconds), so that it cannot
# rot: every competitor runs every workload once, the contended runs check their shared counter,
# and the recovery rounds check that a waiter gets a SIGKILLed holder's lock.
set -euxo pipefail
cd "$(dirname "$0")"/..

out="$(mktemp)"
plot="$(mktemp --suffix=.svg)"
trap 'rm -f "$out" "$plot"' EXIT
# The harness's binaries from the workspace's one release build (ci/examples.sh says why not
# `cargo run -p interlock-bench`): nothing to build when that step ran first.
cargo build --release --workspace --bins --examples
release="${CARGO_TARGET_DIR:-target}/release"
"$release/mp" --smoke --plot "$plot" | tee "$out"

# One known row of each table (the three contended workloads each have a P = 2 row: three
# matches), and the back-to-back floor, which mp itself enforces (exit status 1 below 0.3x the
# bare futex at P = 2: the collapse of issue 13, a shape, not a timing goal).
grep -E '^\| interlock \| [0-9.]+ \|' "$out"
test "$(grep -cE '^\| 2 \| interlock \| [0-9.]+ \|' "$out")" -eq 3
grep -E '^## Contended, back-to-back:' "$out"
grep -E '^back-to-back at P = 2: [0-9.]+x the bare futex \(floor 0.3x\)$' "$out"
grep -E '^\| interlock-liveness \| [0-9.]+ \|' "$out"
grep -E '^\| 2 \| interlock-fair \| [0-9.]+ \|' "$out"
# Ping-pong, the named-lock table, the goals, and the plot with a line per competitor.
grep -E '^\| interlock \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+×' "$out"
grep -E '^\| shared bytes per lock' "$out"
grep -A4 '^## Deadlock: time from an A/B cycle' "$out" | grep -E '^\| [0-9.]+ \|'

grep -E '^\| owner-death recovery ≤ 1 ms median \| .* \| (PASS|\*\*FAIL\*\*) \|$' "$out"
# The semaphores: interlock's Semaphore against a process-shared POSIX sem_t (uncontended and
# contended rows; its recovery row with N = 2 permits, every round told).
grep -E '^\| interlock-sem \| [0-9.]+ \| [0-9.]+–[0-9.]+ \| [0-9.]+× \|$' "$out"
# CPython's multiprocessing.Semaphore beside them, uncontended and contended.
test "$(grep -cE '^\| python \| [0-9.]+ \| [0-9.]+–[0-9.]+ \| [0-9.]+× \|$' "$out")" -eq 2
grep -E '^\| semaphore \(N = 2\) permit recovery ≤ 1 ms median, told \| [0-9.]+ µs, told 3/3 \|' "$out"
# The reader-writer locks: interlock's RwLock beside pthread_rwlock and flock -s/-x; its
# recovery rows, every round told.
grep -E '^\| interlock-rw \| [0-9.]+ \| [0-9.]+–[0-9.]+ \| [0-9.]+× \|$' "$out"
# Its reader-preferring policy, beside glibc's reader-preferring default, like for like.
grep -E '^\| interlock-rw-rp \| [0-9.]+ \| [0-9.]+–[0-9.]+ \| [0-9.]+× \|$' "$out"
grep -E '^interlock-rw-rp over pthread-rwlock \(both prefer readers\), per repetition: [0-9.]+×' "$out"
grep -E "^\| rwlock recovery after a writer's SIGKILL ≤ 1 ms median, told \| [0-9.]+ µs, told 1/1 \|" "$out"
grep -E "^\| rwlock recovery after a reader's SIGKILL ≤ 1 ms median, told \| [0-9.]+ µs, told 2/2 \|" "$out"
grep -q '<svg' "$plot"
grep -qx 'interlock-fair' "$plot"
grep -E '^\| futex \| [0-9.]+ \| .* \| 1\.00× \|$' "$out"
# Python's row, or the notice that says why it is missing.
grep -E '^\| python \| [0-9.]+ \||^note: python3 .* not found' "$out"
# Issue 15: the barrier table (interlock::Barrier beside pthread_barrier) comes out.
out_barrier="$("$release/barrier" --smoke)"
echo "$out_barrier"
grep -E '^\| 2 \| [0-9]+ \| [0-9]+ \| [0-9.]+× \| [0-9]+ \| [0-9.]+× \|$' <<<"$out_barrier"
# Issue 15: the condition's notify-to-wake table (beside pthread_cond) comes out.
out_condvar="$("$release/condvar" --smoke)"
echo "$out_condvar"
grep -E '^\| interlock Lock \+ Condition \| [0-9]+ \| [0-9]+–[0-9]+ \| [0-9.]+× \([0-9.]+–[0-9.]+; goal ≤ 1\.5×\) \| [0-9.]+× \| [0-9.]+× \|$' <<<"$out_condvar"
# The criterion benches at least build. `--workspace`, the release build's feature set: only
# criterion and the bench itself are compiled (with `-p interlock-bench`, ~50 s of dependencies
# again). The bench profile inherits release's settings, so the dependencies are shared.
cargo bench --workspace --bench uncontended --no-run

# The CLI's per-invocation overhead against flock(1): the table must come out (the ratio is
# reported, not asserted: timings on a shared machine are not a test). The harness builds the
# binary the README installs (static, --target HOST: decision 0020) and the plain dynamic one,
# and fails if either build fails or the static one comes out dynamically linked.
out_cli="$("$release/cli" --smoke)"
echo "$out_cli"
grep -E '^\| `interlock run NAME -- true` \| [0-9]+ \|' <<<"$out_cli"
grep -E '^\| `interlock run NAME -- true`, dynamic build \| [0-9]+ \|' <<<"$out_cli"
grep -E '^binaries: [^ ]+/release/interlock \(statically linked\), ' <<<"$out_cli"

# The static binary works, so that the installed build cannot rot unseen: it runs a command
# under a lock, and its user-name lookup (/etc/passwd in a static build) names the owner of a
# namespace directory that is not ours.
host="$(rustc -vV | sed -n 's/^host: //p')"
static_cli="${CARGO_TARGET_DIR:-target}/$host/release/interlock"
ns="$(mktemp -d)"
trap 'rm -f "$out" "$plot"; rm -rf "$ns"' EXIT
mkdir -m 700 "$ns/mine"
INTERLOCK_DIR="$ns/mine" "$static_cli" run static-smoke -- true
if [ "$(id -u)" = 0 ]; then
    # Root can give a directory away: to uid 65534 (nobody, or whatever the system calls it).
    foreign="$ns/foreign"
    mkdir -m 700 "$foreign"
    chown 65534 "$foreign"
    owner="65534 ($(getent passwd 65534 | cut -d: -f1))"
else
    foreign=/  # root's
    owner="0 (root)"
fi
if err="$(INTERLOCK_DIR="$foreign" "$static_cli" run static-smoke -- true 2>&1)"; then
    echo "the static interlock used $foreign as its namespace" >&2
    exit 1
fi
echo "$err"
grep -F "it is owned by uid $owner, not by us" <<<"$err"
unknown=3999999999
if [ "$(id -u)" = 0 ] && ! getent passwd "$unknown"; then
    # A uid /etc/passwd does not know: a static glibc would hand it to the NSS modules it
    # dlopens (libnss_systemd crashed it: decision 0020); the error must name the uid, exit 2.
    chown "$unknown" "$foreign"
    status=0
    err="$(INTERLOCK_DIR="$foreign" "$static_cli" run static-smoke -- true 2>&1)" || status=$?
    echo "$err"
    [ "$status" = 2 ]
    grep -F "it is owned by uid $unknown, not by us" <<<"$err"
fi

# The shared resources (SharedFile, Value) against the counter example's cycle and Python: tables must come
# out; every run there asserts its final count.
out_res="$("$release/resources" --smoke)"
echo "$out_res"
grep -E '^\| interlock `Value<u64>::update' <<<"$out_res"

# Issue 16: interlock-etcd on throwaway clusters of 1 and 3 members, beside the bare client
# library's lease-grant + put + delete, `etcdctl lock` and `interlock run --etcd` (the CLI
# built above, target/release/interlock), contended, hand-over and recovery rows.
out_etcd="$("$release/etcd" --smoke)"
echo "$out_etcd"
grep -E '^\| lock\+unlock ÷ bare \(goal ≤ 1\.2×\) \| [0-9.]+× \| [0-9.]+× \|$' <<<"$out_etcd"
grep -E '^\| `interlock run --etcd E NAME -- true` \(a process\) \|' <<<"$out_etcd"
grep -E '^\| recovery: SIGKILL of holder → waiter holds \(TTL 2 s\) \| [0-9.]+ s' <<<"$out_etcd"
