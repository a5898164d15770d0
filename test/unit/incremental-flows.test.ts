// Incremental flow computation (apps/container/cluster-view.ts, the
// FlowCache of apps/container/context.ts, the reconciler's keys by object):
// over random sequences of changes made through the container service
// (attach, detach, label change, policy create and delete, service create
// and delete, host add and remove, network add and delete (encrypted ones
// too), ports appearing, br-phy connecting), each host bridge's cached,
// event-fed flows and groups equal those computed from the store from
// scratch. (Meters are read from the store each time.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { Store } from '../../controller/store';
import { EventBus } from '../../controller/events';
import { ContainerService } from '../../controller/container-service';
import { ContainerFlowSource } from '../../apps/container-flow-source';
import { flowKey } from '../../controller/reconciler';
import { ipToInt, intToIp } from '../../controller/ipv4';
import { blockTree, BlockTree, BLOCK_FANOUT, BLOCK_TREE_DEPTH } from '../../apps/container/cluster-view';
import type { Block } from '../../controller/ipam';
import { TUNNEL_PORT, SECURE_TUNNEL_PORT, PATCH_PORT, PHY_PATCH_PORT, objectId } from '../../controller/pipeline';
import { OFPP_LOCAL } from '../../southbound/codec';
import type { FlowMod, Port } from '../../southbound/codec';
import type { Connection } from '../../southbound/channel';
// a seeded PRNG, so a failing sequence can be replayed by its seed
import { seededRandom as prng } from '../../bench/multihost/common';

const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);
/** A bridge's flows as the reconciler sees them: key -> body, sorted (same flows, same bodies). */
const canon = (fs: FlowMod[]) => fs.map((f) => `${flowKey(f)} => ${JSON.stringify([f.instructions, f.idle_timeout, f.hard_timeout, f.cookie], big)}`).sort();

function port(port_no: number, name: string, hw = `02:00:00:00:${((port_no >> 8) & 0xff).toString(16).padStart(2, '0')}:${(port_no & 0xff).toString(16).padStart(2, '0')}`): Port {
  return { port_no, hw_addr: hw, name, config: 0, state: 0, curr: 0, advertised: 0, supported: 0, peer: 0, curr_speed: 0, max_speed: 0 };
}

interface World {
  svc: ContainerService;
  src: ContainerFlowSource;
  conns: Map<string, { ports: Port[] }>;
  cleanup(): void;
}

function world(): World {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-incr-'));
  const store = new Store(path.join(dir, 'weft.db'));
  const conns = new Map<string, { ports: Port[] }>();
  const connOf = (dpid: string) => conns.get(dpid) as unknown as Connection | undefined;
  const svc = new ContainerService(store, connOf, new EventBus(), pino({ level: 'silent' }), 1);
  const src = new ContainerFlowSource(svc, () => new Map([['192.168.50.1', '02:00:00:00:99:01']]), 5000);
  svc.useFlowSource(src);
  return { svc, src, conns, cleanup: () => { store.db.close(); fs.rmSync(dir, { recursive: true, force: true }); } };
}

const NETWORKS = [
  { name: 'ov1', cidr: '10.61.0.0/24', mode: 'overlay', blockSize: 28 },
  { name: 'ov2', cidr: '10.62.0.0/24', mode: 'overlay', blockSize: 28 },
  { name: 'lo1', cidr: '10.63.0.0/24', mode: 'local', blockSize: 28 },
  { name: 'rt1', cidr: '10.64.0.0/24', mode: 'routed', blockSize: 28 },
  { name: 'ul1', cidr: '10.65.0.0/24', mode: 'underlay', vlan: 65 },
  { name: 'ul2', cidr: '10.66.0.0/24', mode: 'underlay', vlan: 66, macMode: 'shared' },
  // encrypted: through the secure tunnel to the peers' VTEPs, once the host has it
  { name: 'ov4', cidr: '10.67.0.0/24', mode: 'overlay', blockSize: 28, encrypted: true, mtu: 1350 },
  { name: 'rt2', cidr: '10.68.0.0/24', mode: 'routed', blockSize: 28, encrypted: true, mtu: 1350 },
  // overlaps ov1: not routable from it
  { name: 'ov3', cidr: '10.61.0.0/24', mode: 'overlay', blockSize: 28 },
];
const LABELS: Record<string, string>[] = [{ app: 'web' }, { app: 'db' }, { app: 'web', tier: 'front' }, {}];

