// Weft's Docker network and IPAM driver against the real dockerd 20.10, in
// emulated host dk1 (its own OVS, br-int and br-phy under Weft); dk2 is a
// host whose containers attach through CNI. One dockerd for the file.
// After every step, Weft's endpoints on dk1 are exactly the Docker
// endpoints of the running containers, and no reservation is left.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { MultiHostLab } from '../helpers/multihost-lab';
import { Dockerd, PluginProcess, IMAGE, dockerAvailable } from '../helpers/docker';
import { waitFor } from '../helpers/wait';

const SOCKET = '/run/docker/plugins/weft.sock';
const CLIENT_IP = '172.31.236.200';
let lab: MultiHostLab | undefined;
let dockerd: Dockerd | undefined;
let plugin: PluginProcess | undefined;
let logFile = '';

interface Ep { id: string; containerId: string; ip: string; mac: string; state: string; network: string; portMappings: { hostPort: number }[] }

async function startPlugin(extra: string[] = [], tokenFile = lab!.weft.adminTokenFile, host = lab!.hostName(0)): Promise<PluginProcess> {
  const h = lab!.hosts[0]!;
  return PluginProcess.start(h.netns, ['--api', lab!.weft.api, '--host', host, '--ovsdb', h.ovsdb, '--token-file', tokenFile,
    '--docker', dockerd!.url, '--log-level', 'debug', ...extra], SOCKET, logFile);
}

before(async () => {
  if (!dockerAvailable()) {
    assert.ok(!process.env.CI, 'dockerd (docker.io) and busybox-static must be installed in CI (mininet/scripts/setup.sh)');
    return;
  }
  lab = await MultiHostLab.start({ id: 'dk', subnet: '172.31.236.0/24', hosts: 2, mtu: 1600, tunnel: true, phy: true });
  if (!lab) return;
  await lab.register();
  logFile = path.join(lab.tmp, 'plugin.log');
  dockerd = await Dockerd.start(lab.hosts[0]!.netns);
  await dockerd.importBusybox();
  plugin = await startPlugin();
});

after(async () => {
  try {
    await dockerd?.destroy().catch((e: Error) => console.error('dockerd cleanup', e.message));
    await plugin?.stop();
    if (process.env.WEFT_KEEP_LOGS && logFile && fs.existsSync(logFile)) console.error(fs.readFileSync(logFile, 'utf8'));
  } finally {
    await lab?.stop();
  }
});

const weftEps = async (q = `host=${lab!.hostName(0)}`) => (await lab!.weft.call<Ep[]>('GET', `/v1/endpoints?${q}`)).body;

/** Docker endpoint ids of the running containers, on every network. */
async function dockerEndpoints(): Promise<string[]> {
  const ids = (await dockerd!.ok(['ps', '-q'])).split('\n').filter(Boolean);
  if (!ids.length) return [];
  const nets = JSON.parse(await dockerd!.ok(['inspect', '--format', '{{json .NetworkSettings.Networks}}', ...ids]).then((s) => `[${s.split('\n').join(',')}]`)) as Record<string, { EndpointID: string }>[];
  return nets.flatMap((n) => Object.values(n).map((e) => e.EndpointID)).filter(Boolean).sort();
}

afterEach(async () => {
  if (!dockerd) return;
  // Weft's endpoints on dk1 are the running containers' Docker endpoints, and nothing else
  const docker = await dockerEndpoints();
  const eps = await waitFor(async () => {
    const e = await weftEps();
    return e.map((x) => x.containerId).sort().join() === docker.join() ? e : undefined;
  }, { what: 'Weft endpoints equal the containers attached', timeoutMs: 10_000 }).catch(async () => weftEps());
  assert.deepEqual(eps.map((x) => x.containerId).sort(), docker, 'Weft endpoints equal the Docker endpoints of running containers');
  // and the host has a veth and an OVS port for each of them, and no other
  const h = lab!.hosts[0]!;
  const ports = eps.map((e) => (e as Ep & { portName: string }).portName).sort();
  const links = (await h.exec(['ip', '-br', 'link'])).split('\n').map((l) => l.split(/[\s@]/)[0]!).filter((n) => /^w[fc][0-9a-f]{11}$/.test(n)).sort();
  assert.deepEqual(links, ports, 'veths on dk1');
  const onBridge = (await h.vsctl('list-ports', 'br-int')).split('\n').filter((n) => /^wf[0-9a-f]{11}$/.test(n)).sort();
  assert.deepEqual(onBridge, ports, 'ports on br-int');
});

