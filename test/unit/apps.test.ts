// The lab apps on a fake network of flow tables (fast feedback; Mininet with
// real OVS is in test/integration).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeNet, ethFrame, arpRequest } from '../helpers/fake-net';
import { LearningSwitch } from '../../apps/learning';
import { TopologyDiscovery } from '../../apps/topology';
import { ShortestPathForwarding } from '../../apps/forwarding';
import { resolveApps, AppSelectionError } from '../../apps';

const mac = (i: number) => `00:00:00:00:00:${i.toString(16).padStart(2, '0')}`;
const dp = (i: number) => i.toString(16).padStart(16, '0');

test('learning switch: floods unknown, then installs exact flows; unicast stops reaching the controller', () => {
  const net = new FakeNet([new LearningSwitch()]);
  net.addSwitch(dp(1), 3);
  for (let i = 1; i <= 3; i++) net.attachHost(mac(i), dp(1), i);
  net.connect(dp(1));
  net.hostSend(mac(1), ethFrame(mac(2), mac(1), 0x0800));
  assert.equal(net.inbox.get(mac(2))!.length, 1, 'flooded to h2');
  assert.equal(net.inbox.get(mac(3))!.length, 1, 'flooded to h3');
  assert.equal(net.inbox.get(mac(1))!.length, 0, 'never back out of the in_port');
  net.hostSend(mac(2), ethFrame(mac(1), mac(2), 0x0800));
  assert.equal(net.inbox.get(mac(1))!.length, 1);
  assert.equal(net.inbox.get(mac(3))!.length, 1, 'known destination is not flooded');
  const flows = net.get(dp(1))!.table.flows.filter((f) => f.priority === 1);
  assert.equal(flows.length, 1);
  assert.deepEqual(flows[0].match.map((m) => m.field), ['in_port', 'eth_dst', 'eth_src']);
  const before = net.packetIns;
  net.hostSend(mac(1), ethFrame(mac(2), mac(1), 0x0800));
  net.hostSend(mac(2), ethFrame(mac(1), mac(2), 0x0800));
  assert.equal(net.inbox.get(mac(2))!.length, 2);
  assert.equal(net.packetIns - before, 1, 'h2->h1 is now in hardware; only h1->h2 still needed the controller once');
  net.hostSend(mac(1), ethFrame(mac(2), mac(1), 0x0800));
  assert.equal(net.packetIns - before, 1);
});

function ring(n: number) {
  const net = new FakeNet([new TopologyDiscovery(), new ShortestPathForwarding({ settleMs: 0 })]);
  for (let i = 1; i <= n; i++) net.addSwitch(dp(i), 3);
  // port 1 -> next switch, port 2 -> previous switch, port 3 -> host
  for (let i = 1; i <= n; i++) net.wire(dp(i), 1, dp((i % n) + 1), 2);
  for (let i = 1; i <= n; i++) net.attachHost(mac(i), dp(i), 3);
  for (let i = 1; i <= n; i++) net.connect(dp(i));
  return net;
}

test('topology: a ring of 6 is discovered as 12 directed links; broadcast-domain probes make no link', () => {
  const net = ring(6);
  assert.equal(net.topology.links().length, 12);
  // hub: one port of s1 and s2 and s3 wired into a shared segment is modelled by a probe arriving twice
  const events: string[] = [];
  net.bus.on('*', (e) => events.push(e.type));
  net.tick();
  assert.equal(net.topology.links().length, 12, 'probes refresh, do not duplicate');
  assert.ok(!events.includes('link.removed'));
});

test('forwarding on a ring: broadcast reaches every host exactly once, unicast follows the shortest path, no storm', () => {
  const n = 6;
  const net = ring(n);
  net.hostSend(mac(1), arpRequest(mac(1), '10.0.0.1', '10.0.0.4'));
  for (let i = 2; i <= n; i++) assert.equal(net.inbox.get(mac(i))!.length, 1, `h${i} got the broadcast once`);
  assert.equal(net.inbox.get(mac(1))!.length, 0);
  assert.ok(net.deliveries < 40, `bounded deliveries (${net.deliveries})`);
  // h1 is now known everywhere: h4's reply goes by flows, no packet-in
  const pi = net.packetIns;
  net.hostSend(mac(4), ethFrame(mac(1), mac(4), 0x0806));
  assert.equal(net.inbox.get(mac(1))!.length, 1);
  assert.equal(net.packetIns, pi, 'reply switched in the data path');
  assert.deepEqual(net.topology.hosts.get(mac(1))!.ips, ['10.0.0.1']);
  // shortest path: s1 -> s2 (port 1) for h2; s1 -> s6 (port 2) for h6
  net.hostSend(mac(2), arpRequest(mac(2), '10.0.0.2', '10.0.0.9'));
  net.hostSend(mac(6), arpRequest(mac(6), '10.0.0.6', '10.0.0.9'));
  const fwd = new Map(net.get(dp(1))!.table.flows.filter((f) => f.priority === 10).map((f) => [f.match[0].value, (f.instructions[0] as { actions: { port: number }[] }).actions[0].port]));
  assert.equal(fwd.get(mac(2)), 1);
  assert.equal(fwd.get(mac(6)), 2);
});

