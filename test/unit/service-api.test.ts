// Services through the REST API, as an operator and as an attacker:
// validation naming the field (a rejected request changes nothing), the
// VIP reserved from IPAM, only ready endpoints as backends, events, and a
// host token that may not touch services.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startController } from '../helpers/controller';
import type { WeftEvent } from '../../controller/events';

type Body = Record<string, unknown> & Record<string, unknown>[];
const ctlP = startController({ apps: 'none' });
after(async () => (await ctlP).cleanup());

async function call(method: string, url: string, o: { token?: string; body?: unknown } = {}): Promise<{ status: number; body: Body }> {
  const ctl = await ctlP;
  const r = await ctl.api!.inject({ method: method as 'GET', url, payload: o.body as object, headers: { authorization: `Bearer ${o.token ?? ctl.adminToken!}` } });
  return { status: r.statusCode, body: (r.body ? r.json() : undefined) as Body };
}

let hostToken = '';
const eps: Record<string, string> = {};
const services = async () => (await call('GET', '/v1/services')).body.map((p) => JSON.stringify(p));

test('setup: a host, two networks, labelled endpoints (one ready), a host token', async () => {
  assert.equal((await call('POST', '/v1/hosts', { body: { name: 'h1', dpid: '00000000000000d1', underlayIp: '172.30.4.1' } })).status, 201);
  assert.equal((await call('POST', '/v1/networks', { body: { name: 'sblue', cidr: '10.81.0.0/24' } })).status, 201);
  assert.equal((await call('POST', '/v1/networks', { body: { name: 'sred', cidr: '10.82.0.0/24' } })).status, 201);
  for (const [n, net, app] of [['a', 'sblue', 'web'], ['b', 'sblue', 'web'], ['c', 'sblue', 'db'], ['r', 'sred', 'web']]) {
    const e = await call('POST', '/v1/endpoints', { body: { containerId: `s${n}`, ifName: 'eth0', host: 'h1', network: net, labels: { app } } });
    assert.equal(e.status, 201, JSON.stringify(e.body));
    eps[n] = e.body.id as string;
  }
  // a is ready (its switch confirmed its flows); b stays pending
  (await ctlP).containers.resources.setEndpointState(eps.a, 'ready', new Date().toISOString());
  const t = await call('POST', '/v1/tokens', { body: { role: 'host', host: 'h1' } });
  hostToken = t.body.token as string;
});

const good = { name: 'web', network: 'sblue', vip: '10.81.0.200', ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }], selector: { matchLabels: { app: 'web' } } };

test('validation names the field; a rejected request changes nothing', async () => {
  const cases: [Record<string, unknown>, number, RegExp][] = [
    [{ ...good, name: 'bad name' }, 400, /^name$/],
    [{ ...good, network: 'nope' }, 404, /^network$/],
    [{ ...good, vip: '10.81.1.5' }, 400, /^vip$/],
    [{ ...good, vip: 'x' }, 400, /^vip$/],
    [{ ...good, vip: '10.81.0.1' }, 400, /^vip$/], // the gateway
    [{ ...good, vip: '10.81.0.255' }, 400, /^vip$/], // broadcast
    [{ ...good, ports: [] }, 400, /^ports/],
    [{ ...good, ports: [{ protocol: 'icmp', port: 1 }] }, 400, /^ports/],
    [{ ...good, ports: [{ protocol: 'tcp', port: 0 }] }, 400, /^ports/],
    [{ ...good, ports: [{ protocol: 'tcp', port: 80, targetPort: 65536 }] }, 400, /^ports/],
    [{ ...good, ports: [{ protocol: 'tcp', port: 80 }, { protocol: 'tcp', port: 80 }] }, 400, /^ports/],
    [{ ...good, ports: Array.from({ length: 17 }, (_, i) => ({ protocol: 'tcp', port: i + 1 })) }, 400, /^ports/],
    [{ ...good, endpoints: ['x'] }, 400, /^endpoints$/], // both
    [{ name: 'w', network: 'sblue', vip: '10.81.0.200', ports: good.ports }, 400, /^endpoints$/], // neither
    [{ ...good, selector: undefined, endpoints: ['nope'] }, 404, /^endpoints/],
    [{ ...good, selector: undefined, endpoints: Array.from({ length: 65 }, (_, i) => `e${i}`) }, 400, /^endpoints/],
    [{ ...good, affinity: 'cookie' }, 400, /^affinity$/],
    [{ ...good, extra: 1 }, 400, /additional properties/],
  ];
  for (const [body, status, field] of cases) {
    const r = await call('POST', '/v1/services', { body });
    assert.equal(r.status, status, JSON.stringify(body).slice(0, 120) + JSON.stringify(r.body));
    assert.match(String(r.body.field ?? r.body.message), field, JSON.stringify(r.body));
  }
  // an endpoint of another network; an endpoint's own address as the VIP
  const r1 = await call('POST', '/v1/services', { body: { ...good, selector: undefined, endpoints: [eps.r] } });
  assert.equal(r1.status, 400); assert.equal(r1.body.field, 'endpoints.0');
  const a = await call('GET', `/v1/endpoints/${eps.a}`);
  const r2 = await call('POST', '/v1/services', { body: { ...good, vip: a.body.ip } });
  assert.equal(r2.status, 409); assert.equal(r2.body.field, 'vip');
  assert.deepEqual(await services(), []);
});

