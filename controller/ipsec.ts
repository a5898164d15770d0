// Encrypted networks' credentials (docs/pipeline.md, "Encrypted networks"):
// each registered host gets a secure VTEP address from --ipsec-vtep-cidr,
// and each pair of hosts a pre-shared key: HMAC-SHA256 of the pair (both
// names with their registration times, so a host registered again under an
// old name gets new keys) under the key generation's secret
// (crypto.randomBytes, one row per generation: the store holds O(1) keys,
// not one per pair of hosts). A pair's PSK tells nothing of another pair's
// nor of the secret. A host's IPsec agent (northbound/ipsec/agent.ts) reads
// its own part with GET /v1/hosts/{name}/ipsec and keys its strongSwan with
// it. A rekey (POST /v1/networks/{name}/rekey, or every
// --ipsec-rekey-interval seconds) makes the next generation's secret, so
// every pair gets a new PSK; the agents then rekey their SAs. PSKs and
// secrets are never logged (compose.ts redacts `psk`) and never in any
// other answer.
import { randomBytes, createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from './store';
import type { Resources, HostRec } from './resources';
import { Cidr, parseCidr, intToIp, ipToInt, overlaps } from './ipv4';

export const DEFAULT_VTEP_CIDR = '198.18.0.0/16';
/** A generation's secret, bytes (a PSK is an HMAC-SHA256: 32 bytes, base64 in the config: 44 characters). */
const SECRET_BYTES = 32;
/** Generations kept: the current one and the one before (a rekey in progress). */
const KEEP_GENERATIONS = 2;

export interface IpsecPeer {
  name: string;
  underlayIp: string;
  vtep: string;
  /** this host starts the IKE SA (the pair's lower name does) */
  initiator: boolean;
  generation: number;
  /** only in the host's own answer */
  psk?: string;
}
export interface IpsecConfig {
  host: string;
  underlayIp: string;
  vtep: string;
  vtepCidr: string;
  /** the key generation: it grows with every rekey */
  generation: number;
  /** some network is encrypted (the agent keeps its SAs up either way) */
  encryptedNetworks: string[];
  peers: IpsecPeer[];
}

/** Why a VTEP CIDR cannot be used (a prefix of /8../28, clear of the pod CIDRs), or undefined. */
export function vtepCidrRefusal(text: string, podCidrs: readonly Cidr[]): string | undefined {
  let c: Cidr;
  try { c = parseCidr(text); } catch (e) { return (e as Error).message; }
  if (c.len < 8 || c.len > 28) return `${text}: prefix length must be 8..28`;
  const pod = podCidrs.find((p) => overlaps(p, c));
  if (pod) return `${text} overlaps the pod CIDR ${pod.text}`;
  for (const f of ['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4']) if (overlaps(parseCidr(f), c)) return `${text} overlaps ${f}`;
  return undefined;
}

interface KeyRow { generation: number; secret: string }

export class IpsecKeys {
  vtepCidr: Cidr = parseCidr(DEFAULT_VTEP_CIDR);
  private rekeyIntervalS = 0;
  private configured = false;
  /** Called when hosts' VTEPs changed with no event (at configuration, or allocated on a config read): the flow source's view reads them again. */
  onVtepsChanged?: () => void;
  private timer?: NodeJS.Timeout;

  /** (A new host gets its VTEP in its registration's transaction: ContainerService.createHost calls ensureHost.) */
  constructor(private readonly store: Store, private readonly resources: Resources, private readonly log: Logger) {}

  /** The VTEP range and the periodic rekey (--ipsec-vtep-cidr, --ipsec-rekey-interval): hosts outside the range get new VTEPs. */
  configure(o: { vtepCidr?: string; rekeyIntervalS?: number }): void {
    if (o.vtepCidr !== undefined) this.vtepCidr = parseCidr(o.vtepCidr);
    if (o.rekeyIntervalS !== undefined) this.rekeyIntervalS = o.rekeyIntervalS;
    // hosts get VTEPs from the configured range only: none are moved into the default range first
    this.configured = true;
    this.ensureAll();
  }

  private ensureAll(): void {
    try {
      const vteps = () => this.resources.hosts().map((h) => h.ipsecVtep).join();
      const before = vteps();
      for (const h of this.resources.hosts()) this.ensureHost(h.name);
      if (vteps() !== before) this.onVtepsChanged?.();
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'IPsec: hosts unknown (store degraded)');
    }
  }

  start(): void {
    if (!this.configured) this.ensureAll();
    this.stop();
    if (this.rekeyIntervalS > 0) {
      this.timer = setInterval(() => {
        try { this.rekey('interval'); } catch (e) { this.log.error({ err: (e as Error).message }, 'periodic IPsec rekey failed'); }
      }, this.rekeyIntervalS * 1000);
      this.timer.unref();
    }
  }

  stop(): void { if (this.timer) clearInterval(this.timer); this.timer = undefined; }

  /** The current key generation (0: none yet), and its secret. */
  private current(): KeyRow | undefined {
    return this.store.db.prepare('SELECT generation, secret FROM ipsec_keys ORDER BY generation DESC LIMIT 1').get() as KeyRow | undefined;
  }

  /** The key generation: it grows with every rekey (replicated with the etcd store, so every controller agrees). */
  generation(): number {
    return this.current()?.generation ?? 1;
  }

  /** The current generation's secret, made on first use. */
  private key(): KeyRow {
    return this.current() ?? this.store.tx(() => {
      const k = this.current();
      if (k) return k;
      const row = { generation: 1, secret: newSecret() };
      this.store.db.prepare('INSERT INTO ipsec_keys (generation, secret, created_at) VALUES (?, ?, ?)').run(row.generation, row.secret, new Date().toISOString());
      return row;
    });
  }

  /** A host's VTEP, allocated if it has none (its keys with the others are derived: nothing to store). */
  ensureHost(name: string): void {
    this.store.tx(() => {
      const h = this.resources.host(name);
      if (!h) return;
      if (!h.ipsecVtep || !this.inRange(h.ipsecVtep)) this.resources.setHostVtep(name, this.freeVtep());
    });
  }

  private inRange(ip: string): boolean {
    const n = ipToInt(ip);
    return n > this.vtepCidr.base && n < this.vtepCidr.base + this.vtepCidr.size - 1;
  }

  /** The lowest address of the VTEP CIDR no host has (not its network or broadcast address). */
  private freeVtep(): string {
    const used = new Set(this.resources.hosts().map((h) => h.ipsecVtep).filter((x): x is string => !!x));
    for (let n = this.vtepCidr.base + 1; n < this.vtepCidr.base + this.vtepCidr.size - 1; n++) {
      const ip = intToIp(n);
      if (!used.has(ip)) return ip;
    }
    throw new Error(`the IPsec VTEP range ${this.vtepCidr.text} is full`);
  }

  /** Host `name`'s IPsec configuration; its PSKs only with `secrets` (the host's own token). */
  config(h: HostRec, secrets: boolean): IpsecConfig {
    if (!h.ipsecVtep) { this.ensureHost(h.name); this.onVtepsChanged?.(); }
    const me = this.resources.host(h.name)!;
    const k = this.key();
    const peers: IpsecPeer[] = [];
    for (const o of this.resources.hosts()) {
      if (o.name === h.name || !o.ipsecVtep) continue;
      peers.push({
        name: o.name, underlayIp: o.underlayIp, vtep: o.ipsecVtep, initiator: h.name < o.name, generation: k.generation,
        ...(secrets ? { psk: pairPsk(k.secret, me, o) } : {}),
      });
    }
    return {
      host: me.name, underlayIp: me.underlayIp, vtep: me.ipsecVtep!, vtepCidr: this.vtepCidr.text, generation: k.generation,
      encryptedNetworks: this.resources.networks().filter((n) => n.encrypted).map((n) => n.name), peers,
    };
  }

  /**
   * The next key generation: a new PSK for every pair of hosts. One SA
   * between two hosts carries all their encrypted networks, so a rekey of
   * one network rekeys them all.
   */
  rekey(why: string): { generation: number; pairs: number } {
    const out = this.store.tx(() => {
      const gen = (this.current()?.generation ?? 1) + 1;
      this.store.db.prepare('INSERT INTO ipsec_keys (generation, secret, created_at) VALUES (?, ?, ?)').run(gen, newSecret(), new Date().toISOString());
      this.store.db.prepare('DELETE FROM ipsec_keys WHERE generation <= ?').run(gen - KEEP_GENERATIONS);
      const n = this.resources.hosts().length;
      return { generation: gen, pairs: (n * (n - 1)) / 2 };
    });
    this.log.info({ why, ...out }, 'IPsec keys rekeyed');
    return out;
  }
}

const newSecret = (): string => randomBytes(SECRET_BYTES).toString('base64');

/** The PSK of a pair of hosts under a generation's secret: the same whichever side asks. */
export function pairPsk(secret: string, x: HostRec, y: HostRec): string {
  const [a, b] = x.name < y.name ? [x, y] : [y, x];
  return createHmac('sha256', Buffer.from(secret, 'base64')).update(JSON.stringify(['weft-ipsec-psk', a.name, a.createdAt, b.name, b.createdAt])).digest('base64');
}
