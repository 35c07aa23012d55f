//! The word-level string helpers Sprig borrows from Go libraries, with
//! their exact algorithms: `strings.Title`, goutils' `Abbreviate`,
//! `Initials`, `SwapCase`, `Uncapitalize`, `Wrap` and `DeleteWhiteSpace`,
//! and xstrings' `ToSnakeCase`, `ToKebabCase`, `ToPascalCase` and
//! `Shuffle`.
//!
//! Several goutils functions walk bytes, not runes, and turn each byte
//! into the rune of the same number (so `é` becomes `Ã©` once anything is
//! removed around it); that is reproduced, since charts see it in Helm.

use super::unicode::{is_letter, is_lower, is_number, is_punct, is_space, is_title, is_upper};
use super::unicode::{to_lower, to_title, to_upper};

/// Bytes as Go prints a `string` holding them: invalid UTF-8 becomes the
/// replacement character.
pub fn from_bytes(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// === strings ===

/// `strings.Title`: the first letter of every word in titlecase, where
/// words are separated by anything but letters, digits and `_`.
pub fn title(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_title_separator(prev) {
                to_title(c)
            } else {
                c
            };
            prev = c;
            out
        })
        .collect()
}

fn is_title_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if is_letter(c) || super::unicode::is_digit(c) {
        return false;
    }
    is_space(c)
}

// === goutils ===

/// goutils' `AbbreviateFull` (byte offsets); `None` is its error, which
/// Sprig turns into an empty string.
pub fn abbreviate_full(s: &str, offset: i64, max_width: i64) -> Option<String> {
    let b = s.as_bytes();
    let len = b.len() as i64;
    if b.is_empty() {
        return Some(String::new());
    }
    if max_width < 4 {
        return None;
    }
    if len <= max_width {
        return Some(s.to_owned());
    }
    let mut offset = offset.min(len);
    if len - offset < max_width - 3 {
        offset = len - (max_width - 3);
    }
    let keep = (max_width - 3) as usize;
    if offset <= 4 {
        return Some(from_bytes(&b[..keep]) + "...");
    }
    if max_width < 7 {
        return None;
    }
    let offset = offset as usize;
    if offset + keep < b.len() {
        let rest = from_bytes(&b[offset..]);
        let inner = abbreviate_full(&rest, 0, max_width - 3).unwrap_or_default();
        return Some(format!("...{inner}"));
    }
    Some(format!("...{}", from_bytes(&b[b.len() - keep..])))
}

/// goutils' `Initials`: the first byte of the string and of every word
/// after whitespace, each byte read as the rune of that number.
pub fn initials(s: &str) -> String {
    let mut out = String::new();
    let mut last_was_gap = true;
    for &byte in s.as_bytes() {
        let c = char::from(byte);
        if is_space(c) {
            last_was_gap = true;
        } else if last_was_gap {
            out.push(c);
            last_was_gap = false;
        }
    }
    out
}

/// goutils' `DeleteWhiteSpace`: bytes that are whitespace when read as
/// runes are dropped; if any was, every kept byte becomes that rune.
pub fn delete_white_space(s: &str) -> String {
    let kept: Vec<char> = s
        .bytes()
        .map(char::from)
        .filter(|c| !is_space(*c))
        .collect();
    if kept.len() == s.len() {
        return s.to_owned();
    }
    kept.into_iter().collect()
}

/// goutils' `SwapCase`: upper and title case to lower, lower case to title
/// case at the start of a word and to upper case elsewhere.
pub fn swap_case(s: &str) -> String {
    let mut whitespace = true;
    s.chars()
        .map(|c| {
            if is_upper(c) || is_title(c) {
                whitespace = false;
                to_lower(c)
            } else if is_lower(c) {
                if whitespace {
                    whitespace = false;
                    to_title(c)
                } else {
                    to_upper(c)
                }
            } else {
                whitespace = is_space(c);
                c
            }
        })
        .collect()
}

