// Mininet labs on real OVS (userspace datapath, OpenFlow 1.3), driven by the
// same runner as the README (mininet/lab --json): learning switch on one
// switch; shortest-path forwarding on a 6-switch ring (with a link flap) and
// on a k=4 fat-tree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import fs from 'node:fs';
import { repoRoot } from '../helpers/paths';
import { ovsAvailable } from '../helpers/ovs';

const run = promisify(execFile);

interface Phase { name: string; loss: number; links: number | null; packets: number; hosts_known: number }
interface Report { ok: boolean; switches: number; hosts: number; expected_links: number; phases: Phase[]; link_down_detect_s?: number; error?: string }

async function lab(...args: string[]): Promise<Report> {
  const { stdout } = await run(path.join(repoRoot(), 'mininet/lab'), [...args, '--json'], { timeout: 240_000, maxBuffer: 16 << 20 })
    .catch((e: { stdout?: string; stderr?: string }) => { if (e.stdout) return { stdout: e.stdout }; throw new Error(`lab failed: ${e.stderr}`); });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Report;
}

async function skipUnlessLab(t: { skip(m: string): void }): Promise<boolean> {
  if ((await ovsAvailable()) && fs.existsSync('/usr/bin/mn')) return false;
  assert.ok(!process.env.CI, 'Open vSwitch and Mininet must be present in CI');
  t.skip('Open vSwitch or Mininet missing');
  return true;
}

test('learning switch: pingall on a single switch with 4 hosts, 0% loss', async (t) => {
  if (await skipUnlessLab(t)) return;
  const r = await lab('single', '4', '--apps', 'learning');
  assert.equal(r.error, undefined);
  assert.equal(r.phases[0].loss, 0);
  assert.ok(r.ok);
});

test('ring of 6: 12 directed links, 0% loss, link down -> 10 links and still 0% loss, link back -> 12; no storm', async (t) => {
  if (await skipUnlessLab(t)) return;
  const r = await lab('ring', '6', '--flap', 's1,s2');
  assert.equal(r.error, undefined);
  assert.equal(r.expected_links, 12);
  assert.deepEqual(r.phases.map((p) => [p.name, p.loss, p.links]), [['initial', 0, 12], ['link-down', 0, 10], ['link-up', 0, 12]]);
  for (const p of r.phases) {
    assert.equal(p.hosts_known, 6);
    // 30 pings + replies + ARP over at most 5 hops, plus LLDP probes: hundreds. A storm is millions.
    assert.ok(p.packets < 3000, `phase ${p.name}: ${p.packets} packets on switch ports stays bounded`);
  }
});

test('k=4 fat-tree: 20 switches, 64 directed links, pingall 0% loss', async (t) => {
  if (await skipUnlessLab(t)) return;
  const r = await lab('fattree', '4');
  assert.equal(r.error, undefined);
  assert.equal(r.switches, 20);
  assert.equal(r.hosts, 16);
  assert.equal(r.phases[0].links, 64);
  assert.equal(r.phases[0].loss, 0);
  assert.ok(r.phases[0].packets < 50000, `bounded (${r.phases[0].packets})`);
});
