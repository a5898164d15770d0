// The policy bench (issue 15): network policy in Weft against OVN ACLs with
// the same rules, on real OVS (emulated hosts, test/helpers/emu-host), in
// the same run, one lab after the other on the same underlay:
//
//   1. flows per host: BENCH_EPS endpoints (default 100) over 2 hosts, in
//      BENCH_GROUPS label groups (app=a0..a9), then BENCH_POLICIES policies
//      (default 100): policy i selects app=a(i%G) and allows ingress from
//      app=a((i+1)%G) on TCP port 1000+i; whatever no rule allows is denied
//      to a selected endpoint (the Kubernetes semantics). In OVN: a port
//      group per label group, per policy an allow-related to-lport ACL
//      (outport == @pg && ip4.src == $pg_ip4 && tcp.dst == port), per group
//      a default-deny ACL below them. br-int's OpenFlow flows per host
//      (ovs-ofctl dump-flows) before and after the policies.
//   2. the time from a rule change until it is enforced: a client (app=a1)
//      on one host opens TCP connections every 10 ms to a server (app=a0)
//      on the other, on port 1000 (allowed by policy 0); the rule becomes a
//      deny (Weft: PUT /v1/policies/p0, action deny; OVN: the ACL's action
//      set to drop), and back. Figures: from the
//      change's request to the first connection attempt that fails
//      (deny) or succeeds (allow), of a run of them (10 ms resolution).
//
//   npm run bench:policy         (needs root, OVS, ovn-central and ovn-host)
//   BENCH_LAB_ID=pb BENCH_LAB_SUBNET=172.31.235.0/24: the lab's underlay
//
// Figures printed and ratios Weft / OVN; nothing asserted.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, ChildProcess } from 'node:child_process';
import { WeftLab, OvnLab, stableFlows, NETWORK, Lab } from './multihost/labs';
import { ensureOvn } from './multihost/ovn';
import { Container } from '../test/helpers/emu-host';
import { waitFor } from '../test/helpers/wait';
import { pct } from './multihost/common';

const EPS = Math.max(4, Number(process.env.BENCH_EPS ?? 100) | 0);
const POLICIES = Math.max(1, Number(process.env.BENCH_POLICIES ?? 100) | 0);
const GROUPS = Math.max(2, Number(process.env.BENCH_GROUPS ?? 10) | 0);
const CHANGES = Math.max(1, Number(process.env.BENCH_CHANGES ?? 3) | 0);
const UNDERLAY = { id: process.env.BENCH_LAB_ID ?? 'pb', subnet: process.env.BENCH_LAB_SUBNET ?? '172.31.235.0/24' };
const HOSTS = 2;
const PORT = 1000;

const log = (s: string) => console.log(s);
const group = (n: number) => `a${n % GROUPS}`;
/** Endpoint n (1-based) is on host n % 2 and in label group n % GROUPS; the server and client of part 2. */
const SERVER = GROUPS, CLIENT = GROUPS + 1;

function weftPolicy(i: number, action: 'allow' | 'deny' = 'allow') {
  return {
    name: `p${i}`, priority: 100, selector: { matchLabels: { app: group(i) } },
    ingress: [{ action, peers: [{ selector: { matchLabels: { app: group(i + 1) } } }], ports: [{ protocol: 'tcp', port: PORT + i }] }],
  };
}

const ovnMatch = (i: number) => `outport == @pg_${group(i)} && ip4 && ip4.src == $pg_${group(i + 1)}_ip4 && tcp.dst == ${PORT + i}`;

/** A process in a namespace that opens a TCP connection to ip:port every 10 ms and records each attempt's start and outcome. */
class Prober {
  readonly attempts: { t: number; ok: boolean }[] = [];
  private child?: ChildProcess;
  static readonly SCRIPT = `const net = require('net'); const [ip, port] = process.argv.slice(1);
setInterval(() => { const t = Date.now(); const s = net.connect({ host: ip, port: +port }); let done = false;
  const fin = (ok) => { if (done) return; done = true; s.destroy(); process.stdout.write(JSON.stringify({ t, ok }) + '\\n'); };
  s.setTimeout(200, () => fin(false)); s.on('connect', () => fin(true)); s.on('error', () => fin(false)); }, 10);`;

