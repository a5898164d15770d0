// The container pipeline on br-int, declared as data (the Faucet model):
// each table has a name, a purpose, the match fields it may use, the tables
// it may go to, and its miss behaviour. Table ids come from the order.
// Flows are checked against the declaration when they are built.
// Register use and the cookie layout are named here and nowhere else.
import {
  FlowMod, flowMod, Oxm, Action, Instruction, OFPFC_ADD,
} from '../southbound/codec';

export type TableName = 'classifier' | 'spoofGuard' | 'arpResponder' | 'l3Forwarding' | 'l2Forwarding';

export interface TableDecl {
  name: TableName;
  purpose: string;
  matches: readonly string[];
  next: readonly TableName[];
  /** What a packet that matches no flow gets: dropped, or sent on to a table. */
  miss: 'drop' | { goto: TableName };
}

export const PIPELINE: readonly TableDecl[] = [
  {
    name: 'classifier', purpose: 'where a packet came from: the tunnel (VNI -> network id in reg6), the underlay through br-phy (routed mode: to the gateway; NAT replies; underlay VLANs); anything else is from an endpoint port and goes to the spoof guard',
    matches: ['in_port', 'tunnel_id', 'vlan_vid', 'eth_dst'], next: ['spoofGuard', 'l2Forwarding', 'l3Forwarding'], miss: { goto: 'spoofGuard' },
  },
  {
    name: 'spoofGuard', purpose: 'an endpoint may only send from its own MAC and IP (ARP and IPv4); what passes is classified (in_port -> network id in reg6); anything else is dropped',
    matches: ['in_port', 'eth_src', 'eth_type', 'arp_spa', 'arp_sha', 'ipv4_src'], next: ['arpResponder', 'l3Forwarding'], miss: 'drop',
  },
  {
    name: 'arpResponder', purpose: 'answers ARP requests for the gateway and for known endpoints of the same network from flows (underlay networks pass the rest on to the business network)',
    matches: ['reg6', 'eth_type', 'arp_op', 'arp_tpa'], next: ['l2Forwarding'], miss: 'drop',
  },
  {
    name: 'l3Forwarding', purpose: 'distributed gateway: IPv4 to the gateway MAC is routed to the destination endpoint, local or (by host block) remote (TTL-1, MACs rewritten)',
    matches: ['reg6', 'eth_type', 'eth_dst', 'ipv4_dst'], next: ['l2Forwarding'], miss: { goto: 'l2Forwarding' },
  },
  {
    name: 'l2Forwarding', purpose: 'delivery within a network by destination MAC: to a local port, or through the tunnel to the host that owns the address block',
    matches: ['reg6', 'eth_dst'], next: [], miss: 'drop',
  },
];

export const TABLE_ID: Record<TableName, number> = Object.fromEntries(PIPELINE.map((t, i) => [t.name, i])) as Record<TableName, number>;

/** Register use, named once. */
export const REG = {
  /** network id of the packet's source endpoint (set by the classifier) */
  network: 'reg6',
} as const;

/** The distributed gateway's MAC, the same on every host and network (locally administered). */
export const GATEWAY_MAC = '0e:00:00:00:00:01';

/** Priority bands. */
export const PRIO = { miss: 0, fallback: 50, default: 100, block: 150, specific: 200 } as const;

/** Name of the VXLAN port (remote_ip=flow, key=flow) on every host's br-int. */
export const TUNNEL_PORT = 'vxlan0';
/** Patch port on br-int leading to br-phy, and its peer on br-phy. */
export const PATCH_PORT = 'patch-phy';
export const PHY_PATCH_PORT = 'patch-int';
/** reg6 value of packets that came in from the underlay (routed mode). */
export const UNDERLAY_NET = 0xfffe;
/** Conntrack zone of published ports (DNAT) on br-phy. */
export const NAT_ZONE = 0xfe00;

/**
 * Endpoint MACs are derived from the network id and the address:
 * 0a:<id>:<IPv4 bytes>. A host block of addresses is then also a MAC prefix,
 * so one flow per remote block (not per remote endpoint) delivers, answers
 * ARP and routes: flows grow with hosts, not with the cluster's endpoints.
 */
export function derivedMac(networkId: number, ip: string): string {
  return ['0a', (networkId & 0xff).toString(16).padStart(2, '0'), ...ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0'))].join(':');
}
/** The MAC prefix/mask of an address block under derivedMac. */
export function blockMac(networkId: number, baseIp: string, len: number): { value: string; mask: string } {
  const maskInt = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const m = [24, 16, 8, 0].map((sh) => ((maskInt >>> sh) & 255).toString(16).padStart(2, '0'));
  return { value: derivedMac(networkId, baseIp), mask: ['ff', 'ff', ...m].join(':') };
}

// Cookies: | round (16) | category (8) | reserved (8) | object id (32) |.
// One delete with mask ROUND_MASK removes a stale generation after a restart.
export const ROUND_SHIFT = 48n;
export const ROUND_MASK = 0xffffn << ROUND_SHIFT;
export const CATEGORY = { pipeline: 1, network: 2, endpoint: 3 } as const;
export type Category = keyof typeof CATEGORY;

export function cookie(round: number, category: Category, objectId: number): bigint {
  return (BigInt(round & 0xffff) << ROUND_SHIFT) | (BigInt(CATEGORY[category]) << 40n) | BigInt(objectId >>> 0);
}
export const roundOf = (c: bigint): number => Number(c >> ROUND_SHIFT);

export class PipelineError extends Error {}

/** A flow builder that refuses matches and gotos the declaration does not allow. */
export class FlowBuilder {
  private readonly decl: TableDecl;
  private readonly m: Oxm[] = [];
  private acts: Action[] = [];
  private next?: TableName;
  private prio: number = PRIO.default;

  constructor(table: TableName, private readonly owner: { category: Category; id: number }) {
    this.decl = PIPELINE[TABLE_ID[table]];
  }

  priority(p: number): this { this.prio = p; return this; }

  match(field: string, value: Oxm['value'], mask?: Oxm['mask']): this {
    if (!this.decl.matches.includes(field)) throw new PipelineError(`table ${this.decl.name} does not match on ${field}`);
    this.m.push(mask === undefined ? { field, value } : { field, value, mask });
    return this;
  }

  actions(...a: Action[]): this { this.acts.push(...a); return this; }

  goto(t: TableName): this {
    if (!this.decl.next.includes(t)) throw new PipelineError(`table ${this.decl.name} may not go to ${t}`);
    this.next = t;
    return this;
  }

  /** The flow-mod; the reconciler fills in the round. */
  build(round = 0): FlowMod {
    const instructions: Instruction[] = [];
    if (this.acts.length) instructions.push({ type: 'apply_actions', actions: this.acts });
    if (this.next) instructions.push({ type: 'goto_table', table_id: TABLE_ID[this.next] });
    return flowMod({
      command: OFPFC_ADD, table_id: TABLE_ID[this.decl.name], priority: this.prio,
      cookie: cookie(round, this.owner.category, this.owner.id), match: this.m, instructions,
    });
  }
}

export const flow = (table: TableName, owner: { category: Category; id: number }) => new FlowBuilder(table, owner);

/** Miss flows: every table states its miss behaviour explicitly, so dumps show the whole pipeline. */
export function missFlows(): FlowMod[] {
  return PIPELINE.map((t) => {
    const b = flow(t.name, { category: 'pipeline', id: TABLE_ID[t.name] }).priority(PRIO.miss);
    if (t.miss !== 'drop') b.goto(t.miss.goto);
    return b.build();
  });
}
