// Weft's web UI (served at / by northbound/api/routes/ui.ts, bundled by
// esbuild into dist/ui/app.js). Log in with a token (kept in this tab's
// sessionStorage only); then four views over the API:
//  - topology: from the event stream (snapshot on open, again after each
//    topology event), the registered hosts with their reconciler state,
//    their endpoints, tunnels with their health (GET /v1/tunnels and
//    `tunnel` events; without that route, every host pair, unknown);
//  - endpoints with their state and counters (read live, every 5 s while shown);
//  - a host's flows, table by table, with the pipeline's table names;
//  - a trace form that draws the path and the verdict (computed, and live when asked).
import { Api, HttpError, forgetToken, saveToken, savedToken, tokenLooksValid } from './api';
import { $, bytes, clear, debounce, h } from './dom';
import { buildModel, endpointKey, hostKey, layout } from './model';
import { drawTopology, TOPO_H, TOPO_W } from './topology-view';
import { drawTrace, pathKeys } from './trace-view';
import { BR_INT } from '../../controller/pipeline/br-int';
import { BR_PHY } from '../../controller/pipeline/br-phy';
import type { Counters, Endpoint, Flow, HostStatus, Network, RegisteredHost, Snapshot, TraceAnswer, Tunnel, WeftEvent } from './types';

type View = 'topology' | 'endpoints' | 'flows' | 'trace';
const VIEWS: View[] = ['topology', 'endpoints', 'flows', 'trace'];
const TABLE_NAMES: Record<'br-int' | 'br-phy', string[]> = { 'br-int': BR_INT.tables.map((t) => t.name as string), 'br-phy': BR_PHY.tables.map((t) => t.name as string) };

const state = {
  snapshot: { switches: [], links: [], hosts: [] } as Snapshot,
  hosts: [] as RegisteredHost[],
  status: new Map<string, HostStatus>(),
  endpoints: [] as Endpoint[],
  networks: [] as Network[],
  counters: new Map<string, Counters | string>(),
  /** null: the API has no GET /v1/tunnels (no health data). */
  tunnels: null as Tunnel[] | null,
  /** `tunnel` events since the last GET /v1/tunnels, by "from|to". */
  tunnelUpdates: new Map<string, Tunnel>(),
  onPath: new Set<string>(),
  view: 'topology' as View,
  selected: null as string | null,
};

let api: Api | null = null;
let stream: { snapshot(): void; close(): void } | null = null;
let countersTimer: ReturnType<typeof setInterval> | undefined;

function report(e: unknown, where: string): void {
  const msg = e instanceof HttpError ? `${e.status} ${e.message}` : (e as Error).message;
  const bar = $('status-line');
  bar.textContent = `${where}: ${msg}`;
  bar.className = 'status-line error';
}

// ---- login

function showLogin(message = ''): void {
  stream?.close(); stream = null; api = null;
  if (countersTimer) clearInterval(countersTimer);
  $('app').hidden = true;
  $('login').hidden = false;
  for (const id of ['tabs', 'conn', 'logout']) $(id).hidden = true;
  $('login-error').textContent = message;
  ($('token') as HTMLInputElement).value = '';
  ($('token') as HTMLInputElement).focus();
}

async function login(token: string): Promise<void> {
  if (!tokenLooksValid(token)) { showLogin('that does not look like a Weft token'); return; }
  const a = new Api(token);
  try {
    await a.get('/v1/hosts?kind=registered');
    await a.get('/v1/switches'); // admin only: a host token gets 403
  } catch (e) {
    forgetToken();
    showLogin(e instanceof HttpError && e.status === 401 ? 'the token is not valid' : e instanceof HttpError && e.status === 403 ? `this token may not read everything (${e.message}): the UI needs an admin token` : `cannot reach the API: ${(e as Error).message}`);
    return;
  }
  saveToken(token);
  a.onUnauthorized = () => { forgetToken(); showLogin('the token is no longer valid: log in again'); };
  api = a;
  $('login').hidden = true;
  $('app').hidden = false;
  for (const id of ['tabs', 'conn', 'logout']) $(id).hidden = false;
  show(viewFromHash());
  await refreshAll();
  stream = a.events(onEvent, (s) => {
    const c = $('conn');
    c.textContent = s === 'open' ? 'live' : 'reconnecting…';
    c.className = `conn conn-${s}`;
  });
}

