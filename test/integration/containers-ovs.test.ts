// The container pipeline on a real OVS bridge: endpoints attached through
// the API with veths into namespaces; same-network ping and TCP, routing
// between networks through the distributed gateway, spoofed MAC/IP dropped,
// detach removes the flows; the controller is SIGKILLed and restarted while
// a ping runs, and nothing is lost.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawn, ChildProcess } from 'node:child_process';
import { ovsAvailable, TestBridge, vsctl } from '../helpers/ovs';
import { waitFor } from '../helpers/wait';
import { repoRoot } from '../helpers/paths';
import { newNetns, plugVeth, ping, tcpEchoServer, tcpEcho, cleanupNetns, nsExec } from '../helpers/netns';

let skip = false;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-cont-'));
let proc: ChildProcess | undefined;
let br: TestBridge | undefined;
const ofPort = 16653 + Math.floor(Math.random() * 1000);
const apiPort = 18080 + Math.floor(Math.random() * 1000);
const base = `http://127.0.0.1:${apiPort}`;
/** The admin token the controller writes next to its database (the same file across the restart). */
const tokenFile = path.join(dir, 'weft-admin.token');
let token = '';

function startWeft(): ChildProcess {
  const p = spawn(process.execPath, [path.join(repoRoot(), 'dist/northbound/cli/weft.js'), 'controller', '--of-port', String(ofPort), '--of-host', '127.0.0.1',
    '--api-port', String(apiPort), '--db', path.join(dir, 'weft.db'), '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'] });
  return p;
}
async function call<T = Record<string, unknown>>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) };
  const r = await fetch(base + url, { method, headers, body: body ? JSON.stringify(body) : undefined });
  return { status: r.status, body: (r.status === 204 ? undefined : await r.json()) as T };
}
interface Ep { id: string; ip: string; mac: string; portName: string; prefixLength: number; gateway: string; state: string; mtu: number }

