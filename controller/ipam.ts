// IPAM with block affinity (the Calico model): a network's CIDR is carved
// into blocks (default /26) that hosts claim on demand. A host allocates
// from its own blocks first, claims a free block next, and borrows a free
// address from another host's block last, so addresses stay unique
// network-wide while each host's endpoints aggregate under few prefixes.
// Every allocation runs inside the caller's transaction; the UNIQUE
// (network_id, ip_int) constraint is the final guard against duplicates.
import type { Store } from './store';
import type { NetworkRec } from './resources';
import { Cidr, parseCidr, parseIp, intToIp, ipToInt, cidrContains } from './ipv4';

export class IpamError extends Error {
  constructor(readonly code: 'exhausted' | 'conflict' | 'bad_request', message: string, readonly field?: string) {
    super(message);
  }
}

/** An address block of a network, claimed by a host (or by none). */
export interface Block { networkId: number; base: number; len: number; host: string | null }

/** Frozen lists of blocks by network, then base, with each network's block lengths: a lookup costs one per length, not a scan. */
const indexes = new WeakMap<readonly Block[], Map<number, { lens: number[]; byBase: Map<number, Block> }>>();
function indexOf(blocks: readonly Block[]): Map<number, { lens: number[]; byBase: Map<number, Block> }> {
  let ix = indexes.get(blocks);
  if (ix) return ix;
  ix = new Map();
  for (const b of blocks) {
    let n = ix.get(b.networkId);
    if (!n) ix.set(b.networkId, (n = { lens: [], byBase: new Map() }));
    if (!n.lens.includes(b.len)) n.lens.push(b.len);
    if (!n.byBase.has(b.base)) n.byBase.set(b.base, b); // (the first, as a scan finds it)
  }
  indexes.set(blocks, ix);
  return ix;
}

/**
 * The block of network `networkId` that holds address `ip` (an integer), if
 * any. A frozen list (Ipam's, the cluster view's) is indexed once: a
 * thousand hosts' blocks cost a lookup, not a scan, per endpoint.
 */
export function blockOf(blocks: readonly Block[], networkId: number, ip: number): Block | undefined {
  if (!Object.isFrozen(blocks)) return blocks.find((b) => b.networkId === networkId && ip >= b.base && ip < b.base + 2 ** (32 - b.len));
  const n = indexOf(blocks).get(networkId);
  if (!n) return undefined;
  for (const len of n.lens) {
    const size = 2 ** (32 - len);
    const b = n.byBase.get(ip - (ip % size));
    if (b && b.len === len && ip >= b.base && ip < b.base + size) return b;
  }
  return undefined;
}

export interface Allocation { ip: string; ipInt: number; block: string }

export class Ipam {
  /**
   * Every write to the blocks table draws a new random stamp (temporary triggers:
   * this controller's writes, another's rows applied to the etcd replica,
   * a host's release, a network's cascade), so allBlocks reads the table
   * again only after one. An attach used to read every block two or three
   * times (thousands of rows at 1000 hosts) to learn whether one changed.
   * (Random, not a count: a rolled-back write takes its stamp back with it,
   * and a count would then give the next write the same number as a list
   * read inside the rolled-back transaction.)
   */
  private readonly versioned: boolean;
  private cached?: { v: number | bigint | undefined; blocks: readonly Block[] };

  constructor(readonly store: Store) {
    let ok = true;
    try {
      store.db.exec(`CREATE TEMP TABLE IF NOT EXISTS weft_blocks_version (v INTEGER NOT NULL);
        INSERT INTO weft_blocks_version SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM weft_blocks_version);
        CREATE TEMP TRIGGER IF NOT EXISTS weft_blocks_i AFTER INSERT ON main.blocks BEGIN UPDATE weft_blocks_version SET v = random(); END;
        CREATE TEMP TRIGGER IF NOT EXISTS weft_blocks_u AFTER UPDATE ON main.blocks BEGIN UPDATE weft_blocks_version SET v = random(); END;
        CREATE TEMP TRIGGER IF NOT EXISTS weft_blocks_d AFTER DELETE ON main.blocks BEGIN UPDATE weft_blocks_version SET v = random(); END;`);
    } catch {
      ok = false; // (a read-only or closed database: every call reads the table)
    }
    this.versioned = ok;
  }

