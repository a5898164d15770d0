/**
 * weft-cni with real namespaces, the system Open vSwitch (netdev bridge,
 * fail_mode=secure) and the stock CNI plugins, chained the way libcni does
 * it: weft-cni -> tuning -> bandwidth. The chain runs against the real
 * controller (a child process): its bridge is a registered host's br-int,
 * programmed by Weft's pipeline only (no NORMAL flow), and the two
 * containers reach each other through those flows. The same chain also runs
 * through libcni itself (a small Go cnitool built once per run with Debian's
 * golang-go and golang-github-appc-cni-dev, which setup.sh installs).
 * STATUS, GC, rollback when an endpoint never becomes ready and DEL after
 * the netns is gone run against a fake Weft API that reports an endpoint
 * ready once OVS has given its port an ofport.
 *
 * Skips without OVS, the stock plugins or Go unless CI is set (then it fails).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ovsAvailable, sh, TestBridge, vsctl } from '../helpers/ovs';
import { repoRoot } from '../helpers/paths';
import { waitFor } from '../helpers/wait';
import { WeftProcess } from '../helpers/weft-process';
import { FakeWeftApi, FakeEndpoint } from '../helpers/cni-fake-api';
import { ConfList, PluginError, RuntimeConf, TestRuntime } from '../helpers/cni-runtime';
import * as netlink from '../../northbound/cni/netlink';

const execFileP = promisify(execFile);
const STOCK = '/usr/lib/cni';
const GW = '10.92.0.1';
const hex = (n: number) => randomBytes(n).toString('hex');

let skip: string | undefined;
let br: TestBridge;
let api: FakeWeftApi;
/** The real controller, and the bridge it programs as host1's br-int. */
let weft: WeftProcess;
let brW: TestBridge;
/** host1's host token file (0600): the real controller's chain runs host-scoped. */
let hostTokenFile: string;
let tmp: string;
let runtime: TestRuntime;
const netnses = new Set<string>();
const ports = new Set<string>();
let linksAtStart = new Set<string>();

/** ofport of the OVS interface carrying external_ids:weft-endpoint=id, or null. */
async function ofportOf(id: string): Promise<number | null> {
  const out = await vsctl('--bare', '--columns=ofport', 'find', 'Interface', `external_ids:weft-endpoint=${JSON.stringify(id)}`);
  const n = Number(out.trim());
  return Number.isInteger(n) && n > 0 ? n : null;
}

