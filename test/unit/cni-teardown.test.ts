// CNI DEL and GC remove only ports whose OVS external_ids name the
// attachment: an endpoint record (an old one, or one written by whoever could
// reach the API) whose portName is patch-int, vxlan0, br-int or another
// container's port never makes them delete the host's infrastructure. The
// API and OVS are fakes, and netlink's deleteLink is mocked, so nothing on
// this machine is touched.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as netlink from '../../northbound/cni/netlink';
import { cmdDel, cmdGc } from '../../northbound/cni/teardown';
import type { Deps } from '../../northbound/cni/add';
import type { Endpoint } from '../../northbound/cni/api-client';
import type { CniEnv, NetConf } from '../../northbound/cni/config';
import { EXTERNAL_IDS } from '../../northbound/cni/ovs';
import { portNameFor } from '../../controller/port-name';

afterEach(() => mock.restoreAll());

const conf = (over: Partial<NetConf> = {}): NetConf => ({
  cniVersion: '1.1.0', name: 'blue', type: 'weft-cni', api: 'http://127.0.0.1:1', host: 'host1', ovsdb: 'unix:/nonexistent', bridge: 'br-int',
  network: 'blue', mtu: undefined, readyTimeoutMs: 1000, prevResult: undefined, runtimeConfig: {}, args: undefined, dns: undefined,
  validAttachments: undefined, agentSocket: undefined, tokenFile: undefined, apiCaFile: undefined, ...over,
});
const env = (containerId: string, ifName = 'eth0'): CniEnv => ({ command: 'DEL', containerId, netns: '', ifName, args: {}, path: [] });
const ids = (containerId: string, ifName = 'eth0', network = 'blue', endpoint = `ep-${containerId}`) =>
  ({ [EXTERNAL_IDS.endpoint]: endpoint, [EXTERNAL_IDS.containerId]: containerId, [EXTERNAL_IDS.iface]: ifName, [EXTERNAL_IDS.network]: network });
const endpoint = (containerId: string, portName: string, ifName = 'eth0'): Endpoint => ({
  id: `ep-${containerId}`, containerId, ifName, host: 'host1', network: 'blue', portName, mac: '02:00:00:00:00:01', ip: '10.1.0.2',
  prefixLength: 24, gateway: '10.1.0.1', state: 'ready', ofport: 7,
});

/** OVS with the host's own ports (no external_ids) and the given container ports; the API with the given endpoints. */
function fakes(eps: Endpoint[], containerPorts: Record<string, Record<string, string>>) {
  const ovsPorts = new Map<string, Record<string, string>>([
    ['br-int', {}], ['patch-int', {}], ['patch-phy', {}], ['vxlan0', {}], ...Object.entries(containerPorts),
  ]);
  const delPort: string[] = [];
  const deleted: string[] = [];
  const links: string[] = [];
  mock.method(netlink, 'deleteLink', async (name: string) => { links.push(name); return true; });
  const deps = {
    api: {
      findEndpoints: async (q: { containerId?: string; ifName?: string; host?: string; network?: string }) =>
        eps.filter((e) => (q.containerId === undefined || e.containerId === q.containerId) && (q.ifName === undefined || e.ifName === q.ifName)
          && (q.network === undefined || e.network === q.network)),
      deleteEndpoint: async (id: string) => { deleted.push(id); },
    },
    ovs: {
      interfaceExternalIds: async (name: string) => ovsPorts.get(name) ?? null,
      delPort: async (name: string) => { delPort.push(name); ovsPorts.delete(name); },
      findInterfaces: async (match: Record<string, string>) => [...ovsPorts]
        .filter(([, x]) => Object.entries(match).every(([k, v]) => x[k] === v)).map(([name, externalIds]) => ({ name, externalIds })),
    },
  } as unknown as Deps;
  return { deps, delPort, deleted, links, ovsPorts };
}

test('DEL: an endpoint whose portName is the host\'s infrastructure or another container\'s port removes only the endpoint', async () => {
  for (const portName of ['patch-int', 'patch-phy', 'vxlan0', 'br-int', portNameFor('victim', 'eth0')]) {
    const f = fakes([endpoint('mallory', portName)], { [portNameFor('victim', 'eth0')]: ids('victim') });
    await cmdDel(env('mallory'), conf(), f.deps);
    assert.deepEqual(f.delPort, [], `${portName}: no OVS port deleted`);
    assert.deepEqual(f.links, [], `${portName}: no link deleted`);
    assert.deepEqual(f.deleted, ['ep-mallory'], 'the endpoint itself is released');
    assert.ok(f.ovsPorts.has(portName));
  }
});

test('DEL: a forged prevResult naming infrastructure ports deletes none of them', async () => {
  const f = fakes([], {});
  const prevResult = { cniVersion: '1.1.0', interfaces: ['patch-int', 'vxlan0', 'br-int'].map((name) => ({ name })) };
  await cmdDel(env('mallory'), conf({ prevResult }), f.deps);
  assert.deepEqual([f.delPort, f.links], [[], []]);
});

test('DEL: the attachment\'s own port goes (OVS names it), and without an OVS port only its own host link', async () => {
  const mine = portNameFor('c1', 'eth0');
  const f = fakes([endpoint('c1', mine)], { [mine]: ids('c1') });
  await cmdDel(env('c1'), conf(), f.deps);
  assert.deepEqual([f.delPort, f.links, f.deleted], [[mine], [mine], ['ep-c1']]);
  // OVS lost the port (or ADD failed before adding it): the veth of this attachment's own name still goes
  const g = fakes([endpoint('c2', portNameFor('c2', 'eth0'))], {});
  await cmdDel(env('c2'), conf(), g.deps);
  assert.deepEqual([g.delPort, g.links], [[], [portNameFor('c2', 'eth0')]]);
  // but not a link of any other name
  const h = fakes([endpoint('c3', 'eth0')], {});
  await cmdDel(env('c3'), conf(), h.deps);
  assert.deepEqual([h.delPort, h.links], [[], []]);
});

test('GC: stale endpoints with hostile port names remove no infrastructure; stale ports OVS names are removed', async () => {
  const stalePort = portNameFor('stale', 'eth0');
  const keepPort = portNameFor('keep', 'eth0');
  const orphan = portNameFor('orphan', 'eth0');
  const f = fakes(
    [endpoint('evil1', 'patch-int'), endpoint('evil2', 'vxlan0'), endpoint('evil3', keepPort), endpoint('stale', stalePort), endpoint('keep', keepPort)],
    { [stalePort]: ids('stale'), [keepPort]: ids('keep'), [orphan]: ids('orphan') },
  );
  await cmdGc(conf({ validAttachments: [{ containerID: 'keep', ifname: 'eth0' }] }), f.deps);
  assert.deepEqual(f.delPort.sort(), [orphan, stalePort].sort());
  assert.deepEqual(f.links.sort(), [orphan, stalePort].sort());
  assert.deepEqual(f.deleted.sort(), ['ep-evil1', 'ep-evil2', 'ep-evil3', 'ep-stale']);
  for (const p of ['patch-int', 'vxlan0', 'br-int', keepPort]) assert.ok(f.ovsPorts.has(p), p);
});
