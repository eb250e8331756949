//! Indicator arithmetic over one series, oldest first. Every function returns one value
//! per input point, `None` until its window is full, with the conventions TA-Lib uses
//! (so results compare with the reference most people check against):
//!
//! * EMA is seeded with the SMA of its first `n` points, then `e += k * (x - e)`,
//!   `k = 2 / (n + 1)`.
//! * RSI and ATR are Wilder's: seeded with the mean of the first `n` changes (true
//!   ranges), then `avg = (avg * (n - 1) + x) / n`; RSI of a flat series is 0.
//! * MACD's fast EMA is seeded where the slow one is (both start at point `slow - 1`),
//!   its signal is an EMA of the MACD line, and all three outputs start together at
//!   point `slow + signal - 2`.
//! * Bollinger bands use the population standard deviation around the SMA.
//! * VWAP is cumulative from the first point: `sum(tp * v) / sum(v)`, `tp = (h + l + c) / 3`.

/// Simple moving average.
pub fn sma(x: &[f64], n: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; x.len()];
    if n == 0 || x.len() < n {
        return out;
    }
    let mut sum: f64 = x[..n].iter().sum();
    out[n - 1] = Some(sum / n as f64);
    for i in n..x.len() {
        sum += x[i] - x[i - n];
        out[i] = Some(sum / n as f64);
    }
    out
}

/// Exponential moving average seeded with the SMA of the points from `start`
/// (`x[start..start + n]`); values before `start + n - 1` are `None`.
fn ema_from(x: &[f64], n: usize, start: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; x.len()];
    if n == 0 || x.len() < start + n {
        return out;
    }
    let k = 2.0 / (n as f64 + 1.0);
    let mut e = x[start..start + n].iter().sum::<f64>() / n as f64;
    out[start + n - 1] = Some(e);
    for i in start + n..x.len() {
        e += k * (x[i] - e);
        out[i] = Some(e);
    }
    out
}

/// Exponential moving average.
pub fn ema(x: &[f64], n: usize) -> Vec<Option<f64>> {
    ema_from(x, n, 0)
}

/// Wilder's relative strength index.
pub fn rsi(x: &[f64], n: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; x.len()];
    if n == 0 || x.len() <= n {
        return out;
    }
    let (mut gain, mut loss) = (0.0, 0.0);
    for i in 1..=n {
        let d = x[i] - x[i - 1];
        if d > 0.0 { gain += d } else { loss -= d }
    }
    let nf = n as f64;
    let (mut ag, mut al) = (gain / nf, loss / nf);
    let value = |ag: f64, al: f64| if ag + al == 0.0 { 0.0 } else { 100.0 * ag / (ag + al) };
    out[n] = Some(value(ag, al));
    for i in n + 1..x.len() {
        let d = x[i] - x[i - 1];
        ag = (ag * (nf - 1.0) + d.max(0.0)) / nf;
        al = (al * (nf - 1.0) + (-d).max(0.0)) / nf;
        out[i] = Some(value(ag, al));
    }
    out
}

/// MACD line, signal and histogram.
pub struct Macd {
    /// Fast EMA minus slow EMA.
    pub line: Vec<Option<f64>>,
    /// EMA of the line.
    pub signal: Vec<Option<f64>>,
    /// Line minus signal.
    pub hist: Vec<Option<f64>>,
}

/// MACD (`fast < slow`).
pub fn macd(x: &[f64], fast: usize, slow: usize, signal: usize) -> Macd {
    let len = x.len();
    let none = || vec![None; len];
    if fast == 0 || slow <= fast || signal == 0 || len < slow + signal - 1 {
        return Macd { line: none(), signal: none(), hist: none() };
    }
    let slow_ema = ema_from(x, slow, 0);
    let fast_ema = ema_from(x, fast, slow - fast);
    let raw: Vec<f64> = (slow - 1..len).map(|i| fast_ema[i].unwrap_or(0.0) - slow_ema[i].unwrap_or(0.0)).collect();
    let sig = ema_from(&raw, signal, 0);
    let first = slow + signal - 2;
    let mut m = Macd { line: none(), signal: none(), hist: none() };
    for i in first..len {
        let (l, s) = (raw[i - (slow - 1)], sig[i - (slow - 1)]);
        m.line[i] = Some(l);
        m.signal[i] = s;
        m.hist[i] = s.map(|s| l - s);
    }
    m
}

