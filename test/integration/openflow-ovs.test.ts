// The southbound against real Open vSwitch 3.1 (userspace datapath): the
// bridge connects, shows its real ports, takes our flow-mods (ct/nat,
// resubmit, tunnel and register fields, ...) and gives them back identical
// in meaning through `ovs-ofctl dump-flows` and through our own flow stats;
// group-mod and meter-mod are accepted; a controller restart is survived;
// TLS works with a self-signed CA.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ovsAvailable, TestBridge, makeTestPki, TEST_PKI_DPID, setOvsSsl, clearOvsSsl } from '../helpers/ovs';
import { startController, api } from '../helpers/controller';
import { waitFor } from '../helpers/wait';
import { SAMPLE_FLOWS, SAMPLE_GROUP, SAMPLE_METER } from '../helpers/sample-flows';
import { flowMod, OfpMessage, OFPFC_ADD, OFPFC_DELETE, OFPTT_ALL, OFPP_LOCAL } from '../../southbound/codec';
import { formatFlow, normalizeFlowLine } from '../../southbound/text';
import type { Connection } from '../../southbound/channel';

let skip = false;
before(async () => {
  if (!(await ovsAvailable())) {
    assert.ok(!process.env.CI, 'Open vSwitch must run in CI (mininet/scripts/ensure-ovs.sh)');
    skip = true;
  }
});

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** Send messages, then a barrier; resolve with any OFPT_ERROR the switch sent back for them, described. */
async function sendAndCheck(conn: Connection, msgs: OfpMessage[]): Promise<string[]> {
  const errors: string[] = [];
  const sent = new Map<number, OfpMessage>();
  const onMsg = (m: OfpMessage) => {
    if (m.type !== 'error' || !sent.has(m.xid)) return;
    const bad = sent.get(m.xid)!;
    errors.push(`error type ${m.errType} code ${m.code} for ${bad.type === 'flow_mod' ? formatFlow(bad) : bad.type}`);
  };
  conn.on('message', onMsg);
  try {
    for (const m of msgs) sent.set(conn.send(m), m);
    await conn.barrier();
  } finally {
    conn.off('message', onMsg);
  }
  return errors;
}

test('real OVS: connect, ports, flows round-trip, groups, meters, restart, TLS', async (t) => {
  if (skip) { t.skip('Open vSwitch is not running'); return; }
  const ctl = await startController({ apps: 'none' });
  cleanups.push(() => ctl.cleanup());
  const br = await TestBridge.create({ ports: 2, controllerPort: ctl.ofPort, maxBackoffMs: 1000 });
  cleanups.push(() => br.destroy());
  const dpid = await br.dpid();
  const conn = await waitFor(() => ctl.registry.get(dpid), { what: `switch ${dpid} connected`, timeoutMs: 15000 });

  await t.test('GET /v1/switches shows the bridge with its real ports', async () => {
    const { status, body } = await api<{ dpid: string; ports: { port_no: number; name: string; hw_addr: string; status: string }[] }[]>(ctl, '/v1/switches');
    assert.equal(status, 200);
    const s = body.find((x) => x.dpid === dpid);
    assert.ok(s, 'bridge listed');
    const names = new Map(s.ports.map((p) => [p.port_no, p.name]));
    assert.equal(names.get(1), `${br.name}p1`);
    assert.equal(names.get(2), `${br.name}p2`);
    assert.equal(names.get(OFPP_LOCAL), br.name);
    for (const p of s.ports) assert.match(p.hw_addr, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  });

  await t.test('group-mod and meter-mod are accepted', async () => {
    const errors = await sendAndCheck(conn, [SAMPLE_GROUP, SAMPLE_METER]);
    assert.deepEqual(errors, []);
    const groups = await conn.multipart({ kind: 'group_desc' });
    assert.deepEqual(groups.flatMap((g) => g.stats).map((g) => g.group_id), [SAMPLE_GROUP.group_id]);
    const meters = await conn.multipart({ kind: 'meter_config', meter_id: 0xffffffff });
    assert.deepEqual(meters.flatMap((m) => m.stats).map((m) => m.meter_id), [SAMPLE_METER.meter_id]);
    assert.match(await br.ofctl('dump-groups', br.name), /group_id=1,type=all,bucket=actions=output:1,bucket=actions=output:2/);
  });

  await t.test('flow-mods come back identical from ovs-ofctl and from our flow stats', async () => {
    const errors = await sendAndCheck(conn, [flowMod({ command: OFPFC_DELETE, table_id: OFPTT_ALL }), ...SAMPLE_FLOWS]);
    assert.deepEqual(errors, [], 'the switch accepted every flow-mod');
    const expected = SAMPLE_FLOWS.map((f) => normalizeFlowLine(formatFlow(f))).sort();
    const fromOvs = (await br.dumpFlows()).map(normalizeFlowLine).sort();
    assert.deepEqual(fromOvs, expected);
    const { body } = await api<{ text: string }[]>(ctl, `/v1/switches/${dpid}/flows`);
    assert.deepEqual(body.map((f) => normalizeFlowLine(f.text)).sort(), expected);
    const one = await api<{ text: string }[]>(ctl, `/v1/switches/${dpid}/flows?table=2`);
    assert.ok(one.body.length > 0 && one.body.every((f) => /table=2\b/.test(f.text)));
  });

  await t.test('the switch reconnects after a controller restart and keeps its flows', async () => {
    const before = (await br.dumpFlows()).length;
    const port = ctl.ofPort;
    await ctl.cleanup(); // its own entry in cleanups then finds it stopped
    await waitFor(async () => !(await br.isConnected()), { what: 'OVS noticed the controller went away', timeoutMs: 20000 });
    const ctl2 = await startController({ ofPort: port, apps: 'none' });
    cleanups.push(() => ctl2.cleanup());
    await waitFor(() => ctl2.registry.get(dpid), { what: 'switch reconnected to the new controller', timeoutMs: 20000 });
    assert.equal((await br.dumpFlows()).length, before, 'fail_mode=secure keeps the flows');
  });

  await t.test('TLS: the switch connects over ssl: with a self-signed CA', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-pki-'));
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const pki = await makeTestPki(dir);
    const tctl = await startController({ apps: 'none', tls: { key: pki.ctlKey, cert: pki.ctlCert, ca: pki.caCert } });
    cleanups.push(() => tctl.cleanup());
    await setOvsSsl(pki);
    cleanups.push(() => clearOvsSsl());
    const tbr = await TestBridge.create({ ports: 1, controllerTarget: `ssl:127.0.0.1:${tctl.ofPort}`, maxBackoffMs: 1000, dpid: TEST_PKI_DPID });
    cleanups.push(() => tbr.destroy());
    const tdpid = await tbr.dpid();
    const c = await waitFor(() => tctl.registry.get(tdpid), { what: 'switch connected over TLS', timeoutMs: 20000 });
    assert.ok((c.socket as unknown as { encrypted?: boolean }).encrypted, 'socket is TLS');
    await c.barrier();
  });
});
