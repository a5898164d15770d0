// What `weft ipsec-agent` writes for its own charon (docs/pipeline.md,
// "Encrypted networks"): strongswan.conf (kernel-libipsec, its own VICI
// socket and log) and swanctl.conf (one IKEv2 connection per peer host,
// child SA VTEP/32 <-> VTEP/32, the pair's PSK). Pure functions, so the
// unit tests read exactly what charon gets.
import path from 'node:path';

export interface IpsecPeerConf { name: string; underlayIp: string; vtep: string; initiator: boolean; generation: number; psk: string }
export interface IpsecHostConf { host: string; underlayIp: string; vtep: string; vtepCidr: string; generation: number; encryptedNetworks: string[]; peers: IpsecPeerConf[] }

/** Host names are [a-zA-Z0-9_.-]; swanctl section names take letters, digits, - and _ only. */
export const connName = (peer: string): string => `weft-${peer.replace(/[^A-Za-z0-9_-]/g, '_')}`;

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const B64 = /^[A-Za-z0-9+/]{16,}={0,2}$/;

/** The controller's answer, checked field by field: nothing from it reaches a config file unchecked. */
export function parseHostConf(x: unknown): IpsecHostConf {
  const o = x as Record<string, unknown>;
  const bad = (f: string): never => { throw new Error(`the IPsec configuration's ${f} is malformed`); };
  if (typeof o !== 'object' || o === null) bad('body');
  if (typeof o.host !== 'string' || !NAME.test(o.host)) bad('host');
  for (const f of ['underlayIp', 'vtep'] as const) if (typeof o[f] !== 'string' || !IPV4.test(o[f] as string)) bad(f);
  if (typeof o.vtepCidr !== 'string' || !/^[\d.]+\/\d{1,2}$/.test(o.vtepCidr) || !IPV4.test(o.vtepCidr.split('/')[0]!)) bad('vtepCidr');
  if (!Number.isInteger(o.generation)) bad('generation');
  if (!Array.isArray(o.peers)) bad('peers');
  const peers = (o.peers as Record<string, unknown>[]).map((p, i) => {
    if (typeof p !== 'object' || p === null) bad(`peers.${i}`);
    if (typeof p.name !== 'string' || !NAME.test(p.name)) bad(`peers.${i}.name`);
    for (const f of ['underlayIp', 'vtep'] as const) if (typeof p[f] !== 'string' || !IPV4.test(p[f] as string)) bad(`peers.${i}.${f}`);
    if (typeof p.initiator !== 'boolean') bad(`peers.${i}.initiator`);
    if (!Number.isInteger(p.generation)) bad(`peers.${i}.generation`);
    if (typeof p.psk !== 'string' || !B64.test(p.psk)) bad(`peers.${i}.psk (the token must be this host's own)`);
    return { name: p.name as string, underlayIp: p.underlayIp as string, vtep: p.vtep as string, initiator: p.initiator as boolean, generation: p.generation as number, psk: p.psk as string };
  });
  const nets = Array.isArray(o.encryptedNetworks) ? (o.encryptedNetworks as unknown[]).filter((n): n is string => typeof n === 'string') : [];
  return { host: o.host as string, underlayIp: o.underlayIp as string, vtep: o.vtep as string, vtepCidr: o.vtepCidr as string, generation: o.generation as number, encryptedNetworks: nets, peers };
}

/** charon's own strongswan.conf: kernel-libipsec before kernel-netlink (userspace ESP over a TUN), its VICI socket and log in `dir`. */
export function strongswanConf(dir: string): string {
  const vici = `unix://${path.join(dir, 'charon.vici')}`;
  return `# written by weft ipsec-agent: do not edit
charon {
  # kernel-libipsec before kernel-netlink: libipsec is the IPsec backend (no kernel ESP needed), netlink does routes
  load = random nonce aes sha1 sha2 md5 hmac gmp x509 pem pkcs1 pkcs8 pubkey revocation constraints kdf drbg kernel-libipsec kernel-netlink socket-default vici updown
  install_virtual_ip = no
  # IKE reauthentication builds the new SA before it deletes the old one: no outage
  make_before_break = yes
  plugins {
    vici { socket = ${vici} }
  }
  filelog {
    weft {
      path = ${path.join(dir, 'charon.log')}
      time_format = %H:%M:%S
      default = 1
      flush_line = yes
    }
  }
}
swanctl {
  load = random nonce sha1 sha2 md5 aes hmac gmp x509 pem pkcs1 pkcs8 pubkey
  socket = ${vici}
}
`;
}

/**
 * swanctl.conf: per peer an IKEv2 connection between the underlay
 * addresses, authenticated by the pair's PSK, with one child SA from this
 * host's VTEP to the peer's. The pair's lower host name starts it (and
 * restarts it whenever it closes); the other side answers.
 */
export function swanctlConf(c: IpsecHostConf): string {
  const lines = ['# written by weft ipsec-agent: do not edit', 'connections {'];
  for (const p of c.peers) {
    const n = connName(p.name);
    lines.push(
      `  ${n} {`,
      '    version = 2',
      `    local_addrs = ${c.underlayIp}`,
      `    remote_addrs = ${p.underlayIp}`,
      '    proposals = aes128-sha256-modp2048',
      '    keyingtries = 0',
      '    dpd_delay = 10s',
      `    local { auth = psk\n      id = ${c.underlayIp} }`,
      `    remote { auth = psk\n      id = ${p.underlayIp} }`,
      '    children {',
      `      ${n} {`,
      `        local_ts = ${c.vtep}/32`,
      `        remote_ts = ${p.vtep}/32`,
      '        esp_proposals = aes128-sha256',
      ...(p.initiator ? ['        start_action = start', '        close_action = start', '        dpd_action = restart'] : ['        start_action = none']),
      '      }',
      '    }',
      '  }',
    );
  }
  lines.push('}', 'secrets {');
  for (const p of c.peers) {
    lines.push(`  ike-${connName(p.name)} {`, `    id-a = ${c.underlayIp}`, `    id-b = ${p.underlayIp}`, `    secret = 0s${p.psk}`, '  }');
  }
  lines.push('}', '');
  return lines.join('\n');
}