  /** Network and broadcast addresses, the gateway and service VIPs are never handed out. */
  private reserved(net: NetworkRec, c: Cidr): Set<number> {
    const r = new Set([ipToInt(net.gateway)]);
    for (const v of this.store.db.prepare('SELECT vip_int FROM services WHERE network_id = ?').all(net.id) as { vip_int: number }[]) r.add(v.vip_int);
    if (c.len <= 30) { r.add(c.base); r.add(c.base + c.size - 1); }
    return r;
  }

  /**
   * Why an address of the network is never handed out, or undefined. An
   * underlay network shares the business subnet with machines that are not
   * containers: only its ranges (if it has them) are the platform's, its
   * exclude list is not, and no registered host's underlay address or router is.
   */
  private refusal(net: NetworkRec, c: Cidr): (ip: number) => string | undefined {
    const reserved = this.reserved(net, c);
    if (net.mode !== 'underlay') return (ip) => (reserved.has(ip) ? 'reserved (network, broadcast, gateway or service VIP address)' : undefined);
    const ranges = (net.ranges ?? []).map((r) => [ipToInt(r.start), ipToInt(r.end)] as const);
    const excluded = new Set((net.exclude ?? []).map(ipToInt));
    const hosts = new Set<number>();
    for (const h of this.store.db.prepare('SELECT underlay_ip, underlay_gateway FROM hosts').all() as { underlay_ip: string; underlay_gateway: string | null }[]) {
      for (const a of [h.underlay_ip, h.underlay_gateway]) if (a) hosts.add(ipToInt(a));
    }
    return (ip) => {
      if (reserved.has(ip)) return 'reserved (network, broadcast, gateway or service VIP address)';
      if (ranges.length && !ranges.some(([s, e]) => ip >= s && ip <= e)) return `outside the network's ranges (${net.ranges!.map((r) => `${r.start}-${r.end}`).join(', ')})`;
      if (excluded.has(ip)) return 'excluded by the network (exclude)';
      if (hosts.has(ip)) return "a registered host's underlay address or router";
      return undefined;
    };
  }

  /** Whether a block [base, base+size) holds any address of the network's ranges. */
  private inRanges(net: NetworkRec, base: number, size: number): boolean {
    if (net.mode !== 'underlay' || !net.ranges?.length) return true;
    return net.ranges.some((r) => ipToInt(r.start) < base + size && ipToInt(r.end) >= base);
  }

  private blockLen(net: NetworkRec, c: Cidr): number {
    return Math.max(net.blockSize, c.len);
  }

  private used(networkId: number, base: number, size: number): Set<number> {
    const rows = this.store.db.prepare('SELECT ip_int FROM endpoints WHERE network_id = ? AND ip_int >= ? AND ip_int < ?').all(networkId, base, base + size) as { ip_int: number }[];
    return new Set(rows.map((r) => r.ip_int));
  }

  private firstFree(net: NetworkRec, base: number, size: number, refused: (ip: number) => string | undefined): number | undefined {
    if (!this.inRanges(net, base, size)) return undefined;
    const used = this.used(net.id, base, size);
    for (let ip = base; ip < base + size; ip++) if (!used.has(ip) && refused(ip) === undefined) return ip;
    return undefined;
  }

  private claim(net: NetworkRec, base: number, len: number, host: string): void {
    this.store.db.prepare('INSERT INTO blocks (network_id, base, len, host) VALUES (?, ?, ?, ?)').run(net.id, base, len, host);
  }

  /** Blocks of a network with their owner, e.g. for GET /v1/networks/{n}/blocks. */
  blocks(networkId: number): { cidr: string; host: string | null; used: number }[] {
    const rows = this.store.db.prepare('SELECT base, len, host FROM blocks WHERE network_id = ? ORDER BY base').all(networkId) as { base: number; len: number; host: string | null }[];
    return rows.map((b) => ({ cidr: `${intToIp(b.base)}/${b.len}`, host: b.host, used: this.used(networkId, b.base, 2 ** (32 - b.len)).size }));
  }

