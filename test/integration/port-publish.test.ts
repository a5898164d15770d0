// NAT in OVS conntrack on a host's br-phy. Port publishing (the docker -p
// model): a container's TCP and UDP ports published on its host's address
// through the CNI portMappings capability, reached at hostIP:hostPort from a
// machine outside the hosts; the published port goes away with the
// endpoint. Egress SNAT: the container reaches that outside machine
// masqueraded behind its host's address.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { MultiHostLab } from '../helpers/multihost-lab';
import { waitFor } from '../helpers/wait';
import { Container } from '../helpers/emu-host';
import { sh } from '../helpers/ovs';

const CLIENT_IP = '172.31.246.200';
/** A router on the underlay, and a machine on the far side of it (not on the underlay's link). */
const ROUTER_IP = '172.31.246.254';
const FAR_NET = '198.51.100';
let lab: MultiHostLab | undefined;
before(async () => { lab = await MultiHostLab.start({ id: 'pp', subnet: '172.31.246.0/24', hosts: 1, phy: true }); });
after(async () => { await lab?.stop(); });

/**
 * A node one-liner server inside a namespace; resolves once it prints that
 * it listens. Rejects, with its stderr, if it fails to start or exits
 * first, or if it prints nothing within 10 s (then it is killed).
 */
async function serve(ns: Container, code: string): Promise<{ stop(): Promise<void> }> {
  const p = spawn('ip', ['netns', 'exec', ns.netns, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => { err += d.toString(); process.stderr.write(d); });
  const exited = new Promise<void>((r) => { p.once('close', () => r()); p.once('error', () => r()); });
  const stop = async () => {
    if (p.exitCode === null && p.signalCode === null) p.kill();
    await exited;
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      p.stdout!.once('data', () => resolve());
      p.once('error', (e) => reject(new Error(`server in ${ns.netns} did not start: ${e.message}`)));
      p.once('exit', (code, signal) => reject(new Error(`server in ${ns.netns} exited (${signal ?? code}) before it listened: ${err.trim()}`)));
      timer = setTimeout(() => reject(new Error(`server in ${ns.netns} printed nothing within 10 s: ${err.trim()}`)), 10_000);
    });
  } catch (e) {
    await stop();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return { stop };
}
async function udpAsk(ns: Container, ip: string, port: number, text: string): Promise<string> {
  return ns.exec([process.execPath, '-e', `const s=require('dgram').createSocket('udp4');s.on('message',m=>{process.stdout.write(m);process.exit(0)});` +
    `const go=()=>s.send(${JSON.stringify(text)},${port},'${ip}');go();setInterval(go,300);setTimeout(()=>process.exit(2),4000)`]);
}