function policy(name: string, r: () => number) {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const rule = () => ({
    action: pick(['allow', 'allow', 'deny'] as const),
    ...(r() < 0.7 ? { peers: [r() < 0.6 ? { selector: { matchLabels: { app: pick(['web', 'db']) } } } : { cidr: pick(['10.61.0.0/24', '10.64.0.16/28', '0.0.0.0/0']) }] } : {}),
    ...(r() < 0.5 ? { ports: [{ protocol: pick(['tcp', 'udp'] as const), port: pick([80, 443, 5432]) }] } : {}),
  });
  return {
    name, priority: 1 + Math.floor(r() * 200), selector: { matchLabels: { app: pick(['web', 'db']) } },
    // at least one direction (an empty list isolates; none is refused)
    ...(r() < 0.8 ? { ingress: r() < 0.1 ? [] : [rule(), ...(r() < 0.4 ? [rule()] : [])] } : { egress: [rule()] }),
    ...(r() < 0.5 ? { egress: [rule()] } : {}),
  };
}

/** Deltas applied to the reconciler-like copy, and full comparisons (a full delta, or one that did not fit), over all runs. */
const deltas = { applied: 0, full: 0 };

/** Apply a delta as the reconciler does (removed: the flow must be the desired one of its key; added: the key must be free); false if it does not fit. */
function applyDelta(m: Map<string, FlowMod>, d: { added: FlowMod[]; removed: FlowMod[] }): boolean {
  for (const f of d.removed) { const k = flowKey(f); if (m.get(k) !== f) return false; m.delete(k); }
  for (const f of d.added) { const k = flowKey(f); if (m.has(k)) return false; m.set(k, f); }
  return true;
}

