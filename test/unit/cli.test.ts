// The weft command line and the checked-in OpenAPI document.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
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
    { asn: 64512, routerId: '10.0.0.1', peers: [{ address: '10.0.0.254', asn: 65001 }, { address: '10.0.0.253', asn: 64512, port: 1179 }], restartTime: 120 });
  const gr = ['--bgp-asn', '64512', '--bgp-peer', '10.0.0.254:65001', '--bgp-router-id', '10.0.0.1', '--bgp-restart-time'];
  assert.equal(parseControllerArgs([...gr, '300']).bgp?.restartTime, 300);
  assert.equal(parseControllerArgs([...gr, '0']).bgp?.restartTime, 0, '0 turns graceful restart off');
  assert.equal(parseControllerArgs([...gr, '4095']).bgp?.restartTime, 4095);
  for (const bad of ['4096', '-1', '1.5', '2m', '', '0x10']) assert.throws(() => parseControllerArgs([...gr.slice(0, -1), `--bgp-restart-time=${bad}`]), /--bgp-restart-time: .*\(0-4095/, bad);
  assert.throws(() => parseControllerArgs(['--bgp-restart-time', '60']), /need --bgp-asn/);
  assert.equal(parseControllerArgs([...gr.slice(0, -1), '--bgp-source', '10.0.0.2']).bgp?.source, '10.0.0.2');
  for (const bad of ['10.0.0', '0.0.0.0', '224.0.0.1', 'host', '10.0.0.256']) assert.throws(() => parseControllerArgs([...gr.slice(0, -1), '--bgp-source', bad]), /--bgp-source: .* unicast IPv4/, bad);
  assert.throws(() => parseControllerArgs(['--bgp-source', '10.0.0.2']), /need --bgp-asn/);
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

test('controller --store: sqlite by default, etcd://HOST:PORT[,...] with its TLS and authentication options, each checked', () => {
  assert.equal(parseControllerArgs([]).etcd, undefined);
  assert.equal(parseControllerArgs(['--store', 'sqlite']).etcd, undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-cli-etcd-'));
  try {
    for (const f of ['ca.pem', 'cert.pem', 'key.pem', 'pw']) fs.writeFileSync(path.join(dir, f), 'x');
    const p = (f: string) => path.join(dir, f);
    assert.deepEqual(parseControllerArgs(['--store', 'etcd://10.0.0.1:2379,10.0.0.2:2379', '--etcd-ca', p('ca.pem'), '--etcd-cert', p('cert.pem'), '--etcd-key', p('key.pem'),
      '--etcd-user', 'weft', '--etcd-password-file', p('pw'), '--etcd-prefix', '/prod/']).etcd, {
      endpoints: ['10.0.0.1:2379', '10.0.0.2:2379'], prefix: '/prod/', ca: p('ca.pem'), cert: p('cert.pem'), key: p('key.pem'), user: 'weft', passwordFile: p('pw'),
    });
    assert.deepEqual(parseControllerArgs(['--store', 'etcd://e1:2379']).etcd, { endpoints: ['e1:2379'], prefix: '/weft/' });
    const bad: [string[], RegExp][] = [
      [['--store', 'mysql://x'], /--store/],
      [['--store', 'etcd://e1'], /not HOST:PORT/],
      [['--store', 'etcd://e1:70000'], /not HOST:PORT/],
      [['--etcd-ca', p('ca.pem')], /--etcd-ca needs --store etcd/],
      [['--store', 'etcd://e1:2379', '--etcd-cert', p('cert.pem')], /--etcd-cert and --etcd-key go together/],
      [['--store', 'etcd://e1:2379', '--etcd-cert', p('cert.pem'), '--etcd-key', p('key.pem')], /--etcd-cert needs --etcd-ca/],
      [['--store', 'etcd://e1:2379', '--etcd-user', 'weft'], /--etcd-user and --etcd-password-file go together/],
      [['--store', 'etcd://e1:2379', '--etcd-ca', p('nope.pem')], /--etcd-ca: .* does not exist/],
      [['--store', 'etcd://e1:2379', '--etcd-prefix', 'weft'], /--etcd-prefix/],
      [['--store', 'etcd://e1:2379', '--etcd-prefix', '/a b/'], /--etcd-prefix/],
    ];
    for (const [args, re] of bad) assert.throws(() => parseControllerArgs(args), (e: unknown) => e instanceof UsageError && re.test((e as Error).message), args.join(' '));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