/// goutils' `Uncapitalize`: the first rune of every whitespace-separated
/// word in lower case.
pub fn uncapitalize(s: &str) -> String {
    let mut next = true;
    s.chars()
        .map(|c| {
            if is_space(c) {
                next = true;
                c
            } else if next {
                next = false;
                to_lower(c)
            } else {
                c
            }
        })
        .collect()
}

/// goutils' `WrapCustom`: breaks at the last space within `width` bytes;
/// longer words are cut when `wrap_long_words`, else kept whole.
pub fn wrap_custom(s: &str, width: i64, newline: &str, wrap_long_words: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let width = width.max(1);
    let b = s.as_bytes();
    let len = b.len() as i64;
    let mut offset: i64 = 0;
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    while len - offset > width {
        let at = offset as usize;
        if b[at] == b' ' {
            offset += 1;
            continue;
        }
        let end = (width + offset + 1) as usize;
        match b[at..end].iter().rposition(|&c| c == b' ') {
            Some(space) => {
                out.extend_from_slice(&b[at..at + space]);
                out.extend_from_slice(newline.as_bytes());
                offset += space as i64 + 1;
            }
            None if wrap_long_words => {
                let end = (width + offset) as usize;
                out.extend_from_slice(&b[at..end]);
                out.extend_from_slice(newline.as_bytes());
                offset += width;
            }
            None => {
                let end = (width + offset) as usize;
                match b[end..].iter().position(|&c| c == b' ') {
                    Some(space) => {
                        out.extend_from_slice(&b[at..end + space]);
                        out.extend_from_slice(newline.as_bytes());
                        offset = (end + space + 1) as i64;
                    }
                    None => {
                        out.extend_from_slice(&b[at..]);
                        offset = len;
                    }
                }
            }
        }
    }
    out.extend_from_slice(&b[offset as usize..]);
    from_bytes(&out)
}

// === xstrings ===

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || is_space(c)
}

/// xstrings' letters: Unicode letters except CJK ideographs.
fn is_alphabet(c: char) -> bool {
    if !is_letter(c) {
        return false;
    }
    !matches!(c as u32, 0x4E00..=0x9FCC | 0x3400..=0x4D85 | 0x20000..=0x2B81D)
}