  /**
   * Every claimed block of every network (frozen: the same array, and the
   * same objects, until a block changes).
   */
  allBlocks(): readonly Block[] {
    const v = this.versioned ? (this.store.db.prepare('SELECT v FROM temp.weft_blocks_version').get() as { v: number | bigint }).v : undefined;
    if (this.cached && v !== undefined && this.cached.v === v) return this.cached.blocks;
    const blocks = Object.freeze((this.store.db.prepare('SELECT network_id, base, len, host FROM blocks ORDER BY network_id, base').all() as { network_id: number; base: number; len: number; host: string | null }[])
      .map((b) => Object.freeze({ networkId: b.network_id, base: b.base, len: b.len, host: b.host })));
    this.cached = { v, blocks };
    return blocks;
  }

  allocate(net: NetworkRec, host: string, requested?: string): Allocation {
    const c = parseCidr(net.cidr);
    const len = this.blockLen(net, c);
    const size = 2 ** (32 - len);
    const blockOf = (ip: number) => (ip - ((ip - c.base) % size)) >>> 0;
    const mine = this.store.db.prepare('SELECT base FROM blocks WHERE network_id = ? AND host = ? ORDER BY base').all(net.id, host) as { base: number }[];
    const refused = this.refusal(net, c);
    if (requested !== undefined) {
      let ip: number;
      try { ip = parseIp(requested); } catch { throw new IpamError('bad_request', `"${requested}" is not an IPv4 address`, 'ip'); }
      if (!cidrContains(c, ip)) throw new IpamError('bad_request', `${requested} is not in ${net.cidr}`, 'ip');
      const why = refused(ip);
      if (why) throw new IpamError('bad_request', `${requested} is ${why}`, 'ip');
      if (this.used(net.id, ip, 1).size) throw new IpamError('conflict', `${requested} is already in use in network ${net.name}`, 'ip');
      const b = blockOf(ip);
      const exists = this.store.db.prepare('SELECT 1 FROM blocks WHERE network_id = ? AND base = ?').get(net.id, b);
      if (!exists) this.claim(net, b, len, host);
      return { ip: requested, ipInt: ip, block: `${intToIp(b)}/${len}` };
    }
    for (const { base } of mine) {
      const ip = this.firstFree(net, base, size, refused);
      if (ip !== undefined) return { ip: intToIp(ip), ipInt: ip, block: `${intToIp(base)}/${len}` };
    }
    const taken = new Set((this.store.db.prepare('SELECT base FROM blocks WHERE network_id = ?').all(net.id) as { base: number }[]).map((r) => r.base));
    for (let base = c.base; base < c.base + c.size; base += size) {
      if (taken.has(base)) continue;
      const ip = this.firstFree(net, base, size, refused);
      if (ip === undefined) continue;
      this.claim(net, base, len, host);
      return { ip: intToIp(ip), ipInt: ip, block: `${intToIp(base)}/${len}` };
    }
    // borrow from any block with room (another host's, or one whose owner was deleted)
    for (const base of [...taken].sort((a, b) => a - b)) {
      const ip = this.firstFree(net, base, size, refused);
      if (ip !== undefined) return { ip: intToIp(ip), ipInt: ip, block: `${intToIp(base)}/${len}` };
    }
    throw new IpamError('exhausted', `network ${net.name} (${net.cidr}) has no free address${net.mode === 'underlay' && net.ranges?.length ? ' in its ranges' : ''}`);
  }

  /** After an endpoint is deleted: give an empty block back so any host can claim it. */
  releaseIfEmpty(net: NetworkRec, ipInt: number): void {
    const c = parseCidr(net.cidr);
    const size = 2 ** (32 - this.blockLen(net, c));
    const base = (ipInt - ((ipInt - c.base) % size)) >>> 0;
    if (this.used(net.id, base, size).size === 0) this.store.db.prepare('DELETE FROM blocks WHERE network_id = ? AND base = ?').run(net.id, base);
  }
}
