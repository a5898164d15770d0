// Codec benchmark: encode and decode rates for FLOW_MOD and PACKET_IN
// (messages per second, one core) and the framer's throughput in MB/s on a
// stream of mixed messages. Prints figures; asserts nothing.
import { performance } from 'node:perf_hooks';
import {
  decodeMessage, encodeMessage, flowMod, OfpMessage, OFP_NO_BUFFER, OFPP_CONTROLLER,
} from '../southbound/codec';
import { Framer } from '../southbound/channel/framer';

const DURATION_MS = Number(process.env.BENCH_MS ?? 1500);

function rate(name: string, fn: () => void): number {
  for (let i = 0; i < 20000; i++) fn(); // warm-up
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < DURATION_MS) {
    for (let i = 0; i < 2000; i++) fn();
    n += 2000;
    t = performance.now();
  }
  const r = n / ((t - t0) / 1000);
  console.log(`${name.padEnd(34)} ${Math.round(r).toLocaleString('en-US').padStart(12)} msg/s`);
  return r;
}

// A container-pipeline-sized flow-mod: 6 match fields, ct + resubmit + set_field + output.
const fm = flowMod({
  xid: 7, cookie: 0x1234_0000_0001n, table_id: 10, priority: 200, idle_timeout: 0,
  match: [
    { field: 'in_port', value: 3 }, { field: 'eth_type', value: 0x0800 }, { field: 'eth_src', value: '02:00:0a:00:00:05' },
    { field: 'ipv4_src', value: '10.0.0.5' }, { field: 'ipv4_dst', value: '10.0.1.0', mask: '255.255.255.0' },
    { field: 'reg0', value: 5, mask: 0xffff },
  ],
  instructions: [{
    type: 'apply_actions', actions: [
      { type: 'ct', flags: 1, zone: 5, recirc_table: 255, alg: 0, actions: [{ type: 'nat', flags: 1, ipv4_min: '192.0.2.1', ipv4_max: '192.0.2.1' }] },
      { type: 'set_field', field: { field: 'eth_dst', value: '02:00:0a:00:01:07' } },
      { type: 'dec_ttl' },
      { type: 'output', port: 7 },
    ],
  }, { type: 'goto_table', table_id: 20 }],
});

const frame = Buffer.alloc(98, 0xab); // ICMP echo-sized frame
const pi: OfpMessage = {
  type: 'packet_in', xid: 0, buffer_id: OFP_NO_BUFFER, total_len: frame.length, reason: 0, table_id: 0, cookie: 0n,
  match: [{ field: 'in_port', value: 1 }], data: frame,
};
const po: OfpMessage = { type: 'packet_out', xid: 9, buffer_id: OFP_NO_BUFFER, in_port: 1, actions: [{ type: 'output', port: OFPP_CONTROLLER, max_len: 0xffff }], data: frame };

const fmBytes = encodeMessage(fm);
const piBytes = encodeMessage(pi);

console.log(`# Weft OF1.3 codec benchmark (node ${process.version}, one core, ${DURATION_MS} ms per figure)`);
console.log(`# flow_mod ${fmBytes.length} bytes, packet_in ${piBytes.length} bytes`);
rate('flow_mod encode', () => encodeMessage(fm));
rate('flow_mod decode', () => decodeMessage(fmBytes));
rate('packet_in encode', () => encodeMessage(pi));
rate('packet_in decode', () => decodeMessage(piBytes));

// Framer: a 16 MB stream of mixed messages pushed in 64 KB chunks (as a socket delivers).
const mix = Buffer.concat([fmBytes, piBytes, encodeMessage(po), encodeMessage({ type: 'echo_request', xid: 1, data: Buffer.alloc(0) }), encodeMessage({ type: 'barrier_reply', xid: 2 })]);
const reps = Math.ceil((16 * 1024 * 1024) / mix.length);
const stream = Buffer.concat(Array.from({ length: reps }, () => mix));
const chunks: Buffer[] = [];
for (let i = 0; i < stream.length; i += 65536) chunks.push(stream.subarray(i, i + 65536));
function framerPass(decode: boolean): [number, number] {
  const f = new Framer();
  let n = 0;
  const t0 = performance.now();
  for (const c of chunks) f.push(c, (fr) => { n++; if (decode) decodeMessage(fr); });
  return [performance.now() - t0, n];
}
for (let i = 0; i < 3; i++) framerPass(false);
let best = Infinity, frames = 0;
for (let i = 0; i < 5; i++) { const [ms, n] = framerPass(false); best = Math.min(best, ms); frames = n; }
console.log(`${'framer (split only), mixed stream'.padEnd(34)} ${(stream.length / 1e6 / (best / 1000)).toFixed(0).padStart(12)} MB/s  (${frames.toLocaleString('en-US')} frames, ${(stream.length / 1e6).toFixed(1)} MB)`);
let bestD = Infinity;
for (let i = 0; i < 3; i++) bestD = Math.min(bestD, framerPass(true)[0]);
console.log(`${'framer + decode, mixed stream'.padEnd(34)} ${(stream.length / 1e6 / (bestD / 1000)).toFixed(0).padStart(12)} MB/s  (${Math.round(frames / (bestD / 1000)).toLocaleString('en-US')} msg/s)`);
