// `weft hosts|networks|endpoints|trace|flows` against a real in-process
// controller (host1 registered, its br-int a connected FakeBrInt), run as
// the built executable with execFile (asynchronous: the controller lives in
// this process): tables for people, `-o json` exactly the API's JSON, the
// API's URL and token from flag, environment, config file or default, and
// the exit codes (1 for an API error, 2 for a usage error).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { startCniHost, CniHost } from '../helpers/cni-fake-api';
import { repoRoot } from '../helpers/paths';
import { resolveTarget } from '../../northbound/cli/client';
import { table } from '../../northbound/cli/table';
import { BR_INT } from '../../controller/pipeline/br-int';

type Obj = Record<string, unknown>;
const hP = startCniHost();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-cli-'));
after(async () => { await (await hP).close(); fs.rmSync(work, { recursive: true, force: true }); });

interface Run { status: number; stdout: string; stderr: string }
/** Runs the built CLI in `work` with only PATH and HOME (an empty one) in its environment, unless `env` says more. */
function weftRaw(args: string[], env: Record<string, string> = {}, cwd = work): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(repoRoot(), 'dist/northbound/cli/weft.js'), ...args],
      { encoding: 'utf8', cwd, env: { PATH: process.env.PATH ?? '', HOME: path.join(work, 'nohome'), ...env } }, (err, stdout, stderr) => {
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
  });
}
/** The CLI pointed at the controller with flags. */
async function weft(...args: string[]): Promise<Run> {
  const h = await hP;
  return weftRaw([...args, '--api', `http://127.0.0.1:${h.ctl.apiPort}`, '--token-file', h.tokenFile]);
}
async function ok(...args: string[]): Promise<string> {
  const r = await weft(...args);
  assert.equal(r.status, 0, `weft ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
async function api<T = Obj>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> {
  return (await hP).req<T>(method, url, body);
}
/** The row of a table whose first cell is `key`, split on runs of two or more spaces. */
function row(out: string, key: string): string[] | undefined {
  return out.split('\n').map((l) => l.split(/ {2,}/)).find((c) => c[0] === key);
}

test('the table formatter aligns columns and prints note lines as they are', () => {
  assert.equal(table(['A', 'LONGER'], [['xxxx', 1], '-- a note that is wide', [null, 'y']]), 'A     LONGER\nxxxx  1\n-- a note that is wide\n-     y\n');
});

test('setup: a second host and a second network', async () => {
  assert.equal((await api('POST', '/v1/hosts', { name: 'host2', dpid: '00000000000000e2', underlayIp: '172.31.254.2' })).status, 201);
  assert.equal((await api('POST', '/v1/networks', { name: 'red', cidr: '10.92.0.0/24' })).status, 201);
});

test('tunnels: a row per ordered pair of hosts with a tunnel, and -o json exactly the API\'s', async () => {
  // host1's br-int has no vxlan0 (no pairs); two hosts that never connected have a pair each way
  for (const [n, d] of [['tun3', 'e3'], ['tun4', 'e4']]) assert.equal((await api('POST', '/v1/hosts', { name: n, dpid: `00000000000000${d}`, underlayIp: `172.31.254.${d === 'e3' ? 3 : 4}` })).status, 201);
  try {
    const t = await ok('tunnels');
    assert.match(t.split('\n')[0]!, /^FROM\s+TO\s+FROM-IP\s+TO-IP\s+STATE\s+RTT\s+LAST-SEEN\s+LAST-PROBED$/);
    const want = (await api<{ tunnels: Obj[] }>('GET', '/v1/tunnels')).body.tunnels;
    const rows = t.split('\n').slice(1).filter(Boolean).map((l) => l.split(/ {2,}/));
    assert.equal(rows.length, want.length);
    for (const x of want) assert.ok(rows.some((r) => r.slice(0, 4).join(' ') === [x.from, x.to, x.fromIp, x.toIp].join(' ')), JSON.stringify(x));
    assert.ok(want.some((x) => x.from === 'tun3' && x.to === 'tun4') && want.some((x) => x.from === 'tun4' && x.to === 'tun3'));
    assert.ok(!want.some((x) => x.from === 'host1' || x.to === 'host1'), 'host1 has no tunnel port');
    assert.deepEqual(rows.find((r) => r[0] === 'tun3' && r[1] === 'tun4')!.slice(5), ['-', '-', '-'], 'no round trip, never seen, never probed (neither br-int is connected)');
    const j = JSON.parse(await ok('tunnels', '-o', 'json')) as { tunnels: Obj[] };
    assert.deepEqual(j.tunnels.map((x) => [x.from, x.to]), want.map((x) => [x.from, x.to]));
    assert.equal((await weft('tunnels', 'nosuch')).status, 2);
  } finally {
    for (const n of ['tun3', 'tun4']) await api('DELETE', `/v1/hosts/${n}`);
  }
});

test('hosts ls, get, rm: a table, and -o json exactly the API\'s', async () => {
  const h = await hP;
  const t = await ok('hosts', 'ls');
  assert.match(t.split('\n')[0]!, /^NAME\s+DPID\s+UNDERLAY\s+PHY-DPID\s+CONNECTED\s+ENDPOINTS$/);
  const dpid = (h.brInt.dpid).toString(16).padStart(16, '0');
  assert.deepEqual(row(t, 'host1'), ['host1', dpid, '172.31.254.1', (h.brInt.dpid | 0xb000000000n).toString(16).padStart(16, '0'), 'yes', '0']);
  assert.deepEqual(row(t, 'host2'), ['host2', '00000000000000e2', '172.31.254.2', '-', 'no', '0']);
  assert.deepEqual(JSON.parse(await ok('hosts', 'ls', '-o', 'json')), (await api('GET', '/v1/hosts?kind=registered')).body);

  const g = await ok('hosts', 'get', 'host2');
  assert.deepEqual(row(g, 'underlayIp'), ['underlayIp', '172.31.254.2']);
  assert.deepEqual(row(g, 'connected'), ['connected', 'false']);
  assert.deepEqual(JSON.parse(await ok('hosts', 'get', 'host1', '-o', 'json')), (await api('GET', '/v1/hosts/host1')).body);

  assert.equal(await ok('hosts', 'rm', 'host2'), 'host host2 removed\n');
  assert.equal((await api('GET', '/v1/hosts/host2')).status, 404);
  const again = await weft('hosts', 'rm', 'host2');
  assert.equal(again.status, 1);
  assert.equal(again.stderr, `weft: 404 ${(await api<Obj>('DELETE', '/v1/hosts/host2')).body.message}\n`);
  assert.equal(row(await ok('hosts', 'ls'), 'host2'), undefined);
});

test('networks ls, get, rm', async () => {
  const t = await ok('networks', 'ls');
  assert.match(t.split('\n')[0]!, /^NAME\s+ID\s+CIDR\s+GATEWAY\s+MODE\s+VNI\s+VLAN\s+MTU\s+ENDPOINTS$/);
  const red = (await api('GET', '/v1/networks/red')).body;
  assert.deepEqual(row(t, 'red'), ['red', String(red.id), '10.92.0.0/24', String(red.gateway), String(red.mode), String(red.vni), '-', String(red.mtu), '0']);
  assert.equal(row(t, 'blue')?.[2], '10.91.0.0/24');
  assert.deepEqual(JSON.parse(await ok('networks', 'ls', '-o', 'json')), (await api('GET', '/v1/networks')).body);
  assert.deepEqual(row(await ok('networks', 'get', 'red'), 'cidr'), ['cidr', '10.92.0.0/24']);
  assert.deepEqual(JSON.parse(await ok('networks', 'get', 'blue', '-o', 'json')), (await api('GET', '/v1/networks/blue')).body);
  assert.equal(await ok('networks', 'rm', 'red'), 'network red removed\n');
  assert.equal((await api('GET', '/v1/networks/red')).status, 404);
  const gone = await weft('networks', 'get', 'red');
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /^weft: 404 network red not found\n$/);
});

let ep1: Obj = {};
let ep2: Obj = {};
test('endpoints add, then ls, get and rm', async () => {
  const added = await ok('endpoints', 'add', '--container', 'c1', '--if', 'eth0', '--host', 'host1', '--network', 'blue');
  const id1 = row(added, 'id')?.[1];
  assert.ok(id1 && id1 !== '-', added);
  ep1 = (await api(`GET`, `/v1/endpoints/${id1}`)).body;
  assert.deepEqual(row(added, 'ip'), ['ip', ep1.ip]);
  assert.deepEqual(row(added, 'host'), ['host', 'host1']);
  // -o json: the POST's answer as it is, with the address and MAC asked for
  const j = JSON.parse(await ok('endpoints', 'add', '--container', 'c2', '--host', 'host1', '--network', 'blue', '--ip', '10.91.0.77', '--mac', '02:00:00:00:00:77', '-o', 'json'));
  ep2 = (await api(`GET`, `/v1/endpoints/${j.id}`)).body;
  assert.deepEqual(j, ep2);
  assert.deepEqual([j.ip, j.mac, j.ifName], ['10.91.0.77', '02:00:00:00:00:77', 'eth0']);

  const t = await ok('endpoints', 'ls');
  assert.match(t.split('\n')[0]!, /^ID\s+CONTAINER\s+IF\s+HOST\s+NETWORK\s+IP\s+MAC\s+STATE\s+OFPORT$/);
  assert.deepEqual(row(t, ep1.id as string), [ep1.id, 'c1', 'eth0', 'host1', 'blue', ep1.ip, ep1.mac, ep1.state, ep1.ofport === null ? '-' : String(ep1.ofport)]);
  assert.equal(row(t, ep2.id as string)?.[5], '10.91.0.77');
  assert.deepEqual(JSON.parse(await ok('endpoints', 'ls', '-o', 'json', '--host', 'host1', '--network', 'blue')), (await api('GET', '/v1/endpoints?host=host1&network=blue')).body);
  // the filters reach the API: nothing on another network
  assert.equal(await ok('endpoints', 'ls', '--network', 'nosuch', '-o', 'json'), '[]\n');
  assert.deepEqual(JSON.parse(await ok('endpoints', 'get', ep1.id as string, '-o', 'json')), (await api('GET', `/v1/endpoints/${ep1.id}`)).body);
  assert.deepEqual(row(await ok('endpoints', 'get', ep2.id as string), 'mac'), ['mac', '02:00:00:00:00:77']);

  const c3 = JSON.parse(await ok('endpoints', 'add', '--container', 'c3', '--host', 'host1', '--network', 'blue', '-o', 'json'));
  assert.equal(await ok('endpoints', 'rm', c3.id), `endpoint ${c3.id} removed\n`);
  assert.equal((await api('GET', `/v1/endpoints/${c3.id}`)).status, 404);
  assert.equal(row(await ok('endpoints', 'ls'), c3.id), undefined);
  // a refused add: the API's message, exit 1
  const bad = await weft('endpoints', 'add', '--container', 'c4', '--host', 'host1', '--network', 'blue', '--ip', '10.91.0.1');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^weft: 400 10\.91\.0\.1 is reserved/);
});

test('trace between two endpoints: the hops as a table, then the verdict', async () => {
  const want = (await api<{ computed: { hops: Obj[]; verdict: Obj } }>('POST', '/v1/traces', { from: { endpoint: ep1.id }, to: { endpoint: ep2.id }, proto: 'icmp' })).body.computed;
  const out = await ok('trace', ep1.id as string, ep2.id as string);
  const lines = out.trimEnd().split('\n');
  assert.match(lines[0]!, /^arp: 10\.91\.0\.77 is at /);
  assert.match(lines[1]!, /^HOST\s+BRIDGE\s+TABLE\s+OWNER\s+ACTIONS$/);
  const tableHops = want.hops.filter((x) => x.kind === undefined);
  assert.ok(tableHops.length > 0);
  assert.equal(lines.filter((l) => l.startsWith('host1  br-int')).length, tableHops.length);
  assert.match(lines[2]!, new RegExp(`^host1\\s+br-int\\s+${tableHops[0]!.tableId}:${tableHops[0]!.table}\\s`));
  const verdict = lines.at(-1)!;
  assert.match(verdict, new RegExp(`^verdict: ${want.verdict.result} `));
  if (want.verdict.result === 'delivered') assert.equal(verdict, `verdict: delivered to endpoint ${ep2.id} on host1`);
  else assert.ok(verdict.includes(String(want.verdict.reason)), verdict);

  // -o json is the API's answer; --tcp/--udp and IP@NETWORK reach the request
  const body = { from: { ip: ep1.ip, network: 'blue' }, to: { ip: ep2.ip }, proto: 'tcp', dstPort: 8080 };
  const j = JSON.parse(await ok('trace', `${ep1.ip}@blue`, ep2.ip as string, '--tcp', '8080', '-o', 'json'));
  assert.deepEqual(j, (await api('POST', '/v1/traces', body)).body);
  const udp = await ok('trace', ep1.id as string, '10.91.0.200', '--udp', '53');
  assert.match(udp, /^arp: 10\.91\.0\.200 is at /);
  assert.match(udp, /\nverdict: (dropped|left|delivered) /);
  const nope = await weft('trace', 'nosuch', ep2.id as string);
  assert.equal(nope.status, 1);
  assert.match(nope.stderr, /^weft: 404 /);
  assert.equal((await weft('trace', ep1.id as string, ep2.id as string, '--tcp', '80', '--udp', '53')).status, 2);
  assert.equal((await weft('trace', ep1.id as string, ep2.id as string, '--tcp', '0')).status, 2);
});

test('flows of a host\'s br-int: table names and the flows\' text; --table filters by the table\'s id', async () => {
  const h = await hP;
  const dpid = h.brInt.dpid.toString(16).padStart(16, '0');
  const all = (await api<{ table_id: number; text: string }[]>('GET', `/v1/switches/${dpid}/flows`)).body;
  const out = await ok('flows', 'host1');
  const lines = out.trimEnd().split('\n');
  assert.match(lines[0]!, /^TABLE\s+FLOW$/);
  assert.equal(lines.length - 1, all.length);
  const names = new Set(lines.slice(1).map((l) => l.split(/\s+/)[0]));
  for (const n of ['classifier', 'spoofGuard', 'arpResponder', 'l3Forwarding', 'l2Forwarding']) assert.ok(names.has(n), `${n} in ${[...names]}`);
  const width = Math.max(...all.map((f) => BR_INT.tables[f.table_id]!.name.length));
  for (const f of all) assert.ok(lines.includes(`${BR_INT.tables[f.table_id]!.name.padEnd(width)}  ${f.text}`), f.text);

  // through the recording proxy: the table's id goes to the switch (the fake
  // br-int answers every table; OVS answers that one), and the table shows only it
  const via = ['--api', h.api.url, '--token-file', h.tokenFile];
  const l2 = await weftRaw(['flows', 'host1', '--table', 'l2Forwarding', ...via]);
  assert.equal(l2.status, 0, l2.stderr);
  assert.deepEqual(h.api.calls('GET', '/v1/switches/').map((r) => r.url), [`/v1/switches/${dpid}/flows?table=${BR_INT.tableId.l2Forwarding}`]);
  const l2lines = l2.stdout.trimEnd().split('\n').slice(1);
  assert.equal(l2lines.length, all.filter((f) => f.table_id === BR_INT.tableId.l2Forwarding).length);
  assert.ok(l2lines.length > 0 && l2lines.every((l) => l.startsWith('l2Forwarding  ')), l2.stdout);
  const j = await weftRaw(['flows', 'host1', '--table', 'spoofGuard', '-o', 'json', ...via]);
  assert.deepEqual(JSON.parse(j.stdout), (await api('GET', `/v1/switches/${dpid}/flows?table=${BR_INT.tableId.spoofGuard}`)).body);
  assert.equal(h.api.calls('GET', '/v1/switches/').at(-1)!.url, `/v1/switches/${dpid}/flows?table=${BR_INT.tableId.spoofGuard}`);

  const bad = await weft('flows', 'host1', '--table', 'nosuch');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /br-int has no table "nosuch" \(classifier, spoofGuard/);
  // br-phy is registered but not connected: the API's 404
  const phy = await weft('flows', 'host1', '--bridge', 'br-phy');
  assert.equal(phy.status, 1);
  assert.match(phy.stderr, /^weft: 404 switch [0-9a-f]{16} not found/);
  assert.equal((await weft('flows', 'nosuch')).stderr, 'weft: 404 host nosuch not found\n');
});

test('the API and token: flag over environment over config file over default', async () => {
  const h = await hP;
  const url = `http://127.0.0.1:${h.ctl.apiPort}`;
  const dead = 'http://127.0.0.1:1';
  const home = path.join(work, 'home');
  fs.mkdirSync(path.join(home, '.config', 'weft'), { recursive: true });
  const good = path.join(home, 'good.token');
  const badTok = path.join(home, 'bad.token');
  fs.copyFileSync(h.tokenFile, good);
  fs.writeFileSync(badTok, 'weft_0000000000000000_' + 'A'.repeat(43) + '\n');
  const cfg = (o: object) => fs.writeFileSync(path.join(home, '.config', 'weft', 'cli.json'), JSON.stringify(o));
  const ls = (env: Record<string, string>, ...flags: string[]) => weftRaw(['networks', 'ls', '-o', 'json', ...flags], { HOME: home, ...env });
  const reached = (r: Run) => { assert.equal(r.status, 0, r.stderr); assert.ok(Array.isArray(JSON.parse(r.stdout))); };
  const unreachable = (r: Run) => { assert.equal(r.status, 1); assert.match(r.stderr, /^weft: cannot reach the API at http:\/\/127\.0\.0\.1:1/); };
  const refused = (r: Run) => { assert.equal(r.status, 1); assert.equal(r.stderr, 'weft: 401 the token is not valid\n'); };

  // the config file alone (a relative tokenFile is relative to its folder)
  cfg({ api: url, tokenFile: '../../good.token' });
  reached(await ls({}));
  cfg({ api: url, tokenFile: '~/good.token' });
  reached(await ls({}));
  // the environment over the file, the flag over the environment: the API
  unreachable(await ls({ WEFT_API: dead }));
  reached(await ls({ WEFT_API: dead }, '--api', url));
  cfg({ api: dead, tokenFile: good });
  unreachable(await ls({}));
  reached(await ls({ WEFT_API: url }));
  // ... and the token
  cfg({ api: url, tokenFile: badTok });
  refused(await ls({}));
  reached(await ls({ WEFT_TOKEN_FILE: good }));
  reached(await ls({ WEFT_TOKEN: fs.readFileSync(good, 'utf8').trim() }));
  refused(await ls({ WEFT_TOKEN_FILE: good, WEFT_TOKEN: 'weft_nope' }));
  refused(await ls({ WEFT_TOKEN_FILE: badTok }, '--api', url));
  reached(await ls({ WEFT_TOKEN_FILE: badTok }, '--token-file', good));
  reached(await ls({ WEFT_TOKEN: 'weft_nope' }, '--admin-token-file', good));
  // defaults: ./weft-admin.token and http://127.0.0.1:8080 (no config file)
  fs.rmSync(path.join(home, '.config', 'weft', 'cli.json'));
  const cwd = path.join(work, 'cwd');
  fs.mkdirSync(cwd);
  const noFile = await weftRaw(['networks', 'ls'], { HOME: home, WEFT_API: url }, cwd);
  assert.equal(noFile.status, 2);
  assert.match(noFile.stderr, /^weft: cannot read the token file weft-admin\.token \(default\)/);
  fs.copyFileSync(good, path.join(cwd, 'weft-admin.token'));
  reached(await weftRaw(['networks', 'ls', '-o', 'json'], { HOME: home, WEFT_API: url }, cwd));
  // a config file that is not JSON is a usage error
  cfg({});
  fs.writeFileSync(path.join(home, '.config', 'weft', 'cli.json'), '{nope');
  const broken = await weftRaw(['networks', 'ls'], { HOME: home }, cwd);
  assert.equal(broken.status, 2);
  assert.match(broken.stderr, /cli\.json is not JSON/);

  // the resolution itself, and where each came from
  assert.deepEqual(resolveTarget({}, { HOME: path.join(work, 'nohome') }), { api: 'http://127.0.0.1:8080', tokenFile: 'weft-admin.token', from: { api: 'default', token: 'default' } });
  assert.deepEqual(resolveTarget({ api: url }, { HOME: home, WEFT_API: dead, WEFT_TOKEN: 'x' }), { api: url, tokenFile: null, from: { api: 'flag', token: 'env' } });
  assert.throws(() => resolveTarget({ api: 'ftp://x' }, {}), /not an http or https URL/);
});

