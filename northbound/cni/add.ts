// CNI ADD: register the endpoint with Weft, plumb a veth pair from the
// container into the host's OVS bridge, wait until Weft reports the endpoint
// ready (its flows are installed), and return the result. A failure after
// the endpoint was registered rolls back everything this call made.
import type { CreateEndpointRequest } from './api-client';
import { randomBytes } from 'node:crypto';
import { portNameFor } from '../../controller/port-name';
import fs from 'node:fs';
import { ApiHttpError, WeftApi, Endpoint, apiFor } from './api-client';
import { addressRequest, CniEnv, DEFAULTS, isIPv4, NetConf, validIfName } from './config';
import { CniCode, CniError, asCniError } from './errors';
import { ExecError } from './exec';
import * as netlink from './netlink';
import { Ovs, EXTERNAL_IDS } from './ovs';
import { buildResult, CniResult } from './result';
import { traceMark } from './trace';

/** What a command needs besides env and conf; tests may pass their own. */
export interface Deps {
  api: WeftApi;
  ovs: Ovs;
}

export function depsFor(conf: NetConf): Deps {
  return { api: apiFor(conf), ovs: new Ovs(conf.ovsdb, conf.bridge) };
}

/** Pause between polls when the API answers a long-poll early while still pending. */
const MIN_POLL_INTERVAL_MS = 200;

/** The external_ids a container port carries (read by the controller over OVSDB, and by DEL/GC/CHECK). */
export function portExternalIds(ep: Endpoint, env: CniEnv, conf: NetConf): Record<string, string> {
  return {
    [EXTERNAL_IDS.endpoint]: ep.id,
    [EXTERNAL_IDS.containerId]: env.containerId,
    [EXTERNAL_IDS.iface]: env.ifName,
    [EXTERNAL_IDS.network]: conf.network,
  };
}

/** Wraps a failed host command with what the plugin was doing. */
function step<T>(what: string, p: Promise<T>): Promise<T> {
  return p.catch((e: unknown) => { throw stepError(what, e); });
}

function stepError(what: string, e: unknown): CniError {
  if (e instanceof CniError) return e;
  const msg = e instanceof ExecError ? e.message : (e as Error).message ?? String(e);
  return new CniError(CniCode.GENERIC, `${what}: ${msg}`);
}

function checkEndpoint(ep: Endpoint): void {
  const bad = (why: string) => new CniError(CniCode.GENERIC, `Weft API returned an unusable endpoint ${ep.id}: ${why}`);
  if (!validIfName(ep.portName)) throw bad(`portName "${ep.portName}" is not a valid interface name`);
  if (!isIPv4(ep.ip)) throw bad(`ip "${ep.ip}" is not IPv4`);
  if (!Number.isInteger(ep.prefixLength) || ep.prefixLength < 1 || ep.prefixLength > 32) throw bad(`prefixLength ${ep.prefixLength}`);
  if (ep.gateway !== null && !isIPv4(ep.gateway)) throw bad(`gateway "${ep.gateway}" is not IPv4`);
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(ep.mac)) throw bad(`mac "${ep.mac}"`);
}

/** Long-polls until the endpoint is ready; code 11 if it is still pending after `timeoutMs`. */
export async function waitReady(api: WeftApi, id: string, timeoutMs: number): Promise<Endpoint> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    const started = Date.now();
    const ep = await api.waitEndpoint(id, Math.max(0, left)).catch((e: unknown) => {
      if (e instanceof ApiHttpError && e.status === 404) throw new CniError(CniCode.GENERIC, `endpoint ${id} disappeared while waiting for it to become ready`);
      throw e;
    });
    if (ep.state === 'ready') return ep;
    if (ep.state === 'removed') throw new CniError(CniCode.GENERIC, `endpoint ${id} was removed while waiting for it to become ready`);
    const now = Date.now();
    if (now >= deadline) {
      throw new CniError(CniCode.TRY_AGAIN_LATER, `endpoint ${id} is not ready after ${timeoutMs} ms (state ${ep.state}): ` +
        'the controller has not installed its flows yet; is the bridge connected to Weft?');
    }
    if (now - started < MIN_POLL_INTERVAL_MS) await new Promise((r) => setTimeout(r, Math.min(MIN_POLL_INTERVAL_MS, deadline - now)));
  }
}

/**
 * The portMappings capability (CONVENTIONS.md): runtimeConfig.portMappings is
 * [{hostPort, containerPort, protocol, hostIP}]; Weft publishes them with
 * conntrack DNAT on the host. Malformed entries are a config error.
 */
