// The demo's container hosts (mininet/scripts/demo-hosts.sh, which `npm
// start` runs next to the controller and the Mininet lab): `up` brings two
// emulated hosts that connect to a real controller, registers them with
// their own tokens, makes the two networks and attaches four containers
// (mininet/hostlab attach), and web reaches api across the VXLAN tunnel;
// `down` leaves nothing: no namespace, link, daemon, host, endpoint or
// network. Its own underlay, prefix and folder, so a running demo is not
// touched. Run it under the OVS lock.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WeftProcess } from '../helpers/weft-process';
import { emuAvailable, listLinks, listNetns } from '../helpers/emu-host';
import { repoRoot } from '../helpers/paths';

const SUBNET = '172.31.246.0/24', PREFIX = 'wfd-', UNDERLAY = 'dm';
let weft: WeftProcess | undefined;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-demo-test-'));

function script(cmd: 'up' | 'down'): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', [path.join(repoRoot(), 'mininet/scripts/demo-hosts.sh'), cmd], {
      timeout: 180_000,
      env: {
        ...process.env, WEFT_API: weft!.api, WEFT_TOKEN_FILE: weft!.adminTokenFile, WEFT_DEMO_OF: `tcp:172.31.246.1:${weft!.ofPort}`,
        WEFT_DEMO_SUBNET: SUBNET, WEFT_DEMO_UNDERLAY: UNDERLAY, WEFT_DEMO_PREFIX: PREFIX, WEFT_DEMO_DIR: path.join(dir, 'emu'),
      },
    }, (err, _out, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }));
  });
}

const ours = async () => ({
  netns: (await listNetns()).filter((n) => n.startsWith(PREFIX)),
  links: (await listLinks()).filter((l) => l.startsWith(PREFIX) || l === `wfu${UNDERLAY}`),
});

after(async () => {
  if (weft) {
    await script('down');
    await weft.stop();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('demo-hosts.sh: up makes two hosts with four containers that reach each other; down removes all of it', async (t) => {
  if (!(await emuAvailable())) {
    assert.ok(!process.env.CI, 'Open vSwitch must be available in CI');
    t.skip('no Open vSwitch');
    return;
  }
  weft = await WeftProcess.start({ args: ['--of-host', '0.0.0.0'] });
  const up = await script('up');
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stderr, /web \(h1\) reaches api \(10\.91\.\d+\.\d+, h2\) through the VXLAN tunnel/, up.stderr);

  const hosts = (await weft.call<{ name: string; connected: boolean; endpoints: number }[]>('GET', '/v1/hosts?kind=registered')).body;
  assert.deepEqual(hosts.map((h) => [h.name, h.connected, h.endpoints]), [['h1', true, 2], ['h2', true, 2]]);
  const eps = (await weft.call<{ id: string; containerId: string; host: string; network: string; state: string }[]>('GET', '/v1/endpoints')).body;
  assert.deepEqual(eps.map((e) => `${e.containerId}@${e.host}/${e.network}:${e.state}`).sort(),
    ['hostlab-api@h2/blue:ready', 'hostlab-cache@h2/blue:ready', 'hostlab-db@h1/red:ready', 'hostlab-web@h1/blue:ready']);
  const { netns } = await ours();
  for (const n of ['h1', 'h2', 'c-web', 'c-db', 'c-api', 'c-cache']) assert.ok(netns.includes(PREFIX + n), `${PREFIX}${n} in ${netns.join(',')}`);
  // each host dialled the controller with its own token's registration, and its flows are there: a trace crosses the tunnel
  const web = eps.find((e) => e.containerId === 'hostlab-web')!, api = eps.find((e) => e.containerId === 'hostlab-api')!;
  const tr = await weft.call<{ computed: { hops: { kind?: string }[]; verdict: { result: string; endpoint?: string } } }>('POST', '/v1/traces', { from: { endpoint: web.id }, to: { endpoint: api.id }, proto: 'tcp', dstPort: 80 });
  assert.equal(tr.body.computed.verdict.result, 'delivered', JSON.stringify(tr.body));
  assert.equal(tr.body.computed.verdict.endpoint, api.id);
  assert.ok(tr.body.computed.hops.some((h) => h.kind === 'tunnel'));
  // the UI is served by the same controller
  assert.equal((await fetch(`${weft.api}/`)).status, 200);

  const down = await script('down');
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(await ours(), { netns: [], links: [] });
  assert.deepEqual((await weft.call<unknown[]>('GET', '/v1/hosts?kind=registered')).body, []);
  assert.deepEqual((await weft.call<unknown[]>('GET', '/v1/endpoints')).body, []);
  assert.deepEqual((await weft.call<{ name: string }[]>('GET', '/v1/networks')).body.map((n) => n.name).filter((n) => n === 'blue' || n === 'red'), []);
  assert.equal(fs.existsSync(path.join(dir, 'emu')), false);
});
