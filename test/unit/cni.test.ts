// The weft-cni executable run as a real process (environment + stdin)
// against the real controller in-process (behind a recording proxy), with a
// scripted br-int (FakeBrInt) connected as the host's bridge, so endpoints
// become ready, and a fake OVSDB (FakeOvs: an ovs-vsctl shim first on the
// plugin's PATH), so the machine's Open vSwitch is never touched:
// VERSION, STATUS, the error paths, and (as root, with real veths and
// namespaces) the whole ADD / CHECK / DEL. (The chain with real OVS is
// test/integration/cni-chain.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { repoRoot } from '../helpers/paths';
import { startCniHost, CniHost, ApiRecorder, UNDERLAY_IP } from '../helpers/cni-fake-api';
import { waitFor } from '../helpers/wait';
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

/** Runs weft-cni with exactly these CNI_* variables (plus PATH, the fake ovs-vsctl first) and `stdin`. */
function runPlugin(env: Record<string, string>, stdin: string, argv0: string[] = ['node', plugin()]): Promise<PluginRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv0[0]!, argv0.slice(1), { env: { PATH: h.ovs.path, ...env } });
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

/**
 * Links the plugin could have made in a namespace (default: this one, the
 * host's): host ends `wf` + 11 hex digits (controller/port-name.ts) and
 * temporary peers `weft` + 8 hex digits.
 */
function links(netns?: string): string[] {
  const out = execFileSync('ip', [...(netns ? ['-n', path.basename(netns)] : []), '-j', 'link', 'show'], { encoding: 'utf8' });
  return (JSON.parse(out) as Array<{ ifname: string }>).map((l) => l.ifname).filter((n) => /^(wf[0-9a-f]{11}|weft[0-9a-f]{8})$/.test(n)).sort();
}

let h: CniHost;
let api: ApiRecorder;
let tokenFile: string;
let tmp: string;
const NETNS_SELF = `/proc/${process.pid}/ns/net`;
const isRoot = process.getuid?.() === 0;
/** The container's namespace for ADDs that get as far as the veth (a fresh one as root; nothing is made otherwise). */
let NETNS = NETNS_SELF;

before(async () => {
  h = await startCniHost({ host: 'host1', network: 'blue', cidr: '10.91.0.0/24' });
  api = h.api;
  tokenFile = h.tokenFile;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-cni-unit-'));
  if (isRoot) NETNS = h.netns();
});

