// What visibility costs (issue 13), the computed parts: POST /v1/traces
// (the path computed on the desired flows, controller/trace.ts) and GET
// /metrics (controller/metrics.ts). One in-process controller; each host's
// br-int is a scripted switch (FakeBrInt) that keeps its flows, answers
// barriers and flow stats, and has a vxlan0 port, so the overlay's tunnel
// flows exist and a cross-host trace crosses the tunnel. Everything goes
// through the API (app.inject, with the admin token): the figures include
// Fastify's routing, validation and serialisation, not a socket.
//
//   1. 3 hosts, one overlay network, 100 endpoints round-robin: computed
//      traces between random endpoint pairs on different hosts (warm-up,
//      then BENCH_TRACE_N), p50/p99/mean and the verdict mix.
//   2. Grown to 10 hosts and 1000 endpoints: the same traces again, then
//      GET /metrics scrapes (warm-up, then BENCH_SCRAPE_N), p50/p99/mean and
//      the body size.
//
// The live trace (`live: true`) injects a marked packet and needs real OVS
// datapaths: bench/live-trace.ts times it. Prints figures, asserts nothing.
//
//   npm run bench:visibility
//   BENCH_TRACE_N=300  BENCH_SCRAPE_N=50  BENCH_SEED=1
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { startController } from '../test/helpers/controller';
import { FakeBrInt } from '../test/helpers/cni-fake-api';
import { waitFor } from '../test/helpers/wait';
import type { Controller } from '../northbound/compose';
import { pct, mean, seededRandom } from './multihost/common';

const TRACE_N = Math.max(1, Number(process.env.BENCH_TRACE_N ?? 300) | 0);
const SCRAPE_N = Math.max(1, Number(process.env.BENCH_SCRAPE_N ?? 50) | 0);
const TRACE_WARM = 30, SCRAPE_WARM = 5;
const VXLAN_PORT = 10;

const ms = (x: number): string => `${x.toFixed(2)} ms`;

// seeded, so a run's pairs can be repeated
const rand = seededRandom(Number(process.env.BENCH_SEED ?? 1));

type Ctl = Controller & { cleanup(): Promise<void> };
interface Ep { id: string; host: string; portName: string; ofportRequest: number; state: string }
interface Host { name: string; dpid: string; br: FakeBrInt }
interface Answer { computed: { verdict: { result: string; endpoint?: string; host: string; table?: string; reason?: string } } }

async function req<T = unknown>(c: Ctl, method: string, url: string, body?: unknown): Promise<{ status: number; body: T; text: string }> {
  const r = await c.api!.inject({ method: method as 'GET', url, ...(body === undefined ? {} : { payload: body as object }) });
  let json: unknown;
  try { json = r.body && r.headers['content-type']?.toString().includes('json') ? r.json() : undefined; } catch { json = undefined; }
  return { status: r.statusCode, body: json as T, text: r.body };
}

async function must<T>(c: Ctl, method: string, url: string, body: unknown, want: number): Promise<T> {
  const r = await req<T>(c, method, url, body);
  if (r.status !== want) throw new Error(`${method} ${url}: ${r.status} ${r.text}`);
  return r.body;
}

async function addHosts(c: Ctl, hosts: Host[], upTo: number): Promise<void> {
  for (let i = hosts.length + 1; i <= upTo; i++) {
    const name = `vh${i}`;
    const dpid = (0xb000 + i).toString(16).padStart(16, '0');
    await must(c, 'POST', '/v1/hosts', { name, dpid, underlayIp: `172.30.77.${i}` }, 201);
    const br = await FakeBrInt.connect(c.ofPort, BigInt(`0x${dpid}`), { vxlan0: VXLAN_PORT });
    hosts.push({ name, dpid, br });
  }
  await waitFor(() => hosts.every((h) => c.registry.get(h.dpid) && h.br.table.flows.length > 0), { what: 'every br-int connected and synced', timeoutMs: 30_000 });
}

/** Endpoints round-robin over the hosts until there are `upTo`; each port appears on its br-int; waits until all are ready. */
async function addEndpoints(c: Ctl, hosts: Host[], eps: Ep[], upTo: number): Promise<void> {
  const byName = new Map(hosts.map((h) => [h.name, h]));
  for (let i = eps.length; i < upTo; i++) {
    const h = hosts[i % hosts.length]!;
    const e = await must<Ep>(c, 'POST', '/v1/endpoints', { containerId: `v${i}`, ifName: 'eth0', host: h.name, network: 'vis' }, 201);
    byName.get(e.host)!.br.addPort(e.portName, e.ofportRequest);
    eps.push(e);
  }
  await waitFor(async () => {
    const all = await must<Ep[]>(c, 'GET', '/v1/endpoints', undefined, 200);
    return all.length === upTo && all.every((e) => e.state === 'ready');
  }, { what: `${upTo} endpoints ready`, timeoutMs: 120_000, intervalMs: 100 });
}

