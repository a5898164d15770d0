// What a live trace costs on real OVS (issue 13, "trace latency, computed
// and live, at 100 endpoints over 3 hosts"). The three-host emulated lab of
// the integration tests (test/helpers/multihost-lab.ts: each host a network
// namespace with its own ovsdb-server and ovs-vswitchd, userspace datapath,
// VXLAN over one Linux bridge), the controller as a child process, one
// overlay network:
//
//   - BENCH_REAL containers (6 by default, round-robin) attached through
//     weft-cni, so their ports exist and a marked packet can be injected;
//   - endpoints up to 100 in all, created through the API round-robin over
//     the hosts (no container behind them: their flows are installed all the
//     same, so each br-int holds what 100 endpoints on 3 hosts make);
//   - POST /v1/traces between random real containers on different hosts,
//     tcp/8080: computed (warm-up, then BENCH_TRACE_N), then live
//     (`"live": true`, warm-up, then BENCH_LIVE_N), p50/p99/mean over HTTP,
//     the injections and whether the live path agreed with the computed one.
//
// Run it alone on the machine (it holds the shared OVS lock when run with
// flock, as the integration tests do). Prints figures, asserts nothing.
//
//   flock /tmp/weft-ovs.lock npm run bench:live-trace
//   BENCH_LIVE_N=50  BENCH_TRACE_N=100  BENCH_REAL=6  BENCH_SEED=1
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { MultiHostLab } from '../test/helpers/multihost-lab';
import { waitFor } from '../test/helpers/wait';
import { pct, mean, seededRandom } from './multihost/common';

const LIVE_N = Math.max(1, Number(process.env.BENCH_LIVE_N ?? 50) | 0);
const TRACE_N = Math.max(1, Number(process.env.BENCH_TRACE_N ?? 100) | 0);
const REAL = Math.max(2, Number(process.env.BENCH_REAL ?? 6) | 0);
const ENDPOINTS = 100, HOSTS = 3, WARM = 5;

const ms = (x: number): string => `${x.toFixed(1)} ms`;
// seeded, so a run's pairs can be repeated
const rand = seededRandom(Number(process.env.BENCH_SEED ?? 1));

interface Ep { id: string; host: string }
interface Answer { computed: { verdict: { result: string; endpoint?: string } }; live?: { injections: number; verdict: { result: string; endpoint?: string } }; agree?: boolean }

async function main(): Promise<void> {
  const lab = await MultiHostLab.start({ id: 'lb', subnet: '172.31.238.0/24', hosts: HOSTS, mtu: 1600, tunnel: true, weftArgs: ['--tunnel-probe-interval', '0'] });
  if (!lab) { console.log('no OVS: nothing measured'); return; }
  try {
    const { weft } = lab;
    await lab.register();
    const must = async <T>(method: string, url: string, body: unknown, want: number): Promise<T> => {
      const r = await weft.call<T>(method, url, body);
      if (r.status !== want) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };
    await must('POST', '/v1/networks', { name: 'lb', cidr: '10.88.0.0/16', mode: 'overlay' }, 201);
    const real: Ep[] = [];
    const t0 = performance.now();
    for (let i = 0; i < REAL; i++) {
      const { ip } = await lab.attach(i % HOSTS, `r${i}`, 'lb');
      const [e] = await must<Ep[]>('GET', `/v1/endpoints?containerId=lb-r${i}`, undefined, 200);
      real.push({ id: e!.id, host: e!.host });
      void ip;
    }
    for (let i = REAL; i < ENDPOINTS; i++) {
      await must('POST', '/v1/endpoints', { containerId: `lb-v${i}`, ifName: 'eth0', host: lab.hostName(i % HOSTS), network: 'lb' }, 201);
    }
    // every br-int has every endpoint's flows (the API-only ones stay pending: no port)
    await waitFor(async () => {
      const s = await Promise.all(lab.hosts.map((_, i) => weft.call<{ bridges: { synced: boolean }[] }>('GET', `/v1/hosts/${lab.hostName(i)}/status`)));
      return s.every((r) => r.body.bridges.every((b) => b.synced));
    }, { what: 'every br-int in sync', timeoutMs: 60_000 });
    const flows = await Promise.all(lab.hosts.map(async (h) => (await h.dumpFlows()).length));
    console.log(`lab: ${HOSTS} hosts, ${ENDPOINTS} endpoints (${REAL} real containers), set up in ${((performance.now() - t0) / 1000).toFixed(1)} s; flows per br-int ${flows.join(', ')}`);
    console.log(`machine: ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}, node ${process.version}`);

    const pair = (): [Ep, Ep] => {
      for (;;) {
        const a = real[Math.floor(rand() * real.length)]!, b = real[Math.floor(rand() * real.length)]!;
        if (a.host !== b.host) return [a, b];
      }
    };
    const run = async (live: boolean, n: number): Promise<void> => {
      const times: number[] = [];
      const inj = new Map<number, number>();
      let agree = 0, delivered = 0;
      for (let i = 0; i < WARM + n; i++) {
        const [from, to] = pair();
        const s = performance.now();
        const r = await weft.call<Answer>('POST', '/v1/traces', { from: { endpoint: from.id }, to: { endpoint: to.id }, proto: 'tcp', dstPort: 8080, ...(live ? { live: true } : {}) });
        const t = performance.now() - s;
        if (i < WARM) continue;
        times.push(t);
        if (r.status !== 200) { console.log(`  ${r.status} ${JSON.stringify(r.body)}`); continue; }
        const v = live ? r.body.live!.verdict : r.body.computed.verdict;
        if (v.result === 'delivered' && v.endpoint === to.id) delivered++;
        if (live) { inj.set(r.body.live!.injections, (inj.get(r.body.live!.injections) ?? 0) + 1); if (r.body.agree) agree++; }
      }
      console.log(`${live ? 'live' : 'computed'} traces (${n}, after ${WARM} warm-up), over HTTP: p50 ${ms(pct(times, 50))}   p90 ${ms(pct(times, 90))}   p99 ${ms(pct(times, 99))}   mean ${ms(mean(times))}   max ${ms(Math.max(...times))}`);
      console.log(`  delivered to the named endpoint: ${delivered}/${n}${live ? `; agree with the computed path: ${agree}/${n}; injections: ${[...inj].sort((a, b) => a[0] - b[0]).map(([k, c]) => `${k}x${c}`).join(', ')}` : ''}`);
    };
    await run(false, TRACE_N);
    await run(true, LIVE_N);
  } finally {
    await lab.stop();
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
