#!/usr/bin/env python3
"""Writes loaded-charts.json: what real Helm (helm-python-sdk, Helm SDK
v4) loads from every chart of testdata/helm/charts, for the chart loader's
tests to compare with. tgz-parent gets testdata/helm/tgz-src/redis-lite
packed into its charts/ first, as scripts/helm-oracle.py does for the
corpus. Subcharts are loaded as charts of their own (none of the test
charts has a .helmignore in a subchart directory, so that is what the
parent's load holds too).

    ~/.cache/caravel/helm-oracle/venv/bin/python \
        crates/helm/src/chart/testdata/loaded-charts.py
"""
import importlib.util, json, os, shutil, sys, tempfile

import helm_python as helm

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.abspath(os.path.join(here, "../../../../.."))
charts = os.path.join(repo, "testdata/helm/charts")
spec = importlib.util.spec_from_file_location("oracle", os.path.join(repo, "scripts/helm-oracle.py"))
oracle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oracle)


def files(entries):
    return [{"name": f["name"], "data": f["data"]} for f in entries]


def describe(chart):
    return {
        "metadata": chart.metadata,
        "templates": files(chart.templates),
        "files": files(chart.files),
        "values": chart.values,
        "schema": chart.schema,
        "subcharts": sorted(d["name"] for d in chart.dependencies),
    }


out = {}
with tempfile.TemporaryDirectory() as scratch:
    for name in sorted(os.listdir(charts)):
        path = os.path.join(charts, name)
        if name == "tgz-parent":
            copy = os.path.join(scratch, name)
            shutil.copytree(path, copy)
            archive = oracle.pack_subchart(os.path.join(repo, "testdata/helm/tgz-src/redis-lite"), os.path.join(copy, "charts"))
            path = copy
            with open(archive, "rb") as f:
                out["tgz-parent/charts/redis-lite"] = describe(helm.Chart.load_archive(f.read()))
        out[name] = describe(helm.Chart.load(path))
        sub_dir = os.path.join(path, "charts")
        if os.path.isdir(sub_dir):
            for sub in sorted(os.listdir(sub_dir)):
                if os.path.isdir(os.path.join(sub_dir, sub)):
                    out[f"{name}/charts/{sub}"] = describe(helm.Chart.load(os.path.join(sub_dir, sub)))

with open(os.path.join(here, "loaded-charts.json"), "w", encoding="utf-8") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"{len(out)} charts", file=sys.stderr)
