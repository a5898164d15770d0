// The etcd store over TLS, against a real etcd (/usr/bin/etcd on loopback,
// its client port https only and asking for a client certificate; the CA
// and certificates made by `weft pki` in the cluster's folder): the right
// CA and client certificate open the store, a write through one store
// reaches another by the watch, and a controller starts on it. The
// attacker's side: a wrong CA, no client certificate, one from another CA,
// a server certificate for another name, plain http to TLS and TLS to
// plain are refused at start with the reason (not the call's deadline),
// and an etcd user's password goes over TLS. The files behind --etcd-ca,
// --etcd-cert, --etcd-key and --etcd-password-file are checked before
// anything connects, each error naming its flag.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { EtcdStore } from '../../controller/store-etcd';
import { ETCD_DEFAULTS, EtcdOptions, EtcdStartError, explainEtcdError, loadEtcdSecrets } from '../../controller/etcd-link';
import { ContainerService } from '../../controller/container-service';
import { EventBus } from '../../controller/events';
import { pkiInit, pkiController } from '../../northbound/cli/pki';
import { parseControllerArgs, UsageError } from '../../northbound/cli/weft';
import { EtcdCluster, etcdAvailable } from '../helpers/etcd';
import { startController } from '../helpers/controller';
import { repoRoot } from '../helpers/paths';
import { waitFor } from '../helpers/wait';

const skip = etcdAvailable() ? false : 'no /usr/bin/etcd (apt-get install etcd-server)';
const WEFT = path.join(repoRoot(), 'dist/northbound/cli/weft.js');
let etcd: EtcdCluster;
/** Another CA, and a client certificate it signed (etcd does not trust it). */
let other: { ca: string; cert: string; key: string };
let dir: string;
const open: EtcdStore[] = [];
let n = 0;

function opts(prefix: string, over: Partial<EtcdOptions> = {}): EtcdOptions {
  const t = etcd.tls!;
  return { ...ETCD_DEFAULTS, endpoints: etcd.endpoints, prefix, campaign: false, memberId: `tls${++n}`, ca: t.ca, cert: t.cert, key: t.key, ...over };
}

function node(o: EtcdOptions) {
  const store = new EtcdStore(o);
  open.push(store);
  const svc = new ContainerService(store, () => undefined, new EventBus(), pino({ level: 'silent' }), 1);
  return { store, svc };
}

