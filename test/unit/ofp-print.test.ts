// Our encoder against Open vSwitch's decoder, at test time.
//
// Each message here is encoded by our codec and handed to
// `ovs-ofctl ofp-print <hex>` (Debian openvswitch-common, which setup.sh
// installs with openvswitch-switch). OVS must decode it to the text we
// expect: for flows, the match and the actions are our own text form
// (southbound/text, ovs-ofctl syntax), so an encoding OVS reads differently
// from what we meant fails here. The header layout of ofp-print (ADD
// table:1 ... idle:60 ...) is written out below from OVS's lib/ofp-flow.c,
// lib/ofp-group.c and lib/ofp-print.c. A missing ovs-ofctl is a failure
// that names the package, not a skip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  encodeMessage, flowMod, FlowMod, GroupMod, MeterMod, OfpMessage, Bucket, OFPP_CONTROLLER, OFPP_FLOOD, OFP_NO_BUFFER,
} from '../../southbound/codec';
import { matchTokens, formatActions, formatInstructions, formatPort, FLOW_FLAGS, OFP_DEFAULT_PRIORITY } from '../../southbound/text';
import { SAMPLE_FLOWS, SAMPLE_GROUP, SAMPLE_METER } from '../helpers/sample-flows';

const OVS_OFCTL = process.env.WEFT_OVS_OFCTL ?? 'ovs-ofctl';

