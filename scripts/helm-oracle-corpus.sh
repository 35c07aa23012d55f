#!/usr/bin/env bash
# Renders the Helm conformance corpus (testdata/helm/corpus.yaml) with real
# Helm, one JSON document per case, for comparison with Caravel's engine:
#   scripts/helm-oracle-corpus.sh OUT_DIR [CASE]...
# Installs the oracle first (scripts/deps.sh; cached, fast when warm). Exits
# non-zero if a case fails to render, or an expected error does not happen.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -lt 1 ]; then
  echo "usage: $0 OUT_DIR [CASE]..." >&2
  exit 2
fi
out="$1"
shift

export CARAVEL_CACHE="${CARAVEL_CACHE:-$HOME/.cache/caravel}"
bash scripts/deps.sh
exec "$CARAVEL_CACHE/helm-oracle/venv/bin/python" scripts/helm-oracle.py \
  --corpus testdata/helm/corpus.yaml --output-dir "$out" "$@"
