// End to end in a real browser: Debian's Chromium, driven by playwright-core, opens the dashboard
// while the test drives load, waits for the charts to show it, and saves a screenshot.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { BUNDLED_MODELS, binaryInfer, digits, startTestServer, type TestServer } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = new URL('../../../test-artifacts/', import.meta.url).pathname;
const TENANTS = new URL('../../../tenants.yaml', import.meta.url).pathname;
// CI installs Chromium (scripts/install-chromium.sh); elsewhere, say why the test does not run.
const skip = !existsSync(CHROMIUM) && !process.env.CI ? `${CHROMIUM} is not installed (run scripts/install-chromium.sh)` : false;

let server: TestServer;
let browser: Browser;

before(async () => {
  if (skip) return;
  server = await startTestServer({ repository: BUNDLED_MODELS, tenants: TENANTS });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

async function driveLoad(until: () => boolean): Promise<void> {
  const acme = binaryInfer(digits(0, 4).pixels, 4);
  const globex = binaryInfer(digits(4, 8).pixels, 8);
  while (!until()) {
    await Promise.all([
      ...Array.from({ length: 8 }, () => fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: new Uint8Array(acme.body), headers: { ...acme.headers, authorization: 'Bearer demo-acme-key' } }).then((r) => r.arrayBuffer())),
      ...Array.from({ length: 4 }, () => fetch(`${server.url}/v2/models/fashion-mlp/infer`, { method: 'POST', body: new Uint8Array(globex.body), headers: { ...globex.headers, authorization: 'Bearer demo-globex-key' } }).then((r) => r.arrayBuffer())),
      fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: '{}', headers: { authorization: 'Bearer wrong' } }).then((r) => r.arrayBuffer()),
    ]);
  }
}

describe('live dashboard', { skip }, () => {
  it('shows the traffic of every tenant in charts, updating each second', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    const offsite: string[] = [];
    page.on('request', (r) => { if (!r.url().startsWith(server.url)) offsite.push(r.url()); });
    await page.goto(`${server.url}/dashboard`);
    // Signs in through the form: the token goes once in a POST body, never in a URL.
    await page.fill('#token', server.admin.token);
    await page.click('#go');
    let done = false;
    const load = driveLoad(() => done);
    try {
      // Charts show traffic once at least two seconds with requests have reached the page.
      await page.waitForFunction(() => Number(document.body.dataset.requests) > 50 && Number(document.body.dataset.seconds) >= 3, undefined, { timeout: 20_000 });
      const seconds0 = Number(await page.evaluate(() => document.body.dataset.seconds));
      await page.waitForFunction((s) => Number(document.body.dataset.seconds) > s, seconds0, { timeout: 5000 });
    } finally {
      done = true;
      await load;
    }
    const legend = await page.textContent('#throughput-legend');
    assert.match(legend!, /acme/);
    assert.match(legend!, /globex/);
    assert.match((await page.textContent('#mix'))!, /mnist-mlp/);
    assert.match((await page.textContent('#models'))!, /fashion-mlp/, 'the admin sees the models table');
    // A chart has non-blank pixels: it was drawn, not just laid out.
    const drawn = await page.evaluate(() => {
      const c = document.getElementById('throughput') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let coloured = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2])) coloured++;
      return coloured;
    });
    assert.ok(drawn > 100, `${drawn} coloured pixels in the throughput chart`);
    assert.deepEqual(offsite, [], 'nothing is loaded from elsewhere');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
    await page.close();
  });

  it('a tenant key sees only its own tenant, and a bad token is refused', async () => {
    const signIn = (token: string) => fetch(`${server.url}/dashboard/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    const res = await signIn('demo-initech-key');
    assert.equal(res.status, 204);
    const cookie = res.headers.get('set-cookie')!;
    assert.match(cookie, /^pareto_dashboard=[\w-]{32}; Path=\/dashboard; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    assert.ok(!cookie.includes('demo-initech-key'), 'the cookie names a session, not the key');
    const session = cookie.split(';')[0];
    const data = await (await fetch(`${server.url}/dashboard/data`, { headers: { cookie: session } })).json();
    assert.equal(data.viewer, 'tenant initech');
    for (const s of data.history) assert.ok(Object.keys(s.tenants).every((t) => t === 'initech'));
    assert.equal((await fetch(`${server.url}/dashboard/tenants`, { headers: { cookie: session } })).status, 401, 'the admin views are the admin\'s');
    assert.equal((await signIn('nope')).status, 401);
    assert.equal((await fetch(`${server.url}/dashboard/data?token=demo-initech-key`)).status, 401, 'a token in the URL is not accepted');
    assert.equal((await fetch(`${server.url}/dashboard/data`, { headers: { cookie: 'pareto_dashboard=forged' } })).status, 401);
    assert.equal((await fetch(`${server.url}/dashboard/tenants`, { headers: { authorization: 'Bearer demo-acme-key' } })).status, 401);
    // Signing out ends the session.
    assert.equal((await fetch(`${server.url}/dashboard/session`, { method: 'DELETE', headers: { cookie: session } })).status, 204);
    assert.equal((await fetch(`${server.url}/dashboard/data`, { headers: { cookie: session } })).status, 401);
  });

  it('admin actions need the session and a header a page elsewhere cannot send', async () => {
    const res = await fetch(`${server.url}/dashboard/session`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${server.admin.token}` });
    const session = res.headers.get('set-cookie')!.split(';')[0];
    assert.equal((await fetch(`${server.url}/dashboard/models/fashion-mlp/load`, { method: 'POST', headers: { cookie: session } })).status, 400, 'without X-Pareto-Dashboard');
    assert.equal((await fetch(`${server.url}/dashboard/models/fashion-mlp/load`, { method: 'POST', headers: { cookie: session, 'x-pareto-dashboard': '1' } })).status, 200);
    assert.equal((await fetch(`${server.url}/dashboard/models/nope/load`, { method: 'POST', headers: { cookie: session, 'x-pareto-dashboard': '1' } })).status, 404);
    const models = await (await fetch(`${server.url}/dashboard/models`, { headers: { cookie: session } })).json();
    assert.ok(models.some((m: { name: string; state: string }) => m.name === 'fashion-mlp' && m.state === 'READY'));
  });
});
