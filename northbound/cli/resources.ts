// `weft hosts|networks|endpoints|services|trace|flows`: the API's resources as tables
// for people, or with `-o json` the API's JSON exactly as it answered.
import { parseArgs } from 'node:util';
import { ApiClient, ApiError, Answer, CliUsageError, CONNECTION_OPTIONS, seg } from './client';
import { table, fields } from './table';

type Obj = Record<string, unknown>;

const OUTPUT = { output: { type: 'string', short: 'o' } } as const;

function parse<O extends Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>>(argv: string[], options: O) {
  const r = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { ...CONNECTION_OPTIONS, ...OUTPUT, ...options } });
  const out = (r.values as { output?: string }).output ?? 'table';
  if (out !== 'table' && out !== 'json') throw new CliUsageError(`-o: "${out}" is not an output format (table or json)`);
  return { values: r.values as Obj & { api?: string; 'token-file'?: string; 'admin-token-file'?: string }, positionals: r.positionals, json: out === 'json' };
}

function positionals(cmd: string, got: string[], want: string[]): string[] {
  if (got.length < want.length) throw new CliUsageError(`${cmd} needs ${want.slice(got.length).join(' ')}`);
  if (got.length > want.length) throw new CliUsageError(`${cmd}: unexpected "${got.slice(want.length).join(' ')}"`);
  return got;
}

const write = (s: string) => { process.stdout.write(s); };
/** The API's JSON as it answered (a 204 has none). */
const raw = (a: Answer) => { if (a.text) write(a.text.endsWith('\n') ? a.text : a.text + '\n'); };

interface Resource {
  /** the command name and the API collection */
  cmd: string;
  path: string;
  /** what `ls` asks for (query string included) */
  list(values: Obj): string;
  headers: string[];
  row(o: Obj): unknown[];
  /** the noun in "removed" lines */
  noun: string;
}

const RESOURCES: Record<string, Resource> = {
  hosts: {
    cmd: 'hosts', path: '/v1/hosts', noun: 'host',
    list: () => '/v1/hosts?kind=registered',
    headers: ['NAME', 'DPID', 'UNDERLAY', 'PHY-DPID', 'CONNECTED', 'ENDPOINTS'],
    row: (h) => [h.name, h.dpid, h.underlayIp, h.phyDpid, h.connected ? 'yes' : 'no', h.endpoints],
  },
  networks: {
    cmd: 'networks', path: '/v1/networks', noun: 'network',
    list: () => '/v1/networks',
    headers: ['NAME', 'ID', 'CIDR', 'GATEWAY', 'MODE', 'VNI', 'VLAN', 'MTU', 'ENDPOINTS'],
    row: (n) => [n.name, n.id, n.cidr, n.gateway, n.mode, n.vni, n.vlan, n.mtu, n.endpoints],
  },
  endpoints: {
    cmd: 'endpoints', path: '/v1/endpoints', noun: 'endpoint',
    list: (v) => {
      const q = new URLSearchParams();
      if (v.host !== undefined) q.set('host', v.host as string);
      if (v.network !== undefined) q.set('network', v.network as string);
      return `/v1/endpoints${q.size ? `?${q}` : ''}`;
    },
    headers: ['ID', 'CONTAINER', 'IF', 'HOST', 'NETWORK', 'IP', 'MAC', 'STATE', 'OFPORT'],
    row: (e) => [e.id, e.containerId, e.ifName, e.host, e.network, e.ip, e.mac, e.state, e.ofport],
  },
  services: {
    cmd: 'services', path: '/v1/services', noun: 'service',
    list: () => '/v1/services',
    headers: ['NAME', 'NETWORK', 'VIP', 'PORTS', 'AFFINITY', 'BACKENDS'],
    row: (x) => [
      x.name, x.network, x.vip,
      (x.ports as { protocol: string; port: number; targetPort: number }[]).map((p) => `${p.protocol}/${p.port}->${p.targetPort}`).join(','),
      x.affinity, (x.backends as { ip: string; host: string }[]).map((b) => `${b.ip}@${b.host}`).join(',') || '-',
    ],
  },
};

