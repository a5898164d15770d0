// Step marks of one CNI call, kept per call with AsyncLocalStorage: the
// agent runs calls concurrently and logs each call's marks (epoch ms), which
// the multi-host benchmark reads. Outside a traced call, traceMark does nothing.
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

export type Marks = [step: string, epochMs: number][];

const store = new AsyncLocalStorage<Marks>();

/** Records that `step` ended now, in the current traced call (if any). */
export function traceMark(step: string): void {
  store.getStore()?.push([step, performance.timeOrigin + performance.now()]);
}

/** Runs `fn` as a traced call whose marks go to `marks`. */
export function withTrace<T>(marks: Marks, fn: () => Promise<T>): Promise<T> {
  return store.run(marks, fn);
}