async function traces(c: Ctl, eps: Ep[], label: string): Promise<void> {
  const pair = (): [Ep, Ep] => {
    for (;;) {
      const a = eps[Math.floor(rand() * eps.length)]!, b = eps[Math.floor(rand() * eps.length)]!;
      if (a.host !== b.host) return [a, b];
    }
  };
  const one = async (): Promise<{ t: number; a: Answer; status: number; from: Ep; to: Ep }> => {
    const [from, to] = pair();
    const t0 = performance.now();
    const r = await req<Answer>(c, 'POST', '/v1/traces', { from: { endpoint: from.id }, to: { endpoint: to.id }, proto: 'tcp', dstPort: 8080 });
    return { t: performance.now() - t0, a: r.body, status: r.status, from, to };
  };
  for (let i = 0; i < TRACE_WARM; i++) await one();
  const times: number[] = [];
  const mix = new Map<string, number>();
  const odd: string[] = [];
  for (let i = 0; i < TRACE_N; i++) {
    const r = await one();
    times.push(r.t);
    const v = r.a?.computed?.verdict;
    const ok = r.status === 200 && v?.result === 'delivered' && v.endpoint === r.to.id && v.host === r.to.host;
    const key = r.status !== 200 ? `http ${r.status}` : ok ? 'delivered' : v.result === 'delivered' ? 'delivered elsewhere' : v.result;
    mix.set(key, (mix.get(key) ?? 0) + 1);
    if (!ok && odd.length < 5) odd.push(`  ${r.from.host}/${r.from.id} -> ${r.to.host}/${r.to.id}: ${r.status} ${JSON.stringify(v ?? r.a)}`);
  }
  console.log(`${label}: ${TRACE_N} computed traces (after ${TRACE_WARM} warm-up), tcp/8080 between random endpoints on different hosts`);
  console.log(`  p50 ${ms(pct(times, 50))}   p90 ${ms(pct(times, 90))}   p99 ${ms(pct(times, 99))}   mean ${ms(mean(times))}   max ${ms(Math.max(...times))}`);
  console.log(`  verdicts: ${[...mix].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  if (odd.length) { console.log('  NOT all delivered, first ones:'); for (const l of odd) console.log(l); }
}

async function scrapes(c: Ctl, label: string): Promise<void> {
  const one = async () => {
    const t0 = performance.now();
    const r = await req(c, 'GET', '/metrics');
    return { t: performance.now() - t0, r };
  };
  for (let i = 0; i < SCRAPE_WARM; i++) await one();
  const times: number[] = [];
  let size = 0, lines = 0, status = 0;
  for (let i = 0; i < SCRAPE_N; i++) {
    const { t, r } = await one();
    times.push(t);
    status = r.status;
    size = Buffer.byteLength(r.text);
    lines = r.text.split('\n').filter((l) => l && !l.startsWith('#')).length;
  }
  console.log(`${label}: ${SCRAPE_N} GET /metrics scrapes (after ${SCRAPE_WARM} warm-up), status ${status}`);
  console.log(`  p50 ${ms(pct(times, 50))}   p90 ${ms(pct(times, 90))}   p99 ${ms(pct(times, 99))}   mean ${ms(mean(times))}   max ${ms(Math.max(...times))}`);
  console.log(`  body ${size} bytes (${(size / 1024).toFixed(1)} KiB), ${lines} samples`);
}

async function main(): Promise<void> {
  console.log(`visibility bench: node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const hosts: Host[] = [];
  const eps: Ep[] = [];
  let c: Ctl | undefined;
  try {
    c = await startController({ apps: 'none' });
    await addHosts(c, hosts, 3);
    await must(c, 'POST', '/v1/networks', { name: 'vis', cidr: '10.88.0.0/16', mode: 'overlay' }, 201);
    let t0 = performance.now();
    await addEndpoints(c, hosts, eps, 100);
    console.log(`setup: 3 hosts, overlay network, 100 endpoints ready in ${((performance.now() - t0) / 1000).toFixed(1)} s; flows per br-int ${hosts.map((h) => h.br.table.flows.length).join('/')}`);
    console.log('');
    await traces(c, eps, '[1] 3 hosts, 100 endpoints');
    await scrapes(c, '[1] 3 hosts, 100 endpoints');
    console.log('');
    t0 = performance.now();
    await addHosts(c, hosts, 10);
    await addEndpoints(c, hosts, eps, 1000);
    const flows = hosts.map((h) => h.br.table.flows.length);
    console.log(`grown: 10 hosts, 1000 endpoints ready in ${((performance.now() - t0) / 1000).toFixed(1)} s; flows per br-int ${Math.min(...flows)}..${Math.max(...flows)} (${flows.reduce((a, b) => a + b, 0)} in all)`);
    console.log('');
    await traces(c, eps, '[2] 10 hosts, 1000 endpoints');
    await scrapes(c, '[2] 10 hosts, 1000 endpoints');
    const mem = process.memoryUsage();
    console.log('');
    console.log(`process RSS ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap used ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB (controller and switches in one process)`);
  } finally {
    for (const h of hosts) h.br.close();
    if (c) await c.cleanup();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
