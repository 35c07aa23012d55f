//! Go's reference-time layouts (`2006-01-02T15:04:05Z07:00`): formatting
//! (`Time.Format`) and parsing (`time.ParseInLocation`), with Go's error
//! texts.

use chrono::{Datelike, NaiveDate, Timelike};

use super::{GoTime, Zone};
use crate::date::civil;

/// One element of a layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    Pm,
    LowerPm,
    Tz,
    /// `Z0700`-like: `Z` for UTC. `colon`, `seconds`, `short` say which.
    Iso {
        colon: bool,
        seconds: bool,
        short: bool,
    },
    /// `-0700`-like.
    Num {
        colon: bool,
        seconds: bool,
        short: bool,
    },
    /// `.000` (fixed digits) or `.999` (trailing zeros dropped), with the
    /// separator (`.` or `,`).
    Frac {
        digits: usize,
        trim: bool,
        sep: u8,
    },
}

/// Splits a layout at its first element: (literal before, element and its
/// text, rest).
fn next_chunk(layout: &str) -> (&str, Option<(Std, &str)>, &str) {
    let b = layout.as_bytes();
    let at = |i: usize, s: &str| layout[i..].starts_with(s);
    let mut i = 0;
    while i < b.len() {
        let found: Option<(Std, usize)> = match b[i] {
            b'J' if at(i, "January") => Some((Std::LongMonth, 7)),
            b'J' if at(i, "Jan") => Some((Std::Month, 3)),
            b'M' if at(i, "Monday") => Some((Std::LongWeekDay, 6)),
            b'M' if at(i, "Mon") => Some((Std::WeekDay, 3)),
            b'M' if at(i, "MST") => Some((Std::Tz, 3)),
            b'0' if at(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'0' if i + 1 < b.len() && (b'1'..=b'6').contains(&b[i + 1]) => Some((
                [
                    Std::ZeroMonth,
                    Std::ZeroDay,
                    Std::ZeroHour12,
                    Std::ZeroMinute,
                    Std::ZeroSecond,
                    Std::Year,
                ][(b[i + 1] - b'1') as usize],
                2,
            )),
            b'1' if at(i, "15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if at(i, "2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            b'_' if at(i, "_2006") => {
                // A literal `_` then the year.
                return (
                    &layout[..i + 1],
                    Some((Std::LongYear, "2006")),
                    &layout[i + 5..],
                );
            }
            b'_' if at(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'_' if at(i, "_2") => Some((Std::UnderDay, 2)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if at(i, "PM") => Some((Std::Pm, 2)),
            b'p' if at(i, "pm") => Some((Std::LowerPm, 2)),
            c @ (b'-' | b'Z') => {
                let iso = c == b'Z';
                let shapes = [
                    ("070000", false, true, false),
                    ("07:00:00", true, true, false),
                    ("0700", false, false, false),
                    ("07:00", true, false, false),
                    ("07", false, false, true),
                ];
                shapes
                    .iter()
                    .find(|(s, ..)| at(i + 1, s))
                    .map(|(s, colon, seconds, short)| {
                        let (colon, seconds, short) = (*colon, *seconds, *short);
                        let std = if iso {
                            Std::Iso {
                                colon,
                                seconds,
                                short,
                            }
                        } else {
                            Std::Num {
                                colon,
                                seconds,
                                short,
                            }
                        };
                        (std, 1 + s.len())
                    })
            }
            sep @ (b'.' | b',') if i + 1 < b.len() && matches!(b[i + 1], b'0' | b'9') => {
                let digit = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == digit {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    None
                } else {
                    Some((
                        Std::Frac {
                            digits: j - i - 1,
                            trim: digit == b'9',
                            sep,
                        },
                        j - i,
                    ))
                }
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return (
                &layout[..i],
                Some((std, &layout[i..i + len])),
                &layout[i + len..],
            );
        }
        i += 1;
    }
    (layout, None, "")
}

const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

fn pad(out: &mut String, n: i64, width: usize) {
    if n < 0 {
        out.push('-');
    }
    out.push_str(&format!("{:0width$}", n.unsigned_abs(), width = width));
}

/// Go's `Time.Format`.
pub fn format(t: &GoTime, layout: &str) -> String {
    let (offset, abbreviation) = t.offset_and_name();
    let local = civil(t.secs + i64::from(offset), t.nanos);
    let mut out = String::new();
    let mut rest = layout;
    loop {
        let (literal, element, after) = next_chunk(rest);
        out.push_str(literal);
        let Some((std, _)) = element else {
            break;
        };
        rest = after;
        let year = i64::from(local.year());
        let hour = local.hour();
        match std {
            Std::Year => pad(&mut out, year.rem_euclid(100), 2),
            Std::LongYear => pad(&mut out, year, 4),
            Std::Month => out.push_str(&LONG_MONTHS[local.month0() as usize][..3]),
            Std::LongMonth => out.push_str(LONG_MONTHS[local.month0() as usize]),
            Std::NumMonth => pad(&mut out, i64::from(local.month()), 0),
            Std::ZeroMonth => pad(&mut out, i64::from(local.month()), 2),
            Std::WeekDay => {
                out.push_str(&LONG_DAYS[local.weekday().num_days_from_sunday() as usize][..3])
            }
            Std::LongWeekDay => {
                out.push_str(LONG_DAYS[local.weekday().num_days_from_sunday() as usize])
            }
            Std::Day => pad(&mut out, i64::from(local.day()), 0),
            Std::UnderDay => {
                if local.day() < 10 {
                    out.push(' ');
                }
                pad(&mut out, i64::from(local.day()), 0);
            }
            Std::ZeroDay => pad(&mut out, i64::from(local.day()), 2),
            Std::UnderYearDay => out.push_str(&format!("{:>3}", local.ordinal())),
            Std::ZeroYearDay => pad(&mut out, i64::from(local.ordinal()), 3),
            Std::Hour => pad(&mut out, i64::from(hour), 2),
            Std::Hour12 | Std::ZeroHour12 => {
                let h = match hour % 12 {
                    0 => 12,
                    h => h,
                };
                pad(
                    &mut out,
                    i64::from(h),
                    if std == Std::ZeroHour12 { 2 } else { 0 },
                );
            }
            Std::Minute => pad(&mut out, i64::from(local.minute()), 0),
            Std::ZeroMinute => pad(&mut out, i64::from(local.minute()), 2),
            Std::Second => pad(&mut out, i64::from(local.second()), 0),
            Std::ZeroSecond => pad(&mut out, i64::from(local.second()), 2),
            Std::Pm => out.push_str(if hour >= 12 { "PM" } else { "AM" }),
            Std::LowerPm => out.push_str(if hour >= 12 { "pm" } else { "am" }),
            Std::Iso {
                colon,
                seconds,
                short,
            }
            | Std::Num {
                colon,
                seconds,
                short,
            } => {
                if offset == 0 && matches!(std, Std::Iso { .. }) {
                    out.push('Z');
                    continue;
                }
                let abs = offset.unsigned_abs();
                out.push(if offset < 0 { '-' } else { '+' });
                out.push_str(&format!("{:02}", abs / 3600));
                if !short {
                    if colon {
                        out.push(':');
                    }
                    out.push_str(&format!("{:02}", abs / 60 % 60));
                }
                if seconds {
                    if colon {
                        out.push(':');
                    }
                    out.push_str(&format!("{:02}", abs % 60));
                }
            }
            Std::Tz => match &abbreviation {
                Some(name) if !name.is_empty() => out.push_str(name),
                _ => {
                    let minutes = offset / 60;
                    out.push(if minutes < 0 { '-' } else { '+' });
                    let m = minutes.unsigned_abs();
                    out.push_str(&format!("{:02}{:02}", m / 60, m % 60));
                }
            },
            Std::Frac { digits, trim, sep } => {
                let all = format!("{:09}", t.nanos);
                let mut shown = &all[..digits.min(9)];
                if trim {
                    shown = shown.trim_end_matches('0');
                    if shown.is_empty() {
                        continue;
                    }
                }
                out.push(char::from(sep));
                out.push_str(shown);
            }
        }
    }
    out
}

/// Go's `time.ParseError` texts.
fn cannot_parse(value: &str, layout: &str, value_elem: &str, layout_elem: &str) -> String {
    format!(
        "parsing time {} as {}: cannot parse {} as {}",
        go_quote(value),
        go_quote(layout),
        go_quote(value_elem),
        go_quote(layout_elem)
    )
}

fn go_quote(s: &str) -> String {
    caravel_gotemplate::fmt::quote(s, false)
}

/// A number of 1 or 2 digits (exactly 2 when `fixed`).
fn get_num(s: &str, fixed: bool) -> Option<(u32, &str)> {
    let b = s.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    if !b.get(1).is_some_and(u8::is_ascii_digit) {
        if fixed {
            return None;
        }
        return Some((u32::from(b[0] - b'0'), &s[1..]));
    }
    Some((
        u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0'),
        &s[2..],
    ))
}

/// A number of 1 to 3 digits (exactly 3 when `fixed`).
fn get_num3(s: &str, fixed: bool) -> Option<(u32, &str)> {
    let digits = s.bytes().take(3).take_while(u8::is_ascii_digit).count();
    if digits == 0 || (fixed && digits != 3) {
        return None;
    }
    Some((s[..digits].parse().ok()?, &s[digits..]))
}

fn lookup<'a>(names: impl Iterator<Item = &'a str>, s: &str) -> Option<(usize, usize)> {
    for (i, name) in names.enumerate() {
        if s.len() >= name.len() && s.as_bytes()[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        {
            return Some((i, name.len()));
        }
    }
    None
}

/// The fraction after a `.`/`,` of `s[..n]` as nanoseconds.
fn parse_nanos(s: &str, n: usize) -> Option<u32> {
    if !matches!(s.as_bytes().first(), Some(b'.' | b',')) {
        return None;
    }
    let n = n.min(10);
    let digits = &s[1..n];
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: u32 = digits.parse().ok()?;
    for _ in digits.len()..9 {
        value *= 10;
    }
    Some(value)
}

/// Length of a time zone abbreviation at the start of `s` (Go's
/// `parseTimeZone`), or `None`.
fn time_zone_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() < 3 {
        return None;
    }
    if s.starts_with("ChST") || s.starts_with("MeST") {
        return Some(4);
    }
    if s.starts_with("GMT") {
        let rest = &b[3..];
        if let Some(&sign) = rest.first() {
            if sign == b'+' || sign == b'-' {
                let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits > 0 {
                    return Some(4 + digits);
                }
            }
        }
        return Some(3);
    }
    if matches!(b[0], b'+' | b'-') {
        let digits = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        return matches!(digits, 2 | 4).then_some(1 + digits);
    }
    let upper = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    match upper {
        0..=2 => None,
        3 => Some(3),
        4 if b[3] == b'T' || s.starts_with("WITA") => Some(4),
        5 if b[4] == b'T' => Some(5),
        4 | 5 => None,
        _ => None,
    }
}

/// Go's `time.ParseInLocation(layout, value, loc)`.
pub fn parse(layout: &str, value: &str, loc: &Zone) -> Result<GoTime, String> {
    let (full_layout, full_value) = (layout, value);
    let mut layout = layout;
    let mut value = value;
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0u32, 0u32, 0u32, 0u32);
    let (mut pm_set, mut am_set) = (false, false);
    let mut utc = false;
    let mut zone_offset: Option<i32> = None;
    let mut zone_name: Option<String> = None;
    let range_error =
        |what: &str| format!("parsing time {}: {what} out of range", go_quote(full_value));
    loop {
        let (prefix, element, suffix) = next_chunk(layout);
        if !value.starts_with(prefix) {
            return Err(cannot_parse(full_value, full_layout, value, prefix));
        }
        value = &value[prefix.len()..];
        let Some((std, std_text)) = element else {
            if !value.is_empty() {
                return Err(format!(
                    "parsing time {}: extra text: {}",
                    go_quote(full_value),
                    go_quote(value)
                ));
            }
            break;
        };
        layout = suffix;
        let hold = value;
        let bad = || cannot_parse(full_value, full_layout, hold, std_text);
        match std {
            Std::Year => {
                let b = value.as_bytes();
                if b.len() < 2 || !b[..2].iter().all(u8::is_ascii_digit) {
                    return Err(bad());
                }
                let yy: i64 = value[..2].parse().map_err(|_| bad())?;
                year = if yy >= 69 { yy + 1900 } else { yy + 2000 };
                value = &value[2..];
            }
            Std::LongYear => {
                let b = value.as_bytes();
                if b.len() < 4 || !b[..4].iter().all(u8::is_ascii_digit) {
                    return Err(bad());
                }
                year = value[..4].parse().map_err(|_| bad())?;
                value = &value[4..];
            }
            Std::Month | Std::LongMonth => {
                let (i, len) = if std == Std::Month {
                    lookup(LONG_MONTHS.iter().map(|m| &m[..3]), value)
                } else {
                    lookup(LONG_MONTHS.iter().copied(), value)
                }
                .ok_or_else(bad)?;
                month = i as i64 + 1;
                value = &value[len..];
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (m, rest) = get_num(value, std == Std::ZeroMonth).ok_or_else(bad)?;
                if !(1..=12).contains(&m) {
                    return Err(range_error("month"));
                }
                month = i64::from(m);
                value = rest;
            }
            Std::WeekDay | Std::LongWeekDay => {
                let (_, len) = if std == Std::WeekDay {
                    lookup(LONG_DAYS.iter().map(|d| &d[..3]), value)
                } else {
                    lookup(LONG_DAYS.iter().copied(), value)
                }
                .ok_or_else(bad)?;
                value = &value[len..];
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay && value.starts_with(' ') {
                    value = &value[1..];
                }
                let (d, rest) = get_num(value, std == Std::ZeroDay).ok_or_else(bad)?;
                day = i64::from(d);
                value = rest;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                for _ in 0..2 {
                    if std == Std::UnderYearDay && value.starts_with(' ') {
                        value = &value[1..];
                    }
                }
                let (d, rest) = get_num3(value, std == Std::ZeroYearDay).ok_or_else(bad)?;
                yday = i64::from(d);
                value = rest;
            }
            Std::Hour => {
                let (h, rest) = get_num(value, false).ok_or_else(bad)?;
                if h >= 24 {
                    return Err(range_error("hour"));
                }
                hour = h;
                value = rest;
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let (h, rest) = get_num(value, std == Std::ZeroHour12).ok_or_else(bad)?;
                if h > 12 {
                    return Err(range_error("hour"));
                }
                hour = h;
                value = rest;
            }
            Std::Minute | Std::ZeroMinute => {
                let (m, rest) = get_num(value, std == Std::ZeroMinute).ok_or_else(bad)?;
                if m >= 60 {
                    return Err(range_error("minute"));
                }
                min = m;
                value = rest;
            }
            Std::Second | Std::ZeroSecond => {
                let (s, rest) = get_num(value, std == Std::ZeroSecond).ok_or_else(bad)?;
                if s >= 60 {
                    return Err(range_error("second"));
                }
                sec = s;
                value = rest;
                // A fraction after the seconds is accepted even when the
                // layout has none.
                let b = value.as_bytes();
                if b.len() >= 2 && matches!(b[0], b'.' | b',') && b[1].is_ascii_digit() {
                    let (_, next, _) = next_chunk(layout);
                    if !matches!(next, Some((Std::Frac { .. }, _))) {
                        let n = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                        nsec = parse_nanos(value, n).ok_or_else(bad)?;
                        value = &value[n..];
                    }
                }
            }
            Std::Pm | Std::LowerPm => {
                if value.len() < 2 {
                    return Err(bad());
                }
                let (pm, am) = if std == Std::Pm {
                    ("PM", "AM")
                } else {
                    ("pm", "am")
                };
                match &value[..2] {
                    p if p == pm => pm_set = true,
                    a if a == am => am_set = true,
                    _ => return Err(bad()),
                }
                value = &value[2..];
            }
            Std::Iso {
                colon,
                seconds,
                short,
            }
            | Std::Num {
                colon,
                seconds,
                short,
            } => {
                if matches!(std, Std::Iso { .. }) && value.starts_with('Z') {
                    value = &value[1..];
                    utc = true;
                    continue;
                }
                let b = value.as_bytes();
                let need = 3
                    + if short { 0 } else { 2 + usize::from(colon) }
                    + if seconds { 2 + usize::from(colon) } else { 0 };
                if b.len() < need || !matches!(b[0], b'+' | b'-') {
                    return Err(bad());
                }
                let two = |at: usize| -> Option<i32> {
                    let d = value.get(at..at + 2)?;
                    if d.bytes().all(|c| c.is_ascii_digit()) {
                        d.parse().ok()
                    } else {
                        None
                    }
                };
                let hh = two(1).ok_or_else(bad)?;
                let mut at = 3;
                let mut mm = 0;
                let mut ss = 0;
                if !short {
                    if colon {
                        if b[at] != b':' {
                            return Err(bad());
                        }
                        at += 1;
                    }
                    mm = two(at).ok_or_else(bad)?;
                    at += 2;
                }
                if seconds {
                    if colon {
                        if b[at] != b':' {
                            return Err(bad());
                        }
                        at += 1;
                    }
                    ss = two(at).ok_or_else(bad)?;
                    at += 2;
                }
                if hh > 24 || mm >= 60 || ss >= 60 {
                    return Err(range_error("time zone offset"));
                }
                let mut offset = (hh * 60 + mm) * 60 + ss;
                if b[0] == b'-' {
                    offset = -offset;
                }
                zone_offset = Some(offset);
                value = &value[at..];
            }
            Std::Tz => {
                if value.starts_with("UTC") {
                    utc = true;
                    value = &value[3..];
                    continue;
                }
                let n = time_zone_len(value).ok_or_else(bad)?;
                zone_name = Some(value[..n].to_string());
                value = &value[n..];
            }
            Std::Frac {
                digits,
                trim: false,
                ..
            } => {
                let n = 1 + digits;
                if value.len() < n {
                    return Err(bad());
                }
                nsec = parse_nanos(value, n).ok_or_else(bad)?;
                value = &value[n..];
            }
            Std::Frac { trim: true, .. } => {
                let b = value.as_bytes();
                if b.len() < 2 || !matches!(b[0], b'.' | b',') || !b[1].is_ascii_digit() {
                    continue;
                }
                let n = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                nsec = parse_nanos(value, n).ok_or_else(bad)?;
                value = &value[n..];
            }
        }
    }
    if pm_set && hour < 12 {
        hour += 12;
    } else if am_set && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let leap = NaiveDate::from_ymd_opt(year as i32, 2, 29).is_some();
        if yday < 1 || yday > if leap { 366 } else { 365 } {
            return Err(range_error("day-of-year"));
        }
        let date = NaiveDate::from_yo_opt(year as i32, yday as u32)
            .ok_or_else(|| range_error("day-of-year"))?;
        if month >= 0 && month != i64::from(date.month()) {
            return Err(range_error("day-of-year"));
        }
        if day >= 0 && day != i64::from(date.day()) {
            return Err(range_error("day-of-year"));
        }
        month = i64::from(date.month());
        day = i64::from(date.day());
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32)
        .ok_or_else(|| format!("parsing time {}: day out of range", go_quote(full_value)))?;
    let wall = date
        .and_hms_nano_opt(hour, min, sec, nsec)
        .ok_or_else(|| range_error("time"))?
        .and_utc()
        .timestamp();
    if utc {
        return Ok(GoTime::new(wall, nsec, Zone::Utc));
    }
    if let Some(offset) = zone_offset {
        let secs = wall - i64::from(offset);
        // Use the location when its offset (and name, if one was parsed)
        // then is the one parsed.
        let candidate = GoTime::new(secs, nsec, loc.clone());
        let (local_offset, local_name) = candidate.offset_and_name();
        let name = zone_name.unwrap_or_default();
        if local_offset == offset
            && (name.is_empty() || local_name.as_deref() == Some(name.as_str()))
        {
            return Ok(candidate);
        }
        return Ok(GoTime::new(secs, nsec, Zone::Fixed { offset, name }));
    }
    if let Some(name) = zone_name {
        if let Some(offset) = loc.offset_of_name(&name, wall) {
            return Ok(GoTime::new(wall - i64::from(offset), nsec, loc.clone()));
        }
        let offset = match name.strip_prefix("GMT") {
            Some(hours) if !hours.is_empty() => hours.parse::<i32>().unwrap_or(0) * 3600,
            _ => 0,
        };
        return Ok(GoTime::new(
            wall - i64::from(offset),
            nsec,
            Zone::Fixed { offset, name },
        ));
    }
    Ok(GoTime::from_wall(wall, nsec, loc.clone()))
}
