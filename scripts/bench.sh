#!/usr/bin/env bash
# `make bench`: the performance figures of README.md, measured in the lab (User-Mode-Linux where the kernel
# lacks IP_VS), side by side with keepalived and ipvsadm where they have an equivalent, in the
# same run. Each benchmark is a Go test that runs only with LVS_BENCH=1; its full log is in
# .cache/bench.log and its table is printed here.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TF=${TERRAFORM:-$(command -v terraform 2>/dev/null || echo "$ROOT/.cache/bin/terraform")}
export LVS_BENCH=1 TF_ACC=1 CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
export TF_ACC_TERRAFORM_PATH="$TF" LVS_PROVIDER_DIR="$ROOT/bin"
log="$ROOT/.cache/bench.log"
mkdir -p "$ROOT/.cache"
: >"$log"

# bench TITLE TEST PKG [LABFLAGS | nolab]: run one benchmark test in the lab kernel (`lab run
# LABFLAGS --`), or with nolab on the machine itself, for figures that ptrace-emulated syscalls under
# User-Mode-Linux would distort, such as CPU per health check.
bench() {
  local title=$1 test=$2 pkg=$3 labflags=${4:-} exec
  if [ "$labflags" = nolab ]; then
    exec=()
  else
    # shellcheck disable=SC2206 # labflags is zero or more flags
    exec=(-exec "$ROOT/bin/lab run $labflags --")
  fi
  printf '\n\033[1m== %s\033[0m  (go test %s -run %s %s)\n' "$title" "${exec[*]:-}" "$test" "$pkg"
  if ! go test -count=1 -timeout 60m -v "${exec[@]}" -run "^$test\$" "$pkg" >>"$log" 2>&1; then
    echo "FAILED: see $log"
    return 1
  fi
  # The tables are t.Log output: strip the file:line prefix and keep the table and method lines.
  awk -v t="$test" '$0 ~ "^=== RUN   "t"$" {on=1} on' "$log" |
    sed -E 's/^ +([a-z_]+\.go:[0-9]+: )?//' | grep -E '^(\||Method|method|target)' || true
}

rc=0
bench "VRRP failover: our agent and keepalived, same lab, same settings" TestLabBenchFailover ./agent/ha || rc=1
bench "IPVS: agent reconciling 10,000 destinations vs ipvsadm-restore" TestLabBenchReconcile ./agent/ipvs || rc=1
bench "Health checks: dead real server out of the table, our agent and keepalived HTTP_GET" TestLabBenchHealth ./agent/ipvs || rc=1
bench "Health checks: 10,000 checks at a 1 s interval, CPU and memory" TestBenchChecks ./agent/healthcheck nolab || rc=1
# terraform runs on this machine as operators run it (lab run --native: not under UML's ptrace),
# against the directors in the lab; LVS_BENCH_SCALE_UML=1 runs it inside the lab kernel instead.
scale_flags=--native
[ "${LVS_BENCH_SCALE_UML:-}" = 1 ] && scale_flags=
bench "terraform apply / plan of 100 and 1,000 real servers" TestBenchScale ./internal/provider "$scale_flags" || rc=1
exit $rc
