#!/usr/bin/env bash
# Model-checks the lock word, the Event word, the Barrier word, the RwLock pairing, the Condition's
# words and an RLock's depth (crates/interlock/src/word/model.rs), then shows every model failing
# on the mutant planted for it (`model_every_mutant_is_caught`, each in a child process; decision
# 0030). Release, bounded pre-emptions: the models finish in about 6 s after a ~20 s build (6.1 s
# before the mutants and the RLock model, 6.3 s with them, on the 2-core VM at load ~14).
set -euxo pipefail
cd "$(dirname "$0")"/..
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
  cargo test -p interlock-ipc --release --lib model
