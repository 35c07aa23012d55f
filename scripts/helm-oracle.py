#!/usr/bin/env python3
"""The Helm conformance oracle: renders a chart with real Helm (v4, in-process,
through PyPI's helm-python-sdk) and prints what `helm template` would print,
as JSON, so the native engine's output can be compared with it.

One chart:
    helm-oracle.py CHART [-f VALUES]... [--set K=V]... [--set-string K=V]...
        [--name NAME] [--namespace NS] [--kube-version V] [--api-versions A]...
        [--include-crds] [--skip-tests]
`helm lint` of one chart (same values options, plus --strict), as JSON
{"total_charts_linted": N, "messages": [{"severity", "path", "error"}],
 "errors": [...]} (severity 1 info, 2 warning, 3 error):
    helm-oracle.py --lint CHART [-f VALUES]... [--strict] [--namespace NS]
The whole corpus (testdata/helm/corpus.yaml), one JSON file per case:
    helm-oracle.py --corpus testdata/helm/corpus.yaml --output-dir DIR [CASE]...

Output (stdout, or DIR/<case>.json):
    {"manifests": [{"template": "chart/templates/x.yaml", "kind": "manifest",
                    "content": "..."}, ...],
     "output": "<helm template's stdout>", "notes": "..." | null,
     "error": null}
`manifests` holds one entry per YAML document, in `helm template` order:
CRDs (with --include-crds), then manifests sorted by Helm's install order,
then hooks (test hooks dropped with --skip-tests). `kind` is "crd",
"manifest" or "hook"; `content` is the document exactly as Helm prints it
after its `# Source:` line. A Helm error gives {"manifests": [], "error":
"<helm's message>"} and exit status 0, so error messages can be compared too.

Run it with the oracle's interpreter, installed by scripts/deps.sh:
    ~/.cache/caravel/helm-oracle/venv/bin/python scripts/helm-oracle.py ...

What helm-python-sdk 0.2.2 (Helm SDK v4.2.3) offers, and how it is used:
- `Chart.render()` returns the engine's raw output per template file (JSON
  map, so ordered by path), NOTES.txt included, partials excluded; no CRDs,
  no hook split, no sorting. Its native options also accept `kube_version`
  and `api_versions` (the Python wrapper does not expose them; they are
  passed through `_native` here).
- `Config.install(dry_run="client")` is the code path `helm template` runs
  (client-only install, memory storage, no cluster). Its release JSON has
  the sorted non-hook `manifest`, but neither hooks nor CRDs (no
  `include_crds` option), and it takes `kube_version`/`api_versions`.
So non-hook manifests come from the install (authoritative order); hooks are
split out of the raw render with Helm's own rules (releaseutil.SortManifests:
files by path, documents in file order, unknown hook events dropped,
stable sort by kind install order); CRDs come from `Chart.crds` and are
printed first, as action.renderResources does with IncludeCRDs. The raw
render's non-hook split is checked against the install's manifest on every
run; a mismatch is reported as an oracle error rather than papered over.

Defaults, as reported by this Helm build with no cluster: Kubernetes
v1.36.0 (`.Capabilities.KubeVersion.Version`, Major "1", Minor "36") and
Helm's default API versions (55 group/versions, e.g. "v1", "apps/v1",
"batch/v1", "networking.k8s.io/v1", "policy/v1"; run
`--print-capabilities` for the full list). `--api-versions` adds to them.

Values are merged as Helm's CLI does (values.Options.MergeValues): value
files in order (deep-merged), then each --set, then each --set-string.
Limitation: the SDK parses a --set expression into an empty map
(strvals.Parse), not into the merged values (strvals.ParseInto), so
`--set list[1]=x` replaces a list coming from a values file instead of
updating its element. Keep such parameters out of the corpus.
"""

from __future__ import annotations

import argparse
import io
import contextlib
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
from typing import Any

import helm_python as helm
import yaml
from helm_python import _native
from helm_python.config import Config

HOOK_ANNOTATION = "helm.sh/hook"
HOOK_EVENTS = {
    "pre-install", "post-install", "pre-delete", "post-delete", "pre-upgrade",
    "post-upgrade", "pre-rollback", "post-rollback", "test", "test-success",
}
TEST_EVENTS = {"test", "test-success"}
# releaseutil.InstallOrder (Helm v4).
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
    "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret",
    "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role",
    "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
    "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]