test('forwarding: a cut link reroutes and stale flows go; all pairs still reach each other', () => {
  const n = 6;
  const net = ring(n);
  for (let i = 1; i <= n; i++) net.hostSend(mac(i), arpRequest(mac(i), `10.0.0.${i}`, '10.0.0.99'));
  net.cut(dp(1), 1, dp(2), 2);
  assert.equal(net.topology.links().length, 10);
  for (let i = 1; i <= n; i++) net.inbox.set(mac(i), []);
  for (let a = 1; a <= n; a++) for (let b = 1; b <= n; b++) if (a !== b) net.hostSend(mac(a), ethFrame(mac(b), mac(a), 0x0800));
  for (let i = 1; i <= n; i++) assert.equal(net.inbox.get(mac(i))!.length, n - 1, `h${i} got one frame from each other host`);
  // s1 now reaches h2 the long way round (port 2)
  const f = net.get(dp(1))!.table.flows.find((x) => x.priority === 10 && x.match[0].value === mac(2))!;
  assert.equal((f.instructions[0] as { actions: { port: number }[] }).actions[0].port, 2);
});

test('topology: probes through a shared segment (hub) make no link; a silent cable cut ages out', async () => {
  const net = new FakeNet([new TopologyDiscovery({ probeIntervalMs: 40 }), new ShortestPathForwarding({ settleMs: 0 })]);
  for (let i = 1; i <= 3; i++) net.addSwitch(dp(i), 3);
  net.wire(dp(1), 1, dp(2), 1); // a real cable
  net.hub([dp(1), 2], [dp(2), 2], [dp(3), 2]); // one broadcast domain joining three switches
  for (let i = 1; i <= 3; i++) net.connect(dp(i));
  net.tick();
  const links = net.topology.links().map((l) => `${l.src.dpid.slice(-1)}:${l.src.port}->${l.dst.dpid.slice(-1)}:${l.dst.port}`).sort();
  assert.deepEqual(links, ['1:1->2:1', '2:1->1:1'], 'only the point-to-point cable is a link');
  net.unplug(dp(1), 1, dp(2), 1);
  const { waitFor } = await import('../helpers/wait');
  await waitFor(() => { net.tick(); return net.topology.links().length === 0; }, { what: 'links aged out', timeoutMs: 3000, intervalMs: 30 });
});

test('topology: a host that moves is seen at its new port and forwarding follows it', () => {
  const net = ring(4);
  net.hostSend(mac(1), arpRequest(mac(1), '10.0.0.1', '10.0.0.9'));
  assert.equal(net.topology.hosts.get(mac(1))!.dpid, dp(1));
  const moved: string[] = [];
  net.bus.on('host.moved', (e) => moved.push(`${e.from.dpid.slice(-1)}->${e.host.dpid.slice(-1)}`));
  net.moveHost(mac(1), dp(3), 3);
  net.attachHost(mac(3), dp(3), 1); // keep h3 somewhere else
  net.hostSend(mac(1), arpRequest(mac(1), '10.0.0.1', '10.0.0.9'));
  assert.deepEqual(moved, ['1->3']);
  assert.equal(net.topology.hosts.get(mac(1))!.port, 3);
  for (const i of [2, 4]) net.inbox.set(mac(i), []);
  net.inbox.set(mac(1), []);
  net.hostSend(mac(2), arpRequest(mac(2), '10.0.0.2', '10.0.0.9'));
  net.hostSend(mac(2), ethFrame(mac(1), mac(2), 0x0800));
  assert.equal(net.inbox.get(mac(1))!.filter((f) => f.readUInt16BE(12) === 0x0800).length, 1, 'unicast reaches h1 at its new place');
});

test('app selection: profiles, lists and conflicts', () => {
  assert.deepEqual(resolveApps('forwarding'), ['topology', 'forwarding']);
  assert.deepEqual(resolveApps('learning'), ['learning']);
  assert.deepEqual(resolveApps('forwarding,topology'), ['topology', 'forwarding']);
  assert.throws(() => resolveApps('learning,forwarding'), AppSelectionError);
  assert.throws(() => resolveApps('bogus'), /unknown app or profile "bogus"/);
});
