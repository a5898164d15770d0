// The OVN side's "attach call" as a Node script (system `ovn-node` in
// bench/multihost.ts): the benchmark runs it the way a runtime runs a CNI
// plugin, as a fresh Node process inside the emulated host's network
// namespace, so it pays what weft-cni pays for being a Node program. It runs
// the same commands as ovn-attach.sh (OVN_ATTACH_SH in ./ovn.ts), through
// child_process.execFile like weft-cni does; it does not import weft-cni's
// modules, so that changes there do not change this side:
//
//   ovn-nbctl --db=tcp:<central>:6641 lsp-add LS PORT -- lsp-set-addresses PORT "MAC IP"
//   ip -j link show dev HOST_IF                      (must not exist)
//   ip link add name HOST_IF mtu M type veth peer name TMP mtu M netns NETNS
//   nsenter --net=NETNS -- ip link set dev TMP name IF address MAC mtu M
//   nsenter --net=NETNS -- ip addr add IP/LEN dev IF
//   nsenter --net=NETNS -- ip link set dev IF up
//   nsenter --net=NETNS -- ip route add default via GW dev IF
//   nsenter --net=NETNS -- ethtool -K IF tx off
//   ip link set dev HOST_IF up
//   ovs-vsctl add-port br-int HOST_IF -- set interface HOST_IF external_ids:iface-id=PORT
//   ip -j link show dev HOST_IF
//   ovs-vsctl wait-until Interface HOST_IF external_ids:ovn-installed="true"   (waitInstalled)
//
// Argument: one JSON object (AttachArgs). Prints
// {"ok":true,"marks":[[step, epoch ms], ...],"cpu":{"self":ms,"children":ms}}
// or {"ok":false,"error":"..."} and exits 0 / 1.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface AttachArgs {
  /** NB database remote, e.g. tcp:172.31.231.1:6641 */
  nb: string;
  ls: string;
  port: string;
  mac: string;
  ip: string;
  prefixLength: number;
  gateway: string | null;
  /** Container netns path (CNI_NETNS). */
  netns: string;
  ifName: string;
  /** Host-side interface name. */
  hostIf: string;
  mtu: number;
  /** This host's OVSDB, e.g. unix:/tmp/.../db.sock */
  ovsdb: string;
  bridge: string;
  waitInstalled: boolean;
}

function run(cmd: string, args: string[], timeoutMs = 35_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

const exists = (dev: string): Promise<boolean> => run('ip', ['-j', 'link', 'show', 'dev', dev]).then(() => true, () => false);

async function main(): Promise<void> {
  const a = JSON.parse(process.argv[2] ?? '{}') as AttachArgs;
  // marks: [step, epoch ms when it ended], the same steps as ovn-attach.sh
  const marks: [string, number][] = [];
  const mark = (k: string) => marks.push([k, performance.timeOrigin + performance.now()]);
  const vsctl = (...args: string[]) => run('ovs-vsctl', [`--db=${a.ovsdb}`, '--timeout=30', ...args]);
  const inCtr = (cmd: string, ...args: string[]) => run('nsenter', [`--net=${a.netns}`, '--', cmd, ...args]);
  const m = String(a.mtu);
  mark('start');
  await run('ovn-nbctl', [`--db=${a.nb}`, '--timeout=10', 'lsp-add', a.ls, a.port, '--', 'lsp-set-addresses', a.port, `${a.mac} ${a.ip}`]);
  mark('register');
  if (await exists(a.hostIf)) throw new Error(`host interface ${a.hostIf} already exists`);
  const tmp = `ovn${randomBytes(4).toString('hex')}`;
  await run('ip', ['link', 'add', 'name', a.hostIf, 'mtu', m, 'type', 'veth', 'peer', 'name', tmp, 'mtu', m, 'netns', a.netns]);
  await inCtr('ip', 'link', 'set', 'dev', tmp, 'name', a.ifName, 'address', a.mac, 'mtu', m);
  await inCtr('ip', 'addr', 'add', `${a.ip}/${a.prefixLength}`, 'dev', a.ifName);
  await inCtr('ip', 'link', 'set', 'dev', a.ifName, 'up');
  if (a.gateway) await inCtr('ip', 'route', 'add', 'default', 'via', a.gateway, 'dev', a.ifName);
  await inCtr('ethtool', '-K', a.ifName, 'tx', 'off');
  await run('ip', ['link', 'set', 'dev', a.hostIf, 'up']);
  mark('plumb');
  await vsctl('--may-exist', 'add-port', a.bridge, a.hostIf, '--', 'set', 'interface', a.hostIf, `external_ids:iface-id=${a.port}`);
  mark('add-port');
  if (!(await exists(a.hostIf))) throw new Error(`host interface ${a.hostIf} vanished`);
  if (a.waitInstalled) await vsctl('wait-until', 'Interface', a.hostIf, 'external_ids:ovn-installed="true"');
  mark('wait');
  // utime, stime, cutime, cstime (10 ms ticks): this process, and the commands it ran
  const st = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number);
  process.stdout.write(JSON.stringify({ ok: true, marks, cpu: { self: (f[0]! + f[1]!) * 10, children: (f[2]! + f[3]!) * 10 } }) + '\n');
}

main().catch((e: unknown) => {
  process.stdout.write(JSON.stringify({ ok: false, error: (e as Error).message ?? String(e) }) + '\n');
  process.exit(1);
});
