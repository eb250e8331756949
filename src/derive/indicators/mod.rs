//! `/v1/indicators`: technical indicators computed here from the normalized candles
//! of whichever provider answers. The `indicators` parameter lists them
//! (`sma:20,ema:20,rsi:14,macd:12:26:9,bbands:20:2,atr:14,vwap`); enough extra candles
//! are fetched that the seeds of the recursive ones (EMA, RSI, ATR, MACD) no longer show
//! in the answer, and every value is `null` while its window is not full.

pub mod calc;

use std::sync::Arc;

use crate::normalize::params::ParamError;
use crate::normalize::schema::Candle;
use crate::normalize::schema::derived::{Row, Table};

/// The parameter's name.
pub const PARAM: &str = "indicators";

/// Indicators when the parameter is absent.
pub const DEFAULT: &str = "sma:20,ema:20,rsi:14,macd:12:26:9,bbands:20:2,atr:14,vwap";

/// Longest period any indicator may ask for.
pub const MAX_PERIOD: usize = 500;

/// Most indicators in one request.
pub const MAX_INDICATORS: usize = 12;

/// Extra candles per period of an EMA: after 10 periods its seed weighs under e^-18.
const EMA_FADE: usize = 10;

/// Extra candles per period of a Wilder average (RSI, ATR), which forgets more slowly:
/// after 20 periods its seed weighs under e^-20.
const WILDER_FADE: usize = 20;

/// One requested indicator.
#[derive(Debug, Clone, PartialEq)]
pub enum Indicator {
    /// `sma:N`
    Sma(usize),
    /// `ema:N`
    Ema(usize),
    /// `rsi:N`
    Rsi(usize),
    /// `macd:FAST:SLOW:SIGNAL`
    Macd(usize, usize, usize),
    /// `bbands:N:K`
    Bbands(usize, f64),
    /// `atr:N`
    Atr(usize),
    /// `vwap`
    Vwap,
}

/// A validated `indicators` parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// In the order asked.
    pub list: Vec<Indicator>,
    /// Output field names, in order.
    pub fields: Arc<[String]>,
}

/// What each accepted name takes (error messages, the OpenAPI document).
pub const KNOWN: &str = "sma:N, ema:N, rsi:N, macd:FAST:SLOW:SIGNAL, bbands:N:K, atr:N, vwap";

// === impl Spec ===

impl Spec {
    /// Parses the parameter (absent: [`DEFAULT`]).
    pub fn parse(raw: Option<&str>) -> Result<Self, ParamError> {
        let raw = raw.unwrap_or(DEFAULT);
        let err = |message: String| ParamError { param: PARAM.to_owned(), message };
        let items: Vec<&str> = raw.split(',').map(str::trim).collect();
        if items.iter().any(|i| i.is_empty()) {
            return Err(err(format!("an empty item in {raw:?}; expected a comma-separated list of {KNOWN}")));
        }
        if items.len() > MAX_INDICATORS {
            return Err(err(format!("at most {MAX_INDICATORS} indicators, got {}", items.len())));
        }
        let mut list = Vec::new();
        let mut fields: Vec<String> = Vec::new();
        for item in items {
            let ind = indicator(item).map_err(|m| err(format!("{item:?}: {m}")))?;
            for f in ind.fields() {
                if fields.contains(&f) {
                    return Err(err(format!("{item:?}: field {f} is already asked for")));
                }
                fields.push(f);
            }
            list.push(ind);
        }
        Ok(Self { list, fields: fields.into() })
    }

    /// Candles needed before the first one shown so that no window is short and no
    /// seed shows.
    pub fn warmup(&self) -> usize {
        self.list.iter().map(Indicator::warmup).max().unwrap_or(0)
    }

