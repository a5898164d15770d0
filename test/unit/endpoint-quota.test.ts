// A host's endpoint quota (--max-endpoints-per-host): a host, or a stolen
// host token, that attaches endpoints in a loop stops at its quota and
// cannot take a network's addresses from the other hosts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startController } from '../helpers/controller';
import type { Controller } from '../../northbound/compose';
import { containerPolicy } from '../../controller/container-policy';

let ctl: Controller & { cleanup(): Promise<void> };
after(async () => { await ctl?.cleanup(); });

async function req<T = Record<string, unknown>>(method: string, url: string, body?: unknown, token?: string): Promise<{ status: number; body: T }> {
  const r = await ctl.api!.inject({ method: method as 'GET', url, payload: body as object, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
  return { status: r.statusCode, body: (r.body ? r.json() : undefined) as T };
}

test('the flag: a whole number 1..1000000', () => {
  assert.equal(containerPolicy().maxEndpointsPerHost, 1024);
  assert.equal(containerPolicy({ maxEndpointsPerHost: '5' }).maxEndpointsPerHost, 5);
  for (const bad of ['0', '-1', '1.5', 'many', '', '1000001']) assert.throws(() => containerPolicy({ maxEndpointsPerHost: bad }), RangeError, bad);
});

test('a host token attaching in a loop stops at the quota; the other host still attaches; nothing half-made', async () => {
  ctl = await startController({ apps: 'none', maxEndpointsPerHost: '3' });
  for (const [name, i] of [['h1', 1], ['h2', 2]] as const) {
    assert.equal((await req('POST', '/v1/hosts', { name, dpid: `00000000000000c${i}`, underlayIp: `172.31.239.${i}` })).status, 201);
  }
  // a small network: without the quota h1 could take all of it
  assert.equal((await req('POST', '/v1/networks', { name: 'small', cidr: '10.79.0.0/29' })).status, 201);
  const t = await req<{ token: string }>('POST', '/v1/tokens', { role: 'host', host: 'h1' });
  const codes: number[] = [];
  let last: { error?: string; field?: string; message?: string } = {};
  for (let i = 0; i < 5; i++) {
    const r = await req<{ error?: string; field?: string; message?: string }>('POST', '/v1/endpoints', { containerId: `loop${i}`, ifName: 'eth0', host: 'h1', network: 'small' }, t.body.token);
    codes.push(r.status);
    if (r.status !== 201) last = r.body;
  }
  assert.deepEqual(codes, [201, 201, 201, 409, 409]);
  assert.deepEqual([last.error, last.field], ['quota_exceeded', 'host']);
  assert.match(last.message!, /h1 already has 3 endpoints/);
  // a retry of an existing attachment is still answered (CNI retries are idempotent)
  assert.equal((await req('POST', '/v1/endpoints', { containerId: 'loop0', ifName: 'eth0', host: 'h1', network: 'small' }, t.body.token)).status, 200);
  // the other host gets the rest of the network
  const r = await req<{ ip: string }>('POST', '/v1/endpoints', { containerId: 'other', ifName: 'eth0', host: 'h2', network: 'small' });
  assert.equal(r.status, 201);
  const eps = (await req<{ host: string }[]>('GET', '/v1/endpoints')).body;
  assert.deepEqual(eps.map((e) => e.host).sort(), ['h1', 'h1', 'h1', 'h2'], 'the refused ones left nothing behind');
});
