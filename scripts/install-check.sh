#!/usr/bin/env bash
# `make install-check` (a step of `make test`): `make install` into a temporary HOME, then
# `terraform init` of the README's first configuration, exactly as README.md shows it, with no
# CLI configuration and no network (its own empty network namespace when it can make one): init
# must find the provider in the implicit local mirror (~/.terraform.d/plugins) and select the
# installed version, which must be a release version (Terraform skips pre-releases unless pinned).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TF=${TERRAFORM:-$(command -v terraform 2>/dev/null || echo "$ROOT/.cache/bin/terraform")}
MAKE=${MAKE:-make}
tmp=$(mktemp -d /tmp/lvs-install-check.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "install-check: $*" >&2; exit 1; }

want=$("$MAKE" --no-print-directory -s -f GNUmakefile print-install-version)

# Go keeps its caches under HOME by default: each make below keeps this machine's, or its build
# would start cold.
# macOS on arm64 (GOOS and GOARCH as `go env` reads them on a Mac): the path make install builds,
# and a Mach-O 64-bit binary in it. Terraform cannot run it here; the layout is the same. First,
# because its make leaves bin/lvs-agent as linux/arm64's agent; the native install below replaces it.
GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE) GOPATH=$(go env GOPATH) GOOS=darwin GOARCH=arm64 \
  HOME="$tmp/mac" "$MAKE" --no-print-directory install >"$tmp/install-mac.log" 2>&1 || { cat "$tmp/install-mac.log"; fail "make install for darwin/arm64 failed"; }
mac="$tmp/mac/.terraform.d/plugins/registry.terraform.io/lvs-provider/lvs/$want/darwin_arm64/terraform-provider-lvs_v$want"
[ -x "$mac" ] || fail "make install for darwin/arm64 left no $mac"
[ "$(head -c 4 "$mac" | od -An -tx1 | tr -d ' \n')" = cffaedfe ] || fail "$mac is not a Mach-O 64-bit binary"

# This machine's OS and architecture.
GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE) GOPATH=$(go env GOPATH) \
  HOME="$tmp/home" "$MAKE" --no-print-directory install >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "make install failed"; }
bin="$tmp/home/.terraform.d/plugins/registry.terraform.io/lvs-provider/lvs/$want/$(go env GOOS)_$(go env GOARCH)/terraform-provider-lvs_v$want"
[ -x "$bin" ] || fail "make install left no $bin"

# The README's first configuration: the first ```terraform block after "## A first configuration".
mkdir "$tmp/cfg"
awk '/^## A first configuration/ { on=1 } on && /^```terraform/ { inb=1; next } inb && /^```/ { exit } inb { print }' README.md >"$tmp/cfg/main.tf"
grep -q 'source *= *"lvs-provider/lvs"' "$tmp/cfg/main.tf" || fail "README.md's first configuration does not name source lvs-provider/lvs"

offline=()
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  offline=(unshare -n) # no interface but a down loopback: any registry lookup fails at once
fi
(cd "$tmp/cfg" && env -u TF_CLI_CONFIG_FILE -u TF_PLUGIN_CACHE_DIR HOME="$tmp/home" CHECKPOINT_DISABLE=1 \
  "${offline[@]}" "$TF" init -input=false -no-color) >"$tmp/init.log" 2>&1 || {
  cat "$tmp/init.log"
  case $want in *-*) fail "terraform init failed: make install installed $want, a pre-release, which Terraform selects only when a configuration pins it" ;; esac
  fail "terraform init failed"
}
grep -q "Installing lvs-provider/lvs v$want" "$tmp/init.log" || { cat "$tmp/init.log"; fail "terraform init did not install lvs-provider/lvs v$want"; }
grep -A1 'provider "registry.terraform.io/lvs-provider/lvs"' "$tmp/cfg/.terraform.lock.hcl" | grep -q "version *= *\"$want\"" ||
  fail "the lock file does not select $want: $(cat "$tmp/cfg/.terraform.lock.hcl")"
echo "install-check: make install put v$want in ~/.terraform.d/plugins; an offline${offline[*]:+ ($(echo "${offline[*]}"))} terraform init of README.md's configuration selected it; for darwin/arm64 it put a Mach-O binary under darwin_arm64"
