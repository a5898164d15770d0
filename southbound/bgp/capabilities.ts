// OPEN's Optional Parameters (RFC 4271 §4.2) carrying Capabilities (RFC
// 5492): Multiprotocol (RFC 4760 §8), Graceful Restart (RFC 4724 §3) and
// the four-octet AS number (RFC 6793, read only). Weft sends one Capabilities
// parameter holding every capability; a peer may send one parameter per
// capability (os-ken does), and both are read. Unknown capabilities are
// ignored (RFC 5492 §3); a length that does not add up, a known capability
// of the wrong size or an optional parameter other than Capabilities is an
// OPEN Message Error the session answers with a NOTIFICATION.
import { BgpError } from './header';

/** Optional parameter type (RFC 5492 §4). */
export const BGP_PARAM_CAPABILITIES = 2;
/** Capability codes (IANA registry). */
export const BGP_CAP = { MULTIPROTOCOL: 1, ROUTE_REFRESH: 2, GRACEFUL_RESTART: 64, FOUR_OCTET_AS: 65 } as const;
export const AFI_IPV4 = 1;
export const SAFI_UNICAST = 1;
/** Graceful Restart (RFC 4724 §3): the Restart State bit of the Restart Flags, the Forwarding State bit of an AFI/SAFI's flags. */
const GR_RESTART_STATE = 0x8000;
const GR_FORWARDING = 0x80;
/** The Restart Time field is 12 bits. */
export const BGP_MAX_RESTART_TIME = 4095;

export interface BgpFamily { afi: number; safi: number }

export interface GracefulRestartCapability {
  /** R: the speaker has restarted (its peer need not wait for its End-of-RIB). */
  restartState: boolean;
  /** Seconds the peer should keep this speaker's routes after the session drops (0..4095). */
  restartTime: number;
  /** Address families whose routes are to be kept, and whether forwarding went on through the restart (F). */
  families: (BgpFamily & { forwarding: boolean })[];
}

/** What an OPEN's Optional Parameters say. */
export interface BgpCapabilities {
  multiprotocol: BgpFamily[];
  gracefulRestart: GracefulRestartCapability | null;
  fourOctetAs: number | null;
  routeRefresh: boolean;
  /** Codes of the capabilities that were ignored, in order. */
  unknown: number[];
}

export const NO_CAPABILITIES: BgpCapabilities = { multiprotocol: [], gracefulRestart: null, fourOctetAs: null, routeRefresh: false, unknown: [] };

/** A malformed Optional Parameters field: the OPEN Message Error subcode (RFC 4271 §6.2) and data to send. */
export class BgpOpenError extends BgpError {
  constructor(message: string, readonly subcode: number, readonly data: Buffer = Buffer.alloc(0)) {
    super(message);
  }
}
/** OPEN Message Error subcodes used here (RFC 4271 §6.2). */
const UNSPECIFIC = 0;
const UNSUPPORTED_OPTIONAL_PARAMETER = 4;

function capability(code: number, value: Buffer): Buffer {
  if (value.length > 255) throw new BgpError(`capability ${code} of ${value.length} bytes`);
  return Buffer.concat([Buffer.from([code, value.length]), value]);
}

/** What Weft says in its OPEN. */
export interface OwnCapabilities { families: BgpFamily[]; gracefulRestart?: GracefulRestartCapability }

/** The Optional Parameters field (without its length octet): one Capabilities parameter. */
export function encodeCapabilities(c: OwnCapabilities): Buffer {
  const caps: Buffer[] = c.families.map((f) => {
    const v = Buffer.alloc(4);
    v.writeUInt16BE(f.afi, 0);
    v[3] = f.safi; // v[2] is reserved
    return capability(BGP_CAP.MULTIPROTOCOL, v);
  });
  const gr = c.gracefulRestart;
  if (gr) {
    if (!Number.isInteger(gr.restartTime) || gr.restartTime < 0 || gr.restartTime > BGP_MAX_RESTART_TIME) throw new BgpError(`restart time ${gr.restartTime} is not 0..${BGP_MAX_RESTART_TIME}`);
    const v = Buffer.alloc(2 + 4 * gr.families.length);
    v.writeUInt16BE((gr.restartState ? GR_RESTART_STATE : 0) | gr.restartTime, 0);
    gr.families.forEach((f, i) => {
      v.writeUInt16BE(f.afi, 2 + 4 * i);
      v[4 + 4 * i] = f.safi;
      v[5 + 4 * i] = f.forwarding ? GR_FORWARDING : 0;
    });
    caps.push(capability(BGP_CAP.GRACEFUL_RESTART, v));
  }
  if (!caps.length) return Buffer.alloc(0);
  const all = Buffer.concat(caps);
  if (all.length > 253) throw new BgpError(`capabilities of ${all.length} bytes`);
  return Buffer.concat([Buffer.from([BGP_PARAM_CAPABILITIES, all.length]), all]);
}

