//! Sprig's date functions (`now`, `date`, `dateInZone`, `toDate`, `ago`,
//! `duration`, …) on a Go `time.Time` object, with Go's reference-time
//! layouts, IANA zones and the process's local zone as Go finds it.

mod duration;
mod layout;

use std::sync::OnceLock;
use std::time::Instant;

use caravel_gotemplate::{FuncError, Funcs, Object, Value};
use chrono::{DateTime, Datelike, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::{OffsetName, Tz};

use crate::convert::{int_arg, string_arg, want};

pub use duration::{parse as parse_duration, to_string as duration_string};

/// The zone a time is shown in.
#[derive(Clone, Debug, PartialEq)]
pub enum Zone {
    Utc,
    /// Go's `time.Local`: `TZ`, else `/etc/localtime`, else UTC.
    Local,
    Named(Tz),
    /// A zone known only by its offset (and maybe name), from parsing.
    Fixed {
        offset: i32,
        name: String,
    },
}

/// Go's `time.Time`: an instant, the zone it is shown in, and whether it
/// carries a monotonic clock reading (only `now` and times derived from it
/// by `Add`, which Go prints as ` m=+…`).
#[derive(Clone, Debug)]
pub struct GoTime {
    pub secs: i64,
    pub nanos: u32,
    pub zone: Zone,
    monotonic: Option<f64>,
}

/// Go's zero `time.Time`: January 1, year 1, 00:00:00 UTC.
const ZERO_TIME_SECS: i64 = -62_135_596_800;

/// When the process started, for the monotonic reading `now` prints.
fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn local_zone() -> Option<Tz> {
    static LOCAL: OnceLock<Option<Tz>> = OnceLock::new();
    LOCAL
        .get_or_init(|| {
            let name = match std::env::var("TZ") {
                Ok(tz) if tz.is_empty() => return None,
                Ok(tz) => tz.trim_start_matches(':').to_string(),
                Err(_) => {
                    let from_link = std::fs::read_link("/etc/localtime")
                        .ok()
                        .and_then(|target| {
                            let target = target.to_string_lossy().into_owned();
                            target
                                .split_once("zoneinfo/")
                                .map(|(_, name)| name.to_string())
                        });
                    match from_link {
                        Some(name) => name,
                        None => std::fs::read_to_string("/etc/timezone")
                            .ok()?
                            .trim()
                            .to_string(),
                    }
                }
            };
            name.parse::<Tz>().ok()
        })
        .as_ref()
        .copied()
}

/// Go's `time.LoadLocation`, where Sprig falls back to UTC on failure.
fn load_location(name: &str) -> Zone {
    match name {
        "" | "UTC" => Zone::Utc,
        "Local" => Zone::Local,
        other => other.parse::<Tz>().map_or(Zone::Utc, Zone::Named),
    }
}

/// The civil date and time of `secs` seconds since the epoch, read as UTC.
pub(crate) fn civil(secs: i64, nanos: u32) -> NaiveDateTime {
    DateTime::<Utc>::from_timestamp(secs, nanos)
        .unwrap_or_default()
        .naive_utc()
}

// === impl Zone ===

impl Zone {
    fn resolved(&self) -> Zone {
        match self {
            Zone::Local => local_zone().map_or(Zone::Utc, Zone::Named),
            other => other.clone(),
        }
    }

    /// The offset the zone has for `name` near the wall time `wall` (the
    /// wall clock read as UTC seconds), as Go's `lookupName`.
    fn offset_of_name(&self, name: &str, wall: i64) -> Option<i32> {
        match self.resolved() {
            Zone::Utc => (name == "UTC").then_some(0),
            Zone::Fixed { offset, name: own } => (own == name).then_some(offset),
            Zone::Named(tz) => {
                // Try the offsets in effect around that time.
                [wall - 86_400 * 183, wall, wall + 86_400 * 183]
                    .into_iter()
                    .filter_map(|at| DateTime::<Utc>::from_timestamp(at, 0))
                    .map(|at| tz.offset_from_utc_datetime(&at.naive_utc()))
                    .find(|off| off.abbreviation() == Some(name))
                    .map(|off| off.fix().local_minus_utc())
            }
            Zone::Local => None,
        }
    }

    fn location_name(&self) -> String {
        match self {
            Zone::Utc => "UTC".to_string(),
            Zone::Local => "Local".to_string(),
            Zone::Named(tz) => tz.name().to_string(),
            Zone::Fixed { name, .. } => name.clone(),
        }
    }
}

// === impl GoTime ===

impl GoTime {
    pub fn new(secs: i64, nanos: u32, zone: Zone) -> GoTime {
        GoTime {
            secs,
            nanos,
            zone,
            monotonic: None,
        }
    }

    /// The time whose wall clock in `zone` reads `wall` (seconds, read as
    /// UTC); of two readings in a fold, the earlier.
    pub fn from_wall(wall: i64, nanos: u32, zone: Zone) -> GoTime {
        let naive = civil(wall, 0);
        let secs = match zone.resolved() {
            Zone::Named(tz) => tz
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.timestamp())
                .unwrap_or_else(|| {
                    // In a gap: Go applies the offset from before it.
                    let before = tz.offset_from_utc_datetime(&naive).fix().local_minus_utc();
                    wall - i64::from(before)
                }),
            Zone::Fixed { offset, .. } => wall - i64::from(offset),
            Zone::Utc | Zone::Local => wall,
        };
        GoTime::new(secs, nanos, zone)
    }

    pub fn now() -> GoTime {
        let start = process_start();
        let now = Utc::now();
        GoTime {
            secs: now.timestamp(),
            nanos: now.timestamp_subsec_nanos(),
            zone: Zone::Local,
            monotonic: Some(start.elapsed().as_secs_f64()),
        }
    }

    /// The offset from UTC in seconds and the zone abbreviation at this
    /// instant.
    pub fn offset_and_name(&self) -> (i32, Option<String>) {
        match self.zone.resolved() {
            Zone::Utc | Zone::Local => (0, Some("UTC".to_string())),
            Zone::Fixed { offset, name } => (offset, Some(name)),
            Zone::Named(tz) => {
                let offset = tz.offset_from_utc_datetime(&civil(self.secs, 0));
                (
                    offset.fix().local_minus_utc(),
                    offset.abbreviation().map(str::to_string),
                )
            }
        }
    }

    pub fn format(&self, layout: &str) -> String {
        layout::format(self, layout)
    }

    /// Adds `nanos` nanoseconds (Go's `Add`; keeps the monotonic reading).
    pub fn add(&self, nanos: i64) -> GoTime {
        let total =
            i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos) + i128::from(nanos);
        GoTime {
            secs: total.div_euclid(1_000_000_000) as i64,
            nanos: total.rem_euclid(1_000_000_000) as u32,
            zone: self.zone.clone(),
            monotonic: self.monotonic.map(|m| m + nanos as f64 / 1e9),
        }
    }

    fn in_zone(&self, zone: Zone) -> GoTime {
        GoTime::new(self.secs, self.nanos, zone)
    }

    fn unix_nanos(&self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }

    /// Nanoseconds since this time (Go's `time.Since`), saturated.
    fn since(&self) -> i64 {
        let now = GoTime::now().unix_nanos();
        (now - self.unix_nanos()).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// Go's `Time.String()`.
    pub fn go_string(&self) -> String {
        let mut out = self.format("2006-01-02 15:04:05.999999999 -0700 MST");
        if let Some(m) = self.monotonic {
            let sign = if m < 0.0 { '-' } else { '+' };
            out.push_str(&format!(" m={sign}{:.9}", m.abs()));
        }
        out
    }

    /// Reads a time back from a template value made by this module.
    pub fn from_value(v: &Value) -> Option<GoTime> {
        let Value::Object(o) = v else {
            return None;
        };
        if o.type_name() != "time.Time" {
            return None;
        }
        // Objects cannot be downcast; the private method `#instant` (not a
        // name templates can write) carries the time through.
        let encoded = o.call(INSTANT_METHOD, &[]).ok()?;
        let text = encoded.as_str()?;
        let mut parts = text.splitn(5, ' ');
        let secs = parts.next()?.parse().ok()?;
        let nanos = parts.next()?.parse().ok()?;
        let monotonic = match parts.next()? {
            "-" => None,
            m => Some(m.parse().ok()?),
        };
        let kind = parts.next()?;
        let rest = parts.next().unwrap_or_default();
        let zone = match kind {
            "utc" => Zone::Utc,
            "local" => Zone::Local,
            "named" => Zone::Named(rest.parse().ok()?),
            _ => {
                let (offset, name) = rest.split_once(' ').unwrap_or((rest, ""));
                Zone::Fixed {
                    offset: offset.parse().ok()?,
                    name: name.to_string(),
                }
            }
        };
        Some(GoTime {
            secs,
            nanos,
            zone,
            monotonic,
        })
    }

    fn encode(&self) -> String {
        let zone = match &self.zone {
            Zone::Utc => "utc".to_string(),
            Zone::Local => "local".to_string(),
            Zone::Named(tz) => format!("named {}", tz.name()),
            Zone::Fixed { offset, name } => format!("fixed {offset} {name}"),
        };
        let mono = self.monotonic.map_or("-".to_string(), |m| m.to_string());
        format!("{} {} {mono} {zone}", self.secs, self.nanos)
    }

    pub fn into_value(self) -> Value {
        Value::object(self)
    }
}

