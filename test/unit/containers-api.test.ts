// Hosts, networks, endpoints and IPAM through the REST API (app.inject),
// without switches: validation, block affinity, uniqueness, persistence.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startController } from '../helpers/controller';
import { repoRoot } from '../helpers/paths';
import { portNameFor } from '../../northbound/cni/add';
import type { Controller } from '../../northbound/compose';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-capi-'));
const db = path.join(dir, 'weft.db');
let ctl: Controller & { cleanup(): Promise<void> };
after(async () => { await ctl?.cleanup(); fs.rmSync(dir, { recursive: true, force: true }); });

async function req<T = Record<string, unknown>>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> {
  const r = await ctl.api!.inject({ method: method as 'GET', url, payload: body as object });
  return { status: r.statusCode, body: (r.body ? r.json() : undefined) as T };
}
const counts = async () => [
  (await req<unknown[]>('GET', '/v1/hosts?kind=registered')).body.length,
  (await req<unknown[]>('GET', '/v1/networks')).body.length,
  (await req<unknown[]>('GET', '/v1/endpoints')).body.length,
];

test('setup', async () => { ctl = await startController({ db, apps: 'none' }); });

test('hosts: create, conflicts, validation naming the field', async () => {
  const ok = await req('POST', '/v1/hosts', { name: 'node1', dpid: '0000000000000A01', underlayIp: '172.31.250.2', phyDpid: '0000000000000b01' });
  assert.equal(ok.status, 201);
  assert.equal(ok.body.dpid, '0000000000000a01');
  assert.equal(ok.body.connected, false);
  await req('POST', '/v1/hosts', { name: 'node2', dpid: '0000000000000a02', underlayIp: '172.31.250.3', phyDpid: '0000000000000b02' });
  const before = await counts();
  for (const [body, status, field] of [
    [{ name: 'node1', dpid: '0000000000000a09', underlayIp: '1.2.3.4' }, 409, 'name'],
    [{ name: 'node9', dpid: '0000000000000a01', underlayIp: '1.2.3.4' }, 409, 'dpid'],
    [{ name: 'node9', dpid: 'xyz', underlayIp: '1.2.3.4' }, 400, 'dpid'],
    [{ name: 'node9', dpid: '0000000000000a09', underlayIp: '1.2.3.400' }, 400, 'underlayIp'],
    [{ name: 'node9', dpid: '0000000000000a09' }, 400, 'underlayIp'],
    [{ name: 'bad name!', dpid: '0000000000000a09', underlayIp: '1.2.3.4' }, 400, 'name'],
    [{ name: 'node9', dpid: '0000000000000a09', underlayIp: '1.2.3.4', extra: 1 }, 400, undefined],
    [{ name: 'node9', dpid: '0000000000000a09', underlayIp: '1.2.3.4', underlayGateway: '1.2.4.1' }, 400, 'underlayGateway'],
    [{ name: 'node9', dpid: '0000000000000a09', underlayIp: '1.2.3.4', underlayGateway: '1.2.3.4' }, 400, 'underlayGateway'],
    [{ name: 'node9', dpid: '0000000000000a09', underlayIp: '1.2.3.4', underlayGateway: 'router' }, 400, 'underlayGateway'],
    [{ name: 'node9', dpid: '0000000000000a09', underlayIp: '1.2.3.4', underlayPrefix: 24 }, 400, 'underlayPrefix'],
    [{ name: 'node9', dpid: '0000000000000a09', underlayIp: '1.2.3.4', underlayGateway: '1.2.3.1', underlayPrefix: 32 }, 400, 'underlayPrefix'],
  ] as const) {
    const r = await req<{ error: string; field?: string; message: string }>('POST', '/v1/hosts', body);
    assert.equal(r.status, status, JSON.stringify(body));
    if (field) assert.equal(r.body.field, field, `${JSON.stringify(body)} -> ${r.body.message}`);
    assert.ok(r.body.message.length > 5);
  }
  const bad = await ctl.api!.inject({ method: 'POST', url: '/v1/hosts', payload: '{not json', headers: { 'content-type': 'application/json' } });
  assert.equal(bad.statusCode, 400);
  assert.deepEqual(await counts(), before, 'bad requests change nothing');
  assert.equal((await req('GET', '/v1/hosts/node1')).status, 200);
  // a router for egress beyond the underlay's link: another address of the host's subnet (prefix 24 unless given)
  const gw = await req<{ underlayGateway: string; underlayPrefix: number }>('POST', '/v1/hosts', { name: 'node3', dpid: '0000000000000a03', underlayIp: '10.9.1.7', underlayGateway: '10.9.0.1', underlayPrefix: 23 });
  assert.equal(gw.status, 201, JSON.stringify(gw.body));
  assert.deepEqual([gw.body.underlayGateway, gw.body.underlayPrefix], ['10.9.0.1', 23]);
  assert.deepEqual([(await req<{ underlayGateway: null }>('GET', '/v1/hosts/node1')).body.underlayGateway], [null]);
  // the list shows registered hosts the same way
  const list = await req<{ name: string; underlayGateway: string | null; underlayPrefix: number | null }[]>('GET', '/v1/hosts?kind=registered');
  assert.equal(list.status, 200, JSON.stringify(list.body));
  assert.deepEqual(list.body.map((h) => [h.name, h.underlayGateway, h.underlayPrefix]), [['node1', null, null], ['node2', null, null], ['node3', '10.9.0.1', 23]]);
  assert.equal((await req('DELETE', '/v1/hosts/node3')).status, 204);
  assert.equal((await req('GET', '/v1/hosts/nope')).status, 404);
});