async function hostLinks(): Promise<string[]> {
  return (JSON.parse(await sh('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname);
}

before(async () => {
  if (!(await ovsAvailable())) {
    assert.ok(!process.env.CI, 'Open vSwitch is not running (CI must not skip; see mininet/scripts/ensure-ovs.sh)');
    skip = 'Open vSwitch is not running (start it with mininet/scripts/ensure-ovs.sh)';
    return;
  }
  for (const p of ['tuning', 'bandwidth']) {
    if (!fs.existsSync(path.join(STOCK, p))) {
      assert.ok(!process.env.CI, `${STOCK}/${p} missing: install containernetworking-plugins`);
      skip = `${STOCK}/${p} missing (apt-get install containernetworking-plugins)`;
      return;
    }
  }
  linksAtStart = new Set(await hostLinks());
  br = await TestBridge.create();
  api = await FakeWeftApi.start({
    hosts: ['host1'],
    networks: [{ name: 'blue', base: '10.92.0', gateway: GW }],
    ready: (ep) => ofportOf(ep.id),
  });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-cni-chain-'));
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  // Runtimes exec the plugin by name from CNI_PATH: the built file must be executable.
  const plugin = path.join(repoRoot(), 'dist/northbound/cni/weft-cni.js');
  fs.chmodSync(plugin, 0o755);
  fs.symlinkSync(plugin, path.join(bin, 'weft-cni'));
  runtime = new TestRuntime([bin, STOCK]);

  weft = await WeftProcess.start({ host: '127.0.0.1' });
  brW = await TestBridge.create({ controllerPort: weft.ofPort, maxBackoffMs: 1000 });
  const reg = await weft.call('POST', '/v1/hosts', { name: 'host1', dpid: await brW.dpid(), underlayIp: '172.31.254.1' });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  await waitFor(() => weft.call<{ connected: boolean }>('GET', '/v1/hosts/host1').then((r) => r.body.connected),
    { what: `${brW.name} connected to Weft`, timeoutMs: 20000 });
  hostTokenFile = (await weft.hostTokenFile('host1'))!;
  const net = await weft.call('POST', '/v1/networks', { name: 'blue', cidr: '10.92.0.0/24', gateway: GW });
  assert.equal(net.status, 201, JSON.stringify(net.body));
});

after(async () => {
  if (skip !== undefined) return;
  for (const ep of api?.created ?? []) ports.add(ep.portName);
  for (const ns of netnses) await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
  for (const p of ports) {
    await vsctl('--if-exists', 'del-port', p).catch(() => undefined);
    await sh('ip', ['link', 'del', p]).catch(() => undefined);
  }
  // Leftovers of a failed run: bandwidth's ifb devices (bwp*) made since the start.
  for (const l of await hostLinks()) {
    if (!linksAtStart.has(l) && /^bwp/.test(l)) await sh('ip', ['link', 'del', l]).catch(() => undefined);
  }
  await br?.destroy();
  await brW?.destroy();
  await weft?.stop();
  await api?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function newNetns(): Promise<string> {
  const name = `wtc${hex(5)}`;
  await sh('ip', ['netns', 'add', name]);
  netnses.add(name);
  return `/run/netns/${name}`;
}

function weftConf(extra: Record<string, unknown> = {}): ConfList['plugins'][number] {
  return { type: 'weft-cni', api: api.url, host: 'host1', network: 'blue', bridge: br.name, mtu: 1400, readyTimeoutMs: 5000, ...extra };
}

/** weft-cni against the real controller, on the bridge Weft programs. */
function realConf(): ConfList['plugins'][number] {
  return weftConf({ api: weft.api, bridge: brW.name, readyTimeoutMs: 15000, tokenFile: hostTokenFile });
}

function chain(): ConfList {
  return {
    cniVersion: '1.0.0',
    name: 'weftnet',
    plugins: [
      realConf(),
      { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.arp_notify': '1' } },
      { type: 'bandwidth', capabilities: { bandwidth: true } },
    ],
  };
}

const BANDWIDTH = { bandwidth: { ingressRate: 50_000_000, ingressBurst: 4_000_000, egressRate: 50_000_000, egressBurst: 4_000_000 } };

/** What the tests read of an endpoint, from the fake or from Weft. */
interface Ep { id: string; portName: string; ip: string; mac: string; state: string; ofport: number | null }

function endpointOf(rt: RuntimeConf): FakeEndpoint {
  const ep = [...api.endpoints.values()].find((e) => e.containerId === rt.containerId && e.ifName === rt.ifName);
  assert.ok(ep, `endpoint of ${rt.containerId}`);
  ports.add(ep.portName);
  return ep;
}

/** The endpoint Weft holds for this attachment (exactly one). */
async function weftEndpointOf(rt: RuntimeConf): Promise<Ep & { ofportRequest: number | null }> {
  const r = await weft.call<Array<Ep & { ofportRequest: number | null }>>('GET',
    `/v1/endpoints?containerId=${encodeURIComponent(rt.containerId)}&ifName=${encodeURIComponent(rt.ifName)}`);
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 1, `one endpoint of ${rt.containerId} in Weft: ${JSON.stringify(r.body)}`);
  ports.add(r.body[0]!.portName);
  return r.body[0]!;
}

async function weftHasEndpoint(id: string): Promise<boolean> {
  return (await weft.call('GET', `/v1/endpoints/${id}`)).status === 200;
}

function inNs(netns: string, cmd: string, args: string[]): Promise<string> {
  return sh('nsenter', [`--net=${netns}`, '--', cmd, ...args]);
}

/** The container end is configured as the endpoint says, TX checksum offload off. */
async function assertContainer(netns: string, ep: Ep, mtu: number): Promise<void> {
  const link = await netlink.getLink('eth0', netns);
  assert.ok(link, `eth0 in ${netns}`);
  assert.deepEqual([link.mac, link.mtu, link.up], [ep.mac, mtu, true]);
  assert.deepEqual(await netlink.getIPv4Addresses('eth0', netns), [`${ep.ip}/24`]);
  const routes = JSON.parse(await inNs(netns, 'ip', ['-j', 'route', 'show', 'default'])) as Array<{ gateway?: string; dev: string }>;
  assert.deepEqual(routes.map((r) => [r.gateway, r.dev]), [[GW, 'eth0']]);
  const features = await netlink.getFeatures('eth0', netns);
  assert.equal(features['tx-checksumming'], false, 'TX checksum offload is off inside the container');
}

/** The OVS port for `ep` on the test bridge, with its external_ids, and the host veth up. */
async function assertPort(ep: Ep, rt: RuntimeConf, mtu: number, bridge = br): Promise<void> {
  assert.equal((await vsctl('port-to-br', ep.portName)).trim(), bridge.name);
  const id = async (k: string) => (await vsctl('get', 'Interface', ep.portName, `external_ids:${k}`)).trim().replace(/^"(.*)"$/, '$1');
  assert.deepEqual(
    [await id('weft-endpoint'), await id('container-id'), await id('iface'), await id('weft-network')],
    [ep.id, rt.containerId, rt.ifName, 'blue'],
  );
  const host = await netlink.getLink(ep.portName);
  assert.ok(host?.up, `host end ${ep.portName} up`);
  assert.equal(host.mtu, mtu);
}

/** Nothing of the attachment is left: container interface, host veth, OVS port, endpoint. */
async function assertGone(netns: string | null, ep: Ep, real = false): Promise<void> {
  if (netns !== null) assert.equal(await netlink.getLink('eth0', netns), null, 'eth0 is gone from the container');
  assert.equal(await netlink.getLink(ep.portName), null, `host veth ${ep.portName} is gone`);
  assert.equal(await ofportOf(ep.id), null, 'OVS port is gone');
  assert.equal((await vsctl('list-ports', (real ? brW : br).name)).split('\n').includes(ep.portName), false);
  assert.equal(real ? await weftHasEndpoint(ep.id) : api.endpoints.has(ep.id), false, 'endpoint deleted');
}

/** A TCP exchange of `bytes` from `fromNs` to `ip:port` in `toNs` (one connection, echoes the byte count). */
async function tcpTransfer(fromNs: string, toNs: string, ip: string, bytes: number): Promise<number> {
  const server = spawn('nsenter', [`--net=${toNs}`, '--', process.execPath, '-e', `
    const srv = require('net').createServer((s) => { let n = 0; s.on('data', (d) => (n += d.length)); s.on('end', () => { s.end(String(n)); srv.close(); }); });
    srv.listen(7777, ${JSON.stringify(ip)}, () => console.log('listening'));`]);
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
      server.on('exit', (c) => reject(new Error(`server exited ${c}`)));
    });
    const { stdout } = await execFileP('nsenter', [`--net=${fromNs}`, '--', process.execPath, '-e', `
      const s = require('net').connect(7777, ${JSON.stringify(ip)}, () => s.end(Buffer.alloc(${bytes}, 7)));
      let r = ''; s.on('data', (d) => (r += d)); s.on('end', () => console.log(r));
      setTimeout(() => { console.error('timeout'); process.exit(1); }, 8000).unref();`], { timeout: 10_000 });
    return Number(stdout.trim());
  } finally {
    server.kill();
  }
}

test('chain weft-cni -> tuning -> bandwidth on a Weft-programmed bridge: ADD, CHECK, ping and TCP through Weft\'s flows, DEL in reverse, twice', async (t) => {
  if (skip) return t.skip(skip);
  const L = chain();
  const rtA: RuntimeConf = { containerId: `ctra${hex(6)}`, netns: await newNetns(), ifName: 'eth0', capabilityArgs: BANDWIDTH };
  const rtB: RuntimeConf = {
    containerId: `ctrb${hex(6)}`, netns: await newNetns(), ifName: 'eth0', capabilityArgs: BANDWIDTH,
    args: [['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'b'], ['IP', '10.92.0.50'], ['MAC', '02:42:0a:5c:00:32']],
  };
  const resA = await runtime.add(L, rtA);
  const epA = await weftEndpointOf(rtA);
  const resB = await runtime.add(L, rtB);
  const epB = await weftEndpointOf(rtB);

  // The result, as it went through the chain.
  const weftOut = JSON.parse(runtime.calls.find((c) => c.type === 'weft-cni' && c.command === 'ADD')!.stdout) as Record<string, unknown>;
  assert.deepEqual(weftOut, {
    cniVersion: '1.0.0',
    interfaces: [{ name: epA.portName, mac: (await netlink.getLink(epA.portName))!.mac }, { name: 'eth0', mac: epA.mac, sandbox: rtA.netns }],
    ips: [{ address: `${epA.ip}/24`, gateway: GW, interface: 1 }],
    routes: [{ dst: '0.0.0.0/0', gw: GW }],
    dns: {},
  });
  const tuningIn = runtime.calls.find((c) => c.type === 'tuning' && c.command === 'ADD')!.stdin;
  assert.deepEqual(tuningIn.prevResult, weftOut, 'tuning got weft-cni\'s result as prevResult');
  assert.deepEqual((resA.interfaces as unknown[]).slice(0, 2), weftOut.interfaces);
  assert.deepEqual(resA.ips, weftOut.ips);
  assert.equal(epA.state, 'ready');
  assert.ok((epA.ofport ?? 0) > 0);
  assert.deepEqual([epB.ip, epB.mac], ['10.92.0.50', '02:42:0a:5c:00:32'], 'CNI_ARGS IP and MAC were honoured');
  assert.deepEqual((resB.ips as Array<{ address: string }>)[0]!.address, '10.92.0.50/24');

  for (const [rt, ep] of [[rtA, epA], [rtB, epB]] as const) {
    await assertContainer(rt.netns, ep, 1400);
    await assertPort(ep, rt, 1400, brW);
    assert.equal((await inNs(rt.netns, 'cat', ['/proc/sys/net/ipv4/conf/eth0/arp_notify'])).trim(), '1', 'tuning set its sysctl');
    assert.match(await sh('tc', ['qdisc', 'show', 'dev', ep.portName]), /qdisc tbf/, 'bandwidth shaped the host end');
  }

  await runtime.check(L, rtA);
  await runtime.check(L, rtB);

  // The bridge is fail_mode=secure and holds Weft's pipeline only: every flow
  // carries a Weft cookie, none switches by NORMAL, and the endpoints' own
  // flows are there for their real port numbers. Ping and TCP (which needs TX
  // checksum offload off with the userspace datapath) go through them.
  const flows = await brW.dumpFlows();
  assert.ok(flows.length > 0 && flows.every((f) => /cookie=0x[0-9a-f]*[1-9a-f]/.test(f)), `only Weft's flows:\n${flows.join('\n')}`);
  assert.ok(!flows.some((f) => /NORMAL/.test(f)), `no NORMAL flow:\n${flows.join('\n')}`);
  for (const ep of [epA, epB]) {
    assert.ok(flows.some((f) => f.includes(`in_port=${ep.ofport},`) && f.includes(ep.mac)), `spoof guard flow of ${ep.portName} (port ${ep.ofport})`);
    assert.ok(flows.some((f) => f.includes(ep.mac) && f.includes(`output:${ep.ofport}`)), `delivery flow of ${ep.portName} (port ${ep.ofport})`);
  }
  await inNs(rtA.netns, 'ping', ['-c', '2', '-W', '2', epB.ip]);
  assert.equal(await tcpTransfer(rtA.netns, rtB.netns, epB.ip, 300_000), 300_000);
  assert.equal(await tcpTransfer(rtB.netns, rtA.netns, epA.ip, 300_000), 300_000);

  await runtime.del(L, rtA);
  await assertGone(rtA.netns, epA, true);
  await runtime.del(L, rtA); // again, now without a cached result
  assert.equal(runtime.calls.filter((c) => c.command === 'DEL' && c.stdin.prevResult === undefined).length, 3);
  await runtime.del(L, rtB);
  await assertGone(rtB.netns, epB, true);
  assert.equal((await weft.call<unknown[]>('GET', '/v1/endpoints?host=host1')).body.length, 0);
  await waitFor(async () => !(await brW.dumpFlows()).some((f) => f.includes(epA.mac) || f.includes(epB.mac)),
    { what: 'the endpoints\' flows removed from the bridge', timeoutMs: 10000 });
});

test('STATUS and GC (1.1.0): GC removes attachments missing from valid-attachments, and orphan ports', async (t) => {
  if (skip) return t.skip(skip);
  const L: ConfList = { cniVersion: '1.1.0', name: 'weftnet', plugins: [weftConf({ mtu: undefined })] };
  const rtC: RuntimeConf = { containerId: `ctrc${hex(6)}`, netns: await newNetns(), ifName: 'eth0' };
  // A second attachment of the same container: kept apart from eth0 by its ifName.
  const rtD: RuntimeConf = { containerId: rtC.containerId, netns: rtC.netns, ifName: 'net1' };
  const conf = runtime.pluginConf(L, L.plugins[0]!, rtC) as Record<string, unknown> & { type: string };
  assert.equal(await runtime.exec('STATUS', { containerId: '', netns: '', ifName: '' }, conf), undefined);

  const resC = await runtime.add(L, rtC);
  const resD = await runtime.add(L, rtD);
  const epC = endpointOf(rtC);
  const epD = endpointOf(rtD);
  assert.deepEqual((resC.interfaces as Array<{ mtu?: number }>).map((i) => i.mtu), [1500, 1500], '1.1.0 results carry the MTU');
  assert.deepEqual(resD.routes, [], 'the second interface leaves the default route to the first');
  await assertContainer(rtC.netns, epC, 1500);
  assert.deepEqual(await netlink.getIPv4Addresses('net1', rtC.netns), [`${epD.ip}/24`]);

  // An orphan: a port this plugin would have made, whose endpoint Weft no longer has.
  const orphan = `wv${hex(5)}`;
  ports.add(orphan);
  await sh('ip', ['link', 'add', orphan, 'type', 'veth', 'peer', 'name', `weft${hex(4)}`]);
  await vsctl('add-port', br.name, orphan, '--', 'set', 'Interface', orphan,
    'external_ids:weft-network=blue', 'external_ids:container-id=ghost', 'external_ids:iface=eth0');
  // Not ours: another network's port and a plain port must survive.
  const other = `wv${hex(5)}`;
  ports.add(other);
  await vsctl('add-port', br.name, other, '--', 'set', 'Interface', other, 'type=internal', 'external_ids:weft-network=red',
    'external_ids:container-id=ghost', 'external_ids:iface=eth0');

  await runtime.exec('GC', { containerId: '', netns: '', ifName: '' }, {
    ...conf, 'cni.dev/valid-attachments': [{ containerID: rtC.containerId, ifname: 'eth0' }],
  });
  await assertGone(null, epD);
  assert.equal(await netlink.getLink('net1', rtC.netns), null);
  await assertContainer(rtC.netns, epC, 1500);
  assert.equal(await netlink.getLink(orphan), null, 'orphan veth deleted');
  const left = (await vsctl('list-ports', br.name)).split('\n');
  assert.ok(!left.includes(orphan), 'orphan port deleted');
  assert.ok(left.includes(other), 'another network\'s port is kept');
  assert.ok(left.includes(epC.portName), 'the valid attachment is kept');
  assert.ok(api.endpoints.has(epC.id));
  await runtime.check(L, rtC);

  await runtime.del(L, rtC);
  await assertGone(rtC.netns, epC);
});

test('an endpoint that never becomes ready fails ADD with code 11 and leaves nothing behind', async (t) => {
  if (skip) return t.skip(skip);
  const stuck = await FakeWeftApi.start({ hosts: ['host1'], networks: [{ name: 'blue', base: '10.93.0', gateway: '10.93.0.1' }], ready: 'never' });
  try {
    const L: ConfList = { cniVersion: '1.0.0', name: 'weftnet', plugins: [weftConf({ api: stuck.url, readyTimeoutMs: 600 })] };
    const rt: RuntimeConf = { containerId: `ctre${hex(6)}`, netns: await newNetns(), ifName: 'eth0' };
    const err = await runtime.add(L, rt).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof PluginError, String(err));
    assert.equal(err.cniError?.code, 11, JSON.stringify(err.cniError));
    assert.match(String(err.cniError?.msg), /not ready after 600 ms/);
    assert.equal(stuck.endpoints.size, 0, 'endpoint deleted');
    assert.equal(stuck.calls('DELETE', '/v1/endpoints/').length, 1);
    assert.equal(await netlink.getLink('eth0', rt.netns), null);
    const left = (await hostLinks()).filter((l) => /^(wv|weft)/.test(l) && !linksAtStart.has(l) && !ports.has(l));
    assert.deepEqual(left, [], 'no veth left on the host');
    assert.equal((await vsctl('list-ports', br.name)).split('\n').filter((p) => /^wv/.test(p) && !ports.has(p)).length, 0, 'no OVS port left');
  } finally {
    for (const ep of stuck.created) ports.add(ep.portName);
    await stuck.close();
  }
});

test('DEL after the container\'s netns is gone still removes the OVS port and the endpoint', async (t) => {
  if (skip) return t.skip(skip);
  const L: ConfList = { cniVersion: '1.0.0', name: 'weftnet', plugins: [weftConf()] };
  const rt: RuntimeConf = { containerId: `ctrf${hex(6)}`, netns: await newNetns(), ifName: 'eth0' };
  await runtime.add(L, rt);
  const ep = endpointOf(rt);
  await sh('ip', ['netns', 'del', path.basename(rt.netns)]);
  netnses.delete(path.basename(rt.netns));
  await waitFor(async () => (await netlink.getLink(ep.portName)) === null, { what: 'the veth pair to die with its netns', timeoutMs: 5000 });
  await runtime.del(L, rt);
  await assertGone(null, ep);
  await runtime.del(L, rt);
});

/**
 * Builds a tiny libcni client (cnitool) with Go and Debian's
 * golang-github-appc-cni-dev into this run's temp folder, or null if they
 * are missing. Go's build cache (GOCACHE, ~/.cache/go-build by default)
 * keeps the rebuild in later runs fast.
 */
async function buildLibcniTool(): Promise<string | null> {
  const src = '/usr/share/gocode/src/github.com/containernetworking/cni/libcni';
  const go = await sh('which', ['go']).catch(() => '');
  if (!go.trim() || !fs.existsSync(src)) return null;
  const dir = path.join(tmp, 'cnitool');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'main.go'), `package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
)

// usage: cnitool add|check|del CONFLIST NETNS CONTAINERID IFNAME; CAP_ARGS (JSON) and CNI_CACHE_DIR from the environment.
func main() {
	list, err := libcni.ConfListFromFile(os.Args[2])
	if err != nil {
		fail(err)
	}
	caps := map[string]interface{}{}
	if s := os.Getenv("CAP_ARGS"); s != "" {
		if err := json.Unmarshal([]byte(s), &caps); err != nil {
			fail(err)
		}
	}
	cn := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), os.Getenv("CNI_CACHE_DIR"), nil)
	rt := &libcni.RuntimeConf{ContainerID: os.Args[4], NetNS: os.Args[3], IfName: os.Args[5],
		Args: [][2]string{{"IgnoreUnknown", "1"}}, CapabilityArgs: caps}
	ctx := context.Background()
	switch os.Args[1] {
	case "add":
		res, err := cn.AddNetworkList(ctx, list, rt)
		if err != nil {
			fail(err)
		}
		_ = res.Print()
	case "check":
		err = cn.CheckNetworkList(ctx, list, rt)
	case "del":
		err = cn.DelNetworkList(ctx, list, rt)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
`);
  const out = path.join(dir, 'cnitool');
  await execFileP('go', ['build', '-o', out, 'main.go'], {
    cwd: dir, timeout: 300_000,
    env: { ...process.env, GO111MODULE: 'off', GOPATH: `${path.join(tmp, 'gp')}:/usr/share/gocode`, GOFLAGS: '' },
  });
  return out;
}

test('the same chain through libcni itself, on the Weft-programmed bridge', async (t) => {
  if (skip) return t.skip(skip);
  const tool = await buildLibcniTool();
  if (tool === null) {
    assert.ok(!process.env.CI, 'go or libcni missing: CI must not skip (mininet/scripts/setup.sh installs golang-go golang-github-appc-cni-dev)');
    return t.skip('go or /usr/share/gocode/.../libcni missing (apt-get install golang-go golang-github-appc-cni-dev)');
  }
  const listFile = path.join(tmp, 'weftnet.conflist');
  fs.writeFileSync(listFile, JSON.stringify(chain()));
  const netns = await newNetns();
  const cid = `ctrg${hex(6)}`;
  const env = { ...process.env, CNI_PATH: runtime.cniPath.join(':'), CNI_CACHE_DIR: path.join(tmp, 'cache'), CAP_ARGS: JSON.stringify(BANDWIDTH) };
  const cni = (cmd: string) => execFileP(tool, [cmd, listFile, netns, cid, 'eth0'], { env, timeout: 60_000 });
  const { stdout } = await cni('add');
  const res = JSON.parse(stdout) as { cniVersion: string; interfaces: Array<{ name: string; sandbox?: string }>; ips: Array<{ address: string; interface: number }> };
  const ep = await weftEndpointOf({ containerId: cid, netns, ifName: 'eth0' });
  assert.equal(ep.state, 'ready');
  assert.equal(res.cniVersion, '1.0.0');
  // bandwidth appends its ifb device (egress shaping) to the interfaces.
  assert.deepEqual(res.interfaces.slice(0, 2).map((i) => [i.name, i.sandbox ?? '']), [[ep.portName, ''], ['eth0', netns]]);
  assert.deepEqual(res.ips.map((i) => [i.address, i.interface]), [[`${ep.ip}/24`, 1]]);
  await assertContainer(netns, ep, 1400);
  await cni('check');
  await cni('del');
  await assertGone(netns, ep, true);
  await cni('del');
});
