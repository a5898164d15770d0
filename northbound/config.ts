// The controller's configuration and its embedded defaults. Types only from
// the other layers: the CLI reads this without loading the controller.
import type { TlsPaths, ConnectionOptions } from '../southbound/channel';
import type { BgpConfig } from '../controller/bgp';
import type { AppOptions } from '../apps';
import type { EtcdOptions } from '../controller/etcd-link';
import { DEFAULT_APPS } from '../apps/profiles';

/** pino's levels: what every --log-level flag (controller, agents, plugin) accepts. */
export const LOG_LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface ControllerConfig {
  ofPort: number;
  ofHost: string;
  apiPort: number;
  apiHost: string;
  db: string;
  tls?: TlsPaths;
  logLevel: string;
  /** App profile or comma-separated app names (see apps/profiles.ts). */
  apps: string;
  appOptions?: AppOptions;
  connection?: ConnectionOptions;
  /** Announce routed networks' host blocks to these BGP peers (controller/bgp.ts). */
  bgp?: BgpConfig;
  /** Bearer tokens on the API (default on); false is for labs only (--no-auth). */
  auth?: boolean;
  /** Where the admin token is written (default: weft-admin.token next to the database). */
  adminTokenFile?: string;
  /** HTTPS for the API; with ca, clients must present a certificate that chains to it. */
  apiTls?: { cert: string; key: string; ca?: string };
  /** Host names the API answers to besides IP literals and localhost (DNS rebinding guard). */
  allowedHosts?: string[];
  /** Browser origins allowed besides the API's own. */
  allowedOrigins?: string[];
  /** Container address space, CIDR[,CIDR...] (controller/container-policy.ts; default the private ranges). */
  podCidrs?: string;
  /** Host ports that may be published, LO-HI (default 1024-65535, less Weft's own). */
  hostPorts?: string;
  /** Endpoints per host at most (default 1024). */
  maxEndpointsPerHost?: string;
  /** Seconds between two tunnel probes of a pair of hosts (apps/tunnel-prober.ts); 0 turns probing off. */
  tunnelProbeInterval?: number;
  /** Tunnel probes per second at most, all pairs together (apps/tunnel-prober.ts; default 2000). */
  tunnelProbeBudget?: number;
  /** Encrypted networks: the hosts' secure VTEP addresses come from this CIDR (controller/ipsec.ts; default 198.18.0.0/16). */
  ipsecVtepCidr?: string;
  /** Encrypted networks: seconds between two automatic rekeys (0 = none, the default). */
  ipsecRekeyInterval?: number;
  /**
   * The etcd store (--store etcd://...; controller/store-etcd.ts) instead of
   * the SQLite file, and with it the cluster (controller/cluster.ts).
   * Timings (call deadline, probe interval, lease TTL) default to ETCD_DEFAULTS.
   */
  etcd?: Pick<EtcdOptions, 'endpoints' | 'prefix' | 'ca' | 'cert' | 'key' | 'user' | 'passwordFile'> & Partial<Pick<EtcdOptions, 'callTimeoutMs' | 'probeMs' | 'leaseTtl'>>;
}

export const DEFAULTS: ControllerConfig = {
  ofPort: 6653,
  ofHost: '0.0.0.0',
  apiPort: 8080,
  apiHost: '127.0.0.1',
  db: 'weft.db',
  logLevel: 'info',
  apps: DEFAULT_APPS,
  tunnelProbeInterval: 3,
};
