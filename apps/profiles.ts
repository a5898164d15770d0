// The lab apps' names and profiles, with no app code behind them: the CLI
// checks `--apps` and prints its help without loading the apps.
export const APP_NAMES = ['learning', 'topology', 'forwarding'] as const;

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
    const expanded = PROFILES[part] ?? ((APP_NAMES as readonly string[]).includes(part) ? [part] : undefined);
    if (!expanded) throw new AppSelectionError(`unknown app or profile "${part}" (apps: ${APP_NAMES.join(', ')}; profiles: ${Object.keys(PROFILES).join(', ')})`);
    for (const n of expanded) if (!names.includes(n)) names.push(n);
  }
  if (names.includes('learning') && names.includes('forwarding')) throw new AppSelectionError('"learning" and "forwarding" both own the table-miss flow: choose one');
  if (names.includes('forwarding') && !names.includes('topology')) names.unshift('topology');
  // discovery must see a packet-in before the forwarding app acts on it
  return names.sort((a, b) => (a === 'topology' ? -1 : b === 'topology' ? 1 : 0));
}
