#!/usr/bin/env bash
# Model-checks the lock word, the Event word, the Barrier word, the RwLock pairing (both
# policies), the Condition's words and an RLock's depth (crates/interlock/src/word/model.rs), then
# shows every model failing on the mutant planted for it (`model_every_mutant_is_caught`, each in
# a child process; decision 0030). Release, bounded pre-emptions: the models finish in about
# 10 s after a ~20 s build (6.3 s before the RwLock's four reader-preference models, which take
# about 3.3 s, on the 2-core VM under load). The semaphore's three models of decision 0023's
# addendum and their three mutants add about 0.4 s: 9.2-10.5 s before and after, alternated, under
# load (the four-thread models run without pre-emptions, the three-thread one at one).
set -euxo pipefail
cd "$(dirname "$0")"/..
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
  cargo test -p interlock-ipc --release --lib model
