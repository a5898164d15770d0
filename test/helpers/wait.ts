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
