// Open vSwitch port operations through ovs-vsctl against the host's OVSDB
// (`--db=` from the network configuration's `ovsdb` key).
import { run, ExecError } from './exec';
import { OvsdbClient, OvsdbError, ovsdbMap } from '../../southbound/ovsdb/client';

/** external_ids keys this plugin writes on the Interface row of a container port. */
export const EXTERNAL_IDS = {
  endpoint: 'weft-endpoint',
  containerId: 'container-id',
  iface: 'iface',
  network: 'weft-network',
} as const;

/** ovs-vsctl must not wait forever for ovs-vswitchd or an unreachable database. */
const VSCTL_TIMEOUT_S = 10;

export interface OvsInterface {
  name: string;
  externalIds: Record<string, string>;
}

export class Ovs {
  constructor(
    readonly db: string,
    readonly bridge: string,
  ) {}

  vsctl(...args: string[]): Promise<string> {
    return run('ovs-vsctl', [`--db=${this.db}`, `--timeout=${VSCTL_TIMEOUT_S}`, ...args], (VSCTL_TIMEOUT_S + 5) * 1000);
  }

  /**
   * Adds system port `name` to the bridge (no error if it is already there)
   * and sets external_ids on its Interface, and ofport_request if given.
   */
  async addPort(name: string, externalIds: Record<string, string>, ofportRequest?: number): Promise<void> {
    const ids = Object.entries(externalIds).map(([k, v]) => `external_ids:${k}=${JSON.stringify(v)}`);
    await this.vsctl('--may-exist', 'add-port', this.bridge, name, '--', 'set', 'interface', name, ...ids,
      ...(ofportRequest !== undefined ? [`ofport_request=${ofportRequest}`] : []));
  }

  /** Deletes port `name` from whichever bridge holds it; no error if there is none. */
  async delPort(name: string): Promise<void> {
    await this.vsctl('--if-exists', 'del-port', name);
  }

  /** The bridge a port is on, or null if OVS has no such port. */
  async portBridge(name: string): Promise<string | null> {
    try {
      return (await this.vsctl('port-to-br', name)).trim() || null;
    } catch (e) {
      if (e instanceof ExecError && /no port named/i.test(e.stderr)) return null;
      throw e;
    }
  }

  /** Interface rows whose external_ids contain every pair of `match`. */
  async findInterfaces(match: Record<string, string>): Promise<OvsInterface[]> {
    const conds = Object.entries(match).map(([k, v]) => `external_ids:${k}=${JSON.stringify(v)}`);
    const out = await this.vsctl('--format=json', '--columns=name,external_ids', 'find', 'Interface', ...conds);
    return parseFind(out);
  }

  /** external_ids of interface `name`, or null if there is no such interface. */
  async interfaceExternalIds(name: string): Promise<Record<string, string> | null> {
    const out = await this.vsctl('--format=json', '--columns=name,external_ids', 'find', 'Interface', `name=${JSON.stringify(name)}`);
    return parseFind(out)[0]?.externalIds ?? null;
  }
}

/** Parses `ovs-vsctl --format=json --columns=name,external_ids find ...`. */
export function parseFind(out: string): OvsInterface[] {
  const doc = JSON.parse(out) as { data: Array<[unknown, unknown]> };
  return doc.data.map(([name, ids]) => ({ name: atom(name), externalIds: ovsMap(ids) }));
}

function atom(x: unknown): string {
  return typeof x === 'string' ? x : String(x);
}

/** OVSDB JSON map: ["map", [[k, v], ...]]. */
function ovsMap(x: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(x) && x[0] === 'map' && Array.isArray(x[1])) {
    for (const pair of x[1] as Array<[unknown, unknown]>) out[atom(pair[0])] = atom(pair[1]);
  }
  return out;
}

/**
 * Ovs whose addPort is one OVSDB transaction on a kept-open connection (the
 * CNI agent's): no ovs-vsctl process, and no wait for ovs-vswitchd to
 * reconfigure; the plugin waits for the controller's "ready" instead, which
 * needs the port in ovs-vswitchd anyway. The rest still runs ovs-vsctl.
 */
export class OvsdbOvs extends Ovs {
  constructor(db: string, bridge: string, private readonly client: OvsdbClient) {
    super(db, bridge);
  }

  override async addPort(name: string, externalIds: Record<string, string>, ofportRequest?: number): Promise<void> {
    try {
      await this.client.transact('Open_vSwitch', [
        // the bridge must exist: with timeout 0 the wait fails at once otherwise
        { op: 'wait', table: 'Bridge', where: [['name', '==', this.bridge]], columns: ['name'], until: '==', rows: [{ name: this.bridge }], timeout: 0 },
        { op: 'insert', table: 'Interface', row: { name, external_ids: ovsdbMap(externalIds), ...(ofportRequest !== undefined ? { ofport_request: ofportRequest } : {}) }, 'uuid-name': 'iface' },
        { op: 'insert', table: 'Port', row: { name, interfaces: ['named-uuid', 'iface'] }, 'uuid-name': 'port' },
        { op: 'mutate', table: 'Bridge', where: [['name', '==', this.bridge]], mutations: [['ports', 'insert', ['set', [['named-uuid', 'port']]]]] },
      ]);
    } catch (e) {
      if (e instanceof OvsdbError && /timed out/.test(e.message)) throw new OvsdbError(`OVS has no bridge ${this.bridge}`);
      // a Port or Interface row of that name left behind (a host that crashed before DEL): ovs-vsctl --may-exist takes it over
      if (e instanceof OvsdbError && /constraint violation/.test(e.message)) return super.addPort(name, externalIds, ofportRequest);
      throw e;
    }
  }
}
