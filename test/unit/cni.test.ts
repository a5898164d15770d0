// The weft-cni executable run as a real process (environment + stdin)
// against a fake Weft API: VERSION, STATUS, and the error paths. None of
// these need Open vSwitch. (The full ADD/CHECK/DEL chain with real OVS and a
// real namespace is test/integration/cni-chain.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { repoRoot } from '../helpers/paths';
import { FakeWeftApi } from '../helpers/cni-fake-api';
import { parseCniArgs, parseEnv, addressRequest, parseConf, compareVersions } from '../../northbound/cni/config';
import { buildResult, hostInterfaceNames, containerInterface, addressesOn } from '../../northbound/cni/result';
import { parseEthtoolFeatures } from '../../northbound/cni/netlink';
import { parseFind } from '../../northbound/cni/ovs';
import { portNameFor } from '../../northbound/cni/add';

const plugin = () => path.join(repoRoot(), 'dist/northbound/cni/weft-cni.js');

export interface PluginRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, if it is JSON. */
  json: Record<string, unknown> | undefined;
}

/** Runs weft-cni with exactly these CNI_* variables (plus PATH) and `stdin`. */
function runPlugin(env: Record<string, string>, stdin: string, argv0: string[] = ['node', plugin()]): Promise<PluginRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv0[0]!, argv0.slice(1), { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: Record<string, unknown> | undefined;
      try {
        json = stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
    child.stdin.end(stdin);
  });
}

/** Host links the plugin could have made: the fake's port names (wv*) and temporary peers (weft*). */
function links(): string[] {
  const out = execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' });
  return (JSON.parse(out) as Array<{ ifname: string }>).map((l) => l.ifname).filter((n) => /^(wv|weft)/.test(n)).sort();
}

let api: FakeWeftApi;
let tmp: string;
const NETNS_SELF = `/proc/${process.pid}/ns/net`;

before(async () => {
  api = await FakeWeftApi.start({ hosts: ['host1'], networks: [{ name: 'blue', base: '10.91.0', gateway: '10.91.0.1' }] });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-cni-unit-'));
});

after(async () => {
  await api.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function conf(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ cniVersion: '1.0.0', name: 'blue', type: 'weft-cni', api: api.url, host: 'host1', ...extra });
}

const addEnv = (extra: Record<string, string> = {}) => ({
  CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c0ffee01', CNI_NETNS: NETNS_SELF, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', ...extra,
});

