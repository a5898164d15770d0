// The weft command line and the checked-in OpenAPI document.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseControllerArgs, UsageError } from '../../northbound/cli/weft';
import { openapiDocument } from '../../northbound/api/openapi';
import { repoRoot } from '../helpers/paths';

const run = promisify(execFile);
const weft = () => path.join(repoRoot(), 'dist/northbound/cli/weft.js');

test('controller flags: defaults and every option', () => {
  const d = parseControllerArgs([]);
  assert.deepEqual([d.ofPort, d.apiPort, d.apiHost, d.db, d.apps, d.tls], [6653, 8080, '127.0.0.1', 'weft.db', 'forwarding', undefined]);
  const c = parseControllerArgs(['--of-port', '7000', '--api-port', '0', '--api-host', '0.0.0.0', '--db', '/tmp/x.db', '--of-host', '127.0.0.1',
    '--tls-key', 'k', '--tls-cert', 'c', '--tls-ca', 'a', '--apps', 'learning', '--log-level', 'debug']);
  assert.deepEqual([c.ofPort, c.apiPort, c.apiHost, c.db, c.ofHost, c.apps, c.logLevel], [7000, 0, '0.0.0.0', '/tmp/x.db', '127.0.0.1', 'learning', 'debug']);
  assert.deepEqual(c.tls, { key: 'k', cert: 'c', ca: 'a' });
});

test('bad flags are usage errors', () => {
  assert.throws(() => parseControllerArgs(['--of-port', '70000']), UsageError);
  assert.throws(() => parseControllerArgs(['--of-port', 'abc']), /not a port number/);
  assert.equal(parseControllerArgs(['--tunnel-probe-interval', '0.5']).tunnelProbeInterval, 0.5);
  assert.equal(parseControllerArgs(['--tunnel-probe-interval', '0']).tunnelProbeInterval, 0);
  for (const bad of ['-1', 'abc', '0.05', '4000', '1e3']) assert.throws(() => parseControllerArgs(['--tunnel-probe-interval', bad]), /--tunnel-probe-interval/);
  assert.equal(parseControllerArgs(['--tunnel-probe-budget', '50']).tunnelProbeBudget, 50);
  for (const bad of ['0', '-5', '1.5', 'x', '2000000']) assert.throws(() => parseControllerArgs(['--tunnel-probe-budget', bad]), /--tunnel-probe-budget/);
  assert.throws(() => parseControllerArgs(['--tls-key', 'k']), /go together/);
  assert.throws(() => parseControllerArgs(['--apps', 'learning,forwarding']), /choose one/);
  assert.throws(() => parseControllerArgs(['--log-level', 'loud']), UsageError);
  assert.throws(() => parseControllerArgs(['--bogus']));
  // BGP
  assert.equal(parseControllerArgs([]).bgp, undefined);
  assert.deepEqual(parseControllerArgs(['--bgp-asn', '64512', '--bgp-peer', '10.0.0.254:65001', '--bgp-peer', '10.0.0.253:64512:1179', '--api-host', '10.0.0.1']).bgp,
    { asn: 64512, routerId: '10.0.0.1', peers: [{ address: '10.0.0.254', asn: 65001 }, { address: '10.0.0.253', asn: 64512, port: 1179 }] });
  assert.equal(parseControllerArgs(['--bgp-asn', '1', '--bgp-peer', '10.0.0.254:2', '--bgp-router-id', '1.1.1.1']).bgp?.routerId, '1.1.1.1');
  assert.throws(() => parseControllerArgs(['--bgp-asn', '64512']), /needs at least one --bgp-peer/);
  assert.throws(() => parseControllerArgs(['--bgp-peer', '10.0.0.254:65001']), /need --bgp-asn/);
  assert.throws(() => parseControllerArgs(['--bgp-asn', '70000', '--bgp-peer', '10.0.0.254:65001']), /AS number/);
  assert.throws(() => parseControllerArgs(['--bgp-asn', '64512', '--bgp-peer', '10.0.0.300:65001']), /IP:AS/);
  assert.throws(() => parseControllerArgs(['--bgp-asn', '64512', '--bgp-peer', '10.0.0.254']), /IP:AS/);
  assert.throws(() => parseControllerArgs(['--bgp-asn', '64512', '--bgp-peer', '10.0.0.254:65001']), /--bgp-router-id/, 'the default API host (loopback) is not taken as the router id');
});

test('the executable exits 2 with usage on a bad flag, 0 on help', async () => {
  const e = await run('node', [weft(), 'controller', '--of-port', 'x']).catch((err) => err as { code: number; stderr: string });
  assert.equal((e as { code: number }).code, 2);
  assert.match((e as { stderr: string }).stderr, /not a port number[\s\S]*Usage: weft/);
  const h = await run('node', [weft(), 'help']);
  assert.match(h.stdout, /--of-port N/);
});

test('docs/openapi.json is the document the API serves (run `npm run openapi` after API changes)', async () => {
  const doc = await openapiDocument();
  const file = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'docs/openapi.json'), 'utf8'));
  assert.deepEqual(file, JSON.parse(JSON.stringify(doc)));
  const paths = Object.keys((doc as { paths: object }).paths);
  for (const p of ['/v1/health', '/v1/switches', '/v1/switches/{dpid}', '/v1/switches/{dpid}/flows', '/v1/links', '/v1/hosts', '/v1/topology', '/v1/events', '/v1/hosts/{name}', '/v1/networks', '/v1/networks/{id}', '/v1/endpoints', '/v1/endpoints/{id}']) {
    assert.ok(paths.includes(p), `${p} documented`);
  }
});