/**
 * Reads the Optional Parameters field (without its length octet, which the
 * caller checked against the OPEN's size). Throws BgpOpenError.
 */
export function decodeOptionalParameters(b: Buffer): BgpCapabilities {
  const out: BgpCapabilities = { multiprotocol: [], gracefulRestart: null, fourOctetAs: null, routeRefresh: false, unknown: [] };
  for (let i = 0; i < b.length;) {
    if (i + 2 > b.length) throw new BgpOpenError(`optional parameter header cut at byte ${i} of ${b.length}`, UNSPECIFIC);
    const type = b[i]!;
    const len = b[i + 1]!;
    if (i + 2 + len > b.length) throw new BgpOpenError(`optional parameter ${type} of ${len} bytes overruns the ${b.length - i - 2} left`, UNSPECIFIC);
    // RFC 4271 §6.2: the data is the unsupported parameter (its type, length and value)
    if (type !== BGP_PARAM_CAPABILITIES) throw new BgpOpenError(`unsupported optional parameter ${type}`, UNSUPPORTED_OPTIONAL_PARAMETER, b.subarray(i, i + 2 + len));
    readCapabilities(b.subarray(i + 2, i + 2 + len), out);
    i += 2 + len;
  }
  return out;
}

function readCapabilities(p: Buffer, out: BgpCapabilities): void {
  for (let i = 0; i < p.length;) {
    if (i + 2 > p.length) throw new BgpOpenError(`capability header cut at byte ${i} of a ${p.length}-byte parameter`, UNSPECIFIC);
    const code = p[i]!;
    const len = p[i + 1]!;
    if (i + 2 + len > p.length) throw new BgpOpenError(`capability ${code} of ${len} bytes overruns its parameter's ${p.length - i - 2} left`, UNSPECIFIC);
    const v = p.subarray(i + 2, i + 2 + len);
    const size = (ok: boolean, want: string) => { if (!ok) throw new BgpOpenError(`capability ${code} of ${len} bytes (${want})`, UNSPECIFIC); };
    switch (code) {
      case BGP_CAP.MULTIPROTOCOL:
        size(len === 4, 'Multiprotocol is 4');
        out.multiprotocol.push({ afi: v.readUInt16BE(0), safi: v[3]! });
        break;
      case BGP_CAP.ROUTE_REFRESH:
        size(len === 0, 'Route Refresh is empty');
        out.routeRefresh = true;
        break;
      case BGP_CAP.GRACEFUL_RESTART: {
        size(len >= 2 && (len - 2) % 4 === 0, 'Graceful Restart is 2 + 4 per address family');
        // RFC 4724 §3: a second Graceful Restart capability replaces the first
        const flags = v.readUInt16BE(0);
        const families: GracefulRestartCapability['families'] = [];
        for (let k = 2; k < len; k += 4) families.push({ afi: v.readUInt16BE(k), safi: v[k + 2]!, forwarding: (v[k + 3]! & GR_FORWARDING) !== 0 });
        out.gracefulRestart = { restartState: (flags & GR_RESTART_STATE) !== 0, restartTime: flags & 0x0fff, families };
        break;
      }
      case BGP_CAP.FOUR_OCTET_AS:
        size(len === 4, 'four-octet AS is 4');
        out.fourOctetAs = v.readUInt32BE(0);
        break;
      default:
        out.unknown.push(code);
    }
    i += 2 + len;
  }
}
