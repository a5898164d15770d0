// Tunnel probes on fake switches: the probe a host's br-int is told to send
// (VNI, destination, vxlan0, a nonce), the probe flows and meter on the
// receiving br-int, and what the controller accepts: only a probe it sent
// last for the pair, from the receiver's tunnel port, by a probe flow, with
// the probe VNI and the sender's address; a probe forged by a container is
// dropped by the spoof guard and ignored if it reached the controller anyway.
// States: unknown, up, down after missed probes (a sender away is a miss),
// up again. Then the whole controller: GET /v1/tunnels, the tunnel events,
// the metrics, and who may read them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { TunnelProber, MISSES, SLOTS, HOST_REFRESH_MS, DEFAULT_PROBE_BUDGET, probeNonce, probeFrame } from '../../apps/tunnel-prober';
import { containerFlows } from '../../apps/container-network';
import { tunnelProbeMeter } from '../../apps/container/tunnel-probe';
import { FakeTable, PacketFields } from '../helpers/fake-table';
import { BR_INT, CATEGORY, categoryOf, cookie, objectId, TUNNEL_PROBE_VNI, TUNNEL_PROBE_METER, TUNNEL_PROBE_ETH_TYPE, TUNNEL_PORT } from '../../controller/pipeline';
import { OFPP_CONTROLLER, PacketIn, PacketOut, Oxm } from '../../southbound/codec';
import type { HostRec, EndpointRec, NetworkRec } from '../../controller/resources';
import type { TunnelView } from '../../controller/events';
import type { Effect } from '../../controller/app';
import { startController } from '../helpers/controller';
import { FakeBrInt } from '../helpers/cni-fake-api';
import { waitFor } from '../helpers/wait';

const TUN = 9;
const host = (name: string, n: number): HostRec => ({ name, dpid: `00000000000000${n.toString(16).padStart(2, '0')}`, underlayIp: `192.0.2.${n}`, phyDpid: null, createdAt: '' });
const H1 = host('h1', 1), H2 = host('h2', 2), H3 = host('h3', 3);

/** A container on h2 (its port 5) on an overlay network. */
const net: NetworkRec = { id: 1, name: 'ov', cidr: '10.7.0.0/24', gateway: '10.7.0.1', mode: 'overlay', vni: 5000, blockSize: 26, vlan: null, mtu: 1450, createdAt: '' };
const c2: EndpointRec = {
  id: 'c2', containerId: 'c2', ifName: 'eth0', host: 'h2', network: 'ov', networkId: 1, portName: 'c2p', mac: '0a:01:0a:07:00:02', ip: '10.7.0.2',
  requestedIp: null, netns: null, state: 'ready', createdAt: '', readyAt: null,
};

/** A host's br-int (h2 by default) with its desired flows (probes on). */
function brInt2(me = 'h2'): FakeTable {
  const t = new FakeTable();
  const ports = new Map([[TUNNEL_PORT, TUN], ['c2p', 5]]);
  for (const f of containerFlows({
    host: me, hosts: new Map([H1, H2, H3].map((h) => [h.name, h])), networks: new Map([[1, net]]), endpoints: [c2], blocks: [],
    ofport: (n) => ports.get(n), tunnelPort: TUN, tunnelProbes: true,
  })) t.apply(f);
  return t;
}

function rig(hosts = [H1, H2]) {
  const changes: TunnelView[] = [];
  const connected = new Set(hosts.map((h) => h.dpid));
  let clock = 1000;
  const prober = new TunnelProber({
    hosts: () => hosts, ports: (dpid) => (connected.has(dpid) ? new Map([[TUNNEL_PORT, TUN], ['c2p', 5]]) : undefined),
    changed: (t) => changes.push(t), intervalMs: 1000, now: () => clock,
  });
  /** one interval: every pair's probe (SLOTS ticks) */
  const round = (): Effect[] => { const out: Effect[] = []; for (let i = 0; i < SLOTS; i++) out.push(...prober.onTick()); clock += 100 * SLOTS; return out; };
  return { prober, changes, connected, round, advance: (ms: number) => { clock += ms; } };
}