/** One random sequence; after some steps, every bridge's cached flows are compared with a computation from scratch. */
async function run(seed: number, steps: number): Promise<{ checks: number; ops: Record<string, number> }> {
  const r = prng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const w = world();
  const ops: Record<string, number> = {};
  let checks = 0;
  let nHosts = 0, nEps = 0, nPol = 0, nSvc = 0;
  const hosts: { name: string; dpid: string; phy: string }[] = [];
  // each bridge's desired flows by key as a reconciler keeps them, from deltas
  const mirror = new Map<string, Map<string, FlowMod>>();
  const check = (what: string) => {
    for (const h of w.svc.resources.hosts()) {
      for (const d of [h.dpid, h.phyDpid]) {
        if (!d) continue;
        assert.deepEqual(w.src.desiredGroups(d), w.src.scratchGroups(d), `seed ${seed}, after ${what}: groups of ${h.name} differ from scratch`);
        const flows = w.src.desiredFlows(d);
        const cached = canon(flows);
        const scratch = canon(w.src.scratchFlows(d));
        assert.deepEqual(cached, scratch, `seed ${seed}, after ${what}: ${d === h.dpid ? 'br-int' : 'br-phy'} of ${h.name} differs from scratch`);
        checks++;
        // the reconciler keeps the desired flows by key and applies the source's deltas to them: they must come to the same
        const keyed = new Map(flows.map((f) => [flowKey(f), f]));
        const delta = w.src.takeDelta(d);
        const m = mirror.get(d);
        if (!delta || delta.full || !m || !applyDelta(m, delta)) { mirror.set(d, keyed); deltas.full++; continue; }
        assert.deepEqual([...m.keys()].sort(), [...keyed.keys()].sort(), `seed ${seed}, after ${what}: delta-applied keys of ${h.name} differ`);
        for (const [k, f] of keyed) assert.equal(m.get(k), f, `seed ${seed}, after ${what}: delta-applied flow ${k} of ${h.name} is another object`);
        deltas.applied++;
      }
    }
  };
  try {
    for (let i = 0; i < steps; i++) {
      const x = r();
      const eps = w.svc.resources.endpoints();
      let op: string;
      if (x < 0.08 || !hosts.length) {
        op = 'host add';
        const n = ++nHosts;
        const h = { name: `h${n}`, dpid: (0xa00 + n).toString(16).padStart(16, '0'), phy: (0xb00 + n).toString(16).padStart(16, '0') };
        w.svc.createHost({ name: h.name, dpid: h.dpid, underlayIp: `192.168.50.${10 + n}`, phyDpid: h.phy, underlayGateway: '192.168.50.1', underlayPrefix: 24 });
        hosts.push(h);
        // br-int connects with its tunnel and (mostly) its patch port
        w.conns.set(h.dpid, { ports: [port(1, TUNNEL_PORT), ...(r() < 0.8 ? [port(2, PATCH_PORT)] : []), ...(r() < 0.7 ? [port(3, SECURE_TUNNEL_PORT)] : [])] });
      } else if (x < 0.12) {
        op = 'host remove';
        const h = pick(hosts);
        for (const e of eps.filter((e) => e.host === h.name)) await w.svc.deleteEndpoint(e.id);
        w.svc.deleteHost(h.name);
        hosts.splice(hosts.indexOf(h), 1);
        w.conns.delete(h.dpid); w.conns.delete(h.phy);
      } else if (x < 0.17) {
        // br-phy (re)connects, with one of two MACs, or goes
        const h = pick(hosts);
        if (r() < 0.2) { op = 'br-phy goes'; w.conns.delete(h.phy); } else {
          op = 'br-phy connects';
          const m = `${Math.floor(r() * 2)}${hosts.indexOf(h).toString(16).padStart(1, '0')}`.padStart(2, '0').slice(-2);
          w.conns.set(h.phy, { ports: [port(OFPP_LOCAL, 'br-phy', `02:ff:00:00:00:${m}`), port(1, 'eth1', `02:ee:00:00:00:${m}`), port(2, PHY_PATCH_PORT)] });
        }
      } else if (x < 0.19) {
        // the IPsec agent makes (or loses) the host's secure tunnel port
        const h = pick(hosts);
        const c = w.conns.get(h.dpid)!;
        const had = c.ports.some((p) => p.name === SECURE_TUNNEL_PORT);
        op = had ? 'secure port goes' : 'secure port appears';
        c.ports = had ? c.ports.filter((p) => p.name !== SECURE_TUNNEL_PORT) : [...c.ports, port(3, SECURE_TUNNEL_PORT)];
      } else if (x < 0.25) {
        // an endpoint's port appears late, or comes back with another number
        op = 'port appears';
        const e = eps.length ? pick(eps) : undefined;
        const h = e && hosts.find((x) => x.name === e.host);
        if (!e || !h) continue;
        const c = w.conns.get(h.dpid)!;
        c.ports = [...c.ports.filter((p) => p.name !== e.portName), port(r() < 0.5 ? e.ofportRequest! : 600 + Math.floor(r() * 50), e.portName)];
      } else if (x < 0.3) {
        op = 'network add';
        const spec = pick(NETWORKS);
        if (w.svc.resources.network(spec.name)) { op = 'network delete'; try { w.svc.deleteNetwork(spec.name); } catch { op = 'network delete refused'; } }
        else { try { w.svc.createNetwork(spec); } catch { op = 'network add refused'; } }
      } else if (x < 0.6) {
        op = 'attach';
        const nets = w.svc.resources.networks();
        if (!nets.length) { w.svc.createNetwork(NETWORKS[0]!); continue; }
        // routed networks need the most state (br-phy MACs on both ends): more of them
        const n = (r() < 0.3 && nets.find((x) => x.mode === 'routed')) || pick(nets), h = pick(hosts);
        const mac = r() < 0.15 ? `02:aa:00:00:${(nEps >> 8).toString(16).padStart(2, '0')}:${(nEps & 0xff).toString(16).padStart(2, '0')}` : undefined;
        try {
          const { endpoint } = w.svc.createEndpoint({ containerId: `c${++nEps}`, ifName: 'eth0', host: h.name, network: n.name, labels: pick(LABELS), ...(mac ? { mac } : {}),
            ...(r() < 0.1 ? { portMappings: [{ hostPort: 8000 + nEps, containerPort: 80 }] } : {}) });
          // the port appears (with the number asked for, or another), now or never
          const c = w.conns.get(h.dpid)!;
          const y = r();
          if (y < 0.6) c.ports = [...c.ports, port(endpoint.ofportRequest!, endpoint.portName)];
          else if (y < 0.8) c.ports = [...c.ports, port(500 + nEps, endpoint.portName)];
        } catch (e) { op = `attach refused`; void e; }
      } else if (x < 0.72) {
        op = 'detach';
        if (!eps.length) continue;
        const e = pick(eps);
        await w.svc.deleteEndpoint(e.id);
        const c = w.conns.get(hosts.find((h) => h.name === e.host)!.dpid);
        if (c && r() < 0.7) c.ports = c.ports.filter((p) => p.name !== e.portName);
      } else if (x < 0.81) {
        op = 'label change';
        if (!eps.length) continue;
        await w.svc.updateEndpoint(pick(eps).id, { labels: pick(LABELS) });
      } else if (x < 0.86) {
        op = 'policy create';
        await w.svc.putPolicy(policy(`p${++nPol % 4}`, r), { create: false });
      } else if (x < 0.9) {
        // a service on a network with endpoints, of a selector (backends follow labels and readiness) or listed endpoints
        op = 'service create';
        const n = eps.length ? w.svc.resources.network(pick(eps).network) : undefined;
        if (!n || n.mode === 'underlay') continue;
        const name = `s${++nSvc % 3}`;
        if (w.svc.resources.services().some((x) => x.name === name)) { op = 'service delete'; await w.svc.deleteService(name); } else {
          const base = n.cidr.split('/')[0]!.split('.').slice(0, 3).join('.');
          try {
            await w.svc.createService({ name, network: n.name, vip: `${base}.${240 + (nSvc % 10)}`, ports: [{ protocol: pick(['tcp', 'udp']), port: 80, targetPort: 8080 }],
              ...(r() < 0.5 ? { selector: { matchLabels: { app: 'web' } } } : { endpoints: eps.filter((e) => e.network === n.name).slice(0, 3).map((e) => e.id) }),
              ...(r() < 0.3 ? { affinity: 'clientIP' } : {}) });
          } catch { op = 'service create refused'; }
        }
      } else {
        op = 'policy delete';
        const ps = w.svc.resources.policies();
        if (!ps.length) continue;
        await w.svc.deletePolicy(pick(ps).name);
      }
      ops[op] = (ops[op] ?? 0) + 1;
      // not after every step: the caches must also follow several changes at once
      if (r() < 0.6) check(`step ${i} (${op})`);
    }
    check('the end');
  } finally {
    w.cleanup();
  }
  return { checks, ops };
}

