#!/usr/bin/env node
// weft-cni: the Weft CNI plugin (CNI spec 1.0.0 and 1.1.0; 0.3.x/0.4.0
// configurations too). A runtime runs it in the container host's network
// namespace with CNI_COMMAND etc. in the environment and the network
// configuration on stdin; it prints a result or an error object on stdout.
// See docs/cni.md.
import { cmdAdd, depsFor } from './add';
import type { Ovs } from './ovs';
import { cmdCheck, cmdStatus, cmdVersion } from './check';
import { decodeConf, isSupportedVersion, LATEST_VERSION, parseConf, parseEnv } from './config';
import { asCniError, CniCode, CniError } from './errors';
import { cmdDel, cmdGc } from './teardown';

/** Reads all of stdin (empty when it is a terminal). */
export async function readStdin(stream: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin): Promise<string> {
  if (stream.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

export interface Outcome {
  /** Process exit code. */
  exitCode: number;
  /** JSON to print on stdout, if any. */
  output?: unknown;
}

/** What a resident caller (the CNI agent) changes in a call. */
export interface RunOptions {
  /** The OVS access for a configuration's OVSDB target and bridge (default: ovs-vsctl). */
  ovs?: (db: string, bridge: string) => Ovs;
}

/** Runs one CNI invocation; never throws. */
export async function runCni(env: NodeJS.ProcessEnv, stdin: () => Promise<string>, opts: RunOptions = {}): Promise<Outcome> {
  let version = LATEST_VERSION;
  try {
    let text: string;
    try {
      text = await stdin();
    } catch (e) {
      throw new CniError(CniCode.IO_FAILURE, `reading the network configuration from stdin failed: ${(e as Error).message}`);
    }
    if (env.CNI_COMMAND === 'VERSION') {
      // Only cniVersion matters here, and VERSION must answer even without a configuration.
      let requested: unknown;
      try {
        requested = (JSON.parse(text) as { cniVersion?: unknown })?.cniVersion;
      } catch {
        requested = undefined;
      }
      return { exitCode: 0, output: cmdVersion(requested) };
    }
    const cniEnv = parseEnv(env);
    const raw = decodeConf(text);
    if (isSupportedVersion(raw.cniVersion)) version = raw.cniVersion;
    const conf = parseConf(raw, cniEnv.command);
    const deps = { ...depsFor(conf), ...(opts.ovs ? { ovs: opts.ovs(conf.ovsdb, conf.bridge) } : {}) };
    switch (cniEnv.command) {
      case 'ADD':
        return { exitCode: 0, output: await cmdAdd(cniEnv, conf, deps) };
      case 'DEL':
        await cmdDel(cniEnv, conf, deps);
        return { exitCode: 0 };
      case 'CHECK':
        await cmdCheck(cniEnv, conf, deps);
        return { exitCode: 0 };
      case 'STATUS':
        await cmdStatus(conf);
        return { exitCode: 0 };
      case 'GC':
        await cmdGc(conf, deps);
        return { exitCode: 0 };
      default:
        throw new CniError(CniCode.INVALID_ENV, `CNI_COMMAND ${cniEnv.command} is not handled`);
    }
  } catch (e) {
    return { exitCode: 1, output: asCniError(e).toJSON(version) };
  }
}

async function main(): Promise<void> {
  const { exitCode, output } = await runCni(process.env, () => readStdin());
  const text = output === undefined ? '' : `${JSON.stringify(output)}\n`;
  // Exit explicitly: idle keep-alive sockets of fetch must not hold the process.
  process.stdout.write(text, () => process.exit(exitCode));
}

if (require.main === module) void main();
