/**
 * A minimal CNI runtime for tests, doing for a configuration list what
 * libcni 1.1 (AddNetworkList / CheckNetworkList / DelNetworkList) does:
 * each plugin gets the list's name and cniVersion injected, the previous
 * plugin's result as prevResult on ADD, the cached final ADD result as
 * prevResult on CHECK and DEL (DEL in reverse order), and runtimeConfig
 * filled from the capability arguments the plugin advertises.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface ConfList {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, unknown> & { type: string }>;
}

export interface RuntimeConf {
  containerId: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs. */
  args?: Array<[string, string]>;
  /** Capability arguments (e.g. bandwidth, ips, mac). */
  capabilityArgs?: Record<string, unknown>;
}

export interface PluginCall {
  type: string;
  command: string;
  stdin: Record<string, unknown>;
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Raised when a plugin fails; carries the CNI error object it printed. */
export class PluginError extends Error {
  constructor(readonly call: PluginCall, readonly cniError: Record<string, unknown> | undefined) {
    super(`plugin ${call.type} failed (${call.command.toLowerCase()}): exit ${call.exitCode}: ${call.stdout.trim() || call.stderr.trim()}`);
  }
}

export class TestRuntime {
  /** Every plugin invocation, in order. */
  readonly calls: PluginCall[] = [];
  private readonly cache = new Map<string, Record<string, unknown>>();

  constructor(
    /** Folders searched for plugin executables, as CNI_PATH. */
    readonly cniPath: string[],
    /** Run plugins inside this network namespace (an emulated host), as a runtime on that host would. */
    readonly hostNetns?: string,
    /** Extra environment for the plugins (e.g. WEFT_CNI_PLUMB=ip). */
    readonly extraEnv: Record<string, string> = {},
  ) {}

  private findPlugin(type: string): string {
    for (const dir of this.cniPath) {
      const p = path.join(dir, type);
      try {
        fs.accessSync(p, fs.constants.X_OK);
        return p;
      } catch {
        // next folder
      }
    }
    throw new Error(`plugin ${type} not found in ${this.cniPath.join(':')}`);
  }

  /** The configuration one plugin sees (libcni buildOneConfig). */
  pluginConf(list: ConfList, plugin: ConfList['plugins'][number], rt: RuntimeConf, prevResult?: Record<string, unknown>): Record<string, unknown> {
    const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
    if (prevResult) conf.prevResult = prevResult;
    const caps = (plugin.capabilities ?? {}) as Record<string, boolean>;
    const rc: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(caps)) {
      if (on && rt.capabilityArgs && cap in rt.capabilityArgs) rc[cap] = rt.capabilityArgs[cap];
    }
    if (Object.keys(rc).length > 0) conf.runtimeConfig = rc;
    return conf;
  }

  /** Runs one plugin; resolves to its parsed stdout (undefined if empty); throws PluginError on failure. */
  async exec(command: string, rt: RuntimeConf, conf: Record<string, unknown> & { type: string }): Promise<Record<string, unknown> | undefined> {
    const bin = this.findPlugin(conf.type);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: rt.containerId,
      CNI_NETNS: rt.netns,
      CNI_IFNAME: rt.ifName,
      CNI_ARGS: (rt.args ?? [['IgnoreUnknown', '1']]).map(([k, v]) => `${k}=${v}`).join(';'),
      CNI_PATH: this.cniPath.join(':'),
      ...this.extraEnv,
    };
    const call = await new Promise<PluginCall>((resolve, reject) => {
      const child = this.hostNetns ? spawn('ip', ['netns', 'exec', this.hostNetns, bin], { env }) : spawn(bin, [], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (exitCode) => resolve({ type: conf.type, command, stdin: conf, exitCode, stdout, stderr }));
      child.stdin.end(JSON.stringify(conf));
    });
    this.calls.push(call);
    let json: Record<string, unknown> | undefined;
    try {
      json = call.stdout.trim() ? (JSON.parse(call.stdout) as Record<string, unknown>) : undefined;
    } catch {
      json = undefined;
    }
    if (call.exitCode !== 0) throw new PluginError(call, json);
    return json;
  }

  private key(list: ConfList, rt: RuntimeConf): string {
    return `${list.name}-${rt.containerId}-${rt.ifName}`;
  }

  /** ADD through the list; caches and returns the final result. */
  async add(list: ConfList, rt: RuntimeConf): Promise<Record<string, unknown>> {
    let result: Record<string, unknown> | undefined;
    for (const p of list.plugins) {
      result = await this.exec('ADD', rt, this.pluginConf(list, p, rt, result) as Record<string, unknown> & { type: string });
      if (!result) throw new Error(`plugin ${p.type} printed no result for ADD`);
      if (result.cniVersion !== list.cniVersion) throw new Error(`plugin ${p.type} answered in ${String(result.cniVersion)}, not ${list.cniVersion}`);
    }
    this.cache.set(this.key(list, rt), result!);
    return result!;
  }

  /** CHECK through the list with the cached result. */
  async check(list: ConfList, rt: RuntimeConf): Promise<void> {
    const cached = this.cache.get(this.key(list, rt));
    if (!cached) throw new Error('no cached result to CHECK against');
    for (const p of list.plugins) await this.exec('CHECK', rt, this.pluginConf(list, p, rt, cached) as Record<string, unknown> & { type: string });
  }

  /** DEL through the list in reverse, with the cached result if any; forgets it on success. */
  async del(list: ConfList, rt: RuntimeConf): Promise<void> {
    const cached = this.cache.get(this.key(list, rt));
    for (const p of [...list.plugins].reverse()) {
      await this.exec('DEL', rt, this.pluginConf(list, p, rt, cached) as Record<string, unknown> & { type: string });
    }
    this.cache.delete(this.key(list, rt));
  }
}
