// A property-based REST fuzzer driven by the OpenAPI document: requests to
// every route with path, query and body values drawn from each route's
// schemas (valid ones, edge values, wrong types, missing and extra fields,
// hostile strings) and with an admin token, a host token or none. The
// properties: no request ever gets a 500, and a refused request (4xx)
// changes nothing the API can show.
//   WEFT_FUZZ_RUNS=10000 node --test dist/test/unit/api-fuzz.test.js   (long mode)
//   WEFT_FUZZ_SEED=N                                                    (replay a run)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startController } from '../helpers/controller';

type Schema = {
  $ref?: string; type?: string; enum?: unknown[]; anyOf?: Schema[]; oneOf?: Schema[]; allOf?: Schema[];
  properties?: Record<string, Schema>; required?: string[]; items?: Schema; minimum?: number; maximum?: number; maxLength?: number; pattern?: string;
};
interface Op { method: string; path: string; params: { in: string; name: string; schema: Schema }[]; body?: Schema; /** the route documents a 503 (it reads a switch live) */ live: boolean }

const RUNS = Number(process.env.WEFT_FUZZ_RUNS ?? 400);
const SEED = process.env.WEFT_FUZZ_SEED !== undefined ? Number(process.env.WEFT_FUZZ_SEED) : undefined;

const ctlP = startController({ apps: 'none' });
after(async () => (await ctlP).cleanup());

/** Strings an attacker tries: non-canonical and reserved addresses, infrastructure port names, the gateway MAC, traversal, control bytes, long ones. */
const HOSTILE = [
  '', ' ', '0', '20', '-1', '1e3', 'null', 'true', '[]', '{}', '../../etc/passwd', '%00', 'a\u0000b', 'é', '\u202e', 'x'.repeat(300),
  '10.90.0.010', '010.1.1.1', '10.1.1', '0.0.0.0', '255.255.255.255', '127.0.0.1', '224.0.0.1', '169.254.1.1', '10.60.0.0/26', '8.8.8.0/24',
  '127.0.0.0/8', '224.0.0.0/24', '0.0.0.0/0', '10.1.0.0/33', 'br-int', 'patch-int', 'vxlan0', 'patch-phy', 'wf0123456789a',
  '0e:00:00:00:00:01', '00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '0a:01:0a:3c:00:05', 'ffffffffffffffff', '0000000000000000',
  'h1', 'h2', 'blue', 'red', 'green', 'web', 'eth0', 'c1', 'tcp', 'udp', 'icmp', 'admin', 'host', 'ready', 'local', 'overlay', 'routed', 'underlay',
];

/** Names in the test's world (hosts, networks, a service, a policy name, a dpid). */
const KNOWN = ['h1', 'h2', 'blue', 'red', 'green', 'web', '00000000000000f1'];

