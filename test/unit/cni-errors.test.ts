// The CNI error codes of docs/cni.md, each triggered for real through the
// weft-cni executable (environment + stdin, as a runtime runs it) against
// the real controller in-process (test/helpers/cni-fake-api.ts startCniHost):
// 3 (no such netns), 5 (stdin unreadable), 7 (the configuration does not
// match what Weft knows), 11 (API unreachable, endpoint never ready), 101
// and 102 (the token refused, or not covering the host) and
// 999 (address conflict, exhausted network).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../helpers/paths';
import { startCniHost, CniHost, FakeOvs } from '../helpers/cni-fake-api';
import { portNameFor } from '../../northbound/cni/add';

const plugin = () => path.join(repoRoot(), 'dist/northbound/cni/weft-cni.js');
const isRoot = process.getuid?.() === 0;

interface Run { code: number | null; stdout: string; json: Record<string, unknown> | undefined }

/** Runs weft-cni; `stdin` is the configuration, or a file descriptor to hand it as stdin. */
function runPlugin(env: Record<string, string>, stdin: string | number, pathEnv = h.ovs.path): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [plugin()], { env: { PATH: pathEnv, ...env }, stdio: [typeof stdin === 'number' ? stdin : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: Record<string, unknown> | undefined;
      try { json = JSON.parse(stdout) as Record<string, unknown>; } catch { json = undefined; }
      resolve({ code, stdout, json });
    });
    if (typeof stdin === 'string') child.stdin!.end(stdin);
  });
}

function assertCode(r: Run, code: number, msg: RegExp): void {
  assert.equal(r.code, 1, `exit status 1: ${r.stdout}`);
  assert.equal(r.json?.code, code, r.stdout);
  assert.match(String(r.json?.msg), msg);
}

let h: CniHost;
let tmp: string;
let NETNS: string;

before(async () => {
  h = await startCniHost({ host: 'host1', network: 'blue', cidr: '10.92.0.0/24' });
  // a full one: the network address, gateway and broadcast leave 5 addresses of a /29
  assert.equal((await h.req('POST', '/v1/networks', { name: 'tiny', cidr: '10.93.0.0/29' })).status, 201);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-cni-errors-'));
  NETNS = isRoot ? h.netns() : `/proc/${process.pid}/ns/net`;
});

after(async () => {
  await h.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const conf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'blue', type: 'weft-cni', api: h.api.url, host: 'host1', ovsdb: `unix:${tmp}/no-ovsdb.sock`, tokenFile: h.tokenFile, ...extra });
const env = (extra: Record<string, string> = {}) => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'err1', CNI_NETNS: NETNS, CNI_IFNAME: 'eth0', ...extra });
const endpoints = async () => (await h.req<{ id: string; containerId: string; ip: string }[]>('GET', '/v1/endpoints')).body;
const hostLinks = () => (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[])
  .map((l) => l.ifname).filter((n) => /^(wf[0-9a-f]{11}|weft[0-9a-f]{8})$/.test(n)).sort();

test('3: ADD and CHECK with a CNI_NETNS that does not exist; nothing is asked of Weft', async () => {
  const before = h.api.requests.length;
  assertCode(await runPlugin(env({ CNI_NETNS: '/run/netns/weft-no-such-ns' }), conf()), 3, /CNI_NETNS \/run\/netns\/weft-no-such-ns does not exist/);
  const prevResult = { cniVersion: '1.0.0', interfaces: [{ name: 'wf0', mac: '02:00:00:00:00:01' }, { name: 'eth0', sandbox: '/run/netns/weft-no-such-ns' }], ips: [] };
  assertCode(await runPlugin(env({ CNI_COMMAND: 'CHECK', CNI_NETNS: '/run/netns/weft-no-such-ns' }), conf({ prevResult })), 3, /does not exist/);
  assert.equal(h.api.requests.length, before);
});

test('5: stdin that cannot be read', async () => {
  // a write-only descriptor as stdin: read() fails with EBADF
  const fd = fs.openSync(path.join(tmp, 'write-only'), 'w');
  try {
    const before = h.api.requests.length;
    assertCode(await runPlugin(env(), fd), 5, /reading the network configuration from stdin failed/);
    assert.equal(h.api.requests.length, before, 'nothing was asked of Weft');
  } finally {
    fs.closeSync(fd);
  }
});

test('7: the controller rejects the configuration: unknown host or network (404), an address outside the network (400)', async () => {
  const linksBefore = hostLinks();
  const n = await runPlugin(env(), conf({ network: 'green' }));
  assertCode(n, 7, /network green not found/);
  assert.equal(n.json?.details, 'HTTP 404 not_found');
  assertCode(await runPlugin(env(), conf({ host: 'host9' })), 7, /host host9 not found \(register it with POST \/v1\/hosts\)/);
  const ip = await runPlugin(env({ CNI_ARGS: 'IP=10.99.0.5' }), conf());
  assertCode(ip, 7, /10\.99\.0\.5 is not in 10\.92\.0\.0\/24 \(field ip\)/);
  assert.equal(ip.json?.details, 'HTTP 400 bad_request');
  assert.deepEqual(await endpoints(), []);
  assert.deepEqual(hostLinks(), linksBefore, 'the veth made meanwhile was removed');
});

