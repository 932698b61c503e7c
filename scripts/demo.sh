#!/usr/bin/env bash
# `make demo`, run by `bin/lab run` inside the lab kernel: bring the lab's hosts up, apply
# examples/lab with the provider built in bin/, show what the agents report, then destroy
# and take the lab down. Everything it starts is stopped on exit, also on failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB="$ROOT/bin/lab"
TF=${TERRAFORM:-$(command -v terraform 2>/dev/null || echo "$ROOT/.cache/bin/terraform")}
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

work=$(mktemp -d /tmp/lvs-demo.XXXXXX)
applied=0
cleanup() {
  rc=$?
  if [ "$applied" = 1 ]; then
    step "terraform destroy"
    (cd "$work" && "$TF" destroy -auto-approve -no-color "${vars[@]}" | tail -n 3) || rc=1
  fi
  step "lab down"
  "$LAB" down || rc=1
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

step "lab up: two directors, two real servers and a client on a bridge with no uplink"
"$LAB" up

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

step "terraform apply examples/lab"
cd "$work"
start=$(date +%s%N)
applied=1
# Terraform warns that dev_overrides are in use; the rest of its output is shown.
if ! "$TF" apply -auto-approve -no-color "${vars[@]}" >"$work/apply.log" 2>&1; then
  cat "$work/apply.log"
  exit 1
fi
sed -n '/lvs_director_pair/,$p' "$work/apply.log"
echo "apply took $(( ($(date +%s%N) - start) / 1000000 )) ms"

for d in director1 director2; do
  step "lvs-agent status on $d"
  "$LAB" exec "$d" -- lvs-agent status
done

step "terraform plan: nothing to change"
"$TF" plan -detailed-exitcode -no-color "${vars[@]}" >/dev/null 2>&1 && echo "no changes: the hosts match the configuration"
