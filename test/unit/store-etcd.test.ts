// The etcd store against a real etcd (3 members on loopback ports, started
// from /usr/bin/etcd and stopped by pid): compare-and-swap IPAM from two
// store instances (no address twice), the watch carrying one controller's
// writes to another (with the same events), 503 without a quorum while
// reads go on, and recovery when the quorum is back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { EtcdStore } from '../../controller/store-etcd';
import { ETCD_DEFAULTS, EtcdOptions, parseEtcdUrl } from '../../controller/etcd-link';
import { ContainerService } from '../../controller/container-service';
import { EventBus, Stamped, WeftEvent } from '../../controller/events';
import { WeftError } from '../../controller/errors';
import { Tokens } from '../../controller/tokens';
import { EtcdCluster, etcdAvailable } from '../helpers/etcd';
import { waitFor } from '../helpers/wait';

const skip = etcdAvailable() ? false : 'no /usr/bin/etcd (apt-get install etcd-server)';
let etcd: EtcdCluster;
const open: EtcdStore[] = [];
let n = 0;

function opts(prefix: string, over: Partial<EtcdOptions> = {}): EtcdOptions {
  return { ...ETCD_DEFAULTS, endpoints: etcd.endpoints, prefix, campaign: false, memberId: `t${++n}`, ...over };
}

function node(prefix: string) {
  const store = new EtcdStore(opts(prefix));
  open.push(store);
  const bus = new EventBus();
  const events: Stamped[] = [];
  bus.on('*', (e) => events.push(e));
  const svc = new ContainerService(store, () => undefined, bus, pino({ level: 'silent' }), 1);
  return { store, bus, svc, events };
}

before(async () => { if (!skip) etcd = await EtcdCluster.start(3); });
after(async () => {
  for (const s of open) await s.closeAsync().catch(() => undefined);
  await etcd?.stop();
});

test('parseEtcdUrl takes HOST:PORT lists and names what is wrong', () => {
  assert.deepEqual(parseEtcdUrl('etcd://127.0.0.1:2379,etcd-2:2379'), ['127.0.0.1:2379', 'etcd-2:2379']);
  assert.throws(() => parseEtcdUrl('etcd://127.0.0.1'), /not HOST:PORT/);
  assert.throws(() => parseEtcdUrl('etcd://h:99999'), /not HOST:PORT/);
  assert.throws(() => parseEtcdUrl('http://h:1'), /--store/);
});

test('two stores allocate from one network concurrently: no address twice, blocks claimed once', { skip }, async () => {
  const a = node('/t-ipam/');
  const b = node('/t-ipam/');
  a.svc.createHost({ name: 'h1', dpid: '0000000000000001', underlayIp: '172.31.234.1' });
  a.svc.createHost({ name: 'h2', dpid: '0000000000000002', underlayIp: '172.31.234.2' });
  a.svc.createNetwork({ name: 'n', cidr: '10.77.0.0/25', blockSize: 28 });
  await waitFor(() => b.svc.resources.network('n') && b.svc.resources.host('h2'), { what: 'b sees the network and hosts' });
  // interleaved without yielding: each store writes on a replica that has not seen the other's last write
  const ips: string[] = [];
  const refused: string[] = [];
  for (let i = 0; i < 70; i++) {
    for (const [s, h] of [[a, 'h1'], [b, 'h2']] as const) {
      try {
        ips.push(s.svc.createEndpoint({ containerId: `${h}-c${i}`, ifName: 'eth0', host: h, network: 'n' }).endpoint.ip);
      } catch (e) {
        assert.ok(e instanceof WeftError && e.code === 'exhausted', `only exhaustion may refuse: ${(e as Error).message}`);
        refused.push(h);
      }
    }
  }
  assert.equal(new Set(ips).size, ips.length, 'an address was given out twice');
  // 10.77.0.0/25: 128 addresses less network, broadcast and gateway
  assert.equal(ips.length, 125);
  assert.ok(a.store.stats.conflicts + b.store.stats.conflicts > 0, 'the stores never conflicted: the test did not race');
  await waitFor(() => a.store.revision === b.store.revision && a.store.revision > 0, { what: 'replicas converge' });
  const blocksA = a.svc.ipam.blocks(a.svc.resources.network('n')!.id);
  assert.deepEqual(b.svc.ipam.blocks(b.svc.resources.network('n')!.id), blocksA);
  assert.equal(new Set(blocksA.map((x) => x.cidr)).size, blocksA.length);
  assert.deepEqual(b.svc.resources.endpoints().map((e) => e.ip).sort(), [...ips].sort());
  console.log(`# 140 attaches from two stores: ${ips.length} addresses, ${refused.length} refused (exhausted), conflicts retried: a ${a.store.stats.conflicts}, b ${b.store.stats.conflicts}`);
});

