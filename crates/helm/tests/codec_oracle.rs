//! Serialization functions conformance: a probe chart whose templates call
//! `toYaml`, `toYamlPretty`, `fromYaml`, `fromYamlArray`, `fromJson`,
//! `fromJsonArray`, `toToml` and `fromToml` on many value shapes is
//! rendered by real Helm (the `helm-python-sdk` oracle that
//! `scripts/deps.sh` installs) and natively, and every template's output
//! must be byte for byte the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use caravel_integration_tests::chart_repo::helm_python as oracle_python;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use caravel_gotemplate::{Funcs, Template, Value};

const VALUES: &str = r##"
strings:
  - "true"
  - "false"
  - "yes"
  - "no"
  - "on"
  - "off"
  - "y"
  - "n"
  - "Y"
  - "NO"
  - "null"
  - "~"
  - "Null"
  - "1e3"
  - "0x1F"
  - "0o17"
  - ".5"
  - "1_000"
  - "2001-12-14"
  - "2001-12-14t21:59:43.10-05:00"
  - "2001-12-14 21:59:43.10"
  - "2001-02-30"
  - "12:30"
  - "1:20:30"
  - "190:20:30.15"
  - ""
  - " lead"
  - "trail "
  - " both "
  - "a: b"
  - "a #b"
  - "a#b"
  - "#x"
  - "*x"
  - "&x"
  - "!x"
  - "%x"
  - "@x"
  - "`x"
  - "- x"
  - "-x"
  - ":x"
  - "?x"
  - "? x"
  - "{x"
  - "[x"
  - "x]"
  - "|x"
  - ">x"
  - "'x"
  - "\"x"
  - "x'y"
  - "x\"y"
  - "tab\there"
  - "ctrl\x01"
  - "esc\e"
  - "uni é 日本"
  - "emoji 😀"
  - "\u2028ls"
  - "a\u2029b"
  - "\x85nel"
  - "a \x85 b"
  - "a\x85\x85b"
  - "nbsp\u00a0x"
  - "\ufeffbom"
  - "del\x7f"
  - "c1\x90"
  - "-"
  - "---"
  - "..."
  - "a,b"
  - "x:"
  - "x: "
  - "?"
  - "-1"
  - "+1"
  - "1."
  - "1.0"
  - "-.inf"
  - ".NaN"
  - "0b101"
  - "0755"
  - "08"
  - "1e"
  - "e3"
  - "="
  - "<<"
  - "a\\b"
  - "+.5"
  - "1__0"
  - "_1"
  - "9223372036854775808"
  - "18446744073709551616"
  - "https://example.com/a?b=c#d"
  - "key=value, other=thing"
  - "{{ template }}"
multiline:
  - "a\nb"
  - "a\nb\n"
  - "a\nb\n\n"
  - "\na"
  - "a \nb"
  - "a\n b"
  - "a\n\nb"
  - " a\nb"
  - "a\nb "
  - "a\tb\nc"
  - "a\n"
  - "\n"
  - "\n\n"
  - "x\r\ny"
  - "é\n"
  - "#!/bin/sh\necho \"hi\" 'there'\nexit 0\n"
  - "    indented\n  less\n"
long:
  - "word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word "
  - "wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww"
  - "a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a b"
  - "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx y"
  - "long line word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word"
  - "quoted: long line word word word word word word word word word word word word word word word word word word word word"
  - "tab\tlong line word word word word word word word word word word word word word word word word word word word word  two  spaces"
  - "a\nlong literal line word word word word word word word word word word word word word word word word word word word word word"
numbers: [0, 1, -1, 1.5, 1000000, 1e6, 1e21, 1e20, 1e-7, 0.000001, 123456789, 1.5e300, 0.1, 100.0, -0.0, 9007199254740993, 9223372036854775807, 18446744073709551615, 3.0, 1e15, 1.23e-5, 1234567.5, 0x1F, 0o17, 0755, 1_000, .5, +12]
scalars: [true, false, null, yes, no, on, off, ~]
keys:
  plain: 1
  "with space": 2
  "a: b": 3
  "yes": 4
  "n": 5
  "1": 6
  "10": 7
  "9": 8
  "": 9
  "-dash": 10
  "é": 11
  "a.b": 12
  "k1x": 13
  "k10x": 15
  "K": 16
  "_": 17
  "tab\tkey": 18
  "multi\nline": 19
  "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk": 20
  "long key with spaces that goes on and on and on past eighty columns for sure yes indeed": 21
  "0": 22
  "00": 23
  "a0": 24
  "a00": 25
  "a1": 26
nested:
  empty_map: {}
  empty_list: []
  list_of_maps:
    - a: 1
      b: [1, 2]
    - c: {d: e}
    - []
    - {}
    - [x, [y, z]]
  map:
    inner:
      deeper:
        value: "x"
        list: [1, "two", 3.5, null, true]
  nulls: {a: null, b: ~}
  service:
    type: ClusterIP
    port: 80
    annotations:
      prometheus.io/scrape: "true"
      example.com/note: "multi\nline"
