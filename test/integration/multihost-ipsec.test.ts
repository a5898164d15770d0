// Encrypted networks across three emulated hosts, each running `weft
// ipsec-agent` (its own charon with kernel-libipsec): on the underlay only
// ESP in UDP 4500 between the hosts, no container address or payload in
// clear; ping, TCP and 100 MB through it; full-size TCP segments (MTU);
// a same-CIDR network isolated; a plain network on the same hosts
// unaffected (and visible in clear, the capture's control); a rekey during
// an iperf3 run loses no connection; a removed host's SAs go from the others.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { MultiHostLab } from '../helpers/multihost-lab';
import { waitFor } from '../helpers/wait';
import { run } from '../helpers/emu/common';
import { AgentProc, startAgent, stopAgent, listSas, sasUp, iperfServer, iperfClient, capture, captureOn, sendCleartextVxlan } from '../helpers/ipsec-lab';

let lab: MultiHostLab | undefined;
const agents: AgentProc[] = [];
before(async () => { lab = await MultiHostLab.start({ id: 'ip', subnet: '172.31.233.0/24', hosts: 3, tunnel: true, phy: true }); });
after(async () => {
  for (const a of agents) await stopAgent(a).catch(() => undefined);
  if (process.env.WEFT_TEST_KEEP_LOGS && lab) for (const a of agents) process.stderr.write(`--- ${a.host}\n${fs.readFileSync(a.log, 'utf8')}`);
  await lab?.stop();
});

const CANARY = 'WEFT-IPSEC-CANARY-';