test('a write through one store reaches the other with the events a local write emits', { skip }, async () => {
  const a = node('/t-watch/');
  const b = node('/t-watch/');
  a.svc.createHost({ name: 'h1', dpid: '00000000000000a1', underlayIp: '172.31.234.11' });
  a.svc.createNetwork({ name: 'w', cidr: '10.78.0.0/24' });
  const bBlocks = b.svc.ipam.allBlocks();
  const { endpoint } = a.svc.createEndpoint({ containerId: 'c1', ifName: 'eth0', host: 'h1', network: 'w' });
  const seen = (t: WeftEvent['type']) => b.events.find((e) => e.type === t);
  await waitFor(() => seen('host.registered') && seen('network.created') && seen('endpoint.created'), { what: 'events on b' });
  // the block a claimed, applied to b's replica, is in b's list of blocks (kept between reads until a block row changes)
  assert.notEqual(b.svc.ipam.allBlocks(), bBlocks);
  assert.deepEqual(b.svc.ipam.allBlocks().map((x) => x.host), ['h1']);
  assert.equal(b.svc.ipam.allBlocks(), b.svc.ipam.allBlocks());
  assert.equal((seen("endpoint.created") as unknown as { endpoint: { ip: string } }).endpoint.ip, endpoint.ip);
  assert.equal(b.svc.resources.endpoint(endpoint.id)?.ip, endpoint.ip);
  // a waiter on b resolves when a marks the endpoint ready
  const ready = b.svc.waitReady(endpoint.id, 5000);
  a.svc.resources.setEndpointState(endpoint.id, 'ready', new Date().toISOString());
  assert.equal((await ready).state, 'ready');
  await b.svc.deleteEndpoint(endpoint.id);
  await waitFor(() => a.events.find((e) => e.type === 'endpoint.deleted') && !a.svc.resources.endpoint(endpoint.id), { what: 'a sees the delete' });
  // a local write emits nothing twice: b's own delete came back through the watch without an event
  assert.equal(b.events.filter((e) => e.type === 'endpoint.deleted').length, 1);
});

test('without a quorum writes get 503 and change nothing, reads go on; with it back, writes work again', { skip }, async () => {
  const a = node('/t-quorum/');
  a.svc.createHost({ name: 'h1', dpid: '00000000000000b1', underlayIp: '172.31.234.21' });
  a.svc.createNetwork({ name: 'q', cidr: '10.79.0.0/24' });
  // one member down: still a quorum
  await etcd.kill(2);
  a.svc.createEndpoint({ containerId: 'c-one-down', ifName: 'eth0', host: 'h1', network: 'q' });
  await etcd.kill(1);
  await waitFor(() => a.store.health().state === 'degraded', { what: 'the store sees the quorum lost' });
  const before = a.svc.resources.endpoints().length;
  assert.throws(() => a.svc.createEndpoint({ containerId: 'c-no-quorum', ifName: 'eth0', host: 'h1', network: 'q' }),
    (e: unknown) => e instanceof WeftError && e.status === 503 && e.code === 'store_unavailable');
  assert.equal(a.svc.resources.endpoints().length, before, 'a refused write changed the replica');
  assert.equal(a.svc.resources.network('q')?.cidr, '10.79.0.0/24');
  await etcd.restart(1);
  await etcd.restart(2);
  await waitFor(() => a.store.health().state === 'ok', { what: 'the store sees the quorum back', timeoutMs: 15000 });
  const e = await waitFor(() => a.svc.createEndpoint({ containerId: 'c-back', ifName: 'eth0', host: 'h1', network: 'q' }), { what: 'a write after recovery', timeoutMs: 15000 });
  const b = node('/t-quorum/');
  assert.equal(b.svc.resources.endpoint(e.endpoint.id)?.ip, e.endpoint.ip);
  assert.equal(b.svc.resources.endpoints({ containerId: 'c-no-quorum' }).length, 0);
});

