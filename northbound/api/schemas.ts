// TypeBox schemas for the northbound API: types, validation, fast
// serialisation and the OpenAPI document come from these.
import { Type, Static } from '@sinclair/typebox';

export const Dpid = Type.String({ pattern: '^[0-9a-fA-F]{16}$', description: 'datapath id, 16 hex digits', examples: ['0000aabbccddeeff'] });

export const ErrorBody = Type.Object({
  error: Type.String({ description: 'machine-readable error code, e.g. not_found, bad_request' }),
  message: Type.String({ description: 'human-readable explanation' }),
  field: Type.Optional(Type.String({ description: 'the request field at fault, when there is one' })),
}, { $id: 'Error' });

export const PortSchema = Type.Object({
  port_no: Type.Integer({ description: 'OpenFlow port number (4294967294 = LOCAL)' }),
  name: Type.String(),
  hw_addr: Type.String({ description: 'MAC address' }),
  config: Type.Integer({ description: 'OFPPC_* bits' }),
  state: Type.Integer({ description: 'OFPPS_* bits' }),
  status: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  curr_speed: Type.Integer({ description: 'kbps' }),
}, { $id: 'Port' });

export const SwitchSchema = Type.Object({
  dpid: Dpid,
  remote: Type.String({ description: 'address:port the switch connected from' }),
  connected_at: Type.String({ format: 'date-time' }),
  n_tables: Type.Integer(),
  n_buffers: Type.Integer(),
  capabilities: Type.Integer(),
  ports: Type.Array(Type.Ref(PortSchema)),
}, { $id: 'Switch' });

export const FlowSchema = Type.Object({
  table_id: Type.Integer(),
  priority: Type.Integer(),
  cookie: Type.String({ description: '64-bit cookie, 0x-prefixed hex' }),
  idle_timeout: Type.Integer(),
  hard_timeout: Type.Integer(),
  flags: Type.Integer(),
  duration_sec: Type.Integer(),
  packet_count: Type.Integer(),
  byte_count: Type.Integer(),
  text: Type.String({ description: 'the flow in ovs-ofctl syntax, as `ovs-ofctl -O OpenFlow13 --no-stats dump-flows` prints it' }),
}, { $id: 'Flow' });

export const FlowsQuery = Type.Object({
  table: Type.Optional(Type.Integer({ minimum: 0, maximum: 254, description: 'only this table' })),
  cookie: Type.Optional(Type.String({ pattern: '^(0x)?[0-9a-fA-F]{1,16}(/(0x)?[0-9a-fA-F]{1,16})?$', description: 'cookie or cookie/mask, hex' })),
});

const End = Type.Object({ dpid: Dpid, port: Type.Integer() });
export const LinkSchema = Type.Object({
  src: End,
  dst: End,
}, { $id: 'Link', description: 'a directed link: LLDP probes sent out of src arrive at dst' });

export const HostSchema = Type.Object({
  kind: Type.Literal('learned'),
  mac: Type.String(),
  ips: Type.Array(Type.String()),
  dpid: Dpid,
  port: Type.Integer(),
  first_seen: Type.String({ format: 'date-time' }),
  last_seen: Type.String({ format: 'date-time' }),
}, { $id: 'Host' });

export const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')], { description: 'degraded (HTTP 503) when the store is: the controller runs, but the routes that need the database answer 503 store_unavailable' }),
  version: Type.String(),
  uptime_sec: Type.Number(),
  switches: Type.Integer({ description: 'connected switches' }),
  store: Type.Union([Type.Literal('ok'), Type.Literal('degraded')], { description: 'the SQLite database: degraded when PRAGMA quick_check failed at start or a query met corruption since; the etcd store: degraded while etcd has no quorum or cannot be reached (writes answer 503, reads go on)' }),
  store_reason: Type.Optional(Type.String({ description: 'why the store is degraded (only then)' })),
  cluster: Type.Optional(Type.Object({
    role: Type.Union([Type.Literal('leader'), Type.Literal('follower'), Type.Literal('unknown')], { description: 'this controller\'s role: only the leader programs the switches (OpenFlow master); unknown before the first election result' }),
    generation: Type.String({ description: 'the leader\'s OpenFlow role generation id (the etcd revision of its election), decimal' }),
  }, { description: 'with the etcd store (--store etcd://...) only' })),
});

export type SwitchT = Static<typeof SwitchSchema>;
export type FlowT = Static<typeof FlowSchema>;
export type FlowsQueryT = Static<typeof FlowsQuery>;
