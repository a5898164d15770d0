// Actions and instructions in ovs-ofctl text, as OVS 3.1 prints a flow it
// dumps over OpenFlow 1.3 (lib/ofp-actions.c format_*). Where OVS re-encodes
// an action on the way back (NXAST_SET_TUNNEL becomes set_field tun_id on
// OF1.3), we print what the dump will show, so our text and the switch's agree.
import { Action, CtAction, NatAction, NX_NAT_F_SRC, NX_NAT_F_DST, NX_NAT_F_PERSISTENT, NX_NAT_F_PROTO_HASH, NX_NAT_F_PROTO_RANDOM, NX_CT_F_COMMIT, NX_CT_F_FORCE, OFPP_CONTROLLER } from '../codec/actions';
import { Instruction } from '../codec/instructions';
import { Oxm, OxmUnknown, OXM_BY_NAME, KIND_LEN } from '../codec/oxm';
import { ovsFieldOf, fieldWidth } from './fields';
import { hex, ones, toBits, formatFieldValue, formatPort, formatPort16 } from './values';

/** OFPR_* packet-in reasons by number, as ovs-ofctl names them. */
export const PACKET_IN_REASONS = ['no_match', 'action', 'invalid_ttl', 'action_set', 'group', 'packet_out'];
const OFPR_ACTION = 1;
const IPPORT_FTP = 21;
const IPPORT_TFTP = 69;
const NX_CT_RECIRC_NONE = 255;

/** `NXM_NX_REG0[0..15]` for a codec field name and bit range (mf_format_subfield). */
export function formatSubfield(name: string, ofs: number, nBits: number): string {
  const f = ovsFieldOf(name);
  const label = f ? f.nxm : name;
  if (ofs === 0 && nBits === fieldWidth(name)) return `${label}[]`;
  if (nBits === 1) return `${label}[${ofs}]`;
  return `${label}[${ofs}..${ofs + nBits - 1}]`;
}

/** set_field:VALUE[/MASK]->NAME for an OXM (format_SET_FIELD). */
function setFieldText(o: Oxm): string {
  if (o.field === 'unknown') {
    const u = o as OxmUnknown;
    const f = u.experimenter === undefined ? ovsFieldOf(`field:${u.oxmClass.toString(16)}:${u.code.toString(16)}`) : undefined;
    const v = BigInt('0x' + (u.value || '0'));
    const m = u.mask !== undefined ? BigInt('0x' + (u.mask || '0')) : undefined;
    if (f) return `set_field:${formatFieldValue(f, m === undefined ? v : v & m, m)}->${f.mf}`;
    const id = [u.oxmClass, u.code, ...(u.experimenter !== undefined ? [u.experimenter] : []), ...(u.expType !== undefined ? [u.expType] : [])];
    return `set_field:0x${u.value || '0'}${u.mask !== undefined ? '/0x' + (u.mask || '0') : ''}->oxm:${id.map((x) => x.toString(16)).join(':')}`;
  }
  const d = OXM_BY_NAME.get(o.field);
  const f = ovsFieldOf(o.field);
  if (!d || !f) return `set_field:${String(o.value)}${o.mask !== undefined ? '/' + String(o.mask) : ''}->${o.field}`;
  const v = toBits(d.kind, o.value);
  let m = o.mask !== undefined && o.mask !== null ? toBits(d.kind, o.mask) : undefined;
  if (m === ones(KIND_LEN[d.kind] * 8)) m = undefined;
  return `set_field:${formatFieldValue(f, m === undefined ? v : v & m, m)}->${f.mf}`;
}

function natText(a: NatAction): string {
  if (!(a.flags & (NX_NAT_F_SRC | NX_NAT_F_DST))) return 'nat';
  let s = `nat(${a.flags & NX_NAT_F_SRC ? 'src' : 'dst'}`;
  const hasPort = !!a.proto_min;
  if (a.ipv4_min !== undefined) {
    s += `=${a.ipv4_min}`;
    if (a.ipv4_max !== undefined && a.ipv4_max !== '0.0.0.0' && a.ipv4_max !== a.ipv4_min) s += `-${a.ipv4_max}`;
  } else if (a.ipv6_min !== undefined) {
    const br = (x: string) => (hasPort ? `[${x}]` : x);
    s += `=${br(a.ipv6_min)}`;
    if (a.ipv6_max !== undefined && a.ipv6_max !== '::' && a.ipv6_max !== a.ipv6_min) s += `-${br(a.ipv6_max)}`;
  }
  if ((a.ipv4_min !== undefined || a.ipv6_min !== undefined) && hasPort) {
    s += `:${a.proto_min}`;
    if (a.proto_max && a.proto_max !== a.proto_min) s += `-${a.proto_max}`;
  }
  if (a.flags & NX_NAT_F_PERSISTENT) s += ',persistent';
  if (a.flags & NX_NAT_F_PROTO_HASH) s += ',hash';
  if (a.flags & NX_NAT_F_PROTO_RANDOM) s += ',random';
  return s + ')';
}