/** The store's start refused: the error, and how long it took (printed, not asserted). */
function refused(what: string, o: EtcdOptions): Error {
  const t0 = Date.now();
  let err: Error | undefined;
  try {
    open.push(new EtcdStore(o));
  } catch (e) {
    err = e as Error;
  }
  assert.ok(err, `${what}: the store opened`);
  console.log(`# ${what}: refused after ${Date.now() - t0} ms: ${err.message}`);
  assert.ok(err instanceof EtcdStartError, `${what}: ${err.stack}`);
  // the handshake's reason, not the call's deadline running out
  assert.doesNotMatch(err.message, /did not answer within/);
  return err;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-etcd-tls-'));
  const pki = path.join(dir, 'other');
  const ca = await pkiInit(pki, 2);
  const c = await pkiController(pki, 'client', ['127.0.0.1'], ['localhost'], 2);
  other = { ca: ca.cert, cert: c.cert, key: c.key };
  if (!skip) etcd = await EtcdCluster.start(1, os.tmpdir(), { tls: true });
});
after(async () => {
  for (const s of open) await s.closeAsync().catch(() => undefined);
  await etcd?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the TLS files and the password file are checked before anything connects, each error naming its flag', async () => {
  const f = (name: string, body: string) => { const p = path.join(dir, name); fs.writeFileSync(p, body, { mode: 0o600 }); return p; };
  const pki = path.join(dir, 'other');
  const notPem = f('not.pem', 'hello\n');
  const empty = f('empty-pw', '\n');
  const pw = f('pw', 'secret\n');
  // an encrypted key
  const enc = path.join(dir, 'enc.key');
  const r = spawnSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-aes256', '-pass', 'pass:x', '-out', enc]);
  assert.equal(r.status, 0, r.stderr?.toString());
  const bad: [Parameters<typeof loadEtcdSecrets>[0], RegExp][] = [
    [{ ca: path.join(dir, 'nope.pem') }, /^--etcd-ca: cannot read .*nope\.pem: ENOENT/],
    [{ ca: pki }, /^--etcd-ca: cannot read .*other: not a file/],
    [{ ca: notPem }, /^--etcd-ca: .*not\.pem holds no PEM certificate/],
    [{ ca: other.ca, cert: notPem, key: other.key }, /^--etcd-cert: .*not\.pem holds no PEM certificate/],
    [{ ca: other.ca, cert: other.cert, key: notPem }, /^--etcd-key: .*not\.pem: not a PEM private key/],
    [{ ca: other.ca, cert: other.cert, key: enc }, /^--etcd-key: .*enc\.key: the key is encrypted/],
    // the CA's key is not the client certificate's
    [{ ca: other.ca, cert: other.cert, key: path.join(pki, 'ca.key') }, /^--etcd-key: .*ca\.key is not the key of --etcd-cert/],
    [{ ca: other.ca, cert: other.cert }, /--etcd-cert and --etcd-key go together/],
    [{ cert: other.cert, key: other.key }, /--etcd-cert needs --etcd-ca/],
    [{ user: 'weft' }, /--etcd-user and --etcd-password-file go together/],
    [{ user: 'weft', passwordFile: empty }, /^--etcd-password-file: .*empty-pw is empty/],
  ];
  for (const [o, re] of bad) assert.throws(() => loadEtcdSecrets(o), (e: unknown) => e instanceof EtcdStartError && re.test((e as Error).message), JSON.stringify(o));
  const ok = loadEtcdSecrets({ ca: other.ca, cert: other.cert, key: other.key, user: 'weft', passwordFile: pw });
  assert.match(ok.ca!, /BEGIN CERTIFICATE/);
  assert.match(ok.key!, /PRIVATE KEY/);
  assert.equal(ok.password, 'secret');
  // the store refuses them before it starts a thread: no etcd is needed to be told
  assert.throws(() => new EtcdStore({ ...ETCD_DEFAULTS, endpoints: ['127.0.0.1:1'], prefix: '/x/', campaign: false, memberId: 'x', ca: notPem }), /^EtcdStartError: --etcd-ca: .* holds no PEM certificate/);

  // the CLI: a path that is not a readable file is a usage error naming the flag
  const cli = (...a: string[]) => () => parseControllerArgs(['--store', 'etcd://127.0.0.1:2379', ...a]);
  assert.throws(cli('--etcd-ca', pki), (e: unknown) => e instanceof UsageError && /^--etcd-ca: .* is not a file/.test((e as Error).message));
  assert.throws(cli('--etcd-ca', other.ca, '--etcd-cert', other.cert, '--etcd-key', path.join(dir, 'gone.key')), (e: unknown) => e instanceof UsageError && /^--etcd-key: .* does not exist/.test((e as Error).message));
  // and `weft controller` with a file that is not PEM: exit 1, one line naming the flag (no stack)
  const p = spawnSync(process.execPath, [WEFT, 'controller', '--store', 'etcd://127.0.0.1:1', '--etcd-ca', notPem, '--db', ':memory:', '--api-port', '0', '--of-port', '0', '--log-level', 'silent'], { timeout: 30000 });
  assert.equal(p.status, 1, p.stderr.toString());
  assert.match(p.stderr.toString(), /^weft: --etcd-ca: .*not\.pem holds no PEM certificate\n$/);
});

