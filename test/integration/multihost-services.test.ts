// Services on real OVS across two emulated hosts (each its own OVS,
// userspace datapath): TCP to a VIP spread over backends on both hosts
// (each backend answers with its own name, so the answers are counted),
// from a client on either host; clientIP affinity (one client, one backend,
// the one its source address's slot names); hairpin (a backend that
// reaches itself through its VIP, SNATed to the gateway); the computed
// trace through the select group; and a backend removed: its bucket goes
// by a group modify, and a connection established to the other backend
// carries on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, ChildProcessWithoutNullStreams } from 'node:child_process';
import { MultiHostLab } from '../helpers/multihost-lab';
import { waitFor } from '../helpers/wait';
import { slotBackend, AFFINITY_SLOTS } from '../../apps/container/service';
import type { EndpointRec } from '../../controller/resources';

/** A TCP server that greets each connection with "<name> <peer address>" and then echoes. */
const NAMED_SERVER = `
const [, port, name] = process.argv;
require('net').createServer((s) => {
  s.on('error', () => {});
  s.write(name + ' ' + s.remoteAddress.replace(/^::ffff:/, '') + '\\n');
  s.pipe(s);
}).listen(Number(port), () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
`;
/** n connections one after the other; prints the greetings (or what went wrong) as one JSON array. */
const ASK = `
const [, ip, port, n, wait] = process.argv;
const one = () => new Promise((res) => {
  let buf = '';
  const s = require('net').connect(Number(port), ip);
  const t = setTimeout(() => { s.destroy(); res('timeout'); }, Number(wait));
  s.on('data', (d) => { buf += d; if (buf.includes('\\n')) { clearTimeout(t); s.destroy(); res(buf.split('\\n')[0]); } });
  s.on('error', (e) => { clearTimeout(t); res('error ' + e.code); });
});
(async () => { const out = []; for (let i = 0; i < Number(n); i++) out.push(await one()); console.log(JSON.stringify(out)); })();
`;
/** A UDP server that answers each datagram with "<name> <peer address>". */
const NAMED_UDP = `
const [, port, name] = process.argv;
const s = require('dgram').createSocket('udp4');
s.on('message', (m, r) => s.send(name + ' ' + r.address, r.port, r.address));
s.bind(Number(port), () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
`;
/** n datagrams, each from a new socket (a new source port); prints the answers (or "timeout") as one JSON array. */
const UDP_ASK = `
const [, ip, port, n] = process.argv;
const one = () => new Promise((res) => {
  const s = require('dgram').createSocket('udp4');
  const t = setTimeout(() => { s.close(); res('timeout'); }, 2000);
  s.on('message', (m) => { clearTimeout(t); s.close(); res(String(m)); });
  s.send('hello', Number(port), ip);
});
(async () => { const out = []; for (let i = 0; i < Number(n); i++) out.push(await one()); console.log(JSON.stringify(out)); })();
`;
/** A TCP connection kept open: prints what comes back; each line written is sent. */
const KEEP_CLIENT = `
const s = require('net').connect(Number(process.argv[2]), process.argv[1]);
s.on('data', (d) => process.stdout.write(d));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
process.stdin.on('data', (d) => s.write(d));
`;
const inNs = (ns: string, script: string, ...args: string[]) => spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args]);

/** n connections from a namespace to ip:port, one after the other: each greeting, or 'timeout' after waitMs. */
async function ask(ns: string, ip: string, port: number, n: number, waitMs = 3000, script = ASK): Promise<string[]> {
  const c = inNs(ns, script, ip, String(port), String(n), String(waitMs));
  let out = '';
  let err = '';
  c.stdout.on('data', (d: Buffer) => (out += d.toString()));
  c.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise((r) => c.on('exit', r));
  if (!out.trim()) throw new Error(`ask ${ip}:${port} from ${ns}: ${err}`);
  return JSON.parse(out) as string[];
}
const count = (answers: string[]) => answers.reduce<Record<string, number>>((m, a) => ({ ...m, [a.split(' ')[0]!]: (m[a.split(' ')[0]!] ?? 0) + 1 }), {});

/** Starts the test's named servers (TCP 8080, UDP 5353) in each backend; killed after the test. */
async function serve(t: { after(fn: () => void): void }, backends: [{ netns: string }, string][]): Promise<void> {
  const servers: ChildProcessWithoutNullStreams[] = [];
  t.after(() => { for (const s of servers) s.kill(); });
  for (const [ct, name] of backends) {
    for (const [script, port] of [[NAMED_SERVER, '8080'], [NAMED_UDP, '5353']]) {
      const s = inNs(ct.netns, script!, port!, name);
      let out = '';
      s.stdout.on('data', (d: Buffer) => (out += d.toString()));
      servers.push(s);
      await waitFor(() => out.includes('listening'), { what: `server ${name}:${port}`, timeoutMs: 10000 });
    }
  }
}