toml:
  simple: {title: x, n: 1, f: 1.5, b: true, s: "q\"uote\\ é \x01"}
  tables:
    arr: [1, 2, 3]
    mixed: [1, "a"]
    aot: [{a: 1}, {a: 2, s: {q: 1}}]
    nested: {k: v, deep: {z: 1}}
    e: {}
    nil: null
    "quoted key": q
    big: 1e21
    emptyarr: []
    nested_arr: [[1, 2], ["a"]]
  floats: {a: 1e6, b: 1234567.5, c: 1e-7, d: 0.1, e: 100.0, f: -0.0}
  nilelem: {l: [1, null]}
  inline_nil: {l: [{x: null, y: 1}, 2]}
  keys: {"": 1, "a.b": 2, "a b": 3, "ü": 4, "A_-9": 5}
yamldocs:
  - "a: 1"
  - "a: 1\na: 2"
  - "1: a\ntrue: b\n1.5: c"
  - "null: d"
  - "- a\n- b"
  - ""
  - "# only a comment"
  - "a: [1, 2"
  - "a: yes\nb: on\nc: 0755\nd: 0x1F\ne: 1_000\nf: 2001-12-14\nh: 1e3\ni: 12:30\nj: 0o17\nk: 9007199254740993\nl: 18446744073709551615\nm: 99999999999999999999\nn: -0\no: 0b101"
  - "g: .inf"
  - "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3"
  - "list: &l [1, 2]\ncopy: *l"
  - "a: 1\n---\nb: 2"
  - "---\na: 1"
  - "a: !!str 1\nb: !!int \"2\"\nc: !!binary aGVsbG8="
  - "a: .nan"
  - "18446744073709551615: x"
  - "x"
  - "- a: 1\n  b: [1, {c: d}]"
  - "a: \"x\\ty\\u00e9\"\nb: |\n  l1\n  l2\nc: >\n  f1\n  f2\n"
  - "? |\n  k\n: v"
  - "a: 'it''s'\nb: \"q\\\"\"\nc: plain text here"
  - "1.5: a\n2: b\nfalse: c"
  - "key: 2001-12-14T21:59:43.10-05:00"
  - "a: {b: [c, {d: e}]}"
  - "- [1, 2]\n- {a: b}"
  - "a:\n  - 1\n  - 2\nb: ~"
  - "a: 1e3\nb: 1.0\nc: -1\nd: +1"
  - "a: !custom x"
  - "merge:\n  - &A {a: 1}\n  - &B {b: 2}\n  - <<: [*A, *B]\n    c: 3"
jsondocs:
  - '{"a": 1, "b": [1, 2.5, "x", null, true], "c": {"d": {}}}'
  - '{"a": 1, "a": 2}'
  - '[1, 2]'
  - '"s"'
  - '1'
  - ''
  - '{'
  - '{"a" 1}'
  - '{"a": 1,}'
  - '[1, 2'
  - '[1 2]'
  - '{"a": tru}'
  - '{"a": 1} x'
  - '{"a": "\u00e9\ud83d\ude00"}'
  - '{"a": 1e999}'
  - '{"a": 01}'
  - '{"a": -}'
  - '{"a": 1.}'
  - '{"a": "tab	in string"}'
  - '{"big": 12345678901234567890, "small": 1e-7, "neg": -0}'
tomldocs:
  - "a = 1\nb = 1.5\nc = \"s\"\ne = [1, 2]\n[t]\nx = true\n[[arr]]\ny = 1\n"
  - "title = 'lit'\n[server]\nhost = \"h\"\nports = [80, 443]\n"
  - "a = 1\n[b.c]\nd = [\"x\", \"y\"]\n"
"##;

