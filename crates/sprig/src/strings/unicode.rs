//! Go's `unicode` package predicates and simple case mappings, on top of
//! Rust's Unicode tables.
//!
//! Go classifies by general category (`IsUpper` is `Lu`, `IsLetter` is
//! `L`) and maps case one rune to one rune (`ToUpper('ß')` is `ß`), while
//! Rust's `char` methods use derived properties and full mappings; these
//! functions correct for the difference.

/// Rust's `is_uppercase` includes `Other_Uppercase` (Roman numerals,
/// circled and squared letters), which Go's `Lu` test does not.
fn is_other_uppercase(c: char) -> bool {
    matches!(c as u32,
        0x2160..=0x216F | 0x24B6..=0x24CF | 0x1F130..=0x1F149 | 0x1F150..=0x1F169 | 0x1F170..=0x1F189)
}

/// Rust's `is_lowercase` includes `Other_Lowercase` (ordinal indicators,
/// modifier letters, small Roman numerals, circled letters).
fn is_other_lowercase(c: char) -> bool {
    matches!(c as u32,
        0xAA | 0xBA | 0x2B0..=0x2B8 | 0x2C0..=0x2C1 | 0x2E0..=0x2E4 | 0x345 | 0x37A
        | 0x10FC | 0x1D2C..=0x1D6A | 0x1D78 | 0x1D9B..=0x1DBF | 0x2071 | 0x207F
        | 0x2090..=0x209C | 0x2170..=0x217F | 0x24D0..=0x24E9 | 0x2C7C..=0x2C7D
        | 0xA69C..=0xA69D | 0xA770 | 0xA7F2..=0xA7F4 | 0xA7F8..=0xA7F9 | 0xAB5C..=0xAB5F
        | 0xAB69 | 0x10780 | 0x10783..=0x10785 | 0x10787..=0x107B0 | 0x107B2..=0x107BA
        | 0x1E030..=0x1E06D)
}

/// `unicode.IsUpper`: general category `Lu`.
pub fn is_upper(c: char) -> bool {
    c.is_uppercase() && !is_other_uppercase(c)
}

/// `unicode.IsLower`: general category `Ll`.
pub fn is_lower(c: char) -> bool {
    c.is_lowercase() && !is_other_lowercase(c)
}

/// `unicode.IsTitle`: general category `Lt`.
pub fn is_title(c: char) -> bool {
    matches!(c as u32,
        0x1C5 | 0x1C8 | 0x1CB | 0x1F2 | 0x1F88..=0x1F8F | 0x1F98..=0x1F9F | 0x1FA8..=0x1FAF
        | 0x1FBC | 0x1FCC | 0x1FFC)
}

/// `unicode.IsSpace`: Go's set equals Unicode's `White_Space`.
pub fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// `unicode.IsLetter`: general category `L` (approximated as
/// `Alphabetic` without letter numbers).
pub fn is_letter(c: char) -> bool {
    c.is_alphabetic() && !c.is_numeric()
}

/// `unicode.IsNumber`: general category `N`.
pub fn is_number(c: char) -> bool {
    c.is_numeric()
}

/// `unicode.IsDigit`: general category `Nd` (numbers without the common
/// superscripts, fractions, Roman numerals and enclosed numbers).
pub fn is_digit(c: char) -> bool {
    c.is_numeric()
        && !matches!(c as u32,
            0xB2 | 0xB3 | 0xB9 | 0xBC..=0xBE | 0x2070..=0x209F | 0x2150..=0x218F
            | 0x2460..=0x24FF | 0x2776..=0x2793 | 0x3007 | 0x3021..=0x3029 | 0x3038..=0x303A
            | 0x3192..=0x3195 | 0x3220..=0x3229 | 0x3248..=0x324F | 0x3251..=0x325F
            | 0x3280..=0x3289 | 0x32B1..=0x32BF | 0x16EE..=0x16F0)
}