export function portMappingsOf(conf: NetConf): { portMappings?: CreateEndpointRequest['portMappings'] } {
  const pm = conf.runtimeConfig.portMappings;
  if (pm === undefined) return {};
  if (!Array.isArray(pm)) throw new CniError(CniCode.INVALID_CONFIG, 'runtimeConfig.portMappings must be an array');
  return {
    portMappings: pm.map((m, i) => {
      const o = m as Record<string, unknown>;
      if (typeof o !== 'object' || o === null || !Number.isInteger(o.hostPort) || !Number.isInteger(o.containerPort)) {
        throw new CniError(CniCode.INVALID_CONFIG, `runtimeConfig.portMappings[${i}] needs integer hostPort and containerPort`);
      }
      return {
        hostPort: o.hostPort as number, containerPort: o.containerPort as number,
        ...(typeof o.protocol === 'string' ? { protocol: o.protocol } : {}),
        ...(typeof o.hostIP === 'string' && o.hostIP ? { hostIP: o.hostIP } : {}),
      };
    }),
  };
}

/**
 * Labels for network policy: `k8s.namespace` and `k8s.pod` from CNI_ARGS
 * K8S_POD_NAMESPACE and K8S_POD_NAME (as the kubelet's runtimes pass them),
 * then runtimeConfig.labels ({key: value}, the `labels` capability), which
 * wins on the same key. The controller validates them (label syntax).
 */
export function labelsOf(env: Pick<CniEnv, 'args'>, conf: NetConf): { labels?: Record<string, string> } {
  const labels: Record<string, string> = {};
  if (env.args.K8S_POD_NAMESPACE) labels['k8s.namespace'] = env.args.K8S_POD_NAMESPACE;
  if (env.args.K8S_POD_NAME) labels['k8s.pod'] = env.args.K8S_POD_NAME;
  const rc = conf.runtimeConfig.labels;
  if (rc !== undefined) {
    if (typeof rc !== 'object' || rc === null || Array.isArray(rc)) throw new CniError(CniCode.INVALID_CONFIG, 'runtimeConfig.labels must be an object of strings');
    for (const [k, v] of Object.entries(rc as Record<string, unknown>)) {
      if (typeof v !== 'string') throw new CniError(CniCode.INVALID_CONFIG, `runtimeConfig.labels.${k} must be a string`);
      labels[k] = v;
    }
  }
  return Object.keys(labels).length ? { labels } : {};
}

/** The host-side interface name: the controller's default, so the veth can be made while the endpoint is registered. */
export { portNameFor };

