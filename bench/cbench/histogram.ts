// Round-trip-time histogram for the cbench-style benchmark: 1 µs buckets up
// to 100 ms, 100 µs buckets up to 10 s, then an overflow count, so recording
// is O(1) and allocation-free in the generator's hot loop.

const FINE_US = 100_000;
const COARSE_STEP_US = 100;
const MAX_US = 10_000_000;
const BUCKETS = FINE_US + (MAX_US - FINE_US) / COARSE_STEP_US;
const bucketOf = (us: number) => (us < FINE_US ? Math.floor(us) : FINE_US + Math.floor((us - FINE_US) / COARSE_STEP_US));
const bucketUs = (b: number) => (b < FINE_US ? b : FINE_US + (b - FINE_US) * COARSE_STEP_US);

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
    const b = us < 0 ? 0 : bucketOf(us);
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

  /** Lower bound (µs) of the first bucket holding the q-quantile; Infinity when in the overflow. */
  private quantile(q: number): number {
    if (this.n === 0) return NaN;
    const target = Math.ceil(q * this.n);
    let acc = 0;
    for (let b = 0; b < BUCKETS; b++) {
      acc += this.counts[b];
      if (acc >= target) return bucketUs(b);
    }
    return Infinity;
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
