#!/usr/bin/env bash
# Every package builds with the Rust version it declares (`rust-version`): the workspace's 1.85
# for the library and the test kit, 1.89 for the benchmarks (std's File::lock) and for
# interlock-etcd and the CLI that links it (tonic 0.14 needs 1.88; issue 16). Each
# version's toolchain is installed if missing (minimal profile); if rustup cannot install it,
# this script fails: it never skips a package.
#
# Lints are the stable toolchain's business (ci/clippy.sh, RUSTFLAGS=-D warnings everywhere
# else). Here `dead_code` is allowed: rustc 1.85 does not count a use inside a `const _: () =
# assert!(…)` (segment.rs's layout checks) and would call sys::NODE_AREA_START unused.
set -euxo pipefail
cd "$(dirname "$0")"/..

export RUSTFLAGS="${RUSTFLAGS:-} -A dead_code"

# "VERSION PACKAGE" per workspace member; a member without rust-version is an error.
members="$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if not p.get("rust_version"):
        sys.exit("ci/msrv.sh: " + p["name"] + " declares no rust-version")
    print(p["rust_version"], p["name"])
')"
[ -n "$members" ]

for version in $(cut -d' ' -f1 <<<"$members" | sort -uV); do
  # "1.85" means the 1.85.0 release.
  toolchain="$version"
  [[ "$toolchain" =~ ^[0-9]+\.[0-9]+$ ]] && toolchain="$toolchain.0"
  if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    rustup toolchain install "$toolchain" --profile minimal
  fi
  packages=()
  for name in $(awk -v v="$version" '$1 == v { print $2 }' <<<"$members"); do
    packages+=(-p "$name")
  done
  cargo "+$toolchain" check --all-targets --all-features "${packages[@]}"
done