test('cached incremental flows equal flows computed from scratch, over random sequences of changes', async () => {
  const total: Record<string, number> = {};
  let checks = 0;
  for (let seed = 1; seed <= 16; seed++) {
    const out = await run(seed, 80);
    checks += out.checks;
    for (const [k, v] of Object.entries(out.ops)) total[k] = (total[k] ?? 0) + v;
  }
  // every kind of change happened, and was checked many times
  for (const op of ['host add', 'host remove', 'br-phy connects', 'br-phy goes', 'port appears', 'attach', 'detach', 'label change', 'policy create', 'policy delete', 'network add', 'network delete', 'service create', 'service delete', 'secure port appears', 'secure port goes']) {
    assert.ok((total[op] ?? 0) > 0, `no ${op} in the sequences: ${JSON.stringify(total)}`);
  }
  assert.ok(checks > 200, `only ${checks} comparisons`);
  // many comparisons went through a delta (the others: br-phy bridges, which have none, a change of the host's context, a first computation)
  assert.ok(deltas.applied > 500, `deltas applied ${deltas.applied}, full ${deltas.full}`);
  console.log(`# deltas applied ${deltas.applied}, full ${deltas.full}`);
});

test('after one attach only that endpoint\'s flows are computed again on its host', async () => {
  const w = world();
  try {
    w.svc.createNetwork(NETWORKS[0]!);
    const hs = ['a', 'b', 'c'].map((n, i) => {
      const dpid = (0xc00 + i).toString(16).padStart(16, '0');
      w.svc.createHost({ name: n, dpid, underlayIp: `192.168.51.${i + 2}` });
      w.conns.set(dpid, { ports: [port(1, TUNNEL_PORT)] });
      return { name: n, dpid };
    });
    for (let i = 0; i < 12; i++) w.svc.createEndpoint({ containerId: `c${i}`, ifName: 'eth0', host: hs[i % 3]!.name, network: 'ov1' });
    const before = w.src.desiredFlows(hs[0]!.dpid);
    const stats = () => w.src.cacheStats(hs[0]!.dpid)!;
    const s0 = { ...stats() };
    w.svc.createEndpoint({ containerId: 'new', ifName: 'eth0', host: 'a', network: 'ov1' });
    const after = w.src.desiredFlows(hs[0]!.dpid);
    const s1 = stats();
    assert.equal(s1.computed - s0.computed, 2, 'two items computed: the new endpoint, and the services (computed every time)');
    assert.ok(s1.reused - s0.reused >= 6, `the rest reused (${s1.reused - s0.reused})`);
    // the flows that did not change are the same objects (the reconciler's keys and bodies are kept by object)
    const old = new Set(before);
    assert.equal(after.filter((f) => !old.has(f)).length, 3, 'three new flow objects: the endpoint\'s spoof guards and delivery');
    assert.deepEqual(canon(after), canon(w.src.scratchFlows(hs[0]!.dpid)));
    // another host claims a block: on this host, the blocks' section and the new block are computed, the other blocks reused by section
    const blocks = () => w.svc.ipam.allBlocks().length;
    const n0 = blocks();
    for (let i = 0; blocks() === n0 && i < 40; i++) w.svc.createEndpoint({ containerId: `b${i}`, ifName: 'eth0', host: 'b', network: 'ov1' });
    assert.equal(blocks(), n0 + 1, 'host b claimed a block');
    w.src.takeDelta(hs[0]!.dpid); // as a sync would: what came before is applied
    const s2 = { ...stats() };
    const third = w.src.desiredFlows(hs[0]!.dpid);
    const s3 = stats();
    assert.equal(s3.computed - s2.computed, 7, 'seven items computed: the sections over the blocks and over the remote exceptions (both read the blocks), the nodes of the block tree on the new block\'s path (three levels), the new block, and the services (computed every time)');
    // and the lookups of that computation: the path through the tree (8 per level) and the leaf's blocks, not one per block or bucket
    assert.ok(s3.reused - s2.reused <= 3 * 8 + 10, `${s3.reused - s2.reused} items reused`);
    // the delta since the last take names the new route only
    const d = w.src.takeDelta(hs[0]!.dpid)!;
    assert.equal(d.full, false);
    assert.deepEqual(d.removed, []);
    assert.deepEqual(d.added, third.filter((f) => !new Set(after).has(f)));
    assert.equal(third.filter((f) => !new Set(after).has(f)).length, 1, 'one new flow object: the route to the new block');
    assert.deepEqual(canon(third), canon(w.src.scratchFlows(hs[0]!.dpid)));
  } finally {
    w.cleanup();
  }
});