test('a token revoked through one controller stops working on the others, which close what it opened (token.revoked)', { skip }, async () => {
  const a = node('/t-tokens/');
  const b = node('/t-tokens/');
  const ta = new Tokens(a.store);
  const tb = new Tokens(b.store);
  const { token, rec } = ta.create('admin');
  await waitFor(() => tb.verify(token)?.tokenId === rec.id, { what: 'b accepts the token made on a' });
  assert.equal(ta.delete(rec.id), true);
  await waitFor(() => tb.verify(token) === undefined, { what: 'b refuses the revoked token' });
  await waitFor(() => b.events.find((e) => e.type === 'token.revoked' && (e as unknown as { tokenId: string }).tokenId === rec.id), { what: 'token.revoked on b' });
});

test('a store larger than one gRPC message (4 MiB) is read at start in pages: a controller of 10,000 endpoints could not start', { skip }, async () => {
  const a = node('/t-big/');
  a.svc.createHost({ name: 'hb', dpid: '00000000000000b1', underlayIp: '172.31.234.31' });
  // 6 MiB of keys the replica does not know (they sort before the tables' rows, so the host is on a later page)
  const { Etcd3 } = await import('etcd3');
  const raw = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
  try {
    const value = 'x'.repeat(1500);
    for (let i = 0; i < 4200; i += 100) {
      const ops = Array.from({ length: 100 }, (_, j) => raw.put(`/t-big/data/aa-filler/${String(i + j).padStart(5, '0')}`).value(value));
      await raw.if('/t-big/none', 'Version', '==', 0).then(...ops).commit();
    }
  } finally {
    raw.close();
  }
  const b = node('/t-big/');
  assert.equal(b.svc.resources.host('hb')?.dpid, '00000000000000b1', 'the row after 6 MiB of others was read');
  // and the two stay one: a write through b reaches a
  b.svc.createHost({ name: 'hb2', dpid: '00000000000000b2', underlayIp: '172.31.234.32' });
  await waitFor(() => a.svc.resources.host('hb2'), { what: 'a sees b\'s write' });
});

test('a replica read again from etcd (after a change it could not apply) has every row back, and the listeners re-sync', { skip }, async () => {
  const a = node('/t-reload/');
  a.svc.createHost({ name: 'h1', dpid: '00000000000000d1', underlayIp: '172.31.234.41' });
  a.svc.createNetwork({ name: 'r', cidr: '10.80.0.0/24' });
  const e = a.svc.createEndpoint({ containerId: 'c1', ifName: 'eth0', host: 'h1', network: 'r' }).endpoint;
  const b = node('/t-reload/');
  let heard = 0;
  b.store.onRemoteChange((changes) => { if (changes.length === 0) heard++; });
  // the replica loses a row behind the store's back (as a change it could not apply would leave it)
  b.store.db.exec('PRAGMA foreign_keys = OFF');
  b.store.db.exec("DELETE FROM temp._weft_changes; DELETE FROM main.endpoints");
  b.store.db.exec('PRAGMA foreign_keys = ON');
  assert.equal(b.svc.resources.endpoint(e.id), undefined);
  b.store.reload();
  assert.equal(b.svc.resources.endpoint(e.id)?.ip, e.ip);
  assert.equal(b.svc.resources.network('r')?.cidr, '10.80.0.0/24');
  await waitFor(() => heard === 1, { what: 'listeners told' });
  // and writes go on from there
  const e2 = b.svc.createEndpoint({ containerId: 'c2', ifName: 'eth0', host: 'h1', network: 'r' }).endpoint;
  assert.notEqual(e2.ip, e.ip);
});

