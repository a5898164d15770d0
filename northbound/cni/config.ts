// Reads and validates what a CNI runtime hands the plugin: the CNI_*
// environment variables, CNI_ARGS, and the network configuration on stdin.
// CNI SPEC 1.0.0/1.1.0, sections "Parameters" and "Section 1: Network
// configuration format"; CONVENTIONS.md for CNI_ARGS, args and runtimeConfig.
import { CniCode, CniError } from './errors';
import { apiUrls } from './api-client';

/** Spec versions this plugin speaks, oldest first. 0.3.x/0.4.0 results carry ips[].version. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const LATEST_VERSION = '1.1.0';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type Command = (typeof COMMANDS)[number];

export const DEFAULTS = {
  ovsdb: 'unix:/var/run/openvswitch/db.sock',
  bridge: 'br-int',
  mtu: 1500,
  readyTimeoutMs: 30_000,
} as const;

/** The CNI_* environment, validated for one command. */
export interface CniEnv {
  command: Command;
  /** Required for ADD, DEL, CHECK. */
  containerId: string;
  /** Required for ADD and CHECK; optional for DEL (the container may be gone). */
  netns: string;
  /** Required for ADD, DEL, CHECK. */
  ifName: string;
  /** CNI_ARGS as key/value pairs (later duplicates win). */
  args: Record<string, string>;
  /** CNI_PATH split on ':' (unused: this plugin delegates to nothing). */
  path: string[];
}

/** One entry of `cni.dev/valid-attachments` (GC, 1.1.0). */
export interface Attachment {
  containerID: string;
  ifname: string;
}

/** The network configuration, validated, with defaults applied. */
export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  /** Weft API base URL without a trailing slash. */
  api: string;
  /** This host's name in Weft. */
  host: string;
  /** OVSDB target for `ovs-vsctl --db=`. */
  ovsdb: string;
  bridge: string;
  /** Weft network name (default: `name`). */
  network: string;
  /** MTU set in the configuration, if any (it overrides the endpoint's). */
  mtu: number | undefined;
  readyTimeoutMs: number;
  prevResult: Record<string, unknown> | undefined;
  runtimeConfig: Record<string, unknown>;
  args: Record<string, unknown> | undefined;
  /** Passed through to the result's `dns`. */
  dns: Record<string, unknown> | undefined;
  /** GC only; undefined when the key is absent. */
  validAttachments: Attachment[] | undefined;
  /** Unix socket of the host's CNI agent, read by the native weft-cni front end (docs/cni.md). */
  agentSocket: string | undefined;
  /** File holding the API token (a host token for this host), read at each call. */
  tokenFile: string | undefined;
  /** CA certificate (PEM) that an https API's certificate must chain to, if not a system one. */
  apiCaFile: string | undefined;
}

/** Static address / MAC requests for ADD. */
export interface AddressRequest {
  ip?: string;
  mac?: string;
}

/** Compares dotted versions numerically: <0, 0, >0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function isSupportedVersion(v: unknown): v is string {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

const CONTAINER_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Linux interface name rules from the spec: 1-15 chars, not . or .., no / : or whitespace. */
export function validIfName(s: string): boolean {
  return s.length > 0 && s.length < 16 && s !== '.' && s !== '..' && !/[/:\s]/.test(s);
}

