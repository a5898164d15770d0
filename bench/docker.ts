// Docker benchmark: Weft's network driver against Docker's own bridge
// driver, one dockerd (20.10, --iptables=false), the same host, the same run.
//
//   t0 = `docker run -d --network N --ip IP --mac-address MAC busybox` is spawned;
//   t  = the first ping reply from the new container reaches a probe container
//        already running on the same network.
//
// The probe pings the new address every 10 ms from before t0 (`ping -i 0.01`
// through `docker exec`, output read as it comes), with a static neighbour
// entry for the new container's MAC, so it never waits on its own ARP
// retries: what is measured is the run (IPAM, endpoint, Join, the container's
// start) and the path becoming usable. Runs alternate between the drivers.
// Each address is used once. Prints p50, p99 and the ratio; asserts nothing
// (docs/bench.md, "Docker").
//
//   npm run bench:docker     (as root, with Open vSwitch; holds /tmp/weft-ovs.lock itself if flock is used around it)
//   BENCH_RUNS=20            runs per driver
import { spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { MultiHostLab } from '../test/helpers/multihost-lab';
import { Dockerd, PluginProcess, IMAGE, dockerAvailable } from '../test/helpers/docker';
import { pct } from './multihost/common';

const RUNS = Math.max(2, Number(process.env.BENCH_RUNS ?? 20));
const SOCKET = '/run/docker/plugins/weft.sock';


/** Starts `docker exec probe ping -i 0.01 IP`; resolves at the first reply line (performance.now()). */
function firstReply(d: Dockerd, probe: string, ip: string, deadlineS = 30): { reply: Promise<number>; stop(): void } {
  const p = spawn('/usr/bin/docker', ['-H', d.url, 'exec', probe, 'ping', '-i', '0.01', '-w', String(deadlineS), ip], { stdio: ['ignore', 'pipe', 'ignore'] });
  const reply = new Promise<number>((resolve, reject) => {
    let buf = '';
    p.stdout!.on('data', (c: Buffer) => {
      const t = performance.now();
      buf += c.toString();
      if (/bytes from/.test(buf)) resolve(t);
    });
    p.on('close', () => reject(new Error(`no reply from ${ip} within ${deadlineS} s`)));
  });
  reply.catch(() => undefined);
  return { reply, stop: () => { p.kill(); } };
}

async function main(): Promise<void> {
  if (!dockerAvailable()) { console.error('dockerd, docker or busybox missing'); process.exit(2); }
  const lab = await MultiHostLab.start({ id: 'db', subnet: '172.31.238.0/24', hosts: 1, mtu: 1600, tunnel: true });
  if (!lab) { console.error('Open vSwitch is not available'); process.exit(2); }
  let dockerd: Dockerd | undefined;
  let plugin: PluginProcess | undefined;
  try {
    await lab.register();
    const h = lab.hosts[0]!;
    dockerd = await Dockerd.start(h.netns);
    await dockerd.importBusybox();
    plugin = await PluginProcess.start(h.netns, ['--api', lab.weft.api, '--host', lab.hostName(0), '--ovsdb', h.ovsdb,
      '--token-file', lab.weft.adminTokenFile, '--docker', dockerd.url, '--log-level', 'warn'], SOCKET, path.join(lab.tmp, 'plugin.log'));
    const nets = {
      weft: { name: 'bw', prefix: '10.97', create: ['-d', 'weft', '--ipam-driver', 'weft', '--subnet', '10.97.0.0/16'] },
      bridge: { name: 'bb', prefix: '10.98', create: ['-d', 'bridge', '--subnet', '10.98.0.0/16', '-o', 'com.docker.network.bridge.name=wtdockbr0'] },
    } as const;
    for (const n of Object.values(nets)) {
      await dockerd.ok(['network', 'create', ...n.create, n.name]);
      await dockerd.ok(['run', '-d', '--name', `probe-${n.name}`, '--network', n.name, '--cap-add', 'NET_ADMIN', IMAGE, 'sleep', '36000']);
    }
    const times: Record<keyof typeof nets, number[]> = { weft: [], bridge: [] };
    for (let i = 0; i < RUNS; i++) {
      for (const kind of (i % 2 ? ['bridge', 'weft'] : ['weft', 'bridge']) as (keyof typeof nets)[]) {
        const n = nets[kind];
        const ip = `${n.prefix}.${10 + Math.floor(i / 200)}.${(i % 200) + 10}`;
        const mac = `02:77:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
        await dockerd.ok(['exec', `probe-${n.name}`, 'arp', '-i', 'eth0', '-s', ip, mac]);
        const probe = firstReply(dockerd, `probe-${n.name}`, ip);
        await new Promise((r) => setTimeout(r, 200)); // the exec is running and pinging
        const t0 = performance.now();
        await dockerd.ok(['run', '-d', '--name', `r${i}-${n.name}`, '--network', n.name, '--ip', ip, '--mac-address', mac, IMAGE, 'sleep', '3600']);
        const t = await probe.reply;
        probe.stop();
        times[kind].push(t - t0);
        await dockerd.ok(['rm', '-f', `r${i}-${n.name}`]);
        if (process.env.BENCH_VERBOSE === '1') console.log(`${kind} run ${i}: ${(t - t0).toFixed(1)} ms`);
      }
    }
    const row = (k: keyof typeof nets) => `${k.padEnd(8)} ${pct(times[k], 50).toFixed(0).padStart(6)} ms ${pct(times[k], 99).toFixed(0).padStart(6)} ms`;
    console.log(`docker run -> first reply at another container, ${RUNS} runs per driver (dockerd 20.10, --iptables=false, one host)`);
    console.log(`driver      p50       p99`);
    console.log(row('weft'));
    console.log(row('bridge'));
    console.log(`weft/bridge p50 ${(pct(times.weft, 50) / pct(times.bridge, 50)).toFixed(2)}x, p99 ${(pct(times.weft, 99) / pct(times.bridge, 99)).toFixed(2)}x`);
  } finally {
    await dockerd?.destroy().catch((e: Error) => console.error('dockerd cleanup:', e.message));
    await plugin?.stop();
    await lab.stop();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
