// A sync whose barrier is not answered in time (a slow or overloaded
// switch) is tried again while the switch stays connected: the endpoint
// that waited on it becomes ready without any further change. Without the
// retry it would stay pending until the next change on its host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { Store } from '../../controller/store';
import { EventBus } from '../../controller/events';
import { ContainerService } from '../../controller/container-service';
import { ContainerFlowSource } from '../../apps/container-flow-source';
import { TUNNEL_PORT } from '../../controller/pipeline';
import type { OfpMessage, Port } from '../../southbound/codec';
import type { Connection } from '../../southbound/channel';
import { waitFor } from '../helpers/wait';

const port = (no: number, name: string): Port => ({ port_no: no, hw_addr: '02:00:00:00:00:01', name, config: 0, state: 0, curr: 0, advertised: 0, supported: 0, peer: 0, curr_speed: 0, max_speed: 0 });

test('a sync whose barrier failed is retried while the switch is connected; the endpoint waiting on it becomes ready', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-retry-'));
  const store = new Store(path.join(dir, 'weft.db'));
  const bus = new EventBus();
  const state = { failBarriers: 0, barriers: 0, flowMods: 0, connected: true };
  const ports: Port[] = [port(1, TUNNEL_PORT)];
  const conn = {
    ports,
    send(m: OfpMessage) { if (m.type === 'flow_mod') state.flowMods++; return 1; },
    async barrier() {
      state.barriers++;
      if (state.failBarriers > 0) { state.failBarriers--; throw new Error('barrier_request timed out after 10000 ms'); }
    },
    async multipart() { return [{ kind: 'flow', stats: [] }]; },
  } as unknown as Connection;
  const svc = new ContainerService(store, () => (state.connected ? conn : undefined), bus, pino({ level: 'silent' }), 1);
  svc.useFlowSource(new ContainerFlowSource(svc, () => undefined));
  try {
    svc.createNetwork({ name: 'n1', cidr: '10.91.0.0/24', mode: 'local' });
    const h = svc.createHost({ name: 'h1', dpid: '00000000000000f1', underlayIp: '192.168.91.1' });
    bus.emit({ type: 'switch.connected', dpid: h.dpid, remote: '127.0.0.1:1', ports: [] });
    await waitFor(() => svc.reconciler.status(h.dpid).fullSynced, { what: 'full sync' });
    // an attach whose sync's barrier fails once
    state.failBarriers = 1;
    const { endpoint: e } = svc.createEndpoint({ containerId: 'c1', ifName: 'eth0', host: 'h1', network: 'n1' });
    ports.push(port(e.ofportRequest!, e.portName));
    const b0 = state.barriers;
    await waitFor(() => state.barriers > b0 && state.failBarriers === 0, { what: 'the failed barrier' });
    assert.equal(svc.resources.endpoint(e.id)!.state, 'pending', 'not ready while its flows are unconfirmed');
    // nothing else happens: the retry confirms, and the endpoint is ready
    await waitFor(() => svc.resources.endpoint(e.id)!.state === 'ready', { what: 'ready after the retry', timeoutMs: 5000 });
    assert.ok(state.barriers >= b0 + 2, 'a barrier was sent again');

    // a switch that went away is not retried
    state.failBarriers = 1;
    svc.createEndpoint({ containerId: 'c2', ifName: 'eth0', host: 'h1', network: 'n1' });
    const b1 = state.barriers;
    await waitFor(() => state.barriers > b1 && state.failBarriers === 0, { what: 'the second failed barrier' });
    state.connected = false;
    const b2 = state.barriers;
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(state.barriers, b2, 'no retry toward a disconnected switch');
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
