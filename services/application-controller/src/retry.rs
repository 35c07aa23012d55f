//! Retrying a failed sync, as Argo CD does: the operation stays Running
//! with `retryCount` and a "Retrying attempt #N" message, and runs again
//! after `duration × factor^(N-1)`, capped at `maxDuration`. A limit of -1
//! retries forever; defaults are 5 s, ×2, 3 min.

use std::time::Duration;

use caravel_crd::application::RetryStrategy;

pub const DEFAULT_DURATION: Duration = Duration::from_secs(5);
pub const DEFAULT_FACTOR: u32 = 2;
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(180);

/// Parses a Go duration ("5s", "2m", "1m30s", "500ms") or plain seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let n: f64 = number.parse().ok()?;
        let secs = match unit {
            "h" => n * 3600.0,
            "m" => n * 60.0,
            "s" => n,
            "ms" => n / 1000.0,
            "us" | "µs" => n / 1_000_000.0,
            "ns" => n / 1_000_000_000.0,
            _ => return None,
        };
        total += Duration::from_secs_f64(secs);
        rest = next;
    }
    Some(total)
}

/// Whether attempt number `retries_done + 1` may run after a failure.
pub fn should_retry(strategy: Option<&RetryStrategy>, retries_done: i64) -> bool {
    match strategy.and_then(|s| s.limit) {
        Some(limit) if limit < 0 => true,
        Some(limit) => retries_done < limit,
        None => false,
    }
}

/// How long to wait before retry number `retry` (1-based).
pub fn backoff(strategy: Option<&RetryStrategy>, retry: i64) -> Duration {
    let b = strategy.and_then(|s| s.backoff.as_ref());
    let base = b
        .and_then(|b| b.duration.as_deref())
        .and_then(parse_duration)
        .unwrap_or(DEFAULT_DURATION);
    let factor = b
        .and_then(|b| b.factor)
        .and_then(|f| u32::try_from(f).ok())
        .unwrap_or(DEFAULT_FACTOR);
    let max = b
        .and_then(|b| b.max_duration.as_deref())
        .and_then(parse_duration)
        .unwrap_or(DEFAULT_MAX_DURATION);
    let exponent = u32::try_from((retry - 1).max(0))
        .unwrap_or(u32::MAX)
        .min(32);
    let delay = base.saturating_mul(factor.saturating_pow(exponent));
    delay.min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravel_crd::application::Backoff;

    fn strategy(limit: i64, duration: &str, factor: i64, max: &str) -> RetryStrategy {
        RetryStrategy {
            limit: Some(limit),
            backoff: Some(Backoff {
                duration: Some(duration.into()),
                factor: Some(factor),
                max_duration: Some(max.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("3m"), Some(Duration::from_secs(180)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5x"), None);
    }

    #[test]
    fn backoff_grows_by_factor_and_stops_at_the_cap() {
        let s = strategy(5, "5s", 2, "3m");
        let delays: Vec<u64> = (1..=7).map(|n| backoff(Some(&s), n).as_secs()).collect();
        assert_eq!(delays, vec![5, 10, 20, 40, 80, 160, 180]);
    }

    #[test]
    fn missing_backoff_uses_argo_cd_defaults() {
        let s = RetryStrategy {
            limit: Some(3),
            ..Default::default()
        };
        assert_eq!(backoff(Some(&s), 1), Duration::from_secs(5));
        assert_eq!(backoff(Some(&s), 2), Duration::from_secs(10));
        assert_eq!(backoff(None, 30), DEFAULT_MAX_DURATION);
    }

    #[test]
    fn limit_counts_retries_and_minus_one_is_unlimited() {
        let s = strategy(2, "1s", 2, "1m");
        assert!(should_retry(Some(&s), 0));
        assert!(should_retry(Some(&s), 1));
        assert!(!should_retry(Some(&s), 2));
        assert!(should_retry(Some(&strategy(-1, "1s", 2, "1m")), 1000));
        assert!(!should_retry(None, 0));
        assert!(!should_retry(Some(&RetryStrategy::default()), 0));
    }
}
