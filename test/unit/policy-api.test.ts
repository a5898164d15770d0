// Labels and network policies through the REST API, as an operator and as
// an attacker: validation naming the field (a rejected request changes
// nothing), a host token that may neither touch policies nor relabel
// another host's endpoint, CNI labels from CNI_ARGS and runtimeConfig, and
// the policies reaching the computed flows.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startController } from '../helpers/controller';
import { labelsOf } from '../../northbound/cni/add';
import type { NetConf } from '../../northbound/cni/config';
import { BR_INT, CATEGORY, categoryOf } from '../../controller/pipeline';

type Body = Record<string, unknown> & Record<string, unknown>[];
const ctlP = startController({ apps: 'none' });
after(async () => (await ctlP).cleanup());

async function call(method: string, url: string, o: { token?: string; body?: unknown } = {}): Promise<{ status: number; body: Body }> {
  const ctl = await ctlP;
  const r = await ctl.api!.inject({ method: method as 'GET', url, payload: o.body as object, headers: { authorization: `Bearer ${o.token ?? ctl.adminToken!}` } });
  return { status: r.statusCode, body: (r.body ? r.json() : undefined) as Body };
}

let hostToken = '';
let epH1 = '';
let epH2 = '';
const policies = async () => (await call('GET', '/v1/policies')).body.map((p) => JSON.stringify(p));

test('setup: two hosts, a network, labelled endpoints, a host token for h1', async () => {
  for (const [name, dpid, ip] of [['h1', '00000000000000c1', '172.30.3.1'], ['h2', '00000000000000c2', '172.30.3.2']]) {
    assert.equal((await call('POST', '/v1/hosts', { body: { name, dpid, underlayIp: ip } })).status, 201);
  }
  assert.equal((await call('POST', '/v1/networks', { body: { name: 'pblue', cidr: '10.79.0.0/24' } })).status, 201);
  const e1 = await call('POST', '/v1/endpoints', { body: { containerId: 'p1', ifName: 'eth0', host: 'h1', network: 'pblue', labels: { app: 'web', 'example.com/tier': 'front' } } });
  assert.equal(e1.status, 201, JSON.stringify(e1.body));
  assert.deepEqual(e1.body.labels, { app: 'web', 'example.com/tier': 'front' });
  epH1 = e1.body.id as string;
  const e2 = await call('POST', '/v1/endpoints', { body: { containerId: 'p2', ifName: 'eth0', host: 'h2', network: 'pblue' } });
  assert.deepEqual(e2.body.labels, {}, 'no labels: an empty map');
  epH2 = e2.body.id as string;
  const t = await call('POST', '/v1/tokens', { body: { role: 'host', host: 'h1' } });
  assert.equal(t.status, 201);
  hostToken = t.body.token as string;
});

test('labels: validated in Kubernetes syntax, naming the field; a rejected request changes nothing', async () => {
  for (const labels of [
    { 'bad key': 'x' }, { '-a': 'x' }, { 'a/': 'x' }, { 'Not_DNS/a': 'x' }, { ['k'.repeat(64)]: 'x' }, { a: 'has space' }, { a: 'v'.repeat(64) }, { a: '-x' },
    Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])),
  ]) {
    const r = await call('PATCH', `/v1/endpoints/${epH1}`, { body: { labels } });
    assert.equal(r.status, 400, JSON.stringify(labels).slice(0, 80));
    assert.match(String(r.body.field), /^labels/, JSON.stringify(r.body));
    const c = await call('POST', '/v1/endpoints', { body: { containerId: 'p9', ifName: 'eth0', host: 'h1', network: 'pblue', labels } });
    assert.equal(c.status, 400);
  }
  assert.deepEqual((await call('GET', `/v1/endpoints/${epH1}`)).body.labels, { app: 'web', 'example.com/tier': 'front' });
  assert.equal((await call('GET', '/v1/endpoints?containerId=p9')).body.length, 0);
  // a good change replaces them; '' is a value
  const ok = await call('PATCH', `/v1/endpoints/${epH1}`, { body: { labels: { app: 'web', flag: '' } } });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.deepEqual(ok.body.labels, { app: 'web', flag: '' });
});

