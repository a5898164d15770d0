// Tunnel health on three emulated hosts (real OVS, VXLAN): the controller's
// probes find every ordered pair up; VXLAN dropped on one host's underlay
// side (its br-phy, the controller's connection left alone) takes the pairs
// to and from it down while the others stay up; let through again, they come
// back up. GET /v1/tunnels, the `tunnel` events, /metrics and `weft tunnels`
// say the same; the probe meter is on every br-int.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import WebSocket from 'ws';
import { MultiHostLab } from '../helpers/multihost-lab';
import { waitFor } from '../helpers/wait';
import { repoRoot } from '../helpers/paths';

let lab: MultiHostLab | undefined;
before(async () => { lab = await MultiHostLab.start({ id: 'tn', subnet: '172.31.249.0/24', hosts: 3, mtu: 1600, tunnel: true, weftArgs: ['--tunnel-probe-interval', '0.5'] }); });
after(async () => { await lab?.stop(); });

interface Tunnel { from: string; to: string; fromIp: string; toIp: string; state: string; rttMs: number | null; lastSeen: string | null; lastProbed: string | null }

/** VXLAN to and from a host, dropped on its br-phy (its uplink to the underlay; the OpenFlow connection is TCP and passes). */
const VXLAN = 'udp,tp_dst=4789';

test('tunnel health across three hosts', async (t) => {
  if (!lab) { t.skip('no OVS'); return; }
  const { hosts, weft } = lab;
  const events: Tunnel[] = [];
  const ws = new WebSocket(`ws://${new URL(weft.api).host}/v1/events?types=tunnel`, { headers: { authorization: `Bearer ${weft.adminToken}` } });
  ws.on('message', (d) => { const e = JSON.parse(d.toString()) as { type: string; tunnel: Tunnel }; if (e.type === 'tunnel') events.push(e.tunnel); });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  try {
    await lab.register();
    const tunnels = async () => {
      const r = await weft.call<{ tunnels: Tunnel[] }>('GET', '/v1/tunnels');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.tunnels;
    };
    const states = async () => Object.fromEntries((await tunnels()).map((x) => [`${x.from}>${x.to}`, x.state]));
    const all = (s: string, except: string[] = [], other = s) => Object.fromEntries(['tn1', 'tn2', 'tn3'].flatMap((a) => ['tn1', 'tn2', 'tn3'].filter((b) => b !== a).map((b) => {
      const k = `${a}>${b}`;
      return [k, except.some((h) => a === h || b === h) ? other : s];
    })));

    await t.test('every ordered pair goes up, with a round trip and when it was seen', async () => {
      await waitFor(async () => { assert.deepEqual(await states(), all('up')); return true; }, { what: 'all six pairs up', timeoutMs: 20000 });
      const list = await tunnels();
      assert.equal(list.length, 6);
      for (const x of list) {
        assert.equal(typeof x.rttMs, 'number');
        assert.ok(x.rttMs! >= 0);
        assert.ok(x.lastSeen && !Number.isNaN(Date.parse(x.lastSeen)));
        assert.ok(x.lastProbed && !Number.isNaN(Date.parse(x.lastProbed)), 'when the pair was last probed');
        assert.equal(x.fromIp, hosts[Number(x.from.slice(2)) - 1].ip);
        assert.equal(x.toIp, hosts[Number(x.to.slice(2)) - 1].ip);
      }
      for (const h of hosts) {
        assert.match(await h.ofctl('dump-meters'), /meter=1 pktps burst/, `the probe meter on ${h.name}`);
        const probes = (await h.dumpFlows()).filter((l) => l.includes('tun_id=0xffffff'));
        assert.equal(probes.length, 2, `${h.name}: a probe flow per peer: ${probes.join('\n')}`);
        assert.ok(probes.every((l) => l.includes('meter:1') && l.includes('CONTROLLER')), probes.join('\n'));
      }
      await waitFor(() => events.filter((e) => e.state === 'up').length >= 6, { what: 'six tunnel events (up)', timeoutMs: 5000 });
      const m = await fetch(`${weft.api}/metrics`, { headers: { authorization: `Bearer ${weft.adminToken}` } }).then((r) => r.text());
      assert.match(m, /weft_tunnel_up\{from="tn1",to="tn3"\} 1/);
      assert.match(m, /weft_tunnel_rtt_seconds\{from="tn3",to="tn2"\} [\d.e-]+/);
    });

    await t.test('VXLAN dropped at tn2: the pairs of tn2 go down, the others stay up', async () => {
      await hosts[1].ofctlOn('br-phy', 'add-flow', `priority=65000,${VXLAN},actions=drop`);
      try {
        events.length = 0;
        await waitFor(async () => { assert.deepEqual(await states(), all('up', ['tn2'], 'down')); return true; }, { what: 'tn2\'s pairs down, the others up', timeoutMs: 20000 });
        const down = (await tunnels()).filter((x) => x.state === 'down');
        assert.ok(down.every((x) => x.rttMs === null && x.lastSeen !== null && x.lastProbed! > x.lastSeen!), JSON.stringify(down));
        const seen = events.map((e) => `${e.from}>${e.to}:${e.state}`).sort();
        assert.deepEqual(seen, ['tn1>tn2:down', 'tn2>tn1:down', 'tn2>tn3:down', 'tn3>tn2:down'], 'one event per pair that went down, none for the others');
        const m = await fetch(`${weft.api}/metrics`, { headers: { authorization: `Bearer ${weft.adminToken}` } }).then((r) => r.text());
        assert.match(m, /weft_tunnel_up\{from="tn1",to="tn2"\} 0/);
        assert.match(m, /weft_tunnel_up\{from="tn1",to="tn3"\} 1/);
        const { execFile } = await import('node:child_process');
        const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => execFile(process.execPath,
          [path.join(repoRoot(), 'dist/northbound/cli/weft.js'), 'tunnels', '--api', weft.api, '--token-file', weft.adminTokenFile], { encoding: 'utf8' },
          (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr })));
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, /^FROM\s+TO\s+FROM-IP\s+TO-IP\s+STATE\s+RTT\s+LAST-SEEN/);
        assert.match(out.stdout, /tn1\s+tn2\s+\S+\s+\S+\s+down\s+-/);
        assert.match(out.stdout, /tn1\s+tn3\s+\S+\s+\S+\s+up\s+[\d.]+ms/);
      } finally {
        await hosts[1].ofctlOn('br-phy', 'del-flows', `${VXLAN}`);
      }
    });

    await t.test('VXLAN let through again: every pair is up again', async () => {
      await waitFor(async () => { assert.deepEqual(await states(), all('up')); return true; }, { what: 'all six pairs up again', timeoutMs: 20000 });
      assert.ok(events.some((e) => e.from === 'tn2' && e.to === 'tn1' && e.state === 'up'));
    });

    await t.test('a host token may not read the tunnels', async () => {
      const { readFileSync } = await import('node:fs');
      const tok = readFileSync(lab!.tokenFiles[0], 'utf8').trim();
      const r = await fetch(`${weft.api}/v1/tunnels`, { headers: { authorization: `Bearer ${tok}` } });
      assert.equal(r.status, 403);
    });
  } finally {
    ws.close();
  }
});