test('Ipam keeps its list of blocks until a block row changes: a claim, a release, a host unregistered, a network deleted, a rolled-back claim', async () => {
  const w = world();
  try {
    const ipam = w.svc.ipam;
    const l0 = ipam.allBlocks();
    assert.equal(ipam.allBlocks(), l0, 'nothing changed: the same array');
    w.svc.createNetwork(NETWORKS[0]!);
    w.svc.createHost({ name: 'ka', dpid: '0000000000000e01', underlayIp: '192.168.53.2' });
    w.svc.createHost({ name: 'kb', dpid: '0000000000000e02', underlayIp: '192.168.53.3' });
    assert.equal(ipam.allBlocks(), l0, 'networks and hosts are not blocks');
    const e1 = w.svc.createEndpoint({ containerId: 'k1', ifName: 'eth0', host: 'ka', network: 'ov1' }).endpoint;
    const l1 = ipam.allBlocks();
    assert.notEqual(l1, l0);
    assert.deepEqual(l1.map((b) => b.host), ['ka']);
    assert.ok(Object.isFrozen(l1) && Object.isFrozen(l1[0]));
    // an endpoint in a block already claimed changes no block
    const e2 = w.svc.createEndpoint({ containerId: 'k2', ifName: 'eth0', host: 'ka', network: 'ov1' }).endpoint;
    assert.equal(ipam.allBlocks(), l1);
    // a claim that rolls back (the transaction fails after it) leaves the list as it was
    assert.throws(() => w.svc.store.tx(() => { ipam.allocate(w.svc.resources.network('ov1')!, 'kb'); throw new Error('rolled back'); }), /rolled back/);
    assert.deepEqual(ipam.allBlocks().map((b) => b.host), ['ka']);
    // ... even when the list was read inside it, and the next write is another claim (a count would repeat)
    assert.throws(() => w.svc.store.tx(() => {
      ipam.allocate(w.svc.resources.network('ov1')!, 'kb');
      assert.deepEqual(ipam.allBlocks().map((b) => b.host), ['ka', 'kb']);
      throw new Error('rolled back');
    }), /rolled back/);
    w.svc.store.tx(() => w.svc.store.db.prepare('INSERT INTO blocks (network_id, base, len, host) VALUES (?, ?, ?, ?)').run(w.svc.resources.network('ov1')!.id, ipToInt('10.61.0.224'), 28, 'kb'));
    assert.deepEqual(ipam.allBlocks().map((b) => [b.host, intToIp(b.base)]), [['ka', '10.61.0.0'], ['kb', '10.61.0.224']]);
    w.svc.store.db.prepare('DELETE FROM blocks WHERE host = ?').run('kb');
    assert.deepEqual(ipam.allBlocks().map((b) => b.host), ['ka']);
    // released when its last endpoint goes
    await w.svc.deleteEndpoint(e1.id);
    assert.equal(ipam.allBlocks().length, 1);
    await w.svc.deleteEndpoint(e2.id);
    assert.deepEqual(ipam.allBlocks(), []);
    // a host's blocks released with it (UPDATE ... SET host = NULL, by SQL the view never sees)
    w.svc.createEndpoint({ containerId: 'k3', ifName: 'eth0', host: 'kb', network: 'ov1' });
    assert.deepEqual(ipam.allBlocks().map((b) => b.host), ['kb']);
    w.svc.store.db.prepare('UPDATE blocks SET host = NULL WHERE host = ?').run('kb');
    assert.deepEqual(ipam.allBlocks().map((b) => b.host), [null]);
    // every read agrees with the table
    const rows = w.svc.store.db.prepare('SELECT network_id, base, len, host FROM blocks ORDER BY network_id, base').all() as { network_id: number; base: number; len: number; host: string | null }[];
    assert.deepEqual(ipam.allBlocks().map((b) => [b.networkId, b.base, b.len, b.host]), rows.map((r) => [r.network_id, r.base, r.len, r.host]));
  } finally {
    w.cleanup();
  }
});

