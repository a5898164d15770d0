#!/usr/bin/env node
// The `weft` command line. `weft controller` runs the controller.
import { parseArgs } from 'node:util';
import { ControllerConfig, DEFAULTS, LOG_LEVELS } from '../config';
import { PROFILES, resolveApps, AppSelectionError } from '../../apps/profiles';
import { containerPolicy } from '../../controller/container-policy';
import { vtepCidrRefusal, DEFAULT_VTEP_CIDR } from '../../controller/ipsec';
import { DEFAULT_AGENT_SOCKET } from '../cni/agent';
import { version } from '../version';
import fs from 'node:fs';
import { parseEtcdUrl } from '../../controller/etcd-link';
import { BGP_MAX_RESTART_TIME, BGP_RESTART_TIME } from '../../controller/bgp';

// This module loads only what parsing and help need. Each command imports
// the modules it runs when it runs: `weft cni-agent` runs on every container
// host and stays small, and `weft openapi` builds no controller.


export function usage(): string {
  return `Usage: weft <command> [options]

Commands:
  controller        run the controller (OpenFlow listener + REST API)
  ipsec-agent       run the IPsec agent of a container host (encrypted
                    networks): strongSwan, its TUN, br-sec and the routes
  cni-agent         run the CNI agent of a container host: the native
                    weft-cni front end hands it CNI calls over a Unix socket
  docker-plugin     run Weft's Docker network and IPAM driver on a container
                    host (driver "weft"; see docs/docker.md)
  token             make, list or revoke API tokens (through the API, with
                    the admin token): token create --role host --host NAME
  hosts             registered container hosts: hosts ls | get NAME | rm NAME
  networks          networks: networks ls | get NAME | rm NAME
  endpoints         container endpoints: endpoints ls [--host H] [--network N]
                    | get ID | rm ID | add --container ID [--if eth0] --host H
                    --network N [--ip A] [--mac M]
  services          services: services ls | show NAME | rm NAME (a VIP, its
                    ports and the ready backends it balances over)
  tunnels           the tunnel from each host to each other: up, down or
                    unknown, the last probe's round trip and when it arrived
  trace             trace FROM TO [--tcp PORT|--udp PORT] [--live]: a packet's path on
                    the controller's flows, hop by hop, and its verdict; FROM
                    is an endpoint id or IP@NETWORK, TO an endpoint id or an IP
  flows             flows HOST [--table NAME] [--bridge br-int|br-phy]: the
                    live flows of a host's bridge, with their table names
  pki               make a CA and certificates for OpenFlow over TLS: pki init,
                    pki controller, pki host --name H --dpid X [--dpid Y]
                    (a host's certificate names the dpids it may claim)
  openapi           print the REST API's OpenAPI 3 document (JSON)
  version           print the version
  help              print this help

Options for "controller":
  --of-port N       OpenFlow listen port (default ${DEFAULTS.ofPort}; 0 = any free port)
  --of-host ADDR    OpenFlow listen address (default ${DEFAULTS.ofHost})
  --api-port N      REST API port (default ${DEFAULTS.apiPort}; 0 = any free port)
  --api-host ADDR   REST API listen address (default ${DEFAULTS.apiHost})
  --db PATH         SQLite database file (default ./${DEFAULTS.db})
  --store SPEC      sqlite (default: the --db file) or etcd://HOST:PORT[,HOST:PORT...]:
                    the cluster's state in etcd v3, a replica in memory here;
                    several controllers on one etcd elect a leader that alone
                    programs the switches (every bridge connects to all of them)
  --etcd-ca PATH    etcd over TLS: the CA its certificates chain to (PEM)
  --etcd-cert PATH  client certificate for etcd (PEM; with --etcd-key)
  --etcd-key PATH   client key for etcd (PEM, unencrypted)
  --etcd-user NAME  etcd authentication: user name (with --etcd-password-file)
  --etcd-password-file PATH  a file holding that user's password
  --etcd-prefix P   keys under this prefix (default /weft/; one per cluster)
  --tls-key PATH    controller private key (PEM); with --tls-cert and --tls-ca
                    the OpenFlow listener speaks TLS (OVS "ssl:" targets)
  --tls-cert PATH   controller certificate (PEM)
  --tls-ca PATH     CA certificate that switch certificates must chain to (PEM);
                    a switch may claim only the dpids its certificate names
                    (subjectAltName URI dpid:<16 hex> or CN=dpid:<16 hex>)
  --tls-allow-unbound  accept switch certificates that name no dpid (any dpid)
  --apps SPEC       app profile or comma-separated apps (default ${DEFAULTS.apps})
                    profiles: ${Object.entries(PROFILES).map(([k, v]) => `${k} = [${v.join(', ')}]`).join('; ')}
  --log-level LVL   trace|debug|info|warn|error (default ${DEFAULTS.logLevel})
  --bgp-asn N       announce routed networks' host blocks over BGP from this
                    AS (1-65535); needs --bgp-peer
  --bgp-router-id IP  BGP identifier (default --api-host, unless that is
                    0.0.0.0 or a loopback address)
  --bgp-peer IP:AS[:PORT]  a BGP peer (a router of the underlay) that Weft
                    connects to (port 179 by default); repeat for more
  --bgp-restart-time S  graceful restart (RFC 4724): peers keep Weft's routes
                    this many seconds while it restarts or a new leader
                    takes over (0-4095, default ${BGP_RESTART_TIME}; 0 turns it off)
  --bgp-source IP   the local address BGP sessions are opened from (the
                    neighbor address the peers have for this controller)
  --pod-cidrs CIDR[,CIDR]  the address space container networks must lie in
                    (default 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10);
                    BGP announces nothing outside it
  --host-ports LO-HI  host ports that may be published to containers
                    (default 1024-65535; Weft's own ports, 179 and 6640 never)
  --max-endpoints-per-host N  endpoints one host may have (default 1024): a
                    host or its token cannot take a network's addresses
  --admin-token-file PATH  where the admin token is written on first start
                    (default: weft-admin.token next to the database, mode 0600)
  --no-auth         no tokens on the API: anyone who reaches it may do
                    everything (labs only)
  --api-tls-cert PATH, --api-tls-key PATH  serve the API over HTTPS
  --api-tls-ca PATH clients must present a certificate that chains to this CA
  --api-allowed-hosts NAME[,NAME]  host names the API answers to besides IP
                    addresses and localhost (a guard against DNS rebinding)
  --api-allowed-origins URL[,URL]  browser origins allowed besides the API's own
  --tunnel-probe-interval S  seconds between two probes of the tunnel from one
                    host to another (default ${DEFAULTS.tunnelProbeInterval}; 0 = no probes): GET /v1/tunnels
  --tunnel-probe-budget N  probes per second at most, all pairs together
                    (default 2000): beyond it each pair is probed less often
  --ipsec-vtep-cidr CIDR  encrypted networks: each host's secure VTEP address
                    comes from this range (default 198.18.0.0/16; prefix 8..28,
                    clear of the pod CIDRs)
  --ipsec-rekey-interval S  encrypted networks: new keys for every pair of
                    hosts every S seconds (default 0 = only on POST
                    /v1/networks/{name}/rekey; else 60-31536000)

Options for "token":
  token create --role admin|host [--host NAME]   prints the new token once
  token ls                                       lists tokens (no secrets)
  token rm ID                                    revokes a token

Options for the API commands (token, hosts, networks, endpoints, tunnels, trace, flows):
  --api URL         the controller's API (default http://127.0.0.1:${DEFAULTS.apiPort})
  --token-file PATH the token to call it with (default ./weft-admin.token);
                    --admin-token-file is the same
  -o table|json     a table (default), or the API's JSON as it answered
  Without the flags: WEFT_API, WEFT_TOKEN (the token itself) or
  WEFT_TOKEN_FILE, then ~/.config/weft/cli.json {"api": URL, "tokenFile": PATH}.
  An error answer prints "weft: <status> <message>" and exits 1.

Options for "cni-agent" (run it in the host's network namespace, as root):
  --socket PATH     Unix socket to listen on (default ${DEFAULT_AGENT_SOCKET}); the
                    network configuration's "agentSocket" names it for weft-cni
  --log-level LVL   as above (default ${DEFAULTS.logLevel}); one line per call

Options for "ipsec-agent" (run it in the host's network namespace, as root;
needs strongswan-charon, strongswan-swanctl, libcharon-extra-plugins):
  --api URL         the Weft API (required)
  --host NAME       this host's name in Weft (required)
  --token-file PATH the host's token (weft token create --role host --host NAME)
  --api-ca-file PATH  CA of an https API with a private CA
  --state-dir DIR   charon's configuration, VICI socket and log (default
                    /var/lib/weft/ipsec)
  --ovs-rundir DIR  the host's OVS sockets (default /var/run/openvswitch)
  --uplink NAME     br-phy's uplink port (default: br-phy's one system port)
  --poll-interval S seconds between two reads of the host's IPsec
                    configuration (default 2)
  --log-level LVL   as above (default info)

Options for "docker-plugin" (run it in the host's network namespace, as root,
where dockerd runs; start dockerd with --userland-proxy=false):
  --api URL         the Weft API (required)
  --host NAME       this host's name in Weft (required)
  --token-file PATH the host's token (weft token create --role host --host NAME);
                    an admin token is needed to create and delete networks
  --api-ca-file PATH  CA of an https API with a private CA
  --socket PATH     the socket dockerd finds (default /run/docker/plugins/weft.sock;
                    the driver's name is the file's name)
  --bridge NAME     the OVS bridge of containers (default br-int)
  --ovsdb TARGET    the host's OVSDB (default unix:/var/run/openvswitch/db.sock)
  --docker URL      dockerd's API, asked for network names (default
                    unix:///var/run/docker.sock)
  --cni-agent-socket PATH  also be the host's CNI agent on this socket
  --log-level LVL   as above (default info); one line per Docker call
`;
}

