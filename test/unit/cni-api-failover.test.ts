// The API clients (CNI plugin and agent, Docker plugin, IPsec agent) take
// several controllers' URLs: a call that cannot reach one, or that one
// answers 503 (its store lost quorum), goes to the next, and the next call
// starts from the one that answered. Against a real controller on a real
// port, a port nobody listens on, and a stand-in that answers 503.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startController } from '../helpers/controller';
import type { Controller } from '../../northbound/compose';
import { WeftApi, apiUrls } from '../../northbound/cni/api-client';
import { CniError } from '../../northbound/cni/errors';
import { parseConf } from '../../northbound/cni/config';
import { parsePluginArgs } from '../../northbound/docker/plugin';
import { parseIpsecAgentArgs } from '../../northbound/ipsec/agent';

let ctl: Controller & { cleanup(): Promise<void> };
let live = '';
let dead = '';
let busy = '';
let busyHits = 0;
let busyServer: http.Server;

/** A port that refuses connections: bound, then closed. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

before(async () => {
  ctl = await startController({ apps: 'none' });
  live = `http://127.0.0.1:${ctl.apiPort}`;
  dead = `http://127.0.0.1:${await deadPort()}`;
  busyServer = http.createServer((_q, s) => { busyHits++; s.statusCode = 503; s.setHeader('content-type', 'application/json'); s.end(JSON.stringify({ error: 'store_unavailable', message: 'the store lost its quorum' })); });
  await new Promise<void>((r) => busyServer.listen(0, '127.0.0.1', r));
  busy = `http://127.0.0.1:${(busyServer.address() as net.AddressInfo).port}`;
  assert.equal((await ctl.api!.inject({ method: 'POST', url: '/v1/hosts', payload: { name: 'fo1', dpid: '0000000000000f01', underlayIp: '172.31.251.2' } })).statusCode, 201);
  assert.equal((await ctl.api!.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'fonet', cidr: '10.77.0.0/24', mode: 'overlay' } })).statusCode, 201);
});
after(async () => {
  busyServer.close();
  await ctl.cleanup();
});

test('an unreachable controller and one answering 503 are passed over; the next call starts at the one that answered', async () => {
  const api = new WeftApi(`${dead},${busy}/,${live}`, 5000, { token: ctl.adminToken });
  assert.deepEqual(api.bases, [dead, busy, live]);
  const { endpoint, created } = await api.createEndpoint({ containerId: 'fo-c1', ifName: 'eth0', host: 'fo1', network: 'fonet' });
  assert.equal(created, true);
  assert.match(endpoint.ip, /^10\.77\.0\./);
  assert.equal(busyHits, 1);
  assert.equal(api.base, live);
  // the next call, and another client of the same list (the CNI agent's next call), start at the live one
  const again = new WeftApi(`${dead},${busy},${live}`, 5000, { token: ctl.adminToken });
  assert.equal((await again.getEndpoint(endpoint.id)).id, endpoint.id);
  assert.equal(busyHits, 1, 'the 503 controller was not asked again');
  // the same POST again (a CNI retry) finds the endpoint: repeating a call is safe
  assert.equal((await api.createEndpoint({ containerId: 'fo-c1', ifName: 'eth0', host: 'fo1', network: 'fonet' })).created, false);
});

test('a refusal that is not 503 is the answer (never tried elsewhere): a bad token is 101 from the first that answers', async () => {
  const api = new WeftApi(`${dead},${live},${busy}`, 5000, { token: 'wrong' });
  const hits = busyHits;
  await assert.rejects(api.listNetworks(), (e: CniError) => e.code === 101);
  assert.equal(busyHits, hits);
});

test('none answering: "try again later" (11) naming each URL and why; only 503s: the last 503 is the answer (11)', async () => {
  const api = new WeftApi(`${dead},${dead.replace('127.0.0.1', '127.0.0.2')}`, 2000, { token: ctl.adminToken });
  await assert.rejects(api.listNetworks(), (e: CniError) => {
    assert.equal(e.code, 11);
    assert.match(e.message, /none of the 2 Weft API URLs answered/);
    assert.ok(e.message.includes(dead) && e.message.includes('ECONNREFUSED'), e.message);
    return true;
  });
  // a single URL keeps its old message
  await assert.rejects(new WeftApi(dead, 2000).listNetworks(), /Weft API at http:\/\/127\.0\.0\.1:\d+ is unreachable \(listing networks\): ECONNREFUSED/);
  const hits = busyHits;
  await assert.rejects(new WeftApi(`${busy},${busy}/`, 2000).listNetworks(), (e: CniError) => e.code === 11 && /store lost its quorum/.test(e.message));
  assert.equal(busyHits, hits + 2);
});

test('the URL lists are validated wherever they are given: CNI "api", the Docker plugin\'s and the IPsec agent\'s --api', () => {
  assert.deepEqual(apiUrls('http://a:8080/, https://b:8443'), ['http://a:8080', 'https://b:8443']);
  for (const [bad, why] of [
    ['http://a:8080,,http://b:8080', /empty URL/],
    ['http://a:8080,ftp://b', /"ftp:\/\/b" must be an http or https URL/],
    ['http://a:8080,nope', /"nope" is not a URL/],
    ['http://u:p@a:8080', /no query, fragment or credentials/],
    ['http://a:8080/?x=1', /no query/],
    [Array(17).fill('http://a:1').join(','), /at most 16 URLs/],
  ] as const) {
    assert.throws(() => apiUrls(bad), why, bad);
    assert.throws(() => parseConf({ cniVersion: '1.1.0', name: 'n', api: bad, host: 'h' }, 'ADD'), (e: CniError) => e.code === 7 && /"api"/.test(e.message), bad);
    assert.throws(() => parsePluginArgs(['--api', bad, '--host', 'h']), /--api/, bad);
    assert.throws(() => parseIpsecAgentArgs(['--api', bad, '--host', 'h']), /--api/, bad);
  }
  const c = parseConf({ cniVersion: '1.1.0', name: 'n', api: 'http://a:8080/,http://b:8080', host: 'h' }, 'ADD');
  assert.equal(c.api, 'http://a:8080,http://b:8080');
  // a CA file goes with https: every URL of the list
  assert.throws(() => parseConf({ cniVersion: '1.1.0', name: 'n', api: 'https://a:8443,http://b:8080', host: 'h', apiCaFile: '/etc/weft/ca.pem' }, 'ADD'), /"apiCaFile" goes with an https "api"/);
  assert.equal(parsePluginArgs(['--api', 'http://a:8080,http://b:8080/', '--host', 'h']).api, 'http://a:8080,http://b:8080');
  assert.equal(parseIpsecAgentArgs(['--api', 'http://a:8080, http://b:8080', '--host', 'h']).api, 'http://a:8080,http://b:8080');
});