before(async () => {
  if (!(await ovsAvailable())) { assert.ok(!process.env.CI, 'OVS must run in CI'); skip = true; return; }
  proc = startWeft();
  await waitFor(() => call('GET', '/v1/health').then((r) => r.status === 200), { what: 'controller API', timeoutMs: 15000 });
  token = fs.readFileSync(tokenFile, 'utf8').trim();
  br = await TestBridge.create({ controllerPort: ofPort, maxBackoffMs: 1000 });
});
after(async () => {
  await cleanupNetns();
  await br?.destroy();
  proc?.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

async function attach(containerId: string, network: string, ns?: string, extra: Record<string, string> = {}): Promise<Ep & { ns: string }> {
  const r = await call<Ep>('POST', '/v1/endpoints', { containerId, ifName: 'eth0', host: 'local', network, ...extra });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const n = ns ?? (await newNetns());
  await plugVeth({ ns: n, ifName: 'eth0', ...r.body });
  await vsctl('add-port', br!.name, r.body.portName);
  const ready = await call<Ep>('GET', `/v1/endpoints/${r.body.id}?wait=ready&timeoutMs=10000`);
  assert.equal(ready.body.state, 'ready');
  return { ...ready.body, ns: n };
}

test('containers on a real OVS bridge', async (t) => {
  if (skip) { t.skip('no OVS'); return; }
  const dpid = await br!.dpid();
  assert.equal((await call('POST', '/v1/hosts', { name: 'local', dpid, underlayIp: '172.31.254.1' })).status, 201);
  await waitFor(() => call<{ connected: boolean }>('GET', '/v1/hosts/local').then((r) => r.body.connected), { what: 'br connected', timeoutMs: 15000 });
  await call('POST', '/v1/networks', { name: 'blue', cidr: '10.11.0.0/24' });
  await call('POST', '/v1/networks', { name: 'red', cidr: '10.12.0.0/24' });
  const a = await attach('ca', 'blue');
  const b = await attach('cb', 'blue');
  const c = await attach('cc', 'red');

  await t.test('same network: ping and TCP', async () => {
    assert.deepEqual(await ping(a.ns, b.ip), { sent: 2, received: 2 });
    const stop = await tcpEchoServer(b.ns, 7000);
    assert.equal(await tcpEcho(a.ns, b.ip, 7000, 'hello over tcp'), 'hello over tcp');
    stop();
  });

  await t.test('other network through the distributed gateway (TTL decremented)', async () => {
    const out = await nsExec(a.ns, 'ping', ['-c', '2', '-W', '2', c.ip]);
    assert.match(out, /2 received/);
    assert.match(out, /ttl=63/, 'one routed hop');
    const neigh = await nsExec(a.ns, 'ip', ['neigh', 'show', a.gateway]);
    assert.match(neigh, /lladdr 0e:00:00:00:00:01/, 'the gateway\'s ARP is answered by flows');
  });

  await t.test('steady state never reaches the controller: no packet-in flows exist', async () => {
    const flows = await br!.dumpFlows();
    assert.ok(flows.every((f) => !/CONTROLLER/.test(f)), flows.join('\n'));
    assert.ok(flows.length >= 5 + 3 * 3 + 2 * 3, `miss + at least 3 per endpoint + gateway ARP, derived ARP and routing per network (${flows.length})`);
  });

  await t.test('forged source IP or MAC gets nothing through', async () => {
    await nsExec(a.ns, 'ip', ['addr', 'add', '10.11.0.99/24', 'dev', 'eth0']);
    assert.equal((await ping(a.ns, b.ip, 2, 1, ['-I', '10.11.0.99'])).received, 0, 'forged IP dropped');
    assert.equal((await ping(a.ns, b.ip, 2, 2, ['-I', a.ip])).received, 2, 'the control: its own IP gets through');
    await nsExec(a.ns, 'ip', ['addr', 'del', '10.11.0.99/24', 'dev', 'eth0']);
    await nsExec(a.ns, 'ip', ['link', 'set', 'eth0', 'address', '02:66:66:66:66:66']);
    assert.equal((await ping(a.ns, b.ip)).received, 0, 'forged MAC dropped');
    await nsExec(a.ns, 'ip', ['link', 'set', 'eth0', 'address', a.mac]);
    await nsExec(a.ns, 'ip', ['neigh', 'flush', 'all']);
    assert.equal((await ping(a.ns, b.ip)).received, 2, 'own MAC works again');
  });

  await t.test('controller SIGKILL + restart while pinging: no loss, state intact', async () => {
    const before = (await call<Ep[]>('GET', '/v1/endpoints')).body;
    const ping80 = spawn('ip', ['netns', 'exec', a.ns, 'ping', '-c', '80', '-i', '0.05', '-W', '1', b.ip], { stdio: ['ignore', 'pipe', 'inherit'] });
    let pingOut = '';
    ping80.stdout!.on('data', (d: Buffer) => (pingOut += d.toString()));
    const pinger = new Promise<string>((resolve, reject) => {
      ping80.once('error', reject);
      ping80.once('close', (code) => (code === 0 ? resolve(pingOut) : reject(new Error(`ping exited ${code}: ${pingOut}`))));
    });
    pinger.catch(() => undefined); // awaited below; no unhandled rejection meanwhile
    // the controller dies while the ping runs: after its first replies
    await waitFor(() => (pingOut.match(/bytes from/g) ?? []).length >= 5, { what: 'the ping under way', timeoutMs: 5000 });
    proc!.kill('SIGKILL');
    await new Promise((r) => proc!.once('exit', r));
    proc = startWeft();
    await waitFor(() => call('GET', '/v1/health').then((r) => r.status === 200), { what: 'controller back', timeoutMs: 15000 });
    assert.equal(fs.readFileSync(tokenFile, 'utf8').trim(), token, 'the restarted controller keeps its admin token');
    const out = await pinger;
    assert.match(out, /80 packets transmitted, 80 received/);
    const afterRestart = (await call<Ep[]>('GET', '/v1/endpoints')).body;
    assert.deepEqual(afterRestart.map((e) => [e.id, e.ip, e.state]), before.map((e) => [e.id, e.ip, e.state]));
    // the new round replaces the old one: no flow of the old round remains
    await waitFor(async () => {
      const cookies = new Set((await br!.dumpFlows()).map((f) => (/cookie=0x([0-9a-f]+)/.exec(f)?.[1] ?? '0').padStart(16, '0').slice(0, 4)));
      return cookies.size === 1 && !cookies.has('0000');
    }, { what: 'one round of flows', timeoutMs: 15000 });
    assert.equal((await ping(a.ns, b.ip)).received, 2);
  });

  await t.test('detach removes the endpoint\'s flows and its connectivity', async () => {
    const flowsBefore = (await br!.dumpFlows()).length;
    assert.equal((await call('DELETE', `/v1/endpoints/${b.id}`)).status, 204);
    const flowsAfter = await br!.dumpFlows();
    assert.ok(flowsAfter.length <= flowsBefore - 3, `at least its three flows went (${flowsBefore} -> ${flowsAfter.length})`);
    assert.ok(!flowsAfter.some((f) => f.includes(b.mac)), 'no flow mentions its MAC');
    assert.equal((await ping(a.ns, b.ip)).received, 0);
    assert.equal((await ping(a.ns, c.ip)).received, 2, 'the control: a still reaches c');
  });
});