test('etcd authentication: --etcd-user with a password file opens the store; without it, the start fails naming etcd', { skip }, async () => {
  const sec = await EtcdCluster.start(1);
  try {
    const ep = sec.endpoints[0]!;
    const ctl = (...a: string[]) => execFileSync('/usr/bin/etcdctl', ['--endpoints', ep, ...a], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    ctl('user', 'add', 'root:rootpw');
    ctl('role', 'add', 'root');
    ctl('user', 'grant-role', 'root', 'root');
    ctl('user', 'add', 'weft:weftpw');
    ctl('role', 'add', 'weft');
    ctl('role', 'grant-permission', 'weft', '--prefix=true', 'readwrite', '/t-auth/');
    ctl('user', 'grant-role', 'weft', 'weft');
    ctl('auth', 'enable');
    const pw = path.join(sec.dir, 'pw');
    fs.writeFileSync(pw, 'weftpw\n', { mode: 0o600 });
    const s = new EtcdStore({ ...ETCD_DEFAULTS, endpoints: sec.endpoints, prefix: '/t-auth/', campaign: false, memberId: 'auth', user: 'weft', passwordFile: pw });
    try {
      const svc = new ContainerService(s, () => undefined, new EventBus(), pino({ level: 'silent' }), 1);
      svc.createHost({ name: 'h1', dpid: '00000000000000e1', underlayIp: '172.31.234.51' });
      assert.equal(svc.resources.host('h1')?.underlayIp, '172.31.234.51');
    } finally {
      await s.closeAsync();
    }
    assert.throws(() => new EtcdStore({ ...ETCD_DEFAULTS, endpoints: sec.endpoints, prefix: '/t-auth/', campaign: false, memberId: 'anon' }), /etcd .* could not be read at start/);
  } finally {
    await sec.stop();
  }
});

test('IPsec keys are the cluster\'s: every controller hands a host the same VTEPs, PSKs and key generation, a rekey through one reaches the others', { skip }, async () => {
  const a = node('/t-ipsec/');
  const b = node('/t-ipsec/');
  a.svc.ipsec.configure({});
  b.svc.ipsec.configure({});
  a.svc.createHost({ name: 'h1', dpid: '00000000000000b1', underlayIp: '172.31.234.21' });
  a.svc.createHost({ name: 'h2', dpid: '00000000000000b2', underlayIp: '172.31.234.22' });
  const cfg = (x: typeof a, h: string) => x.svc.ipsec.config(x.svc.resources.host(h)!, true);
  const view = (x: typeof a) => { const c = cfg(x, 'h1'); return JSON.stringify({ vtep: c.vtep, generation: c.generation, peers: c.peers.map((p) => [p.name, p.vtep, p.psk, p.generation]) }); };
  await waitFor(() => b.svc.resources.host('h2') && cfg(b, 'h1').peers.length === 1 && view(b) === view(a), { what: 'b has a\'s VTEPs and PSK' });
  assert.ok(cfg(a, 'h1').peers[0]!.psk, 'a PSK');
  const before = view(a);
  a.svc.ipsec.rekey('test');
  await waitFor(() => view(b) === view(a), { what: 'b has a\'s new PSK' });
  assert.notEqual(view(b), before);
  assert.equal(cfg(b, 'h1').generation, 2);
});

test('switch connects written in a batch (a local table) leave later writes going to etcd: another store sees them', { skip }, async () => {
  const a = node('/t-seen/');
  const b = node('/t-seen/');
  a.store.switchSeen('00000000000000c1', '127.0.0.1:1');
  a.store.switchSeen('00000000000000c2', '127.0.0.1:2');
  assert.equal(a.store.knownSwitches().length, 2, 'written (read flushes the batch)');
  // the batch's own transaction must not leave the store believing it is in one: this write goes to etcd
  a.svc.createHost({ name: 'seen1', dpid: '00000000000000c1', underlayIp: '172.31.234.31' });
  await waitFor(() => b.svc.resources.host('seen1'), { what: 'b sees the host written after the batch' });
  assert.equal(b.store.knownSwitches().length, 0, 'switches seen stay local');
});
