/**
 * Helpers for integration tests that drive the system Open vSwitch
 * (started by mininet/scripts/ensure-ovs.sh; userspace datapath, so every
 * bridge is datapath_type=netdev).
 *
 *   const br = await TestBridge.create({ ports: 2, controllerPort: 6653 });
 *   try { ... await br.dumpFlows() ... } finally { await br.destroy(); }
 *
 * Test bridges are named wt* so that .ci/run can remove leftovers.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait';

const execFileP = promisify(execFile);

/** Linux interface names are at most 15 characters (IFNAMSIZ - 1). */
const MAX_IFNAME = 15;

/** ovs-vsctl waits for ovs-vswitchd; never let it wait forever. */
const VSCTL_TIMEOUT_S = 10;

/**
 * Runs `cmd args...` (no shell) and returns its stdout. On failure throws an
 * Error whose message holds the command line, exit code and stderr.
 */
export async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
    return stdout;
  } catch (e) {
    const err = e as Error & { code?: unknown; stderr?: string };
    const stderr = (err.stderr ?? '').trim();
    throw new Error(`${cmd} ${args.join(' ')} failed (${String(err.code ?? err.message)})${stderr ? `: ${stderr}` : ''}`, {
      cause: e,
    });
  }
}

/** Runs ovs-vsctl with a timeout. */
export function vsctl(...args: string[]): Promise<string> {
  return sh('ovs-vsctl', [`--timeout=${VSCTL_TIMEOUT_S}`, ...args]);
}

/** Strips the quotes ovs-vsctl puts around string values. */
function unquote(s: string): string {
  return s.trim().replace(/^"(.*)"$/, '$1');
}

/** True if ovsdb-server answers and ovs-vswitchd is running. */
export async function ovsAvailable(): Promise<boolean> {
  try {
    await sh('ovs-vsctl', ['--timeout=3', 'show']);
    await sh('ovs-appctl', ['--timeout=3', '-t', 'ovs-vswitchd', 'version']);
    return true;
  } catch {
    return false;
  }
}

export interface TestBridgeOptions {
  /** Bridge name, at most 15 chars; default `wt` + 8 random hex digits. */
  name?: string;
  /** Controller at tcp:127.0.0.1:<port>. */
  controllerPort?: number;
  /** Full controller target, e.g. 'ssl:127.0.0.1:6654'; overrides controllerPort. */
  controllerTarget?: string;
  /** Bridge `protocols` column; default 'OpenFlow13'. */
  protocols?: string;
  /** Default 'secure' (no L2 fallback when the controller is away). */
  failMode?: 'secure' | 'standalone';
  /** Number of internal ports `${name}p${i}`, i = 1..ports, with ofport i. */
  ports?: number;
  /** Fixed datapath id (16 hex digits) via other-config:datapath-id. */
  dpid?: string;
  /** Controller reconnect max backoff in ms (OVS default 8000). */
  maxBackoffMs?: number;
}

/** A datapath_type=netdev OVS bridge owned by one test. */
export class TestBridge {
  private constructor(
    /** Bridge name. */
    readonly name: string,
    /** Names of the internal ports, index i-1 holds ofport i. */
    readonly portNames: readonly string[],
  ) {}

  /**
   * Creates the bridge in one ovs-vsctl transaction: netdev datapath,
   * in-band disabled, fail_mode (default secure), protocols (default
   * OpenFlow13), internal ports and controller. A leftover bridge with the
   * same name is deleted first. Resolves once ovs-vswitchd has built it.
   */
  static async create(opts: TestBridgeOptions = {}): Promise<TestBridge> {
    const name = opts.name ?? `wt${randomBytes(4).toString('hex')}`;
    const nPorts = opts.ports ?? 0;
    const portNames = Array.from({ length: nPorts }, (_, i) => `${name}p${i + 1}`);
    for (const n of [name, ...portNames]) {
      if (n.length > MAX_IFNAME) throw new Error(`interface name ${n} longer than ${MAX_IFNAME} chars`);
    }
    const bridgeCols = [
      'datapath_type=netdev',
      `fail_mode=${opts.failMode ?? 'secure'}`,
      `protocols=${opts.protocols ?? 'OpenFlow13'}`,
      'other-config:disable-in-band=true',
    ];
    if (opts.dpid !== undefined) bridgeCols.push(`other-config:datapath-id=${opts.dpid}`);
    const args = ['add-br', name, '--', 'set', 'bridge', name, ...bridgeCols];
    portNames.forEach((p, i) => {
      args.push('--', 'add-port', name, p, '--', 'set', 'interface', p, 'type=internal', `ofport_request=${i + 1}`);
    });
    await vsctl('--if-exists', 'del-br', name);
    await vsctl(...args);
    const br = new TestBridge(name, portNames);
    const target = opts.controllerTarget ?? (opts.controllerPort !== undefined ? `tcp:127.0.0.1:${opts.controllerPort}` : null);
    if (target !== null) await br.setController(target, opts.maxBackoffMs);
    return br;
  }

  /** Datapath id as 16 lowercase hex digits (waits until OVS has set it). */
  async dpid(): Promise<string> {
    return waitFor(
      async () => {
        const id = unquote(await vsctl('get', 'bridge', this.name, 'datapath_id'));
        return /^[0-9a-f]{16}$/.test(id) ? id : '';
      },
      { what: `datapath_id of ${this.name}`, timeoutMs: 5000 },
    );
  }

