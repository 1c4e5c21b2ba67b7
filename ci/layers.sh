#!/usr/bin/env bash
# The layer check (ARCHITECTURE.md): every path a module of the library names inside the crate
# (`use crate::…`, `crate::…`, `super::…`) leads to its own layer or one below it, as
# ci/layers.txt assigns them, and no two top-level modules import each other in a cycle. Then
# the check's own test: in copies of the sources, a planted upward import and a planted cycle
# must each fail it. `ci/layers.sh --self-test` runs only the latter.
set -euxo pipefail
cd "$(dirname "$0")"/..
if [ "${1:-}" != --self-test ]; then
    python3 ci/layers.py crates/interlock/src ci/layers.txt
fi
python3 ci/layers.py --self-test crates/interlock/src ci/layers.txt
