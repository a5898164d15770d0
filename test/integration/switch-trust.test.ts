// Switch takeover against real Open vSwitch: a scripted switch that claims
// a connected bridge's dpid is refused and the bridge keeps its session and
// flows; the bridge itself still gets back in after a controller-side close
// and after its old connection died; with TLS (OVS ssl: and certificates
// from `weft pki`), a bridge whose dpid the certificate does not name is
// refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ovsAvailable, TestBridge, vsctl } from '../helpers/ovs';
import { startController } from '../helpers/controller';
import { FakeSwitch } from '../helpers/fake-switch';
import { waitFor } from '../helpers/wait';
import { flowMod, OFPFC_ADD } from '../../southbound/codec';
import type { Connection } from '../../southbound/channel';
import { pkiMain } from '../../northbound/cli/pki';

let skip = false;
before(async () => {
  if (!(await ovsAvailable())) {
    assert.ok(!process.env.CI, 'Open vSwitch must run in CI (mininet/scripts/ensure-ovs.sh)');
    skip = true;
  }
});

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => {});
});

const MARK = 'priority=4321,ip,nw_dst=10.99.0.1';

test('plain TCP: a fake switch cannot take a connected bridge\'s dpid; real reconnects still get in', async (t) => {
  if (skip) { t.skip('Open vSwitch is not running'); return; }
  // dead-peer detection far off, so only the takeover probe can let the reconnected bridge in below
  const ctl = await startController({ apps: 'none', connection: { deadAfterMs: 120_000, takeoverProbeMs: 2000 } });
  cleanups.push(() => ctl.cleanup());
  const dpid = '00000000000a7001';
  const br = await TestBridge.create({ ports: 1, controllerPort: ctl.ofPort, maxBackoffMs: 1000, dpid });
  cleanups.push(() => br.destroy());
  const conn = await waitFor(() => ctl.registry.get(dpid), { what: 'bridge connected', timeoutMs: 15000 });
  conn.send(flowMod({ command: OFPFC_ADD, priority: 4321, match: [{ field: 'eth_type', value: 0x0800 }, { field: 'ipv4_dst', value: '10.99.0.1' }], instructions: [] }));
  await conn.barrier();
  const flows = await br.dumpFlows();
  assert.ok(flows.some((f) => f.includes(MARK)), `flow installed: ${flows.join('; ')}`);

  await t.test('the impostor is refused; the bridge keeps its session and flows', async () => {
    const fake = await FakeSwitch.connect({ port: ctl.ofPort, dpid: BigInt(`0x${dpid}`) });
    cleanups.push(() => fake.close());
    await waitFor(() => fake.closed, { what: 'the impostor closed', timeoutMs: 10000 });
    assert.equal(ctl.registry.get(dpid), conn, 'the bridge\'s session is untouched');
    assert.equal(conn.state, 'ready');
    await conn.barrier();
    await waitFor(() => br.isConnected(), { what: 'OVS shows the bridge connected', timeoutMs: 10000 });
    assert.deepEqual(await br.dumpFlows(), flows, 'the bridge\'s flows are unchanged');
    assert.ok(!fake.received.some((m) => m.type === 'flow_mod' || m.type === 'barrier_request'), 'nothing was sent to the impostor');
  });

  await t.test('after a controller-side close the bridge reconnects and is adopted', async () => {
    const old = ctl.registry.get(dpid)!;
    old.close('test: controller-side close');
    const again = await waitFor(() => { const c = ctl.registry.get(dpid); return c !== old && c ? c : undefined; }, { what: 'the bridge back', timeoutMs: 20000 });
    await again.barrier();
    assert.ok((await br.dumpFlows()).some((f) => f.includes(MARK)), 'flows kept (fail_mode=secure)');
  });

  await t.test('after its old connection died silently the bridge reconnects and replaces it', async () => {
    const old: Connection = ctl.registry.get(dpid)!;
    // nothing passes the old connection any more, either way, as after a cut cable: the controller
    // neither reads it (no answer, no FIN seen) nor writes to it. OVS probes after 5 s of silence and
    // reconnects when its probe goes unanswered; the new session's probe of the old one goes unanswered too.
    old.socket.pause();
    old.socket.cork();
    const fresh = await waitFor(() => { const c = ctl.registry.get(dpid); return c !== old && c ? c : undefined; }, { what: 'the reconnected bridge adopted', timeoutMs: 30000 });
    assert.equal(old.state, 'closed', 'the dead session was replaced');
    assert.ok(Date.now() - old.lastReceived < 60_000, 'replaced by the probe, not by dead-peer detection');
    await fresh.barrier();
  });
});

test('TLS: a bridge is adopted only for a dpid its certificate names (OVS ssl:, weft pki)', async (t) => {
  if (skip) { t.skip('Open vSwitch is not running'); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-pki-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const quiet = () => undefined;
  const covered = '00000000000a7101';
  const other = '00000000000a7102';
  assert.equal(await pkiMain(['init', '--dir', dir], quiet, quiet), 0);
  assert.equal(await pkiMain(['controller', '--dir', dir], quiet, quiet), 0);
  assert.equal(await pkiMain(['host', '--dir', dir, '--name', 'h1', '--dpid', covered], quiet, quiet), 0);
  const ctl = await startController({ apps: 'none', tls: { key: path.join(dir, 'ctl.key'), cert: path.join(dir, 'ctl.crt'), ca: path.join(dir, 'ca.crt') } });
  cleanups.push(() => ctl.cleanup());
  const refusedDpids = new Set<string>();
  ctl.of.on('connection', (c: Connection) => c.once('close', (r: string) => { if (/does not cover/.test(r)) refusedDpids.add(c.dpid); }));
  await vsctl('set-ssl', path.join(dir, 'h1.key'), path.join(dir, 'h1.crt'), path.join(dir, 'ca.crt'));
  cleanups.push(() => vsctl('del-ssl'));
  const good = await TestBridge.create({ ports: 1, controllerTarget: `ssl:127.0.0.1:${ctl.ofPort}`, maxBackoffMs: 1000, dpid: covered });
  cleanups.push(() => good.destroy());
  const bad = await TestBridge.create({ ports: 1, controllerTarget: `ssl:127.0.0.1:${ctl.ofPort}`, maxBackoffMs: 1000, dpid: other });
  cleanups.push(() => bad.destroy());
  const c = await waitFor(() => ctl.registry.get(covered), { what: 'the covered bridge adopted over TLS', timeoutMs: 20000 });
  assert.ok((c.socket as unknown as { encrypted?: boolean }).encrypted);
  await waitFor(() => refusedDpids.has(other), { what: 'the bridge with a dpid its certificate does not name refused', timeoutMs: 20000 });
  assert.equal(ctl.registry.get(other), undefined);
  assert.equal(ctl.registry.get(covered), c);
  await c.barrier();
});