// ---- data

async function refreshHosts(): Promise<void> {
  if (!api) return;
  state.hosts = (await api.get<RegisteredHost[]>('/v1/hosts?kind=registered')).filter((x) => x.kind === 'registered');
  const status = await Promise.all(state.hosts.slice(0, 64).map((x) => api!.get<HostStatus>(`/v1/hosts/${encodeURIComponent(x.name)}/status`).catch(() => undefined)));
  state.status = new Map(status.filter((x): x is HostStatus => !!x).map((x) => [x.name, x]));
  try {
    state.tunnels = (await api.get<{ tunnels: Tunnel[] }>('/v1/tunnels')).tunnels;
    state.tunnelUpdates.clear();
  } catch (e) {
    if (!(e instanceof HttpError && e.status === 404)) throw e;
    state.tunnels = null; // not there (yet): no health data
  }
}

async function refreshEndpoints(): Promise<void> {
  if (!api) return;
  [state.endpoints, state.networks] = await Promise.all([api.get<Endpoint[]>('/v1/endpoints'), api.get<Network[]>('/v1/networks')]);
}

async function refreshAll(): Promise<void> {
  try {
    await Promise.all([refreshHosts(), refreshEndpoints()]);
    $('status-line').textContent = '';
    render();
  } catch (e) { report(e, 'loading'); }
}

const refreshSoon = debounce(() => { void refreshAll(); }, 250);
const snapshotSoon = debounce(() => stream?.snapshot(), 250);

function onEvent(e: WeftEvent): void {
  if (e.type === 'snapshot') {
    state.snapshot = { switches: (e.switches as Snapshot['switches']) ?? [], links: (e.links as Snapshot['links']) ?? [], hosts: (e.hosts as Snapshot['hosts']) ?? [] };
    refreshSoon();
    return;
  }
  if (e.type === 'tunnel') {
    // one direction's new state ({type, ts, tunnel: {...}}; a flat event is read the same)
    const t = ((e.tunnel as Tunnel | undefined) ?? (e as unknown as Tunnel));
    if (typeof t.from !== 'string' || typeof t.to !== 'string') return;
    state.tunnelUpdates.set(`${t.from}|${t.to}`, { from: t.from, to: t.to, fromIp: t.fromIp, toIp: t.toIp, state: t.state, rttMs: t.rttMs ?? null, lastSeen: t.lastSeen ?? null });
    renderTopology();
    return;
  }
  if (/^(switch|link|port|host\.(added|moved|removed))/.test(e.type)) snapshotSoon();
  if (/^(switch|host\.|endpoint\.|network\.)/.test(e.type)) refreshSoon();
}

// ---- views

