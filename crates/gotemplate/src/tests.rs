#![allow(clippy::unwrap_used)]

use super::*;

fn data(json: &str) -> Value {
    Value::from_json(&serde_json::from_str(json).unwrap())
}

fn render_with(t: Template, text: &str, json: &str) -> Result<String, String> {
    let mut t = t;
    t.parse("t", text).map_err(|e| e.to_string())?;
    t.execute("t", &data(json)).map_err(|e| e.to_string())
}

fn render(text: &str, json: &str) -> Result<String, String> {
    render_with(Template::new(), text, json)
}

/// Each case: template text, data JSON, expected output. An expected
/// value starting with `ERR:` is a substring of the expected error.
fn check(cases: &[(&str, &str, &str)]) {
    check_with(Template::new, cases)
}

fn check_with(make: impl Fn() -> Template, cases: &[(&str, &str, &str)]) {
    let mut failures = Vec::new();
    for (text, json, want) in cases {
        let got = render_with(make(), text, json);
        let ok = match (want.strip_prefix("ERR:"), &got) {
            (Some(sub), Err(e)) => e.contains(sub),
            (None, Ok(out)) => out == want,
            _ => false,
        };
        if !ok {
            failures.push(format!("{text:?} with {json}: want {want:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn text_actions_and_comments_render() {
    check(&[
        ("", "{}", ""),
        ("plain text", "{}", "plain text"),
        ("a{{/* comment */}}b", "{}", "ab"),
        ("a {{- /* comment */ -}} b", "{}", "ab"),
        ("{{/* multi\nline */}}x", "{}", "x"),
        ("{{.}}", "\"hi\"", "hi"),
        ("{{ .a }}", r#"{"a": "x"}"#, "x"),
        ("{{ .a.b.c }}", r#"{"a": {"b": {"c": 3}}}"#, "3"),
        ("{{\n.a\n}}", r#"{"a": 1}"#, "1"),
        (
            "{{ true }} {{ false }} {{ 1 }} {{ 1.5 }} {{ \"s\" }}",
            "{}",
            "true false 1 1.5 s",
        ),
    ]);
}

#[test]
fn trim_markers_trim_all_adjacent_whitespace() {
    check(&[
        ("a  \n\t {{- .x }}", r#"{"x": 1}"#, "a1"),
        ("{{ .x -}} \n\n b", r#"{"x": 1}"#, "1b"),
        ("a \n {{- .x -}} \n b", r#"{"x": 1}"#, "a1b"),
        ("a {{- 3 -}} b", "{}", "a3b"),
        // Without a space, "-3" is a number and nothing is trimmed.
        ("a {{-3}} b", "{}", "a -3 b"),
        ("a {{ 3 }} b", "{}", "a 3 b"),
        ("x\n{{- if true }}\ny\n{{- end }}\n", "{}", "x\ny\n"),
        ("{{- .x -}}", r#"{"x": "v"}"#, "v"),
        ("a\n  {{- /* c */}}\nb", "{}", "a\nb"),
        ("a{{- \"\" -}}\n\n", "{}", "a"),
        // A trim marker needs whitespace after it.
        ("{{-.x}}", "{}", "ERR:"),
    ]);
}

#[test]
fn literals_follow_go_syntax() {
    check(&[
        (r#"{{ "\\" }}"#, "{}", "\\"),
        (r#"{{ "a\tb\n" }}"#, "{}", "a\tb\n"),
        (
            r#"{{ "\x41\u00e9\U0001F600\101" }}"#,
            "{}",
            "A\u{e9}\u{1F600}A",
        ),
        (r#"{{ "quote\"d" }}"#, "{}", "quote\"d"),
        ("{{ `raw\\n` }}", "{}", "raw\\n"),
        ("{{ 'a' }}", "{}", "97"),
        (r"{{ '\n' }}", "{}", "10"),
        ("{{ 0x1F }}", "{}", "31"),
        ("{{ 0o17 }} {{ 017 }} {{ 0b101 }}", "{}", "15 15 5"),
        ("{{ 1_000_000 }}", "{}", "1000000"),
        ("{{ -5 }} {{ +5 }}", "{}", "-5 5"),
        ("{{ 1e3 }} {{ 1.0 }} {{ 2.50 }}", "{}", "1000 1 2.5"),
        (
            "{{ 1e6 }} {{ 1e-5 }} {{ 0.0001 }}",
            "{}",
            "1e+06 1e-05 0.0001",
        ),
        ("{{ nil }}", "{}", "ERR:nil is not a command"),
        ("{{ print nil }}", "{}", "<nil>"),
        ("{{ 9223372036854775808 }}", "{}", "ERR:integer overflow"),
        (r#"{{ "\q" }}"#, "{}", "ERR:invalid syntax"),
        (
            "{{ \"unterminated }}",
            "{}",
            "ERR:unterminated quoted string",
        ),
    ]);
}

#[test]
fn missing_values_print_no_value() {
    check(&[
        ("{{ .missing }}", "{}", "<no value>"),
        ("{{ .a.missing }}", r#"{"a": {}}"#, "<no value>"),
        ("{{ .missing.deeper }}", "{}", "<no value>"),
        ("{{ index . \"missing\" }}", "{}", "<no value>"),
        ("{{ .n }}", r#"{"n": null}"#, "<no value>"),
        ("{{ .missing | print }}", "{}", "<nil>"),
        ("{{ printf \"%v\" .missing }}", "{}", "<nil>"),
        ("{{ $x := .missing }}{{ $x }}", "{}", "<no value>"),
        ("{{ .l }}", r#"{"l": [1, null]}"#, "[1 <nil>]"),
        (
            "{{ .n.x }}",
            r#"{"n": null}"#,
            "ERR:nil pointer evaluating interface {}.x",
        ),
        ("{{ html .missing }}", "{}", "&lt;no value&gt;"),
    ]);
}

#[test]
fn missing_key_zero_errors_on_deeper_access_as_helm() {
    let make = || {
        Template::new().with_options(Options {
            missing_key: MissingKey::Zero,
            ..Options::default()
        })
    };
    check_with(make, &[
        ("{{ .a }}", "{}", "<no value>"),
        ("{{ .a.b }}", "{}", "ERR:template: t:1:3: executing \"t\" at <.a.b>: nil pointer evaluating interface {}.b"),
    ]);
    let make = || {
        Template::new().with_options(Options {
            missing_key: MissingKey::Error,
            ..Options::default()
        })
    };
    check_with(
        make,
        &[("{{ .a }}", "{}", "ERR:map has no entry for key \"a\"")],
    );
}

#[test]
fn values_print_like_go_fmt() {
    check(&[
        ("{{ . }}", r#"{"b": 2, "a": 1}"#, "map[a:1 b:2]"),
        ("{{ . }}", "[1, 2, 3]", "[1 2 3]"),
        ("{{ . }}", r#"["a", "b c"]"#, "[a b c]"),
        (
            "{{ . }}",
            r#"{"m": {"x": [1, {"y": null}]}}"#,
            "map[m:map[x:[1 map[y:<nil>]]]]",
        ),
        ("{{ . }}", "3.5", "3.5"),
        ("{{ . }}", "1000000.0", "1e+06"),
        ("{{ . }}", "123456.0", "123456"),
        ("{{ . }}", "1234567.0", "1.234567e+06"),
        ("{{ . }}", "0.1", "0.1"),
        ("{{ . }}", "-2.0", "-2"),
        ("{{ . }}", "true", "true"),
        ("{{ . }}", "{}", "map[]"),
        ("{{ . }}", "[]", "[]"),
    ]);
}

#[test]
fn json_numbers_can_all_be_floats_as_helm_sees_them() {
    let v = Value::from_json_with(
        &serde_json::json!({"n": 1000000, "m": 3}),
        JsonNumbers::Float,
    );
    let mut t = Template::new();
    t.parse("t", "{{ .n }} {{ .m }}").unwrap();
    assert_eq!(t.execute("t", &v).unwrap(), "1e+06 3");
    assert_eq!(
        Value::from_json(&serde_json::json!(3)).to_json(),
        serde_json::json!(3)
    );
    assert_eq!(
        Value::from_json(&serde_json::json!(3.5)).to_json(),
        serde_json::json!(3.5)
    );
    let round = serde_json::json!({"a": [1, "x", null, true, {"b": 2.5}]});
    assert_eq!(Value::from_json(&round).to_json(), round);
}

#[test]
fn if_else_chains_use_go_truthiness() {
    check(&[
        ("{{ if .a }}y{{ else }}n{{ end }}", r#"{"a": 0}"#, "n"),
        ("{{ if .a }}y{{ else }}n{{ end }}", r#"{"a": 0.0}"#, "n"),
        ("{{ if .a }}y{{ else }}n{{ end }}", r#"{"a": ""}"#, "n"),
        ("{{ if .a }}y{{ else }}n{{ end }}", r#"{"a": []}"#, "n"),
        ("{{ if .a }}y{{ else }}n{{ end }}", r#"{"a": {}}"#, "n"),
        ("{{ if .a }}y{{ else }}n{{ end }}", r#"{"a": null}"#, "n"),
        ("{{ if .a }}y{{ else }}n{{ end }}", "{}", "n"),
        ("{{ if .a }}y{{ else }}n{{ end }}", r#"{"a": "0"}"#, "y"),
        ("{{ if .a }}y{{ else }}n{{ end }}", r#"{"a": [0]}"#, "y"),
        ("{{ if .a }}y{{ else }}n{{ end }}", r#"{"a": false}"#, "n"),
        (
            "{{ if .a }}A{{ else if .b }}B{{ else if .c }}C{{ else }}D{{ end }}",
            r#"{"c": 1}"#,
            "C",
        ),
        ("{{ if .a }}A{{ else if .b }}B{{ end }}", "{}", ""),
        (
            "{{ if $x := .a }}{{ $x }}{{ else }}{{ $x }}{{ end }}",
            r#"{"a": 0}"#,
            "0",
        ),
        ("{{ if }}{{ end }}", "{}", "ERR:missing value for if"),
        ("{{ if true }}", "{}", "ERR:unexpected EOF"),
        ("{{ end }}", "{}", "ERR:unexpected {{end}}"),
        ("{{ else }}", "{}", "ERR:unexpected {{else}}"),
        (
            "{{ if 1 }}{{ else }}{{ else }}{{ end }}",
            "{}",
            "ERR:expected end; found {{else}}",
        ),
    ]);
}

#[test]
fn with_sets_dot_and_supports_else_with() {
    check(&[
        ("{{ with .a }}{{ . }}{{ end }}", r#"{"a": "x"}"#, "x"),
        ("{{ with .a }}{{ . }}{{ else }}none{{ end }}", "{}", "none"),
        (
            "{{ with .a }}A{{ else with .b }}{{ . }}{{ else }}C{{ end }}",
            r#"{"b": "B"}"#,
            "B",
        ),
        (
            "{{ with $v := .a }}{{ $v }}{{ .b }}{{ end }}",
            r#"{"a": {"b": 1}}"#,
            "map[b:1]1",
        ),
        (
            "{{ with .a }}{{ $.top }}{{ end }}",
            r#"{"a": 1, "top": "T"}"#,
            "T",
        ),
    ]);
}

#[test]
fn range_visits_lists_maps_in_sorted_order_and_ints() {
    check(&[
        ("{{ range . }}[{{ . }}]{{ end }}", "[1, 2, 3]", "[1][2][3]"),
        (
            "{{ range $i, $v := . }}{{ $i }}={{ $v }};{{ end }}",
            r#"["a", "b"]"#,
            "0=a;1=b;",
        ),
        (
            "{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}",
            r#"{"b": 2, "a": 1, "c": 3}"#,
            "a=1;b=2;c=3;",
        ),
        (
            "{{ range $v := . }}{{ $v }}{{ end }}",
            r#"{"b": 2, "a": 1}"#,
            "12",
        ),
        ("{{ range . }}x{{ else }}empty{{ end }}", "[]", "empty"),
        ("{{ range . }}x{{ else }}empty{{ end }}", "{}", "empty"),
        (
            "{{ range .missing }}x{{ else }}empty{{ end }}",
            "{}",
            "empty",
        ),
        ("{{ range 3 }}{{ . }}{{ end }}", "{}", "012"),
        ("{{ range $i := 3 }}{{ $i }}{{ end }}", "{}", "012"),
        (
            "{{ range $i, $v := 3 }}{{ end }}",
            "{}",
            "ERR:can't use 3 to iterate over more than one variable",
        ),
        (
            "{{ range . }}{{ end }}",
            "\"str\"",
            "ERR:range can't iterate over str",
        ),
        (
            "{{ range . }}{{ end }}",
            "2.5",
            "ERR:range can't iterate over 2.5",
        ),
        (
            "{{ range . }}{{ .a }}{{ end }}",
            "[null]",
            "ERR:nil pointer evaluating interface {}.a",
        ),
        (
            "{{ range $x, $y, $z := . }}{{ end }}",
            "[]",
            "ERR:too many declarations in range",
        ),
    ]);
}

#[test]
fn break_and_continue_affect_only_the_innermost_range() {
    check(&[
        ("{{ range . }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}", "[1, 2, 3, 4]", "12"),
        ("{{ range . }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ . }}{{ end }}", "[1, 2, 3]", "13"),
        (
            "{{ range $a := . }}{{ range $.inner }}{{ if eq . 2 }}{{ break }}{{ end }}{{ . }}{{ end }}|{{ end }}",
            "[1, 2]",
            "ERR:can't evaluate field inner",
        ),
        (
            "{{ range .o }}{{ range $.i }}{{ if eq . 2 }}{{ break }}{{ end }}{{ . }}{{ end }}|{{ end }}",
            r#"{"o": [1, 2], "i": [1, 2, 3]}"#,
            "1|1|",
        ),
        ("{{ break }}", "{}", "ERR:{{break}} outside {{range}}"),
        ("{{ range . }}{{ else }}{{ continue }}{{ end }}", "[]", "ERR:{{continue}} outside {{range}}"),
        ("{{ range . }}{{ break 1 }}{{ end }}", "[]", "ERR:unexpected"),
        ("{{ range . }}{{ with . }}{{ continue }}{{ end }}x{{ end }}", "[1, 0]", "x"),
    ]);
}

#[test]
fn variables_are_scoped_to_their_control_structure() {
    check(&[
        ("{{ $x := 1 }}{{ $x }}", "{}", "1"),
        ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "{}", "2"),
        (
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
            "{}",
            "2",
        ),
        (
            "{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}",
            "{}",
            "21",
        ),
        (
            "{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}",
            "{}",
            "ERR:undefined variable \"$y\"",
        ),
        (
            "{{ $n := 0 }}{{ range . }}{{ $n = . }}{{ end }}{{ $n }}",
            "[1, 2, 3]",
            "3",
        ),
        (
            "{{ range . }}{{ $v := . }}{{ $v }}{{ end }}",
            "[1, 2]",
            "12",
        ),
        ("{{ $ }}", "5", "5"),
        (
            "{{ range .l }}{{ $.name }}{{ end }}",
            r#"{"l": [1, 2], "name": "n"}"#,
            "nn",
        ),
        ("{{ $x.a }}", "{}", "ERR:undefined variable \"$x\""),
        ("{{ $m := .m }}{{ $m.a }}", r#"{"m": {"a": 7}}"#, "7"),
        (
            "{{ $x, $y := 1 }}",
            "{}",
            "ERR:too many declarations in command",
        ),
    ]);
}

#[test]
fn pipelines_pass_the_previous_value_as_last_argument() {
    check(&[
        ("{{ \"x\" | printf \"%s-%s\" \"a\" }}", "{}", "a-x"),
        ("{{ 1 | print 2 | print 3 }}", "{}", "32 1"),
        ("{{ (print 1 2) }}", "{}", "1 2"),
        ("{{ (.a).b }}", r#"{"a": {"b": "c"}}"#, "c"),
        ("{{ (index . \"a\").b }}", r#"{"a": {"b": "c"}}"#, "c"),
        ("{{ print (len .) (index . 0) }}", "[5, 6]", "2 5"),
        (
            "{{ . | 3 }}",
            "{}",
            "ERR:non executable command in pipeline stage 2",
        ),
        (
            "{{ 3 4 }}",
            "{}",
            "ERR:can't give argument to non-function 3",
        ),
        (
            "{{ .x 1 }}",
            r#"{"x": 1}"#,
            "ERR:x is not a method but has arguments",
        ),
        (
            "{{ . | .x }}",
            r#"{"x": 1}"#,
            "ERR:x is not a method but has arguments",
        ),
        (
            "{{ nofunc 1 }}",
            "{}",
            "ERR:template: t:1: function \"nofunc\" not defined",
        ),
        (
            "{{ .a.b }}",
            r#"{"a": 5}"#,
            "ERR:can't evaluate field b in type interface {}",
        ),
        ("{{ .b }}", "5", "ERR:can't evaluate field b in type int"),
        ("{{ \"s\".x }}", "{}", "ERR:unexpected . after term"),
        ("{{ ( 1 }}", "{}", "ERR:unclosed left paren"),
        ("{{ 1 ) }}", "{}", "ERR:unexpected right paren"),
        ("{{ .a", "{}", "ERR:unclosed action"),
    ]);
}

#[test]
fn and_or_short_circuit_and_return_operands() {
    check(&[
        ("{{ and 1 2 }}", "{}", "2"),
        ("{{ and 1 0 2 }}", "{}", "0"),
        ("{{ or 0 \"\" }}", "{}", ""),
        ("{{ or 0 \"x\" 3 }}", "{}", "x"),
        ("{{ or .missing \"default\" }}", "{}", "default"),
        ("{{ and .missing 1 }}", "{}", "<no value>"),
        // Short circuit: the failing call is never evaluated.
        ("{{ or 1 (index . 5) }}", "[]", "1"),
        ("{{ and 0 (index . 5) }}", "[]", "0"),
        (
            "{{ and 1 (index . 5) }}",
            "[]",
            "ERR:error calling index: index out of range: 5",
        ),
        ("{{ 0 | or 1 }}", "{}", "1"),
        ("{{ 2 | and 1 }}", "{}", "2"),
        (
            "{{ not 0 }} {{ not 1 }} {{ not .missing }}",
            "{}",
            "true false true",
        ),
        (
            "{{ and }}",
            "{}",
            "ERR:wrong number of args for and: want at least 1 got 0",
        ),
    ]);
}

#[test]
fn comparisons_follow_go_kinds() {
    check(&[
        (
            "{{ eq 1 1 }} {{ eq 1 2 }} {{ eq 1 2 3 1 }}",
            "{}",
            "true false true",
        ),
        (
            "{{ eq \"a\" \"a\" }} {{ ne \"a\" \"b\" }}",
            "{}",
            "true true",
        ),
        ("{{ eq .a 1.5 }}", r#"{"a": 1.5}"#, "true"),
        ("{{ eq true true }}", "{}", "true"),
        ("{{ eq .missing nil }} {{ eq nil nil }}", "{}", "true true"),
        ("{{ eq .missing \"x\" }}", "{}", "false"),
        (
            "{{ eq 1 1.0 }}",
            "{}",
            "ERR:error calling eq: incompatible types for comparison: int and float64",
        ),
        (
            "{{ eq 1 \"1\" }}",
            "{}",
            "ERR:incompatible types for comparison",
        ),
        (
            "{{ eq . . }}",
            "[1]",
            "ERR:non-comparable type [1]: []interface {}",
        ),
        ("{{ eq 1 }}", "{}", "ERR:missing argument for comparison"),
        (
            "{{ lt 1 2 }} {{ le 2 2 }} {{ gt 3 2 }} {{ ge 1 2 }}",
            "{}",
            "true true true false",
        ),
        ("{{ lt \"a\" \"b\" }} {{ lt 1.5 2.5 }}", "{}", "true true"),
        (
            "{{ lt 1 2.5 }}",
            "{}",
            "ERR:incompatible types for comparison",
        ),
        (
            "{{ lt true false }}",
            "{}",
            "ERR:invalid type for comparison",
        ),
        ("{{ lt nil 1 }}", "{}", "ERR:invalid type for comparison"),
        (
            "{{ gt 1 }}",
            "{}",
            "ERR:wrong number of args for gt: want 2 got 1",
        ),
    ]);
}

#[test]
fn index_slice_and_len_behave_as_go() {
    check(&[
        ("{{ index . 1 }}", "[1, 2, 3]", "2"),
        ("{{ index . \"a\" \"b\" }}", r#"{"a": {"b": "x"}}"#, "x"),
        ("{{ index . \"a\" 1 }}", r#"{"a": [0, 9]}"#, "9"),
        ("{{ index . }}", "[1]", "[1]"),
        (
            "{{ index . 3 }}",
            "[1, 2, 3]",
            "ERR:error calling index: index out of range: 3",
        ),
        ("{{ index . -1 }}", "[1]", "ERR:index out of range: -1"),
        (
            "{{ index . \"a\" \"b\" }}",
            "{}",
            "ERR:index of nil pointer",
        ),
        (
            "{{ index . 1 }}",
            "{}",
            "ERR:value has type int; should be string",
        ),
        ("{{ index .missing 1 }}", "{}", "ERR:index of untyped nil"),
        ("{{ index . 0 }}", "5", "ERR:can't index item of type int"),
        ("{{ index . 1 }}", "\"abc\"", "98"),
        ("{{ slice . 1 3 }}", "[1, 2, 3, 4]", "[2 3]"),
        ("{{ slice . 1 }}", "\"hello\"", "ello"),
        ("{{ slice . }}", "[1]", "[1]"),
        (
            "{{ slice . 2 1 }}",
            "[1, 2, 3]",
            "ERR:invalid slice index: 2 > 1",
        ),
        (
            "{{ slice . 0 1 2 }}",
            "\"abc\"",
            "ERR:cannot 3-index slice a string",
        ),
        ("{{ len . }}", "[1, 2]", "2"),
        ("{{ len . }}", r#"{"a": 1}"#, "1"),
        ("{{ len . }}", "\"h\u{00e9}\"", "3"),
        ("{{ len . }}", "3", "ERR:len of type int"),
    ]);
}

#[test]
fn printf_formats_as_go_fmt() {
    check(&[
        (
            r#"{{ printf "%s|%d|%v|%t" "a" 5 1.5 true }}"#,
            "{}",
            "a|5|1.5|true",
        ),
        (r#"{{ printf "%q" "a\"b" }}"#, "{}", r#""a\"b""#),
        (
            r#"{{ printf "%5.2f|%-5d|%05d|%x|%X|%o|%b" 3.14159 42 42 255 255 8 5 }}"#,
            "{}",
            " 3.14|42   |00042|ff|FF|10|101",
        ),
        (
            r#"{{ printf "%f %e %g" 1.5 1234.5678 0.00001234 }}"#,
            "{}",
            "1.500000 1.234568e+03 1.234e-05",
        ),
        (
            r#"{{ printf "%.3g|%g|%G" 1234.5678 100000000.0 1e-7 }}"#,
            "{}",
            "1.23e+03|1e+08|1E-07",
        ),
        (
            r#"{{ printf "%6s|%-6s|%.2s" "ab" "ab" "abcdef" }}"#,
            "{}",
            "    ab|ab    |ab",
        ),
        (r#"{{ printf "%+d % d %d" 5 5 -5 }}"#, "{}", "+5  5 -5"),
        (r#"{{ printf "%x %X" "hi" "hi" }}"#, "{}", "6869 6869"),
        (r#"{{ printf "%c %q %U" 65 65 65 }}"#, "{}", "A 'A' U+0041"),
        (
            r#"{{ printf "%v %v" . .m }}"#,
            r#"{"m": {"k": [1, 2]}}"#,
            "map[m:map[k:[1 2]]] map[k:[1 2]]",
        ),
        (r#"{{ printf "%s" . }}"#, r#"["a", "b"]"#, "[a b]"),
        (r#"{{ printf "%d" . }}"#, "[1, 2]", "[1 2]"),
        (r#"{{ printf "%d" "x" }}"#, "{}", "%!d(string=x)"),
        (r#"{{ printf "%s" 5 }}"#, "{}", "%!s(int=5)"),
        (r#"{{ printf "%d" 1.5 }}"#, "{}", "%!d(float64=1.5)"),
        (r#"{{ printf "%s" nil }}"#, "{}", "%!s(<nil>)"),
        (r#"{{ printf "%d %d" 1 }}"#, "{}", "1 %!d(MISSING)"),
        (r#"{{ printf "%d" 1 2 }}"#, "{}", "1%!(EXTRA int=2)"),
        (r#"{{ printf "100%%" }}"#, "{}", "100%"),
        (r#"{{ printf "%v" 1e21 }}"#, "{}", "1e+21"),
        (
            r#"{{ printf "%.1f" 0.25 }} {{ printf "%.0f" 2.5 }}"#,
            "{}",
            "0.2 2",
        ),
        (
            r#"{{ printf 5 }}"#,
            "{}",
            "ERR:wrong type for value; expected string; got int",
        ),
    ]);
}

#[test]
fn print_println_and_escapers_match_go() {
    check(&[
        ("{{ print 1 2 \"a\" \"b\" 3 }}", "{}", "1 2ab3"),
        ("{{ println 1 \"a\" }}", "{}", "1 a\n"),
        (
            "{{ html \"<a href='x'>&\\\"</a>\" }}",
            "{}",
            "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;",
        ),
        (
            "{{ js \"it's <b>\\\\\" }}",
            "{}",
            "it\\'s \\u003Cb\\u003E\\\\",
        ),
        ("{{ urlquery \"a b&c=d/é\" }}", "{}", "a+b%26c%3Dd%2F%C3%A9"),
        ("{{ html 1 2 }}", "{}", "1 2"),
        (
            "{{ call 1 }}",
            "{}",
            "ERR:error calling call: non-function of type int",
        ),
    ]);
}

#[test]
fn define_template_and_block_compose() {
    check(&[
        (
            r#"{{ define "x" }}X{{ . }}{{ end }}{{ template "x" 1 }}"#,
            "{}",
            "X1",
        ),
        (
            r#"{{ define "x" }}{{ $ }}{{ end }}{{ template "x" .a }}"#,
            r#"{"a": "A"}"#,
            "A",
        ),
        (
            r#"{{ define "x" }}{{ . }}{{ end }}{{ template "x" }}"#,
            "{}",
            "<no value>",
        ),
        (
            r#"{{ block "b" . }}default {{ .v }}{{ end }}"#,
            r#"{"v": 1}"#,
            "default 1",
        ),
        (
            r#"{{ template "nope" }}"#,
            "{}",
            "ERR:template \"nope\" not defined",
        ),
        (
            r#"{{ define "x" }}1{{ end }}{{ define "x" }}2{{ end }}"#,
            "{}",
            "ERR:template: multiple definition of template \"x\"",
        ),
        (
            r#"{{ define "x" }}1{{ end }}{{ define "x" }} {{ end }}{{ template "x" }}"#,
            "{}",
            "1",
        ),
        (
            r#"{{ $v := 1 }}{{ define "x" }}{{ $v }}{{ end }}"#,
            "{}",
            "ERR:undefined variable \"$v\"",
        ),
        (
            r#"{{ if true }}{{ define "x" }}{{ end }}{{ end }}"#,
            "{}",
            "ERR:unexpected <define> in command",
        ),
        (
            r#"{{ define "r" }}{{ if gt . 0 }}{{ . }}{{ template "r" (index $.next .) }}{{ end }}{{ end }}{{ template "r" 3 }}"#,
            "{}",
            "ERR:",
        ),
        (
            r#"{{- define "list" }}{{ range . }}[{{ template "item" . }}]{{ end }}{{ end -}}
{{- define "item" }}{{ .name }}{{ end -}}
{{ template "list" .items }}"#,
            r#"{"items": [{"name": "a"}, {"name": "b"}]}"#,
            "[a][b]",
        ),
    ]);
}

#[test]
fn later_texts_override_definitions_unless_empty() {
    let mut t = Template::new();
    t.parse(
        "_helpers.tpl",
        r#"{{ define "name" }}helper{{ end }}{{ define "other" }}o{{ end }}"#,
    )
    .unwrap();
    t.parse(
        "a.yaml",
        r#"name: {{ template "name" . }} {{ block "blk" . }}base{{ end }}"#,
    )
    .unwrap();
    let empty = Value::map(Vec::<(String, Value)>::new());
    assert_eq!(t.execute("a.yaml", &empty).unwrap(), "name: helper base");
    t.parse(
        "override.tpl",
        r#"{{ define "name" }}override{{ end }}{{ define "blk" }}blk2{{ end }}"#,
    )
    .unwrap();
    assert_eq!(t.execute("a.yaml", &empty).unwrap(), "name: override blk2");
    // An empty redefinition never replaces a real one.
    t.parse("empty.tpl", r#"{{ define "name" }}  {{ end }}"#)
        .unwrap();
    assert_eq!(t.execute("a.yaml", &empty).unwrap(), "name: override blk2");
    // A file of definitions only is itself an (empty) template.
    assert_eq!(t.execute("_helpers.tpl", &empty).unwrap(), "");
    assert_eq!(
        t.names(),
        vec![
            "_helpers.tpl",
            "a.yaml",
            "blk",
            "empty.tpl",
            "name",
            "other",
            "override.tpl"
        ]
    );
    let err = t.execute("nope", &empty).unwrap_err().to_string();
    assert_eq!(
        err,
        r#"template: no template "nope" associated with template "nope""#
    );
    // A failing parse leaves the set unchanged.
    assert!(t
        .parse("bad", r#"{{ define "name" }}x{{ end }}{{ if }}"#)
        .is_err());
    assert_eq!(t.execute("a.yaml", &empty).unwrap(), "name: override blk2");
}

#[test]
fn errors_name_template_line_and_column_like_go() {
    let cases = [
        ("line1\n{{ .a.b }}", r#"{"a": null}"#, r#"template: t:2:3: executing "t" at <.a.b>: nil pointer evaluating interface {}.b"#),
        ("{{ index . 5 }}", "[]", r#"template: t:1:3: executing "t" at <index . 5>: error calling index: index out of range: 5"#),
        ("\n\n{{ if }}", "{}", "template: t:3: missing value for if"),
        ("{{ .a | len }}", r#"{"a": 5}"#, r#"template: t:1:8: executing "t" at <len>: error calling len: len of type int"#),
        ("x {{ \"a\" 1 }}", "{}", "template: t:1:5: executing \"t\" at <\"a\">: can't give argument to non-function \"a\""),
        ("{{ 1 | eq 1.0 }}", "{}", "template: t:1:7: executing \"t\" at <eq 1.0>: error calling eq: incompatible types for comparison: float64 and int"),
        ("{{ bad 1 }}", "{}", "template: t:1: function \"bad\" not defined"),
        ("{{ bad! }}", "{}", "template: t:1: bad character U+0021 '!'"),
        ("{{ .x@ }}", "{}", "template: t:1: bad character U+0040 '@'"),
        ("{{/* x */ y}}", "{}", "template: t:1: comment ends before closing delimiter"),
        ("{{/* x", "{}", "template: t:1: unclosed comment"),
        ("a\n{{ .a\n\n", "{}", "template: t:4: unclosed action started at t:2"),
        ("{{ range .x }}{{ end }}", r#"{"x": true}"#, "template: t:1:9: executing \"t\" at <{{range .x}}>: range can't iterate over true"),
    ];
    let mut failures = Vec::new();
    for (text, json, want) in cases {
        match render(text, json) {
            Err(e) if e == want => {}
            other => failures.push(format!("{text:?}: want {want:?}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_in_definitions_report_the_defining_file() {
    let mut t = Template::new();
    t.parse(
        "_helpers.tpl",
        "{{ define \"h\" }}\n  {{ .a.b }}\n{{ end }}",
    )
    .unwrap();
    t.parse("main.yaml", "{{ template \"h\" . }}").unwrap();
    let err = t.execute("main.yaml", &data(r#"{"a": null}"#)).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"template: _helpers.tpl:2:5: executing "h" at <.a.b>: nil pointer evaluating interface {}.b"#
    );
}

// === host objects and functions ===

#[derive(Debug)]
struct Capabilities;

#[derive(Debug)]
struct ApiVersions(Vec<&'static str>);

impl Object for Capabilities {
    fn type_name(&self) -> &str {
        "chartutil.Capabilities"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "APIVersions" => Some(Value::object(ApiVersions(vec!["v1", "apps/v1"]))),
            "KubeVersion" => Some(Value::map([("Version", Value::from("v1.36.0"))])),
            _ => None,
        }
    }
}

impl Object for ApiVersions {
    fn type_name(&self) -> &str {
        "chartutil.VersionSet"
    }

    fn has_method(&self, name: &str) -> bool {
        name == "Has"
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        match (name, args) {
            ("Has", [Value::String(v)]) => Ok(Value::Bool(self.0.contains(&v.as_ref()))),
            ("Has", _) => Err(format!(
                "wrong number of args for Has: want 1 got {}",
                args.len()
            )),
            _ => Err(format!("no method {name}")),
        }
    }

    fn display(&self) -> String {
        format!("{:?}", self.0)
    }
}

fn helm_like_funcs() -> Funcs {
    let mut funcs = Funcs::new();
    funcs
        .insert("include", |ctx, args| match args {
            [Value::String(name), data] => {
                Ok(Value::from(ctx.execute_template(name, data.clone())?))
            }
            _ => Err(FuncError::new("include takes a name and data")),
        })
        .insert("tpl", |ctx, args| match args {
            [Value::String(text), data] => {
                Ok(Value::from(ctx.execute_text("tpl", text, data.clone())?))
            }
            _ => Err(FuncError::new("tpl takes text and data")),
        })
        .insert("required", |ctx, args| match args {
            [Value::String(msg), v] if v.is_nil() => {
                let loc = ctx.location();
                Err(FuncError::new(format!(
                    "{msg} (at {}:{})",
                    loc.parse_name, loc.line
                )))
            }
            [_, v] => Ok(v.clone()),
            _ => Err(FuncError::new("required takes 2 arguments")),
        })
        .insert("upper", |_, args| match args {
            [Value::String(s)] => Ok(Value::from(s.to_uppercase())),
            _ => Err(FuncError::new("upper takes a string")),
        })
        .insert("here", |ctx, _| {
            Ok(Value::from(ctx.template_name().to_string()))
        });
    funcs
}

fn helm_data() -> Value {
    Value::map([
        ("Capabilities", Value::object(Capabilities)),
        (
            "Values",
            data(r#"{"name": "web", "tplValue": "{{ .Values.name | upper }}"}"#),
        ),
    ])
}

#[test]
fn objects_expose_fields_and_methods_with_arguments() {
    let mut t = Template::with_funcs(helm_like_funcs());
    t.parse(
        "t",
        r#"{{ .Capabilities.APIVersions.Has "apps/v1" }} {{ .Capabilities.APIVersions.Has "x/v1" }} {{ .Capabilities.KubeVersion.Version }} {{ .Capabilities.APIVersions }} {{ if .Capabilities }}t{{ end }}"#,
    )
    .unwrap();
    assert_eq!(
        t.execute("t", &helm_data()).unwrap(),
        r#"true false v1.36.0 ["v1", "apps/v1"] t"#
    );

    for (text, want) in [
        (
            "{{ .Capabilities.Nope }}",
            "can't evaluate field Nope in type interface {}",
        ),
        (
            "{{ .Capabilities.APIVersions.Has }}",
            "error calling Has: wrong number of args for Has: want 1 got 0",
        ),
        (
            "{{ .Capabilities.KubeVersion 1 }}",
            "KubeVersion has arguments but cannot be invoked as function",
        ),
        ("{{ \"v1\" | .Capabilities.APIVersions.Has }}", ""),
    ] {
        let mut t = Template::with_funcs(helm_like_funcs());
        t.parse("t", text).unwrap();
        match t.execute("t", &helm_data()) {
            Ok(out) => assert!(want.is_empty() && out == "true", "{text}: {out}"),
            Err(e) => assert!(
                !want.is_empty() && e.to_string().contains(want),
                "{text}: {e}"
            ),
        }
    }
}

#[test]
fn functions_can_include_tpl_and_fail_with_location() {
    let mut t = Template::with_funcs(helm_like_funcs());
    t.parse(
        "_helpers.tpl",
        r#"{{ define "fullname" }}{{ .Values.name }}-full{{ end }}"#,
    )
    .unwrap();
    t.parse(
        "deploy.yaml",
        "name: {{ include \"fullname\" . | upper }}\nv: {{ tpl .Values.tplValue . }}\nt: {{ tpl \"{{ include \\\"fullname\\\" . }}\" . }}\nh: {{ here }}",
    )
    .unwrap();
    assert_eq!(
        t.execute("deploy.yaml", &helm_data()).unwrap(),
        "name: WEB-FULL\nv: WEB\nt: web-full\nh: deploy.yaml"
    );

    t.parse(
        "req.yaml",
        "a\nb: {{ required \"b is required\" .Values.b }}",
    )
    .unwrap();
    let err = t.execute("req.yaml", &helm_data()).unwrap_err().to_string();
    assert_eq!(
        err,
        r#"template: req.yaml:2:6: executing "req.yaml" at <required "b is required" .Values.b>: error calling required: b is required (at req.yaml:2)"#
    );

    // A function a text uses must be registered when the text is parsed.
    let mut plain = Template::new();
    assert!(plain
        .parse("x", "{{ include \"a\" . }}")
        .unwrap_err()
        .to_string()
        .contains("function \"include\" not defined"));
}

#[test]
fn registered_functions_override_builtins() {
    let mut funcs = Funcs::new();
    funcs.insert("len", |_, _| Ok(Value::Int(42)));
    let mut t = Template::with_funcs(funcs);
    t.parse("t", "{{ len . }}").unwrap();
    assert_eq!(t.execute("t", &data("[1]")).unwrap(), "42");
}

// === limits ===

#[test]
fn template_recursion_depth_is_bounded_without_overflowing_the_stack() {
    // Run on a thread with Rust's default 2 MiB stack: a limit (depth, or
    // the stack budget in unoptimized builds) must be hit before the stack
    // runs out.
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let mut t = Template::new();
            t.parse("t", r#"{{ define "r" }}{{ if . }}x{{ end }}{{ template "r" . }}{{ end }}{{ template "r" 1 }}"#)
                .unwrap();
            t.execute("t", &Value::Nil).map_err(|e| (e.is_limit(), e.to_string()))
        })
        .unwrap();
    let (limit, err) = handle.join().unwrap().unwrap_err();
    assert!(limit);
    assert!(err.contains("exceeded maximum template depth ("), "{err}");
}

#[test]
fn include_recursion_is_bounded_and_reported_as_a_limit() {
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let mut t = Template::with_funcs(helm_like_funcs());
            t.parse(
                "t",
                r#"{{ define "r" }}{{ include "r" . }}{{ end }}{{ include "r" . }}"#,
            )
            .unwrap();
            t.execute("t", &Value::Nil)
                .map_err(|e| (e.is_limit(), e.to_string()))
        })
        .unwrap();
    let (limit, err) = handle.join().unwrap().unwrap_err();
    assert!(limit, "{err}");
    assert!(err.contains("exceeded maximum template depth ("), "{err}");
    assert!(!err.contains("error calling include"), "{err}");
}

#[test]
fn depth_limit_is_configurable() {
    let mut t = Template::new().with_options(Options {
        max_depth: 3,
        ..Options::default()
    });
    t.parse("t", r#"{{ define "r" }}{{ if gt . 0 }}{{ . }}{{ template "r" (len (slice "xxxxx" 1 .)) }}{{ end }}{{ end }}{{ template "r" 2 }}"#)
        .unwrap();
    assert_eq!(t.execute("t", &Value::Nil).unwrap(), "21");
    let mut t2 = t.clone();
    t2.parse("t", r#"{{ template "r" 5 }}"#).unwrap();
    assert!(t2
        .execute("t", &Value::Nil)
        .unwrap_err()
        .to_string()
        .contains("exceeded maximum template depth (3)"));
}

#[test]
fn output_size_is_bounded() {
    let mut t = Template::new().with_options(Options {
        max_output: 1000,
        ..Options::default()
    });
    t.parse("t", "{{ range 100000 }}0123456789{{ end }}")
        .unwrap();
    let err = t.execute("t", &Value::Nil).unwrap_err();
    assert!(err.is_limit());
    assert!(err
        .to_string()
        .contains("exceeded maximum output size (1000 bytes)"));
    t.parse("u", "{{ range 10 }}{{ . }}{{ end }}").unwrap();
    assert_eq!(t.execute("u", &Value::Nil).unwrap(), "0123456789");
}

#[test]
fn deeply_nested_expressions_are_a_parse_error_not_a_crash() {
    let text = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    let err = render(&text, "{}").unwrap_err();
    assert!(err.contains("max expression depth exceeded"), "{err}");
    let text = format!(
        "{}x{}",
        "{{ if true }}".repeat(5000),
        "{{ end }}".repeat(5000)
    );
    assert!(render(&text, "{}")
        .unwrap_err()
        .contains("max expression depth exceeded"));
}
