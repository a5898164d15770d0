// The events a write made through another controller means (etcd store):
// the same ones the local write emitted there, derived from the rows that
// changed, so event streams, readiness waits and BGP follow it here too.
import type { WeftEvent } from './events';
import type { RowChange, Row } from './store-etcd';
import type { Resources } from './resources';

const s = (v: unknown): string => String(v ?? '');

export function remoteEvents(changes: RowChange[], resources: Resources): WeftEvent[] {
  const out: WeftEvent[] = [];
  const netName = (id: unknown) => resources.network(Number(id))?.name ?? changes.find((c) => c.table === 'networks' && Number((c.before ?? c.after)!.id) === Number(id))?.before?.name ?? s(id);
  const ep = (r: Row, state?: string) => ({
    id: s(r.id), containerId: s(r.container_id), ifName: s(r.if_name), host: s(r.host), network: s(netName(r.network_id)), ip: s(r.ip), mac: s(r.mac), state: state ?? s(r.state),
  });
  for (const { table, before: b, after: a } of changes) {
    switch (table) {
      case 'hosts': {
        const r = (a ?? b)!;
        if (!b || !a) out.push({ type: a ? 'host.registered' : 'host.unregistered', name: s(r.name), dpid: s(r.dpid), underlayIp: s(r.underlay_ip) });
        break;
      }
      case 'networks': {
        const r = (a ?? b)!;
        if (!b || !a) out.push({ type: a ? 'network.created' : 'network.deleted', network: { id: Number(r.id), name: s(r.name), cidr: s(r.cidr), mode: s(r.mode) } });
        break;
      }
      case 'endpoints':
        if (!b) out.push({ type: 'endpoint.created', endpoint: ep(a!) });
        else if (!a) out.push({ type: 'endpoint.deleted', endpoint: ep(b, 'removed') });
        else if (a.state === 'ready' && b.state !== 'ready') out.push({ type: 'endpoint.ready', endpoint: ep(a) });
        else out.push({ type: 'endpoint.updated', endpoint: ep(a) });
        break;
      case 'policies':
        out.push({ type: !b ? 'policy.created' : !a ? 'policy.deleted' : 'policy.updated', policy: { name: s((a ?? b)!.name) } });
        break;
      case 'services': {
        const r = (a ?? b)!;
        if (!b || !a) out.push({ type: a ? 'service.created' : 'service.deleted', service: { name: s(r.name), network: s(netName(r.network_id)), vip: s((JSON.parse(s(r.body)) as { vip?: string }).vip) } });
        break;
      }
      case 'tokens':
        if (b && !a) out.push({ type: 'token.revoked', tokenId: s(b.id), role: b.role === 'admin' ? 'admin' : 'host' });
        break;
    }
  }
  return out;
}
