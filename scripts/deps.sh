#!/usr/bin/env bash
# Installs what `make build`, `make test`, `make demo` and `make bench` call on a fresh Debian
# machine, as root, and prints nothing when everything is already there. Terraform: the one on PATH
# if any, else v1.5.7 built with `go install` into .cache/bin (the last release that installs
# cleanly that way).
#
# It is safe on a user's own machine: it never stops, disables or reconfigures a service. The lab
# starts its own sshd and keepalived inside its namespaces, so packages installed here are kept
# from starting their services during the install (policy-rc.d answers 101 "action forbidden"
# for the length of apt-get only, and only when the machine has no policy of its own); a service
# that was running before keeps running.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each package, and what the project calls from it:
#   user-mode-linux  linux.uml and its modules: the lab kernel where the running one lacks IP_VS
#   openssh-server   sshd on every lab host;  openssh-client  ssh, ssh-keygen
#   ipvsadm          reads and tampers with IPVS tables in drift tests and benchmarks
#   keepalived       VRRP interop tests and side-by-side benchmarks
#   tcpdump          the client's capture in the handover and failover lab tests
#   strace           shows that the agent's upload fsyncs the binary before its rename
#   iproute2 (ip, tc), kmod (modprobe), util-linux (unshare, nsenter, setsid), procps (sysctl,
#   pkill), sudo (non-root SSH users), passwd (useradd), curl, gcc + libc6-dev (the lab's helpers)
#   gnupg (gpg), unzip  make release-snapshot: signs the SUMS with a throwaway key, checks the zips
pkgs=(user-mode-linux openssh-server openssh-client ipvsadm keepalived tcpdump strace iproute2 kmod
  util-linux procps sudo passwd curl gcc libc6-dev gnupg unzip)

need=()
# python3 (make release-snapshot's check that each provider embeds both agents), unless the
# machine has one of its own on PATH.
command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  policy=/usr/sbin/policy-rc.d
  ours=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# lvs deps.sh: no service starts while it installs packages\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    ours=1
  fi
  trap '[ "$ours" = 1 ] && rm -f "$policy"' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v terraform >/dev/null 2>&1 && [ ! -x .cache/bin/terraform ]; then
  echo "deps: building terraform v1.5.7 into .cache/bin (once)"
  GOBIN="$PWD/.cache/bin" go install github.com/hashicorp/terraform@v1.5.7
fi

# The rest is for the tests only: `make demo` (LVS_DEPS=demo) needs neither, and goreleaser's
# first install alone takes minutes on a fresh machine.
if [ "${LVS_DEPS:-}" = demo ]; then
  exit 0
fi

# goreleaser, for make release-snapshot: installed as a program into .cache/bin, so that its large
# dependency graph stays out of the provider's go.mod (it has no replace directives, so go install
# of a version works). The first install downloads its modules: minutes on a fresh machine.
GORELEASER_VERSION=v2.17.0
if ! .cache/bin/goreleaser --version 2>/dev/null | grep -q "GitVersion: *$GORELEASER_VERSION\$"; then
  echo "deps: building goreleaser $GORELEASER_VERSION into .cache/bin (once)"
  GOBIN="$PWD/.cache/bin" go install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
fi

# Prometheus, for the acceptance test that scrapes both directors' metrics: only the binary,
# unpacked from Debian's package into .cache/bin. Installing the package would start (and enable)
# a prometheus.service on this machine.
if [ ! -x .cache/bin/prometheus ]; then (
  echo "deps: unpacking Debian's prometheus binary into .cache/bin (once)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  chmod 755 "$tmp" # apt-get download fetches as the _apt user
  apt-cache show prometheus >/dev/null 2>&1 || apt-get update -qq
  (cd "$tmp" && apt-get download -qq prometheus >/dev/null)
  dpkg -x "$tmp"/prometheus_*.deb "$tmp/x"
  mkdir -p .cache/bin && install -m 0755 "$tmp/x/usr/bin/prometheus" .cache/bin/prometheus
) fi
