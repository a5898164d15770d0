// A scripted OpenFlow 1.3 switch over a real TCP socket, for channel tests
// (fast feedback; the real thing is OVS in the integration tests).
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { Framer } from '../../southbound/channel/framer';
import { decodeMessage, encodeMessage, OfpMessage, Port } from '../../southbound/codec';
import { waitFor } from './wait';

export interface FakeSwitchOptions {
  port: number;
  host?: string;
  dpid?: bigint;
  ports?: Port[];
  /** Answer the handshake automatically (default true). */
  autoHandshake?: boolean;
  /** Version bitmap to offer in HELLO (default OF1.3 only). */
  helloBitmap?: number;
  helloVersion?: number;
  /** Connect over TLS with this key, certificate and CA (PEM file paths). */
  tls?: { key: string; cert: string; ca: string };
  /** Local (source) address to connect from, e.g. 127.0.0.2. */
  localAddress?: string;
  /** Answer flow-stats requests with an empty table (default: left to the test). */
  answerFlowStats?: boolean;
  /**
   * Answer role requests as OVS does, with this state shared by the fake
   * connections of one switch to several controllers: a master or slave
   * request with a generation older than the last one is refused
   * (OFPET_ROLE_REQUEST_FAILED / OFPRRFC_STALE); a master demotes the others.
   */
  roles?: FakeRoleState;
}

export interface FakeRoleState { generation?: bigint; master?: FakeSwitch; refused: number }

export function fakePort(no: number, name = `p${no}`): Port {
  return {
    port_no: no, hw_addr: `02:00:00:00:00:${no.toString(16).padStart(2, '0')}`, name, config: 0, state: 0,
    curr: 0, advertised: 0, supported: 0, peer: 0, curr_speed: 10_000_000, max_speed: 0,
  };
}

export class FakeSwitch {
  readonly received: OfpMessage[] = [];
  private readonly framer = new Framer();
  private constructor(readonly sock: net.Socket, readonly opts: FakeSwitchOptions) {}

  static async connect(opts: FakeSwitchOptions): Promise<FakeSwitch> {
    const host = opts.host ?? '127.0.0.1';
    const t = opts.tls;
    const sock: net.Socket = t
      ? tls.connect({ socket: net.connect({ port: opts.port, host, localAddress: opts.localAddress }), key: readFileSync(t.key), cert: readFileSync(t.cert), ca: readFileSync(t.ca), checkServerIdentity: () => undefined })
      : net.connect({ port: opts.port, host, localAddress: opts.localAddress });
    await new Promise<void>((res, rej) => { sock.once(t ? 'secureConnect' : 'connect', res); sock.once('error', rej); });
    const fs = new FakeSwitch(sock, opts);
    sock.on('data', (c) => fs.framer.push(c, (f) => fs.onMessage(decodeMessage(Buffer.from(f)))));
    sock.on('error', () => {});
    fs.send({
      type: 'hello', xid: 1, version: opts.helloVersion,
      elements: opts.helloBitmap === 0 ? [] : [{ type: 'versionbitmap', bitmaps: [opts.helloBitmap ?? 0x10] }],
    });
    return fs;
  }

  send(m: OfpMessage): void {
    this.sock.write(encodeMessage(m));
  }

  sendRaw(b: Buffer): void {
    this.sock.write(b);
  }

  private onMessage(m: OfpMessage): void {
    this.received.push(m);
    if (this.opts.autoHandshake === false) return;
    if (m.type === 'features_request') {
      this.send({ type: 'features_reply', xid: m.xid, datapath_id: this.opts.dpid ?? 1n, n_buffers: 0, n_tables: 254, auxiliary_id: 0, capabilities: 0x4f, reserved: 0 });
    } else if (m.type === 'multipart_request' && m.body.kind === 'port_desc') {
      this.send({ type: 'multipart_reply', xid: m.xid, flags: 0, body: { kind: 'port_desc', ports: this.opts.ports ?? [fakePort(1)] } });
    } else if (m.type === 'echo_request') {
      this.send({ type: 'echo_reply', xid: m.xid, data: m.data });
    } else if (m.type === 'barrier_request') {
      this.send({ type: 'barrier_reply', xid: m.xid });
    } else if (m.type === 'multipart_request' && m.body.kind === 'flow' && this.opts.answerFlowStats) {
      this.send({ type: 'multipart_reply', xid: m.xid, flags: 0, body: { kind: 'flow', stats: [] } });
    } else if (m.type === 'role_request' && this.opts.roles) {
      const st = this.opts.roles;
      if ((m.role === 2 || m.role === 3) && st.generation !== undefined && BigInt.asIntN(64, m.generation_id - st.generation) < 0n) {
        st.refused++;
        this.send({ type: 'error', xid: m.xid, errType: 11, code: 0, data: Buffer.alloc(0) });
        return;
      }
      if (m.role === 2 || m.role === 3) st.generation = m.generation_id;
      if (m.role === 2) st.master = this;
      this.send({ type: 'role_reply', xid: m.xid, role: m.role, generation_id: m.generation_id });
    }
  }

  async waitFor<T extends OfpMessage['type']>(type: T, pred: (m: Extract<OfpMessage, { type: T }>) => boolean = () => true, timeoutMs = 5000): Promise<Extract<OfpMessage, { type: T }>> {
    type M = Extract<OfpMessage, { type: T }>;
    const found = await waitFor(() => this.received.find((m) => m.type === type && pred(m as M)), { timeoutMs, what: `${type} from controller` });
    return found as M;
  }

  get closed(): boolean {
    return this.sock.destroyed || this.sock.readableEnded;
  }

  close(): void {
    this.sock.destroy();
  }
}
