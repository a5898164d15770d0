// The live trace on three emulated hosts (overlay, VXLAN): a marked packet
// injected at a's port and observed on the real switches agrees with the
// computed path (tunneled from lt1, delivered on lt3); a drop is observed
// where the computed trace says; a delivery flow deleted behind the
// controller's back makes the two disagree; real traffic keeps flowing
// during and after, and no observation flow is left on any bridge.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MultiHostLab } from '../helpers/multihost-lab';
import { ipToInt, intToIp } from '../../controller/ipv4';
import path from 'node:path';
import { repoRoot } from '../helpers/paths';

let lab: MultiHostLab | undefined;
before(async () => { lab = await MultiHostLab.start({ id: 'lt', subnet: '172.31.248.0/24', hosts: 3, mtu: 1600, tunnel: true }); });
after(async () => { await lab?.stop(); });

interface Obs { host: string; bridge: string; table: string; event: string; flow: string | null; endpoint?: string; port?: string }
interface Answer {
  computed: { verdict: { result: string; endpoint?: string; host: string; bridge?: string; table?: string } };
  live?: { tag: number; bridges: string[]; injections: number; observed: Obs[]; verdict: { result: string; endpoint?: string; host: string; bridge?: string; table?: string; reason?: string } };
  agree?: boolean;
  difference?: { index: number; computed: string; live: string; detail: string };
}

/** Observation flows: cookie category trace (4). */
const TRACE_COOKIE = 'cookie=0x40000000000/0xff0000000000';

