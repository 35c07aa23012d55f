//! Go's `fmt` printing for template values: `Sprint`, `Sprintln`,
//! `Sprintf` with the verbs and flags templates use, and float formatting
//! that matches `strconv.FormatFloat`.

use crate::value::Value;

/// `fmt.Sprint(v)`: the `%v` form of one value.
pub fn sprint_value(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, &Spec::plain('v'));
    out
}

/// `fmt.Sprint(args...)`: spaces between operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg, Value::String(_));
        if i > 0 && !is_string && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        write_value(&mut out, arg, &Spec::plain('v'));
    }
    out
}

/// `fmt.Sprintln(args...)`: always spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_value(&mut out, arg, &Spec::plain('v'));
    }
    out.push('\n');
    out
}

#[derive(Clone, Debug, Default)]
struct Spec {
    verb: char,
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    fn plain(verb: char) -> Spec {
        Spec {
            verb,
            ..Spec::default()
        }
    }
}

/// `fmt.Sprintf(format, args...)`, including Go's `%!verb(type=value)`,
/// `%!verb(MISSING)` and `%!(EXTRA …)` notes.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next_arg = 0;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&(_, d)) = chars.peek() {
            if d.is_ascii_digit() {
                width.push(d);
                chars.next();
            } else {
                break;
            }
        }
        spec.width = width.parse().ok();
        if let Some(&(_, '.')) = chars.peek() {
            chars.next();
            let mut prec = String::new();
            while let Some(&(_, d)) = chars.peek() {
                if d.is_ascii_digit() {
                    prec.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            spec.prec = Some(prec.parse().unwrap_or(0));
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        spec.verb = verb;
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next_arg) {
            None => {
                out.push_str("%!");
                out.push(verb);
                out.push_str("(MISSING)");
            }
            Some(arg) => {
                next_arg += 1;
                write_value(&mut out, arg, &spec);
            }
        }
    }
    if next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, arg) in args[next_arg..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&bad_type(arg));
        }
        out.push(')');
    }
    out
}

fn bad_type(v: &Value) -> String {
    match v {
        Value::Nil => "<nil>".to_string(),
        _ => format!("{}={}", v.type_name(), sprint_value(v)),
    }
}

fn bad_verb(out: &mut String, v: &Value, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    out.push_str(&bad_type(v));
    out.push(')');
}

fn write_value(out: &mut String, v: &Value, spec: &Spec) {
    match v {
        Value::Nil => match spec.verb {
            'v' => pad(out, "<nil>", spec),
            verb => bad_verb(out, v, verb),
        },
        Value::Bool(b) => match spec.verb {
            'v' | 't' => pad(out, if *b { "true" } else { "false" }, spec),
            verb => bad_verb(out, v, verb),
        },
        Value::Int(i) => write_int(out, v, *i, spec),
        Value::Float(f) => write_float(out, v, *f, spec),
        Value::String(s) => write_str(out, v, s, spec),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, item, spec);
            }
            out.push(']');
        }
        Value::SharedMap(map) => write_value(out, &Value::Map(map.snapshot()), spec),
        Value::Map(map) => {
            out.push_str("map[");
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_str(out, &Value::Nil, k, spec);
                out.push(':');
                write_value(out, item, spec);
            }
            out.push(']');
        }
        Value::Object(o) => match spec.verb {
            'v' | 's' => pad(out, &o.display(), spec),
            verb => bad_verb(out, v, verb),
        },
    }
}

