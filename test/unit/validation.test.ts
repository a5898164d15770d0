// The "Trust" findings, each as an attacker's request through the REST API of
// a real in-process controller (one host's br-int a FakeBrInt, so installed
// flows can be compared): every refusal is a 4xx naming the field, and
// changes nothing (hosts, networks, endpoints, published ports, BGP routes
// and the bridge's flows are the same before and after). Also: the policy's
// knobs (pod CIDRs, host ports), IPv4 parsing, and 200 concurrent attaches
// on a /26.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startController } from '../helpers/controller';
import { FakeBrInt } from '../helpers/cni-fake-api';
import { waitFor, waitStable } from '../helpers/wait';
import { portNameFor } from '../../controller/port-name';
import { isIp, parseIp, parseCidr, ipToInt } from '../../controller/ipv4';
import {
  DEFAULT_POLICY, containerPolicy, parsePodCidrs, parseHostPortRange, allowedPrefix, hostPortRefusal,
} from '../../controller/container-policy';
import { bgpRoutes } from '../../controller/bgp-routes';
import type { Controller } from '../../northbound/compose';

type Ctl = Controller & { cleanup(): Promise<void> };
let ctl: Ctl;
let brInt: FakeBrInt;
after(async () => { brInt?.close(); await ctl?.cleanup(); });

const DPID1 = 0xa01n;
const hex = (d: bigint) => d.toString(16).padStart(16, '0');

/** Every API call of this file goes through here (one place to add a header, e.g. a bearer token). */
async function req<T = Record<string, unknown>>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> {
  const r = await ctl.api!.inject({ method: method as 'GET', url, payload: body as object });
  return { status: r.statusCode, body: (r.body ? r.json() : undefined) as T };
}

