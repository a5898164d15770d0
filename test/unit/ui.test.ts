// The web UI (northbound/ui, served at /) in headless Chromium, against an
// in-process controller whose container hosts are scripted br-ints
// (FakeBrInt: they keep their flows and answer flow stats, so endpoints get
// ready, flows can be listed and traces computed without OVS). One browser
// for the file. Screenshots go to test-output/ui/ (printed); the asserts are
// on the DOM: a node per host, a drawn trace (a box per hop, the verdict),
// the endpoints' states and counters, a host's flows by table. And the
// attacker's cases: no token (login only, no data), a bad token, a foreign
// Origin on the WebSocket, paths that try to leave the UI's folder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { chromium, Browser, Page } from 'playwright-core';
import { startController, adminHeaders } from '../helpers/controller';
import { FakeBrInt } from '../helpers/cni-fake-api';
import { waitFor } from '../helpers/wait';
import { repoRoot } from '../helpers/paths';
import { UI_CSP } from '../../northbound/api/routes/ui';
import type { WeftEvent } from '../../controller/events';

// what the page.evaluate / waitForFunction callbacks run on (the browser's; this module compiles without the DOM lib)
declare const document: { querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> & Iterable<{ textContent: string | null }>; querySelector(s: string): { getAttribute(a: string): string | null } | null; getElementById(id: string): { textContent: string | null } | null };
declare const sessionStorage: { getItem(k: string): string | null };
declare const localStorage: { length: number };

const CHROMIUM = '/usr/bin/chromium';
const OUT = path.join(repoRoot(), 'test-output', 'ui');
const have = fs.existsSync(CHROMIUM);
if (!have) assert.ok(!process.env.CI, `${CHROMIUM} must be installed in CI (mininet/scripts/setup.sh)`);

type Ctl = Awaited<ReturnType<typeof startController>>;
interface Ep { id: string; host: string; portName: string; ofportRequest: number; state: string; containerId: string; ip: string }
let ctl: Ctl;
let base: string;
let browser: Browser;
let userDir: string;
const brs: FakeBrInt[] = [];
const eps: Ep[] = [];

