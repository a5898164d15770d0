// The ADD result, in the shape of the configuration's cniVersion, and
// helpers that read a prevResult back (DEL, CHECK).
// CNI SPEC 1.0.0/1.1.0 "Success" result; 0.3.x/0.4.0 results also carry
// ips[].version. 1.1.0 adds interfaces[].mtu (and socketPath/pciID, unused here).
import { compareVersions } from './config';

export interface ResultInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
}

export interface ResultIp {
  version?: '4' | '6';
  address: string;
  gateway?: string;
  interface?: number;
}

export interface ResultRoute {
  dst: string;
  gw?: string;
}

export interface CniResult {
  cniVersion: string;
  interfaces: ResultInterface[];
  ips: ResultIp[];
  routes: ResultRoute[];
  dns: Record<string, unknown>;
}

export interface ResultInput {
  cniVersion: string;
  /** Host-side veth (the OVS port). */
  hostIf: { name: string; mac: string };
  /** Container-side interface. */
  containerIf: { name: string; mac: string; sandbox: string };
  mtu: number;
  /** "a.b.c.d/p" */
  address: string;
  gateway: string | null;
  /** False when the container kept the default route of an earlier network (default true). */
  defaultRoute?: boolean;
  dns?: Record<string, unknown>;
}

/** Builds the ADD result: interface 0 is the host end, 1 the container end; the address sits on 1. */
export function buildResult(r: ResultInput): CniResult {
  const v11 = compareVersions(r.cniVersion, '1.1.0') >= 0;
  const legacy = compareVersions(r.cniVersion, '1.0.0') < 0;
  const withMtu = <T extends object>(o: T): T & { mtu?: number } => (v11 ? { ...o, mtu: r.mtu } : o);
  const ip: ResultIp = {
    ...(legacy ? { version: '4' as const } : {}),
    address: r.address,
    ...(r.gateway !== null ? { gateway: r.gateway } : {}),
    interface: 1,
  };
  return {
    cniVersion: r.cniVersion,
    interfaces: [
      withMtu({ name: r.hostIf.name, mac: r.hostIf.mac }),
      withMtu({ name: r.containerIf.name, mac: r.containerIf.mac, sandbox: r.containerIf.sandbox }),
    ],
    ips: [ip],
    routes: r.gateway !== null && r.defaultRoute !== false ? [{ dst: '0.0.0.0/0', gw: r.gateway }] : [],
    dns: r.dns ?? {},
  };
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function interfaces(prev: Record<string, unknown> | undefined): ResultInterface[] {
  const list = prev?.interfaces;
  if (!Array.isArray(list)) return [];
  return list.filter(isObject).filter((i) => typeof i.name === 'string') as unknown as ResultInterface[];
}

/** Names of host-side interfaces (no sandbox) in a prevResult. */
export function hostInterfaceNames(prev: Record<string, unknown> | undefined): string[] {
  return interfaces(prev).filter((i) => !i.sandbox).map((i) => i.name);
}

/** The prevResult's interface `ifName` in a sandbox, with its index, if listed. */
export function containerInterface(prev: Record<string, unknown> | undefined, ifName: string): { index: number; iface: ResultInterface } | null {
  const list = interfaces(prev);
  const index = list.findIndex((i) => i.name === ifName && !!i.sandbox);
  return index < 0 ? null : { index, iface: list[index]! };
}

/** IPv4 addresses ("a.b.c.d/p") the prevResult puts on interface `index`. */
export function addressesOn(prev: Record<string, unknown> | undefined, index: number): string[] {
  const ips = prev?.ips;
  if (!Array.isArray(ips)) return [];
  return ips
    .filter(isObject)
    .filter((ip) => ip.interface === index && typeof ip.address === 'string' && (ip.address as string).includes('.'))
    .map((ip) => ip.address as string);
}