/** Parses CNI_ARGS ("K=V;K=V"). A pair without '=' is an error. */
export function parseCniArgs(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const part of raw.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new CniError(CniCode.INVALID_ENV, `CNI_ARGS: "${part}" is not KEY=VALUE`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** Validates the environment for `command`; throws code 4 naming every bad variable. */
export function parseEnv(env: NodeJS.ProcessEnv): CniEnv {
  const cmd = env.CNI_COMMAND;
  if (!cmd) throw new CniError(CniCode.INVALID_ENV, 'CNI_COMMAND is not set');
  if (!(COMMANDS as readonly string[]).includes(cmd)) {
    throw new CniError(CniCode.INVALID_ENV, `CNI_COMMAND: unknown command "${cmd}" (expected one of ${COMMANDS.join(', ')})`);
  }
  const command = cmd as Command;
  const problems: string[] = [];
  const needs = (name: string, when: Command[]) => {
    const v = env[name] ?? '';
    if (v === '' && when.includes(command)) problems.push(`${name} is not set`);
    return v;
  };
  const containerId = needs('CNI_CONTAINERID', ['ADD', 'DEL', 'CHECK']);
  const netns = needs('CNI_NETNS', ['ADD', 'CHECK']);
  const ifName = needs('CNI_IFNAME', ['ADD', 'DEL', 'CHECK']);
  const attach = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  if (attach && containerId !== '' && !CONTAINER_ID_RE.test(containerId)) {
    problems.push(`CNI_CONTAINERID "${containerId}" must start with a letter or digit followed by letters, digits, _ . or -`);
  }
  if (attach && ifName !== '' && !validIfName(ifName)) {
    problems.push(`CNI_IFNAME "${ifName}" is not a valid interface name (1-15 chars, no / : or whitespace, not . or ..)`);
  }
  if (problems.length > 0) throw new CniError(CniCode.INVALID_ENV, problems.join('; '));
  const args = parseCniArgs(env.CNI_ARGS);
  const path = (env.CNI_PATH ?? '').split(':').filter((p) => p !== '');
  return { command, containerId, netns, ifName, args, path };
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function invalid(msg: string): CniError {
  return new CniError(CniCode.INVALID_CONFIG, msg);
}

function optString(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') throw invalid(`"${key}" must be a non-empty string`);
  return v;
}

function optInt(o: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(`"${key}" must be an integer from ${min} to ${max}`);
  }
  return v;
}

/** Decodes stdin JSON: code 6 if it is not a JSON object. */
export function decodeConf(stdin: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(CniCode.DECODING_FAILURE, `network configuration on stdin is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(raw)) throw new CniError(CniCode.DECODING_FAILURE, 'network configuration on stdin must be a JSON object');
  return raw;
}

/** The cniVersion of a decoded configuration, checked against SUPPORTED_VERSIONS (code 1). */
export function confVersion(raw: Record<string, unknown>): string {
  const v = raw.cniVersion;
  if (v === undefined || v === null || v === '') throw invalid('"cniVersion" is required');
  if (!isSupportedVersion(v)) {
    throw new CniError(CniCode.INCOMPATIBLE_VERSION, `unsupported cniVersion ${JSON.stringify(v)}`,
      `supported versions: ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  return v;
}

/** Validates a decoded configuration for a command other than VERSION. */
export function parseConf(raw: Record<string, unknown>, command: Command): NetConf {
  const cniVersion = confVersion(raw);
  // The spec introduces CHECK in 0.4.0 and STATUS/GC in 1.1.0 (as libcni's skel enforces).
  const since: Partial<Record<Command, string>> = { CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' };
  const min = since[command];
  if (min !== undefined && compareVersions(cniVersion, min) < 0) {
    throw new CniError(CniCode.INCOMPATIBLE_VERSION, `cniVersion ${cniVersion} does not allow ${command} (needs ${min} or later)`);
  }
  const name = optString(raw, 'name');
  if (name === undefined) throw invalid('"name" is required');
  const type = optString(raw, 'type') ?? 'weft-cni';
  const apiRaw = optString(raw, 'api');
  if (apiRaw === undefined) throw invalid('"api" (the Weft API base URL, e.g. http://192.168.150.1:8080) is required');
  let api: string[];
  try {
    api = apiUrls(apiRaw);
  } catch (e) {
    throw invalid(`"api": ${(e as Error).message}`);
  }
  const host = optString(raw, 'host');
  if (host === undefined) throw invalid('"host" (this host\'s registered name in Weft) is required');
  const bridge = optString(raw, 'bridge') ?? DEFAULTS.bridge;
  if (!validIfName(bridge)) throw invalid(`"bridge": "${bridge}" is not a valid bridge name`);
  const prevResult = raw.prevResult;
  if (prevResult !== undefined && prevResult !== null && !isObject(prevResult)) throw invalid('"prevResult" must be an object');
  const runtimeConfig = raw.runtimeConfig ?? {};
  if (!isObject(runtimeConfig)) throw invalid('"runtimeConfig" must be an object');
  const args = raw.args;
  if (args !== undefined && args !== null && !isObject(args)) throw invalid('"args" must be an object');
  const dns = raw.dns;
  if (dns !== undefined && dns !== null && !isObject(dns)) throw invalid('"dns" must be an object');
  const agentSocket = optString(raw, 'agentSocket');
  if (agentSocket !== undefined && (!agentSocket.startsWith('/') || Buffer.byteLength(agentSocket) > 107)) {
    throw invalid(`"agentSocket": "${agentSocket}" must be an absolute path of at most 107 bytes`);
  }
  const tokenFile = optString(raw, 'tokenFile');
  if (tokenFile !== undefined && !tokenFile.startsWith('/')) throw invalid(`"tokenFile": "${tokenFile}" must be an absolute path`);
  const apiCaFile = optString(raw, 'apiCaFile');
  if (apiCaFile !== undefined && !apiCaFile.startsWith('/')) throw invalid(`"apiCaFile": "${apiCaFile}" must be an absolute path`);
  if (apiCaFile !== undefined && !api.every((u) => u.startsWith('https:'))) throw invalid('"apiCaFile" goes with an https "api" (every URL of it)');
  return {
    cniVersion,
    name,
    type,
    api: api.join(','),
    host,
    ovsdb: optString(raw, 'ovsdb') ?? DEFAULTS.ovsdb,
    bridge,
    network: optString(raw, 'network') ?? name,
    mtu: optInt(raw, 'mtu', 68, 65535),
    readyTimeoutMs: optInt(raw, 'readyTimeoutMs', 0, 600_000) ?? DEFAULTS.readyTimeoutMs,
    prevResult: isObject(prevResult) ? prevResult : undefined,
    runtimeConfig,
    args: isObject(args) ? args : undefined,
    dns: isObject(dns) ? dns : undefined,
    validAttachments: parseAttachments(raw),
    agentSocket,
    tokenFile,
    apiCaFile,
  };
}

function parseAttachments(raw: Record<string, unknown>): Attachment[] | undefined {
  // libcni also writes the key under its pre-1.1.0 name, cni.dev/attachments.
  const v = raw['cni.dev/valid-attachments'] ?? raw['cni.dev/attachments'];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw invalid('"cni.dev/valid-attachments" must be an array');
  return v.map((a, i) => {
    if (!isObject(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
      throw invalid(`"cni.dev/valid-attachments"[${i}] must be {"containerID": string, "ifname": string}`);
    }
    return { containerID: a.containerID, ifname: a.ifname };
  });
}

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function isIPv4(s: string): boolean {
  return IPV4_RE.test(s);
}

/** Checks a static IPv4 request ("10.1.0.9" or "10.1.0.9/24"; the prefix is the network's). */
function checkIp(v: string, where: string, code: number): string {
  const parts = v.split(',');
  if (parts.length > 1) throw new CniError(code, `${where}: only one IPv4 address can be requested, got "${v}"`);
  const ip = v.replace(/\/\d{1,2}$/, '');
  if (!isIPv4(ip)) throw new CniError(code, `${where}: "${v}" is not an IPv4 address`);
  return ip;
}

/** Checks a static MAC request: six colon-separated hex octets, unicast. */
function checkMac(v: string, where: string, code: number): string {
  const mac = v.toLowerCase().replace(/-/g, ':');
  if (!MAC_RE.test(mac)) throw new CniError(code, `${where}: "${v}" is not a MAC address`);
  if (parseInt(mac.slice(0, 2), 16) & 1) throw new CniError(code, `${where}: "${v}" is a multicast MAC address`);
  return mac;
}

/**
 * The static IP / MAC asked for, from (highest precedence first)
 * runtimeConfig.ips / runtimeConfig.mac (capabilities), args.cni.ips /
 * args.cni.mac, then CNI_ARGS IP= / MAC=.
 */
export function addressRequest(env: CniEnv, conf: NetConf): AddressRequest {
  const req: AddressRequest = {};
  if (env.args.IP) req.ip = checkIp(env.args.IP, 'CNI_ARGS IP', CniCode.INVALID_ENV);
  if (env.args.MAC) req.mac = checkMac(env.args.MAC, 'CNI_ARGS MAC', CniCode.INVALID_ENV);
  const layers: Array<[string, unknown]> = [['args.cni', isObject(conf.args?.cni) ? conf.args?.cni : undefined], ['runtimeConfig', conf.runtimeConfig]];
  for (const [where, o] of layers) {
    if (!isObject(o)) continue;
    if (o.ips !== undefined) {
      if (!Array.isArray(o.ips) || o.ips.length > 1 || o.ips.some((x) => typeof x !== 'string')) {
        throw invalid(`${where}.ips must be an array with at most one IPv4 address`);
      }
      if (o.ips.length === 1) req.ip = checkIp(o.ips[0] as string, `${where}.ips`, CniCode.INVALID_CONFIG);
    }
    if (o.mac !== undefined) {
      if (typeof o.mac !== 'string') throw invalid(`${where}.mac must be a string`);
      req.mac = checkMac(o.mac, `${where}.mac`, CniCode.INVALID_CONFIG);
    }
  }
  return req;
}