test('weft token uses the shared client: its flags, the environment, and -o json', async () => {
  const h = await hP;
  const url = `http://127.0.0.1:${h.ctl.apiPort}`;
  const made = await weftRaw(['token', 'create', '--role', 'host', '--host', 'host1'], { WEFT_API: url, WEFT_TOKEN_FILE: h.tokenFile });
  assert.equal(made.status, 0, made.stderr);
  const id = made.stdout.trim().slice(5, 21);
  const ls = await weftRaw(['token', 'ls', '--api', url, '--admin-token-file', h.tokenFile]);
  assert.match(ls.stdout, /^ID\s+ROLE\s+HOST\s+CREATED\n/);
  assert.match(ls.stdout, new RegExp(`^${id}\\s+host\\s+host1\\s`, 'm'));
  const j = JSON.parse((await weft('token', 'ls', '-o', 'json')).stdout) as Obj[];
  assert.deepEqual(j, (await api('GET', '/v1/tokens')).body);
  assert.equal((await weft('token', 'rm', id)).status, 0);
  assert.ok(!(await weft('token', 'ls')).stdout.includes(id));
  const gone = await weft('token', 'rm', id);
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /^weft: 404 /);
});

test('a bad token: the 401 message, exit 1; usage errors exit 2 with the usage', async () => {
  const h = await hP;
  const badTok = path.join(work, 'bad2.token');
  fs.writeFileSync(badTok, 'weft_0000000000000000_' + 'B'.repeat(43));
  const r = await weftRaw(['hosts', 'ls', '--api', `http://127.0.0.1:${h.ctl.apiPort}`, '--token-file', badTok]);
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'weft: 401 the token is not valid\n');
  assert.equal(r.stdout, '');
  for (const args of [['hosts', 'frob'], ['hosts', 'get'], ['hosts', 'ls', 'extra'], ['hosts', 'ls', '-o', 'yaml'], ['endpoints', 'add', '--host', 'host1', '--network', 'blue'],
    ['hosts', 'ls', '--host', 'x'], ['networks', 'ls', '--bogus'], ['trace', 'onlyone'], ['trace', '10.0.0.1', 'x'], ['flows'], ['flows', 'host1', '--bridge', 'br-ex']]) {
    const u = await weft(...args);
    assert.equal(u.status, 2, `${args.join(' ')}: ${u.stderr}`);
    assert.match(u.stderr, /^weft: .+\n\nUsage: weft/, args.join(' '));
  }
  const help = await weftRaw(['help']);
  for (const w of ['hosts ls | get NAME | rm NAME', 'endpoints ls [--host H] [--network N]', 'trace FROM TO [--tcp PORT|--udp PORT]', 'flows HOST [--table NAME]', '~/.config/weft/cli.json', 'WEFT_TOKEN_FILE']) {
    assert.ok(help.stdout.includes(w), w);
  }
});

