// Encrypted overlay (IPsec, userspace ESP through `weft ipsec-agent`'s
// charon) against the plain overlay, in the same run on the same two
// emulated hosts: iperf3 TCP throughput container to container, and attach
// -> first reply (a container attached on host 1 by weft-cni, until its
// first echo to a container on host 2 is answered). Runs alternate between
// the two networks so machine load hits both alike.
//
//   npm run bench:ipsec      (root, OVS binaries, strongSwan; under the OVS lock:
//   flock /tmp/weft-ovs.lock npm run bench:ipsec)
// Env: IPSEC_BENCH_RUNS (iperf3 runs per network, default 3), IPSEC_BENCH_SECONDS
// (per run, default 5), IPSEC_BENCH_ATTACHES (per network, default 6).
import { MultiHostLab } from '../test/helpers/multihost-lab';
import { startAgent, stopAgent, sasUp, iperfServer, iperfClient, AgentProc } from '../test/helpers/ipsec-lab';
import { waitFor } from '../test/helpers/wait';
import { pct, mean, ms, ratio, table, now, pingUntilReply, intEnv } from './multihost/common';

const RUNS = intEnv('IPSEC_BENCH_RUNS', 3, 1);
const SECONDS = intEnv('IPSEC_BENCH_SECONDS', 5, 1);
const ATTACHES = intEnv('IPSEC_BENCH_ATTACHES', 6, 1);
const median = (xs: number[]) => pct(xs, 50);

async function main(): Promise<void> {
  const lab = await MultiHostLab.start({ id: 'ip', subnet: '172.31.233.0/24', hosts: 2, tunnel: true });
  if (!lab) { console.error('ipsec bench: needs root, the OVS binaries and strongSwan'); process.exit(2); }
  const agents: AgentProc[] = [];
  const cleanup = async () => { for (const a of agents) await stopAgent(a).catch(() => undefined); await lab.stop(); };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    await lab.register();
    for (let i = 0; i < 2; i++) agents.push(startAgent(lab, i));
    const nets = { encrypted: 'sec', plain: 'plain' } as const;
    await lab.weft.call('POST', '/v1/networks', { name: 'sec', cidr: '10.71.0.0/16', mode: 'overlay', encrypted: true });
    await lab.weft.call('POST', '/v1/networks', { name: 'plain', cidr: '10.72.0.0/16', mode: 'overlay' });
    await waitFor(() => sasUp(lab, agents[0]!, 0, [lab.hostName(1)]), { what: 'SA up', timeoutMs: 30_000, intervalMs: 200 });
    const kinds = ['encrypted', 'plain'] as const;
    const src = { encrypted: await lab.attach(0, 'src-s', 'sec'), plain: await lab.attach(0, 'src-p', 'plain') };
    const dst = { encrypted: await lab.attach(1, 'dst-s', 'sec'), plain: await lab.attach(1, 'dst-p', 'plain') };
    for (const k of kinds) await src[k].ct.waitPing(dst[k].ip, 15_000);

    // attach -> first reply, alternating
    const attach: Record<string, number[]> = { encrypted: [], plain: [] };
    for (let i = 0; i < ATTACHES; i++) {
      for (const k of kinds) {
        const t0 = now();
        const c = await lab.attach(0, `a${i}-${k[0]}`, nets[k]);
        const r = await pingUntilReply(c.ct, dst[k].ip, 20);
        if (r.ok) attach[k]!.push(r.tEnd - t0);
        await lab.detach(0, `a${i}-${k[0]}`, nets[k], c.ct);
        await c.ct.destroy();
      }
    }

    // iperf3, alternating
    const mbps: Record<string, number[]> = { encrypted: [], plain: [] };
    const retr: Record<string, number[]> = { encrypted: [], plain: [] };
    let port = 5300;
    for (let i = 0; i < RUNS; i++) {
      for (const k of kinds) {
        const srv = await iperfServer(dst[k].ct, ++port);
        const r = await iperfClient(src[k].ct, dst[k].ip, port, { seconds: SECONDS });
        srv.kill();
        if (r.error) { console.error(`iperf3 ${k}: ${r.error}`); continue; }
        mbps[k]!.push(r.bitsPerSecond / 1e6);
        retr[k]!.push(r.retransmits);
      }
    }

    const load = (await import('node:os')).loadavg()[0]!.toFixed(1);
    console.log(`\nEncrypted overlay vs plain overlay, 2 emulated hosts, same run (load average ${load})\n`);
    console.log(table(['', 'encrypted (IPsec)', 'plain', 'encrypted / plain'], [
      [`iperf3 TCP, median of ${RUNS} x ${SECONDS} s`, `${median(mbps.encrypted!).toFixed(0)} Mbit/s`, `${median(mbps.plain!).toFixed(0)} Mbit/s`, ratio(median(mbps.encrypted!), median(mbps.plain!))],
      ['iperf3 retransmits per run (median)', String(median(retr.encrypted!)), String(median(retr.plain!)), ''],
      [`attach -> first reply p50 (n=${attach.encrypted!.length}/${attach.plain!.length})`, ms(pct(attach.encrypted!, 50)), ms(pct(attach.plain!, 50)), ratio(pct(attach.encrypted!, 50), pct(attach.plain!, 50))],
      ['attach -> first reply p99', ms(pct(attach.encrypted!, 99)), ms(pct(attach.plain!, 99)), ratio(pct(attach.encrypted!, 99), pct(attach.plain!, 99))],
      ['attach -> first reply mean', ms(mean(attach.encrypted!)), ms(mean(attach.plain!)), ratio(mean(attach.encrypted!), mean(attach.plain!))],
    ]));
    console.log(`\niperf3 runs (Mbit/s): encrypted ${mbps.encrypted!.map((x) => x.toFixed(0)).join(', ')}; plain ${mbps.plain!.map((x) => x.toFixed(0)).join(', ')}`);
  } finally {
    await cleanup();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