test('live trace across three hosts', async (t) => {
  if (!lab) { t.skip('no OVS'); return; }
  const { hosts, weft } = lab;
  await lab.register();
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'ov1', cidr: '10.42.0.0/16', mode: 'overlay' })).status, 201);
  const a = await lab.attach(0, 'a', 'ov1');
  const c = await lab.attach(2, 'c', 'ov1');
  await a.ct.waitPing(c.ip, 10000);
  const id = async (name: string) => (await weft.call<{ id: string }[]>('GET', `/v1/endpoints?containerId=${lab!.o.id}-${name}`)).body[0]!.id;
  const aId = await id('a'), cId = await id('c');
  const trace = (to: object, proto = 'tcp') => weft.call<Answer>('POST', '/v1/traces', { from: { endpoint: aId }, to, proto, ...(proto === 'icmp' ? {} : { dstPort: 9000 }), live: true });
  const noTraceFlows = async () => {
    for (const h of hosts) assert.deepEqual((await h.ofctl('--no-stats', 'dump-flows', TRACE_COOKIE)).split('\n').filter((l) => l.includes('cookie=')), [], `no observation flow left on ${h.name}`);
  };

  await t.test('a -> c: observed tunneled from lt1 and delivered on lt3, as computed; the marked packet does not reach c', async () => {
    const portName = (await weft.call<{ portName: string }>('GET', `/v1/endpoints/${cId}`)).body.portName;
    const ofport = await hosts[2].ofport(portName);
    const txToC = async () => Number(/tx pkts=(\d+)/.exec(await hosts[2].ofctl('dump-ports', String(ofport)))![1]);
    const tx0 = await txToC();
    const r = await trace({ endpoint: cId });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const { live, computed } = r.body;
    assert.deepEqual([computed.verdict.result, computed.verdict.host], ['delivered', 'lt3']);
    assert.deepEqual(live!.verdict, { result: 'delivered', endpoint: cId, host: 'lt3' });
    const seen = live!.observed.map((o) => `${o.host}/${o.table}:${o.event}`);
    assert.ok(seen.includes('lt1/l2Forwarding:tunneled'), seen.join(' '));
    assert.equal(seen[seen.length - 1], 'lt3/l2Forwarding:delivered', seen.join(' '));
    assert.ok(live!.observed.every((o) => o.flow), 'every observation names the switch flow that matched');
    assert.equal(r.body.agree, true, JSON.stringify(r.body.difference));
    assert.equal(r.body.live!.injections, 1);
    assert.equal(await txToC(), tx0, 'nothing was sent to c\'s port');
    await noTraceFlows();
  });

  await t.test('weft trace --live prints both paths and says they agree', async () => {
    const { execFile } = await import('node:child_process');
    const cli = path.join(repoRoot(), 'dist/northbound/cli/weft.js');
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => execFile(process.execPath,
      [cli, 'trace', aId, cId, '--tcp', '80', '--live', '--api', weft.api, '--token-file', weft.adminTokenFile], { encoding: 'utf8' },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr })));
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /verdict: delivered to endpoint \S+ on lt3/);
    assert.match(out.stdout, /^live \(a marked packet/m);
    assert.match(out.stdout, /lt3\s+br-int\s+4:l2Forwarding\s+delivered/);
    assert.match(out.stdout, /^computed and live agree$/m);
    await noTraceFlows();
  });

  await t.test('an address nothing delivers: observed dropped where the computed trace says', async () => {
    // the address after c's, in lt3's block: lt1 tunnels it to lt3, where no endpoint has it
    const r = await trace({ ip: intToIp(ipToInt(c.ip) + 1) }, 'icmp');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const cv = r.body.computed.verdict;
    assert.deepEqual([cv.result, cv.host, cv.table], ['dropped', 'lt3', 'l2Forwarding']);
    const lv = r.body.live!.verdict;
    assert.deepEqual([lv.result, lv.host, lv.bridge, lv.table], ['dropped', 'lt3', 'br-int', 'l2Forwarding']);
    assert.equal(r.body.agree, true, JSON.stringify(r.body.difference));
    await noTraceFlows();
  });

  await t.test('real traffic keeps flowing during and after traces', async (tt) => {
    const ping = a.ct.ping(c.ip, { count: 20, intervalS: 0.1 });
    for (let i = 0; i < 3; i++) {
      const r = await trace({ endpoint: cId }, i === 1 ? 'icmp' : 'tcp');
      assert.equal(r.body.agree, true, JSON.stringify(r.body.difference ?? r.body.live));
      tt.diagnostic(`trace during ping: ${r.body.live!.injections} injection(s)`);
    }
    assert.deepEqual(await ping, { sent: 20, received: 20 });
    assert.equal((await a.ct.ping(c.ip, { count: 3 })).received, 3);
    const srv = await c.ct.serveTcp(9000);
    assert.equal(await a.ct.tcpConnect(c.ip, srv.port, 'after the traces'), 'after the traces');
    await srv.stop();
    await noTraceFlows();
  });

  await t.test('a delivery flow missing on lt3: the live trace disagrees and says where', async () => {
    const mac = c.res.interfaces.find((x) => x.name === 'eth0')!.mac;
    const line = (await hosts[2].dumpFlows()).find((f) => f.includes('table=4') && f.includes(`dl_dst=${mac}`));
    assert.ok(line, 'c\'s delivery flow on lt3');
    await hosts[2].ofctl('del-flows', `table=4,dl_dst=${mac}`);
    try {
      const r = await trace({ endpoint: cId });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.computed.verdict.result, 'delivered', 'the controller\'s flows still deliver');
      assert.deepEqual([r.body.live!.verdict.result, r.body.live!.verdict.host, r.body.live!.verdict.table], ['dropped', 'lt3', 'l2Forwarding']);
      assert.equal(r.body.agree, false);
      assert.match(r.body.difference!.detail, /lt3 br-int l2Forwarding/);
      await noTraceFlows();
    } finally {
      await hosts[2].ofctl('add-flow', line!);
    }
    await a.ct.waitPing(c.ip, 5000);
    const again = await trace({ endpoint: cId });
    assert.equal(again.body.agree, true, `the flow is back: they agree again: ${JSON.stringify(again.body.difference ?? again.body.live)}`);
  });

  await t.test('live traces need the source bridge: unknown endpoint 404, bad input 400', async () => {
    assert.equal((await weft.call('POST', '/v1/traces', { from: { endpoint: 'nosuch' }, to: { ip: c.ip }, proto: 'icmp', live: true })).status, 404);
    assert.equal((await weft.call('POST', '/v1/traces', { from: { endpoint: aId }, to: { ip: c.ip }, proto: 'icmp', live: 'yes' })).status, 400);
  });

  await lab.detach(0, 'a', 'ov1', a.ct);
  await lab.detach(2, 'c', 'ov1', c.ct);
});
