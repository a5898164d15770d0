// Encrypted networks on a real controller (in-process, logs captured at
// trace level): validation, each host's VTEP and keys, who may read them
// (a host token only its own host's, PSKs only to that host), rekey, the
// PSKs never in any other answer or in the logs; the flows (encrypted
// traffic only through the secure tunnel, never in clear); the agent's
// config rendering and its checks of the controller's answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Controller, DEFAULTS, controllerLogger } from '../../northbound/compose';
import { parseControllerArgs, UsageError } from '../../northbound/cli/weft';
import { containerFlows } from '../../apps/container-network';
import { derivedMac } from '../../controller/pipeline';
import type { HostState } from '../../apps/container/context';
import type { HostRec, NetworkRec } from '../../controller/resources';
import { parseHostConf, swanctlConf, strongswanConf } from '../../northbound/ipsec/swanctl';
import { installedConns, parseIpsecAgentArgs } from '../../northbound/ipsec/agent';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-ipsec-'));
const logs: string[] = [];
let ctl: Controller;
const tokens: Record<string, string> = {};

type Res<T = Record<string, unknown>> = { status: number; body: T };
async function call<T = Record<string, unknown>>(method: string, url: string, token: string | null, body?: unknown): Promise<Res<T>> {
  const r = await ctl.api!.inject({ method: method as 'GET', url, payload: body as object, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { status: r.statusCode, body: (r.body ? r.json() : undefined) as T };
}
const admin = () => ctl.adminToken!;
interface Peer { name: string; underlayIp: string; vtep: string; initiator: boolean; generation: number; psk?: string }
interface Conf { host: string; vtep: string; vtepCidr: string; generation: number; peers: Peer[] }

before(async () => {
  ctl = new Controller({ ...DEFAULTS, ofPort: 0, apiPort: 0, ofHost: '127.0.0.1', db: path.join(dir, 'weft.db'), logLevel: 'trace', apps: 'none' },
    controllerLogger('trace', { write: (s: string) => { logs.push(s); } }));
  await ctl.start();
  for (const [name, dpid, ip] of [['h1', '00000000000000e1', '172.30.9.1'], ['h2', '00000000000000e2', '172.30.9.2'], ['h3', '00000000000000e3', '172.30.9.3']]) {
    assert.equal((await call('POST', '/v1/hosts', admin(), { name, dpid, underlayIp: ip })).status, 201);
    const t = await call<{ token: string }>('POST', '/v1/tokens', admin(), { role: 'host', host: name });
    assert.equal(t.status, 201);
    tokens[name!] = t.body.token;
  }
});
after(async () => { await ctl.stop(); fs.rmSync(dir, { recursive: true, force: true }); });

test('validation: encrypted is for overlay and routed networks; its MTU leaves room for VXLAN and ESP; a refusal stores nothing', async () => {
  const n0 = (await call<unknown[]>('GET', '/v1/networks', admin())).body.length;
  for (const mode of ['local', 'underlay']) {
    const r = await call<{ field: string }>('POST', '/v1/networks', admin(), { name: `e-${mode}`, cidr: '10.81.0.0/24', mode, encrypted: true });
    assert.deepEqual([r.status, r.body.field], [400, 'encrypted'], mode);
  }
  const big = await call<{ field: string; message: string }>('POST', '/v1/networks', admin(), { name: 'e-big', cidr: '10.81.0.0/24', mode: 'overlay', encrypted: true, mtu: 1400 });
  assert.deepEqual([big.status, big.body.field], [400, 'mtu']);
  assert.match(big.body.message, /1350/);
  const notBool = await call('POST', '/v1/networks', admin(), { name: 'e-str', cidr: '10.81.0.0/24', mode: 'overlay', encrypted: 'yes' });
  assert.equal(notBool.status, 400);
  assert.equal((await call<unknown[]>('GET', '/v1/networks', admin())).body.length, n0, 'nothing stored');
  const ok = await call<{ encrypted: boolean; mtu: number }>('POST', '/v1/networks', admin(), { name: 'sec', cidr: '10.81.0.0/24', mode: 'overlay', encrypted: true });
  assert.deepEqual([ok.status, ok.body.encrypted, ok.body.mtu], [201, true, 1350]);
  const routed = await call<{ encrypted: boolean; mtu: number }>('POST', '/v1/networks', admin(), { name: 'rsec', cidr: '10.82.0.0/24', mode: 'routed', encrypted: true, mtu: 1300 });
  assert.deepEqual([routed.status, routed.body.encrypted, routed.body.mtu], [201, true, 1300]);
  const plain = await call<{ encrypted: boolean; mtu: number }>('POST', '/v1/networks', admin(), { name: 'plain', cidr: '10.83.0.0/24', mode: 'overlay' });
  assert.deepEqual([plain.body.encrypted, plain.body.mtu], [false, 1450]);
});

test('each host has its own VTEP from the range and one PSK per peer, the same on both ends; the lower name initiates', async () => {
  const conf: Record<string, Conf> = {};
  for (const h of ['h1', 'h2', 'h3']) {
    const r = await call<Conf>('GET', `/v1/hosts/${h}/ipsec`, tokens[h]!);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    conf[h] = r.body;
  }
  const vteps = Object.values(conf).map((c) => c.vtep);
  assert.equal(new Set(vteps).size, 3);
  for (const v of vteps) assert.match(v, /^198\.18\.\d+\.\d+$/);
  assert.equal(conf.h1!.vtepCidr, '198.18.0.0/16');
  const p12 = conf.h1!.peers.find((p) => p.name === 'h2')!;
  const p21 = conf.h2!.peers.find((p) => p.name === 'h1')!;
  assert.equal(p12.psk, p21.psk, 'both ends of a pair have its PSK');
  assert.match(p12.psk!, /^[A-Za-z0-9+/]{43}=$/, '32 random bytes, base64');
  assert.notEqual(p12.psk, conf.h1!.peers.find((p) => p.name === 'h3')!.psk, 'another pair, another PSK');
  assert.deepEqual([p12.initiator, p21.initiator], [true, false]);
  assert.equal(p12.vtep, conf.h2!.vtep);
});

test('attacker: a host token reads only its own host\'s IPsec configuration; the admin gets it without PSKs; no token, nothing', async () => {
  const other = await call<{ field: string }>('GET', '/v1/hosts/h1/ipsec', tokens.h2!);
  assert.deepEqual([other.status, other.body.field], [403, 'name']);
  assert.ok(!JSON.stringify(other.body).includes('psk'));
  assert.equal((await call('GET', '/v1/hosts/nosuch/ipsec', tokens.h2!)).status, 403, 'a host token learns nothing of other names');
  assert.equal((await call('GET', '/v1/hosts/h1/ipsec', null)).status, 401);
  assert.equal((await call('GET', '/v1/hosts/h1/ipsec', 'not-a-token')).status, 401);
  const a = await call<Conf>('GET', '/v1/hosts/h1/ipsec', admin());
  assert.equal(a.status, 200);
  assert.equal(a.body.peers.length, 2);
  assert.ok(a.body.peers.every((p) => p.psk === undefined), 'no PSK for the admin');
  assert.equal((await call('GET', '/v1/hosts/nosuch/ipsec', admin())).status, 404);
  const own = await ctl.api!.inject({ method: 'GET', url: '/v1/hosts/h1/ipsec', headers: { authorization: `Bearer ${tokens.h1}` } });
  assert.equal(own.headers['cache-control'], 'no-store');
});

test('attacker: only the admin rekeys; a rekey gives every pair a new PSK under the next generation', async () => {
  const before = (await call<Conf>('GET', '/v1/hosts/h1/ipsec', tokens.h1!)).body;
  for (const t of [tokens.h1!, tokens.h2!]) assert.equal((await call('POST', '/v1/networks/sec/rekey', t)).status, 403);
  assert.equal((await call('POST', '/v1/networks/sec/rekey', null)).status, 401);
  assert.deepEqual((await call<Conf>('GET', '/v1/hosts/h1/ipsec', tokens.h1!)).body, before, 'refused: nothing changed');
  const notEnc = await call<{ field: string }>('POST', '/v1/networks/plain/rekey', admin());
  assert.equal(notEnc.status, 409);
  assert.equal((await call('POST', '/v1/networks/nosuch/rekey', admin())).status, 404);
  const r = await call<{ network: string; generation: number; pairs: number }>('POST', '/v1/networks/sec/rekey', admin());
  assert.deepEqual([r.status, r.body.network, r.body.generation, r.body.pairs], [200, 'sec', before.generation + 1, 3]);
  const after = (await call<Conf>('GET', '/v1/hosts/h1/ipsec', tokens.h1!)).body;
  assert.equal(after.generation, before.generation + 1);
  for (const p of after.peers) {
    assert.equal(p.generation, after.generation);
    assert.notEqual(p.psk, before.peers.find((q) => q.name === p.name)!.psk, `new PSK with ${p.name}`);
  }
  assert.equal(after.vtep, before.vtep, 'the VTEP stays');
});

test('PSKs are in no other answer and in no log line (trace level); a logged PSK is redacted', async () => {
  const psks = new Set<string>();
  for (const h of ['h1', 'h2', 'h3']) for (const p of (await call<Conf>('GET', `/v1/hosts/${h}/ipsec`, tokens[h]!)).body.peers) psks.add(p.psk!);
  assert.equal(psks.size, 3);
  const answers = [];
  for (const u of ['/v1/networks', '/v1/networks/sec', '/v1/hosts', '/v1/hosts/h1', '/v1/hosts/h1/status', '/v1/switches', '/metrics']) {
    const r = await ctl.api!.inject({ method: 'GET', url: u, headers: { authorization: `Bearer ${admin()}` } });
    answers.push(r.body);
  }
  const everything = answers.join('\n') + logs.join('');
  assert.ok(logs.some((l) => l.includes('IPsec keys rekeyed')), 'the logs were captured (the rekey\'s line among them)');
  for (const k of psks) assert.ok(!everything.includes(k), 'a PSK leaked');
  // whatever object carries one, the logger redacts it
  const [k] = [...psks];
  ctl.log.info({ psk: k, cfg: { peers: [{ name: 'x', psk: k }] } }, 'test');
  assert.ok(!logs.join('').includes(k!), 'redacted');
  assert.ok(logs.join('').includes('[redacted]'));
});

test('removing a host removes its pairs from the others\' configuration; registered again under its name, it gets new keys', async () => {
  const before3 = (await call<Conf>('GET', '/v1/hosts/h1/ipsec', tokens.h1!)).body;
  assert.equal((await call('DELETE', '/v1/hosts/h3', admin())).status, 204);
  const c1 = (await call<Conf>('GET', '/v1/hosts/h1/ipsec', tokens.h1!)).body;
  assert.deepEqual(c1.peers.map((p) => p.name), ['h2']);
  const pskH1H3 = before3.peers.find((p) => p.name === 'h3')!.psk!;
  assert.ok(pskH1H3);
  // a new host gets the lowest free VTEP and keys with both
  assert.equal((await call('POST', '/v1/hosts', admin(), { name: 'h4', dpid: '00000000000000e4', underlayIp: '172.30.9.4' })).status, 201);
  const c4 = (await call<Conf>('GET', '/v1/hosts/h4/ipsec', admin())).body;
  assert.deepEqual(c4.peers.map((p) => p.name).sort(), ['h1', 'h2']);
  assert.ok(![c1.vtep, ...c1.peers.map((p) => p.vtep)].includes(c4.vtep));
  // the old h3 knew its PSK with h1: a new h3 (same name, later registration) has another one
  assert.equal((await call('POST', '/v1/hosts', admin(), { name: 'h3', dpid: '00000000000000e3', underlayIp: '172.30.9.3' })).status, 201);
  const t3 = await call<{ token: string }>('POST', '/v1/tokens', admin(), { role: 'host', host: 'h3' });
  const c3 = (await call<Conf>('GET', '/v1/hosts/h3/ipsec', t3.body.token)).body;
  const p31 = c3.peers.find((p) => p.name === 'h1')!;
  assert.equal(p31.psk, (await call<Conf>('GET', '/v1/hosts/h1/ipsec', tokens.h1!)).body.peers.find((p) => p.name === 'h3')!.psk, 'both ends agree');
  assert.notEqual(p31.psk, pskH1H3, 'a host registered again under an old name gets new keys');
  // keys are derived: the store holds one secret per generation (at most two), not one per pair
  const rows = ctl.store.db.prepare('SELECT generation FROM ipsec_keys ORDER BY generation').all() as { generation: number }[];
  assert.ok(rows.length >= 1 && rows.length <= 2, `${rows.length} key rows`);
  assert.equal(rows.at(-1)!.generation, c3.generation);
});

test('flags: --ipsec-vtep-cidr clear of the pod CIDRs, --ipsec-rekey-interval 0 or 60..', () => {
  assert.equal(parseControllerArgs(['--ipsec-vtep-cidr', '100.127.0.0/16', '--pod-cidrs', '10.0.0.0/8']).ipsecVtepCidr, '100.127.0.0/16');
  assert.throws(() => parseControllerArgs(['--ipsec-vtep-cidr', '10.99.0.0/16']), (e: Error) => e instanceof UsageError && /pod CIDR 10\.0\.0\.0\/8/.test(e.message));
  assert.throws(() => parseControllerArgs(['--ipsec-vtep-cidr', '198.18.0.0/30']), UsageError);
  assert.throws(() => parseControllerArgs(['--ipsec-vtep-cidr', '198.18.0.1/33']), UsageError);
  assert.throws(() => parseControllerArgs(['--pod-cidrs', '198.0.0.0/8']), /default --ipsec-vtep-cidr/);
  assert.equal(parseControllerArgs(['--ipsec-rekey-interval', '3600']).ipsecRekeyInterval, 3600);
  assert.equal(parseControllerArgs(['--ipsec-rekey-interval', '0']).ipsecRekeyInterval, 0);
  for (const bad of ['5', '-1', '1.5', 'x']) assert.throws(() => parseControllerArgs([`--ipsec-rekey-interval=${bad}`]), UsageError, bad);
});

// ---- flows -----------------------------------------------------------------

const host = (name: string, ip: string, vtep: string | null): HostRec => ({ name, dpid: '0', underlayIp: ip, phyDpid: null, createdAt: '', ipsecVtep: vtep });
const net = (id: number, mode: 'overlay' | 'routed', encrypted: boolean): NetworkRec => ({
  id, name: `n${id}`, cidr: `10.9${id}.0.0/16`, gateway: `10.9${id}.0.1`, mode, vni: 5000 + id, blockSize: 26, vlan: null, mtu: 1350, createdAt: '', encrypted,
});
function state(secure: boolean, n: NetworkRec): HostState {
  const hosts = new Map([['a', host('a', '172.30.0.1', '198.18.0.1')], ['b', host('b', '172.30.0.2', '198.18.0.2')]]);
  return {
    host: 'a', hosts, networks: new Map([[n.id, n]]),
    endpoints: [{ id: 'e1', containerId: 'c1', ifName: 'eth0', host: 'a', network: n.name, networkId: n.id, portName: 'p1', mac: derivedMac(n.id, `10.9${n.id}.0.2`), ip: `10.9${n.id}.0.2`, requestedIp: null, netns: null, state: 'ready', createdAt: '', readyAt: null }],
    blocks: [{ networkId: n.id, base: (10 << 24 | (90 + n.id) << 16) >>> 0, len: 26, host: 'a' }, { networkId: n.id, base: ((10 << 24 | (90 + n.id) << 16) + 64) >>> 0, len: 26, host: 'b' }],
    ofport: (p) => ({ p1: 10 } as Record<string, number>)[p],
    tunnelPort: 1, secureTunnelPort: secure ? 2 : undefined, patchPort: 3,
  } as HostState;
}
const json = (x: unknown) => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
const outputs = (f: unknown) => [...json(f).matchAll(/"type":"output","port":(\d+)/g)].map((m) => Number(m[1]));

test('flows: an encrypted network goes through the secure tunnel to the peer\'s VTEP only; without the secure port, nowhere (never in clear)', () => {
  for (const mode of ['overlay', 'routed'] as const) {
    const enc = net(1, mode, true);
    const flows = containerFlows(state(true, enc));
    const tunnel = flows.filter((f) => json(f).includes('tun_ipv4_dst'));
    assert.ok(tunnel.length > 0, `${mode}: tunnel flows`);
    for (const f of tunnel) {
      assert.ok(json(f).includes('"198.18.0.2"') && !json(f).includes('"172.30.0.2"'), `${mode}: to the VTEP: ${json(f)}`);
      assert.deepEqual(outputs(f), [2], `${mode}: out of the secure port`);
    }
    const fromTun = flows.filter((f) => json(f).includes('"tunnel_id"') && json(f).includes('"in_port"') && !json(f).includes('16777215'));
    assert.ok(fromTun.length > 0 && fromTun.every((f) => /"field":"in_port","value":2\b/.test(json(f))), `${mode}: taken from the secure port only`);
    // no secure port (the agent has not made it yet): no way out, and never through vxlan0
    const none = containerFlows(state(false, enc));
    assert.ok(!none.some((f) => json(f).includes('tun_ipv4_dst')), `${mode}: no tunnel without vxsec0`);
    assert.ok(!none.some((f) => outputs(f).includes(1)), `${mode}: nothing out of vxlan0`);
  }
  // the control: a plain overlay network uses vxlan0 and the underlay address
  const plain = containerFlows(state(true, net(2, 'overlay', false))).filter((f) => json(f).includes('tun_ipv4_dst'));
  assert.ok(plain.length > 0 && plain.every((f) => json(f).includes('"172.30.0.2"') && outputs(f).includes(1)));
});

// ---- the agent's side ------------------------------------------------------

const goodConf = {
  host: 'h1', underlayIp: '172.30.9.1', vtep: '198.18.0.1', vtepCidr: '198.18.0.0/16', generation: 2, encryptedNetworks: ['sec'],
  peers: [{ name: 'h2', underlayIp: '172.30.9.2', vtep: '198.18.0.2', initiator: true, generation: 2, psk: 'A'.repeat(43) + '=' }],
};

test('agent: swanctl.conf per peer (VTEP/32 child, PSK as base64, the initiator starts), strongswan.conf with kernel-libipsec and its own socket', () => {
  const s = swanctlConf(parseHostConf(goodConf));
  assert.match(s, /weft-h2 \{[^]*local_addrs = 172\.30\.9\.1[^]*remote_addrs = 172\.30\.9\.2/);
  assert.match(s, /local_ts = 198\.18\.0\.1\/32\s+remote_ts = 198\.18\.0\.2\/32/);
  assert.match(s, /start_action = start/);
  assert.match(s, /secret = 0sA{43}=/);
  const resp = swanctlConf(parseHostConf({ ...goodConf, peers: [{ ...goodConf.peers[0], initiator: false }] }));
  assert.match(resp, /start_action = none/);
  assert.doesNotMatch(resp, /close_action/);
  const ss = strongswanConf('/var/lib/weft/ipsec');
  assert.match(ss, /kernel-libipsec kernel-netlink/);
  assert.match(ss, /make_before_break = yes/);
  assert.match(ss, /socket = unix:\/\/\/var\/lib\/weft\/ipsec\/charon\.vici/);
});

test('agent: the controller\'s answer is checked before it reaches a config file (injection, an admin answer without PSKs)', () => {
  const bad: [string, unknown][] = [
    ['psk', { ...goodConf, peers: [{ ...goodConf.peers[0], psk: 'x" }\nconnections { evil' }] }],
    ['name', { ...goodConf, peers: [{ ...goodConf.peers[0], name: 'h2 {' }] }],
    ['underlayIp', { ...goodConf, peers: [{ ...goodConf.peers[0], underlayIp: '1.2.3.4\n' }] }],
    ['vtep', { ...goodConf, vtep: '198.18.0.1 # x' }],
    ['no psk (an admin token)', { ...goodConf, peers: [{ ...goodConf.peers[0], psk: undefined }] }],
    ['body', null],
  ];
  for (const [what, c] of bad) assert.throws(() => parseHostConf(c), /malformed/, what);
  assert.equal(parseHostConf(goodConf).peers[0]!.psk, goodConf.peers[0]!.psk);
});

test('agent: established SAs with an installed child are told from the rest; flags', () => {
  const out = `weft-h2: #3, ESTABLISHED, IKEv2, 1a2b3c4d5e6f7a8b_i* 8b7a6f5e4d3c2b1a_r
  local  '172.30.9.1' @ 172.30.9.1[4500]
  weft-h2: #5, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-128/HMAC_SHA2_256_128
    in  c1a2b3c4,      0 bytes,     0 packets
weft-h3: #4, CONNECTING, IKEv2, 0102030405060708_i* 0000000000000000_r
weft-h4: #6, ESTABLISHED, IKEv2, 1111111111111111_i 2222222222222222_r*
`;
  assert.deepEqual([...installedConns(out)], ['weft-h2']);
  const cfg = parseIpsecAgentArgs(['--api', 'http://10.0.0.1:8080', '--host', 'h1']);
  assert.deepEqual([cfg.stateDir, cfg.ovsRundir, cfg.pollS], ['/var/lib/weft/ipsec', '/var/run/openvswitch', 2]);
  assert.throws(() => parseIpsecAgentArgs(['--host', 'h1']), /--api/);
  assert.throws(() => parseIpsecAgentArgs(['--api', 'ftp://x', '--host', 'h1']), /http/);
  assert.throws(() => parseIpsecAgentArgs(['--api', 'http://x', '--host', 'h 1']), /--host/);
  assert.throws(() => parseIpsecAgentArgs(['--api', 'http://x', '--host', 'h1', '--state-dir', 'rel']), /absolute/);
  assert.throws(() => parseIpsecAgentArgs(['--api', 'http://x', '--host', 'h1', '--poll-interval', '0']), /poll/);
});