/** What arrives at the receiving br-int for a packet-out on the sender: the tunnel's metadata, the inner frame. */
function arrival(po: PacketOut, from: HostRec): PacketFields {
  const setf = (f: string) => po.actions.find((a) => a.type === 'set_field' && a.field.field === f) as { field: { value: unknown } } | undefined;
  return { in_port: TUN, tunnel_id: setf('tunnel_id')!.field.value as bigint, tun_ipv4_src: from.underlayIp, tun_ipv4_dst: setf('tun_ipv4_dst')!.field.value as string,
    eth_dst: '0e:00:00:00:00:01', eth_src: '0e:00:00:00:00:01', eth_type: po.data.readUInt16BE(12) };
}

/** The packet-in br-int would send for a packet, if a flow sends it to the controller. */
function punt(t: FakeTable, pkt: PacketFields, data: Buffer): PacketIn | undefined {
  const tr = t.trace(pkt);
  const hop = tr.hops.find((h) => h.actions.some((a) => a.type === 'output' && a.port === OFPP_CONTROLLER));
  if (!hop) return undefined;
  const match: Oxm[] = [{ field: 'in_port', value: pkt.in_port as number }];
  if (pkt.tunnel_id !== undefined) match.push({ field: 'tunnel_id', value: pkt.tunnel_id as bigint }, { field: 'tun_ipv4_src', value: pkt.tun_ipv4_src as string });
  return { type: 'packet_in', xid: 0, buffer_id: 0xffffffff, total_len: data.length, reason: 0, table_id: hop.table, cookie: hop.flow!.cookie!, match, data } as PacketIn;
}

test('the probe: a packet-out on the sender with the probe VNI, the receiver\'s address and vxlan0, a fresh nonce each time', () => {
  const { round } = rig();
  const a = round(), b = round();
  assert.equal(a.length, 2, 'one probe per ordered pair per interval');
  const p12 = a.find((e) => e.dpid === H1.dpid)!.msg as PacketOut;
  assert.equal(p12.type, 'packet_out');
  assert.equal(p12.in_port, OFPP_CONTROLLER);
  assert.deepEqual(p12.actions, [
    { type: 'set_field', field: { field: 'tunnel_id', value: BigInt(TUNNEL_PROBE_VNI) } },
    { type: 'set_field', field: { field: 'tun_ipv4_dst', value: H2.underlayIp } },
    { type: 'output', port: TUN, max_len: 0 },
  ]);
  assert.equal(p12.data.readUInt16BE(12), TUNNEL_PROBE_ETH_TYPE);
  const nonces = [...a, ...b].map((e) => probeNonce((e.msg as PacketOut).data));
  assert.equal(new Set(nonces).size, 4, 'a nonce per probe');
  assert.ok(nonces.every((n) => n && n.length === 32));
});

test('probe flows on br-int: one per peer (tunnel source = its address) in the classifier, through the meter, to the controller', () => {
  const t = brInt2();
  const probes = t.flows.filter((f) => categoryOf(f.cookie) === CATEGORY.probe);
  assert.equal(probes.length, 2);
  for (const f of probes) {
    assert.equal(f.table_id, BR_INT.tableId.classifier);
    assert.equal(f.priority, BR_INT.table('classifier').bands.tunnelProbe);
    assert.deepEqual(f.instructions[0], { type: 'meter', meter_id: TUNNEL_PROBE_METER });
    assert.ok([H1.underlayIp, H3.underlayIp].includes(f.match.find((m) => m.field === 'tun_ipv4_src')!.value as string));
  }
  // no probe flows when probing is off
  const off = containerFlows({ host: 'h2', hosts: new Map([H1, H2].map((h) => [h.name, h])), networks: new Map(), endpoints: [], blocks: [], ofport: () => undefined, tunnelPort: TUN });
  assert.equal(off.filter((f) => categoryOf(f.cookie) === CATEGORY.probe).length, 0);
  const m = tunnelProbeMeter('h2', [H1, H2, H3], 1000);
  assert.equal(m.meter_id, TUNNEL_PROBE_METER);
  assert.ok(m.bands[0]!.rate >= 4, 'the meter lets at least twice the expected probes through');
});

