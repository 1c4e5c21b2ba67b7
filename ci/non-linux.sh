#!/usr/bin/env bash
# On a target other than Linux the library must stop at one error, the compile_error! at the top
# of crates/interlock/src/lib.rs, not at a cascade of errors about missing Linux interfaces.
# Checked (not linked) for macOS, whose standard library rustup installs for any host.
set -euxo pipefail
cd "$(dirname "$0")"/..

target=x86_64-apple-darwin
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
if cargo check -p interlock-ipc --all-features --target "$target" --message-format short 2>"$out"; then
  cat "$out"
  echo "ci/non-linux.sh: interlock-ipc compiled for $target; it must refuse to" >&2
  exit 1
fi
cat "$out"
# One error from the crate, and cargo's closing "could not compile … due to 1 previous error".
grep -q 'error: interlock-ipc works on Linux only: ' "$out"
grep -q 'could not compile `interlock-ipc` (lib) due to 1 previous error' "$out"
echo "ci/non-linux.sh: $target stops at the one compile_error!"
