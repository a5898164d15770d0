// The OVSDB client: splitting a JSON-RPC stream into messages (at any byte,
// with braces and escapes inside strings), and transact / echo / errors
// against a scripted server over a Unix socket. The real ovsdb-server is
// used by the CNI agent in test/integration/cni-agent.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { JsonSplitter, OvsdbClient, OvsdbError, parseOvsdbTarget } from '../../southbound/ovsdb/client';
import { waitFor } from '../helpers/wait';

test('the splitter finds every message wherever the stream is cut', () => {
  const msgs = [
    { id: 1, result: [{ uuid: ['uuid', 'x'] }], error: null },
    { id: null, method: 'update', params: ['m', { Interface: { a: { new: { name: 'we{ir[d"\\}' } } } }] },
    { id: 'echo', method: 'echo', params: [] },
    [1, 2, { s: '\\"}' }],
  ];
  const stream = msgs.map((m) => JSON.stringify(m)).join('\n ');
  for (let cut = 0; cut <= stream.length; cut++) {
    const sp = new JsonSplitter();
    const got = [...sp.push(stream.slice(0, cut)), ...sp.push(stream.slice(cut))];
    assert.deepEqual(got, msgs, `cut at ${cut}`);
  }
  const one = new JsonSplitter();
  const got: unknown[] = [];
  for (const ch of stream) got.push(...one.push(ch));
  assert.deepEqual(got, msgs, 'one character at a time');
  assert.throws(() => new JsonSplitter().push('}'), OvsdbError);
  assert.throws(() => new JsonSplitter().push('x{}'), /unexpected/);
  assert.throws(() => new JsonSplitter(10).push('{"a":"0123456789'), /over 10 bytes/);
});

test('targets', () => {
  assert.deepEqual(parseOvsdbTarget('unix:/run/openvswitch/db.sock'), { path: '/run/openvswitch/db.sock' });
  assert.deepEqual(parseOvsdbTarget('tcp:10.0.0.1:6640'), { host: '10.0.0.1', port: 6640 });
  assert.deepEqual(parseOvsdbTarget('tcp:[::1]:6640'), { host: '::1', port: 6640 });
  assert.throws(() => parseOvsdbTarget('ssl:1.2.3.4:6640'), /unsupported/);
});

test('transact, the server\'s echo, operation errors, reconnect after the server closes', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-ovsdb-'));
  const sock = path.join(dir, 'db.sock');
  const seen: Array<{ method: string; params: unknown[] }> = [];
  let echoAnswered: unknown = null;
  const conns: net.Socket[] = [];
  const srv = net.createServer((c) => {
    conns.push(c);
    const sp = new JsonSplitter();
    c.setEncoding('utf8');
    // the server probes the client first, as ovsdb-server's inactivity probe does
    c.write(JSON.stringify({ id: 'probe', method: 'echo', params: ['hi'] }));
    c.on('data', (d: string) => {
      for (const m of sp.push(d) as Array<{ id: unknown; method?: string; params: unknown[]; result?: unknown }>) {
        if (m.id === 'probe') { echoAnswered = m.result; continue; }
        seen.push({ method: m.method!, params: m.params });
        const ops = m.params.slice(1) as Array<{ op: string }>;
        // a mutate on a missing row fails the transaction, as OVSDB reports it
        const result = ops.map((o) => (o.op === 'mutate' ? { error: 'constraint violation', details: 'no such bridge' } : { uuid: ['uuid', '1'] }));
        // answered in two writes, the second once the first has gone out, to exercise reassembly
        const text = JSON.stringify({ id: m.id, result, error: null });
        c.write(text.slice(0, 7), () => c.write(text.slice(7)));
      }
    });
    c.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(sock, () => r()));
  const client = new OvsdbClient(`unix:${sock}`, 2000);
  try {
    const res = await client.transact('Open_vSwitch', [{ op: 'insert', table: 'Port', row: { name: 'p1' } }]);
    assert.deepEqual(res, [{ uuid: ['uuid', '1'] }]);
    assert.deepEqual(seen[0], { method: 'transact', params: ['Open_vSwitch', { op: 'insert', table: 'Port', row: { name: 'p1' } }] });
    await waitFor(() => echoAnswered !== null, { what: 'the answer to the server\'s echo', timeoutMs: 2000 });
    assert.deepEqual(echoAnswered, ['hi'], 'the server\'s echo is answered with its params');
    await assert.rejects(client.transact('Open_vSwitch', [{ op: 'mutate' }]), /constraint violation: no such bridge/);
    // the server drops the connection: the next call opens a new one
    assert.equal(client.connected, true);
    for (const c of conns) c.destroy();
    await waitFor(() => !client.connected, { what: 'the client to see the server close', timeoutMs: 2000 });
    assert.deepEqual(await client.transact('Open_vSwitch', [{ op: 'insert' }]), [{ uuid: ['uuid', '1'] }]);
    assert.equal(conns.length, 2);
  } finally {
    client.close();
    await new Promise<void>((r) => srv.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(new OvsdbClient(`unix:${sock}`).transact('Open_vSwitch', []), /OVSDB unix:.*(ENOENT|ECONNREFUSED)/);
});