test('a probe that crossed the tunnel is accepted: the pair is up, with its round trip; one change reported', () => {
  const { prober, changes, round, advance } = rig();
  assert.deepEqual(prober.list().map((t) => [t.from, t.to, t.state, t.rttMs, t.lastSeen]), [['h1', 'h2', 'unknown', null, null], ['h2', 'h1', 'unknown', null, null]]);
  const sent = round();
  const po = sent.find((e) => e.dpid === H1.dpid)!.msg as PacketOut;
  const pi = punt(brInt2(), arrival(po, H1), po.data);
  assert.ok(pi, 'h2\'s br-int sends the probe to the controller');
  advance(3);
  prober.onPacketIn(H2.dpid, pi!);
  const t12 = prober.list().find((t) => t.from === 'h1')!;
  assert.equal(t12.state, 'up');
  assert.equal(typeof t12.rttMs, 'number');
  assert.ok(t12.lastSeen);
  assert.deepEqual(changes.map((c) => `${c.from}>${c.to}:${c.state}`), ['h1>h2:up']);
  // the same probe again (a replay) changes nothing
  prober.onPacketIn(H2.dpid, pi!);
  assert.equal(changes.length, 1);
});

test('forgeries are ignored: another nonce, the wrong bridge, port, table, cookie, VNI or tunnel source; a container\'s forged probe never leaves the spoof guard', () => {
  const { prober, changes, round } = rig();
  const po = round().find((e) => e.dpid === H1.dpid)!.msg as PacketOut;
  const good = punt(brInt2(), arrival(po, H1), po.data)!;
  const variant = (o: Partial<PacketIn>, match?: (m: Oxm[]) => Oxm[]): PacketIn => ({ ...good, ...o, match: match ? match(good.match) : good.match });
  const swap = (field: string, value: Oxm['value']) => (m: Oxm[]) => m.map((x) => (x.field === field ? { ...x, value } : x));
  const forged = [
    variant({ data: probeFrame(Buffer.alloc(16, 7)) }),
    // the sender's index right, one random bit wrong; and the right random bytes claimed for the other sender
    variant({ data: probeFrame((() => { const n = Buffer.from(probeNonce(po.data)!, 'hex'); n[15]! ^= 1; return n; })()) }),
    variant({ data: probeFrame((() => { const n = Buffer.from(probeNonce(po.data)!, 'hex'); n.writeUInt32BE(n.readUInt32BE(0) ^ 1, 0); return n; })()) }),
    variant({ data: Buffer.concat([po.data.subarray(0, 14), Buffer.from('notaprob'), po.data.subarray(22)]) }),
    variant({}, swap('in_port', 5)),
    variant({}, swap('tunnel_id', 5000n)),
    variant({}, (m) => m.filter((x) => x.field !== 'tunnel_id')),
    variant({}, swap('tun_ipv4_src', H3.underlayIp)),
    variant({ table_id: BR_INT.tableId.spoofGuard }),
    variant({ cookie: cookie(1, 'endpoint', 1) }),
  ];
  for (const f of forged) prober.onPacketIn(H2.dpid, f);
  prober.onPacketIn(H1.dpid, good);
  assert.equal(changes.length, 0, JSON.stringify(changes));
  assert.equal(prober.list().find((t) => t.from === 'h1')!.state, 'unknown');
  // a container on h2 sends the probe frame (the right nonce even) from its own port: the spoof guard drops it
  const t = brInt2();
  const fromContainer: PacketFields = { in_port: 5, eth_src: c2.mac, eth_dst: '0e:00:00:00:00:01', eth_type: TUNNEL_PROBE_ETH_TYPE };
  assert.equal(punt(t, fromContainer, po.data), undefined);
  assert.equal(t.trace(fromContainer).outputs.length, 0);
  // the genuine one still counts
  prober.onPacketIn(H2.dpid, good);
  assert.equal(prober.list().find((t) => t.from === 'h1')!.state, 'up');
});

test('states: down after missed probes (a sender away is a miss too), up again when a probe arrives', () => {
  const { prober, changes, round, connected } = rig();
  const answer = (sent: Effect[], from: HostRec, to: HostRec) => {
    const po = sent.find((e) => e.dpid === from.dpid)!.msg as PacketOut;
    prober.onPacketIn(to.dpid, punt(brInt2(to.name), arrival(po, from), po.data)!);
  };
  let sent = round();
  answer(sent, H1, H2);
  answer(sent, H2, H1);
  assert.deepEqual(prober.list().map((t) => t.state), ['up', 'up']);
  // h2 -> h1 keeps arriving; h1 -> h2 is lost: each probe due while the last one is missing is a miss
  for (let i = 0; i <= MISSES; i++) {
    sent = round();
    assert.equal(prober.list()[0]!.state, i < MISSES ? 'up' : 'down', `after ${i} missed`);
    answer(sent, H2, H1);
  }
  const down = prober.list().find((t) => t.from === 'h1')!;
  assert.equal(down.rttMs, null);
  assert.ok(down.lastSeen);
  assert.equal(prober.list().find((t) => t.from === 'h2')!.state, 'up');
  // h2's br-int goes away: nothing is sent from it, and h2 -> h1 goes down too
  connected.delete(H2.dpid);
  for (let i = 0; i <= MISSES; i++) assert.ok(round().every((e) => e.dpid !== H2.dpid));
  assert.deepEqual(prober.list().map((t) => t.state), ['down', 'down']);
  connected.add(H2.dpid);
  sent = round();
  answer(sent, H1, H2);
  answer(sent, H2, H1);
  assert.deepEqual(changes.map((c) => `${c.from}>${c.to}:${c.state}`), ['h1>h2:up', 'h2>h1:up', 'h1>h2:down', 'h2>h1:down', 'h1>h2:up', 'h2>h1:up']);
});

