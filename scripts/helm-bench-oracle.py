#!/usr/bin/env python3
"""Helm's side of the native-vs-Helm render benchmark (scripts/helm-bench.sh).

    helm-bench-oracle.py prepare --corpus testdata/helm/corpus.yaml --scratch DIR
        Writes DIR/cases.json: every corpus case but the expect_error ones,
        with its chart directory (a scratch copy with the case's
        tgz_subcharts packed as scripts/helm-oracle.py packs them, so both
        engines read the same bytes), absolute value file paths and flags.
    helm-bench-oracle.py time --cases DIR/cases.json [--iterations N] [--warmup W]
        Times Helm's own engine in this one Python process (helm-python-sdk,
        Helm SDK v4): per iteration, the user values (value files read and
        parsed, --set applied, as the oracle does), `Chart.load(dir)` and the
        engine's render of every template. Prints JSON {"cases": {name:
        {"best_ms", "median_ms"} | {"error"}}}.
    helm-bench-oracle.py report --native NATIVE.json --helm HELM.json
        Prints the comparison table: per case the median (and best) time of
        each engine and the ratio native/helm, then the sum of the medians,
        their ratio and the geometric mean of the per-case ratios.

Run it with the oracle's interpreter (scripts/deps.sh installs it):
    ~/.cache/caravel/helm-oracle/venv/bin/python scripts/helm-bench-oracle.py ...
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import sys
import time
from typing import Any

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))


def load_oracle() -> Any:
    """scripts/helm-oracle.py as a module (its name is not importable)."""
    spec = importlib.util.spec_from_file_location("helm_oracle", os.path.join(HERE, "helm-oracle.py"))
    if spec is None or spec.loader is None:
        raise SystemExit("cannot load scripts/helm-oracle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare(corpus_file: str, scratch: str) -> int:
    oracle = load_oracle()
    corpus_dir = os.path.dirname(os.path.abspath(corpus_file))
    with open(corpus_file, encoding="utf-8") as f:
        cases = yaml.safe_load(f)["cases"]
    out = []
    for case in cases:
        if case.get("expect_error"):
            continue
        chart_dir = os.path.abspath(oracle.prepare_chart(corpus_dir, case, scratch))
        out.append({
            "name": case["name"],
            "chart": chart_dir,
            "values": [os.path.join(corpus_dir, case["chart"], v) for v in case.get("values", [])],
            "set": case.get("set", []),
            "set_string": case.get("set_string", []),
            "release": case.get("release", "release-name"),
            "namespace": case.get("namespace", "default"),
            "kube_version": case.get("kube_version"),
            "api_versions": case.get("api_versions", []),
            "include_crds": case.get("include_crds", False),
            "skip_tests": case.get("skip_tests", False),
        })
    with open(os.path.join(scratch, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"cases": out}, f, indent=1)
    return 0


def time_helm(cases_file: str, iterations: int, warmup: int) -> int:
    oracle = load_oracle()
    helm = oracle.helm
    native = oracle._native
    with open(cases_file, encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    results: dict[str, Any] = {}
    for case in cases:
        opts: dict[str, Any] = {"name": case["release"], "namespace": case["namespace"],
                                "is_install": True, "revision": 1}
        if case["kube_version"]:
            opts["kube_version"] = case["kube_version"]
        if case["api_versions"]:
            opts["api_versions"] = case["api_versions"]
        opts_json = json.dumps(opts)

        def once() -> None:
            values = oracle.user_values(case["values"], case["set"], case["set_string"])
            with helm.Chart.load(case["chart"]) as chart:
                json.loads(native.call_string("helm_render", chart._raw(), json.dumps(values), opts_json))

        try:
            for _ in range(warmup):
                once()
            samples = []
            for _ in range(iterations):
                start = time.perf_counter()
                once()
                samples.append((time.perf_counter() - start) * 1000)
        except helm.HelmError as e:
            results[case["name"]] = {"error": str(e)}
            continue
        results[case["name"]] = {"best_ms": min(samples), "median_ms": statistics.median(samples)}
    json.dump({"cases": results}, sys.stdout, indent=1)
    print()
    return 0


def report(native_file: str, helm_file: str) -> int:
    with open(native_file, encoding="utf-8") as f:
        native = json.load(f)["cases"]
    with open(helm_file, encoding="utf-8") as f:
        helm = json.load(f)["cases"]
    header = f"{'case':<32} {'native ms':>10} {'helm ms':>10} {'ratio':>7}   {'native best':>11} {'helm best':>10}"
    print(header)
    print("-" * len(header))
    sum_native = sum_helm = 0.0
    logs: list[float] = []
    skipped = []
    for name, h in helm.items():
        n = native.get(name, {"error": "not run"})
        if "error" in n or "error" in h:
            skipped.append((name, n.get("error"), h.get("error")))
            continue
        ratio = n["median_ms"] / h["median_ms"]
        sum_native += n["median_ms"]
        sum_helm += h["median_ms"]
        logs.append(math.log(ratio))
        print(f"{name:<32} {n['median_ms']:>10.3f} {h['median_ms']:>10.3f} {ratio:>7.3f}"
              f"   {n['best_ms']:>11.3f} {h['best_ms']:>10.3f}")
    print("-" * len(header))
    if logs:
        print(f"{'total (sum of medians)':<32} {sum_native:>10.3f} {sum_helm:>10.3f} {sum_native / sum_helm:>7.3f}")
        print(f"{'geometric mean of ratios':<32} {'':>10} {'':>10} {math.exp(sum(logs) / len(logs)):>7.3f}")
        print(f"{len(logs)} cases; times are medians (and bests) per render: chart load + values + render")
    for name, n_err, h_err in skipped:
        print(f"skipped {name}: native: {n_err or 'ok'}; helm: {h_err or 'ok'}")
    return 0 if logs and not skipped else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="write SCRATCH/cases.json from the corpus")
    prep.add_argument("--corpus", required=True)
    prep.add_argument("--scratch", required=True)
    tim = sub.add_parser("time", help="time Helm's engine on every case")
    tim.add_argument("--cases", required=True)
    tim.add_argument("--iterations", type=int, default=20)
    tim.add_argument("--warmup", type=int, default=3)
    rep = sub.add_parser("report", help="print the comparison table")
    rep.add_argument("--native", required=True)
    rep.add_argument("--helm", required=True)
    args = p.parse_args()
    if args.command == "prepare":
        return prepare(args.corpus, args.scratch)
    if args.command == "time":
        return time_helm(args.cases, args.iterations, args.warmup)
    return report(args.native, args.helm)


if __name__ == "__main__":
    sys.exit(main())
