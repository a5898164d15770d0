// App selection on the command line: `--apps PROFILE` or a comma-separated
// list of app names. Profiles name common sets.
import type { App } from './app';
import { LearningSwitch } from '../apps/learning';
import { TopologyDiscovery } from '../apps/topology';
import { ShortestPathForwarding } from '../apps/forwarding';

export interface AppOptions {
  probeIntervalMs?: number;
  settleMs?: number;
  idleTimeout?: number;
}

const FACTORIES: Record<string, (o: AppOptions) => App> = {
  learning: (o) => new LearningSwitch({ idleTimeout: o.idleTimeout }),
  topology: (o) => new TopologyDiscovery({ probeIntervalMs: o.probeIntervalMs }),
  forwarding: (o) => new ShortestPathForwarding({ settleMs: o.settleMs }),
};

export const PROFILES: Record<string, string[]> = {
  /** Ryu simple_switch_13 equivalent: one switch or a loop-free tree. */
  learning: ['learning'],
  /** LLDP discovery and host tracking only; forwards nothing. */
  topology: ['topology'],
  /** Discovery + shortest-path forwarding with spanning-tree flooding: any topology. */
  forwarding: ['topology', 'forwarding'],
  none: [],
};

export const DEFAULT_APPS = 'forwarding';

export class AppSelectionError extends Error {}

/** Resolve a profile or list into app names, checking that they fit together. */
export function resolveApps(spec: string): string[] {
  const names: string[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const expanded = PROFILES[part] ?? (FACTORIES[part] ? [part] : undefined);
    if (!expanded) throw new AppSelectionError(`unknown app or profile "${part}" (apps: ${Object.keys(FACTORIES).join(', ')}; profiles: ${Object.keys(PROFILES).join(', ')})`);
    for (const n of expanded) if (!names.includes(n)) names.push(n);
  }
  if (names.includes('learning') && names.includes('forwarding')) throw new AppSelectionError('"learning" and "forwarding" both own the table-miss flow: choose one');
  if (names.includes('forwarding') && !names.includes('topology')) names.unshift('topology');
  // discovery must see a packet-in before the forwarding app acts on it
  return names.sort((a, b) => (a === 'topology' ? -1 : b === 'topology' ? 1 : 0));
}

export function createApps(spec: string, opts: AppOptions = {}): App[] {
  return resolveApps(spec).map((n) => FACTORIES[n](opts));
}
