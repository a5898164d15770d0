// `weft pki`: a certificate authority for the OpenFlow channel over TLS in
// one step each, with the Debian `openssl` command.
//
//   weft pki init --dir D                          CA: D/ca.key (0600), D/ca.crt
//   weft pki controller --dir D [--name ctl] [--ip A]... [--dns N]...
//                                                  D/ctl.key, D/ctl.crt for --tls-key/--tls-cert
//   weft pki host --dir D --name h1 --dpid X [--dpid Y]...
//                                                  D/h1.key, D/h1.crt bound to those dpids
//
// A host certificate names each dpid it may claim as a subjectAltName URI
// `dpid:` + 16 hex digits (a container host's br-int and br-phy: two), and
// the first one in its CN too (`CN=dpid:...`). The controller refuses a
// switch whose FEATURES_REPLY claims a dpid its certificate does not name
// (southbound/channel/identity.ts). Give the switch its files with
// `ovs-vsctl set-ssl D/h1.key D/h1.crt D/ca.crt` and start the controller
// with `--tls-key D/ctl.key --tls-cert D/ctl.crt --tls-ca D/ca.crt`.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { normalizeDpid, DPID_URI_PREFIX } from '../../southbound/channel/identity';

const execFileP = promisify(execFile);

export const PKI_USAGE = `Usage: weft pki <command> --dir DIR [options]

Commands:
  init                 make a certificate authority: DIR/ca.key, DIR/ca.crt
  controller           make the controller's key and certificate, signed by the CA
      --name NAME      file names NAME.key / NAME.crt (default ctl)
      --ip ADDR        an IP address the switches reach it at (repeatable;
                       default 127.0.0.1)
      --dns NAME       a DNS name for it (repeatable; default localhost)
  host                 make a switch host's key and certificate, signed by the CA
      --name NAME      the host's name: NAME.key / NAME.crt
      --dpid X         a datapath id the host's switches may claim (16 hex
                       digits, 0x..., or aa:bb:..); repeat for each bridge

Options:
  --dir DIR            the PKI's folder (made if missing)
  --days N             validity in days (default 3650)
  --force              overwrite existing files

Point Open vSwitch at it with  ovs-vsctl set-ssl DIR/NAME.key DIR/NAME.crt DIR/ca.crt
and  ovs-vsctl set-controller BR ssl:IP:6653 ; run the controller with
  --tls-key DIR/ctl.key --tls-cert DIR/ctl.crt --tls-ca DIR/ca.crt
`;

export class PkiError extends Error {}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const DNS = /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileP('openssl', args, { timeout: 60_000 });
  } catch (e) {
    const err = e as Error & { code?: unknown; stderr?: string };
    if (err.code === 'ENOENT') throw new PkiError('openssl not found (apt-get install openssl)');
    throw new PkiError(`openssl ${args[0]} failed: ${(err.stderr ?? err.message).trim()}`);
  }
}

function refuseOverwrite(files: string[], force: boolean): void {
  if (force) return;
  const there = files.filter((f) => fs.existsSync(f));
  if (there.length) throw new PkiError(`${there.join(', ')} already exist${there.length === 1 ? 's' : ''} (--force to overwrite)`);
}

export interface CaFiles { key: string; cert: string }

export const caFiles = (dir: string): CaFiles => ({ key: path.join(dir, 'ca.key'), cert: path.join(dir, 'ca.crt') });

