/**
 * Emulated container hosts (ARCHITECTURE.md decision 5, LAB.md): each host
 * is a network namespace running its own ovsdb-server + ovs-vswitchd
 * (userspace datapath) with br-phy (uplink + host IP) and br-int
 * (containers, vxlan0, patch to br-phy); all hosts hang off one Linux
 * bridge in the root namespace, where the controller runs.
 *
 *   const ul = await Underlay.create({ id: 'x', subnet: '172.31.250.0/24' });   // wfux, 172.31.250.1
 *   const h1 = await EmuHost.create({ name: 'h1', underlay: ul, index: 1,        // wf-h1, 172.31.250.2
 *                                     controller: `tcp:${ul.ip}:6653` });        // dpid 0000000000000a01
 *   const c1 = await Container.create(h1, 'c1');                                 // netns wfc-c1
 *   // ... run the CNI plugin in h1 with CNI_NETNS=c1.netnsPath, ovsdb: h1.ovsdb ...
 *   await c1.ping('10.1.0.3');  await h1.dumpFlows();
 *   after(cleanupAll);          // containers, hosts, underlays this process made
 *
 * Everything is named with a `wf` prefix (netns wf-*, wfc-*; links wfu*,
 * and the root end of each host's uplink veth is named like its netns), and
 * host files live in /tmp/weft-emu/<name>, so sweepLeftovers() (and
 * `mininet/hostlab cleanup`) can remove what a crashed run left.
 *
 * Things to know:
 * - VXLAN adds 50 bytes: with the default underlay MTU 1500, containers need
 *   MTU 1450 or full-size TCP segments vanish (ping still works). Or create
 *   the underlay with `mtu: 1600`.
 * - The first packet to a new remote host is dropped while OVS resolves
 *   the tunnel neighbour: use waitPing() before counting.
 * - Container veths need `ethtool -K <if> tx off` on the container side,
 *   or TCP fails through the userspace datapath (LAB.md).
 * - OVS 3.1 updates Controller.is_connected only every ~5 s, so
 *   isConnected() lags the real connection; and it reconnects after 1, 2,
 *   4, 8 s whatever max_backoff says: kickController() dials at once.
 * - The userspace datapath reads the uplink `eth0` through a packet socket,
 *   so the host's own stack would see its frames too (with the kernel
 *   datapath it would not): it would answer ARP for the host's address
 *   with eth0's MAC and forward copies of frames sent to that MAC. Hosts
 *   keep their stack off eth0 (`arp off`, strict rp_filter).
 */
export {
  cleanupAll,
  registered,
  DEFAULT_BASE_DIR,
  DEFAULT_HOST_PREFIX,
  DEFAULT_CONTAINER_PREFIX,
  UNDERLAY_PREFIX,
  OWNED_NETNS_RE,
  OWNED_LINK_RE,
  listNetns,
  listLinks,
  netnsExists,
  pidAlive,
  pidRssKb,
} from './emu/common';
export type { RunOptions } from './emu/common';
export { NetnsNode } from './emu/netns-node';
export type { PingOptions, PingResult, ServeTcpOptions, TcpServer } from './emu/netns-node';
export { Underlay, DEFAULT_UNDERLAY_SUBNET } from './emu/underlay';
export type { UnderlayOptions } from './emu/underlay';
export {
  EmuHost,
  defaultDpid,
  destroyHostArtifacts,
  BR_INT,
  BR_PHY,
  UPLINK,
  TUNNEL_PORT,
  BR_INT_PATCH_PORT,
  BR_PHY_PATCH_PORT,
} from './emu/host';
export type { EmuHostOptions, EmuHostInfo } from './emu/host';
export { Container } from './emu/container';
export type { ContainerOptions, IfAddr } from './emu/container';
export { sweepLeftovers } from './emu/cleanup';
export type { SweepOptions, SweepReport } from './emu/cleanup';

import { run } from './emu/common';

/** True if the OVS binaries an emulated host needs are installed (no daemon has to run). */
export async function emuAvailable(): Promise<boolean> {
  try {
    for (const b of ['ovsdb-server', 'ovs-vswitchd', 'ovsdb-tool', 'ovs-vsctl', 'ovs-ofctl', 'ethtool']) {
      await run('sh', ['-c', `command -v ${b}`]);
    }
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}
