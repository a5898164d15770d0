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
import net from 'node:net';
import tls from 'node:tls';
import { Etcd3, IOptions, Lease, Range, Watcher } from 'etcd3';
import { explainEtcdError } from './etcd-link';
import type { EtcdOptions, EtcdSecrets, WorkerRequest, StreamMessage, KvChange } from './etcd-link';

const data = workerData as { opts: EtcdOptions; secrets: EtcdSecrets; flags: SharedArrayBuffer; reply: MessagePort; stream: MessagePort };
const opts = data.opts;
const secrets = data.secrets;
const flags = new Int32Array(data.flags);
const P = opts.prefix;
const DATA = `${P}data/`;
/** Keys per page of the start snapshot (a page of endpoints: about 5 MiB at 10,000; gRPC refuses a response over 4 MiB). */
const SNAPSHOT_PAGE = 2000;
const SEQ = `${DATA}_seq`;
const callMs = opts.callTimeoutMs;
const useTls = secrets.ca !== undefined;

// grpc-js gives TLS the host as its server name even when it is an IP
// address (etcd://127.0.0.1:2379); Node warns of it (DEP0123) and sends no
// SNI, which etcd does not need. The certificate is still checked against
// the IP (its subjectAltName). Keep that one warning off the controller's log.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((w: string | Error, ...a: unknown[]) => {
  const code = typeof a[0] === 'object' && a[0] ? (a[0] as { code?: string }).code : a[1];
  if (code === 'DEP0123') return;
  (emitWarning as (...x: unknown[]) => void)(w, ...a);
}) as typeof process.emitWarning;

function clientOptions(): IOptions {
  const o: IOptions = {
    hosts: opts.endpoints.map((e) => `${useTls ? 'https' : 'http'}://${e}`),
    dialTimeout: callMs,
    // streams (watch, keepalive) have no deadline; every unary call has one
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callMs }),
    // a watch response may carry many events (gRPC's default refuses over 4 MiB; the snapshot reads in pages)
    grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 },
  };
  if (useTls) {
    o.credentials = {
      rootCertificate: Buffer.from(secrets.ca!),
      ...(secrets.cert ? { certChain: Buffer.from(secrets.cert) } : {}),
      ...(secrets.key ? { privateKey: Buffer.from(secrets.key) } : {}),
    };
  }
  if (opts.user) o.auth = { username: opts.user, password: secrets.password ?? '' };
  return o;
}

// a client that cannot be made (it should not happen: the main thread checked the files) answers every request with why
let client!: Etcd3;
let initError: string | undefined;
try {
  client = new Etcd3(clientOptions());
} catch (e) {
  initError = `the etcd client could not be made: ${(e as Error).message}`;
}

/** Whether HOST:PORT completes a TLS handshake (any certificate): a plain client's hint that etcd wants TLS. */
function answersTls(ep: string): Promise<boolean> {
  const i = ep.lastIndexOf(':');
  const host = ep.slice(0, i).replace(/^\[|\]$/g, '');
  return new Promise((res) => {
    const s = tls.connect({ host, port: Number(ep.slice(i + 1)), rejectUnauthorized: false, ALPNProtocols: ['h2'], ...(net.isIP(host) ? {} : { servername: host }) });
    const done = (v: boolean) => { clearTimeout(t); s.destroy(); res(v); };
    const t = setTimeout(() => done(false), Math.min(callMs, 1000));
    s.once('secureConnect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** An error's message in words that say what to fix (TLS), probing the members when a plain client could not connect. */
async function explain(e: unknown): Promise<string> {
  const msg = (e as Error).message;
  let plainAnswersTls: string | undefined;
  if (!useTls && /No connection established|Failed to connect|Connection dropped/i.test(msg)) {
    for (const ep of opts.endpoints) if (await answersTls(ep)) { plainAnswersTls = ep; break; }
  }
  return explainEtcdError(msg, { tls: useTls, clientCert: secrets.cert !== undefined, plainAnswersTls });
}

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
    setHealth(false, `etcd has no quorum or cannot be reached: ${explainEtcdError((e as Error).message, { tls: useTls, clientCert: secrets.cert !== undefined })}`);
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
      // in pages, all at the first page's revision (one consistent state): a response is at most 4 MiB
      // (gRPC's default), which one read of 10,000 endpoints already exceeded, so a controller could not start
      const all = Range.prefix(DATA);
      const kvs: { key: string; value: string; mod: number }[] = [];
      let revision: number | undefined;
      let start = all.start;
      for (;;) {
        const q = client.getAll().inRange(new Range(start, all.end)).limit(SNAPSHOT_PAGE);
        if (revision !== undefined) q.revision(revision);
        const r = await q.exec();
        revision ??= Number(r.header.revision);
        for (const kv of r.kvs) kvs.push({ key: kv.key.toString(), value: kv.value.toString(), mod: Number(kv.mod_revision) });
        const last = r.kvs[r.kvs.length - 1];
        if (!r.more || !last) break;
        start = Buffer.concat([last.key, Buffer.from([0])]);
      }
      return { revision, kvs };
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
    if (initError !== undefined) { reply(m.id, { ok: false, error: initError }); return; }
    try {
      reply(m.id, { ok: true, ...(await handle(m)) });
    } catch (e) {
      // the first read explains a connection that failed (probing a plain one); later errors are read as they come
      const msg = m.op === 'snapshot' && !started ? await explain(e) : explainEtcdError((e as Error).message, { tls: useTls, clientCert: secrets.cert !== undefined });
      if (m.op === 'txn') setHealth(false, `etcd write failed: ${msg}`);
      reply(m.id, { ok: false, error: msg });
    }
  });
});
