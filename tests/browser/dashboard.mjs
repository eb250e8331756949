// Headless-Chromium check of marketgate's admin dashboard (/dashboard).
//
// Expects a running marketgate (plus mock upstreams) in a known state; see README.md.
//
// Env:
//   ADMIN_URL   admin listener base, e.g. http://127.0.0.1:9901
//   CLIENT_URL  client listener base, e.g. http://127.0.0.1:8080
//   DOWN        provider that must show status "down"
//   HEALTHY     provider that must show status "healthy"
//   FLIP        provider that is healthy at page load and whose breaker this script opens
//   FLIP_PATH   client path served only by FLIP, whose upstream fails (e.g. /v1/ticker?symbol=BTC)
//   CREDITS     provider with a monthly credit budget: its card must show what is left,
//               as /api/system/providers/health says
//   CONFIG_FILE the config file marketgate reloads; it must set deadline = "5s" (the
//               script edits it and presses Reload config)
//   SCREENSHOT  full-page PNG path (optional; a "-try" suffixed one is saved too)
//   CHROMIUM    browser binary (default /usr/bin/chromium)
//
// Exit 0 when every check passes, 1 with the reason otherwise.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, extname } from 'node:path';

const OVERALL_TIMEOUT_MS = 60_000;
const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') fail(`environment variable ${name} is required`);
  return v;
};

let browser = null;
let userDataDir = null;
let failed = false;

function log(msg) {
  console.log(`[dashboard] ${msg}`);
}
function fail(msg) {
  const err = new Error(msg);
  err.check = true;
  throw err;
}
function ok(msg) {
  log(`ok   ${msg}`);
}