test('the block tree: every block in one leaf, in order; a claim makes new arrays on one path only, the rest keep their identity', () => {
  const blocks: Block[] = Array.from({ length: 1000 }, (_, i) => ({ networkId: 1 + (i % 3), base: 0x0a000000 + i * 256, len: 24, host: `h${i}` }));
  const t1 = blockTree(blocks);
  const leaves = (t: BlockTree, d: number): Block[][] => (d === 0 ? [t as Block[]] : (t as BlockTree[]).flatMap((c) => leaves(c, d - 1)));
  const l1 = leaves(t1, BLOCK_TREE_DEPTH);
  assert.equal(l1.length, BLOCK_FANOUT ** BLOCK_TREE_DEPTH);
  assert.equal(l1.flat().length, 1000);
  assert.equal(new Set(l1.flat()).size, 1000);
  for (const l of l1) for (let i = 1; i < l.length; i++) assert.ok(blocks.indexOf(l[i - 1]!) < blocks.indexOf(l[i]!));
  // the same blocks: the same tree
  assert.equal(blockTree([...blocks], t1), t1);
  // one more block: the root and one node per level are new, every other node is the old one
  const nb: Block = { networkId: 2, base: 0x0b000000, len: 24, host: 'new' };
  const t2 = blockTree([...blocks, nb], t1);
  assert.notEqual(t2, t1);
  let changed = 0, kept = 0;
  const walk = (a: BlockTree, b: BlockTree, d: number): void => {
    if (a === b) { kept++; return; }
    changed++;
    if (d > 0) (a as BlockTree[]).forEach((c, i) => walk(c, (b as BlockTree[])[i]!, d - 1));
  };
  walk(t2, t1, BLOCK_TREE_DEPTH);
  assert.equal(changed, BLOCK_TREE_DEPTH + 1, 'the root and one node per level');
  assert.equal(kept, BLOCK_TREE_DEPTH * (BLOCK_FANOUT - 1));
  assert.ok(leaves(t2, BLOCK_TREE_DEPTH).some((l) => l.includes(nb)));
});

