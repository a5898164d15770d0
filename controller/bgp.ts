// A small BGP-4 speaker (RFC 4271) that advertises routed networks to the
// underlay's routers, the Calico model: each host block of a routed network
// is announced with the owning host's underlay address as next hop (and an
// endpoint on a borrowed address as a /32), so routers learn where container
// addresses live without static routes. It only speaks: routes it receives
// are read and ignored.
//
// One session per configured peer (southbound/bgp: the codec, the framing
// and the session state machine), opened by Weft (port 179 by default) and
// re-opened after a failure. Two-octet AS numbers, IPv4 unicast (the
// Multiprotocol capability), and graceful restart (RFC 4724) as the
// restarting speaker when a restart time is configured: peers that support
// it keep Weft's routes, stale, while Weft restarts (or, in a cluster, while
// another controller takes over: README.md "BGP in a cluster"), and Weft
// ends each session's first table with End-of-RIB. eBGP peers get our AS
// prepended; iBGP peers (same AS) get LOCAL_PREF 100. This module decides
// what to announce and reports the sessions for GET /v1/bgp.
import type { Logger } from 'pino';
import { BgpSession } from '../southbound/bgp/session';
import type { BgpPeerConfig, BgpState, GracefulRestartStatus } from '../southbound/bgp/session';
import type { BgpRoute } from '../southbound/bgp/update';

export { BGP_PORT } from '../southbound/bgp/session';
export { BgpError } from '../southbound/bgp/header';
export { BGP_MAX_RESTART_TIME } from '../southbound/bgp/capabilities';
export type { BgpPeerConfig, BgpRoute };

export interface BgpConfig {
  asn: number;
  routerId: string;
  peers: BgpPeerConfig[];
  /** Graceful restart's Restart Time, seconds (1..4095); 0: no graceful restart. Default BGP_RESTART_TIME. */
  restartTime?: number;
  /** The local address sessions are opened from (default: the kernel's choice). */
  source?: string;
}

/** The default Restart Time (seconds): long enough for a controller to restart or a leader to change. */
export const BGP_RESTART_TIME = 120;

export type PeerState = BgpState;

export interface PeerStatus {
  address: string;
  asn: number;
  state: PeerState;
  /** routes announced to the peer in this session */
  advertised: number;
  lastError: string | null;
  upSince: string | null;
  gracefulRestart: GracefulRestartStatus;
}

/** The speaker: the routes come from `routes()`; call sync() when they may have changed. */
export class BgpSpeaker {
  private readonly sessions: BgpSession[];
  private readonly log: Logger;

  /** `onEstablished`: called each time a session comes up (before its table is sent). */
  constructor(readonly cfg: BgpConfig, readonly routes: () => BgpRoute[], log: Logger, onEstablished: () => void = () => {}) {
    const sessionLog = log.child({ component: 'bgp' });
    this.log = sessionLog;
    this.sessions = cfg.peers.map((peer) => {
      // a session that comes up gets the whole table
      const s: BgpSession = new BgpSession({ asn: cfg.asn, routerId: cfg.routerId, peer, restartTime: cfg.restartTime ?? BGP_RESTART_TIME, ...(cfg.source ? { localAddress: cfg.source } : {}) }, sessionLog, () => { onEstablished(); this.advertise(s); });
      return s;
    });
  }

  /**
   * Tells a session the current routes. When they cannot be read (the store
   * is degraded), the session keeps what it announced: tearing it down would
   * make the peer withdraw every route, and the routes themselves have not
   * changed.
   */
  private advertise(s: BgpSession): void {
    let routes: BgpRoute[];
    try {
      routes = this.routes();
    } catch (e) {
      this.log.warn({ peer: s.cfg.peer.address, err: (e as Error).message }, 'routes unavailable; announcements left as they are');
      return;
    }
    s.advertise(routes);
  }

  /**
   * Opens the sessions (again after stop()). `restarting`: this speaker
   * takes over from an earlier one (this controller before a restart, or
   * another leader), so its OPEN carries the Restart State bit; a session
   * also sets it by itself after it has once been up.
   */
  start(opts: { restarting?: boolean } = {}): void {
    for (const s of this.sessions) {
      if (opts.restarting) s.restarting = true;
      s.start();
    }
  }

  /** Sends each established peer what changed since it was last told. */
  sync(): void {
    for (const s of this.sessions) if (s.state === 'established') this.advertise(s);
  }

  status(): PeerStatus[] {
    return this.sessions.map((s) => ({
      address: s.cfg.peer.address, asn: s.cfg.peer.asn, state: s.state, advertised: s.advertised, lastError: s.lastError, upSince: s.upSince,
      gracefulRestart: s.gracefulRestart,
    }));
  }

  /** Closes the sessions (with graceful restart, without a NOTIFICATION: the peers keep the routes for the restart time). */
  stop(): void { for (const s of this.sessions) s.stop(); }
}