/** `weft hosts|networks|endpoints|services ls|get|rm` (and `endpoints add`; `show` is get). */
export async function resourceMain(cmd: 'hosts' | 'networks' | 'endpoints' | 'services', argv: string[]): Promise<number> {
  const res = RESOURCES[cmd]!;
  const S = { type: 'string' } as const;
  const extra: Record<string, typeof S> = cmd === 'endpoints' ? { host: S, network: S, container: S, if: S, ip: S, mac: S } : {};
  const { values, positionals: pos, json } = parse(argv, extra);
  const [verb, ...args] = pos;
  const only = (allowed: string[]) => {
    for (const k of ['host', 'network', 'container', 'if', 'ip', 'mac']) {
      if (values[k] !== undefined && !allowed.includes(k)) throw new CliUsageError(`${cmd} ${verb}: --${k} does not apply`);
    }
  };
  switch (verb) {
    case 'ls': case 'list': {
      positionals(`${cmd} ls`, args, []);
      only(['host', 'network']);
      const client = ApiClient.fromFlags(values);
      const a = await client.get(res.list(values));
      if (json) raw(a);
      else write(table(res.headers, (a.json as Obj[]).map(res.row)));
      return 0;
    }
    case 'get': case 'show': {
      const [id] = positionals(`${cmd} ${verb}`, args, [res.noun === 'endpoint' ? 'ID' : 'NAME']);
      only([]);
      const a = await ApiClient.fromFlags(values).get(`${res.path}/${seg(id!)}`);
      if (json) raw(a);
      else write(fields(a.json as Obj));
      return 0;
    }
    case 'rm': case 'delete': {
      const [id] = positionals(`${cmd} rm`, args, [res.noun === 'endpoint' ? 'ID' : 'NAME']);
      only([]);
      const a = await ApiClient.fromFlags(values).call('DELETE', `${res.path}/${seg(id!)}`);
      if (json) raw(a);
      else write(`${res.noun} ${id} removed\n`);
      return 0;
    }
    case 'add': {
      if (cmd !== 'endpoints') break;
      positionals('endpoints add', args, []);
      only(['host', 'network', 'container', 'if', 'ip', 'mac']);
      for (const k of ['container', 'host', 'network']) if (values[k] === undefined) throw new CliUsageError(`endpoints add needs --${k}`);
      const body = {
        containerId: values.container, ifName: values.if ?? 'eth0', host: values.host, network: values.network,
        ...(values.ip !== undefined ? { ip: values.ip } : {}), ...(values.mac !== undefined ? { mac: values.mac } : {}),
      };
      const a = await ApiClient.fromFlags(values).call('POST', '/v1/endpoints', body);
      if (json) raw(a);
      else write(fields(a.json as Obj));
      return 0;
    }
  }
  throw new CliUsageError(`unknown ${cmd} command "${verb ?? ''}" (${cmd === 'endpoints' ? 'ls, get, add or rm' : 'ls, get (show) or rm'})`);
}