/** A port nobody listens on (bound and released). */
async function deadUrl(): Promise<string> {
  const net = await import('node:net');
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

function assertCniError(r: PluginRun, code: number, msg?: RegExp): void {
  assert.notEqual(r.code, 0, `exit code must be non-zero; stdout ${r.stdout}`);
  assert.ok(r.json, `stdout must be a JSON error, got ${JSON.stringify(r.stdout)} (stderr ${r.stderr})`);
  assert.equal(r.json.code, code, `code ${code} expected: ${r.stdout}`);
  assert.equal(typeof r.json.msg, 'string');
  assert.equal(typeof r.json.cniVersion, 'string');
  if (msg) assert.match(r.json.msg as string, msg);
}

test('VERSION lists 0.3.0 through 1.1.0 and answers in the asked version', async () => {
  const r = await runPlugin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
  assert.equal(r.code, 0, r.stdout);
  assert.deepEqual(r.json, { cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  const bare = await runPlugin({ CNI_COMMAND: 'VERSION' }, '');
  assert.equal(bare.code, 0);
  assert.equal(bare.json?.cniVersion, '1.1.0');
  const old = await runPlugin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.2.0"}');
  assert.equal(old.json?.cniVersion, '1.1.0', 'an unsupported asked version is answered with the latest');
});

test('the built file runs by its shebang when executable (as runtimes exec it)', async () => {
  fs.chmodSync(plugin(), 0o755);
  const link = path.join(tmp, 'weft-cni');
  fs.rmSync(link, { force: true });
  fs.symlinkSync(plugin(), link);
  const r = await runPlugin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.1.0"}', [link]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json?.cniVersion, '1.1.0');
});

test('missing or bad environment variables are code 4 and name the variables', async () => {
  assertCniError(await runPlugin({}, conf()), 4, /CNI_COMMAND is not set/);
  assertCniError(await runPlugin({ CNI_COMMAND: 'FROB' }, conf()), 4, /unknown command "FROB"/);
  assertCniError(await runPlugin({ CNI_COMMAND: 'ADD' }, conf()), 4, /CNI_CONTAINERID is not set.*CNI_NETNS is not set.*CNI_IFNAME is not set/);
  assertCniError(await runPlugin(addEnv({ CNI_IFNAME: 'a/b' }), conf()), 4, /CNI_IFNAME "a\/b"/);
  assertCniError(await runPlugin(addEnv({ CNI_IFNAME: 'x'.repeat(16) }), conf()), 4, /CNI_IFNAME/);
  assertCniError(await runPlugin(addEnv({ CNI_CONTAINERID: '-bad' }), conf()), 4, /CNI_CONTAINERID/);
  assertCniError(await runPlugin(addEnv({ CNI_ARGS: 'IgnoreUnknown=1;IP=10.91.0.300' }), conf()), 4, /CNI_ARGS IP/);
  assertCniError(await runPlugin(addEnv({ CNI_ARGS: 'MAC=01:00:5e:00:00:01' }), conf()), 4, /multicast/);
  assertCniError(await runPlugin(addEnv({ CNI_ARGS: 'junk' }), conf()), 4, /KEY=VALUE/);
  // DEL needs no netns (the container may be gone).
  const del = await runPlugin({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'gone1', CNI_IFNAME: 'eth0' }, conf());
  assert.equal(del.code, 0, del.stdout);
  assert.equal(api.calls('POST', '/v1/endpoints').length, 0, 'nothing was registered');
});

test('stdin that is not a JSON object is code 6', async () => {
  assertCniError(await runPlugin(addEnv(), '{"cniVersion": '), 6, /not valid JSON/);
  assertCniError(await runPlugin(addEnv(), '[1,2]'), 6, /JSON object/);
  assertCniError(await runPlugin(addEnv(), ''), 6);
});

test('missing or bad configuration keys are code 7; unsupported versions code 1', async () => {
  const base = JSON.parse(conf()) as Record<string, unknown>;
  const without = (k: string) => JSON.stringify({ ...base, [k]: undefined });
  assertCniError(await runPlugin(addEnv(), without('api')), 7, /"api".*required/);
  assertCniError(await runPlugin(addEnv(), without('host')), 7, /"host".*required/);
  assertCniError(await runPlugin(addEnv(), without('name')), 7, /"name" is required/);
  assertCniError(await runPlugin(addEnv(), without('cniVersion')), 7, /cniVersion/);
  assertCniError(await runPlugin(addEnv(), conf({ api: 'ftp://x' })), 7, /http or https/);
  assertCniError(await runPlugin(addEnv(), conf({ mtu: 20 })), 7, /"mtu"/);
  assertCniError(await runPlugin(addEnv(), conf({ bridge: 'a bridge' })), 7, /"bridge"/);
  assertCniError(await runPlugin(addEnv(), conf({ runtimeConfig: { ips: ['10.91.0.5/24', '10.91.0.6/24'] } })), 7, /runtimeConfig.ips/);
  const old = await runPlugin(addEnv(), conf({ cniVersion: '0.2.0' }));
  assertCniError(old, 1, /unsupported cniVersion "0.2.0"/);
  assert.equal(old.json?.details, 'supported versions: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0');
  assertCniError(await runPlugin({ CNI_COMMAND: 'STATUS' }, conf()), 1, /does not allow STATUS/);
  assertCniError(await runPlugin({ CNI_COMMAND: 'GC' }, conf({ cniVersion: '0.4.0' })), 1, /does not allow GC/);
  assertCniError(await runPlugin({ ...addEnv(), CNI_COMMAND: 'CHECK' }, conf({ cniVersion: '0.3.1' })), 1, /does not allow CHECK/);
  // An error answers in the configuration's version.
  const v = await runPlugin(addEnv(), conf({ cniVersion: '0.4.0', host: undefined }));
  assert.equal(v.json?.cniVersion, '0.4.0');
});

test('a netns that does not exist is code 3 and registers nothing', async () => {
  const before = api.requests.length;
  assertCniError(await runPlugin(addEnv({ CNI_NETNS: '/run/netns/weft-no-such-ns' }), conf()), 3, /does not exist/);
  assert.equal(api.requests.length, before);
});

test('an unknown network or host (API 404) is code 7 naming it, and nothing is created', async () => {
  const linksBefore = links();
  const r = await runPlugin(addEnv(), conf({ network: 'green' }));
  assertCniError(r, 7, /network green not found/);
  assert.match(String(r.json?.details), /404 not_found/);
  const h = await runPlugin(addEnv(), conf({ host: 'nohost' }));
  assertCniError(h, 7, /host nohost not found/);
  assert.deepEqual(links(), linksBefore, 'no interface was created');
  assert.equal(api.endpoints.size, 0);
  const posted = api.calls('POST', '/v1/endpoints').at(-1)?.body as Record<string, unknown>;
  // the plugin names the host end itself (the controller's default name), so it can make the veth meanwhile
  assert.deepEqual(posted, { containerId: 'c0ffee01', ifName: 'eth0', host: 'nohost', network: 'blue', netns: NETNS_SELF, portName: portNameFor('c0ffee01', 'eth0') });
});

test('a static address in use (API 409) is reported with the API message', async () => {
  const other = api.insert({ containerId: 'other1', ifName: 'eth0', host: 'host1', network: 'blue' });
  try {
    const r = await runPlugin(addEnv({ CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=x;IP=${other.ip}` }), conf());
    assertCniError(r, 999, new RegExp(`address ${other.ip.replace(/\./g, '\\.')} is in use`));
    assert.equal(api.endpoints.size, 1);
  } finally {
    api.endpoints.delete(other.id);
  }
});

test('an unreachable API is code 11 (try again later) for ADD and DEL; STATUS says 50', async () => {
  const url = await deadUrl();
  const linksBefore = links();
  assertCniError(await runPlugin(addEnv(), conf({ api: url })), 11, /unreachable/);
  assert.deepEqual(links(), linksBefore);
  assertCniError(await runPlugin({ ...addEnv(), CNI_COMMAND: 'DEL' }, conf({ api: url })), 11, /unreachable/);
  const s = await runPlugin({ CNI_COMMAND: 'STATUS' }, conf({ api: url, cniVersion: '1.1.0' }));
  assertCniError(s, 50, /Weft is not available/);
  assert.equal(s.json?.cniVersion, '1.1.0');
});

test('STATUS succeeds silently when /v1/health answers ok, 50 when it does not', async () => {
  const ok = await runPlugin({ CNI_COMMAND: 'STATUS', CNI_PATH: '/usr/lib/cni' }, conf({ cniVersion: '1.1.0' }));
  assert.equal(ok.code, 0, ok.stdout);
  assert.equal(ok.stdout, '');
  api.healthStatus = 503;
  try {
    assertCniError(await runPlugin({ CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.1.0' })), 50, /Weft is not available/);
  } finally {
    api.healthStatus = 200;
  }
});

test('DEL when nothing exists succeeds, with or without netns, twice', async () => {
  for (const netns of ['', '/run/netns/weft-no-such-ns', NETNS_SELF]) {
    for (let i = 0; i < 2; i++) {
      const r = await runPlugin({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'nothing1', CNI_IFNAME: 'eth0', CNI_NETNS: netns }, conf());
      assert.equal(r.code, 0, r.stdout);
      assert.equal(r.stdout, '');
    }
  }
  assert.ok(api.calls('GET', '/v1/endpoints?containerId=nothing1&ifName=eth0').length >= 6);
  assert.equal(api.calls('DELETE', '/v1/endpoints/').length, 0);
});

test('CHECK without prevResult is code 7', async () => {
  assertCniError(await runPlugin({ ...addEnv(), CNI_COMMAND: 'CHECK' }, conf()), 7, /prevResult/);
});

test('GC without cni.dev/valid-attachments is code 7', async () => {
  assertCniError(await runPlugin({ CNI_COMMAND: 'GC' }, conf({ cniVersion: '1.1.0' })), 7, /valid-attachments/);
});

test('a failure after the endpoint was registered rolls everything back', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to create a veth pair');
  // A regular file passes the existence check but is no namespace: creating
  // the veth pair into it fails after the endpoint was registered, and
  // everything is undone.
  const notNs = path.join(tmp, 'not-a-netns');
  fs.writeFileSync(notNs, '');
  const linksBefore = links();
  const r = await runPlugin(addEnv({ CNI_NETNS: notNs, CNI_CONTAINERID: 'rollback1' }), conf());
  assertCniError(r, 999, /creating the veth pair into/);
  assert.equal(r.json?.details, undefined, `rollback complete: ${r.stdout}`);
  assert.deepEqual(links(), linksBefore, 'the veth pair is gone');
  assert.equal(api.endpoints.size, 0, 'the endpoint was deleted');
  assert.equal(api.calls('DELETE', '/v1/endpoints/').length, 1);
});

test('a retried ADD that fails keeps the endpoint it found (the runtime\'s DEL removes it)', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to create a veth pair');
  const notNs = path.join(tmp, 'not-a-netns-2');
  fs.writeFileSync(notNs, '');
  const existing = api.insert({ containerId: 'retry1', ifName: 'eth0', host: 'host1', network: 'blue' });
  try {
    const deletes = api.calls('DELETE', '/v1/endpoints/').length;
    const r = await runPlugin(addEnv({ CNI_NETNS: notNs, CNI_CONTAINERID: 'retry1' }), conf());
    assertCniError(r, 999, /creating the veth pair into/);
    assert.ok(api.endpoints.has(existing.id), 'the endpoint that was there before is still there');
    assert.equal(api.calls('DELETE', '/v1/endpoints/').length, deletes, 'no DELETE was sent');
  } finally {
    api.endpoints.delete(existing.id);
  }
});

test('config and CNI_ARGS parsing', () => {
  assert.deepEqual(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.1.0.9;MAC=02:00:00:00:00:01;'), {
    IgnoreUnknown: '1', K8S_POD_NAME: 'x', IP: '10.1.0.9', MAC: '02:00:00:00:00:01',
  });
  const env = parseEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'a', CNI_NETNS: '/n', CNI_IFNAME: 'eth0', CNI_ARGS: 'IP=10.1.0.9/24;MAC=02-00-00-00-00-AB' });
  const c = parseConf({ cniVersion: '1.1.0', name: 'net1', type: 'weft-cni', api: 'http://h:8080/', host: 'h1' }, 'ADD');
  assert.deepEqual([c.api, c.network, c.bridge, c.ovsdb, c.mtu, c.readyTimeoutMs], ['http://h:8080', 'net1', 'br-int', 'unix:/var/run/openvswitch/db.sock', undefined, 30000]);
  assert.deepEqual(addressRequest(env, c), { ip: '10.1.0.9', mac: '02:00:00:00:00:ab' });
  const rc = parseConf({ cniVersion: '1.1.0', name: 'n', api: 'http://h', host: 'h', runtimeConfig: { ips: ['10.1.0.7/24'], mac: '02:00:00:00:00:07' } }, 'ADD');
  assert.deepEqual(addressRequest(env, rc), { ip: '10.1.0.7', mac: '02:00:00:00:00:07' }, 'runtimeConfig wins over CNI_ARGS');
  assert.ok(compareVersions('0.4.0', '1.0.0') < 0 && compareVersions('1.1.0', '1.1.0') === 0 && compareVersions('1.1.0', '1.0.0') > 0);
});

test('results per version, and reading them back', () => {
  const input = {
    hostIf: { name: 'wv01', mac: 'aa:bb:cc:dd:ee:01' }, containerIf: { name: 'eth0', mac: '02:77:0a:01:00:02', sandbox: '/run/netns/x' },
    mtu: 1400, address: '10.1.0.2/24', gateway: '10.1.0.1',
  };
  const r10 = buildResult({ ...input, cniVersion: '1.0.0' });
  assert.deepEqual(r10, {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'wv01', mac: 'aa:bb:cc:dd:ee:01' }, { name: 'eth0', mac: '02:77:0a:01:00:02', sandbox: '/run/netns/x' }],
    ips: [{ address: '10.1.0.2/24', gateway: '10.1.0.1', interface: 1 }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }],
    dns: {},
  });
  const r11 = buildResult({ ...input, cniVersion: '1.1.0', dns: { nameservers: ['10.1.0.1'] } });
  assert.equal(r11.interfaces[1]!.mtu, 1400);
  assert.deepEqual(r11.dns, { nameservers: ['10.1.0.1'] });
  const r04 = buildResult({ ...input, cniVersion: '0.4.0', gateway: null });
  assert.deepEqual(r04.ips, [{ version: '4', address: '10.1.0.2/24', interface: 1 }]);
  assert.deepEqual(r04.routes, []);
  const prev = JSON.parse(JSON.stringify(r10)) as Record<string, unknown>;
  assert.deepEqual(hostInterfaceNames(prev), ['wv01']);
  assert.equal(containerInterface(prev, 'eth0')?.index, 1);
  assert.equal(containerInterface(prev, 'eth1'), null);
  assert.deepEqual(addressesOn(prev, 1), ['10.1.0.2/24']);
});

test('ethtool -k and ovs-vsctl find output parsing', () => {
  const f = parseEthtoolFeatures('Features for eth0:\nrx-checksumming: on\ntx-checksumming: off\n\ttx-checksum-ipv4: off [fixed]\n');
  assert.deepEqual(f, { 'rx-checksumming': true, 'tx-checksumming': false, 'tx-checksum-ipv4': false });
  const rows = parseFind('{"data":[["wv1",["map",[["container-id","c1"],["iface","eth0"]]]],["wv2",["map",[]]]],"headings":["name","external_ids"]}');
  assert.deepEqual(rows, [{ name: 'wv1', externalIds: { 'container-id': 'c1', iface: 'eth0' } }, { name: 'wv2', externalIds: {} }]);
});