/// Bollinger bands.
pub struct Bands {
    /// Middle + k standard deviations.
    pub upper: Vec<Option<f64>>,
    /// The SMA.
    pub middle: Vec<Option<f64>>,
    /// Middle − k standard deviations.
    pub lower: Vec<Option<f64>>,
}

/// Bollinger bands of `n` points, `k` population standard deviations wide.
pub fn bbands(x: &[f64], n: usize, k: f64) -> Bands {
    let middle = sma(x, n);
    let mut upper = vec![None; x.len()];
    let mut lower = vec![None; x.len()];
    for (i, m) in middle.iter().enumerate() {
        let Some(m) = *m else { continue };
        let window = &x[i + 1 - n..=i];
        let var = window.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n as f64;
        let sd = var.max(0.0).sqrt();
        upper[i] = Some(m + k * sd);
        lower[i] = Some(m - k * sd);
    }
    Bands { upper, middle, lower }
}

/// Wilder's average true range.
pub fn atr(high: &[f64], low: &[f64], close: &[f64], n: usize) -> Vec<Option<f64>> {
    let len = close.len().min(high.len()).min(low.len());
    let mut out = vec![None; close.len()];
    if n == 0 || len <= n {
        return out;
    }
    let tr = |i: usize| {
        let pc = close[i - 1];
        (high[i] - low[i]).max((high[i] - pc).abs()).max((low[i] - pc).abs())
    };
    let nf = n as f64;
    let mut a = (1..=n).map(tr).sum::<f64>() / nf;
    out[n] = Some(a);
    for (i, slot) in out.iter_mut().enumerate().take(len).skip(n + 1) {
        a = (a * (nf - 1.0) + tr(i)) / nf;
        *slot = Some(a);
    }
    out
}

/// Volume-weighted average typical price, cumulative from the first point; `None`
/// while no volume has traded.
pub fn vwap(high: &[f64], low: &[f64], close: &[f64], volume: &[f64]) -> Vec<Option<f64>> {
    let (mut pv, mut v) = (0.0, 0.0);
    (0..close.len())
        .map(|i| {
            pv += (high[i] + low[i] + close[i]) / 3.0 * volume[i];
            v += volume[i];
            (v > 0.0).then(|| pv / v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn windows_start_where_the_definitions_say() {
        let x: Vec<f64> = (1..=40).map(f64::from).collect();
        let s = sma(&x, 5);
        assert_eq!(s[3], None);
        assert!(close(s[4], 3.0), "mean of 1..=5");
        let e = ema(&x, 5);
        assert!(close(e[4], 3.0), "seeded with the SMA");
        assert!(close(e[5], 3.0 + (6.0 - 3.0) / 3.0), "k = 2/6");
        let r = rsi(&x, 14);
        assert_eq!(r[13], None);
        assert!(close(r[14], 100.0), "only gains");
        let m = macd(&x, 3, 6, 4);
        assert_eq!(m.line[7], None);
        assert!(m.line[8].is_some() && m.signal[8].is_some(), "all three start at slow + signal - 2");
    }

    #[test]
    fn a_flat_series_has_zero_rsi_and_zero_width_bands() {
        let x = vec![5.0; 30];
        assert!(close(rsi(&x, 14)[20], 0.0));
        let b = bbands(&x, 20, 2.0);
        assert!(close(b.upper[25], 5.0) && close(b.lower[25], 5.0));
    }

    #[test]
    fn true_range_counts_gaps_from_the_previous_close() {
        // A gap up: the range from the previous close (10) to the high (20) is 10.
        let (h, l, c) = ([10.0, 20.0, 20.0], [9.0, 19.0, 19.0], [10.0, 19.5, 19.5]);
        assert!(close(atr(&h, &l, &c, 1)[1], 10.0));
        let v = vwap(&h, &l, &c, &[0.0, 2.0, 2.0]);
        assert_eq!(v[0], None, "no volume yet");
        assert!(close(v[1], (20.0 + 19.0 + 19.5) / 3.0));
    }
}
