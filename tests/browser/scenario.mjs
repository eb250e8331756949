// Sets up the dashboard scenario and runs dashboard.mjs against it:
//   mock upstreams (one always 200, two always 500 for price, one always 500 for ticker),
//   a marketgate config on free loopback ports, the marketgate binary, 8 warm-up price
//   requests so `bad` is down, then `node dashboard.mjs` with ADMIN_URL, CLIENT_URL, DOWN=bad,
//   HEALTHY=good, FLIP=flaky, FLIP_PATH=/v1/ticker?symbol=BTC.
//
// Usage: node tests/browser/scenario.mjs [path/to/marketgate]   (or env MARKETGATE)
// Env passed through: CHROMIUM, SCREENSHOT (default target/dashboard.png).
// Exit code: dashboard.mjs's, or 1 when the scenario cannot be set up.

import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const BIN = resolve(process.argv[2] || process.env.MARKETGATE || 'target/debug/marketgate');
const children = [];
const servers = [];
let dir = null;

function log(msg) {
  console.log(`[scenario] ${msg}`);
}

async function shutdown() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  for (const s of servers) s.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}

const hard = setTimeout(async () => {
  console.error('[scenario] FAIL: timed out after 120 s');
  await shutdown();
  process.exit(1);
}, 120_000);
hard.unref();

function mock(status) {
  return new Promise((res) => {
    const s = http.createServer((req, resp) => {
      resp.writeHead(status, { 'content-type': 'application/json' });
      resp.end(status === 200 ? '{"ok":true}' : '{"error":"mock failure"}');
    });
    servers.push(s);
    s.listen(0, '127.0.0.1', () => res(s.address().port));
  });
}

function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function waitReady(url, ms) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > end) throw new Error(`${url} not ready after ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function main() {
  const [good, bad1, bad2, flaky, keyed] = await Promise.all([mock(200), mock(500), mock(500), mock(500), mock(200)]);
  const client = await freePort();
  const admin = await freePort();
  dir = mkdtempSync(join(tmpdir(), 'mg-scenario-'));
  const cfg = join(dir, 'marketgate.toml');
  writeFileSync(
    cfg,
    `[server]
listen = "127.0.0.1:${client}"
admin_listen = "127.0.0.1:${admin}"
[defaults]
breaker = { consecutive_failures = 3, open_for = "60s" }
[admin]
history_interval = "1s"
[assets]
BTC = { name = "Bitcoin" }
[providers.good]
hosts = ["http://127.0.0.1:${good}"]
symbols = { format = "{BASE}" }
[providers.good.ops.price]
request = { path = "/price" }
response = '[{symbol: "BTC", vs: $vs, price: 42000, ts: $now}]'
[providers.bad]
hosts = ["http://127.0.0.1:${bad1}", "http://127.0.0.1:${bad2}"]
symbols = { format = "{BASE}" }
[providers.bad.ops.price]
request = { path = "/price" }
response = '[{symbol: "BTC", vs: $vs, price: 42000, ts: $now}]'
[providers.flaky]
hosts = ["http://127.0.0.1:${flaky}"]
symbols = { format = "{BASE}" }
[providers.flaky.ops.ticker]
request = { path = "/ticker" }
response = '{symbol: "BTC", vs: $vs, last: 1, open: null, high: null, low: null, change_pct: null, volume: null, quote_volume: null, ts: $now}'
[providers.keyed]
hosts = ["http://127.0.0.1:${keyed}"]
auth = { env = "MG_SCENARIO_UNSET_KEY", required = true, header = "authorization", value = "Bearer {key}" }
[routes]
"/v1/price" = { op = "price", pool = [["bad"], ["good"]] }
"/v1/ticker" = { op = "ticker", pool = [["flaky"]] }
"/raw/{provider}/{*path}" = { passthrough = "*" }
`,
  );

  const env = { ...process.env };
  delete env.MG_SCENARIO_UNSET_KEY;
  const mg = spawn(BIN, ['--config', cfg], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(mg);
  let mgErr = '';
  mg.stderr.on('data', (d) => {
    mgErr = (mgErr + d).slice(-4000);
  });
  mg.on('error', (e) => {
    mgErr += `\nspawn ${BIN}: ${e.message}`;
  });
  try {
    await waitReady(`http://127.0.0.1:${admin}/readyz`, 20_000);
  } catch (e) {
    throw new Error(`${e.message}; marketgate said:\n${mgErr}`);
  }
  log(`marketgate ${BIN} ready: client 127.0.0.1:${client}, admin 127.0.0.1:${admin}`);

  for (let i = 0; i < 8; i++) {
    const r = await fetch(`http://127.0.0.1:${client}/v1/price?symbols=BTC`, { signal: AbortSignal.timeout(8_000) });
    await r.arrayBuffer();
  }
  log('sent 8 warm-up /v1/price requests (bad should be down)');

  const test = spawn(process.execPath, [join(here, 'dashboard.mjs')], {
    stdio: 'inherit',
    env: {
      ...process.env,
      ADMIN_URL: `http://127.0.0.1:${admin}`,
      CLIENT_URL: `http://127.0.0.1:${client}`,
      DOWN: 'bad',
      HEALTHY: 'good',
      FLIP: 'flaky',
      FLIP_PATH: '/v1/ticker?symbol=BTC',
      SCREENSHOT: process.env.SCREENSHOT ?? 'target/dashboard.png',
    },
  });
  children.push(test);
  return new Promise((res) => test.on('exit', (code) => res(code ?? 1)));
}

let code = 1;
try {
  code = await main();
} catch (e) {
  console.error(`[scenario] FAIL: ${e && e.message ? e.message : e}`);
  code = 1;
} finally {
  await shutdown();
  clearTimeout(hard);
}
process.exit(code);
