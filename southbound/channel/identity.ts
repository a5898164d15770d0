// Which datapaths a switch's TLS certificate lets it be. A switch
// certificate names its dpids in its subjectAltName as URIs `dpid:` + 16 hex
// digits (one per bridge of the host, e.g. br-int and br-phy), and/or in its
// subject's CN as `dpid:` + 16 hex digits. `weft pki host` makes such
// certificates (northbound/cli/pki.ts). A certificate that names no dpid
// covers none: with TLS, every switch must present one that covers the dpid
// it claims in FEATURES_REPLY.
import type { PeerCertificate } from 'node:tls';
import type { SwitchIdentity } from './connection';

/** The URI scheme (and CN prefix) that binds a certificate to a datapath id. */
export const DPID_URI_PREFIX = 'dpid:';

/**
 * A dpid as 16 lowercase hex digits, from 1-16 hex digits (an optional 0x)
 * or 8 colon-separated octets; null when it is neither.
 */
export function normalizeDpid(s: string): string | null {
  let t = s.trim().toLowerCase();
  if (/^([0-9a-f]{2}:){7}[0-9a-f]{2}$/.test(t)) t = t.replace(/:/g, '');
  if (t.startsWith('0x')) t = t.slice(2);
  if (!/^[0-9a-f]{1,16}$/.test(t)) return null;
  return t.padStart(16, '0');
}

/** The dpids named by `dpid:X` entries (SAN URIs and CNs), normalised; malformed ones are ignored. */
export function dpidsOfNames(names: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const n of names) {
    if (!n.toLowerCase().startsWith(DPID_URI_PREFIX)) continue;
    const d = normalizeDpid(n.slice(DPID_URI_PREFIX.length));
    if (d) out.add(d);
  }
  return out;
}

/** Splits Node's `subjectaltname` ("DNS:a, URI:dpid:..., IP Address:...") into URI values. */
function sanUris(san: string | undefined): string[] {
  if (!san) return [];
  return san.split(/,\s*/).filter((e) => e.startsWith('URI:')).map((e) => e.slice(4));
}

/** The identity a verified peer certificate gives a switch. */
export function identityFromCertificate(cert: PeerCertificate | undefined | null): SwitchIdentity {
  const cns = cert?.subject?.CN;
  const cnList = cns === undefined ? [] : Array.isArray(cns) ? cns : [cns];
  const dpids = dpidsOfNames([...sanUris(cert?.subjectaltname), ...cnList]);
  const subject = cnList.length ? `CN=${cnList.join(',')}` : '(no CN)';
  return { subject, dpids, covers: (dpid: string) => dpids.has(dpid.toLowerCase()) };
}
