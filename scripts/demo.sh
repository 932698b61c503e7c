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
json_field() { grep -o "\"$1\":[0-9.]*" | head -n1 | cut -d: -f2; }

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

step "300 requests from the client to http://$VIP/ (wrr, weights 1 and 2)"
"$LAB" exec client -- "$LAB" fetch "http://$VIP/" 300 | tee "$work/spread.json"

step "stop the web server on real2: both directors' health checks take it out of rotation"
"$LAB" exec real2 -- pkill -f '[s]erve :80'
for i in $(seq 50); do
  "$LAB" exec director1 -- lvs-agent status | grep -q '198.51.100.22:80.* down' && break
  sleep 0.2
done
"$LAB" exec director1 -- lvs-agent status | grep -E 'RemoteAddress|198.51.100.2[12]:80'
"$LAB" exec client -- "$LAB" fetch "http://$VIP/" 100
echo "terraform plan while real2 is out (health is not drift):"
"$TF" plan -detailed-exitcode -no-color "${vars[@]}" >/dev/null 2>&1 && echo "  no changes"

step "start it again: it returns after two good checks"
"$LAB" exec real2 -- sh -c "setsid $LAB serve :80 real2 </dev/null >/tmp/serve.log 2>&1 &"
for i in $(seq 50); do
  "$LAB" exec director1 -- lvs-agent status | grep -q '198.51.100.22:80.* up' && break
  sleep 0.2
done
"$LAB" exec client -- "$LAB" fetch "http://$VIP/" 300

step "kill the master director (power cut) while the client sends a request every 10 ms"
"$LAB" exec client -- "$LAB" probe "http://$VIP/" 8s >"$work/probe.json" &
probe=$!
sleep 2
"$LAB" kill director1
echo "director1 is off"
wait "$probe"
gap=$(json_field longest_gap_ms <"$work/probe.json")
failed=$(json_field failed <"$work/probe.json")
requests=$(json_field requests <"$work/probe.json")
echo "client saw the VIP unanswered for ${gap} ms; ${failed} of ${requests} requests failed (advert_interval 100ms)"

step "the VIP now answers from director2"
"$LAB" exec director2 -- sh -c "ip -o -4 addr show dev eth0 | grep $VIP"
"$LAB" exec client -- "$LAB" fetch "http://$VIP/" 30

step "director1 comes back: terraform plan shows its stopped agent, apply repairs it"
"$LAB" boot director1
"$TF" plan -no-color "${vars[@]}" 2>&1 | grep -E '^\s+[~+-] |status|Plan:' | head -n 12 || true
tf_apply
"$TF" plan -detailed-exitcode -no-color "${vars[@]}" >/dev/null 2>&1 && echo "plan after apply: no changes"