// one lab at a time (the same id and underlay): each test starts its own and stops it when it ends
test('services across two hosts', async (t) => {
  const lab = await MultiHostLab.start({ id: 'sv', subnet: '172.31.232.0/24', hosts: 2, mtu: 1600, tunnel: true });
  if (!lab) { t.skip('no OVS'); return; }
  t.after(() => lab.stop());
  const { hosts, weft } = lab;
  await lab.register();
  const net = await weft.call<{ gateway: string }>('POST', '/v1/networks', { name: 'svc', cidr: '10.46.0.0/16', mode: 'overlay' });
  assert.equal(net.status, 201);
  const gateway = net.body.gateway;
  const a = await lab.attach(0, 'a', 'svc');
  const b1 = await lab.attach(0, 'b1', 'svc');
  const b2 = await lab.attach(1, 'b2', 'svc');
  const c = await lab.attach(1, 'c', 'svc');
  const idOf = async (name: string) => (await weft.call<EndpointRec[]>('GET', `/v1/endpoints?containerId=${lab.o.id}-${name}`)).body[0]!;
  const [e1, e2] = [await idOf('b1'), await idOf('b2')];
  await serve(t, [[b1.ct, 'b1'], [b2.ct, 'b2']]);
  await a.ct.waitPing(b2.ip, 10000);
  await c.ct.waitPing(b1.ip, 10000);
  await b1.ct.waitPing(b2.ip, 10000);

  const vip = { web: '10.46.200.10', sticky: '10.46.200.11', solo: '10.46.200.12' };
  for (const body of [
    { name: 'web', network: 'svc', vip: vip.web, ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }, { protocol: 'udp', port: 53, targetPort: 5353 }], endpoints: [e1.id, e2.id] },
    { name: 'sticky', network: 'svc', vip: vip.sticky, ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }], endpoints: [e1.id, e2.id], affinity: 'clientIP' },
    { name: 'solo', network: 'svc', vip: vip.solo, ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }], endpoints: [e1.id] },
  ]) {
    const r = await weft.call<{ backends: unknown[] }>('POST', '/v1/services', body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.backends.length, body.endpoints.length, 'ready endpoints are the backends');
  }

  await t.test('TCP to the VIP spreads over the backends on both hosts, from a client on either host', async () => {
    for (const [who, ct, ip] of [['a (host 1)', a.ct, a.ip], ['c (host 2)', c.ct, c.ip]] as const) {
      const answers = await ask(ct.netns, vip.web, 80, 40);
      const n = count(answers);
      console.log(`web from ${who}: ${JSON.stringify(n)}`);
      assert.equal((n.b1 ?? 0) + (n.b2 ?? 0), 40, `every connection answered by a backend: ${JSON.stringify(answers)}`);
      assert.ok(n.b1! > 0 && n.b2! > 0, `both backends answered: ${JSON.stringify(n)}\n${await hosts[0]!.ofctlOn('br-int', 'dump-groups')}`);
      assert.ok(answers.every((x) => x.endsWith(` ${ip}`)), 'the backend sees the client\'s own address (DNAT only)');
    }
    // UDP: a port of its own (a group of its own). OVS's select hash covers UDP's addresses, not its ports
    // (TCP's and SCTP's only): a client's datagrams, whatever their source port, all go to one backend
    for (const ct of [a.ct, c.ct]) {
      const udp = await ask(ct.netns, vip.web, 53, 8, 2000, UDP_ASK);
      console.log(`web udp/53 from ${ct.netns}: ${JSON.stringify(count(udp))}`);
      assert.equal(new Set(udp).size, 1, JSON.stringify(udp));
      assert.match(udp[0]!, /^b[12] /);
    }
    // the VIP's other ports are dropped
    assert.deepEqual(await ask(a.ct.netns, vip.web, 81, 1), ['timeout']);
    const groups = await hosts[0]!.ofctlOn('br-int', 'dump-groups');
    assert.match(groups, /type=select/);
    assert.equal((groups.split('\n').find((l) => l.includes(`nat(dst=${b2.ip}:8080)`)) ?? '').split('bucket=').length - 1, 2, groups);
    assert.equal((groups.split('\n').find((l) => l.includes(`nat(dst=${b2.ip}:5353)`)) ?? '').split('bucket=').length - 1, 2, groups);
  });

  await t.test('clientIP affinity: one client, one backend, the one its address\'s slot names', async () => {
    const backends = [e1, e2].sort((x, y) => (x.id < y.id ? -1 : 1));
    for (const [ct, ip] of [[a.ct, a.ip], [c.ct, c.ip]] as const) {
      const answers = await ask(ct.netns, vip.sticky, 80, 20);
      const n = count(answers);
      const want = slotBackend(Number(ip.split('.')[3]) % AFFINITY_SLOTS, backends)!.id === e1.id ? 'b1' : 'b2';
      assert.deepEqual(n, { [want]: 20 }, `${ip} always reaches ${want}`);
    }
  });

  await t.test('hairpin: a backend reaches itself through its VIP, SNATed to the gateway', async () => {
    const answers = await ask(b1.ct.netns, vip.solo, 80, 5);
    const diag = async () => {
      return [
        await hosts[0]!.ofctlOn('br-int', 'dump-flows', 'table=8'), await hosts[0]!.ofctlOn('br-int', 'dump-flows', 'table=9'),
        await hosts[0]!.ofctlOn('br-int', 'dump-flows', 'table=3'), await hosts[0]!.ofctlOn('br-int', 'dump-flows', 'table=4'),
        await hosts[0]!.appctl('dpctl/dump-conntrack').catch((e: Error) => e.message),
        await hosts[0]!.ofctlOn('br-int', 'show'),
      ].join('\n');
    };
    assert.deepEqual(answers, Array(5).fill(`b1 ${gateway}`), `b1 -> solo -> b1, seen from the gateway address\n${answers.includes('timeout') ? await diag() : ''}`);
    // through a VIP with two backends: itself (hairpin) or the other host's
    const mixed = await ask(b1.ct.netns, vip.web, 80, 20);
    assert.ok(mixed.every((x) => x === `b1 ${gateway}` || x === `b2 ${b1.ip}`), JSON.stringify(mixed));
  });

  await t.test('the computed trace goes through the service\'s group to a backend', async () => {
    const tr = await weft.call<{ computed: { verdict: { result: string; endpoint?: string }; service?: { name: string; backends: { id: string }[]; chosen?: { id: string } } } }>('POST', '/v1/traces',
      { from: { endpoint: (await idOf('a')).id }, to: { ip: vip.web }, proto: 'tcp', dstPort: 80 });
    assert.equal(tr.status, 200, JSON.stringify(tr.body));
    const { verdict, service } = tr.body.computed;
    assert.equal(verdict.result, 'delivered', JSON.stringify(tr.body));
    assert.equal(service?.name, 'web');
    assert.deepEqual(service!.backends.map((x) => x.id).sort(), [e1.id, e2.id].sort());
    assert.equal(service!.chosen?.id, verdict.endpoint, 'delivered to the chosen backend');
  });

  await t.test('network policy applies after the DNAT: a backend\'s ingress rules decide, on its own host', async () => {
    const label = async (name: string, labels: Record<string, string>) => {
      const r = await weft.call('PATCH', `/v1/endpoints/${(await idOf(name)).id}`, { labels });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    };
    await label('b2', { app: 'web' });
    await label('a', { role: 'frontend' });
    const p = await weft.call('POST', '/v1/policies', {
      name: 'web-in', selector: { matchLabels: { app: 'web' } },
      ingress: [{ action: 'allow', peers: [{ selector: { matchLabels: { role: 'frontend' } } }], ports: [{ protocol: 'tcp', port: 8080 }] }],
    });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    try {
      // the frontend (host 1) reaches both backends through the VIP, b2 across the tunnel past its ingress policy
      const fromA = count(await ask(a.ct.netns, vip.web, 80, 16));
      assert.ok(fromA.b1! > 0 && fromA.b2! > 0 && fromA.b1! + fromA.b2! === 16, JSON.stringify(fromA));
      // c (host 2, not a frontend): connections DNATed to b2 are dropped by b2's ingress policy, b1's pass
      const fromC = count(await ask(c.ct.netns, vip.web, 80, 12, 1000));
      assert.ok(fromC.b1! > 0 && fromC.timeout! > 0 && !fromC.b2, JSON.stringify(fromC));
    } finally {
      assert.equal((await weft.call('DELETE', '/v1/policies/web-in')).status, 204);
    }
    await waitFor(async () => count(await ask(c.ct.netns, vip.web, 80, 8, 1000)).timeout === undefined, { what: 'c reaches every backend without the policy', timeoutMs: 10000 });
  });

  await t.test('a backend removed: its bucket goes (group modified), a connection established to the other carries on', async () => {
    // a kept connection that reached b2
    let kept: ChildProcessWithoutNullStreams | undefined;
    let out = '';
    for (let i = 0; i < 20 && !kept; i++) {
      const k = inNs(a.ct.netns, KEEP_CLIENT, vip.web, '80');
      let o = '';
      k.stdout.on('data', (d: Buffer) => (o += d.toString()));
      await waitFor(() => o.includes('\n'), { what: 'greeting on a kept connection', timeoutMs: 5000 });
      if (o.startsWith('b2 ')) { kept = k; out = o; k.stdout.removeAllListeners('data'); k.stdout.on('data', (d: Buffer) => (out += d.toString())); } else k.kill();
    }
    assert.ok(kept, 'a connection to b2 in 20 tries');
    t.after(() => kept!.kill());
    kept!.stdin.write('one\n');
    await waitFor(() => out.includes('one'), { what: 'echo one', timeoutMs: 5000 });
    const before = await hosts[0]!.ofctlOn('br-int', 'dump-groups');
    await lab.detach(0, 'b1', 'svc', b1.ct);
    await waitFor(async () => (await weft.call<{ backends: unknown[] }>('GET', '/v1/services/web')).body.backends.length === 1, { what: 'one backend left', timeoutMs: 10000 });
    await waitFor(async () => !(await hosts[0]!.ofctlOn('br-int', 'dump-groups')).includes(b1.ip), { what: 'b1\'s bucket gone on host 1', timeoutMs: 10000 });
    kept!.stdin.write('two\n');
    await waitFor(() => out.includes('two'), { what: 'echo two on the established connection', timeoutMs: 5000 });
    assert.deepEqual(count(await ask(a.ct.netns, vip.web, 80, 10)), { b2: 10 }, 'new connections go to the backend left');
    assert.deepEqual(count(await ask(c.ct.netns, vip.sticky, 80, 5)), { b2: 5 }, 'affinity: the clients of b1\'s slots move to b2');
    // modified in place: the group keeps its id
    const ids = (s: string) => [...s.matchAll(/group_id=(\d+)/g)].map((m) => m[1]).sort();
    assert.deepEqual(ids(await hosts[0]!.ofctlOn('br-int', 'dump-groups')), ids(before));
  });

  await lab.detach(0, 'a', 'svc', a.ct);
  await lab.detach(1, 'b2', 'svc', b2.ct);
  await lab.detach(1, 'c', 'svc', c.ct);
});

