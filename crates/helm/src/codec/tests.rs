//! Expectations taken from Helm v4.2.3's output for the same values.

use std::collections::BTreeMap;

use caravel_gotemplate::Value;

use super::*;

fn to_yaml_trimmed(v: &Value) -> String {
    trim_newline(to_yaml(v).unwrap())
}

fn s(text: &str) -> Value {
    Value::from(text)
}

#[test]
fn strings_that_read_as_other_types_are_double_quoted() {
    for (input, expected) in [
        ("true", "\"true\""),
        ("yes", "\"yes\""),
        ("y", "\"y\""),
        ("~", "\"~\""),
        ("1e3", "\"1e3\""),
        ("0x1F", "\"0x1F\""),
        ("1_000", "\"1_000\""),
        ("2001-12-14", "\"2001-12-14\""),
        ("12:30", "\"12:30\""),
        ("", "\"\""),
        ("08", "\"08\""),
        ("1e", "1e"),
        ("<<", "<<"),
        ("_1", "_1"),
    ] {
        assert_eq!(to_yaml_trimmed(&s(input)), expected, "{input:?}");
    }
}

#[test]
fn indicators_and_spaces_pick_single_quotes() {
    for (input, expected) in [
        (" lead", "' lead'"),
        ("trail ", "'trail '"),
        ("a: b", "'a: b'"),
        ("a #b", "'a #b'"),
        ("a#b", "a#b"),
        ("*x", "'*x'"),
        ("- x", "'- x'"),
        ("-x", "-x"),
        (":x", ":x"),
        ("'x", "'''x'"),
        ("---", "'---'"),
        ("x:", "'x:'"),
        ("tab\there", "\"tab\\there\""),
        ("ctrl\u{1}", "\"ctrl\\x01\""),
        ("emoji 😀", "\"emoji \\U0001F600\""),
        ("\u{FEFF}bom", "\"\\uFEFF\\x62\\x6F\\x6D\""),
        ("uni é 日本", "uni é 日本"),
        ("\u{2028}ls", "'\u{2028}  ls'"),
        ("a\u{85}", "'a '"),
        ("a\u{7f}", ""),
    ] {
        let got = to_yaml(&s(input)).map(trim_newline).unwrap_or_default();
        assert_eq!(got, expected, "{input:?}");
    }
}

#[test]
fn multi_line_strings_use_literal_blocks_unless_they_cannot() {
    let list = Value::list(
        [
            "a\nb", "a\nb\n", "a\nb\n\n", "\na", "a \nb", " a\nb", "a\nb ", "\n",
        ]
        .into_iter()
        .map(s),
    );
    assert_eq!(
        to_yaml_trimmed(&list),
        "- |-\n  a\n  b\n- |\n  a\n  b\n- |+\n  a\n  b\n\n- |2-\n\n  a\n- \"a \\nb\"\n- |2-\n   a\n  b\n- \"a\\nb \"\n- |2+\n"
    );
}

#[test]
fn long_plain_and_quoted_strings_fold_past_column_80() {
    let words = "word ".repeat(30);
    assert_eq!(
        to_yaml_trimmed(&Value::list([s(&words)])),
        "- 'word word word word word word word word word word word word word word word word\n  word word word word word word word word word word word word word word '"
    );
    let plain = format!("long line{}", " word".repeat(30));
    assert_eq!(
        to_yaml_trimmed(&Value::list([s(&plain)])),
        "- long line word word word word word word word word word word word word word word\n  word word word word word word word word word word word word word word word word"
    );
}

#[test]
fn numbers_go_through_json_and_back() {
    let list = Value::list(
        [
            1.0,
            1.5,
            1e6,
            1e21,
            1e20,
            1e-7,
            0.000001,
            123456789.0,
            9.223372036854776e18,
            -0.0,
        ]
        .into_iter()
        .map(Value::Float),
    );
    assert_eq!(
        to_yaml_trimmed(&list),
        "- 1\n- 1.5\n- 1000000\n- 1e+21\n- 1e+20\n- 1e-07\n- 1e-06\n- 123456789\n- 9223372036854776000\n- 0"
    );
    assert_eq!(
        to_yaml(&Value::Float(f64::NAN)).unwrap_err(),
        "error marshaling into JSON: json: unsupported value: NaN"
    );
}