test('hosts that see another host\'s block alike share its route\'s flow objects; a host whose context differs gets its own', async () => {
  const w = world();
  try {
    w.svc.createNetwork(NETWORKS[0]!);
    const hs = ['a', 'b', 'c', 'd'].map((n, i) => {
      const dpid = (0xd00 + i).toString(16).padStart(16, '0');
      w.svc.createHost({ name: n, dpid, underlayIp: `192.168.52.${i + 2}` });
      // d's tunnel port has another number: its routes output elsewhere
      w.conns.set(dpid, { ports: [port(n === 'd' ? 7 : 1, TUNNEL_PORT)] });
      return { name: n, dpid };
    });
    for (const h of hs) w.svc.createEndpoint({ containerId: `c-${h.name}`, ifName: 'eth0', host: h.name, network: 'ov1' });
    const blockOfC = w.svc.ipam.allBlocks().find((b) => b.host === 'c')!;
    // a block's flows carry its id in their cookie
    const flowsOf = (dpid: string, b: { networkId: number; base: number }) => w.src.desiredFlows(dpid).filter((f) => Number(f.cookie & 0xffffffffn) === objectId(`${b.networkId}/${b.base}`));
    const routeTo = (dpid: string) => flowsOf(dpid, blockOfC);
    const [ra, rb, rd] = [routeTo(hs[0]!.dpid), routeTo(hs[1]!.dpid), routeTo(hs[3]!.dpid)];
    assert.equal(ra.length, 1, 'a routes to c\'s block');
    assert.equal(ra[0], rb[0], 'a and b hold the same object for it');
    assert.equal(rd.length, 1);
    assert.notEqual(rd[0], ra[0], 'd (another tunnel port) has its own');
    assert.notDeepEqual(rd[0]!.instructions, ra[0]!.instructions);
    // each is what a computation from scratch gives
    for (const h of hs) assert.deepEqual(canon(w.src.desiredFlows(h.dpid)), canon(w.src.scratchFlows(h.dpid)));
    // c's host record changes (another underlay address): both compute the route again, and still share it
    for (const e of w.svc.resources.endpoints({ host: 'c' })) await w.svc.deleteEndpoint(e.id);
    w.svc.deleteHost('c');
    w.svc.createHost({ name: 'c', dpid: hs[2]!.dpid, underlayIp: '192.168.52.99' });
    w.svc.createEndpoint({ containerId: 'c-c2', ifName: 'eth0', host: 'c', network: 'ov1' });
    const blockOfC2 = w.svc.ipam.allBlocks().find((b) => b.host === 'c')!;
    const to = (dpid: string) => flowsOf(dpid, blockOfC2);
    const [a2, b2] = [to(hs[0]!.dpid), to(hs[1]!.dpid)];
    assert.equal(a2.length, 1);
    assert.equal(a2[0], b2[0]);
    assert.ok(JSON.stringify(a2[0]!.instructions, big).includes('192.168.52.99'), 'the route leads to c\'s new address');
    for (const h of hs) assert.deepEqual(canon(w.src.desiredFlows(h.dpid)), canon(w.src.scratchFlows(h.dpid)));
    await w.svc.resyncAll(); // (the host's removal started one: it ends before the store closes)
  } finally {
    w.cleanup();
  }
});

