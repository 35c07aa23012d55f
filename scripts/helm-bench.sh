#!/usr/bin/env bash
# Native-vs-Helm render benchmark over the Helm corpus (testdata/helm/corpus.yaml,
# expect_error cases left out), both engines in the same run:
#   - native: crates/helm/benches/render.rs, built in release mode (cargo's bench
#     profile), in-process: chart loaded from disk + values + render;
#   - Helm: its own engine in-process in one Python process through
#     helm-python-sdk (Helm SDK v4): Chart.load(dir) + values + render.
# Each case is rendered W times untimed, then N times timed; the table shows the
# median (and best) per render, the ratio native/helm, the sum of the medians
# and the geometric mean of the ratios.
#
#   scripts/helm-bench.sh [ITERATIONS] [WARMUP]      (defaults 20 and 3)
#
# Needs the oracle's Python (scripts/deps.sh); CARAVEL_CACHE and
# CARGO_TARGET_DIR are honoured. Exits non-zero when a case fails on either side.
set -euo pipefail

cd "$(dirname "$0")/.."
iterations="${1:-20}"
warmup="${2:-3}"
cache="${CARAVEL_CACHE:-$HOME/.cache/caravel}"
python="$cache/helm-oracle/venv/bin/python"
if [[ ! -x "$python" ]]; then
    echo "helm-bench: the Helm oracle is not installed at $python: run scripts/deps.sh" >&2
    exit 2
fi

scratch="$(mktemp -d "${TMPDIR:-/tmp}/helm-bench.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

echo "building the native bench (release)..." >&2
cargo bench -p caravel-helm --bench render --no-run --quiet

# Both sides read the same chart directories (tgz subcharts packed once here).
"$python" scripts/helm-bench-oracle.py prepare --corpus testdata/helm/corpus.yaml --scratch "$scratch"

echo "timing the native engine ($iterations iterations, $warmup warm-up)..." >&2
cargo bench -p caravel-helm --bench render --quiet -- \
    --cases "$scratch/cases.json" --iterations "$iterations" --warmup "$warmup" >"$scratch/native.json"

echo "timing Helm's engine ($iterations iterations, $warmup warm-up)..." >&2
"$python" scripts/helm-bench-oracle.py time \
    --cases "$scratch/cases.json" --iterations "$iterations" --warmup "$warmup" >"$scratch/helm.json"

"$python" scripts/helm-bench-oracle.py report --native "$scratch/native.json" --helm "$scratch/helm.json"
