// The native weft-cni front end and the resident CNI agent, on two emulated
// overlay hosts: ADD and DEL handed to the agent over its socket (the agent
// runs in the host's namespace; the runtime runs the native plugin there),
// cross-host ping and TCP, concurrent ADDs, and the fallback to the Node
// plugin when the agent is not running.
import { test, before, after } from 'node:test';
import { waitFor } from '../helpers/wait';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { MultiHostLab, ipOf, CniResult } from '../helpers/multihost-lab';
import { AgentProcess, nativePluginDir } from '../helpers/cni-agent';
import { TestRuntime } from '../helpers/cni-runtime';
import { Container } from '../helpers/emu-host';

let lab: MultiHostLab | undefined;
let agent: AgentProcess | undefined;
before(async () => { lab = await MultiHostLab.start({ id: 'ag', subnet: '172.31.247.0/24', hosts: 2, mtu: 1600, tunnel: true }); });
after(async () => { await agent?.stop(); await lab?.stop(); });

test('weft-cni through the host agent', async (t) => {
  if (!lab) { t.skip('no OVS'); return; }
  const { weft, hosts } = lab;
  await lab.register();
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'agn', cidr: '10.48.0.0/16', mode: 'overlay' })).status, 201);
  const socket = path.join(lab.tmp, 'agent', 'cni.sock');
  agent = await AgentProcess.start(socket, hosts[1].netns);
  assert.equal(fs.statSync(socket).mode & 0o777, 0o600, 'only root may hand the agent a call');
  const rt = new TestRuntime([nativePluginDir(path.join(lab.tmp, 'native')), '/usr/lib/cni'], hosts[1].netns);
  const withAgent = { agentSocket: socket };

  // a (h1, Node plugin) is the peer; b (h2) goes through the native front end and the agent
  const a = await lab.attach(0, 'a', 'agn');
  const bCt = await Container.create(hosts[1], 'b', { prefix: 'wfa-c' });
  const bConf = lab.conf(1, 'agn', withAgent);
  const b = await rt.add(bConf, { containerId: 'ag-b', netns: bCt.netnsPath, ifName: 'eth0' }) as unknown as CniResult;
  const bIp = ipOf(b);
  // (the agent's log line comes through a pipe, maybe after the answer)
  await waitFor(() => agent!.calls().length > 0, { what: 'the agent\'s log of the ADD', timeoutMs: 5000 });
  assert.deepEqual(agent.calls(), [['ADD', 'ag-b', 0]], 'the ADD ran in the agent');
  // its kernel work went to the agent's resident weft-plumb, not to a process per step
  const children = () => fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try { return fs.readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(agent!.pid); } catch { return false; }
  }).map((d) => fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' '));
  assert.ok(children().some((c) => /weft-plumb serve$/.test(c)), `the agent runs weft-plumb serve (${children().join('; ')})`);

  await t.test('the endpoint is ready and reachable across hosts', async () => {
    const ep = (await weft.call<{ state: string; host: string; ofport: number; ofportRequest: number }[]>('GET', '/v1/endpoints?containerId=ag-b')).body;
    assert.deepEqual(ep.map((e) => [e.state, e.host]), [['ready', 'ag2']]);
    // OVS gave the port the number Weft chose, so its flows could go in before the port existed
    assert.ok(ep[0]!.ofportRequest >= 10000, String(ep[0]!.ofportRequest));
    assert.equal(ep[0]!.ofport, ep[0]!.ofportRequest);
    await a.ct.waitPing(bIp, 10000);
    assert.equal((await a.ct.ping(bIp, { count: 3 })).received, 3);
    const srv = await bCt.serveTcp(9100);
    assert.equal(await a.ct.tcpConnect(bIp, srv.port, 'through the agent'), 'through the agent');
    await srv.stop();
    // the result names the container interface with the MAC Weft chose
    assert.equal(b.interfaces.find((x) => x.name === 'eth0')?.mac, (await bCt.exec(['cat', '/sys/class/net/eth0/address'])).trim());
  });

  await t.test('a bad configuration gets its CNI error through the agent', async () => {
    const bad = lab!.conf(1, 'no-such-net', withAgent);
    const c = await Container.create(hosts[1], 'bad', { prefix: 'wfa-c' });
    const err = await rt.add(bad, { containerId: 'ag-bad', netns: c.netnsPath, ifName: 'eth0' }).then(() => undefined, (e: { cniError?: { code: number; msg: string } }) => e.cniError);
    assert.equal(err?.code, 7, JSON.stringify(err));
    assert.match(err!.msg, /no-such-net/);
    assert.equal((await weft.call<unknown[]>('GET', '/v1/endpoints?containerId=ag-bad')).body.length, 0, 'nothing left behind');
    await waitFor(() => agent!.calls().at(-1)?.[1] === 'ag-bad', { what: 'the agent\'s log of ag-bad', timeoutMs: 5000 });
    assert.deepEqual(agent!.calls().at(-1), ['ADD', 'ag-bad', 1]);
  });

  await t.test('another host\'s token is refused (403) through the agent, and nothing is left behind', async () => {
    const foreign = lab!.conf(1, 'agn', { ...withAgent, tokenFile: lab!.tokenFiles[0] }); // ag1's token in ag2's configuration
    const c = await Container.create(hosts[1], 'tok', { prefix: 'wfa-c' });
    const err = await rt.add(foreign, { containerId: 'ag-tok', netns: c.netnsPath, ifName: 'eth0' })
      .then(() => undefined, (e: { cniError?: { code: number; msg: string; details?: string } }) => e.cniError);
    assert.equal(err?.code, 102, JSON.stringify(err));
    assert.match(err!.msg, /a host token acts only for its own host/);
    assert.match(String(err!.details), /HTTP 403/);
    assert.match(err!.msg, /ag1, not ag2/);
    assert.equal((await weft.call<unknown[]>('GET', '/v1/endpoints?containerId=ag-tok')).body.length, 0, 'nothing left behind');
    const links = (JSON.parse(await c.exec(['ip', '-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname);
    assert.deepEqual(links, ['lo'], 'no interface left in the container');
    await waitFor(() => agent!.calls().at(-1)?.[1] === 'ag-tok', { what: 'the agent\'s log of ag-tok', timeoutMs: 5000 });
    assert.deepEqual(agent!.calls().at(-1), ['ADD', 'ag-tok', 1]);
  });

  let pIps: string[] = [];
  await t.test('10 concurrent ADDs through the agent: distinct addresses, all answer', async () => {
    const cts = await Promise.all(Array.from({ length: 10 }, (_, i) => Container.create(hosts[1], `p${i}`, { prefix: 'wfa-c' })));
    const res = await Promise.all(cts.map((c, i) => rt.add(bConf, { containerId: `ag-p${i}`, netns: c.netnsPath, ifName: 'eth0' }) as unknown as Promise<CniResult>));
    const ips = res.map(ipOf);
    assert.equal(new Set(ips).size, 10);
    pIps = ips;
    for (const ip of ips) assert.equal((await a.ct.ping(ip, { count: 1, timeoutS: 2 })).received, 1, ip);
  });

  await t.test('DEL through the agent removes the port; a second DEL succeeds', async () => {
    await rt.del(bConf, { containerId: 'ag-b', netns: bCt.netnsPath, ifName: 'eth0' });
    await rt.del(bConf, { containerId: 'ag-b', netns: bCt.netnsPath, ifName: 'eth0' });
    assert.equal((await weft.call<unknown[]>('GET', '/v1/endpoints?containerId=ag-b')).body.length, 0);
    assert.equal((await a.ct.ping(bIp, { count: 1, timeoutS: 1 })).received, 0);
    assert.ok(pIps.length > 0, 'the containers of the previous step are there');
    assert.equal((await a.ct.ping(pIps[0]!, { count: 2 })).received, 2, 'the control: a still reaches another container on that host');
    await waitFor(() => agent!.calls().filter(([c, id]) => c === 'DEL' && id === 'ag-b').length >= 2, { what: 'the agent\'s log of both DELs', timeoutMs: 5000 });
    assert.deepEqual(agent!.calls().slice(-2), [['DEL', 'ag-b', 0], ['DEL', 'ag-b', 0]]);
  });

  await t.test('with the agent stopped, the native plugin falls back to the Node plugin', async () => {
    await agent!.stop();
    assert.ok(!fs.existsSync(socket), 'the agent removed its socket');
    const c = await Container.create(hosts[1], 'f', { prefix: 'wfa-c' });
    const r = await rt.add(bConf, { containerId: 'ag-f', netns: c.netnsPath, ifName: 'eth0' }) as unknown as CniResult;
    await a.ct.waitPing(ipOf(r), 10000);
    assert.ok(!agent!.calls().some(([, id]) => id === 'ag-f'), 'the agent saw none of it');
    await rt.del(bConf, { containerId: 'ag-f', netns: c.netnsPath, ifName: 'eth0' });
  });
});
