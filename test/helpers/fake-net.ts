// A network of fake OpenFlow switches (FakeTable each), wires and hosts,
// driven by the real apps through the real AppRunner. Frames are real bytes;
// flow-mods and packet-outs returned by apps are applied at once. Deliveries
// are counted so tests can assert "no storm" and "reached exactly once".
import pino from 'pino';
import { AppRunner, SwitchDirectory } from '../../controller/app-runner';
import { EventBus } from '../../controller/events';
import { Topology } from '../../controller/topology';
import type { App } from '../../controller/app';
import { portView } from '../../controller/switch-registry';
import { OfpMessage, Outgoing, Port, Action, OFPP_CONTROLLER, OFPP_FLOOD, OFPP_ALL, OFPP_IN_PORT, OFPP_MAX, OFP_NO_BUFFER, macToBytes, ipv4ToBytes } from '../../southbound/codec';
import { FakeTable, PacketFields } from './fake-table';

type End = { kind: 'switch'; dpid: string; port: number } | { kind: 'host'; mac: string };

export interface FakeSwitchState {
  dpid: string;
  state: string;
  ports: Port[];
  table: FakeTable;
  log: pino.Logger;
  send(m: Outgoing): number;
}

export function ethFrame(dst: string, src: string, ethType: number, payload: Buffer = Buffer.alloc(46)): Buffer {
  const h = Buffer.alloc(14);
  macToBytes(dst).copy(h, 0);
  macToBytes(src).copy(h, 6);
  h.writeUInt16BE(ethType, 12);
  return Buffer.concat([h, payload]);
}

export function arpRequest(srcMac: string, srcIp: string, dstIp: string): Buffer {
  const p = Buffer.alloc(28);
  p.writeUInt16BE(1, 0); p.writeUInt16BE(0x0800, 2); p[4] = 6; p[5] = 4; p.writeUInt16BE(1, 6);
  macToBytes(srcMac).copy(p, 8); ipv4ToBytes(srcIp).copy(p, 14); ipv4ToBytes(dstIp).copy(p, 24);
  return ethFrame('ff:ff:ff:ff:ff:ff', srcMac, 0x0806, Buffer.concat([p, Buffer.alloc(18)]));
}

export class FakeNet implements SwitchDirectory {
  readonly bus = new EventBus();
  readonly topology = new Topology(this.bus);
  readonly switches = new Map<string, FakeSwitchState>();
  private readonly wires = new Map<string, End>();
  readonly runner: AppRunner;
  private handlers: ((c: { dpid: string }, m: OfpMessage) => void)[] = [];
  /** frames received per host (LLDP probes, which hosts ignore, left out) */
  readonly inbox = new Map<string, Buffer[]>();
  deliveries = 0;
  packetIns = 0;
  private queue: (() => void)[] = [];
  private draining = false;
  readonly log = pino({ level: 'silent' });

  constructor(apps: App[]) {
    this.runner = new AppRunner(apps, this, this.bus, this.topology, this.log, 'test-controller');
    this.runner.start();
  }

  get(dpid: string) { return this.switches.get(dpid); }
  list() { return [...this.switches.values()].filter((s) => s.state === 'ready'); }
  onSwitchMessage(h: (c: { dpid: string }, m: OfpMessage) => void) { this.handlers.push(h); }

  addSwitch(dpid: string, nPorts: number): void {
    const ports: Port[] = Array.from({ length: nPorts }, (_, i) => ({
      port_no: i + 1, hw_addr: `0a:00:${dpid.slice(-4, -2)}:${dpid.slice(-2)}:00:${(i + 1).toString(16).padStart(2, '0')}`, name: `s${dpid}-eth${i + 1}`,
      config: 0, state: 0, curr: 0, advertised: 0, supported: 0, peer: 0, curr_speed: 0, max_speed: 0,
    }));
    const sw: FakeSwitchState = {
      dpid, state: 'ready', ports, table: new FakeTable(), log: this.log,
      send: (m) => { this.onSend(dpid, m); return 0; },
    };
    this.switches.set(dpid, sw);
  }

  connect(dpid: string): void {
    const sw = this.switches.get(dpid)!;
    this.bus.emit({ type: 'switch.connected', dpid, remote: 'fake', ports: sw.ports.map(portView) });
    this.drain();
  }

  /** A shared segment (a hub or a non-OpenFlow bridge): a frame out of any member port reaches all the others. */
  private readonly hubs = new Map<string, string[]>();
  hub(...ends: [string, number][]): void {
    const keys = ends.map(([d, p]) => `${d}:${p}`);
    for (const k of keys) this.hubs.set(k, keys.filter((x) => x !== k));
  }

  /** Remove a cable without any port going down (a silent failure: only probes can tell). */
  unplug(a: string, ap: number, b: string, bp: number): void {
    this.wires.delete(`${a}:${ap}`);
    this.wires.delete(`${b}:${bp}`);
  }