function viewFromHash(): View {
  const v = location.hash.replace(/^#/, '') as View;
  return VIEWS.includes(v) ? v : 'topology';
}

function show(v: View): void {
  state.view = v;
  for (const x of VIEWS) {
    $(`view-${x}`).hidden = x !== v;
    $(`tab-${x}`).classList.toggle('active', x === v);
  }
  if (countersTimer) { clearInterval(countersTimer); countersTimer = undefined; }
  if (v === 'endpoints') {
    void refreshCounters();
    countersTimer = setInterval(() => { void refreshCounters(); }, 5000);
  }
  if (v === 'flows') fillFlowHosts();
  if (v === 'trace') fillTraceForm();
}

function render(): void {
  renderTopology();
  renderHostsTable();
  renderEndpoints();
  if (state.view === 'flows') fillFlowHosts();
  if (state.view === 'trace') fillTraceForm();
}

function renderTopology(): void {
  const g = buildModel({ snapshot: state.snapshot, hosts: state.hosts, status: state.status, endpoints: state.endpoints, tunnels: state.tunnels, tunnelUpdates: [...state.tunnelUpdates.values()] });
  layout(g, TOPO_W, TOPO_H);
  drawTopology($('topology') as unknown as SVGSVGElement, g, pick, state.onPath);
  const hostDpids = new Set(state.hosts.flatMap((x) => [x.dpid, x.phyDpid]));
  $('topo-summary').textContent = `${state.hosts.length} container hosts, ${state.endpoints.length} endpoints, ${state.snapshot.switches.filter((x) => !hostDpids.has(x.dpid)).length} other switches, ${state.snapshot.hosts.length} learned hosts`
    + (state.tunnels === null ? ' — tunnel health: no data from this controller (GET /v1/tunnels), tunnels shown between every host pair' : '');
  renderDetails();
}

function renderHostsTable(): void {
  const t = $('hosts-table') as HTMLTableElement;
  clear(t);
  t.append(h('thead', {}, h('tr', {}, ...['host', 'underlay', 'bridge', 'connected', 'synced', 'flows confirmed/desired', 'last sync', 'last error'].map((c) => h('th', {}, c)))));
  const body = h('tbody');
  for (const x of state.hosts) {
    const st = state.status.get(x.name);
    for (const b of st?.bridges ?? []) {
      body.append(h('tr', { 'data-host': x.name, 'data-bridge': b.bridge },
        h('td', {}, x.name), h('td', {}, x.underlayIp), h('td', {}, b.bridge), h('td', { class: b.connected ? 'ok' : 'bad' }, b.connected ? 'yes' : 'no'),
        h('td', { class: b.synced ? 'ok' : 'warn' }, b.synced ? 'yes' : 'no'), h('td', {}, `${b.flows.confirmed}/${b.flows.desired}`),
        h('td', {}, b.lastSyncAt ? `${new Date(b.lastSyncAt).toLocaleTimeString()} (${b.lastSyncMs ?? '?'} ms)` : '-'), h('td', { class: 'mono' }, b.lastError ?? '')));
    }
  }
  t.append(body);
}

function pick(key: string): void {
  state.selected = key;
  renderDetails();
}

function renderDetails(): void {
  const d = $('details');
  clear(d);
  const key = state.selected;
  if (!key) { d.append(h('p', { class: 'hint' }, 'Click a host, switch or endpoint for details.')); return; }
  if (key.startsWith('host:')) {
    const x = state.hosts.find((y) => hostKey(y.name) === key);
    if (!x) return;
    const flows = h('button', { type: 'button' }, 'flows');
    flows.addEventListener('click', () => { location.hash = 'flows'; fillFlowHosts(); ($('flows-host') as HTMLSelectElement).value = `host:${x.name}`; void loadFlows(); });
    d.append(h('h3', {}, `host ${x.name}`), h('p', {}, `underlay ${x.underlayIp}, br-int ${x.dpid}${x.phyDpid ? `, br-phy ${x.phyDpid}` : ''}, ${x.endpoints} endpoints`));
    for (const b of state.status.get(x.name)?.bridges ?? []) d.append(h('p', {}, `${b.bridge}: ${b.connected ? 'connected' : 'not connected'}, ${b.synced ? 'synced' : 'not synced'}, ${b.flows.confirmed}/${b.flows.desired} flows${b.lastError ? `, last error: ${b.lastError}` : ''}`));
    d.append(flows);
  } else if (key.startsWith('ep:')) {
    const e = state.endpoints.find((y) => endpointKey(y.id) === key);
    if (!e) return;
    const trace = h('button', { type: 'button' }, 'trace from here');
    trace.addEventListener('click', () => { location.hash = 'trace'; fillTraceForm(); ($('trace-from') as HTMLSelectElement).value = e.id; });
    d.append(h('h3', {}, `endpoint ${e.containerId}`), h('p', { class: 'mono' }, e.id), h('p', {}, `${e.ip} ${e.mac} on ${e.host}, network ${e.network}, ${e.state}, port ${e.portName} (ofport ${e.ofport ?? '-'})`), trace);
  } else if (key.startsWith('sw:')) {
    const sw = state.snapshot.switches.find((y) => `sw:${y.dpid}` === key);
    if (!sw) return;
    d.append(h('h3', {}, `switch ${sw.dpid}`), h('p', {}, `from ${sw.remote}`), h('ul', {}, ...sw.ports.map((p) => h('li', {}, `${p.port_no} ${p.name} ${p.status}`))));
  }
}

function renderEndpoints(): void {
  const t = $('endpoints-table') as HTMLTableElement;
  clear(t);
  t.append(h('thead', {}, h('tr', {}, ...['container', 'if', 'host', 'network', 'IP', 'MAC', 'state', 'ofport', 'out packets', 'out bytes', 'in packets', 'in bytes'].map((c) => h('th', {}, c)))));
  const body = h('tbody');
  for (const e of state.endpoints) {
    const c = state.counters.get(e.id);
    const n = (f: (x: Counters) => string) => (typeof c === 'object' ? f(c) : '–');
    body.append(h('tr', { 'data-id': e.id, title: typeof c === 'string' ? `counters: ${c}` : e.id },
      h('td', {}, e.containerId), h('td', {}, e.ifName), h('td', {}, e.host), h('td', {}, e.network), h('td', { class: 'mono' }, e.ip), h('td', { class: 'mono' }, e.mac),
      h('td', { class: `state state-${e.state}` }, e.state), h('td', {}, e.ofport === null ? '-' : String(e.ofport)),
      h('td', { class: 'num out-packets' }, n((x) => String(x.out.packets))), h('td', { class: 'num out-bytes' }, n((x) => bytes(x.out.bytes))),
      h('td', { class: 'num in-packets' }, n((x) => String(x.in.packets))), h('td', { class: 'num in-bytes' }, n((x) => bytes(x.in.bytes)))));
  }
  t.append(body);
  $('endpoints-summary').textContent = `${state.endpoints.length} endpoints (${state.endpoints.filter((e) => e.state === 'ready').length} ready); counters read from the switches every 5 s`;
}

/** Counters of the first 200 endpoints, 4 requests at a time. */
async function refreshCounters(): Promise<void> {
  if (!api) return;
  const list = state.endpoints.slice(0, 200);
  let next = 0;
  const worker = async () => {
    while (next < list.length && api) {
      const e = list[next++]!;
      try { state.counters.set(e.id, await api.get<Counters>(`/v1/endpoints/${encodeURIComponent(e.id)}/counters`)); } catch (err) { state.counters.set(e.id, (err as Error).message); }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  if (state.view === 'endpoints') renderEndpoints();
}

// ---- flows

function fillFlowHosts(): void {
  const sel = $('flows-host') as HTMLSelectElement;
  const had = sel.value;
  clear(sel);
  for (const x of state.hosts) sel.append(h('option', { value: `host:${x.name}` }, `host ${x.name}`));
  const hostDpids = new Set(state.hosts.flatMap((x) => [x.dpid, x.phyDpid]));
  for (const sw of state.snapshot.switches) if (!hostDpids.has(sw.dpid)) sel.append(h('option', { value: `sw:${sw.dpid}` }, `switch ${sw.dpid}`));
  if (had && [...sel.options].some((o) => o.value === had)) sel.value = had;
}

async function loadFlows(): Promise<void> {
  if (!api) return;
  const target = ($('flows-host') as HTMLSelectElement).value;
  const bridge = ($('flows-bridge') as HTMLSelectElement).value as 'br-int' | 'br-phy';
  const out = $('flows');
  clear(out);
  if (!target) { out.append(h('p', { class: 'hint' }, 'no host or switch to show')); return; }
  let dpid: string, names: string[] = [], label: string;
  if (target.startsWith('host:')) {
    const x = state.hosts.find((y) => `host:${y.name}` === target);
    if (!x) return;
    const d = bridge === 'br-int' ? x.dpid : x.phyDpid;
    if (!d) { out.append(h('p', { class: 'error' }, `host ${x.name} has no ${bridge}`)); return; }
    dpid = d; names = TABLE_NAMES[bridge]; label = `${x.name} ${bridge}`;
  } else {
    dpid = target.slice(3); label = `switch ${dpid}`;
  }
  let flows: Flow[];
  try { flows = await api.get<Flow[]>(`/v1/switches/${encodeURIComponent(dpid)}/flows`); } catch (e) { report(e, `flows of ${label}`); return; }
  const filter = ($('flows-filter') as HTMLInputElement).value.trim().toLowerCase();
  if (filter) flows = flows.filter((f) => f.text.toLowerCase().includes(filter));
  const byTable = new Map<number, Flow[]>();
  for (const f of flows) byTable.set(f.table_id, [...(byTable.get(f.table_id) ?? []), f]);
  out.append(h('p', {}, `${label} (${dpid}): ${flows.length} flows in ${byTable.size} tables, read live from the switch`));
  for (const [id, fs] of [...byTable.entries()].sort((a, b) => a[0] - b[0])) {
    const name = names[id] ?? `table ${id}`;
    fs.sort((a, b) => b.priority - a.priority);
    out.append(h('section', { class: 'flow-table', 'data-table-id': id, 'data-table-name': name },
      h('h3', {}, `${id}: ${name}`, h('span', { class: 'count' }, ` ${fs.length} flows`)),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'priority'), h('th', {}, 'packets'), h('th', {}, 'bytes'), h('th', {}, 'flow'))),
        h('tbody', {}, ...fs.map((f) => h('tr', { class: 'flow' }, h('td', { class: 'num' }, String(f.priority)), h('td', { class: 'num' }, String(f.packet_count)),
          h('td', { class: 'num' }, bytes(f.byte_count)), h('td', { class: 'mono' }, f.text)))))));
  }
}