async function call<T>(method: string, url: string, body?: unknown, headers: Record<string, string> = adminHeaders(ctl)): Promise<{ status: number; body: T; headers: Headers }> {
  const r = await fetch(base + url, { method, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: r.status, body: json as T, headers: r.headers };
}

/** A request whose path is sent exactly as written (fetch would normalise dot segments). */
function rawGet(p: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const req = http.request({ host: u.hostname, port: u.port, path: p, method: 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function addHost(name: string, n: number): Promise<FakeBrInt> {
  const dpid = (0xd000 + n).toString(16).padStart(16, '0');
  const r = await call('POST', '/v1/hosts', { name, dpid, underlayIp: `172.30.88.${n}` });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const br = await FakeBrInt.connect(ctl.ofPort, BigInt(`0x${dpid}`), { vxlan0: 10 });
  br.flowCounts = (f) => ({ packets: BigInt(f.table_id + 3), bytes: BigInt((f.table_id + 3) * 100) });
  brs.push(br);
  await waitFor(() => ctl.registry.get(dpid) && br.table.flows.length > 0, { what: `${name}'s br-int synced` });
  return br;
}

async function addEndpoint(br: FakeBrInt, containerId: string, host: string, network: string): Promise<Ep> {
  const r = await call<Ep>('POST', '/v1/endpoints', { containerId, ifName: 'eth0', host, network });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  br.addPort(r.body.portName, r.body.ofportRequest);
  eps.push(r.body);
  return r.body;
}

async function shot(page: Page, name: string): Promise<void> {
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`# screenshot ${file}`);
}

before(async () => {
  if (!have) return;
  fs.mkdirSync(OUT, { recursive: true });
  ctl = await startController({ apiHost: '127.0.0.1' });
  base = `http://127.0.0.1:${ctl.apiPort}`;
  const h1 = await addHost('h1', 1);
  const h2 = await addHost('h2', 2);
  // a switch that is no container host's bridge (a lab switch): drawn as a switch
  brs.push(await FakeBrInt.connect(ctl.ofPort, 0x5n));
  assert.equal((await call('POST', '/v1/networks', { name: 'blue', cidr: '10.91.0.0/16', mode: 'overlay' })).status, 201);
  assert.equal((await call('POST', '/v1/networks', { name: 'red', cidr: '10.92.0.0/24', mode: 'local' })).status, 201);
  await addEndpoint(h1, 'web', 'h1', 'blue');
  await addEndpoint(h1, 'db', 'h1', 'red');
  await addEndpoint(h2, 'api', 'h2', 'blue');
  await waitFor(async () => (await call<Ep[]>('GET', '/v1/endpoints')).body.every((e) => e.state === 'ready'), { what: 'endpoints ready' });
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-ui-chromium-'));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  for (const b of brs) b.close();
  await ctl?.cleanup();
  if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
});

test('static files: content types, security headers, ETag revalidation; nothing outside the folder, no data without a token', { skip: !have }, async () => {
  const index = await call<string>('GET', '/', undefined, {});
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
  assert.equal(index.headers.get('content-security-policy'), UI_CSP);
  assert.match(UI_CSP, /script-src 'self'/);
  assert.match(UI_CSP, /connect-src 'self'/);
  assert.match(UI_CSP, /frame-ancestors 'none'/);
  assert.doesNotMatch(UI_CSP, /unsafe-inline|unsafe-eval/);
  assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(index.headers.get('x-frame-options'), 'DENY');
  assert.doesNotMatch(String(index.body), /<script>|<script [^>]*>[^<]/, 'no inline script');
  const js = await fetch(`${base}/ui/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
  assert.equal((await fetch(`${base}/ui/style.css`)).headers.get('content-type'), 'text/css; charset=utf-8');
  const etag = js.headers.get('etag')!;
  assert.ok(etag && js.headers.get('cache-control') === 'no-cache');
  assert.equal((await fetch(`${base}/ui/app.js`, { headers: { 'if-none-match': etag } })).status, 304);
  // paths that try to leave the folder, or to reach a data route through the public prefix
  for (const p of ['/ui/../package.json', '/ui/..%2f..%2fpackage.json', '/ui/%2e%2e/%2e%2e/package.json', '/ui/%2e%2e%2f%2e%2e%2fpackage.json', '/ui/.%2e/v1/endpoints',
    '/ui/../v1/endpoints', '/ui//etc/passwd', '/ui/..', '/ui/.hidden', '/ui/app.js/../../v1/hosts', '/ui/index.html%00.js', '/ui/nosuch.js', '/ui/%2fetc%2fpasswd']) {
    const r = await rawGet(p);
    assert.ok(r.status === 404 || r.status === 401 || r.status === 400, `${p}: ${r.status} ${r.body.slice(0, 120)}`);
    assert.doesNotMatch(r.body, /"name": *"weft"|root:x:0|containerId/, `${p} leaked a file or data`);
    // with a token too: the static route serves its own files only, whatever the path says
    const a = await rawGet(p, adminHeaders(ctl));
    assert.ok(a.status === 404 || a.status === 400, `${p} (admin): ${a.status} ${a.body.slice(0, 120)}`);
    assert.doesNotMatch(a.body, /"name": *"weft"|root:x:0/, `${p} (admin) leaked a file`);
  }
  // every data call needs the token
  for (const p of ['/v1/endpoints', '/v1/hosts', '/v1/switches', `/v1/endpoints/${eps[0]!.id}/counters`]) assert.equal((await call('GET', p, undefined, {})).status, 401, p);
  // the Host check covers the UI too (DNS rebinding)
  assert.equal((await rawGet('/', { host: 'evil.example:8080' })).status, 403);
});

test('the event stream refuses a foreign Origin and a missing token, even from a browser-like client', { skip: !have }, async () => {
  const tok = ctl.adminToken!;
  const attempt = (headers: Record<string, string>, protocols: string[] = []) => new Promise<number>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${ctl.apiPort}/v1/events`, protocols, { headers });
    ws.on('open', () => { ws.close(); resolve(101); });
    ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume(); });
    ws.on('error', () => undefined);
  });
  assert.equal(await attempt({ origin: 'http://evil.example' }, [`weft.bearer.${tok}`]), 403);
  assert.equal(await attempt({ origin: 'null' }, [`weft.bearer.${tok}`]), 403);
  assert.equal(await attempt({ origin: base }), 401);
  assert.equal(await attempt({ origin: base }, ['weft.bearer.weft_0000000000000000_bad']), 401);
  assert.equal(await attempt({ origin: base }, [`weft.bearer.${tok}`]), 101);
});