KIND_RANK = {kind: i for i, kind in enumerate(INSTALL_ORDER)}
# Go's regexp `\s` is ASCII-only; Python's is not.
MANIFEST_SEP = re.compile(r"(?:^|[\t\n\f\r ]*\n)---[\t\n\f\r ]*")
# unicode.IsSpace (Python's isspace also counts \x1c-\x1f).
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)
SOURCE_SEP = re.compile(r"^---\n# Source: (.*)\n", re.M)


class OracleError(Exception):
    """The oracle itself could not reproduce Helm's output (not a Helm error)."""


# === values ===


def merge_maps(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's values.mergeMaps: maps merge recursively, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_maps(out[key], value)
        else:
            out[key] = value
    return out


def user_values(value_files: list[str], sets: list[str], set_strings: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path in value_files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        # Helm's own YAML reader, so numbers and odd scalars read as Helm reads them.
        parsed = helm.values_from_yaml(text) if text.strip() else {}
        values = merge_maps(values, parsed or {})
    for expr in sets:
        values = merge_maps(values, helm.parse_set_string(expr))
    for expr in set_strings:
        values = merge_maps(values, helm.parse_set_string_values(expr))
    return values


@contextlib.contextmanager
def quiet_stderr():
    """Helm's install action logs notices ("skipping unknown hooks") with Go's
    default logger, straight to fd 2; the oracle's stderr is for its report."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


# === helm template's output, rebuilt from the SDK's pieces ===


def split_manifests(text: str) -> list[str]:
    """releaseutil.SplitManifests (Helm v4), in document order: documents keep
    their trailing whitespace, only leading whitespace is trimmed."""
    docs = []
    for doc in MANIFEST_SEP.split(text.lstrip(GO_SPACE)):
        if doc != "":
            docs.append(doc.lstrip(GO_SPACE))
    return docs


def kind_sort(items: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """releaseutil.lessByKind as a stable sort key: known kinds by install
    order, then unknown kinds alphabetically."""
    def key(item: tuple[str, dict[str, Any]]) -> tuple[int, str]:
        kind = item[0]
        return (KIND_RANK[kind], "") if kind in KIND_RANK else (len(INSTALL_ORDER), kind)
    return sorted(items, key=key)


def sort_rendered(raw: dict[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """releaseutil.SortManifests: (generic manifests, hooks), each kind-sorted."""
    generic: list[tuple[str, dict[str, Any]]] = []
    hooks: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(raw):
        content = raw[path]
        # renderResources drops every NOTES.txt (subcharts' too) before sorting.
        if path.endswith("NOTES.txt"):
            continue
        if os.path.basename(path).startswith("_") or not content.strip(GO_SPACE):
            continue
        for doc in split_manifests(content):
            try:
                head = yaml.safe_load(doc)
            except yaml.YAMLError as e:
                raise OracleError(f"oracle could not parse a document of {path}: {e}") from e
            head = head if isinstance(head, dict) else {}
            kind = str(head.get("kind") or "")
            meta = head.get("metadata") if isinstance(head.get("metadata"), dict) else {}
            annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
            entry = {"template": path, "content": doc}
            if HOOK_ANNOTATION not in annotations:
                generic.append((kind, entry))
                continue
            events = [e.strip().lower() for e in str(annotations[HOOK_ANNOTATION]).split(",")]
            if any(e not in HOOK_EVENTS for e in events):
                continue  # Helm skips hooks with an unknown event.
            entry["test"] = any(e in TEST_EVENTS for e in events)
            hooks.append((kind, entry))
    return [e for _, e in kind_sort(generic)], [e for _, e in kind_sort(hooks)]


def parse_release_manifest(manifest: str) -> list[dict[str, Any]]:
    """Split a release manifest ("---\\n# Source: P\\nCONTENT\\n"...) into entries."""
    entries = []
    marks = list(SOURCE_SEP.finditer(manifest))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(manifest)
        content = manifest[m.end():end]
        if content.endswith("\n"):
            content = content[:-1]
        entries.append({"template": m.group(1), "content": content})
    return entries


def render(
    chart_path: str,
    values: dict[str, Any],
    *,
    name: str = "release-name",
    namespace: str = "default",
    kube_version: str | None = None,
    api_versions: list[str] | None = None,
    include_crds: bool = False,
    skip_tests: bool = False,
    check: bool = True,
) -> dict[str, Any]:
    caps: dict[str, Any] = {}
    if kube_version:
        caps["kube_version"] = kube_version
    if api_versions:
        caps["api_versions"] = api_versions
    try:
        chart = helm.Chart.load(chart_path)
    except helm.HelmError as e:
        return {"manifests": [], "error": str(e)}
    with chart, Config(storage_driver="memory", namespace=namespace) as cfg:
        try:
            # The `helm template` code path: a client-only install.
            with quiet_stderr():
                release = json.loads(_native.call_string(
                    "helm_install", cfg._raw(), cfg._context_arg(None), chart._raw(), None,
                    name, json.dumps(values),
                    json.dumps({"dry_run": "client", "namespace": namespace, **caps}),
                ))
            raw = json.loads(_native.call_string(
                "helm_render", chart._raw(), json.dumps(values),
                json.dumps({"name": name, "namespace": namespace, "is_install": True,
                            "revision": 1, **caps}),
            ))
        except helm.HelmError as e:
            return {"manifests": [], "error": str(e)}
        crds = chart.crds if include_crds else []

    generic = parse_release_manifest(release.get("manifest") or "")
    mine, hooks = sort_rendered(raw)
    # Random and time functions make two renders differ; nothing to check then.
    if check and [(e["template"], e["content"]) for e in mine] != [(e["template"], e["content"]) for e in generic]:
        raise OracleError("the raw render's non-hook documents differ from the install's manifest")
    if skip_tests:
        hooks = [h for h in hooks if not h["test"]]

    manifests: list[dict[str, Any]] = []
    release_manifest = ""
    for crd in crds:
        manifests.append({"template": crd["filename"], "kind": "crd", "content": crd["data"]})
        release_manifest += f"---\n# Source: {crd['filename']}\n{crd['data']}\n"
    for e in generic:
        manifests.append({"template": e["template"], "kind": "manifest", "content": e["content"]})
        release_manifest += f"---\n# Source: {e['template']}\n{e['content']}\n"
    output = release_manifest.strip() + "\n"
    for h in hooks:
        manifests.append({"template": h["template"], "kind": "hook", "content": h["content"]})
        output += f"---\n# Source: {h['template']}\n{h['content']}\n"
    notes = next((v for k, v in raw.items() if k.endswith("templates/NOTES.txt")
                  and k.count("/charts/") == 0), None)
    return {"manifests": manifests, "output": output, "notes": notes, "error": None}


# === the corpus ===


def pack_subchart(src: str, dest_dir: str) -> str:
    """A chart archive as `helm package` lays it out (<name>/... entries),
    deterministic so the native suite can build the same bytes."""
    with open(os.path.join(src, "Chart.yaml"), encoding="utf-8") as f:
        meta = yaml.safe_load(f)
    name, version = meta["name"], meta["version"]
    out = os.path.join(dest_dir, f"{name}-{version}.tgz")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.USTAR_FORMAT) as tar:
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for fname in sorted(files):
                full = os.path.join(root, fname)
                info = tar.gettarinfo(full, arcname=os.path.join(name, os.path.relpath(full, src)))
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                info.mode = 0o644
                with open(full, "rb") as fh:
                    tar.addfile(info, fh)
    os.makedirs(dest_dir, exist_ok=True)
    with open(out, "wb") as f:
        f.write(buf.getvalue())
    return out


def prepare_chart(corpus_dir: str, case: dict[str, Any], scratch: str) -> str:
    """The chart directory to render: the chart itself, or a scratch copy
    with the case's `tgz_subcharts` packed into its charts/."""
    chart_dir = os.path.join(corpus_dir, case["chart"])
    if not case.get("tgz_subcharts"):
        return chart_dir
    copy = os.path.join(scratch, case["name"], os.path.basename(chart_dir))
    shutil.copytree(chart_dir, copy)
    for src in case["tgz_subcharts"]:
        pack_subchart(os.path.join(corpus_dir, src), os.path.join(copy, "charts"))
    return copy


def run_corpus(corpus_file: str, out_dir: str, only: list[str]) -> int:
    corpus_dir = os.path.dirname(os.path.abspath(corpus_file))
    with open(corpus_file, encoding="utf-8") as f:
        cases = yaml.safe_load(f)["cases"]
    if only:
        cases = [c for c in cases if c["name"] in only]
    os.makedirs(out_dir, exist_ok=True)
    failures = 0
    total = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="helm-oracle-") as scratch:
        for case in cases:
            start = time.perf_counter()
            chart_dir = prepare_chart(corpus_dir, case, scratch)
            values = user_values(
                [os.path.join(corpus_dir, case["chart"], v) for v in case.get("values", [])],
                case.get("set", []), case.get("set_string", []),
            )
            try:
                result = render(
                    chart_dir, values,
                    name=case.get("release", "release-name"),
                    namespace=case.get("namespace", "default"),
                    kube_version=case.get("kube_version"),
                    api_versions=case.get("api_versions"),
                    include_crds=case.get("include_crds", False),
                    skip_tests=case.get("skip_tests", False),
                    check=case.get("compare", True),
                )
            except OracleError as e:
                result = {"manifests": [], "error": None, "oracle_error": str(e)}
            ms = (time.perf_counter() - start) * 1000
            result["case"] = case["name"]
            result["compare"] = case.get("compare", True)
            with open(os.path.join(out_dir, case["name"] + ".json"), "w", encoding="utf-8") as f:
                json.dump(result, f, indent=1, ensure_ascii=False)
                f.write("\n")
            expect_error = case.get("expect_error")
            if result.get("oracle_error"):
                ok, why = False, "oracle: " + result["oracle_error"]
            elif expect_error:
                ok = bool(result["error"]) and expect_error in result["error"]
                why = f"expected an error containing {expect_error!r}, got {result['error']!r}"
            else:
                ok = result["error"] is None and bool(result["manifests"])
                why = result["error"] or "no manifests"
            failures += not ok
            status = "ok  " if ok else "FAIL"
            docs = len(result["manifests"])
            print(f"{status} {case['name']:<34} {docs:>3} docs {ms:7.1f} ms"
                  + ("" if ok else f"  {why}"), file=sys.stderr)
    print(f"{len(cases)} cases, {failures} failed, {time.perf_counter() - total:.2f} s",
          file=sys.stderr)
    return 1 if failures else 0


# === CLI ===


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("chart", nargs="?", help="chart directory or .tgz")
    p.add_argument("-f", "--values", action="append", default=[], help="values file (repeatable)")
    p.add_argument("--set", action="append", default=[], help="K=V,... (repeatable)")
    p.add_argument("--set-string", action="append", default=[], help="K=V,... as strings")
    p.add_argument("--name", default="release-name", help="release name")
    p.add_argument("--namespace", default="default")
    p.add_argument("--kube-version", help="Capabilities.KubeVersion, e.g. v1.29.0")
    p.add_argument("--api-versions", action="append", default=[],
                   help="extra Capabilities.APIVersions (repeatable, comma-separated)")
    p.add_argument("--include-crds", action="store_true")
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument("--corpus", help="corpus manifest (testdata/helm/corpus.yaml)")
    p.add_argument("--output-dir", help="with --corpus: where to write <case>.json")
    p.add_argument("cases", nargs="*", help="with --corpus: only these cases")
    p.add_argument("--print-capabilities", action="store_true",
                   help="print the default KubeVersion and APIVersions and exit")
    p.add_argument("--lint", action="store_true", help="lint CHART instead of rendering it")
    p.add_argument("--strict", action="store_true", help="with --lint: warnings are errors")
    args = p.parse_args()

    if args.print_capabilities:
        return print_capabilities()
    if args.corpus:
        if not args.output_dir:
            p.error("--corpus needs --output-dir")
        only = ([args.chart] if args.chart else []) + args.cases
        return run_corpus(args.corpus, args.output_dir, only)
    if not args.chart:
        p.error("a chart directory is required")
    try:
        values = user_values(args.values, args.set, args.set_string)
    except helm.HelmError as e:
        print(json.dumps({"manifests": [], "error": str(e)}))
        return 0
    if args.lint:
        report = helm.lint(args.chart, values, strict=args.strict, namespace=args.namespace,
                           kube_version=args.kube_version)
        json.dump(report, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    apis = [a for arg in args.api_versions for a in arg.split(",") if a]
    try:
        result = render(args.chart, values, name=args.name, namespace=args.namespace,
                        kube_version=args.kube_version, api_versions=apis,
                        include_crds=args.include_crds, skip_tests=args.skip_tests)
    except OracleError as e:
        print(f"helm-oracle: {e}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, indent=1, ensure_ascii=False)
    print()
    return 0


def print_capabilities() -> int:
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "caps", "templates"))
        with open(os.path.join(d, "caps", "Chart.yaml"), "w") as f:
            f.write("apiVersion: v2\nname: caps\nversion: 0.1.0\n")
        with open(os.path.join(d, "caps", "templates", "caps.yaml"), "w") as f:
            f.write("{{ toJson .Capabilities }}\n")
        with helm.Chart.load(os.path.join(d, "caps")) as chart:
            out = chart.render({})
    print(json.dumps(json.loads(out["caps/templates/caps.yaml"]), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