const INSTANT_METHOD: &str = "#instant";

const TIME_METHODS: [&str; 25] = [
    "Format",
    "String",
    "Unix",
    "UnixMilli",
    "UnixMicro",
    "UnixNano",
    "Year",
    "Month",
    "Day",
    "Hour",
    "Minute",
    "Second",
    "Nanosecond",
    "YearDay",
    "Weekday",
    "IsZero",
    "UTC",
    "Local",
    "Add",
    "AddDate",
    "Before",
    "After",
    "Equal",
    "Location",
    "Zone",
];

impl Object for GoTime {
    fn type_name(&self) -> &str {
        "time.Time"
    }

    fn has_method(&self, name: &str) -> bool {
        TIME_METHODS.contains(&name)
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "wrong number of args for {name}: want {n} got {}",
                    args.len()
                ))
            }
        };
        let (offset, abbreviation) = self.offset_and_name();
        let local = civil(self.secs + i64::from(offset), self.nanos);
        let int = |v: i64| Ok(Value::Int(v));
        let other_time = |v: &Value| {
            GoTime::from_value(v).ok_or_else(|| {
                format!(
                    "wrong type for value; expected time.Time; got {}",
                    v.type_name()
                )
            })
        };
        match name {
            INSTANT_METHOD => Ok(Value::from(self.encode())),
            "Format" => {
                arity(1)?;
                let layout = string_arg(&args[0]).map_err(|e| e.message)?;
                Ok(Value::from(self.format(layout)))
            }
            "String" => arity(0).map(|_| Value::from(self.go_string())),
            "Unix" => arity(0).and_then(|_| int(self.secs)),
            "UnixMilli" => arity(0).and_then(|_| int((self.unix_nanos() / 1_000_000) as i64)),
            "UnixMicro" => arity(0).and_then(|_| int((self.unix_nanos() / 1_000) as i64)),
            "UnixNano" => arity(0).and_then(|_| int(self.unix_nanos() as i64)),
            "Year" => arity(0).and_then(|_| int(i64::from(local.year()))),
            "Month" => arity(0).map(|_| Value::from(local.format("%B").to_string())),
            "Day" => arity(0).and_then(|_| int(i64::from(local.day()))),
            "Hour" => arity(0).and_then(|_| int(i64::from(local.hour()))),
            "Minute" => arity(0).and_then(|_| int(i64::from(local.minute()))),
            "Second" => arity(0).and_then(|_| int(i64::from(local.second()))),
            "Nanosecond" => arity(0).and_then(|_| int(i64::from(self.nanos))),
            "YearDay" => arity(0).and_then(|_| int(i64::from(local.ordinal()))),
            "Weekday" => arity(0).map(|_| Value::from(local.format("%A").to_string())),
            "IsZero" => {
                arity(0).map(|_| Value::Bool(self.secs == ZERO_TIME_SECS && self.nanos == 0))
            }
            "UTC" => arity(0).map(|_| self.in_zone(Zone::Utc).into_value()),
            "Local" => arity(0).map(|_| self.in_zone(Zone::Local).into_value()),
            "Location" => arity(0).map(|_| Value::from(self.zone.location_name())),
            "Zone" => arity(0).map(|_| Value::from(abbreviation.unwrap_or_default())),
            "Add" => {
                arity(1)?;
                let nanos = int_arg(&args[0]).map_err(|e| e.message)?;
                Ok(self.add(nanos).into_value())
            }
            "AddDate" => {
                arity(3)?;
                let [y, m, d] =
                    [&args[0], &args[1], &args[2]].map(|a| int_arg(a).map_err(|e| e.message));
                let (y, m, d) = (y?, m?, d?);
                // Go normalises month and day overflow (Oct 31 + 1 month
                // is Dec 1).
                let months = i64::from(local.year()) * 12 + i64::from(local.month0()) + y * 12 + m;
                let first = chrono::NaiveDate::from_ymd_opt(
                    months.div_euclid(12) as i32,
                    months.rem_euclid(12) as u32 + 1,
                    1,
                )
                .ok_or("date out of range")?;
                let date = first + chrono::Duration::days(i64::from(local.day()) - 1 + d);
                let wall = date.and_time(local.time()).and_utc().timestamp();
                let mut t = GoTime::from_wall(wall, self.nanos, self.zone.clone());
                t.monotonic = None;
                Ok(t.into_value())
            }
            "Before" | "After" | "Equal" => {
                arity(1)?;
                let other = other_time(&args[0])?.unix_nanos();
                let me = self.unix_nanos();
                Ok(Value::Bool(match name {
                    "Before" => me < other,
                    "After" => me > other,
                    _ => me == other,
                }))
            }
            _ => Err(format!("{name} is not a method")),
        }
    }

    fn display(&self) -> String {
        self.go_string()
    }

    fn to_value(&self) -> Option<Value> {
        // Go's MarshalJSON: RFC 3339 with nanoseconds.
        Some(Value::from(
            self.format("2006-01-02T15:04:05.999999999Z07:00"),
        ))
    }
}

