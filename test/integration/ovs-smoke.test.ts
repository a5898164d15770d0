/**
 * Smoke test of the test harness itself: the system OVS can build a netdev
 * test bridge with ports. Skips without OVS, except under CI where it fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ovsAvailable, TestBridge, vsctl } from '../helpers/ovs';

test('OVS builds a netdev test bridge with two ports', async (t) => {
  if (!(await ovsAvailable())) {
    assert.ok(!process.env.CI, 'Open vSwitch is not running (CI must not skip; see mininet/scripts/ensure-ovs.sh)');
    t.skip('Open vSwitch is not running (start it with mininet/scripts/ensure-ovs.sh)');
    return;
  }
  const br = await TestBridge.create({ ports: 2 });
  try {
    assert.match(await br.dpid(), /^[0-9a-f]{16}$/);
    const show = await br.ofctl('show', br.name);
    assert.match(show, new RegExp(`^\\s*1\\(${br.name}p1\\):`, 'm'));
    assert.match(show, new RegExp(`^\\s*2\\(${br.name}p2\\):`, 'm'));
    assert.deepEqual(await br.dumpFlows(), []);
    assert.equal(await br.isConnected(), false);
  } finally {
    await br.destroy();
  }
  assert.equal((await vsctl('list-br')).split('\n').includes(br.name), false, 'bridge deleted');
});
