#!/usr/bin/env bash
# `make demo`, run by `bin/lab run` inside the lab kernel: bring the lab's hosts up, apply
# examples/lab (the tutorials' LVS-DR web cluster) with the provider built in bin/, show the
# client's requests spread over the real servers, kill the master director and measure the gap
# until the VIP answers from the backup, let terraform repair the rebooted director, then
# destroy and take the lab down. Everything it starts is stopped on exit, also on failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB="$ROOT/bin/lab"
TF=${TERRAFORM:-$(command -v terraform 2>/dev/null || echo "$ROOT/.cache/bin/terraform")}
VIP=198.51.100.100
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { printf '\033[1;31mdemo failed: %s\033[0m\n' "$*"; exit 1; }
json_field() { grep -o "\"$1\":[a-z0-9.]*" | head -n1 | cut -d: -f2; }

# fetch N [ANSWERS]: N requests from the client to the VIP, each on a new connection; prints
# the answers by server and fails the demo if any request failed or, given ANSWERS (e.g.
# '"real1":100,"real2":200'), if the spread differs from it.
fetch() {
  local out
  out=$("$LAB" exec client -- "$LAB" fetch "http://$VIP/" "$1")
  echo "$out"
  case "$out" in *'"error'*) fail "requests failed: $out" ;; esac
  if [ -n "${2:-}" ] && [ "$out" != "{$2}" ]; then fail "spread $out, want {$2}"; fi
}

# health DIRECTOR RS: real server RS:80 as `lvs-agent status` on DIRECTOR shows it: its weight in
# the kernel / configured, and its health verdict, e.g. "2/2 up".
health() { "$LAB" exec "$1" -- lvs-agent status | awk -v rs="$2:80" '$1 == "->" && $2 == rs { print $4, $8 }'; }

# wait_health WANT: until both directors show real2 as WANT ("0/2 down", "2/2 up"), at most 10 s.
wait_health() {
  local d i
  for d in director1 director2; do
    for i in $(seq 100); do
      [ "$(health "$d" 198.51.100.22)" = "$1" ] && break
      [ "$i" = 100 ] && fail "$d shows real2 as '$(health "$d" 198.51.100.22)', not '$1', after 10 s"
      sleep 0.1
    done
  done
}

work=$(mktemp -d /tmp/lvs-demo.XXXXXX)
applied=0
vars=()
cleanup() {
  rc=$?
  if [ "$applied" = 1 ]; then
    step "terraform destroy"
    (cd "$work" && "$TF" destroy -auto-approve -no-color "${vars[@]}" 2>&1 | tail -n 2) || rc=1
  fi
  step "lab down"
  "$LAB" down || rc=1
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

tf_apply() {
  if ! "$TF" apply -auto-approve -no-color "${vars[@]}" >"$work/apply.log" 2>&1; then
    cat "$work/apply.log"
    exit 1
  fi
  grep -E '^(lvs_|Apply complete)' "$work/apply.log"
}

step "lab up: two directors, two web servers and a client on a bridge with no uplink"
"$LAB" up
for h in real1 real2; do
  "$LAB" exec "$h" -- sh -c "setsid $LAB serve :80 $h </dev/null >/tmp/serve.log 2>&1 &"
done

# The provider comes from bin/, as a development override: no registry is needed.
cat > "$work/terraformrc" <<RC
provider_installation {
  dev_overrides { "lvs-provider/lvs" = "$ROOT/bin" }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE="$work/terraformrc"
cp "$ROOT"/examples/lab/*.tf "$work/"
vars=(-var "private_key_file=$LVS_LAB_DIR/id_ed25519" -var "known_hosts_file=$LVS_LAB_DIR/known_hosts")
cd "$work"

step "terraform apply examples/lab"
start=$(date +%s%N)
applied=1
tf_apply
echo "apply took $(( ($(date +%s%N) - start) / 1000000 )) ms"

for d in director1 director2; do
  step "lvs-agent status on $d"
  "$LAB" exec "$d" -- lvs-agent status
done
step "real1: the VIP on loopback, ARP suppressed (what the lo:0 script used to do)"
"$LAB" exec real1 -- sh -c 'ip -o -4 addr show dev lo | grep -v 127.0.0.1; sysctl net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce'

step "300 requests from the client to http://$VIP/ right after apply (wrr, weights 1 and 2: exactly 100 and 200)"
fetch 300 '"real1":100,"real2":200'

step "stop the web server on real2: both directors' health checks take it out of rotation"
"$LAB" exec real2 -- pkill -f '[s]erve :80'
wait_health '0/2 down'
"$LAB" exec director1 -- lvs-agent status | grep -E 'RemoteAddress|198.51.100.2[12]:80'
fetch 100 '"real1":100'
echo "terraform plan while real2 is out (health is not drift):"
"$TF" plan -detailed-exitcode -no-color "${vars[@]}" >/dev/null 2>&1 || fail "plan is not empty while real2 is out"
echo "  no changes"

step "start it again: it returns after two good checks"
"$LAB" exec real2 -- sh -c "setsid $LAB serve :80 real2 </dev/null >/tmp/serve.log 2>&1 &"
wait_health '2/2 up'
fetch 300

# probe_report FILE WHAT: the probe's figures, or why there are none.
probe_report() {
  local sched sent pause gap gerr gfailed failed behind
  sched=$(json_field scheduled <"$1"); sent=$(json_field requests <"$1")
  pause=$(json_field max_send_pause_ms <"$1"); behind=$(json_field behind <"$1")
  gap=$(json_field longest_gap_ms <"$1"); gerr=$(json_field gap_error_ms <"$1")
  gfailed=$(json_field gap_failed <"$1"); failed=$(json_field failed <"$1")
  echo "the client sent $sent of $sched requests on its 10 ms schedule (longest pause between two sends: $pause ms)"
  echo "answers: $(grep -o '"answers":{[^}]*}' "$1")"
  if [ "$failed" = 0 ]; then
    echo "$2: no request failed"
  elif [ "$behind" = true ]; then
    echo "$2: $failed of $sent requests failed; the probe fell behind its schedule around the gap (this machine was too busy to run it on time), so no gap is reported"
  else
    echo "$2: the VIP went unanswered for $gap ms (± $gerr ms: the pauses between sends at its edges); $gfailed requests failed in that gap, $failed of $sent in all"
  fi
}

step "kill the master director (power cut) while the client sends a request every 10 ms"
"$LAB" exec client -- chrt -f 50 "$LAB" probe "http://$VIP/" 8s >"$work/probe.json" &
probe=$!
sleep 2
"$LAB" kill director1
echo "director1 is off"
wait "$probe"
probe_report "$work/probe.json" "failover (advert_interval 100ms)"

step "the VIP now answers from director2"
"$LAB" exec director2 -- sh -c "ip -o -4 addr show dev eth0 | grep $VIP"
fetch 30

step "director1 comes back: terraform plan shows its stopped agent, apply repairs it"
"$LAB" boot director1
"$TF" plan -no-color "${vars[@]}" 2>&1 | grep -E '^\s+[~+-] |status|Plan:' | head -n 12 || true
echo "(the repaired director1 takes the VIP back: a planned switchover, probed like the power cut)"
"$LAB" exec client -- chrt -f 50 "$LAB" probe "http://$VIP/" 12s >"$work/preempt.json" &
probe=$!
tf_apply
wait "$probe"
probe_report "$work/preempt.json" "switchover back to director1"
"$TF" plan -detailed-exitcode -no-color "${vars[@]}" >/dev/null 2>&1 || fail "plan after the repair is not empty"
echo "plan after apply: no changes"