test('TLS handshake failures are told in words that say what to fix', () => {
  const last = (e: string) => `14 UNAVAILABLE: No connection established. Last error: ${e} (2026-12-03T08:51:19.254Z). Resolution note: `;
  const tls = { tls: true, clientCert: true };
  assert.match(explainEtcdError(last('Error: unable to verify the first certificate'), tls), /^TLS handshake with etcd failed: etcd's certificate is not signed by the --etcd-ca CA \(unable to verify the first certificate\)$/);
  assert.match(explainEtcdError(last('C036A84D1E7F0000:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 42\n'), { tls: true, clientCert: false }),
    /etcd asks for a client certificate: give --etcd-cert and --etcd-key \(sslv3 alert bad certificate\)$/);
  assert.match(explainEtcdError(last('C0:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:x.c:1:SSL alert number 42'), tls), /etcd refused the client certificate/);
  assert.match(explainEtcdError(last("Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list: 10.9.9.9"), tls), /does not name the host .* \(Hostname\/IP does not match/);
  assert.match(explainEtcdError(last('Error: certificate has expired'), tls), /etcd's certificate has expired/);
  // a plain etcd may reset the connection on a ClientHello instead of closing it (seen in CI)
  assert.match(explainEtcdError(last('read ECONNRESET'), tls), /etcd closed the connection in the handshake: does it serve TLS/);
  assert.match(explainEtcdError(last('C0:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:x.c:1:'), tls), /does not speak TLS on that port/);
  assert.match(explainEtcdError(last('Error: connect ECONNREFUSED 127.0.0.1:1'), tls), /^no connection to etcd: connect ECONNREFUSED 127\.0\.0\.1:1$/);
  assert.match(explainEtcdError(last('Failed to connect'), { tls: false, clientCert: false, plainAnswersTls: 'e1:2379' }), /^etcd at e1:2379 speaks TLS \(https\): give --etcd-ca/);
  // anything else as it came
  assert.equal(explainEtcdError('etcdserver: permission denied', tls), 'etcdserver: permission denied');
});

test('with the right CA and client certificate the store opens, writes, and another store sees the write by the watch', { skip }, async () => {
  const a = node(opts('/t-tls/'));
  // b reaches etcd by name (localhost, in the server certificate's subjectAltName) and is open before a writes
  const b = node(opts('/t-tls/', { endpoints: etcd.endpoints.map((e) => e.replace('127.0.0.1', 'localhost')) }));
  a.svc.createHost({ name: 'h1', dpid: '00000000000000f1', underlayIp: '172.31.237.11' });
  a.svc.createNetwork({ name: 'tls', cidr: '10.81.0.0/24' });
  const e = a.svc.createEndpoint({ containerId: 'c1', ifName: 'eth0', host: 'h1', network: 'tls' }).endpoint;
  await waitFor(() => b.svc.resources.endpoint(e.id), { what: "b sees a's endpoint" });
  assert.equal(b.svc.resources.endpoint(e.id)?.ip, e.ip);
  assert.equal(b.svc.resources.network('tls')?.cidr, '10.81.0.0/24');
  assert.equal(b.svc.resources.host('h1')?.underlayIp, '172.31.237.11');
  // and back
  const e2 = b.svc.createEndpoint({ containerId: 'c2', ifName: 'eth0', host: 'h1', network: 'tls' }).endpoint;
  await waitFor(() => a.svc.resources.endpoint(e2.id), { what: "a sees b's endpoint" });
  assert.notEqual(e2.ip, e.ip);
  assert.deepEqual(a.store.health(), { state: 'ok' });
});

test('a controller starts on a TLS etcd, is elected, and serves', { skip }, async () => {
  const t = etcd.tls!;
  const c = await startController({ etcd: { endpoints: etcd.endpoints, prefix: '/t-tls-ctl/', ca: t.ca, cert: t.cert, key: t.key }, apps: 'none', tunnelProbeInterval: 0, db: ':memory:' });
  try {
    await waitFor(() => c.cluster!.status().role === 'leader', { what: 'elected over TLS' });
    const h = (await c.api!.inject({ method: 'GET', url: '/v1/health' })).json() as { store: string; cluster: { role: string } };
    assert.equal(h.store, 'ok');
    assert.equal(h.cluster.role, 'leader');
    const r = await c.api!.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'n1', cidr: '10.82.0.0/24' } });
    assert.equal(r.statusCode, 201, r.body);
    // it is in etcd
    assert.match(etcd.etcdctl('get', '--prefix', '/t-tls-ctl/data/networks/'), /10\.82\.0\.0\/24/);
  } finally {
    await c.cleanup();
  }
});