    /// The canonical text (cache keys).
    pub fn key(&self) -> String {
        self.fields.join(",")
            + "|"
            + &self
                .list
                .iter()
                .map(|i| match i {
                    Indicator::Bbands(n, k) => format!("bb{n}:{k}"),
                    Indicator::Macd(f, s, g) => format!("macd{f}:{s}:{g}"),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join(",")
    }

    /// The rows of the last `limit` candles with every indicator, computed over all
    /// of `candles` (oldest first); VWAP is anchored at the first row shown.
    pub fn compute(&self, candles: &[Candle], limit: usize) -> Table {
        let close: Vec<f64> = candles.iter().map(|c| c.close).collect();
        let high: Vec<f64> = candles.iter().map(|c| c.high).collect();
        let low: Vec<f64> = candles.iter().map(|c| c.low).collect();
        let skip = candles.len().saturating_sub(limit);
        let mut columns: Vec<Vec<Option<f64>>> = Vec::with_capacity(self.fields.len());
        for ind in &self.list {
            match *ind {
                Indicator::Sma(n) => columns.push(calc::sma(&close, n)),
                Indicator::Ema(n) => columns.push(calc::ema(&close, n)),
                Indicator::Rsi(n) => columns.push(calc::rsi(&close, n)),
                Indicator::Atr(n) => columns.push(calc::atr(&high, &low, &close, n)),
                Indicator::Macd(f, s, g) => {
                    let m = calc::macd(&close, f, s, g);
                    columns.extend([m.line, m.signal, m.hist]);
                }
                Indicator::Bbands(n, k) => {
                    let b = calc::bbands(&close, n, k);
                    columns.extend([b.upper, b.middle, b.lower]);
                }
                Indicator::Vwap => {
                    let shown = &candles[skip..];
                    let volume: Option<Vec<f64>> = shown.iter().map(|c| c.volume).collect();
                    let mut column = vec![None; skip];
                    match volume {
                        Some(v) => column.extend(calc::vwap(&high[skip..], &low[skip..], &close[skip..], &v)),
                        // A provider without volumes: no VWAP.
                        None => column.resize(candles.len(), None),
                    }
                    columns.push(column);
                }
            }
        }
        let rows = (skip..candles.len())
            .map(|i| Row {
                ts: candles[i].ts,
                close: candles[i].close,
                values: columns.iter().map(|c| c[i].filter(|v| v.is_finite())).collect(),
            })
            .collect();
        Table { fields: Arc::clone(&self.fields), rows }
    }
}

fn indicator(item: &str) -> Result<Indicator, String> {
    let mut parts = item.split(':');
    let name = parts.next().unwrap_or_default().to_owned();
    let args: Vec<&str> = parts.collect();
    let want = |n: usize, what: &str| {
        if args.len() > n { Err(format!("takes at most {n} parameter(s) ({what})")) } else { Ok(()) }
    };
    let period = |i: usize, default: usize, min: usize| -> Result<usize, String> {
        match args.get(i) {
            None => Ok(default),
            Some(a) => match a.parse::<usize>() {
                Ok(n) if digits(a, 3) && (min..=MAX_PERIOD).contains(&n) => Ok(n),
                _ => Err(format!("period {a:?} must be a whole number from {min} to {MAX_PERIOD}")),
            },
        }
    };
    match name.as_str() {
        "sma" => want(1, "sma:N").and(Ok(Indicator::Sma(period(0, 20, 1)?))),
        "ema" => want(1, "ema:N").and(Ok(Indicator::Ema(period(0, 20, 1)?))),
        "rsi" => want(1, "rsi:N").and(Ok(Indicator::Rsi(period(0, 14, 2)?))),
        "atr" => want(1, "atr:N").and(Ok(Indicator::Atr(period(0, 14, 1)?))),
        "vwap" => want(0, "vwap").and(Ok(Indicator::Vwap)),
        "macd" => {
            want(3, "macd:FAST:SLOW:SIGNAL")?;
            let (f, s, g) = (period(0, 12, 2)?, period(1, 26, 2)?, period(2, 9, 1)?);
            if f >= s {
                return Err(format!("the fast period ({f}) must be shorter than the slow one ({s})"));
            }
            Ok(Indicator::Macd(f, s, g))
        }
        "bbands" => {
            want(2, "bbands:N:K")?;
            let n = period(0, 20, 2)?;
            let k = match args.get(1) {
                None => 2.0,
                Some(a) => match a.parse::<f64>() {
                    Ok(k) if decimal(a) && k > 0.0 && k <= 10.0 => k,
                    _ => return Err(format!("width {a:?} must be a number above 0 and at most 10")),
                },
            };
            Ok(Indicator::Bbands(n, k))
        }
        _ => Err(format!("unknown indicator; known: {KNOWN}")),
    }
}

/// Up to `most` digits: `20`, never `+20` or `2e1` (as the OpenAPI pattern says).
fn digits(s: &str, most: usize) -> bool {
    (1..=most).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// `2` or `2.5` (up to 2 + 6 digits), never `2e0`, `.5` or `inf`.
fn decimal(s: &str) -> bool {
    let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
    digits(whole, 2) && digits(frac, 6)
}

// === impl Indicator ===

impl Indicator {
    /// Output field names.
    pub fn fields(&self) -> Vec<String> {
        match self {
            Self::Sma(n) => vec![format!("sma_{n}")],
            Self::Ema(n) => vec![format!("ema_{n}")],
            Self::Rsi(n) => vec![format!("rsi_{n}")],
            Self::Atr(n) => vec![format!("atr_{n}")],
            Self::Vwap => vec!["vwap".to_owned()],
            Self::Macd(..) => ["macd", "macd_signal", "macd_hist"].map(String::from).to_vec(),
            Self::Bbands(..) => ["bb_upper", "bb_middle", "bb_lower"].map(String::from).to_vec(),
        }
    }

    fn warmup(&self) -> usize {
        match *self {
            Self::Sma(n) | Self::Bbands(n, _) => n - 1,
            Self::Ema(n) => n + EMA_FADE * n,
            Self::Rsi(n) | Self::Atr(n) => n + WILDER_FADE * n,
            Self::Macd(_, s, g) => s + g + EMA_FADE * (s + g),
            Self::Vwap => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_list_names_the_documented_fields() {
        let s = Spec::parse(None).expect("default");
        let want = [
            "sma_20",
            "ema_20",
            "rsi_14",
            "macd",
            "macd_signal",
            "macd_hist",
            "bb_upper",
            "bb_middle",
            "bb_lower",
            "atr_14",
            "vwap",
        ];
        assert_eq!(&*s.fields, want.map(String::from).as_slice());
        assert_eq!(s.warmup(), 35 + 10 * 35, "MACD's signal needs the most history");
    }

    #[test]
    fn a_bad_item_is_named_in_the_error() {
        for (raw, says) in [
            ("sma:20,foo", "\"foo\": unknown indicator"),
            ("rsi:1", "\"rsi:1\": period \"1\" must be a whole number from 2 to 500"),
            ("sma:abc", "period \"abc\""),
            ("macd:26:12:9", "must be shorter"),
            ("bbands:20:0", "width \"0\""),
            ("bbands:20:2e0", "width \"2e0\""),
            ("sma:+20", "period \"+20\""),
            ("sma:0020", "period \"0020\""),
            ("vwap:3", "takes at most 0"),
            ("sma:20,,ema", "an empty item"),
            ("sma:20,sma:20", "sma_20 is already asked for"),
        ] {
            let e = Spec::parse(Some(raw)).expect_err(raw);
            assert_eq!(e.param, "indicators");
            assert!(e.message.contains(says), "{raw}: {}", e.message);
        }
    }
}
