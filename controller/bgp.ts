// A small BGP-4 speaker (RFC 4271) that advertises routed networks to the
// underlay's routers, the Calico model: each host block of a routed network
// is announced with the owning host's underlay address as next hop (and an
// endpoint on a borrowed address as a /32), so routers learn where container
// addresses live without static routes. It only speaks: routes it receives
// are read and ignored.
//
// One session per configured peer (southbound/bgp: the codec, the framing
// and the session state machine), opened by Weft (port 179 by default) and
// re-opened after a failure. Two-octet AS numbers, IPv4 unicast, no optional
// capabilities. eBGP peers get our AS prepended; iBGP peers (same AS) get
// LOCAL_PREF 100. This module decides what to announce and reports the
// sessions for GET /v1/bgp.
import type { Logger } from 'pino';
import { BgpSession } from '../southbound/bgp/session';
import type { BgpPeerConfig, BgpState } from '../southbound/bgp/session';
import type { BgpRoute } from '../southbound/bgp/update';

export { BGP_PORT } from '../southbound/bgp/session';
export { BgpError } from '../southbound/bgp/header';
export type { BgpPeerConfig, BgpRoute };

export interface BgpConfig {
  asn: number;
  routerId: string;
  peers: BgpPeerConfig[];
}

export type PeerState = BgpState;

export interface PeerStatus {
  address: string;
  asn: number;
  state: PeerState;
  /** routes announced to the peer in this session */
  advertised: number;
  lastError: string | null;
  upSince: string | null;
}

/** The speaker: the routes come from `routes()`; call sync() when they may have changed. */
export class BgpSpeaker {
  private readonly sessions: BgpSession[];
  private readonly log: Logger;

  constructor(readonly cfg: BgpConfig, readonly routes: () => BgpRoute[], log: Logger) {
    const sessionLog = log.child({ component: 'bgp' });
    this.log = sessionLog;
    this.sessions = cfg.peers.map((peer) => {
      // a session that comes up gets the whole table
      const s: BgpSession = new BgpSession({ asn: cfg.asn, routerId: cfg.routerId, peer }, sessionLog, () => this.advertise(s));
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

  start(): void { for (const s of this.sessions) s.start(); }

  /** Sends each established peer what changed since it was last told. */
  sync(): void {
    for (const s of this.sessions) if (s.state === 'established') this.advertise(s);
  }

  status(): PeerStatus[] {
    return this.sessions.map((s) => ({
      address: s.cfg.peer.address, asn: s.cfg.peer.asn, state: s.state, advertised: s.advertised, lastError: s.lastError, upSince: s.upSince,
    }));
  }

  stop(): void { for (const s of this.sessions) s.stop(); }
}