/** A random locally administered unicast MAC (the host end of the veth: set, so never read back). */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfc) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * The veth is made before the endpoint (and its network's MTU) is known: a
 * long-running caller (the CNI agent) remembers each network's MTU, so the
 * next veth is made with it and needs no second command.
 */
const mtuSeen = new Map<string, number>();

export async function cmdAdd(env: CniEnv, conf: NetConf, deps: Deps = depsFor(conf)): Promise<CniResult> {
  const { api, ovs } = deps;
  const want = addressRequest(env, conf);
  if (!fs.existsSync(env.netns)) throw new CniError(CniCode.UNKNOWN_CONTAINER, `CNI_NETNS ${env.netns} does not exist`);

  // Side by side: the endpoint is registered (address, MAC) while the veth
  // pair is made, its container end born in the netns, the host end up.
  const hostName = portNameFor(env.containerId, env.ifName);
  const hostMac = randomMac();
  const tmpName = `weft${randomBytes(4).toString('hex')}`;
  const hintKey = `${conf.api} ${conf.network}`;
  const mtu0 = conf.mtu ?? mtuSeen.get(hintKey) ?? DEFAULTS.mtu;
  const veth = netlink.createVethUp(hostName, tmpName, mtu0, env.netns, hostMac);
  const reg = api.createEndpoint({
    containerId: env.containerId,
    ifName: env.ifName,
    host: conf.host,
    network: conf.network,
    netns: env.netns,
    portName: hostName,
    ...(want.ip ? { ip: want.ip } : {}),
    ...(want.mac ? { mac: want.mac } : {}),
    ...portMappingsOf(conf),
    ...labelsOf(env, conf),
  });
  const [v, r] = await Promise.allSettled([veth.finally(() => traceMark('veth')), reg.finally(() => traceMark('post'))]);
  if (r.status === 'rejected') {
    if (v.status === 'fulfilled') await netlink.deleteLink(hostName).catch(() => false);
    throw r.reason;
  }
  const { endpoint: ep, created } = r.value;
  traceMark('register');
  const done = { veth: false, port: false };
  try {
    checkEndpoint(ep);
    if (want.ip && ep.ip !== want.ip) throw new CniError(CniCode.GENERIC, `asked for IP ${want.ip} but the endpoint has ${ep.ip}`);
    const mtu = conf.mtu ?? (typeof ep.mtu === 'number' && ep.mtu > 0 ? ep.mtu : DEFAULTS.mtu);
    mtuSeen.set(hintKey, mtu);
    if (v.status === 'fulfilled' && ep.portName === hostName) {
      done.veth = true;
      if (mtu !== mtu0) {
        await step(`setting the MTU of ${hostName}`, netlink.setMtu(hostName, mtu));
      }
    } else {
      if (v.status === 'fulfilled') {
        // the endpoint existed with another port name: this veth is not its
        await step(`removing ${hostName}`, netlink.deleteLink(hostName));
      } else if (!netlink.isExists(v.reason)) {
        // it may have been made all the same (a timed-out helper): this call's name, so remove it
        await netlink.deleteLink(hostName).catch(() => false);
        throw stepError(`creating the veth pair into ${env.netns}`, v.reason);
      }
      // The host end exists: the same (container, ifName) was added before
      // and not deleted (a runtime retrying after a crash), or its plumbing
      // was left behind. Replace it.
      await step(`removing stale port ${ep.portName}`, ovs.delPort(ep.portName));
      await step(`removing stale interface ${ep.portName}`, netlink.deleteLink(ep.portName));
      await step(`creating the veth pair into ${env.netns}`, netlink.createVethUp(ep.portName, tmpName, mtu, env.netns, hostMac));
      done.veth = true;
    }
    done.port = true;
    traceMark('plumb');
    const address = `${ep.ip}/${ep.prefixLength}`;
    // Side by side again: the host's end joins the bridge and the controller
    // installs its flows while the container's end is configured. The port
    // and the long-poll for readiness go out first: the container's commands
    // are processes to start, and starting one holds this thread a moment.
    const host = (async () => {
      const ofportRequest = typeof ep.ofportRequest === 'number' && ep.ofportRequest > 0 ? ep.ofportRequest : undefined;
      const added = step(`adding ${ep.portName} to OVS bridge ${conf.bridge}`, ovs.addPort(ep.portName, portExternalIds(ep, env, conf), ofportRequest));
      // ready = the port is in ovs-vswitchd (the controller saw it) and its flows are confirmed;
      // should the port fail, the rollback deletes the endpoint, which ends this long-poll
      const ready = conf.readyTimeoutMs > 0 ? waitReady(api, ep.id, conf.readyTimeoutMs) : Promise.resolve(undefined);
      ready.catch(() => { /* awaited below */ });
      await added;
      traceMark('add-port');
      await ready;
    })();
    const container = step(`configuring ${env.ifName} in ${env.netns}`, netlink.configureContainerIf(env.netns, {
      tmpName, ifName: env.ifName, mac: ep.mac, mtu, address, gateway: ep.gateway,
    }));
    const [c, h] = await Promise.allSettled([container.finally(() => traceMark('container')), host]);
    traceMark('wait');
    if (c.status === 'rejected') throw c.reason;
    if (h.status === 'rejected') throw h.reason;
    return buildResult({
      cniVersion: conf.cniVersion,
      hostIf: { name: ep.portName, mac: hostMac },
      containerIf: { name: env.ifName, mac: ep.mac.toLowerCase(), sandbox: env.netns },
      mtu,
      address,
      gateway: ep.gateway,
      defaultRoute: c.value.defaultRoute,
      dns: conf.dns,
    });
  } catch (e) {
    const err = asCniError(e);
    const problems = await rollback(deps, ep, done, created);
    if (problems.length === 0) throw err;
    throw new CniError(err.code, err.message, [err.details, `rollback incomplete: ${problems.join('; ')}`].filter(Boolean).join('; '));
  }
}

/** Undoes a partial ADD; returns what could not be undone. */
async function rollback(deps: Deps, ep: Endpoint, done: { veth: boolean; port: boolean }, created: boolean): Promise<string[]> {
  const problems: string[] = [];
  const attempt = async (what: string, f: () => Promise<unknown>) => {
    try {
      await f();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  if (done.port) await attempt(`deleting OVS port ${ep.portName}`, () => deps.ovs.delPort(ep.portName));
  // Deleting one end of a veth deletes its peer, wherever that is.
  if (done.veth) await attempt(`deleting ${ep.portName}`, () => netlink.deleteLink(ep.portName));
  // an endpoint this call found (a retried ADD) is not this call's to delete: the runtime's DEL removes it
  if (created) await attempt(`deleting endpoint ${ep.id}`, () => deps.api.deleteEndpoint(ep.id));
  return problems;
}
