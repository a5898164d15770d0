/**
 * The underlay: a Linux bridge in the root namespace with the first address
 * of its subnet. Every emulated host plugs a veth into it; the controller,
 * running in the root namespace, is reachable from the hosts at `ip`.
 */
import { randomBytes } from 'node:crypto';
import { sh } from '../ovs';
import {
  checkIfname,
  deleteLink,
  Destroyable,
  intToIp,
  linkExists,
  parseSubnet,
  register,
  run,
  runStatus,
  Subnet,
  UNDERLAY_PREFIX,
  unregister,
} from './common';

export const DEFAULT_UNDERLAY_SUBNET = '172.31.250.0/24';

export interface UnderlayOptions {
  /** Bridge is `wfu<id>` (at most 12 chars of id); default 6 random hex digits. */
  id?: string;
  /** Default 172.31.250.0/24; the bridge gets .1, host index i gets .(i+1). */
  subnet?: string;
  /**
   * MTU of the underlay bridge and of every host's uplink (veth pair and
   * br-phy). Default 1500: then VXLAN (+50 bytes) only carries container
   * packets up to 1450, so a container MTU of 1500 drops full-size TCP
   * segments silently. Use e.g. 1600 to let containers keep 1500.
   */
  mtu?: number;
}

export class Underlay implements Destroyable {
  readonly destroyOrder = 2;
  /** Root-namespace bridge name, e.g. 'wfulab'. */
  readonly name: string;
  readonly subnet: Subnet;
  /** The bridge's address, e.g. '172.31.250.1': where hosts reach the controller. */
  readonly ip: string;
  /** e.g. '172.31.250.1/24' */
  readonly cidr: string;
  readonly mtu: number;
  private created = false;

  constructor(opts: UnderlayOptions = {}) {
    this.name = `${UNDERLAY_PREFIX}${opts.id ?? randomBytes(3).toString('hex')}`;
    checkIfname(this.name, 'underlay bridge name');
    this.subnet = parseSubnet(opts.subnet ?? DEFAULT_UNDERLAY_SUBNET);
    this.ip = intToIp(this.subnet.network + 1);
    this.cidr = `${this.ip}/${this.subnet.prefixLen}`;
    this.mtu = opts.mtu ?? 1500;
    if (!Number.isInteger(this.mtu) || this.mtu < 1280 || this.mtu > 9000) throw new Error(`underlay mtu ${this.mtu}: want 1280..9000`);
  }

  get label(): string {
    return `underlay ${this.name} ${this.cidr}`;
  }

  /** Creates and starts an underlay in one call. */
  static async create(opts: UnderlayOptions = {}): Promise<Underlay> {
    return new Underlay(opts).create();
  }

  /** Address of host `index` (1-based): network + index + 1. */
  hostIp(index: number): string {
    if (!Number.isInteger(index) || index < 1 || index + 1 >= this.subnet.size - 1) {
      throw new Error(`host index ${index} out of range 1..${this.subnet.size - 3} for ${this.subnet.cidr}`);
    }
    return intToIp(this.subnet.network + index + 1);
  }

  /**
   * Creates the bridge (replacing a leftover of the same name), gives it
   * `cidr`, turns TX offload off (LAB.md) and IPv6 off, and sets it up.
   * Refuses if another interface already routes the subnet.
   */
  async create(): Promise<this> {
    register(this);
    try {
      await deleteLink(this.name);
      const routes = (await sh('ip', ['-4', 'route', 'show', 'exact', this.subnet.cidr])).split('\n').filter((l) => l.trim() !== '');
      if (routes.length > 0) {
        throw new Error(`subnet ${this.subnet.cidr} is already routed (${routes.join('; ').trim()}): another underlay is up? Pick another subnet.`);
      }
      await sh('ip', ['link', 'add', this.name, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
      await sh('ip', ['link', 'set', this.name, 'mtu', String(this.mtu)]);
      this.created = true;
      await runStatus('sysctl', ['-qw', `net.ipv6.conf.${this.name}.disable_ipv6=1`]);
      await sh('ip', ['addr', 'add', this.cidr, 'dev', this.name]);
      await sh('ip', ['link', 'set', this.name, 'up']);
      await run('ethtool', ['-K', this.name, 'tx', 'off']);
      return this;
    } catch (e) {
      await this.destroy().catch(() => undefined);
      throw e;
    }
  }

  /** True if the bridge exists. */
  exists(): Promise<boolean> {
    return linkExists(this.name);
  }

  /** Deletes the bridge (no error if missing). Destroy hosts first. */
  async destroy(): Promise<void> {
    await deleteLink(this.name);
    this.created = false;
    unregister(this);
  }

  /** Whether create() got as far as making the bridge (and destroy() has not run). */
  get isCreated(): boolean {
    return this.created;
  }
}