/// xstrings' `ToPascalCase`, which Sprig's `camelcase` is: words split at
/// `-`, `_` and spaces, each capitalised, an all-caps word lowered after
/// its first letter; repeated and leading connectors are kept.
pub fn to_pascal_case(s: &str) -> String {
    let mut chars = s.chars();
    let mut out = String::with_capacity(s.len());
    let mut first_upper = false;
    let mut r0 = '\0';
    let mut seen = false;
    for c in chars.by_ref() {
        seen = true;
        r0 = c;
        if !is_connector(c) {
            first_upper = is_upper(c);
            r0 = to_upper(c);
            break;
        }
        out.push(c);
    }
    let rest = chars.as_str();
    if rest.is_empty() {
        // As in xstrings, the last rune read is written once more when the
        // string ends here, even if it was a connector already written.
        if seen {
            out.push(r0);
        }
        return out;
    }
    for c in rest.chars() {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = is_upper(r0);
            r0 = to_upper(r0);
        } else {
            if first_upper {
                if is_upper(r0) {
                    r0 = to_lower(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum WordType {
    Invalid,
    Number,
    UpperCase,
    Alphabet,
    Connector,
    Punct,
    Other,
}

/// xstrings' `nextValidRune`: skips replacement characters.
fn next_valid_rune(s: &str, prev: char) -> (char, usize) {
    let mut size = 0;
    for c in s.chars() {
        size += c.len_utf8();
        if c != char::REPLACEMENT_CHARACTER {
            return (c, size);
        }
    }
    (prev, size)
}

/// xstrings' `nextWord`: the type and text of the next word, and the rest.
fn next_word(s: &str) -> (WordType, &str, &str) {
    use WordType::*;
    if s.is_empty() {
        return (Invalid, "", "");
    }
    let (mut r, mut size) = next_valid_rune(s, char::REPLACEMENT_CHARACTER);
    let mut offset = size;
    if r == char::REPLACEMENT_CHARACTER {
        return (Invalid, &s[..offset], &s[offset..]);
    }
    let mut remaining = &s[size..];
    // Extends the word while `keep` holds for the next rune.
    let extend =
        |remaining: &mut &str, offset: &mut usize, r: &mut char, keep: &dyn Fn(char) -> bool| {
            while !remaining.is_empty() {
                let (next, size) = next_valid_rune(remaining, *r);
                *r = next;
                if !keep(next) {
                    break;
                }
                *offset += size;
                *remaining = &remaining[size..];
            }
        };
    let wt = if is_connector(r) {
        extend(&mut remaining, &mut offset, &mut r, &is_connector);
        Connector
    } else if is_punct(r) {
        extend(&mut remaining, &mut offset, &mut r, &is_punct);
        Punct
    } else if is_upper(r) {
        if !remaining.is_empty() {
            (r, size) = next_valid_rune(remaining, r);
            if is_upper(r) {
                let mut prev_size = size;
                offset += size;
                remaining = &remaining[size..];
                while !remaining.is_empty() {
                    (r, size) = next_valid_rune(remaining, r);
                    if !is_upper(r) {
                        break;
                    }
                    prev_size = size;
                    offset += size;
                    remaining = &remaining[size..];
                }
                // "HTTPStatus" is "HTTP" and "Status": the last capital
                // starts the next word.
                if !remaining.is_empty() && is_alphabet(r) {
                    offset -= prev_size;
                    remaining = &s[offset..];
                }
            } else if is_alphabet(r) {
                offset += size;
                remaining = &remaining[size..];
                extend(&mut remaining, &mut offset, &mut r, &|c| {
                    is_alphabet(c) && !is_upper(c)
                });
            }
        }
        UpperCase
    } else if is_alphabet(r) {
        extend(&mut remaining, &mut offset, &mut r, &|c| {
            is_alphabet(c) && !is_upper(c)
        });
        Alphabet
    } else if is_number(r) {
        extend(&mut remaining, &mut offset, &mut r, &is_number);
        Number
    } else {
        extend(&mut remaining, &mut offset, &mut r, &|c| {
            !(is_connector(c) || is_alphabet(c) || is_number(c) || is_punct(c))
        });
        Other
    };
    (wt, &s[..offset], remaining)
}

fn push_lower(out: &mut String, wt: WordType, word: &str, connector: char) {
    if wt != WordType::UpperCase && wt != WordType::Connector {
        out.push_str(word);
        return;
    }
    for c in word.chars() {
        if is_connector(c) {
            out.push(connector);
        } else if is_upper(c) {
            out.push(to_lower(c));
        } else {
            out.push(c);
        }
    }
}

/// xstrings' `camelCaseToLowerCase`, behind `ToSnakeCase` (`_`) and
/// `ToKebabCase` (`-`): words lower-cased and joined by `connector`, with
/// numbers attached to the word before them where xstrings does so.
pub fn to_lower_words(s: &str, connector: char) -> String {
    use WordType::*;
    let mut out = String::with_capacity(s.len() + 4);
    let (mut wt, mut word, mut remaining) = next_word(s);
    while !remaining.is_empty() {
        if wt != Connector {
            push_lower(&mut out, wt, word, connector);
        }
        let prev = wt;
        let last = word;
        (wt, word, remaining) = next_word(remaining);
        match prev {
            Number => {
                while wt == Alphabet || wt == Number {
                    push_lower(&mut out, wt, word, connector);
                    (wt, word, remaining) = next_word(remaining);
                }
                if wt != Invalid && wt != Punct && wt != Connector {
                    out.push(connector);
                }
            }
            Connector => push_lower(&mut out, prev, last, connector),
            Punct => {}
            _ => 'case: {
                if wt != Number {
                    if wt != Connector && wt != Punct {
                        out.push(connector);
                    }
                    break 'case;
                }
                if remaining.is_empty() {
                    break 'case;
                }
                let number = word;
                (wt, word, remaining) = next_word(remaining);
                // A number is part of the word before it ("Bld4Floor" is
                // "bld4_floor") unless letters follow it ("HTTP2xx" is
                // "http_2xx").
                if wt != Alphabet {
                    push_lower(&mut out, Number, number, connector);
                    if wt != Connector && wt != Punct {
                        out.push(connector);
                    }
                    break 'case;
                }
                out.push(connector);
                push_lower(&mut out, Number, number, connector);
                while wt == Alphabet || wt == Number {
                    push_lower(&mut out, wt, word, connector);
                    (wt, word, remaining) = next_word(remaining);
                }
                if wt != Invalid && wt != Connector && wt != Punct {
                    out.push(connector);
                }
            }
        }
    }
    push_lower(&mut out, wt, word, connector);
    out
}

/// xstrings' `Shuffle`: the runes in random order.
pub fn shuffle(s: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut runes: Vec<char> = s.chars().collect();
    let mut state = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        | 1;
    for i in (1..runes.len()).rev() {
        // xorshift64: statistical quality is enough to shuffle a string.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = (state % (i as u64 + 1)) as usize;
        runes.swap(i, j);
    }
    runes.into_iter().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn snake_and_kebab_case_split_words_as_xstrings_does() {
        for (input, want) in [
            ("FirstName", "first_name"),
            ("HTTPServer", "http_server"),
            ("NoHTTPS", "no_https"),
            ("GO_PATH", "go_path"),
            ("GO PATH", "go_path"),
            ("GO-PATH", "go_path"),
            ("http2xx", "http_2xx"),
            ("HTTP20xOK", "http_20x_ok"),
            ("Duration2m3s", "duration_2m3s"),
            ("Bld4Floor3rd", "bld4_floor_3rd"),
            ("HTTPServer2xx", "http_server_2xx"),
        ] {
            assert_eq!(to_lower_words(input, '_'), want, "{input}");
        }
        assert_eq!(
            to_lower_words("FirstName HTTPServer", '-'),
            "first-name-http-server"
        );
    }

    #[test]
    fn camelcase_is_pascal_case() {
        assert_eq!(to_pascal_case("http_server"), "HttpServer");
        assert_eq!(to_pascal_case("HTTP_SERVER"), "HttpServer");
        assert_eq!(to_pascal_case("_complex__case_"), "_Complex_Case_");
        assert_eq!(to_pascal_case("some words"), "SomeWords");
        assert_eq!(to_pascal_case("a"), "A");
        assert_eq!(to_pascal_case(""), "");
    }

    #[test]
    fn goutils_helpers_work_on_bytes() {
        assert_eq!(delete_white_space(" a b\tc\u{a0}d "), "abcÂd");
        assert_eq!(delete_white_space("héllo"), "héllo");
        assert_eq!(initials("héllo wörld"), "hw");
        assert_eq!(abbreviate_full("hello world", 0, 5).unwrap(), "he...");
        assert_eq!(
            abbreviate_full("1234 5678 9123", 5, 10).unwrap(),
            "...5678..."
        );
        assert_eq!(
            wrap_custom("hello world foo", 5, "", false),
            "hello\nworld\nfoo"
        );
        assert_eq!(
            wrap_custom("helloworldfoo bar", 5, "<br>", true),
            "hello<br>world<br>foo<br>bar"
        );
    }

    #[test]
    fn case_helpers_follow_go() {
        assert_eq!(title("hello wORLD-foo_bar"), "Hello WORLD-Foo_bar");
        assert_eq!(title("ǆa hello"), "ǅa Hello");
        assert_eq!(swap_case("Hello World ǅ"), "hELLO wORLD ǆ");
        assert_eq!(uncapitalize("Hello World"), "hello world");
        let shuffled = shuffle("abcdef");
        let mut sorted: Vec<char> = shuffled.chars().collect();
        sorted.sort_unstable();
        assert_eq!(sorted.into_iter().collect::<String>(), "abcdef");
    }
}
