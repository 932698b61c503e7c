#!/usr/bin/env bash
# Investigation: stop/start real2's web server ROUNDS times and fetch right after both directors
# see it up again, with tcpdump on every host, to catch resets on the wire. STALL=1 stops
# director2's agent for 700 ms during each fetch after real2 is back (a loaded host). Output in
# .cache/repro/TIME (log, captures as text and pcap, agent logs, ipvsadm -Lnc); read the failed
# connections with scripts/repro-flows.py .cache/repro/TIME [-v].
# Usage: ROUNDS=8 N=300 [STALL=1] bin/lab run -- scripts/repro-reset.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB="$ROOT/bin/lab"
TF=${TERRAFORM:-$(command -v terraform 2>/dev/null || echo "$ROOT/.cache/bin/terraform")}
VIP=198.51.100.100
ROUNDS=${ROUNDS:-8}
N=${N:-300}
OUT=${OUT:-$ROOT/.cache/repro/$(date +%H%M%S)}
mkdir -p "$OUT"
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
log() { printf '%s %s\n' "$(date +%T.%3N)" "$*" | tee -a "$OUT/log"; }
health() { "$LAB" exec "$1" -- lvs-agent status | awk -v rs="$2:80" '$1 == "->" && $2 == rs { print $8 }'; }
wait_health() {
  local d i
  for d in director1 director2; do
    for i in $(seq 100); do
      [ "$(health "$d" 198.51.100.22)" = "$1" ] && break
      [ "$i" = 100 ] && { log "$d does not see real2 $1"; return 1; }
      sleep 0.1
    done
  done
}
work=$(mktemp -d /tmp/lvs-repro.XXXXXX)
applied=0
HOSTS="client real1 real2 director1 director2"
cleanup() {
  rc=$?
  for h in $HOSTS; do
    "$LAB" exec "$h" -- sh -c 'pkill -INT tcpdump; sleep 1' || true
  done
  for h in $HOSTS; do
    "$LAB" exec "$h" -- sh -c 'tcpdump -nn -e -tt -S -r /tmp/cap.pcap 2>/dev/null' >"$OUT/cap-$h.txt" || true
    "$LAB" exec "$h" -- sh -c 'cat /tmp/cap.pcap' >"$OUT/cap-$h.pcap" || true
  done
  for d in director1 director2; do "$LAB" exec "$d" -- cat /var/log/lvs-agent.log >"$OUT/agent-$d.log" 2>/dev/null || true; done
  if [ "$applied" = 1 ]; then (cd "$work" && "$TF" destroy -auto-approve -no-color "${vars[@]}" >/dev/null 2>&1) || true; fi
  "$LAB" down || rc=1
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
"$LAB" up >/dev/null
for h in real1 real2; do
  "$LAB" exec "$h" -- sh -c "setsid $LAB serve :80 $h </dev/null >/tmp/serve.log 2>&1 &"
done
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
applied=1
"$TF" apply -auto-approve -no-color "${vars[@]}" >"$OUT/apply.log" 2>&1 || { cat "$OUT/apply.log"; exit 1; }
log "applied"
for h in $HOSTS; do
  "$LAB" exec "$h" -- sh -c "setsid tcpdump -i eth0 -nn -s 128 -w /tmp/cap.pcap 'tcp port 80 or ip proto 112 or arp' </dev/null >/tmp/tcpdump.log 2>&1 &"
done
sleep 1
for h in client real1 real2 director1 director2; do
  "$LAB" exec "$h" -- sh -c 'echo $(hostname): $(sysctl -n net.ipv4.ip_local_port_range) tw_reuse=$(sysctl -n net.ipv4.tcp_tw_reuse) $(sysctl -a 2>/dev/null | grep "^net.ipv4.vs\.\(conn_reuse\|expire\|sloppy\|conntrack \)" | tr "\n" " ")' | tee -a "$OUT/log"
done
log "baseline: $("$LAB" exec client -- "$LAB" fetch "http://$VIP/" "$N")"
for r in $(seq "$ROUNDS"); do
  log "round $r: stop real2"
  "$LAB" exec real2 -- pkill -f '[s]erve :80'
  log "round $r: right after stop: $("$LAB" exec client -- "$LAB" fetch "http://$VIP/" 20)"
  wait_health down
  log "round $r: down: $("$LAB" exec client -- "$LAB" fetch "http://$VIP/" 100)"
  "$LAB" exec real2 -- sh -c "setsid $LAB serve :80 real2 </dev/null >/tmp/serve.log 2>&1 &"
  wait_health up
  log "round $r: up"
  "$LAB" exec director1 -- ipvsadm -Lnc >"$OUT/conns-r$r-before.txt" 2>&1 || true
  if [ "${STALL:-0}" = 1 ]; then
    # The backup's agent is not run for 700 ms (about twice Master_Down_Interval) in the middle
    # of the fetch, as on a loaded host, while the master keeps advertising.
    "$LAB" exec client -- "$LAB" fetch "http://$VIP/" "$N" >"$OUT/fetch-r$r.json" &
    f=$!
    sleep 0.5
    "$LAB" exec director2 -- sh -c "p=\$(pgrep -f '^/usr/local/sbin/lvs-agent serve' | head -n1); kill -STOP \$p; sleep 0.7; kill -CONT \$p"
    wait "$f"
    res=$(cat "$OUT/fetch-r$r.json")
  else
    res=$("$LAB" exec client -- "$LAB" fetch "http://$VIP/" "$N")
  fi
  log "round $r: after up: $res"
  case "$res" in *error*) "$LAB" exec director1 -- ipvsadm -Lnc >"$OUT/conns-r$r-after.txt" 2>&1 || true ;; esac
done
