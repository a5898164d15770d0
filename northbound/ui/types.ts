// The API's objects as the UI reads them (a subset of docs/openapi.json).
export interface Port { port_no: number; name: string; status: 'up' | 'down' }
export interface Switch { dpid: string; remote: string; ports: Port[] }
export interface Link { src: { dpid: string; port: number }; dst: { dpid: string; port: number } }
export interface LearnedHost { mac: string; ips: string[]; dpid: string; port: number }
export interface Snapshot { switches: Switch[]; links: Link[]; hosts: LearnedHost[] }
export interface RegisteredHost { kind: 'registered'; name: string; dpid: string; underlayIp: string; phyDpid: string | null; connected: boolean; endpoints: number }
export interface BridgeStatus {
  bridge: 'br-int' | 'br-phy'; dpid: string; connected: boolean; synced: boolean; flows: { desired: number; confirmed: number };
  lastSyncAt: string | null; lastSyncMs: number | null; lastError: string | null;
}
export interface HostStatus { name: string; bridges: BridgeStatus[] }
export interface Endpoint {
  id: string; containerId: string; ifName: string; host: string; network: string; portName: string; ofport: number | null;
  mac: string; ip: string; state: 'pending' | 'ready' | 'removed';
}
export interface Traffic { packets: number; bytes: number }
export interface Counters { id: string; out: Traffic; in: Traffic; flows: number; readAt: string }
export interface Network { id: number; name: string; cidr: string; mode: string }
/** GET /v1/tunnels (one direction of a host pair's tunnel), and the `tunnel` event's object. */
export interface Tunnel { from: string; to: string; fromIp: string; toIp: string; state: 'up' | 'down' | 'unknown'; rttMs: number | null; lastSeen: string | null; lastProbed?: string | null }
export interface Flow { table_id: number; priority: number; cookie: string; packet_count: number; byte_count: number; text: string }
export interface Hop {
  host?: string; bridge?: string; tableId?: number; table?: string; flow?: string | null; owner?: string | null; actions?: string;
  kind?: 'tunnel' | 'underlay'; vni?: number; from?: string; to?: string;
}
export interface Verdict { result: 'delivered' | 'dropped' | 'left' | 'lost'; endpoint?: string; host: string; bridge?: string; table?: string; reason?: string; detail?: string; how?: string }
export interface Observed { host: string; bridge: string; tableId: number; table: string; event: string; flow: string | null; endpoint?: string; port?: string }
export interface TraceAnswer {
  computed: { arp: { target: string; mac: string | null }; hops: Hop[]; verdict: Verdict };
  live?: { tag: number; injections: number; observed: Observed[]; verdict: Verdict };
  agree?: boolean;
  difference?: { index: number; computed: string; live: string; detail: string };
}
/** A bus event from /v1/events. */
export interface WeftEvent { type: string; ts: string; [k: string]: unknown }