test('refused at start, with the reason: a wrong CA, no client certificate, one from another CA, plain http to TLS', { skip }, () => {
  assert.match(refused('wrong CA', opts('/t-x/', { ca: other.ca })).message, /^etcd \(127\.0\.0\.1:\d+\) could not be read at start: TLS handshake with etcd failed: etcd's certificate is not signed by the --etcd-ca CA/);
  assert.match(refused('no client certificate', opts('/t-x/', { cert: undefined, key: undefined })).message, /TLS handshake with etcd failed: etcd asks for a client certificate: give --etcd-cert and --etcd-key/);
  assert.match(refused('client certificate from another CA', opts('/t-x/', { cert: other.cert, key: other.key })).message, /TLS handshake with etcd failed: etcd refused the client certificate/);
  assert.match(refused('plain http', opts('/t-x/', { ca: undefined, cert: undefined, key: undefined })).message, /etcd at 127\.0\.0\.1:\d+ speaks TLS \(https\): give --etcd-ca/);
  // a write the refused stores never made: nothing under their prefix
  assert.equal(etcd.etcdctl('get', '--prefix', '--keys-only', '/t-x/').trim(), '');
});

test('refused at start: a server certificate for another name, and TLS to a plain etcd', { skip }, async () => {
  const named = await EtcdCluster.start(1, os.tmpdir(), { tls: true, serverIps: ['10.9.9.9'], serverDns: ['etcd.example'] });
  const plain = await EtcdCluster.start(1);
  try {
    const t = named.tls!;
    assert.match(refused('server certificate for another name', opts('/t-x/', { endpoints: named.endpoints, ca: t.ca, cert: t.cert, key: t.key })).message,
      /TLS handshake with etcd failed: etcd's certificate does not name the host it was reached at .*127\.0\.0\.1 is not in the cert's list: 10\.9\.9\.9/);
    assert.match(refused('TLS to plain', opts('/t-x/', { endpoints: plain.endpoints })).message, /TLS handshake with etcd failed: etcd closed the connection in the handshake: does it serve TLS/);
  } finally {
    await named.stop();
    await plain.stop();
  }
});

test('`weft controller` on a TLS etcd with a wrong CA exits 1 with the reason on one line', { skip }, () => {
  const p = spawnSync(process.execPath, [WEFT, 'controller', '--store', `etcd://${etcd.endpoints[0]}`, '--etcd-ca', other.ca, '--etcd-cert', etcd.tls!.cert, '--etcd-key', etcd.tls!.key,
    '--db', ':memory:', '--api-port', '0', '--of-port', '0', '--log-level', 'silent'], { timeout: 30000 });
  assert.equal(p.status, 1, p.stderr.toString());
  assert.match(p.stderr.toString(), /^weft: etcd \(127\.0\.0\.1:\d+\) could not be read at start: TLS handshake with etcd failed: etcd's certificate is not signed by the --etcd-ca CA \([^)]*\)\n$/);
});

test('over TLS the store sees etcd go and come back: writes get 503 while it is gone, and work again after a new handshake', { skip }, async () => {
  const a = node(opts('/t-tls-back/'));
  a.svc.createHost({ name: 'h1', dpid: '00000000000000f3', underlayIp: '172.31.237.13' });
  await etcd.kill(0);
  await waitFor(() => a.store.health().state === 'degraded', { what: 'the store sees etcd gone' });
  assert.throws(() => a.svc.createNetwork({ name: 'gone', cidr: '10.83.0.0/24' }), (e: unknown) => (e as { status?: number }).status === 503);
  await etcd.restart(0);
  await waitFor(() => a.store.health().state === 'ok', { what: 'the store sees etcd back', timeoutMs: 15000 });
  const net = await waitFor(() => a.svc.createNetwork({ name: 'back', cidr: '10.83.1.0/24' }), { what: 'a write after etcd is back', timeoutMs: 15000 });
  assert.equal(net.cidr, '10.83.1.0/24');
  assert.equal(a.svc.resources.network('gone'), undefined);
  assert.match(etcd.etcdctl('get', '--prefix', '/t-tls-back/data/networks/'), /10\.83\.1\.0\/24/);
});

// last: it turns authentication on for the whole cluster
test('an etcd user and password over TLS: the store opens with them; without them, or with a wrong one, it is refused', { skip }, () => {
  etcd.etcdctl('user', 'add', 'root:rootpw');
  etcd.etcdctl('role', 'add', 'root');
  etcd.etcdctl('user', 'grant-role', 'root', 'root');
  etcd.etcdctl('user', 'add', 'weft:weftpw');
  etcd.etcdctl('role', 'add', 'weft');
  etcd.etcdctl('role', 'grant-permission', 'weft', '--prefix=true', 'readwrite', '/t-tls-auth/');
  etcd.etcdctl('user', 'grant-role', 'weft', 'weft');
  etcd.etcdctl('auth', 'enable');
  const pw = path.join(dir, 'weft-pw');
  fs.writeFileSync(pw, 'weftpw\n', { mode: 0o600 });
  const wrong = path.join(dir, 'wrong-pw');
  fs.writeFileSync(wrong, 'nope\n', { mode: 0o600 });
  const a = node(opts('/t-tls-auth/', { user: 'weft', passwordFile: pw }));
  a.svc.createHost({ name: 'h1', dpid: '00000000000000f2', underlayIp: '172.31.237.12' });
  assert.equal(a.svc.resources.host('h1')?.underlayIp, '172.31.237.12');
  // no password: etcd takes the client certificate's CN (weft-controller) as the user, who has no such permission
  assert.match(refused('TLS without the etcd password', opts('/t-tls-auth/')).message, /could not be read at start: .*(permission denied|user name not found)/);
  assert.match(refused('TLS with a wrong etcd password', opts('/t-tls-auth/', { user: 'weft', passwordFile: wrong })).message, /could not be read at start: .*authentication failed/);
});
