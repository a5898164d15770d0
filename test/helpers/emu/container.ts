/**
 * A "container": just a named network namespace `wfc-<name>` with lo up.
 * The CNI plugin (run inside the host namespace) creates the veth and moves
 * one end in here; the container then pings / talks TCP through br-int.
 */
import { sh } from '../ovs';
import { DEFAULT_CONTAINER_PREFIX, checkIfname, deleteNetns, Destroyable, netnsExists, register, unregister } from './common';
import type { EmuHost } from './host';
import { NetnsNode } from './netns-node';

export interface ContainerOptions {
  /** Netns prefix, default 'wfc-'. */
  prefix?: string;
  /** Keep IPv6 on (default false: no router solicitations / MLD reaching the switch). */
  ipv6?: boolean;
}

/** One IPv4 address of an interface, from `ip -j addr`. */
export interface IfAddr {
  ifname: string;
  mac: string;
  /** e.g. '10.1.0.2/24' */
  cidr: string;
}

export class Container extends NetnsNode implements Destroyable {
  readonly destroyOrder = 0;

  private constructor(
    /** The host whose CNI plugin wires this container, or null. */
    readonly host: EmuHost | null,
    readonly name: string,
    netns: string,
  ) {
    super(netns);
  }

  get label(): string {
    return `container ${this.name} (${this.netns})`;
  }

  /**
   * Creates netns `<prefix><name>` (replacing a leftover of that name) with
   * lo up. If `host` is given the container is destroyed with the host.
   */
  static async create(host: EmuHost | null, name: string, opts: ContainerOptions = {}): Promise<Container> {
    const netns = `${opts.prefix ?? DEFAULT_CONTAINER_PREFIX}${name}`;
    checkIfname(netns, 'container netns name'); // keep it short like interface names
    const c = new Container(host, name, netns);
    register(c);
    try {
      if (netnsExists(netns)) await deleteNetns(netns);
      await sh('ip', ['netns', 'add', netns]);
      await sh('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
      if (opts.ipv6 !== true) {
        await c.exec(['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      }
    } catch (e) {
      await c.destroy().catch(() => undefined);
      throw e;
    }
    host?.containers.add(c);
    return c;
  }

  /** IPv4 addresses of the container's interfaces other than lo. */
  async addresses(): Promise<IfAddr[]> {
    const j = JSON.parse(await this.exec(['ip', '-j', '-4', 'addr', 'show'])) as Array<{
      ifname: string;
      address?: string;
      addr_info?: Array<{ local: string; prefixlen: number }>;
    }>;
    const out: IfAddr[] = [];
    for (const l of j) {
      if (l.ifname === 'lo') continue;
      for (const a of l.addr_info ?? []) out.push({ ifname: l.ifname, mac: l.address ?? '', cidr: `${a.local}/${a.prefixlen}` });
    }
    return out;
  }

  /** Stops its TCP servers, kills whatever else runs in it, deletes the netns. Idempotent. */
  async destroy(): Promise<void> {
    await this.stopServers();
    await deleteNetns(this.netns);
    this.host?.containers.delete(this);
    unregister(this);
  }
}
