// Round-trip-time histogram for the cbench-style benchmark: 1 µs buckets up
// to 1 s plus an overflow count, so recording is O(1) and allocation-free in
// the generator's hot loop and percentiles are exact to the microsecond.

const BUCKETS = 1_000_000;

export interface LatencySummary {
  count: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

export class Histogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private n = 0;
  private sum = 0;
  private max = 0;
  private overflow = 0;

  /** Record one round trip, in microseconds. */
  add(us: number): void {
    const b = us < 0 ? 0 : Math.floor(us);
    if (b >= BUCKETS) this.overflow++;
    else this.counts[b]++;
    this.n++;
    this.sum += us;
    if (us > this.max) this.max = us;
  }

  reset(): void {
    this.counts.fill(0);
    this.n = 0;
    this.sum = 0;
    this.max = 0;
    this.overflow = 0;
  }

  /** Smallest bucket b such that at least q of the samples are <= b. */
  private quantile(q: number): number {
    if (this.n === 0) return NaN;
    const target = Math.ceil(q * this.n);
    let acc = 0;
    for (let b = 0; b < BUCKETS; b++) {
      acc += this.counts[b];
      if (acc >= target) return b;
    }
    return BUCKETS; // in the overflow
  }

  summary(): LatencySummary {
    return {
      count: this.n,
      meanUs: this.n ? this.sum / this.n : NaN,
      p50Us: this.quantile(0.5),
      p99Us: this.quantile(0.99),
      maxUs: this.max,
    };
  }
}
