// The web UI's topology model (northbound/ui/model.ts, no DOM): which
// tunnels it draws and with what health, and a layout that is the same for
// the same graph and keeps every node in the box.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel, dpidLabel, layout, tunnelPairs, MAX_ENDPOINT_NODES } from '../../northbound/ui/model';
import type { Endpoint, RegisteredHost, Snapshot, Tunnel } from '../../northbound/ui/types';

const host = (name: string, i: number): RegisteredHost => ({ kind: 'registered', name, dpid: (0xa00 + i).toString(16).padStart(16, '0'), underlayIp: `172.31.250.${i + 1}`, phyDpid: null, connected: true, endpoints: 0 });
const hosts = [host('h1', 1), host('h2', 2), host('h3', 3)];
const t = (from: string, to: string, state: Tunnel['state'], rttMs: number | null = null): Tunnel => ({ from, to, fromIp: '', toIp: '', state, rttMs, lastSeen: null });

test('tunnels: every host pair unknown without health data; both directions merge; events replace their direction', () => {
  const none = tunnelPairs(hosts, null);
  assert.deepEqual([...none.keys()].sort(), ['h1|h2', 'h1|h3', 'h2|h3']);
  assert.ok([...none.values()].every((x) => x.state === 'unknown'));
  const api = tunnelPairs(hosts, [t('h1', 'h2', 'up', 0.4), t('h2', 'h1', 'up', 0.9), t('h1', 'h3', 'up'), t('h3', 'h1', 'down')]);
  assert.deepEqual([...api.keys()].sort(), ['h1|h2', 'h1|h3'], 'with the route, only the tunnels it lists');
  assert.equal(api.get('h1|h2')!.state, 'up');
  assert.equal(api.get('h1|h2')!.rttMs, 0.9);
  assert.equal(api.get('h1|h3')!.state, 'down', 'one direction down: down');
  // events over no data: the pair takes the event's state; a pair of hosts we do not know is ignored
  const ev = tunnelPairs(hosts, null, [t('h2', 'h3', 'up', 1), t('h3', 'h2', 'up', 2), t('h1', 'h9', 'down')]);
  assert.equal(ev.get('h2|h3')!.state, 'up');
  assert.equal(ev.get('h1|h2')!.state, 'unknown');
  assert.equal(ev.size, 3);
  // an event over the API's answer replaces its direction only
  const mixed = tunnelPairs(hosts, [t('h1', 'h2', 'up'), t('h2', 'h1', 'up')], [t('h2', 'h1', 'down')]);
  assert.equal(mixed.get('h1|h2')!.state, 'down');
});

test('the model: a node per registered host, its bridges not drawn as switches, lab switches, links and learned hosts; endpoints up to the limit', () => {
  const snap: Snapshot = {
    switches: [{ dpid: hosts[0]!.dpid, remote: '', ports: [] }, { dpid: '0000000000000001', remote: '', ports: [] }, { dpid: '0000000000000002', remote: '', ports: [] }],
    links: [{ src: { dpid: '0000000000000001', port: 1 }, dst: { dpid: '0000000000000002', port: 1 } }, { src: { dpid: '0000000000000002', port: 1 }, dst: { dpid: '0000000000000001', port: 1 } }],
    hosts: [{ mac: '00:00:00:00:00:01', ips: ['10.0.0.1'], dpid: '0000000000000001', port: 2 }],
  };
  const ep = (i: number): Endpoint => ({ id: `e${i}`, containerId: `c${i}`, ifName: 'eth0', host: hosts[i % 3]!.name, network: 'blue', portName: `p${i}`, ofport: null, mac: '', ip: `10.1.0.${i}`, state: 'ready' });
  const g = buildModel({ snapshot: snap, hosts, status: new Map(), endpoints: [ep(1), ep(2)], tunnels: null });
  const kinds = (k: string) => g.filterNodes((_n, a) => a.kind === k).length;
  assert.deepEqual([kinds('host'), kinds('switch'), kinds('learned'), kinds('endpoint')], [3, 2, 1, 2]);
  assert.equal(g.filterEdges((_e, a) => a.kind === 'link').length, 1, 'a cable is one line');
  assert.equal(g.filterEdges((_e, a) => a.kind === 'tunnel').length, 3);
  const many = buildModel({ snapshot: snap, hosts, status: new Map(), endpoints: Array.from({ length: MAX_ENDPOINT_NODES + 1 }, (_, i) => ep(i)), tunnels: null });
  assert.equal(many.filterNodes((_n, a) => a.kind === 'endpoint').length, 0);
  assert.equal(dpidLabel('0000000000000004'), 's4');
  assert.equal(dpidLabel('00000000c0de0a01'), 'c0de0a01');

  layout(g, 960, 560);
  const pos = g.mapNodes((k, a) => [k, Math.round(a.x), Math.round(a.y)]);
  for (const [, x, y] of pos) assert.ok((x as number) >= 0 && (x as number) <= 960 && (y as number) >= 0 && (y as number) <= 560, `${x},${y}`);
  assert.equal(new Set(pos.map(([, x, y]) => `${x},${y}`)).size, pos.length, 'no two nodes on one spot');
  const again = buildModel({ snapshot: snap, hosts, status: new Map(), endpoints: [ep(1), ep(2)], tunnels: null });
  layout(again, 960, 560);
  assert.deepEqual(again.mapNodes((k, a) => [k, Math.round(a.x), Math.round(a.y)]), pos);
});
