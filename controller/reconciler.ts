// Desired flows vs the switch's actual flows. On (re)connect: install the
// whole desired set under the current round (ADD replaces an identical
// match+priority in place, so traffic never stops), wait for the barrier,
// then delete every flow of another round by cookie mask (one delete per
// bit of the round: nothing is read from the switch). In steady state only the difference is sent — deletes first, then
// adds — followed by a barrier; sync() resolves once the switch has
// confirmed, which is when endpoints may be called ready.
import type { Logger } from 'pino';
import { FlowMod, flowMod, encodeMessage, OFPFC_DELETE, OFPFC_DELETE_STRICT, OFPTT_ALL, MeterBand, Bucket } from '../southbound/codec';
import type { Connection } from '../southbound/channel';
import { ROUND_MASK, ROUND_SHIFT, CATEGORY, categoryOf, objectIdOf } from './pipeline';
import type { Metrics, SyncKind } from './metrics';

export interface FlowSource {
  /** Desired flows of a switch (cookie round bits are filled in here). */
  desiredFlows(dpid: string): FlowMod[];
  /** Meters the desired flows use (installed before them; none when absent). */
  desiredMeters?(dpid: string): MeterSpec[];
  /** Groups the desired flows use (installed before them, modified in place on change, deleted after them; none when absent). */
  desiredGroups?(dpid: string): GroupSpec[];
  /**
   * The desired flows for readers that only look (counts, status): they may
   * come from a cache. Syncs always ask desiredFlows.
   */
  peekFlows?(dpid: string): FlowMod[];
  /** Forget what the source keeps between computations and read the store again (a change that came with no event). */
  refresh?(): void;
  /**
   * What the desired flows of a switch changed by flow object, over every
   * desiredFlows computation since the last take (undefined or full:
   * unknown, compare everything). A sync then touches only those flows.
   */
  takeDelta?(dpid: string): { full: boolean; added: FlowMod[]; removed: FlowMod[] } | undefined;
}

/** A meter as a flow source wants it. */
export interface MeterSpec { meter_id: number; flags: number; bands: MeterBand[] }
const OFPMC_ADD = 0, OFPMC_MODIFY = 1, OFPMC_DELETE = 2;
const meterBody = (m: MeterSpec) => JSON.stringify([m.flags, m.bands]);

/** A group as a flow source wants it (group_type: OFPGT_*). */
export interface GroupSpec { group_id: number; group_type: number; buckets: Bucket[] }
const OFPGC_ADD = 0, OFPGC_MODIFY = 1, OFPGC_DELETE = 2;
/** OFPG_ALL: every group (in a delete). */
const OFPG_ALL = 0xfffffffc;
const groupBody = (g: GroupSpec) => JSON.stringify([g.group_type, g.buckets], big);

const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('hex') : v);

/**
 * Meters and groups are objects flows use, kept by id: a diff sync sends
 * new and changed ones before the flows (OpenFlow MODIFY keeps a group's
 * conntrack-held connections and a meter's flows), and removes gone ones
 * after the flows that used them. One diff serves both kinds.
 */
interface ById<T> {
  id(t: T): number;
  body(t: T): string;
  put(t: T, modify: boolean): Parameters<Connection['send']>[0];
  remove(id: number): Parameters<Connection['send']>[0];
}
const METERS: ById<MeterSpec> = {
  id: (m) => m.meter_id, body: meterBody,
  put: (m, modify) => ({ type: 'meter_mod', command: modify ? OFPMC_MODIFY : OFPMC_ADD, ...m }),
  remove: (id) => ({ type: 'meter_mod', command: OFPMC_DELETE, flags: 0, meter_id: id, bands: [] }),
};
const GROUPS: ById<GroupSpec> = {
  id: (g) => g.group_id, body: groupBody,
  put: (g, modify) => ({ type: 'group_mod', command: modify ? OFPGC_MODIFY : OFPGC_ADD, ...g }),
  remove: (id) => ({ type: 'group_mod', command: OFPGC_DELETE, group_type: 0, group_id: id, buckets: [] }),
};

/** Sends the wanted objects that are new or changed; returns how many, and the wanted ids (for removeGone). */
function putChanged<T>(c: Connection, have: Map<number, string>, want: T[], k: ById<T>): { sent: number; ids: Set<number> } {
  let sent = 0;
  for (const t of want) {
    const id = k.id(t), b = k.body(t), old = have.get(id);
    if (old === b) continue;
    c.send(k.put(t, old !== undefined));
    have.set(id, b);
    sent++;
  }
  return { sent, ids: new Set(want.map(k.id)) };
}

