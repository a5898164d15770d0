/**
 * hostlab: bring up N emulated container hosts (test/helpers/emu-host.ts)
 * on one underlay bridge, for trying the controller by hand.
 *
 *   mininet/hostlab up 3 --controller tcp:172.31.250.1:6653   # prints JSON
 *   mininet/hostlab up 3 --controller ... --cni-agent       # and a CNI agent per host
 *   mininet/hostlab register --api http://172.31.250.1:8080 --admin-token-file ./weft-admin.token
 *                                      # register h1..hN with Weft, a host token each (0600)
 *   mininet/hostlab attach h1 web blue  # a container "web" on h1 in network blue (after register)
 *   mininet/hostlab detach web
 *   mininet/hostlab status
 *   mininet/hostlab down
 *   mininet/hostlab cleanup            # (or --cleanup) remove every wf* leftover
 *
 * Hosts h1..hN live in netns wf-h1..wf-hN, each with its own ovsdb-server
 * and ovs-vswitchd (files in /tmp/weft-emu/hN), on the bridge `wfulab`
 * (default 172.31.250.1/24; host i is .i+1). The daemons run detached: `up`
 * returns and they keep running until `down`. State: /tmp/weft-emu/hostlab.json.
 * `register` (or `up ... --api URL`) registers every host with Weft through
 * its API (with the admin token) and makes each host its own host token,
 * written mode 0600 to /tmp/weft-emu/hN/weft-host.token: that file is the
 * host's CNI `tokenFile` (the JSON prints it, and a ready CNI plugin
 * configuration per host). `down` revokes those tokens and unregisters the
 * hosts again (best effort: the controller may be gone), after detaching
 * the lab's containers.
 * `attach` does for a container what weft-cni does (register the endpoint
 * with the host's own token, a veth pair from the container's netns
 * <prefix>c-NAME into the host, the host end on br-int with the endpoint's
 * ofport_request, the address, MAC, MTU and default route in the
 * container, then wait until the endpoint is ready), but from the root
 * namespace: a controller whose API listens on loopback (the default) is not
 * reachable from inside the hosts, where weft-cni would run.
 * Needs root and `npm run build`.
 */
import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  cleanupAll,
  DEFAULT_BASE_DIR,
  DEFAULT_HOST_PREFIX,
  destroyHostArtifacts,
  EmuHost,
  EmuHostInfo,
  netnsExists,
  pidAlive,
  pidRssKb,
  sweepLeftovers,
  SweepReport,
  Underlay,
  DEFAULT_UNDERLAY_SUBNET,
} from '../test/helpers/emu-host';
import { sh } from '../test/helpers/ovs';
import { EXTERNAL_IDS } from '../northbound/cni/ovs';

const DEFAULT_UNDERLAY_ID = 'lab';
const STATE_FILE = 'hostlab.json';
const PARALLEL = 4;

