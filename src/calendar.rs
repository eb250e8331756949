//! Civil (proleptic Gregorian, UTC) dates from Unix time and back, for date template
//! variables and calendar-month credit windows. Howard Hinnant's algorithms.

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// `(year, month 1-12, day 1-31)` of the UTC day containing `unix_s`.
pub fn civil(unix_s: i64) -> (i64, u32, u32) {
    let days = unix_s.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as u32, d as u32)
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of `unix_s`.
pub fn date(unix_s: i64) -> String {
    let (y, m, d) = civil(unix_s);
    format!("{y:04}-{m:02}-{d:02}")
}

/// RFC 3339 UTC with milliseconds: `2026-12-07T01:18:50.123Z`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let rem = secs.rem_euclid(86_400);
    format!("{}T{:02}:{:02}:{:02}.{:03}Z", date(secs), rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_millis())
}

/// Months since January 1970 of the month containing `unix_ms`.
pub fn month_index(unix_ms: u64) -> u64 {
    let (y, m, _) = civil((unix_ms / 1000) as i64);
    ((y - 1970) * 12 + i64::from(m) - 1).max(0) as u64
}

/// Unix ms at which month number `index` (see [`month_index`]) starts.
pub fn month_start_ms(index: u64) -> u64 {
    let y = 1970 + (index / 12) as i64;
    let m = (index % 12) as u32 + 1;
    (days_from_civil(y, m, 1).max(0) as u64) * 86_400_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_546_300_800), "2019-01-01");
        assert_eq!(date(1_790_294_400), "2026-09-25");
        assert_eq!(date(951_782_400), "2000-02-29");
        for s in [0_i64, 951_782_400, 1_546_300_800, 1_790_294_400, 4_102_444_800] {
            let (y, m, d) = civil(s);
            assert_eq!(days_from_civil(y, m, d), s / 86_400);
        }
    }

    #[test]
    fn months_start_on_the_first_at_midnight_utc() {
        let nov_27_2026 = 1_795_780_800_000; // 2026-11-27T12:00:00Z
        let i = month_index(nov_27_2026);
        assert_eq!(date((month_start_ms(i) / 1000) as i64), "2026-11-01");
        assert_eq!(date((month_start_ms(i + 1) / 1000) as i64), "2026-12-01");
        assert_eq!(date((month_start_ms(i + 2) / 1000) as i64), "2027-01-01");
        assert_eq!(month_index(month_start_ms(i + 1) - 1), i, "the last ms of November");
    }
}