function resolve(doc: { components?: { schemas?: Record<string, Schema> } }, s: Schema): Schema {
  let x = s;
  for (let i = 0; x.$ref && i < 8; i++) x = doc.components?.schemas?.[x.$ref.replace(/^#\/components\/schemas\//, '').replace(/#$/, '')] ?? {};
  return x;
}

/** Values for a schema: mostly what it asks for, sometimes edges and junk. */
function arb(doc: Parameters<typeof resolve>[0], s0: Schema, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(doc, s0);
  const junk = fc.oneof(fc.constantFrom(...HOSTILE), fc.integer(), fc.constant(null), fc.boolean(), fc.array(fc.string(), { maxLength: 2 }), fc.double());
  let good: fc.Arbitrary<unknown>;
  if (s.enum) good = fc.constantFrom(...s.enum);
  else if (s.anyOf || s.oneOf) good = fc.oneof(...(s.anyOf ?? s.oneOf)!.map((x) => arb(doc, x, depth + 1)));
  else if (s.allOf) good = fc.tuple(...s.allOf.map((x) => arb(doc, x, depth + 1))).map((parts) => Object.assign({}, ...parts.filter((p) => typeof p === 'object')));
  else if (s.type === 'string') {
    good = fc.oneof(
      fc.constantFrom(...HOSTILE),
      fc.string({ maxLength: s.maxLength ?? 40 }),
      fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.')),
      fc.tuple(fc.constantFrom(10, 172, 192, 100), fc.nat(255), fc.constantFrom(8, 16, 24, 26, 30)).map(([a, b, l]) => `${a}.${b}.0.0/${l}`),
    );
  } else if (s.type === 'integer' || s.type === 'number') {
    const lo = s.minimum ?? -5, hi = s.maximum ?? 70000;
    good = fc.oneof(fc.integer({ min: Math.max(lo - 2, -(2 ** 31)), max: Math.min(hi + 2, 2 ** 31) }), fc.constantFrom(lo, hi, 0, -1, 65535, 65536, 2 ** 32, 1e21, 0.5));
  } else if (s.type === 'boolean') good = fc.boolean();
  else if (s.type === 'array') good = depth > 3 ? fc.constant([]) : fc.array(arb(doc, s.items ?? {}, depth + 1), { maxLength: 3 });
  else if (s.type === 'object' || s.properties) {
    const props = Object.entries(s.properties ?? {});
    if (depth > 3 || !props.length) good = fc.constant({});
    else {
      const rec = fc.record(Object.fromEntries(props.map(([k, v]) => [k, arb(doc, v, depth + 1)])), { requiredKeys: [] });
      // mostly the required fields present; sometimes a stray one
      good = fc.tuple(rec, fc.boolean(), fc.boolean()).map(([r, keepRequired, extra]) => {
        const out: Record<string, unknown> = { ...r };
        if (keepRequired) for (const k of s.required ?? []) if (!(k in out)) out[k] = 'h1';
        if (extra) out.extraField = 1;
        return out;
      });
    }
  } else good = junk;
  return fc.oneof({ arbitrary: good, weight: 8 }, { arbitrary: junk, weight: 1 });
}

test(`REST fuzzer over the OpenAPI document (${RUNS} requests): never a 500, and a refused request changes nothing`, async () => {
  const ctl = await ctlP;
  const admin = ctl.adminToken!;
  const call = async (method: string, url: string, token: string | undefined, payload?: unknown) => {
    const r = await ctl.api!.inject({ method: method as 'GET', url, payload: payload as object, headers: { authorization: token ? `Bearer ${token}` : '' } });
    return { status: r.statusCode, body: r.body };
  };
  // a world to act on: two hosts, three networks (one encrypted), endpoints, a service, a host token
  for (const [name, dpid, ip] of [['h1', '00000000000000f1', '172.30.5.1'], ['h2', '00000000000000f2', '172.30.5.2']]) await call('POST', '/v1/hosts', admin, { name, dpid, underlayIp: ip });
  await call('POST', '/v1/networks', admin, { name: 'blue', cidr: '10.61.0.0/24' });
  await call('POST', '/v1/networks', admin, { name: 'red', cidr: '10.62.0.0/24', mode: 'overlay' });
  await call('POST', '/v1/networks', admin, { name: 'green', cidr: '10.63.0.0/24', mode: 'overlay', encrypted: true });
  const endpointIds: string[] = [];
  for (const [c, h] of [['c1', 'h1'], ['c2', 'h2']]) endpointIds.push(JSON.parse((await call('POST', '/v1/endpoints', admin, { containerId: c, ifName: 'eth0', host: h, network: 'blue' })).body).id);
  await call('POST', '/v1/services', admin, { name: 'web', network: 'blue', vip: '10.61.0.200', ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }], selector: { matchLabels: { app: 'web' } } });
  const made = JSON.parse((await call('POST', '/v1/tokens', admin, { role: 'host', host: 'h1' })).body) as { token: string; id: string };
  const hostToken = made.token;
  await call('PUT', '/v1/policies/p1', admin, { selector: { matchLabels: { app: 'x' } }, ingress: [{ action: 'allow' }] });
  // names of the world by the collection a path parameter follows (a token is revocable once: a 404 after is fine)
  const known: Record<string, string[]> = {
    hosts: ['h1', 'h2'], networks: ['blue', 'red', 'green'], services: ['web'], switches: ['00000000000000f1'], policies: ['p1'],
    endpoints: endpointIds, tokens: [made.id],
  };
  const namesFor = (path: string, param: string): string[] => {
    const seg = path.split('/'); const i = seg.indexOf(`{${param}}`);
    return (i > 0 && known[seg[i - 1]!]?.length ? known[seg[i - 1]!] : undefined) ?? KNOWN;
  };
  const snapshot = async () => {
    const parts = await Promise.all(['/v1/hosts?kind=registered', '/v1/networks', '/v1/endpoints', '/v1/tokens'].map((u) => call('GET', u, admin)));
    // readiness may move on its own; everything else must hold still
    return parts.map((p) => p.body.replace(/"state":"(pending|ready)","createdAt":"[^"]*","readyAt":(null|"[^"]*")/g, '')).join('\n');
  };

  const doc = (await call('GET', '/openapi.json', undefined)).body;
  const spec = JSON.parse(doc) as Parameters<typeof resolve>[0] & { paths: Record<string, Record<string, { parameters?: Op['params']; requestBody?: { content: Record<string, { schema: Schema }> }; responses?: Record<string, unknown> }>> };
  const ops: Op[] = Object.entries(spec.paths).flatMap(([p, ms]) => Object.entries(ms).map(([m, o]) => ({
    method: m.toUpperCase(), path: p, params: o.parameters ?? [], body: o.requestBody?.content['application/json']?.schema, live: !!o.responses?.['503'],
  })));
  assert.ok(ops.length >= 20, `only ${ops.length} operations in the document`);
  const seen = new Map<string, Set<number>>();

  const request = fc.oneof(...ops.map((op) => fc.record({
    op: fc.constant(op),
    // path parameters: often a name the world has (so routes get past 404 to their own checks), else anything
    path: fc.tuple(...op.params.filter((p) => p.in === 'path').map((p) => fc.oneof({ arbitrary: fc.constantFrom(...namesFor(op.path, p.name)), weight: 1 }, { arbitrary: arb(spec, p.schema), weight: 1 }))),
    query: fc.tuple(...op.params.filter((p) => p.in === 'query').map((p) => fc.option(arb(spec, p.schema), { nil: undefined }))),
    body: op.body ? arb(spec, op.body) : fc.constant(undefined),
    who: fc.constantFrom('admin', 'admin', 'admin', 'host', 'none'),
  })));

  await fc.assert(fc.asyncProperty(request, async ({ op, path, query, body, who }) => {
    let url = op.path;
    const pathParams = op.params.filter((p) => p.in === 'path');
    pathParams.forEach((p, i) => { url = url.replace(`{${p.name}}`, encodeURIComponent(String(path[i]))); });
    const qs = new URLSearchParams();
    op.params.filter((p) => p.in === 'query').forEach((p, i) => {
      const v = query[i];
      // a long-poll is kept short: the fuzzer is after answers, not waits
      if (v !== undefined) qs.set(p.name, p.name === 'timeoutMs' ? String(Math.min(Math.abs(Number(v)) || 0, 50)) : String(v));
    });
    if (qs.has('wait') && !qs.has('timeoutMs')) qs.set('timeoutMs', '20');
    if (qs.size) url += `?${qs}`;
    const before = await snapshot();
    const r = await call(op.method, url, who === 'admin' ? admin : who === 'host' ? hostToken : undefined, body);
    const key = `${op.method} ${op.path}`;
    if (!seen.has(key)) seen.set(key, new Set());
    seen.get(key)!.add(r.status);
    // a 503 only where the route documents it: it reads a switch live, and none is connected here
    assert.ok(r.status < 500 || (r.status === 503 && op.live && /not connected|does not answer|flow stats/.test(r.body)), `${op.method} ${url} ${JSON.stringify(body)} as ${who}: ${r.status} ${r.body}`);
    if (r.status >= 400) assert.equal(await snapshot(), before, `${op.method} ${url} ${JSON.stringify(body)} as ${who} was refused (${r.status}) but changed the state`);
  }), { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) });

  // the fuzzer reached the routes, and got past their checks sometimes
  assert.ok(seen.size >= ops.length * 0.8, `only ${seen.size} of ${ops.length} operations were tried`);
  const answered = [...seen.values()].filter((s) => [...s].some((x) => x < 300)).length;
  assert.ok(answered >= Math.floor(ops.length / 3), `only ${answered} of ${ops.length} operations ever answered 2xx: ${[...seen].filter(([, s]) => ![...s].some((x) => x < 300)).map(([k, s]) => `${k} ${[...s]}`).join('; ')}`);
});
