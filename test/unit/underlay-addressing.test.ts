// Underlay networks share the business subnet with machines that are not
// containers: IPAM hands out only the network's ranges, never an excluded
// address, and never a registered host's underlay address or router. Shared
// MAC mode (ipvlan L2) is an underlay network's option. Through the REST API.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startController } from '../helpers/controller';
import type { Controller } from '../../northbound/compose';
import { ipToInt } from '../../controller/ipv4';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-ul-addr-'));
const db = path.join(dir, 'weft.db');
let ctl: Controller & { cleanup(): Promise<void> };
after(async () => { await ctl?.cleanup(); fs.rmSync(dir, { recursive: true, force: true }); });

type Err = { error: string; field?: string; message: string };
async function req<T = Record<string, unknown>>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> {
  const r = await ctl.api!.inject({ method: method as 'GET', url, payload: body as object });
  return { status: r.statusCode, body: (r.body ? r.json() : undefined) as T };
}
let n = 0;
const attach = (network: string, host: string, extra: Record<string, unknown> = {}) =>
  req<{ ip: string; id: string } & Err>('POST', '/v1/endpoints', { containerId: `c${n++}`, ifName: 'eth0', host, network, ...extra });

test('setup: two hosts whose underlay addresses and router are inside the business subnet', async () => {
  ctl = await startController({ db, apps: 'none' });
  for (const [name, i] of [['h1', 1], ['h2', 2]] as const) {
    const r = await req('POST', '/v1/hosts', { name, dpid: `00000000000000a${i}`, phyDpid: `00000000000000b${i}`, underlayIp: `10.60.0.${10 + i}`, underlayGateway: '10.60.0.1' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
});

test('network validation: ranges, exclude and macMode are underlay-only, inside the CIDR, ordered, not overlapping, not empty', async () => {
  const base = { name: 'biz', cidr: '10.60.0.0/24', gateway: '10.60.0.1', mode: 'underlay' };
  for (const [body, field] of [
    [{ ...base, mode: 'overlay', ranges: [{ start: '10.60.0.100', end: '10.60.0.110' }] }, 'ranges'],
    [{ ...base, mode: 'local', macMode: 'shared' }, 'macMode'],
    [{ ...base, mode: 'routed', exclude: ['10.60.0.5'] }, 'exclude'],
    [{ ...base, ranges: [{ start: '10.60.0.100', end: '10.60.1.10' }] }, 'ranges.0.end'],
    [{ ...base, ranges: [{ start: '10.60.0.120', end: '10.60.0.100' }] }, 'ranges.0'],
    [{ ...base, ranges: [{ start: '10.60.0.100', end: '10.60.0.120' }, { start: '10.60.0.110', end: '10.60.0.130' }] }, 'ranges.1'],
    [{ ...base, ranges: [{ start: 'ten', end: '10.60.0.120' }] }, 'ranges.0.start'],
    [{ ...base, ranges: [] }, undefined],
    [{ ...base, ranges: [{ start: '10.60.0.1', end: '10.60.0.1' }] }, 'ranges'],
    [{ ...base, ranges: [{ start: '10.60.0.5', end: '10.60.0.6' }], exclude: ['10.60.0.5', '10.60.0.6'] }, 'ranges'],
    [{ ...base, exclude: ['10.61.0.5'] }, 'exclude.0'],
    [{ ...base, macMode: 'borrowed' }, undefined],
    [{ ...base, ranges: [{ start: '10.60.0.5', end: '10.60.0.6', extra: 1 }] }, undefined],
  ] as const) {
    const r = await req<Err>('POST', '/v1/networks', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    if (field) assert.equal(r.body.field, field, `${JSON.stringify(body)} -> ${r.body.message}`);
  }
  assert.deepEqual((await req<unknown[]>('GET', '/v1/networks')).body, [], 'nothing was created');
});

test('IPAM hands out only the ranges, never an excluded address, a host\'s or the router\'s, and says so when asked for one', async () => {
  const r = await req<{ macMode: string; ranges: unknown; exclude: unknown }>('POST', '/v1/networks', {
    name: 'biz', cidr: '10.60.0.0/24', gateway: '10.60.0.1', mode: 'underlay', vlan: 60, macMode: 'shared',
    // the range holds h1's and h2's underlay addresses (.11, .12) and an excluded printer (.13)
    ranges: [{ start: '10.60.0.9', end: '10.60.0.14' }, { start: '10.60.0.200', end: '10.60.0.201' }], exclude: ['10.60.0.13'],
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.deepEqual([r.body.macMode, r.body.ranges, r.body.exclude],
    ['shared', [{ start: '10.60.0.9', end: '10.60.0.14' }, { start: '10.60.0.200', end: '10.60.0.201' }], ['10.60.0.13']]);
  const got: string[] = [];
  for (let i = 0; i < 5; i++) {
    const e = await attach('biz', i % 2 ? 'h2' : 'h1');
    assert.equal(e.status, 201, JSON.stringify(e.body));
    got.push(e.body.ip);
  }
  assert.deepEqual(got.sort((a, b) => ipToInt(a) - ipToInt(b)), ['10.60.0.9', '10.60.0.10', '10.60.0.14', '10.60.0.200', '10.60.0.201']);
  const full = await attach('biz', 'h1');
  assert.equal(full.status, 409);
  assert.equal(full.body.error, 'exhausted');
  assert.match(full.body.message, /in its ranges/);
  // asked for by address: each refusal names why
  for (const [ip, why] of [['10.60.0.11', /registered host/], ['10.60.0.1', /reserved/], ['10.60.0.13', /excluded/], ['10.60.0.50', /outside the network's ranges/]] as const) {
    const e = await attach('biz', 'h1', { ip });
    assert.equal(e.status, 400, ip);
    assert.equal(e.body.field, 'ip');
    assert.match(e.body.message, why, ip);
  }
  // freeing one makes room again, and only inside the ranges
  const eps = (await req<{ id: string; ip: string }[]>('GET', '/v1/endpoints')).body;
  assert.equal((await req('DELETE', `/v1/endpoints/${eps.find((e) => e.ip === '10.60.0.200')!.id}`)).status, 204);
  assert.equal((await attach('biz', 'h2')).body.ip, '10.60.0.200');
});

test('a host cannot register with a container\'s address, and a host added later is never handed out', async () => {
  const r = await req<Err>('POST', '/v1/hosts', { name: 'h3', dpid: '00000000000000a3', underlayIp: '10.60.0.9' });
  assert.equal(r.status, 409);
  assert.equal(r.body.field, 'underlayIp');
  const un = await req('POST', '/v1/networks', { name: 'flat', cidr: '10.61.0.0/29', gateway: '10.61.0.1', mode: 'underlay' });
  assert.equal(un.status, 201);
  assert.equal((await req('POST', '/v1/hosts', { name: 'h4', dpid: '00000000000000a4', underlayIp: '10.61.0.2' })).status, 201);
  const ips = [];
  for (let i = 0; i < 4; i++) ips.push((await attach('flat', 'h1')).body.ip);
  // .0 network, .1 gateway, .2 host h4, .7 broadcast: never
  assert.deepEqual(ips, ['10.61.0.3', '10.61.0.4', '10.61.0.5', '10.61.0.6']);
  assert.equal((await attach('flat', 'h1')).status, 409);
});

test('ranges and macMode survive a restart', async () => {
  await ctl.cleanup();
  ctl = await startController({ db, apps: 'none' });
  const net = (await req<{ macMode: string; ranges: { start: string }[]; exclude: string[] }>('GET', '/v1/networks/biz')).body;
  assert.deepEqual([net.macMode, net.ranges.length, net.exclude], ['shared', 2, ['10.60.0.13']]);
  assert.equal((await req<{ macMode: string; ranges: null }>('GET', '/v1/networks/flat')).body.ranges, null);
  assert.equal((await attach('biz', 'h1', { ip: '10.60.0.50' })).status, 400, 'still refused after the restart');
});