test('11: the API is unreachable', async () => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const linksBefore = hostLinks();
  assertCode(await runPlugin(env(), conf({ api: `http://127.0.0.1:${port}` })), 11, /Weft API at http:\/\/127\.0\.0\.1:\d+ is unreachable \(creating the endpoint\)/);
  assert.deepEqual(hostLinks(), linksBefore);
});

test('11: the endpoint is not ready within readyTimeoutMs (its host\'s br-int never reports the port), and the ADD is rolled back', async (t) => {
  if (!isRoot) return t.skip('needs root to create veth pairs and namespaces');
  // host2 is registered, but no switch is connected as its br-int
  assert.equal((await h.req('POST', '/v1/hosts', { name: 'host2', dpid: '0000000000c0de02', underlayIp: '172.31.254.2' })).status, 201);
  const ovs2 = await FakeOvs.start({ 'br-int': null });
  try {
    const linksBefore = hostLinks();
    const r = await runPlugin(env({ CNI_CONTAINERID: 'slow1' }), conf({ host: 'host2', readyTimeoutMs: 300 }), ovs2.path);
    assertCode(r, 11, /is not ready after 300 ms \(state pending\)/);
    assert.equal(r.json?.details, undefined, `rollback complete: ${r.stdout}`);
    assert.deepEqual(await endpoints(), [], 'the endpoint it created was deleted');
    assert.equal(ovs2.interfaces.size, 0, 'its OVS port was deleted');
    assert.ok(ovs2.calls.some((c) => c.includes('add-port')), 'the port had been added');
    assert.deepEqual(hostLinks(), linksBefore, 'its veth was deleted');
    assert.ok(!hostLinks().includes(portNameFor('slow1', 'eth0')));
  } finally {
    await ovs2.close();
    await h.req('DELETE', '/v1/hosts/host2');
  }
});

test('101 and 102: the API refuses the token (revoked: 401) or the token may not act for this host (403); nothing is left', async () => {
  const linksBefore = hostLinks();
  const bad = path.join(tmp, 'bad.token');
  fs.writeFileSync(bad, 'weft_0000000000000000_notarealtoken\n', { mode: 0o600 });
  const r = await runPlugin(env({ CNI_CONTAINERID: 'tok401' }), conf({ tokenFile: bad }));
  assertCode(r, 101, /check the tokenFile of this configuration/);
  assert.equal(r.json?.details, 'HTTP 401 unauthorized');
  // a real host token, but of another host
  assert.equal((await h.req('POST', '/v1/hosts', { name: 'host2', dpid: '00000000000000f2', underlayIp: '172.31.238.2' })).status, 201);
  const t = await h.req<{ token: string }>('POST', '/v1/tokens', { role: 'host', host: 'host2' });
  const other = path.join(tmp, 'host2.token');
  fs.writeFileSync(other, `${t.body.token}\n`, { mode: 0o600 });
  const f = await runPlugin(env({ CNI_CONTAINERID: 'tok403' }), conf({ tokenFile: other }));
  assertCode(f, 102, /a host token acts only for its own host/);
  assert.equal(f.json?.details, 'HTTP 403 forbidden');
  assert.deepEqual(await endpoints(), []);
  assert.deepEqual(hostLinks(), linksBefore);
  assert.equal((await h.req('DELETE', '/v1/hosts/host2')).status, 204);
});

test('999: a static address in use (API 409 conflict) and an exhausted network (API 409 exhausted), with the API\'s message', async () => {
  const taken = await h.req<{ id: string; ip: string }>('POST', '/v1/endpoints', { containerId: 'holder', ifName: 'eth0', host: 'host1', network: 'blue' });
  assert.equal(taken.status, 201);
  const c = await runPlugin(env({ CNI_ARGS: `IP=${taken.body.ip}` }), conf());
  assertCode(c, 999, new RegExp(`${taken.body.ip.replace(/\./g, '\\.')} is already in use in network blue`));
  assert.equal(c.json?.details, 'HTTP 409 conflict');
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await h.req<{ id: string }>('POST', '/v1/endpoints', { containerId: `fill${i}`, ifName: 'eth0', host: 'host1', network: 'tiny' });
    assert.equal(r.status, 201);
    ids.push(r.body.id);
  }
  const linksBefore = hostLinks();
  const x = await runPlugin(env({ CNI_CONTAINERID: 'onetoomany' }), conf({ name: 'tiny' }));
  assertCode(x, 999, /network tiny \(10\.93\.0\.0\/29\) has no free address/);
  assert.equal(x.json?.details, 'HTTP 409 exhausted');
  assert.equal((await endpoints()).length, 6, 'nothing was added');
  assert.deepEqual(hostLinks(), linksBefore);
  for (const id of [taken.body.id, ...ids]) assert.equal((await h.req('DELETE', `/v1/endpoints/${id}`)).status, 204);
});
