// What the API's routes are given: the controller's parts they read and
// the container service they submit intents to. Routes import this module,
// never app.ts, so the layering stays one way (app -> routes -> deps, views).
import type { Logger } from 'pino';
import type { BgpSpeaker } from '../../controller/bgp';
import type { SwitchRegistry } from '../../controller/switch-registry';
import type { Store } from '../../controller/store';
import type { EventBus } from '../../controller/events';
import type { Topology } from '../../controller/topology';
import type { ContainerService } from '../../controller/container-service';
import type { Tokens } from '../../controller/tokens';
import type { Tracer } from '../../controller/trace';
import type { Metrics } from '../../controller/metrics';
import type { TunnelView } from '../../controller/events';
import type { AuthOptions } from './auth';

export interface ApiDeps {
  registry: SwitchRegistry;
  store: Store;
  bus: EventBus;
  topology: Topology;
  containers: ContainerService;
  /** The BGP speaker, when the controller runs one. */
  bgp?: BgpSpeaker;
  /** Computes packet paths on the desired flows (POST /v1/traces). */
  tracer?: Tracer;
  /** Tunnel health per ordered pair of hosts (GET /v1/tunnels). */
  tunnels?: { list(): TunnelView[] };
  /** Prometheus metrics (GET /metrics; the API observes its own request durations). */
  metrics?: Metrics;
  /** API tokens; undefined when authentication is off (--no-auth, labs only). */
  tokens?: Tokens;
  /** The cluster (etcd store only): this controller's role. */
  cluster?: { status(): { role: 'leader' | 'follower' | 'unknown'; generation: string } };
  /** Host and Origin allow-lists (the API answers only to its own names). */
  allowedHosts?: readonly string[];
  allowedOrigins?: readonly string[];
  log: Logger;
}

/** The authentication options the API runs with. */
export const authOptions = (d: ApiDeps): AuthOptions => ({ tokens: d.tokens, allowedHosts: d.allowedHosts ?? [], allowedOrigins: d.allowedOrigins ?? [] });

export const API_VERSION = '0.1.0';