/** Removes the installed objects no longer wanted; returns how many. */
function removeGone<T>(c: Connection, have: Map<number, string>, wanted: Set<number>, k: ById<T>): number {
  let removed = 0;
  for (const id of [...have.keys()]) {
    if (wanted.has(id)) continue;
    c.send(k.remove(id));
    have.delete(id);
    removed++;
  }
  return removed;
}

/** Identity of a flow in a table: table, priority and match (order-insensitive). */
export function flowKey(f: FlowMod): string {
  const m = [...f.match].map((o) => JSON.stringify(o, big)).sort().join(',');
  return `${f.table_id}|${f.priority}|${m}`;
}
const bodyOf = (f: FlowMod) => JSON.stringify([f.instructions, f.idle_timeout, f.hard_timeout, f.cookie & ~ROUND_MASK], big);

/**
 * Keys and bodies by flow object: a flow source that hands back the same
 * objects for what did not change (apps/container-network.ts's cache) costs
 * a lookup per flow, not a serialisation. Flows are never mutated once built.
 */
const keys = new WeakMap<FlowMod, string>();
const bodies = new WeakMap<FlowMod, string>();
function keyOf(f: FlowMod): string {
  let k = keys.get(f);
  if (k === undefined) keys.set(f, (k = flowKey(f)));
  return k;
}
function body(f: FlowMod): string {
  let b = bodies.get(f);
  if (b === undefined) bodies.set(f, (b = bodyOf(f)));
  return b;
}

/**
 * Deletes of every flow whose round is not `round`: one per bit of the
 * round field, of the flows whose bit differs from the round's. A flow of
 * another round differs in some bit; one of this round in none. No read of
 * the switch's flows (at 1000 switches of 1000 flows, decoding them was a
 * good part of a restart), and the same 16 deletes whatever it holds.
 */
export function otherRoundDeletes(round: number): FlowMod[] {
  const out: FlowMod[] = [];
  for (let i = 0n; i < 16n; i++) {
    const bit = 1n << (ROUND_SHIFT + i);
    const mine = (BigInt(round) << ROUND_SHIFT) & bit;
    out.push(flowMod({ command: OFPFC_DELETE, table_id: OFPTT_ALL, cookie: mine ^ bit, cookie_mask: bit }));
  }
  return out;
}

/**
 * A flow's encoded flow-mod, by (rounded) flow object: one encoding for
 * every switch that gets the same object (another host's block: a full
 * sync of 1000 switches encodes it once, not 1000 times).
 */
const encoded = new WeakMap<FlowMod, Buffer>();
function sendFlow(c: Connection, f: FlowMod): void {
  if (typeof c.sendEncoded !== 'function') { c.send(f); return; } // (a test's fake switch)
  let b = encoded.get(f);
  if (!b) encoded.set(f, (b = encodeMessage(f)));
  c.sendEncoded(b);
}

/** Counts a flow of an endpoint (its cookie's category) in or out of a switch's confirmed endpoints. */
function countEndpoint(eps: Map<number, number>, f: FlowMod, by: 1 | -1): void {
  if (categoryOf(f.cookie) !== CATEGORY.endpoint) return;
  const id = objectIdOf(f.cookie);
  const n = (eps.get(id) ?? 0) + by;
  if (n > 0) eps.set(id, n); else eps.delete(id);
}

export interface SyncStats { added: number; deleted: number }

/** How a bridge's flows stand (GET /v1/hosts/{name}/status). */
export interface BridgeSyncStatus {
  /** A full sync completed since the switch last connected. */
  fullSynced: boolean;
  /** Desired flows, and those a barrier confirmed. */
  desired: number;
  confirmed: number;
  /** Connected, fully synced, and the confirmed flows are exactly the desired ones. */
  inSync: boolean;
  /** The last sync that talked to the switch: when it ended, how long it took, which kind. */
  lastSyncAt: string | null;
  lastSyncMs: number | null;
  lastSyncKind: SyncKind | null;
  /** The last sync that failed, and when (kept after a later success: compare with lastSyncAt). */
  lastError: string | null;
  lastErrorAt: string | null;
}

interface SyncRecord { at?: string; ms?: number; kind?: SyncKind; error?: string; errorAt?: string }