test('a routed network: a remote backend\'s reply comes back from the underlay and is un-DNATed', async (t) => {
  const lab = await MultiHostLab.start({ id: 'sv', subnet: '172.31.232.0/24', hosts: 2, phy: true });
  if (!lab) { t.skip('no OVS'); return; }
  t.after(() => lab.stop());
  const { weft } = lab;
  await lab.register();
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'rsvc', cidr: '10.47.0.0/16', mode: 'routed' })).status, 201);
  const a = await lab.attach(0, 'a', 'rsvc');
  const b1 = await lab.attach(0, 'b1', 'rsvc');
  const b2 = await lab.attach(1, 'b2', 'rsvc');
  await serve(t, [[b1.ct, 'b1'], [b2.ct, 'b2']]);
  await a.ct.waitPing(b2.ip, 10000);
  const ids = await Promise.all(['b1', 'b2'].map(async (n) => (await weft.call<EndpointRec[]>('GET', `/v1/endpoints?containerId=${lab.o.id}-${n}`)).body[0]!.id));
  const r = await weft.call('POST', '/v1/services', { name: 'rweb', network: 'rsvc', vip: '10.47.200.10', ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }], endpoints: ids });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const answers = await ask(a.ct.netns, '10.47.200.10', 80, 30);
  const n = count(answers);
  console.log(`rweb from a: ${JSON.stringify(n)}`);
  assert.ok(n.b1! > 0 && n.b2! > 0 && n.b1! + n.b2! === 30, `both backends, across the underlay too: ${JSON.stringify(answers)}`);
  assert.ok(answers.every((x) => x.endsWith(` ${a.ip}`)));
  await lab.detach(0, 'a', 'rsvc', a.ct);
  await lab.detach(0, 'b1', 'rsvc', b1.ct);
  await lab.detach(1, 'b2', 'rsvc', b2.ct);
});
