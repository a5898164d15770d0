// `weft docker-plugin`: Weft's Docker network and IPAM driver on one
// container host (driver.ts), served on a Unix socket dockerd finds by its
// name (/run/docker/plugins/weft.sock: driver "weft"). With
// --cni-agent-socket the same process is also the host's CNI agent.
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { apiFor, apiUrls } from '../cni/api-client';
import { DEFAULTS } from '../cni/config';
import { Ovs, OvsdbOvs } from '../cni/ovs';
import { OvsdbClient } from '../../southbound/ovsdb/client';
import { DockerApi } from './docker-api';
import { DockerDriver, RESERVATION_TTL_MS } from './driver';
import { PluginServer } from './protocol';
import { LOG_LEVELS } from '../config';

export const DEFAULT_PLUGIN_SOCKET = '/run/docker/plugins/weft.sock';
export const DEFAULT_DOCKER = 'unix:///var/run/docker.sock';

export interface PluginConfig {
  api: string;
  host: string;
  socket: string;
  bridge: string;
  ovsdb: string;
  tokenFile?: string;
  apiCaFile?: string;
  docker: string;
  logLevel: string;
  cniAgentSocket?: string;
}

export class PluginUsageError extends Error {}


export function parsePluginArgs(argv: string[]): PluginConfig {
  const { values: v } = parseArgs({
    args: argv, strict: true, allowPositionals: false,
    options: {
      api: { type: 'string' }, host: { type: 'string' }, socket: { type: 'string' }, bridge: { type: 'string' }, ovsdb: { type: 'string' },
      'token-file': { type: 'string' }, 'api-ca-file': { type: 'string' }, docker: { type: 'string' }, 'log-level': { type: 'string' },
      'cni-agent-socket': { type: 'string' },
    },
  });
  if (!v.api) throw new PluginUsageError('--api URL is required (the Weft API, e.g. http://10.0.0.1:8080)');
  let api: string;
  try { api = apiUrls(v.api).join(','); } catch (e) { throw new PluginUsageError(`--api: ${(e as Error).message}`); }
  if (!v.host) throw new PluginUsageError('--host NAME is required (this host\'s name in Weft)');
  const sock = (s: string, flag: string) => {
    if (!s.startsWith('/') || Buffer.byteLength(s) > 107) throw new PluginUsageError(`${flag}: "${s}" must be an absolute path of at most 107 bytes`);
    return s;
  };
  const bridge = v.bridge ?? DEFAULTS.bridge;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) throw new PluginUsageError(`--bridge: "${bridge}" is not a bridge name`);
  const level = v['log-level'] ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw new PluginUsageError(`--log-level: unknown level "${level}"`);
  const docker = v.docker ?? DEFAULT_DOCKER;
  if (!/^unix:\/\/\/.+|^tcp:\/\/[^:/]+:\d+$/.test(docker)) throw new PluginUsageError(`--docker: "${docker}" is not unix:///PATH or tcp://HOST:PORT`);
  return {
    api, host: v.host, socket: sock(v.socket ?? DEFAULT_PLUGIN_SOCKET, '--socket'), bridge, ovsdb: v.ovsdb ?? DEFAULTS.ovsdb,
    ...(v['token-file'] !== undefined ? { tokenFile: v['token-file'] } : {}), ...(v['api-ca-file'] !== undefined ? { apiCaFile: v['api-ca-file'] } : {}),
    docker, logLevel: level, ...(v['cni-agent-socket'] !== undefined ? { cniAgentSocket: sock(v['cni-agent-socket'], '--cni-agent-socket') } : {}),
  };
}

export interface RunningPlugin { driver: DockerDriver; stop(): Promise<void> }

/** Starts the plugin (and the CNI agent with --cni-agent-socket). */
export async function startPlugin(cfg: PluginConfig, log: Logger): Promise<RunningPlugin> {
  let api;
  try { api = apiFor(cfg); } catch (e) { throw new PluginUsageError((e as Error).message); }
  // ports are added in one OVSDB transaction on a kept-open connection (as the CNI agent does); ovs-vsctl for the rest
  let ovsdb: OvsdbClient | undefined;
  try { ovsdb = new OvsdbClient(cfg.ovsdb); } catch { ovsdb = undefined; }
  const ovs = ovsdb ? new OvsdbOvs(cfg.ovsdb, cfg.bridge, ovsdb) : new Ovs(cfg.ovsdb, cfg.bridge);
  const driver = new DockerDriver({ api, ovs, host: cfg.host, docker: new DockerApi(cfg.docker), log });
  const server = new PluginServer({ socket: cfg.socket, handlers: driver.handlers(), log });
  await server.start();
  let agent: { stop(): Promise<void> } | undefined;
  if (cfg.cniAgentSocket) {
    const { CniAgent } = await import('../cni/agent');
    const a = new CniAgent({ socket: cfg.cniAgentSocket, log: log.child({ component: 'cni-agent' }) });
    await a.start();
    agent = a;
  }
  // reservations Docker asked for and never claimed (dockerd died in between) do not stay
  const reconcile = () => void driver.reconcileReservations().catch((e: Error) => log.warn({ err: e.message }, 'reconciling reservations'));
  reconcile();
  const timer = setInterval(reconcile, RESERVATION_TTL_MS / 2);
  timer.unref();
  return {
    driver,
    async stop() {
      clearInterval(timer);
      await server.stop();
      await agent?.stop();
      ovsdb?.close();
    },
  };
}