test('create: only ready endpoints are backends; events; name and VIP are unique; the VIP is never allocated', async () => {
  const ctl = await ctlP;
  const seen: WeftEvent[] = [];
  const off = ctl.bus.on('*', (e) => { if (e.type.startsWith('service.')) seen.push(e); });
  const r = await call('POST', '/v1/services', { body: good });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.affinity, 'none');
  assert.deepEqual((r.body.backends as unknown as { id: string }[]).map((b) => b.id), [eps.a], 'b is not ready, c is not selected, r is in another network');
  assert.equal((await call('POST', '/v1/services', { body: good })).status, 409);
  const dupVip = await call('POST', '/v1/services', { body: { ...good, name: 'web2' } });
  assert.equal(dupVip.status, 409); assert.equal(dupVip.body.field, 'vip');
  const req = await call('POST', '/v1/endpoints', { body: { containerId: 'sv', ifName: 'eth0', host: 'h1', network: 'sblue', ip: '10.81.0.200' } });
  assert.equal(req.status, 400, 'the VIP cannot be requested by an endpoint');
  assert.match(String(req.body.message), /service VIP/);
  const one = await call('GET', '/v1/services/web');
  assert.equal(one.body.vip, '10.81.0.200');
  assert.deepEqual(one.body.ports, [{ protocol: 'tcp', port: 80, targetPort: 8080 }]);
  // a network with a service cannot be deleted
  assert.equal((await call('DELETE', '/v1/networks/sblue')).status, 409);
  const byId = await call('POST', '/v1/services', { body: { name: 'db', network: 'sblue', vip: '10.81.0.201', ports: [{ protocol: 'udp', port: 53 }], endpoints: [eps.c, eps.c], affinity: 'clientIP' } });
  assert.equal(byId.status, 201, JSON.stringify(byId.body));
  assert.deepEqual(byId.body.endpoints, [eps.c]);
  assert.deepEqual(byId.body.ports, [{ protocol: 'udp', port: 53, targetPort: 53 }]);
  assert.deepEqual(byId.body.backends, [], 'c is not ready');
  assert.equal((await call('DELETE', '/v1/services/db')).status, 204);
  assert.equal((await call('GET', '/v1/services/db')).status, 404);
  assert.equal((await call('DELETE', '/v1/services/db')).status, 404);
  off();
  assert.deepEqual(seen.map((e) => e.type), ['service.created', 'service.created', 'service.deleted']);
});

test('a host token can neither read nor change services', async () => {
  const before = await services();
  const body = { ...good, name: 'evil', vip: '10.81.0.210' };
  for (const [m, u, b] of [['POST', '/v1/services', body], ['GET', '/v1/services'], ['GET', '/v1/services/web'], ['DELETE', '/v1/services/web']] as [string, string, unknown?][]) {
    const r = await call(m, u, { token: hostToken, body: b });
    assert.equal(r.status, 403, `${m} ${u}`);
  }
  const none = await (await ctlP).api!.inject({ method: 'POST', url: '/v1/services', payload: body, headers: { authorization: '' } });
  assert.equal(none.statusCode, 401);
  assert.deepEqual(await services(), before);
});