function ctText(a: CtAction): string {
  const parts: string[] = [];
  if (a.flags & NX_CT_F_COMMIT) parts.push('commit');
  if (a.flags & NX_CT_F_FORCE) parts.push('force');
  if (a.recirc_table !== NX_CT_RECIRC_NONE) parts.push(`table=${a.recirc_table}`);
  if (a.zone_src !== undefined) parts.push(`zone=${formatSubfield(a.zone_src, a.zone_ofs ?? 0, a.zone_n_bits ?? 16)}`);
  else if (a.zone) parts.push(`zone=${a.zone}`);
  // A leading nat prints outside the exec() envelope, as OVS does.
  let rest = a.actions;
  if (rest.length && rest[0].type === 'nat') {
    parts.push(natText(rest[0]));
    rest = rest.slice(1);
  }
  if (rest.length) parts.push(`exec(${rest.map(actionText).join(',')})`);
  if (a.alg === IPPORT_FTP) parts.push('alg=ftp');
  else if (a.alg === IPPORT_TFTP) parts.push('alg=tftp');
  else if (a.alg) parts.push(`alg=${a.alg}`);
  return `ct(${parts.join(',')})`;
}

function resubmitText(inPort: number, table: number, ct: boolean): string {
  if (inPort !== 0xfff8 && table === 255 && !ct) return `resubmit:${formatPort16(inPort)}`;
  return `resubmit(${inPort !== 0xfff8 ? formatPort16(inPort) : ''},${table !== 255 ? table : ''}${ct ? ',ct' : ''})`;
}