test('encrypted networks: VTEPs given with no event (a new range configured, a full range) never leave the view stale', async () => {
  const w = world();
  try {
    w.svc.createNetwork({ name: 'sec', cidr: '10.69.0.0/24', mode: 'overlay', blockSize: 28, encrypted: true, mtu: 1350 });
    const hs = ['a', 'b', 'c'].map((n, i) => {
      const dpid = (0xd00 + i).toString(16).padStart(16, '0');
      w.svc.createHost({ name: n, dpid, underlayIp: `192.168.52.${i + 2}` });
      w.conns.set(dpid, { ports: [port(1, TUNNEL_PORT), port(3, SECURE_TUNNEL_PORT)] });
      return { name: n, dpid };
    });
    for (let i = 0; i < 6; i++) w.svc.createEndpoint({ containerId: `c${i}`, ifName: 'eth0', host: hs[i % 3]!.name, network: 'sec' });
    const same = () => { for (const h of hs) assert.deepEqual(canon(w.src.desiredFlows(h.dpid)), canon(w.src.scratchFlows(h.dpid)), `br-int of ${h.name}`); };
    same();
    // a new range moves every VTEP (no host event): the view follows
    w.svc.ipsec.configure({ vtepCidr: '198.19.0.0/29' });
    assert.ok(w.svc.resources.hosts().every((h) => h.ipsecVtep?.startsWith('198.19.0.')));
    same();
    // the range is full (6 addresses): a host is still registered and seen, without a VTEP, and nothing goes to it in clear
    const more = [3, 4, 5, 6].map((i) => {
      const dpid = (0xd00 + i).toString(16).padStart(16, '0');
      w.svc.createHost({ name: `x${i}`, dpid, underlayIp: `192.168.52.${i + 2}` });
      w.conns.set(dpid, { ports: [port(1, TUNNEL_PORT), port(3, SECURE_TUNNEL_PORT)] });
      return { name: `x${i}`, dpid };
    });
    assert.equal(w.svc.resources.host('x6')?.ipsecVtep ?? null, null);
    w.svc.createEndpoint({ containerId: 'late', ifName: 'eth0', host: 'x6', network: 'sec' });
    hs.push(...more);
    same();
  } finally {
    w.cleanup();
  }
});
