// Underlay networks in shared MAC mode (the ipvlan-L2 model) on real OVS:
// two emulated hosts whose br-phy Weft programs, a business subnet that is
// also the hosts' own underlay subnet (the hosts and the router live in it),
// and a machine on it. Containers get addresses from the network's range
// only, appear on the business network behind their host's MAC, and reach
// each other on one host and across hosts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MultiHostLab } from '../helpers/multihost-lab';
import { waitFor } from '../helpers/wait';

const SUBNET = '172.31.240';
const MACHINE_IP = `${SUBNET}.200`;
let lab: MultiHostLab | undefined;
before(async () => { lab = await MultiHostLab.start({ id: 'sm', subnet: `${SUBNET}.0/24`, hosts: 2, phy: true }); });
after(async () => { await lab?.stop(); });

/** Pings `ip` `count` times from `node`: the replies and the duplicates ping reports (`+N duplicates`). */
async function pingCounting(node: { exec(c: string[]): Promise<string> }, ip: string, count: number): Promise<{ received: number; duplicates: number }> {
  const out = await node.exec(['ping', '-n', '-c', String(count), '-i', '0.2', '-W', '1', ip]);
  return { received: Number(/(\d+) received/.exec(out)?.[1] ?? 0), duplicates: Number(/\+(\d+) duplicates/.exec(out)?.[1] ?? 0) };
}

/** The ARP cache entry of `ip` in a node: its MAC, or undefined (none, INCOMPLETE or FAILED). */
async function neighMac(node: { exec(c: string[]): Promise<string> }, ip: string): Promise<string | undefined> {
  return (await node.exec(['ip', 'neigh', 'show', ip])).match(/lladdr ([0-9a-f:]{17})/)?.[1];
}

test('shared MAC underlay: business IPs from the range, behind the host\'s uplink MAC', async (t) => {
  if (!lab) { t.skip('no OVS'); return; }
  await lab.register();
  // the hosts are .2 and .3, the router (the root namespace's bridge) .1: the range holds them both, they are never handed out
  const net = await lab.weft.call('POST', '/v1/networks', {
    name: 'ipvl', cidr: `${SUBNET}.0/24`, gateway: `${SUBNET}.1`, mode: 'underlay', macMode: 'shared',
    ranges: [{ start: `${SUBNET}.1`, end: `${SUBNET}.5` }, { start: `${SUBNET}.100`, end: `${SUBNET}.120` }],
  });
  assert.equal(net.status, 201, JSON.stringify(net.body));
  const a = await lab.attach(0, 'a', 'ipvl');
  const b = await lab.attach(0, 'b', 'ipvl');
  const c = await lab.attach(1, 'c', 'ipvl');
  const machine = await lab.outsideMachine('m', MACHINE_IP);
  // the MAC they appear behind: their host's uplink (br-phy's port that is not the patch to br-int)
  const hostMac = await Promise.all(lab.hosts.map(async (h) => {
    const uplink = (await h.vsctl('list-ports', 'br-phy')).split('\n').map((x) => x.trim()).find((p) => p && p !== 'patch-int');
    assert.ok(uplink, 'br-phy has an uplink');
    return (await h.exec(['cat', `/sys/class/net/${uplink}/address`])).trim();
  }));
  const phyMac = await Promise.all(lab.hosts.map(async (h) => (await h.exec(['cat', '/sys/class/net/br-phy/address'])).trim()));

  await t.test('no host\'s or router\'s address is handed out', () => {
    assert.deepEqual([a.ip, b.ip, c.ip], [`${SUBNET}.4`, `${SUBNET}.5`, `${SUBNET}.100`]);
    for (const h of lab!.hosts) assert.ok(![a.ip, b.ip, c.ip].includes(h.ip), `${h.ip} is a host's`);
  });

  await t.test('a machine on the underlay reaches two containers of one host by IP, and its ARP table has one MAC for both: the host\'s', async () => {
    await machine.waitPing(a.ip, 10000);
    await machine.waitPing(b.ip, 10000);
    const srv = await b.ct.serveTcp(9300);
    assert.equal(await machine.tcpConnect(b.ip, srv.port, 'hello behind the host MAC'), 'hello behind the host MAC');
    await srv.stop();
    // each packet arrives once (the host's own stack forwarding a copy of what reaches its uplink would double it)
    assert.deepEqual(await pingCounting(machine, a.ip, 3), { received: 3, duplicates: 0 });
    assert.equal(await neighMac(machine, a.ip), hostMac[0]);
    assert.equal(await neighMac(machine, b.ip), hostMac[0]);
    // the container itself keeps its own MAC inside
    assert.notEqual(a.res.interfaces.find((i) => i.name === 'eth0')?.mac ?? a.res.interfaces[0].mac, hostMac[0]);
    // and the host itself is still reachable at its own address, with its own MAC: br-phy's, the only
    // answer to the machine's ARP
    const host0 = lab!.hosts[0].ip;
    await machine.waitPing(host0, 10000);
    assert.equal(await neighMac(machine, host0), phyMac[0]);
    // also when the machine has forgotten the host while the host still knows the machine (its entry
    // outlives the machine's; or br-phy handed the host the machine's ARP request before the ping came
    // in, the order a loaded CI run met): the host does not ARP back, so the machine keeps the first
    // answer to its own ARP. (An emulated host's stack reading its uplink too answered first, from the
    // uplink's MAC.)
    await machine.exec(['ip', 'neigh', 'flush', 'to', host0, 'dev', 'eth0']);
    assert.equal(await neighMac(machine, host0), undefined);
    assert.ok(await lab!.hosts[0].exec(['ip', 'neigh', 'show', MACHINE_IP, 'dev', 'br-phy', 'nud', 'reachable', 'nud', 'stale', 'nud', 'delay']), 'the host knows the machine');
    await machine.waitPing(host0, 10000);
    assert.equal(await neighMac(machine, lab!.hosts[0].ip), phyMac[0]);
    // a container reaches the machine; the machine's MAC is what the container learned
    assert.equal((await a.ct.ping(MACHINE_IP, { count: 2 })).received, 2);
  });

  await t.test('container to container, on one host and across hosts', async () => {
    await a.ct.waitPing(b.ip, 10000);
    await a.ct.waitPing(c.ip, 10000);
    assert.equal((await c.ct.ping(b.ip, { count: 3 })).received, 3);
    const srv = await c.ct.serveTcp(9301);
    assert.equal(await a.ct.tcpConnect(c.ip, srv.port, 'across hosts'), 'across hosts');
    await srv.stop();
    // across hosts the peer is seen behind its host's MAC; on one host by its own
    assert.equal(await neighMac(a.ct, c.ip), hostMac[1]);
    assert.notEqual(await neighMac(a.ct, b.ip), hostMac[0]);
  });

  await t.test('detaching a container removes its address from the ARP answers', async () => {
    await lab!.detach(0, 'b', 'ipvl', b.ct);
    await machine.exec(['ip', 'neigh', 'flush', 'dev', 'eth0']);
    await waitFor(async () => (await machine.ping(b.ip, { count: 1, timeoutS: 1 })).received === 0, { what: 'b unreachable', timeoutMs: 10000 });
    assert.equal(await neighMac(machine, b.ip), undefined, 'nobody answers ARP for the detached address');
    // a is still there, behind the host's MAC
    assert.equal((await machine.ping(a.ip, { count: 2 })).received, 2);
    assert.equal(await neighMac(machine, a.ip), hostMac[0]);
  });
});