export class UsageError extends Error {}

function port(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new UsageError(`--${name}: "${v}" is not a port number (0-65535)`);
  return n;
}

export function parseControllerArgs(argv: string[]): ControllerConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      'of-port': { type: 'string' }, 'of-host': { type: 'string' }, 'api-port': { type: 'string' },
      'api-host': { type: 'string' }, db: { type: 'string' }, 'tls-key': { type: 'string' },
      'tls-cert': { type: 'string' }, 'tls-ca': { type: 'string' }, 'log-level': { type: 'string' }, apps: { type: 'string' },
      'bgp-asn': { type: 'string' }, 'bgp-router-id': { type: 'string' }, 'bgp-peer': { type: 'string', multiple: true }, 'bgp-restart-time': { type: 'string' }, 'bgp-source': { type: 'string' },
      'admin-token-file': { type: 'string' }, 'no-auth': { type: 'boolean' }, 'api-tls-cert': { type: 'string' }, 'api-tls-key': { type: 'string' },
      'api-tls-ca': { type: 'string' }, 'api-allowed-hosts': { type: 'string' }, 'api-allowed-origins': { type: 'string' },
      'tls-allow-unbound': { type: 'boolean' }, 'pod-cidrs': { type: 'string' }, 'host-ports': { type: 'string' }, 'max-endpoints-per-host': { type: 'string' },
      'tunnel-probe-interval': { type: 'string' },
      'tunnel-probe-budget': { type: 'string' },
      'ipsec-vtep-cidr': { type: 'string' }, 'ipsec-rekey-interval': { type: 'string' },
      store: { type: 'string' }, 'etcd-ca': { type: 'string' }, 'etcd-cert': { type: 'string' }, 'etcd-key': { type: 'string' },
      'etcd-user': { type: 'string' }, 'etcd-password-file': { type: 'string' }, 'etcd-prefix': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const tlsParts = [values['tls-key'], values['tls-cert'], values['tls-ca']];
  if (tlsParts.some((x) => x !== undefined) && !tlsParts.every((x) => x !== undefined)) {
    throw new UsageError('--tls-key, --tls-cert and --tls-ca go together');
  }
  const level = values['log-level'] ?? DEFAULTS.logLevel;
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level: unknown level "${level}"`);
  const apps = values.apps ?? DEFAULTS.apps;
  try {
    resolveApps(apps);
  } catch (e) {
    if (e instanceof AppSelectionError) throw new UsageError(`--apps: ${e.message}`);
    throw e;
  }
  return {
    apps,
    ofPort: port(values['of-port'], 'of-port', DEFAULTS.ofPort),
    ofHost: values['of-host'] ?? DEFAULTS.ofHost,
    apiPort: port(values['api-port'], 'api-port', DEFAULTS.apiPort),
    apiHost: values['api-host'] ?? DEFAULTS.apiHost,
    db: values.db ?? DEFAULTS.db,
    tls: values['tls-key'] ? { key: values['tls-key']!, cert: values['tls-cert']!, ca: values['tls-ca']! } : undefined,
    logLevel: level,
    ...(values['tls-allow-unbound'] ? { connection: { allowUnboundCertificates: true } } : {}),
    ...containerLimits(values['pod-cidrs'], values['host-ports'], values['max-endpoints-per-host']),
    ...probeInterval(values['tunnel-probe-interval']),
    ...probeBudget(values['tunnel-probe-budget']),
    ...ipsecOptions(values['ipsec-vtep-cidr'], values['ipsec-rekey-interval'], values['pod-cidrs']),
    ...storeConfig(values),
    ...apiTrust(values),
    ...bgpConfig(values['bgp-asn'], values['bgp-router-id'], values['bgp-peer'], values['bgp-restart-time'], values['bgp-source'], values['api-host'] ?? DEFAULTS.apiHost),
  };
}

/** --store sqlite | etcd://HOST:PORT[,...] with the --etcd-* options (only with etcd). */
function storeConfig(v: Record<string, string | boolean | string[] | undefined>): Pick<ControllerConfig, 'etcd'> {
  const s = v.store as string | undefined;
  const etcdFlags = ['etcd-ca', 'etcd-cert', 'etcd-key', 'etcd-user', 'etcd-password-file', 'etcd-prefix'].filter((k) => v[k] !== undefined);
  if (s === undefined || s === 'sqlite') {
    if (etcdFlags.length) throw new UsageError(`--${etcdFlags[0]} needs --store etcd://HOST:PORT[,...]`);
    return {};
  }
  let endpoints: string[];
  try { endpoints = parseEtcdUrl(s); } catch (e) { throw new UsageError((e as Error).message); }
  const str = (k: string) => v[k] as string | undefined;
  if ((str('etcd-cert') === undefined) !== (str('etcd-key') === undefined)) throw new UsageError('--etcd-cert and --etcd-key go together');
  if (str('etcd-cert') !== undefined && str('etcd-ca') === undefined) throw new UsageError('--etcd-cert needs --etcd-ca (TLS to etcd)');
  if ((str('etcd-user') === undefined) !== (str('etcd-password-file') === undefined)) throw new UsageError('--etcd-user and --etcd-password-file go together');
  for (const k of ['etcd-ca', 'etcd-cert', 'etcd-key', 'etcd-password-file']) {
    const f = str(k);
    if (f === undefined) continue;
    if (!fs.existsSync(f)) throw new UsageError(`--${k}: ${f} does not exist`);
    if (!fs.statSync(f).isFile()) throw new UsageError(`--${k}: ${f} is not a file`);
    try { fs.accessSync(f, fs.constants.R_OK); } catch { throw new UsageError(`--${k}: ${f} cannot be read`); }
  }
  const prefix = str('etcd-prefix') ?? '/weft/';
  if (!/^\/[A-Za-z0-9_./-]{0,100}\/$/.test(prefix)) throw new UsageError(`--etcd-prefix: "${prefix}" must start and end with / (letters, digits, _ . - /)`);
  return {
    etcd: {
      endpoints, prefix,
      ...(str('etcd-ca') ? { ca: str('etcd-ca') } : {}), ...(str('etcd-cert') ? { cert: str('etcd-cert'), key: str('etcd-key') } : {}),
      ...(str('etcd-user') ? { user: str('etcd-user'), passwordFile: str('etcd-password-file') } : {}),
    },
  };
}

