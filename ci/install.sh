#!/usr/bin/env bash
# Installs what the suite needs on a fresh machine of this project's kind (Debian + rustup).
set -euxo pipefail
cd "$(dirname "$0")"/..

apt_install() {
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else
    echo "ci/install.sh: missing $* and not root; install them (apt-get install $*)" >&2
    exit 1
  fi
}

command -v cargo >/dev/null || { echo "ci/install.sh: cargo is required (rustup)" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked
# util-linux's flock(1) and python3 are the benchmark harness's peers.
command -v flock >/dev/null || apt_install util-linux
command -v python3 >/dev/null || apt_install python3
# ci/python.sh builds and tests the Python package in a venv of its own (maturin and pytest from PyPI).
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
# groff and man read the generated man page in the CLI tests (`interlock man`).
command -v groff >/dev/null && command -v man >/dev/null || apt_install groff-base man-db
# The etcd backend: `etcd-client` (the crate) runs protoc at build time; its tests spawn real
# members (`etcd`) and probe them with `etcdctl` (Debian bookworm: etcd 3.4).
command -v protoc >/dev/null || apt_install protobuf-compiler
command -v etcd >/dev/null || apt_install etcd-server
command -v etcdctl >/dev/null || apt_install etcd-client
