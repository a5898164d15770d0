// One emulated OpenFlow 1.3 switch for the cbench-style benchmark.
//
// It connects to the controller, answers the handshake (HELLO,
// FEATURES_REQUEST, PORT_DESC multipart, ECHO, BARRIER, GET_CONFIG) through
// the real codec, and then plays cbench's part: PACKET_INs (NO_BUFFER, match
// in_port, a 60-byte Ethernet/IPv4/UDP frame) between MACs it owns, each MAC
// bound to one of its ports. The hot path never decodes a whole message: a
// reply is classified by the type byte of its header (OpenFlow 1.3.5 §7.1),
// and a PACKET_OUT (§7.3.7) is matched to its PACKET_IN by a sequence number
// the frame carries in its UDP payload, which the controller echoes back.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Framer } from '../../southbound/channel/framer';
import {
  decodeMessage, encodeMessage, OFPT, OFP_NO_BUFFER, OFPP_FLOOD, OfpMessage, Port, ErrorMsg,
} from '../../southbound/codec';
import { Histogram } from './histogram';

/** Ethernet frame carried by every packet-in (minimum Ethernet size without FCS). */
export const FRAME_LEN = 60;
/** Offset of the sequence number inside the frame: the first bytes of the UDP payload. */
const SEQ_OFF = 42;
/** Per-switch ring of in-flight packet-ins; far larger than any sensible window. */
const RING = 1 << 16;
const MASK = RING - 1;
/** Largest window that cannot wrap the ring onto a packet-in still in flight. */
export const MAX_WINDOW = RING / 4;
/** ofp_packet_in reason (§7.4.1): no matching flow, as from a table-miss. */
const OFPR_NO_MATCH = 0;