/** --tunnel-probe-interval SECONDS: 0 (off), or 0.1 to 3600. */
function probeInterval(v: string | undefined): Pick<ControllerConfig, 'tunnelProbeInterval'> {
  if (v === undefined) return {};
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || (n !== 0 && (n < 0.1 || n > 3600))) throw new UsageError(`--tunnel-probe-interval: "${v}" is not a number of seconds (0 = off, or 0.1-3600)`);
  return { tunnelProbeInterval: n };
}

/** --ipsec-vtep-cidr CIDR (clear of the pod CIDRs), --ipsec-rekey-interval SECONDS (0, or 60 to a year). */
function ipsecOptions(cidr: string | undefined, interval: string | undefined, podCidrs: string | undefined): Pick<ControllerConfig, 'ipsecVtepCidr' | 'ipsecRekeyInterval'> {
  const out: Pick<ControllerConfig, 'ipsecVtepCidr' | 'ipsecRekeyInterval'> = {};
  if (cidr !== undefined) {
    const why = vtepCidrRefusal(cidr, containerPolicy({ podCidrs }).podCidrs);
    if (why) throw new UsageError(`--ipsec-vtep-cidr: ${why}`);
    out.ipsecVtepCidr = cidr;
  } else {
    const why = vtepCidrRefusal(DEFAULT_VTEP_CIDR, containerPolicy({ podCidrs }).podCidrs);
    if (why) throw new UsageError(`the default --ipsec-vtep-cidr ${DEFAULT_VTEP_CIDR} is not usable (${why}): give another`);
  }
  if (interval !== undefined) {
    const n = Number(interval);
    if (!/^\d+$/.test(interval) || (n !== 0 && (n < 60 || n > 31_536_000))) throw new UsageError(`--ipsec-rekey-interval: "${interval}" is not a number of seconds (0 = off, or 60-31536000)`);
    out.ipsecRekeyInterval = n;
  }
  return out;
}

