// Trust at the API's doors, as an attacker tries them against a real
// controller: no token, a bad token, a host token outside its host, a
// foreign Host or Origin (DNS rebinding), the event stream, token
// management, the admin token file, the CLI, HTTPS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import { execFile, execFileSync } from 'node:child_process';
import WebSocket from 'ws';
import { startController } from '../helpers/controller';
import { repoRoot } from '../helpers/paths';

type Body = Record<string, unknown> & Record<string, unknown>[];
type Res = { status: number; body: Body };
const ctlP = startController({ apps: 'none' });
after(async () => (await ctlP).cleanup());

/** A request with exactly these headers: no token unless `token` is given. */
async function call(method: string, url: string, o: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  const ctl = await ctlP;
  const r = await ctl.api!.inject({
    method: method as 'GET', url, payload: o.body as object,
    headers: { authorization: o.token !== undefined ? `Bearer ${o.token}` : '', ...o.headers },
  });
  return { status: r.statusCode, body: (r.body ? r.json() : undefined) as Body };
}
const admin = async () => (await ctlP).adminToken!;
async function counts() {
  const a = await admin();
  const n = async (u: string) => ((await call('GET', u, { token: a })).body as unknown[]).length;
  return { hosts: await n('/v1/hosts?kind=registered'), networks: await n('/v1/networks'), endpoints: await n('/v1/endpoints'), tokens: await n('/v1/tokens') };
}