after(async () => {
  await h.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The controller's endpoints (GET /v1/endpoints). */
async function endpoints(query = ''): Promise<Array<Record<string, unknown> & { id: string; portName: string; state: string; ip: string }>> {
  return (await h.req<Array<Record<string, unknown> & { id: string; portName: string; state: string; ip: string }>>('GET', `/v1/endpoints${query}`)).body;
}

/** An endpoint made directly through the API (as if another call or an earlier run made it). */
async function insert(containerId: string): Promise<{ id: string; ip: string }> {
  const r = await h.req<{ id: string; ip: string }>('POST', '/v1/endpoints', { containerId, ifName: 'eth0', host: 'host1', network: 'blue' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

function conf(extra: Record<string, unknown> = {}): string {
  // ovsdb: a socket nobody serves, should the real ovs-vsctl ever be reached
  return JSON.stringify({ cniVersion: '1.0.0', name: 'blue', type: 'weft-cni', api: api.url, host: 'host1', ovsdb: `unix:${tmp}/no-ovsdb.sock`, tokenFile, ...extra });
}

const addEnv = (extra: Record<string, string> = {}) => ({
  CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c0ffee01', CNI_NETNS: NETNS, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', ...extra,
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
  const hr = await runPlugin(addEnv(), conf({ host: 'nohost' }));
  assertCniError(hr, 7, /host nohost not found/);
  assert.deepEqual(links(), linksBefore, 'no interface was created');
  if (isRoot) assert.deepEqual(links(NETNS), [], 'nor in the container');
  assert.equal((await endpoints()).length, 0);
  const posted = api.calls('POST', '/v1/endpoints').at(-1)?.body as Record<string, unknown>;
  // the plugin names the host end itself (the controller's default name), so it can make the veth meanwhile
  assert.deepEqual(posted, { containerId: 'c0ffee01', ifName: 'eth0', host: 'nohost', network: 'blue', netns: NETNS, portName: portNameFor('c0ffee01', 'eth0') });
});

test('a static address in use (API 409) is reported with the API message', async () => {
  const other = await insert('other1');
  try {
    const r = await runPlugin(addEnv({ CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=x;IP=${other.ip}` }), conf());
    // the controller's message: "<ip> is already in use in network blue"
    assertCniError(r, 999, new RegExp(`${other.ip.replace(/\./g, '\\.')} is already in use in network blue`));
    assert.equal((await endpoints()).length, 1);
  } finally {
    assert.equal((await h.req('DELETE', `/v1/endpoints/${other.id}`)).status, 204);
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
  assert.equal(api.calls('GET', '/v1/health').length, 1, 'the real /v1/health answered');
  // a degraded controller (the proxy answers for it)
  api.intercept = (m, url) => (m === 'GET' && url === '/v1/health' ? { status: 503, json: { status: 'degraded' } } : undefined);
  try {
    assertCniError(await runPlugin({ CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.1.0' })), 50, /Weft is not available/);
  } finally {
    api.intercept = undefined;
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
  assert.equal((api.calls('POST', '/v1/endpoints').at(-1)?.body as { containerId?: string }).containerId, 'rollback1', 'it was registered');
  assert.equal((await endpoints()).length, 0, 'the endpoint was deleted');
  assert.equal(api.calls('DELETE', '/v1/endpoints/').length, 1);
});

test('a retried ADD that fails keeps the endpoint it found (the runtime\'s DEL removes it)', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to create a veth pair');
  const notNs = path.join(tmp, 'not-a-netns-2');
  fs.writeFileSync(notNs, '');
  const existing = await insert('retry1');
  try {
    const deletes = api.calls('DELETE', '/v1/endpoints/').length;
    const r = await runPlugin(addEnv({ CNI_NETNS: notNs, CNI_CONTAINERID: 'retry1' }), conf());
    assertCniError(r, 999, /creating the veth pair into/);
    assert.ok((await endpoints()).some((e) => e.id === existing.id), 'the endpoint that was there before is still there');
    assert.equal(api.calls('DELETE', '/v1/endpoints/').length, deletes, 'no DELETE was sent');
  } finally {
    assert.equal((await h.req('DELETE', `/v1/endpoints/${existing.id}`)).status, 204);
  }
});

/** `ip -n NS -j addr show dev IF` of the container's interface. */
function containerIf(netns: string, ifName = 'eth0'): { operstate: string; flags: string[]; address: string; mtu: number; addr_info: { family: string; local: string; prefixlen: number }[] } | undefined {
  const out = execFileSync('ip', ['-n', path.basename(netns), '-j', 'addr', 'show'], { encoding: 'utf8' });
  return (JSON.parse(out) as Array<{ ifname: string } & ReturnType<typeof containerIf>>).find((l) => l!.ifname === ifName) as ReturnType<typeof containerIf>;
}

const ipn = (netns: string, ...args: string[]) => execFileSync('ip', ['-n', path.basename(netns), ...args], { encoding: 'utf8' });

test('ADD takes the normal path: the controller keeps the plugin\'s port name, the port joins br-int with its ofport_request, the endpoint is ready', async (t) => {
  if (!isRoot) return t.skip('needs root to create veth pairs and namespaces');
  const netns = h.netns();
  const cid = 'normal1';
  const want = portNameFor(cid, 'eth0');
  const linksBefore = links();
  const vsctl = h.ovs.calls.length;
  const posts = api.calls('POST', '/v1/endpoints').length;
  const r = await runPlugin(addEnv({ CNI_CONTAINERID: cid, CNI_NETNS: netns }),
    conf({ runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp', hostIP: '' }] } }));
  assert.equal(r.code, 0, `${r.stdout} ${r.stderr}`);
  // what the plugin asked, and what the controller made of it
  const posted = api.calls('POST', '/v1/endpoints').slice(posts);
  assert.equal(posted.length, 1);
  assert.deepEqual(posted[0]!.body, { containerId: cid, ifName: 'eth0', host: 'host1', network: 'blue', netns, portName: want,
    portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] });
  const [ep] = await endpoints(`?containerId=${cid}`);
  assert.ok(ep);
  assert.equal(ep.portName, want, 'the endpoint has the port name the plugin asked for');
  assert.equal(ep.state, 'ready');
  assert.equal(ep.ofportRequest, 10000);
  assert.equal(ep.ofport, 10000, 'the port came up with the number it asked for');
  assert.deepEqual(ep.portMappings, [{ protocol: 'tcp', hostIP: UNDERLAY_IP, hostPort: 18080, containerPort: 80 }]);
  // the normal branch: one add-port with ofport_request and the external ids, no stale port removed first
  const calls = h.ovs.calls.slice(vsctl);
  assert.equal(calls.filter((c) => c.includes('del-port')).length, 0, `no stale port was removed: ${JSON.stringify(calls)}`);
  const add = calls.find((c) => c.includes('add-port'));
  assert.ok(add?.includes(want) && add.includes('ofport_request=10000'), JSON.stringify(add));
  assert.deepEqual(h.ovs.interfaces.get(want), {
    bridge: 'br-int', ofportRequest: 10000,
    externalIds: { 'weft-endpoint': ep.id, 'container-id': cid, iface: 'eth0', 'weft-network': 'blue' },
  });
  assert.equal(h.brInt.ports.get(want)?.port_no, 10000);
  // its flows are on the switch: the spoof guard for its port
  assert.ok(h.brInt.table.flows.some((f) => f.table_id === 1 && f.match.some((m) => m.field === 'in_port' && m.value === 10000)), 'spoof-guard flows for port 10000');
  // the result names the host end and the container end
  const ifs = r.json?.interfaces as { name: string; mac: string; sandbox?: string }[];
  assert.equal(ifs[0]!.name, want);
  assert.deepEqual(ifs[1], { name: 'eth0', mac: ep.mac, sandbox: netns });
  assert.deepEqual(r.json?.ips, [{ address: `${ep.ip}/24`, gateway: '10.91.0.1', interface: 1 }]);
  // the kernel: exactly the host end is new here; the container end is eth0 with the address, up
  assert.deepEqual(links().filter((n) => !linksBefore.includes(n)), [want]);
  assert.deepEqual(links(netns), [], 'no temporary peer left in the container');
  const c = containerIf(netns)!;
  assert.equal(c.address, ep.mac);
  assert.ok(c.flags.includes('UP'));
  assert.deepEqual(c.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`), [`${ep.ip}/24`]);
  assert.match(ipn(netns, 'route', 'show', 'default'), /default via 10\.91\.0\.1 dev eth0/);

  // CHECK with the result passes
  const prev = { prevResult: r.json };
  const checkEnv = addEnv({ CNI_COMMAND: 'CHECK', CNI_CONTAINERID: cid, CNI_NETNS: netns });
  const ok = await runPlugin(checkEnv, conf(prev));
  assert.equal(ok.code, 0, ok.stdout);

  // DEL removes the OVS port, the veth and the endpoint; a second DEL finds nothing
  const del = await runPlugin({ ...checkEnv, CNI_COMMAND: 'DEL' }, conf(prev));
  assert.equal(del.code, 0, del.stdout);
  assert.equal(h.ovs.interfaces.has(want), false);
  assert.deepEqual(links(), linksBefore, 'the host end is gone');
  assert.equal(containerIf(netns), undefined, 'the container end went with it');
  assert.deepEqual(await endpoints(`?containerId=${cid}`), []);
  await waitFor(() => !h.brInt.ports.has(want), { what: 'port gone from br-int' });
  await waitFor(() => !h.brInt.table.flows.some((f) => f.match.some((m) => m.field === 'in_port' && m.value === 10000)), { what: 'its flows removed' });
  const again = await runPlugin({ ...checkEnv, CNI_COMMAND: 'DEL' }, conf(prev));
  assert.equal(again.code, 0, again.stdout);
});

test('CHECK fails (999) when the state differs from what ADD made', async (t) => {
  if (!isRoot) return t.skip('needs root to create veth pairs and namespaces');
  const netns = h.netns();
  const cid = 'check1';
  const env = addEnv({ CNI_CONTAINERID: cid, CNI_NETNS: netns });
  const r = await runPlugin(env, conf());
  assert.equal(r.code, 0, r.stdout);
  const port = portNameFor(cid, 'eth0');
  const check = () => runPlugin({ ...env, CNI_COMMAND: 'CHECK' }, conf({ prevResult: r.json }));
  try {
    assert.equal((await check()).code, 0, 'CHECK passes first');
    const [ep] = await endpoints(`?containerId=${cid}`);
    const address = `${ep!.ip}/24`;
    // the container interface down
    ipn(netns, 'link', 'set', 'eth0', 'down');
    assertCniError(await check(), 999, /interface eth0 in .* is down/);
    ipn(netns, 'link', 'set', 'eth0', 'up');
    assert.equal((await check()).code, 0, 'and passes again once restored');
    // its address gone
    ipn(netns, 'addr', 'del', address, 'dev', 'eth0');
    assertCniError(await check(), 999, new RegExp(`lacks ${address.replace(/\./g, '\\.')}`));
    ipn(netns, 'addr', 'add', address, 'dev', 'eth0');
    // TX checksum offload back on
    execFileSync('ip', ['netns', 'exec', path.basename(netns), 'ethtool', '-K', 'eth0', 'tx', 'on']);
    assertCniError(await check(), 999, /TX checksum offload is on/);
    execFileSync('ip', ['netns', 'exec', path.basename(netns), 'ethtool', '-K', 'eth0', 'tx', 'off']);
    // the OVS port carrying another endpoint's id
    h.ovs.interfaces.get(port)!.externalIds['weft-endpoint'] = 'someone-else';
    assertCniError(await check(), 999, /belongs to endpoint someone-else/);
    h.ovs.interfaces.get(port)!.externalIds['weft-endpoint'] = ep!.id;
    // the host end down
    execFileSync('ip', ['link', 'set', port, 'down']);
    assertCniError(await check(), 999, new RegExp(`host interface ${port} is down`));
    execFileSync('ip', ['link', 'set', port, 'up']);
    assert.equal((await check()).code, 0, 'restored, CHECK passes');
    // the endpoint gone from Weft
    assert.equal((await h.req('DELETE', `/v1/endpoints/${ep!.id}`)).status, 204);
    assertCniError(await check(), 999, /Weft has no endpoint for container check1/);
  } finally {
    const d = await runPlugin({ ...env, CNI_COMMAND: 'DEL' }, conf({ prevResult: r.json }));
    assert.equal(d.code, 0, d.stdout);
  }
});

test('DEL while the API is unreachable removes this attachment\'s host end (as OVS shows it), then fails with 11; the retry frees the address', async (t) => {
  if (!isRoot) return t.skip('needs root to create veth pairs and namespaces');
  const netns = h.netns();
  const cid = 'offline1';
  const env = addEnv({ CNI_CONTAINERID: cid, CNI_NETNS: netns });
  const r = await runPlugin(env, conf());
  assert.equal(r.code, 0, r.stdout);
  const port = portNameFor(cid, 'eth0');
  // another attachment's port, named in a forged prevResult: not this DEL's to remove
  const other = await runPlugin(addEnv({ CNI_CONTAINERID: 'offline2', CNI_NETNS: h.netns() }), conf());
  assert.equal(other.code, 0, other.stdout);
  const otherPort = portNameFor('offline2', 'eth0');
  const prevResult = { ...r.json, interfaces: [...(r.json!.interfaces as object[]), { name: otherPort }] };
  const dead = await deadUrl();
  const d = await runPlugin({ ...env, CNI_COMMAND: 'DEL' }, conf({ api: dead, prevResult }));
  assertCniError(d, 11, /unreachable/);
  assert.equal(h.ovs.interfaces.has(port), false, 'its OVS port is gone');
  assert.ok(!links().includes(port), 'its host end is gone');
  assert.ok(h.ovs.interfaces.has(otherPort) && links().includes(otherPort), 'the other attachment\'s port is untouched');
  const [ep] = await endpoints(`?containerId=${cid}`);
  assert.ok(ep, 'Weft still holds the endpoint (and its address) until the retry');
  // the runtime retries once the API is back
  const retry = await runPlugin({ ...env, CNI_COMMAND: 'DEL' }, conf({ prevResult: r.json }));
  assert.equal(retry.code, 0, retry.stdout);
  assert.deepEqual(await endpoints(`?containerId=${cid}`), []);
  const o = await runPlugin(addEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'offline2', CNI_NETNS: '' }), conf({ prevResult: other.json }));
  assert.equal(o.code, 0, o.stdout);
  assert.ok(!links().includes(otherPort));
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
