#!/usr/bin/env python3
"""A minimal marketgate client.

It asks marketgate for two things:

  * the current USD price of BTC and ETH   (GET /v1/price)
  * the last five 1-minute BTC candles      (GET /v1/ohlcv)

and prints a short summary. marketgate picks the provider (Binance, CoinGecko,
...), fails over when one is down and caches answers, so this script never
needs to know which exchange answered: it only reads marketgate's envelope.

    pip install requests
    MARKETGATE_URL=http://127.0.0.1:8080 python3 client.py

Exit status: 0 when both answers are valid envelopes, 1 otherwise. That makes
the script usable as a smoke test (CI, a readiness check, a cron job).
"""

import os
import sys

try:
    import requests
except ImportError:  # keep the error readable for newcomers
    sys.exit("this example needs the 'requests' package: pip install requests")

# Where marketgate listens. As a sidecar it is on the same host (or pod).
BASE_URL = os.environ.get("MARKETGATE_URL", "http://127.0.0.1:8080").rstrip("/")

# marketgate answers within its own deadline (5 s by default); leave some slack.
TIMEOUT_SECONDS = 10


def fetch(path, params):
    """GETs one marketgate endpoint.

    Returns (status, body, headers); body is the decoded JSON or None. Network
    errors are reported and returned as status 0.
    """
    url = BASE_URL + path
    try:
        resp = requests.get(url, params=params, timeout=TIMEOUT_SECONDS)
    except requests.ConnectionError:
        print(f"  cannot reach marketgate at {BASE_URL} (is it running? is MARKETGATE_URL right?)")
        return 0, None, {}
    except requests.RequestException as exc:
        print(f"  request to {url} failed: {type(exc).__name__}: {exc}")
        return 0, None, {}
    try:
        body = resp.json()
    except ValueError:
        body = None
    return resp.status_code, body, resp.headers


def print_error(status, body):
    """Prints marketgate's error envelope:

    {"error": {"code": "...", "message": "...", "attempts": [...]}}

    `attempts` lists every provider marketgate tried (or skipped) and why, so
    a failure explains itself without reading marketgate's logs.
    """
    if status == 200:
        print("  HTTP 200 but not a valid envelope (empty data, no meta.provider or a price <= 0)")
        return
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        print(f"  HTTP {status}: not a marketgate answer: {str(body)[:200]}")
        return
    print(f"  HTTP {status} {err.get('code')}: {err.get('message')}")
    for a in err.get("attempts") or []:
        host = a.get("host") or "-"
        detail = f" ({a['detail']})" if a.get("detail") else ""
        print(f"    - {a.get('provider')} @ {host}: {a.get('outcome')} in {a.get('ms')} ms{detail}")


def valid_envelope(body, number_field):
    """True when body is a success envelope worth trusting:

    non-empty `data`, `meta.provider` set and every `number_field` > 0.
    """
    if not isinstance(body, dict):
        return False
    data, meta = body.get("data"), body.get("meta")
    if not isinstance(data, list) or not data or not isinstance(meta, dict):
        return False
    if not meta.get("provider"):
        return False
    for row in data:
        value = row.get(number_field) if isinstance(row, dict) else None
        # bool is an int subclass in Python: rule it out explicitly.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            return False
    return True


def describe_meta(meta, headers):
    """One line about who answered and whether it came from the cache."""
    # The same facts are in the headers x-marketgate-provider / x-marketgate-cache.
    cache = headers.get("x-marketgate-cache", "-")
    line = f"provider={meta.get('provider')} host={meta.get('host')} cache={cache} attempts={meta.get('attempts')}"
    if meta.get("stale"):
        # Every provider failed, and marketgate served its last good answer.
        line += f" STALE (age {meta.get('age_ms')} ms)"
    # `tried` (only present after a failover) lists the attempts that failed
    # or were skipped before this answer.
    tried = meta.get("tried") or []
    if tried:
        line += "\n  failed over after: " + ", ".join(f"{a.get('provider')} {a.get('outcome')}" for a in tried)
    return line


def check_price():
    print(f"GET {BASE_URL}/v1/price?symbols=BTC,ETH&vs=USD")
    status, body, headers = fetch("/v1/price", {"symbols": "BTC,ETH", "vs": "USD"})
    if status != 200 or not valid_envelope(body, "price"):
        if status:
            print_error(status, body)
        return False
    for row in body["data"]:
        print(f"  {row['symbol']:>5}/{row['vs']}: {row['price']:,.2f}")
    missing = body["meta"].get("missing") or []
    if missing:
        # Symbols no provider could price; the others are still answered.
        print(f"  missing: {', '.join(missing)}")
    print("  " + describe_meta(body["meta"], headers))
    return True


def check_ohlcv():
    print(f"GET {BASE_URL}/v1/ohlcv?symbol=BTC&interval=1m&limit=5")
    status, body, headers = fetch("/v1/ohlcv", {"symbol": "BTC", "interval": "1m", "limit": 5})
    if status != 200 or not valid_envelope(body, "close"):
        if status:
            print_error(status, body)
        return False
    candles = body["data"]  # oldest first; ts is the candle's open time in ms
    last = candles[-1]
    print(f"  {len(candles)} candles, last close {last['close']:,.2f} (open time {last['ts']} ms)")
    print("  " + describe_meta(body["meta"], headers))
    return True


def main():
    price_ok = check_price()
    ohlcv_ok = check_ohlcv()
    ok = price_ok and ohlcv_ok
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
