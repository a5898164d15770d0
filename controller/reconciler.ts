// Desired flows vs the switch's actual flows. On (re)connect: read the
// switch's flows, install the whole desired set under the current round
// (ADD replaces an identical match+priority in place, so traffic never
// stops), wait for the barrier, then delete every older round by cookie
// mask. In steady state only the difference is sent — deletes first, then
// adds — followed by a barrier; sync() resolves once the switch has
// confirmed, which is when endpoints may be called ready.
import type { Logger } from 'pino';
import { FlowMod, flowMod, OFPFC_DELETE, OFPFC_DELETE_STRICT, OFPTT_ALL, OFPG_ANY, OFPP_ANY } from '../southbound/codec';
import type { Connection } from '../southbound/channel';
import { ROUND_MASK, ROUND_SHIFT, roundOf } from './pipeline';

export interface FlowSource {
  /** Desired flows of a switch (cookie round bits are filled in here). */
  desiredFlows(dpid: string): FlowMod[];
}

const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('hex') : v);

/** Identity of a flow in a table: table, priority and match (order-insensitive). */
export function flowKey(f: FlowMod): string {
  const m = [...f.match].map((o) => JSON.stringify(o, big)).sort().join(',');
  return `${f.table_id}|${f.priority}|${m}`;
}
const body = (f: FlowMod) => JSON.stringify([f.instructions, f.idle_timeout, f.hard_timeout, f.cookie & ~ROUND_MASK], big);

export interface SyncStats { added: number; deleted: number; staleRounds: number[] }

export class Reconciler {
  /** dpid -> key -> installed flow (sent; the last barrier may still be outstanding) */
  private readonly installed = new Map<string, Map<string, FlowMod>>();
  /** dpid -> flows the switch has confirmed with a barrier (what readiness is judged on) */
  private readonly confirmed = new Map<string, FlowMod[]>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly pendingSync = new Map<string, Promise<SyncStats>>();

  constructor(
    readonly connOf: (dpid: string) => Connection | undefined,
    readonly source: FlowSource,
    readonly round: number,
    readonly log: Logger,
  ) {}

  private withRound(f: FlowMod): FlowMod {
    return { ...f, cookie: (f.cookie & ~ROUND_MASK) | (BigInt(this.round) << ROUND_SHIFT) };
  }

  private enqueue<T>(dpid: string, job: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(dpid) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(job);
    this.queues.set(dpid, next.catch(() => undefined));
    return next;
  }

  /** Forget a switch (it disconnected): the next connect does a full sync. */
  forget(dpid: string): void {
    this.installed.delete(dpid);
    this.confirmed.delete(dpid);
  }

  /** Full sync on (re)connect: install this round, barrier, delete older rounds. */
  fullSync(dpid: string): Promise<SyncStats> {
    return this.enqueue(dpid, async () => {
      const c = this.connOf(dpid);
      if (!c) throw new Error(`switch ${dpid} is not connected`);
      const parts = await c.multipart({ kind: 'flow', table_id: OFPTT_ALL, out_port: OFPP_ANY, out_group: OFPG_ANY, cookie: 0n, cookie_mask: 0n, match: [] });
      const actualRounds = new Set(parts.flatMap((p) => p.stats).map((s) => roundOf(s.cookie)));
      const want = new Map<string, FlowMod>();
      for (const f of this.source.desiredFlows(dpid)) want.set(flowKey(f), this.withRound(f));
      for (const f of want.values()) c.send(f);
      await c.barrier();
      const stale = [...actualRounds].filter((r) => r !== this.round).sort((a, b) => a - b);
      for (const r of stale) {
        c.send(flowMod({ command: OFPFC_DELETE, table_id: OFPTT_ALL, cookie: BigInt(r) << ROUND_SHIFT, cookie_mask: ROUND_MASK }));
      }
      if (stale.length) await c.barrier();
      this.installed.set(dpid, want);
      this.confirmed.set(dpid, [...want.values()]);
      this.log.info({ dpid, flows: want.size, staleRounds: stale, round: this.round }, 'switch flows reconciled');
      return { added: want.size, deleted: 0, staleRounds: stale };
    });
  }

  /**
   * Send the difference between desired and installed flows, then a barrier.
   * Calls made while one is queued share it.
   */
  sync(dpid: string): Promise<SyncStats> {
    const queued = this.pendingSync.get(dpid);
    if (queued) return queued;
    const p = this.enqueue(dpid, async () => {
      this.pendingSync.delete(dpid);
      const c = this.connOf(dpid);
      const have = this.installed.get(dpid);
      if (!c || !have) return { added: 0, deleted: 0, staleRounds: [] };
      const want = new Map<string, FlowMod>();
      for (const f of this.source.desiredFlows(dpid)) want.set(flowKey(f), this.withRound(f));
      let added = 0, deleted = 0;
      for (const [k, f] of have) {
        if (want.has(k)) continue;
        c.send(flowMod({ command: OFPFC_DELETE_STRICT, table_id: f.table_id, priority: f.priority, match: f.match }));
        have.delete(k);
        deleted++;
      }
      for (const [k, f] of want) {
        const old = have.get(k);
        if (old && body(old) === body(f)) continue;
        c.send(f);
        have.set(k, f);
        added++;
      }
      // nothing sent: what the last barrier confirmed still stands (jobs are serialised per switch)
      if (!added && !deleted && this.confirmed.has(dpid)) return { added, deleted, staleRounds: [] };
      try {
        await c.barrier();
      } catch (e) {
        // what the switch holds is unknown now: the next sync must send a barrier again
        this.confirmed.delete(dpid);
        throw e;
      }
      // jobs are serialised per switch, so `have` holds exactly what this barrier confirmed
      this.confirmed.set(dpid, [...have.values()]);
      if (added || deleted) this.log.debug({ dpid, added, deleted }, 'flows updated');
      return { added, deleted, staleRounds: [] };
    });
    this.pendingSync.set(dpid, p);
    return p;
  }

  /** Flows the switch confirmed with its last barrier: a later sync's unconfirmed flows are not among them. */
  confirmedFlows(dpid: string): FlowMod[] {
    return this.confirmed.get(dpid) ?? [];
  }
}
