// The operator's rules for container networking that the API cannot change:
// which address space networks may use (and BGP may announce), and which
// host ports containers may publish. The controller gets one ContainerPolicy
// (ContainerService's constructor; DEFAULT_POLICY when none is given); the
// command line builds it with containerPolicy() from --pod-cidrs,
// --host-ports, --max-endpoints-per-host and the ports Weft itself listens on.
import { Cidr, parseCidr, overlaps, cidrWithin } from './ipv4';

export interface ContainerPolicy {
  /** Networks' CIDRs must lie inside one of these (and BGP announces nothing outside them). */
  podCidrs: readonly Cidr[];
  /** Published host ports must be in lo..hi. */
  hostPortRange: { lo: number; hi: number };
  /** Host ports never published, even inside hostPortRange: Weft's own (OpenFlow, REST, BGP, OVSDB). */
  reservedHostPorts: readonly number[];
  /** At most this many endpoints per host: one host (or its token) cannot take a network's addresses from the others. */
  maxEndpointsPerHost: number;
}

/** Default per-host endpoint quota (--max-endpoints-per-host). */
export const DEFAULT_MAX_ENDPOINTS_PER_HOST = 1024;

/** The private (RFC 1918) and shared (RFC 6598) address space. */
export const DEFAULT_POD_CIDRS = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'] as const;
/** Unprivileged ports only. */
export const DEFAULT_HOST_PORT_RANGE = { lo: 1024, hi: 65535 } as const;
/** Weft's default ports: BGP 179, OVSDB 6640, OpenFlow 6653, REST 8080. */
export const DEFAULT_RESERVED_HOST_PORTS = [179, 6640, 6653, 8080] as const;

/**
 * Address space no container network may use, whatever the allow-list says:
 * "this network" (0/8), loopback (127/8), link-local (169.254/16), multicast
 * (224/4) and reserved/broadcast (240/4).
 */
export const FORBIDDEN_CIDRS: readonly Cidr[] = ['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '240.0.0.0/4'].map(parseCidr);

export const DEFAULT_POLICY: ContainerPolicy = {
  podCidrs: DEFAULT_POD_CIDRS.map(parseCidr),
  hostPortRange: { ...DEFAULT_HOST_PORT_RANGE },
  reservedHostPorts: [...DEFAULT_RESERVED_HOST_PORTS],
  maxEndpointsPerHost: DEFAULT_MAX_ENDPOINTS_PER_HOST,
};

/** The forbidden range `c` overlaps, if any. */
export function forbiddenOverlap(c: Cidr): Cidr | undefined {
  return FORBIDDEN_CIDRS.find((f) => overlaps(c, f));
}

/** Whether a prefix may hold containers (and be announced): inside a pod CIDR and clear of the forbidden ranges. */
export function allowedPrefix(policy: ContainerPolicy, c: Cidr): boolean {
  return policy.podCidrs.some((p) => cidrWithin(c, p)) && !forbiddenOverlap(c);
}

/** Why hostPort may not be published, or undefined if it may. */
export function hostPortRefusal(policy: ContainerPolicy, port: number): string | undefined {
  const { lo, hi } = policy.hostPortRange;
  if (port < lo || port > hi) return `host ports must be in ${lo}-${hi}`;
  if (policy.reservedHostPorts.includes(port)) return `host port ${port} is one of Weft's own ports (${policy.reservedHostPorts.join(', ')})`;
  return undefined;
}

/** `--pod-cidrs CIDR[,CIDR...]`: a non-empty list of CIDRs (network addresses). Throws RangeError. */
export function parsePodCidrs(s: string): Cidr[] {
  const parts = s.split(',').map((x) => x.trim());
  if (!parts.length || parts.some((x) => !x)) throw new RangeError(`--pod-cidrs "${s}": a comma-separated list of CIDRs`);
  return parts.map((x) => parseCidr(x));
}

/** `--host-ports LO-HI`: 1 <= LO <= HI <= 65535. Throws RangeError. */
export function parseHostPortRange(s: string): { lo: number; hi: number } {
  const m = /^([1-9]\d{0,4})-([1-9]\d{0,4})$/.exec(s.trim());
  const lo = Number(m?.[1]);
  const hi = Number(m?.[2]);
  if (!m || lo > hi || hi > 65535) throw new RangeError(`--host-ports "${s}": LO-HI with 1 <= LO <= HI <= 65535`);
  return { lo, hi };
}

/**
 * The policy from the command line's options: `podCidrs` (--pod-cidrs),
 * `hostPorts` (--host-ports), and the ports this controller listens on
 * (`ownPorts`: its OpenFlow and REST ports, and BGP's if not 179), which
 * are never published, with BGP's 179 and OVSDB's 6640 on every host. Each
 * defaults as in DEFAULT_POLICY. Throws RangeError.
 */
/** `--max-endpoints-per-host N`: 1..1000000. Throws RangeError. */
export function parseMaxEndpoints(s: string): number {
  const n = Number(s.trim());
  if (!/^\d+$/.test(s.trim()) || n < 1 || n > 1_000_000) throw new RangeError(`--max-endpoints-per-host "${s}": a whole number 1..1000000`);
  return n;
}

export function containerPolicy(o: { podCidrs?: string; hostPorts?: string; ownPorts?: readonly number[]; maxEndpointsPerHost?: string } = {}): ContainerPolicy {
  return {
    maxEndpointsPerHost: o.maxEndpointsPerHost !== undefined ? parseMaxEndpoints(o.maxEndpointsPerHost) : DEFAULT_MAX_ENDPOINTS_PER_HOST,
    podCidrs: o.podCidrs !== undefined ? parsePodCidrs(o.podCidrs) : DEFAULT_POLICY.podCidrs,
    hostPortRange: o.hostPorts !== undefined ? parseHostPortRange(o.hostPorts) : { ...DEFAULT_HOST_PORT_RANGE },
    reservedHostPorts: o.ownPorts === undefined
      ? [...DEFAULT_RESERVED_HOST_PORTS]
      : [...new Set([179, 6640, ...o.ownPorts.filter((p) => Number.isInteger(p) && p > 0 && p <= 65535)])].sort((a, b) => a - b),
  };
}
