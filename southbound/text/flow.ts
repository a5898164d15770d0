// Whole flows in the text form of `ovs-ofctl -O OpenFlow13 --no-stats
// dump-flows` (lib/ofp-flow.c ofputil_flow_stats_format): cookie, table and
// timeouts only when not default, flag words, priority only when not 32768,
// then the match and "actions=". Parsing also takes dump lines with stats.
import { Oxm } from '../codec/oxm';
import { Instruction } from '../codec/instructions';
import { syntaxError } from './fields';
import { hex, parseUint, parseSmall } from './values';
import { matchTokens, formatMatch } from './match-format';
import { MatchParser, matchWords, parseMatch, wireOrder } from './match-parse';
import { formatInstructions } from './actions-format';
import { parseInstructions } from './actions-parse';

/** A flow as text sees it; FlowMod and FlowStats from the codec fit this shape. */
export interface FlowText {
  table_id?: number;
  priority?: number;
  cookie?: bigint;
  idle_timeout?: number;
  hard_timeout?: number;
  flags?: number;
  match: Oxm[];
  instructions: Instruction[];
}

export const OFP_DEFAULT_PRIORITY = 0x8000;

/** OFPFF_* flow-mod flags, in the order and spelling ovs-ofctl prints them. */
export const FLOW_FLAGS: readonly (readonly [string, number])[] = [
  ['send_flow_rem', 0x01], ['check_overlap', 0x02], ['reset_counts', 0x04], ['no_packet_counts', 0x08], ['no_byte_counts', 0x10],
];

/** Statistics fields of a dump-flows line; parseFlow skips them. */
const STAT_KEYS = new Set(['duration', 'n_packets', 'n_bytes', 'idle_age', 'hard_age']);

/**
 * A flow as `ovs-ofctl -O OpenFlow13 --no-stats dump-flows` prints it, without
 * the leading space: "cookie=0x5, table=1, priority=100,ip,in_port=1 actions=drop".
 */
export function formatFlow(f: FlowText): string {
  let s = '';
  if (f.cookie) s += `cookie=${hex(f.cookie)}, `;
  if (f.table_id) s += `table=${f.table_id}, `;
  if (f.idle_timeout) s += `idle_timeout=${f.idle_timeout}, `;
  if (f.hard_timeout) s += `hard_timeout=${f.hard_timeout}, `;
  const flags = f.flags ?? 0;
  let known = 0;
  for (const [name, bit] of FLOW_FLAGS) if (flags & bit) { s += `${name} `; known |= bit; }
  if (flags & ~known) s += `flags=${hex(flags & ~known)} `;
  const priority = f.priority ?? OFP_DEFAULT_PRIORITY;
  const m = [...(priority !== OFP_DEFAULT_PRIORITY ? [`priority=${priority}`] : []), ...matchTokens(f.match)].join(',');
  if (m) s += m + ' ';
  return s + 'actions=' + formatInstructions(f.instructions);
}

/**
 * Parse a flow in ovs-ofctl syntax, hand-written ("table=1,priority=10,tcp,tp_dst=80,actions=NORMAL")
 * or a dump-flows line (stats such as duration= and n_packets= are skipped).
 * Every header field is filled in, defaults included, so the result equals
 * what the codec decodes from the switch.
 */
export function parseFlow(text: string): Required<FlowText> {
  const at = /(^|[\s,])actions=/.exec(text);
  if (!at) throw syntaxError('flow has no "actions="', text.trim());
  const head = text.slice(0, at.index + at[1].length);
  const actions = text.slice(at.index + at[0].length).trim();
  const flow: Required<FlowText> = {
    table_id: 0, priority: OFP_DEFAULT_PRIORITY, cookie: 0n, idle_timeout: 0, hard_timeout: 0, flags: 0, match: [], instructions: [],
  };
  const mp = new MatchParser();
  for (const tok of matchWords(head)) {
    const eq = tok.indexOf('=');
    const key = eq < 0 ? tok : tok.slice(0, eq);
    const value = tok.slice(eq + 1);
    const flag = FLOW_FLAGS.find(([n]) => n === key);
    if (flag && eq < 0) flow.flags |= flag[1];
    else if (STAT_KEYS.has(key) && eq > 0) continue;
    else if (key === 'cookie' && eq > 0) {
      if (value.includes('/')) throw syntaxError('a cookie mask only selects flows; it is not part of a flow', tok);
      flow.cookie = parseUint(value, 64, 'cookie');
    } else if (key === 'table' && eq > 0) flow.table_id = parseSmall(value, 8, 'table');
    else if (key === 'priority' && eq > 0) flow.priority = parseSmall(value, 16, 'priority');
    else if (key === 'idle_timeout' && eq > 0) flow.idle_timeout = parseSmall(value, 16, 'idle_timeout');
    else if (key === 'hard_timeout' && eq > 0) flow.hard_timeout = parseSmall(value, 16, 'hard_timeout');
    else if (key === 'flags' && eq > 0) flow.flags |= parseSmall(value, 16, 'flags');
    else mp.token(tok);
  }
  flow.match = wireOrder(mp.fields);
  const proto = mp.fields.find((o) => o.field === 'ip_proto');
  flow.instructions = parseInstructions(actions, { ipProto: proto ? Number(proto.value) : undefined });
  return flow;
}

/**
 * One dump-flows line (stats or not) re-printed canonically, stats dropped:
 * OVS's text and formatFlow() of the flow we sent compare equal through this.
 */
export function normalizeFlowLine(line: string): string {
  return formatFlow(parseFlow(line));
}

/** All flow lines of a `dump-flows` output, normalized; header and blank lines skipped. */
export function normalizeDumpFlows(output: string): string[] {
  return output.split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(OFPST|NXST)_/.test(l))
    .map(normalizeFlowLine);
}

/** The match reordered and masked as OVS keeps it; parse(format(m)) of this is deep-equal to it. */
export function canonicalMatch(match: readonly Oxm[]): Oxm[] {
  return parseMatch(formatMatch(match));
}

/** A flow in canonical form (defaults filled in, match in OVS order): what a dump decodes to. */
export function canonicalFlow(f: FlowText): Required<FlowText> {
  return parseFlow(formatFlow(f));
}
