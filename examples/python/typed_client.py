#!/usr/bin/env python3
"""The typed client: the same questions as client.py, asked through
`marketgate_client`, a package generated from marketgate's OpenAPI document
(`scripts/gen-python-client.sh`; `GET /openapi.json` serves the document).
Every answer is a typed model (`GetV1PriceResponse200`, `Price`, `Meta`, ...),
every documented error an `Error`.

    pip install httpx attrs
    MARKETGATE_URL=http://127.0.0.1:8080 python3 examples/python/typed_client.py

It asks for the BTC and ETH prices, five BTC candles, RSI and MACD over them and
the day's largest movers. Exit status: 0 when every answer is valid, 1 otherwise.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from marketgate_client import Client  # noqa: E402
from marketgate_client.api.derived import get_v1_indicators, get_v1_movers  # noqa: E402
from marketgate_client.api.normalized import get_v1_ohlcv, get_v1_price  # noqa: E402
from marketgate_client.models import (  # noqa: E402
    Error,
    GetV1IndicatorsInterval,
    GetV1IndicatorsResponse200,
    GetV1MoversResponse200,
    GetV1OhlcvInterval,
    GetV1OhlcvResponse200,
    GetV1PriceResponse200,
)

BASE_URL = os.environ.get("MARKETGATE_URL", "http://127.0.0.1:8080").rstrip("/")


def failed(what, answer):
    if isinstance(answer, Error):
        print(f"  {what}: {answer.error.code}: {answer.error.message}")
    else:
        print(f"  {what}: no answer ({answer!r})")
    return False


def main():
    client = Client(base_url=BASE_URL, timeout=10.0)
    ok = True

    print(f"GET {BASE_URL}/v1/price?symbols=BTC,ETH")
    price = get_v1_price.sync(client=client, symbols="BTC,ETH")
    if isinstance(price, GetV1PriceResponse200) and price.data and all(p.price > 0 for p in price.data):
        for p in price.data:
            print(f"    {p.symbol}/{p.vs}: {p.price:,.2f}")
        print(f"  provider={price.meta.provider} cached={price.meta.cached}")
    else:
        ok = failed("price", price)

    print(f"GET {BASE_URL}/v1/ohlcv?symbol=BTC&interval=1d&limit=5")
    candles = get_v1_ohlcv.sync(client=client, symbol="BTC", interval=GetV1OhlcvInterval("1d"), limit=5)
    if isinstance(candles, GetV1OhlcvResponse200) and len(candles.data) == 5:
        print(f"  {len(candles.data)} candles, last close {candles.data[-1].close:,.2f}")
    else:
        ok = failed("ohlcv", candles)

    print(f"GET {BASE_URL}/v1/indicators?symbol=BTC&interval=1d&limit=5&indicators=rsi:14,macd")
    ind = get_v1_indicators.sync(
        client=client,
        symbol="BTC",
        interval=GetV1IndicatorsInterval("1d"),
        limit=5,
        indicators="rsi:14,macd",
    )
    if isinstance(ind, GetV1IndicatorsResponse200) and len(ind.data) == 5:
        last = ind.data[-1]
        rsi, macd = last.additional_properties.get("rsi_14"), last.additional_properties.get("macd")
        print(f"  last candle: close {last.close:,.2f}, RSI(14) {rsi:.1f}, MACD {macd:,.2f}")
        ok &= rsi is not None and 0 <= rsi <= 100
    else:
        ok = failed("indicators", ind)

    print(f"GET {BASE_URL}/v1/movers?limit=3")
    movers = get_v1_movers.sync(client=client, limit=3)
    if isinstance(movers, GetV1MoversResponse200):
        up = ", ".join(f"{m.symbol} {m.change_24h_pct:+.2f}%" for m in movers.data.gainers) or "none"
        down = ", ".join(f"{m.symbol} {m.change_24h_pct:+.2f}%" for m in movers.data.losers) or "none"
        print(f"  gainers: {up}; losers: {down}")
    else:
        ok = failed("movers", movers)

    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
