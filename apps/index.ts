// The lab apps, chosen on the command line (apps/profiles.ts names the
// choices): `--apps PROFILE` or a comma-separated list of app names.
import type { App } from '../controller/app';
import { LearningSwitch } from './learning';
import { TopologyDiscovery } from './topology';
import { ShortestPathForwarding } from './forwarding';
import { resolveApps, APP_NAMES } from './profiles';

export { resolveApps, AppSelectionError, PROFILES, DEFAULT_APPS, APP_NAMES } from './profiles';

export interface AppOptions {
  probeIntervalMs?: number;
  settleMs?: number;
  idleTimeout?: number;
}

const FACTORIES: Record<(typeof APP_NAMES)[number], (o: AppOptions) => App> = {
  learning: (o) => new LearningSwitch({ idleTimeout: o.idleTimeout }),
  topology: (o) => new TopologyDiscovery({ probeIntervalMs: o.probeIntervalMs }),
  forwarding: (o) => new ShortestPathForwarding({ settleMs: o.settleMs }),
};

export function createApps(spec: string, opts: AppOptions = {}): App[] {
  return resolveApps(spec).map((n) => FACTORIES[n as (typeof APP_NAMES)[number]](opts));
}
