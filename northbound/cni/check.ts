// CNI CHECK, STATUS and VERSION.
import fs from 'node:fs';
import { Deps, depsFor } from './add';
import { WeftApi, apiFor } from './api-client';
import { CniEnv, LATEST_VERSION, NetConf, SUPPORTED_VERSIONS, isSupportedVersion } from './config';
import { CniCode, CniError } from './errors';
import * as netlink from './netlink';
import { EXTERNAL_IDS } from './ovs';
import { addressesOn, containerInterface } from './result';

const fail = (msg: string) => new CniError(CniCode.GENERIC, msg);

/**
 * CHECK: the endpoint exists in Weft and is ready; its OVS port is there and
 * carries its id; the container interface exists with the endpoint's address
 * and every address the prevResult gives it, and TX checksum offload off.
 * The MAC and routes are not compared: a later plugin in the chain (tuning)
 * may change them, which the spec allows.
 */
export async function cmdCheck(env: CniEnv, conf: NetConf, deps: Deps = depsFor(conf)): Promise<void> {
  if (!conf.prevResult) throw new CniError(CniCode.INVALID_CONFIG, 'CHECK needs "prevResult" (the result of the ADD)');
  const prev = containerInterface(conf.prevResult, env.ifName);
  if (prev === null) throw new CniError(CniCode.INVALID_CONFIG, `prevResult lists no interface ${env.ifName} in a sandbox`);
  if (!fs.existsSync(env.netns)) throw new CniError(CniCode.UNKNOWN_CONTAINER, `CNI_NETNS ${env.netns} does not exist`);

  const eps = (await deps.api.findEndpoints({ containerId: env.containerId, ifName: env.ifName }))
    .filter((e) => e.network === conf.network);
  const ep = eps[0];
  if (!ep) throw fail(`Weft has no endpoint for container ${env.containerId} ${env.ifName} on network ${conf.network}`);
  if (ep.state !== 'ready') throw fail(`endpoint ${ep.id} is ${ep.state}, not ready`);

  const ids = await deps.ovs.interfaceExternalIds(ep.portName);
  if (ids === null) throw fail(`OVS has no port ${ep.portName} for endpoint ${ep.id}`);
  if (ids[EXTERNAL_IDS.endpoint] !== ep.id) {
    throw fail(`OVS port ${ep.portName} belongs to endpoint ${ids[EXTERNAL_IDS.endpoint] ?? '(none)'}, not ${ep.id}`);
  }
  const bridge = await deps.ovs.portBridge(ep.portName);
  if (bridge !== conf.bridge) throw fail(`OVS port ${ep.portName} is on bridge ${bridge}, not ${conf.bridge}`);
  const host = await netlink.getLink(ep.portName);
  if (host === null || !host.up) throw fail(`host interface ${ep.portName} is ${host === null ? 'missing' : 'down'}`);

  const link = await netlink.getLink(env.ifName, env.netns);
  if (link === null) throw fail(`interface ${env.ifName} is missing from ${env.netns}`);
  if (!link.up) throw fail(`interface ${env.ifName} in ${env.netns} is down`);
  const have = await netlink.getIPv4Addresses(env.ifName, env.netns);
  const want = new Set([`${ep.ip}/${ep.prefixLength}`, ...addressesOn(conf.prevResult, prev.index)]);
  const missing = [...want].filter((a) => !have.includes(a));
  if (missing.length > 0) throw fail(`interface ${env.ifName} in ${env.netns} lacks ${missing.join(', ')} (has ${have.join(', ') || 'none'})`);
  const features = await netlink.getFeatures(env.ifName, env.netns);
  if (features['tx-checksumming'] !== false) throw fail(`TX checksum offload is on for ${env.ifName} in ${env.netns}`);
}

/** How long STATUS waits for /v1/health. */
const STATUS_TIMEOUT_MS = 5000;

/** STATUS (1.1.0): code 50 unless the Weft API answers /v1/health with status ok. */
export async function cmdStatus(conf: NetConf, api: WeftApi = apiFor(conf)): Promise<void> {
  let body: Record<string, unknown>;
  try {
    body = await api.health(STATUS_TIMEOUT_MS);
  } catch (e) {
    throw new CniError(CniCode.PLUGIN_NOT_AVAILABLE, `Weft is not available: ${(e as Error).message}`);
  }
  if (body.status !== undefined && body.status !== 'ok') {
    throw new CniError(CniCode.PLUGIN_NOT_AVAILABLE, `Weft is not available: health status ${JSON.stringify(body.status)}`);
  }
}

/** VERSION: answers in the version the runtime asked about when this plugin supports it. */
export function cmdVersion(requested: unknown): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion: isSupportedVersion(requested) ? requested : LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}
