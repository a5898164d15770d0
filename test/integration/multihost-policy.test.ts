// Network policy on real OVS across two emulated hosts (each its own OVS):
// labels from CNI_ARGS (K8S_POD_NAME) and PATCH, an ingress policy enforced
// on the server's host with conntrack and conjunctions, replies passing,
// drops counted, the computed trace saying "policy", and what a rule change
// does to an established TCP connection (kept when an allow goes, cut when
// a deny comes first).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, ChildProcessWithoutNullStreams } from 'node:child_process';
import { MultiHostLab } from '../helpers/multihost-lab';
import { waitFor } from '../helpers/wait';

/** A UDP echo server: answers every datagram with itself. */
const UDP_ECHO = `
const s = require('dgram').createSocket('udp4');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(Number(process.argv[1]), () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
`;
/** Sends one datagram and prints the answer, or "timeout". */
const UDP_ASK = `
const s = require('dgram').createSocket('udp4');
const t = setTimeout(() => { console.log('timeout'); process.exit(0); }, Number(process.argv[3]));
s.on('message', (m) => { clearTimeout(t); console.log('answer ' + m); process.exit(0); });
s.send('hello', Number(process.argv[2]), process.argv[1]);
`;
const inNs = (ns: string, script: string, ...args: string[]) => spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args]);
async function udpAsk(ns: string, ip: string, port: number, timeoutMs = 1500): Promise<boolean> {
  const c = inNs(ns, UDP_ASK, ip, String(port), String(timeoutMs));
  let out = '';
  c.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => c.on('exit', r));
  return out.includes('answer hello');
}

let lab: MultiHostLab | undefined;
before(async () => { lab = await MultiHostLab.start({ id: 'pl', subnet: '172.31.244.0/24', hosts: 2, mtu: 1600, tunnel: true }); });
after(async () => { await lab?.stop(); });

/** A TCP connection kept open: each line written is echoed back by the server. */
const KEEP_CLIENT = `
const s = require('net').connect(Number(process.argv[2]), process.argv[1]);
s.on('data', (d) => process.stdout.write(d));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
s.on('connect', () => console.log('connected'));
process.stdin.on('data', (d) => s.write(d));
`;

