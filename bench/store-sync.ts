// What synchronous=FULL costs an attach, against NORMAL, in the same run,
// and what the etcd store (--store etcd://) costs against both: etcd with
// one member and with three (real /usr/bin/etcd on loopback ports, data in
// the same directory), each attach one etcd transaction; and how long a
// write takes to reach another controller's replica through the watch.
// Two stores (own files, same directory) each with a ContainerService, one
// host and one network; N endpoints are created through
// ContainerService.createEndpoint (validation, IPAM allocation and the
// endpoint's insert in one IMMEDIATE transaction: one commit each),
// alternating between the two stores so drift on the machine hits both
// alike. No switch is connected: this is the store's share of an attach.
// Prints per-attach p50/p90/p99/mean per mode and the difference, and the
// time PRAGMA quick_check takes on the resulting database (what a start
// pays). Asserts nothing.
//
//   npm run bench:store
//   BENCH_N=2000              endpoints per mode (default 2000)
//   BENCH_DIR=/var/lib/x      where the database files go (default the OS tmpdir;
//                             use the disk the controller's --db is on: the figure is its fsync)
//   BENCH_ETCD=0              leave etcd out (default: in, when /usr/bin/etcd exists)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { Store } from '../controller/store';
import { EventBus } from '../controller/events';
import { ContainerService } from '../controller/container-service';
import { EtcdStore } from '../controller/store-etcd';
import { ETCD_DEFAULTS } from '../controller/etcd-link';
import { EtcdCluster, etcdAvailable } from '../test/helpers/etcd';

const N = Math.max(1, Number(process.env.BENCH_N ?? 2000) | 0);
const BASE = process.env.BENCH_DIR ?? os.tmpdir();
const MODES = ['NORMAL', 'FULL'] as const;
type Mode = typeof MODES[number] | 'etcd x1' | 'etcd x3';
const WITH_ETCD = process.env.BENCH_ETCD !== '0' && etcdAvailable();

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const f = (ms: number): string => `${(ms * 1000).toFixed(0).padStart(6)} µs`;
const tick = () => new Promise<void>((r) => setImmediate(r));

interface Rig { mode: Mode; store: Store; svc: ContainerService; times: number[]; file: string }

function rig(dir: string, mode: Mode, etcd?: EtcdCluster): Rig {
  const file = path.join(dir, `${mode.toLowerCase()}.db`);
  let store: Store;
  if (etcd) {
    store = new EtcdStore({ ...ETCD_DEFAULTS, endpoints: etcd.endpoints, prefix: '/bench/', campaign: false, memberId: 'bench' });
  } else {
    store = new Store(file);
    store.db.pragma(`synchronous = ${mode}`);
    const got = store.db.pragma('synchronous', { simple: true });
    if (got !== (mode === 'FULL' ? 2 : 1)) throw new Error(`synchronous is ${got}, wanted ${mode}`);
  }
  const svc = new ContainerService(store, () => undefined, new EventBus(), pino({ level: 'silent' }), 1);
  svc.createHost({ name: 'node1', dpid: '0000000000000a01', underlayIp: '172.31.250.2' });
  svc.createNetwork({ name: 'bench', cidr: '10.64.0.0/14' });
  return { mode, store, svc, times: [], file };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(BASE, 'weft-bench-store-'));
  const clusters = WITH_ETCD ? [await EtcdCluster.start(1, dir), await EtcdCluster.start(3, dir)] : [];
  const rigs = [...MODES.map((m) => rig(dir, m)), ...clusters.map((c, i) => rig(dir, i ? 'etcd x3' : 'etcd x1', c))];
  // another controller's replica of the 3-member etcd: how long until a write is there
  const peer = clusters[1] && new EtcdStore({ ...ETCD_DEFAULTS, endpoints: clusters[1].endpoints, prefix: '/bench/', campaign: false, memberId: 'peer' });
  const lag: number[] = [];
  try {
    // warm-up (statement paths, page cache, the first block claim), not counted
    for (const r of rigs) for (let i = 0; i < 20; i++) r.svc.createEndpoint({ containerId: `warm${i}`, ifName: 'eth0', host: 'node1', network: 'bench' });
    await tick();
    for (let i = 0; i < N; i++) {
      // alternate which mode goes first
      for (const r of i % 2 ? [...rigs].reverse() : rigs) {
        const t0 = performance.now();
        r.svc.createEndpoint({ containerId: `c${i}`, ifName: 'eth0', host: 'node1', network: 'bench' });
        r.times.push(performance.now() - t0);
        if (peer && r.store instanceof EtcdStore && r.mode === 'etcd x3') {
          const want = r.store.revision;
          const t1 = performance.now();
          while (peer.revision < want) await tick();
          lag.push(performance.now() - t1);
        }
      }
      await tick(); // let the scheduled (no-op) resyncs run outside the timed part
    }
    console.log(`store-sync: ${N} attaches per mode (ContainerService.createEndpoint, one commit each), WAL, files in ${dir}`);
    console.log(`node ${process.version}, ${os.cpus().length} CPUs, ${os.platform()} ${os.release()}`);
    console.log('');
    console.log('mode           p50         p90         p99        mean         max');
    for (const r of rigs) {
      console.log(`${r.mode.padEnd(11)} ${f(pct(r.times, 50))}   ${f(pct(r.times, 90))}   ${f(pct(r.times, 99))}   ${f(mean(r.times))}   ${f(Math.max(...r.times))}`);
    }
    const [n, full] = rigs;
    console.log(`FULL-NORMAL ${f(pct(full.times, 50) - pct(n.times, 50))}   ${f(pct(full.times, 90) - pct(n.times, 90))}   ${f(pct(full.times, 99) - pct(n.times, 99))}   ${f(mean(full.times) - mean(n.times))}`);
    console.log(`FULL/NORMAL p50 x${(pct(full.times, 50) / pct(n.times, 50)).toFixed(2)}, mean x${(mean(full.times) / mean(n.times)).toFixed(2)}`);
    for (const r of rigs.slice(2)) console.log(`${r.mode}/FULL p50 x${(pct(r.times, 50) / pct(full.times, 50)).toFixed(2)}, p99 x${(pct(r.times, 99) / pct(full.times, 99)).toFixed(2)}, mean x${(mean(r.times) / mean(full.times)).toFixed(2)}`);
    if (lag.length) console.log(`etcd x3: a write reaches another controller's replica (watch) p50 ${f(pct(lag, 50))}, p99 ${f(pct(lag, 99))} after the writer's commit returned`);
    console.log('');
    for (const r of rigs.slice(0, 2)) r.store.close();
    // what the start-up check costs on a database of this size
    for (const r of [full]) {
      const size = fs.statSync(r.file).size;
      const qt: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const problem = Store.check(r.file);
        qt.push(performance.now() - t0);
        if (problem) throw new Error(problem);
      }
      console.log(`quick_check at start: ${(pct(qt, 50)).toFixed(2)} ms (median of 5) on ${(size / 1024).toFixed(0)} KiB, ${N + 20} endpoints`);
    }
  } finally {
    for (const r of rigs) { try { if (r.store instanceof EtcdStore) await r.store.closeAsync(); else r.store.close(); } catch { /* closed */ } }
    await peer?.closeAsync();
    for (const c of clusters) await c.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