/** --tunnel-probe-budget N: probes per second at most, 1 to 1000000. */
function probeBudget(v: string | undefined): Pick<ControllerConfig, 'tunnelProbeBudget'> {
  if (v === undefined) return {};
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 1_000_000) throw new UsageError(`--tunnel-probe-budget: "${v}" is not a number of probes per second (1-1000000)`);
  return { tunnelProbeBudget: n };
}

function containerLimits(podCidrs: string | undefined, hostPorts: string | undefined, maxEndpointsPerHost: string | undefined): Pick<ControllerConfig, 'podCidrs' | 'hostPorts' | 'maxEndpointsPerHost'> {
  try {
    // checked here for a usage error at start; the controller parses them again into its policy
    containerPolicy({ podCidrs, hostPorts, maxEndpointsPerHost });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return {
    ...(podCidrs !== undefined ? { podCidrs } : {}), ...(hostPorts !== undefined ? { hostPorts } : {}),
    ...(maxEndpointsPerHost !== undefined ? { maxEndpointsPerHost } : {}),
  };
}

function apiTrust(v: Record<string, string | boolean | string[] | undefined>): Pick<ControllerConfig, 'auth' | 'adminTokenFile' | 'apiTls' | 'allowedHosts' | 'allowedOrigins'> {
  const cert = v['api-tls-cert'] as string | undefined, key = v['api-tls-key'] as string | undefined, ca = v['api-tls-ca'] as string | undefined;
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--api-tls-cert and --api-tls-key go together');
  if (ca !== undefined && cert === undefined) throw new UsageError('--api-tls-ca needs --api-tls-cert and --api-tls-key');
  if (v['no-auth'] && v['admin-token-file'] !== undefined) throw new UsageError('--no-auth and --admin-token-file exclude each other');
  const list = (name: string) => ((v[name] as string | undefined) ?? '').split(',').map((x) => x.trim().toLowerCase()).filter(Boolean);
  const hosts = list('api-allowed-hosts');
  for (const h of hosts) if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(h)) throw new UsageError(`--api-allowed-hosts: "${h}" is not a host name`);
  const origins = list('api-allowed-origins').map((o) => {
    let u: URL;
    try { u = new URL(o); } catch { throw new UsageError(`--api-allowed-origins: "${o}" is not a URL`); }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.pathname !== '/' || u.search) throw new UsageError(`--api-allowed-origins: "${o}" is not an origin (scheme://host[:port])`);
    return u.origin;
  });
  return {
    ...(v['no-auth'] ? { auth: false } : {}),
    ...(v['admin-token-file'] !== undefined ? { adminTokenFile: v['admin-token-file'] as string } : {}),
    ...(cert ? { apiTls: { cert, key: key!, ...(ca ? { ca } : {}) } } : {}),
    ...(hosts.length ? { allowedHosts: hosts } : {}),
    ...(origins.length ? { allowedOrigins: origins } : {}),
  };
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

