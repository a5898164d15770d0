// The CNI agent's per-call limits, on its real Unix socket (in process): a
// request over the size limit and a caller that sends nothing, or stops
// mid-request, are each answered with a CNI error, logged and closed; the
// agent still serves a normal call afterwards.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { CniAgent, AGENT_MAGIC } from '../../northbound/cni/agent';
import { waitFor } from '../helpers/wait';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-agent-'));
const socket = path.join(dir, 'cni.sock');
const records: Array<Record<string, unknown>> = [];
const log = pino({ level: 'info' }, { write: (s: string) => { records.push(JSON.parse(s) as Record<string, unknown>); } });
const agent = new CniAgent({ socket, log, maxRequestBytes: 64 * 1024, idleTimeoutMs: 400, requestDeadlineMs: 3000 });

before(async () => {
  await agent.start();
  await agent.warm;
});
after(async () => {
  await agent.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Connects, writes `parts` (ending the request when `end`), and resolves with what the agent answered once it closed. */
async function call(parts: Buffer[], end: boolean): Promise<{ reply: string; closed: boolean }> {
  const c = net.connect(socket);
  let reply = '';
  let closed = false;
  c.setEncoding('utf8').on('data', (d: string) => { reply += d; });
  c.on('error', () => {});
  c.on('close', () => { closed = true; });
  await new Promise((r) => c.once('connect', r));
  for (const p of parts) c.write(p);
  if (end) c.end();
  try {
    await waitFor(() => closed, { what: 'the agent closed the call', timeoutMs: 5000 });
  } finally {
    c.destroy();
  }
  return { reply, closed };
}

const request = (env: Record<string, string>, stdin: string) => Buffer.concat([
  Buffer.from(AGENT_MAGIC, 'latin1'),
  ...Object.entries(env).map(([k, v]) => Buffer.from(`${k}=${v}\0`)),
  Buffer.from([0]),
  Buffer.from(stdin),
]);

const refusals = () => records.filter((r) => r.msg === 'CNI call refused').map((r) => String(r.why));

test('an idle caller is cut off after the idle limit', async () => {
  const { reply } = await call([], false);
  assert.match(reply, /^1\n.*refused the call: nothing received for 400 ms/s);
  assert.match(refusals().join('\n'), /nothing received for 400 ms/);
});

test('a caller that stalls mid-request is cut off', async () => {
  const { reply } = await call([Buffer.from(AGENT_MAGIC + 'CNI_COMMAND=VER', 'latin1')], false);
  assert.match(reply, /nothing received for 400 ms/);
});

test('an oversized request is refused', async () => {
  const { reply } = await call([request({ CNI_COMMAND: 'VERSION' }, 'x'.repeat(200 * 1024))], true);
  assert.match(reply, /^1\n.*request over 65536 bytes/s);
  assert.match(refusals().join('\n'), /request over 65536 bytes/);
});

test('the agent still serves a normal call', async () => {
  const { reply } = await call([request({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}')], true);
  assert.match(reply, /^0\n/);
  assert.ok((JSON.parse(reply.slice(2)) as { supportedVersions: string[] }).supportedVersions.includes('1.0.0'));
});