test('a host token relabels its own host\'s endpoints only, and cannot touch policies', async () => {
  const other = await call('PATCH', `/v1/endpoints/${epH2}`, { token: hostToken, body: { labels: { app: 'web' } } });
  assert.equal(other.status, 403);
  assert.deepEqual((await call('GET', `/v1/endpoints/${epH2}`)).body.labels, {}, 'unchanged');
  const mine = await call('PATCH', `/v1/endpoints/${epH1}`, { token: hostToken, body: { labels: { app: 'web' } } });
  assert.equal(mine.status, 200);
  const before = await policies();
  const body = { name: 'evil', selector: { matchLabels: {} }, ingress: [] };
  for (const [m, u, b] of [['POST', '/v1/policies', body], ['PUT', '/v1/policies/evil', body], ['GET', '/v1/policies'], ['GET', '/v1/policies/evil'], ['DELETE', '/v1/policies/evil']] as [string, string, unknown?][]) {
    const r = await call(m, u, { token: hostToken, body: b });
    assert.equal(r.status, 403, `${m} ${u}`);
  }
  const none = await (await ctlP).api!.inject({ method: 'POST', url: '/v1/policies', payload: body, headers: { authorization: '' } });
  assert.equal(none.statusCode, 401);
  assert.deepEqual(await policies(), before);
});

test('policies: validation names the field; a rejected request changes nothing', async () => {
  const base = { name: 'p', selector: { matchLabels: { app: 'web' } }, ingress: [{ action: 'allow' }] };
  const cases: [unknown, string][] = [
    [{ ...base, name: 'bad name' }, 'name'],
    [{ ...base, selector: {} }, 'selector'],
    [{ ...base, selector: { matchLabels: { 'bad key': 'x' } } }, 'selector.matchLabels.bad key'],
    [{ name: 'p', selector: { matchLabels: {} } }, 'ingress'],
    [{ ...base, ingress: [{ action: 'maybe' }] }, 'ingress.0.action'],
    [{ ...base, egress: [{ action: 'allow', peers: [{ cidr: '10.0.0.0/33' }] }] }, 'egress.0.peers.0.cidr'],
    [{ ...base, egress: [{ action: 'allow', peers: [{ cidr: '10.0.0.7/24' }] }] }, 'egress.0.peers.0.cidr'],
    [{ ...base, egress: [{ action: 'allow', peers: [{ cidr: '10.0.0.0/8', selector: { matchLabels: {} } }] }] }, 'egress.0.peers.0'],
    [{ ...base, egress: [{ action: 'allow', peers: [] }] }, 'egress.0.peers'],
    [{ ...base, ingress: [{ action: 'allow', ports: [{ protocol: 'sctp' }] }] }, 'ingress.0.ports.0.protocol'],
    [{ ...base, ingress: [{ action: 'allow', ports: [{ protocol: 'icmp', port: 8 }] }] }, 'ingress.0.ports.0.port'],
    [{ ...base, ingress: [{ action: 'allow', ports: [{ protocol: 'tcp', port: 0 }] }] }, 'ingress.0.ports.0.port'],
    [{ ...base, priority: 256 }, 'priority'],
    [{ ...base, network: 'nosuch' }, 'network'],
    [{ ...base, ingress: Array.from({ length: 65 }, () => ({ action: 'allow' })) }, 'ingress'],
  ];
  const before = await policies();
  for (const [body, field] of cases) {
    const r = await call('POST', '/v1/policies', { body });
    assert.ok(r.status === 400 || r.status === 404, `${JSON.stringify(body).slice(0, 100)}: ${r.status}`);
    assert.equal(r.body.field, field, `${JSON.stringify(body).slice(0, 100)}: ${JSON.stringify(r.body)}`);
  }
  assert.deepEqual(await policies(), before);
});

