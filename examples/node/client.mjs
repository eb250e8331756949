#!/usr/bin/env node
// A minimal marketgate client for Node 20+ (built-in fetch, no dependencies).
//
// It asks marketgate for two things:
//
//   * the current USD price of BTC and ETH   (GET /v1/price)
//   * the last five 1-minute BTC candles      (GET /v1/ohlcv)
//
// and prints a short summary. marketgate picks the provider (Binance,
// CoinGecko, ...), fails over when one is down and caches answers, so this
// script never needs to know which exchange answered: it only reads
// marketgate's envelope.
//
//   MARKETGATE_URL=http://127.0.0.1:8080 node client.mjs
//
// Exit status: 0 when both answers are valid envelopes, 1 otherwise.

// Where marketgate listens. As a sidecar it is on the same host (or pod).
const BASE_URL = (process.env.MARKETGATE_URL || "http://127.0.0.1:8080").replace(/\/+$/, "");

// marketgate answers within its own deadline (5 s by default); leave some slack.
const TIMEOUT_MS = 10_000;

/** GETs one marketgate endpoint. Returns { status, body, headers }; status 0 on a network error. */
async function fetchJson(path, params) {
  const url = `${BASE_URL}${path}?${new URLSearchParams(params)}`;
  let resp;
  try {
    resp = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    // fetch rejects on network errors and timeouts; the reason is in err.cause.
    console.log(`  cannot reach marketgate at ${BASE_URL} (${err.cause?.message ?? err.message}); is MARKETGATE_URL right?`);
    return { status: 0, body: null, headers: new Headers() };
  }
  let body = null;
  try {
    body = await resp.json();
  } catch {
    // not JSON: leave body null
  }
  return { status: resp.status, body, headers: resp.headers };
}

/**
 * Prints marketgate's error envelope:
 *   {"error": {"code": "...", "message": "...", "attempts": [...]}}
 * `attempts` lists every provider marketgate tried (or skipped) and why.
 */
function printError(status, body) {
  if (status === 200) {
    console.log("  HTTP 200 but not a valid envelope (empty data, no meta.provider or a price <= 0)");
    return;
  }
  const err = body && typeof body === "object" ? body.error : null;
  if (!err || typeof err !== "object") {
    console.log(`  HTTP ${status}: not a marketgate answer: ${JSON.stringify(body)?.slice(0, 200)}`);
    return;
  }
  console.log(`  HTTP ${status} ${err.code}: ${err.message}`);
  for (const a of err.attempts ?? []) {
    const detail = a.detail ? ` (${a.detail})` : "";
    console.log(`    - ${a.provider} @ ${a.host ?? "-"}: ${a.outcome} in ${a.ms} ms${detail}`);
  }
}

/** True for a success envelope: non-empty data, meta.provider set, every `field` > 0. */
function validEnvelope(body, field) {
  if (!body || typeof body !== "object") return false;
  const { data, meta } = body;
  if (!Array.isArray(data) || data.length === 0 || !meta || typeof meta !== "object") return false;
  if (!meta.provider) return false;
  return data.every((row) => row && typeof row[field] === "number" && row[field] > 0);
}

/** One line about who answered and whether it came from the cache. */
function describeMeta(meta, headers) {
  // The same facts are in the headers x-marketgate-provider / x-marketgate-cache.
  const cache = headers.get("x-marketgate-cache") ?? "-";
  let line = `provider=${meta.provider} host=${meta.host} cache=${cache} attempts=${meta.attempts}`;
  if (meta.stale) {
    // Every provider failed, and marketgate served its last good answer.
    line += ` STALE (age ${meta.age_ms} ms)`;
  }
  // `tried` (only present after a failover) lists the attempts that failed or
  // were skipped before this answer.
  const tried = meta.tried ?? [];
  if (tried.length) {
    line += `\n  failed over after: ${tried.map((a) => `${a.provider} ${a.outcome}`).join(", ")}`;
  }
  return line;
}

const fmt = (n) => n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

async function checkPrice() {
  console.log(`GET ${BASE_URL}/v1/price?symbols=BTC,ETH&vs=USD`);
  const { status, body, headers } = await fetchJson("/v1/price", { symbols: "BTC,ETH", vs: "USD" });
  if (status !== 200 || !validEnvelope(body, "price")) {
    if (status) printError(status, body);
    return false;
  }
  for (const row of body.data) {
    console.log(`  ${row.symbol.padStart(5)}/${row.vs}: ${fmt(row.price)}`);
  }
  const missing = body.meta.missing ?? [];
  if (missing.length) {
    // Symbols no provider could price; the others are still answered.
    console.log(`  missing: ${missing.join(", ")}`);
  }
  console.log(`  ${describeMeta(body.meta, headers)}`);
  return true;
}

async function checkOhlcv() {
  console.log(`GET ${BASE_URL}/v1/ohlcv?symbol=BTC&interval=1m&limit=5`);
  const { status, body, headers } = await fetchJson("/v1/ohlcv", { symbol: "BTC", interval: "1m", limit: "5" });
  if (status !== 200 || !validEnvelope(body, "close")) {
    if (status) printError(status, body);
    return false;
  }
  const candles = body.data; // oldest first; ts is the candle's open time in ms
  const last = candles[candles.length - 1];
  console.log(`  ${candles.length} candles, last close ${fmt(last.close)} (open time ${last.ts} ms)`);
  console.log(`  ${describeMeta(body.meta, headers)}`);
  return true;
}

const priceOk = await checkPrice();
const ohlcvOk = await checkOhlcv();
const ok = priceOk && ohlcvOk;
console.log(ok ? "OK" : "FAILED");
process.exitCode = ok ? 0 : 1;
