/**
 * The one polling helper for tests. Use it instead of bare sleeps:
 *
 *   const flows = await waitFor(async () => {
 *     const f = await br.dumpFlows();
 *     return f.length > 0 && f;
 *   }, { what: 'flows on br', timeoutMs: 5000 });
 */

export interface WaitOptions {
  /** Give up after this long (default 10000 ms). */
  timeoutMs?: number;
  /** Pause between attempts (default 50 ms). */
  intervalMs?: number;
  /** Names what is awaited, for the timeout error message. */
  what?: string;
}

/**
 * Calls `fn` until it returns (or resolves to) a truthy value, and returns
 * that value. A throw/rejection counts as "not yet" and is remembered. On
 * timeout, throws an Error naming `what` and the last error or value seen.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const what = opts.what ?? 'condition';
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  let last: { error: unknown } | { value: unknown } = { value: undefined };
  for (;;) {
    attempts++;
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
      last = { value };
    } catch (error) {
      last = { error };
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await new Promise<void>((resolve) => setTimeout(resolve, Math.min(intervalMs, left)));
  }
  const detail = 'error' in last ? `last error: ${describe(last.error)}` : `last value: ${describe(last.value)}`;
  throw new Error(
    `timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${what}; ${detail}`,
    'error' in last ? { cause: last.error } : undefined,
  );
}

function describe(x: unknown): string {
  if (x instanceof Error) return x.message;
  if (typeof x === 'string') return JSON.stringify(x);
  try {
    const s = JSON.stringify(x);
    return s === undefined ? String(x) : s.length > 500 ? `${s.slice(0, 500)}…` : s;
  } catch {
    return String(x);
  }
}

export interface StableOptions extends WaitOptions {
  /** The value must stay the same for this long (default 1500 ms). */
  stableMs?: number;
  /** Sameness test (default: equal JSON). */
  same?: (a: unknown, b: unknown) => boolean;
}

/**
 * Reads `fn` until its value has not changed for `stableMs`, and returns
 * that value: the settled state after a change that other parties apply
 * asynchronously (e.g. a bridge's flows after an attach on another host).
 * Built on waitFor, so it times out with a clear message.
 *
 *   const flows = await waitStable(() => host.dumpFlows(), { what: 'h1 flows settled' });
 */
export async function waitStable<T>(fn: () => T | Promise<T>, opts: StableOptions = {}): Promise<T> {
  const stableMs = opts.stableMs ?? 1500;
  const same = opts.same ?? ((a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b));
  let last: { value: T; since: number } | undefined;
  const settled = await waitFor(async (): Promise<{ value: T } | undefined> => {
    const value = await fn();
    const now = Date.now();
    if (!last || !same(last.value, value)) {
      last = { value, since: now };
      return undefined;
    }
    return now - last.since >= stableMs ? { value } : undefined;
  }, { timeoutMs: opts.timeoutMs ?? 15_000 + stableMs, intervalMs: opts.intervalMs ?? 100, what: `${opts.what ?? 'value'} unchanged for ${stableMs} ms` });
  return settled.value;
}