test('services ls, show and rm: the VIP, its ports and backends; -o json is the API\'s', async () => {
  assert.equal((await api('POST', '/v1/networks', { name: 'svcnet', cidr: '10.93.0.0/24' })).status, 201);
  const made = await api('POST', '/v1/services', { name: 'web', network: 'svcnet', vip: '10.93.0.200', ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }, { protocol: 'udp', port: 53 }], endpoints: [] });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const ls = await ok('services', 'ls');
  assert.match(ls, /^NAME\s+NETWORK\s+VIP\s+PORTS\s+AFFINITY\s+BACKENDS\n/);
  assert.deepEqual(row(ls, 'web'), ['web', 'svcnet', '10.93.0.200', 'tcp/80->8080,udp/53->53', 'none', '-']);
  assert.deepEqual(JSON.parse(await ok('services', 'ls', '-o', 'json')), (await api('GET', '/v1/services')).body);
  // a trace to the VIP names the service (its backends: the ready endpoints listed, here ep2 if it is ready)
  assert.equal((await api('POST', '/v1/services', { name: 'web2', network: 'blue', vip: '10.91.0.201', ports: [{ protocol: 'tcp', port: 80 }], endpoints: [ep2.id] })).status, 201);
  const tr = (await api<{ computed: { service?: { name: string; backends: { id: string }[]; chosen: { id: string } | null } } }>('POST', '/v1/traces', { from: { endpoint: ep1.id }, to: { ip: '10.91.0.201' }, proto: 'tcp', dstPort: 80 })).body.computed;
  assert.equal(tr.service?.name, 'web2');
  assert.equal(tr.service!.chosen?.id, tr.service!.backends[0]?.id, 'the one backend is chosen, if it is ready');
  assert.match(await ok('trace', ep1.id as string, '10.91.0.201', '--tcp', '80'), /\nservice: web2 \(VIP 10\.91\.0\.201, [01] ready backends?\) -> /);
  assert.equal((await api('DELETE', '/v1/services/web2')).status, 204);
  const show = await ok('services', 'show', 'web');
  assert.deepEqual(row(show, 'vip'), ['vip', '10.93.0.200']);
  assert.equal((await ok('services', 'rm', 'web')), 'service web removed\n');
  const gone = await weft('services', 'show', 'web');
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /^weft: 404 /);
  const u = await weft('services', 'frob');
  assert.equal(u.status, 2);
  assert.match(u.stderr, /ls, get \(show\) or rm/);
  assert.equal((await api('DELETE', '/v1/networks/svcnet')).status, 204);
});
