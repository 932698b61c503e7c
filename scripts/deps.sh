#!/usr/bin/env bash
# Installs what building, testing and the demo need on a fresh Debian machine, as root, and prints
# nothing when everything is already there. Terraform: the one on PATH if any, else v1.5.7 built
# with `go install` into .cache/bin (the last release that installs cleanly that way).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in user-mode-linux openssh-server openssh-client ipvsadm keepalived iproute2 sudo util-linux curl kmod gcc libc6-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts the services it installs where an init runs; the lab starts its own.
  for svc in keepalived ssh; do
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
  done
fi

if ! command -v terraform >/dev/null 2>&1 && [ ! -x .cache/bin/terraform ]; then
  echo "deps: building terraform v1.5.7 into .cache/bin (once)"
  GOBIN="$PWD/.cache/bin" go install github.com/hashicorp/terraform@v1.5.7
fi
