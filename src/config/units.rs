//! Human-friendly units in the config: durations (`"250ms"`, `"2s"`, `"5m"`) and sizes (`"8MiB"`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer};

/// A duration written as a number and a unit: `ms`, `s`, `m` or `h` (`"1.5s"` is allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationStr(pub Duration);

/// A size in bytes written as a number and a unit: `B`, `KB`, `KiB`, `MB`, `MiB`, `GB`, `GiB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeStr(pub u64);

/// Why a duration or size string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {what} {input:?}: expected {expected}")]
pub struct UnitError {
    what: &'static str,
    input: String,
    expected: &'static str,
}

const DURATION_HELP: &str = "a number followed by ms, s, m, h or d, like \"250ms\" or \"30s\"";
const SIZE_HELP: &str = "a number followed by B, KB, KiB, MB, MiB, GB or GiB, like \"8MiB\"";

/// Parses `"250ms"`, `"2s"`, `"1.5s"`, `"5m"`, `"1h"`, `"1d"`.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    let err = || UnitError { what: "duration", input: input.to_owned(), expected: DURATION_HELP };
    let (number, unit) = split_number(input.trim()).ok_or_else(err)?;
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(err()),
    };
    let secs = number * scale;
    if !secs.is_finite() || !(0.0..=1.0e9).contains(&secs) {
        return Err(err());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `"512B"`, `"64KiB"`, `"8MiB"`, `"1GB"`.
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    let err = || UnitError { what: "size", input: input.to_owned(), expected: SIZE_HELP };
    let (number, unit) = split_number(input.trim()).ok_or_else(err)?;
    let scale: f64 = match unit {
        "B" => 1.0,
        "KB" => 1e3,
        "KiB" => 1024.0,
        "MB" => 1e6,
        "MiB" => 1024.0 * 1024.0,
        "GB" => 1e9,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(err()),
    };
    let bytes = number * scale;
    if !bytes.is_finite() || !(0.0..=1.0e15).contains(&bytes) {
        return Err(err());
    }
    Ok(bytes.round() as u64)
}

/// Splits `"1.5s"` into `(1.5, "s")`; `None` when there is no leading number.
fn split_number(s: &str) -> Option<(f64, &str)> {
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let number: f64 = s[..end].parse().ok()?;
    Some((number, s[end..].trim()))
}

/// Formats a duration the way the config writes it (used in summaries and the admin view).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(86_400_000) && ms > 0 {
        format!("{}d", ms / 86_400_000)
    } else if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

// === impl DurationStr ===

impl<'de> Deserialize<'de> for DurationStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map(DurationStr).map_err(de::Error::custom)
    }
}

impl fmt::Display for DurationStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

// === impl SizeStr ===

impl<'de> Deserialize<'de> for SizeStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_size(&s).map(SizeStr).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn bad_durations_say_what_is_expected() {
        for bad in ["", "2", "s", "2x", "-1s", "1e3s", "2 days"] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.to_string().contains("ms, s, m, h or d"), "{err}");
        }
    }

    #[test]
    fn sizes_parse_binary_and_decimal_units() {
        assert_eq!(parse_size("8MiB"), Ok(8 * 1024 * 1024));
        assert_eq!(parse_size("1KB"), Ok(1000));
        assert_eq!(parse_size("512B"), Ok(512));
        assert!(parse_size("8mb").is_err());
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn durations_format_back_compactly() {
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }
}