fn pad(out: &mut String, s: &str, spec: &Spec) {
    let len = s.chars().count();
    let width = spec.width.unwrap_or(0);
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero {
        // Zero padding goes after any sign.
        let (sign, rest) = match s.chars().next() {
            Some(c @ ('+' | '-' | ' ')) => (Some(c), &s[1..]),
            _ => (None, s),
        };
        if let Some(c) = sign {
            out.push(c);
        }
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

fn write_int(out: &mut String, v: &Value, i: i64, spec: &Spec) {
    let neg = i < 0;
    let abs = i.unsigned_abs();
    let digits = match spec.verb {
        'v' | 'd' => abs.to_string(),
        'x' => format!("{abs:x}"),
        'X' => format!("{abs:X}"),
        'o' | 'O' => format!("{abs:o}"),
        'b' => format!("{abs:b}"),
        'c' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            return pad(out, &c.to_string(), spec);
        }
        'q' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            return pad(out, &quote_char(c), spec);
        }
        'U' => {
            return pad(out, &format!("U+{abs:04X}"), spec);
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 's' | 't' => return bad_verb(out, v, spec.verb),
        _ => return bad_verb(out, v, spec.verb),
    };
    let mut digits = digits;
    if let Some(p) = spec.prec {
        if digits.len() < p {
            digits = format!("{}{digits}", "0".repeat(p - digits.len()));
        }
        if p == 0 && abs == 0 {
            digits.clear();
        }
    }
    let prefix = if spec.sharp {
        match spec.verb {
            'x' => "0x",
            'X' => "0X",
            'o' => "0",
            'b' => "0b",
            _ => "",
        }
    } else if spec.verb == 'O' {
        "0o"
    } else {
        ""
    };
    let sign = if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let s = format!("{sign}{prefix}{digits}");
    if spec.prec.is_some() {
        // Go ignores the 0 flag when a precision is given for integers.
        let mut nozero = spec.clone();
        nozero.zero = false;
        pad(out, &s, &nozero);
    } else {
        pad(out, &s, spec);
    }
}

fn write_float(out: &mut String, v: &Value, f: f64, spec: &Spec) {
    let body = match spec.verb {
        'v' | 'g' | 'G' => format_g(f, spec.prec, spec.verb == 'G'),
        'e' | 'E' => format_e(f, spec.prec.unwrap_or(6), spec.verb == 'E'),
        'f' | 'F' => format_f(f, spec.prec.unwrap_or(6)),
        _ => return bad_verb(out, v, spec.verb),
    };
    let s = if !body.starts_with('-') && spec.plus {
        format!("+{body}")
    } else if !body.starts_with('-') && spec.space {
        format!(" {body}")
    } else {
        body
    };
    if f.is_finite() {
        pad(out, &s, spec);
    } else {
        let mut nozero = spec.clone();
        nozero.zero = false;
        pad(out, &s, &nozero);
    }
}

fn write_str(out: &mut String, v: &Value, s: &str, spec: &Spec) {
    match spec.verb {
        'v' | 's' => {
            let s = truncate(s, spec.prec);
            pad(out, s, spec)
        }
        'q' => {
            let s = truncate(s, spec.prec);
            let quoted = if spec.sharp && !s.contains('`') && !s.contains('\r') {
                format!("`{s}`")
            } else {
                quote(s, spec.plus)
            };
            pad(out, &quoted, spec)
        }
        'x' | 'X' => {
            let s = truncate(s, spec.prec);
            let mut hex = String::new();
            for (i, b) in s.bytes().enumerate() {
                if i > 0 && spec.space {
                    hex.push(' ');
                }
                if spec.verb == 'x' {
                    hex.push_str(&format!("{b:02x}"));
                } else {
                    hex.push_str(&format!("{b:02X}"));
                }
            }
            pad(out, &hex, spec)
        }
        verb => {
            if let Value::Nil = v {
                // A map key printed with a verb strings do not take.
                bad_verb(out, &Value::from(s), verb)
            } else {
                bad_verb(out, v, verb)
            }
        }
    }
}

fn truncate(s: &str, prec: Option<usize>) -> &str {
    match prec {
        Some(p) => match s.char_indices().nth(p) {
            Some((i, _)) => &s[..i],
            None => s,
        },
        None => s,
    }
}

/// `strconv.Quote` (or `QuoteToASCII` when `ascii`).
pub fn quote(s: &str, ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"', ascii);
    }
    out.push('"');
    out
}

fn quote_char(c: char) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'', false);
    out.push('\'');
    out
}

fn push_escaped(out: &mut String, c: char, quote: char, ascii: bool) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x80 => out.push(c),
        c if !ascii && !c.is_control() && c != '\u{FFFD}' => out.push(c),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

// === floats, as strconv.FormatFloat ===

/// Shortest decimal digits and decimal-point position of a finite float:
/// `f = 0.DIGITS * 10^dp`.
fn shortest_digits(f: f64) -> (String, i32) {
    let e = format!("{:e}", f.abs());
    split_exp(&e)
}

fn split_exp(e: &str) -> (String, i32) {
    let (mant, exp) = e.split_once('e').unwrap_or((e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.chars().all(|c| c == '0') {
        return ("0".to_string(), 1);
    }
    (digits, exp + 1)
}

fn non_finite(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".to_string())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.to_string())
    } else {
        None
    }
}

fn sign(f: f64) -> &'static str {
    if f.is_sign_negative() {
        "-"
    } else {
        ""
    }
}

/// `%e` with `prec` digits after the point.
fn format_e(f: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = non_finite(f) {
        return s;
    }
    let e = format!("{:.*e}", prec, f.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    exp_form(sign(f), mant, exp, upper)
}

fn exp_form(sign: &str, mant: &str, exp: i32, upper: bool) -> String {
    let e = if upper { 'E' } else { 'e' };
    let esign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{mant}{e}{esign}{:02}", exp.abs())
}

fn format_f(f: f64, prec: usize) -> String {
    if let Some(s) = non_finite(f) {
        return s;
    }
    format!("{}{:.*}", sign(f), prec, f.abs())
}

/// `%g` / `%v`: shortest digits (or `prec` significant digits), in
/// exponent form when the exponent is < -4 or >= the precision (6 for the
/// shortest form, which is why Go prints `1e+06`).
fn format_g(f: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = non_finite(f) {
        return s;
    }
    let (digits, dp, eprec) = match prec {
        None => {
            let (d, dp) = shortest_digits(f);
            (d, dp, 6)
        }
        Some(p) => {
            let p = p.max(1);
            let e = format!("{:.*e}", p - 1, f.abs());
            let (mut d, dp) = split_exp(&e);
            while d.len() > 1 && d.ends_with('0') {
                d.pop();
            }
            let mut eprec = p as i32;
            if eprec > d.len() as i32 && d.len() as i32 >= dp {
                eprec = d.len() as i32;
            }
            (d, dp, eprec)
        }
    };
    let exp = dp - 1;
    let s = sign(f);
    if exp < -4 || exp >= eprec {
        let mant = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.clone()
        };
        return exp_form(s, &mant, exp, upper);
    }
    if dp <= 0 {
        format!("{s}0.{}{digits}", "0".repeat((-dp) as usize))
    } else if dp as usize >= digits.len() {
        format!("{s}{digits}{}", "0".repeat(dp as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(dp as usize);
        format!("{s}{int}.{frac}")
    }
}