// ---- trace

function fillTraceForm(): void {
  for (const id of ['trace-from', 'trace-to']) {
    const sel = $(id) as HTMLSelectElement;
    const had = sel.value;
    clear(sel);
    if (id === 'trace-to') sel.append(h('option', { value: '' }, '(the address below)'));
    for (const e of state.endpoints) sel.append(h('option', { value: e.id }, `${e.containerId} ${e.ip} (${e.host}, ${e.network})`));
    if (had && [...sel.options].some((o) => o.value === had)) sel.value = had;
  }
}

async function runTrace(ev: Event): Promise<void> {
  ev.preventDefault();
  if (!api) return;
  const from = ($('trace-from') as HTMLSelectElement).value;
  const to = ($('trace-to') as HTMLSelectElement).value;
  const toIp = ($('trace-to-ip') as HTMLInputElement).value.trim();
  const proto = ($('trace-proto') as HTMLSelectElement).value as 'icmp' | 'tcp' | 'udp';
  const port = ($('trace-port') as HTMLInputElement).value.trim();
  const live = ($('trace-live') as HTMLInputElement).checked;
  const err = $('trace-error');
  err.textContent = '';
  if (!from) { err.textContent = 'choose the endpoint the packet leaves from'; return; }
  if (!to && !toIp) { err.textContent = 'choose a destination endpoint or type an address'; return; }
  const body = {
    from: { endpoint: from }, to: to ? { endpoint: to } : { ip: toIp }, proto,
    ...(proto !== 'icmp' && port ? { dstPort: Number(port) } : {}), ...(live ? { live: true } : {}),
  };
  const btn = $('trace-go') as HTMLButtonElement;
  btn.disabled = true;
  $('trace-state').textContent = live ? 'tracing (a marked packet goes through the switches)…' : 'tracing…';
  try {
    const a = await api.post<TraceAnswer>('/v1/traces', body);
    drawTrace($('trace-path') as unknown as SVGSVGElement, $('trace-verdict'), $('trace-hops') as HTMLTableElement, a, state.endpoints);
    state.onPath = pathKeys(a, from);
    renderTopology();
    $('trace-state').textContent = '';
  } catch (e) {
    $('trace-state').textContent = '';
    err.textContent = e instanceof HttpError ? `${e.status} ${e.message}` : (e as Error).message;
  } finally {
    btn.disabled = false;
  }
}

// ---- wiring

function main(): void {
  $('login-form').addEventListener('submit', (ev) => { ev.preventDefault(); void login(($('token') as HTMLInputElement).value.trim()); });
  $('logout').addEventListener('click', () => { forgetToken(); showLogin(); });
  for (const v of VIEWS) $(`tab-${v}`).addEventListener('click', () => { location.hash = v; });
  window.addEventListener('hashchange', () => { if (api) show(viewFromHash()); });
  $('flows-form').addEventListener('submit', (ev) => { ev.preventDefault(); void loadFlows(); });
  $('trace-form').addEventListener('submit', (ev) => { void runTrace(ev); });
  $('endpoints-refresh').addEventListener('click', () => { void refreshAll().then(refreshCounters); });
  const t = savedToken();
  if (t) void login(t); else showLogin();
}

main();