test('the UI: login, topology from the event stream, endpoints with counters, flows by table, a drawn trace', { skip: !have }, async () => {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const dataCalls: { url: string; status: number }[] = [];
  page.on('response', (r) => { if (new URL(r.url()).pathname.startsWith('/v1/')) dataCalls.push({ url: r.url(), status: r.status() }); });

  // no token: the login form and nothing else; no data was read
  await page.goto(`${base}/`);
  await page.waitForSelector('#login-form', { state: 'visible' });
  assert.equal(await page.isVisible('#app'), false);
  assert.equal(await page.locator('.node').count(), 0);
  assert.equal(await page.isVisible('#tabs'), false);
  assert.equal(dataCalls.length, 0, JSON.stringify(dataCalls));
  await shot(page, '01-login');

  // a bad token: refused, still no data, nothing kept
  await page.fill('#token', 'weft_0123456789abcdef_notavalidtokenatall');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => /not valid/.test(document.getElementById('login-error')!.textContent ?? ''));
  assert.ok(dataCalls.length > 0 && dataCalls.every((c) => c.status === 401), JSON.stringify(dataCalls));
  assert.equal(await page.evaluate(() => sessionStorage.getItem('weft.token')), null);
  // a host token (it may read its own host only): refused, the UI needs an admin
  const hostToken = (await call<{ token: string }>('POST', '/v1/tokens', { role: 'host', host: 'h1' })).body.token;
  await page.fill('#token', hostToken);
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => /needs an admin token/.test(document.getElementById('login-error')!.textContent ?? ''));
  assert.equal(await page.isVisible('#app'), false);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('weft.token')), null);
  errors.length = 0; // the browser logs the 401s and the 403

  // the admin token
  await page.fill('#token', ctl.adminToken!);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#app', { state: 'visible' });
  await page.waitForFunction(() => document.querySelectorAll('#topology .node-host').length === 2 && document.getElementById('conn')!.textContent === 'live');
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'the token is not kept beyond the tab');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('weft.token')), ctl.adminToken);
  assert.deepEqual(await page.$$eval('#topology .node-host', (ns) => ns.map((n) => n.getAttribute('data-name')).sort()), ['h1', 'h2']);
  await page.waitForFunction(() => document.querySelectorAll('#topology .node-endpoint').length === 3);
  await page.waitForFunction(() => document.querySelectorAll('#topology .node-switch').length === 1); // from the stream's snapshot
  // one tunnel between the two hosts; without GET /v1/tunnels (404) every host pair's, health unknown
  const pairs = async (): Promise<number | undefined> => {
    const r = await call<{ tunnels: { from: string; to: string }[] }>('GET', '/v1/tunnels');
    return r.status === 404 ? undefined : new Set(r.body.tunnels.map((t) => [t.from, t.to].sort().join('|'))).size;
  };
  const tunnel = page.locator('#topology line.edge-tunnel');
  const apiPairs = await pairs();
  assert.equal(await tunnel.count(), apiPairs ?? 1);
  if (apiPairs === undefined) assert.equal(await tunnel.getAttribute('data-state'), 'unknown');
  // the reconciler's state per host bridge
  await page.waitForFunction(() => document.querySelectorAll('#hosts-table tbody tr').length === 2);
  assert.deepEqual(await page.$$eval('#hosts-table tbody tr td:nth-child(5)', (ts) => ts.map((t) => t.textContent)), ['yes', 'yes']);
  await shot(page, '02-topology');

  // live: a tunnel event (GET /v1/tunnels' object) turns the tunnel up; a host registered now appears without a reload
  ctl.bus.emit({ type: 'tunnel', tunnel: { from: 'h1', to: 'h2', fromIp: '172.30.88.1', toIp: '172.30.88.2', state: 'up', rttMs: 0.42, lastSeen: new Date().toISOString() } } as unknown as WeftEvent);
  ctl.bus.emit({ type: 'tunnel', tunnel: { from: 'h2', to: 'h1', fromIp: '172.30.88.2', toIp: '172.30.88.1', state: 'up', rttMs: 0.51, lastSeen: new Date().toISOString() } } as unknown as WeftEvent);
  await page.waitForFunction(() => document.querySelector('#topology line.edge-tunnel')?.getAttribute('data-state') === 'up');
  assert.match(await page.locator('#topology text.edge-label').first().textContent() ?? '', /up · 0\.51 ms/);
  await addHost('h3', 3);
  await page.waitForFunction(() => document.querySelectorAll('#topology .node-host').length === 3);
  const apiPairs3 = await pairs();
  await page.waitForFunction((n) => document.querySelectorAll('#topology line.edge-tunnel').length === n, apiPairs3 ?? 3);
  await page.click('#topology .node-host[data-name=h1]');
  assert.match(await page.locator('#details').textContent() ?? '', /br-int: connected, synced/);
  await shot(page, '03-topology-live');

  // endpoints: state and counters (what GET /v1/endpoints/{id}/counters says)
  await page.click('#tab-endpoints');
  await page.waitForFunction(() => document.querySelectorAll('#endpoints-table tbody tr').length === 3
    && [...document.querySelectorAll('#endpoints-table td.out-packets')].every((t) => /^\d+$/.test(t.textContent ?? '')));
  for (const e of eps) {
    const c = (await call<{ out: { packets: number }; in: { packets: number } }>('GET', `/v1/endpoints/${e.id}/counters`)).body;
    const row = page.locator(`#endpoints-table tr[data-id="${e.id}"]`);
    assert.equal(await row.locator('td.state').textContent(), 'ready');
    assert.equal(await row.locator('td.out-packets').textContent(), String(c.out.packets));
    assert.equal(await row.locator('td.in-packets').textContent(), String(c.in.packets));
    assert.ok(c.out.packets > 0);
  }
  await shot(page, '04-endpoints');

  // a host's flows, table by table, by the pipeline's names
  await page.click('#tab-flows');
  await page.selectOption('#flows-host', 'host:h1');
  await page.click('#flows-form button[type=submit]');
  await page.waitForSelector('#flows .flow-table');
  const tables = await page.$$eval('#flows .flow-table', (ss) => ss.map((s) => s.getAttribute('data-table-name')));
  for (const t of ['classifier', 'spoofGuard', 'l2Forwarding']) assert.ok(tables.includes(t), `${t} in ${tables.join(',')}`);
  const h1Flows = (await call<unknown[]>('GET', `/v1/switches/${(0xd001).toString(16).padStart(16, '0')}/flows`)).body.length;
  assert.equal(await page.locator('#flows tr.flow').count(), h1Flows);
  await shot(page, '05-flows');

  // a trace across the tunnel: a box per hop, the tunnel crossing, the verdict
  const [web, , apiEp] = eps;
  const body = { from: { endpoint: web!.id }, to: { endpoint: apiEp!.id }, proto: 'tcp', dstPort: 80 };
  const want = (await call<{ computed: { hops: { kind?: string }[]; verdict: { result: string } } }>('POST', '/v1/traces', body)).body.computed;
  assert.equal(want.verdict.result, 'delivered');
  await page.click('#tab-trace');
  await page.selectOption('#trace-from', web!.id);
  await page.selectOption('#trace-to', apiEp!.id);
  await page.selectOption('#trace-proto', 'tcp');
  await page.fill('#trace-port', '80');
  await page.click('#trace-go');
  await page.waitForSelector('#trace-path .verdict');
  assert.equal(await page.locator('#trace-path .computed .hop').count(), want.hops.length);
  assert.equal(await page.locator('#trace-path .computed .hop-tunnel').count(), want.hops.filter((p) => p.kind).length);
  assert.ok(want.hops.some((p) => p.kind === 'tunnel'));
  assert.ok(await page.locator('#trace-path .computed .step').count() >= want.hops.length);
  assert.match(await page.locator('#trace-verdict').textContent() ?? '', /verdict: delivered to api \(10\.91\.\d+\.\d+\) on h2/);
  assert.equal(await page.locator('#trace-path .verdict-delivered').count(), 1);
  assert.deepEqual(await page.$$eval('#trace-path .computed .hop[data-host]', (hs) => [...new Set(hs.map((x) => x.getAttribute('data-host')))]), ['h1', 'h2']);
  assert.equal(await page.locator('#trace-hops tbody tr').count(), want.hops.length);
  // the path is marked on the topology too
  assert.deepEqual(await page.$$eval('#topology .node-host.on-path', (ns) => ns.map((n) => n.getAttribute('data-name')).sort()), ['h1', 'h2']);
  await shot(page, '06-trace-delivered');

  // a drop: to an address of blue no endpoint has
  await page.selectOption('#trace-to', '');
  await page.fill('#trace-to-ip', '10.91.255.77');
  await page.selectOption('#trace-proto', 'icmp');
  await page.click('#trace-go');
  await page.waitForSelector('#trace-path .verdict-dropped');
  assert.match(await page.locator('#trace-verdict').textContent() ?? '', /verdict: dropped on h1 br-int table l2Forwarding: no route/);
  await shot(page, '07-trace-dropped');

  // logging out forgets the token and shows the login again
  await page.click('#logout');
  await page.waitForSelector('#login-form', { state: 'visible' });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('weft.token')), null);
  assert.deepEqual(errors.filter((e) => !/status of 40[14]/.test(e)), []);
  await context.close();
});
