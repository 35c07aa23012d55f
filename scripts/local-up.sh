#!/usr/bin/env bash
# Runs Caravel locally on a fresh Debian machine:
#   scripts/local-up.sh
# Starts a local Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager and a pod-readiness simulator), Redis, and the
# three Caravel services as processes; pushes the example App-of-Apps from
# deploy/examples/app-of-apps into a local Git repository and deploys it.
# Stop everything with: scripts/local-up.sh down
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

export CARAVEL_CACHE="${CARAVEL_CACHE:-$HOME/.cache/caravel}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CARAVEL_CACHE/target}"
state="${CARAVEL_LOCAL_STATE:-$CARAVEL_CACHE/local}"
bin="$CARGO_TARGET_DIR/debug"
# kubectl v1.20.2, built by scripts/deps.sh with the control plane.
export PATH="$CARAVEL_CACHE/envtest/v1.20.2:$PATH"

stop_all() {
  if [ -d "$state/pids" ]; then
    for f in "$state"/pids/*; do
      [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    rm -rf "$state/pids"
  fi
}

if [ "${1:-}" = "down" ]; then
  stop_all
  echo "caravel: local setup stopped"
  exit 0
fi

bash scripts/deps.sh
echo "==> building caravel"
cargo build --workspace --bins --quiet

stop_all
mkdir -p "$state/pids" "$state/logs"
rm -f "$state/env"

start() { # name, command...
  local name=$1; shift
  nohup "$@" >"$state/logs/$name.log" 2>&1 &
  echo $! >"$state/pids/$name"
}

echo "==> starting the control plane, node simulator and redis"
start testenv "$bin/caravel-testenv" up --state-dir "$state"
for _ in $(seq 1 120); do [ -f "$state/env" ] && break; sleep 1; done
[ -f "$state/env" ] || { echo "control plane did not start; see $state/logs/testenv.log"; exit 1; }
# shellcheck disable=SC1091
source "$state/env"

kubectl apply -f helm/caravel/crds/ >/dev/null
kubectl create namespace argocd --dry-run=client -o yaml | kubectl apply -f - >/dev/null

echo "==> starting repo-server, application-controller and api-server"
start repo-server "$bin/caravel-repo-server" --listen 127.0.0.1:8081 --health-listen 127.0.0.1:8084 \
  --repo-cache-dir "$state/repos"
start application-controller "$bin/caravel-application-controller" --repo-server 127.0.0.1:8081 \
  --health-listen 127.0.0.1:8082 --app-resync-period 30s --app-resync-jitter 5s
start api-server "$bin/caravel-api-server" --listen 127.0.0.1:8080 --health-listen 127.0.0.1:8083

echo "==> pushing the example App-of-Apps to a local git repository"
repo="$state/git/apps.git"
work="$state/git/work"
rm -rf "$state/git"
mkdir -p "$work"
cp -r deploy/examples/app-of-apps/. "$work/"
url="file://$repo"
sed -i "s#REPO_URL#$url#g" "$work"/root.yaml "$work"/environments/argocd/apps/*.yaml
git -C "$work" init -q -b main
git -C "$work" add -A
git -C "$work" -c user.name=caravel -c user.email=caravel@localhost commit -qm "example app-of-apps"
git clone -q --bare "$work" "$repo"
git -C "$work" remote add origin "$repo"

kubectl apply -f "$work/root.yaml" >/dev/null
export CARAVEL_SERVER=127.0.0.1:8080
for _ in $(seq 1 90); do
  if "$bin/caravel" app list 2>/dev/null | grep -q guestbook-prod; then break; fi
  sleep 1
done

cat <<MSG

Caravel is running (logs in $state/logs).

  export KUBECONFIG=$KUBECONFIG CARAVEL_SERVER=127.0.0.1:8080 PATH=$bin:\$PATH
  caravel app list
  caravel app get guestbook-prod
  caravel app diff guestbook-stg
  caravel app history root
  kubectl -n guestbook-prod get deploy,svc,cm

Edit $work, commit, then 'git -C $work push origin main' and
'caravel app get root --refresh' to watch a change roll out.
Stop everything with: scripts/local-up.sh down
MSG
"$bin/caravel" app list || true
