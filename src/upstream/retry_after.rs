//! `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3), pure.

use std::time::{Duration, SystemTime};

use crate::bench::MAX_BENCH;

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
        assert_eq!(parse("86400", now), Some(Duration::from_secs(86_400)), "a one-day ban is honoured whole");
        assert_eq!(parse("259200", now), Some(MAX_BENCH));
        assert_eq!(parse("9999999", now), Some(MAX_BENCH), "capped at Binance's longest ban");
    }
}