test('pairs follow the hosts: a third host adds four pairs, a host without a tunnel port has none, probes are spread over the interval', () => {
  const hosts = [H1, H2, H3];
  const { prober } = rig(hosts);
  assert.equal(prober.list().length, 6);
  const perTick: number[] = [];
  for (let i = 0; i < SLOTS; i++) perTick.push(prober.onTick().length);
  assert.equal(perTick.reduce((a, b) => a + b, 0), 6, 'each pair once per interval');
  const noTunnel = new TunnelProber({ hosts: () => hosts, ports: (d) => (d === H3.dpid ? new Map([['c3p', 4]]) : undefined), changed: () => undefined, intervalMs: 1000 });
  assert.deepEqual(noTunnel.list().map((t) => `${t.from}>${t.to}`), ['h1>h2', 'h2>h1']);
});

test('the budget: pairs beyond it stretch the cycle; no tick sends more than it allows, and each pair is probed once per cycle', () => {
  const hosts = [1, 2, 3, 4, 5, 6].map((n) => host(`b${n}`, 0xc0 + n)); // 30 pairs
  const prober = new TunnelProber({ hosts: () => hosts, ports: () => new Map([[TUNNEL_PORT, TUN]]), changed: () => undefined, intervalMs: 1000, budgetPerSecond: 20 });
  // ticks of 100 ms: 2 probes a tick at most, so 15 ticks a cycle instead of 10
  const counts = new Map<string, number>();
  const perTick: number[] = [];
  for (let i = 0; i < 15; i++) {
    const sent = prober.onTick();
    perTick.push(sent.length);
    for (const e of sent) { const to = (e.msg as PacketOut).actions.find((a) => a.type === 'set_field' && a.field.field === 'tun_ipv4_dst') as { field: { value: string } }; const k = `${e.dpid}>${to.field.value}`; counts.set(k, (counts.get(k) ?? 0) + 1); }
  }
  assert.equal(prober.ticksPerCycle, 15);
  assert.ok(perTick.every((n) => n <= 2), perTick.join(','));
  assert.equal(counts.size, 30, 'every pair probed in the cycle');
  assert.ok([...counts.values()].every((n) => n === 1), 'and once');
  // under the budget: the interval's ten ticks
  const small = new TunnelProber({ hosts: () => hosts.slice(0, 3), ports: () => new Map([[TUNNEL_PORT, TUN]]), changed: () => undefined, intervalMs: 1000, budgetPerSecond: 20 });
  small.onTick();
  assert.equal(small.ticksPerCycle, SLOTS);
  // a budget below one probe a tick (2 a second, ticks of 100 ms): one probe every fifth tick, 30 pairs in 150 ticks
  const slow = new TunnelProber({ hosts: () => hosts, ports: () => new Map([[TUNNEL_PORT, TUN]]), changed: () => undefined, intervalMs: 1000, budgetPerSecond: 2 });
  const sent: number[] = [];
  for (let i = 0; i < 150; i++) sent.push(slow.onTick().length);
  assert.equal(slow.ticksPerCycle, 150);
  assert.equal(sent.reduce((a, b) => a + b, 0), 30);
  assert.ok(sent.every((n) => n <= 1), sent.join(''));
  for (let i = 0; i < 150; i += 10) assert.ok(sent.slice(i, i + 10).reduce((a, b) => a + b, 0) <= 2, `at most 2 probes a second: ${sent.slice(i, i + 10).join('')}`);
});

// ---- many hosts (issue 14): a tick's work is bounded, every pair is probed, down is detected, gone hosts are forgotten