let hostToken = '';
let epH1 = '';
let epH2 = '';
test('setup: two hosts, a network, an endpoint on each, a host token for h1', async () => {
  const a = await admin();
  for (const [name, dpid, ip] of [['h1', '00000000000000a1', '172.30.1.1'], ['h2', '00000000000000a2', '172.30.1.2']]) {
    assert.equal((await call('POST', '/v1/hosts', { token: a, body: { name, dpid, underlayIp: ip } })).status, 201);
  }
  assert.equal((await call('POST', '/v1/networks', { token: a, body: { name: 'blue', cidr: '10.77.0.0/24' } })).status, 201);
  epH1 = (await call('POST', '/v1/endpoints', { token: a, body: { containerId: 'c1', ifName: 'eth0', host: 'h1', network: 'blue' } })).body.id as string;
  epH2 = (await call('POST', '/v1/endpoints', { token: a, body: { containerId: 'c2', ifName: 'eth0', host: 'h2', network: 'blue' } })).body.id as string;
  const t = await call('POST', '/v1/tokens', { token: a, body: { role: 'host', host: 'h1' } });
  assert.equal(t.status, 201);
  hostToken = t.body.token as string;
  assert.match(hostToken, /^weft_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  assert.deepEqual([t.body.role, t.body.host], ['host', 'h1']);
});

test('no token or a bad one: 401 with WWW-Authenticate, and nothing changes (the endpoint-takeover finding)', async () => {
  const before = await counts();
  const bad = ['', 'weft_0000000000000000_' + 'A'.repeat(43), hostToken.slice(0, -1) + (hostToken.endsWith('A') ? 'B' : 'A'), 'Basic x'];
  for (const token of [undefined, ...bad]) {
    for (const [m, u, body] of [
      ['DELETE', `/v1/endpoints/${epH2}`], ['POST', '/v1/endpoints', { containerId: 'c2', ifName: 'eth1', host: 'h2', network: 'blue', portName: 'wf0123456789a' }],
      ['GET', '/v1/endpoints'], ['GET', '/v1/hosts'], ['POST', '/v1/tokens', { role: 'admin' }], ['GET', '/v1/switches'], ['GET', '/v1/bgp'],
    ] as [string, string, unknown?][]) {
      const r = await call(m, u, { token, body });
      assert.equal(r.status, 401, `${m} ${u} with ${JSON.stringify(token)}`);
      assert.equal(r.body.error, 'unauthorized');
    }
  }
  const r = await (await ctlP).api!.inject({ method: 'GET', url: '/v1/endpoints', headers: { authorization: '' } });
  assert.equal(r.headers['www-authenticate'], 'Bearer realm="weft"');
  assert.deepEqual(await counts(), before);
  // what stays open: liveness and the API document
  assert.equal((await call('GET', '/v1/health')).status, 200);
  assert.equal((await call('GET', '/openapi.json')).status, 200);
});

test('a host token reaches only its own host: 403 elsewhere, and nothing changes', async () => {
  const before = await counts();
  const refused: [string, string, unknown?][] = [
    ['POST', '/v1/endpoints', { containerId: 'x9', ifName: 'eth0', host: 'h2', network: 'blue' }],
    ['GET', `/v1/endpoints/${epH2}`], ['GET', `/v1/endpoints/${epH2}?wait=ready&timeoutMs=10`], ['DELETE', `/v1/endpoints/${epH2}`],
    ['GET', '/v1/endpoints?host=h2'], ['GET', '/v1/hosts/h2'], ['GET', '/v1/hosts'], ['DELETE', '/v1/hosts/h1'],
    ['POST', '/v1/hosts', { name: 'h3', dpid: '00000000000000a3', underlayIp: '172.30.1.3' }], ['POST', '/v1/networks', { name: 'red', cidr: '10.78.0.0/24' }],
    ['DELETE', '/v1/networks/blue'], ['POST', '/v1/tokens', { role: 'admin' }], ['POST', '/v1/traces', { from: { endpoint: epH1 }, to: { ip: '10.77.0.9' }, proto: 'icmp' }], ['GET', '/v1/tokens'], ['GET', '/v1/switches'], ['GET', '/v1/topology'], ['GET', '/v1/bgp'],
  ];
  for (const [m, u, body] of refused) {
    const r = await call(m, u, { token: hostToken, body });
    assert.equal(r.status, 403, `${m} ${u}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error, 'forbidden');
  }
  assert.deepEqual(await counts(), before);
  // and what it may do, on its own host
  const mine = await call('GET', '/v1/endpoints', { token: hostToken });
  assert.deepEqual(mine.body.map((e) => e.id), [epH1]);
  assert.equal((await call('GET', `/v1/endpoints/${epH1}`, { token: hostToken })).status, 200);
  assert.equal((await call('GET', '/v1/hosts/h1', { token: hostToken })).status, 200);
  assert.equal((await call('GET', '/v1/networks/blue', { token: hostToken })).status, 200);
  const made = await call('POST', '/v1/endpoints', { token: hostToken, body: { containerId: 'c3', ifName: 'eth0', host: 'h1', network: 'blue' } });
  assert.equal(made.status, 201);
  assert.equal((await call('DELETE', `/v1/endpoints/${made.body.id}`, { token: hostToken })).status, 204);
  assert.deepEqual(await counts(), before);
});

test('Host and Origin: a foreign name (DNS rebinding) or a foreign page is refused, even with a valid token', async () => {
  const a = await admin();
  for (const headers of [{ host: 'evil.example' }, { host: 'evil.example:8080' }, { host: '127.0.0.1:1', origin: 'http://evil.example' }, { host: '127.0.0.1', origin: 'null' }] as Record<string, string>[]) {
    const r = await call('GET', '/v1/endpoints', { token: a, headers });
    assert.equal(r.status, 403, JSON.stringify(headers));
    assert.match(r.body.message as string, /Host|Origin/);
    assert.equal((await call('GET', '/v1/health', { headers })).status, 403);
  }
  // the API's own origin, an IP literal and localhost are fine
  for (const headers of [{ host: 'localhost:8080' }, { host: '[::1]:8080' }, { host: '10.0.0.5:8080', origin: 'http://10.0.0.5:8080' }] as Record<string, string>[]) {
    assert.equal((await call('GET', '/v1/endpoints', { token: a, headers })).status, 200, JSON.stringify(headers));
  }
});

function ws(url: string, o: WebSocket.ClientOptions, protocols?: string[]): Promise<{ status?: number; protocol?: string }> {
  return new Promise((resolve) => {
    const s = new WebSocket(url, protocols ?? [], o);
    s.once('open', () => { const protocol = s.protocol; s.close(); resolve({ status: 101, protocol }); });
    s.once('unexpected-response', (_req, res) => { resolve({ status: res.statusCode }); res.resume(); });
    s.once('error', () => resolve({}));
  });
}

test('the event stream: 401 without a token, 403 for a host token or a foreign Host; the admin token in a header or a subprotocol', async () => {
  const ctl = await ctlP;
  const url = `ws://127.0.0.1:${ctl.apiPort}/v1/events`;
  assert.equal((await ws(url, {})).status, 401);
  assert.equal((await ws(url, { headers: { authorization: 'Bearer weft_nope' } })).status, 401);
  assert.equal((await ws(url, { headers: { authorization: `Bearer ${hostToken}` } })).status, 403);
  assert.equal((await ws(url, { headers: { authorization: `Bearer ${ctl.adminToken}`, host: 'evil.example' } })).status, 403);
  assert.equal((await ws(url, { headers: { authorization: `Bearer ${ctl.adminToken}`, origin: 'http://evil.example' } })).status, 403);
  assert.equal((await ws(url, { headers: { authorization: `Bearer ${ctl.adminToken}` } })).status, 101);
  const browser = await ws(url, {}, [`weft.bearer.${ctl.adminToken}`]);
  assert.deepEqual(browser, { status: 101, protocol: `weft.bearer.${ctl.adminToken}` });
  // offered beside weft.events.v1 (as the UI does), the answer is weft.events.v1: the token is not echoed back
  assert.deepEqual(await ws(url, {}, ['weft.events.v1', `weft.bearer.${ctl.adminToken}`]), { status: 101, protocol: 'weft.events.v1' });
  assert.equal((await ws(url, {}, ['weft.events.v1'])).status, 401, 'the events subprotocol alone is no credential');
});

test('revoking a token closes the event streams it opened, and only those', async () => {
  const ctl = await ctlP;
  const t = await call('POST', '/v1/tokens', { token: ctl.adminToken, body: { role: 'admin' } });
  assert.equal(t.status, 201);
  const open = (token: string) => new Promise<{ s: WebSocket; closed: Promise<{ code: number; reason: string }> }>((resolve, reject) => {
    const s = new WebSocket(`ws://127.0.0.1:${ctl.apiPort}/v1/events`, { headers: { authorization: `Bearer ${token}` } });
    const closed = new Promise<{ code: number; reason: string }>((r) => s.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    s.once('open', () => resolve({ s, closed }));
    s.once('error', reject);
  });
  const doomed = await open(t.body.token as string);
  const kept = await open(ctl.adminToken!);
  let keptClosed = false;
  void kept.closed.then(() => { keptClosed = true; });
  assert.equal((await call('DELETE', `/v1/tokens/${t.body.id as string}`, { token: ctl.adminToken })).status, 204);
  assert.deepEqual(await doomed.closed, { code: 1008, reason: 'token revoked' });
  // the stream of the token that stays is still open and still gets events
  const got = new Promise((r) => kept.s.once('message', r));
  assert.equal((await call('POST', '/v1/networks', { token: ctl.adminToken, body: { name: 'revoke-check', cidr: '10.78.0.0/24' } })).status, 201);
  await got;
  assert.equal(keptClosed, false);
  kept.s.close();
  assert.equal((await call('DELETE', '/v1/networks/revoke-check', { token: ctl.adminToken })).status, 204);
  // and the revoked token opens nothing new
  assert.equal((await ws(`ws://127.0.0.1:${ctl.apiPort}/v1/events`, { headers: { authorization: `Bearer ${t.body.token as string}` } })).status, 401);
});

test('a malformed upgrade request gets 400 and the API lives on', async () => {
  const ctl = await ctlP;
  const net = await import('node:net');
  const answer = await new Promise<string>((resolve) => {
    const sock = net.connect(ctl.apiPort, '127.0.0.1', () => sock.write('GET // HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'));
    let got = '';
    sock.on('data', (d) => { got += d.toString(); });
    sock.on('close', () => resolve(got));
    sock.on('error', () => resolve(got));
  });
  assert.match(answer, /^HTTP\/1\.1 400 /);
  assert.equal((await call('GET', '/v1/health')).status, 200);
});

test('an unregistered host takes its tokens with it: a host registered later under its name does not inherit them', async () => {
  const a = await admin();
  assert.equal((await call('POST', '/v1/hosts', { token: a, body: { name: 'h9', dpid: '00000000000000a9', underlayIp: '172.30.1.9' } })).status, 201);
  const t = (await call('POST', '/v1/tokens', { token: a, body: { role: 'host', host: 'h9' } })).body.token as string;
  assert.equal((await call('GET', '/v1/hosts/h9', { token: t })).status, 200);
  assert.equal((await call('DELETE', '/v1/hosts/h9', { token: a })).status, 204);
  assert.ok(!(await call('GET', '/v1/tokens', { token: a })).body.some((x) => x.host === 'h9'), 'its tokens are gone');
  assert.equal((await call('POST', '/v1/hosts', { token: a, body: { name: 'h9', dpid: '00000000000000aa', underlayIp: '172.30.1.10' } })).status, 201);
  assert.equal((await call('GET', '/v1/hosts/h9', { token: t })).status, 401);
  assert.equal((await call('DELETE', '/v1/hosts/h9', { token: a })).status, 204);
});

test('tokens: listed without secrets, revoked at once, the last admin token kept', async () => {
  const a = await admin();
  const listed = await call('GET', '/v1/tokens', { token: a });
  const text = JSON.stringify(listed.body);
  // the secret is what follows weft_<16 hex>_ (it may itself hold '_')
  assert.ok(!text.includes(hostToken.slice(22)) && !text.includes(a.slice(22)), 'no secret in the list');
  assert.deepEqual(Object.keys(listed.body[0]!).sort(), ['createdAt', 'host', 'id', 'role']);
  assert.equal((await call('POST', '/v1/tokens', { token: a, body: { role: 'host' } })).body.field, 'host');
  assert.equal((await call('POST', '/v1/tokens', { token: a, body: { role: 'host', host: 'nosuch' } })).status, 404);
  assert.equal((await call('POST', '/v1/tokens', { token: a, body: { role: 'root' } })).status, 400);
  const t = await call('POST', '/v1/tokens', { token: a, body: { role: 'host', host: 'h2' } });
  assert.equal((await call('GET', '/v1/endpoints', { token: t.body.token as string })).status, 200);
  assert.equal((await call('DELETE', `/v1/tokens/${t.body.id}`, { token: a })).status, 204);
  assert.equal((await call('GET', '/v1/endpoints', { token: t.body.token as string })).status, 401);
  const admins = listed.body.filter((x) => x.role === 'admin');
  assert.equal(admins.length, 1);
  const last = await call('DELETE', `/v1/tokens/${admins[0]!.id}`, { token: a });
  assert.equal(last.status, 409);
  assert.equal((await call('GET', '/v1/endpoints', { token: a })).status, 200);
});

test('the admin token file: written 0600 next to the database on first start, reused by the next start, remade when it is gone', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-auth-'));
  try {
    const db = path.join(dir, 'w.db');
    const c1 = await startController({ db });
    const file = path.join(dir, 'weft-admin.token');
    assert.equal(c1.adminTokenFile, file);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.readFileSync(file, 'utf8').trim(), c1.adminToken);
    const tok = c1.adminToken;
    await c1.stop();
    fs.chmodSync(file, 0o644); // an operator's careless copy: the next start tightens it again
    const c2 = await startController({ db });
    assert.equal(c2.adminToken, tok);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    // over real HTTP, the file's token is what opens the API
    const r = await fetch(`http://127.0.0.1:${c2.apiPort}/v1/tokens`, { headers: { authorization: `Bearer ${tok}` } });
    assert.equal(r.status, 200);
    await c2.stop();
    fs.rmSync(file);
    const c3 = await startController({ db, adminTokenFile: path.join(dir, 'elsewhere', 'admin') });
    assert.notEqual(c3.adminToken, tok);
    assert.equal(fs.readFileSync(path.join(dir, 'elsewhere', 'admin'), 'utf8').trim(), c3.adminToken);
    await c3.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs the weft CLI without blocking this process (the controller under test lives in it). */
function weft(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(repoRoot(), 'dist/northbound/cli/weft.js'), ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

test('weft token create/ls/rm through the API with the admin token file', async () => {
  const ctl = await ctlP;
  const base = ['--api', `http://127.0.0.1:${ctl.apiPort}`, '--admin-token-file', ctl.adminTokenFile!];
  const made = await weft(['token', 'create', '--role', 'host', '--host', 'h1', ...base]);
  assert.equal(made.status, 0, made.stderr);
  const tok = made.stdout.trim();
  assert.equal((await call('GET', `/v1/endpoints/${epH1}`, { token: tok })).status, 200);
  const ls = await weft(['token', 'ls', ...base]);
  const id = tok.slice(5, 21);
  assert.match(ls.stdout, new RegExp(`^${id}\\s+host\\s+h1\\s`, 'm'));
  assert.equal((await weft(['token', 'rm', id, ...base])).status, 0);
  assert.equal((await call('GET', `/v1/endpoints/${epH1}`, { token: tok })).status, 401);
  const refused = await weft(['token', 'create', '--role', 'host', '--host', 'nosuch', ...base]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /404 host nosuch not found/);
  assert.equal((await weft(['token', 'create', '--role', 'host', ...base])).status, 2);
});

test('--no-auth (labs): no token needed, and still no foreign Host', async () => {
  const c = await startController({ auth: false });
  try {
    assert.equal(c.adminToken, undefined);
    const r = await c.api!.inject({ method: 'GET', url: '/v1/endpoints', headers: { authorization: '' } });
    assert.equal(r.statusCode, 200);
    assert.equal((await c.api!.inject({ method: 'GET', url: '/v1/endpoints', headers: { host: 'evil.example' } })).statusCode, 403);
  } finally {
    await c.cleanup();
  }
});

test('HTTPS with --api-tls-cert/--api-tls-key, and client certificates with --api-tls-ca', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-apitls-'));
  const ossl = (...a: string[]) => execFileSync('openssl', a, { cwd: dir, stdio: 'pipe' });
  try {
    ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=weft test CA');
    for (const n of ['server', 'client']) {
      ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', `/CN=${n === 'server' ? '127.0.0.1' : 'client'}`);
      fs.writeFileSync(path.join(dir, `${n}.ext`), n === 'server' ? 'subjectAltName=IP:127.0.0.1\n' : 'extendedKeyUsage=clientAuth\n');
      ossl('x509', '-req', '-in', `${n}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${n}.pem`, '-days', '2', '-extfile', `${n}.ext`);
    }
    const f = (n: string) => path.join(dir, n);
    const get = (port: number, o: https.RequestOptions) => new Promise<number | string>((resolve) => {
      const req = https.get({ host: '127.0.0.1', port, path: '/v1/health', ca: fs.readFileSync(f('ca.pem')), ...o }, (res) => { res.resume(); resolve(res.statusCode!); });
      req.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
    });
    const c1 = await startController({ apiTls: { cert: f('server.pem'), key: f('server.key') } });
    try {
      assert.equal(await get(c1.apiPort, {}), 200);
      const plain = await fetch(`http://127.0.0.1:${c1.apiPort}/v1/health`).then((r) => r.status, (e: Error) => e.name);
      assert.notEqual(plain, 200, 'plain HTTP is not served');
    } finally { await c1.cleanup(); }
    const c2 = await startController({ apiTls: { cert: f('server.pem'), key: f('server.key'), ca: f('ca.pem') } });
    try {
      assert.notEqual(await get(c2.apiPort, {}), 200, 'no client certificate');
      assert.equal(await get(c2.apiPort, { cert: fs.readFileSync(f('client.pem')), key: fs.readFileSync(f('client.key')) }), 200);
    } finally { await c2.cleanup(); }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