test('network policy across two hosts', async (t) => {
  if (!lab) { t.skip('no OVS'); return; }
  const { hosts, weft } = lab;
  await lab.register();
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'pol', cidr: '10.44.0.0/16', mode: 'overlay' })).status, 201);
  const pod = (name: string) => ({ args: [['IgnoreUnknown', '1'], ['K8S_POD_NAMESPACE', 'ns1'], ['K8S_POD_NAME', name]] as [string, string][] });
  const a = await lab.attach(0, 'a', 'pol', pod('client'));
  const x = await lab.attach(0, 'x', 'pol', pod('intruder'));
  const s = await lab.attach(1, 's', 'pol', pod('server'));
  const idOf = async (name: string) => (await weft.call<{ id: string; labels: Record<string, string> }[]>('GET', `/v1/endpoints?containerId=${lab!.o.id}-${name}`)).body[0]!;
  const sEp = await idOf('s');
  assert.deepEqual(sEp.labels, { 'k8s.namespace': 'ns1', 'k8s.pod': 'server' }, 'labels from CNI_ARGS');
  // a label through PATCH (the label the policy's peers name)
  const aEp = await idOf('a');
  const patched = await weft.call<{ labels: Record<string, string> }>('PATCH', `/v1/endpoints/${aEp.id}`, { labels: { ...aEp.labels, role: 'frontend' } });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.labels.role, 'frontend');

  const srv = await s.ct.serveTcp(9000);
  const other = await s.ct.serveTcp(9001);
  await a.ct.waitPing(s.ip, 10000);
  await x.ct.waitPing(s.ip, 10000);
  assert.ok(await x.ct.tcpCheck(s.ip, srv.port), 'the control: without a policy the intruder reaches the server');

  const allow = {
    selector: { matchLabels: { 'k8s.pod': 'server' } },
    ingress: [{ action: 'allow', peers: [{ selector: { matchLabels: { role: 'frontend' } } }], ports: [{ protocol: 'tcp', port: 9000 }, { protocol: 'udp', port: 5353 }, { protocol: 'icmp' }] }],
  };
  const udpSrv = inNs(s.ct.netns, UDP_ECHO, '5353');
  const udpOther = inNs(s.ct.netns, UDP_ECHO, '5354');
  let udpOut = '';
  udpSrv.stdout.on('data', (d: Buffer) => (udpOut += d.toString()));
  udpOther.stdout.on('data', (d: Buffer) => (udpOut += d.toString()));
  await waitFor(() => udpOut.split('listening').length === 3, { what: 'two UDP echo servers', timeoutMs: 10000 });
  t.after(() => { udpSrv.kill(); udpOther.kill(); });
  assert.ok(await udpAsk(x.ct.netns, s.ip, 5353), 'the control: without a policy UDP reaches the server');
  const created = await weft.call('POST', '/v1/policies', { name: 'server-in', ...allow });
  assert.equal(created.status, 201, JSON.stringify(created.body));

  await t.test('allowed TCP and ping pass (and their replies); other peers and ports are dropped on the server\'s host', async () => {
    const okTcp = await a.ct.tcpCheck(s.ip, srv.port);
    assert.ok(okTcp, `frontend -> server:9000\n${okTcp ? '' : await hosts[1]!.ofctlOn('br-int', 'dump-flows')}`);
    assert.equal((await a.ct.ping(s.ip, { count: 2 })).received, 2, 'frontend pings the server');
    assert.equal(await x.ct.tcpCheck(s.ip, srv.port, 1500), false, 'intruder -> server:9000 dropped');
    assert.equal((await x.ct.ping(s.ip, { count: 2, timeoutS: 1 })).received, 0, 'intruder ping dropped');
    assert.equal(await a.ct.tcpCheck(s.ip, other.port, 1500), false, 'frontend -> server:9001 dropped');
    assert.ok(await udpAsk(a.ct.netns, s.ip, 5353), 'frontend -> server udp/5353 and its answer');
    assert.equal(await udpAsk(a.ct.netns, s.ip, 5354), false, 'frontend -> server udp/5354 dropped');
    assert.equal(await udpAsk(x.ct.netns, s.ip, 5353), false, 'intruder -> server udp/5353 dropped');
    // the server may still connect out: its own connections' replies pass
    const back = await a.ct.serveTcp(9100);
    assert.ok(await s.ct.tcpCheck(a.ip, back.port), 'server -> frontend (not isolated for egress), replies pass');
    await back.stop();
    // the drops are counted by the drop flows of ingressPolicy on the server's host (table 6)
    const dump = await hosts[1]!.ofctlOn('br-int', 'dump-flows', 'table=6');
    const dropped = dump.split('\n').filter((l) => /actions=drop/.test(l)).map((l) => Number(/n_packets=(\d+)/.exec(l)?.[1] ?? 0));
    assert.ok(dropped.reduce((x, y) => x + y, 0) > 0, dump);
    assert.ok(/conjunction\(/.test(dump) && /conj_id=/.test(dump), 'rules are conjunctions on the switch');
  });

  await t.test('overlapping networks: the same address in another network is not the peer', async () => {
    // pol2 has pol1's CIDR; y there has the frontend's very address, s2 the server's; the policy (no network) selects both servers
    assert.equal((await weft.call('POST', '/v1/networks', { name: 'pol2', cidr: '10.44.0.0/16', mode: 'overlay' })).status, 201);
    const y = await lab!.attach(0, 'y', 'pol2', { args: [['IgnoreUnknown', '1'], ['IP', a.ip], ['K8S_POD_NAME', 'y']] });
    const s2 = await lab!.attach(1, 's2', 'pol2', { args: [['IgnoreUnknown', '1'], ['IP', s.ip], ['K8S_POD_NAME', 'server']] });
    assert.deepEqual([y.ip, s2.ip], [a.ip, s.ip]);
    const srv2 = await s2.ct.serveTcp(9000);
    await y.ct.waitPing(s2.ip, 3000).catch(() => undefined); // (ARP and tunnel caches; the ping itself is denied)
    assert.equal(await y.ct.tcpCheck(s2.ip, srv2.port, 1500), false, 'y (not a frontend, the frontend\'s address) is dropped');
    // once y is a frontend of its own network, it passes
    const yEp = await idOf('y');
    assert.equal((await weft.call('PATCH', `/v1/endpoints/${yEp.id}`, { labels: { ...yEp.labels, role: 'frontend' } })).status, 200);
    assert.ok(await y.ct.tcpCheck(s2.ip, srv2.port), 'y as a frontend of pol2 reaches s2');
    assert.ok(await a.ct.tcpCheck(s.ip, srv.port), 'and pol1 still works');
    await srv2.stop();
    await lab!.detach(0, 'y', 'pol2', y.ct);
    await lab!.detach(1, 's2', 'pol2', s2.ct);
  });

  await t.test('the computed trace names the policy drop', async () => {
    const tr = await weft.call<{ computed: { verdict: { result: string; host: string; table?: string; reason?: string } } }>('POST', '/v1/traces',
      { from: { endpoint: (await idOf('x')).id }, to: { endpoint: sEp.id }, proto: 'tcp', dstPort: 9000 });
    assert.equal(tr.status, 200, JSON.stringify(tr.body));
    const v = tr.body.computed.verdict;
    assert.deepEqual([v.result, v.host, v.table, v.reason], ['dropped', 'pl2', 'ingressPolicy', 'policy']);
  });

  await t.test('a rule change: new connections follow it; an established one survives a removed allow and is cut by a deny', async () => {
    const child: ChildProcessWithoutNullStreams = spawn('ip', ['netns', 'exec', a.ct.netns, process.execPath, '-e', KEEP_CLIENT, s.ip, String(srv.port)]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor(() => out.includes('connected'), { what: 'kept connection', timeoutMs: 10000 });
      child.stdin.write('one\n');
      await waitFor(() => out.includes('one'), { what: 'echo one', timeoutMs: 5000 });
      // the allow goes: the server stays isolated (ingress: [])
      const put = await weft.call('PUT', '/v1/policies/server-in', { selector: allow.selector, ingress: [] });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(await a.ct.tcpCheck(s.ip, srv.port, 1500), false, 'a new connection is dropped');
      child.stdin.write('two\n');
      await waitFor(() => out.includes('two'), { what: 'echo two on the established connection', timeoutMs: 5000 });
      // a deny of the frontend: it comes first, the established connection is cut
      const deny = await weft.call('PUT', '/v1/policies/server-in', { selector: allow.selector, ingress: [{ action: 'deny', peers: [{ selector: { matchLabels: { role: 'frontend' } } }] }] });
      assert.equal(deny.status, 200, JSON.stringify(deny.body));
      child.stdin.write('three\n');
      await new Promise((r) => setTimeout(r, 2000)); // absence: give the echo time to come if it could
      assert.ok(!out.includes('three'), 'the denied connection carries nothing more');
    } finally {
      child.kill();
    }
    // the policy goes: everything passes again
    assert.equal((await weft.call('DELETE', '/v1/policies/server-in')).status, 204);
    await waitFor(() => x.ct.tcpCheck(s.ip, srv.port, 1500), { what: 'intruder reaches the server without the policy', timeoutMs: 10000 });
  });

  await srv.stop();
  await other.stop();
  await lab.detach(0, 'a', 'pol', a.ct);
  await lab.detach(0, 'x', 'pol', x.ct);
  await lab.detach(1, 's', 'pol', s.ct);
});