test('policies: create, conflict, replace, list, delete; they reach the computed flows of the selected endpoint\'s host only', async () => {
  const body = {
    name: 'web-in', network: 'pblue', selector: { matchLabels: { app: 'web' } },
    ingress: [{ action: 'allow', peers: [{ selector: { matchLabels: { app: 'client' } } }, { cidr: '10.79.0.0/24' }], ports: [{ protocol: 'tcp', port: 80 }] }],
  };
  const c = await call('POST', '/v1/policies', { body });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  assert.equal(c.body.priority, 100, 'the default priority');
  assert.deepEqual((c.body.ingress as unknown as { peers: unknown[] }[])[0]!.peers[1], { cidr: '10.79.0.0/24' });
  assert.equal((await call('POST', '/v1/policies', { body })).status, 409);
  const ctl = await ctlP;
  const src = ctl.containers!;
  const flowsOf = (host: string) => src.desiredFlows(src.resources.host(host)!.dpid);
  assert.ok(flowsOf('h1').some((f) => categoryOf(f.cookie) === CATEGORY.policy && f.table_id === BR_INT.tableId.ingressPolicy), 'h1 (web) has policy flows');
  assert.ok(flowsOf('h2').length > 0 && !flowsOf('h2').some((f) => categoryOf(f.cookie) === CATEGORY.policy), 'h2 (nothing selected) has none');
  // PUT replaces (200), or creates (201); a name in the body must match the path
  const rep = await call('PUT', '/v1/policies/web-in', { body: { ...body, name: undefined, priority: 7 } });
  assert.equal(rep.status, 200, JSON.stringify(rep.body));
  assert.equal(rep.body.priority, 7);
  assert.equal((await call('PUT', '/v1/policies/web-in', { body: { ...body, name: 'other' } })).body.field, 'name');
  assert.equal((await call('PUT', '/v1/policies/deny-all', { body: { selector: { matchLabels: {} }, egress: [] } })).status, 201);
  assert.deepEqual((await call('GET', '/v1/policies')).body.map((p) => p.name), ['deny-all', 'web-in']);
  assert.equal((await call('GET', '/v1/policies/web-in')).body.priority, 7);
  assert.equal((await call('DELETE', '/v1/policies/web-in')).status, 204);
  assert.equal((await call('DELETE', '/v1/policies/web-in')).status, 404);
  assert.equal((await call('GET', '/v1/policies/web-in')).status, 404);
  assert.equal((await call('DELETE', '/v1/policies/deny-all')).status, 204);
});

test('CNI: labels from CNI_ARGS (k8s.namespace, k8s.pod) and runtimeConfig.labels, which wins', () => {
  const conf = (rc: Record<string, unknown> = {}) => ({ runtimeConfig: rc }) as unknown as NetConf;
  assert.deepEqual(labelsOf({ args: {} }, conf()), {});
  assert.deepEqual(labelsOf({ args: { K8S_POD_NAMESPACE: 'ns', K8S_POD_NAME: 'web-0', IgnoreUnknown: '1' } }, conf()), { labels: { 'k8s.namespace': 'ns', 'k8s.pod': 'web-0' } });
  assert.deepEqual(labelsOf({ args: { K8S_POD_NAME: 'web-0' } }, conf({ labels: { app: 'web', 'k8s.pod': 'x' } })), { labels: { 'k8s.pod': 'x', app: 'web' } });
  assert.throws(() => labelsOf({ args: {} }, conf({ labels: ['a'] })), /runtimeConfig.labels must be an object/);
  assert.throws(() => labelsOf({ args: {} }, conf({ labels: { a: 1 } })), /runtimeConfig.labels.a must be a string/);
});