#[test]
fn maps_sort_keys_naturally_and_nest_sequences_without_indent() {
    let v = Value::map([
        ("k10", Value::Int(1)),
        ("k9", Value::Int(2)),
        ("K", Value::Int(3)),
        ("n", Value::Nil),
        ("empty", Value::from(BTreeMap::new())),
        ("el", Value::list([])),
        (
            "b",
            Value::list([
                Value::Int(1),
                Value::map([("x", s("y")), ("z", Value::list([Value::Int(3)]))]),
            ]),
        ),
    ]);
    assert_eq!(
        to_yaml_trimmed(&v),
        "K: 3\nb:\n- 1\n- x: \"y\"\n  z:\n  - 3\nel: []\nempty: {}\nk9: 2\nk10: 1\n\"n\": null"
    );
    assert_eq!(
        trim_newline(yaml_pretty::to_yaml_pretty(&v).unwrap()),
        "K: 3\nb:\n  - 1\n  - x: \"y\"\n    z:\n      - 3\nel: []\nempty: {}\nk9: 2\nk10: 1\n\"n\": null"
    );
}

#[test]
fn from_yaml_reports_errors_in_the_map() {
    let v = from_yaml("- a\n- b");
    assert_eq!(
        format!("{v}"),
        "map[Error:error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}]"
    );
    assert_eq!(format!("{}", from_yaml_array("- a\n- b")), "[a b]");
    assert_eq!(format!("{}", from_yaml("")), "map[]");
    assert_eq!(format!("{}", from_yaml("a: 1\na: 2")), "map[a:2]");
}

#[test]
fn from_json_reports_errors_as_go_does() {
    assert_eq!(
        format!("{}", from_json("[1]")),
        "map[Error:json: cannot unmarshal array into Go value of type map[string]interface {}]"
    );
    assert_eq!(format!("{}", from_json_array("[1, \"a\"]")), "[1 a]");
    assert_eq!(
        format!("{}", from_json("{")),
        "map[Error:unexpected end of JSON input]"
    );
}

#[test]
fn toml_puts_values_before_tables_and_indents_nested_headers() {
    let v = Value::map([
        ("title", s("x")),
        ("n", Value::Float(1.0)),
        ("big", Value::Float(1e21)),
        ("i", Value::Int(2)),
        ("quoted key", s("q")),
        ("e", Value::from(BTreeMap::new())),
        (
            "nested",
            Value::map([
                ("k", s("v")),
                ("deep", Value::map([("z", Value::Float(1.0))])),
            ]),
        ),
        ("aot", Value::list([Value::map([("a", Value::Float(1.0))])])),
        (
            "mixed",
            Value::list([Value::map([("a", Value::Float(1.0))]), Value::Float(2.0)]),
        ),
        ("nil", Value::Nil),
    ]);
    assert_eq!(
        toml::encode(&v).unwrap(),
        "big = 1e+21\ni = 2\nmixed = [{a = 1.0}, 2.0]\nn = 1.0\n\"quoted key\" = \"q\"\ntitle = \"x\"\n\n[[aot]]\n  a = 1.0\n\n[e]\n\n[nested]\n  k = \"v\"\n  [nested.deep]\n    z = 1.0\n"
    );
    assert_eq!(
        toml::encode(&Value::list([Value::Int(1), Value::Nil])).unwrap_err(),
        "toml: cannot encode array with nil element"
    );
}

#[test]
fn a_line_separator_inside_a_literal_block_restarts_the_indent() {
    assert_eq!(
        to_yaml_trimmed(&Value::list([s("a\u{2028}b\nc")])),
        "- |-\n  a\u{2028}  b\n  c"
    );
}

#[test]
fn keys_with_leading_zero_digit_runs_sort_without_panicking() {
    let v = Value::map([
        ("k1x", Value::Int(1)),
        ("k01x", Value::Int(2)),
        ("k10x", Value::Int(3)),
    ]);
    assert!(to_yaml(&v).is_ok());
}
