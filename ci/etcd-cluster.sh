#!/usr/bin/env bash
# A throwaway etcd cluster on 127.0.0.1 for examples, benchmarks and manual tests:
#
#   eval "$(bash ci/etcd-cluster.sh start 3)"   # or 1; exports INTERLOCK_ETCD_ENDPOINTS
#   bash ci/etcd-cluster.sh stop                # kills the members by pid, removes the data
#
# Ports are chosen free per run; data, logs and pids live in $ETCD_CLUSTER_DIR (a new temp
# directory, printed as an export too). The tests do not use this script: each test spawns
# its own members (crates/testkit/src/etcd.rs) and kills them by pid when it ends.
set -euo pipefail

cmd="${1:-}"
case "$cmd" in
start)
  n="${2:-3}"
  command -v etcd >/dev/null || { echo "ci/etcd-cluster.sh: etcd missing (apt-get install etcd-server)" >&2; exit 1; }
  dir="$(mktemp -d /tmp/interlock-etcd-cluster.XXXXXX)"
  # On any failure before the cluster is up, kill what was started and remove the directory.
  trap 'ETCD_CLUSTER_DIR="$dir" bash "$0" stop >/dev/null 2>&1 || true' ERR
  ports=($(python3 -c "
import socket
ss = [socket.socket() for _ in range(2 * $n)]
for s in ss: s.bind(('127.0.0.1', 0))
print(' '.join(str(s.getsockname()[1]) for s in ss))"))
  initial=""
  for ((i = 0; i < n; i++)); do
    initial+="${initial:+,}m$i=http://127.0.0.1:${ports[2*i+1]}"
  done
  endpoints=""
  for ((i = 0; i < n; i++)); do
    client="http://127.0.0.1:${ports[2*i]}"
    peer="http://127.0.0.1:${ports[2*i+1]}"
    setsid etcd --name "m$i" --data-dir "$dir/m$i" \
      --listen-client-urls "$client" --advertise-client-urls "$client" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
      --initial-cluster "$initial" --initial-cluster-token "interlock-$$" \
      --initial-cluster-state new --logger zap --log-level warn \
      </dev/null >"$dir/m$i.log" 2>&1 &
    echo $! >>"$dir/pids"
    endpoints+="${endpoints:+,}127.0.0.1:${ports[2*i]}"
  done
  for _ in $(seq 300); do
    if ETCDCTL_API=3 etcdctl --endpoints "$endpoints" --command-timeout=1s endpoint health >/dev/null 2>&1; then
      echo "export ETCD_CLUSTER_DIR=$dir"
      echo "export INTERLOCK_ETCD_ENDPOINTS=$endpoints"
      exit 0
    fi
    sleep 0.1
  done
  echo "ci/etcd-cluster.sh: the cluster did not become healthy in 30 s; logs in $dir" >&2
  false
  ;;
stop)
  dir="${ETCD_CLUSTER_DIR:?ci/etcd-cluster.sh stop: ETCD_CLUSTER_DIR is not set}"
  if [ -f "$dir/pids" ]; then
    while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$dir/pids"
  fi
  case "$dir" in /tmp/interlock-etcd-cluster.*) rm -rf "$dir" ;; esac
  ;;
*)
  echo "usage: ci/etcd-cluster.sh start [1|3] | stop" >&2
  exit 2
  ;;
esac
