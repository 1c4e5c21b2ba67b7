#!/usr/bin/env bash
# Model-checks the lock word, the Event word, the Barrier word and the RwLock pairing (crates/interlock/src/word/model.rs). Release, bounded pre-emptions:
# the models finish in well under a second after a ~20 s build.
set -euxo pipefail
cd "$(dirname "$0")"/..
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
  cargo test -p interlock-ipc --release --lib model