/** `weft tunnels`: the tunnel from each host to each other (GET /v1/tunnels). */
export async function tunnelsMain(argv: string[]): Promise<number> {
  const { values, positionals: pos, json } = parse(argv, {});
  const [verb, ...rest] = pos;
  if (verb !== undefined && verb !== 'ls' && verb !== 'list') throw new CliUsageError(`unknown tunnels command "${verb}" (ls, or nothing)`);
  positionals('tunnels', rest, []);
  const a = await ApiClient.fromFlags(values).get('/v1/tunnels');
  if (json) { raw(a); return 0; }
  const tunnels = (a.json as { tunnels: Obj[] }).tunnels;
  write(table(['FROM', 'TO', 'FROM-IP', 'TO-IP', 'STATE', 'RTT', 'LAST-SEEN', 'LAST-PROBED'], tunnels.map((t) => [
    t.from, t.to, t.fromIp, t.toIp, t.state, t.rttMs === null ? '-' : `${(t.rttMs as number).toFixed(1)}ms`, t.lastSeen ?? '-', t.lastProbed ?? '-',
  ])));
  return 0;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

function portNumber(v: string, flag: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new CliUsageError(`--${flag}: "${v}" is not a port number (1-65535)`);
  return n;
}

/** The request body of `weft trace FROM TO [--tcp PORT|--udp PORT]`. */
export function traceBody(from: string, to: string, o: { tcp?: string; udp?: string }): Obj {
  if (o.tcp !== undefined && o.udp !== undefined) throw new CliUsageError('--tcp and --udp exclude each other');
  const at = /^([^@]+)@(.+)$/.exec(from);
  if (at && !IPV4.test(at[1]!)) throw new CliUsageError(`trace: "${from}" is not IP@NETWORK`);
  if (IPV4.test(from)) throw new CliUsageError(`trace: FROM "${from}" needs its network: IP@NETWORK`);
  return {
    from: at ? { ip: at[1], network: at[2] } : { endpoint: from },
    to: IPV4.test(to) ? { ip: to } : { endpoint: to },
    ...(o.tcp !== undefined ? { proto: 'tcp', dstPort: portNumber(o.tcp, 'tcp') } : o.udp !== undefined ? { proto: 'udp', dstPort: portNumber(o.udp, 'udp') } : { proto: 'icmp' }),
  };
}

interface Hop { host?: string; bridge?: string; tableId?: number; table?: string; flow?: string | null; owner?: string | null; actions?: string; kind?: 'tunnel' | 'underlay'; vni?: number; from?: string; to?: string }
interface Verdict { result: string; endpoint?: string; host: string; bridge?: string; table?: string; reason?: string; detail?: string; how?: string }

/** The verdict as one line. */
export function verdictLine(v: Verdict): string {
  if (v.result === 'delivered') return `verdict: delivered to endpoint ${v.endpoint} on ${v.host}`;
  if (v.result === 'left') return `verdict: left ${v.host} ${v.how ?? ''}`.trimEnd();
  const where = [v.host, v.bridge, v.table && v.table !== '-' ? `table ${v.table}` : undefined].filter(Boolean).join(' ');
  return `verdict: dropped on ${where}: ${v.reason ?? '?'}${v.detail ? ` (${v.detail})` : ''}`;
}

export async function traceMain(argv: string[]): Promise<number> {
  const { values, positionals: pos, json } = parse(argv, { tcp: { type: 'string' }, udp: { type: 'string' }, live: { type: 'boolean' } });
  const [from, to] = positionals('trace', pos, ['FROM', 'TO']);
  const body = { ...traceBody(from!, to!, values as { tcp?: string; udp?: string }), ...(values.live ? { live: true } : {}) };
  const a = await ApiClient.fromFlags(values).call('POST', '/v1/traces', body);
  if (json) { raw(a); return 0; }
  type Backend = { id: string; ip: string; host: string };
  const c = (a.json as { computed: { arp: { target: string; mac: string | null }; service?: { name: string; vip: string; affinity: string; backends: Backend[]; chosen: Backend | null }; hops: Hop[]; verdict: Verdict } }).computed;
  write(`arp: ${c.arp.target} is at ${c.arp.mac ?? '(no answer)'}\n`);
  if (c.service) {
    const x = c.service;
    write(`service: ${x.name} (VIP ${x.vip}, ${x.backends.length} ready backend${x.backends.length === 1 ? '' : 's'}${x.affinity === 'clientIP' ? ', clientIP affinity' : ''}) -> ${x.chosen ? `${x.chosen.id} ${x.chosen.ip} on ${x.chosen.host}` : 'no backend'}\n`);
  }
  write(table(['HOST', 'BRIDGE', 'TABLE', 'OWNER', 'ACTIONS'], c.hops.map((h) => {
    if (h.kind === 'tunnel') return `-- tunnel vni ${h.vni}: ${h.from} -> ${h.to}`;
    if (h.kind === 'underlay') return `-- underlay: ${h.from} -> ${h.to}`;
    return [h.host, h.bridge, h.table !== undefined ? `${h.tableId ?? '?'}:${h.table}` : h.tableId, h.flow === null ? '(miss)' : h.owner, h.actions];
  })));
  write(`${verdictLine(c.verdict)}\n`);
  const l = a.json as { live?: { observed: { host: string; bridge: string; tableId: number; table: string; event: string }[]; verdict: Verdict & { result: string } }; agree?: boolean; difference?: { detail: string } | null };
  if (l.live) {
    write(`live (a marked packet, as the switches saw it):\n`);
    write(table(['HOST', 'BRIDGE', 'TABLE', 'EVENT'], l.live.observed.map((o) => [o.host, o.bridge, `${o.tableId}:${o.table}`, o.event])));
    write(`${l.live.verdict.result === 'lost' ? `verdict: lost (${(l.live.verdict as { detail?: string }).detail ?? ''})` : verdictLine(l.live.verdict)}\n`);
    write(l.agree ? 'computed and live agree\n' : `computed and live differ: ${l.difference?.detail ?? '?'}\n`);
  }
  return 0;
}

export async function flowsMain(argv: string[]): Promise<number> {
  const { values, positionals: pos, json } = parse(argv, { table: { type: 'string' }, bridge: { type: 'string' } });
  const [host] = positionals('flows', pos, ['HOST']);
  const bridge = (values.bridge as string | undefined) ?? 'br-int';
  if (bridge !== 'br-int' && bridge !== 'br-phy') throw new CliUsageError(`--bridge: "${bridge}" is not br-int or br-phy`);
  // the table names are the pipeline declarations' (light modules: data and flow builders)
  const pipeline = bridge === 'br-int' ? (await import('../../controller/pipeline/br-int')).BR_INT : (await import('../../controller/pipeline/br-phy')).BR_PHY;
  const names = pipeline.tables.map((t) => t.name as string);
  let tableId: number | undefined;
  if (values.table !== undefined) {
    tableId = names.indexOf(values.table as string);
    if (tableId < 0) throw new CliUsageError(`--table: ${bridge} has no table "${values.table}" (${names.join(', ')})`);
  }
  const client = ApiClient.fromFlags(values);
  const h = (await client.get(`/v1/hosts/${seg(host!)}`)).json as { dpid: string; phyDpid: string | null };
  const dpid = bridge === 'br-int' ? h.dpid : h.phyDpid;
  if (!dpid) throw new ApiError(null, `host ${host} has no ${bridge} (it was registered without phyDpid)`);
  const a = await client.get(`/v1/switches/${seg(dpid)}/flows${tableId !== undefined ? `?table=${tableId}` : ''}`);
  if (json) { raw(a); return 0; }
  // the switch filters by table; a switch that ignores the request's table_id is filtered here too
  const flows = (a.json as { table_id: number; text: string }[]).filter((f) => tableId === undefined || f.table_id === tableId);
  write(table(['TABLE', 'FLOW'], flows.map((f) => [names[f.table_id] ?? String(f.table_id), f.text])));
  return 0;
}