test('networks: defaults, VNI, validation', async () => {
  const n = await req('POST', '/v1/networks', { name: 'blue', cidr: '10.1.0.0/24', blockSize: 28 });
  assert.equal(n.status, 201);
  assert.equal(n.body.gateway, '10.1.0.1');
  assert.equal(n.body.mode, 'local');
  const m = await req('POST', '/v1/networks', { name: 'red', cidr: '10.2.0.0/29' });
  assert.notEqual(m.body.vni, n.body.vni);
  const before = await counts();
  for (const [body, status, field] of [
    [{ name: 'blue', cidr: '10.9.0.0/24' }, 409, 'name'],
    [{ name: 'x', cidr: '10.9.0.1/24' }, 400, 'cidr'],
    [{ name: 'x', cidr: '10.9.0.0' }, 400, 'cidr'],
    [{ name: 'x', cidr: '10.9.0.0/31' }, 400, 'cidr'],
    [{ name: 'x', cidr: '10.9.0.0/24', gateway: '10.8.0.1' }, 400, 'gateway'],
    [{ name: 'x', cidr: '10.9.0.0/24', gateway: '10.9.0.255' }, 400, 'gateway'],
    [{ name: 'x', cidr: '10.9.0.0/24', mode: 'bogus' }, 400, 'mode'],
    [{ name: 'x', cidr: '10.9.0.0/24', blockSize: 40 }, 400, 'blockSize'],
  ] as const) {
    const r = await req<{ field?: string; message: string }>('POST', '/v1/networks', body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal(r.body.field, field, `${JSON.stringify(body)} -> ${r.body.message}`);
  }
  assert.deepEqual(await counts(), before);
  assert.equal((await req('GET', '/v1/networks/blue')).status, 200);
  assert.equal((await req('GET', `/v1/networks/${n.body.id}`)).body.name, 'blue');
});

test('endpoints: allocation skips reserved addresses, block affinity per host, idempotent retries', async () => {
  const a = await req<{ ip: string; state: string; portName: string; mac: string; prefixLength: number; gateway: string; id: string }>('POST', '/v1/endpoints', { containerId: 'c1', ifName: 'eth0', host: 'node1', network: 'blue' });
  assert.equal(a.status, 201);
  assert.equal(a.body.ip, '10.1.0.2', 'network address and gateway are skipped');
  assert.equal(a.body.state, 'pending');
  assert.equal(a.body.prefixLength, 24);
  assert.equal(a.body.gateway, '10.1.0.1');
  assert.match(a.body.portName, /^wf[0-9a-f]{11}$/);
  assert.equal(a.body.portName, portNameFor('c1', 'eth0'), 'weft-cni names the host end the same way before it asks');
  const again = await req<{ id: string }>('POST', '/v1/endpoints', { containerId: 'c1', ifName: 'eth0', host: 'node1', network: 'blue' });
  assert.equal(again.status, 200);
  assert.equal(again.body.id, a.body.id);
  const b = await req<{ ip: string; ofportRequest: number }>('POST', '/v1/endpoints', { containerId: 'c2', ifName: 'eth0', host: 'node2', network: 'blue' });
  // OpenFlow port numbers to ask OVS for: from 10000, per host
  assert.deepEqual([(a.body as unknown as { ofportRequest: number }).ofportRequest, b.body.ofportRequest], [10000, 10000]);
  const a2 = await req<{ ofportRequest: number; id: string }>('POST', '/v1/endpoints', { containerId: 'c1b', ifName: 'eth0', host: 'node1', network: 'blue' });
  assert.equal(a2.body.ofportRequest, 10001);
  assert.equal((await req('DELETE', `/v1/endpoints/${a2.body.id}`)).status, 204);
  assert.equal(b.body.ip, '10.1.0.16', 'node2 claims its own /28 block (only the network\'s own first and last addresses are reserved)');
  const blocks = (await req<{ blocks: { cidr: string; host: string }[] }>('GET', '/v1/networks/blue')).body.blocks;
  assert.deepEqual(blocks.map((x) => [x.cidr, x.host]), [['10.1.0.0/28', 'node1'], ['10.1.0.16/28', 'node2']]);
  const s = await req<{ ip: string; requestedIp: string }>('POST', '/v1/endpoints', { containerId: 'c3', ifName: 'eth0', host: 'node1', network: 'blue', ip: '10.1.0.200' });
  assert.equal(s.status, 201);
  assert.equal(s.body.requestedIp, '10.1.0.200');
});

test('endpoints: bad input and conflicts change nothing', async () => {
  const before = await counts();
  for (const [body, status, field] of [
    [{ containerId: 'c9', ifName: 'eth0', host: 'nope', network: 'blue' }, 404, 'host'],
    [{ containerId: 'c9', ifName: 'eth0', host: 'node1', network: 'nope' }, 404, 'network'],
    [{ containerId: 'c9', ifName: 'eth0', host: 'node1', network: 'blue', ip: '10.1.0.200' }, 409, 'ip'],
    [{ containerId: 'c9', ifName: 'eth0', host: 'node1', network: 'blue', ip: '10.1.0.1' }, 400, 'ip'],
    [{ containerId: 'c9', ifName: 'eth0', host: 'node1', network: 'blue', ip: '10.1.0.255' }, 400, 'ip'],
    [{ containerId: 'c9', ifName: 'eth0', host: 'node1', network: 'blue', ip: '10.7.0.5' }, 400, 'ip'],
    [{ containerId: 'c9', ifName: 'eth0', host: 'node1', network: 'blue', mac: '01:00:00:00:00:01' }, 400, 'mac'],
    [{ containerId: 'c9', ifName: 'a/b', host: 'node1', network: 'blue' }, 400, 'ifName'],
    [{ containerId: 'c1', ifName: 'eth0', host: 'node2', network: 'blue' }, 409, 'ifName'],
    [{ ifName: 'eth0', host: 'node1', network: 'blue' }, 400, 'containerId'],
  ] as const) {
    const r = await req<{ field?: string; message: string }>('POST', '/v1/endpoints', body);
    assert.equal(r.status, status, JSON.stringify(body) + ' ' + r.body.message);
    assert.equal(r.body.field, field, `${JSON.stringify(body)} -> ${r.body.message}`);
  }
  assert.deepEqual(await counts(), before);
});

test('published ports: validated, unique per host and protocol, gone with the endpoint', async () => {
  const ok = await req<{ id: string; portMappings: { hostPort: number; hostIP: string; protocol: string }[] }>('POST', '/v1/endpoints',
    { containerId: 'web', ifName: 'eth0', host: 'node1', network: 'blue', portMappings: [{ hostPort: 18080, containerPort: 80 }, { hostPort: 18080, containerPort: 53, protocol: 'udp' }] });
  assert.equal(ok.status, 201);
  assert.deepEqual(ok.body.portMappings.map((m) => [m.protocol, m.hostPort, m.hostIP]), [['tcp', 18080, '172.31.250.2'], ['udp', 18080, '172.31.250.2']]);
  const before = await counts();
  for (const [pm, status, field] of [
    [[{ hostPort: 18080, containerPort: 81 }], 409, 'portMappings.0.hostPort'],
    [[{ hostPort: 9000, containerPort: 80 }, { hostPort: 9000, containerPort: 81 }], 409, 'portMappings.1.hostPort'],
    [[{ hostPort: 9000, containerPort: 80, hostIP: '10.9.9.9' }], 400, 'portMappings.0.hostIP'],
    [[{ hostPort: 0, containerPort: 80 }], 400, 'portMappings.0.hostPort'],
    [[{ hostPort: 9000, containerPort: 80, protocol: 'sctp' }], 400, 'portMappings.0.protocol'],
  ] as const) {
    const r = await req<{ field?: string; message: string }>('POST', '/v1/endpoints', { containerId: 'web2', ifName: 'eth0', host: 'node1', network: 'blue', portMappings: pm });
    assert.equal(r.status, status, `${JSON.stringify(pm)} ${r.body.message}`);
    assert.equal(r.body.field, field, `${JSON.stringify(pm)} -> ${r.body.message}`);
  }
  assert.deepEqual(await counts(), before);
  // published on another host: no clash
  const other = await req('POST', '/v1/endpoints', { containerId: 'web3', ifName: 'eth0', host: 'node2', network: 'blue', portMappings: [{ hostPort: 18080, containerPort: 80 }] });
  assert.equal(other.status, 201);
  assert.equal((await req('DELETE', `/v1/endpoints/${ok.body.id}`)).status, 204);
  const again = await req('POST', '/v1/endpoints', { containerId: 'web4', ifName: 'eth0', host: 'node1', network: 'blue', portMappings: [{ hostPort: 18080, containerPort: 80 }] });
  assert.equal(again.status, 201, 'the port is free again after DELETE');
});

test('exhaustion gives a clear 409 and deleting releases the address', async () => {
  const ips: string[] = [];
  for (let i = 0; i < 5; i++) ips.push((await req<{ ip: string }>('POST', '/v1/endpoints', { containerId: `r${i}`, ifName: 'eth0', host: 'node1', network: 'red' })).body.ip);
  assert.deepEqual(ips, ['10.2.0.2', '10.2.0.3', '10.2.0.4', '10.2.0.5', '10.2.0.6']);
  const full = await req<{ error: string; message: string }>('POST', '/v1/endpoints', { containerId: 'r9', ifName: 'eth0', host: 'node1', network: 'red' });
  assert.equal(full.status, 409);
  assert.equal(full.body.error, 'exhausted');
  assert.match(full.body.message, /red .*no free address/);
  const del = await req('DELETE', '/v1/networks/red');
  assert.equal(del.status, 409, 'a network with endpoints is not deleted');
  const list = (await req<{ id: string; ip: string }[]>('GET', '/v1/endpoints?network=red')).body;
  const victim = list.find((e) => e.ip === '10.2.0.4')!;
  assert.equal((await req('DELETE', `/v1/endpoints/${victim.id}`)).status, 204);
  assert.equal((await req('DELETE', `/v1/endpoints/${victim.id}`)).status, 404);
  const re = await req<{ ip: string }>('POST', '/v1/endpoints', { containerId: 'r9', ifName: 'eth0', host: 'node1', network: 'red' });
  assert.equal(re.body.ip, '10.2.0.4');
});

test('100 concurrent attaches get 100 distinct addresses', async () => {
  await req('POST', '/v1/networks', { name: 'many', cidr: '10.50.0.0/16' });
  const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => req<{ ip: string }>('POST', '/v1/endpoints', { containerId: `m${i}`, ifName: 'eth0', host: i % 2 ? 'node1' : 'node2', network: 'many' })));
  assert.ok(rs.every((r) => r.status === 201));
  assert.equal(new Set(rs.map((r) => r.body.ip)).size, 100);
  const blocks = (await req<{ blocks: { host: string }[] }>('GET', '/v1/networks/many')).body.blocks;
  assert.deepEqual(blocks.map((b) => b.host).sort(), ['node1', 'node2'], 'each host aggregates under one /26');
});