// === Functions ===

/// The `date interface{}` argument of `date`/`dateInZone`/`htmlDate`:
/// a time, or an integer as Unix seconds; anything else is now.
fn time_of(v: &Value) -> GoTime {
    match v {
        Value::Int(secs) => GoTime::new(*secs, 0, Zone::Local),
        other => GoTime::from_value(other).unwrap_or_else(GoTime::now),
    }
}

fn time_arg(v: &Value) -> Result<GoTime, FuncError> {
    GoTime::from_value(v).ok_or_else(|| {
        FuncError::new(format!(
            "wrong type for value; expected time.Time; got {}",
            v.type_name()
        ))
    })
}

fn date_in_zone(layout: &str, date: &Value, zone: &str) -> Value {
    let t = time_of(date).in_zone(load_location(zone));
    Value::from(t.format(layout))
}

/// Sprig's `durationRound`: the largest whole unit (y, mo, d, h, m, s),
/// truncated.
fn duration_round(nanos: i64) -> String {
    let u = nanos.unsigned_abs();
    const SECOND: u64 = 1_000_000_000;
    const MINUTE: u64 = 60 * SECOND;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    let units = [
        (365 * DAY, "y"),
        (30 * DAY, "mo"),
        (DAY, "d"),
        (HOUR, "h"),
        (MINUTE, "m"),
        (SECOND, "s"),
    ];
    for (size, unit) in units {
        if u > size {
            return format!("{}{unit}", u / size);
        }
    }
    "0s".to_string()
}