const USAGE = `usage: mininet/hostlab <command> [options]

commands:
  up N        start hosts h1..hN (replaces a running lab); prints a JSON description
  down        stop the lab (state file + wf-* names under the lab's prefix)
  register    register h1..hN with Weft (POST /v1/hosts) and make each its host
              token, written 0600 to <base-dir>/hN/weft-host.token; prints the
              JSON again, each host with its tokenFile and a CNI configuration
              (needs --api; the controller must be up)
  attach HOST NAME NETWORK
              a container NAME (netns <prefix>c-NAME, container id hostlab-NAME,
              eth0) on HOST in NETWORK, wired as weft-cni would, with HOST's
              token (after register); waits until it is ready; prints it as JSON
  detach NAME remove that container: its endpoint, OVS port, veth and netns
  status      JSON: which daemons run, memory, controller / manager connected
  cleanup     remove every leftover: netns wf*-*, links wfu* / wf*-*, daemons
              under /tmp/weft-emu*  (same as --cleanup)

options for up:
  --controller T   OpenFlow target for every br-int, e.g. tcp:172.31.250.1:6653
                   (the controller must listen on the underlay address or 0.0.0.0)
  --manager T      OVSDB manager target, e.g. tcp:172.31.250.1:6640
  --subnet CIDR    underlay subnet (default ${DEFAULT_UNDERLAY_SUBNET}; bridge .1, host i .i+1)
  --mtu N          underlay MTU (default 1500; 1600 lets 1500-byte container
                   packets through VXLAN)
  --underlay ID    the underlay bridge is wfuID (default ${DEFAULT_UNDERLAY_ID})
  --max-backoff MS controller reconnect backoff (default 1000)
  --no-tunnel      no vxlan0 on br-int
  --no-patch       no patch ports between br-int and br-phy
  --cni-agent      run \`weft cni-agent\` in each host's netns (socket
                   <base-dir>/hN/cni.sock, log <base-dir>/hN/cni-agent.log);
                   put the socket in the CNI configuration's "agentSocket"
options for up and register:
  --api URL        Weft's API as the hosts reach it, e.g. http://172.31.250.1:8080;
                   with up: register the hosts at once (the controller must be up)
  --admin-token-file F  the admin token to register with (default
                   ./weft-admin.token: what a controller on ./weft.db writes)
common:
  --base-dir DIR   default ${DEFAULT_BASE_DIR}
  --prefix P       host netns prefix (default ${DEFAULT_HOST_PREFIX})
`;

interface LabState {
  version: 1;
  createdAt: string;
  baseDir: string;
  prefix: string;
  underlay: { name: string; subnet: string; ip: string; cidr: string; mtu: number };
  controller: string | null;
  manager: string | null;
  startupMs: { total: number; perHost: Record<string, number> };
  hosts: EmuHostInfo[];
  /** CNI agents by host name (--cni-agent). */
  cniAgents?: Record<string, { pid: number; socket: string; log: string }>;
  /** Weft's API the hosts are registered with (register, or up --api), and the admin token file used. */
  weft?: { api: string; adminTokenFile: string };
  /** Per host: its host token's id and file (0600), and a CNI plugin configuration for it. */
  tokens?: Record<string, { id: string; tokenFile: string }>;
  cni?: Record<string, Record<string, unknown>>;
  /** Containers made by `attach`, by name. */
  containers?: Record<string, LabContainer>;
}

interface LabContainer { host: string; network: string; netns: string; endpointId: string; portName: string; ip: string; mac: string }

/** The name of a host's token file in its folder. */
const HOST_TOKEN_FILE = 'weft-host.token';