async function cleanup() {
  if (browser) {
    await browser.close().catch(() => {});
    browser = null;
  }
  if (userDataDir) {
    try {
      rmSync(userDataDir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
}

// The checks get OVERALL_TIMEOUT_MS once the browser is up; launching gets its own
// bounded budget (LAUNCH_ATTEMPTS x LAUNCH_TIMEOUT_MS), because a cold Chromium on a
// busy 2-core CI machine can take longer than 20 s to answer its first CDP call.
const LAUNCH_ATTEMPTS = 3;
const LAUNCH_TIMEOUT_MS = 45_000;
let hardTimer = null;
function armHardTimer() {
  hardTimer = setTimeout(async () => {
    console.error(`[dashboard] FAIL: overall timeout of ${OVERALL_TIMEOUT_MS / 1000} s exceeded`);
    await cleanup();
    process.exit(1);
  }, OVERALL_TIMEOUT_MS);
  hardTimer.unref();
}

async function launch(executablePath) {
  let lastError = null;
  for (let attempt = 1; attempt <= LAUNCH_ATTEMPTS; attempt++) {
    // A persistent context on a fresh temp profile: nothing from another run leaks in.
    userDataDir = mkdtempSync(join(tmpdir(), 'mg-dashboard-'));
    const started = Date.now();
    try {
      browser = await chromium.launchPersistentContext(userDataDir, {
        executablePath,
        headless: true,
        timeout: LAUNCH_TIMEOUT_MS,
        viewport: { width: 1280, height: 900 },
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      ok(`launched ${executablePath} in ${Date.now() - started} ms (attempt ${attempt})`);
      return;
    } catch (e) {
      lastError = e;
      log(`launch attempt ${attempt} of ${LAUNCH_ATTEMPTS} failed after ${Date.now() - started} ms: ${String(e).split('\n')[0]}`);
      await cleanup();
    }
  }
  throw lastError;
}

async function main() {
  const ADMIN_URL = env('ADMIN_URL').replace(/\/+$/, '');
  const CLIENT_URL = env('CLIENT_URL').replace(/\/+$/, '');
  const DOWN = env('DOWN');
  const HEALTHY = env('HEALTHY');
  const FLIP = env('FLIP');
  const FLIP_PATH = env('FLIP_PATH');
  const CREDITS = env('CREDITS');
  const CONFIG_FILE = env('CONFIG_FILE');
  const SCREENSHOT = process.env.SCREENSHOT || '';
  const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

  await launch(CHROMIUM);
  ok(`Chromium ${browser.browser()?.version() ?? '?'}`);
  armHardTimer();

  const page = browser.pages()[0] || (await browser.newPage());
  page.setDefaultTimeout(10_000);

  const consoleErrors = [];
  const pageErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push({ text: m.text(), url: m.location()?.url || '' });
  });
  page.on('pageerror', (e) => pageErrors.push(String(e && e.stack ? e.stack : e)));

  const url = `${ADMIN_URL}/dashboard?refresh=1`;
  const resp = await page.goto(url, { waitUntil: 'domcontentloaded' });
  if (!resp || resp.status() !== 200) fail(`GET ${url} answered ${resp ? resp.status() : 'nothing'}`);
  ok(`opened ${url} (HTTP ${resp.status()})`);

  const cardSel = (name) => `article[data-provider="${name.replace(/["\\]/g, '\\$&')}"]`;
  async function cardState(name) {
    return page.evaluate((sel) => {
      const c = document.querySelector(sel);
      if (!c) return null;
      const b = c.querySelector('[data-role=status]');
      return { status: c.getAttribute('data-status'), badge: b ? b.textContent.trim().toLowerCase() : null };
    }, cardSel(name));
  }
  async function expectStatus(name, want, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let last = null;
    for (;;) {
      last = await cardState(name);
      if (last && last.status === want && last.badge === want) return last;
      if (Date.now() > deadline) {
        fail(`provider "${name}": expected status ${want}, got ${last ? `data-status=${last.status}, badge "${last.badge}"` : 'no card'}`);
      }
      await page.waitForTimeout(200);
    }
  }

  await page.waitForSelector(cardSel(DOWN), { timeout: 10_000 }).catch(() => fail(`no card for provider "${DOWN}"`));
  await expectStatus(DOWN, 'down', 3_000);
  ok(`"${DOWN}" card: data-status=down, badge "down"`);
  await expectStatus(HEALTHY, 'healthy', 3_000);
  ok(`"${HEALTHY}" card: data-status=healthy, badge "healthy"`);
  await expectStatus(FLIP, 'healthy', 3_000);
  ok(`"${FLIP}" card: data-status=healthy at load`);

  // Credits: the card says what the API says is left.
  const health = await (await fetch(`${ADMIN_URL}/api/system/providers/health`)).json();
  const credits = health.find((p) => p.name === CREDITS)?.credits;
  if (!credits) fail(`/api/system/providers/health shows no credits for "${CREDITS}"`);
  const creditsText = await page
    .$eval(`${cardSel(CREDITS)} [data-credits]`, (e) => e.textContent.trim())
    .catch(() => fail(`"${CREDITS}" card shows no credits`));
  const wantCredits = `${credits.remaining.toLocaleString('en-US')} of ${credits.limit.toLocaleString('en-US')} left this month`;
  if (!creditsText.includes(wantCredits)) fail(`"${CREDITS}" credits read "${creditsText}", expected "${wantCredits}"`);
  if (process.env.CLUSTER) {
    if (credits.counted !== 'cluster') fail(`credits of "${CREDITS}" are not counted in the cluster: ${JSON.stringify(credits)}`);
    if (!creditsText.includes('shared by all replicas')) fail(`"${CREDITS}" credits do not say they are shared: "${creditsText}"`);
  }
  ok(`"${CREDITS}" card: "${creditsText}"`);

  // Cluster: Redis up, and the shared credits the API reads from Redis.
  if (process.env.CLUSTER) {
    const cluster = await (await fetch(`${ADMIN_URL}/api/system/cluster`)).json();
    await page.waitForSelector('#cluster-section:not(.hidden)', { timeout: 3_000 }).catch(() => fail('the cluster section is hidden'));
    const line = (await page.textContent('#cluster-line'))?.replace(/\s+/g, ' ').trim() ?? '';
    if (!line.includes('Redis up') || !line.includes('shared budgets') || !line.includes(`Namespace ${cluster.namespace}`)) {
      fail(`cluster line reads "${line}"`);
    }
    const shared = cluster.budgets.find((b) => b.provider === CREDITS && b.window === 'credits');
    if (!shared || !(shared.used > 0)) fail(`/api/system/cluster shows no shared credits use for "${CREDITS}": ${JSON.stringify(cluster)}`);
    await page.waitForFunction(
      ([sel, want]) => document.querySelector(sel)?.textContent.includes(want),
      [`[data-shared-budget="${CREDITS}:credits"]`, `${shared.used.toLocaleString('en-US')} of ${shared.limit.toLocaleString('en-US')} used`],
      { timeout: 3_000 },
    ).catch(() => fail(`the cluster table does not show ${shared.used} of ${shared.limit} credits used for "${CREDITS}"`));
    const lease = (cluster.leases || []).find((l) => l.provider === CREDITS);
    if (!lease) fail(`/api/system/cluster shows no lease for "${CREDITS}": ${JSON.stringify(cluster.leases)}`);
    await page.waitForFunction(
      (sel) => /^(\d[\d,]*|spent.*)$/.test(document.querySelector(sel)?.textContent.trim() ?? ''),
      `[data-lease="${CREDITS}:credits"]`,
      { timeout: 3_000 },
    ).catch(() => fail(`the cluster table does not show this replica's lease for "${CREDITS}"`));
    ok(`cluster: "${line.slice(0, 60)}…", ${CREDITS} credits ${shared.used} of ${shared.limit} used, lease ${lease.left} left here`);
  }

  const updated0 = (await page.textContent('#last-updated'))?.trim();
  if (!updated0 || updated0 === 'never') fail(`#last-updated not filled in (got "${updated0}")`);
  ok(`#last-updated reads "${updated0}"`);
  for (const id of ['refresh-interval', 'refresh-now', 'test-all', 'test-all-results']) {
    if (!(await page.$(`#${id}`))) fail(`#${id} is missing`);
  }
  const interval = await page.$eval('#refresh-interval', (s) => s.value);
  if (interval !== '1') fail(`?refresh=1 did not preset #refresh-interval (value "${interval}")`);
  ok('#refresh-interval preset to 1 s by ?refresh=1');

  // Let one auto-refresh happen, then check the console.
  await page.waitForTimeout(1_200);
  if (consoleErrors.length || pageErrors.length) {
    fail(`console errors after load: ${JSON.stringify([...consoleErrors.map((e) => `${e.text} [${e.url}]`), ...pageErrors])}`);
  }
  ok('no console errors after load');

  // Open FLIP's breaker from outside the page.
  const codes = [];
  for (let i = 0; i < 4; i++) {
    const r = await fetch(CLIENT_URL + FLIP_PATH, { signal: AbortSignal.timeout(8_000) });
    codes.push(r.status);
    await r.arrayBuffer();
  }
  ok(`called ${CLIENT_URL}${FLIP_PATH} 4 times (HTTP ${codes.join(', ')})`);

  const t0 = Date.now();
  await expectStatus(FLIP, 'down', 10_000);
  ok(`"${FLIP}" card turned down ${((Date.now() - t0) / 1000).toFixed(1)} s later, without a reload`);
  const updated1 = (await page.textContent('#last-updated'))?.trim();
  if (updated1 === updated0) fail(`#last-updated did not change (still "${updated1}")`);
  ok(`#last-updated changed: "${updated0}" -> "${updated1}"`);
  if (consoleErrors.length || pageErrors.length) {
    fail(`console errors during auto-refresh: ${JSON.stringify([...consoleErrors.map((e) => `${e.text} [${e.url}]`), ...pageErrors])}`);
  }
  ok('no console errors during auto-refresh');

  if (SCREENSHOT) {
    mkdirSync(dirname(SCREENSHOT) || '.', { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    ok(`screenshot ${SCREENSHOT}`);
  }

  // Admin actions from the page: reset FLIP's open breaker with its chip's button.
  const chipSel = `${cardSel(FLIP)} .chip[data-host]`;
  await page.click(`${chipSel} button[data-action=reset]`, { timeout: 5_000 })
    .catch(() => fail(`"${FLIP}" shows no reset button on its open breaker`));
  await page.waitForFunction((sel) => document.querySelector(sel)?.getAttribute('data-breaker') === 'closed', chipSel, { timeout: 5_000 })
    .catch(() => fail(`"${FLIP}" breaker is not closed after its reset button`));
  ok(`"${FLIP}" breaker reset from its chip: closed`);

  // The reload button: the file is edited first, so the audit names the changed key.
  const cfg0 = await (await fetch(`${ADMIN_URL}/api/system/config`)).json();
  const text = readFileSync(CONFIG_FILE, 'utf8');
  if (!text.includes('deadline = "5s"')) fail(`${CONFIG_FILE} does not set deadline = "5s"`);
  writeFileSync(CONFIG_FILE, text.replace('deadline = "5s"', 'deadline = "6s"'));
  await page.click('#reload-config');
  await page.waitForFunction((v) => /reloaded: config v(\d+)/.exec(document.getElementById('reload-result').textContent)?.[1] == v + 1,
    cfg0.version, { timeout: 5_000 })
    .catch(async () => fail(`the reload button did not reload: "${await page.textContent('#reload-result')}"`));
  const row = '#audit-table tr[data-action=reload][data-source=admin][data-result=ok]';
  await page.waitForSelector(row, { timeout: 5_000 }).catch(() => fail('the audit panel shows no reload by the admin API'));
  const rowText = (await page.textContent(row)).replace(/\s+/g, ' ');
  if (!rowText.includes('server.deadline')) fail(`the audit row does not name server.deadline: "${rowText}"`);
  ok(`Reload config: v${cfg0.version} -> v${cfg0.version + 1}; audit row "${rowText.slice(0, 90)}"`);

  // A page from another origin (the client listener's port) tries the same reload as a
  // "simple" request, which a browser sends without asking: it is refused and audited.
  const evil = await browser.newPage();
  await evil.goto(`${CLIENT_URL}/openapi.json`);
  const sent = await evil.evaluate(async (admin) => {
    try {
      await fetch(`${admin}/admin/reload`, { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: 'x' });
      return 'sent';
    } catch (e) {
      return `not sent: ${e}`;
    }
  }, ADMIN_URL);
  await evil.close();
  const audit = await (await fetch(`${ADMIN_URL}/api/system/audit`)).json();
  const refused = audit.find((r) => r.action === 'reload' && r.result === 'refused');
  if (!refused) fail(`a cross-origin reload (${sent}) left no refused record: ${JSON.stringify(audit.slice(0, 3))}`);
  const cfg1 = await (await fetch(`${ADMIN_URL}/api/system/config`)).json();
  if (cfg1.version !== cfg0.version + 1) fail(`a cross-origin reload changed the config version to ${cfg1.version}`);
  ok(`a cross-origin page's reload was refused (${refused.error}); config stays v${cfg1.version}`);

  // Try panel: built from the client listener's OpenAPI document, path for path.
  const spec = await (await fetch(`${CLIENT_URL}/openapi.json`)).json();
  await page.waitForSelector('#routes-source[data-source="openapi"]', { timeout: 5_000 })
    .catch(() => fail('the try panel is not built from /openapi.json'));
  const listed = await page.$$eval('#routes [data-path]', (rs) => rs.map((r) => r.getAttribute('data-path')));
  const specPaths = Object.keys(spec.paths);
  if (JSON.stringify(listed) !== JSON.stringify(specPaths)) fail(`try panel lists ${JSON.stringify(listed)}, the spec ${JSON.stringify(specPaths)}`);
  ok(`try panel lists the ${specPaths.length} paths of /openapi.json`);

  // Try panel: Test all.
  await page.click('#test-all');
  await page.waitForSelector('#test-all-results [data-route][data-result]', { timeout: 15_000 })
    .catch(() => fail('#test-all-results got no rows with data-route and data-result'));
  await page.waitForFunction(() => !document.getElementById('test-all').disabled, null, { timeout: 15_000 });
  const rows = await page.$$eval('#test-all-results [data-route]', (rs) =>
    rs.map((r) => ({ route: r.getAttribute('data-route'), result: r.getAttribute('data-result'), text: r.textContent.trim() })));
  if (!rows.length) fail('#test-all-results has no rows');
  for (const r of rows) {
    if (r.result !== 'pass' && r.result !== 'fail') fail(`test-all row ${r.route} has data-result="${r.result}"`);
    log(`     test all: ${r.result.padEnd(4)} ${r.route}`);
  }
  ok(`Test all listed ${rows.length} route(s)`);

  // Failed calls in Test all make Chromium log "Failed to load resource" for the client
  // listener; anything else is a page bug.
  const unexpected = consoleErrors.filter((e) => !(/Failed to load resource/.test(e.text) && e.url.startsWith(CLIENT_URL)));
  if (unexpected.length || pageErrors.length) {
    fail(`console errors: ${JSON.stringify([...unexpected.map((e) => `${e.text} [${e.url}]`), ...pageErrors])}`);
  }
  ok('no unexpected console errors after Test all');

  if (SCREENSHOT) {
    const ext = extname(SCREENSHOT) || '.png';
    const tryShot = SCREENSHOT.slice(0, SCREENSHOT.length - extname(SCREENSHOT).length) + '-try' + ext;
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: tryShot, fullPage: true });
    ok(`screenshot ${tryShot}`);
  }
}

try {
  await main();
  log('PASS: all dashboard checks passed');
} catch (e) {
  failed = true;
  console.error(`[dashboard] FAIL: ${e && e.check ? e.message : e && e.stack ? e.stack : e}`);
} finally {
  await cleanup();
  if (hardTimer) clearTimeout(hardTimer);
}
process.exit(failed ? 1 : 0);
