#!/usr/bin/env bash
# Model-checks the lock word, the Event word, the Barrier word, the RwLock pairing and the Condition's
# words (crates/interlock/src/word/model.rs). Release, bounded pre-emptions: the models finish in
# about 10 s after a ~20 s build (the Condition's four, its mutant in a child process included, take
# 1.4 s of it on the 2-core VM under load; the RwLock's reader-preference four about 3.3 s).
set -euxo pipefail
cd "$(dirname "$0")"/..
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
  cargo test -p interlock-ipc --release --lib model
