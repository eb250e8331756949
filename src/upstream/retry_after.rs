//! `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3), pure.

use std::time::{Duration, SystemTime};

/// Used when a 429/418 carries no usable `Retry-After`.
pub const DEFAULT_BENCH: Duration = Duration::from_secs(30);

/// Longest bench honoured (a Binance ban can say days; we re-check after an hour).
pub const MAX_BENCH: Duration = Duration::from_secs(3600);

/// Parses a `Retry-After` value relative to `now`; `None` when it is unusable.
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_BENCH));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO).min(MAX_BENCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_dates_parse() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse("119", now), Some(Duration::from_secs(119)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(42));
        assert_eq!(parse(&date, now), Some(Duration::from_secs(42)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(42));
        assert_eq!(parse(&past, now), Some(Duration::ZERO));
        assert_eq!(parse("soon", now), None);
        assert_eq!(parse("259200", now), Some(MAX_BENCH), "a 3-day ban is re-checked after an hour");
    }
}
