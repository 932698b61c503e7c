#!/usr/bin/env bash
# `make release-snapshot`: the release build of .goreleaser.yml, locally, into dist/: a snapshot
# (never published, version X.Y.Z-snapshot-COMMIT) whose SHA256SUMS is signed by a throwaway GPG
# key made in a temporary GNUPGHOME, so that every step of a release runs, signing included. It
# then checks the artifact set a registry release needs: one zip per target holding the provider
# binary, the SHA256SUMS covering every zip and the manifest, the manifest, and a signature that
# gpg verifies.
#
# RELEASE_TARGETS="linux_amd64 darwin_arm64" builds only those targets (CI does, to stay fast);
# unset, every target of .goreleaser.yml is built. GORELEASER: the goreleaser binary
# (default .cache/bin/goreleaser, which scripts/deps.sh installs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
GORELEASER=${GORELEASER:-$ROOT/.cache/bin/goreleaser}
[ -x "$GORELEASER" ] || { echo "release-snapshot: no goreleaser at $GORELEASER: run 'make deps'" >&2; exit 1; }

tmp=$(mktemp -d /tmp/lvs-release.XXXXXX)
cleanup() {
  # The throwaway key's agent, then the key itself.
  GNUPGHOME="$tmp/gnupg" gpgconf --kill all 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

config=.goreleaser.yml
if [ -n "${RELEASE_TARGETS:-}" ]; then
  targets=$(printf '%s, ' $RELEASE_TARGETS)
  config="$tmp/goreleaser.yml"
  # The build's goos and goarch lines become one targets line (the file keeps each on one line).
  awk -v t="[${targets%, }]" '
    /^    goos: \[/ { print "    targets: " t; next }
    /^    goarch: \[/ { next }
    { print }' .goreleaser.yml >"$config"
  grep -q '^    targets: ' "$config" || { echo "release-snapshot: no goos line to replace in .goreleaser.yml" >&2; exit 1; }
fi

# A throwaway signing key, in its own keyring: real releases sign with the maintainer's key.
export GNUPGHOME="$tmp/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-generate-key 'lvs release snapshot <snapshot@invalid>' ed25519 sign 1d 2>/dev/null
GPG_FINGERPRINT=$(gpg --batch --with-colons --list-secret-keys | awk -F: '$1 == "fpr" { print $10; exit }')
export GPG_FINGERPRINT

start=$(date +%s)
"$GORELEASER" release --snapshot --clean --config "$config" --parallelism 2
echo "release-snapshot: goreleaser took $(($(date +%s) - start)) s"

# The artifact set, as the registry reads it.
cd dist
sums=$(ls ./*_SHA256SUMS)
sums=${sums#./}
ver=${sums#terraform-provider-lvs_}
ver=${ver%_SHA256SUMS}
fail() { echo "release-snapshot: $*" >&2; exit 1; }
# goreleaser puts the manifest in SHA256SUMS and uploads it with a release (release.extra_files);
# a snapshot publishes nothing, so it is copied here to make dist/ the whole set.
cp ../terraform-registry-manifest.json "terraform-provider-lvs_${ver}_manifest.json"
gpg --batch --quiet --verify "$sums.sig" "$sums" 2>/dev/null || fail "$sums.sig does not verify"
sha256sum --quiet -c "$sums" || fail "$sums does not match the files"
zips=(terraform-provider-lvs_"${ver}"_*.zip)
[ "$(grep -c '\.zip$' "$sums")" = "${#zips[@]}" ] || fail "$sums does not list every zip"
grep -q "_manifest.json\$" "$sums" || fail "$sums does not list the manifest"
if [ -n "${RELEASE_TARGETS:-}" ]; then
  for t in $RELEASE_TARGETS; do
    [ -f "terraform-provider-lvs_${ver}_${t}.zip" ] || fail "no zip for $t"
  done
fi
for z in "${zips[@]}"; do
  t=${z#terraform-provider-lvs_"${ver}"_}
  t=${t%.zip}
  bin=terraform-provider-lvs_v$ver
  case $t in windows_*) bin=$bin.exe ;; esac
  [ "$(unzip -Z1 "$z")" = "$bin" ] || fail "$z holds $(unzip -Z1 "$z" | tr '\n' ' '), want $bin alone"
  # Both Linux agents, as the before hook built them, are embedded in every provider build.
  unzip -p "$z" "$bin" >"$tmp/provider"
  for a in amd64 arm64; do
    python3 -c 'import sys; sys.exit(open(sys.argv[2], "rb").read() not in open(sys.argv[1], "rb").read())' \
      "$tmp/provider" "../internal/bundle/agents/lvs-agent_linux_$a.gz" || fail "$z: the provider does not embed the linux/$a agent"
  done
done
# This machine's zip, as Terraform installs a release: from a mirror in the registry's packed layout
# (the zip itself), checked against the SUMS, with no network.
host=$(go env GOOS)_$(go env GOARCH)
TF=${TERRAFORM:-$(command -v terraform 2>/dev/null || echo "$ROOT/.cache/bin/terraform")}
if [ -f "terraform-provider-lvs_${ver}_${host}.zip" ] && [ -x "$TF" ]; then
  mirror="$tmp/mirror/registry.terraform.io/lvs-provider/lvs"
  mkdir -p "$mirror" "$tmp/cfg"
  cp "terraform-provider-lvs_${ver}_${host}.zip" "$mirror/"
  printf 'provider_installation {\n  filesystem_mirror { path = "%s" }\n}\n' "$tmp/mirror" >"$tmp/terraformrc"
  printf 'terraform {\n  required_providers {\n    lvs = { source = "lvs-provider/lvs", version = "%s" }\n  }\n}\n' "$ver" >"$tmp/cfg/main.tf"
  offline=()
  if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then offline=(unshare -n); fi
  (cd "$tmp/cfg" && TF_CLI_CONFIG_FILE="$tmp/terraformrc" CHECKPOINT_DISABLE=1 "${offline[@]}" "$TF" init -input=false -no-color) >"$tmp/init.log" 2>&1 ||
    { cat "$tmp/init.log"; fail "terraform init from the $host zip failed"; }
  (cd "$tmp/cfg" && TF_CLI_CONFIG_FILE="$tmp/terraformrc" "$TF" providers schema -json | grep -q '"lvs_director_pair"') || fail "the $host provider does not serve lvs_director_pair"
  echo "release-snapshot: terraform init installed the $host zip from a filesystem mirror, offline, and its provider serves its schema"
fi
echo "release-snapshot: dist/ holds ${#zips[@]} zips ($(printf '%s ' "${zips[@]}" | sed "s/terraform-provider-lvs_${ver}_//g; s/\.zip//g; s/ $//")), $sums, its .sig (verified) and the manifest; version $ver"
