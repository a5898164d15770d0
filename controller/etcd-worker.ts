// The etcd client of the etcd store (controller/store-etcd.ts), on a worker
// thread of its own. The controller reads its local replica synchronously,
// as it reads SQLite; a write waits for etcd's answer the way a SQLite
// commit waits for fsync: the main thread posts a request here and blocks
// (Atomics.wait, bounded) until the reply is posted back. Everything that
// must go on while the main thread waits (the watch, the leader lease's
// keepalives, the quorum probe) lives here, on this thread's event loop.
//
// Requests (main -> worker, parentPort): { id, op, ... }; replies on the
// reply port: { id, ok, ... }, then flags[0] = id (Atomics.notify).
// Stream messages (worker -> main, stream port): watch batches (one per
// revision), health and leadership changes; each bumps flags[1].
import { parentPort, workerData, MessagePort } from 'node:worker_threads';
import fs from 'node:fs';
import { Etcd3, IOptions, Lease, Watcher } from 'etcd3';
import type { EtcdOptions, WorkerRequest, StreamMessage, KvChange } from './etcd-link';

const data = workerData as { opts: EtcdOptions; flags: SharedArrayBuffer; reply: MessagePort; stream: MessagePort };
const opts = data.opts;
const flags = new Int32Array(data.flags);
const P = opts.prefix;
const DATA = `${P}data/`;
const SEQ = `${DATA}_seq`;
const callMs = opts.callTimeoutMs;

function clientOptions(): IOptions {
  const tls = opts.ca !== undefined;
  const o: IOptions = {
    hosts: opts.endpoints.map((e) => `${tls ? 'https' : 'http'}://${e}`),
    dialTimeout: callMs,
    // streams (watch, keepalive) have no deadline; every unary call has one
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callMs }),
  };
  if (tls) o.credentials = { rootCertificate: fs.readFileSync(opts.ca!), ...(opts.cert ? { certChain: fs.readFileSync(opts.cert) } : {}), ...(opts.key ? { privateKey: fs.readFileSync(opts.key) } : {}) };
  if (opts.user) o.auth = { username: opts.user, password: fs.readFileSync(opts.passwordFile!, 'utf8').trim() };
  return o;
}

const client = new Etcd3(clientOptions());

function post(m: StreamMessage): void {
  data.stream.postMessage(m);
  Atomics.add(flags, 1, 1);
  Atomics.notify(flags, 1);
}

function reply(id: number, body: Record<string, unknown>): void {
  data.reply.postMessage({ id, ...body });
  Atomics.store(flags, 0, id);
  Atomics.notify(flags, 0);
}

// ---- health: a linearizable read needs a quorum ------------------------------

let healthy: boolean | undefined;
let healthTimer: NodeJS.Timeout | undefined;
function setHealth(ok: boolean, reason: string): void {
  if (ok === healthy) return;
  healthy = ok;
  Atomics.store(flags, 2, ok ? 1 : 2);
  post({ kind: 'health', ok, reason });
}
async function probe(): Promise<void> {
  try {
    await client.get(`${P}probe`).exec();
    setHealth(true, 'ok');
  } catch (e) {
    setHealth(false, `etcd has no quorum or cannot be reached: ${(e as Error).message}`);
  }
}
function startProbe(): void {
  if (healthTimer) return;
  const loop = () => { void probe().finally(() => { healthTimer = setTimeout(loop, opts.probeMs); }); };
  loop();
}

// ---- watch -------------------------------------------------------------------

let watcher: Watcher | undefined;
async function watch(from: number): Promise<void> {
  const old = watcher;
  watcher = undefined;
  await old?.cancel().catch(() => undefined);
  const w = await client.watch().prefix(DATA).startRevision(String(from)).create();
  watcher = w;
  w.on('data', (res) => {
    // one revision's events are never split across responses; a response may hold several revisions
    let batch: { revision: number; changes: KvChange[] } | undefined;
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision);
      if (!batch || batch.revision !== rev) {
        if (batch) post({ kind: 'events', ...batch });
        batch = { revision: rev, changes: [] };
      }
      const key = ev.kv.key.toString();
      batch.changes.push(ev.type === 'Delete' ? { key, value: null } : { key, value: ev.kv.value.toString() });
    }
    if (batch) post({ kind: 'events', ...batch });
  });
  // cancelled by etcd (e.g. compacted past where it was): the main thread reads the store again and watches anew
  w.on('error', (e) => { if (watcher === w) post({ kind: 'watchLost', reason: `etcd watch failed: ${e.message}` }); });
}

// ---- leader election -----------------------------------------------------------

const LEADER = `${P}leader`;
let lease: Lease | undefined;
let leading = false;
let stepDownTimer: NodeJS.Timeout | undefined;
let leaderWatch: Watcher | undefined;
let lastKeepalive = 0;
let campaigning = false;