/** One action in ovs-ofctl syntax. */
export function actionText(a: Action): string {
  switch (a.type) {
    case 'output':
      if (a.port === OFPP_CONTROLLER) return `CONTROLLER:${a.max_len ?? 0xffff}`;
      return a.port < 0xfffffff8 ? `output:${a.port}` : formatPort(a.port);
    case 'copy_ttl_out': return 'copy_ttl_out';
    case 'copy_ttl_in': return 'copy_ttl_in';
    case 'set_mpls_ttl': return `set_mpls_ttl(${a.mpls_ttl})`;
    case 'dec_mpls_ttl': return 'dec_mpls_ttl';
    case 'push_vlan': return `push_vlan:${hex(a.ethertype)}`;
    case 'pop_vlan': return 'pop_vlan';
    case 'push_mpls': return `push_mpls:0x${a.ethertype.toString(16).padStart(4, '0')}`;
    case 'pop_mpls': return `pop_mpls:0x${a.ethertype.toString(16).padStart(4, '0')}`;
    case 'push_pbb': return `push_pbb:0x${a.ethertype.toString(16).padStart(4, '0')}`;
    case 'pop_pbb': return 'pop_pbb';
    case 'set_queue': return `set_queue:${a.queue_id}`;
    case 'group': return `group:${a.group_id}`;
    case 'set_nw_ttl': return `mod_nw_ttl:${a.nw_ttl}`;
    case 'dec_nw_ttl': return 'dec_ttl';
    case 'set_field': return setFieldText(a.field);
    case 'experimenter': return `experimenter(${hex(a.experimenter)},0x${a.data.toString('hex')})`;
    case 'resubmit': return resubmitText(a.in_port, a.table ?? 255, !!a.ct);
    // OVS stores set_tunnel as a tun_id write and dumps it as set_field on OF1.2+.
    case 'set_tunnel': return `set_field:${hex(a.tun_id)}->tun_id`;
    case 'reg_move': return `move:${formatSubfield(a.src, a.src_ofs, a.n_bits)}->${formatSubfield(a.dst, a.dst_ofs, a.n_bits)}`;
    case 'reg_load': return `load:${hex(a.value)}->${formatSubfield(a.dst, a.ofs, a.n_bits)}`;
    case 'reg_load2': return setFieldText(a.field);
    case 'note': {
      // OVS keeps the padding after the note text, so print the bytes the wire carries.
      const padded = Math.ceil((10 + a.note.length) / 8) * 8 - 10;
      const b = Buffer.concat([a.note, Buffer.alloc(padded - a.note.length)]);
      return `note:${[...b].map((x) => x.toString(16).padStart(2, '0')).join('.')}`;
    }
    case 'output_reg': return `output:${formatSubfield(a.src, a.ofs, a.n_bits)}`;
    case 'exit': return 'exit';
    case 'dec_ttl': return 'dec_ttl';
    case 'dec_ttl_cnt_ids': return `dec_ttl(${a.ids.join(',')})`;
    case 'fin_timeout': {
      const p: string[] = [];
      if (a.fin_idle_timeout) p.push(`idle_timeout=${a.fin_idle_timeout}`);
      if (a.fin_hard_timeout) p.push(`hard_timeout=${a.fin_hard_timeout}`);
      return `fin_timeout(${p.join(',')})`;
    }
    case 'controller': {
      if (a.reason === OFPR_ACTION && a.controller_id === 0) return `CONTROLLER:${a.max_len}`;
      const p: string[] = [];
      if (a.reason !== OFPR_ACTION) p.push(`reason=${PACKET_IN_REASONS[a.reason] ?? a.reason}`);
      if (a.max_len !== 0xffff) p.push(`max_len=${a.max_len}`);
      if (a.controller_id !== 0) p.push(`id=${a.controller_id}`);
      return `controller(${p.join(',')})`;
    }
    case 'write_metadata_nx': return writeMetadataText(a.metadata, a.mask);
    case 'conjunction': return `conjunction(${a.id},${a.clause + 1}/${a.n_clauses})`;
    case 'ct': return ctText(a);
    case 'nat': return natText(a);
    case 'ct_clear': return 'ct_clear';
    case 'output_trunc': return `output(port=${formatPort16(a.port)},max_len=${a.max_len})`;
    case 'nx': return `nx(${a.subtype},0x${a.data.toString('hex')})`;
  }
}

function writeMetadataText(md: bigint, mask: bigint): string {
  return `write_metadata:${hex(md)}${mask === ones(64) ? '' : '/' + hex(mask)}`;
}

/** An action list, comma separated; "drop" when empty (ofpacts_format). */
export function formatActions(actions: readonly Action[]): string {
  return actions.length ? actions.map(actionText).join(',') : 'drop';
}

/** OVS keeps instructions in this order whatever order they came in. */
const INSTRUCTION_ORDER: Record<Instruction['type'], number> = {
  meter: 0, apply_actions: 1, clear_actions: 2, write_actions: 3, write_metadata: 4, goto_table: 5, experimenter: 6,
};

/**
 * Instructions as ovs-ofctl prints them: apply_actions as the plain action
 * list, then clear_actions, write_actions(...), write_metadata:, goto_table:.
 * "drop" when there is nothing to do.
 */
export function formatInstructions(insts: readonly Instruction[]): string {
  const sorted = [...insts].sort((a, b) => INSTRUCTION_ORDER[a.type] - INSTRUCTION_ORDER[b.type]);
  const parts: string[] = [];
  for (const i of sorted) {
    switch (i.type) {
      case 'meter': parts.push(`meter:${i.meter_id}`); break;
      case 'apply_actions': parts.push(...i.actions.map(actionText)); break;
      case 'clear_actions': parts.push('clear_actions'); break;
      // OVS drops an empty write_actions instruction; the dump does not show it.
      case 'write_actions': if (i.actions.length) parts.push(`write_actions(${formatActions(i.actions)})`); break;
      case 'write_metadata': parts.push(writeMetadataText(i.metadata, i.metadata_mask)); break;
      case 'goto_table': parts.push(`goto_table:${i.table_id}`); break;
      case 'experimenter': parts.push(`experimenter_instruction(${hex(i.experimenter)},0x${i.data.toString('hex')})`); break;
    }
  }
  return parts.length ? parts.join(',') : 'drop';
}
