#!/usr/bin/env python3
"""The reference for tests/derived.rs: TA-Lib (the C library most charting tools and
trading libraries agree with, through its official Python package) run on candles.

stdin:  {"candles": [[ts, open, high, low, close, volume], ...] oldest first,
         "shown": N}
stdout: {"ts": [...], field: [...]} for the last N candles, NaN as null, with the
        fields of sma:20, ema:20, rsi:14, macd:12:26:9, bbands:20:2, atr:14 computed
        over every candle given and vwap over the last N only (anchored at the first
        candle shown).

Needs `pip install TA-Lib==0.8.2` (scripts/test.sh installs it; VWAP needs >= 0.8).
"""

import json
import math
import sys

import numpy as np
import talib


def column(values):
    return [None if math.isnan(v) else float(v) for v in values]


def main():
    req = json.load(sys.stdin)
    candles = req["candles"]
    n = req["shown"]
    ts = [c[0] for c in candles]
    o, h, l, c, v = (np.asarray([row[i] for row in candles], dtype=np.float64) for i in range(1, 6))
    macd, signal, hist = talib.MACD(c, fastperiod=12, slowperiod=26, signalperiod=9)
    upper, middle, lower = talib.BBANDS(c, timeperiod=20, nbdevup=2.0, nbdevdn=2.0, matype=0)
    out = {
        "sma_20": talib.SMA(c, timeperiod=20),
        "ema_20": talib.EMA(c, timeperiod=20),
        "rsi_14": talib.RSI(c, timeperiod=14),
        "macd": macd,
        "macd_signal": signal,
        "macd_hist": hist,
        "bb_upper": upper,
        "bb_middle": middle,
        "bb_lower": lower,
        "atr_14": talib.ATR(h, l, c, timeperiod=14),
    }
    result = {name: column(values[-n:]) for name, values in out.items()}
    result["vwap"] = column(talib.VWAP(h[-n:], l[-n:], c[-n:], v[-n:]))
    result["ts"] = ts[-n:]
    result["talib"] = talib.__version__
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