let announced = '';
function announce(leader: boolean, generation: number, holder: string): void {
  const k = `${leader}/${generation}/${holder}`;
  if (k === announced) return;
  announced = k;
  post({ kind: 'leader', leader, generation, holder });
}

function stepDown(why: string): void {
  if (!leading) return;
  leading = false;
  clearInterval(stepDownTimer);
  const l = lease;
  lease = undefined;
  l?.release();
  announce(false, 0, `(none: ${why})`);
  setTimeout(() => void campaign(), 100);
}

async function campaign(): Promise<void> {
  if (campaigning || leading || !opts.campaign) return;
  campaigning = true;
  try {
    const l = client.lease(opts.leaseTtl, { autoKeepAlive: true });
    const id = await l.grant();
    const r = await client.if(LEADER, 'Create', '==', 0)
      .then(client.put(LEADER).value(opts.memberId).lease(id))
      .else(client.get(LEADER))
      .commit();
    if (r.succeeded) {
      lease = l;
      leading = true;
      lastKeepalive = Date.now();
      l.on('keepaliveSucceeded', () => { lastKeepalive = Date.now(); });
      l.on('lost', () => stepDown('lease lost'));
      // a leader that cannot renew its lease for a TTL steps down: etcd has given the key away by then, or will
      stepDownTimer = setInterval(() => { if (Date.now() - lastKeepalive > opts.leaseTtl * 1000) stepDown('lease not renewed'); }, 100);
      announce(true, Number(r.header.revision), opts.memberId);
    } else {
      void l.revoke().catch(() => undefined);
      const kv = r.responses[0]?.response_range?.kvs?.[0];
      if (kv) announce(false, Number(kv.create_revision), kv.value.toString());
      else setTimeout(() => void campaign(), 100);
    }
  } catch {
    setTimeout(() => void campaign(), 250);
  } finally {
    campaigning = false;
  }
}

async function elect(): Promise<void> {
  leaderWatch = await client.watch().key(LEADER).create();
  leaderWatch.on('delete', () => { if (!leading) void campaign(); });
  leaderWatch.on('put', (kv) => { if (kv.value.toString() !== opts.memberId) announce(false, Number(kv.create_revision), kv.value.toString()); });
  // the watch reconnects after etcd comes back: a key deleted meanwhile is not seen, so look now and then
  // (a read), and campaign when there is no leader
  setInterval(() => {
    if (leading || campaigning) return;
    client.get(LEADER).exec().then((r) => {
      const kv = r.kvs[0];
      if (!kv) void campaign();
      else if (kv.value.toString() !== opts.memberId) announce(false, Number(kv.create_revision), kv.value.toString());
    }, () => undefined);
  }, 500).unref();
  await campaign();
}

// ---- requests ----------------------------------------------------------------

async function handle(m: WorkerRequest): Promise<Record<string, unknown>> {
  switch (m.op) {
    case 'snapshot': {
      const r = await client.getAll().prefix(DATA).exec();
      return { revision: Number(r.header.revision), kvs: r.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString(), mod: Number(kv.mod_revision) })) };
    }
    case 'txn': {
      let b = client.if(SEQ, 'Mod', '==', m.seqMod);
      const ops = [client.put(SEQ).value(String(Date.now())), ...m.changes.map((c) => (c.value === null ? client.delete().key(c.key) : client.put(c.key).value(c.value)))];
      b = b.then(...ops).else(client.get(SEQ));
      const r = await b.commit();
      setHealth(true, 'ok');
      if (r.succeeded) return { succeeded: true, revision: Number(r.header.revision) };
      const kv = r.responses[0]?.response_range?.kvs?.[0];
      return { succeeded: false, seqMod: kv ? Number(kv.mod_revision) : 0 };
    }
    case 'nextRound': {
      // a flow round (cookie bits) unique among the cluster's controllers: compare-and-swap on one counter
      const key = `${P}round`;
      for (;;) {
        const kv = (await client.get(key).exec()).kvs[0];
        const prev = kv ? Number(kv.value.toString()) : 0;
        const next = (prev % 0xffff) + 1;
        const r = await client.if(key, 'Mod', '==', kv ? Number(kv.mod_revision) : 0).then(client.put(key).value(String(next))).commit();
        if (r.succeeded) return { round: next };
      }
    }
    case 'watch':
      await watch(m.from);
      if (!started) {
        started = true;
        startProbe();
        if (opts.campaign) void elect();
      }
      return {};
    case 'close':
      clearTimeout(healthTimer);
      if (leading) { try { await lease?.revoke(); } catch { /* expires by itself */ } }
      client.close();
      return {};
  }
}

let started = false;
let chain: Promise<void> = Promise.resolve();
parentPort!.on('message', (m: WorkerRequest) => {
  chain = chain.then(async () => {
    try {
      reply(m.id, { ok: true, ...(await handle(m)) });
    } catch (e) {
      if (m.op === 'txn') setHealth(false, `etcd write failed: ${(e as Error).message}`);
      reply(m.id, { ok: false, error: (e as Error).message });
    }
  });
});