  start(netns: string, ip: string, port: number): void {
    this.child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', Prober.SCRIPT, ip, String(port)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let buf = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) { try { this.attempts.push(JSON.parse(l) as { t: number; ok: boolean }); } catch { /* partial */ } }
    });
  }

  /** ms from t0 to the first attempt started after t0 with outcome `ok` that the next 4 attempts share; waits for it. */
  async until(t0: number, ok: boolean, timeoutMs = 30_000): Promise<number> {
    return waitFor(() => {
      const after = this.attempts.filter((a) => a.t >= t0).sort((a, b) => a.t - b.t);
      for (let i = 0; i + 4 < after.length; i++) if (after.slice(i, i + 5).every((a) => a.ok === ok)) return after[i]!.t - t0 + 0.001;
      return undefined;
    }, { what: `connections ${ok ? 'allowed' : 'denied'}`, timeoutMs, intervalMs: 10 }).then((x) => x - 0.001);
  }

  stop(): void {
    if (this.child?.pid) { try { process.kill(this.child.pid); } catch { /* gone */ } }
  }
}

interface Side { label: string; flowsBefore: number[]; flowsAfter: number[]; policyMs: number; deny: number[]; allow: number[]; requestMs: number[] }

async function attachAll(lab: Lab): Promise<{ containers: Container[]; ips: string[] }> {
  const containers: Container[] = [];
  const ips: string[] = [];
  const t0 = Date.now();
  for (let n = 1; n <= EPS; n++) {
    const c = await Container.create(lab.hosts[n % HOSTS]!, `e${n}`, { prefix: lab.label.startsWith('weft') ? 'pbwc-' : 'pboc-' });
    containers.push(c);
    ips.push((await lab.attach(n, n % HOSTS, c)).ip);
  }
  log(`  ${EPS} endpoints attached in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { containers, ips };
}

/** Both rule changes, CHANGES times each, measured by the prober. */
async function changes(side: Side, prober: Prober, change: (action: 'allow' | 'deny') => Promise<void>): Promise<void> {
  await prober.until(Date.now() - 10, true);
  for (let k = 0; k < CHANGES; k++) {
    for (const action of ['deny', 'allow'] as const) {
      const t0 = Date.now();
      await change(action);
      side.requestMs.push(Date.now() - t0);
      (action === 'deny' ? side.deny : side.allow).push(await prober.until(t0, action === 'allow'));
    }
  }
}

async function weftSide(dir: string): Promise<Side> {
  log('Weft (overlay, CNI agent):');
  const lab = new WeftLab('overlay', { hosts: HOSTS, dir: path.join(dir, 'weft'), plugin: 'agent', underlay: UNDERLAY, hostPrefix: 'pbw-' });
  const side: Side = { label: 'weft', flowsBefore: [], flowsAfter: [], policyMs: 0, deny: [], allow: [], requestMs: [] };
  const prober = new Prober();
  try {
    await lab.setup();
    const w = lab.weft!;
    const { containers, ips } = await attachAll(lab);
    await lab.settle();
    // labels (before any policy: no host re-syncs for them)
    const eps = (await w.call<{ id: string; containerId: string }[]>('GET', `/v1/endpoints?network=${NETWORK}`)).body;
    for (const e of eps) {
      const n = Number(e.containerId.replace('mh-', ''));
      const r = await w.call('PATCH', `/v1/endpoints/${e.id}`, { labels: { app: group(n) } });
      if (r.status !== 200) throw new Error(`PATCH labels: ${r.status} ${JSON.stringify(r.body)}`);
    }
    for (const h of lab.hosts) side.flowsBefore.push(await stableFlows(h));
    const t0 = Date.now();
    for (let i = 0; i < POLICIES; i++) {
      const r = await w.call('POST', '/v1/policies', weftPolicy(i));
      if (r.status !== 201) throw new Error(`POST /v1/policies: ${r.status} ${JSON.stringify(r.body)}`);
    }
    side.policyMs = Date.now() - t0;
    for (const h of lab.hosts) side.flowsAfter.push(await stableFlows(h));
    log(`  br-int flows per host: ${side.flowsBefore.join(', ')} before the policies, ${side.flowsAfter.join(', ')} after (${POLICIES} policies created in ${(side.policyMs / 1000).toFixed(1)} s)`);
    const server = containers[SERVER - 1]!, client = containers[CLIENT - 1]!;
    await server.serveTcp(PORT);
    prober.start(client.netns, ips[SERVER - 1]!, PORT);
    await changes(side, prober, async (action) => {
      const r = await w.call('PUT', '/v1/policies/p0', weftPolicy(0, action));
      if (r.status !== 200) throw new Error(`PUT /v1/policies/p0: ${r.status} ${JSON.stringify(r.body)}`);
    });
  } finally {
    prober.stop();
    await lab.destroy();
  }
  return side;
}

async function ovnSide(dir: string): Promise<Side> {
  log('OVN 23.03 (port groups, address sets, ACLs):');
  const lab = new OvnLab({ hosts: HOSTS, dir: path.join(dir, 'ovn'), waitInstalled: true, attach: 'sh', underlay: UNDERLAY, hostPrefix: 'pbo-' });
  const side: Side = { label: 'ovn', flowsBefore: [], flowsAfter: [], policyMs: 0, deny: [], allow: [], requestMs: [] };
  const prober = new Prober();
  try {
    await lab.setup();
    const nb = (...a: string[]) => lab.central!.nbctl(...a);
    const { containers, ips } = await attachAll(lab);
    await lab.settle();
    for (const h of lab.hosts) side.flowsBefore.push(await stableFlows(h));
    const t0 = Date.now();
    // one transaction: the port groups (their address sets come with them), each policy's ACL, each group's default deny
    const cmds: string[][] = [];
    for (let g = 0; g < GROUPS; g++) {
      const ports: string[] = [];
      for (let n = 1; n <= EPS; n++) if (n % GROUPS === g) ports.push(`ep${n}`);
      cmds.push(['pg-add', `pg_a${g}`, ...ports]);
    }
    for (let i = 0; i < POLICIES; i++) cmds.push(['--type=port-group', 'acl-add', `pg_${group(i)}`, 'to-lport', '1000', ovnMatch(i), 'allow-related']);
    for (let g = 0; g < GROUPS; g++) if ([...Array(POLICIES).keys()].some((i) => i % GROUPS === g)) cmds.push(['--type=port-group', 'acl-add', `pg_a${g}`, 'to-lport', '1', `outport == @pg_a${g} && ip4`, 'drop']);
    await nb('--wait=hv', ...cmds.flatMap((c, k) => (k ? ['--', ...c] : c)));
    side.policyMs = Date.now() - t0;
    for (const h of lab.hosts) side.flowsAfter.push(await stableFlows(h));
    log(`  br-int flows per host: ${side.flowsBefore.join(', ')} before the ACLs, ${side.flowsAfter.join(', ')} after (${POLICIES} ACLs + ${GROUPS} default denies, --wait=hv, in ${(side.policyMs / 1000).toFixed(1)} s)`);
    const server = containers[SERVER - 1]!, client = containers[CLIENT - 1]!;
    await server.serveTcp(PORT);
    prober.start(client.netns, ips[SERVER - 1]!, PORT);
    // the rule of policy 0: its ACL's action changes in place
    const acl = (await nb('--bare', '--columns=_uuid', 'find', 'acl', `match="${ovnMatch(0).replace(/"/g, '\\"')}"`)).trim();
    if (!/^[0-9a-f-]{36}$/.test(acl)) throw new Error(`the ACL of policy 0: ${JSON.stringify(acl)}`);
    await changes(side, prober, async (action) => {
      // no --wait: returns once the NB has it (enforcement is what the prober sees)
      await nb('set', 'acl', acl, `action=${action === 'allow' ? 'allow-related' : 'drop'}`);
    });
  } finally {
    prober.stop();
    await lab.destroy();
  }
  return side;
}

