#!/usr/bin/env bash
# No crate twice in the library's dependency tree.
set -euxo pipefail
cd "$(dirname "$0")"/..
dups=$(cargo tree -p interlock-ipc --duplicates --edges normal)
[ -z "$dups" ] || { echo "$dups"; exit 1; }