  /** Move a host to another switch port. */
  moveHost(mac: string, dpid: string, port: number): void {
    for (const [k, e] of this.wires) if (e.kind === 'host' && e.mac === mac) this.wires.delete(k);
    this.wires.set(`${dpid}:${port}`, { kind: 'host', mac });
  }

  wire(a: string, ap: number, b: string, bp: number): void {
    this.wires.set(`${a}:${ap}`, { kind: 'switch', dpid: b, port: bp });
    this.wires.set(`${b}:${bp}`, { kind: 'switch', dpid: a, port: ap });
  }

  attachHost(mac: string, dpid: string, port: number): void {
    this.wires.set(`${dpid}:${port}`, { kind: 'host', mac });
    this.inbox.set(mac, []);
  }

  /** Take a cable down: both ports report link down, nothing crosses it. */
  cut(a: string, ap: number, b: string, bp: number): void {
    this.wires.delete(`${a}:${ap}`);
    this.wires.delete(`${b}:${bp}`);
    for (const [d, p] of [[a, ap], [b, bp]] as const) {
      const port = this.switches.get(d)!.ports.find((x) => x.port_no === p)!;
      port.state = 1;
      this.bus.emit({ type: 'port.modified', dpid: d, port: portView(port) });
    }
    this.drain();
  }

  /** A host sends a frame into its switch port. */
  hostSend(mac: string, frame: Buffer): void {
    for (const [k, e] of this.wires) {
      if (e.kind === 'host' && e.mac === mac) {
        const [dpid, port] = k.split(':');
        this.enqueue(() => this.receive(dpid, Number(port), frame));
        this.drain();
        return;
      }
    }
    throw new Error(`host ${mac} not attached`);
  }

  tick(): void {
    for (const a of this.runner.apps) if (a.onTick) { const eff = a.onTick(Date.now()); if (eff) this.runner.send(eff); }
    this.drain();
  }

  private enqueue(f: () => void) { this.queue.push(f); }

  drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length) {
        if (this.deliveries > 100000) throw new Error('storm: more than 100000 deliveries');
        this.queue.shift()!();
      }
    } finally {
      this.draining = false;
    }
  }

  private fields(dpid: string, inPort: number, f: Buffer): PacketFields {
    return {
      in_port: inPort, eth_dst: [...f.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
      eth_src: [...f.subarray(6, 12)].map((x) => x.toString(16).padStart(2, '0')).join(':'), eth_type: f.readUInt16BE(12),
    };
  }

  private receive(dpid: string, inPort: number, frame: Buffer): void {
    this.deliveries++;
    const sw = this.switches.get(dpid)!;
    const actions = sw.table.lookup(this.fields(dpid, inPort, frame));
    this.execute(dpid, inPort, frame, actions, true);
  }

  private execute(dpid: string, inPort: number, frame: Buffer, actions: Action[], fromTable: boolean): void {
    const sw = this.switches.get(dpid)!;
    for (const a of actions) {
      if (a.type !== 'output') continue;
      const ports = a.port === OFPP_FLOOD || a.port === OFPP_ALL ? sw.ports.map((p) => p.port_no).filter((p) => p !== inPort)
        : a.port === OFPP_IN_PORT ? [inPort] : [a.port];
      for (const p of ports) {
        if (p === OFPP_CONTROLLER) {
          if (!fromTable) continue;
          this.packetIns++;
          const m: OfpMessage = { type: 'packet_in', xid: 0, buffer_id: OFP_NO_BUFFER, total_len: frame.length, reason: 0, table_id: 0, cookie: 0n, match: [{ field: 'in_port', value: inPort }], data: frame };
          for (const h of this.handlers) h({ dpid }, m);
          continue;
        }
        if (p > OFPP_MAX || (p === inPort && a.port !== OFPP_IN_PORT)) continue;
        const port = sw.ports.find((x) => x.port_no === p);
        if (!port || port.state & 1) continue;
        for (const k of this.hubs.get(`${dpid}:${p}`) ?? []) {
          const [hd, hp] = k.split(':');
          this.enqueue(() => this.receive(hd, Number(hp), frame));
        }
        const peer = this.wires.get(`${dpid}:${p}`);
        if (!peer) continue;
        if (peer.kind === 'host') { this.deliveries++; if (frame.readUInt16BE(12) !== 0x88cc) this.inbox.get(peer.mac)!.push(frame); }
        else this.enqueue(() => this.receive(peer.dpid, peer.port, frame));
      }
    }
  }

  private onSend(dpid: string, m: Outgoing): void {
    const sw = this.switches.get(dpid)!;
    if (m.type === 'flow_mod') sw.table.apply({ ...m, xid: 0 });
    else if (m.type === 'packet_out') this.enqueue(() => this.execute(dpid, m.in_port, m.data, m.actions, false));
  }
}