const flowsJson = () => JSON.stringify(brInt.table.flows, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
/** Everything a refused request must leave as it was. */
async function state(): Promise<unknown> {
  await new Promise((r) => setTimeout(r, 30)); // any resync a request set off has run
  return {
    hosts: (await req('GET', '/v1/hosts?kind=registered')).body,
    networks: (await req('GET', '/v1/networks')).body,
    endpoints: (await req('GET', '/v1/endpoints')).body,
    bgp: (await req('GET', '/v1/bgp')).body,
    routes: ctl.containers.bgpRoutes(),
    flows: flowsJson(),
  };
}

/** Each request is refused with `status` naming `field`, and nothing changes. */
async function refused(url: string, cases: [body: unknown, status: number, field: string][]): Promise<void> {
  const before = await state();
  for (const [body, status, field] of cases) {
    const r = await req<{ field?: string; message: string }>('POST', url, body);
    assert.equal(r.status, status, `${JSON.stringify(body)} -> ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.body.field, field, `${JSON.stringify(body)} -> ${r.body.message}`);
    assert.ok(r.body.message.length > 5);
  }
  assert.deepEqual(await state(), before, 'refused requests change nothing');
}

const ep = (over: Record<string, unknown>) => ({ containerId: 'mallory', ifName: 'eth0', host: 'node1', network: 'blue', ...over });

test('setup: two hosts (node1\'s br-int connected), a local and a routed network, a victim endpoint', async () => {
  ctl = await startController({ apps: 'none', bgp: { asn: 64512, routerId: '172.31.250.1', peers: [] } });
  for (const [name, dpid, ip, phy] of [['node1', hex(DPID1), '172.31.250.2', '0000000000000b01'], ['node2', '0000000000000a02', '172.31.250.3', '0000000000000b02']]) {
    const h = await req('POST', '/v1/hosts', { name, dpid, underlayIp: ip, phyDpid: phy });
    assert.equal(h.status, 201, JSON.stringify(h.body));
  }
  assert.equal((await req('POST', '/v1/networks', { name: 'blue', cidr: '10.1.0.0/24' })).status, 201);
  assert.equal((await req('POST', '/v1/networks', { name: 'rt', cidr: '10.60.0.0/16', mode: 'routed' })).status, 201);
  brInt = await FakeBrInt.connect(ctl.ofPort, DPID1);
  await waitFor(() => brInt.table.flows.length > 0, { what: 'node1 br-int synced' });
  const v = await req('POST', '/v1/endpoints', { containerId: 'victim', ifName: 'eth0', host: 'node1', network: 'blue', mac: '02:00:00:00:be:ef' });
  assert.equal(v.status, 201, JSON.stringify(v.body));
  const w = await req('POST', '/v1/endpoints', { containerId: 'victim2', ifName: 'eth0', host: 'node2', network: 'rt' });
  assert.equal(w.status, 201, JSON.stringify(w.body));
  await waitStable(flowsJson, { what: 'node1 flows settled', stableMs: 300 });
});

test('MACs: another endpoint\'s (requested or derived), the gateway\'s, zero, multicast and the derived space are refused', async () => {
  const victims = (await req<{ containerId: string; mac: string; ip: string }[]>('GET', '/v1/endpoints')).body;
  const derived = victims.find((e) => e.containerId === 'victim2')!.mac;
  assert.match(derived, /^0a:/);
  await refused('/v1/endpoints', [
    [ep({ mac: '02:00:00:00:be:ef' }), 409, 'mac'], // the victim's requested MAC, same network
    [ep({ mac: '02:00:00:00:BE:EF' }), 409, 'mac'],
    [ep({ mac: derived }), 400, 'mac'], // another network's derived MAC
    [ep({ mac: '0a:01:0a:01:00:09' }), 400, 'mac'], // blue's derived MAC of another address
    [ep({ mac: '0a:01:0a:01:00:09', ip: '10.1.0.10' }), 400, 'mac'], // ... not this endpoint's own
    [ep({ mac: '0a:ff:08:08:08:08' }), 400, 'mac'], // derived space of any network id
    [ep({ mac: '0e:00:00:00:00:01' }), 400, 'mac'], // the gateway
    [ep({ mac: '00:00:00:00:00:00' }), 400, 'mac'],
    [ep({ mac: 'ff:ff:ff:ff:ff:ff' }), 400, 'mac'],
    [ep({ mac: '01:00:5e:00:00:01' }), 400, 'mac'],
    [ep({ mac: '33:33:00:00:00:01' }), 400, 'mac'],
    [ep({ mac: '02:00:00:00:be' }), 400, 'mac'],
    [ep({ mac: '02-00-00-00-be-ef' }), 400, 'mac'],
    [ep({ containerId: 'victim', ifName: 'eth1', mac: '02:00:00:00:be:ef' }), 409, 'mac'],
  ]);
  // a fresh locally administered MAC, and one's own derived MAC with the address it belongs to, are fine
  const own = await req<{ mac: string; id: string }>('POST', '/v1/endpoints', ep({ containerId: 'own', mac: '0a:01:0a:01:00:0a', ip: '10.1.0.10' }));
  assert.equal(own.status, 201, JSON.stringify(own.body));
  const fresh = await req<{ mac: string; id: string }>('POST', '/v1/endpoints', ep({ containerId: 'fresh', mac: '02:00:00:00:ca:fe' }));
  assert.equal(fresh.status, 201, JSON.stringify(fresh.body));
  // the same MAC in another network is not a clash there
  const elsewhere = await req<{ id: string }>('POST', '/v1/endpoints', ep({ containerId: 'fresh', ifName: 'eth1', network: 'rt', mac: '02:00:00:00:ca:fe' }));
  assert.equal(elsewhere.status, 201, JSON.stringify(elsewhere.body));
  for (const e of [own, fresh, elsewhere]) assert.equal((await req('DELETE', `/v1/endpoints/${e.body.id}`)).status, 204);
});

test('port names: only the attachment\'s own wf+hex name, never a bridge, patch, tunnel or another attachment\'s port', async () => {
  await refused('/v1/endpoints', [
    ...['patch-int', 'patch-phy', 'vxlan0', 'br-int', 'br-phy', 'eth0', 'weft0123abcd', 'wf0123456789a', portNameFor('victim', 'eth0'), portNameFor('mallory', 'eth1'),
      portNameFor('mallory', 'eth0').toUpperCase()].map((portName): [unknown, number, string] => [ep({ portName }), 400, 'portName']),
    [ep({ portName: 'x'.repeat(16) }), 400, 'portName'],
  ]);
  const ok = await req<{ portName: string; id: string }>('POST', '/v1/endpoints', ep({ portName: portNameFor('mallory', 'eth0') }));
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal(ok.body.portName, portNameFor('mallory', 'eth0'));
  assert.equal((await req('DELETE', `/v1/endpoints/${ok.body.id}`)).status, 204);
});

test('ifName: the CNI rules in printable ASCII', async () => {
  await refused('/v1/endpoints', ['.', '..', 'a/b', 'a:b', 'a b', 'eth\t0', 'eth\u00e90', 'eth\u00a00', 'eth\u007f', 'x'.repeat(16), '']
    .map((ifName): [unknown, number, string] => [ep({ ifName }), 400, 'ifName']));
  const ok = await req<{ id: string }>('POST', '/v1/endpoints', ep({ ifName: 'net1.100-x_y@z' }));
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal((await req('DELETE', `/v1/endpoints/${ok.body.id}`)).status, 204);
});

test('host ports: below 1024 and Weft\'s own are refused, and none on a host without phyDpid', async () => {
  const pm = (...hostPorts: number[]) => ep({ portMappings: hostPorts.map((hostPort) => ({ hostPort, containerPort: 80 })) });
  await refused('/v1/endpoints', [
    [pm(22), 400, 'portMappings.0.hostPort'],
    [pm(179), 400, 'portMappings.0.hostPort'],
    [pm(1023), 400, 'portMappings.0.hostPort'],
    [pm(6653), 400, 'portMappings.0.hostPort'],
    [pm(6640), 400, 'portMappings.0.hostPort'],
    [pm(8080), 400, 'portMappings.0.hostPort'],
    [pm(18080, 6653), 400, 'portMappings.1.hostPort'],
    [pm(0), 400, 'portMappings.0.hostPort'],
  ]);
  assert.equal((await req('POST', '/v1/hosts', { name: 'nophy', dpid: '0000000000000a03', underlayIp: '172.31.250.4' })).status, 201);
  await refused('/v1/endpoints', [[{ ...pm(18080), host: 'nophy' }, 400, 'portMappings']]);
  const noPorts = await req<{ id: string }>('POST', '/v1/endpoints', ep({ host: 'nophy' }));
  assert.equal(noPorts.status, 201, 'without published ports such a host is fine');
  assert.equal((await req('DELETE', `/v1/endpoints/${noPorts.body.id}`)).status, 204);
  assert.equal((await req('DELETE', '/v1/hosts/nophy')).status, 204);
  // 1024 and up is fine
  const ok = await req<{ id: string }>('POST', '/v1/endpoints', pm(1024));
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal((await req('DELETE', `/v1/endpoints/${ok.body.id}`)).status, 204);
});

test('host ports: an operator\'s range (--host-ports) and Weft\'s actual ports', async () => {
  const def = ctl.containers.containerPolicy;
  try {
    ctl.containers.setPolicy(containerPolicy({ hostPorts: '30000-32767', ownPorts: [ctl.ofPort, ctl.apiPort, 31000] }));
    const pm = (hostPort: number) => ep({ portMappings: [{ hostPort, containerPort: 80 }] });
    await refused('/v1/endpoints', [[pm(18080), 400, 'portMappings.0.hostPort'], [pm(32768), 400, 'portMappings.0.hostPort'], [pm(31000), 400, 'portMappings.0.hostPort']]);
    const ok = await req<{ id: string }>('POST', '/v1/endpoints', pm(30080));
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal((await req('DELETE', `/v1/endpoints/${ok.body.id}`)).status, 204);
  } finally {
    ctl.containers.setPolicy(def);
  }
});

test('BGP: 8.8.8.0/24 via a host and an endpoint is refused; only pod-CIDR prefixes via hosts\' underlay addresses are announced', async () => {
  // the finding: a host, a routed network, an endpoint
  const before = await state();
  assert.equal((await req('POST', '/v1/hosts', { name: 'evil', dpid: '0000000000000e01', underlayIp: '203.0.113.66', phyDpid: '0000000000000e02' })).status, 201);
  const hijack = await req<{ field: string }>('POST', '/v1/networks', { name: 'google', cidr: '8.8.8.0/24', mode: 'routed' });
  assert.deepEqual([hijack.status, hijack.body.field], [400, 'cidr']);
  const e = await req<{ field: string }>('POST', '/v1/endpoints', { containerId: 'hijack', ifName: 'eth0', host: 'evil', network: 'google' });
  assert.deepEqual([e.status, e.body.field], [404, 'network']);
  const routes = ctl.containers.bgpRoutes();
  assert.ok(routes.length > 0);
  const hosts = new Set((await req<{ underlayIp: string }[]>('GET', '/v1/hosts?kind=registered')).body.map((h) => h.underlayIp));
  for (const r of routes) {
    assert.ok(allowedPrefix(DEFAULT_POLICY, parseCidr(r.prefix)), `${r.prefix} is in the pod CIDRs`);
    assert.ok(hosts.has(r.nextHop), `${r.nextHop} is a host's underlay address`);
  }
  assert.deepEqual((await req<{ routes: unknown }>('GET', '/v1/bgp')).body.routes, routes);
  assert.equal((await req('DELETE', '/v1/hosts/evil')).status, 204);
  assert.deepEqual(await state(), before);
});

test('BGP: what an older database holds (a network outside the pod CIDRs, a loopback host) is never announced', async () => {
  const r = ctl.containers.resources;
  const ipam = ctl.containers.ipam;
  const now = new Date().toISOString();
  const net = ctl.store.tx(() => r.insertNetwork({ name: 'legacy', cidr: '8.8.8.0/24', gateway: '8.8.8.1', mode: 'routed', vni: r.nextVni(), blockSize: 26, vlan: null, mtu: 1500, createdAt: now }));
  r.insertHost({ name: 'lo', dpid: '0000000000000f01', underlayIp: '127.0.0.5', phyDpid: null, createdAt: now });
  try {
    ctl.store.tx(() => ipam.allocate(net, 'node1'));
    const rt = r.network('rt')!;
    ctl.store.tx(() => ipam.allocate(rt, 'lo', '10.60.200.9'));
    const routes = bgpRoutes(r, ipam);
    assert.ok(!routes.some((x) => x.prefix.startsWith('8.8.8.') || x.prefix.startsWith('10.60.200.')), JSON.stringify(routes));
    assert.ok(!routes.some((x) => x.nextHop === '127.0.0.5'));
    // and a narrower allow-list narrows what is announced
    assert.deepEqual(bgpRoutes(r, ipam, containerPolicy({ podCidrs: '10.61.0.0/16' })), []);
    assert.ok(bgpRoutes(r, ipam, containerPolicy({ podCidrs: '10.60.0.0/16' })).length > 0);
  } finally {
    ctl.store.db.prepare('DELETE FROM blocks WHERE network_id = ? OR host = ?').run(net.id, 'lo');
    r.deleteNetwork(net.id);
    r.deleteHost('lo');
  }
});

test('networks: outside the pod CIDRs, reserved ranges, routed overlaps, shared VLANs and all-digit names are refused', async () => {
  await refused('/v1/networks', [
    [{ name: 'x', cidr: '8.8.8.0/24' }, 400, 'cidr'],
    [{ name: 'x', cidr: '198.51.100.0/24' }, 400, 'cidr'],
    [{ name: 'x', cidr: '127.0.0.0/8' }, 400, 'cidr'],
    [{ name: 'x', cidr: '224.0.0.0/24' }, 400, 'cidr'],
    [{ name: 'x', cidr: '169.254.0.0/16' }, 400, 'cidr'],
    [{ name: 'x', cidr: '240.0.0.0/8' }, 400, 'cidr'],
    [{ name: 'x', cidr: '0.0.0.0/8' }, 400, 'cidr'],
    [{ name: 'x', cidr: '10.0.0.0/7' }, 400, 'cidr'], // larger than the pod CIDR
    [{ name: 'x', cidr: '10.60.5.0/24', mode: 'routed' }, 409, 'cidr'], // inside routed rt
    [{ name: 'x', cidr: '10.0.0.0/8', mode: 'routed' }, 409, 'cidr'], // around it
    [{ name: 'x', cidr: '10.60.128.0/20', mode: 'underlay' }, 409, 'cidr'],
    [{ name: 'x', cidr: '172.31.250.0/24', mode: 'routed' }, 409, 'cidr'], // holds the hosts' underlay addresses
    [{ name: '20', cidr: '10.20.0.0/24' }, 400, 'name'],
    [{ name: '0', cidr: '10.20.0.0/24' }, 400, 'name'],
    [{ name: 'x', cidr: '10.090.0.0/16' }, 400, 'cidr'],
    [{ name: 'x', cidr: '10.90.0.0/016' }, 400, 'cidr'],
    [{ name: 'x', cidr: ' 10.90.0.0/16' }, 400, 'cidr'],
    [{ name: 'x', cidr: '10.90.0.0/16', gateway: '10.90.0.01' }, 400, 'gateway'],
  ]);
  // local and overlay networks are isolated: they may reuse a routed network's space
  const ov = await req<{ id: number }>('POST', '/v1/networks', { name: 'ov', cidr: '10.60.0.0/24', mode: 'overlay' });
  assert.equal(ov.status, 201, JSON.stringify(ov.body));
  // underlay networks are told apart by VLAN
  const u1 = await req<{ id: number }>('POST', '/v1/networks', { name: 'u1', cidr: '192.168.10.0/24', mode: 'underlay', vlan: 10 });
  assert.equal(u1.status, 201, JSON.stringify(u1.body));
  await refused('/v1/networks', [[{ name: 'u2', cidr: '192.168.11.0/24', mode: 'underlay', vlan: 10 }, 409, 'vlan']]);
  const u2 = await req<{ id: number }>('POST', '/v1/networks', { name: 'u2', cidr: '192.168.11.0/24', mode: 'underlay', vlan: 11 });
  assert.equal(u2.status, 201, JSON.stringify(u2.body));
  // an id always means the id: no network can be named like one
  assert.equal((await req<{ name: string }>('GET', `/v1/networks/${ov.body.id}`)).body.name, 'ov');
  for (const n of ['ov', 'u1', 'u2']) assert.equal((await req('DELETE', `/v1/networks/${n}`)).status, 204);
});

test('networks: an operator\'s pod CIDRs (--pod-cidrs) never open the reserved ranges', async () => {
  const def = ctl.containers.containerPolicy;
  try {
    ctl.containers.setPolicy(containerPolicy({ podCidrs: '0.0.0.0/0' }));
    await refused('/v1/networks', [
      [{ name: 'x', cidr: '127.0.0.0/8' }, 400, 'cidr'],
      [{ name: 'x', cidr: '224.0.0.0/24' }, 400, 'cidr'],
      [{ name: 'x', cidr: '169.254.0.0/16' }, 400, 'cidr'],
    ]);
    const pub = await req('POST', '/v1/networks', { name: 'pub', cidr: '198.51.100.0/24' });
    assert.equal(pub.status, 201, JSON.stringify(pub.body));
    assert.equal((await req('DELETE', '/v1/networks/pub')).status, 204);
    ctl.containers.setPolicy(containerPolicy({ podCidrs: '10.200.0.0/16' }));
    await refused('/v1/networks', [[{ name: 'x', cidr: '10.201.0.0/24' }, 400, 'cidr'], [{ name: 'x', cidr: '192.168.0.0/24' }, 400, 'cidr']]);
  } finally {
    ctl.containers.setPolicy(def);
  }
});

test('hosts: underlay addresses unique, unicast and canonical', async () => {
  const h = (over: Record<string, unknown>) => ({ name: 'nodeX', dpid: '0000000000000a09', underlayIp: '172.31.250.9', ...over });
  await refused('/v1/hosts', [
    [h({ underlayIp: '172.31.250.2' }), 409, 'underlayIp'], // node1's
    [h({ phyDpid: '0000000000000b01' }), 409, 'phyDpid'],
    [h({ dpid: '0000000000000b02' }), 409, 'dpid'],
    [h({ underlayIp: '0.0.0.0' }), 400, 'underlayIp'],
    [h({ underlayIp: '255.255.255.255' }), 400, 'underlayIp'],
    [h({ underlayIp: '127.0.0.1' }), 400, 'underlayIp'],
    [h({ underlayIp: '224.0.0.5' }), 400, 'underlayIp'],
    [h({ underlayIp: '169.254.1.1' }), 400, 'underlayIp'],
    [h({ underlayIp: '240.0.0.1' }), 400, 'underlayIp'],
    [h({ underlayIp: '10.60.0.7' }), 409, 'underlayIp'], // inside routed rt
    [h({ underlayIp: '10.9.0.255', underlayGateway: '10.9.0.1' }), 400, 'underlayIp'], // its /24's broadcast
    [h({ underlayIp: '10.9.0.0', underlayGateway: '10.9.0.1' }), 400, 'underlayIp'],
    [h({ underlayIp: '10.9.1.7', underlayGateway: '10.9.1.255', underlayPrefix: 24 }), 400, 'underlayGateway'],
    [h({ underlayIp: '10.9.1.7', underlayGateway: '10.9.0.0', underlayPrefix: 23 }), 400, 'underlayGateway'],
    [h({ underlayIp: '10.9.1.7', underlayGateway: '127.0.0.1', underlayPrefix: 1 }), 400, 'underlayGateway'],
    [h({ underlayIp: '10.90.0.010' }), 400, 'underlayIp'],
    [h({ underlayIp: '10.90.0.1 ' }), 400, 'underlayIp'],
    [h({ underlayIp: '10.90.0' }), 400, 'underlayIp'],
    [h({ underlayIp: '10.90.0.1.1' }), 400, 'underlayIp'],
    [h({ underlayIp: '10.90.0.7', underlayGateway: '10.90.0.01' }), 400, 'underlayGateway'],
  ]);
  const ok = await req('POST', '/v1/hosts', h({ underlayIp: '10.9.0.255', underlayGateway: '10.9.0.1', underlayPrefix: 23 }));
  assert.equal(ok.status, 201, `x.x.x.255 is a host address in a /23: ${JSON.stringify(ok.body)}`);
  assert.equal((await req('DELETE', '/v1/hosts/nodeX')).status, 204);
});

test('endpoints: addresses only in canonical form', async () => {
  await refused('/v1/endpoints', ['10.1.0.010', '10.1.0.9 ', '010.1.0.9', '10.1.0', '10.1.0.9/32', '+10.1.0.9']
    .map((ip): [unknown, number, string] => [ep({ ip }), 400, 'ip']));
  await refused('/v1/endpoints', [[ep({ portMappings: [{ hostPort: 18080, containerPort: 80, hostIP: '172.31.250.02' }] }), 400, 'portMappings.0.hostIP']]);
});

test('200 concurrent attaches on a /26: 61 addresses, 139 clean 409s, no duplicates', async () => {
  assert.equal((await req('POST', '/v1/networks', { name: 'small', cidr: '10.77.0.0/26', blockSize: 26 })).status, 201);
  const rs = await Promise.all(Array.from({ length: 200 }, (_, i) =>
    req<{ ip?: string; error?: string }>('POST', '/v1/endpoints', { containerId: `s${i}`, ifName: 'eth0', host: i % 2 ? 'node1' : 'node2', network: 'small' })));
  const ok = rs.filter((r) => r.status === 201);
  assert.equal(ok.length, 61);
  assert.equal(new Set(ok.map((r) => r.body.ip)).size, 61);
  const no = rs.filter((r) => r.status !== 201);
  assert.equal(no.length, 139);
  assert.ok(no.every((r) => r.status === 409 && r.body.error === 'exhausted'), JSON.stringify(no[0]));
  assert.equal((await req<unknown[]>('GET', '/v1/endpoints?network=small')).body.length, 61);
});

test('ipv4: canonical dotted quads only; CIDRs name their network address', () => {
  for (const s of ['0.0.0.0', '10.90.0.10', '255.255.255.255', '1.2.3.4', '100.64.0.1']) assert.ok(isIp(s), s);
  for (const s of ['10.90.0.010', '010.1.1.1', '1.2.3.00', '1.2.3', '1.2.3.4.5', '1.2.3.256', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.4\n', '1.2.3.-4', '+1.2.3.4',
    '1.2.3.4/32', '1..3.4', '', '0x1.2.3.4', '1.2.3.4e0', '１.2.3.4', '1.2.3.٤']) {
    assert.ok(!isIp(s), JSON.stringify(s));
    assert.throws(() => parseIp(s), RangeError, JSON.stringify(s));
  }
  assert.ok(!isIp(16909060) && !isIp(undefined) && !isIp(null));
  assert.equal(parseIp('10.1.0.2'), 0x0a010002);
  assert.equal(ipToInt('10.1.0.010'), 0x0a01000a, 'stored values from older databases still read (as decimal)');
  assert.deepEqual(parseCidr('10.1.0.0/16'), { base: 0x0a010000, len: 16, size: 65536, text: '10.1.0.0/16' });
  assert.equal(parseCidr('0.0.0.0/0').size, 2 ** 32);
  assert.equal(parseCidr('1.2.3.4/32').text, '1.2.3.4/32');
  for (const s of ['10.1.0.1/16', '10.01.0.0/16', '10.1.0.0/016', '10.1.0.0/33', '10.1.0.0/', '10.1.0.0', '10.1.0.0/16 ', ' 10.1.0.0/16', '10.1.0.0/1.6', '10.1.0.0//16']) {
    assert.throws(() => parseCidr(s), RangeError, s);
  }
  assert.throws(() => parseCidr('10.1.0.1/16'), /host bits set \(did you mean 10\.1\.0\.0\/16\?\)/);
});

test('policy: defaults, --pod-cidrs and --host-ports parsing', () => {
  assert.deepEqual(DEFAULT_POLICY.podCidrs.map((c) => c.text), ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10']);
  assert.deepEqual(DEFAULT_POLICY.hostPortRange, { lo: 1024, hi: 65535 });
  assert.deepEqual(DEFAULT_POLICY.reservedHostPorts, [179, 6640, 6653, 8080]);
  assert.deepEqual(parsePodCidrs('10.0.0.0/8, 192.168.0.0/16').map((c) => c.text), ['10.0.0.0/8', '192.168.0.0/16']);
  for (const s of ['', '10.0.0.0/8,', '10.0.0.1/8', 'ten', '10.0.0.0/8,,172.16.0.0/12']) assert.throws(() => parsePodCidrs(s), RangeError, s);
  assert.deepEqual(parseHostPortRange('30000-32767'), { lo: 30000, hi: 32767 });
  assert.deepEqual(parseHostPortRange('1-65535'), { lo: 1, hi: 65535 });
  for (const s of ['', '0-100', '100-99', '1024-65536', '1024', '-5-10', '01024-2000', '1024 - 2000']) assert.throws(() => parseHostPortRange(s), RangeError, s);
  const p = containerPolicy({ ownPorts: [6633, 9090, 0] });
  assert.deepEqual(p.reservedHostPorts, [179, 6633, 6640, 9090], 'the configured ports replace the default OpenFlow and REST ports; 0 (any free port) is no port');
  assert.equal(hostPortRefusal(p, 8080), undefined);
  assert.match(hostPortRefusal(p, 9090)!, /Weft's own/);
  assert.match(hostPortRefusal(DEFAULT_POLICY, 80)!, /1024-65535/);
  assert.ok(allowedPrefix(DEFAULT_POLICY, parseCidr('100.64.0.0/10')) && !allowedPrefix(DEFAULT_POLICY, parseCidr('100.128.0.0/24')));
  assert.ok(!allowedPrefix(containerPolicy({ podCidrs: '0.0.0.0/0' }), parseCidr('127.0.0.0/8')));
});