function bgpConfig(asnS: string | undefined, routerId: string | undefined, peersS: string[] | undefined, restartS: string | undefined, source: string | undefined, apiHost: string): Pick<ControllerConfig, 'bgp'> {
  if (asnS === undefined) {
    if (routerId !== undefined || peersS?.length || restartS !== undefined || source !== undefined) throw new UsageError('--bgp-router-id, --bgp-peer, --bgp-restart-time and --bgp-source need --bgp-asn');
    return {};
  }
  const restartTime = restartS === undefined ? BGP_RESTART_TIME : Number(restartS);
  if (restartS !== undefined && (!/^\d+$/.test(restartS) || restartTime > BGP_MAX_RESTART_TIME)) {
    throw new UsageError(`--bgp-restart-time: "${restartS}" is not a number of seconds (0-${BGP_MAX_RESTART_TIME}; 0 turns graceful restart off)`);
  }
  const asn = Number(asnS);
  if (!/^\d+$/.test(asnS) || asn < 1 || asn > 65535) throw new UsageError(`--bgp-asn: "${asnS}" is not an AS number (1-65535)`);
  if (!peersS?.length) throw new UsageError('--bgp-asn needs at least one --bgp-peer IP:AS');
  const peers = peersS.map((p) => {
    const m = /^([\d.]+):(\d+)(?::(\d+))?$/.exec(p);
    if (!m || !IPV4.test(m[1]!) || Number(m[2]) < 1 || Number(m[2]) > 65535 || (m[3] !== undefined && (Number(m[3]) < 1 || Number(m[3]) > 65535))) {
      throw new UsageError(`--bgp-peer: "${p}" is not IP:AS[:PORT]`);
    }
    return { address: m[1]!, asn: Number(m[2]), ...(m[3] ? { port: Number(m[3]) } : {}) };
  });
  // a loopback or wildcard API address is no identifier to tell this speaker apart by
  const id = routerId ?? (IPV4.test(apiHost) && apiHost !== '0.0.0.0' && !apiHost.startsWith('127.') ? apiHost : undefined);
  if (id === undefined || !IPV4.test(id) || id === '0.0.0.0') throw new UsageError('--bgp-router-id: give an IPv4 address (no usable --api-host to default to)');
  if (source !== undefined && (!IPV4.test(source) || source === '0.0.0.0' || Number(source.split('.')[0]) >= 224)) throw new UsageError(`--bgp-source: "${source}" is not a unicast IPv4 address`);
  return { bgp: { asn, routerId: id, peers, restartTime, ...(source !== undefined ? { source } : {}) } };
}

