#!/usr/bin/env bash
# Issue 18: a bounded cargo-fuzz run of every target over the committed corpus (fuzz/corpus).
# Each target decodes what a damaged file or a hostile neighbour can hand interlock (segment
# header, slotted file, hand-over variable, lock name) or what a user types to the CLI (its
# arguments, a DURATION) and asserts its properties (crates/interlock/src/fuzzing.rs,
# crates/interlock-cli/src/fuzzing.rs); a crash fails CI, prints the failing input and leaves it in
# fuzz/artifacts — turn it into a unit test beside the code it broke. Stable Rust, no sanitizer
# (`-s none`): the decoders are safe code, and a panic is what the properties raise.
# Deterministic by default, as CI must be: a fixed seed and a fixed number of inputs a target
# (FUZZ_RUNS for all, else 2,000,000: ~1 s for the header, ~15 s for the slotted file; fewer
# for the CLI's two, see RUNS below), from the committed corpus. FUZZ_SECONDS=N instead runs
# each target N seconds from a random seed (by hand, to search further).
# The CLI's targets (`cli`: argument vectors through its parser; `duration`: --wait and
# --mode values) link interlock-cli without its `etcd` feature: ~50 CPU-seconds more to build.
set -euo pipefail
cd "$(dirname "$0")"/..
# Inputs a target when neither FUZZ_RUNS nor FUZZ_SECONDS is given. The CLI's parser builds
# clap's whole command for every input (~7,000 inputs a CPU-second): 20,000 (~3 s); the
# DURATION parser does ~900,000 a second: 1,000,000.
declare -A RUNS=([cli]=20000 [duration]=1000000)
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2
# The slots target's scratch files (one a fuzzing process, left behind by its `exit`).
INTERLOCK_FUZZ_DIR="$(mktemp -d "$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)/interlock-fuzz.XXXXXX")"
export INTERLOCK_FUZZ_DIR
trap 'rm -rf "$INTERLOCK_FUZZ_DIR"' EXIT
cd fuzz
cargo fuzz build -s none
for target in $(cargo fuzz list); do
    test -d "corpus/$target" || { echo "fuzz: no corpus/$target: commit seeds for it" >&2; exit 1; }
    # A scratch copy of the corpus: what the run finds stays out of the tree.
    work="$(mktemp -d)"
    log="$(mktemp)"
    cp -r "corpus/$target/." "$work/"
    if [ -n "${FUZZ_SECONDS:-}" ]; then
        bound=(-max_total_time="$FUZZ_SECONDS")
        what="${FUZZ_SECONDS}s"
    else
        runs="${FUZZ_RUNS:-${RUNS[$target]:-2000000}}"
        bound=(-runs="$runs" -seed="${FUZZ_SEED:-1}")
        what="$runs runs, seed ${FUZZ_SEED:-1}"
    fi
    if cargo fuzz run -s none "$target" "$work" -- "${bound[@]}" \
        -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
        echo "fuzz $target: ${runs:-?} inputs ($what), no failure"
    else
        tail -n 40 "$log"
        echo "fuzz $target: FAILED (input above and in fuzz/artifacts/$target)" >&2
        exit 1
    fi
    rm -rf "$work" "$log"
done