function frameTemplate(): Buffer {
  const f = Buffer.alloc(FRAME_LEN);
  // bytes 0-11: dst and src MAC, patched per packet
  f.writeUInt16BE(0x0800, 12);
  const ip = 14;
  f[ip] = 0x45; // IPv4, 20-byte header
  f.writeUInt16BE(FRAME_LEN - ip, ip + 2);
  f[ip + 8] = 64; // ttl
  f[ip + 9] = 17; // UDP
  Buffer.from([10, 0, 0, 1]).copy(f, ip + 12);
  Buffer.from([10, 0, 0, 2]).copy(f, ip + 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += f.readUInt16BE(ip + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  f.writeUInt16BE(~sum & 0xffff, ip + 10);
  const udp = ip + 20;
  f.writeUInt16BE(1234, udp);
  f.writeUInt16BE(5678, udp + 2);
  f.writeUInt16BE(FRAME_LEN - udp, udp + 4); // checksum 0: none
  return f;
}

/** PACKET_IN template and the offsets patched per packet (checked, not assumed). */
const IN_PORT_SENTINEL = 0x0a0b0c0d;
const PI_TEMPLATE = encodeMessage({
  type: 'packet_in', xid: 0, buffer_id: OFP_NO_BUFFER, total_len: FRAME_LEN, reason: OFPR_NO_MATCH, table_id: 0,
  cookie: 0n, match: [{ field: 'in_port', value: IN_PORT_SENTINEL }], data: frameTemplate(),
});
export const PI_LEN = PI_TEMPLATE.length;
const DATA_OFF = PI_LEN - FRAME_LEN;
const IN_PORT_OFF = PI_TEMPLATE.indexOf(Buffer.from([0x0a, 0x0b, 0x0c, 0x0d]));
if (IN_PORT_OFF < 0 || IN_PORT_OFF + 4 > DATA_OFF) throw new Error('cbench: cannot locate in_port in the packet-in template');
PI_TEMPLATE.writeUInt32BE(0, IN_PORT_OFF);

/** Shared latency recorder: on only inside a measurement window. */
export interface Recorder {
  on: boolean;
  hist: Histogram;
}

export type Phase = 'idle' | 'learn' | 'run';

export class EmuSwitch {
  readonly dpid: bigint;
  // counters (monotonic; the runner takes deltas)
  flowMods = 0;
  packetOuts = 0;
  answered = 0;
  sent = 0;
  mismatches = 0;
  lost = 0;
  errors = 0;
  malformed = 0;
  other = 0;
  readonly errorSamples: string[] = [];
  /** Packet-ins sent and not yet answered (run phase only). */
  outstanding = 0;
  window = 0;
  learnedCount = 0;
  portDescSent = false;
  closed = false;
  closeReason = '';

  private socket?: net.Socket;
  private readonly framer = new Framer();
  private phase: Phase = 'idle';
  private seq = 0;
  private now = 0;
  private lastProgress = 0;
  private pairCounter = 0;
  private readonly state = new Uint8Array(RING);
  private readonly sentAt = new Float64Array(RING);
  private readonly expect = new Uint32Array(RING);
  private readonly srcOf = new Uint16Array(RING);
  private readonly learned: Uint8Array;
  private readonly macBytes: Uint8Array;
  private readonly portOf: Uint32Array;
  private readonly onFrameBound = (f: Buffer) => this.onFrame(f);

  constructor(readonly index: number, readonly nMacs: number, readonly nPorts: number, private readonly rec: Recorder) {
    if (nMacs < 2 || nMacs > 0xffff) throw new RangeError('macs per switch must be 2..65535');
    if (nPorts < 2) throw new RangeError('ports per switch must be at least 2 (a learning switch drops frames whose destination is behind their in_port)');
    this.dpid = BigInt(index + 1);
    this.learned = new Uint8Array(nMacs);
    this.macBytes = new Uint8Array(nMacs * 6);
    this.portOf = new Uint32Array(nMacs);
    for (let m = 0; m < nMacs; m++) {
      // locally administered unicast 02:cb:SS:SS:MM:MM, unique across switches
      this.macBytes.set([0x02, 0xcb, (index >> 8) & 0xff, index & 0xff, (m >> 8) & 0xff, m & 0xff], m * 6);
      this.portOf[m] = (m % nPorts) + 1;
    }
  }

  get ready(): boolean {
    return this.portDescSent && this.flowMods > 0;
  }

  get learnedAll(): boolean {
    return this.learnedCount === this.nMacs;
  }

  connect(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      // onread: reads land in one reused buffer and skip the stream machinery
      // (the framer copies any partial frame it keeps, and so do the replies)
      const s = net.connect({
        host, port,
        onread: { buffer: Buffer.allocUnsafe(256 * 1024), callback: (n: number, b: Uint8Array) => { this.onData(b as Buffer, n); return true; } },
      });
      this.socket = s;
      s.setNoDelay(true);
      s.once('connect', () => {
        s.off('error', reject);
        s.on('error', (e) => { this.closeReason ||= e.message; });
        this.write(encodeMessage({ type: 'hello', xid: 1, elements: [{ type: 'versionbitmap', bitmaps: [0x10] }] }));
        resolve();
      });
      s.once('error', reject);
      s.on('close', () => { this.closed = true; this.closeReason ||= 'closed by peer'; });
    });
  }

  close(): void {
    this.phase = 'idle';
    this.socket?.destroy();
  }

  private write(b: Buffer): void {
    if (this.socket && !this.socket.destroyed) this.socket.write(b);
  }

  // ---- phases -------------------------------------------------------------

  /** Learning phase: one broadcast frame from every MAC not yet learned (answered by a FLOOD packet-out). */
  learn(): void {
    this.phase = 'learn';
    this.now = performance.now();
    let k = 0;
    for (let m = 0; m < this.nMacs; m++) if (!this.learned[m]) k++;
    if (k === 0) return;
    const buf = Buffer.allocUnsafe(k * PI_LEN);
    let off = 0;
    for (let m = 0; m < this.nMacs; m++) {
      if (this.learned[m]) continue;
      this.packetIn(buf, off, m, -1, OFPP_FLOOD);
      off += PI_LEN;
    }
    this.write(buf);
  }

  /** Run phase with `window` packet-ins in flight (1 = latency mode). */
  run(window: number): void {
    if (this.phase !== 'run') this.state.fill(0); // forget unanswered learning retries
    this.phase = 'run';
    this.window = window;
    this.now = performance.now();
    this.lastProgress = this.now;
    this.fill();
  }

  /** Stop sending; answers to what is in flight are still counted. */
  stopSending(): void {
    this.window = 0;
  }

  /**
   * A packet-in unanswered for `timeoutMs` is counted lost and its window slot
   * reused, so a controller that drops packets slows the run down but cannot
   * stall it. Only scans when the switch has made no progress for that long.
   */
  reclaimLost(timeoutMs: number): void {
    if (this.phase !== 'run' || this.outstanding === 0) return;
    const now = performance.now();
    if (now - this.lastProgress < timeoutMs) return;
    for (let i = 0; i < RING; i++) {
      if (this.state[i] === 1 && now - this.sentAt[i] >= timeoutMs) {
        this.state[i] = 0;
        this.lost++;
        this.outstanding--;
      }
    }
    this.lastProgress = now;
    this.now = now;
    this.fill();
  }

  // ---- sending ------------------------------------------------------------

  /** Top the window up with one write. */
  private fill(): void {
    const k = this.window - this.outstanding;
    if (k <= 0 || this.closed) return;
    this.now = performance.now();
    const buf = Buffer.allocUnsafe(k * PI_LEN);
    const M = this.nMacs;
    for (let j = 0, off = 0; j < k; j++, off += PI_LEN) {
      // cbench-style traffic between learned MACs, never to the MAC's own port
      const c = this.pairCounter++;
      const src = c % M;
      let dst = (src + 1 + (Math.floor(c / M) % (M - 1))) % M;
      while (this.portOf[dst] === this.portOf[src]) dst = dst + 1 === M ? 0 : dst + 1;
      this.packetIn(buf, off, src, dst, this.portOf[dst]);
    }
    this.outstanding += k;
    if (this.pairCounter > 0x3fffffff) this.pairCounter = 0;
    this.write(buf);
  }

  /** Write one PACKET_IN at buf[off]; dst -1 is the broadcast address. */
  private packetIn(buf: Buffer, off: number, src: number, dst: number, expectPort: number): void {
    buf.set(PI_TEMPLATE, off);
    const seq = (this.seq = (this.seq + 1) >>> 0);
    buf.writeUInt32BE(seq, off + 4); // xid
    buf.writeUInt32BE(this.portOf[src], off + IN_PORT_OFF);
    const d = off + DATA_OFF;
    const mb = this.macBytes;
    if (dst < 0) for (let b = 0; b < 6; b++) buf[d + b] = 0xff;
    else for (let b = 0, s = dst * 6; b < 6; b++) buf[d + b] = mb[s + b];
    for (let b = 0, s = src * 6; b < 6; b++) buf[d + 6 + b] = mb[s + b];
    buf.writeUInt32BE(seq, d + SEQ_OFF);
    const i = seq & MASK;
    this.state[i] = 1;
    this.sentAt[i] = this.now;
    this.expect[i] = expectPort;
    this.srcOf[i] = src;
    this.sent++;
  }

  // ---- receiving ----------------------------------------------------------

  private onData(buf: Buffer, n: number): void {
    this.now = performance.now();
    try {
      this.framer.push(n === buf.length ? buf : buf.subarray(0, n), this.onFrameBound);
    } catch (e) {
      this.closeReason = `framing: ${(e as Error).message}`;
      this.close();
      return;
    }
    if (this.phase === 'run' && this.outstanding < this.window) this.fill();
  }

  private onFrame(f: Buffer): void {
    const t = f[1];
    if (t === OFPT.PACKET_OUT) {
      this.packetOuts++;
      this.onPacketOut(f);
    } else if (t === OFPT.FLOW_MOD) {
      this.flowMods++;
    } else {
      this.onControl(f, t);
    }
  }

  private onPacketOut(f: Buffer): void {
    if (f.length < 24) { this.malformed++; return; }
    const alen = f.readUInt16BE(16);
    const d = 24 + alen;
    if (f.length < d + SEQ_OFF + 4) { this.malformed++; return; }
    const i = f.readUInt32BE(d + SEQ_OFF) & MASK;
    if (this.state[i] !== 1) return; // late answer to a reclaimed or learning retry packet
    this.state[i] = 0;
    // correctness: the first action must output to the destination's port (every answer is checked)
    const port = alen >= 16 && f.readUInt16BE(24) === 0 ? f.readUInt32BE(28) : -1;
    if (port !== this.expect[i]) this.mismatches++;
    if (this.phase === 'learn') {
      const s = this.srcOf[i];
      if (!this.learned[s]) { this.learned[s] = 1; this.learnedCount++; }
      return;
    }
    this.outstanding--;
    this.answered++;
    this.lastProgress = this.now;
    if (this.rec.on) this.rec.hist.add((this.now - this.sentAt[i]) * 1000);
  }

  private onControl(f: Buffer, t: number): void {
    let m: OfpMessage;
    switch (t) {
      case OFPT.HELLO:
        return;
      case OFPT.ECHO_REQUEST: case OFPT.BARRIER_REQUEST: {
        const r = Buffer.from(f); // same xid, same data
        r[1] = t === OFPT.ECHO_REQUEST ? OFPT.ECHO_REPLY : OFPT.BARRIER_REPLY;
        this.write(r);
        return;
      }
      case OFPT.ERROR:
        this.errors++;
        if (this.errorSamples.length < 5) {
          try {
            const e = decodeMessage(f) as ErrorMsg;
            this.errorSamples.push(`type ${e.errType} code ${e.code}`);
          } catch { this.errorSamples.push('undecodable error'); }
        }
        return;
      case OFPT.FEATURES_REQUEST: case OFPT.GET_CONFIG_REQUEST: case OFPT.MULTIPART_REQUEST:
        break;
      default:
        this.other++; // SET_CONFIG, ROLE_REQUEST, ...: nothing to answer
        return;
    }
    try {
      m = decodeMessage(f);
    } catch {
      this.malformed++;
      return;
    }
    if (m.type === 'features_request') {
      this.write(encodeMessage({
        type: 'features_reply', xid: m.xid, datapath_id: this.dpid, n_buffers: 0, n_tables: 254, auxiliary_id: 0,
        capabilities: 0x4f, reserved: 0,
      }));
    } else if (m.type === 'get_config_request') {
      this.write(encodeMessage({ type: 'get_config_reply', xid: m.xid, flags: 0, miss_send_len: 0xffff }));
    } else if (m.type === 'multipart_request') {
      if (m.body.kind === 'port_desc') {
        this.write(encodeMessage({ type: 'multipart_reply', xid: m.xid, flags: 0, body: { kind: 'port_desc', ports: this.ports() } }));
        this.portDescSent = true;
      } else if (m.body.kind === 'desc') {
        this.write(encodeMessage({
          type: 'multipart_reply', xid: m.xid, flags: 0,
          body: { kind: 'desc', mfr_desc: 'Weft', hw_desc: 'cbench emulated switch', sw_desc: 'bench/cbench', serial_num: String(this.index), dp_desc: `cbench s${this.index}` },
        }));
      } else this.other++;
    }
  }

  private ports(): Port[] {
    const out: Port[] = [];
    for (let p = 1; p <= this.nPorts; p++) {
      const hw = [0x02, 0xcc, (this.index >> 8) & 0xff, this.index & 0xff, 0, p & 0xff].map((b) => b.toString(16).padStart(2, '0')).join(':');
      out.push({
        port_no: p, hw_addr: hw, name: `s${this.index}-eth${p}`, config: 0, state: 0,
        curr: 0x2820, advertised: 0, supported: 0, peer: 0, curr_speed: 10_000_000, max_speed: 10_000_000,
      });
    }
    return out;
  }
}
