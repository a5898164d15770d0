// Encrypted networks in a MultiHostLab: `weft ipsec-agent` in each host's
// namespace (with the host's own token), swanctl against each host's
// charon, iperf3 between containers and a capture on the underlay. Shared
// by test/integration/multihost-ipsec.test.ts and bench/ipsec.ts.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, ChildProcess } from 'node:child_process';
import type { MultiHostLab } from './multihost-lab';
import type { Container } from './emu-host';
import { repoRoot } from './paths';
import { waitFor } from './wait';
import { killPid, run, runStatus } from './emu/common';

export interface AgentProc { host: string; stateDir: string; proc: ChildProcess; log: string }

/** Starts `weft ipsec-agent` in host i's namespace (poll every 0.3 s). */
export function startAgent(lab: MultiHostLab, i: number): AgentProc {
  const h = lab.hosts[i]!;
  const name = lab.hostName(i);
  const stateDir = path.join(lab.tmp, `ipsec-${name}`);
  fs.mkdirSync(stateDir, { recursive: true });
  const log = path.join(lab.tmp, `ipsec-agent-${name}.log`);
  const fd = fs.openSync(log, 'a');
  const proc = spawn('ip', ['netns', 'exec', h.netns, process.execPath, path.join(repoRoot(), 'dist/northbound/cli/weft.js'), 'ipsec-agent',
    '--api', lab.weft.api, '--host', name, '--token-file', lab.tokenFiles[i]!, '--state-dir', stateDir, '--ovs-rundir', h.dir,
    '--poll-interval', '0.3', '--log-level', 'info'], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  return { host: name, stateDir, proc, log };
}

/** SIGTERM (the agent stops its charon), then whatever is left is killed with the namespace. */
export async function stopAgent(a: AgentProc): Promise<void> {
  if (a.proc.pid !== undefined && a.proc.exitCode === null) await killPid(a.proc.pid, { graceMs: 5000 });
}

/** swanctl against host i's charon (run in its namespace). */
export function swanctl(lab: MultiHostLab, a: AgentProc, i: number, ...args: string[]): Promise<string> {
  return run('ip', ['netns', 'exec', lab.hosts[i]!.netns, 'env', `STRONGSWAN_CONF=${path.join(a.stateDir, 'strongswan.conf')}`,
    `SWANCTL_DIR=${path.join(a.stateDir, 'swanctl')}`, 'swanctl', ...args]);
}

export interface SaInfo { ike: string; state: string; ikeSpi: string; children: { name: string; state: string; spiIn: string }[] }

/** IKE SAs of host i by connection name (`swanctl --list-sas`, parsed). */
export async function listSas(lab: MultiHostLab, a: AgentProc, i: number): Promise<Map<string, SaInfo>> {
  const out = await swanctl(lab, a, i, '--list-sas');
  const sas = new Map<string, SaInfo>();
  let cur: SaInfo | undefined;
  let spiNext = false;
  for (const line of out.split('\n')) {
    const ike = /^(\S+): #\d+, (\w+), IKEv2, ([0-9a-f]+)_i\*? ([0-9a-f]+)_r/.exec(line);
    if (ike) { cur = { ike: ike[1]!, state: ike[2]!, ikeSpi: `${ike[3]}_${ike[4]}`, children: [] }; sas.set(cur.ike, cur); continue; }
    const child = /^\s+(\S+): #\d+, reqid \d+, (\w+), TUNNEL/.exec(line);
    if (child && cur) { cur.children.push({ name: child[1]!, state: child[2]!, spiIn: '' }); spiNext = true; continue; }
    const spi = /^\s+installed .*in\s+([0-9a-f]+)/.exec(line) ?? /^\s+in\s+([0-9a-f]+)/.exec(line);
    if (spi && cur && spiNext && cur.children.length) { cur.children[cur.children.length - 1]!.spiIn = spi[1]!; spiNext = false; }
  }
  return sas;
}

/** True once host i has an established IKE SA with an installed child to each of `peers`. */
export async function sasUp(lab: MultiHostLab, a: AgentProc, i: number, peers: string[]): Promise<boolean> {
  const sas = await listSas(lab, a, i);
  return peers.every((p) => { const s = sas.get(`weft-${p}`); return s?.state === 'ESTABLISHED' && s.children.some((c) => c.state === 'INSTALLED'); });
}

/** iperf3 server in a container (one test: -1), resolved once it listens. */
export async function iperfServer(ct: Container, port: number): Promise<ChildProcess> {
  const p = spawn('ip', ['netns', 'exec', ct.netns, 'iperf3', '-s', '-1', '-p', String(port)], { stdio: 'ignore' });
  // iperf3 buffers its output into a pipe: ask the kernel whether it listens
  await waitFor(async () => (await ct.exec(['ss', '-Hltn', `sport = :${port}`])).trim() !== '', { what: `iperf3 server in ${ct.netns}`, timeoutMs: 10_000 });
  return p;
}

export interface IperfResult { sentBytes: number; receivedBytes: number; bitsPerSecond: number; retransmits: number; intervals: number[]; error?: string }

/** iperf3 client in a container: `-n bytes` or `-t seconds`; the JSON summary. */
export async function iperfClient(ct: Container, ip: string, port: number, o: { bytes?: string; seconds?: number }): Promise<IperfResult> {
  const args = ['netns', 'exec', ct.netns, 'iperf3', '-c', ip, '-p', String(port), '-J', ...(o.bytes ? ['-n', o.bytes] : ['-t', String(o.seconds ?? 5)])];
  const r = await runStatus('ip', args, { timeoutMs: 120_000 });
  const j = JSON.parse(r.stdout || '{}') as { error?: string; end?: { sum_sent?: { bytes: number; retransmits?: number }; sum_received?: { bytes: number; bits_per_second: number } }; intervals?: { sum: { bits_per_second: number } }[] };
  return {
    sentBytes: j.end?.sum_sent?.bytes ?? 0, receivedBytes: j.end?.sum_received?.bytes ?? 0, bitsPerSecond: j.end?.sum_received?.bits_per_second ?? 0,
    retransmits: j.end?.sum_sent?.retransmits ?? 0, intervals: (j.intervals ?? []).map((x) => x.sum.bits_per_second), ...(j.error ? { error: j.error } : {}),
  };
}

/**
 * tcpdump on host i's cable to the underlay (the root-namespace end of its
 * uplink veth: a Linux bridge's own device sees only what it floods) into a
 * pcap; stop() ends it and returns the file.
 */
export function capture(lab: MultiHostLab, i: number, file: string): Promise<{ stop(): Promise<string> }> {
  return captureOn(null, lab.hosts[i]!.rootLink, file);
}

/** tcpdump on `iface` in network namespace `netns` (null: the root namespace) into a pcap. */
export async function captureOn(netns: string | null, iface: string, file: string): Promise<{ stop(): Promise<string> }> {
  const cmd = ['tcpdump', '-i', iface, '--immediate-mode', '-U', '-s', '0', '-w', file];
  const p = netns ? spawn('ip', ['netns', 'exec', netns, ...cmd], { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d) => { err += d; });
  await waitFor(() => err.includes('listening on'), { what: 'tcpdump listening', timeoutMs: 10_000 });
  return {
    stop: async () => {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGINT');
      await gone;
      return file;
    },
  };
}

/**
 * A cleartext VXLAN frame sent onto the wire from the root namespace
 * (AF_PACKET on `iface`), as an attacker on the underlay would: outer
 * Ethernet to `outerMac`, IP src -> dst, UDP 4789, VXLAN `vni`; inside, an
 * ICMP echo innerSrc -> innerDst between the two MACs, carrying `marker`.
 */
export async function sendCleartextVxlan(o: {
  iface: string; outerMac: string; src: string; dst: string; vni: number; innerSrcMac: string; innerDstMac: string; innerSrc: string; innerDst: string; marker: string;
}): Promise<void> {
  const py = `
import socket, struct, sys
o = dict(a.split('=', 1) for a in sys.argv[1:])
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16; return (~s) & 0xffff
def mac(m): return bytes.fromhex(m.replace(':', ''))
def ip(src, dst, proto, payload):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload
icmp = struct.pack('!BBHHH', 8, 0, 0, 0x5151, 1) + o['marker'].encode()
icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
inner = mac(o['innerDstMac']) + mac(o['innerSrcMac']) + b'\\x08\\x00' + ip(o['innerSrc'], o['innerDst'], 1, icmp)
vx = struct.pack('!II', 0x08000000, int(o['vni']) << 8) + inner
udp = struct.pack('!HHHH', 40000, 4789, 8 + len(vx), 0) + vx
frame = mac(o['outerMac']) + mac('02:00:00:00:00:66') + b'\\x08\\x00' + ip(o['src'], o['dst'], 17, udp)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((o['iface'], 0))
for i in range(5): s.send(frame)
`;
  await run('python3', ['-c', py, ...Object.entries(o).map(([k, v]) => `${k}=${v}`)]);
}

