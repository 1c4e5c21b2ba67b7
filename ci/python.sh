#!/usr/bin/env bash
# The Python package (crates/interlock-py): builds the manylinux wheel with maturin, checks it
# with auditwheel, installs it in a venv of its own, and runs the pytest suite against it
# (the examples and the `interlock` CLI, the Rust side of the shared-lock tests, included).
set -euxo pipefail
cd "$(dirname "$0")"/..
target="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
venv="$target/python-venv"
wheels="$target/python-wheels"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "maturin>=1.9.4,<2" ziglang pytest auditwheel mypy
rm -rf "$wheels"
# manylinux_2_28 (glibc 2.28 and newer: Debian 10+, Ubuntu 20.04+, RHEL 8+), linked by zig
# (`--zig`, ziglang from PyPI) against that glibc's symbols: this host's own glibc (2.36) and
# Rust standard library would give manylinux_2_34 at best. maturin refuses to tag a wheel whose
# symbols need more, and auditwheel checks the same independently. maturin finds zig on PATH.
tag="${INTERLOCK_MANYLINUX:-manylinux_2_28}"
PATH="$venv/bin:$PATH" "$venv/bin/maturin" build --release --locked -m crates/interlock-py/Cargo.toml \
    --interpreter "$venv/bin/python" --zig --compatibility "$tag" -o "$wheels"
wheel=$(ls "$wheels"/*.whl)
"$venv/bin/auditwheel" show "$wheel" | tee "$target/python-auditwheel.txt"
tr -s " \n" "  " <"$target/python-auditwheel.txt" |
    grep -q "is consistent with the following platform tag: \"${tag}_"
"$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
# The type stubs say what the module has, no more and no less.
"$venv/bin/python" -m mypy.stubtest interlock
cargo build --release -p interlock-cli
# From the tests' directory, so that `import interlock` is the installed wheel, not the source.
cd crates/interlock-py/tests
INTERLOCK_BIN="$target/release/interlock" "$venv/bin/python" -m pytest -p no:cacheprovider -ra -v .
# The benchmark beside multiprocessing.Lock, threading.Lock, filelock and fasteners, with tiny
# arguments, so that it cannot rot (README "From Python" has the full run's command and figures).
"$venv/bin/pip" install -q --disable-pip-version-check filelock fasteners
"$venv/bin/python" ../bench/bench_locks.py --reps 1 --seconds 0.05 --recovery-timeout 0.2