  /** Runs `ovs-ofctl -O OpenFlow13 ...args` and returns stdout. */
  ofctl(...args: string[]): Promise<string> {
    return sh('ovs-ofctl', ['-O', 'OpenFlow13', ...args]);
  }

  /**
   * Flows of this bridge, one trimmed line each, without statistics, e.g.
   * 'priority=0 actions=CONTROLLER:65535'. Header lines ("OFPST_FLOW reply")
   * are dropped; note that OVS 3.1 prints none for -O OpenFlow13 --no-stats.
   */
  async dumpFlows(): Promise<string[]> {
    const out = await this.ofctl('--no-stats', 'dump-flows', this.name);
    return out
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !/^(OFPST|NXST)_FLOW reply/.test(l));
  }

  /** Points the bridge at `target` (e.g. 'tcp:127.0.0.1:6653'), or removes its controller(s) if null. */
  async setController(target: string | null, maxBackoffMs?: number): Promise<void> {
    if (target === null) {
      await vsctl('del-controller', this.name);
      return;
    }
    await vsctl('set-controller', this.name, target);
    if (maxBackoffMs !== undefined) await vsctl('set', 'controller', this.name, `max_backoff=${maxBackoffMs}`);
  }

  /** True if any controller of this bridge has is_connected=true. */
  async isConnected(): Promise<boolean> {
    const list = (await vsctl('get', 'bridge', this.name, 'controller')).trim();
    const uuids = list.replace(/^\[|\]$/g, '').split(',').map((s) => s.trim()).filter(Boolean);
    for (const uuid of uuids) {
      if ((await vsctl('get', 'controller', uuid, 'is_connected')).trim() === 'true') return true;
    }
    return false;
  }

  /** Deletes the bridge and its ports (no error if already gone). */
  async destroy(): Promise<void> {
    await vsctl('--if-exists', 'del-br', this.name);
  }
}

/** File paths of a throw-away PKI made by makeTestPki. */
export interface TestPki {
  /** Self-signed CA certificate (PEM): trust anchor for both sides. */
  caCert: string;
  /** Controller certificate, CN=weft-controller, SAN IP:127.0.0.1, DNS:localhost. */
  ctlCert: string;
  ctlKey: string;
  /** Switch (client) certificate, CN=weft-switch. */
  swCert: string;
  swKey: string;
}

/** Throws a clear error if the openssl command is missing. */
async function requireOpenssl(): Promise<void> {
  try {
    await sh('which', ['openssl']);
  } catch {
    throw new Error('openssl not found (apt-get install openssl)');
  }
}

/** Issues a leaf key + certificate `${base}.key/.crt` in dir, signed by the CA. */
async function issueCert(dir: string, base: string, cn: string, ca: { cert: string; key: string }, sans: string[] = []): Promise<void> {
  const key = path.join(dir, `${base}.key`);
  const csr = path.join(dir, `${base}.csr`);
  const ext = path.join(dir, `${base}.ext`);
  await sh('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`]);
  await writeFile(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      `subjectAltName=${['IP:127.0.0.1', 'DNS:localhost', ...sans].join(',')}`,
      '',
    ].join('\n'),
  );
  await sh('openssl', [
    'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial',
    '-out', path.join(dir, `${base}.crt`), '-days', '3650', '-sha256', '-extfile', ext,
  ]);
}

/**
 * Builds a self-signed CA and two CA-signed certificates in `dir` with
 * openssl: one for the controller (Node tls server: key=ctlKey, cert=ctlCert,
 * ca=caCert, requestCert=true) and one for the switch
 * (`ovs-vsctl set-ssl swKey swCert caCert`). Both leaf certs allow server and
 * client use. Returns the file paths.
 */
/** The switch certificate is bound to `switchDpid` (a subjectAltName URI dpid:<16 hex>): the controller refuses other dpids from it. */
export const TEST_PKI_DPID = '00000000000a7301';

export async function makeTestPki(dir: string): Promise<TestPki> {
  await requireOpenssl();
  await mkdir(dir, { recursive: true });
  const ca = { cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') };
  await sh('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', ca.key, '-out', ca.cert,
    '-days', '3650', '-sha256', '-subj', '/CN=Weft Test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await issueCert(dir, 'ctl', 'weft-controller', ca);
  await issueCert(dir, 'sw', 'weft-switch', ca, [`URI:dpid:${TEST_PKI_DPID}`]);
  return {
    caCert: ca.cert,
    ctlCert: path.join(dir, 'ctl.crt'),
    ctlKey: path.join(dir, 'ctl.key'),
    swCert: path.join(dir, 'sw.crt'),
    swKey: path.join(dir, 'sw.key'),
  };
}

/** Gives the system OVS the switch side of `pki` (global: the SSL table). */
export async function setOvsSsl(pki: TestPki): Promise<void> {
  await vsctl('set-ssl', pki.swKey, pki.swCert, pki.caCert);
}

/** Removes the OVS SSL configuration. */
export async function clearOvsSsl(): Promise<void> {
  await vsctl('del-ssl');
}

/** SSL helpers grouped, for `import { ssl } from './ovs'`. */
export const ssl = { makeTestPki, setOvsSsl, clearOvsSsl };
