// Several controllers on one etcd store. Every bridge connects to all of
// them; an etcd lease elects one leader (global: every switch has the same
// master; per-shard leases, one per group of hosts, are future work). The
// leader asks every switch for the master role with a generation id, the
// etcd revision at which it won the election (each election's is higher, so
// a deposed leader that comes back is refused by the switches as stale); the
// others ask for the slave role, with the leader's generation. Only the
// leader programs switches: when it is elected it full-syncs every host
// bridge (the reconciler re-adds the desired flows in place and deletes
// only those no longer wanted, so traffic through correct flows never
// stops); the others keep their replica and serve the REST API, whose
// writes go through etcd whoever takes them.
import type { Logger } from 'pino';
import type { Connection } from '../southbound/channel';
import { OfErrorReply } from '../southbound/channel';
import type { EventBus } from './events';
import type { Leadership } from './store-etcd';

/** ofp_controller_role */
export const OFPCR_ROLE_NOCHANGE = 0, OFPCR_ROLE_EQUAL = 1, OFPCR_ROLE_MASTER = 2, OFPCR_ROLE_SLAVE = 3;

export interface ClusterDeps {
  /** Connected switches. */
  switches(): Connection[];
  bus: EventBus;
  /** Called with true when this controller becomes the leader (after the switches took the master role), false when it stops being it. */
  program(on: boolean): Promise<void> | void;
  log: Logger;
  /** Where leadership changes come from (the etcd store's election). */
  onLeadership(fn: (l: Leadership) => void): void;
}

export interface ClusterStatus { role: 'leader' | 'follower' | 'unknown'; generation: string; leader: string | null; since: string | null }

export class Cluster {
  private leader = false;
  private known = false;
  private generation = 0n;
  private holder: string | null = null;
  private since: string | null = null;
  /** Role requests the switches refused (stale generation, or other errors). */
  refused = 0;

  constructor(private readonly d: ClusterDeps) {
    d.onLeadership((l) => void this.change(l));
    d.bus.on('switch.connected', (e) => {
      const c = this.d.switches().find((x) => x.dpid === e.dpid);
      if (c && this.known) void this.requestRole(c);
    });
  }

  get isLeader(): boolean {
    return this.leader;
  }

  status(): ClusterStatus {
    return { role: !this.known ? 'unknown' : this.leader ? 'leader' : 'follower', generation: this.generation.toString(), leader: this.holder, since: this.since };
  }

  private async change(l: Leadership): Promise<void> {
    const was = this.leader;
    this.known = true;
    this.holder = l.leader || l.generation ? l.holder : null;
    if (l.generation) this.generation = BigInt(l.generation);
    this.leader = l.leader;
    this.since = new Date().toISOString();
    if (was && !l.leader) {
      this.d.log.warn({ generation: this.generation.toString() }, 'no longer the leader: switches are left to the next one');
      await this.d.program(false);
    }
    if (l.generation === 0 && !l.leader) return;
    await Promise.all(this.d.switches().map((c) => this.requestRole(c)));
    if (l.leader && !was) {
      this.d.log.info({ generation: this.generation.toString() }, 'elected leader: master of every switch, re-syncing them');
      await this.d.program(true);
    }
  }

  /** Ask a switch for this controller's role (master as the leader, slave otherwise) with the current generation. */
  async requestRole(c: Connection): Promise<void> {
    const role = this.leader ? OFPCR_ROLE_MASTER : OFPCR_ROLE_SLAVE;
    try {
      await c.request({ type: 'role_request', role, generation_id: this.generation });
    } catch (e) {
      this.refused++;
      this.d.log.warn({ dpid: c.dpid, role, generation: this.generation.toString(), err: e instanceof OfErrorReply ? `error ${e.error.errType}/${e.error.code}` : (e as Error).message }, 'role request refused');
    }
  }
}