test('encrypted overlay across three hosts (IPsec, userspace ESP)', async (t) => {
  if (!lab) { t.skip('no OVS'); return; }
  const { hosts, weft } = lab;
  await lab.register();
  const names = hosts.map((_, i) => lab!.hostName(i));
  for (let i = 0; i < hosts.length; i++) agents.push(startAgent(lab, i));

  const sec = await weft.call<{ encrypted: boolean; mtu: number }>('POST', '/v1/networks', { name: 'sec', cidr: '10.71.0.0/16', mode: 'overlay', encrypted: true });
  assert.equal(sec.status, 201, JSON.stringify(sec.body));
  assert.deepEqual([sec.body.encrypted, sec.body.mtu], [true, 1350], 'encrypted, MTU capped for VXLAN + ESP');
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'sec2', cidr: '10.71.0.0/16', mode: 'overlay', encrypted: true })).status, 201);
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'plain', cidr: '10.72.0.0/16', mode: 'overlay' })).status, 201);
  // routed mode too: its traffic between hosts goes through IPsec instead of the underlay's routing
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'rsec', cidr: '10.73.0.0/16', mode: 'routed', encrypted: true })).status, 201);

  // every host's charon has an SA with each other host
  for (let i = 0; i < hosts.length; i++) {
    await waitFor(() => sasUp(lab!, agents[i]!, i, names.filter((n) => n !== names[i])), { what: `SAs of ${names[i]} up`, timeoutMs: 30_000, intervalMs: 200 });
  }
  const a = await lab.attach(0, 'a', 'sec');
  const b = await lab.attach(1, 'b', 'sec');
  const c = await lab.attach(2, 'c', 'sec');
  const d = await lab.attach(2, 'd', 'sec2', { args: [['IgnoreUnknown', '1'], ['IP', b.ip]] });
  assert.equal(d.ip, b.ip);
  const p1 = await lab.attach(0, 'p1', 'plain');
  const p2 = await lab.attach(1, 'p2', 'plain');
  const r1 = await lab.attach(0, 'r1', 'rsec');
  const r2 = await lab.attach(1, 'r2', 'rsec');

  await t.test('br-int tunnels the encrypted network to the peers\' secure VTEPs, never to their underlay addresses', async () => {
    const cfg = (await weft.call<{ vtep: string; peers: { name: string; vtep: string }[] }>('GET', `/v1/hosts/${names[0]}/ipsec`)).body;
    const flows = await waitFor(async () => { const f = await hosts[0]!.dumpFlows(); return f.some((x) => x.includes(cfg.peers[0]!.vtep)) ? f : undefined; }, { what: 'flows to the secure VTEPs' });
    const vni = (await weft.call<{ vni: number }>('GET', '/v1/networks/sec')).body.vni;
    const toPeers = flows.filter((f) => f.includes(`set_field:${vni}->tun_id`) || f.includes(`set_field:0x${vni.toString(16)}->tun_id`));
    assert.ok(toPeers.length > 0, 'flows into sec\'s tunnel');
    for (const f of toPeers) assert.ok(!hosts.some((h) => f.includes(`${h.ip}->tun_dst`)), `never to an underlay address: ${f}`);
    // br-phy (programmed by Weft here) drops cleartext from the uplink into the VTEP range
    await waitFor(async () => (await hosts[0]!.dumpFlows('br-phy')).some((f) => f.includes('nw_dst=198.18.0.0/16') && f.includes('actions=drop')), { what: 'the VTEP guard on br-phy' });
  });

  await t.test('on the wire: ESP in UDP 4500 between hosts, no container address or payload in clear (a plain network is, the control)', async () => {
    await a.ct.waitPing(b.ip, 15_000);
    await a.ct.waitPing(c.ip, 15_000);
    await b.ct.waitPing(c.ip, 15_000);
    await p1.ct.waitPing(p2.ip, 10_000);
    await r1.ct.waitPing(r2.ip, 15_000);
    // on ip1's cable: a, p1 and their traffic to the two other hosts
    const pcap = await capture(lab!, 0, path.join(lab!.tmp, 'underlay.pcap'));
    assert.equal((await a.ct.ping(b.ip, { count: 3 })).received, 3);
    const srv = await c.ct.serveTcp(9000);
    const secret = `${CANARY}secret-`.repeat(200);
    assert.equal(await a.ct.tcpConnect(c.ip, srv.port, secret), secret);
    // the routed encrypted network too
    const srvR = await r2.ct.serveTcp(9003);
    assert.equal(await r1.ct.tcpConnect(r2.ip, srvR.port, secret), secret);
    await srvR.stop();
    // the control: the plain network's payload is there in clear
    const srvP = await p2.ct.serveTcp(9001);
    const open = `${CANARY}plain-`.repeat(20);
    assert.equal(await p1.ct.tcpConnect(p2.ip, srvP.port, open), open);
    const file = await pcap.stop();
    await srv.stop();
    await srvP.stop();
    if (process.env.WEFT_TEST_KEEP_PCAP) fs.copyFileSync(file, process.env.WEFT_TEST_KEEP_PCAP);
    const bytes = fs.readFileSync(file);
    const text = await run('tcpdump', ['-nn', '-r', file]);
    const esp = text.split('\n').filter((l) => /\.4500 > .*\.4500: UDP-encap: ESP/.test(l));
    const between = (x: string, y: string) => esp.some((l) => l.includes(` ${x}.4500 > ${y}.4500`));
    assert.ok(between(hosts[0]!.ip, hosts[1]!.ip) && between(hosts[1]!.ip, hosts[0]!.ip), 'ESP both ways between ip1 and ip2');
    assert.ok(between(hosts[0]!.ip, hosts[2]!.ip) && between(hosts[2]!.ip, hosts[0]!.ip), 'ESP both ways between ip1 and ip3');
    assert.ok(bytes.includes(Buffer.from(`${CANARY}plain-`)), 'the plain network\'s payload is in the capture (the capture sees cleartext)');
    assert.ok(!bytes.includes(Buffer.from(`${CANARY}secret-`)), 'the encrypted network\'s payload never is');
    for (const ip of [a.ip, b.ip, c.ip, r1.ip, r2.ip]) {
      assert.ok(!bytes.includes(Buffer.from(ip.split('.').map(Number))), `container address ${ip} never in the capture`);
    }
    // no VXLAN between secure VTEPs in clear, and no encrypted VNI on port 4789
    assert.ok(!/198\.18\.\d+\.\d+/.test(text), 'no secure VTEP address in clear');
  });

  await t.test('attacker on the underlay: cleartext VXLAN aimed at a secure VTEP never reaches a container (br-phy\'s guard; without it, it would)', async () => {
    const cfg = (await weft.call<{ vtep: string; peers: { name: string; vtep: string }[] }>('GET', `/v1/hosts/${names[0]}/ipsec`)).body;
    const vni = (await weft.call<{ vni: number }>('GET', '/v1/networks/sec')).body.vni;
    const spoof = async (marker: string) => {
      const pcap = await captureOn(a.ct.netns, 'eth0', path.join(lab!.tmp, `${marker}.pcap`));
      await sendCleartextVxlan({
        iface: hosts[0]!.rootLink, outerMac: (await hosts[0]!.exec(['cat', '/sys/class/net/br-sec/address'])).trim(),
        src: cfg.peers.find((p) => p.name === names[1])!.vtep, dst: cfg.vtep, vni,
        innerSrcMac: b.res.interfaces.find((x) => x.name === 'eth0')!.mac, innerDstMac: a.res.interfaces.find((x) => x.name === 'eth0')!.mac,
        innerSrc: b.ip, innerDst: a.ip, marker,
      });
      // the echo a sends back to b (through IPsec) follows the request in a's capture, if it arrived at all
      await a.ct.ping(b.ip, { count: 1 });
      return fs.readFileSync(await pcap.stop()).includes(Buffer.from(marker));
    };
    assert.equal(await spoof('SPOOFED-CLEARTEXT-1'), false, 'the spoofed frame never reached the container');
    // the control: without br-phy's guard the same frame is tunnel-popped into br-int and reaches the container
    // (the controller puts the flow back at its next sync of br-phy)
    await hosts[0]!.ofctlOn('br-phy', 'del-flows', 'ip,nw_dst=198.18.0.0/16');
    assert.ok(!(await hosts[0]!.dumpFlows('br-phy')).some((f) => f.includes('nw_dst=198.18.0.0/16')), 'the guard is gone');
    assert.equal(await spoof('SPOOFED-CLEARTEXT-2'), true, 'without the guard the frame would have reached the container');
  });

  await t.test('TCP: full-size segments (MTU 1350 in the container) and a 100 MB transfer', async () => {
    const mtu = await a.ct.exec(['cat', '/sys/class/net/eth0/mtu']);
    assert.equal(mtu.trim(), '1350');
    // the largest unfragmented packet the container sends: 1350 bytes
    await a.ct.exec(['ping', '-n', '-c', '2', '-W', '2', '-M', 'do', '-s', '1322', b.ip]);
    const srv = await iperfServer(b.ct, 5201);
    const r = await iperfClient(a.ct, b.ip, 5201, { bytes: '100M' });
    srv.kill();
    assert.equal(r.error, undefined, r.error);
    // TCP delivered all of it (iperf3's receiver stops counting at the test's end, a little short of the sender)
    assert.ok(r.sentBytes >= 100 * 1024 * 1024 && r.receivedBytes > 0.95 * r.sentBytes, `sent ${r.sentBytes}, received ${r.receivedBytes} bytes`);
    t.diagnostic(`100 MB a->b through IPsec: ${(r.bitsPerSecond / 1e6).toFixed(0)} Mbit/s, ${r.retransmits} retransmits`);
  });

  await t.test('same CIDR, other encrypted network: isolated', async () => {
    assert.equal((await d.ct.ping(a.ip, { count: 2, timeoutS: 1 })).received, 0, 'sec2 cannot reach sec');
    assert.equal((await c.ct.ping(a.ip, { count: 2 })).received, 2, 'the control: sec on the same host reaches a');
  });

  await t.test('a plain network on the same hosts is unaffected', async () => {
    assert.equal((await p1.ct.ping(p2.ip, { count: 3 })).received, 3);
    const srv = await p2.ct.serveTcp(9002);
    const payload = 'y'.repeat(200_000);
    assert.equal(await p1.ct.tcpConnect(p2.ip, srv.port, payload), payload);
    await srv.stop();
  });

  await t.test('rekey during an iperf3 run: new SAs, the connection never drops', async () => {
    const gen0 = (await weft.call<{ generation: number }>('GET', `/v1/hosts/${names[0]}/ipsec`)).body.generation;
    const before = (await listSas(lab!, agents[0]!, 0)).get(`weft-${names[1]}`)!;
    const srv = await iperfServer(b.ct, 5202);
    const running = iperfClient(a.ct, b.ip, 5202, { seconds: 8 });
    // rekey once the stream runs (its first bytes arrived)
    await waitFor(async () => (await listSas(lab!, agents[0]!, 0)).get(`weft-${names[1]}`)?.children.length, { what: 'child SA listed' });
    const rk = await weft.call<{ generation: number; pairs: number }>('POST', '/v1/networks/sec/rekey');
    assert.equal(rk.status, 200, JSON.stringify(rk.body));
    assert.deepEqual([rk.body.generation, rk.body.pairs], [gen0 + 1, 3]);
    const after = await waitFor(async () => {
      const s = (await listSas(lab!, agents[0]!, 0)).get(`weft-${names[1]}`);
      return s && s.ikeSpi !== before.ikeSpi && s.children.some((x) => x.state === "INSTALLED" && x.spiIn && !before.children.some((y) => y.spiIn === x.spiIn)) ? s : undefined;
    }, { what: 'new IKE and child SAs between ip1 and ip2', timeoutMs: 20_000, intervalMs: 200 });
    assert.equal(after.state, 'ESTABLISHED');
    const r = await running;
    srv.kill();
    assert.equal(r.error, undefined, `iperf3: ${r.error}`);
    assert.ok(r.receivedBytes > 0 && r.intervals.length >= 7, `the stream ran to its end (${r.intervals.length} intervals)`);
    t.diagnostic(`iperf3 across the rekey: ${(r.bitsPerSecond / 1e6).toFixed(0)} Mbit/s, slowest second ${(Math.min(...r.intervals) / 1e6).toFixed(0)} Mbit/s`);
    assert.equal((await a.ct.ping(b.ip, { count: 2 })).received, 2, 'traffic still flows after the rekey');
  });

  await t.test('removing a host removes its SAs on the others', async () => {
    await lab!.detach(2, 'c', 'sec', c.ct);
    await lab!.detach(2, 'd', 'sec2', d.ct);
    assert.equal((await weft.call('DELETE', `/v1/hosts/${names[2]}`)).status, 204);
    for (const i of [0, 1]) {
      await waitFor(async () => !(await listSas(lab!, agents[i]!, i)).has(`weft-${names[2]}`), { what: `no SA to ${names[2]} on ${names[i]}`, timeoutMs: 20_000, intervalMs: 200 });
      assert.ok((await listSas(lab!, agents[i]!, i)).get(`weft-${names[1 - i]}`)?.state === 'ESTABLISHED', 'the SA between the other two stays');
    }
    assert.equal((await a.ct.ping(b.ip, { count: 2 })).received, 2, 'a still reaches b');
  });
});