const med = (xs: number[]) => pct(xs, 50);
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, OVS)');
  log(`policy bench: ${EPS} endpoints over ${HOSTS} hosts in ${GROUPS} label groups, ${POLICIES} policies; lab ${UNDERLAY.id} ${UNDERLAY.subnet}; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  await ensureOvn(log);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-policy-bench-'));
  try {
    const weft = await weftSide(dir);
    const ovn = await ovnSide(dir);
    log('');
    log('                          weft      ovn   weft/ovn');
    const row = (name: string, a: number, b: number, unit = '') => log(`  ${name.padEnd(22)} ${`${a.toFixed(0)}${unit}`.padStart(7)} ${`${b.toFixed(0)}${unit}`.padStart(8)}   ${ratio(a, b)}`);
    for (let i = 0; i < HOSTS; i++) {
      row(`h${i + 1} flows, all`, weft.flowsAfter[i]!, ovn.flowsAfter[i]!);
      row(`h${i + 1} flows, policies`, weft.flowsAfter[i]! - weft.flowsBefore[i]!, ovn.flowsAfter[i]! - ovn.flowsBefore[i]!);
    }
    row('rules in place', weft.policyMs, ovn.policyMs, ' ms');
    row('deny enforced (med)', med(weft.deny), med(ovn.deny), ' ms');
    row('allow enforced (med)', med(weft.allow), med(ovn.allow), ' ms');
    row('change request (med)', med(weft.requestMs), med(ovn.requestMs), ' ms');
    log(`  each: weft deny ${weft.deny.join('/')} allow ${weft.allow.join('/')} ms; ovn deny ${ovn.deny.join('/')} allow ${ovn.allow.join('/')} ms`);
    log('  (Weft: from PUT until a run of connections fails or works; the PUT returns once every host confirmed by barrier.');
    log('   OVN: from ovn-nbctl (no --wait) until the same; "rules in place": Weft one POST per policy, OVN one --wait=hv transaction)');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
