// The tunnel prober alone (issue 14): what a tick costs and what the pairs'
// state keeps, at BENCH_HOSTS hosts (default 300 and 1000), the prober fed
// fake hosts whose br-int has vxlan0 and 100 other ports; nothing answers,
// so every pair's round stays open (the most state it keeps).
//
//   npm run bench:prober
//   BENCH_HOSTS=1000 BENCH_TICKS=30 npm run bench:prober
//   BENCH_PEER=/path/to/other/dist: the same measurement of another build's
//   prober (e.g. one of main before this change) in the same run, and the ratios
//
// Each measurement runs in a child process of its own (--expose-gc), so the
// state kept is measured after a collection and one prober's memory is never
// counted with another's. Figures, not asserts.
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { HostRec } from '../controller/resources';
import type { TunnelProberDeps } from '../apps/tunnel-prober';

const SIZES = (process.env.BENCH_HOSTS ?? '300,1000').split(',').map((x) => Math.max(2, Number(x) | 0));
const TICKS = Math.max(2, Number(process.env.BENCH_TICKS ?? 30) | 0);
const INTERVAL_MS = 2000;

type ProberClass = new (deps: TunnelProberDeps) => { onTick(): unknown[] };

interface Figures { cpuMs: number; p50: number; max: number; probes: number; heapMiB: number; buffersMiB: number }

const kept: unknown[] = [];
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

async function measure(Prober: ProberClass, n: number): Promise<Figures> {
  const hosts: HostRec[] = Array.from({ length: n }, (_, k) => ({ name: `h${String(k).padStart(4, '0')}`, dpid: (0xe0000000 + k).toString(16).padStart(16, '0'), underlayIp: `10.0.${k >> 8}.${k & 255}`, phyDpid: null, createdAt: '' }));
  const ports: [string, number][] = [...Array.from({ length: 100 }, (_, i): [string, number] => [`p${i}`, i + 100]), ['vxlan0', 10]];
  gc();
  const m0 = process.memoryUsage();
  const prober = new Prober({ hosts: () => hosts, ports: () => new Map(ports), tunnelPort: () => 10, changed: () => undefined, intervalMs: INTERVAL_MS });
  kept.push(prober); // alive until measured
  const times: number[] = [];
  let probes = 0;
  for (let i = 0; i < TICKS; i++) {
    const c = process.cpuUsage();
    probes += prober.onTick().length;
    const d = process.cpuUsage(c);
    times.push((d.user + d.system) / 1000);
  }
  // array buffers are freed by a sweeper after the collection: give it a moment
  gc();
  await new Promise((r) => setTimeout(r, 200));
  gc();
  const m1 = process.memoryUsage();
  const sorted = [...times].sort((a, b) => a - b);
  const f: Figures = {
    cpuMs: times.reduce((a, b) => a + b, 0) / TICKS, p50: sorted[TICKS >> 1]!, max: sorted[TICKS - 1]!, probes,
    heapMiB: (m1.heapUsed - m0.heapUsed) / 2 ** 20, buffersMiB: (m1.arrayBuffers - m0.arrayBuffers) / 2 ** 20,
  };
  return f;
}

const line = (label: string, n: number, f: Figures) => console.log(`  ${label.padEnd(6)} ${String(n).padStart(5)} hosts: CPU ${f.cpuMs.toFixed(1)} ms a tick (p50 ${f.p50.toFixed(1)}, max ${f.max.toFixed(1)}; a tick every ${INTERVAL_MS / 10} ms), `
  + `${f.probes} probes in ${TICKS} ticks; kept: heap ${f.heapMiB.toFixed(1)} MiB + array buffers ${f.buffersMiB.toFixed(1)} MiB`);

/** One measurement in a child process: `--one DIST N` prints its figures as JSON. */
function child(dist: string, n: number): Figures {
  return JSON.parse(execFileSync(process.execPath, ['--expose-gc', __filename, '--one', dist, String(n)], { encoding: 'utf8', maxBuffer: 1 << 20 })) as Figures;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--one') {
    const Prober = (require(path.resolve(process.argv[3]!, 'apps/tunnel-prober.js')) as { TunnelProber: ProberClass }).TunnelProber;
    process.stdout.write(JSON.stringify(await measure(Prober, Number(process.argv[4]))));
    return;
  }
  const mineDir = path.resolve(__dirname, '..');
  const peerDir = process.env.BENCH_PEER;
  console.log(`tunnel prober bench: node ${process.version}, interval ${INTERVAL_MS} ms, default budget, ${TICKS} ticks per size${peerDir ? `; peer: ${peerDir}` : ''}`);
  for (const n of SIZES) {
    const mine = child(mineDir, n);
    line('this', n, mine);
    if (peerDir) {
      const peer = child(peerDir, n);
      line('peer', n, peer);
      console.log(`  ratio this/peer: CPU a tick ${(mine.cpuMs / peer.cpuMs).toFixed(3)}, memory kept ${((mine.heapMiB + mine.buffersMiB) / (peer.heapMiB + peer.buffersMiB)).toFixed(3)}`);
    }
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
