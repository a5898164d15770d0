// Underlay mode (flat L2, the macvlan / ipvlan-L2 model) across three
// emulated hosts: endpoints are bridged onto the hosts' uplinks in VLAN 100
// with addresses from the business subnet, and a machine on that subnet
// (not a container host) reaches them and is reached by them as if they
// were VMs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MultiHostLab } from '../helpers/multihost-lab';

const VM_IP = '10.70.0.200';
let lab: MultiHostLab | undefined;
before(async () => { lab = await MultiHostLab.start({ id: 'ul', subnet: '172.31.245.0/24', hosts: 3 }); });
after(async () => { await lab?.stop(); });

test('underlay (flat L2, VLAN 100) network across three hosts and a machine on the business subnet', async (t) => {
  if (!lab) { t.skip('no OVS'); return; }
  await lab.register();
  assert.equal((await lab.weft.call('POST', '/v1/networks', { name: 'biz', cidr: '10.70.0.0/24', gateway: '10.70.0.1', mode: 'underlay', vlan: 100 })).status, 201);
  const ep = [await lab.attach(0, 'a', 'biz'), await lab.attach(1, 'b', 'biz'), await lab.attach(2, 'c', 'biz')];
  const vm = await lab.outsideMachine('vm', VM_IP, 100);

  await t.test('containers on different hosts reach each other over the business L2 network', async () => {
    await ep[0].ct.waitPing(ep[1].ip, 10000);
    await ep[2].ct.waitPing(ep[0].ip, 10000);
    assert.equal((await ep[0].ct.ping(ep[1].ip, { count: 3 })).received, 3);
    assert.equal((await ep[2].ct.ping(ep[1].ip, { count: 3 })).received, 3);
  });

  await t.test('a machine on the business subnet reaches the containers, and they reach it', async () => {
    for (const e of ep) await vm.waitPing(e.ip, 10000);
    assert.equal((await ep[1].ct.ping(VM_IP, { count: 3 })).received, 3);
    const srv = await ep[0].ct.serveTcp(9200);
    assert.equal(await vm.tcpConnect(ep[0].ip, srv.port, 'hello from a VM on VLAN 100'), 'hello from a VM on VLAN 100');
    await srv.stop();
    assert.match(await vm.exec(['ip', 'neigh', 'show', ep[0].ip]), /lladdr 0a:/, 'the VM sees the container\'s own MAC (no proxy)');
  });

  await t.test('nothing leaks outside VLAN 100: the same subnet on the untagged underlay does not see them', async () => {
    const other = await lab!.outsideMachine('other', '10.70.0.201');
    assert.equal((await other.ping(ep[0].ip, { count: 2, timeoutS: 1 })).received, 0);
    // the control: the same container, at the same time, from the same subnet on VLAN 100
    assert.equal((await vm.ping(ep[0].ip, { count: 2 })).received, 2, 'the VM on VLAN 100 still reaches it');
  });
});