/// `unicode.IsPunct`: general category `P`, for ASCII exactly and for the
/// common Latin-1, general, CJK and fullwidth punctuation blocks.
pub fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation() && !"$+<=>^`|~".contains(c);
    }
    matches!(c as u32,
        0xA1 | 0xA7 | 0xAB | 0xB6 | 0xB7 | 0xBB | 0xBF | 0x37E | 0x387 | 0x55A..=0x55F
        | 0x589..=0x58A | 0x5BE | 0x5C0 | 0x5C3 | 0x5C6 | 0x5F3..=0x5F4 | 0x60C..=0x60D
        | 0x61B | 0x61D..=0x61F | 0x66A..=0x66D | 0x6D4 | 0x964..=0x965 | 0x970
        | 0x2010..=0x2027 | 0x2030..=0x2043 | 0x2045..=0x2051 | 0x2053..=0x205E
        | 0x207D..=0x207E | 0x208D..=0x208E | 0x2308..=0x230B | 0x2329..=0x232A
        | 0x2768..=0x2775 | 0x27C5..=0x27C6 | 0x27E6..=0x27EF | 0x2983..=0x2998
        | 0x29D8..=0x29DB | 0x29FC..=0x29FD | 0x2E00..=0x2E2E | 0x2E30..=0x2E4F
        | 0x3001..=0x3003 | 0x3008..=0x3011 | 0x3014..=0x301F | 0x3030 | 0x303D | 0x30A0
        | 0x30FB | 0xFE10..=0xFE19 | 0xFE30..=0xFE52 | 0xFE54..=0xFE61 | 0xFE63 | 0xFE68
        | 0xFE6A..=0xFE6B | 0xFF01..=0xFF03 | 0xFF05..=0xFF0A | 0xFF0C..=0xFF0F
        | 0xFF1A..=0xFF1B | 0xFF1F..=0xFF20 | 0xFF3B..=0xFF3D | 0xFF3F | 0xFF5B | 0xFF5D
        | 0xFF5F..=0xFF65)
}

/// `unicode.ToUpper`: the simple (one-rune) uppercase mapping.
pub fn to_upper(c: char) -> char {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        // Full mappings of several runes: only the Greek letters with
        // ypogegrammeni have a simple mapping (to the titlecase letter).
        _ => match c as u32 {
            0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => shift(c, 8),
            0x1FB3 | 0x1FC3 | 0x1FF3 => shift(c, 9),
            _ => c,
        },
    }
}

/// `unicode.ToLower`: the simple (one-rune) lowercase mapping.
pub fn to_lower(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ if c == '\u{130}' => 'i',
        _ => c,
    }
}

/// `unicode.ToTitle`: the simple titlecase mapping, which differs from the
/// uppercase one for the Latin digraphs and Georgian.
pub fn to_title(c: char) -> char {
    match c as u32 {
        0x1C4..=0x1C6 => '\u{1C5}',
        0x1C7..=0x1C9 => '\u{1C8}',
        0x1CA..=0x1CC => '\u{1CB}',
        0x1F1..=0x1F3 => '\u{1F2}',
        0x10D0..=0x10FA | 0x10FD..=0x10FF => c,
        _ => to_upper(c),
    }
}

fn shift(c: char, by: u32) -> char {
    char::from_u32(c as u32 + by).unwrap_or(c)
}

/// `strings.ToUpper`.
pub fn upper(s: &str) -> String {
    s.chars().map(to_upper).collect()
}

/// `strings.ToLower` (no final-sigma rule, unlike `str::to_lowercase`).
pub fn lower(s: &str) -> String {
    s.chars().map(to_lower).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_mappings_are_gos_simple_ones() {
        assert_eq!(upper("ß straße"), "ß STRAßE");
        assert_eq!(lower("ΣΑΣ İ K"), "σασ i k");
        assert_eq!(to_title('ǆ'), 'ǅ');
        assert_eq!(to_upper('ǆ'), 'Ǆ');
        assert_eq!(to_upper('ᾳ'), 'ᾼ');
        assert_eq!(to_upper('ﬀ'), 'ﬀ');
    }

    #[test]
    fn categories_follow_go() {
        assert!(is_upper('A') && !is_upper('Ⅰ') && !is_upper('ǅ'));
        assert!(is_lower('a') && !is_lower('ª'));
        assert!(is_title('ǅ'));
        assert!(is_punct('-') && is_punct('_') && !is_punct('$') && !is_punct('+'));
        assert!(is_digit('٣') && !is_digit('²'));
    }
}