const ipOf = async (ct: string, net: string) => dockerd!.ok(['inspect', '--format', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, ct]);
const run = (name: string, net: string, ...flags: string[]) => dockerd!.ok(['run', '-d', '--name', name, '--network', net, ...flags, IMAGE, 'sleep', '3600']);

test('docker networks and containers on Weft', async (t) => {
  if (!lab || !dockerd) { t.skip('no OVS or no dockerd'); return; }

  await t.test('network create makes the Weft network; rm deletes it', async () => {
    await dockerd!.ok(['network', 'create', '-d', 'weft', '--ipam-driver', 'weft', '--subnet', '10.91.0.0/16', '-o', 'weft.mode=overlay', 'dnet']);
    const n = await waitFor(async () => { const r = await lab!.weft.call<{ cidr: string; mode: string }>('GET', '/v1/networks/dnet'); return r.status === 200 ? r.body : undefined; },
      { what: 'Weft network dnet', timeoutMs: 10_000 });
    assert.equal(n.cidr, '10.91.0.0/16');
    assert.equal(n.mode, 'overlay');
    await dockerd!.ok(['network', 'create', '-d', 'weft', '--ipam-driver', 'weft', '--subnet', '10.92.0.0/24', 'gone']);
    await waitFor(async () => (await lab!.weft.call('GET', '/v1/networks/gone')).status === 200, { what: 'Weft network gone', timeoutMs: 10_000 });
    await dockerd!.ok(['network', 'rm', 'gone']);
    assert.equal((await lab!.weft.call('GET', '/v1/networks/gone')).status, 404);
    // a bad mode is Docker's error, and nothing is made
    const bad = await dockerd!.cli(['network', 'create', '-d', 'weft', '--ipam-driver', 'weft', '--subnet', '10.93.0.0/24', '-o', 'weft.mode=bogus', 'bad']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /weft\.mode=bogus/);
  });

  await t.test('network create adopts a Weft network made through the API', async () => {
    const made = await lab!.weft.call<{ id: number }>('POST', '/v1/networks', { name: 'apinet', cidr: '10.94.0.0/24', mode: 'overlay' });
    assert.equal(made.status, 201);
    await dockerd!.ok(['network', 'create', '-d', 'weft', '--ipam-driver', 'weft', '--subnet', '10.94.0.0/24', 'apinet']);
    await run('adopter', 'apinet');
    const ip = await ipOf('adopter', 'apinet');
    const eps = await weftEps();
    assert.equal(eps.find((e) => e.ip === ip)?.network, 'apinet');
    assert.equal((await lab!.weft.call<{ id: number }>('GET', '/v1/networks/apinet')).body.id, made.body.id, 'the same Weft network');
    await dockerd!.ok(['rm', '-f', 'adopter']);
  });

  await t.test('run: the address comes from Weft and the endpoint is ready; --ip and --mac-address; ping and TCP', async () => {
    await run('ca', 'dnet');
    await run('cb', 'dnet', '--ip', '10.91.7.7', '--mac-address', '02:aa:bb:cc:dd:ee');
    const eps = await weftEps();
    const ipA = await ipOf('ca', 'dnet');
    const epA = eps.find((e) => e.ip === ipA);
    assert.ok(epA, `Weft has ${ipA}`);
    assert.equal(epA.state, 'ready', 'flows ready before Join returned');
    const epB = eps.find((e) => e.ip === '10.91.7.7');
    assert.ok(epB, 'Weft has the --ip address');
    assert.equal(epB.mac, '02:aa:bb:cc:dd:ee');
    assert.equal((await dockerd!.ok(['exec', 'cb', 'cat', '/sys/class/net/eth0/address'])), '02:aa:bb:cc:dd:ee');
    assert.match(await dockerd!.ok(['exec', 'ca', 'ip', 'route']), /default via 10\.91\.0\.1/);
    assert.match(await dockerd!.ok(['exec', 'ca', 'ping', '-c', '2', '-W', '2', '10.91.7.7']), / 0% packet loss/);
    await dockerd!.ok(['exec', '-d', 'cb', 'nc', '-ll', '-p', '7000', '-e', 'cat']);
    const got = await waitFor(async () => (await dockerd!.cli(['exec', 'ca', 'sh', '-c', 'echo over-tcp | nc -w 2 10.91.7.7 7000'])).out.trim(), { what: 'TCP a -> b', timeoutMs: 10_000 });
    assert.equal(got, 'over-tcp');
  });

  await t.test('a CNI container on another host reaches a Docker container over the overlay', async () => {
    const { ct } = await lab!.attach(1, 'cni1', 'dnet');
    try {
      await ct.waitPing('10.91.7.7', 10_000); // the first packet to a new remote host may be lost (LAB.md)
      assert.equal((await ct.ping('10.91.7.7', { count: 3 })).received, 3);
      assert.equal(await ct.tcpConnect('10.91.7.7', 7000, 'from-cni\n'), 'from-cni\n');
    } finally {
      await lab!.detach(1, 'cni1', 'dnet', ct);
    }
  });

  await t.test('-p publishes through br-phy DNAT, reachable from the underlay', async () => {
    await run('web', 'dnet', '-p', '9080:80');
    const ip = await ipOf('web', 'dnet');
    const ep = (await weftEps()).find((e) => e.ip === ip)!;
    assert.deepEqual(ep.portMappings.map((m) => m.hostPort), [9080]);
    await dockerd!.ok(['exec', '-d', 'web', 'nc', '-ll', '-p', '80', '-e', 'echo', 'published']);
    const client = await lab!.outsideMachine('client', CLIENT_IP);
    const got = await waitFor(() => client.tcpConnect(lab!.hosts[0]!.ip, 9080, 'x', 2000).catch(() => ''), { what: 'published port answers', timeoutMs: 15_000 });
    assert.match(got, /published/);
    assert.match(await lab!.hosts[0]!.ofctlOn('br-phy', 'dump-flows'), /tp_dst=9080/);
    // Weft's DNAT serves it: no docker-proxy runs (dockerd has --userland-proxy=false), and dockerd touches no iptables
    assert.ok(!fs.readdirSync('/proc').some((p) => /^\d+$/.test(p) && (() => { try { return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'docker-proxy'; } catch { return false; } })()), 'no docker-proxy');
    await dockerd!.ok(['rm', '-f', 'web']);
    await waitFor(async () => !/tp_dst=9080/.test(await lab!.hosts[0]!.ofctlOn('br-phy', 'dump-flows')), { what: 'DNAT flow gone with the container', timeoutMs: 10_000 });
  });

  await t.test('network connect and disconnect manage a second interface', async () => {
    await dockerd!.ok(['network', 'connect', 'apinet', 'ca']);
    const ip2 = await ipOf('ca', 'apinet');
    assert.ok((await weftEps()).some((e) => e.ip === ip2 && e.network === 'apinet'));
    assert.match(await dockerd!.ok(['exec', 'ca', 'ip', '-4', 'addr', 'show', 'eth1']), new RegExp(ip2.replace(/\./g, '\\.')));
    await dockerd!.ok(['network', 'disconnect', 'apinet', 'ca']);
    await waitFor(async () => !(await weftEps()).some((e) => e.network === 'apinet'), { what: 'the second endpoint freed', timeoutMs: 10_000 });
  });

  await t.test('stop then start makes a new endpoint and frees the old one', async () => {
    const before = (await weftEps()).find((e) => e.ip === '10.91.7.7')!;
    await dockerd!.ok(['stop', '-t', '1', 'cb']);
    await waitFor(async () => !(await weftEps()).some((e) => e.id === before.id), { what: 'the old endpoint freed', timeoutMs: 10_000 });
    await dockerd!.ok(['start', 'cb']);
    const after = (await weftEps()).find((e) => e.ip === '10.91.7.7');
    assert.ok(after && after.id !== before.id, 'a new endpoint');
    assert.match(await dockerd!.ok(['exec', 'ca', 'ping', '-c', '1', '-W', '2', '10.91.7.7']), / 0% packet loss/);
  });

  await t.test('rm -f frees the endpoint', async () => {
    await run('short', 'dnet');
    const ip = await ipOf('short', 'dnet');
    await dockerd!.ok(['rm', '-f', 'short']);
    await waitFor(async () => !(await weftEps()).some((e) => e.ip === ip), { what: 'the endpoint freed', timeoutMs: 10_000 });
  });

  await t.test('a plugin restart: state comes from Weft', async () => {
    await plugin!.stop();
    plugin = await startPlugin();
    await run('cc', 'dnet');
    assert.match(await dockerd!.ok(['exec', 'cc', 'ping', '-c', '1', '-W', '2', await ipOf('ca', 'dnet')]), / 0% packet loss/);
    await dockerd!.ok(['rm', '-f', 'cc']);
    // a container attached before the restart detaches cleanly
    await dockerd!.ok(['stop', '-t', '1', 'ca']);
  });

  await t.test('dockerd SIGTERM with a running container, then a restart: nothing leaks, networks work', async () => {
    assert.ok((await dockerEndpoints()).length > 0, 'b still runs');
    await dockerd!.stop('SIGTERM');
    // DeleteEndpoint without Leave: Weft has nothing left on dk1
    await waitFor(async () => (await weftEps()).length === 0, { what: 'no endpoint left on dk1', timeoutMs: 10_000 });
    assert.equal((await lab!.hosts[0]!.vsctl('list-ports', 'br-int')).split('\n').filter((p) => /^wf/.test(p)).length, 0, 'no container port left on br-int');
    await dockerd!.launch();
    await dockerd!.ok(['start', 'ca']);
    await run('cd', 'dnet');
    assert.match(await dockerd!.ok(['exec', 'cd', 'ping', '-c', '1', '-W', '2', await ipOf('ca', 'dnet')]), / 0% packet loss/);
    await dockerd!.ok(['rm', '-f', 'cd', 'cb']);
  });

  await t.test('an exhausted network is a clean error', async () => {
    await dockerd!.ok(['network', 'create', '-d', 'weft', '--ipam-driver', 'weft', '--subnet', '10.95.0.0/30', 'tiny']);
    await run('t1', 'tiny');
    const r = await dockerd!.cli(['run', '-d', '--name', 't2', '--network', 'tiny', IMAGE, 'sleep', '3600']);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /IpamDriver\.RequestAddress: weft: .*(no free|exhausted|full)/i);
    await dockerd!.cli(['rm', '-f', 't2']);
    await dockerd!.ok(['rm', '-f', 't1']);
    await dockerd!.ok(['network', 'rm', 'tiny']);
  });

  await t.test('Weft unreachable: Docker\'s error names Weft and the call', async () => {
    await plugin!.stop();
    const h = lab!.hosts[0]!;
    plugin = await PluginProcess.start(h.netns, ['--api', 'http://127.0.0.1:9', '--host', lab!.hostName(0), '--ovsdb', h.ovsdb,
      '--token-file', lab!.weft.adminTokenFile, '--docker', dockerd!.url], SOCKET, logFile);
    const r = await dockerd!.cli(['run', '-d', '--name', 'lost', '--network', 'dnet', IMAGE, 'sleep', '3600']);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /IpamDriver\.RequestAddress: weft: .*Weft API at http:\/\/127\.0\.0\.1:9 is unreachable/);
    await dockerd!.cli(['rm', '-f', 'lost']);
    await plugin!.stop();
    plugin = await startPlugin();
  });

  await t.test('a host token for dk1 cannot act for dk2', async () => {
    await plugin!.stop();
    plugin = await startPlugin([], lab!.tokenFiles[0]!, lab!.hostName(1));
    const r = await dockerd!.cli(['run', '-d', '--name', 'spoof', '--network', 'dnet', IMAGE, 'sleep', '3600']);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /this token is for host dk1, not dk2/);
    await dockerd!.cli(['rm', '-f', 'spoof']);
    assert.deepEqual(await weftEps(`host=${lab!.hostName(1)}`), []);
    // the same token, for its own host, works
    await plugin!.stop();
    plugin = await startPlugin([], lab!.tokenFiles[0]!);
    await run('own', 'dnet');
    await dockerd!.ok(['rm', '-f', 'own', 'ca']);
  });
});
