/**
 * The emulated-host harness (test/helpers/emu-host.ts): an underlay bridge
 * and two hosts, each a netns with its own ovsdb-server + ovs-vswitchd, and
 * no controller. Checks the bridges, underlay reachability (ICMP and TCP,
 * host <-> host and root <-> host, which is the controller's path), and that
 * destroy leaves nothing behind, also after a failed create.
 * Skips without OVS, except under CI where it fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import {
  cleanupAll,
  Container,
  emuAvailable,
  EmuHost,
  listLinks,
  listNetns,
  pidAlive,
  registered,
  Underlay,
} from '../helpers/emu-host';

const PREFIX = 'wft-';
const BASE_DIR = '/tmp/weft-emu-test';
const SUBNET = '172.31.251.0/24';

function allProcessCmdlines(): string[] {
  const out: string[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      out.push(readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' '));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Node echo server in the root namespace. */
async function rootEchoServer(host: string): Promise<{ port: number; close(): Promise<void> }> {
  const srv = net.createServer((s) => {
    s.on('error', () => undefined);
    s.write('root:');
    s.pipe(s);
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, host, () => resolve());
  });
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => srv.close(() => resolve())),
  };
}

/** Connects from the root namespace, sends `payload`, returns the reply. */
function rootTcpConnect(ip: string, port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, ip, () => s.end(payload));
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

