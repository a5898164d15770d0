// A switch that answers the handshake's port-desc request with endless
// OFPMPF_REPLY_MORE parts is cut off, and the controller (a child process,
// its memory read from /proc) stays small; another switch stays up.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { WeftProcess } from '../helpers/weft-process';
import { FakeSwitch, fakePort } from '../helpers/fake-switch';
import { waitFor } from '../helpers/wait';
import { encodeMessage, OFPMPF_REPLY_MORE } from '../../southbound/codec';
import { Framer } from '../../southbound/channel/framer';
import { decodeMessage } from '../../southbound/codec';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Resident and peak resident memory of a process, bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

const MiB = 1024 * 1024;

test('a port-desc flood is cut off; the controller grows by less than 64 MiB; other switches stay up', async (t) => {
  const weft = await WeftProcess.start();
  cleanups.push(() => weft.stop());
  const pid = weft.proc!.pid!;
  const good = await FakeSwitch.connect({ port: weft.ofPort, dpid: 0x71n });
  cleanups.push(() => good.close());
  await waitFor(async () => (await weft.call<{ dpid: string }[]>('GET', '/v1/switches')).body.some((s) => s.dpid === '0000000000000071'), { what: 'the good switch listed' });
  const before = memory(pid);

  // the flooder: HELLO, FEATURES_REPLY, then port-desc parts with MORE set, for as long as the controller reads them
  const sock = net.connect(weft.ofPort, '127.0.0.1');
  cleanups.push(() => sock.destroy());
  sock.on('error', () => {});
  let closed = false;
  sock.on('close', () => { closed = true; });
  await once(sock, 'connect');
  const framer = new Framer();
  let portDescXid: number | undefined;
  sock.on('data', (d: Buffer) => framer.push(d, (f) => {
    const m = decodeMessage(Buffer.from(f));
    if (m.type === 'features_request') sock.write(encodeMessage({ type: 'features_reply', xid: m.xid, datapath_id: 0x72n, n_buffers: 0, n_tables: 254, auxiliary_id: 0, capabilities: 0x4f, reserved: 0 }));
    if (m.type === 'multipart_request' && m.body.kind === 'port_desc') portDescXid = m.xid;
  }));
  sock.write(encodeMessage({ type: 'hello', xid: 1, elements: [{ type: 'versionbitmap', bitmaps: [0x10] }] }));
  const xid = await waitFor(() => portDescXid, { what: 'the port-desc request' });
  const part = encodeMessage({ type: 'multipart_reply', xid, flags: OFPMPF_REPLY_MORE, body: { kind: 'port_desc', ports: Array.from({ length: 1000 }, (_, i) => ({ ...fakePort(1, `flood${i}`), port_no: i + 1 })) } });
  const LIMIT = 1024 * MiB;
  let sent = 0;
  while (!closed && sent < LIMIT) {
    const ok = sock.write(part);
    sent += part.length;
    if (!ok) await Promise.race([once(sock, 'drain'), once(sock, 'close')]).catch(() => undefined);
  }
  await waitFor(() => closed, { what: 'the flooding switch cut off', timeoutMs: 20000 });
  const afterFlood = memory(pid);
  const grew = afterFlood.peak - before.rss;
  t.diagnostic(`flood: ${Math.round(sent / MiB)} MiB sent before the cut; RSS ${Math.round(before.rss / MiB)} MiB before, peak ${Math.round(afterFlood.peak / MiB)} MiB`);
  assert.ok(sent < LIMIT, `cut off after ${Math.round(sent / MiB)} MiB, not allowed the whole ${LIMIT / MiB} MiB`);
  assert.ok(grew < 64 * MiB, `peak RSS grew by ${Math.round(grew / MiB)} MiB (from ${Math.round(before.rss / MiB)} MiB)`);
  // the other switch is still there and answered
  const { body } = await weft.call<{ dpid: string }[]>('GET', '/v1/switches');
  assert.deepEqual(body.map((s) => s.dpid), ['0000000000000071']);
  const echoes = good.received.filter((m) => m.type === 'echo_request').length;
  assert.ok(!good.closed);
  await waitFor(() => good.received.filter((m) => m.type === 'echo_request').length > echoes, { what: 'the controller still keeps the good switch alive', timeoutMs: 15000 });
});