/// Template files: each walks one group of values with one function.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "toyaml-strings.txt",
        "{{ range $i, $v := .Values.strings }}{{ $i }}={{ toYaml $v }}\n{{ end }}{{ toYaml .Values.strings }}\n",
    ),
    (
        "toyaml-multiline.txt",
        "{{ range .Values.multiline }}{{ toYaml . }}\n~~\n{{ end }}{{ toYaml .Values.multiline }}\n{{ toYaml (dict_of .Values.multiline) }}",
    ),
    ("toyaml-long.txt", "{{ toYaml .Values.long }}\n{{ toYaml .Values }}\n"),
    (
        "toyaml-numbers.txt",
        "{{ toYaml .Values.numbers }}\n{{ toYaml .Values.scalars }}\n{{ toYaml 1 }} {{ toYaml 1.5 }} {{ toYaml true }} {{ toYaml nil }} {{ toYaml \"x\" }}\n{{ mustToYaml .Values.numbers }}",
    ),
    ("toyaml-keys.txt", "{{ toYaml .Values.keys }}\n{{ toYaml .Values.nested }}\n"),
    (
        "toyamlpretty.txt",
        "{{ toYamlPretty .Values.nested }}\n{{ toYamlPretty .Values.keys }}\n{{ toYamlPretty .Values.strings }}\n{{ toYamlPretty .Values.multiline }}\n{{ toYamlPretty .Values.numbers }}\n{{ toYamlPretty .Values.long }}\n{{ toYamlPretty 1 }}|{{ toYamlPretty nil }}",
    ),
    (
        "fromyaml.txt",
        "{{ range $i, $d := .Values.yamldocs }}{{ $i }}: {{ fromYaml $d }}\n{{ toYaml (fromYaml $d) }}\n{{ fromYamlArray $d }}\n{{ end }}",
    ),
    (
        "fromjson.txt",
        "{{ range $i, $d := .Values.jsondocs }}{{ $i }}: {{ fromJson $d }}\n{{ toYaml (fromJson $d) }}\n{{ fromJsonArray $d }}\n{{ end }}",
    ),
    (
        "totoml.txt",
        "{{ range $k, $v := .Values.toml }}== {{ $k }}\n{{ toToml $v }}\n{{ end }}{{ toToml .Values.toml.tables.arr }}|{{ toToml 1 }}|{{ toToml \"s\" }}|{{ toToml .Values.toml.tables.aot }}|{{ toToml .Values.nested }}",
    ),
    (
        "fromtoml.txt",
        "{{ range .Values.tomldocs }}{{ toYaml (fromToml .) }}\n{{ end }}",
    ),
    (
        "roundtrip.txt",
        "{{ toYaml (fromYaml (toYaml .Values)) }}\n{{ toYaml (fromYamlArray (toYaml .Values.strings)) }}",
    ),
];

/// `dict_of` is not a Helm function: both sides render the template with
/// it replaced by `.Values.multiline_map`, the multi-line strings again as
/// a map (built by [`values_yaml`]), so mapping values are covered without
/// Sprig's `dict`.
fn expand(template: &str) -> String {
    template.replace("(dict_of .Values.multiline)", ".Values.multiline_map")
}

fn values_get(values: &Value, key: &str) -> Option<Value> {
    values.as_map().and_then(|m| m.get(key).cloned())
}

fn values_yaml() -> String {
    // The multi-line strings again, as a map, for `dict_of`.
    let values = caravel_helm::codec::parse_yaml_go(VALUES).unwrap();
    let Some(Value::List(items)) = values_get(&values, "multiline") else {
        panic!("no multiline values");
    };
    let mut map = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        map.insert(format!("k{i}"), item.clone());
    }
    let extra =
        caravel_helm::codec::to_yaml(&Value::map([("multiline_map", Value::from(map))])).unwrap();
    format!("{VALUES}{extra}")
}

/// Helm drops map entries whose value is null when it coalesces a chart's
/// values (maps inside lists are left alone); the native side renders with
/// the same.
fn without_null_entries(v: &Value) -> Value {
    match v.as_map() {
        Some(map) => Value::from(
            map.iter()
                .filter(|(_, v)| !v.is_nil())
                .map(|(k, v)| (k.clone(), without_null_entries(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
        None => v.clone(),
    }
}

fn helm_render(chart: &Path) -> BTreeMap<String, String> {
    let script = r#"
import json, sys
import helm_python
out = helm_python.Chart.load(sys.argv[1]).render({}, name="r", namespace="n")
sys.stdout.write(json.dumps(out))
"#;
    let out = Command::new(oracle_python().unwrap())
        .arg("-c")
        .arg(script)
        .arg(chart)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn native_render(values: &Value, templates: &[(String, String)]) -> BTreeMap<String, String> {
    let mut funcs = Funcs::new();
    caravel_helm::codec::register(&mut funcs);
    let mut set = Template::with_funcs(funcs);
    let mut out = BTreeMap::new();
    let data = Value::map([("Values", values.clone())]);
    for (name, text) in templates {
        let full = format!("probe/templates/{name}");
        set.parse(&full, text).unwrap();
        let rendered = set
            .execute(&full, &data)
            .unwrap_or_else(|e| format!("ERROR: {e}"));
        out.insert(full, rendered);
    }
    out
}

#[test]
fn serialization_functions_match_helm_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("probe");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: probe\nversion: 0.1.0\n",
    )
    .unwrap();
    let values_text = values_yaml();
    std::fs::write(chart.join("values.yaml"), &values_text).unwrap();
    let values = without_null_entries(&caravel_helm::codec::parse_yaml_go(&values_text).unwrap());
    let templates: Vec<(String, String)> = TEMPLATES
        .iter()
        .map(|(name, text)| (name.to_string(), expand(text)))
        .collect();
    for (name, text) in &templates {
        std::fs::write(chart.join("templates").join(name), text).unwrap();
    }

    let expected = helm_render(&chart);
    let actual = native_render(&values, &templates);
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        actual.keys().collect::<Vec<_>>()
    );
    let mut failures = Vec::new();
    for (name, want) in &expected {
        let got = &actual[name];
        if got != want {
            let line = want
                .lines()
                .zip(got.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| want.lines().count().min(got.lines().count()));
            failures.push(format!(
                "{name}: first difference at line {}\n  helm:   {:?}\n  native: {:?}",
                line + 1,
                want.lines().nth(line),
                got.lines().nth(line)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
