// The Docker plugin's protocol server and handlers without dockerd or OVS:
// malformed and oversize requests, unknown calls and ids, IPAM pools and
// reservations against an in-process controller, a dockerd stand-in for
// network names; and PATCH /v1/endpoints/{id} (its checks and scopes).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { startController } from '../helpers/controller';
import type { Controller } from '../../northbound/compose';
import { WeftApi } from '../../northbound/cni/api-client';
import { Ovs } from '../../northbound/cni/ovs';
import { DockerApi } from '../../northbound/docker/docker-api';
import { DockerDriver, RESERVE_PREFIX, portMappingsOf, canonicalCidr } from '../../northbound/docker/driver';
import { PluginServer, dispatch, MAX_BODY_BYTES } from '../../northbound/docker/protocol';
import { parsePluginArgs } from '../../northbound/docker/plugin';

const log = pino({ level: 'silent' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-dkp-'));
let ctl: Controller & { cleanup(): Promise<void> };
let api: WeftApi;
let driver: DockerDriver;
let server: PluginServer;
const socket = path.join(dir, 'weft.sock');
/** dockerd's stand-in: GET /networks answers with `dockerNets`. */
let dockerNets: unknown[] = [];
let fakeDocker: http.Server;
const NID = 'a'.repeat(64);
const EID = 'b'.repeat(64);

async function call(method: string, body: unknown, raw?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const text = raw ?? JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path: `/${method}`, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      const c: Buffer[] = [];
      res.on('data', (d: Buffer) => c.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(c).toString() || '{}') as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

before(async () => {
  ctl = await startController({ apps: 'none' });
  const admin = new WeftApi(`http://127.0.0.1:${ctl.apiPort}`, 5000, { token: ctl.adminToken });
  const r = await ctl.api!.inject({ method: 'POST', url: '/v1/hosts', payload: { name: 'dh1', dpid: '0000000000000d01', underlayIp: '172.31.250.20', phyDpid: '0000000000000e01' } });
  assert.equal(r.statusCode, 201);
  await ctl.api!.inject({ method: 'POST', url: '/v1/hosts', payload: { name: 'dh2', dpid: '0000000000000d02', underlayIp: '172.31.250.21' } });
  api = admin;
  const dsock = path.join(dir, 'docker.sock');
  fakeDocker = http.createServer((q, s) => {
    if (q.url?.startsWith('/networks?')) { s.end(JSON.stringify(dockerNets)); return; }
    const id = decodeURIComponent(q.url!.slice('/networks/'.length));
    const n = (dockerNets as { Id: string }[]).find((x) => x.Id === id);
    s.statusCode = n ? 200 : 404;
    s.end(JSON.stringify(n ?? { message: 'not found' }));
  });
  await new Promise<void>((res) => fakeDocker.listen(dsock, res));
  // an Ovs whose commands would fail: the handlers tested here must not reach OVS
  driver = new DockerDriver({ api, ovs: new Ovs('unix:/nonexistent/db.sock', 'br-int'), host: 'dh1', docker: new DockerApi(`unix://${dsock}`), log });
  server = new PluginServer({ socket, handlers: driver.handlers(), log, maxBodyBytes: 64 * 1024 });
  await server.start();
});

after(async () => {
  await server?.stop();
  fakeDocker?.close();
  await ctl?.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the socket is 0600 and a second plugin on it is refused', async () => {
  assert.equal(fs.statSync(socket).mode & 0o777, 0o600);
  const other = new PluginServer({ socket, handlers: {}, log });
  await assert.rejects(other.start(), /another plugin is listening/);
});

test('Activate, capabilities and address spaces', async () => {
  assert.deepEqual((await call('Plugin.Activate', {})).json, { Implements: ['NetworkDriver', 'IpamDriver'] });
  assert.equal((await call('NetworkDriver.GetCapabilities', {})).json.Scope, 'local');
  assert.equal((await call('IpamDriver.GetCapabilities', {})).json.RequiresMACAddress, true);
  assert.deepEqual((await call('IpamDriver.GetDefaultAddressSpaces', {})).json, { LocalDefaultAddressSpace: 'weft', GlobalDefaultAddressSpace: 'weft' });
  // DiscoverNew/Delete are accepted and do nothing
  assert.equal((await call('NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: {} })).status, 200);
  assert.equal((await call('NetworkDriver.DiscoverDelete', { DiscoveryType: 1, DiscoveryData: {} })).status, 200);
});

test('malformed requests: bad JSON, not an object, unknown call, wrong method, oversize body', async () => {
  const bad = await call('NetworkDriver.Join', undefined, '{"EndpointID": ');
  assert.equal(bad.status, 400);
  assert.match(String(bad.json.Err), /not JSON/);
  assert.equal((await call('NetworkDriver.Join', undefined, '[1,2]')).status, 400);
  assert.equal((await call('NetworkDriver.Join', undefined, '"x"')).status, 400);
  const unknown = await call('NetworkDriver.Nope', {});
  assert.equal(unknown.status, 404);
  assert.match(String(unknown.json.Err), /unknown call/);
  // prototype names are no calls
  assert.equal((await call('constructor', {})).status, 404);
  assert.equal((await call('__proto__', {})).status, 404);
  const get = await dispatch({ 'Plugin.Activate': async () => ({}) }, 'GET', '/Plugin.Activate', async () => Buffer.alloc(0));
  assert.equal(get.status, 405);
  const big = await call('NetworkDriver.Join', undefined, JSON.stringify({ EndpointID: EID, pad: 'x'.repeat(100 * 1024) }));
  assert.equal(big.status, 413);
  assert.ok(MAX_BODY_BYTES >= 64 * 1024);
  // the server still answers after all that
  assert.equal((await call('Plugin.Activate', {})).status, 200);
});

test('unknown and malformed Docker ids', async () => {
  for (const m of ['NetworkDriver.Join', 'NetworkDriver.Leave', 'NetworkDriver.EndpointOperInfo', 'NetworkDriver.ProgramExternalConnectivity']) {
    const r = await call(m, { NetworkID: NID, EndpointID: '../../etc' });
    assert.equal(r.status, 400, m);
    assert.match(String(r.json.Err), /^weft: .*not a Docker id/);
  }
  const j = await call('NetworkDriver.Join', { NetworkID: NID, EndpointID: EID, SandboxKey: '/x' });
  assert.equal(j.status, 404);
  assert.match(String(j.json.Err), /Weft has no endpoint for Docker endpoint bbbbbbbbbbbb/);
  // nothing to delete is success (dockerd retries a DeleteEndpoint after a restart); operational info is empty
  assert.equal((await call('NetworkDriver.EndpointOperInfo', { NetworkID: NID, EndpointID: EID })).status, 200);
  assert.equal((await call('NetworkDriver.RevokeExternalConnectivity', { NetworkID: NID, EndpointID: EID })).status, 200);
  assert.equal((await call('NetworkDriver.DeleteNetwork', { NetworkID: 'zz' })).status, 400);
});

test('pools: a subnet is required, canonical, IPv4 only; pool ids are checked', async () => {
  assert.equal((await call('IpamDriver.RequestPool', { AddressSpace: 'weft', Pool: '' })).status, 400);
  assert.equal((await call('IpamDriver.RequestPool', { AddressSpace: 'weft', Pool: '10.1.0.0/16', V6: true })).status, 400);
  assert.equal((await call('IpamDriver.RequestPool', { AddressSpace: 'weft', Pool: '10.1.0.0/16', SubPool: '10.1.1.0/24' })).status, 400);
  assert.equal((await call('IpamDriver.RequestPool', { AddressSpace: 'weft', Pool: '10.1.0.300/16' })).status, 400);
  assert.deepEqual((await call('IpamDriver.RequestPool', { AddressSpace: 'weft', Pool: '10.1.2.3/16' })).json, { PoolID: 'weft:10.1.0.0/16', Pool: '10.1.0.0/16', Data: {} });
  for (const PoolID of ['p1', 'weft:nope', 42]) {
    const r = await call('IpamDriver.RequestAddress', { PoolID, Address: '', Options: {} });
    assert.equal(r.status, 400, String(PoolID));
  }
  assert.equal(canonicalCidr('192.168.7.9/24'), '192.168.7.0/24');
});

test('CreateNetwork refuses what Weft cannot be', async () => {
  const base = { NetworkID: NID, Options: { 'com.docker.network.generic': {} }, IPv4Data: [{ AddressSpace: 'weft', Pool: '10.2.0.0/16', Gateway: '10.2.0.1/16' }], IPv6Data: [] };
  const cases: [unknown, RegExp][] = [
    [{ ...base, IPv4Data: [] }, /needs an IPv4 subnet/],
    [{ ...base, IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.2.0.0/16' }] }, /--ipam-driver weft/],
    [{ ...base, IPv6Data: [{ Pool: 'fd00::/64' }] }, /IPv4 only/],
    [{ ...base, Options: { 'com.docker.network.generic': { 'weft.mode': 'mesh' } } }, /weft\.mode=mesh/],
    [{ ...base, Options: { 'com.docker.network.generic': { 'weft.vni': '7' } } }, /unknown option weft\.vni/],
  ];
  for (const [body, re] of cases) {
    const r = await call('NetworkDriver.CreateNetwork', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(String(r.json.Err), re);
  }
  // a refused network's pool release deletes nothing in Weft
  await api.createNetwork({ name: 'keep', cidr: '10.2.0.0/16' });
  assert.equal((await call('IpamDriver.ReleasePool', { PoolID: 'weft:10.2.0.0/16' })).status, 200);
  assert.ok(await api.getNetwork('keep'));
});

test('CreateNetwork names the Weft network after the Docker network (asked of dockerd), or adopts it', async () => {
  dockerNets = [{ Name: 'blue', Id: NID, Driver: 'weft', IPAM: { Driver: 'weft', Config: [{ Subnet: '10.3.0.0/24', Gateway: '10.3.0.1' }] }, Options: { 'weft.mode': 'overlay' } }];
  const r = await call('NetworkDriver.CreateNetwork', { NetworkID: NID, Options: { 'com.docker.network.generic': { 'weft.mode': 'overlay' } },
    IPv4Data: [{ AddressSpace: 'weft', Pool: '10.3.0.0/24', Gateway: '10.3.0.1/24' }], IPv6Data: [] });
  assert.equal(r.status, 200);
  await driver.settled();
  const n = await api.getNetwork('blue');
  assert.equal(n?.cidr, '10.3.0.0/24');
  assert.equal(n?.mode, 'overlay');
  // the same again (another host's dockerd): adopted, not made twice
  await call('NetworkDriver.CreateNetwork', { NetworkID: NID, Options: {}, IPv4Data: [{ AddressSpace: 'weft', Pool: '10.3.0.0/24' }], IPv6Data: [] });
  await driver.settled();
  assert.equal((await api.listNetworks()).filter((x) => x.name === 'blue').length, 1);
  // the gateway is the Weft network's
  const gw = await call('IpamDriver.RequestAddress', { PoolID: 'weft:10.3.0.0/24', Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  assert.deepEqual(gw.json, { Address: '10.3.0.1/24', Data: {} });
  const wrongGw = await call('IpamDriver.RequestAddress', { PoolID: 'weft:10.3.0.0/24', Address: '10.3.0.9', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  assert.equal(wrongGw.status, 400);
});

test('reservations: RequestAddress reserves in Weft, ReleaseAddress frees an unclaimed one, stale ones are reconciled', async () => {
  const a = await call('IpamDriver.RequestAddress', { PoolID: 'weft:10.3.0.0/24', Address: '', Options: { 'com.docker.network.endpoint.macaddress': '02:42:0a:03:00:99' } });
  assert.equal(a.status, 200, JSON.stringify(a.json));
  const ip = String(a.json.Address).split('/')[0]!;
  const eps = await api.findEndpoints({ host: 'dh1' });
  const res = eps.find((e) => e.ip === ip)!;
  assert.ok(res.containerId.startsWith(RESERVE_PREFIX));
  assert.equal(res.mac, '02:42:0a:03:00:99');
  // --ip: that address, or Docker's error
  const fixed = await call('IpamDriver.RequestAddress', { PoolID: 'weft:10.3.0.0/24', Address: '10.3.0.77', Options: {} });
  assert.equal(fixed.json.Address, '10.3.0.77/24');
  const taken = await call('IpamDriver.RequestAddress', { PoolID: 'weft:10.3.0.0/24', Address: '10.3.0.77', Options: {} });
  assert.equal(taken.status, 400);
  assert.match(String(taken.json.Err), /^weft: reserving an address in 10\.3\.0\.0\/24: /);
  // CreateEndpoint for an address Weft never reserved
  const ce = await call('NetworkDriver.CreateEndpoint', { NetworkID: NID, EndpointID: EID, Interface: { Address: '10.3.0.200/24', MacAddress: '02:42:00:00:00:01' }, Options: {} });
  assert.equal(ce.status, 400);
  assert.match(String(ce.json.Err), /no reservation of 10\.3\.0\.200/);
  const noAddr = await call('NetworkDriver.CreateEndpoint', { NetworkID: NID, EndpointID: EID, Interface: {}, Options: {} });
  assert.match(String(noAddr.json.Err), /--ipam-driver weft/);
  assert.equal((await call('IpamDriver.ReleaseAddress', { PoolID: 'weft:10.3.0.0/24', Address: ip })).status, 200);
  assert.ok(!(await api.findEndpoints({ host: 'dh1' })).some((e) => e.ip === ip), 'released');
  // the one left (10.3.0.77) is stale only after the TTL
  assert.equal(await driver.reconcileReservations(Date.now(), 60_000), 0);
  assert.equal(await driver.reconcileReservations(Date.now() + 61_000, 60_000), 1);
  assert.deepEqual((await api.findEndpoints({ host: 'dh1' })).map((e) => e.ip), []);
});

test('published ports: Docker\'s portmap as Weft portMappings', () => {
  assert.deepEqual(portMappingsOf([{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 }, { Proto: 17, Port: 53, HostIP: '0.0.0.0', HostPort: 5353 }]),
    [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '0.0.0.0' }]);
  assert.deepEqual(portMappingsOf(null), []);
  assert.throws(() => portMappingsOf([{ Proto: 6, Port: 80, HostPort: 0 }]), /-p HOSTPORT:80/);
  assert.throws(() => portMappingsOf([{ Proto: 6, Port: 80, HostPort: 8080, HostPortEnd: 8090 }]), /ranges/);
  assert.throws(() => portMappingsOf([{ Proto: 132, Port: 80, HostPort: 8080 }]), /TCP or UDP/);
  assert.throws(() => portMappingsOf({}), /not a list/);
  assert.throws(() => portMappingsOf(new Array(65).fill({ Proto: 6, Port: 1, HostPort: 1 })), /at most 64/);
});

test('Weft unreachable: the error names Weft and what it was doing', async () => {
  const d = new DockerDriver({ api: new WeftApi('http://127.0.0.1:9', 2000), ovs: new Ovs('unix:/nonexistent', 'br-int'), host: 'dh1', docker: new DockerApi('unix:///nonexistent.sock'), log });
  const r = await dispatch(d.handlers(), 'POST', '/IpamDriver.RequestAddress', async () => Buffer.from(JSON.stringify({ PoolID: 'weft:10.3.0.0/24', Options: {} })));
  assert.equal(r.status, 500);
  assert.match(String((r.json as { Err: string }).Err), /^weft: reserving an address in 10\.3\.0\.0\/24: Weft API at http:\/\/127\.0\.0\.1:9 is unreachable/);
});

test('PATCH /v1/endpoints/{id}: containerId and published ports, checked; host tokens for their own host only', async () => {
  const inj = async (method: string, url: string, payload?: unknown, token?: string) => {
    const r = await ctl.api!.inject({ method: method as 'PATCH', url, payload: payload as object, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
    return { status: r.statusCode, body: (r.body ? r.json() : {}) as Record<string, unknown> };
  };
  await inj('POST', '/v1/networks', { name: 'pn', cidr: '10.4.0.0/24' });
  const e1 = (await inj('POST', '/v1/endpoints', { containerId: 'c1', ifName: 'eth0', host: 'dh1', network: 'pn' })).body;
  const e2 = (await inj('POST', '/v1/endpoints', { containerId: 'c2', ifName: 'eth0', host: 'dh1', network: 'pn', portMappings: [{ hostPort: 9090, containerPort: 80 }] })).body;
  const e3 = (await inj('POST', '/v1/endpoints', { containerId: 'c3', ifName: 'eth0', host: 'dh2', network: 'pn' })).body;
  const updated: string[] = [];
  const off = ctl.bus.on('endpoint.updated', (ev) => updated.push(ev.endpoint.containerId));
  const ok = await inj('PATCH', `/v1/endpoints/${e1.id}`, { containerId: 'renamed', portMappings: [{ hostPort: 9091, containerPort: 80 }] });
  off();
  assert.deepEqual(updated, ['renamed'], 'one endpoint.updated event');
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.containerId, 'renamed');
  assert.equal(ok.body.portName, e1.portName, 'the port name stays');
  assert.deepEqual((ok.body.portMappings as { hostPort: number }[]).map((m) => m.hostPort), [9091]);
  for (const [body, status, field] of [
    [{ containerId: 'c2' }, 409, 'containerId'],
    [{ containerId: 'bad id!' }, 400, 'containerId'],
    [{ portMappings: [{ hostPort: 9090, containerPort: 80 }] }, 409, 'portMappings.0.hostPort'],
    [{ portMappings: [{ hostPort: 0, containerPort: 80 }] }, 400, undefined],
    [{}, 400, undefined],
    [{ ip: '10.4.0.9' }, 400, undefined],
  ] as const) {
    const r = await inj('PATCH', `/v1/endpoints/${e1.id}`, body);
    assert.equal(r.status, status, JSON.stringify(body));
    if (field) assert.equal(r.body.field, field);
  }
  // its own ports may be given again; [] unpublishes
  assert.equal((await inj('PATCH', `/v1/endpoints/${e2.id}`, { portMappings: [{ hostPort: 9090, containerPort: 81 }] })).status, 200);
  assert.deepEqual((await inj('PATCH', `/v1/endpoints/${e1.id}`, { portMappings: [] })).body.portMappings, []);
  // a host without br-phy publishes nothing
  assert.equal((await inj('PATCH', `/v1/endpoints/${e3.id}`, { portMappings: [{ hostPort: 9095, containerPort: 80 }] })).status, 400);
  assert.equal((await inj('PATCH', '/v1/endpoints/nope', { containerId: 'x' })).status, 404);
  const tok = (await inj('POST', '/v1/tokens', { role: 'host', host: 'dh1' })).body.token as string;
  assert.equal((await inj('PATCH', `/v1/endpoints/${e1.id}`, { containerId: 'mine' }, tok)).status, 200);
  const other = await inj('PATCH', `/v1/endpoints/${e3.id}`, { containerId: 'theirs' }, tok);
  assert.equal(other.status, 403);
  assert.equal((await inj('GET', `/v1/endpoints/${e3.id}`)).body.containerId, 'c3', 'unchanged');
  for (const e of [e1, e2, e3]) await inj('DELETE', `/v1/endpoints/${e.id}`);
});

test('weft docker-plugin flags', () => {
  const c = parsePluginArgs(['--api', 'http://10.0.0.1:8080/', '--host', 'h1', '--token-file', '/etc/weft/token']);
  assert.equal(c.api, 'http://10.0.0.1:8080');
  assert.equal(c.socket, '/run/docker/plugins/weft.sock');
  assert.equal(c.bridge, 'br-int');
  assert.equal(c.docker, 'unix:///var/run/docker.sock');
  assert.equal(c.tokenFile, '/etc/weft/token');
  for (const [argv, re] of [
    [['--host', 'h1'], /--api URL is required/],
    [['--api', 'http://x:1'], /--host NAME is required/],
    [['--api', 'ftp://x', '--host', 'h'], /http/],
    [['--api', 'http://x:1', '--host', 'h', '--socket', 'rel.sock'], /absolute path/],
    [['--api', 'http://x:1', '--host', 'h', '--bridge', 'a b'], /bridge/],
    [['--api', 'http://x:1', '--host', 'h', '--docker', 'http://x'], /--docker/],
  ] as const) assert.throws(() => parsePluginArgs([...argv]), re);
  assert.throws(() => parsePluginArgs(['--api', 'http://x:1', '--host', 'h', '--bogus']));
});

test('as the host\'s agent: --cni-agent-socket serves weft-cni from the same process', async () => {
  const { startPlugin } = await import('../../northbound/docker/plugin');
  const tokenFile = path.join(dir, 'admin.token');
  fs.writeFileSync(tokenFile, `${ctl.adminToken}\n`, { mode: 0o600 });
  const cfg = parsePluginArgs(['--api', `http://127.0.0.1:${ctl.apiPort}`, '--host', 'dh1', '--token-file', tokenFile,
    '--socket', path.join(dir, 'p', 'weft.sock'), '--cni-agent-socket', path.join(dir, 'a', 'cni.sock'), '--ovsdb', 'unix:/nonexistent/db.sock']);
  const p = await startPlugin(cfg, log);
  try {
    assert.equal(fs.statSync(cfg.socket).mode & 0o777, 0o600);
    assert.equal(fs.statSync(cfg.cniAgentSocket!).mode & 0o777, 0o600);
    const r = await dispatch(p.driver.handlers(), 'POST', '/Plugin.Activate', async () => Buffer.alloc(0));
    assert.equal(r.status, 200);
  } finally {
    await p.stop();
  }
  assert.ok(!fs.existsSync(cfg.socket) && !fs.existsSync(cfg.cniAgentSocket!), 'both sockets removed');
  // an unreadable token file is a usage error, not a crash
  await assert.rejects(startPlugin({ ...cfg, tokenFile: path.join(dir, 'missing') }, log), /cannot read the token file/);
});

test('the reconciler deletes a claimed endpoint whose port is gone, and nothing of anyone else', async () => {
  await api.createNetwork({ name: 'rc', cidr: '10.5.0.0/24' });
  const withPort = 'c'.repeat(64);
  const portGone = 'd'.repeat(64);
  for (const containerId of [withPort, portGone]) await api.createEndpoint({ containerId, ifName: 'docker', host: 'dh1', network: 'rc' });
  const cni = (await api.createEndpoint({ containerId: 'cni-one', ifName: 'eth0', host: 'dh1', network: 'rc' })).endpoint;
  const other = (await api.createEndpoint({ containerId: 'e'.repeat(64), ifName: 'docker', host: 'dh2', network: 'rc' })).endpoint;
  const ovs = Object.assign(new Ovs('unix:/nonexistent', 'br-int'), {
    findInterfaces: async (m: Record<string, string>) => (m['docker-endpoint'] === withPort ? [{ name: 'wf00000000000', externalIds: m }] : []),
  });
  const d = new DockerDriver({ api, ovs, host: 'dh1', docker: new DockerApi('unix:///nonexistent.sock'), log });
  assert.equal(await d.reconcileReservations(Date.now(), 60_000), 0, 'nothing is stale before the TTL');
  assert.equal(await d.reconcileReservations(Date.now() + 61_000, 60_000), 1);
  const left = (await api.findEndpoints({ network: 'rc' })).map((e) => e.containerId).sort();
  assert.deepEqual(left, ['cni-one', withPort, 'e'.repeat(64)].sort());
  for (const e of await api.findEndpoints({ network: 'rc' })) await api.deleteEndpoint(e.id);
  assert.ok(cni && other);
});

test('with a host token, a network an admin did not make is refused at the first run, naming why', async () => {
  const tok = (await ctl.api!.inject({ method: 'POST', url: '/v1/tokens', payload: { role: 'host', host: 'dh1' } })).json().token as string;
  const hostApi = new WeftApi(`http://127.0.0.1:${ctl.apiPort}`, 5000, { token: tok });
  const d = new DockerDriver({ api: hostApi, ovs: new Ovs('unix:/nonexistent', 'br-int'), host: 'dh1', docker: new DockerApi(`unix://${path.join(dir, 'docker.sock')}`), log });
  dockerNets = [{ Name: 'hostmade', Id: 'f'.repeat(64), Driver: 'weft', IPAM: { Config: [{ Subnet: '10.6.0.0/24' }] }, Options: {} }];
  const r = await dispatch(d.handlers(), 'POST', '/IpamDriver.RequestAddress', async () => Buffer.from(JSON.stringify({ PoolID: 'weft:10.6.0.0/24', Options: {} })));
  assert.equal(r.status, 400);
  assert.match(String((r.json as { Err: string }).Err), /^weft: reserving an address in 10\.6\.0\.0\/24: .*a host token may not POST \/v1\/networks/);
  assert.equal(await api.getNetwork('hostmade'), null);
  // an admin makes it: the same token adopts it
  await api.createNetwork({ name: 'hostmade', cidr: '10.6.0.0/24' });
  const ok = await dispatch(d.handlers(), 'POST', '/IpamDriver.RequestAddress', async () => Buffer.from(JSON.stringify({ PoolID: 'weft:10.6.0.0/24', Options: {} })));
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  // and network rm leaves it (403 on delete is "kept")
  for (const e of await api.findEndpoints({ network: 'hostmade' })) await api.deleteEndpoint(e.id);
  dockerNets = [];
  assert.equal((await dispatch(d.handlers(), 'POST', '/IpamDriver.ReleasePool', async () => Buffer.from(JSON.stringify({ PoolID: 'weft:10.6.0.0/24' })))).status, 200);
  assert.ok(await api.getNetwork('hostmade'));
});