export class Reconciler {
  /** dpid -> key -> installed flow (sent; the last barrier may still be outstanding) */
  private readonly installed = new Map<string, Map<string, FlowMod>>();
  /** dpid -> meter id -> installed meter (flags and bands) */
  private readonly meters = new Map<string, Map<number, string>>();
  /** dpid -> group id -> installed group (type and buckets) */
  private readonly groups = new Map<string, Map<number, string>>();
  /** dpid -> flows the switch has confirmed with a barrier, by key (what readiness is judged on) */
  private readonly confirmed = new Map<string, Map<string, FlowMod>>();
  /** dpid -> endpoint object id (cookie) -> how many of the confirmed flows are that endpoint's (readiness asks per endpoint) */
  private readonly confirmedEps = new Map<string, Map<number, number>>();
  /** dpid -> the desired flows by key as of the last sync (kept up to date by the source's deltas), and the keys more than one desired flow had */
  private readonly wants = new Map<string, { want: Map<string, FlowMod>; dups: Set<string> }>();
  /** syncs that applied a delta, and those that compared every flow (tests, benches) */
  readonly diffKinds = { delta: 0, full: 0 };
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly pendingSync = new Map<string, Promise<SyncStats>>();
  /** dpid -> the last sync that talked to the switch, and the last failure */
  private readonly records = new Map<string, SyncRecord>();
  private metrics?: Metrics;

  constructor(
    readonly connOf: (dpid: string) => Connection | undefined,
    readonly source: FlowSource,
    readonly round: number,
    readonly log: Logger,
  ) {}

  /** Observe each sync's duration (weft_reconcile_duration_seconds). */
  useMetrics(m: Metrics): void {
    this.metrics = m;
  }

  private record(dpid: string): SyncRecord {
    let r = this.records.get(dpid);
    if (!r) this.records.set(dpid, (r = {}));
    return r;
  }

  /** Time a sync job: a completed one that talked to the switch is recorded and observed, a failed one leaves its error. */
  private timed<T>(dpid: string, kind: SyncKind, job: () => Promise<T | undefined>): () => Promise<T> {
    return async () => {
      const t0 = process.hrtime.bigint();
      try {
        const out = await job();
        if (out === undefined) return undefined as T; // nothing was sent: not a sync of the switch
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        const r = this.record(dpid);
        r.at = new Date().toISOString(); r.ms = Math.round(s * 1e6) / 1e3; r.kind = kind;
        this.metrics?.reconciled(kind, s);
        return out;
      } catch (e) {
        const r = this.record(dpid);
        r.error = (e as Error).message; r.errorAt = new Date().toISOString();
        throw e;
      }
    };
  }

  /** The flow as installed in this round (the same object for the same desired flow). */
  private readonly rounded = new WeakMap<FlowMod, FlowMod>();
  private withRound(f: FlowMod): FlowMod {
    let w = this.rounded.get(f);
    if (!w) {
      w = { ...f, cookie: (f.cookie & ~ROUND_MASK) | (BigInt(this.round) << ROUND_SHIFT) };
      this.rounded.set(f, w);
      // same table, priority and match: the key carries over
      const k = keys.get(f);
      if (k !== undefined) keys.set(w, k);
    }
    return w;
  }

  /** Desired flows by key, in this round (a later flow with the same key wins, as on the switch). */
  private wanted(dpid: string): Map<string, FlowMod> {
    const flows = this.source.desiredFlows(dpid);
    this.source.takeDelta?.(dpid); // a full computation: what changed before it no longer matters
    return this.keyed(dpid, flows);
  }

  private keyed(dpid: string, flows: FlowMod[]): Map<string, FlowMod> {
    const want = new Map<string, FlowMod>();
    const dups = new Set<string>();
    for (const f of flows) { const w = this.withRound(f); const k = keyOf(w); if (want.has(k)) dups.add(k); want.set(k, w); }
    this.wants.set(dpid, { want, dups });
    return want;
  }

  /**
   * The desired flows now, and the keys that may differ from the last sync's
   * (undefined: any may). With the source's delta, only the flows it names
   * are looked at; a delta that does not fit (a key two flows share, a
   * removed flow that was not the desired one) falls back to every flow.
   */
  private wantedChanges(dpid: string): { want: Map<string, FlowMod>; touched?: Set<string> } {
    const flows = this.source.desiredFlows(dpid);
    const delta = this.source.takeDelta?.(dpid);
    const prev = this.wants.get(dpid);
    if (delta && !delta.full && prev) {
      const { want, dups } = prev;
      const touched = new Set<string>();
      let fits = true;
      for (const f of delta.removed) {
        const w = this.withRound(f), k = keyOf(w);
        if (dups.has(k) || want.get(k) !== w) { fits = false; break; }
        want.delete(k);
        touched.add(k);
      }
      if (fits) {
        for (const f of delta.added) {
          const w = this.withRound(f), k = keyOf(w);
          if (want.has(k)) { fits = false; break; }
          want.set(k, w);
          touched.add(k);
        }
      }
      if (fits) { this.diffKinds.delta++; return { want, touched }; }
    }
    this.diffKinds.full++;
    return { want: this.keyed(dpid, flows) };
  }