pub fn register(funcs: &mut Funcs) {
    funcs.insert("now", |_, args| {
        want("now", args, 0)?;
        Ok(GoTime::now().into_value())
    });
    funcs.insert("date", |_, args| {
        want("date", args, 2)?;
        Ok(date_in_zone(string_arg(&args[0])?, &args[1], "Local"))
    });
    for name in ["dateInZone", "date_in_zone"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 3)?;
            Ok(date_in_zone(
                string_arg(&args[0])?,
                &args[1],
                string_arg(&args[2])?,
            ))
        });
    }
    funcs.insert("htmlDate", |_, args| {
        want("htmlDate", args, 1)?;
        Ok(date_in_zone("2006-01-02", &args[0], "Local"))
    });
    funcs.insert("htmlDateInZone", |_, args| {
        want("htmlDateInZone", args, 2)?;
        Ok(date_in_zone("2006-01-02", &args[0], string_arg(&args[1])?))
    });
    for name in ["dateModify", "date_modify"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 2)?;
            let change = string_arg(&args[0])?;
            let t = time_arg(&args[1])?;
            Ok(match duration::parse(change) {
                Ok(nanos) => t.add(nanos),
                Err(_) => t,
            }
            .into_value())
        });
    }
    for name in ["mustDateModify", "must_date_modify"] {
        funcs.insert(name, move |_, args| {
            want(name, args, 2)?;
            let change = string_arg(&args[0])?;
            let t = time_arg(&args[1])?;
            let nanos = duration::parse(change).map_err(FuncError::new)?;
            Ok(t.add(nanos).into_value())
        });
    }
    funcs.insert("ago", |_, args| {
        want("ago", args, 1)?;
        let t = time_of(&args[0]);
        // Rounded to the second, halves away from zero.
        let since = t.since();
        let rounded = (since as i128 + if since < 0 { -500_000_000 } else { 500_000_000 })
            / 1_000_000_000
            * 1_000_000_000;
        Ok(Value::from(duration::to_string(rounded as i64)))
    });
    funcs.insert("duration", |_, args| {
        want("duration", args, 1)?;
        let secs = match &args[0] {
            Value::String(s) => s.parse::<i64>().unwrap_or(0),
            Value::Int(i) => *i,
            _ => 0,
        };
        Ok(Value::from(duration::to_string(
            secs.saturating_mul(1_000_000_000),
        )))
    });
    funcs.insert("durationRound", |_, args| {
        want("durationRound", args, 1)?;
        let nanos = match &args[0] {
            Value::String(s) => duration::parse(s).unwrap_or(0),
            Value::Int(i) => *i,
            other => GoTime::from_value(other).map_or(0, |t| t.since()),
        };
        Ok(Value::from(duration_round(nanos)))
    });
    funcs.insert("toDate", |_, args| {
        want("toDate", args, 2)?;
        let parsed = layout::parse(string_arg(&args[0])?, string_arg(&args[1])?, &Zone::Local);
        Ok(parsed
            .unwrap_or_else(|_| GoTime::new(ZERO_TIME_SECS, 0, Zone::Utc))
            .into_value())
    });
    funcs.insert("mustToDate", |_, args| {
        want("mustToDate", args, 2)?;
        let parsed = layout::parse(string_arg(&args[0])?, string_arg(&args[1])?, &Zone::Local)
            .map_err(FuncError::new)?;
        Ok(parsed.into_value())
    });
    funcs.insert("unixEpoch", |_, args| {
        want("unixEpoch", args, 1)?;
        Ok(Value::from(time_arg(&args[0])?.secs.to_string()))
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn utc(secs: i64) -> GoTime {
        GoTime::new(secs, 0, Zone::Utc)
    }

    #[test]
    fn formats_go_layouts() {
        let t = GoTime::new(
            1_700_000_000,
            123_456_000,
            Zone::Named("Europe/Paris".parse().unwrap()),
        );
        assert_eq!(
            t.format("2006-01-02T15:04:05Z07:00 MST"),
            "2023-11-14T23:13:20+01:00 CET"
        );
        assert_eq!(
            t.format("Mon Jan _2 3:04PM .000 .999999 ,9"),
            "Tue Nov 14 11:13PM .123 .123456 ,1"
        );
        assert_eq!(
            utc(0).format("January 02 06 002 Z0700 -07"),
            "January 01 70 001 Z +00"
        );
        assert_eq!(utc(0).go_string(), "1970-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn parses_go_layouts() {
        let t = layout::parse(
            "2006-01-02 15:04:05.000 -0700",
            "2024-03-05 10:20:30.250 +0200",
            &Zone::Utc,
        )
        .unwrap();
        assert_eq!(t.secs, 1_709_626_830);
        assert_eq!(t.nanos, 250_000_000);
        assert_eq!(t.format("15:04 -07:00"), "10:20 +02:00");
        assert_eq!(
            layout::parse("2006-01-02", "bad", &Zone::Utc).unwrap_err(),
            "parsing time \"bad\" as \"2006-01-02\": cannot parse \"bad\" as \"2006\""
        );
        assert_eq!(
            layout::parse("2006-01-02", "2024-02-30", &Zone::Utc).unwrap_err(),
            "parsing time \"2024-02-30\": day out of range"
        );
        assert_eq!(
            layout::parse("2006-01-02", "2024-13-01", &Zone::Utc).unwrap_err(),
            "parsing time \"2024-13-01\": month out of range"
        );
        assert_eq!(
            layout::parse("2006", "2024x", &Zone::Utc).unwrap_err(),
            "parsing time \"2024x\": extra text: \"x\""
        );
    }

    #[test]
    fn a_time_survives_the_trip_through_a_template_value() {
        let t = GoTime::new(
            5,
            7,
            Zone::Fixed {
                offset: 3600,
                name: "X Y".into(),
            },
        );
        let back = GoTime::from_value(&t.clone().into_value()).unwrap();
        assert_eq!((back.secs, back.nanos, back.zone), (5, 7, t.zone));
    }

    #[test]
    fn duration_round_uses_the_largest_unit() {
        assert_eq!(duration_round(7_800_000_000_000), "2h");
        assert_eq!(duration_round(-90_000_000_000), "1m");
        assert_eq!(duration_round(86_400_000_000_000 * 400), "1y");
        assert_eq!(duration_round(86_400_000_000_000 * 31), "1mo");
        assert_eq!(duration_round(1_000_000_000), "0s");
    }
}
