// Containers as network namespaces with a veth into an OVS bridge, set up
// the way a CNI plugin does it (for pipeline tests that do not go through
// weft-cni). Everything is tracked and removed by cleanupNetns().
import { randomBytes } from 'node:crypto';
import { spawn, ChildProcess, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { sh } from './ovs';

const created: { ns: string[]; links: string[]; procs: ChildProcess[] } = { ns: [], links: [], procs: [] };

export async function nsExec(ns: string, cmd: string, args: string[]): Promise<string> {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
}

export interface Attach { ns: string; ifName: string; ip: string; prefixLength: number; gateway: string; mac: string; portName: string; mtu?: number }

/** A fresh namespace for one container. */
export async function newNetns(prefix = 'wfc'): Promise<string> {
  const ns = `${prefix}-${randomBytes(3).toString('hex')}`;
  await sh('ip', ['netns', 'add', ns]);
  created.ns.push(ns);
  await nsExec(ns, 'ip', ['link', 'set', 'lo', 'up']);
  return ns;
}

/** veth: portName stays in this namespace, the peer becomes ifName in the container with MAC/IP/route; TX offload off. */
export async function plugVeth(a: Attach): Promise<void> {
  const tmp = `wt${randomBytes(4).toString('hex')}`;
  await sh('ip', ['link', 'add', a.portName, 'type', 'veth', 'peer', 'name', tmp]);
  created.links.push(a.portName);
  await sh('ip', ['link', 'set', tmp, 'netns', a.ns]);
  await nsExec(a.ns, 'ip', ['link', 'set', tmp, 'name', a.ifName]);
  await nsExec(a.ns, 'ip', ['link', 'set', a.ifName, 'address', a.mac, 'mtu', String(a.mtu ?? 1500)]);
  await nsExec(a.ns, 'ip', ['addr', 'add', `${a.ip}/${a.prefixLength}`, 'dev', a.ifName]);
  await nsExec(a.ns, 'ip', ['link', 'set', a.ifName, 'up']);
  await nsExec(a.ns, 'ip', ['route', 'add', 'default', 'via', a.gateway]);
  await nsExec(a.ns, 'ethtool', ['-K', a.ifName, 'tx', 'off']);
  await sh('ip', ['link', 'set', a.portName, 'up']);
}

export async function ping(ns: string, ip: string, count = 2, waitS = 2, extra: string[] = []): Promise<{ sent: number; received: number }> {
  const out = await promisify(execFile)('ip', ['netns', 'exec', ns, 'ping', '-c', String(count), '-W', String(waitS), '-i', '0.2', ...extra, ip])
    .then((r) => r.stdout, (e: { stdout?: string; message: string }) => e.stdout ?? e.message);
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  return { sent: m ? Number(m[1]) : count, received: m ? Number(m[2]) : 0 };
}

/** A TCP echo server inside a namespace (node); resolves when listening. */
export async function tcpEchoServer(ns: string, port: number): Promise<() => void> {
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e',
    `require('net').createServer(s=>s.pipe(s)).listen(${port},()=>console.log('listening'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  created.procs.push(p);
  await new Promise<void>((res, rej) => {
    p.stdout!.once('data', () => res());
    p.once('exit', (c) => rej(new Error(`echo server exited ${c}`)));
  });
  return () => p.kill();
}

/** Connect over TCP from a namespace, send text, return what came back (or throw). */
export async function tcpEcho(ns: string, ip: string, port: number, text: string, timeoutMs = 3000): Promise<string> {
  return nsExec(ns, process.execPath, ['-e',
    `const s=require('net').connect(${port},'${ip}',()=>s.write(${JSON.stringify(text)}));let b='';` +
    `s.on('data',d=>{b+=d;if(b.length>=${text.length}){process.stdout.write(b);process.exit(0)}});` +
    `s.on('error',e=>{console.error(e.message);process.exit(1)});setTimeout(()=>{console.error('timeout');process.exit(2)},${timeoutMs})`]);
}

export async function cleanupNetns(): Promise<void> {
  for (const p of created.procs.splice(0)) p.kill('SIGKILL');
  for (const l of created.links.splice(0)) await sh('ip', ['link', 'del', l]).catch(() => {});
  for (const ns of created.ns.splice(0)) await sh('ip', ['netns', 'del', ns]).catch(() => {});
}