  private enqueue<T>(dpid: string, job: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(dpid) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(job);
    this.queues.set(dpid, next.catch(() => undefined));
    return next;
  }

  /** The confirmed flows of a switch become `m` (and its endpoints' counts follow), or none. */
  private setConfirmed(dpid: string, m: Map<string, FlowMod> | undefined): void {
    if (!m) { this.confirmed.delete(dpid); this.confirmedEps.delete(dpid); return; }
    this.confirmed.set(dpid, m);
    const eps = new Map<number, number>();
    for (const f of m.values()) countEndpoint(eps, f, 1);
    this.confirmedEps.set(dpid, eps);
  }

  /** Whether a barrier confirmed any flow of this endpoint (by its cookie's object id) on the switch. */
  confirmsEndpoint(dpid: string, objectId: number): boolean {
    return (this.confirmedEps.get(dpid)?.get(objectId) ?? 0) > 0;
  }

  /** Forget a switch (it disconnected): the next connect does a full sync. */
  forget(dpid: string): void {
    this.installed.delete(dpid);
    this.setConfirmed(dpid, undefined);
    this.wants.delete(dpid);
    this.meters.delete(dpid);
    this.groups.delete(dpid);
  }

  private desiredGroups(dpid: string): GroupSpec[] {
    return this.source.desiredGroups?.(dpid) ?? [];
  }

  private peek(dpid: string): FlowMod[] {
    return this.source.peekFlows ? this.source.peekFlows(dpid) : this.source.desiredFlows(dpid);
  }

  private desiredMeters(dpid: string): MeterSpec[] {
    return this.source.desiredMeters?.(dpid) ?? [];
  }

  /** Full sync on (re)connect: install this round, barrier, delete every other round. */
  fullSync(dpid: string): Promise<SyncStats> {
    return this.enqueue(dpid, this.timed(dpid, 'full', async (): Promise<SyncStats> => {
      const c = this.connOf(dpid);
      if (!c) throw new Error(`switch ${dpid} is not connected`);
      const want = this.wanted(dpid);
      // meters before the flows that use them, made anew (deleting one takes its flows along: they follow)
      const meters = new Map<number, string>();
      for (const m of this.desiredMeters(dpid)) {
        c.send({ type: 'meter_mod', command: OFPMC_DELETE, flags: 0, meter_id: m.meter_id, bands: [] });
        c.send({ type: 'meter_mod', command: OFPMC_ADD, ...m });
        meters.set(m.meter_id, meterBody(m));
      }
      // groups (a source that has them): every group the switch holds is deleted (with the flows that use
      // them: they are sent again below, in the same batch), then the desired ones added before the flows
      const groups = new Map<number, string>();
      if (this.source.desiredGroups) {
        c.send({ type: 'group_mod', command: OFPGC_DELETE, group_type: 0, group_id: OFPG_ALL, buckets: [] });
        for (const g of this.desiredGroups(dpid)) {
          c.send({ type: 'group_mod', command: OFPGC_ADD, ...g });
          groups.set(g.group_id, groupBody(g));
        }
      }
      for (const f of want.values()) sendFlow(c, f);
      await c.barrier();
      this.meters.set(dpid, meters);
      this.groups.set(dpid, groups);
      // every flow of this round is in place: the others go (older rounds, a trace's leftovers)
      for (const d of otherRoundDeletes(this.round)) c.send(d);
      await c.barrier();
      // installed and desired are kept apart from here on (wanted() kept `want` as the desired flows of the next diff)
      this.installed.set(dpid, new Map(want));
      this.setConfirmed(dpid, new Map(want));
      this.log.info({ dpid, flows: want.size, round: this.round }, 'switch flows reconciled');
      return { added: want.size, deleted: 0 };
    }));
  }

  /**
   * Send the difference between desired and installed flows, then a barrier.
   * Calls made while one is queued share it.
   */
  sync(dpid: string): Promise<SyncStats> {
    const queued = this.pendingSync.get(dpid);
    if (queued) return queued;
    const idle: SyncStats = { added: 0, deleted: 0 };
    const p = this.enqueue(dpid, async () => {
      this.pendingSync.delete(dpid);
      return (await this.timed(dpid, 'diff', () => this.diffSync(dpid))()) ?? idle;
    });
    this.pendingSync.set(dpid, p);
    return p;
  }

