// The OVN side's "attach call" for bench/multihost.ts, run by the benchmark
// the way a runtime runs a CNI plugin: a fresh Node process inside the
// emulated host's network namespace. It does what weft-cni's ADD does, with
// the very same host-side code (northbound/cni/netlink.ts), except that it
// registers the port in OVN's northbound database instead of Weft's API:
//
//   1. ovn-nbctl --db=tcp:<central>:6641 lsp-add LS PORT -- lsp-set-addresses PORT "MAC IP"
//   2. veth pair; container end moved into the container, renamed, MAC, MTU,
//      address, up, default route, TX offload off (netlink.configureContainerIf)
//   3. host end up; ovs-vsctl add-port br-int HOST_IF -- set interface HOST_IF external_ids:iface-id=PORT
//   4. (waitInstalled) ovs-vsctl wait-until Interface HOST_IF external_ids:ovn-installed=true,
//      i.e. ovn-controller on this host has installed the port's flows
//      (what ovn-kubernetes' CNI waits for; the counterpart of weft-cni
//      waiting until Weft reports the endpoint ready).
//
// Argument: one JSON object (AttachArgs). Prints {"ok":true,"steps":{...}} or
// {"ok":false,"error":"..."} and exits 0 / 1.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { run } from '../../northbound/cni/exec';
import * as netlink from '../../northbound/cni/netlink';

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

async function main(): Promise<void> {
  const a = JSON.parse(process.argv[2] ?? '{}') as AttachArgs;
  const t0 = performance.now();
  const steps: Record<string, number> = {};
  const mark = (k: string) => (steps[k] = Math.round((performance.now() - t0) * 10) / 10);
  const vsctl = (...args: string[]) => run('ovs-vsctl', [`--db=${a.ovsdb}`, '--timeout=30', ...args], 35_000);

  await run('ovn-nbctl', [`--db=${a.nb}`, '--timeout=10', 'lsp-add', a.ls, a.port, '--', 'lsp-set-addresses', a.port, `${a.mac} ${a.ip}`]);
  mark('nb');
  if ((await netlink.getLink(a.hostIf)) !== null) throw new Error(`host interface ${a.hostIf} already exists`);
  const tmpName = `ovn${randomBytes(4).toString('hex')}`;
  await netlink.createVeth(a.hostIf, tmpName, a.mtu);
  await netlink.moveToNetns(tmpName, a.netns);
  await netlink.configureContainerIf(a.netns, {
    tmpName, ifName: a.ifName, mac: a.mac, mtu: a.mtu, address: `${a.ip}/${a.prefixLength}`, gateway: a.gateway,
  });
  await netlink.setUp(a.hostIf);
  mark('veth');
  await vsctl('--may-exist', 'add-port', a.bridge, a.hostIf, '--', 'set', 'interface', a.hostIf, `external_ids:iface-id=${a.port}`);
  if ((await netlink.getLink(a.hostIf)) === null) throw new Error(`host interface ${a.hostIf} vanished`);
  mark('ovs');
  if (a.waitInstalled) {
    await vsctl('wait-until', 'Interface', a.hostIf, 'external_ids:ovn-installed="true"');
    mark('installed');
  }
  process.stdout.write(JSON.stringify({ ok: true, steps }) + '\n');
}

main().catch((e: unknown) => {
  process.stdout.write(JSON.stringify({ ok: false, error: (e as Error).message ?? String(e) }) + '\n');
  process.exit(1);
});
