// CNI DEL and GC: remove OVS ports, host veths and Weft endpoints.
// Both are idempotent: what is already gone is success. Both do as much as
// they can and then report the first failure (with the others in details).
import { Endpoint } from './api-client';
import { Deps, depsFor } from './add';
import { Attachment, CniEnv, NetConf } from './config';
import { CniCode, CniError, asCniError } from './errors';
import * as netlink from './netlink';
import { EXTERNAL_IDS } from './ovs';
import { hostInterfaceNames } from './result';
import { portNameFor } from '../../controller/port-name';

/** Collects failures while carrying on. */
class Failures {
  readonly list: CniError[] = [];

  async attempt<T>(what: string, f: () => Promise<T>): Promise<T | undefined> {
    try {
      return await f();
    } catch (e) {
      const err = asCniError(e);
      this.list.push(err.code === CniCode.GENERIC ? new CniError(err.code, `${what}: ${err.message}`, err.details) : err);
      return undefined;
    }
  }

  throwIfAny(): void {
    const [first, ...rest] = this.list;
    if (!first) return;
    const details = [first.details, ...rest.map((e) => e.message)].filter(Boolean).join('; ');
    throw new CniError(first.code, first.message, details || undefined);
  }
}

/** Endpoints of this network on this host (the API may not know `host` on old records). */
function ours(eps: Endpoint[], conf: NetConf): Endpoint[] {
  return eps.filter((e) => e.network === conf.network && (e.host === undefined || e.host === conf.host));
}

/** The attachment a port is removed for. */
interface Owner { containerId: string; ifName: string }

/** Whether OVS external_ids name this attachment (set by ADD, see portExternalIds). */
const namesOwner = (ids: Record<string, string>, o: Owner) => ids[EXTERNAL_IDS.containerId] === o.containerId && ids[EXTERNAL_IDS.iface] === o.ifName;

/**
 * Deletes the OVS port and the host veth `name` (its container peer goes
 * with it), but only if they are `owner`'s: OVS's external_ids for the port
 * must name the attachment, whatever the API or a prevResult says the name
 * is (a port called patch-int, vxlan0 or another container's is never
 * removed). Without an OVS port of that name, only the host link named as
 * this plugin names the attachment's host end (portNameFor) is deleted.
 */
async function removePort(deps: Deps, name: string, owner: Owner, f: Failures): Promise<void> {
  const ids = await f.attempt(`reading OVS interface ${name}`, () => deps.ovs.interfaceExternalIds(name));
  if (ids === undefined) return;
  if (ids === null) {
    if (name === portNameFor(owner.containerId, owner.ifName)) await f.attempt(`deleting interface ${name}`, () => netlink.deleteLink(name));
    return;
  }
  if (!namesOwner(ids, owner)) return;
  await f.attempt(`deleting OVS port ${name}`, () => deps.ovs.delPort(name));
  await f.attempt(`deleting interface ${name}`, () => netlink.deleteLink(name));
}

export async function cmdDel(env: CniEnv, conf: NetConf, deps: Deps = depsFor(conf)): Promise<void> {
  const f = new Failures();
  const found = await f.attempt('looking up the endpoint', () =>
    deps.api.findEndpoints({ containerId: env.containerId, ifName: env.ifName }));
  const endpoints = ours(found ?? [], conf);
  // The API's endpoints name the host end; without the API (or after it
  // forgot the endpoint) the prevResult still does. Either way a port goes
  // only if OVS says it is this attachment's (removePort).
  const ports = new Set([...endpoints.map((e) => e.portName), ...hostInterfaceNames(conf.prevResult)]);
  const owner = { containerId: env.containerId, ifName: env.ifName };
  for (const name of ports) await removePort(deps, name, owner, f);
  for (const ep of endpoints) await f.attempt(`deleting endpoint ${ep.id}`, () => deps.api.deleteEndpoint(ep.id));
  f.throwIfAny();
}

const key = (containerId: string, ifName: string) => `${containerId}\u0000${ifName}`;

export async function cmdGc(conf: NetConf, deps: Deps = depsFor(conf)): Promise<void> {
  if (conf.validAttachments === undefined) {
    throw new CniError(CniCode.INVALID_CONFIG, 'GC needs "cni.dev/valid-attachments" (an empty list means: remove every attachment)');
  }
  const valid = new Set(conf.validAttachments.map((a: Attachment) => key(a.containerID, a.ifname)));
  const f = new Failures();
  // The endpoints Weft holds for this host and network.
  const found = await f.attempt('listing endpoints', () => deps.api.findEndpoints({ host: conf.host, network: conf.network }));
  const stale = ours(found ?? [], conf).filter((e) => e.host === conf.host && !valid.has(key(e.containerId, e.ifName)));
  const removed = new Set<string>();
  for (const ep of stale) {
    await removePort(deps, ep.portName, { containerId: ep.containerId, ifName: ep.ifName }, f);
    removed.add(ep.portName);
    await f.attempt(`deleting endpoint ${ep.id}`, () => deps.api.deleteEndpoint(ep.id));
  }
  // Ports this plugin made for the network whose endpoint Weft no longer lists.
  const ifaces = await f.attempt('listing OVS ports', () => deps.ovs.findInterfaces({ [EXTERNAL_IDS.network]: conf.network }));
  for (const i of ifaces ?? []) {
    if (removed.has(i.name)) continue;
    const cid = i.externalIds[EXTERNAL_IDS.containerId];
    const ifn = i.externalIds[EXTERNAL_IDS.iface];
    if (cid !== undefined && ifn !== undefined && !valid.has(key(cid, ifn))) await removePort(deps, i.name, { containerId: cid, ifName: ifn }, f);
  }
  f.throwIfAny();
}