/** Makes the CA in `dir`. */
export async function pkiInit(dir: string, days = 3650, force = false): Promise<CaFiles> {
  const ca = caFiles(dir);
  refuseOverwrite([ca.key, ca.cert], force);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  await openssl([
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', ca.key, '-out', ca.cert, '-days', String(days), '-sha256',
    '-subj', '/O=Weft/CN=Weft OpenFlow CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  fs.chmodSync(ca.key, 0o600);
  return ca;
}

/** Issues NAME.key / NAME.crt in `dir`, signed by the CA there, with these subject and extensions. */
async function issue(dir: string, name: string, cn: string, san: string[], days: number, force: boolean): Promise<{ key: string; cert: string }> {
  const ca = caFiles(dir);
  if (!fs.existsSync(ca.key) || !fs.existsSync(ca.cert)) throw new PkiError(`no CA in ${dir} (run: weft pki init --dir ${dir})`);
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  refuseOverwrite([key, cert], force);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  try {
    await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/O=Weft/CN=${cn}`]);
    fs.chmodSync(key, 0o600);
    fs.writeFileSync(ext, [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      `subjectAltName=${san.join(',')}`,
      '',
    ].join('\n'));
    await openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', String(days), '-sha256', '-extfile', ext]);
  } finally {
    for (const f of [csr, ext]) fs.rmSync(f, { force: true });
  }
  return { key, cert };
}

/** The controller's key and certificate (server side of the OpenFlow TLS channel). */
export function pkiController(dir: string, name = 'ctl', ips: string[] = ['127.0.0.1'], dns: string[] = ['localhost'], days = 3650, force = false): Promise<{ key: string; cert: string }> {
  return issue(dir, name, 'weft-controller', [...ips.map((i) => `IP:${i}`), ...dns.map((d) => `DNS:${d}`)], days, force);
}

/** A switch host's key and certificate, bound to `dpids`. */
export function pkiHost(dir: string, name: string, dpids: string[], days = 3650, force = false): Promise<{ key: string; cert: string; dpids: string[] }> {
  const norm = dpids.map((d) => {
    const n = normalizeDpid(d);
    if (!n) throw new PkiError(`--dpid: "${d}" is not a datapath id (16 hex digits)`);
    return n;
  });
  if (!norm.length) throw new PkiError('host: give at least one --dpid');
  const uniq = [...new Set(norm)];
  return issue(dir, name, `${DPID_URI_PREFIX}${uniq[0]}`, uniq.map((d) => `URI:${DPID_URI_PREFIX}${d}`), days, force).then((f) => ({ ...f, dpids: uniq }));
}

/** `weft pki ...`: returns the exit code (0 done, 1 failed, 2 bad usage). */
export async function pkiMain(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    (cmd === undefined ? err : out)(PKI_USAGE);
    return cmd === undefined ? 2 : 0;
  }
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: rest, strict: true, allowPositionals: false,
      options: {
        dir: { type: 'string' }, name: { type: 'string' }, dpid: { type: 'string', multiple: true }, ip: { type: 'string', multiple: true },
        dns: { type: 'string', multiple: true }, days: { type: 'string' }, force: { type: 'boolean' },
      },
    }));
  } catch (e) {
    err(`weft pki: ${(e as Error).message}\n\n${PKI_USAGE}`);
    return 2;
  }
  const usage = (m: string): number => { err(`weft pki: ${m}\n\n${PKI_USAGE}`); return 2; };
  const dir = values.dir as string | undefined;
  if (!dir) return usage('--dir is required');
  const daysS = (values.days as string | undefined) ?? '3650';
  if (!/^\d+$/.test(daysS) || Number(daysS) < 1) return usage(`--days: "${daysS}" is not a number of days`);
  const days = Number(daysS);
  const force = values.force === true;
  const name = values.name as string | undefined;
  if (name !== undefined && !NAME.test(name)) return usage(`--name: "${name}" must be letters, digits, ".", "_" or "-"`);
  const dpids = (values.dpid as string[] | undefined) ?? [];
  const ips = (values.ip as string[] | undefined) ?? [];
  const dns = (values.dns as string[] | undefined) ?? [];
  try {
    switch (cmd) {
      case 'init': {
        if (name || dpids.length || ips.length || dns.length) return usage('init takes only --dir, --days and --force');
        const ca = await pkiInit(dir, days, force);
        out(`CA: ${ca.cert} (key ${ca.key})\n`);
        return 0;
      }
      case 'controller': {
        if (dpids.length) return usage('controller takes no --dpid');
        for (const i of ips) if (!IPV4.test(i)) return usage(`--ip: "${i}" is not an IPv4 address`);
        for (const d of dns) if (!DNS.test(d)) return usage(`--dns: "${d}" is not a DNS name`);
        const f = await pkiController(dir, name ?? 'ctl', ips.length ? ips : ['127.0.0.1'], dns.length ? dns : ['localhost'], days, force);
        out(`controller: ${f.cert} (key ${f.key})\n  weft controller --tls-key ${f.key} --tls-cert ${f.cert} --tls-ca ${caFiles(dir).cert}\n`);
        return 0;
      }
      case 'host': {
        if (!name) return usage('host needs --name');
        if (!dpids.length) return usage('host needs at least one --dpid');
        if (ips.length || dns.length) return usage('host takes no --ip or --dns');
        const f = await pkiHost(dir, name, dpids, days, force);
        out(`host ${name}: ${f.cert} (key ${f.key}), dpids ${f.dpids.join(', ')}\n  ovs-vsctl set-ssl ${f.key} ${f.cert} ${caFiles(dir).cert}\n`);
        return 0;
      }
      default:
        return usage(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof PkiError) {
      err(`weft pki: ${e.message}\n`);
      return e.message.includes('--dpid') ? 2 : 1;
    }
    throw e;
  }
}