/** n hosts on 10.x.y.z, their br-int connected with a tunnel port. */
function many(n: number, prefix = 'm'): HostRec[] {
  return Array.from({ length: n }, (_, k) => ({ name: `${prefix}${String(k).padStart(4, '0')}`, dpid: (0xe0000000 + k).toString(16).padStart(16, '0'), underlayIp: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`, phyDpid: null, createdAt: '' }));
}

/** A prober over a list of hosts that can change, counting what it asks for. */
function counted(hosts: HostRec[], opts: { budgetPerSecond?: number; intervalMs?: number } = {}) {
  const calls = { hosts: 0, tunnelPort: 0 };
  const changes: TunnelView[] = [];
  let clock = 0;
  const prober = new TunnelProber({
    hosts: () => { calls.hosts++; return hosts; }, ports: () => { throw new Error('tunnelPort is given'); },
    tunnelPort: () => { calls.tunnelPort++; return TUN; },
    changed: (t) => changes.push(t), intervalMs: opts.intervalMs ?? 1000, budgetPerSecond: opts.budgetPerSecond, now: () => clock,
  });
  const byIp = () => new Map(hosts.map((h) => [h.underlayIp, h]));
  const byDpid = () => new Map(hosts.map((h) => [h.dpid, h]));
  return { prober, calls, changes, byIp, byDpid, advance: (ms: number) => { clock += ms; } };
}

/** A probe's sender and receiver. */
function ends(e: Effect, byDpid: Map<string, HostRec>, byIp: Map<string, HostRec>): { from: HostRec; to: HostRec; po: PacketOut } {
  const po = e.msg as PacketOut;
  const dst = po.actions.find((a) => a.type === 'set_field' && a.field.field === 'tun_ipv4_dst') as { field: { value: string } };
  return { from: byDpid.get(e.dpid)!, to: byIp.get(dst.field.value)!, po };
}

/** The packet-in the receiver's probe flow sends for a probe that crossed the tunnel. */
function arrived(po: PacketOut, from: HostRec): PacketIn {
  return {
    type: 'packet_in', xid: 0, buffer_id: 0xffffffff, total_len: po.data.length, reason: 0, table_id: BR_INT.tableId.classifier, cookie: cookie(1, 'probe', objectId(from.name)),
    match: [{ field: 'in_port', value: TUN }, { field: 'tunnel_id', value: BigInt(TUNNEL_PROBE_VNI) }, { field: 'tun_ipv4_src', value: from.underlayIp }], data: po.data,
  } as PacketIn;
}

test('500 hosts: no tick sends more than its share of the budget, or more than one probe from or to a host; a cycle probes each of the 249500 pairs once; a tick reads neither every host nor every pair', () => {
  const hosts = many(500);
  const { prober, calls, byIp, byDpid } = counted(hosts);
  const perTick = (DEFAULT_PROBE_BUDGET * prober.tickMs) / 1000;
  assert.equal(perTick, 200);
  const ip = byIp(), dp = byDpid();
  const seen = new Set<string>();
  let probes = 0, maxTick = 0, maxPort = 0, worstPerHost = 0, ticks = 0;
  for (let t = 0; t === 0 || t < ticks; t++) {
    const before = calls.tunnelPort;
    const sent = prober.onTick();
    if (t === 0) {
      ticks = prober.ticksPerCycle;
      assert.equal(ticks, Math.ceil((500 * 499) / 200), 'the cycle stretches to what the budget allows');
      assert.equal(prober.cycleMs, ticks * prober.tickMs);
    }
    maxTick = Math.max(maxTick, sent.length);
    const perHost = new Map<string, number>();
    for (const e of sent) {
      const { from, to } = ends(e, dp, ip);
      seen.add(`${from.name}>${to.name}`);
      perHost.set(`>${from.name}`, (perHost.get(`>${from.name}`) ?? 0) + 1);
      perHost.set(`<${to.name}`, (perHost.get(`<${to.name}`) ?? 0) + 1);
      probes++;
    }
    worstPerHost = Math.max(worstPerHost, ...perHost.values());
    // the hosts are read (and their tunnel ports looked up) once a second: other ticks look up their senders' only
    if (t % (HOST_REFRESH_MS / prober.tickMs) !== 0) maxPort = Math.max(maxPort, calls.tunnelPort - before);
  }
  assert.ok(maxTick <= perTick, `at most ${perTick} probes a tick, saw ${maxTick}`);
  assert.equal(worstPerHost, 1, 'a tick\'s probes come from distinct hosts and go to distinct hosts (their meters)');
  assert.ok(maxPort <= perTick, `a tick looks up the tunnel port of its senders only (${maxPort})`);
  assert.equal(seen.size, 500 * 499, 'every ordered pair probed');
  assert.equal(probes, 500 * 499, 'once');
  assert.ok(calls.hosts <= Math.ceil(ticks / (HOST_REFRESH_MS / prober.tickMs)), `the hosts are read once a second (${calls.hosts} reads in ${ticks} ticks)`);
  assert.ok(prober.size.capacity < 700, `pair arrays sized by the hosts (${prober.size.capacity})`);
  const list = prober.list();
  assert.equal(list.length, 500 * 499);
  assert.ok(list.every((x) => x.state === 'unknown' && x.lastProbed !== null && x.lastSeen === null), 'each pair says when it was probed; none arrived');
});

test('with the budget stretching the cycle, a tunnel that stops carrying is down after MISSES + 1 cycles at most; the others stay up', () => {
  const hosts = many(40);
  const { prober, changes, byIp, byDpid } = counted(hosts, { budgetPerSecond: 50 }); // 5 probes a tick, 1560 pairs
  const ip = byIp(), dp = byDpid();
  const cut = hosts[7]!;
  let lost = false;
  const run = (ticks: number) => {
    for (let t = 0; t < ticks; t++) {
      for (const e of prober.onTick()) {
        const { from, to, po } = ends(e, dp, ip);
        if (lost && (from === cut || to === cut)) continue;
        prober.onPacketIn(to.dpid, arrived(po, from));
      }
    }
  };
  prober.onTick(); // opens the first cycle
  const T = prober.ticksPerCycle;
  assert.equal(T, Math.ceil(1560 / 5));
  run(T);
  assert.ok(prober.list().every((x) => x.state === 'up'), 'every pair up after a cycle');
  assert.equal(changes.length, 1560);
  changes.length = 0;
  lost = true;
  run((MISSES + 1) * T);
  const down = prober.list().filter((x) => x.state === 'down').map((x) => `${x.from}>${x.to}`).sort();
  const want = hosts.filter((h) => h !== cut).flatMap((h) => [`${h.name}>${cut.name}`, `${cut.name}>${h.name}`]).sort();
  assert.deepEqual(down, want, 'the 78 pairs to and from the cut host are down');
  assert.deepEqual(changes.map((c) => `${c.from}>${c.to}:${c.state}`).sort(), want.map((k) => `${k}:down`));
  assert.ok(prober.list().filter((x) => x.state === 'down').every((x) => x.rttMs === null && x.lastSeen !== null && x.lastProbed! >= x.lastSeen!));
  lost = false;
  run(T + 1);
  assert.ok(prober.list().every((x) => x.state === 'up'), 'up again a cycle after it carries again');
});

test('a removed host\'s pairs are forgotten: no probe to or from it, a late answer ignored, its index reused; registered again it starts from unknown', () => {
  const hosts = many(3, 'r');
  const { prober, changes, byIp, byDpid } = counted(hosts);
  const ip = byIp(), dp = byDpid();
  const sent: Effect[] = [];
  for (let t = 0; t < SLOTS; t++) sent.push(...prober.onTick());
  assert.equal(sent.length, 6);
  const gone = hosts[2]!;
  const late: { from: HostRec; to: HostRec; po: PacketOut }[] = [];
  for (const e of sent) {
    const x = ends(e, dp, ip);
    if (x.from === gone || x.to === gone) late.push(x); else prober.onPacketIn(x.to.dpid, arrived(x.po, x.from));
  }
  assert.equal(late.length, 4);
  const cap = prober.size.capacity;
  hosts.pop();
  prober.onEvent({ type: 'host.unregistered', name: gone.name, dpid: gone.dpid, underlayIp: gone.underlayIp, ts: '' });
  const next: Effect[] = [];
  for (let t = 0; t < SLOTS; t++) next.push(...prober.onTick());
  assert.equal(next.length, 2);
  assert.ok(next.every((e) => e.dpid !== gone.dpid && !ends(e, dp, ip).po.actions.some((a) => a.type === 'set_field' && a.field.value === gone.underlayIp)));
  assert.deepEqual(prober.list().map((x) => `${x.from}>${x.to}`), ['r0000>r0001', 'r0001>r0000']);
  assert.equal(prober.size.hosts, 2);
  // registered again (same name, address and bridge): the late answers of before count for nothing
  hosts.push(gone);
  for (const x of late) prober.onPacketIn(x.to.dpid, arrived(x.po, x.from));
  const again = prober.list().filter((x) => x.from === gone.name || x.to === gone.name);
  assert.equal(again.length, 4);
  assert.ok(again.every((x) => x.state === 'unknown' && x.lastSeen === null && x.lastProbed === null), JSON.stringify(again));
  assert.ok(!changes.some((c) => c.from === gone.name || c.to === gone.name), 'no change for the gone host\'s pairs');
  assert.equal(prober.size.capacity, cap, 'its index reused');
});

test('hosts come and go by the hundred: the pair arrays stay sized by the hosts at a time, and every pair of the hosts there is probed', () => {
  const hosts = many(200, 'a');
  const { prober, byIp, byDpid } = counted(hosts, { budgetPerSecond: 1_000_000 });
  prober.onTick();
  const cap = prober.size.capacity;
  hosts.splice(0, 100, ...many(100, 'b'));
  prober.onEvent({ type: 'host.registered', name: 'b0000', dpid: hosts[0]!.dpid, underlayIp: hosts[0]!.underlayIp, ts: '' });
  const ip = byIp(), dp = byDpid();
  const seen = new Set<string>();
  for (let t = 0; t < 2 * SLOTS; t++) for (const e of prober.onTick()) { const { from, to } = ends(e, dp, ip); seen.add(`${from.name}>${to.name}`); }
  assert.equal(seen.size, 200 * 199);
  assert.equal(prober.size.hosts, 200);
  assert.equal(prober.size.capacity, cap);
});

// ---- the controller: routes, events, metrics -------------------------------------------------

const ctlP = startController({ tunnelProbeInterval: 0.2 });
after(async () => { await (await ctlP).cleanup(); });

test('the controller: meter and probe flows on br-int, probes sent, a returned probe makes the pair up: GET /v1/tunnels, the event, the metrics', async () => {
  const ctl = await ctlP;
  const events: TunnelView[] = [];
  ctl.bus.on('tunnel', (e) => events.push(e.tunnel));
  const a = host('t1', 0xa1), b = host('t2', 0xa2);
  const sw = new Map<string, FakeBrInt>();
  for (const h of [a, b]) {
    const r = await ctl.api!.inject({ method: 'POST', url: '/v1/hosts', payload: { name: h.name, dpid: h.dpid, underlayIp: h.underlayIp } });
    assert.equal(r.statusCode, 201, r.body);
    sw.set(h.name, await FakeBrInt.connect(ctl.ofPort, BigInt(`0x${h.dpid}`), { [TUNNEL_PORT]: TUN }));
  }
  try {
    const brA = sw.get('t1')!, brB = sw.get('t2')!;
    await waitFor(() => brB.table.flows.some((f) => categoryOf(f.cookie) === CATEGORY.probe), { what: 'probe flow on t2' });
    const meter = brB.received.find((m) => m.type === 'meter_mod' && m.command === 0);
    assert.ok(meter, 'the meter is added');
    assert.ok(brB.received.indexOf(meter!) < brB.received.findIndex((m) => m.type === 'flow_mod' && categoryOf(m.cookie) === CATEGORY.probe), 'before the flow that uses it');
    const get = async () => {
      const r = await ctl.api!.inject({ method: 'GET', url: '/v1/tunnels' });
      assert.equal(r.statusCode, 200, r.body);
      return (r.json() as { tunnels: TunnelView[] }).tunnels;
    };
    assert.deepEqual((await get()).map((t) => [t.from, t.to, t.fromIp, t.toIp]), [['t1', 't2', a.underlayIp, b.underlayIp], ['t2', 't1', b.underlayIp, a.underlayIp]]);
    // carry t1's next probe over the "tunnel" to t2
    const n0 = brA.received.length;
    const po = await waitFor(() => brA.received.slice(n0).find((m): m is PacketOut => m.type === 'packet_out'), { what: 'a probe sent on t1' });
    const bTable = new FakeTable();
    for (const f of brB.table.flows) bTable.apply({ ...f, command: 0 } as never);
    const pi = punt(bTable, arrival(po, a), po.data)!;
    brB.send({ ...pi, xid: 0 });
    await waitFor(async () => (await get()).find((t) => t.from === 't1')?.state === 'up', { what: 't1 -> t2 up' });
    const up = (await get()).find((t) => t.from === 't1')!;
    assert.ok(up.lastProbed && up.lastSeen, JSON.stringify(up));
    assert.ok(events.some((e) => e.from === 't1' && e.to === 't2' && e.state === 'up'));
    const m = await ctl.api!.inject({ method: 'GET', url: '/metrics' });
    assert.match(m.body, /weft_tunnel_up\{from="t1",to="t2"\} 1/);
    assert.match(m.body, /weft_tunnel_rtt_seconds\{from="t1",to="t2"\} [\d.e-]+/);
    // t2 -> t1 never answered: down after the misses, 0 in the metrics
    await waitFor(async () => (await get()).find((t) => t.from === 't2')?.state === 'down', { what: 't2 -> t1 down' });
    assert.match((await ctl.api!.inject({ method: 'GET', url: '/metrics' })).body, /weft_tunnel_up\{from="t2",to="t1"\} 0/);
    // a third host: t2's meter follows (MODIFY, a higher rate), and a probe flow for t3 comes
    const rate0 = (meter as { bands: { rate: number }[] }).bands[0]!.rate;
    assert.equal((await ctl.api!.inject({ method: 'POST', url: '/v1/hosts', payload: { name: 't3', dpid: '00000000000000a3', underlayIp: '192.0.2.163' } })).statusCode, 201);
    const mod = await waitFor(() => brB.received.find((m) => m.type === 'meter_mod' && m.command === 1), { what: 'meter modified on t2' }) as { bands: { rate: number }[] };
    assert.ok(mod.bands[0]!.rate > rate0, `${mod.bands[0]!.rate} > ${rate0}`);
    await waitFor(() => brB.table.flows.filter((f) => categoryOf(f.cookie) === CATEGORY.probe).length === 2, { what: 'a probe flow per peer on t2' });
    assert.equal((await ctl.api!.inject({ method: 'DELETE', url: '/v1/hosts/t3' })).statusCode, 204);
  } finally {
    for (const s of sw.values()) s.close();
  }
});

test('a host registered while another host\'s full sync is in flight still reaches it: the change is synced after, not skipped', async () => {
  const ctl = await ctlP;
  const a = host('t4', 0xb4), b = host('t5', 0xb5);
  assert.equal((await ctl.api!.inject({ method: 'POST', url: '/v1/hosts', payload: { name: a.name, dpid: a.dpid, underlayIp: a.underlayIp } })).statusCode, 201);
  const brA = await FakeBrInt.connect(ctl.ofPort, BigInt(`0x${a.dpid}`), { [TUNNEL_PORT]: TUN });
  brA.holdBarriers = true;
  try {
    // t4's full sync has computed and sent its flows and waits for the barrier
    await waitFor(() => brA.received.some((m) => m.type === 'barrier_request'), { what: 'the full sync\'s barrier on t4' });
    const peerFlows = () => brA.table.flows.filter((f) => categoryOf(f.cookie) === CATEGORY.probe && f.match.some((x) => x.field === 'tun_ipv4_src' && x.value === b.underlayIp));
    assert.equal(peerFlows().length, 0, 'no probe flow for t5 yet');
    assert.equal((await ctl.api!.inject({ method: 'POST', url: '/v1/hosts', payload: { name: b.name, dpid: b.dpid, underlayIp: b.underlayIp } })).statusCode, 201);
    brA.releaseBarriers();
    await waitFor(() => peerFlows().length === 1, { what: 'a probe flow for t5 on t4' });
  } finally {
    brA.close();
    for (const n of [a.name, b.name]) await ctl.api!.inject({ method: 'DELETE', url: `/v1/hosts/${n}` });
  }
});

test('GET /v1/tunnels is for admins: 401 without a token, 403 with a host token', async () => {
  const ctl = await ctlP;
  assert.equal((await ctl.api!.inject({ method: 'GET', url: '/v1/tunnels', headers: { authorization: '' } })).statusCode, 401);
  const t = await ctl.api!.inject({ method: 'POST', url: '/v1/tokens', payload: { role: 'host', host: 't1' } });
  assert.equal(t.statusCode, 201, t.body);
  const r = await ctl.api!.inject({ method: 'GET', url: '/v1/tunnels', headers: { authorization: `Bearer ${(t.json() as { token: string }).token}` } });
  assert.equal(r.statusCode, 403);
});
