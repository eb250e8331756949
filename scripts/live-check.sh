#!/usr/bin/env bash
# scripts/live-check.sh — ask every provider of the shipped config once, for real.
#
# Opt-in and manual: it needs internet access and is never run by CI or the tests
# (those only ever talk to mocks on 127.0.0.1). It starts marketgate on the embedded
# default config plus one route per (provider, operation) with that provider alone in
# the pool, calls each route once, and prints a table:
#
#   provider        operation  result
#   binance         price      ok (2 items, 143 ms)
#   coincap         price      key needed (COINCAP_API_KEY)
#   coinpaprika     ohlcv      refused: HTTP 402 ...
#   decrypt         news       schema error: ...
#
# Keys come from the environment as usual (COINGECKO_API_KEY, COINCAP_API_KEY,
# CRYPTOCOMPARE_API_KEY, CRYPTOPANIC_API_KEY); they are never printed. Each provider
# is asked once per operation, a handful of requests in all, well inside every free
# plan. Exit status: 0 when every provider that could be asked answered, 1 otherwise.
#
# Usage: scripts/live-check.sh [--only PROVIDER[,PROVIDER...]] [--binary PATH]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ONLY=""
BIN=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --only) ONLY="$2"; shift 2 ;;
        --binary) BIN="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done

command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 2; }
if [[ -z "$BIN" ]]; then
    BIN="$ROOT/target/release/marketgate"
    if [[ ! -x "$BIN" ]]; then
        echo "[live-check] building marketgate (cargo build --release)..." >&2
        (cd "$ROOT" && cargo build --release --quiet)
    fi
fi

WORK="$(mktemp -d /tmp/marketgate-live-check.XXXXXX)"
MG_PID=""
cleanup() {
    [[ -n "$MG_PID" ]] && kill "$MG_PID" 2>/dev/null && wait "$MG_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT="$(free_port)"
ADMIN="$(free_port)"

"$BIN" print-default-config > "$WORK/default.toml"
# One route per (provider, operation), and the request each one gets.
python3 - "$WORK/default.toml" "$WORK/check.toml" "$WORK/plan.tsv" "$ONLY" <<'PY'
import sys, tomllib
default, out, plan, only = sys.argv[1:5]
cfg = tomllib.load(open(default, "rb"))
only = {p for p in only.split(",") if p}
queries = {
    "price": "symbols=BTC,ETH", "ticker": "symbol=BTC", "orderbook": "symbol=BTC&depth=5",
    "markets": "limit=5", "exchanges": "limit=5", "news": "limit=5", "sentiment": "limit=2",
}
routes, rows = [], []
for name, p in sorted(cfg.get("providers", {}).items()):
    kind = p.get("kind", "rest")
    if kind == "marketgate" or (only and name not in only):
        continue
    ops = ["news"] if kind == "feed" else sorted(p.get("ops", {}))
    for op in ops:
        q = queries.get(op)
        if op == "ohlcv":
            intervals = list(p["ops"][op].get("intervals", {}))
            interval = "1d" if "1d" in intervals or not intervals else intervals[0]
            q = f"symbol=BTC&interval={interval}&limit=5"
        path = f"/check/{name}/{op}"
        routes.append(f'"{path}" = {{ op = "{op}", pool = [["{name}"]], hedge_after = "off" }}')
        rows.append(f"{name}\t{op}\t{path}?{q}")
with open(out, "w") as f:
    # One failure must not hide the next operation's answer behind an open breaker.
    f.write('extends = "default"\n[server]\ndeadline = "10s"\n'
            '[defaults]\nbreaker = { consecutive_failures = 1000 }\n[routes]\n' + "\n".join(routes) + "\n")
with open(plan, "w") as f:
    f.write("\n".join(rows) + "\n")
PY

"$BIN" --config "$WORK/check.toml" --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN" \
    > "$WORK/marketgate.log" 2>&1 &
MG_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$ADMIN/readyz" >/dev/null 2>&1 && break
    kill -0 "$MG_PID" 2>/dev/null || { echo "marketgate did not start:" >&2; cat "$WORK/marketgate.log" >&2; exit 1; }
    sleep 0.1
done

printf '%-16s %-10s %s\n' provider operation result
printf '%-16s %-10s %s\n' -------- --------- ------
FAILED=0
while IFS=$'\t' read -r provider op path; do
    [[ -z "$provider" ]] && continue
    body="$WORK/answer.json"
    meta="$(curl -sS -o "$body" -w '%{http_code} %{time_total}' "http://127.0.0.1:$PORT$path" || echo "000 0")"
    verdict="$(python3 - "$body" $meta <<'PY'
import json, sys
path, status, took = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    v = json.load(open(path))
except Exception:
    print("FAIL no JSON answer (HTTP %d)" % status); sys.exit()
ms = int(took * 1000)
if status == 200:
    d = v.get("data")
    n = len(d) if isinstance(d, list) else 1
    print(f"OK ok ({n} item{'s' if n != 1 else ''}, {ms} ms)"); sys.exit()
err = v.get("error", {})
attempts = err.get("attempts") or [{}]
a = attempts[-1]
outcome, detail = a.get("outcome", err.get("code", "?")), (a.get("detail") or err.get("message", ""))[:140]
if outcome == "disabled" and "API key" in detail:
    var = detail.split("variable ")[-1].split(" ")[0] if "variable " in detail else "its key"
    print(f"SKIP key needed ({var})")
elif "HTTP 401" in detail or "HTTP 403" in detail or "HTTP 402" in detail:
    print(f"FAIL key or plan refused: {detail}")
elif outcome == "bad_body" and "schema" in detail:
    print(f"FAIL schema error: {detail}")
elif outcome == "bad_body":
    print(f"FAIL unexpected body: {detail}")
elif outcome in ("rate_limited", "over_quota"):
    print(f"FAIL {outcome}: {detail}")
else:
    print(f"FAIL {outcome}: {detail} ({ms} ms)")
PY
)"
    case "$verdict" in
        OK*) text="${verdict#OK }" ;;
        SKIP*) text="${verdict#SKIP }" ;;
        *) text="${verdict#FAIL }"; FAILED=$((FAILED + 1)) ;;
    esac
    printf '%-16s %-10s %s\n' "$provider" "$op" "$text"
done < "$WORK/plan.tsv"

echo
if [[ $FAILED -gt 0 ]]; then
    echo "$FAILED provider/operation pair(s) failed. The marketgate log is below (no keys in it)."
    tail -n 20 "$WORK/marketgate.log"
    exit 1
fi
echo "Every provider that could be asked answered in the normalized schema."
