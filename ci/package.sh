#!/usr/bin/env bash
# The two published packages can be packaged and published: what `cargo package` puts in them
# (the include lists), that each builds from its package alone (interlock-cli against the
# packaged interlock-ipc, not the path), and crates.io's metadata rules (`--dry-run` stops
# before the upload). --allow-dirty: a local run with uncommitted changes checks them too.
# Needs the crates.io index (the dependencies' versions).
set -euxo pipefail
cd "$(dirname "$0")"/..

# The dry run verifies interlock-cli against interlock-ipc from a temporary local registry,
# which cargo unpacks under $CARGO_HOME/registry/src/<hash of its path>/ and reuses when the
# directory exists: a second run from the same checkout path would build the CLI against the
# first run's library sources. Neither package is on crates.io, so every unpacked copy of them
# there is one of ours: remove them first.
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/interlock-ipc-* \
       "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/interlock-etcd-* \
       "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/interlock-cli-*
cargo publish --dry-run --allow-dirty -p interlock-ipc -p interlock-etcd -p interlock-cli

# Each package carries its licences and README, and nothing of the repository's tests, docs
# or benchmarks.
for pkg in interlock-ipc interlock-etcd interlock-cli; do
  files="$(cargo package --list --allow-dirty -p "$pkg")"
  for f in README.md LICENSE-MIT LICENSE-APACHE src/lib.rs src/main.rs; do
    case "$pkg:$f" in interlock-ipc:src/main.rs | interlock-etcd:src/main.rs | interlock-cli:src/lib.rs) continue ;; esac
    grep -qx "$f" <<<"$files" || { echo "ci/package.sh: $pkg lacks $f" >&2; exit 1; }
  done
  if grep -E '^(tests/integration/|docs/|benches/|target/)' <<<"$files"; then
    echo "ci/package.sh: $pkg carries files it should not" >&2
    exit 1
  fi
done