test('published TCP and UDP ports reach a container at hostIP:hostPort', async (t) => {
  if (!lab) { t.skip('no OVS'); return; }
  const host = lab.hosts[0];
  await lab.register({ underlayGateway: ROUTER_IP, underlayPrefix: 24 });
  const reg = (await lab.weft.call<{ underlayGateway: string; underlayPrefix: number }>('GET', `/v1/hosts/${lab.hostName(0)}`)).body;
  assert.deepEqual([reg.underlayGateway, reg.underlayPrefix], [ROUTER_IP, 24]);
  await lab.weft.call('POST', '/v1/networks', { name: 'pub', cidr: '10.80.0.0/24' });
  const cap = { capabilities: { portMappings: true } };
  const web = await lab.attach(0, 'web', 'pub', {
    capabilityArgs: { portMappings: [{ hostPort: 9080, containerPort: 80, protocol: 'tcp' }, { hostPort: 5353, containerPort: 53, protocol: 'udp' }] },
  }, cap);
  const ep = (await lab.weft.call<{ portMappings: { hostPort: number }[] }[]>('GET', '/v1/endpoints?containerId=pp-web')).body[0];
  assert.deepEqual(ep.portMappings.map((m) => m.hostPort).sort(), [5353, 9080]);
  const client = await lab.outsideMachine('client', CLIENT_IP);

  await t.test('TCP: client -> host:9080 -> container:80', async () => {
    const srv = await web.ct.serveTcp(80);
    const got = await waitFor(() => client.tcpConnect(host.ip, 9080, 'published!', 2000).catch(() => ''), { what: 'published TCP port answers', timeoutMs: 15000 });
    assert.equal(got, 'published!');
    assert.equal(await client.tcpConnect(host.ip, 9080, 'x'.repeat(20000)), 'x'.repeat(20000));
    await srv.stop();
  });

  await t.test('UDP: client -> host:5353 -> container:53', async () => {
    const srv = await serve(web.ct, `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(53,()=>console.log('up'))`);
    assert.equal(await udpAsk(client, host.ip, 5353, 'dns-ish'), 'dns-ish');
    await srv.stop();
  });

  await t.test('egress SNAT: the container reaches an outside address, seen as its host', async () => {
    const srv = await serve(client, `require('net').createServer(s=>{s.end(s.remoteAddress)}).listen(7777,()=>console.log('up'))`);
    try {
      const seen = await waitFor(() => web.ct.tcpConnect(CLIENT_IP, 7777, 'who am i', 2000).catch(() => ''), { what: 'outside TCP through SNAT', timeoutMs: 15000 });
      assert.equal(seen.replace('::ffff:', ''), host.ip, 'the outside machine sees the host address, not the container\'s');
      assert.equal((await web.ct.ping(CLIENT_IP, { count: 3 })).received, 3);
    } finally {
      await srv.stop();
    }
  });

  await t.test('egress SNAT beyond the underlay\'s link goes through the registered router', async () => {
    const router = await lab!.outsideMachine('router', ROUTER_IP);
    const far = await Container.create(null, 'far', { prefix: 'wfp-' });
    const link = 'wfpprfar';
    await sh('ip', ['link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', far.netns]);
    try {
      await sh('ip', ['link', 'set', link, 'netns', router.netns]);
      await router.exec(['ip', 'addr', 'add', `${FAR_NET}.1/24`, 'dev', link]);
      await router.exec(['ip', 'link', 'set', link, 'up']);
      await router.exec(['ethtool', '-K', link, 'tx', 'off']);
      await router.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      await far.exec(['ip', 'addr', 'add', `${FAR_NET}.2/24`, 'dev', 'eth0']);
      await far.exec(['ip', 'link', 'set', 'eth0', 'up']);
      await far.exec(['ethtool', '-K', 'eth0', 'tx', 'off']);
      await far.exec(['ip', 'route', 'add', 'default', 'via', `${FAR_NET}.1`]);
      const srv = await serve(far, `require('net').createServer(s=>{s.end(s.remoteAddress)}).listen(7778,()=>console.log('up'))`);
      try {
        const seen = await waitFor(() => web.ct.tcpConnect(`${FAR_NET}.2`, 7778, 'far away', 2000).catch(() => ''), { what: 'TCP to the far side of the router', timeoutMs: 15000 });
        assert.equal(seen.replace('::ffff:', ''), host.ip, 'the far machine sees the host address');
        assert.equal((await web.ct.ping(`${FAR_NET}.2`, { count: 3 })).received, 3);
        // the next hop is the router's MAC (one flow for everything off the link), not a flow per far address
        const routerMac = (await router.exec(['cat', '/sys/class/net/eth0/address'])).trim();
        const phy = await host.ofctlOn('br-phy', 'dump-flows');
        assert.ok(phy.split('\n').some((l) => /table=2/.test(l) && /priority=50/.test(l) && l.includes(routerMac)), phy);
        assert.ok(!phy.includes(`nw_dst=${FAR_NET}.2`), 'no flow for the far address itself');
      } finally {
        await srv.stop();
      }
    } finally {
      await sh('ip', ['netns', 'exec', router.netns, 'ip', 'link', 'del', link]).catch(() => {});
    }
  });

  await t.test('an unpublished port is not reachable, and DEL unpublishes', async () => {
    const srv = await web.ct.serveTcp(81);
    const published = await web.ct.serveTcp(80);
    assert.notEqual(await client.tcpConnect(host.ip, 81, 'nope', 1500).catch(() => 'refused'), 'nope');
    // the control: the same client, container and moment, through the published port
    assert.equal(await client.tcpConnect(host.ip, 9080, 'published still'), 'published still');
    await published.stop();
    await srv.stop();
    await lab!.detach(0, 'web', 'pub', web.ct, cap);
    assert.ok(!/tp_dst=9080/.test(await host.ofctlOn('br-phy', 'dump-flows')), 'DNAT flow gone');
  });
});