/** An admin call to Weft's API. */
async function weftCall(api: string, token: string, method: string, url: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(api.replace(/\/$/, '') + url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await r.text();
  return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

function readAdminToken(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new Error(`cannot read the admin token file ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ` +
      'a controller writes it next to its database (weft-admin.token) or where --admin-token-file says');
  }
}

/**
 * Registers the lab's hosts with Weft (a host already registered is kept),
 * makes each a host token (an older one this lab made is revoked) written
 * 0600 to <host dir>/weft-host.token, and records it all in the state.
 */
async function register(state: LabState, api: string, adminTokenFile: string): Promise<void> {
  const admin = readAdminToken(adminTokenFile);
  const health = await fetch(`${api.replace(/\/$/, '')}/v1/health`, { signal: AbortSignal.timeout(5000) }).catch((e: Error) => e);
  if (health instanceof Error) throw new Error(`Weft's API at ${api} is not reachable: ${health.message}`);
  state.weft = { api, adminTokenFile: path.resolve(adminTokenFile) };
  state.tokens ??= {};
  state.cni ??= {};
  for (const h of state.hosts) {
    const r = await weftCall(api, admin, 'POST', '/v1/hosts', { name: h.name, dpid: h.dpid, underlayIp: h.ip });
    if (r.status === 409) log(`${h.name}: already registered (${String(r.body.message)})`);
    else if (r.status !== 201) throw new Error(`registering ${h.name}: ${r.status} ${JSON.stringify(r.body)}`);
    const old = state.tokens[h.name];
    if (old) await weftCall(api, admin, 'DELETE', `/v1/tokens/${old.id}`).catch(() => undefined);
    const t = await weftCall(api, admin, 'POST', '/v1/tokens', { role: 'host', host: h.name });
    if (t.status !== 201) throw new Error(`a host token for ${h.name}: ${t.status} ${JSON.stringify(t.body)}`);
    const tokenFile = path.join(h.dir, HOST_TOKEN_FILE);
    await rm(tokenFile, { force: true });
    writeFileSync(tokenFile, `${String(t.body.token)}\n`, { mode: 0o600, flag: 'wx' });
    state.tokens[h.name] = { id: String(t.body.id), tokenFile };
    const agent = state.cniAgents?.[h.name];
    state.cni[h.name] = {
      type: 'weft-cni', api, host: h.name, ovsdb: h.ovsdb, bridge: 'br-int', tokenFile, ...(agent ? { agentSocket: agent.socket } : {}),
    };
    log(`${h.name}: registered, host token ${String(t.body.id)} in ${tokenFile}`);
  }
}

/** Revokes the lab's host tokens and unregisters its hosts; best effort (the controller may be gone, hosts may have endpoints). */
async function unregister(state: LabState): Promise<void> {
  if (!state.weft) return;
  let admin: string;
  try {
    admin = readAdminToken(state.weft.adminTokenFile);
  } catch (e) {
    log(`not unregistering the hosts: ${(e as Error).message}`);
    return;
  }
  for (const [name, t] of Object.entries(state.tokens ?? {})) {
    try {
      const r = await weftCall(state.weft.api, admin, 'DELETE', `/v1/tokens/${t.id}`);
      if (r.status !== 204 && r.status !== 404) log(`revoking ${name}'s token: ${r.status} ${JSON.stringify(r.body)}`);
      const h = await weftCall(state.weft.api, admin, 'DELETE', `/v1/hosts/${name}`);
      if (h.status !== 204 && h.status !== 404) log(`unregistering ${name}: ${h.status} ${JSON.stringify(h.body)}`);
    } catch (e) {
      log(`unregistering ${name}: ${(e as Error).message}`);
      return; // the controller is gone: the rest would fail the same way
    }
  }
}

function log(msg: string): void {
  process.stderr.write(`[hostlab] ${msg}\n`);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function readState(baseDir: string): Promise<LabState | null> {
  try {
    return JSON.parse(await readFile(path.join(baseDir, STATE_FILE), 'utf8')) as LabState;
  } catch {
    return null;
  }
}

/** Runs `fn` over `items`, at most `limit` at a time; rejects with the first error after all settled. */
async function pool<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  const errors: unknown[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (e) {
        errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
  return results;
}

async function down(baseDir: string, prefix: string, underlayId = DEFAULT_UNDERLAY_ID): Promise<SweepReport & { hosts: string[]; underlay: string | null }> {
  const state = await readState(baseDir);
  const hosts: string[] = [];
  if (state) {
    for (const name of Object.keys(state.containers ?? {})) await detach(state, name).catch((e: Error) => log(`detaching ${name}: ${e.message}`));
    await unregister(state);
    for (const [name, a] of Object.entries(state.cniAgents ?? {})) {
      if (!pidAlive(a.pid)) continue;
      log(`stopping the CNI agent of ${name} (pid ${a.pid})`);
      process.kill(a.pid, 'SIGTERM');
      for (let i = 0; i < 50 && pidAlive(a.pid); i++) await new Promise((r) => setTimeout(r, 100));
      if (pidAlive(a.pid)) process.kill(a.pid, 'SIGKILL');
    }
    for (const h of state.hosts) {
      log(`stopping ${h.name} (${h.netns})`);
      const pids = [h.pids.ovsVswitchd, h.pids.ovsdbServer].filter((p): p is number => p !== null);
      await destroyHostArtifacts({ netns: h.netns, rootLink: h.rootLink, dir: h.dir, pids });
      hosts.push(h.name);
    }
  }
  const underlayName = state?.underlay.name ?? `wfu${underlayId}`;
  const p = escapeRe(state?.prefix ?? prefix);
  const report = await sweepLeftovers({
    baseDirs: [baseDir],
    netnsRe: new RegExp(`^${p}`),
    linkRe: new RegExp(`^(${p}|${escapeRe(underlayName)}$)`),
  });
  await rm(baseDir, { recursive: true, force: true });
  return { hosts, underlay: underlayName, ...report };
}

async function up(n: number, v: Record<string, string | boolean | undefined>, baseDir: string, prefix: string): Promise<void> {
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new Error(`up: N must be 1..200, got ${String(n)}`);
  if ((await readState(baseDir)) !== null || netnsExists(`${prefix}h1`)) {
    log('a lab is already up: taking it down first');
    await down(baseDir, prefix, (v.underlay as string | undefined) ?? DEFAULT_UNDERLAY_ID);
  }
  const t0 = performance.now();
  await mkdir(baseDir, { recursive: true });
  const underlay = new Underlay({
    id: (v.underlay as string | undefined) ?? DEFAULT_UNDERLAY_ID,
    subnet: (v.subnet as string | undefined) ?? DEFAULT_UNDERLAY_SUBNET,
    mtu: v.mtu !== undefined ? Number(v.mtu) : undefined,
  });
  const controller = (v.controller as string | undefined) ?? null;
  const manager = (v.manager as string | undefined) ?? null;
  try {
    log(`underlay ${underlay.name} ${underlay.cidr} mtu ${underlay.mtu}`);
    await underlay.create();
    const names = Array.from({ length: n }, (_, i) => `h${i + 1}`);
    const hosts = await pool(names, PARALLEL, async (name) => {
      const h = await EmuHost.create({
        name,
        underlay,
        index: Number(name.slice(1)),
        prefix,
        baseDir,
        controller: controller ?? undefined,
        manager: manager ?? undefined,
        maxBackoffMs: v['max-backoff'] !== undefined ? Number(v['max-backoff']) : undefined,
        tunnel: v['no-tunnel'] !== true,
        patch: v['no-patch'] !== true,
      });
      const rss = h.rss();
      log(`${h.name}: ${h.netns} ${h.ip} dpid ${h.dpid}, up in ${h.startupMs} ms, RSS ${(rss.totalKb / 1024).toFixed(1)} MiB`);
      return h;
    });
    const cniAgents: NonNullable<LabState['cniAgents']> = {};
    if (v['cni-agent'] === true) {
      for (const h of hosts) {
        const socket = path.join(h.dir, 'cni.sock');
        const logFile = path.join(h.dir, 'cni-agent.log');
        const out = openSync(logFile, 'a');
        const p = spawn('ip', ['netns', 'exec', h.netns, process.execPath, path.join(__dirname, '../northbound/cli/weft.js'), 'cni-agent', '--socket', socket],
          { detached: true, stdio: ['ignore', out, out] });
        p.unref();
        closeSync(out);
        for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
        if (!existsSync(socket)) throw new Error(`the CNI agent of ${h.name} did not start (see ${logFile})`);
        cniAgents[h.name] = { pid: p.pid!, socket, log: logFile };
        log(`${h.name}: CNI agent pid ${p.pid}, socket ${socket}`);
      }
    }
    const state: LabState = {
      version: 1,
      createdAt: new Date().toISOString(),
      baseDir,
      prefix,
      underlay: { name: underlay.name, subnet: underlay.subnet.cidr, ip: underlay.ip, cidr: underlay.cidr, mtu: underlay.mtu },
      controller,
      manager,
      startupMs: { total: Math.round(performance.now() - t0), perHost: Object.fromEntries(hosts.map((h) => [h.name, h.startupMs])) },
      hosts: hosts.map((h) => h.info()),
      ...(Object.keys(cniAgents).length ? { cniAgents } : {}),
    };
    if (v.api !== undefined) await register(state, v.api as string, (v['admin-token-file'] as string | undefined) ?? 'weft-admin.token');
    await writeFile(path.join(baseDir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
    process.stdout.write(JSON.stringify(state, null, 2) + '\n');
  } catch (e) {
    log(`up failed, removing what was made: ${(e as Error).message}`);
    await cleanupAll().catch((e2: unknown) => log(`cleanup: ${(e2 as Error).message}`));
    throw e;
  }
}

const CONTAINER_NAME = /^[a-z][a-z0-9]{0,7}$/;

/** A container on a lab host, wired as weft-cni would (see the header), with the host's own token. */
async function attach(state: LabState, hostName: string, name: string, network: string): Promise<LabContainer> {
  if (!CONTAINER_NAME.test(name)) throw new Error(`attach: the container name must be 1-8 of a-z0-9, a letter first (got "${name}")`);
  const h = state.hosts.find((x) => x.name === hostName);
  if (!h) throw new Error(`attach: no host ${hostName} in this lab (${state.hosts.map((x) => x.name).join(', ')})`);
  const t = state.tokens?.[hostName];
  if (!state.weft || !t) throw new Error('attach: the hosts are not registered with Weft (mininet/hostlab register --api URL first)');
  if (state.containers?.[name]) throw new Error(`attach: container ${name} exists (on ${state.containers[name]!.host}); detach it first`);
  const token = readFileSync(t.tokenFile, 'utf8').trim();
  const r = await weftCall(state.weft.api, token, 'POST', '/v1/endpoints', { containerId: `hostlab-${name}`, ifName: 'eth0', host: hostName, network });
  if (r.status !== 201 && r.status !== 200) throw new Error(`attach: registering the endpoint: ${r.status} ${JSON.stringify(r.body)}`);
  const ep = r.body as { id: string; portName: string; ofportRequest: number | null; ip: string; prefixLength: number; gateway: string | null; mac: string; mtu: number };
  const c: LabContainer = { host: hostName, network, netns: `${state.prefix}c-${name}`, endpointId: ep.id, portName: ep.portName, ip: ep.ip, mac: ep.mac };
  state.containers ??= {};
  state.containers[name] = c;
  await writeFile(path.join(state.baseDir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
  const inHost = (cmd: string[]) => sh('ip', ['netns', 'exec', h.netns, ...cmd]);
  const inCt = (cmd: string[]) => sh('ip', ['netns', 'exec', c.netns, ...cmd]);
  try {
    if (netnsExists(c.netns)) await sh('ip', ['netns', 'del', c.netns]);
    await sh('ip', ['netns', 'add', c.netns]);
    await inCt(['ip', 'link', 'set', 'lo', 'up']);
    await inCt(['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    await sh('ip', ['link', 'add', ep.portName, 'netns', h.netns, 'mtu', String(ep.mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c.netns]);
    await inHost(['ip', 'link', 'set', ep.portName, 'up']);
    // TCP through the userspace datapath needs checksums filled in (LAB.md)
    await inHost(['ethtool', '-K', ep.portName, 'tx', 'off']);
    const ids = { [EXTERNAL_IDS.endpoint]: ep.id, [EXTERNAL_IDS.containerId]: `hostlab-${name}`, [EXTERNAL_IDS.iface]: 'eth0', [EXTERNAL_IDS.network]: network };
    await sh('ovs-vsctl', [`--db=unix:${h.dbSocket}`, '--timeout=10', 'add-port', 'br-int', ep.portName, '--', 'set', 'interface', ep.portName,
      ...(ep.ofportRequest ? [`ofport_request=${ep.ofportRequest}`] : []), ...Object.entries(ids).map(([k, v]) => `external_ids:${k}="${v}"`)]);
    await inCt(['ip', 'link', 'set', 'eth0', 'address', ep.mac, 'mtu', String(ep.mtu), 'up']);
    await inCt(['ethtool', '-K', 'eth0', 'tx', 'off']);
    await inCt(['ip', 'addr', 'add', `${ep.ip}/${ep.prefixLength}`, 'dev', 'eth0']);
    if (ep.gateway) await inCt(['ip', 'route', 'add', 'default', 'via', ep.gateway]);
    const w = await weftCall(state.weft.api, token, 'GET', `/v1/endpoints/${ep.id}?wait=ready&timeoutMs=8000`);
    if (w.body.state !== 'ready') throw new Error(`endpoint ${ep.id} is not ready after 8 s (${String(w.body.state)})`);
  } catch (e) {
    await detach(state, name).catch(() => undefined);
    throw e;
  }
  log(`${name}: ${c.ip} on ${hostName} in ${network} (endpoint ${ep.id}, netns ${c.netns})`);
  return c;
}

/** Removes a container `attach` made: endpoint (best effort: the controller may be gone), OVS port, veth, netns. */
async function detach(state: LabState, name: string): Promise<void> {
  const c = state.containers?.[name];
  if (!c) throw new Error(`detach: no container ${name} in this lab`);
  const h = state.hosts.find((x) => x.name === c.host);
  const t = state.tokens?.[c.host];
  if (state.weft && t && existsSync(t.tokenFile)) {
    const r = await weftCall(state.weft.api, readFileSync(t.tokenFile, 'utf8').trim(), 'DELETE', `/v1/endpoints/${c.endpointId}`).catch((e: Error) => ({ status: 0, body: { message: e.message } }));
    if (r.status !== 204 && r.status !== 404) log(`${name}: removing endpoint ${c.endpointId}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  if (h) {
    await sh('ovs-vsctl', [`--db=unix:${h.dbSocket}`, '--timeout=5', '--if-exists', 'del-port', 'br-int', c.portName]).catch(() => undefined);
    await sh('ip', ['-n', h.netns, 'link', 'del', c.portName]).catch(() => undefined);
  }
  if (netnsExists(c.netns)) await sh('ip', ['netns', 'del', c.netns]);
  delete state.containers![name];
  await writeFile(path.join(state.baseDir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
  log(`${name}: detached`);
}

async function connected(dbSocket: string, table: 'controller' | 'manager'): Promise<boolean | null> {
  try {
    const out = await sh('ovs-vsctl', [`--db=unix:${dbSocket}`, '--timeout=2', '--bare', '--columns=is_connected', 'list', table]);
    const vals = out.split('\n').map((l) => l.trim()).filter(Boolean);
    return vals.length === 0 ? null : vals.includes('true');
  } catch {
    return null;
  }
}

async function status(baseDir: string): Promise<number> {
  const state = await readState(baseDir);
  if (!state) {
    process.stdout.write(JSON.stringify({ up: false, baseDir }, null, 2) + '\n');
    return 3;
  }
  let healthy = true;
  const hosts = [];
  for (const h of state.hosts) {
    const dbAlive = h.pids.ovsdbServer !== null && pidAlive(h.pids.ovsdbServer);
    const vsAlive = h.pids.ovsVswitchd !== null && pidAlive(h.pids.ovsVswitchd);
    const ns = netnsExists(h.netns);
    if (!dbAlive || !vsAlive || !ns) healthy = false;
    hosts.push({
      name: h.name,
      netns: h.netns,
      netnsExists: ns,
      ip: h.ip,
      dpid: h.dpid,
      ovsdbServer: { pid: h.pids.ovsdbServer, alive: dbAlive, rssKb: dbAlive ? pidRssKb(h.pids.ovsdbServer!) : 0 },
      ovsVswitchd: { pid: h.pids.ovsVswitchd, alive: vsAlive, rssKb: vsAlive ? pidRssKb(h.pids.ovsVswitchd!) : 0 },
      controller: h.controller,
      controllerConnected: dbAlive ? await connected(h.dbSocket, 'controller') : null,
      manager: h.manager,
      managerConnected: dbAlive ? await connected(h.dbSocket, 'manager') : null,
      ...(state.cniAgents?.[h.name] ? { cniAgent: { ...state.cniAgents[h.name], alive: pidAlive(state.cniAgents[h.name]!.pid) } } : {}),
      ...(state.tokens?.[h.name] ? { tokenFile: state.tokens[h.name]!.tokenFile } : {}),
    });
  }
  process.stdout.write(JSON.stringify({ up: true, healthy, underlay: state.underlay, createdAt: state.createdAt, ...(state.weft ? { weft: state.weft } : {}), hosts }, null, 2) + '\n');
  return healthy ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      controller: { type: 'string' },
      manager: { type: 'string' },
      subnet: { type: 'string' },
      mtu: { type: 'string' },
      'max-backoff': { type: 'string' },
      'no-tunnel': { type: 'boolean' },
      'no-patch': { type: 'boolean' },
      'cni-agent': { type: 'boolean' },
      api: { type: 'string' },
      'admin-token-file': { type: 'string' },
      'base-dir': { type: 'string' },
      prefix: { type: 'string' },
      underlay: { type: 'string' },
      cleanup: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const baseDir = path.resolve(v['base-dir'] ?? DEFAULT_BASE_DIR);
  const prefix = v.prefix ?? DEFAULT_HOST_PREFIX;
  const cmd = v.cleanup ? 'cleanup' : positionals[0];
  if (v.help || cmd === undefined || cmd === 'help') {
    process.stdout.write(USAGE);
    return v.help || cmd === 'help' ? 0 : 2;
  }
  if (process.getuid?.() !== 0) throw new Error('hostlab needs root (network namespaces, links)');
  switch (cmd) {
    case 'up':
      await up(Number(positionals[1] ?? '2'), v, baseDir, prefix);
      return 0;
    case 'register': {
      const state = await readState(baseDir);
      if (!state) throw new Error('register: no lab is up (mininet/hostlab up N first)');
      if (v.api === undefined) throw new Error('register: --api URL is required');
      await register(state, v.api, v['admin-token-file'] ?? 'weft-admin.token');
      await writeFile(path.join(baseDir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
      process.stdout.write(JSON.stringify(state, null, 2) + '\n');
      return 0;
    }
    case 'attach': {
      const state = await readState(baseDir);
      if (!state) throw new Error('attach: no lab is up (mininet/hostlab up N first)');
      const [host, name, network] = positionals.slice(1);
      if (!host || !name || !network) throw new Error('usage: mininet/hostlab attach HOST NAME NETWORK');
      process.stdout.write(JSON.stringify({ name, ...(await attach(state, host, name, network)) }, null, 2) + '\n');
      return 0;
    }
    case 'detach': {
      const state = await readState(baseDir);
      if (!state) throw new Error('detach: no lab is up');
      if (!positionals[1]) throw new Error('usage: mininet/hostlab detach NAME');
      await detach(state, positionals[1]);
      return 0;
    }
    case 'down':
      process.stdout.write(JSON.stringify(await down(baseDir, prefix, v.underlay ?? DEFAULT_UNDERLAY_ID), null, 2) + '\n');
      return 0;
    case 'status':
      return status(baseDir);
    case 'cleanup':
      process.stdout.write(JSON.stringify(await sweepLeftovers(), null, 2) + '\n');
      return 0;
    default:
      process.stderr.write(`hostlab: unknown command ${cmd}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`hostlab: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
