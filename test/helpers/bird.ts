// bird2 as the underlay's router in a lab namespace: passive BGP sessions
// to Weft controllers (graceful restart on), routes exported to the
// namespace's kernel, a log with BGP states, events and packets, and birdc
// on its control socket.
import { spawn, ChildProcess, execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Container } from './emu/container';

const run = promisify(execFile);
export const birdAvailable = (): boolean => fs.existsSync('/usr/sbin/bird');

export interface BirdNeighbor { name: string; ip: string; asn: number }

export class Bird {
  private constructor(readonly dir: string, private readonly proc: ChildProcess) {}

  /** bird in `router`'s namespace (its address `ip`, AS `asn`), one protocol per neighbor, its files under `dir`. */
  static start(router: Container, ip: string, asn: number, neighbors: BirdNeighbor[], dir: string): Bird {
    fs.mkdirSync(dir, { recursive: true });
    const conf = path.join(dir, 'bird.conf');
    fs.writeFileSync(conf, [
      `log "${path.join(dir, 'bird.log')}" all;`,
      `router id ${ip};`,
      'protocol device { scan time 10; }',
      'protocol kernel { ipv4 { import none; export all; }; }',
      ...neighbors.map((n) => [
        `protocol bgp ${n.name} { local ${ip} as ${asn}; neighbor ${n.ip} as ${n.asn}; passive on; hold time 30;`,
        '  graceful restart on; debug { states, events, packets };',
        '  ipv4 { import all; export none; }; }',
      ].join('\n')),
    ].join('\n') + '\n');
    const p = spawn('ip', ['netns', 'exec', router.netns, 'bird', '-f', '-c', conf, '-s', path.join(dir, 'bird.ctl'), '-P', path.join(dir, 'bird.pid')], { stdio: 'ignore' });
    return new Bird(dir, p);
  }

  async birdc(...cmd: string[]): Promise<string> {
    return (await run('birdc', ['-s', path.join(this.dir, 'bird.ctl'), ...cmd])).stdout;
  }

  /** The prefixes bird has (from `protocol`, or from any). */
  async routes(protocol?: string): Promise<Set<string>> {
    const out = await this.birdc('show', 'route', ...(protocol ? ['protocol', protocol] : []));
    return new Set([...out.matchAll(/^(\d+\.\d+\.\d+\.\d+\/\d+)\s/gm)].map((m) => m[1]!));
  }

  /** The lines of bird's log about `protocol`. */
  log(protocol: string): string[] {
    const f = path.join(this.dir, 'bird.log');
    return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.includes(` ${protocol}: `)) : [];
  }

  /** How many lines of `protocol`'s log match `re`. */
  count(protocol: string, re: RegExp): number {
    return this.log(protocol).filter((l) => re.test(l)).length;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill();
    await gone;
  }
}
