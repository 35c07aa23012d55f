#!/usr/bin/env bash
# Regenerates deploy/install.yaml: the chart in helm/caravel rendered by real
# Helm (helm-python-sdk, the oracle scripts/deps.sh installs) with default
# values, release `caravel`, namespace `argocd`, CRDs included: what
#   helm template caravel helm/caravel -n argocd --include-crds
# prints. The integration suite fails when the file and the chart drift apart
# (integration-tests/tests/it/chart.rs), so run this after changing the chart:
#   scripts/render-install.sh [OUT]   (default OUT: deploy/install.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${CARAVEL_CACHE:-$HOME/.cache/caravel}"
python="$CACHE/helm-oracle/venv/bin/python"
[ -x "$python" ] || bash scripts/deps.sh
out="${1:-deploy/install.yaml}"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$python" scripts/helm-oracle.py helm/caravel --name caravel --namespace argocd --include-crds >"$tmp"
"$python" - "$tmp" "$out" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
if result.get("error"):
    sys.exit(f"helm failed to render helm/caravel: {result['error']}")
header = (
    "# Caravel, installed without Helm:\n"
    "#   kubectl create namespace argocd\n"
    "#   kubectl apply -n argocd --server-side -f deploy/install.yaml\n"
    "# Generated from helm/caravel with default values by scripts/render-install.sh;\n"
    "# do not edit.\n"
)
with open(sys.argv[2], "w") as f:
    f.write(header + result["output"])
PY
echo "wrote $out"