  /** One diff sync (in the switch's queue); undefined when nothing had to be sent. */
  private async diffSync(dpid: string): Promise<SyncStats | undefined> {
    const c = this.connOf(dpid);
    const have = this.installed.get(dpid);
    if (!c || !have) return undefined;
    const { want, touched } = this.wantedChanges(dpid);
    let added = 0, deleted = 0;
    // meters and groups: new and changed ones before the flows (a changed group is modified in place:
    // established connections keep their conntrack entry; only new ones choose among the new buckets)
    const meters = this.meters.get(dpid) ?? new Map<number, string>();
    this.meters.set(dpid, meters);
    const groups = this.groups.get(dpid) ?? new Map<number, string>();
    this.groups.set(dpid, groups);
    const wantMeters = putChanged(c, meters, this.desiredMeters(dpid), METERS);
    const wantGroups = putChanged(c, groups, this.desiredGroups(dpid), GROUPS);
    added += wantMeters.sent + wantGroups.sent;
    // deletes first, then adds: every flow (touched undefined), or only those the delta named
    for (const [k, f] of touched ? [...touched].map((k) => [k, have.get(k)] as const) : have) {
      if (!f || want.has(k)) continue;
      c.send(flowMod({ command: OFPFC_DELETE_STRICT, table_id: f.table_id, priority: f.priority, match: f.match }));
      have.delete(k);
      deleted++;
    }
    for (const [k, f] of touched ? [...touched].map((k) => [k, want.get(k)] as const) : want) {
      if (!f) continue;
      const old = have.get(k);
      if (old && (old === f || body(old) === body(f))) continue;
      sendFlow(c, f);
      have.set(k, f);
      added++;
    }
    // gone ones after the flows that used them (groups before meters, as before)
    deleted += removeGone(c, groups, wantGroups.ids, GROUPS);
    deleted += removeGone(c, meters, wantMeters.ids, METERS);
    // nothing sent: what the last barrier confirmed still stands (jobs are serialised per switch)
    if (!added && !deleted && this.confirmed.has(dpid)) return undefined;
    try {
      await c.barrier();
    } catch (e) {
      // what the switch holds is unknown now: the next sync must send a barrier again
      this.setConfirmed(dpid, undefined);
      throw e;
    }
    // jobs are serialised per switch, so `have` holds exactly what this barrier confirmed
    const conf = this.confirmed.get(dpid);
    const eps = this.confirmedEps.get(dpid);
    if (!conf || !eps || !touched) this.setConfirmed(dpid, new Map(have));
    else {
      for (const k of touched) {
        const old = conf.get(k), f = have.get(k);
        if (old === f) continue;
        if (old) countEndpoint(eps, old, -1);
        if (f) { conf.set(k, f); countEndpoint(eps, f, 1); } else conf.delete(k);
      }
    }
    if (added || deleted) this.log.debug({ dpid, added, deleted }, 'flows updated');
    return { added, deleted };
  }

  /** How many flows are desired and confirmed (for the scrape: keys only, no bodies). */
  counts(dpid: string): { desired: number; confirmed: number } {
    let desired = 0;
    try { desired = new Set(this.peek(dpid).map(keyOf)).size; } catch { /* no flow source yet, or a degraded store */ }
    return { desired, confirmed: this.confirmed.get(dpid)?.size ?? 0 };
  }

  /** Desired flows by key with their bodies; undefined when the source cannot say (no flow source yet, a degraded store). */
  private desiredKeys(dpid: string): Map<string, string> | undefined {
    try {
      return new Map(this.peek(dpid).map((f) => { const w = this.withRound(f); return [keyOf(w), body(w)]; }));
    } catch {
      return undefined;
    }
  }

  /** The bridge's sync state, for operators. */
  status(dpid: string): BridgeSyncStatus {
    const want = this.desiredKeys(dpid);
    const conf = this.confirmed.get(dpid);
    const r = this.records.get(dpid) ?? {};
    const inSync = !!this.connOf(dpid) && this.installed.has(dpid) && !!conf && !!want && conf.size === want.size
      && [...conf.values()].every((f) => want.get(keyOf(f)) === body(f));
    return {
      fullSynced: this.installed.has(dpid), desired: want?.size ?? 0, confirmed: conf?.size ?? 0, inSync,
      lastSyncAt: r.at ?? null, lastSyncMs: r.ms ?? null, lastSyncKind: r.kind ?? null, lastError: r.error ?? null, lastErrorAt: r.errorAt ?? null,
    };
  }

  /** Flows the switch confirmed with its last barrier: a later sync's unconfirmed flows are not among them. */
  confirmedFlows(dpid: string): FlowMod[] {
    const c = this.confirmed.get(dpid);
    return c ? [...c.values()] : [];
  }
}