test('DELETE /v1/hosts/{name} answers 409 while the host has endpoints, and changes nothing', async () => {
  const before = await counts();
  const host = (await req<{ endpoints: number }>('GET', '/v1/hosts/node1')).body;
  assert.ok(host.endpoints > 0);
  const eps = (await req<{ id: string }[]>('GET', '/v1/endpoints?host=node1')).body.map((e) => e.id);
  const r = await req<{ error: string; message: string }>('DELETE', '/v1/hosts/node1');
  assert.equal(r.status, 409);
  assert.equal(r.body.error, 'conflict');
  assert.match(r.body.message, new RegExp(`host node1 still has ${host.endpoints} endpoint\\(s\\)`));
  assert.deepEqual(await counts(), before);
  assert.deepEqual((await req('GET', '/v1/hosts/node1')).body, host, 'the host is unchanged');
  assert.deepEqual((await req<{ id: string }[]>('GET', '/v1/endpoints?host=node1')).body.map((e) => e.id), eps);
  assert.equal((await req('DELETE', '/v1/hosts/nope')).status, 404);
});

test('GET /openapi.json over HTTP is docs/openapi.json', async () => {
  const res = await fetch(`http://127.0.0.1:${ctl.apiPort}/openapi.json`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const served = await res.json() as { paths: Record<string, unknown> };
  const doc = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'docs/openapi.json'), 'utf8')) as unknown;
  assert.deepEqual(served, doc);
  assert.ok(served.paths['/v1/endpoints'] && served.paths['/v1/hosts/{name}'], 'it documents the container routes');
});

test('a restart keeps hosts, networks, endpoints and allocations', async () => {
  const before = (await req<{ id: string; ip: string }[]>('GET', '/v1/endpoints')).body;
  await ctl.stop();
  ctl = await startController({ db, apps: 'none' });
  const afterRestart = (await req<{ id: string; ip: string }[]>('GET', '/v1/endpoints')).body;
  assert.deepEqual(afterRestart.map((e) => [e.id, e.ip]), before.map((e) => [e.id, e.ip]));
  assert.equal((await req<unknown[]>('GET', '/v1/networks')).body.length, 3);
  assert.equal(ctl.round, 2, 'each start is a new flow round');
  const again = await req<{ ip: string }>('POST', '/v1/endpoints', { containerId: 'fresh', ifName: 'eth0', host: 'node1', network: 'many' });
  assert.ok(!before.some((e) => e.ip === again.body.ip && e.ip.startsWith('10.50.')), 'no reuse of a live address after restart');
});