export function parseAgentArgs(argv: string[]): { socket: string; logLevel: string } {
  const { values } = parseArgs({ args: argv, options: { socket: { type: 'string' }, 'log-level': { type: 'string' } }, strict: true, allowPositionals: false });
  const level = values['log-level'] ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level: unknown level "${level}"`);
  const socket = values.socket ?? DEFAULT_AGENT_SOCKET;
  if (!socket.startsWith('/') || Buffer.byteLength(socket) > 107) throw new UsageError(`--socket: "${socket}" must be an absolute path of at most 107 bytes`);
  return { socket, logLevel: level };
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'controller': {
      const cfg = parseControllerArgs(rest);
      const { Controller } = await import('../compose');
      const ctl = new Controller(cfg);
      await ctl.start();
      let stopping = false;
      const stop = async (sig: string) => {
        if (stopping) return;
        stopping = true;
        ctl.log.info({ sig }, 'stopping');
        await ctl.stop();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
      return -1; // keep running
    }
    case 'cni-agent': {
      const cfg = parseAgentArgs(rest);
      const { CniAgent } = await import('../cni/agent');
      const { default: pino } = await import('pino');
      const agent = new CniAgent({ socket: cfg.socket, log: pino({ level: cfg.logLevel, base: { component: 'cni-agent' } }) });
      await agent.start();
      const stop = () => void agent.stop().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return -1;
    }
    case 'ipsec-agent': {
      const { parseIpsecAgentArgs, IpsecAgent } = await import('../ipsec/agent');
      let cfg;
      try { cfg = parseIpsecAgentArgs(rest); } catch (e) { throw new UsageError((e as Error).message); }
      const { default: pino } = await import('pino');
      const log = pino({ level: cfg.logLevel, base: { component: 'ipsec-agent', host: cfg.host }, redact: { paths: ['psk', '*.psk', 'peers[*].psk', '*.peers[*].psk'], censor: '[redacted]' } });
      const agent = new IpsecAgent(cfg, log);
      await agent.start();
      const stop = () => void agent.stop().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return -1;
    }
    case 'docker-plugin': {
      const { parsePluginArgs, startPlugin, PluginUsageError } = await import('../docker/plugin');
      let cfg;
      try { cfg = parsePluginArgs(rest); } catch (e) { throw new UsageError((e as Error).message); }
      const { default: pino } = await import('pino');
      const log = pino({ level: cfg.logLevel, base: { component: 'docker-plugin' } });
      let p;
      try { p = await startPlugin(cfg, log); } catch (e) { if (e instanceof PluginUsageError) throw new UsageError(e.message); throw e; }
      const stop = () => void p.stop().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return -1;
    }
    case 'pki': {
      const { pkiMain } = await import('./pki');
      return pkiMain(rest);
    }
    case 'token': {
      const { tokenMain } = await import('./token');
      return tokenMain(rest);
    }
    case 'tunnels': {
      const { tunnelsMain } = await import('./resources');
      return tunnelsMain(rest);
    }
    case 'hosts': case 'networks': case 'endpoints': case 'services': {
      const { resourceMain } = await import('./resources');
      return resourceMain(cmd, rest);
    }
    case 'trace': {
      const { traceMain } = await import('./resources');
      return traceMain(rest);
    }
    case 'flows': {
      const { flowsMain } = await import('./resources');
      return flowsMain(rest);
    }
    case 'openapi': {
      const { openapiDocument } = await import('../api/openapi');
      process.stdout.write(JSON.stringify(await openapiDocument(), null, 2) + '\n');
      return 0;
    }
    case 'version': case '--version':
      process.stdout.write(`weft ${version()}\n`);
      return 0;
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(usage());
      return cmd === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${cmd}"`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    if (code >= 0) process.exit(code);
  }, (e: Error) => {
    if (e instanceof UsageError || e.name === 'TokenUsageError' || e.name === 'CliUsageError' || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`weft: ${e.message}\n\n${usage()}`);
      process.exit(2);
    }
    if (e.name === 'EtcdStartError') {
      // a TLS or password file that does not do, or etcd not read: the message names it
      process.stderr.write(`weft: ${e.message}\n`);
      process.exit(1);
    }
    if (e.name === 'ApiError') {
      // `weft: <status> <message>` (client.ts)
      process.stderr.write(`${(e as Error & { line(): string }).line()}\n`);
      process.exit(1);
    }
    process.stderr.write(`weft: ${e.stack ?? e.message}\n`);
    process.exit(1);
  });
}
