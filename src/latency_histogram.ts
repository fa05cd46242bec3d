/**
 * A fixed-memory latency histogram with about 1.6% relative precision.
 *
 * @module
 */

/** Sub-buckets per power of two: values keep 6 significant bits. */
const SUB_BITS = 6;
const SUB_COUNT = 1 << SUB_BITS;
/** Powers of two covered above the linear range: up to 2^38 us, about 3 days. */
const MAX_EXPONENT = 32;

/**
 * A {@linkcode LatencyHistogram}'s samples as plain data, for sending to
 * another process (as `serve --workers` does) and merging there.
 *
 * @example
 * ```ts
 * import { LatencyHistogram } from "./latency_histogram.ts";
 *
 * const histogram = new LatencyHistogram();
 * histogram.record(70);
 * const snapshot = JSON.parse(JSON.stringify(histogram));
 * console.log(LatencyHistogram.fromJSON(snapshot).max); // 70
 * ```
 */
export interface LatencyHistogramSnapshot {
  /** `[bucket, samples]` for every bucket that holds samples. */
  buckets: Array<[number, number]>;
  /** Samples recorded. */
  count: number;
  /** Sum of the samples. */
  sum: number;
  /** The smallest sample (0 when empty). */
  min: number;
  /** The largest sample (0 when empty). */
  max: number;
}

/**
 * Records non-negative values (such as latencies in microseconds) into
 * log-linear buckets and answers percentiles from them, in constant memory
 * whatever the number of samples: values below 64 are exact, larger ones
 * are kept to 6 significant bits (within 1.6%).
 *
 * @example
 * ```ts
 * import { LatencyHistogram } from "./latency_histogram.ts";
 *
 * const histogram = new LatencyHistogram();
 * for (const us of [120, 130, 150, 4000]) histogram.record(us);
 * console.log(histogram.percentile(50)); // about 130
 * console.log(histogram.max); // 4000
 * ```
 */
export class LatencyHistogram {
  #counts = new Float64Array(SUB_COUNT * (MAX_EXPONENT + 2));
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = 0;

  /** Samples recorded. */
  get count(): number {
    return this.#count;
  }

  /** The smallest sample, or 0 when empty. */
  get min(): number {
    return this.#count === 0 ? 0 : this.#min;
  }

  /** The largest sample, or 0 when empty. */
  get max(): number {
    return this.#max;
  }

  /** The mean sample, or 0 when empty. */
  get mean(): number {
    return this.#count === 0 ? 0 : this.#sum / this.#count;
  }

  /**
   * Records one sample.
   *
   * @param value A non-negative number; fractions are truncated for bucketing.
   */
  record(value: number): void {
    const v = value > 0 ? value : 0;
    this.#counts[bucketOf(v)]++;
    this.#count++;
    this.#sum += v;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  /** Adds every sample of `other` to this histogram. */
  merge(other: LatencyHistogram): void {
    const counts = other.#counts;
    for (let i = 0; i < counts.length; i++) this.#counts[i] += counts[i];
    this.#count += other.#count;
    this.#sum += other.#sum;
    if (other.#min < this.#min) this.#min = other.#min;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  /**
   * The samples as plain data, ready for `JSON.stringify` (which calls this).
   *
   * @returns The non-empty buckets and the totals.
   */
  toJSON(): LatencyHistogramSnapshot {
    const buckets: Array<[number, number]> = [];
    const counts = this.#counts;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] !== 0) buckets.push([i, counts[i]]);
    }
    return {
      buckets,
      count: this.#count,
      sum: this.#sum,
      min: this.min,
      max: this.#max,
    };
  }

  /**
   * Rebuilds a histogram from {@linkcode LatencyHistogram.toJSON}'s output.
   *
   * @param snapshot Data from `toJSON()`, possibly through `JSON.parse`.
   * @returns A histogram holding the same samples.
   * @throws {TypeError} If `snapshot` is not such data.
   */
  static fromJSON(snapshot: LatencyHistogramSnapshot): LatencyHistogram {
    const bad = () =>
      new TypeError(
        "Cannot read latency histogram: not the output of LatencyHistogram.toJSON()",
      );
    const isCount = (n: unknown) =>
      typeof n === "number" && Number.isFinite(n) && n >= 0;
    if (
      typeof snapshot !== "object" || snapshot === null ||
      !Array.isArray(snapshot.buckets) || !isCount(snapshot.count) ||
      !isCount(snapshot.sum) || !isCount(snapshot.min) ||
      !isCount(snapshot.max)
    ) throw bad();
    const histogram = new LatencyHistogram();
    const counts = histogram.#counts;
    let total = 0;
    for (const entry of snapshot.buckets) {
      if (
        !Array.isArray(entry) || !Number.isInteger(entry[0]) ||
        entry[0] < 0 || entry[0] >= counts.length || !isCount(entry[1])
      ) throw bad();
      counts[entry[0]] += entry[1];
      total += entry[1];
    }
    if (total !== snapshot.count) throw bad();
    histogram.#count = snapshot.count;
    histogram.#sum = snapshot.sum;
    histogram.#min = snapshot.count === 0 ? Infinity : snapshot.min;
    histogram.#max = snapshot.max;
    return histogram;
  }

  /** Forgets every sample. */
  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#sum = 0;
    this.#min = Infinity;
    this.#max = 0;
  }

  /**
   * The value below which `p` percent of the samples lie (the upper edge of
   * its bucket, capped at the largest sample).
   *
   * @param p A percentage from 0 to 100.
   * @returns The percentile, or 0 when empty.
   */
  percentile(p: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count));
    let seen = 0;
    const counts = this.#counts;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i];
      if (seen >= rank) return Math.min(upperEdge(i), this.#max);
    }
    return this.#max;
  }
}

function bucketOf(value: number): number {
  const v = Math.floor(value);
  if (v < SUB_COUNT) return v;
  // v = mantissa * 2^exponent with mantissa in [SUB_COUNT, 2 * SUB_COUNT).
  const exponent = Math.min(Math.floor(Math.log2(v)) - SUB_BITS, MAX_EXPONENT);
  const mantissa = Math.min(Math.floor(v / 2 ** exponent), 2 * SUB_COUNT - 1);
  return exponent * SUB_COUNT + mantissa;
}

function upperEdge(bucket: number): number {
  if (bucket < SUB_COUNT) return bucket;
  const exponent = Math.floor(bucket / SUB_COUNT) - 1;
  const mantissa = bucket - exponent * SUB_COUNT;
  return (mantissa + 1) * 2 ** exponent - 1;
}
