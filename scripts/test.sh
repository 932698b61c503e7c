#!/usr/bin/env bash
# `make test`, as CI runs it (after `make deps build`): static checks, unit tests on this kernel, a
# short fuzz pass of the parsers most exposed to the network and the API,
# lab and acceptance tests (real sshd, real terraform CLI, IP_VS) inside the lab kernel (each test
# in its own, side by side: scripts/testlab.sh), the docs check, then the release check (a
# release snapshot and `make install` found by an offline `terraform init`). Every step runs even
# when an earlier one failed, so that one run shows every failure; the exit status is non-zero if
# any failed. At the end it prints each step's time and each test package's (each lab test's),
# slowest first. Logs: .cache/test-STEP.log.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
mkdir -p .cache
MAKE=${MAKE:-make}
steps=()
failed=()
t0=$(date +%s)

# step NAME CMD...: run CMD, its output both shown and kept in .cache/test-NAME.log.
step() {
  local name=$1 start rc
  shift
  printf '\n\033[1m== %s\033[0m  %s\n' "$name" "$*"
  start=$(date +%s)
  "$@" 2>&1 | tee ".cache/test-$name.log"
  rc=${PIPESTATUS[0]}
  steps+=("$(printf '%-8s %5ds  %s' "$name" $(($(date +%s) - start)) "$([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)")")")
  [ "$rc" = 0 ] || failed+=("$name")
}

step vet go vet ./...
step gofmt sh -c 'out=$(gofmt -l $(git ls-files "*.go")); [ -z "$out" ] || { echo "gofmt would change:"; echo "$out"; exit 1; }'
step lint "$MAKE" --no-print-directory lint
step unit "$MAKE" --no-print-directory unit-run
step fuzz "$MAKE" --no-print-directory fuzz-ci
step lab "$MAKE" --no-print-directory testlab-run
step scale "$MAKE" --no-print-directory testscale-run
step docs "$MAKE" --no-print-directory docs-check
# Last: it re-stamps the embedded agents for the snapshot and the install, then rebuilds them.
step release "$MAKE" --no-print-directory release-check

printf '\n\033[1m== times\033[0m\n'
printf '%s\n' "${steps[@]}"
echo "total    $(($(date +%s) - t0))s"
echo
echo "test packages and lab tests, slowest first (unit: natively with -race; lab: each test in a lab kernel of its own):"
for s in unit lab scale; do
  grep -hE '^(ok|FAIL|beside)[[:space:]]+[^[:space:]]+[[:space:]]+[0-9.]+s' ".cache/test-$s.log" 2>/dev/null |
    awk -v s="$s" '{t=$3; sub(/s$/, "", t); printf "%8.1fs  %-4s %-4s %s\n", t, s, $1, $2}'
done | sort -rn | head -n 40
if ((${#failed[@]})); then
  echo
  echo "FAILED steps: ${failed[*]}"
  exit 1
fi