test('emulated container hosts: private OVS per netns on an underlay', async (t) => {
  if (!(await emuAvailable())) {
    assert.ok(!process.env.CI, 'Open vSwitch binaries / root missing (CI must not skip; see mininet/scripts/setup.sh)');
    t.skip('Open vSwitch is not installed (or not root)');
    return;
  }
  const pidsSeen: number[] = [];
  const underlay = new Underlay({ id: 'test', subnet: SUBNET });
  try {
    await underlay.create();
    const hosts: EmuHost[] = [];
    for (const [i, name] of ['h1', 'h2'].entries()) {
      const h = await EmuHost.create({ name, underlay, index: i + 1, prefix: PREFIX, baseDir: BASE_DIR });
      hosts.push(h);
      pidsSeen.push(h.pids.ovsdbServer!, h.pids.ovsVswitchd!);
      const rss = h.rss();
      t.diagnostic(
        `${h.name}: up in ${h.startupMs} ms; RSS ovs-vswitchd ${(rss.ovsVswitchdKb / 1024).toFixed(1)} MiB, ` +
          `ovsdb-server ${(rss.ovsdbServerKb / 1024).toFixed(1)} MiB`,
      );
    }
    const [h1, h2] = hosts as [EmuHost, EmuHost];

    await t.test('names, addresses and datapath ids', () => {
      assert.equal(underlay.name, 'wfutest');
      assert.equal(underlay.ip, '172.31.251.1');
      assert.equal(h1.netns, 'wft-h1');
      assert.equal(h1.ip, '172.31.251.2');
      assert.equal(h2.ip, '172.31.251.3');
      assert.equal(h1.dpid, '0000000000000a01');
      assert.equal(h2.dpid, '0000000000000a02');
      assert.equal(h1.dbSocket, `${BASE_DIR}/h1/db.sock`);
      assert.ok(existsSync(h1.dbSocket));
      assert.ok(existsSync(h1.netnsPath));
      assert.ok(h1.alive() && h2.alive());
    });

    await t.test('each host has br-int (dpid, secure, OF1.3), br-phy and vxlan0', async () => {
      for (const h of hosts) {
        assert.equal((await h.vsctl('get', 'bridge', 'br-int', 'datapath_id')).trim(), `"${h.dpid}"`);
        assert.equal((await h.vsctl('get', 'bridge', 'br-int', 'fail_mode')).trim(), 'secure');
        assert.equal((await h.vsctl('get', 'bridge', 'br-int', 'datapath_type')).trim(), 'netdev');
        const show = await h.vsctl('show');
        for (const s of ['Bridge br-int', 'Bridge br-phy', 'Port vxlan0', 'type: vxlan', 'Port patch-phy', 'Port patch-int', 'Port eth0']) {
          assert.ok(show.includes(s), `${h.name}: ovs-vsctl show lacks ${s}:\n${show}`);
        }
        assert.match(show, new RegExp(`local_ip="${h.ip.replace(/\./g, '\\.')}"`));
        // The OpenFlow view through the host's own mgmt socket.
        const ofShow = await h.ofctl('show');
        assert.match(ofShow, new RegExp(`dpid:${h.dpid}`));
        assert.match(ofShow, /\(vxlan0\)/);
        assert.deepEqual(await h.dumpFlows(), []); // secure, no controller: empty table
        assert.equal(await h.isConnected(), false);
        assert.equal((await h.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'br-phy'])).includes(`${h.cidr} `), true);
        assert.match(await h.appctl('version'), /Open vSwitch/);
      }
      // Two private OVS instances: h1's database knows nothing of h2.
      assert.notEqual(h1.dbSocket, h2.dbSocket);
      assert.deepEqual((await h1.vsctl('list-br')).trim().split('\n'), ['br-int', 'br-phy']);
    });

    await t.test('hosts and the root namespace reach each other over the underlay', async () => {
      await h1.waitPing(h2.ip);
      assert.deepEqual(await h1.ping(h2.ip, { count: 3 }), { sent: 3, received: 3 });
      assert.deepEqual(await h2.ping(h1.ip, { count: 3 }), { sent: 3, received: 3 });
      for (const h of hosts) {
        assert.deepEqual(await h.ping(underlay.ip, { count: 2 }), { sent: 2, received: 2 });
        const r = await new Promise<string>((resolve) =>
          execFile('ping', ['-n', '-c', '2', '-i', '0.2', '-W', '1', h.ip], (_e, stdout) => resolve(stdout)),
        );
        assert.match(r, /2 packets transmitted, 2 received/, `root -> ${h.ip}`);
      }
    });

    await t.test('TCP: a server in the root namespace on the underlay address is reachable from a host', async () => {
      const srv = await rootEchoServer(underlay.ip);
      try {
        for (const h of hosts) assert.equal(await h.tcpConnect(underlay.ip, srv.port, `hi from ${h.name}`), `root:hi from ${h.name}`);
      } finally {
        await srv.close();
      }
    });

    await t.test('TCP: host <-> host and root -> host', async () => {
      const s2 = await h2.serveTcp(0, { banner: 'h2:' });
      try {
        assert.equal(await h1.tcpConnect(h2.ip, s2.port, 'ping'), 'h2:ping');
        assert.equal(await h1.tcpCheck(h2.ip, s2.port), true);
        assert.equal(await h1.tcpCheck(h2.ip, s2.port + 1 === 65536 ? 1 : s2.port + 1, 1000), false);
        assert.equal(await rootTcpConnect(h2.ip, s2.port, 'x'.repeat(100_000)), `h2:${'x'.repeat(100_000)}`);
      } finally {
        await s2.stop();
      }
      assert.equal(pidAlive(s2.pid), false);
    });

    await t.test('a container netns attached to a host', async () => {
      const c = await Container.create(h1, 'test1', { prefix: 'wftc-' });
      assert.equal(c.netnsPath, '/run/netns/wftc-test1');
      assert.ok(existsSync(c.netnsPath));
      assert.match(await c.exec(['ip', '-o', 'link']), /lo:.*UP/);
      assert.deepEqual(await c.addresses(), []);
      assert.deepEqual(await c.ping('127.0.0.1', { count: 1 }), { sent: 1, received: 1 });
      // destroyed with its host (below) or by cleanupAll
    });

    await t.test('a failed create leaves nothing behind', async () => {
      // max_backoff < 1000 violates the schema: ovs-vsctl fails after both daemons run.
      await assert.rejects(
        EmuHost.create({ name: 'hbad', underlay, index: 9, prefix: PREFIX, baseDir: BASE_DIR, controller: `tcp:${underlay.ip}:6653`, maxBackoffMs: 1 }),
        /max_backoff|constraint/i,
      );
      assert.equal(existsSync('/run/netns/wft-hbad'), false);
      assert.equal(existsSync(`${BASE_DIR}/hbad`), false);
      assert.equal((await listLinks()).includes('wft-hbad'), false);
      assert.equal(allProcessCmdlines().some((c) => c.includes(`${BASE_DIR}/hbad/`)), false);
    });

    await t.test('destroy removes a host', async () => {
      const pids = [h2.pids.ovsdbServer!, h2.pids.ovsVswitchd!];
      await h2.destroy();
      await h2.destroy(); // idempotent
      for (const p of pids) assert.equal(pidAlive(p), false);
      assert.equal(existsSync(h2.netnsPath), false);
      assert.equal(existsSync(h2.dir), false);
      assert.equal((await listLinks()).includes(h2.rootLink), false);
    });
  } finally {
    await cleanupAll();
  }

  assert.deepEqual(registered(), []);
  assert.deepEqual((await listNetns()).filter((n) => n.startsWith('wft')), [], 'no netns left');
  assert.deepEqual((await listLinks()).filter((l) => l.startsWith('wft') || l === underlay.name), [], 'no links left');
  for (const p of pidsSeen) assert.equal(pidAlive(p), false, `pid ${p} still alive`);
  assert.equal(allProcessCmdlines().some((c) => c.includes(`${BASE_DIR}/`)), false, 'no process of this run left');
  assert.equal(existsSync(`${BASE_DIR}/h1`), false);
});