/** What `ovs-ofctl ofp-print` prints for our encoding of m. */
function ofpPrint(m: OfpMessage): string {
  const hex = encodeMessage(m).toString('hex');
  try {
    return execFileSync(OVS_OFCTL, ['ofp-print', hex], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') assert.fail(`${OVS_OFCTL} not found: install openvswitch-common (mininet/scripts/setup.sh installs openvswitch-switch)`);
    assert.fail(`${OVS_OFCTL} ofp-print ${hex} failed: ${e.stderr || e.message}`);
  }
}

const hx = (n: number | bigint) => `0x${n.toString(16)}`;
const head = (name: string, xid: number) => `${name} (OF1.3) (xid=${hx(xid)}):`;

const FLOW_CMD = ['ADD', 'MOD', 'MOD_STRICT', 'DEL', 'DEL_STRICT'];
const OFPP_ANY = 0xffffffff;

/**
 * ofputil_flow_mod_format: command, table (when not 0), priority and match,
 * cookie (ADD: the new cookie; others: cookie/mask when masked), timeouts,
 * buffer, out_port, flags, then the actions: match and actions in our text form.
 */
function expectedFlowMod(f: FlowMod): string {
  let s = `${head('OFPT_FLOW_MOD', f.xid)} ${FLOW_CMD[f.command]}`;
  if (f.table_id) s += ` table:${f.table_id}`;
  s += ' ';
  const m = [...(f.priority !== OFP_DEFAULT_PRIORITY ? [`priority=${f.priority}`] : []), ...matchTokens(f.match)].join(',');
  if (m) s += `${m} `;
  if (f.command === 0 && f.cookie !== 0n && f.cookie !== 0xffffffffffffffffn) s += `cookie:${hx(f.cookie)} `;
  if (f.cookie_mask) s += `cookie:${hx(f.cookie)}/${hx(f.cookie_mask)} `;
  if (f.idle_timeout) s += `idle:${f.idle_timeout} `;
  if (f.hard_timeout) s += `hard:${f.hard_timeout} `;
  if (f.buffer_id !== OFP_NO_BUFFER) s += `buf:${hx(f.buffer_id)} `;
  if (f.out_port !== OFPP_ANY) s += `out_port:${formatPort(f.out_port)} `;
  for (const [name, bit] of FLOW_FLAGS) if (f.flags & bit) s += `${name} `;
  return `${s}actions=${formatInstructions(f.instructions)}\n`;
}

const GROUP_CMD = ['ADD', 'MOD', 'DEL'];
const GROUP_TYPE = ['all', 'select', 'indirect', 'ff'];

/** ofputil_group_mod_format: buckets print weight (select, when not 1), watch_port/group (when set), then actions. */
function expectedGroupMod(g: GroupMod): string {
  const bucket = (b: Bucket) => {
    let s = 'bucket=';
    if (g.group_type === 1 && b.weight !== 1) s += `weight:${b.weight},`;
    if (b.watch_port !== OFPP_ANY) s += `watch_port:${formatPort(b.watch_port)},`;
    if (b.watch_group !== 0xffffffff) s += `watch_group:${b.watch_group},`;
    return `${s}actions=${formatActions(b.actions)}`;
  };
  const parts = [`group_id=${g.group_id}`, `type=${GROUP_TYPE[g.group_type]}`, ...g.buckets.map(bucket)];
  return `${head('OFPT_GROUP_MOD', g.xid)}\n ${GROUP_CMD[g.command]} ${parts.join(',')}\n`;
}

/** A 60-byte Ethernet/IPv4/ICMP echo request from 10.0.0.1 to 10.0.0.2. */
const FRAME = Buffer.from(
  '02000000000202000000000108004500002e000040004001f9c30a0000010a0000020800f7fc0000000048656c6c6f2c20776f726c64210000000000', 'hex');

test(`${OVS_OFCTL} is installed`, () => {
  let v = '';
  try {
    v = execFileSync(OVS_OFCTL, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    assert.fail(`${OVS_OFCTL} --version: ${(err as Error).message}; install openvswitch-common (mininet/scripts/setup.sh installs openvswitch-switch)`);
  }
  assert.match(v, /Open vSwitch/);
});

// The flows Weft relies on (shared with the OVS integration tests), each with its own xid.
for (const [i, f0] of SAMPLE_FLOWS.entries()) {
  const f = { ...f0, xid: 0x200 + i };
  const what = expectedFlowMod(f).replace(/^[^:]*\): /, '').trim();
  test(`ovs-ofctl reads our flow_mod as: ${what}`, () => {
    assert.equal(ofpPrint(f), expectedFlowMod(f));
  });
}

// The flow_mod header fields the sample flows leave at their defaults.
const VARIANTS: FlowMod[] = [
  { ...SAMPLE_FLOWS[2], xid: 0xabc, command: 1, cookie: 0x55n, buffer_id: 7, flags: 0x1f },
  { ...SAMPLE_FLOWS[2], xid: 0xabd, command: 4, priority: OFP_DEFAULT_PRIORITY, cookie: 0x10n, cookie_mask: 0xffn, out_port: 2 },
  flowMod({ xid: 0xabe, command: 3, table_id: 0xff, cookie: 0x1000000000000000n, cookie_mask: 0xf000000000000000n, out_port: OFPP_CONTROLLER }),
  flowMod({ xid: 0xabf, command: 2, table_id: 4, priority: 7, match: [{ field: 'reg3', value: 0x10000, mask: 0xffff0000 }] }),
];
for (const f of VARIANTS) {
  test(`ovs-ofctl reads our ${FLOW_CMD[f.command]} flow_mod (xid ${hx(f.xid)}) with its header fields`, () => {
    assert.equal(ofpPrint(f), expectedFlowMod(f));
  });
}

const ANY = 0xffffffff;
const GROUPS: GroupMod[] = [
  { ...SAMPLE_GROUP, xid: 0x300 },
  {
    type: 'group_mod', xid: 0x301, command: 0, group_type: 1, group_id: 7, buckets: [
      { weight: 3, watch_port: ANY, watch_group: ANY, actions: [{ type: 'set_field', field: { field: 'eth_dst', value: '02:00:00:00:00:07' } }, { type: 'output', port: 3 }] },
      { weight: 1, watch_port: ANY, watch_group: ANY, actions: [{ type: 'set_field', field: { field: 'reg1', value: 2 } }, { type: 'resubmit', in_port: 0xfff8, table: 5 }] },
    ],
  },
  {
    type: 'group_mod', xid: 0x302, command: 1, group_type: 3, group_id: 9, buckets: [
      { weight: 0, watch_port: 1, watch_group: ANY, actions: [{ type: 'output', port: 1 }] },
      { weight: 0, watch_port: 2, watch_group: 4, actions: [{ type: 'output', port: 2 }] },
    ],
  },
  { type: 'group_mod', xid: 0x303, command: 2, group_type: 0, group_id: 12, buckets: [] },
];
for (const g of GROUPS) {
  test(`ovs-ofctl reads our group_mod ${GROUP_CMD[g.command]} ${GROUP_TYPE[g.group_type]} group ${g.group_id}`, () => {
    assert.equal(ofpPrint(g), expectedGroupMod(g));
  });
}

test('ovs-ofctl reads our meter_mods', () => {
  const m1: MeterMod = { ...SAMPLE_METER, xid: 0x400 };
  assert.equal(ofpPrint(m1), `${head('OFPT_METER_MOD', 0x400)} ADD meter=1 kbps burst bands=\ntype=drop rate=10000 burst_size=1000\n`);
  const m2: MeterMod = { type: 'meter_mod', xid: 0x401, command: 1, flags: 0x2 /* pktps */, meter_id: 2, bands: [{ type: 'dscp_remark', rate: 500, burst_size: 0, prec_level: 1 }] };
  assert.equal(ofpPrint(m2), `${head('OFPT_METER_MOD', 0x401)} MOD meter=2 pktps bands=\ntype=dscp_remark rate=500 prec_level=1\n`);
});

test('ovs-ofctl reads our packet_out: port, actions and the frame', () => {
  const actions = [{ type: 'set_field', field: { field: 'tunnel_id', value: 0x1389n } }, { type: 'output', port: OFPP_FLOOD }] as const;
  const po: OfpMessage = { type: 'packet_out', xid: 0x500, buffer_id: OFP_NO_BUFFER, in_port: OFPP_CONTROLLER, actions: [...actions], data: FRAME };
  const lines = ofpPrint(po).split('\n');
  assert.equal(lines[0], `${head('OFPT_PACKET_OUT', 0x500)} in_port=${formatPort(OFPP_CONTROLLER)} actions=${formatActions([...actions])} data_len=${FRAME.length}`);
  // OVS's flow extraction of the frame we sent: the addresses and ICMP type we put in it
  assert.match(lines[1], /^icmp,.*dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,nw_src=10\.0\.0\.1,nw_dst=10\.0\.0\.2,.*icmp_type=8,icmp_code=0/);
});

test('ovs-ofctl reads our multipart requests', () => {
  const flows: OfpMessage = {
    type: 'multipart_request', xid: 0x600, flags: 0,
    body: { kind: 'flow', table_id: 3, out_port: ANY, out_group: ANY, cookie: 0n, cookie_mask: 0n, match: [{ field: 'eth_type', value: 0x800 }, { field: 'reg0', value: 5 }] },
  };
  assert.equal(ofpPrint(flows), `OFPST_FLOW request (OF1.3) (xid=0x600): table=3 ${matchTokens([{ field: 'eth_type', value: 0x800 }, { field: 'reg0', value: 5 }]).join(',')}\n`);
  assert.equal(ofpPrint({ type: 'multipart_request', xid: 0x601, flags: 0, body: { kind: 'port_desc' } }), 'OFPST_PORT_DESC request (OF1.3) (xid=0x601): port=ANY\n');
  assert.equal(ofpPrint({ type: 'multipart_request', xid: 0x602, flags: 0, body: { kind: 'desc' } }), 'OFPST_DESC request (OF1.3) (xid=0x602):\n');
  assert.equal(ofpPrint({ type: 'multipart_request', xid: 0x603, flags: 0, body: { kind: 'port_stats', port_no: 2 } }), 'OFPST_PORT request (OF1.3) (xid=0x603): port_no=2\n');
  assert.equal(ofpPrint({ type: 'multipart_request', xid: 0x604, flags: 0, body: { kind: 'group_desc' } }), 'OFPST_GROUP_DESC request (OF1.3) (xid=0x604): group_id=ALL\n' /* OF1.3 has no group in this request: OVS shows all */);
});

test('ovs-ofctl reads our session messages', () => {
  assert.equal(ofpPrint({ type: 'hello', xid: 0x700, elements: [{ type: 'versionbitmap', bitmaps: [0x10] }] }), `${head('OFPT_HELLO', 0x700)}\n version bitmap: 0x04\n`);
  assert.equal(ofpPrint({ type: 'features_request', xid: 0x701 }), `${head('OFPT_FEATURES_REQUEST', 0x701)}\n`);
  assert.equal(ofpPrint({ type: 'set_config', xid: 0x702, flags: 0, miss_send_len: 0xffff }), `${head('OFPT_SET_CONFIG', 0x702)} frags=normal miss_send_len=65535\n`);
  assert.equal(ofpPrint({ type: 'barrier_request', xid: 0x703 }), `${head('OFPT_BARRIER_REQUEST', 0x703)}\n`);
  assert.equal(ofpPrint({ type: 'role_request', xid: 0x704, role: 2, generation_id: 5n }), `${head('OFPT_ROLE_REQUEST', 0x704)} role=primary generation_id=5\n`);
  const echo = ofpPrint({ type: 'echo_request', xid: 0x705, data: Buffer.from('hi') });
  assert.equal(echo.split('\n')[0], `${head('OFPT_ECHO_REQUEST', 0x705)} 2 bytes of payload`);
  assert.match(echo.split('\n')[1], /^00000000 {2}68 69 /);
});
